"""The county overview's income by channel and product, kept per day and month (``county_income_days``).

The overview splits the member households' income of a period (the ledger's income journals:
sale, refund, true-up, surplus return) by the channel of the line's shop and the product of the
line's SKU. Summed from the postings that is every household leg of the period (about 870,000
of 2.5 million postings for two months at 100,000 lines, 10 s). Here the legs are summed per
Asia/Shanghai day, household, shop and SKU (``county_income_days``; shop and SKU 0: not a sale,
i.e. a surplus return or a line that is gone; SKU 0: a line without SKU) and per month
(``county_income_months``). Channel and product are joined at read time, so a SKU's product
needs no rebooking; members are chosen at read time, so a household changing cooperative
neither. Rows that sum to 0 are not kept: a period shows a group when some household's income
from it is not zero.

A line's SKU and shop can change after posting, and journals are posted every run, so the rows
are recomputed whole per day and kept exact by marking, as ``bangfu.cooperative_groups`` does:

- Database triggers (migration 0039) write the days a change touches into
  ``county_income_dirty`` in the transaction of the change: the day of every income journal
  posted, and every day of a line's journals (``journal_line_days``, written by the same
  journals trigger) when its SKU or shop changes or it is deleted.
- :func:`rows` (what the overview reads) takes whole months inside the period from the month
  rows while no day of the month is marked, other days from the day rows while unmarked, and
  sums marked days from the ledger (:func:`live_rows`), in one statement, so one snapshot.
- :func:`refresh` recomputes each marked day from that day's journals only (journals by
  ``occurred_at`` -> postings -> household accounts, lines by id), then the marked days'
  months from the day rows, and deletes the markers it read; the pipeline runs it once per
  run. On PostgreSQL one refresh runs at a time (a transaction advisory lock).

:func:`rows_differing_from_ledger` is the proof: the stored rows against the ledger's sums.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    TIMESTAMP,
    Date,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.day_marks import as_date, clear_marks, take_marks
from bangfu.models import (
    CountyIncomeDay,
    CountyIncomeDirty,
    CountyIncomeMonth,
    Journal,
    LedgerAccount,
    OrderLine,
    Posting,
)
from bangfu.reports.base import local_midnight
from bangfu.reports.households import INCOME_JOURNALS, TRADE_JOURNALS
from bangfu.store import among

KEYS = ("household_id", "shop_id", "sku_id")
LOCK_KEY = 0x0C00_9D39  # pg_advisory_xact_lock: one refresh at a time
_CHUNK = 366  # days per recomputing statement (one scan of the postings for a backlog)
_FEW_DAYS = 7  # more marked days than this are recomputed in one pass over the postings

Households = Callable[[Any], Any]  # a household id column -> the filter on it


def _journal_day(conn: AsyncConnection) -> Any:
    if conn.dialect.name == "postgresql":
        return cast(Journal.occurred_at.op("AT TIME ZONE")(literal_column("'Asia/Shanghai'")), Date)
    return func.date(Journal.occurred_at, "+8 hours")


def _ranges(days: Sequence[date]) -> list[tuple[date, date]]:
    """Consecutive days merged: (first, last) of each run."""
    out: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if out and out[-1][1] + timedelta(days=1) == day:
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def _on_days(conn: AsyncConnection, days: Any) -> Any:
    """The journals of ``days``: a list of dates, or a subquery with a ``day`` column."""
    if isinstance(days, list | tuple):
        return or_(
            *(
                and_(
                    Journal.occurred_at >= local_midnight(a),
                    Journal.occurred_at < local_midnight(b + timedelta(days=1)),
                )
                for a, b in _ranges(days)
            )
        )
    if conn.dialect.name == "postgresql":
        # A range on ``occurred_at`` per day (the index), not the day of every journal.
        start = cast(days.c.day, TIMESTAMP)
        return and_(
            Journal.occurred_at >= func.timezone("Asia/Shanghai", start),
            Journal.occurred_at < func.timezone("Asia/Shanghai", start + literal_column("interval '1 day'")),
        )
    return _journal_day(conn) == days.c.day


def live_rows(
    conn: AsyncConnection, days: Any = None, households: Households | None = None, *, bulk: bool = False
) -> Any:
    """SQL: the rows of ``county_income_days`` (day, household_id, shop_id, sku_id, fen) summed
    from the ledger: the income journals of ``days`` (a list of dates, a subquery with a ``day``
    column, or None: every day), only the households ``households`` selects when given.

    Journals first, then their postings, then the accounts: the journals and their legs are
    materialized CTEs on PostgreSQL, so no plan can start from the household accounts. With the
    statistics of a store just written (the pipeline's first refresh, before any ANALYZE) the
    planner otherwise took the accounts as the outer side and probed every (journal, household
    account) pair: over 50 s for 31 days of a 50,000-line store.

    ``bulk``: for many days (a backlog, the pipeline's first run on a store), the household legs
    are taken from one pass over the postings hashed against the days' journals instead of the
    journals' postings one journal at a time (:func:`refresh` runs it with nested loops off)."""
    from bangfu.queries.cooperatives import line_id_of

    source: Any = Journal
    where: list[Any] = [Journal.kind.in_(list(INCOME_JOURNALS))]
    if days is not None:
        if isinstance(days, list | tuple):
            where.append(_on_days(conn, days) if days else literal(False))
        else:
            source = days.join(Journal, _on_days(conn, days))
    # Each journal's day, shop and SKU (0, 0: not a sale), looked up once per journal, so the
    # legs carry four integers, not the source event.
    line = case((Journal.kind.in_(list(TRADE_JOURNALS)), line_id_of(conn, Journal.source_event)))
    zero: Any = literal_column("0")  # literal SQL: PostgreSQL matches GROUP BY expressions by text
    journals = (
        select(
            Journal.id,
            _journal_day(conn).label("day"),
            func.coalesce(OrderLine.shop_id, zero).label("shop_id"),
            case((OrderLine.id.is_(None), zero), else_=func.coalesce(OrderLine.sku_id, zero)).label("sku_id"),
        )
        .select_from(source)
        .outerjoin(OrderLine, OrderLine.id == line)
        .where(*where)
        .cte("income_journals")
    )
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        journals = journals.prefix_with("MATERIALIZED")
    if bulk:
        bulk_keys = (journals.c.day, LedgerAccount.owner_id, journals.c.shop_id, journals.c.sku_id)
        query = (
            select(*bulk_keys, (-func.sum(Posting.amount_fen)).label("fen"))
            .select_from(Posting)
            .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
            .join(journals, journals.c.id == Posting.journal_id)
            .where(LedgerAccount.owner_type == "household", LedgerAccount.owner_id.is_not(None))
            .group_by(*bulk_keys)
            .having(func.sum(Posting.amount_fen) != 0)
        )
        return query.where(households(LedgerAccount.owner_id)) if households is not None else query
    legs = (
        select(journals.c.day, journals.c.shop_id, journals.c.sku_id, Posting.account_id, Posting.amount_fen)
        .select_from(journals)
        .join(Posting, Posting.journal_id == journals.c.id)
        .cte("income_legs")
    )
    if postgres:
        legs = legs.prefix_with("MATERIALIZED")
    keys = (legs.c.day, LedgerAccount.owner_id, legs.c.shop_id, legs.c.sku_id)
    query = (
        select(
            legs.c.day.label("day"),
            LedgerAccount.owner_id.label("household_id"),
            legs.c.shop_id.label("shop_id"),
            legs.c.sku_id.label("sku_id"),
            (-func.sum(legs.c.amount_fen)).label("fen"),
        )
        .select_from(legs)
        .join(LedgerAccount, LedgerAccount.id == legs.c.account_id)
        .where(LedgerAccount.owner_type == "household", LedgerAccount.owner_id.is_not(None))
        .group_by(*keys)
        .having(func.sum(legs.c.amount_fen) != 0)
    )
    if households is not None:
        query = query.where(households(LedgerAccount.owner_id))
    return query


def _month_last(month: date) -> date:
    following = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return following - timedelta(days=1)


def _split(first: date, last: date) -> tuple[list[date], list[tuple[date, date]]]:
    """The whole months inside [first, last] (their first days) and the days outside them."""
    months: list[date] = []
    loose: list[tuple[date, date]] = []
    cursor = first
    while cursor <= last:
        month_end = _month_last(cursor)
        if cursor.day == 1 and month_end <= last:
            months.append(cursor)
            cursor = month_end + timedelta(days=1)
            continue
        end = min(month_end, last)
        if loose and loose[-1][1] + timedelta(days=1) == cursor:
            loose[-1] = (loose[-1][0], end)
        else:
            loose.append((cursor, end))
        cursor = end + timedelta(days=1)
    return months, loose


def rows(conn: AsyncConnection, days: tuple[date, date], households: Households) -> Any:
    """Subquery (household_id, shop_id, sku_id, fen) over the local days ``days`` (first, last)
    of the households ``households`` selects: month rows of whole unmarked months, day rows of
    other unmarked days, the ledger's sums of marked days, in one statement."""
    dirty = CountyIncomeDirty
    day_row, month_row = CountyIncomeDay, CountyIncomeMonth
    day_marked = exists().where(dirty.day == day_row.day)

    def day_rows(a: date, b: date, *also: Any) -> Any:
        return select(day_row.household_id, day_row.shop_id, day_row.sku_id, day_row.fen).where(
            day_row.day >= a, day_row.day <= b, ~day_marked, households(day_row.household_id), *also
        )

    months, loose = _split(*days)
    parts = [day_rows(a, b) for a, b in loose]
    for month in months:
        last = _month_last(month)
        month_marked = exists().where(dirty.day >= month, dirty.day <= last)
        parts.append(
            select(month_row.household_id, month_row.shop_id, month_row.sku_id, month_row.fen).where(
                month_row.month == month, ~month_marked, households(month_row.household_id)
            )
        )
        parts.append(day_rows(month, last, month_marked))
    marked_days = select(dirty.day).where(dirty.day >= days[0], dirty.day <= days[1]).distinct().subquery("marked")
    live = live_rows(conn, marked_days, households).subquery("live")
    parts.append(select(live.c.household_id, live.c.shop_id, live.c.sku_id, live.c.fen))
    return union_all(*parts).subquery("income")


async def refresh(conn: AsyncConnection) -> int:
    """Recompute the marked days from their journals, and their months from the day rows, and
    delete the markers read, in the caller's transaction; the number of days recomputed."""
    days, ids = await take_marks(conn, CountyIncomeDirty, LOCK_KEY)
    if not ids:
        return 0
    if conn.dialect.name == "postgresql":
        # A month of a busy store is about a million legs: hashed in memory, not spilled in
        # 4 MB batches (this transaction only).
        await conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
    day_row, month_row = CountyIncomeDay, CountyIncomeMonth
    day_columns = [CountyIncomeDay.__table__.c[name] for name in ("day", *KEYS, "fen")]
    postgres = conn.dialect.name == "postgresql"
    for offset in range(0, len(days), _CHUNK):
        chunk = days[offset : offset + _CHUNK]
        bulk = len(chunk) > _FEW_DAYS
        await conn.execute(delete(day_row).where(among(conn, day_row.day, chunk)))
        if bulk and postgres:
            # Hash joins, each table read once: whatever the statistics of a store just written.
            await conn.exec_driver_sql("SET LOCAL enable_nestloop = off")
        await conn.execute(insert(day_row).from_select(day_columns, live_rows(conn, chunk, bulk=bulk)))
        if bulk and postgres:
            await conn.exec_driver_sql("RESET enable_nestloop")
    month_columns = [CountyIncomeMonth.__table__.c[name] for name in ("month", *KEYS, "fen")]
    for month in sorted({d.replace(day=1) for d in days}):
        await conn.execute(delete(month_row).where(month_row.month == month))
        keys = (day_row.household_id, day_row.shop_id, day_row.sku_id)
        sums = (
            select(literal(month, Date), *keys, func.sum(day_row.fen))
            .where(day_row.day >= month, day_row.day <= _month_last(month))
            .group_by(*keys)
            .having(func.sum(day_row.fen) != 0)
        )
        await conn.execute(insert(month_row).from_select(month_columns, sums))
    await clear_marks(conn, CountyIncomeDirty, ids)
    return len(days)


async def marked(conn: AsyncConnection) -> int:
    """How many markers are waiting for a refresh."""
    return int(await conn.scalar(select(func.count()).select_from(CountyIncomeDirty)) or 0)


async def rows_differing_from_ledger(
    conn: AsyncConnection, limit: int = 20
) -> list[tuple[tuple[Any, ...], int | None, int | None]]:
    """(key, stored fen, ledger fen) where ``county_income_days`` or ``county_income_months``
    (keyed ("month", first day, ...)) and the ledger's sums disagree, ignoring nothing: a marked
    day counts as differing when its rows are stale (call :func:`refresh` first)."""
    ledger: dict[tuple[Any, ...], int] = {}
    months: dict[tuple[Any, ...], int] = defaultdict(int)
    for day, household, shop, sku, fen in await conn.execute(live_rows(conn)):
        d = as_date(day)
        ledger[("day", d, int(household), int(shop), int(sku))] = int(fen)
        months[("month", d.replace(day=1), int(household), int(shop), int(sku))] += int(fen)
    ledger |= {k: v for k, v in months.items() if v}
    stored: dict[tuple[Any, ...], int] = {}
    day_row, month_row = CountyIncomeDay, CountyIncomeMonth
    for day, household, shop, sku, fen in await conn.execute(
        select(day_row.day, day_row.household_id, day_row.shop_id, day_row.sku_id, day_row.fen)
    ):
        stored[("day", as_date(day), int(household), int(shop), int(sku))] = int(fen)
    for month, household, shop, sku, fen in await conn.execute(
        select(month_row.month, month_row.household_id, month_row.shop_id, month_row.sku_id, month_row.fen)
    ):
        stored[("month", as_date(month), int(household), int(shop), int(sku))] = int(fen)
    differing = [
        (key, stored.get(key), ledger.get(key))
        for key in sorted(set(stored) | set(ledger))
        if stored.get(key) != ledger.get(key)
    ]
    return differing[:limit]
