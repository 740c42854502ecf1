"""A cooperative's member households: the income table, a household's statement and its journals.

A household's income is the ``household-income`` report's (:func:`income_by_household`): what the
ledger credited to ``household:<id>`` (rebate), ``household:<id>:bonus`` and
``household:<id>:advance`` (guaranteed price recovered) in sale, true-up, refund and surplus
journals, net of refunds. The table, the statement and the journal list all sum the same legs,
so a household's row, its statement total and its journals' total are equal to the fen.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import HouseholdCategory, JournalKind
from bangfu.ledger import household_account, household_advance_account, household_bonus_account
from bangfu.models import Household, Journal, LedgerAccount, OrderLine, Posting, Product, Sku
from bangfu.queries.cooperatives import CooperativeRef, cooperative_ref
from bangfu.reports.base import Period, local_month, parse_line_event
from bangfu.reports.households import INCOME_JOURNALS, category_label, income_by_household
from bangfu.scope import Scope
from bangfu.store import among

SORTS = ("member_no", "name", "village", "category", "income")


@dataclass(frozen=True)
class HouseholdRow:
    id: int
    cooperative_id: int
    member_no: str
    name: str
    category: str  # HouseholdCategory value
    category_label: str
    village: str
    members: int
    joined_on: date | None
    income_fen: int
    months: dict[str, int] = field(default_factory=dict)


@dataclass
class HouseholdPage:
    cooperative: CooperativeRef
    period: Period
    rows: list[HouseholdRow]  # the page
    matched: int  # rows matching the search
    matched_income_fen: int  # their income (every page)
    total_income_fen: int  # every member's income: the dashboard's paid to households
    own: bool  # names in full (the user's own cooperative)


def _visible_household(scope: Scope) -> Any:
    return scope.cooperatives(Household.cooperative_id)


async def households(
    conn: AsyncConnection,
    scope: Scope,
    cooperative_id: int,
    period: Period,
    *,
    q: str = "",
    sort: str = "member_no",
    descending: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> HouseholdPage | None:
    """The cooperative's member households with their income in ``period``: searched (member no,
    village, and the name when the user may see names), sorted and cut to one page."""
    ref = await cooperative_ref(conn, scope, cooperative_id)
    if ref is None:
        return None
    income = await income_by_household(conn, period, cooperative_id=cooperative_id)
    query = (
        select(
            Household.id,
            Household.member_no,
            Household.head_name,
            Household.category,
            Household.village,
            Household.members,
            Household.joined_on,
        )
        .where(Household.cooperative_id == cooperative_id)
        .order_by(Household.member_no, Household.id)
    )
    own = scope.household_name("x", cooperative_id) == "x"
    needle = q.strip().lower()
    rows: list[HouseholdRow] = []
    for hid, member_no, name, category, village, n, joined in await conn.execute(query):
        shown = scope.household_name(name, cooperative_id)
        if needle:
            haystack = [member_no.lower(), village.lower(), shown.lower()]
            if not any(needle in text for text in haystack):
                continue
        months = income.get(int(hid), {})
        cat = HouseholdCategory(category)
        rows.append(
            HouseholdRow(
                int(hid),
                cooperative_id,
                member_no,
                shown,
                cat.value,
                category_label(cat),
                village,
                int(n or 1),
                joined,
                sum(months.values()),
                dict(months),
            )
        )
    keys = {
        "member_no": lambda r: (r.member_no, r.id),
        "name": lambda r: (r.name, r.member_no),
        "village": lambda r: (r.village, r.member_no),
        "category": lambda r: (r.category, r.member_no),
        "income": lambda r: (r.income_fen, r.member_no),
    }
    rows.sort(key=keys[sort], reverse=descending)
    return HouseholdPage(
        ref,
        period,
        rows[offset : offset + limit],
        len(rows),
        sum(r.income_fen for r in rows),
        sum(sum(m.values()) for m in income.values()),
        own,
    )


# -- one household ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HouseholdRef:
    id: int
    cooperative_id: int
    cooperative: str
    member_no: str
    name: str
    category: str
    category_label: str
    village: str
    members: int
    joined_on: date | None


async def household_ref(conn: AsyncConnection, scope: Scope, household_id: int) -> HouseholdRef | None:
    row = (
        await conn.execute(
            select(
                Household.id,
                Household.cooperative_id,
                Household.member_no,
                Household.head_name,
                Household.category,
                Household.village,
                Household.members,
                Household.joined_on,
            ).where(Household.id == household_id, _visible_household(scope))
        )
    ).first()
    if row is None:
        return None
    coop = await cooperative_ref(conn, scope, int(row[1]))
    if coop is None:
        return None
    cat = HouseholdCategory(row[4])
    return HouseholdRef(
        int(row[0]),
        int(row[1]),
        coop.name,
        row[2],
        scope.household_name(row[3], int(row[1])),
        cat.value,
        category_label(cat),
        row[5],
        int(row[6] or 1),
        row[7],
    )


@dataclass
class Legs:
    """One household's income legs, in fen, income positive."""

    guaranteed: int = 0  # guaranteed price recovered by sales and true-ups
    rebate: int = 0
    bonus: int = 0
    refunds: int = 0  # every leg of refund journals (negative)
    surplus: int = 0  # year-end surplus returned

    @property
    def income(self) -> int:
        return self.guaranteed + self.rebate + self.bonus + self.refunds + self.surplus

    def add(self, other: Legs) -> None:
        for name in ("guaranteed", "rebate", "bonus", "refunds", "surplus"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {
            "guaranteed_fen": self.guaranteed,
            "rebate_fen": self.rebate,
            "bonus_fen": self.bonus,
            "refunds_fen": self.refunds,
            "surplus_fen": self.surplus,
            "income_fen": self.income,
        }


def _book(legs: Legs, kind: str, code: str, amount: int) -> None:
    income = -amount  # credits are negative
    if kind == JournalKind.REFUND.value:
        legs.refunds += income
    elif kind == JournalKind.SURPLUS.value:
        legs.surplus += income
    elif code.endswith(":advance"):
        legs.guaranteed += income
    elif code.endswith(":bonus"):
        legs.bonus += income
    else:
        legs.rebate += income


@dataclass(frozen=True)
class HouseholdJournal:
    journal_id: int
    kind: str
    occurred_at: datetime
    source_event: str
    line_id: int | None
    product: str
    month: str
    legs: Legs


async def _journals(conn: AsyncConnection, household_id: int, period: Period) -> list[HouseholdJournal]:
    """Every income journal of the household in ``period``, with its legs on the household's accounts."""
    codes = [
        household_account(household_id).code,
        household_bonus_account(household_id).code,
        household_advance_account(household_id).code,
    ]
    month = local_month(conn, Journal.occurred_at)
    query = (
        select(
            Journal.id,
            Journal.kind,
            Journal.occurred_at,
            Journal.source_event,
            month,
            LedgerAccount.code,
            Posting.amount_fen,
        )
        .select_from(LedgerAccount)
        .join(Posting, Posting.account_id == LedgerAccount.id)
        .join(Journal, Journal.id == Posting.journal_id)
        .where(
            LedgerAccount.code.in_(codes),
            Journal.kind.in_(list(INCOME_JOURNALS)),
            Journal.occurred_at >= period.start,
            Journal.occurred_at < period.end,
        )
    )
    found: dict[int, dict[str, Any]] = {}
    for jid, kind, occurred, source, mon, code, amount in await conn.execute(query):
        kind_value = kind.value if isinstance(kind, JournalKind) else str(kind)
        entry = found.setdefault(
            int(jid),
            {"kind": kind_value, "at": occurred, "source": source, "month": str(mon), "legs": Legs()},
        )
        _book(entry["legs"], kind_value, code, int(amount))
    line_ids = sorted({lid for e in found.values() if (lid := parse_line_event(e["source"])) is not None})
    products: dict[int, str] = {}
    if line_ids:
        rows = await conn.execute(
            select(OrderLine.id, Product.name, OrderLine.title)
            .outerjoin(Sku, Sku.id == OrderLine.sku_id)
            .outerjoin(Product, Product.id == Sku.product_id)
            .where(among(conn, OrderLine.id, line_ids))
        )
        products = {int(lid): pname or title for lid, pname, title in rows}
    out = []
    for jid, e in found.items():
        line_id = parse_line_event(e["source"])
        product = products.get(line_id, "") if line_id is not None else ""
        out.append(HouseholdJournal(jid, e["kind"], e["at"], e["source"], line_id, product, e["month"], e["legs"]))
    out.sort(key=lambda j: (j.occurred_at, j.journal_id))
    return out


@dataclass(frozen=True)
class StatementRow:
    month: str
    product: str  # "" for the year-end surplus
    legs: Legs
    journals: int


@dataclass
class Statement:
    household: HouseholdRef
    period: Period
    rows: list[StatementRow]
    months: list[tuple[str, Legs]]
    totals: Legs


async def statement(conn: AsyncConnection, scope: Scope, household_id: int, period: Period) -> Statement | None:
    """The household's income per month and product: guaranteed price, rebate, bonus, refunds reversed."""
    ref = await household_ref(conn, scope, household_id)
    if ref is None:
        return None
    journals = await _journals(conn, household_id, period)
    groups: dict[tuple[str, str], tuple[Legs, list[int]]] = {}
    months: dict[str, Legs] = defaultdict(Legs)
    totals = Legs()
    for j in journals:
        legs, ids = groups.setdefault((j.month, j.product), (Legs(), []))
        legs.add(j.legs)
        ids.append(j.journal_id)
        months[j.month].add(j.legs)
        totals.add(j.legs)
    rows = [StatementRow(m, p, legs, len(ids)) for (m, p), (legs, ids) in sorted(groups.items())]
    return Statement(ref, period, rows, sorted(months.items()), totals)


@dataclass
class JournalPage:
    household: HouseholdRef
    period: Period
    rows: list[HouseholdJournal]
    matched: int
    totals: Legs


async def household_journals(
    conn: AsyncConnection, scope: Scope, household_id: int, period: Period, *, offset: int = 0, limit: int = 50
) -> JournalPage | None:
    """The journals that make the household's income in ``period``, oldest first, one page."""
    ref = await household_ref(conn, scope, household_id)
    if ref is None:
        return None
    journals = await _journals(conn, household_id, period)
    totals = Legs()
    for j in journals:
        totals.add(j.legs)
    return JournalPage(ref, period, journals[offset : offset + limit], len(journals), totals)


async def households_count(conn: AsyncConnection, cooperative_id: int) -> int:
    return int(
        await conn.scalar(select(func.count(Household.id)).where(Household.cooperative_id == cooperative_id)) or 0
    )
