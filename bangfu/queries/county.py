"""The county office's figures (DOMAIN.md "Reports a county expects"), scoped to its region.

- *Households driven* (带动 N 户、增收 X 万元) is the ``households-driven`` report's definition
  (:func:`bangfu.reports.households.driven`), over the member households of the cooperatives the
  user sees, applied the same way to each month and to the whole period: the count is of distinct
  households with net income > 0 (monthly counts do not add up), the income is the net of every
  household, negatives included (monthly incomes add up to the period's).
- *Sales* is the sales ledger's (``sales-ledger``): paid amount of order lines in the month the
  order was paid, refunds in the month they succeeded, net = gross - refunds, over the shops the
  user sees. ``bangfu stats`` sums the orders' paid amount instead, which also holds the shipping
  fee and any order-level adjustment the lines do not carry; :class:`Sales` shows both and what
  separates them.
- *Reserved share* is the ``reserved-share`` report's target, executed and rate, with orders,
  buyers and staff participation per unit, rolled up from a parent unit over every unit under it.
- *Campaign groups* (五进/七进): purchases by unit kind, the kinds and groups being data
  (:mod:`bangfu.models.county`).
- *Below the monitoring line*: projected yearly income per person under the region's line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, overload

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu import county_income, sales_days, unit_purchases
from bangfu.certification import certified_spans, with_certified
from bangfu.enums import HouseholdCategory
from bangfu.errors import UserError
from bangfu.i18n import MESSAGES, current_lang, t
from bangfu.models import (
    CampaignGroup,
    Cooperative,
    Household,
    Journal,
    LedgerAccount,
    MonitoringLine,
    Order,
    OrderLine,
    Posting,
    Product,
    PurchasingUnit,
    Region,
    Shop,
    Sku,
    Supplier,
    UnitKind,
)
from bangfu.queries.drives import Lines, enterprise_amounts, lines_json, lines_of
from bangfu.reports.base import SHANGHAI, Period, day_month, local_midnight, ratio
from bangfu.reports.households import (
    INCOME_JOURNALS,
    TRADE_JOURNALS,
    Driven,
    category_label,
    driven,
    income_by_household,
    net_by_household,
)
from bangfu.reports.reserved import reserved_share
from bangfu.scope import Scope

MESSAGES.update(
    {
        "county.not_a_sale": {"zh": "非销售（盈余返还）", "en": "Not a sale (surplus returned)"},
        "county.bad_code": {
            "zh": "代码只能是英文字母、数字、- 或 _，最长 24 位：{code}",
            "en": "a code is ASCII letters, digits, - or _, at most 24: {code}",
        },
        "county.no_group": {"zh": "没有代码为 {code} 的活动分组", "en": "no campaign group {code}"},
        "county.no_kind": {"zh": "没有代码为 {code} 的单位类型", "en": "no unit kind {code}"},
        "county.no_unit": {"zh": "没有代码为 {code} 的采购单位", "en": "no purchasing unit {code}"},
        "county.no_region": {"zh": "没有代码为 {code} 的地区", "en": "no region {code}"},
        "county.bad_line": {"zh": "监测线须大于 0", "en": "the line must be above 0"},
    }
)

# -- unit kinds and campaign groups (data; these are the defaults while the tables are empty) ------

DEFAULT_GROUPS: tuple[tuple[str, str, str], ...] = (
    ("organs", "进机关", "Government bodies"),
    ("schools", "进学校", "Schools"),
    ("hospitals", "进医院", "Hospitals"),
    ("enterprises", "进企业", "Enterprises"),
    ("barracks", "进军营", "Barracks"),
    ("communities", "进社区", "Communities"),
    ("supermarkets", "进商超", "Supermarkets"),
    ("other", "其他", "Other"),
)
DEFAULT_KINDS: dict[str, tuple[str, str, str]] = {
    "government": ("机关", "Government body", "organs"),
    "union": ("工会", "Union", "organs"),
    "canteen": ("食堂", "Canteen", "organs"),
    "school": ("学校", "School", "schools"),
    "hospital": ("医院", "Hospital", "hospitals"),
    "company": ("企业", "Company", "enterprises"),
    "soe": ("国企", "State-owned enterprise", "enterprises"),
    "military": ("军营", "Military unit", "barracks"),
    "community": ("社区", "Community", "communities"),
    "supermarket": ("商超", "Supermarket", "supermarkets"),
    "other": ("其他", "Other", "other"),
}
OTHER_GROUP = "other"

#: 6,000 yuan per person per year: the national baseline of the monitoring for relapse into
#: poverty (防止返贫监测) set in 2021. Provinces raise it yearly; set the region's own with
#: ``bangfu county monitoring-line``.
DEFAULT_MONITORING_LINE_FEN = 600_000


@dataclass(frozen=True)
class Label:
    code: str
    zh: str
    en: str

    @property
    def text(self) -> str:
        return self.zh if current_lang() == "zh" else self.en


@dataclass(frozen=True)
class Kinds:
    groups: list[Label]  # in the order shown
    kinds: dict[str, tuple[Label, str]]  # kind code -> (label, group code)

    def group_of(self, kind: str) -> str:
        found = self.kinds.get(kind)
        return found[1] if found else OTHER_GROUP

    def kind_label(self, kind: str) -> str:
        found = self.kinds.get(kind)
        return found[0].text if found else kind


async def load_kinds(conn: AsyncConnection) -> Kinds:
    """The campaign groups and unit kinds as stored, or the defaults while none is stored."""
    groups = [
        Label(code, zh, en)
        for code, zh, en in await conn.execute(
            select(CampaignGroup.code, CampaignGroup.label_zh, CampaignGroup.label_en).order_by(
                CampaignGroup.position, CampaignGroup.code
            )
        )
    ]
    kinds = {
        code: (Label(code, zh, en), group)
        for code, zh, en, group in await conn.execute(
            select(UnitKind.code, UnitKind.label_zh, UnitKind.label_en, UnitKind.group_code)
        )
    }
    if not groups:
        groups = [Label(*g) for g in DEFAULT_GROUPS]
    if not kinds:
        kinds = {code: (Label(code, zh, en), group) for code, (zh, en, group) in DEFAULT_KINDS.items()}
    if OTHER_GROUP not in {g.code for g in groups}:
        groups.append(Label(OTHER_GROUP, "其他", "Other"))
    return Kinds(groups, kinds)


async def _materialize(conn: AsyncConnection) -> None:
    """Write the defaults into empty tables, so an edit changes one row and keeps the rest."""
    if not await conn.scalar(select(func.count()).select_from(CampaignGroup)):
        for position, (code, zh, en) in enumerate(DEFAULT_GROUPS):
            await conn.execute(insert(CampaignGroup).values(code=code, label_zh=zh, label_en=en, position=position))
    if not await conn.scalar(select(func.count()).select_from(UnitKind)):
        for code, (zh, en, group) in DEFAULT_KINDS.items():
            await conn.execute(insert(UnitKind).values(code=code, label_zh=zh, label_en=en, group_code=group))


def _check_code(code: str) -> str:
    code = code.strip()
    if not code or len(code) > 24 or not all(c.isascii() and (c.isalnum() or c in "-_") for c in code):
        raise UserError(t("county.bad_code", code=code))
    return code


async def set_group(conn: AsyncConnection, code: str, zh: str, en: str, position: int | None = None) -> None:
    """Add or relabel a campaign group (``bangfu county groups set``)."""
    code = _check_code(code)
    await _materialize(conn)
    found = await conn.scalar(select(CampaignGroup.id).where(CampaignGroup.code == code))
    if found is None:
        last = await conn.scalar(select(func.max(CampaignGroup.position)))
        await conn.execute(
            insert(CampaignGroup).values(
                code=code, label_zh=zh, label_en=en, position=position if position is not None else (last or 0) + 1
            )
        )
        return
    values: dict[str, Any] = {"label_zh": zh, "label_en": en}
    if position is not None:
        values["position"] = position
    await conn.execute(update(CampaignGroup).where(CampaignGroup.id == found).values(**values))


async def set_kind(conn: AsyncConnection, code: str, zh: str, en: str, group: str) -> None:
    """Add or change a unit kind and its campaign group (``bangfu county kinds set``)."""
    code = _check_code(code)
    await _materialize(conn)
    if await conn.scalar(select(CampaignGroup.id).where(CampaignGroup.code == group)) is None:
        raise UserError(t("county.no_group", code=group))
    found = await conn.scalar(select(UnitKind.id).where(UnitKind.code == code))
    values = {"label_zh": zh, "label_en": en, "group_code": group}
    if found is None:
        await conn.execute(insert(UnitKind).values(code=code, **values))
    else:
        await conn.execute(update(UnitKind).where(UnitKind.id == found).values(**values))


async def assign_kind(conn: AsyncConnection, unit_code: str, kind: str | None) -> None:
    """Name a purchasing unit's kind (``None``: back to its ``unit_type``)."""
    if kind is not None:
        kinds = await load_kinds(conn)
        if kind not in kinds.kinds:
            raise UserError(t("county.no_kind", code=kind))
    result = await conn.execute(update(PurchasingUnit).where(PurchasingUnit.code == unit_code).values(kind_code=kind))
    if not result.rowcount:
        raise UserError(t("county.no_unit", code=unit_code))


