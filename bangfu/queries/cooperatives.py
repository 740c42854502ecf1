"""A cooperative's income (收益分配): dashboard figures, breakdowns, member accounts, surplus, policies.

Every figure is read from the ledger. A cooperative's *sales* are the line journals (sale,
true-up, refund) that post to its own accounts, ``cooperative:<id>:retained`` or
``collective:<id>`` (every split of one of its lines credits them); each such journal is one
order line's, named in its source event (``order-line:<shop>:<line>:v<n>:...``). Summing every
leg of those journals by the role of its account gives a waterfall that balances to the fen::

    sales - refunds - fees = net = retention + village collective + households' share

where the households' share is the guaranteed price recovered, the rebate and the priority
bonus credited to the households whose produce filled the lines.

*Paid to households* is the ``household-income`` report for the cooperative (the same function):
what its member households were credited in the period, from any cooperative's lines and from
surplus returns. The two differ exactly by what :class:`Reconciliation` lists, and the page
shows it. *Households reached* is the ``households-driven`` count (members with income > 0).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    String,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu import cooperative_groups
from bangfu.enums import JournalKind
from bangfu.ledger import collective_account, retention_account
from bangfu.models import (
    Cooperative,
    Household,
    HouseholdDailyIncome,
    Journal,
    LedgerAccount,
    LineAttribution,
    LiveSession,
    LotAllocation,
    OrderLine,
    Posting,
    Product,
    Shop,
    Sku,
    SplitPolicy,
    Supplier,
    SupplyLot,
    SurplusDistribution,
)
from bangfu.money import split_largest_remainder
from bangfu.reports.base import Period, Report, local_midnight, local_month, whole_days
from bangfu.reports.households import INCOME_JOURNALS, income_by_household, member_accounts
from bangfu.scope import Scope
from bangfu.store import among

LINE_KINDS = (JournalKind.SALE, JournalKind.REFUND, JournalKind.TRUE_UP)
TREND_MONTHS = 12


# -- figures ------------------------------------------------------------------------------------


@dataclass
class Figures:
    """One row of the waterfall, in fen (every field but ``lines`` is money)."""

    sales: int = 0  # receivable of sale and true-up journals (paid amounts)
    refunds: int = 0  # receivable reversed by refund journals, as a positive figure
    platform_fee: int = 0  # fees are net of what refunds reversed
    payment_fee: int = 0
    logistics: int = 0
    commission: int = 0
    retention: int = 0
    collective: int = 0
    guaranteed: int = 0  # guaranteed price recovered from sales (保底价)
    rebate: int = 0
    bonus: int = 0
    other: int = 0  # any other leg (none is expected on a cooperative's line)
    lines: int = 0  # distinct order lines

    @property
    def fees(self) -> int:
        return self.platform_fee + self.payment_fee + self.logistics + self.commission

    @property
    def net(self) -> int:
        return self.sales - self.refunds - self.fees

    @property
    def households(self) -> int:
        return self.guaranteed + self.rebate + self.bonus

    @property
    def balanced(self) -> bool:
        return self.net == self.retention + self.collective + self.households + self.other

    def add(self, other: Figures) -> None:
        # Field by field, written out: a dashboard adds each of its groups to the totals and to
        # three breakdowns (thousands of calls a page), and a loop over the field names cost
        # twice as much. tests/bangfu/test_cooperative_figures.py checks that it adds every field.
        self.sales += other.sales
        self.refunds += other.refunds
        self.platform_fee += other.platform_fee
        self.payment_fee += other.payment_fee
        self.logistics += other.logistics
        self.commission += other.commission
        self.retention += other.retention
        self.collective += other.collective
        self.guaranteed += other.guaranteed
        self.rebate += other.rebate
        self.bonus += other.bonus
        self.other += other.other
        self.lines += other.lines

    def as_dict(self) -> dict[str, int]:
        money = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "lines"}
        return {**money, "fees": self.fees, "net": self.net, "households": self.households, "lines": self.lines}

    def money(self) -> dict[str, int]:
        return {k: v for k, v in self.as_dict().items() if k != "lines"}


MONEY_FIELDS = tuple(f.name for f in fields(Figures) if f.name not in ("lines",))


def _book(fig: Figures, kind: str, klass: str, amount: int) -> None:
    """Add one (journal kind, account class) sum of signed legs to ``fig``."""
    if klass == "receivable":
        if kind == JournalKind.REFUND.value:
            fig.refunds -= amount
        else:
            fig.sales += amount
    else:
        field_name = klass if klass in MONEY_FIELDS else "other"
        setattr(fig, field_name, getattr(fig, field_name) - amount)  # credits are negative


def account_class() -> ColumnElement[str]:
    """SQL: the role of a ledger account by its structured code."""
    code = LedgerAccount.code
    return case(
        (code.like("receivable:%"), "receivable"),
        (code.like("fees:%:platform_fee"), "platform_fee"),
        (code.like("fees:%:payment_fee"), "payment_fee"),
        (code.like("fees:%:logistics"), "logistics"),
        (code.like("payable:host:%"), "commission"),
        (code.like("cooperative:%"), "retention"),
        (code.like("collective:%"), "collective"),
        (code.like("household:%:bonus"), "bonus"),
        (code.like("household:%:advance"), "guaranteed"),
        (code.like("household:%"), "rebate"),
        else_="other",
    )


def line_id_of(conn: AsyncConnection, source_event: Any) -> ColumnElement[int]:
    """SQL: the order-line id of a line journal's source event (``order-line:<shop>:<line>:...``)."""
    if conn.dialect.name == "postgresql":
        return cast(func.split_part(source_event, ":", 3), BigInteger)
    rest = func.substr(source_event, 12)  # after "order-line:"
    after_shop = func.substr(rest, func.instr(rest, ":") + 1)
    return cast(func.substr(after_shop, 1, func.instr(after_shop, ":") - 1), Integer)


