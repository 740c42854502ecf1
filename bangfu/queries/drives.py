"""The county's enterprise-driven households (企业带动农户), scoped: the enterprise line of the
带动 figures beside the cooperative members' line, per enterprise and mode, and each
enterprise's households.

Definitions are :mod:`bangfu.drives`'s and the households-driven report's
(:func:`bangfu.reports.households.driven`): per line, the count is of distinct families with a
total above 0 in the period and the amount is the total of every family; the combined count
counts a family on both lines once. Amounts are monthly, so a period counts the months it
touches. Enterprises are the suppliers of kind enterprise the scope shows
(:meth:`bangfu.scope.Scope.suppliers`); the member line is the cooperatives the scope shows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.drives import (
    MODES,
    DriveAmount,
    Identity,
    amounts,
    combined_households,
    member_identity,
    mode_label,
    nets_by_identity,
)
from bangfu.enums import HouseholdCategory, SupplierKind
from bangfu.i18n import MESSAGES, t
from bangfu.models import Cooperative, DriveEntry, DriveHousehold, DriveMode, Supplier
from bangfu.privacy import mask_name
from bangfu.reports.base import Period
from bangfu.reports.households import Driven, category_label, driven, income_by_household, net_by_household
from bangfu.scope import Scope

# The pages' and the CLI's text.
MESSAGES.update(
    {
        "drives.web.title": {"zh": "企业带动农户 {period}", "en": "Enterprise-driven households {period}"},
        "drives.web.card": {"zh": "企业带动农户", "en": "Enterprise-driven households"},
        "drives.web.card_line": {
            "zh": "企业带动 {n} 户、{wan} 万元；与合作社成员合计不重复 {combined} 户",
            "en": "Enterprises drive {n} households, {wan} × 10k yuan; {combined} distinct households with the members",
        },
        "drives.web.open": {"zh": "查看企业带动明细", "en": "Enterprise-driven details"},
        "drives.web.lines": {"zh": "带动户数与增收（分两条线）", "en": "Households driven, by line"},
        "drives.web.line": {"zh": "口径", "en": "Line"},
        "drives.web.households": {"zh": "带动户数", "en": "Households"},
        "drives.web.amount": {"zh": "增收金额", "en": "Amount"},
        "drives.web.per_household": {"zh": "户均", "en": "Per household"},
        "drives.web.lines_def": {
            "zh": "合作社成员一行是账本记入成员农户的收入（与县域总览相同）；企业带动一行是企业订单收购、务工工资、"
            "土地流转租金和入股分红付给农户的金额，另列，不计入成员账本收入。户数为期间内金额大于 0 的不同农户；"
            "身份证号相同的农户是同一户，合计行里两条线都有的农户只计一次，所以合计户数可能小于两行之和。",
            "en": "The members' line is the ledger income of cooperative member households (as on the county "
            "overview); the enterprise line is what enterprises paid households for order purchases, wages, land "
            "rent and dividends, on its own and never in the members' ledger income. Households: distinct "
            "households with an amount above 0 in the period; the same identity number is the same family, and "
            "the combined row counts a family on both lines once, so it can be below the sum of the two rows.",
        },
        "drives.web.both": {"zh": "两条线都有的农户 {n} 户", "en": "{n} households on both lines"},
        "drives.web.by_mode": {"zh": "按带动方式", "en": "By mode"},
        "drives.web.mode": {"zh": "带动方式", "en": "Mode"},
        "drives.web.by_enterprise": {"zh": "按企业", "en": "By enterprise"},
        "drives.web.by_category": {"zh": "按农户类别", "en": "By household category"},
        "drives.web.enterprise": {"zh": "企业", "en": "Enterprise"},
        "drives.web.on_books": {"zh": "在册农户", "en": "On its books"},
        "drives.web.modes_note": {
            "zh": "同一农户可有多种带动方式，各方式户数相加可能大于合计。"
            "订单收购按收购数量×单价计算（或企业申报金额），"
            "入股分红按股数分配当月分红总额（最大余数法，分到分）；务工、土地流转为企业申报金额。"
            "金额按月记，所选期间计入其涉及的各月。",
            "en": "A household may be driven several ways, so the modes' counts can add up to more than the total. "
            "Order purchases are kg × price (or the amount the enterprise declared); dividends split the month's pool "
            "by shares (largest remainder, to the fen); wages and land rent are declared. Amounts are monthly; a "
            "period counts every month it touches.",
        },
        "drives.web.linked": {
            "zh": "在册农户中 {n} 户同时是合作社成员（身份证号相同）",
            "en": "{n} households on the books are also cooperative members (same identity number)",
        },
        "drives.web.empty": {"zh": "本期没有企业带动记录", "en": "No enterprise-driven records in this period"},
        "drives.web.enterprise_title": {
            "zh": "{name} · 带动农户 {period}",
            "en": "{name} · households driven {period}",
        },
        "drives.web.ref": {"zh": "农户编号", "en": "No."},
        "drives.web.name": {"zh": "户主", "en": "Head"},
        "drives.web.category": {"zh": "农户类别", "en": "Category"},
        "drives.web.village": {"zh": "村", "en": "Village"},
        "drives.web.member": {"zh": "合作社成员", "en": "Member"},
        "drives.web.yes": {"zh": "是", "en": "yes"},
        "drives.web.total": {"zh": "合计", "en": "Total"},
        "drives.web.computed": {"zh": "（系统计算）", "en": " (computed)"},
        "drives.web.back": {"zh": "返回企业带动", "en": "Back to enterprise-driven"},
        "drives.web.credit_code": {"zh": "统一社会信用代码", "en": "Credit code"},
        "drives.web.households_note": {
            "zh": "姓名已脱敏；身份证号只保存加密摘要。",
            "en": "Names are masked; identity numbers are kept only as keyed hashes.",
        },
    }
)


@dataclass(frozen=True)
class Lines:
    """The 带动 figures' two lines and the families they reach together."""

    cooperative: Driven  # member households, ledger income (the county overview's figure)
    enterprise: Driven  # enterprise-driven families, what enterprises paid them
    combined: int  # distinct families driven on either line, each once
    both: int  # families driven on both lines

    @property
    def combined_amount(self) -> int:
        return self.cooperative.income + self.enterprise.income


