"""Lot allocation: FIFO across lots, all or nothing, idempotence, refunds putting units back, and
two concurrent workers on PostgreSQL never over-drawing."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import HouseholdCategory, OrderStatus
from bangfu.models import LineAccounting, LineChange, LotAllocation, Order, OrderLine, Refund, Sku, SupplyLot
from bangfu.store import make_engine
from tests.workers.accounting_seed import PAID_AT, World, add_household, add_lot, add_order, add_refund, seed
from workers.lot_draws import LotStock, allocate_lines, fifo_draws, refund_units, return_plan, return_refunded_units


def test_fifo_draws_across_lots_all_or_nothing() -> None:
    lots = [LotStock(2, date(2026, 2, 2), 5), LotStock(1, date(2026, 2, 1), 3), LotStock(3, date(2026, 2, 1), 4)]
    draws = fifo_draws(lots, [(10, 6), (11, 20), (12, 2)])
    assert draws == {10: [(1, 3), (3, 3)], 12: [(3, 1), (2, 1)]}  # 11 is too big and draws nothing


@settings(max_examples=200, deadline=None)
@given(
    remaining=st.lists(st.integers(0, 20), min_size=1, max_size=5),
    demands=st.lists(st.integers(1, 15), max_size=12),
)
def test_fifo_never_overdraws_and_serves_whole_lines(remaining: list[int], demands: list[int]) -> None:
    lots = [LotStock(i + 1, date(2026, 1, 1 + i % 3), r) for i, r in enumerate(remaining)]
    draws = fifo_draws(lots, list(enumerate(demands)))
    used: dict[int, int] = {}
    for line, taken in draws.items():
        assert sum(units for _, units in taken) == demands[line]
        for lot, units in taken:
            assert units > 0
            used[lot] = used.get(lot, 0) + units
    assert all(used.get(lot.id, 0) <= lot.remaining for lot in lots)


def test_refund_rules() -> None:
    kw = {"amount_fen": 100, "line_quantity": 3, "line_paid_fen": 300}
    assert refund_units(quantity=2, with_return=True, closed=False, **kw) == 2
    assert refund_units(quantity=2, with_return=False, closed=False, **kw) == 0  # goods kept: nothing back
    assert refund_units(quantity=None, with_return=False, closed=True, **kw) == 0  # partial amount
    assert (
        refund_units(quantity=None, with_return=False, closed=True, amount_fen=300, line_quantity=3, line_paid_fen=300)
        == 3
    )
    assert return_plan([(1, date(2026, 1, 1), 2), (2, date(2026, 1, 2), 2)], {2: 1}, 3) == [(2, 1), (1, 2)]


async def _remaining(conn: AsyncConnection, lot: int) -> int:
    return int(await conn.scalar(select(SupplyLot.remaining).where(SupplyLot.id == lot)) or 0)


async def _draws(conn: AsyncConnection) -> list[tuple[str, int, int, int]]:
    rows = await conn.execute(
        select(
            LotAllocation.source_key, LotAllocation.order_line_id, LotAllocation.lot_id, LotAllocation.quantity
        ).order_by(LotAllocation.source_key)
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def _world_with_two_lots(conn: AsyncConnection) -> tuple[World, int, int]:
    world = await seed(conn)  # one lot of 100 units, received 2026-02-01
    first = world.lots[0]
    await conn.execute(update(SupplyLot).where(SupplyLot.id == first).values(remaining=3))
    household = await add_household(conn, world, HouseholdCategory.LIFTED)
    second = await add_lot(conn, world, [(household, 5, "A", 0)])
    await conn.execute(update(SupplyLot).where(SupplyLot.id == second).values(received_on=date(2026, 2, 10)))
    return world, first, second


async def test_fifo_across_lots_all_or_nothing_and_idempotent(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            world, first, second = await _world_with_two_lots(conn)
            _, (a,) = await add_order(conn, world, [(world.coop_sku, 4, 4000)])
            _, (big,) = await add_order(conn, world, [(world.coop_sku, 9, 9000)])
            _, (b,) = await add_order(conn, world, [(world.coop_sku, 2, 2000)])
            _, (no_sku,) = await add_order(conn, world, [(None, 1, 100)])
            _, (unpaid,) = await add_order(conn, world, [(world.coop_sku, 1, 100)], status=OrderStatus.PENDING_PAYMENT)
            await conn.execute(insert(LineAccounting).values(order_line_id=a, shop_id=world.shop))
        async with engine.begin() as conn:
            stats = await allocate_lines(conn)
        assert (stats.lines_allocated, stats.units_drawn, stats.lines_waiting, stats.bumped) == (2, 6, 1, 1)
        async with engine.connect() as conn:
            assert await _draws(conn) == [
                (f"line:{a}:lot:{first}", a, first, 3),
                (f"line:{a}:lot:{second}", a, second, 1),
                (f"line:{b}:lot:{second}", b, second, 2),
            ]
            assert (await _remaining(conn, first), await _remaining(conn, second)) == (0, 2)
            assert await conn.scalar(select(LineAccounting.input_rev).where(LineAccounting.order_line_id == a)) == 2
            before = await _draws(conn)
        async with engine.begin() as conn:
            again = await allocate_lines(conn)
        assert (again.lines_allocated, again.rows, again.lines_waiting) == (0, 0, 1)
        async with engine.connect() as conn:
            assert await _draws(conn) == before
            assert (await _remaining(conn, first), await _remaining(conn, second)) == (0, 2)
        assert big and no_sku and unpaid
    finally:
        await engine.dispose()


async def test_refund_returns_units_to_the_lots_newest_first_once(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            world, first, second = await _world_with_two_lots(conn)
            order, (line,) = await add_order(conn, world, [(world.coop_sku, 5, 5000)])
            await allocate_lines(conn)  # 3 from the first lot, 2 from the second
            returned = await add_refund(conn, world, order, line, amount=3000, quantity=3)
            await conn.execute(update(Refund).where(Refund.id == returned).values(with_return=True))
            kept = await add_refund(conn, world, order, line, amount=1000, quantity=1)  # no return: nothing back
        async with engine.begin() as conn:
            stats = await return_refunded_units(conn)
        assert (stats.refunds_returned, stats.units_returned) == (1, 3)
        async with engine.connect() as conn:
            draws = await _draws(conn)
            assert (f"refund:{returned}:lot:{second}", line, second, -2) in draws
            assert (f"refund:{returned}:lot:{first}", line, first, -1) in draws
            assert not any(key.startswith(f"refund:{kept}:") for key, *_ in draws)
            assert (await _remaining(conn, first), await _remaining(conn, second)) == (1, 5)
        async with engine.begin() as conn:
            again = await return_refunded_units(conn)
        assert again.units_returned == 0
        async with engine.connect() as conn:
            assert await _draws(conn) == draws
            assert (await _remaining(conn, first), await _remaining(conn, second)) == (1, 5)
    finally:
        await engine.dispose()


async def test_a_closed_order_puts_everything_back(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            world, first, _ = await _world_with_two_lots(conn)
            order, (line,) = await add_order(conn, world, [(world.coop_sku, 2, 2000)])
            await allocate_lines(conn)
            await conn.execute(update(Order).where(Order.platform_order_id == order).values(status=OrderStatus.CLOSED))
            await add_refund(conn, world, order, line, amount=2000)
            stats = await return_refunded_units(conn)
        assert stats.units_returned == 2
        async with engine.connect() as conn:
            assert await _remaining(conn, first) == 3
    finally:
        await engine.dispose()


async def test_two_concurrent_workers_never_overdraw(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        return  # SQLite serialises writers; the race is PostgreSQL's
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            world, first, second = await _world_with_two_lots(conn)  # 8 units in all
            lines = []
            for _ in range(12):
                _, (line,) = await add_order(conn, world, [(world.coop_sku, 1, 1000)])
                lines.append(line)

        async def worker() -> int:
            async with engine.begin() as conn:
                return (await allocate_lines(conn, limit=7)).units_drawn

        drawn = list(await asyncio.gather(worker(), worker()))
        async with engine.begin() as conn:  # and a third pass picks up what skip-locked left
            drawn.append((await allocate_lines(conn)).units_drawn)
        assert sum(drawn) == 8
        async with engine.connect() as conn:
            rows = await _draws(conn)
            assert sum(q for *_, q in rows) == 8
            assert len({line for _, line, _, _ in rows}) == 8  # one draw per line
            assert (await _remaining(conn, first), await _remaining(conn, second)) == (0, 0)
            assert await conn.scalar(select(OrderLine.id).where(OrderLine.id.in_(lines)).limit(1)) is not None
    finally:
        await engine.dispose()


async def test_the_refund_posting_records_the_units_put_back_in_either_order(db_url: str) -> None:
    """Folded into the ledger before or after its units went back, a refund's refund_postings row
    ends with the units it returned to lots (none for a refund that keeps the goods)."""
    from bangfu.models import RefundPosting
    from workers.pipeline import run_pipeline
    from workers.posting import post_lines, post_refunds

    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            world, _, _ = await _world_with_two_lots(conn)
            first_order, (first_line,) = await add_order(conn, world, [(world.coop_sku, 2, 2000)])
            second_order, (second_line,) = await add_order(conn, world, [(world.coop_sku, 2, 2000)])
        await run_pipeline(engine)
        async with engine.begin() as conn:
            # Posted first, returned in the same pass after it.
            folded_first = await add_refund(conn, world, first_order, first_line, amount=1000, quantity=1)
            await conn.execute(update(Refund).where(Refund.id == folded_first).values(with_return=True))
            kept = await add_refund(conn, world, first_order, first_line, amount=500)
        await run_pipeline(engine)
        async with engine.begin() as conn:
            returned_first = await add_refund(conn, world, second_order, second_line, amount=2000, quantity=2)
            await conn.execute(update(Refund).where(Refund.id == returned_first).values(with_return=True))
            assert (await return_refunded_units(conn)).units_returned == 2
            await post_lines(conn)
            await post_refunds(conn)
        async with engine.connect() as conn:
            rows = dict((await conn.execute(select(RefundPosting.refund_id, RefundPosting.returned_units))).all())
        assert rows == {folded_first: 1, kept: 0, returned_first: 2}
    finally:
        await engine.dispose()


async def test_small_batches_draw_each_sku_in_payment_order_through_its_queue_rows(db_url: str) -> None:
    """Migration 0037: the queue names each line's SKU and the SKU pick reads it. However small
    the batch, every SKU's lines draw in payment order (then line id), as one batch draws them; a
    line moved to another SKU after it was queued draws from the new SKU's lots."""
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            world = await seed(conn)
            await conn.execute(update(SupplyLot).where(SupplyLot.id == world.lots[0]).values(remaining=7))
            product = await conn.scalar(select(Sku.product_id).where(Sku.id == world.coop_sku))
            skus = [world.coop_sku]
            for n in range(3):
                sku = await conn.scalar(
                    insert(Sku)
                    .values(sku_code=f"Q37-{n}", product_id=product, spec="1kg", unit="袋", retail_price_fen=100)
                    .returning(Sku.id)
                )
                assert sku is not None
                skus.append(int(sku))
                household = await add_household(conn, world, HouseholdCategory.LIFTED)
                await add_lot(conn, world, [(household, 6 + n, "A", 0)], sku=int(sku))
            # Lines stored in an order unrelated to payment, over every SKU; some too big.
            demands: dict[int, list[tuple[datetime, int, int]]] = {sku: [] for sku in skus}
            for k in range(24):
                sku, quantity = skus[(k * 5) % 4], 1 + (k * 7) % 4
                paid_at = PAID_AT - timedelta(minutes=(k * 11) % 17)
                _, (line,) = await add_order(conn, world, [(sku, quantity, 100 * quantity)], paid_at=paid_at)
                demands[sku].append((paid_at, line, quantity))
            # Queued under the first SKU, then moved to the last one (queued again under it).
            _, (moved,) = await add_order(conn, world, [(skus[0], 1, 100)], paid_at=PAID_AT - timedelta(hours=1))
            await conn.execute(update(OrderLine).where(OrderLine.id == moved).values(sku_id=skus[-1]))
            demands[skus[-1]].append((PAID_AT - timedelta(hours=1), moved, 1))
            queued = set(
                await conn.execute(
                    select(LineChange.order_line_id, LineChange.sku_id).where(LineChange.stage == "allocate")
                )
            )
            assert {(moved, skus[0]), (moved, skus[-1])} <= queued
            lots = {
                sku: [
                    LotStock(lot, received, left)
                    for lot, received, left in await conn.execute(
                        select(SupplyLot.id, SupplyLot.received_on, SupplyLot.remaining).where(SupplyLot.sku_id == sku)
                    )
                ]
                for sku in skus
            }
        expected: list[tuple[str, int, int, int]] = []
        for sku in skus:
            wanted = [(line, quantity) for _paid, line, quantity in sorted(demands[sku])]
            for line, taken in fifo_draws(lots[sku], wanted).items():
                expected += [(f"line:{line}:lot:{lot}", line, lot, units) for lot, units in taken]
        passes = 0
        while True:
            async with engine.begin() as conn:
                stats = await allocate_lines(conn, limit=2)
            passes += 1
            if not stats.lines_allocated:
                break
        assert passes > 4
        async with engine.connect() as conn:
            assert await _draws(conn) == sorted(expected)
            assert moved in {line for _key, line, _lot, _units in expected}
            # only the lines still waiting for stock keep their rows
            left = set(await conn.scalars(select(LineChange.order_line_id).where(LineChange.stage == "allocate")))
            drawn = {line for _key, line, _lot, _units in expected}
            assert left == {line for sku in skus for _paid, line, _q in demands[sku]} - drawn
            assert stats.lines_waiting == len(left) > 0
    finally:
        await engine.dispose()