# ``ix_journals_order_line`` (migration 0050, PostgreSQL): the order-line id of a line journal's
# source event (``order-line:<shop>:<line>:...``; NULL for other journals), written with literals
# (not bound parameters) so that any plan of a query using it, generic ones too, can use the index.
def indexed_line_id(source_event: Any) -> ColumnElement[int]:
    """PostgreSQL: ``CASE WHEN source_event LIKE 'order-line:%' THEN CAST(split_part(source_event,
    ':', 3) AS BIGINT) END``, the index's expression."""
    line = cast(func.split_part(source_event, literal_column("':'"), literal_column("3")), BigInteger)
    return case((source_event.like(literal_column("'order-line:%'")), line))


def own_journals(scope: Scope, cooperative_id: int | None = None) -> Any:
    """Subquery (journal_id, cooperative_id): journals posting to a visible cooperative's own accounts."""
    query = select(Posting.journal_id.label("journal_id"), LedgerAccount.owner_id.label("cooperative_id")).join(
        LedgerAccount, LedgerAccount.id == Posting.account_id
    )
    if cooperative_id is not None:
        codes = [retention_account(cooperative_id).code, collective_account(cooperative_id).code]
        query = query.where(LedgerAccount.code.in_(codes), scope.cooperatives(LedgerAccount.owner_id))
    else:
        query = query.where(LedgerAccount.owner_type == "cooperative", scope.cooperatives(LedgerAccount.owner_id))
    return query.distinct().subquery("own")