async def set_monitoring_line(
    conn: AsyncConnection, region_code: str, year: int, line_fen: int, note: str | None = None
) -> None:
    if line_fen <= 0:
        raise UserError(t("county.bad_line"))
    region = await conn.scalar(select(Region.id).where(Region.code == region_code))
    if region is None:
        raise UserError(t("county.no_region", code=region_code))
    await conn.execute(delete(MonitoringLine).where(MonitoringLine.region_id == region, MonitoringLine.year == year))
    await conn.execute(insert(MonitoringLine).values(region_id=region, year=year, line_fen=line_fen, note=note))


async def monitoring_lines(conn: AsyncConnection) -> list[tuple[str, str, int, int, str | None]]:
    """(region code, region name, year, fen, note) of every line set."""
    return [
        (str(code), str(name), int(year), int(fen), note)
        for code, name, year, fen, note in await conn.execute(
            select(Region.code, Region.name, MonitoringLine.year, MonitoringLine.line_fen, MonitoringLine.note)
            .join(Region, Region.id == MonitoringLine.region_id)
            .order_by(Region.code, MonitoringLine.year)
        )
    ]


# -- the overview ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrivenRow:
    key: str  # month, category, cooperative id, channel type, product id ("" for none)
    label: str
    figures: Driven


@dataclass(frozen=True)
class SalesRow:
    key: str
    label: str
    gross: int
    refunds: int
    certified_gross: int = 0  # of products certified on the sale's day (帮扶 sales)
    certified_refunds: int = 0

    @property
    def net(self) -> int:
        return self.gross - self.refunds

    @property
    def certified_net(self) -> int:
        return self.certified_gross - self.certified_refunds

    @property
    def uncertified_net(self) -> int:
        return self.net - self.certified_net


@dataclass(frozen=True)
class Sales:
    """What separates ``bangfu stats``'s paid total from the sales ledger's gross, for the period.

    ``orders_paid`` (status paid or later, as ``bangfu stats`` counts) + ``paid_time_only`` (a
    paid time but not a paid status) - ``shipping`` - ``order_adjustments`` = ``gross``.
    """

    orders: int
    orders_paid: int
    paid_time_only: int
    shipping: int
    order_adjustments: int  # order-level discounts and other amounts the lines do not carry
    gross: int  # the lines' paid amount: the sales ledger's gross
    refunds: int
    by_channel: list[SalesRow]
    certified_gross: int = 0  # 帮扶 sales: products certified on the sale's day
    certified_refunds: int = 0  # refunds of such sales

    @property
    def net(self) -> int:
        return self.gross - self.refunds

    @property
    def certified_net(self) -> int:
        """帮扶 sales, net: the figure the programme reports (:mod:`bangfu.certification`)."""
        return self.certified_gross - self.certified_refunds

    @property
    def uncertified_gross(self) -> int:
        return self.gross - self.certified_gross

    @property
    def uncertified_refunds(self) -> int:
        return self.refunds - self.certified_refunds

    @property
    def uncertified_net(self) -> int:
        return self.net - self.certified_net


@dataclass(frozen=True)
class CampaignRow:
    code: str
    label: str
    kinds: list[str]
    units: int
    orders: int
    executed: int  # paid - succeeded refunds of the orders (the reserved-share definition)


@dataclass
class Overview:
    period: Period
    total: Driven
    monthly: list[DrivenRow]
    by_category: list[DrivenRow]
    by_cooperative: list[DrivenRow]
    by_channel: list[DrivenRow]
    by_product: list[DrivenRow]
    sales: Sales
    campaigns: list[CampaignRow]
    cooperatives: int
    households: int  # member households of those cooperatives
    # The 带动 figures' lines: the members' (``total``) and the enterprise-driven households'
    # (bangfu.drives), with the families both reach counted once.
    lines: Lines | None = None


def _cooperative_filter(scope: Scope) -> ColumnElement[bool]:
    return scope.cooperatives(Cooperative.id)


