"""The change queue: triggers queue what changed, stages settle only what is done, nothing is lost."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bangfu.enums import OrderStatus, SettlementKind
from bangfu.models import LineAccounting, LineAttribution, LineChange, Order, OrderLine, SettlementLine, SupplyLot
from bangfu.store import make_engine, upgrade
from tests.workers.accounting_seed import PAID_AT, World, add_bill_line, add_lot, add_order, seed
from workers.attribution import attribute_lines
from workers.pipeline import run_pipeline
from workers.posting import discover
from workers.posting import discovery as posting
from workers.verify import verify


async def queued(conn: AsyncConnection) -> set[tuple[str, int]]:
    return {(stage, line) for stage, line in await conn.execute(select(LineChange.stage, LineChange.order_line_id))}


def every(*lines: int) -> set[tuple[str, int]]:
    return {(stage, line) for line in lines for stage in ("attribute", "allocate", "post")}


async def test_triggers_queue_each_kind_of_change_and_nothing_else(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        world = await seed(conn)
        paid_order, (a, b) = await add_order(conn, world, [(world.coop_sku, 1, 5_000), (world.coop_sku, 2, 9_000)])
        assert await queued(conn) == every(a, b)  # new lines

        await conn.execute(delete(LineChange))
        await conn.execute(update(OrderLine).where(OrderLine.id == a).values(version=2))
        assert await queued(conn) == every(a)  # a new version
        await conn.execute(delete(LineChange))
        await conn.execute(update(OrderLine).where(OrderLine.id == b).values(title="renamed"))
        assert await queued(conn) == set()  # same version: nothing for the stages

        pending, (c,) = await add_order(conn, world, [(world.coop_sku, 1, 3_000)], status=OrderStatus.PENDING_PAYMENT)
        await conn.execute(delete(LineChange))
        await conn.execute(
            update(Order).where(Order.platform_order_id == pending).values(status=OrderStatus.PAID, paid_at=PAID_AT)
        )
        assert await queued(conn) == every(c)  # its order was paid
        await conn.execute(delete(LineChange))
        await conn.execute(update(Order).where(Order.platform_order_id == pending).values(buyer_ref="someone"))
        assert await queued(conn) == set()

        await conn.execute(delete(LineChange))
        await conn.execute(update(OrderLine).where(OrderLine.id == b).values(sku_id=world.enterprise_sku))
        assert await queued(conn) == every(b)  # another SKU
        await conn.execute(delete(LineChange))
        first_lot = await add_lot(conn, world, [(world.households[0], 5, "A", 100)], sku=world.enterprise_sku)
        assert await queued(conn) == {("allocate", b)}  # the SKU's first lot: its undrawn lines
        await conn.execute(delete(LineChange))
        await add_lot(conn, world, [(world.households[0], 5, "A", 100)], sku=world.enterprise_sku)
        assert await queued(conn) == set()  # its waiting lines are queued already while it has lots
        await conn.execute(update(SupplyLot).where(SupplyLot.id == first_lot).values(remaining=1))
        assert await queued(conn) == set()  # stock moves are not changes of the SKU's lots

        await conn.execute(delete(LineChange))
        await add_bill_line(conn, world, paid_order, SettlementKind.PLATFORM_FEE, -120)
        assert await queued(conn) == {("post", a), ("post", b)}  # a bill line for their order
        await conn.execute(delete(LineChange))
        await conn.execute(
            insert(SettlementLine).values(
                shop_id=world.shop,
                platform_bill_id="unmatched",
                platform_order_id=None,
                kind=SettlementKind.PLATFORM_FEE,
                amount_fen=-5,
                settled_at=PAID_AT,
            )
        )
        assert await queued(conn) == set()
        await conn.execute(
            update(SettlementLine)
            .where(SettlementLine.platform_bill_id == "unmatched")
            .values(platform_order_id=paid_order)
        )
        assert await queued(conn) == {("post", a), ("post", b)}  # a bill line matched to their order later


async def test_a_run_empties_the_queue_and_an_idle_run_reads_nothing(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        world = await seed(conn)
        await add_order(conn, world, [(world.coop_sku, 1, 5_000), (world.coop_sku, 1, 7_000)])
        _, (unpaid,) = await add_order(conn, world, [(world.coop_sku, 1, 3_000)], status=OrderStatus.PENDING_PAYMENT)
    first = await run_pipeline(engine)
    assert first.attributed == 2 and first.posted == 2
    async with engine.connect() as conn:
        assert await queued(conn) == set()  # the unpaid line's rows went too: not due until paid
        report = await verify(conn)
    assert report.ok, report.as_dict()
    idle = await run_pipeline(engine)
    assert idle.work == 0 and idle.passes == 1

    async with engine.begin() as conn:  # paid later: its order's change queues it again
        await conn.execute(
            update(Order)
            .where(Order.id == select(OrderLine.order_id).where(OrderLine.id == unpaid).scalar_subquery())
            .values(status=OrderStatus.PAID, paid_at=PAID_AT)
        )
    again = await run_pipeline(engine)
    assert again.attributed == 1 and again.posted == 1
    async with engine.connect() as conn:
        assert await conn.scalar(select(LineAccounting.status).where(LineAccounting.order_line_id == unpaid))


async def test_verify_names_a_due_line_missing_from_the_queue(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        world = await seed(conn)
        _, (line,) = await add_order(conn, world, [(world.coop_sku, 1, 5_000)])
        await conn.execute(delete(LineChange).where(LineChange.stage == "post"))
        report = await verify(conn)
    check = next(c for c in report.checks if c.name == "due_lines_queued")
    assert not check.ok and check.count == 1
    assert check.details == [f"line {line}: due for post but not in the change queue"]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_bill_committed_while_discovery_runs_is_not_lost(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another transaction stores a bill line for the order after discovery has read the queue
    and before it settles: the row it read stays (its line is due again), so the bill is seen."""
    async with engine.begin() as conn:
        world = await seed(conn)
        order, (line,) = await add_order(conn, world, [(world.coop_sku, 1, 5_000)])
    real = posting._discover_lines

    async def discover_then_bill(conn: AsyncConnection, line_ids: Any) -> tuple[int, int]:
        result = await real(conn, line_ids)
        async with engine.begin() as other:
            await add_bill_line(other, world, order, SettlementKind.PLATFORM_FEE, -120)
        return result

    monkeypatch.setattr(posting, "_discover_lines", discover_then_bill)
    async with engine.begin() as conn:
        assert await discover(conn) == (1, 0)
    monkeypatch.setattr(posting, "_discover_lines", real)
    async with engine.begin() as conn:
        assert ("post", line) in await queued(conn)
        assert await discover(conn) == (0, 1)  # the state row learns of the bill line
        assert await conn.scalar(select(LineAccounting.bill_lines).where(LineAccounting.order_line_id == line)) == 1
        assert ("post", line) not in await queued(conn)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_line_another_worker_holds_keeps_its_queue_row(engine: AsyncEngine) -> None:
    """Attribution skips a line locked by another worker; the line keeps its queue row, so it is
    attributed once released, although a later line was attributed meanwhile."""
    async with engine.begin() as conn:
        world = await seed(conn)
        _, (held, later) = await add_order(conn, world, [(world.coop_sku, 1, 5_000), (world.coop_sku, 1, 6_000)])
    async with engine.connect() as other:
        transaction = await other.begin()
        await other.execute(select(OrderLine.id).where(OrderLine.id == held).with_for_update())
        async with engine.begin() as conn:
            stats = await attribute_lines(conn)
        assert stats.changed == 1
        await transaction.rollback()
    async with engine.begin() as conn:
        assert ("attribute", held) in await queued(conn)
        assert (await attribute_lines(conn)).changed == 1
        attributed = set(await conn.scalars(select(LineAttribution.order_line_id)))
        assert attributed == {held, later}
        assert ("attribute", held) not in await queued(conn)


