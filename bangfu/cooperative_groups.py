"""The cooperative pages' figures per cooperative, day and group, kept exact (``cooperative_day_groups``).

``cooperative_line_facts`` holds one row per cooperative, day and order line; a dashboard over a
year summed one row per line joined to the line, its SKU and its attribution. Here those rows are
summed per (cooperative, day) by what the dashboard groups by: the line's product (through its
SKU), shop, live session and lot key (0: no draws, the lot when the line drew from one, -1 when
from several: then ``split_line`` names the line, whose figures the lot table apportions by
units, so it keeps a row of its own). A line has rows on several days when it was refunded
later; ``prev_day`` is the line's latest earlier day in the cooperative's facts, so a period
counts a line once, on its rows whose ``prev_day`` is NULL or before the period's first day.

A line's SKU, shop, title, session and lot draws can change after posting, and a SKU's product
too, so the rows are not maintained incrementally but recomputed whole per (cooperative, day)
and kept exact by marking, as ``bangfu.session_summaries`` does:

- Database triggers (migration 0036) write the (cooperative, day) pairs a change touches into
  ``cooperative_group_dirty`` in the transaction of the change: facts written (posting), an
  attribution made, redone or removed, lot draws, a line's SKU, shop or title, a SKU's product.
  Every day of the changed line's facts is marked (a day added before the others changes the
  later days' ``prev_day``).
- :func:`rows` (what the pages read) takes a pair's stored rows only while the pair has no
  marker and computes a marked pair from the facts (:func:`live_rows`), in one statement, so one
  snapshot: a page is exact whatever has not been refreshed.
- :func:`refresh` recomputes the marked pairs and deletes the markers it read; the pipeline runs
  it after each pass. On PostgreSQL one refresh runs at a time (a transaction advisory lock), so
  two cannot both rewrite a pair; a marker committed after a refresh read the markers stays.

:func:`groups_differing_from_facts` is the proof: the stored rows against the facts' sums.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, insert, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from bangfu.line_credits import FACT_MONEY
from bangfu.models import (
    CooperativeDayGroup,
    CooperativeDayTotal,
    CooperativeGroupDirty,
    CooperativeLineFact,
    LineAttribution,
    LotAllocation,
    OrderLine,
    Sku,
)
from bangfu.store import among

KEYS = ("cooperative_id", "day", "product_id", "shop_id", "session_id", "lot_id", "split_line", "prev_day")
COLUMNS = (*KEYS, "title", "lines", *FACT_MONEY)
LOCK_KEY = 0x0C00_9D05  # pg_advisory_xact_lock: one refresh at a time
_CHUNK = 500


def live_rows(where: Any = None, pairs: Any = None) -> Any:
    """SQL: the rows of ``cooperative_day_groups`` summed from ``cooperative_line_facts`` (the
    facts rows matching ``where``, an expression on :class:`CooperativeLineFact`, and of the
    (cooperative_id, day) rows of the subquery ``pairs``), in :data:`COLUMNS` order."""
    fact = CooperativeLineFact
    earlier = aliased(CooperativeLineFact)
    prev = (
        select(func.max(earlier.day))
        .where(
            earlier.cooperative_id == fact.cooperative_id,
            earlier.order_line_id == fact.order_line_id,
            earlier.day < fact.day,
        )
        .scalar_subquery()
    )
    drawn = (LotAllocation.order_line_id == fact.order_line_id) & (LotAllocation.quantity > 0)
    lots = select(func.count(func.distinct(LotAllocation.lot_id))).where(drawn).scalar_subquery()
    # ``lot_id + 0``, not ``lot_id``: PostgreSQL answers a bare ``min(lot_id)`` by walking the lot
    # index in order and filtering on the line, i.e. through every draw before the first of this
    # line's (1.8 ms a line at 50,000 lines, 11 s for one cooperative's refresh); an expression
    # keeps it on the line's index (microseconds).
    first_lot = select(func.min(LotAllocation.lot_id + 0)).where(drawn).scalar_subquery()
    per_line = (
        select(
            fact.cooperative_id.label("cooperative_id"),
            fact.day.label("day"),
            Sku.product_id.label("product_id"),
            OrderLine.shop_id.label("shop_id"),
            LineAttribution.session_id.label("session_id"),
            case((lots == 0, literal(0)), (lots == 1, first_lot), else_=literal(-1)).label("lot_id"),
            case((lots > 1, fact.order_line_id), else_=literal(0)).label("split_line"),
            prev.label("prev_day"),
            OrderLine.title.label("title"),
            *(fact.__table__.c[name].label(name) for name in FACT_MONEY),
        )
        .select_from(
            fact
            if pairs is None
            else pairs.join(fact, and_(fact.cooperative_id == pairs.c.cooperative_id, fact.day == pairs.c.day))
        )
        .outerjoin(OrderLine, OrderLine.id == fact.order_line_id)
        .outerjoin(Sku, Sku.id == OrderLine.sku_id)
        .outerjoin(LineAttribution, LineAttribution.order_line_id == fact.order_line_id)
    )
    if where is not None:
        per_line = per_line.where(where)
    line = per_line.subquery("per_line")
    keys = [line.c[name] for name in KEYS]
    return select(
        *keys,
        func.min(line.c.title).label("title"),
        func.count().label("lines"),
        *(func.sum(line.c[name]).label(name) for name in FACT_MONEY),
    ).group_by(*keys)


def _marked(cooperative: Any, day: Any) -> Any:
    dirty = CooperativeGroupDirty
    return exists().where(dirty.cooperative_id == cooperative, dirty.day == day)


def _marked_pairs(cooperatives: Any, days: tuple[Any, Any]) -> Any:
    """Subquery: the marked (cooperative_id, day) pairs of ``cooperatives`` over ``days``."""
    dirty = CooperativeGroupDirty
    return (
        select(dirty.cooperative_id, dirty.day)
        .where(cooperatives(dirty.cooperative_id), dirty.day >= days[0], dirty.day <= days[1])
        .distinct()
        .subquery("marked")
    )


def rows(
    conn: AsyncConnection | None, cooperatives: Any, days: tuple[Any, Any], columns: Sequence[str] = COLUMNS
) -> Any:
    """Subquery with ``columns`` (of :data:`COLUMNS`): the groups of the cooperatives
    ``cooperatives`` selects (an expression on a cooperative id column, given as a function of
    it) over ``days`` (dates or bind parameters): stored rows of unmarked pairs and the facts'
    sums for marked ones, in one statement."""
    group = CooperativeDayGroup
    stored = select(*(group.__table__.c[name] for name in columns)).where(
        cooperatives(group.cooperative_id),
        group.day >= days[0],
        group.day <= days[1],
        ~_marked(group.cooperative_id, group.day),
    )
    pairs = _marked_pairs(cooperatives, days)
    live = live_rows(pairs=pairs).subquery("live")
    return union_all(stored, select(*(live.c[name] for name in columns))).subquery("groups")


def totals(conn: AsyncConnection | None, cooperatives: Any, days: tuple[Any, Any]) -> Any:
    """Subquery (cooperative_id, day, *FACT_MONEY): ``cooperative_day_totals`` of unmarked pairs
    and the facts' sums of marked ones (as :func:`rows`)."""
    total = CooperativeDayTotal
    money = [total.__table__.c[name] for name in FACT_MONEY]
    stored = select(total.cooperative_id, total.day, *money).where(
        cooperatives(total.cooperative_id),
        total.day >= days[0],
        total.day <= days[1],
        ~_marked(total.cooperative_id, total.day),
    )
    pairs = _marked_pairs(cooperatives, days)
    return union_all(stored, live_totals(pairs=pairs)).subquery("totals")