async def visible_cooperatives(conn: AsyncConnection, scope: Scope) -> list[int]:
    return [int(c) for c in await conn.scalars(select(Cooperative.id).where(_cooperative_filter(scope)))]


def _channel_label(value: Any) -> str:
    return t(f"report.channel.{getattr(value, 'value', value)}")


async def _household_facts(conn: AsyncConnection, coop_ids: Sequence[int]) -> dict[int, tuple[str, int]]:
    """Member household -> (category value, cooperative). The category is read as its stored
    text: every member household is read on each overview, and turning each into the enum and
    back cost more than the query."""
    category = type_coerce(Household.category, String)
    query = select(Household.id, category, Household.cooperative_id).where(Household.cooperative_id.in_(list(coop_ids)))
    return {hid: (cat, coop) for hid, cat, coop in await conn.execute(query)}


#: The overview's statements over the stored pre-aggregates, built once per (dialect, period,
#: scope or cooperatives) and kept (the oldest dropped past :data:`_STATEMENTS_KEPT`): building
#: them (unions of subqueries, each column proxied at every level) took more of a request's CPU
#: than PostgreSQL's execution of the smaller ones, and a console asks for few periods and scopes.
#: Nothing in them depends on the time; the sales statements are kept per set of marked days of
#: the period too (read first: none for a past period, usually today's alone for the current one).
_SALES_STATEMENTS: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_INCOME_STATEMENTS: dict[tuple[Any, ...], Any] = {}
_STATEMENTS_KEPT = 64


async def _income_by_channel_and_product(
    conn: AsyncConnection, period: Period, coop_ids: Sequence[int]
) -> list[tuple[str, str, str, int, int]]:
    """(channel, product key, product name, household, fen) summed over the member households'
    income journals of ``period``: a line journal by its line's shop channel and product ("?":
    a line without a product), anything else (surplus returns, a line that is gone) under ("", "").

    Read from ``county_income_days`` and ``county_income_months`` (:mod:`bangfu.county_income`,
    per day, household, shop and SKU, exact whatever is marked) when the period is whole local
    days, as the console's are; else summed from the postings (:func:`_income_from_ledger`)."""
    from bangfu.queries.cooperatives import fact_days

    days = fact_days(period)
    if days is None:
        return await _income_from_ledger(conn, period, coop_ids)
    members = tuple(sorted(coop_ids))
    cached = (conn.dialect.name, days, members)
    query = _INCOME_STATEMENTS.get(cached)
    if query is None:
        query = _income_statement(conn, days, members)
        if len(_INCOME_STATEMENTS) >= _STATEMENTS_KEPT:
            _INCOME_STATEMENTS.pop(next(iter(_INCOME_STATEMENTS)))  # the oldest
        _INCOME_STATEMENTS[cached] = query
    out = []
    for missing, channel, product_id, product, owner, total in await conn.execute(query):
        if missing:
            out.append(("", "", "", int(owner), int(total)))
        else:
            key = str(product_id) if product_id is not None else "?"
            out.append((str(getattr(channel, "value", channel)), key, str(product or ""), int(owner), int(total)))
    return out


def _income_statement(conn: AsyncConnection, days: tuple[date, date], coop_ids: Sequence[int]) -> Any:
    members = select(Household.id).where(Household.cooperative_id.in_(list(coop_ids)))
    source = county_income.rows(conn, days, lambda column: column.in_(members))
    missing = source.c.shop_id == literal_column("0")  # not a bind parameter: grouped by
    return (
        select(
            missing,
            type_coerce(Shop.channel_type, String),  # its stored text: no enum per row
            Product.id,
            Product.name,
            source.c.household_id,
            func.sum(source.c.fen),
        )
        .select_from(source)
        .outerjoin(Shop, Shop.id == source.c.shop_id)
        .outerjoin(Sku, Sku.id == source.c.sku_id)
        .outerjoin(Product, Product.id == Sku.product_id)
        .group_by(missing, Shop.channel_type, Product.id, Product.name, source.c.household_id)
    )


async def _income_from_ledger(
    conn: AsyncConnection, period: Period, coop_ids: Sequence[int]
) -> list[tuple[str, str, str, int, int]]:
    """:func:`_income_by_channel_and_product` summed from the postings (any period).

    Grouped in SQL from the (source event, household) sums the page used to fetch and look up
    line by line (every order line of the year bound as a parameter: over asyncpg's limit at
    100,000 lines); a (source event, household) sum of zero counts for nothing, as it did."""
    from bangfu.queries.cooperatives import line_id_of

    members = select(Household.id).where(Household.cooperative_id.in_(list(coop_ids)))
    pairs = (
        select(
            Journal.kind.label("kind"),
            Journal.source_event.label("source_event"),
            LedgerAccount.owner_id.label("owner_id"),
            func.sum(Posting.amount_fen).label("fen"),
        )
        .join(Posting, Posting.account_id == LedgerAccount.id)
        .join(Journal, Journal.id == Posting.journal_id)
        .where(
            LedgerAccount.owner_type == "household",
            LedgerAccount.owner_id.in_(members),
            LedgerAccount.owner_id.is_not(None),
            Journal.kind.in_(list(INCOME_JOURNALS)),
            Journal.occurred_at >= period.start,
            Journal.occurred_at < period.end,
        )
        .group_by(Journal.source_event, Journal.kind, LedgerAccount.owner_id)
        .having(func.sum(Posting.amount_fen) != 0)
        .subquery("pairs")
    )
    line = case((pairs.c.kind.in_(list(TRADE_JOURNALS)), line_id_of(conn, pairs.c.source_event)))
    query = (
        select(
            OrderLine.id.is_(None),
            Shop.channel_type,
            Product.id,
            Product.name,
            pairs.c.owner_id,
            func.sum(pairs.c.fen),
        )
        .select_from(pairs)
        .outerjoin(OrderLine, OrderLine.id == line)
        .outerjoin(Shop, Shop.id == OrderLine.shop_id)
        .outerjoin(Sku, Sku.id == OrderLine.sku_id)
        .outerjoin(Product, Product.id == Sku.product_id)
        .group_by(OrderLine.id.is_(None), Shop.channel_type, Product.id, Product.name, pairs.c.owner_id)
    )
    out = []
    for missing, channel, product_id, product, owner, total in await conn.execute(query):
        if missing:
            out.append(("", "", "", int(owner), -int(total)))  # credits are negative
        else:
            key = str(product_id) if product_id is not None else "?"
            out.append((str(getattr(channel, "value", channel)), key, str(product or ""), int(owner), -int(total)))
    return out


