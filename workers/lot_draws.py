"""The allocation stage: sold units drawn from supply lots, refunded units put back.

:func:`allocate_lines`: a paid line (``paid_at`` set, status neither pending nor cancelled) with
a SKU and no draw yet draws its ``quantity`` from the SKU's lots first-in-first-out by
(``received_on``, ``id``), across as many lots as it takes, all or nothing: a line the lots
cannot cover draws nothing and waits (the next run tries again; posting keeps it
``waiting_lots``). Orders name no lot on any platform the hub syncs, so FIFO is the only rule.
Lines of one SKU draw in payment order (then line id); a line too big for what is left does
not stop smaller later lines. Each draw is a ``lot_allocations`` row keyed
``line:<line id>:lot:<lot id>`` and never moves; ``supply_lots.remaining`` falls by as much.

:func:`return_refunded_units`: a succeeded refund puts units back when the goods came back or
never left: ``with_return`` is true (the buyer sent them back), or the order is ``closed`` (closed
after payment, so nothing shipped). A refund of goods kept or spoilt (fresh produce refunded for
quality without a return) returns nothing. The units are the refund's ``quantity``, or the whole
line for a refund without a quantity whose amount is the line's paid amount; never more than
the line drew less what earlier refunds returned. They go back to the lots the line drew from,
newest lot first, as negative rows keyed ``refund:<refund id>:lot:<lot id>``.

:func:`allocate_lines` finds its SKUs through the change queue (:mod:`workers.changes`): a
line is queued when stored, re-versioned or paid, and when its SKU gets its first lot; its row
stays while the line waits for stock and goes once it drew (or cannot draw: unpaid, no SKU,
a SKU without lots). So a run reads the lines still to draw, not every line ever sold.

Both run in the caller's transaction, a few statements per batch. On PostgreSQL the lots
involved are locked ``FOR UPDATE`` in id order and the existing draws are read again after the
lock, so two workers never draw (or return) twice, nor over-draw a lot; SQLite serialises
writers. A line that gets its first draw and has a ``line_accounting`` row has its
``input_rev`` bumped (so posting picks the draw up). Triggers on ``lot_allocations`` add every
draw and return to its line's ``line_stock.drawn_units`` in the same statement (migration 0042;
the stock truth reads the lines not fully drawn through it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import String, and_, any_, bindparam, cast, delete, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import OrderStatus, RefundStatus
from bangfu.models import (
    LineAccounting,
    LineChange,
    LotAllocation,
    Order,
    OrderLine,
    Refund,
    RefundPosting,
    SupplyLot,
    order_is_paid,
)
from bangfu.store import among, pg_unnest_insert
from workers import changes

_CHUNK = 2_000
_SKU_GROUP = 32  # SKUs whose queue rows are counted at once when picking a batch's SKUs


@dataclass
class AllocationStats:
    """What :func:`allocate_lines` did."""

    examined: int = 0  # candidate lines taken
    lines_allocated: int = 0  # lines that drew their units
    units_drawn: int = 0
    rows: int = 0  # lot_allocations rows written
    lots_touched: int = 0
    lines_waiting: int = 0  # paid lines with a SKU and no draw left after this run (short of stock)
    bumped: int = 0  # line_accounting rows whose input_rev was bumped
    dequeued: int = 0  # change-queue rows settled (their lines drew, or cannot draw)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class ReturnStats:
    """What :func:`return_refunded_units` did."""

    examined: int = 0  # refunds looked at
    refunds_returned: int = 0  # refunds that put units back
    units_returned: int = 0
    rows: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def line_key(line_id: int, lot_id: int) -> str:
    return f"line:{line_id}:lot:{lot_id}"


def refund_key(refund_id: int, lot_id: int) -> str:
    return f"refund:{refund_id}:lot:{lot_id}"


@dataclass(frozen=True, slots=True)
class LotStock:
    id: int
    received_on: date
    remaining: int


def fifo_draws(lots: Sequence[LotStock], demands: Sequence[tuple[int, int]]) -> dict[int, list[tuple[int, int]]]:
    """Pure FIFO: ``demands`` (line id, units) in the order to serve, over ``lots`` of one SKU.

    Returns line id -> [(lot id, units)] for the lines fully served; a line that the lots cannot
    cover gets nothing (and later, smaller lines may still be served).
    """
    order = sorted(lots, key=lambda lot: (lot.received_on, lot.id))
    left = {lot.id: lot.remaining for lot in order}
    total = sum(left.values())
    out: dict[int, list[tuple[int, int]]] = {}
    for line_id, units in demands:
        if units <= 0 or units > total:
            continue
        need = units
        taken: list[tuple[int, int]] = []
        for lot in order:
            have = left[lot.id]
            if have <= 0:
                continue
            take = min(have, need)
            left[lot.id] = have - take
            taken.append((lot.id, take))
            need -= take
            if need == 0:
                break
        total -= units
        out[line_id] = taken
    return out


def _insert(conn: AsyncConnection) -> Any:
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    return dialect_insert(LotAllocation).on_conflict_do_nothing(index_elements=["source_key"])


_PG_TYPES = {
    "source_key": "varchar",
    "order_line_id": "bigint",
    "lot_id": "bigint",
    "quantity": "integer",
    "created_at": "timestamptz",
}


async def _write(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if conn.dialect.name == "postgresql":
        await pg_unnest_insert(conn, "lot_allocations", rows, _PG_TYPES, conflict="ON CONFLICT (source_key) DO NOTHING")
        return
    for start in range(0, len(rows), _CHUNK):
        await conn.execute(_insert(conn), rows[start : start + _CHUNK])


async def _lock_lots(conn: AsyncConnection, where: Any) -> list[tuple[int, int, date, int, int]]:
    """(id, sku, received_on, quantity, remaining) of the lots, locked in id order on PostgreSQL."""
    query = (
        select(SupplyLot.id, SupplyLot.sku_id, SupplyLot.received_on, SupplyLot.quantity, SupplyLot.remaining)
        .where(where)
        .order_by(SupplyLot.id)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=SupplyLot)
    return [(r[0], r[1], r[2], r[3], r[4]) for r in await conn.execute(query)]


async def _move_remaining(conn: AsyncConnection, deltas: dict[int, int], now: datetime) -> None:
    rows = [{"b_id": lot, "b_delta": delta} for lot, delta in sorted(deltas.items()) if delta]
    if rows:
        await conn.execute(
            update(SupplyLot)
            .where(SupplyLot.id == bindparam("b_id"))
            .values(remaining=SupplyLot.remaining + bindparam("b_delta"), updated_at=now)
            .execution_options(synchronize_session=False),
            rows,
        )


async def allocate_lines(conn: AsyncConnection, *, shop_id: int | None = None, limit: int = 10_000) -> AllocationStats:
    """Draw up to about ``limit`` paid lines' units from their SKUs' lots (see the module docstring).

    The outcome does not depend on how the work is cut into batches, nor on which worker runs
    them: SKUs with due lines are picked first, their lots are locked, and only then are the
    SKUs' due lines read, in payment order. A second worker wanting the same SKU waits for the
    lock and then finds those lines drawn. So every line of a SKU draws in payment order (then
    line id), whatever ``limit`` is, as long as the lines are in the store.
    """
    stats = AllocationStats()
    now = datetime.now(UTC)
    stock = (
        select(SupplyLot.sku_id.label("sku_id"), func.sum(SupplyLot.remaining).label("units"))
        .where(SupplyLot.remaining > 0)
        .group_by(SupplyLot.sku_id)
        .subquery("stock")
    )
    due = and_(order_is_paid(), OrderLine.quantity > 0, OrderLine.quantity <= stock.c.units, ~_drawn())
    if shop_id is not None:
        due = and_(due, OrderLine.shop_id == shop_id)

    def lines_of(query: Any, lines: Sequence[int]) -> Any:
        return (
            query.select_from(OrderLine)
            .join(Order, Order.id == OrderLine.order_id)
            .join(stock, stock.c.sku_id == OrderLine.sku_id)
            .where(due, among(conn, OrderLine.id, lines))
        )

    # 1. SKUs with due lines, in id order, until they hold about ``limit`` lines. Every due line
    #    is in the change queue under its current SKU (a waiting line keeps its row), so the
    #    queue's rows per SKU bound its due lines, and the due lines are counted only for as
    #    many SKUs as the batch needs, read through their queue rows.
    skus: list[int] = []
    wanted = 0
    # The queue's length, counted up to a batch: a short queue (an idle run's, or a last pass's)
    # is looked up for every SKU at once, an empty one not at all.
    queued_rows = int(
        await conn.scalar(
            select(func.count()).select_from(
                select(LineChange.id).where(LineChange.stage == changes.ALLOCATE).limit(limit + 1).subquery()
            )
        )
        or 0
    )
    stocked: list[int] = (
        list(await conn.scalars(select(stock.c.sku_id).order_by(stock.c.sku_id))) if queued_rows else []
    )
    group_size = _SKU_GROUP if queued_rows > limit else max(1, len(stocked))
    bounds: list[tuple[int, int]] = []  # (SKU, its queue rows) looked up and not counted yet
    walked = 0  # SKUs of ``stocked`` looked up
    while wanted < limit and (bounds or walked < len(stocked)):
        while walked < len(stocked) and sum(count for _sku, count in bounds) < limit - wanted:
            group = stocked[walked : walked + group_size]
            walked += len(group)
            per_sku: dict[int, int] = {
                sku_id: count
                for sku_id, count in await conn.execute(
                    select(LineChange.sku_id, func.count()).where(_sku_among(conn, group)).group_by(LineChange.sku_id)
                )
                if sku_id is not None
            }
            bounds += [(sku_id, per_sku[sku_id]) for sku_id in group if sku_id in per_sku]
        chunk: list[int] = []
        bound = 0
        while bounds and bound < limit - wanted:
            sku_id, count = bounds.pop(0)
            chunk.append(sku_id)
            bound += count
        if not chunk:
            break
        counts: dict[int, int] = defaultdict(int)
        for sku_id, count in await conn.execute(
            lines_of(select(OrderLine.sku_id, func.count()), await _queued_lines(conn, chunk)).group_by(
                OrderLine.sku_id
            )
        ):
            counts[sku_id] += count
        for sku_id in chunk:  # a line queued under an older SKU is counted under its own
            if counts.get(sku_id):
                skus.append(sku_id)
                wanted += counts[sku_id]
                if wanted >= limit:
                    break
    if skus:
        # 2. Lock their lots (id order); 3. then read their due lines, in payment order.
        lots = await _locked_stock(conn, skus)
        picked = set(skus)
        rows = [
            row
            for row in await conn.execute(
                lines_of(
                    select(OrderLine.id, OrderLine.sku_id, OrderLine.quantity, Order.paid_at),
                    await _queued_lines(conn, skus),
                ).order_by(OrderLine.sku_id, Order.paid_at, OrderLine.id)
            )
            if row[1] in picked
        ][:limit]
        stats.examined = len(rows)
        await _draw(conn, rows, lots, now, stats)
    # 4. Queue rows of lines that can no longer draw (drawn, unpaid, no SKU, or a SKU without
    #    lots) go; lines still waiting for stock keep theirs. While SKUs with due lines are left
    #    for later passes, only the rows of the SKUs drawn here are looked at; a pass that took
    #    every due line looks at the whole queue (then the lines still waiting for stock).
    candidates = select(LineChange.id, LineChange.order_line_id).where(
        _sku_among(conn, skus) if wanted >= limit else LineChange.stage == changes.ALLOCATE
    )
    if conn.dialect.name == "postgresql":  # rows another worker is settling are its to delete
        candidates = candidates.with_for_update(skip_locked=True)
    queued = [(int(row_id), int(line_id)) for row_id, line_id in await conn.execute(candidates)]
    lines = sorted({line_id for _row, line_id in queued})
    waiting: set[int] = set()
    for start in range(0, len(lines), _CHUNK):
        found = await conn.scalars(waiting_lines().where(among(conn, OrderLine.id, lines[start : start + _CHUNK])))
        waiting.update(int(line) for line in found)
    settled = [row_id for row_id, line_id in queued if line_id not in waiting]
    for start in range(0, len(settled), _CHUNK):
        await conn.execute(
            delete(LineChange)
            .where(LineChange.stage == changes.ALLOCATE, among(conn, LineChange.id, settled[start : start + _CHUNK]))
            .execution_options(synchronize_session=False)
        )
    stats.dequeued = len(settled)
    if wanted < limit:  # the whole queue was looked at: the lines in it still waiting for stock
        if shop_id is None:
            stats.lines_waiting = len(waiting)
        else:
            ordered = sorted(waiting)
            for start in range(0, len(ordered), _CHUNK):
                stats.lines_waiting += int(
                    await conn.scalar(
                        select(func.count()).where(
                            among(conn, OrderLine.id, ordered[start : start + _CHUNK]), OrderLine.shop_id == shop_id
                        )
                    )
                    or 0
                )
    return stats


def _sku_among(conn: AsyncConnection, skus: Sequence[int]) -> Any:
    """The ``allocate`` queue rows of these SKUs, through the partial index by SKU (a plain
    ``= ANY`` of a short array: the index takes it as its condition)."""
    if conn.dialect.name == "postgresql":
        keys = bindparam(None, list(skus), type_=postgresql.ARRAY(LineChange.sku_id.type))
        return and_(LineChange.stage == changes.ALLOCATE, LineChange.sku_id == any_(keys))
    return and_(LineChange.stage == changes.ALLOCATE, LineChange.sku_id.in_(skus))


async def _queued_lines(conn: AsyncConnection, skus: Sequence[int]) -> list[int]:
    """The lines queued for ``allocate`` under these SKUs, in id order."""
    query = select(LineChange.order_line_id).where(_sku_among(conn, skus)).distinct()
    return sorted(int(line) for line in await conn.scalars(query))


def _drawn() -> Any:
    return exists().where(LotAllocation.order_line_id == OrderLine.id, LotAllocation.quantity > 0)


def waiting_lines() -> Any:
    """``SELECT`` of the lines allocation has to draw, now or once there is stock: paid, with a
    quantity, not drawn yet, of a SKU that has lots."""
    return (
        select(OrderLine.id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(order_is_paid(), OrderLine.sku_id.in_(select(SupplyLot.sku_id)), OrderLine.quantity > 0, ~_drawn())
    )


async def _locked_stock(conn: AsyncConnection, skus: Sequence[int]) -> dict[int, list[LotStock]]:
    lots: dict[int, list[LotStock]] = defaultdict(list)
    for start in range(0, len(skus), _CHUNK):
        locked = await _lock_lots(
            conn, and_(SupplyLot.sku_id.in_(skus[start : start + _CHUNK]), SupplyLot.remaining > 0)
        )
        for lot_id, sku_id, received_on, _quantity, remaining in locked:
            lots[sku_id].append(LotStock(lot_id, received_on, remaining))
    return lots


async def _draw(
    conn: AsyncConnection, rows: Sequence[Any], lots: dict[int, list[LotStock]], now: datetime, stats: AllocationStats
) -> None:
    """FIFO draws for ``rows`` (line id, SKU, quantity, paid at) over the SKUs' locked ``lots``."""
    done: set[int] = set()  # read after the lots were locked, so nothing here is drawn yet
    demands: dict[int, list[tuple[datetime, int, int]]] = defaultdict(list)
    for line_id, sku_id, quantity, paid_at in rows:
        if line_id not in done:
            demands[sku_id].append((paid_at, line_id, quantity))
    inserts: list[dict[str, Any]] = []
    deltas: dict[int, int] = defaultdict(int)
    served: list[int] = []
    for sku_id, wanted in demands.items():
        wanted.sort()
        draws = fifo_draws(lots.get(sku_id, []), [(line_id, quantity) for _paid_at, line_id, quantity in wanted])
        for _paid_at, line_id, quantity in wanted:
            taken = draws.get(line_id)
            if taken is None:
                continue
            served.append(line_id)
            stats.units_drawn += quantity
            for lot_id, units in taken:
                deltas[lot_id] -= units
                inserts.append(
                    {
                        "source_key": line_key(line_id, lot_id),
                        "order_line_id": line_id,
                        "lot_id": lot_id,
                        "quantity": units,
                        "created_at": now,
                    }
                )
    await _write(conn, inserts)
    await _move_remaining(conn, deltas, now)
    stats.rows += len(inserts)
    stats.lots_touched += len(deltas)
    stats.lines_allocated += len(served)
    served.sort()
    for start in range(0, len(served), _CHUNK):
        result = await conn.execute(
            update(LineAccounting)
            .where(among(conn, LineAccounting.order_line_id, served[start : start + _CHUNK]))
            .values(input_rev=LineAccounting.input_rev + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        stats.bumped += result.rowcount or 0


# -- refunds ---------------------------------------------------------------------------------------


def refund_units(
    *, quantity: int | None, amount_fen: int, line_quantity: int, line_paid_fen: int, with_return: bool, closed: bool
) -> int:
    """Units a succeeded refund puts back (before the cap by what the line drew)."""
    if not (with_return or closed):
        return 0
    if quantity is not None:
        return max(0, min(quantity, line_quantity))
    return line_quantity if amount_fen >= line_paid_fen else 0


def return_plan(draws: Sequence[tuple[int, date, int]], returned: dict[int, int], units: int) -> list[tuple[int, int]]:
    """Pure: put ``units`` back into the lots of ``draws`` ((lot id, received_on, drawn)), newest
    lot first, never more into a lot than was drawn from it less ``returned`` (by lot)."""
    out: list[tuple[int, int]] = []
    for lot_id, _received, drawn in sorted(draws, key=lambda d: (d[1], d[0]), reverse=True):
        if units <= 0:
            break
        room = drawn - returned.get(lot_id, 0)
        if room <= 0:
            continue
        back = min(room, units)
        out.append((lot_id, back))
        units -= back
    return out


async def return_refunded_units(
    conn: AsyncConnection, *, shop_id: int | None = None, limit: int = 10_000
) -> ReturnStats:
    """Put back the units of up to ``limit`` succeeded refunds (see the module docstring)."""
    stats = ReturnStats()
    now = datetime.now(UTC)
    prefix = literal("refund:") + cast(Refund.id, String) + literal(":lot:%")
    returned_already = exists().where(
        LotAllocation.order_line_id == Refund.order_line_id,
        LotAllocation.quantity < 0,
        LotAllocation.source_key.like(prefix),
    )
    line_drew = exists().where(LotAllocation.order_line_id == Refund.order_line_id, LotAllocation.quantity > 0)
    query = (
        select(
            Refund.id,
            Refund.order_line_id,
            Refund.quantity,
            Refund.amount_fen,
            Refund.with_return,
            Order.status,
            OrderLine.quantity,
            OrderLine.paid_fen,
            Refund.modified_at,
        )
        .join(OrderLine, OrderLine.id == Refund.order_line_id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            Refund.status == RefundStatus.SUCCEEDED,
            or_(Refund.with_return.is_(True), Order.status == OrderStatus.CLOSED),
            or_(Refund.quantity > 0, and_(Refund.quantity.is_(None), Refund.amount_fen >= OrderLine.paid_fen)),
            line_drew,
            ~returned_already,
        )
        .order_by(Refund.order_line_id, Refund.modified_at, Refund.id)
        .limit(limit)
    )
    if shop_id is not None:
        query = query.where(Refund.shop_id == shop_id)
    # The refunds that may put units back first, from the refunds table and the closed orders
    # (a partial index) alone; then the rules above for those refunds only, by id (joined to
    # their lines and orders row by row, not by scanning every line of the store).
    closed_lines = (
        select(OrderLine.id).join(Order, Order.id == OrderLine.order_id).where(Order.status == OrderStatus.CLOSED)
    )
    succeeded = select(Refund.id).where(
        Refund.status == RefundStatus.SUCCEEDED,
        or_(Refund.with_return.is_(True), Refund.order_line_id.in_(closed_lines)),
        or_(Refund.quantity > 0, Refund.quantity.is_(None)),
    )
    if shop_id is not None:
        succeeded = succeeded.where(Refund.shop_id == shop_id)
    candidates = sorted(int(refund) for refund in await conn.scalars(succeeded))
    refunds = []
    for start in range(0, len(candidates), _CHUNK):
        refunds += list(await conn.execute(query.where(among(conn, Refund.id, candidates[start : start + _CHUNK]))))
    if len(candidates) > _CHUNK:  # the batch's order across the chunks: by line, time, id
        refunds.sort(key=lambda row: (row[1], row[8], row[0]))
        refunds = refunds[:limit]
    stats.examined = len(refunds)
    if not refunds:
        return stats
    line_ids = sorted({row[1] for row in refunds if row[1] is not None})
    lot_ids: set[int] = set()
    for start in range(0, len(line_ids), _CHUNK):
        found = await conn.execute(
            select(LotAllocation.lot_id)
            .where(among(conn, LotAllocation.order_line_id, line_ids[start : start + _CHUNK]))
            .distinct()
        )
        lot_ids.update(lot for (lot,) in found)
    ordered = sorted(lot_ids)
    received: dict[int, date] = {}
    for start in range(0, len(ordered), _CHUNK):
        for lot_id, _sku, received_on, _q, _r in await _lock_lots(
            conn, SupplyLot.id.in_(ordered[start : start + _CHUNK])
        ):
            received[lot_id] = received_on
    # The line's allocations, read after the lock.
    drawn: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    back: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    refunds_done: set[str] = set()
    for start in range(0, len(line_ids), _CHUNK):
        allocations = await conn.execute(
            select(
                LotAllocation.order_line_id, LotAllocation.lot_id, LotAllocation.quantity, LotAllocation.source_key
            ).where(among(conn, LotAllocation.order_line_id, line_ids[start : start + _CHUNK]))
        )
        for line_id, lot_id, units, key in allocations:
            if units > 0:
                drawn[line_id][lot_id] += units
            else:
                back[line_id][lot_id] -= units
                refunds_done.add(key.split(":lot:", 1)[0])
    inserts: list[dict[str, Any]] = []
    deltas: dict[int, int] = defaultdict(int)
    for refund_id, refund_line, quantity, amount, with_return, status, line_quantity, line_paid, _at in refunds:
        if refund_line is None:
            continue
        line_id = refund_line
        if f"refund:{refund_id}" in refunds_done:
            continue
        units = refund_units(
            quantity=quantity,
            amount_fen=amount,
            line_quantity=line_quantity,
            line_paid_fen=line_paid,
            with_return=bool(with_return),
            closed=status == OrderStatus.CLOSED,
        )
        draws = [(lot, received[lot], n) for lot, n in drawn[line_id].items() if lot in received]
        plan = return_plan(draws, back[line_id], units)
        if not plan:
            continue
        stats.refunds_returned += 1
        for lot_id, units_back in plan:
            back[line_id][lot_id] += units_back
            deltas[lot_id] += units_back
            stats.units_returned += units_back
            inserts.append(
                {
                    "source_key": refund_key(refund_id, lot_id),
                    "order_line_id": line_id,
                    "lot_id": lot_id,
                    "quantity": -units_back,
                    "created_at": now,
                }
            )
    await _write(conn, inserts)
    await _move_remaining(conn, deltas, now)
    stats.rows = len(inserts)
    # A refund already folded into the ledger records the units it put back (one folded later
    # reads them from lot_allocations when its refund_postings row is written).
    returned: dict[int, int] = defaultdict(int)
    for row in inserts:
        returned[int(row["source_key"].split(":")[1])] -= row["quantity"]
    if returned:
        await conn.execute(
            update(RefundPosting)
            .where(RefundPosting.refund_id == bindparam("b_refund"))
            .values(returned_units=bindparam("b_units"))
            .execution_options(synchronize_session=False),
            [{"b_refund": refund_id, "b_units": units} for refund_id, units in sorted(returned.items())],
        )
    return stats


__all__ = [
    "AllocationStats",
    "LotStock",
    "ReturnStats",
    "allocate_lines",
    "fifo_draws",
    "line_key",
    "refund_key",
    "refund_units",
    "return_plan",
    "return_refunded_units",
]