async def test_the_migration_queues_what_was_due_before_it(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        await upgrade(engine, "0008")
        async with engine.begin() as conn:
            world: World = await seed(conn)
            _, (done,) = await add_order(conn, world, [(world.coop_sku, 1, 5_000)])
            _, (fresh,) = await add_order(conn, world, [(world.coop_sku, 1, 6_000)])
            _, (unpaid,) = await add_order(
                conn, world, [(world.coop_sku, 1, 3_000)], status=OrderStatus.PENDING_PAYMENT
            )
            billed_order, (billed,) = await add_order(conn, world, [(world.coop_sku, 1, 4_000)])
            for line in (done, billed):
                await conn.execute(
                    insert(LineAttribution).values(
                        order_line_id=line, shop_id=world.shop, confidence="none", rule="none", line_version=1
                    )
                )
                await conn.execute(
                    insert(LineAccounting).values(
                        order_line_id=line,
                        shop_id=world.shop,
                        line_version=1,
                        input_rev=1,
                        posted_rev=1,
                        status="posted",
                        bill_lines=0,
                    )
                )
            await add_bill_line(conn, world, billed_order, SettlementKind.PLATFORM_FEE, -80)
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await queued(conn) == every(fresh) | {("post", billed), ("allocate", done), ("allocate", billed)}
            assert unpaid not in {line for _, line in await queued(conn)}
    finally:
        await engine.dispose()