def shown_groups(groups: Mapping[str, Mapping[int, int]]) -> dict[str, dict[int, int]]:
    """The channel or product groups the overview shows: those where some household's income
    in the period is not zero (a group whose households all net to zero is left out, whether
    its income was never there or was refunded within the period)."""
    return {key: dict(nets) for key, nets in groups.items() if any(nets.values())}


def _driven_rows(groups: Mapping[str, Mapping[int, int]], labels: Mapping[str, str]) -> list[DrivenRow]:
    rows = [DrivenRow(key, labels.get(key, key), driven(nets)) for key, nets in groups.items()]
    rows.sort(key=lambda r: (-r.figures.income, r.label))
    return rows


def _nets_by_month(income: Mapping[int, Mapping[str, int]], period: Period) -> dict[str, dict[int, int]]:
    """Each month of ``period``: ``net_by_household(income, [month])``, in one pass over the
    households instead of one per month."""
    out: dict[str, dict[int, int]] = {m: {} for m in period.months()}
    for hid, by_month in income.items():
        for month, fen in by_month.items():
            if fen and month in out:
                out[month][hid] = fen
    return out


async def overview(conn: AsyncConnection, scope: Scope, period: Period) -> Overview:
    coop_ids = await visible_cooperatives(conn, scope)
    income = await income_by_household(conn, period, cooperative_ids=coop_ids)  # by day: household_daily_income
    facts = await _household_facts(conn, coop_ids)
    nets = net_by_household(income)
    monthly = [DrivenRow(m, m, driven(nets_of_month)) for m, nets_of_month in _nets_by_month(income, period).items()]

    by_category: dict[str, dict[int, int]] = {c.value: {} for c in HouseholdCategory}
    by_coop: dict[str, dict[int, int]] = defaultdict(dict)
    for hid, fen in nets.items():
        category, coop = facts[hid]
        by_category[category][hid] = fen
        by_coop[str(coop)][hid] = fen
    category_rows = [DrivenRow(c, category_label(c), driven(by_category[c])) for c in by_category]
    coop_names = {
        str(cid): str(name)
        for cid, name in await conn.execute(
            select(Cooperative.id, Supplier.name)
            .join(Supplier, Supplier.id == Cooperative.supplier_id)
            .where(Cooperative.id.in_(coop_ids))
        )
    }

    by_channel: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    by_product: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    channel_labels = {"": t("county.not_a_sale")}
    product_labels = {"": t("county.not_a_sale"), "?": t("report.unmapped")}
    for channel, product_id, product, hid, fen in await _income_by_channel_and_product(conn, period, coop_ids):
        if channel not in channel_labels:  # a label per channel, not per row
            channel_labels[channel] = _channel_label(channel) if channel else ""
        if product_id and product_id != "?":
            product_labels[product_id] = product
        by_channel[channel][hid] += fen
        by_product[product_id][hid] += fen
    by_channel, by_product = shown_groups(by_channel), shown_groups(by_product)

    sales = await _sales(conn, scope, period)
    campaigns = await _campaigns(conn, scope, period)
    return Overview(
        period=period,
        total=driven(nets),
        monthly=monthly,
        by_category=category_rows,
        by_cooperative=_driven_rows(by_coop, coop_names),
        by_channel=_driven_rows(by_channel, channel_labels),
        by_product=_driven_rows(by_product, product_labels),
        sales=sales,
        campaigns=campaigns,
        cooperatives=len(coop_ids),
        households=len(facts),
        lines=lines_of(nets, await enterprise_amounts(conn, scope, period)),
    )


def _sales_statements(
    conn: AsyncConnection, scope: Scope, period: Period, stored: bool, marked: tuple[date, ...] | None
) -> tuple[Any, Any]:
    """(order sums, gross and refunds per kind, channel, with their certified part)."""
    key = (conn.dialect.name, period.start, period.end, stored, marked, scope)
    found = _SALES_STATEMENTS.get(key)
    if found is None:
        found = _build_sales_statements(conn, scope, period, stored, marked)
        if len(_SALES_STATEMENTS) >= _STATEMENTS_KEPT:
            _SALES_STATEMENTS.pop(next(iter(_SALES_STATEMENTS)))  # the oldest
        _SALES_STATEMENTS[key] = found
    return found


_GROSS, _REFUNDS = 0, 1  # the kinds of the sales statement's rows


def _build_sales_statements(
    conn: AsyncConnection, scope: Scope, period: Period, stored: bool, marked: tuple[date, ...] | None
) -> tuple[Any, Any]:
    # The orders' own sums (count, paid by status rank, shipping): per day too
    # (sales_days.order_sums, ``stored``), not from every order of the period.
    orders = sales_days.order_sums(conn, period, scope.shops, stored=stored, marked_days=marked)
    # From the sales per day (bangfu.sales_days, ``stored``; the marked days the caller found
    # summed live, the stored rows alone when none), not from every line of the period: gross and refunds in one
    # statement, each row joined to its product's certified spans (certification.certified_spans:
    # disjoint, so at most one per row) with a range condition and summed per channel, the
    # certified part with it: no grouping per (channel, product, day) and no certificate lookup
    # per group (with_certified's rule, the certificates merged once).
    sold = sales_days.gross_rows(conn, period, stored=stored, marked_days=marked)
    refunded = sales_days.refund_rows(conn, period, stored=stored, marked_days=marked)
    rows = union_all(
        select(
            literal_column(str(_GROSS)).label("kind"),
            sold.c.channel.label("channel"),
            sold.c.product_id.label("product_id"),
            sold.c.day.label("day"),
            sold.c.fen.label("fen"),
        ).where(scope.shops(sold.c.order_shop_id)),
        select(
            literal_column(str(_REFUNDS)),
            refunded.c.channel,
            refunded.c.product_id,
            refunded.c.sale_day,
            refunded.c.fen,
        ).where(scope.shops(refunded.c.shop_id)),
    ).subquery("sold")
    spans = certified_spans()
    covered = and_(
        spans.c.product_id == rows.c.product_id,
        spans.c.first_day <= rows.c.day,
        spans.c.last_day >= rows.c.day,
    )
    by_channel = (
        select(
            rows.c.kind,
            rows.c.channel,
            func.sum(rows.c.fen),
            func.sum(case((spans.c.product_id.is_not(None), rows.c.fen), else_=literal_column("0"))),
        )
        .select_from(rows.outerjoin(spans, covered))
        .group_by(rows.c.kind, rows.c.channel)
    )
    return orders, by_channel