async def _facts(conn: AsyncConnection, own: Any, period: Period, *dims: ColumnElement[Any]) -> list[tuple[Any, ...]]:
    """Rows (*dims, journal kind, account class, signed sum) over ``own`` journals in ``period``."""
    klass = account_class()
    query = (
        select(*dims, Journal.kind, klass, func.sum(Posting.amount_fen))
        .select_from(own)
        .join(Journal, Journal.id == own.c.journal_id)
        .join(Posting, Posting.journal_id == Journal.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(
            Journal.kind.in_(list(LINE_KINDS)), Journal.occurred_at >= period.start, Journal.occurred_at < period.end
        )
        .group_by(*dims, Journal.kind, klass)
    )
    return [tuple(row) for row in await conn.execute(query)]


def _kind(value: Any) -> str:
    return value.value if isinstance(value, JournalKind) else str(value)


# -- the list of cooperatives -------------------------------------------------------------------


@dataclass(frozen=True)
class CooperativeRef:
    id: int
    name: str
    county: str
    village_collective: str | None
    households: int


@dataclass
class CooperativeRow:
    cooperative: CooperativeRef
    figures: Figures
    paid_to_households: int
    households_reached: int


async def _cooperatives(conn: AsyncConnection, scope: Scope, cooperative_id: int | None = None) -> list[CooperativeRef]:
    from bangfu.models import Region

    members = (
        select(Household.cooperative_id, func.count(Household.id).label("n"))
        .group_by(Household.cooperative_id)
        .subquery()
    )
    query = (
        select(Cooperative.id, Supplier.name, Region.name, Cooperative.village_collective, members.c.n)
        .join(Supplier, Supplier.id == Cooperative.supplier_id)
        .join(Region, Region.id == Supplier.county_id)
        .outerjoin(members, members.c.cooperative_id == Cooperative.id)
        .where(scope.cooperatives(Cooperative.id))
        .order_by(Cooperative.id)
    )
    if cooperative_id is not None:
        query = query.where(Cooperative.id == cooperative_id)
    return [CooperativeRef(int(i), n, c, v, int(h or 0)) for i, n, c, v, h in await conn.execute(query)]


async def cooperative_ref(conn: AsyncConnection, scope: Scope, cooperative_id: int) -> CooperativeRef | None:
    found = await _cooperatives(conn, scope, cooperative_id)
    return found[0] if found else None


async def member_income(
    conn: AsyncConnection, scope: Scope, period: Period, *, from_ledger: bool = False
) -> dict[int, dict[int, int]]:
    """Income per visible cooperative per member household in ``period`` (the report's
    definition), from ``household_daily_income``; ``from_ledger``: summed from the postings."""
    days = fact_days(period)
    if days is not None and not from_ledger:
        return {
            coop: {hid: total for hid, (total, _surplus) in members.items() if total}
            for coop, members in (await _daily_income(conn, days, scope=scope)).items()
        }
    query = (
        select(Household.cooperative_id, LedgerAccount.owner_id, func.sum(Posting.amount_fen))
        .select_from(LedgerAccount)
        .join(Posting, Posting.account_id == LedgerAccount.id)
        .join(Journal, Journal.id == Posting.journal_id)
        .join(Household, Household.id == LedgerAccount.owner_id)
        .where(
            LedgerAccount.owner_type == "household",
            Journal.kind.in_(list(INCOME_JOURNALS)),
            Journal.occurred_at >= period.start,
            Journal.occurred_at < period.end,
            scope.cooperatives(Household.cooperative_id),
        )
        .group_by(Household.cooperative_id, LedgerAccount.owner_id)
    )
    out: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for coop, hid, total in await conn.execute(query):
        if hid is not None and total:
            out[int(coop)][int(hid)] -= int(total)
    return out


async def list_cooperatives(
    conn: AsyncConnection, scope: Scope, period: Period, *, from_ledger: bool = False
) -> list[CooperativeRow]:
    """Every cooperative in scope with the period's headline figures (from
    ``cooperative_day_totals``, sums of ``cooperative_line_facts``; ``from_ledger``: summed from
    the postings, the same figures)."""
    refs = await _cooperatives(conn, scope)
    by_coop: dict[int, Figures] = defaultdict(Figures)
    days = fact_days(period)
    if days is None or from_ledger:
        own = own_journals(scope)
        for coop, kind, klass, amount in await _facts(conn, own, period, own.c.cooperative_id):
            _book(by_coop[int(coop)], _kind(kind), str(klass), int(amount))
    else:
        source = cooperative_groups.totals(conn, scope.cooperatives, days)
        query = select(source.c.cooperative_id, *_group_sums(source)).group_by(source.c.cooperative_id)
        for coop, *money in await conn.execute(query):
            by_coop[int(coop)] = _figures(money)
    income = await member_income(conn, scope, period, from_ledger=from_ledger)
    rows = []
    for ref in refs:
        households = income.get(ref.id, {})
        rows.append(
            CooperativeRow(
                ref,
                by_coop.get(ref.id, Figures()),
                sum(households.values()),
                sum(1 for fen in households.values() if fen > 0),
            )
        )
    return rows


# -- one cooperative's dashboard ----------------------------------------------------------------


@dataclass
class Breakdown:
    """One row of a breakdown table: a key (for links), a label and its figures."""

    key: str
    label: str
    figures: Figures
    detail: str = ""
    link: str | None = None


@dataclass(frozen=True)
class Reconciliation:
    """What separates the households' share of the cooperative's sales from *paid to households*."""

    households_share: int  # households' legs of this cooperative's line journals
    to_non_members: int  # ... of which to households of other cooperatives (art. 41)
    from_other_cooperatives: int  # members' income from other cooperatives' lines
    surplus_returned: int  # year-end surplus journals (patronage return)
    paid_to_households: int  # the household-income report's total

    @property
    def balanced(self) -> bool:
        return (
            self.households_share - self.to_non_members + self.from_other_cooperatives + self.surplus_returned
            == self.paid_to_households
        )


@dataclass
class Dashboard:
    cooperative: CooperativeRef
    period: Period
    totals: Figures
    paid_to_households: int
    households_reached: int
    reconciliation: Reconciliation
    by_product: list[Breakdown]
    by_lot: list[Breakdown]
    by_channel: list[Breakdown]
    by_session: list[Breakdown]
    trend: list[tuple[str, Figures]]
    trend_period: Period
    policy_versions: list[int] = field(default_factory=list)


def _apportion(fig: Figures, weights: Mapping[Any, int]) -> dict[Any, Figures]:
    """Split every money field of ``fig`` over ``weights`` (largest remainder; parts sum exactly)."""
    out: dict[Any, Figures] = {key: Figures() for key in weights}
    for name in MONEY_FIELDS:
        total = getattr(fig, name)
        if not total:
            continue
        for key, part in split_largest_remainder(total, dict(weights)).items():
            setattr(out[key], name, part)
    return out


def trend_period_for(period: Period) -> Period:
    """The months shown in the trend: the period's own when it spans a year or more, else the
    twelve months ending with the period's last month."""
    months = period.months()
    if len(months) >= TREND_MONTHS:
        return Period(local_midnight(period.first_day.replace(day=1)), period.end, period.label)
    last = period.last_day
    year, month = last.year, last.month - (TREND_MONTHS - 1)
    while month < 1:
        year, month = year - 1, month + 12
    nxt = date(last.year + (last.month == 12), last.month % 12 + 1, 1)
    return Period(local_midnight(date(year, month, 1)), local_midnight(nxt), f"{year:04d}-{month:02d}~{last:%Y-%m}")


async def dashboard(
    conn: AsyncConnection,
    scope: Scope,
    cooperative_id: int,
    period: Period,
    *,
    session_link: bool | None = None,
    from_ledger: bool = False,
) -> Dashboard | None:
    """The cooperative's income for ``period``; None when it is not in the scope (or not there).

    Read from ``cooperative_day_groups`` (a few grouped queries over a few rows per day,
    whatever the number of lines; ``bangfu.cooperative_groups``);
    ``from_ledger`` (and a period that is not whole local days) sums the postings instead, line
    by line: the same figures, the check the tests make."""
    ref = await cooperative_ref(conn, scope, cooperative_id)
    if ref is None:
        return None
    trend_span = trend_period_for(period)
    days, trend_days = fact_days(period), fact_days(trend_span)
    if from_ledger or days is None or trend_days is None:
        parts = await _ledger_parts(conn, scope, cooperative_id, period, trend_span)
    else:
        parts = await _fact_parts(conn, scope, cooperative_id, days, trend_days, trend_span)
    totals, by_product, by_lot, by_channel, by_session, monthly, non_members = parts

    if from_ledger or days is None:
        income = await income_by_household(conn, period, cooperative_id=cooperative_id)
        paid = sum(sum(m.values()) for m in income.values())
        reached = sum(1 for m in income.values() if sum(m.values()) > 0)
        surplus = await income_by_household(conn, period, cooperative_id=cooperative_id, kinds=[JournalKind.SURPLUS])
        surplus_fen = sum(sum(m.values()) for m in surplus.values())
    else:
        members = (await _daily_income(conn, days, cooperative_id=cooperative_id)).get(cooperative_id, {})
        paid = sum(total for total, _surplus in members.values())
        reached = sum(1 for total, _surplus in members.values() if total > 0)
        surplus_fen = sum(returned for _total, returned in members.values())
    share = totals.households
    reconciliation = Reconciliation(
        households_share=share,
        to_non_members=non_members,
        from_other_cooperatives=paid - surplus_fen - (share - non_members),
        surplus_returned=surplus_fen,
        paid_to_households=paid,
    )
    versions = [
        int(v)
        for v in await conn.scalars(
            select(SplitPolicy.version)
            .where(SplitPolicy.cooperative_id == cooperative_id)
            .order_by(SplitPolicy.version)
        )
    ]
    return Dashboard(
        ref,
        period,
        totals,
        paid,
        reached,
        reconciliation,
        by_product,
        by_lot,
        by_channel,
        by_session,
        sorted(monthly.items()),
        trend_span,
        versions,
    )


Parts = tuple[Figures, list[Breakdown], list[Breakdown], list[Breakdown], list[Breakdown], dict[str, Figures], int]


async def _ledger_parts(
    conn: AsyncConnection, scope: Scope, cooperative_id: int, period: Period, trend_span: Period
) -> Parts:
    """The dashboard's figures summed from the postings of the cooperative's line journals."""
    own = own_journals(scope, cooperative_id)
    line = line_id_of(conn, Journal.source_event).label("line_id")
    per_line: dict[int, Figures] = defaultdict(Figures)
    for line_id, kind, klass, amount in await _facts(conn, own, period, line):
        _book(per_line[int(line_id)], _kind(kind), str(klass), int(amount))
    for fig in per_line.values():
        fig.lines = 1
    totals = Figures()
    for fig in per_line.values():
        totals.add(fig)

    line_ids = sorted(per_line)
    info = await _line_info(conn, scope, line_ids)
    draws = await _line_draws(conn, line_ids)
    by_product = _group(per_line, info, "product")
    by_channel = _group(per_line, info, "shop")
    by_session = _group(per_line, info, "session")
    by_lot = await _by_lot(conn, per_line, draws)

    month = local_month(conn, Journal.occurred_at).label("month")
    monthly: dict[str, Figures] = {m: Figures() for m in trend_span.months()}
    for mon, kind, klass, amount in await _facts(conn, own, trend_span, month):
        _book(monthly.setdefault(str(mon), Figures()), _kind(kind), str(klass), int(amount))
    non_members = await _to_non_members(conn, own, period, cooperative_id)
    return totals, by_product, by_lot, by_channel, by_session, monthly, non_members


# -- the dashboard from cooperative_day_groups --------------------------------------------------


fact_days = whole_days  # the local days of a whole-day period (``cooperative_line_facts`` holds days)


async def _daily_income(
    conn: AsyncConnection, days: tuple[date, date], *, cooperative_id: int | None = None, scope: Scope | None = None
) -> dict[int, dict[int, tuple[int, int]]]:
    """Cooperative -> member household -> (income, of which surplus returned) over ``days``,
    from ``household_daily_income`` (the household-income report's sums); households whose
    income nets to zero are left out, as the report leaves them."""
    daily = HouseholdDailyIncome
    query = (
        select(
            Household.cooperative_id,
            daily.household_id,
            func.sum(daily.trade_fen + daily.surplus_fen),
            func.sum(daily.surplus_fen),
        )
        .join(Household, Household.id == daily.household_id)
        .where(daily.day >= days[0], daily.day <= days[1])
        .group_by(Household.cooperative_id, daily.household_id)
    )
    if cooperative_id is not None:
        query = query.where(Household.cooperative_id == cooperative_id)
    if scope is not None:
        query = query.where(scope.cooperatives(Household.cooperative_id))
    out: dict[int, dict[int, tuple[int, int]]] = defaultdict(dict)
    for coop, hid, total, returned in await conn.execute(query):
        if total or returned:
            out[int(coop)][int(hid)] = (int(total), int(returned))
    return out


def _group_sums(source: Any) -> list[Any]:
    """SQL: the sum of every money column of a :func:`bangfu.cooperative_groups.rows` subquery
    (in MONEY_FIELDS order)."""
    return [func.coalesce(func.sum(source.c[name]), 0) for name in MONEY_FIELDS]


def _figures(money: Sequence[Any], lines: int = 0) -> Figures:
    """A Figures of the money columns in MONEY_FIELDS order (NULL: 0) and ``lines``."""
    if len(money) != len(MONEY_FIELDS):
        raise ValueError(f"{len(money)} money columns, expected {len(MONEY_FIELDS)}")
    values = [int(v) if v else 0 for v in money]
    values.append(lines)
    return Figures(*values)  # positional: MONEY_FIELDS, then lines


async def _fact_parts(
    conn: AsyncConnection,
    scope: Scope,
    cooperative_id: int,
    days: tuple[date, date],
    trend_days: tuple[date, date],
    trend_span: Period,
) -> Parts:
    """The dashboard's figures from ``cooperative_day_groups``: one query grouped by product,
    shop and session (each line is in exactly one such group, so distinct lines add up), one by
    lot (a line drawn from several lots is apportioned by units, as :func:`_by_lot` does), one
    by month."""
    groups_query, lots_query, trend_query = _dashboard_statements(conn.dialect.name)
    params = {"coop": cooperative_id, "first": days[0], "last": days[1]}
    groups = list(await conn.execute(groups_query, params))
    sessions = sorted({int(row[7]) for row in groups if row[7] is not None})
    seen: set[int] = set()
    if sessions and scope.sees_sessions:
        seen = {
            int(i)
            for i in await conn.scalars(
                select(LiveSession.id).where(among(conn, LiveSession.id, sessions), scope.sessions())
            )
        }
    totals = Figures()
    non_members = 0
    dims: dict[str, dict[str, Breakdown]] = {"product": {}, "shop": {}, "session": {}}
    Key = tuple[str, str, str, str | None]
    shop_keys: dict[Any, Key] = {}
    session_keys: dict[Any, Key] = {None: ("s-", "", "", None)}
    for group in groups:
        row: tuple[Any, ...] = tuple(group)
        (missing, pid, pname, title, sid, sname, channel, sess, stitle, room, started, lines, foreign) = row[:13]
        fig = _figures(row[13:], int(lines))
        totals.add(fig)
        non_members += int(foreign)
        keys: dict[str, tuple[str, str, str, str | None]]
        if missing:
            keys = {dim: ("-", "", "", None) for dim in dims}
        else:
            product = (f"p{pid}", str(pname), "", None) if pid is not None else ("p-", str(title or "-"), "", None)
            shop = shop_keys.get(sid)
            if shop is None:  # a shop's and a session's key and label once, not once per group
                channel_value = channel.value if hasattr(channel, "value") else str(channel)
                shop = shop_keys[sid] = (f"shop{sid}", str(sname), channel_value, None)
            session = session_keys.get(sess)
            if session is None:
                label = stitle or room
                if started is not None:
                    label = f"{label} ({started:%Y-%m-%d})"
                link = f"/sessions/{sess}" if int(sess) in seen else None
                session = session_keys[sess] = (f"s{sess}", str(label), "", link)
            keys = {"product": product, "shop": shop, "session": session}
        for dim, (key, label, detail, link) in keys.items():
            rows = dims[dim]
            found = rows.get(key)
            if found is None:  # not setdefault: that built a Breakdown for every group and dimension
                found = rows[key] = Breakdown(key, label, Figures(), detail, link)
            elif key == "p-" and label < found.label:
                found.label = label  # the lines without a product: one of their titles, the least
            found.figures.add(fig)

    def ordered(rows: Mapping[str, Breakdown]) -> list[Breakdown]:
        return sorted(rows.values(), key=lambda r: (-r.figures.sales, r.label))

    by_lot = await _fact_lots(conn, lots_query, params)

    monthly: dict[str, Figures] = {m: Figures() for m in trend_span.months()}
    spread = {"coop": cooperative_id, "first": trend_days[0], "last": trend_days[1]}
    for mon, *money in await conn.execute(trend_query, spread):
        monthly.setdefault(str(mon), Figures()).add(_figures(money))
    return (
        totals,
        ordered(dims["product"]),
        by_lot,
        ordered(dims["shop"]),
        ordered(dims["session"]),
        monthly,
        non_members,
    )


@lru_cache(maxsize=4)
def _dashboard_statements(dialect: str) -> tuple[Any, Any, Any]:
    """The dashboard's three queries on ``cooperative_day_groups`` and ``cooperative_day_totals``
    (built once: their structure is the same for every cooperative and period), with the bind
    parameters ``coop``, ``first`` and ``last`` (the days).

    Groups by product, shop and session (each line is in exactly one such group, so distinct
    lines add up, counted once each by :func:`bangfu.cooperative_groups.counted`); by lot key
    and split line; the totals by month."""
    coop = bindparam("coop", type_=BigInteger)
    days = (bindparam("first", type_=Date), bindparam("last", type_=Date))
    wanted = ("product_id", "shop_id", "session_id", "title", "prev_day", "lines", "to_non_members", *MONEY_FIELDS)
    source = cooperative_groups.rows(None, lambda column: column == coop, days, wanted)
    groups = (
        select(
            source.c.shop_id.is_(None),
            Product.id,
            Product.name,
            func.min(source.c.title),
            Shop.id,
            Shop.name,
            Shop.channel_type,
            LiveSession.id,
            LiveSession.title,
            LiveSession.room_id,
            LiveSession.started_at,
            cooperative_groups.counted(source, days[0]),
            func.coalesce(func.sum(source.c.to_non_members), 0),
            *_group_sums(source),
        )
        .select_from(source)
        .outerjoin(Product, Product.id == source.c.product_id)
        .outerjoin(Shop, Shop.id == source.c.shop_id)
        .outerjoin(LiveSession, LiveSession.id == source.c.session_id)
        .group_by(
            source.c.shop_id.is_(None),
            Product.id,
            Product.name,
            Shop.id,
            Shop.name,
            Shop.channel_type,
            LiveSession.id,
            LiveSession.title,
            LiveSession.room_id,
            LiveSession.started_at,
        )
    )
    wanted = ("lot_id", "split_line", "prev_day", "lines", *MONEY_FIELDS)
    source = cooperative_groups.rows(None, lambda column: column == coop, days, wanted)
    split_line = case((source.c.split_line != 0, source.c.split_line))
    lots = select(
        source.c.lot_id, split_line, cooperative_groups.counted(source, days[0]), *_group_sums(source)
    ).group_by(source.c.lot_id, split_line)
    spread = cooperative_groups.totals(None, lambda column: column == coop, days)
    month: Any = (
        func.to_char(spread.c.day, "YYYY-MM") if dialect == "postgresql" else func.strftime("%Y-%m", spread.c.day)
    )
    trend = select(cast(month, String), *_group_sums(spread)).group_by(month)
    return groups, lots, trend


async def _fact_lots(conn: AsyncConnection, query: Any, params: Mapping[str, Any]) -> list[Breakdown]:
    """The by-lot breakdown from ``cooperative_day_groups`` (``query``, see
    :func:`_dashboard_statements`): a line drawn from one lot adds to it whole, a line without
    draws to lot 0 (both grouped in SQL), a line drawn from several lots (its own rows,
    ``split_line``) is apportioned by units (largest remainder, in Python, as :func:`_by_lot`)."""
    rows: dict[int, Figures] = defaultdict(Figures)
    split: dict[int, Figures] = {}
    for lot, line, count, *money in await conn.execute(query, params):
        if line is not None:
            split[int(line)] = _figures(money, 1)
        else:
            rows[int(lot)].add(_figures(money, int(count)))
    if split:
        draws_of = await _line_draws(conn, sorted(split))
        for lot, fig in (await _apportioned(split, draws_of)).items():
            rows[lot].add(fig)
    return await _lot_breakdown(conn, rows)


async def _to_non_members(conn: AsyncConnection, own: Any, period: Period, cooperative_id: int) -> int:
    """Households' legs of the cooperative's line journals that went to households of other cooperatives."""
    query = (
        select(func.coalesce(func.sum(Posting.amount_fen), 0))
        .select_from(own)
        .join(Journal, Journal.id == own.c.journal_id)
        .join(Posting, Posting.journal_id == Journal.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .join(Household, Household.id == LedgerAccount.owner_id)
        .where(
            LedgerAccount.owner_type == "household",
            Household.cooperative_id != cooperative_id,
            Journal.kind.in_(list(LINE_KINDS)),
            Journal.occurred_at >= period.start,
            Journal.occurred_at < period.end,
        )
    )
    return -int(await conn.scalar(query) or 0)


@dataclass(frozen=True)
class LineInfo:
    product: tuple[str, str]  # (key, label)
    shop: tuple[str, str, str]  # (key, label, channel type)
    session: tuple[str, str, str | None]  # (key, label, link)


async def _line_info(conn: AsyncConnection, scope: Scope, line_ids: Sequence[int]) -> dict[int, LineInfo]:
    out: dict[int, LineInfo] = {}
    if not line_ids:
        return out
    visible = scope.sees_sessions
    query = (
        select(
            OrderLine.id,
            Product.id,
            Product.name,
            OrderLine.title,
            Shop.id,
            Shop.name,
            Shop.channel_type,
            LiveSession.id,
            LiveSession.title,
            LiveSession.room_id,
            LiveSession.started_at,
            scope.sessions() if visible else literal_column("0"),
        )
        .join(Shop, Shop.id == OrderLine.shop_id)
        .outerjoin(Sku, Sku.id == OrderLine.sku_id)
        .outerjoin(Product, Product.id == Sku.product_id)
        .outerjoin(LineAttribution, LineAttribution.order_line_id == OrderLine.id)
        .outerjoin(LiveSession, LiveSession.id == LineAttribution.session_id)
        .where(among(conn, OrderLine.id, list(line_ids)))
    )
    for row in await conn.execute(query):
        (lid, pid, pname, title, sid, sname, channel, sess, stitle, room, started, can_see) = row
        product = (f"p{pid}", pname) if pid is not None else ("p-", title or "-")
        if sess is None:
            session: tuple[str, str, str | None] = ("s-", "", None)
        else:
            label = stitle or room
            if started is not None:
                label = f"{label} ({started:%Y-%m-%d})"
            session = (f"s{sess}", label, f"/sessions/{sess}" if visible and can_see else None)
        channel_value = channel.value if hasattr(channel, "value") else str(channel)
        out[int(lid)] = LineInfo(product, (f"shop{sid}", sname, channel_value), session)
    return out


def _group(per_line: Mapping[int, Figures], info: Mapping[int, LineInfo], dim: str) -> list[Breakdown]:
    rows: dict[str, Breakdown] = {}
    for line_id, fig in per_line.items():
        li = info.get(line_id)
        if li is None:
            key, label, detail, link = "-", "", "", None
        elif dim == "product":
            key, label = li.product
            detail, link = "", None
        elif dim == "shop":
            key, label, detail = li.shop
            link = None
        else:
            key, label, link = li.session
            detail = ""
        row = rows.setdefault(key, Breakdown(key, label, Figures(), detail, link))
        row.figures.add(fig)
    return sorted(rows.values(), key=lambda r: (-r.figures.sales, r.label))


async def _line_draws(conn: AsyncConnection, line_ids: Sequence[int]) -> dict[int, dict[int, int]]:
    out: dict[int, dict[int, int]] = defaultdict(dict)
    if not line_ids:
        return out
    query = (
        select(LotAllocation.order_line_id, LotAllocation.lot_id, func.sum(LotAllocation.quantity))
        .where(among(conn, LotAllocation.order_line_id, list(line_ids)), LotAllocation.quantity > 0)
        .group_by(LotAllocation.order_line_id, LotAllocation.lot_id)
    )
    for line_id, lot_id, units in await conn.execute(query):
        out[int(line_id)][int(lot_id)] = int(units)
    return out


async def _by_lot(
    conn: AsyncConnection, per_line: Mapping[int, Figures], draws: Mapping[int, Mapping[int, int]]
) -> list[Breakdown]:
    """Each line's figures apportioned over the lots it drew from, by units (largest remainder)."""
    return await _lot_breakdown(conn, await _apportioned(per_line, draws))


async def _apportioned(per_line: Mapping[int, Figures], draws: Mapping[int, Mapping[int, int]]) -> dict[int, Figures]:
    """Lot -> the lines' figures apportioned over the lots each drew from (0: no draws)."""
    rows: dict[int, Figures] = defaultdict(Figures)
    for line_id, fig in per_line.items():
        weights = {lot: units for lot, units in sorted(draws.get(line_id, {}).items()) if units > 0}
        if not weights:
            rows[0].add(fig)
            continue
        parts = _apportion(fig, weights)
        for lot, part in parts.items():
            part.lines = 1
            rows[lot].add(part)
    return rows


async def _lot_breakdown(conn: AsyncConnection, rows: Mapping[int, Figures]) -> list[Breakdown]:
    lot_ids = sorted(k for k in rows if k)
    labels: dict[int, tuple[str, str]] = {}
    if lot_ids:
        query = (
            select(SupplyLot.id, SupplyLot.lot_code, SupplyLot.received_on, Product.name, Sku.spec)
            .join(Sku, Sku.id == SupplyLot.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .where(among(conn, SupplyLot.id, lot_ids))
        )
        for lot_id, code, received, pname, spec in await conn.execute(query):
            labels[int(lot_id)] = (code, f"{pname} {spec} · {received:%Y-%m-%d}")
    out = [
        Breakdown(f"lot{lot}" if lot else "lot-", labels.get(lot, ("", ""))[0], fig, labels.get(lot, ("", ""))[1])
        for lot, fig in rows.items()
    ]
    return sorted(out, key=lambda r: (-r.figures.sales, r.label))


# -- member accounts and the surplus preview ----------------------------------------------------


@dataclass
class MemberAccounts:
    cooperative: CooperativeRef
    year: int
    report: Report  # the member-accounts report (names as the scope may see them)
    household_ids: list[int]


async def members(conn: AsyncConnection, scope: Scope, cooperative_id: int, period: Period) -> MemberAccounts | None:
    """成员账户 (art. 43) of the period's year: the ``member-accounts`` report for the cooperative."""
    ref = await cooperative_ref(conn, scope, cooperative_id)
    if ref is None:
        return None
    report = await member_accounts(
        conn, period, cooperative_id=cooperative_id, name_of=lambda name, coop: scope.household_name(name, coop)
    )
    ids = [int(row["household_id"]) for row in report.rows]
    return MemberAccounts(ref, period.year, report, ids)


@dataclass(frozen=True)
class SurplusMember:
    household_id: int
    member_no: str
    name: str
    category: str
    volume_fen: int
    capital_fen: int
    reserve_share_fen: int
    subsidy_share_fen: int
    patronage_fen: int
    share_fen: int

    @property
    def total_fen(self) -> int:
        return self.patronage_fen + self.share_fen


@dataclass
class SurplusPreview:
    cooperative: CooperativeRef
    year: int
    error: str | None  # why nothing can be distributed (no surplus, no policy...)
    distributed_on: datetime | None  # the year's distribution, when it is already posted
    policy_version: int | None = None
    patronage_return_bp: int | None = None
    distributable_fen: int = 0
    patronage_fen: int = 0
    shares_fen: int = 0
    non_member_volume_fen: int = 0
    shares_basis: str = "shares"
    members: list[SurplusMember] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        """The members' money columns summed (:data:`SURPLUS_SUMS`): the page's footer and the
        export's totals row alike."""
        return {name: sum(getattr(m, name) for m in self.members) for name in SURPLUS_SUMS}


SURPLUS_SUMS = (
    "volume_fen",
    "capital_fen",
    "reserve_share_fen",
    "subsidy_share_fen",
    "patronage_fen",
    "share_fen",
    "total_fen",
)


PlanFunction = Callable[[AsyncConnection, int, int], Awaitable[Any]]


async def surplus_preview(
    conn: AsyncConnection, scope: Scope, cooperative_id: int, year: int, plan: PlanFunction
) -> SurplusPreview | None:
    """The year's surplus plan (arts. 40-44), computed and never posted.

    ``plan`` is ``workers.surplus.compute_surplus`` (passed in by the web layer: the core does
    not import workers). When the year is already distributed, the recorded plan is shown.
    """
    from bangfu.errors import UserError
    from bangfu.reports.households import category_label

    ref = await cooperative_ref(conn, scope, cooperative_id)
    if ref is None:
        return None
    done = (
        await conn.execute(
            select(SurplusDistribution.created_at, SurplusDistribution.plan).where(
                SurplusDistribution.cooperative_id == cooperative_id, SurplusDistribution.year == year
            )
        )
    ).first()
    doc: dict[str, Any]
    if done is not None:
        doc = dict(done[1])
        distributed_on: datetime | None = done[0]
    else:
        distributed_on = None
        try:
            computed = await plan(conn, cooperative_id, year)
        except UserError as exc:
            return SurplusPreview(ref, year, str(exc), None)
        doc = computed.as_doc()
    people = {
        int(hid): (name, category)
        for hid, name, category in await conn.execute(
            select(Household.id, Household.head_name, Household.category).where(
                Household.cooperative_id == cooperative_id
            )
        )
    }
    rows = []
    for m in doc.get("members", []):
        hid = int(m["household_id"])
        name, category = people.get(hid, ("", None))
        rows.append(
            SurplusMember(
                hid,
                str(m["member_no"]),
                scope.household_name(name, cooperative_id),
                category_label(category) if category is not None else "",
                int(m["volume_fen"]),
                int(m["capital_fen"]),
                int(m["reserve_share_fen"]),
                int(m["subsidy_share_fen"]),
                int(m["patronage_fen"]),
                int(m["share_fen"]),
            )
        )
    return SurplusPreview(
        ref,
        year,
        None,
        distributed_on,
        int(doc["policy_version"]),
        int(doc["patronage_return_bp"]),
        int(doc["distributable_fen"]),
        int(doc["patronage_fen"]),
        int(doc["shares_fen"]),
        int(doc.get("non_member_volume_fen", 0)),
        str(doc.get("shares_basis", "shares")),
        rows,
    )


# -- policies -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyVersion:
    version: int
    effective_from: date
    patronage_return_bp: int
    rules: dict[str, Any]
    note: str | None
    created_at: datetime


@dataclass
class PolicyView:
    cooperative: CooperativeRef
    policy: PolicyVersion
    versions: list[PolicyVersion]


async def policy(conn: AsyncConnection, scope: Scope, cooperative_id: int, version: int) -> PolicyView | None:
    """One version of the cooperative's split policy (read only), with the list of all versions."""
    ref = await cooperative_ref(conn, scope, cooperative_id)
    if ref is None:
        return None
    rows = await conn.execute(
        select(
            SplitPolicy.version,
            SplitPolicy.effective_from,
            SplitPolicy.patronage_return_bp,
            SplitPolicy.rules,
            SplitPolicy.note,
            SplitPolicy.created_at,
        )
        .where(SplitPolicy.cooperative_id == cooperative_id)
        .order_by(SplitPolicy.version)
    )
    versions = [PolicyVersion(int(v), f, int(p), dict(r or {}), n, c) for v, f, p, r, n, c in rows]
    chosen = next((v for v in versions if v.version == version), None)
    if chosen is None:
        return None
    return PolicyView(ref, chosen, versions)


def figures_sum(rows: Iterable[Figures]) -> Figures:
    out = Figures()
    for fig in rows:
        out.add(fig)
    return out