def live_totals(where: Any = None, pairs: Any = None) -> Any:
    """SQL: the rows of ``cooperative_day_totals`` summed from the facts (as :func:`live_rows`)."""
    fact = CooperativeLineFact
    query = select(fact.cooperative_id, fact.day, *(func.sum(fact.__table__.c[name]) for name in FACT_MONEY)).group_by(
        fact.cooperative_id, fact.day
    )
    if pairs is not None:
        query = query.select_from(
            pairs.join(fact, and_(fact.cooperative_id == pairs.c.cooperative_id, fact.day == pairs.c.day))
        )
    if where is not None:
        query = query.where(where)
    return query


def counted(source: Any, first_day: Any) -> Any:
    """SQL: the lines a period starting ``first_day`` counts among ``source``'s rows (each line
    once: on its rows with no earlier day in the period)."""
    return func.coalesce(
        func.sum(case((or_(source.c.prev_day.is_(None), source.c.prev_day < first_day), source.c.lines), else_=0)),
        0,
    )


async def refresh(conn: AsyncConnection) -> int:
    """Recompute the marked (cooperative, day) pairs from the facts and delete the markers read,
    in the caller's transaction; the number of pairs recomputed."""
    dirty = CooperativeGroupDirty
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
    marks = list(await conn.execute(select(dirty.id, dirty.cooperative_id, dirty.day)))
    if not marks:
        return 0
    days_of: dict[int, set[Any]] = defaultdict(set)
    for _id, coop, day in marks:
        days_of[int(coop)].add(day)
    group = CooperativeDayGroup
    fact = CooperativeLineFact
    table = CooperativeDayGroup.__table__
    totals_table = CooperativeDayTotal.__table__
    for coop, days in sorted(days_of.items()):
        ordered = sorted(days)
        for offset in range(0, len(ordered), _CHUNK):
            chunk = ordered[offset : offset + _CHUNK]
            await conn.execute(delete(group).where(group.cooperative_id == coop, among(conn, group.day, chunk)))
            source = live_rows(and_(fact.cooperative_id == coop, among(conn, fact.day, chunk)))
            await conn.execute(insert(group).from_select([table.c[name] for name in COLUMNS], source))
            total = CooperativeDayTotal
            await conn.execute(delete(total).where(total.cooperative_id == coop, among(conn, total.day, chunk)))
            sums = live_totals(and_(fact.cooperative_id == coop, among(conn, fact.day, chunk)))
            names = ["cooperative_id", "day", *FACT_MONEY]
            await conn.execute(insert(total).from_select([totals_table.c[n] for n in names], sums))
    ids = [int(i) for i, _c, _d in marks]
    for offset in range(0, len(ids), _CHUNK):
        await conn.execute(delete(dirty).where(among(conn, dirty.id, ids[offset : offset + _CHUNK])))
    return sum(len(days) for days in days_of.values())