async def _sales(conn: AsyncConnection, scope: Scope, period: Period, *, stored: bool = True) -> Sales:
    # The period's marked days first (one index range; none is the usual case for a past period):
    # statements over the stored rows alone, or with those days summed live.
    marked = await sales_days.read_marked_days(conn, period, stored=stored)
    orders, by_channel_statement = _sales_statements(conn, scope, period, stored, marked)
    n, orders_paid, paid_time_only, shipping = (await conn.execute(orders)).one()
    cells: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # gross, refunds, certified of each
    for kind, ch, total, certified in await conn.execute(by_channel_statement):
        cell = cells[str(getattr(ch, "value", ch))]
        index = int(kind)
        cell[index] += int(total)
        cell[index + 2] += int(certified)
    gross = sum(c[0] for c in cells.values())
    by_channel = [_channel_row(c, cells[c]) for c in sorted(cells)]
    by_channel.sort(key=lambda r: (-r.gross, r.key))
    paid_total = int(orders_paid) + int(paid_time_only)
    return Sales(
        orders=int(n),
        orders_paid=int(orders_paid),
        paid_time_only=int(paid_time_only),
        shipping=int(shipping),
        order_adjustments=paid_total - int(shipping) - gross,
        gross=gross,
        refunds=sum(c[1] for c in cells.values()),
        by_channel=by_channel,
        certified_gross=sum(c[2] for c in cells.values()),
        certified_refunds=sum(c[3] for c in cells.values()),
    )


def _channel_row(channel: str, cell: list[int]) -> SalesRow:
    return SalesRow(channel, _channel_label(channel), cell[0], cell[1], cell[2], cell[3])


def _unit_kind(unit_type: Any, kind_code: str | None) -> str:
    return kind_code or str(getattr(unit_type, "value", unit_type))


async def _campaigns(conn: AsyncConnection, scope: Scope, period: Period) -> list[CampaignRow]:
    """Purchases by campaign group: orders with a purchasing unit paid in the period, of the
    shops or the units the user sees (groups only: no unit is named here)."""
    kinds = await load_kinds(conn)
    visible = or_(scope.shops(Order.shop_id), scope.units(Order.purchasing_unit_id))
    base = (
        Order.paid_at >= period.start,
        Order.paid_at < period.end,
        Order.purchasing_unit_id.is_not(None),
        visible,
    )
    bought = unit_purchases.tally(*await unit_purchases.load(conn, and_(*base)))
    unit_kinds = await conn.execute(
        select(PurchasingUnit.id, PurchasingUnit.unit_type, PurchasingUnit.kind_code).where(
            PurchasingUnit.id.in_([uid for uid in bought if uid is not None])
        )
    )
    rows = [
        (uid, unit_type, kind_code, bought[uid].orders, bought[uid].certified_fen)
        for uid, unit_type, kind_code in unit_kinds
    ]
    acc: dict[str, list[Any]] = {g.code: [set(), 0, 0, set()] for g in kinds.groups}
    for _uid, unit_type, kind_code, orders, executed in rows:
        kind = _unit_kind(unit_type, kind_code)
        group = kinds.group_of(kind)
        cell = acc.setdefault(group, [set(), 0, 0, set()])
        cell[0].add(int(_uid))
        cell[1] += int(orders)
        cell[2] += int(executed or 0)
        cell[3].add(kind)
    labels = {g.code: g.text for g in kinds.groups}
    members: dict[str, list[str]] = defaultdict(list)
    for label, group in kinds.kinds.values():
        members[group].append(label.text)
    return [
        CampaignRow(code, labels.get(code, code), members.get(code, []), len(units), orders, executed)
        for code, (units, orders, executed, _kinds) in acc.items()
    ]


# -- purchasing units: ranking with roll-up ----------------------------------------------------

UNIT_SORTS = ("amount", "orders", "participation", "rate")


