"""A cooperative's member households: the income table, a household's statement and its journals.

A household's income is the ``household-income`` report's (:func:`income_by_household`): what the
ledger credited to ``household:<id>`` (rebate), ``household:<id>:bonus`` and
``household:<id>:advance`` (guaranteed price recovered) in sale, true-up, refund and surplus
journals, net of refunds. The table, the statement and the journal list all sum the same legs,
so a household's row, its statement total and its journals' total are equal to the fen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    case,
    cast,
    distinct,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from bangfu.day_marks import as_date
from bangfu.enums import HouseholdCategory, JournalKind
from bangfu.ledger import account_ids, household_account, household_advance_account, household_bonus_account
from bangfu.models import Household, HouseholdLineDay, Journal, LedgerAccount, OrderLine, Posting, Product, Sku
from bangfu.queries.cooperatives import CooperativeRef, cooperative_ref, indexed_line_id, line_id_of
from bangfu.reports.base import Period, day_month, local_midnight, local_month, parse_line_event, whole_days
from bangfu.reports.households import INCOME_JOURNALS, TRADE_JOURNALS, category_label, income_by_household
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


def _codes(household_id: int) -> dict[str, str]:
    """The household's income accounts: code -> leg (``rebate``, ``bonus``, ``guaranteed``)."""
    return {
        household_account(household_id).code: "rebate",
        household_bonus_account(household_id).code: "bonus",
        household_advance_account(household_id).code: "guaranteed",
    }


def _household_legs(household_id: int, period: Period, *columns: Any) -> Select[Any]:
    """``columns`` over the household's legs (its accounts' postings) in its income journals
    (sale, true-up, refund, surplus) in ``period``: the accounts by code, their postings, the journals."""
    return (
        select(*columns)
        .select_from(LedgerAccount)
        .join(Posting, Posting.account_id == LedgerAccount.id)
        .join(Journal, Journal.id == Posting.journal_id)
        .where(
            LedgerAccount.code.in_(list(_codes(household_id))),
            Journal.kind.in_(list(INCOME_JOURNALS)),
            Journal.occurred_at >= period.start,
            Journal.occurred_at < period.end,
        )
    )


LEGS = ("guaranteed", "rebate", "bonus", "refunds", "surplus")
# SQLite: the journals page reads the journals of the days that hold it unless they outnumber
# the household's journals in the period this many times (then its postings are summed).
# PostgreSQL reads the household's lines' journals only (migration 0050) and needs no such bound.
DAY_SCAN_FACTOR = 4