async def marked(conn: AsyncConnection) -> int:
    """How many markers are waiting for a refresh."""
    return int(await conn.scalar(select(func.count()).select_from(CooperativeGroupDirty)) or 0)


def _key(row: Sequence[Any]) -> tuple[Any, ...]:
    def day(value: Any) -> date | None:
        return value if value is None or isinstance(value, date) else date.fromisoformat(str(value))

    coop, d, product, shop, session, lot, split, prev = row[:8]

    def opt(value: Any) -> int | None:
        return None if value is None else int(value)

    return (int(coop), day(d), opt(product), opt(shop), opt(session), int(lot), int(split), day(prev))


async def groups_differing_from_facts(
    conn: AsyncConnection, limit: int = 20
) -> list[tuple[tuple[Any, ...], tuple[Any, ...] | None, tuple[Any, ...] | None]]:
    """(key, stored row, facts' row) where ``cooperative_day_groups`` or
    ``cooperative_day_totals`` (keyed with lot -2) and the sums of ``cooperative_line_facts``
    (:func:`live_rows`, :func:`live_totals`) disagree, ignoring nothing: a marked pair counts
    as differing when its stored rows are stale (call :func:`refresh` first)."""

    def value(row: Sequence[Any]) -> tuple[Any, ...]:
        return (None if row[8] is None else str(row[8]), *(int(v) for v in row[9:]))

    def collect(found: Any) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        out: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for row in found:
            key = _key(tuple(row))
            out[key] = ("two rows",) if key in out else value(tuple(row))
        return out

    group = CooperativeDayGroup
    table = collect(await conn.execute(select(*(group.__table__.c[name] for name in COLUMNS))))
    facts = collect(await conn.execute(live_rows()))
    # The day totals, as rows keyed (cooperative, day, None...) with a "totals" marker.
    total = CooperativeDayTotal
    money = [total.__table__.c[name] for name in FACT_MONEY]

    def totals_of(found: Any) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        out: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for coop, day, *sums in found:
            key = _key((coop, day, None, None, None, -2, 0, None))
            out[key] = ("totals", *(int(v) for v in sums))
        return out

    table |= totals_of(await conn.execute(select(total.cooperative_id, total.day, *money)))
    facts |= totals_of(await conn.execute(live_totals()))
    differing = [
        (key, table.get(key), facts.get(key))
        for key in sorted(set(table) | set(facts), key=repr)
        if table.get(key) != facts.get(key)
    ]
    return differing[:limit]