@dataclass
class UnitFigures:
    id: int
    code: str
    name: str
    kind: str  # label
    parent_id: int | None
    parent: str | None
    subunits: int  # units under it (roll-up)
    staff: int | None
    target: int | None
    executed: int
    orders: int
    buyers: int  # distinct buyer ids among the orders
    unknown_buyers: int  # orders without a buyer id
    rank: int | None = None
    purchases: int = 0  # every purchase net of refunds; executed is its 帮扶 (certified) part

    @property
    def rate(self) -> Decimal | None:
        return ratio(self.executed, self.target) if self.target else None

    @property
    def basis(self) -> str | None:
        """``buyers`` when every order names its buyer, else ``orders``; None without staff."""
        if not self.staff:
            return None
        return "buyers" if self.unknown_buyers == 0 else "orders"

    @property
    def participation(self) -> Decimal | None:
        """Distinct buyers / staff, or (buyers unknown) orders per 100 staff."""
        if not self.staff:
            return None
        if self.basis == "buyers":
            return ratio(self.buyers, self.staff)
        return (Decimal(self.orders * 100) / Decimal(self.staff)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass
class UnitRanking:
    year: int
    sort: str
    rollup: bool
    rows: list[UnitFigures]
    totals: UnitFigures


def year_period(year: int) -> Period:
    return Period(local_midnight(date(year, 1, 1)), local_midnight(date(year + 1, 1, 1)), str(year))


def _sort_key(sort: str, row: UnitFigures) -> tuple[Any, ...]:
    match sort:
        case "orders":
            return (-row.orders, -row.executed, row.code)
        case "participation":
            basis_order = {"buyers": 0, "orders": 1, None: 2}[row.basis]
            return (basis_order, -(row.participation or 0), -row.executed, row.code)
        case "rate":
            return (row.rate is None, -(row.rate or 0), -row.executed, row.code)
    return (-row.executed, -row.orders, row.code)


def _rank_value(sort: str, row: UnitFigures) -> Any:
    match sort:
        case "orders":
            return row.orders
        case "participation":
            return (row.basis, row.participation)
        case "rate":
            return row.rate
    return row.executed


async def unit_ranking(conn: AsyncConnection, scope: Scope, year: int, sort: str, rollup: bool) -> UnitRanking:
    """Every unit the user sees: the report's target, executed and rate, orders, buyers and staff
    participation; with ``rollup``, the units at the top of each tree with every unit under them."""
    kinds = await load_kinds(conn)
    report = await reserved_share(conn, year_period(year))
    by_code = {r["code"]: r for r in report.rows}
    units = {
        int(u.id): u
        for u in await conn.execute(
            select(
                PurchasingUnit.id,
                PurchasingUnit.code,
                PurchasingUnit.name,
                PurchasingUnit.unit_type,
                PurchasingUnit.kind_code,
                PurchasingUnit.parent_id,
                PurchasingUnit.staff_count,
            ).where(scope.units(PurchasingUnit.id))
        )
    }
    period = year_period(year)
    buyers: dict[int, set[str]] = defaultdict(set)
    orders: dict[int, int] = defaultdict(int)
    unknown: dict[int, int] = defaultdict(int)
    for unit_ref, buyer, n in await conn.execute(
        select(Order.purchasing_unit_id, Order.buyer_ref, func.count())
        .where(
            Order.purchasing_unit_id.in_(list(units)),
            Order.paid_at >= period.start,
            Order.paid_at < period.end,
        )
        .group_by(Order.purchasing_unit_id, Order.buyer_ref)
    ):
        if unit_ref is None:
            continue
        orders[int(unit_ref)] += int(n)
        if buyer is None:
            unknown[int(unit_ref)] += int(n)
        else:
            buyers[int(unit_ref)].add(str(buyer))

    children: dict[int, list[int]] = defaultdict(list)
    for uid, u in units.items():
        if u.parent_id is not None and int(u.parent_id) in units:
            children[int(u.parent_id)].append(uid)

    def subtree(uid: int) -> list[int]:
        out, stack = [], [uid]
        while stack:
            current = stack.pop()
            if current not in out:
                out.append(current)
                stack.extend(children.get(current, ()))
        return out

    def figures(uid: int, ids: Iterable[int]) -> UnitFigures:
        ids = list(ids)
        u = units[uid]
        targets = [by_code[units[i].code]["target"] for i in ids if units[i].code in by_code]
        known_targets = [int(x) for x in targets if x is not None]
        staff = [int(units[i].staff_count) for i in ids if units[i].staff_count]
        parent = units.get(int(u.parent_id)) if u.parent_id is not None else None
        return UnitFigures(
            id=uid,
            code=u.code,
            name=u.name,
            kind=kinds.kind_label(_unit_kind(u.unit_type, u.kind_code)),
            parent_id=int(u.parent_id) if u.parent_id is not None else None,
            parent=parent.name if parent is not None else None,
            subunits=len(ids) - 1,
            staff=sum(staff) if staff else None,
            target=sum(known_targets) if known_targets else None,
            executed=sum(int(by_code[units[i].code]["executed"]) for i in ids if units[i].code in by_code),
            purchases=sum(int(by_code[units[i].code]["purchases"]) for i in ids if units[i].code in by_code),
            orders=sum(orders[i] for i in ids),
            buyers=len(set().union(*(buyers[i] for i in ids))) if ids else 0,
            unknown_buyers=sum(unknown[i] for i in ids),
        )

    if rollup:
        tops = [uid for uid, u in units.items() if u.parent_id is None or int(u.parent_id) not in units]
        rows = [figures(uid, subtree(uid)) for uid in tops]
    else:
        rows = [figures(uid, [uid]) for uid in units]
    rows.sort(key=lambda r: _sort_key(sort, r))
    previous: Any = object()
    rank = 0
    for index, row in enumerate(rows, start=1):
        value = _rank_value(sort, row)
        if (sort == "rate" and row.rate is None) or (sort == "participation" and row.participation is None):
            row.rank = None
            continue
        if value != previous:
            rank, previous = index, value
        row.rank = rank
    all_ids = list(units)
    total_targets = [
        int(by_code[units[i].code]["target"]) for i in all_ids if by_code.get(units[i].code, {}).get("target")
    ]
    total_staff = [int(units[i].staff_count) for i in all_ids if units[i].staff_count]
    totals = UnitFigures(
        id=0,
        code="",
        name=t("report.total"),
        kind="",
        parent_id=None,
        parent=None,
        subunits=len(all_ids),
        staff=sum(total_staff) if total_staff else None,
        target=sum(total_targets) if total_targets else None,
        executed=sum(int(by_code[units[i].code]["executed"]) for i in all_ids if units[i].code in by_code),
        purchases=sum(int(by_code[units[i].code]["purchases"]) for i in all_ids if units[i].code in by_code),
        orders=sum(orders[i] for i in all_ids),
        buyers=len(set().union(*(buyers[i] for i in all_ids))) if all_ids else 0,
        unknown_buyers=sum(unknown[i] for i in all_ids),
    )
    return UnitRanking(year, sort, rollup, rows, totals)


# -- households below the monitoring line ------------------------------------------------------


@dataclass(frozen=True)
class BelowLine:
    household_id: int
    cooperative: str
    member_no: str
    name: str
    category: str
    village: str
    members: int
    income: int  # net income through the hub, 1 January to the cut-off
    projected: int  # over the whole year
    per_person: int
    line: int
    gap: int  # line - per person


# A household below the line before its row is built: (per person, cooperative, member no,
# household, head's name, category, village, members, income, projected, line, its cooperative).
_Below = tuple[int, str, str, int, str, Any, str, int, int, int, int, int]


class BelowLineRows(Sequence[BelowLine]):
    """The households below the line in order, each :class:`BelowLine` built when it is first
    read: the page and the API show 50 of the ~2,000 rows of 3,000 member households, and naming
    (masked), labelling and building every row cost more than reading them (about a third of
    the page's CPU). The export, which reads every row, builds every row."""

    def __init__(self, below: list[_Below], scope: Scope) -> None:
        self._below = below
        self._scope = scope
        self._built: dict[int, BelowLine] = {}

    def __len__(self) -> int:
        return len(self._below)

    @overload
    def __getitem__(self, index: int) -> BelowLine: ...

    @overload
    def __getitem__(self, index: slice) -> list[BelowLine]: ...

    def __getitem__(self, index: int | slice) -> BelowLine | list[BelowLine]:
        if isinstance(index, slice):
            return [self._row(i) for i in range(*index.indices(len(self._below)))]
        if index < 0:
            index += len(self._below)
        if not 0 <= index < len(self._below):
            raise IndexError(index)
        return self._row(index)

    def _row(self, index: int) -> BelowLine:
        row = self._built.get(index)
        if row is None:
            per_person, coop_name, member_no, hid, head, category, village, size, fen, projected, line, coop = (
                self._below[index]
            )
            row = BelowLine(
                hid,
                coop_name,
                member_no,
                self._scope.household_name(head, coop),
                category_label(category),
                village,
                size,
                fen,
                projected,
                per_person,
                line,
                line - per_person,
            )
            self._built[index] = row
        return row

    @property
    def no_income(self) -> int:
        return sum(1 for b in self._below if b[8] == 0)


@dataclass
class Monitoring:
    year: int
    cutoff: date  # last day counted
    elapsed_days: int
    year_days: int
    households: int  # member households checked
    rows: BelowLineRows  # every household below its line, lowest per person first
    lines: list[tuple[str, int, bool]] = field(default_factory=list)  # (region, fen, is the default)

    @property
    def no_income(self) -> int:
        """How many of the households below the line had no income at all in the year so far
        (counted here, not by a template filter over every row: 2,000 rows cost it ~10 ms)."""
        return self.rows.no_income


async def _line_of_regions(conn: AsyncConnection, year: int, regions: Iterable[int]) -> dict[int, tuple[int, bool]]:
    """Each region's line for the year: its own row or the nearest above it; else the default."""
    parents = {
        int(r): (int(p) if p is not None else None) for r, p in await conn.execute(select(Region.id, Region.parent_id))
    }
    set_lines = {
        int(r): int(fen)
        for r, fen in await conn.execute(
            select(MonitoringLine.region_id, MonitoringLine.line_fen).where(MonitoringLine.year == year)
        )
    }
    out: dict[int, tuple[int, bool]] = {}
    for region in regions:
        current: int | None = region
        seen: set[int] = set()
        while current is not None and current not in set_lines and current not in seen:
            seen.add(current)
            current = parents.get(current)
        out[region] = (
            (set_lines[current], False)
            if current is not None and current in set_lines
            else (
                DEFAULT_MONITORING_LINE_FEN,
                True,
            )
        )
    return out


async def below_monitoring_line(
    conn: AsyncConnection, scope: Scope, year: int, *, now: datetime | None = None
) -> Monitoring:
    """Member households whose projected yearly income per person is below their region's line.

    Projected = net income through the hub from 1 January to the cut-off (today, or the year's
    last day for a past year), scaled to the whole year by days (income x days in year / days
    counted); per person = projected / household members. A year not begun has nothing counted.
    """
    today = (now or datetime.now(UTC)).astimezone(SHANGHAI).date()
    first, last = date(year, 1, 1), date(year, 12, 31)
    cutoff = min(today, last)
    year_days = (last - first).days + 1
    elapsed = max((cutoff - first).days + 1, 0)
    coop_ids = await visible_cooperatives(conn, scope)
    period = Period(local_midnight(first), local_midnight(cutoff + timedelta(days=1)), str(year))
    income = net_by_household(await income_by_household(conn, period, cooperative_ids=coop_ids)) if elapsed else {}
    households = (
        await conn.execute(
            select(
                Household.id,
                Household.member_no,
                Household.head_name,
                Household.category,
                Household.village,
                Household.members,
                Household.cooperative_id,
                Supplier.name,
                Supplier.county_id,
            )
            .join(Cooperative, Cooperative.id == Household.cooperative_id)
            .join(Supplier, Supplier.id == Cooperative.supplier_id)
            .where(Household.cooperative_id.in_(coop_ids))
        )
    ).all()
    lines = await _line_of_regions(conn, year, {int(h.county_id) for h in households})
    below: list[_Below] = []
    # Rows unpacked by position and the filter applied before anything is built: 3,000
    # households a request, most of them below the line early in the year; the rows themselves
    # are built when read (BelowLineRows).
    for hid, member_no, head, category, village, members, coop, coop_name, county in households if elapsed else []:
        fen = income.get(hid, 0)
        projected = fen * year_days // elapsed
        size = max(members or 1, 1)
        per_person = projected // size
        line = lines[county][0]
        if per_person < line:
            below.append(
                (
                    per_person,
                    str(coop_name),
                    str(member_no),
                    int(hid),
                    str(head),
                    category,
                    str(village),
                    int(size),
                    fen,
                    projected,
                    line,
                    int(coop),
                )
            )
    below.sort(key=lambda b: b[:3])  # per person, cooperative, member no (stable, as before)
    rows = BelowLineRows(below, scope)
    names = {
        int(r): str(n) for r, n in await conn.execute(select(Region.id, Region.name).where(Region.id.in_(list(lines))))
    }
    used = [(names.get(r, "-"), fen, default) for r, (fen, default) in sorted(lines.items())]
    return Monitoring(year, cutoff, elapsed, year_days, len(households), rows, used)


# -- product x month ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PivotRow:
    product_id: int | None
    product: str
    supplier: str
    months: dict[str, int]  # net sales per month
    gross: int
    refunds: int

    @property
    def net(self) -> int:
        return self.gross - self.refunds


@dataclass
class Pivot:
    period: Period
    months: list[str]
    rows: list[PivotRow]
    totals: PivotRow
    certified: PivotRow  # 帮扶 sales: of products certified on the sale's day
    uncertified: PivotRow  # totals - certified


async def product_pivot(conn: AsyncConnection, scope: Scope, period: Period, *, stored: bool = True) -> Pivot:
    """Net sales (the sales ledger's: gross in the paid month, refunds in the refund's month) per
    product and month, over the shops the user sees."""
    # Summed per product, month and sale day first, the certificate looked up per such group (as
    # ``_sales`` does), from the sales per day (bangfu.sales_days, ``stored``).
    marked = await sales_days.read_marked_days(conn, period, stored=stored)
    sold = sales_days.gross_rows(conn, period, stored=stored, marked_days=marked)
    paid_month = day_month(conn, sold.c.day)
    gross = (
        select(
            sold.c.product_id.label("product_id"),
            paid_month.label("month"),
            sold.c.day.label("day"),
            func.sum(sold.c.fen).label("amount"),
        )
        .where(scope.shops(sold.c.shop_id))
        .group_by(sold.c.product_id, paid_month, sold.c.day)
    )
    refunded = sales_days.refund_rows(conn, period, stored=stored, marked_days=marked)
    refund_month = day_month(conn, refunded.c.day)
    refunds = (
        select(
            refunded.c.product_id.label("product_id"),
            refund_month.label("month"),
            refunded.c.sale_day.label("day"),
            func.sum(refunded.c.fen).label("amount"),
        )
        .where(scope.shops(refunded.c.shop_id))
        .group_by(refunded.c.product_id, refund_month, refunded.c.sale_day)
    )
    cells: dict[int | None, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    certified_months: dict[str, int] = defaultdict(int)  # 帮扶 (certified) net per month
    certified_cells = [0, 0]
    for index, lines in enumerate((gross, refunds)):
        sub = with_certified(lines.subquery())
        for product_ref, month, certified, amount in await conn.execute(
            select(sub.c.product_id, sub.c.month, sub.c.certified, func.sum(sub.c.amount)).group_by(
                sub.c.product_id, sub.c.month, sub.c.certified
            )
        ):
            cells[int(product_ref) if product_ref is not None else None][str(month)][index] += int(amount)
            if certified:
                certified_months[str(month)] += int(amount) * (1 if index == 0 else -1)
                certified_cells[index] += int(amount)
    names = {
        int(pid): (str(name), str(supplier))
        for pid, name, supplier in await conn.execute(
            select(Product.id, Product.name, Supplier.name)
            .join(Supplier, Supplier.id == Product.supplier_id)
            .where(Product.id.in_([p for p in cells if p is not None]))
        )
    }
    months = period.months()
    rows: list[PivotRow] = []
    for pid, by_month in cells.items():
        name, supplier = names.get(pid, (t("report.unmapped"), "-")) if pid is not None else (t("report.unmapped"), "-")
        rows.append(
            PivotRow(
                pid,
                name,
                supplier,
                {m: by_month[m][0] - by_month[m][1] for m in months if m in by_month},
                sum(v[0] for v in by_month.values()),
                sum(v[1] for v in by_month.values()),
            )
        )
    rows.sort(key=lambda r: (-r.net, r.product))
    totals = PivotRow(
        None,
        t("report.total"),
        "",
        {m: sum(r.months.get(m, 0) for r in rows) for m in months},
        sum(r.gross for r in rows),
        sum(r.refunds for r in rows),
    )
    certified = PivotRow(
        None,
        t("cert.line.certified"),
        "",
        {m: certified_months.get(m, 0) for m in months},
        certified_cells[0],
        certified_cells[1],
    )
    uncertified = PivotRow(
        None,
        t("cert.line.uncertified"),
        "",
        {m: totals.months.get(m, 0) - certified.months.get(m, 0) for m in months},
        totals.gross - certified.gross,
        totals.refunds - certified.refunds,
    )
    return Pivot(period, months, rows, totals, certified, uncertified)


# -- JSON ---------------------------------------------------------------------------------------


def _period_json(period: Period) -> dict[str, Any]:
    return {"label": period.label, "from": period.first_day.isoformat(), "to": period.last_day.isoformat()}


def _driven_json(row: DrivenRow) -> dict[str, Any]:
    f = row.figures
    return {
        "key": row.key,
        "label": row.label,
        "households": f.households,
        "income_fen": f.income,
        "per_household_fen": f.per_household,
        "negative_households": f.negative,
    }


def overview_json(o: Overview) -> dict[str, Any]:
    s = o.sales
    return {
        "period": _period_json(o.period),
        "households_driven": o.total.households,
        "income_fen": o.total.income,
        "per_household_fen": o.total.per_household,
        "negative_households": o.total.negative,
        "cooperatives": o.cooperatives,
        "member_households": o.households,
        "monthly": [_driven_json(r) for r in o.monthly],
        "by_category": [_driven_json(r) for r in o.by_category],
        "by_cooperative": [_driven_json(r) for r in o.by_cooperative],
        "by_channel": [_driven_json(r) for r in o.by_channel],
        "by_product": [_driven_json(r) for r in o.by_product],
        "lines": lines_json(o.lines) if o.lines else None,
        "sales": {
            "orders": s.orders,
            "orders_paid_fen": s.orders_paid,
            "paid_time_only_fen": s.paid_time_only,
            "shipping_fen": s.shipping,
            "order_adjustments_fen": s.order_adjustments,
            "gross_fen": s.gross,
            "refunds_fen": s.refunds,
            "net_fen": s.net,
            "certified_gross_fen": s.certified_gross,
            "certified_refunds_fen": s.certified_refunds,
            "certified_net_fen": s.certified_net,
            "uncertified_net_fen": s.uncertified_net,
            "by_channel": [
                {
                    "key": r.key,
                    "label": r.label,
                    "gross_fen": r.gross,
                    "refunds_fen": r.refunds,
                    "net_fen": r.net,
                    "certified_net_fen": r.certified_net,
                    "uncertified_net_fen": r.uncertified_net,
                }
                for r in s.by_channel
            ],
        },
        "campaigns": [
            {
                "code": c.code,
                "label": c.label,
                "kinds": c.kinds,
                "units": c.units,
                "orders": c.orders,
                "executed_fen": c.executed,
            }
            for c in o.campaigns
        ],
    }


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def unit_json(u: UnitFigures) -> dict[str, Any]:
    return {
        "id": u.id,
        "code": u.code,
        "name": u.name,
        "kind": u.kind,
        "parent_id": u.parent_id,
        "subunits": u.subunits,
        "rank": u.rank,
        "staff": u.staff,
        "target_fen": u.target,
        "executed_fen": u.executed,
        "rate": _dec(u.rate),
        "purchases_fen": u.purchases,
        "orders": u.orders,
        "buyers": u.buyers,
        "orders_without_buyer": u.unknown_buyers,
        "participation": _dec(u.participation),
        "participation_basis": u.basis,
    }


def ranking_json(r: UnitRanking) -> dict[str, Any]:
    totals = unit_json(r.totals)
    for key in ("id", "code", "kind", "parent_id", "rank"):
        totals.pop(key)
    return {
        "year": r.year,
        "sort": r.sort,
        "rollup": r.rollup,
        "items": [unit_json(u) for u in r.rows],
        "totals": totals,
    }


def monitoring_json(m: Monitoring, rows: Sequence[BelowLine]) -> dict[str, Any]:
    return {
        "year": m.year,
        "cutoff": m.cutoff.isoformat(),
        "elapsed_days": m.elapsed_days,
        "year_days": m.year_days,
        "households_checked": m.households,
        "below": len(m.rows),
        "lines": [{"region": r, "line_fen": fen, "default": d} for r, fen, d in m.lines],
        "items": [
            {
                "household_id": r.household_id,
                "cooperative": r.cooperative,
                "member_no": r.member_no,
                "name": r.name,
                "category": r.category,
                "village": r.village,
                "members": r.members,
                "income_fen": r.income,
                "projected_fen": r.projected,
                "per_person_fen": r.per_person,
                "line_fen": r.line,
                "gap_fen": r.gap,
            }
            for r in rows
        ],
    }


def pivot_json(p: Pivot) -> dict[str, Any]:
    def row(r: PivotRow) -> dict[str, Any]:
        return {
            "product_id": r.product_id,
            "product": r.product,
            "supplier": r.supplier,
            "months": [{"month": m, "net_fen": r.months.get(m, 0)} for m in p.months],
            "gross_fen": r.gross,
            "refunds_fen": r.refunds,
            "net_fen": r.net,
        }

    return {
        "period": _period_json(p.period),
        "months": p.months,
        "items": [row(r) for r in p.rows],
        "totals": row(p.totals),
        "certified": row(p.certified),
        "uncertified": row(p.uncertified),
    }