def _leg_sums(household_id: int, accounts: Mapping[str, int] | None = None) -> list[ColumnElement[Any]]:
    """SQL sums of the household's legs, income positive (credits are negative in the ledger),
    labelled by :data:`LEGS`: refund journals' legs are ``refunds`` and surplus returns'
    ``surplus``; sales' and true-ups' by the account (guarantee recovered, rebate, bonus), told
    by its code (postings joined to their accounts) or, given ``accounts`` (code -> id), by the
    posting's account id."""

    def total(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return -func.coalesce(func.sum(case((condition, Posting.amount_fen), else_=0)), 0)

    def account(leg: str) -> ColumnElement[bool]:
        code = next(c for c, named in _codes(household_id).items() if named == leg)
        return LedgerAccount.code == code if accounts is None else Posting.account_id == accounts.get(code, 0)

    line = Journal.kind.in_([JournalKind.SALE, JournalKind.TRUE_UP])
    return [
        *(total(and_(line, account(leg))).label(leg) for leg in ("guaranteed", "rebate", "bonus")),
        total(Journal.kind == JournalKind.REFUND).label("refunds"),
        total(Journal.kind == JournalKind.SURPLUS).label("surplus"),
    ]


def _legs_of(sums: Sequence[Any]) -> Legs:
    """Legs from sums in the order of :data:`LEGS`."""
    return Legs(*(int(v or 0) for v in sums))


def _sku_product() -> ColumnElement[Any]:
    """The name a SKU gives its lines: its product's, NULL when that is empty (the line's title
    then names it). The empty string as SQL text, not a bound value: the expression is grouped
    by, and PostgreSQL matches a grouped expression only to the same text."""
    return func.nullif(Product.name, literal_column("''"))


def _named_lines(*columns: Any) -> Select[Any]:
    """``columns`` and each order line's product as the household pages name it: its SKU's
    product (:func:`_sku_product`), else the line's title (the statement's groups and the
    journals' rows alike)."""
    name = func.coalesce(_sku_product(), OrderLine.title)
    return (
        select(*columns, name)
        .select_from(OrderLine)
        .outerjoin(Sku, Sku.id == OrderLine.sku_id)
        .outerjoin(Product, Product.id == Sku.product_id)
    )


async def _products(conn: AsyncConnection, line_ids: Collection[int]) -> dict[int, str]:
    if not line_ids:
        return {}
    rows = await conn.execute(_named_lines(OrderLine.id).where(among(conn, OrderLine.id, sorted(line_ids))))
    return {int(lid): str(name) for lid, name in rows}


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


def _ledger_by_line(conn: AsyncConnection, household_id: int, period: Period) -> Any:
    """CTE (month, product, line_id, journals, *LEGS): the household's legs summed from the
    postings per local month and order line (NULL for a journal of no line, the year-end
    surplus), each line to be named (``product`` NULL)."""
    month = local_month(conn, Journal.occurred_at)
    line = case((Journal.kind.in_(list(TRADE_JOURNALS)), line_id_of(conn, Journal.source_event)))
    return (
        _household_legs(
            household_id,
            period,
            month.label("month"),
            null().label("product"),
            line.label("line_id"),
            func.count(distinct(Journal.id)).label("journals"),
            *_leg_sums(household_id),
        )
        .group_by(month, line)
        .cte("by_line")
    )


def _kept_by_line(conn: AsyncConnection, household_id: int, days: tuple[date, date]) -> Any:
    """:func:`_ledger_by_line` from ``household_line_days``, the same sums kept per day and line at
    posting, for a period of whole local days ``days`` (first, last); line 0 is no line. A row
    whose SKU names it (:func:`_sku_product`; the row keeps its line's SKU) is summed per month
    and that name, its line not needed (``line_id`` NULL): a few hundred SKUs joined, not every
    line looked up. Only the rest (no SKU: line 0; a product of no name) is kept per line."""
    kept = HouseholdLineDay
    month = day_month(conn, kept.day)
    product = _sku_product()
    line = case((product.is_(None), kept.order_line_id))
    sums = (kept.guaranteed_fen, kept.rebate_fen, kept.bonus_fen, kept.refunds_fen, kept.surplus_fen)
    return (
        select(
            month.label("month"),
            product.label("product"),
            line.label("line_id"),
            func.sum(kept.journals).label("journals"),
            *(func.sum(column).label(leg) for column, leg in zip(sums, LEGS, strict=True)),
        )
        .select_from(kept)
        .outerjoin(Sku, Sku.id == kept.sku_id)
        .outerjoin(Product, Product.id == Sku.product_id)
        .where(kept.household_id == household_id, kept.day >= days[0], kept.day <= days[1])
        .group_by(month, product, line)
        .cte("by_line")
    )


async def statement(
    conn: AsyncConnection, scope: Scope, household_id: int, period: Period, *, from_ledger: bool = False
) -> Statement | None:
    """The household's income per month and product: guaranteed price, rebate, bonus, refunds reversed.

    Summed in SQL per month and order line, then per product (the line's SKU's product, else its
    title; "" for a journal of no line, the year-end surplus), each leg as :func:`_leg_sums` books it.
    A period of whole local days (every console period) is summed from ``household_line_days``,
    the same legs kept per household, day and line at posting (``bangfu.line_credits``, equal to
    the ledger: ``household_line_days_differing_from_ledger``): the household's rows of the
    period's days, not its postings scattered over the ledger, and per SKU where the SKU names
    them (:func:`_kept_by_line`). Any other period, or ``from_ledger``, sums the postings.
    A group is named here only: by its SKU's product when it has one, else by its line.
    """
    ref = await household_ref(conn, scope, household_id)
    if ref is None:
        return None
    days = whole_days(period)
    if days is not None and not from_ledger:
        by_line = _kept_by_line(conn, household_id, days)
    else:
        by_line = _ledger_by_line(conn, household_id, period)
    # The product of each line still to be named (``product`` NULL), the lines' keys looked up at
    # once (PostgreSQL: ``= ANY`` of their array, one index scan in key order; not a join the
    # planner may turn into a scan of every order line, nor a lookup per row), then summed per
    # month and product.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        # Cast: an array value, not ``= ANY (subquery)`` comparing the key with each row.
        keys = cast(select(func.array_agg(distinct(by_line.c.line_id))).scalar_subquery(), ARRAY(BigInteger))
        of_lines = OrderLine.id == func.any(keys)
    else:
        of_lines = OrderLine.id.in_(select(by_line.c.line_id))
    names = _named_lines(OrderLine.id.label("line_id")).where(of_lines).subquery("names")
    line_id, name = names.c
    named = (
        select(
            by_line.c.month,
            func.coalesce(by_line.c.product, name, "").label("product"),
            by_line.c.journals,
            *(by_line.c[leg] for leg in LEGS),
        )
        .select_from(by_line.outerjoin(names, line_id == by_line.c.line_id))
        .subquery("named")
    )
    query = select(
        named.c.month, named.c.product, func.sum(named.c.journals), *(func.sum(named.c[leg]) for leg in LEGS)
    ).group_by(named.c.month, named.c.product)
    rows = [
        StatementRow(str(mon), str(name), _legs_of(legs), int(journals))
        for mon, name, journals, *legs in await conn.execute(query)
    ]
    rows.sort(key=lambda r: (r.month, r.product))
    months: dict[str, Legs] = defaultdict(Legs)
    totals = Legs()
    for r in rows:
        months[r.month].add(r.legs)
        totals.add(r.legs)
    return Statement(ref, period, rows, sorted(months.items()), totals)


@dataclass
class JournalPage:
    household: HouseholdRef
    period: Period
    rows: list[HouseholdJournal]
    matched: int
    totals: Legs


async def household_journals(
    conn: AsyncConnection,
    scope: Scope,
    household_id: int,
    period: Period,
    *,
    offset: int = 0,
    limit: int = 50,
    from_ledger: bool = False,
) -> JournalPage | None:
    """The journals that make the household's income in ``period``, oldest first, one page.

    A period of whole local days (every console period) is counted and summed from
    ``household_line_days`` (:func:`_kept_journal_page`): the page's journals are read from the
    days that hold them only. Any other period, or ``from_ledger``, sums every posting of the
    household in one statement (:func:`_ledger_journal_page`). Either way only the page's products
    are looked up.
    """
    ref = await household_ref(conn, scope, household_id)
    if ref is None:
        return None
    days = whole_days(period)
    if days is not None and not from_ledger:
        found, matched, totals = await _kept_journal_page(conn, household_id, days, offset, limit)
    else:
        found, matched, totals = await _ledger_journal_page(conn, household_id, period, offset, limit)
    products = await _products(conn, {line for r in found if (line := parse_line_event(r[3])) is not None})
    rows = []
    for jid, kind, occurred, source, mon, *legs in found:
        kind_value = kind.value if isinstance(kind, JournalKind) else str(kind)
        line_id = parse_line_event(source)
        product = products.get(line_id, "") if line_id is not None else ""
        rows.append(
            HouseholdJournal(int(jid), kind_value, occurred, source, line_id, product, str(mon), _legs_of(legs))
        )
    return JournalPage(ref, period, rows, matched, totals)


JournalRows = list[Sequence[Any]]  # (id, kind, occurred_at, source_event, month, *LEGS) per journal


def _per_journal(household_id: int, period: Period) -> Any:
    """Subquery: the household's legs summed per income journal of ``period``."""
    return (
        _household_legs(
            household_id,
            period,
            Journal.id,
            Journal.kind,
            Journal.occurred_at,
            Journal.source_event,
            *_leg_sums(household_id),
        )
        .group_by(Journal.id, Journal.kind, Journal.occurred_at, Journal.source_event)
        .subquery("per_journal")
    )


async def _ledger_journal_page(
    conn: AsyncConnection, household_id: int, period: Period, offset: int, limit: int
) -> tuple[JournalRows, int, Legs]:
    """The page, the count and the sums of every journal from the postings: one statement sums the
    legs per journal, counts and sums every journal (window functions over all of them) and
    returns only the page's."""
    j = _per_journal(household_id, period).c
    query = (
        select(
            j.id,
            j.kind,
            j.occurred_at,
            j.source_event,
            local_month(conn, j.occurred_at),
            *(j[leg] for leg in LEGS),
            func.count().over(),
            *(func.sum(j[leg]).over() for leg in LEGS),
        )
        .order_by(j.occurred_at, j.id)
        .offset(offset)
        .limit(limit)
    )
    found = (await conn.execute(query)).all()
    if found:
        return [r[:10] for r in found], int(found[0][10]), _legs_of(found[0][11:16])
    # past the last page: the count and sums alone
    count = _household_legs(household_id, period, func.count(distinct(Journal.id)), *_leg_sums(household_id))
    n, *sums = (await conn.execute(count)).one()
    return [], int(n or 0), _legs_of(sums)


async def _kept_journal_page(
    conn: AsyncConnection, household_id: int, days: tuple[date, date], offset: int, limit: int
) -> tuple[JournalRows, int, Legs]:
    """:func:`_ledger_journal_page` for a period of whole local days ``days`` (first, last),
    through ``household_line_days``.

    Its rows summed per day give the count and the sums of every journal (a journal has one day
    and one line, counted once in its row), and the days that hold the page's journals: journals
    are ordered by time, so the page is the days' journals after those of the days before. Only
    those days' journals of the lines the household has rows for there (line 0: the year-end
    surplus returns) are read, and only their postings on the household's accounts are summed;
    not every posting of the household in the period. On PostgreSQL they are found by line
    (``ix_journals_order_line``, migration 0050; the surplus returns by time, on days the household
    has one), so no other journal of those days is read; on SQLite by the journals' time index.
    """
    kept = HouseholdLineDay
    sums = (kept.guaranteed_fen, kept.rebate_fen, kept.bonus_fen, kept.refunds_fen, kept.surplus_fen)
    per_day = (
        select(kept.day, func.sum(kept.journals), *(func.sum(column) for column in sums))
        .where(kept.household_id == household_id, kept.day >= days[0], kept.day <= days[1])
        .group_by(kept.day)
        .order_by(kept.day)
    )
    counts: list[tuple[date, int]] = []
    totals = Legs()
    for day, journals, *legs in await conn.execute(per_day):
        counts.append((as_date(day), int(journals or 0)))
        totals.add(_legs_of(legs))
    matched = sum(n for _day, n in counts)
    if offset >= matched or limit <= 0:
        return [], matched, totals
    first: date | None = None
    last = first
    before = seen = 0
    for day, n in counts:
        if seen >= offset + limit:
            break
        if seen + n > offset:
            if first is None:
                first, before = day, seen
            last = day
        seen += n
    assert first is not None and last is not None  # offset < matched
    span = Period(local_midnight(first), local_midnight(last + timedelta(days=1)), "")
    lines = select(kept.order_line_id).where(kept.household_id == household_id, kept.day >= first, kept.day <= last)
    if conn.dialect.name == "postgresql":
        # The journals of the household's lines of those days, by ``ix_journals_order_line``
        # (migration 0050: its expression, in literals), and the surplus
        # returns of those days (line 0) where it has one: no day's other journals are read.
        line_journal = aliased(Journal, name="line_journal")
        by_line = select(line_journal.id).where(
            line_journal.occurred_at >= span.start,
            line_journal.occurred_at < span.end,
            line_journal.kind.in_(list(TRADE_JOURNALS)),
            indexed_line_id(line_journal.source_event).in_(lines.where(kept.order_line_id != 0).scalar_subquery()),
        )
        surplus_journal = aliased(Journal, name="surplus_journal")
        surplus = select(surplus_journal.id).where(
            surplus_journal.occurred_at >= span.start,
            surplus_journal.occurred_at < span.end,
            surplus_journal.kind == JournalKind.SURPLUS,
            lines.where(kept.order_line_id == 0).exists(),
        )
        chosen: ColumnElement[bool] = Journal.id.in_(union_all(by_line, surplus).scalar_subquery())
    else:
        # SQLite has no such index: the days' journals are read by time, unless they outnumber
        # the household's journals :data:`DAY_SCAN_FACTOR` times (then its postings are summed).
        in_span = and_(Journal.occurred_at >= span.start, Journal.occurred_at < span.end)
        if int(await conn.scalar(select(func.count()).where(in_span)) or 0) > DAY_SCAN_FACTOR * matched:
            found, _, _ = await _ledger_journal_page(conn, household_id, span, offset - before, limit)
            return found, matched, totals
        line = func.coalesce(case((Journal.kind.in_(list(TRADE_JOURNALS)), line_id_of(conn, Journal.source_event))), 0)
        chosen = and_(in_span, Journal.kind.in_(list(INCOME_JOURNALS)), line.in_(lines.scalar_subquery()))
    accounts = await account_ids(conn, list(_codes(household_id)))
    per_journal = (
        select(
            Journal.id,
            Journal.kind,
            Journal.occurred_at,
            Journal.source_event,
            *_leg_sums(household_id, accounts),
        )
        .select_from(Journal)
        .join(Posting, and_(Posting.journal_id == Journal.id, Posting.account_id.in_(sorted(accounts.values()))))
        .where(chosen)
        .group_by(Journal.id, Journal.kind, Journal.occurred_at, Journal.source_event)
        .subquery("per_journal")
    )
    j = per_journal.c
    query = (
        select(j.id, j.kind, j.occurred_at, j.source_event, local_month(conn, j.occurred_at), *list(j)[4:])
        .order_by(j.occurred_at, j.id)
        .offset(offset - before)
        .limit(limit)
    )
    return list((await conn.execute(query)).all()), matched, totals


async def households_count(conn: AsyncConnection, cooperative_id: int) -> int:
    return int(
        await conn.scalar(select(func.count(Household.id)).where(Household.cooperative_id == cooperative_id)) or 0
    )