@dataclass(frozen=True)
class ModeRow:
    mode: str
    label: str
    figures: Driven


@dataclass(frozen=True)
class EnterpriseRow:
    id: int
    name: str
    households: int  # families on its books (any amount or none in the period)
    figures: Driven
    by_mode: dict[str, Driven]


@dataclass
class DrivesOverview:
    period: Period
    lines: Lines
    by_mode: list[ModeRow]
    enterprises: list[EnterpriseRow]
    members_linked: int  # enterprise-driven families (on the books) who are also cooperative members
    by_category: list[ModeRow] = field(default_factory=list)  # 脱贫户 / 监测户 / 一般农户


@dataclass(frozen=True)
class DrivenHousehold:
    ref: str
    name: str  # masked
    category: str
    village: str
    member: bool  # also a cooperative member (same identity number)
    by_mode: dict[str, int]  # fen per mode in the period
    total: int


@dataclass
class EnterpriseDetail:
    id: int
    name: str
    credit_code: str
    period: Period
    figures: Driven
    by_mode: list[ModeRow]
    households: list[DrivenHousehold]
    computed_note: dict[str, bool]  # per mode: any amount the hub computed


def _enterprise_filter(scope: Scope) -> Any:
    return scope.suppliers(DriveEntry.enterprise_id)


async def enterprise_amounts(conn: AsyncConnection, scope: Scope, period: Period) -> list[DriveAmount]:
    return await amounts(conn, period.months(), _enterprise_filter(scope))


def _figures(rows: list[DriveAmount]) -> Driven:
    return driven(nets_by_identity(rows))


async def member_nets(conn: AsyncConnection, scope: Scope, period: Period) -> dict[int, int]:
    coop_ids = [int(c) for c in await conn.scalars(select(Cooperative.id).where(scope.cooperatives(Cooperative.id)))]
    return net_by_household(await income_by_household(conn, period, cooperative_ids=coop_ids))


def lines_of(member: Mapping[int, int], rows: list[DriveAmount]) -> Lines:
    """Both lines from the members' nets (household id -> fen) and the enterprise amounts."""
    enterprise = nets_by_identity(rows)
    members_driven = {member_identity(h) for h, fen in member.items() if fen > 0}
    enterprise_driven: set[Identity] = {k for k, fen in enterprise.items() if fen > 0}
    return Lines(
        cooperative=driven(member),
        enterprise=driven(enterprise),
        combined=combined_households(member, enterprise),
        both=len(members_driven & enterprise_driven),
    )


async def lines(conn: AsyncConnection, scope: Scope, period: Period, member: Mapping[int, int] | None = None) -> Lines:
    """The two lines for the scope and period (``member``: the members' nets, when the caller has them)."""
    if member is None:
        member = await member_nets(conn, scope, period)
    return lines_of(member, await enterprise_amounts(conn, scope, period))


async def _enterprises(conn: AsyncConnection, scope: Scope) -> list[tuple[int, str]]:
    return [
        (int(i), str(n))
        for i, n in await conn.execute(
            select(Supplier.id, Supplier.name)
            .where(Supplier.kind == SupplierKind.ENTERPRISE, scope.suppliers(Supplier.id))
            .order_by(Supplier.id)
        )
    ]


def _mode_rows(rows: list[DriveAmount]) -> list[ModeRow]:
    by_mode: dict[DriveMode, list[DriveAmount]] = defaultdict(list)
    for r in rows:
        by_mode[r.mode].append(r)
    return [ModeRow(m.value, mode_label(m), _figures(by_mode[m])) for m in MODES]


async def overview(conn: AsyncConnection, scope: Scope, period: Period) -> DrivesOverview:
    rows = await enterprise_amounts(conn, scope, period)
    member = await member_nets(conn, scope, period)
    on_books: dict[int, int] = defaultdict(int)
    linked: set[int] = set()
    category_of: dict[int, str] = {}
    for dh, ent, hid, category in await conn.execute(
        select(
            DriveHousehold.id, DriveHousehold.enterprise_id, DriveHousehold.household_id, DriveHousehold.category
        ).where(scope.suppliers(DriveHousehold.enterprise_id))
    ):
        on_books[int(ent)] += 1
        category_of[int(dh)] = HouseholdCategory(category).value
        if hid is not None:
            linked.add(int(hid))
    per_category: dict[str, list[DriveAmount]] = {c.value: [] for c in HouseholdCategory}
    for r in rows:
        per_category[category_of[r.drive_household_id]].append(r)
    by_category = [ModeRow(c, category_label(c), _figures(per_category[c])) for c in per_category]
    per_enterprise: dict[int, list[DriveAmount]] = defaultdict(list)
    for r in rows:
        per_enterprise[r.enterprise_id].append(r)
    enterprises = []
    for ent_id, name in await _enterprises(conn, scope):
        mine = per_enterprise.get(ent_id, [])
        enterprises.append(
            EnterpriseRow(
                ent_id,
                name,
                on_books.get(ent_id, 0),
                _figures(mine),
                {m.mode: m.figures for m in _mode_rows(mine)},
            )
        )
    enterprises.sort(key=lambda e: (-e.figures.income, e.name))
    return DrivesOverview(period, lines_of(member, rows), _mode_rows(rows), enterprises, len(linked), by_category)


async def enterprise(conn: AsyncConnection, scope: Scope, supplier_id: int, period: Period) -> EnterpriseDetail | None:
    """One enterprise's households and amounts; None when it is not an enterprise in scope."""
    found = (
        await conn.execute(
            select(Supplier.id, Supplier.name, Supplier.credit_code).where(
                Supplier.id == supplier_id,
                Supplier.kind == SupplierKind.ENTERPRISE,
                scope.suppliers(Supplier.id),
            )
        )
    ).first()
    if found is None:
        return None
    rows = await amounts(conn, period.months(), DriveEntry.enterprise_id == supplier_id)
    computed = {
        DriveMode(m).value: bool(c)
        for m, c in await conn.execute(
            select(DriveEntry.mode, DriveEntry.computed)
            .where(
                DriveEntry.enterprise_id == supplier_id,
                DriveEntry.month.in_(period.months()),
                DriveEntry.computed.is_(True),
            )
            .distinct()
        )
    }
    per_household: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        per_household[r.drive_household_id][r.mode.value] += r.amount_fen
    households = []
    for h in await conn.execute(
        select(DriveHousehold).where(DriveHousehold.enterprise_id == supplier_id).order_by(DriveHousehold.household_ref)
    ):
        amounts_by_mode = dict(per_household.get(h.id, {}))
        households.append(
            DrivenHousehold(
                h.household_ref,
                mask_name(h.head_name),
                category_label(h.category),
                h.village,
                h.household_id is not None,
                amounts_by_mode,
                sum(amounts_by_mode.values()),
            )
        )
    households.sort(key=lambda h: (-h.total, h.ref))
    return EnterpriseDetail(
        int(found.id),
        str(found.name),
        str(found.credit_code),
        period,
        _figures(rows),
        _mode_rows(rows),
        households,
        computed,
    )


def figure_cells(f: Driven) -> dict[str, Any]:
    return {"households": f.households, "amount": f.income, "per_household": f.per_household}


def line_rows(ls: Lines) -> list[dict[str, Any]]:
    """The lines as table rows (members, enterprises, combined), for pages and exports alike."""
    combined = Driven(ls.combined, ls.combined_amount, 0)
    return [
        {"line": t("drives.line.cooperative"), **figure_cells(ls.cooperative)},
        {"line": t("drives.line.enterprise"), **figure_cells(ls.enterprise)},
        {"line": t("drives.line.combined"), **figure_cells(combined)},
    ]


def lines_json(ls: Lines) -> dict[str, Any]:
    def fig(d: Driven) -> dict[str, Any]:
        return {"households": d.households, "income_fen": d.income, "per_household_fen": d.per_household}

    return {
        "cooperative": fig(ls.cooperative),
        "enterprise": fig(ls.enterprise),
        "combined_households": ls.combined,
        "on_both_lines": ls.both,
        "combined_amount_fen": ls.combined_amount,
    }
