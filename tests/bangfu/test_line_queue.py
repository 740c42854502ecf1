"""Migration 0026: a line is queued for allocation only while it has a SKU and a quantity; the
other stages' rows, and everything the stages and ``bangfu verify`` read, stay as they were."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bangfu.enums import OrderStatus
from bangfu.models import LineChange, Order, OrderLine
from bangfu.store import _alembic_config, make_engine, upgrade
from tests.workers.accounting_seed import PAID_AT, World, add_lot, add_order, seed
from workers.pipeline import run_pipeline
from workers.verify import verify

EVERY = ("attribute", "allocate", "post")


async def queued(conn: AsyncConnection) -> set[tuple[str, int]]:
    return {(stage, line) for stage, line in await conn.execute(select(LineChange.stage, LineChange.order_line_id))}


def rows(*lines: int, stages: tuple[str, ...] = EVERY) -> set[tuple[str, int]]:
    return {(stage, line) for line in lines for stage in stages}


async def _pay(conn: AsyncConnection, line: int) -> None:
    order = select(OrderLine.order_id).where(OrderLine.id == line).scalar_subquery()
    await conn.execute(update(Order).where(Order.id == order).values(status=OrderStatus.PAID, paid_at=PAID_AT))


async def _lines_of_each_kind(conn: AsyncConnection, world: World) -> tuple[int, int, int]:
    """A line without a SKU, one with a SKU but no quantity, one with both: their ids."""
    await conn.execute(delete(LineChange))
    _, (no_sku, no_quantity, drawable) = await add_order(
        conn, world, [(None, 1, 1_000), (world.coop_sku, 0, 0), (world.coop_sku, 2, 3_000)]
    )
    return no_sku, no_quantity, drawable


async def test_only_a_line_with_a_sku_and_a_quantity_is_queued_for_allocation(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        world = await seed(conn)
        no_sku, no_quantity, drawable = await _lines_of_each_kind(conn, world)
        only = ("attribute", "post")
        assert await queued(conn) == rows(no_sku, no_quantity, stages=only) | rows(drawable)

        await conn.execute(delete(LineChange))
        await conn.execute(update(OrderLine).where(OrderLine.id == no_sku).values(sku_id=world.coop_sku))
        assert await queued(conn) == rows(no_sku)  # given a SKU: every stage
        await conn.execute(delete(LineChange))
        await conn.execute(update(OrderLine).where(OrderLine.id == no_quantity).values(quantity=1))
        assert await queued(conn) == rows(no_quantity)  # given a quantity: every stage
        await conn.execute(delete(LineChange))
        await conn.execute(update(OrderLine).where(OrderLine.id == drawable).values(sku_id=None, version=2))
        assert await queued(conn) == rows(drawable, stages=only)  # its SKU taken away: nothing to draw

        await conn.execute(delete(LineChange))
        _, (unpaid_no_sku, unpaid) = await add_order(
            conn, world, [(None, 1, 500), (world.coop_sku, 1, 500)], status=OrderStatus.PENDING_PAYMENT
        )
        await conn.execute(delete(LineChange))
        await _pay(conn, unpaid)
        assert await queued(conn) == rows(unpaid_no_sku, stages=only) | rows(unpaid)  # its order was paid


async def test_lines_without_a_sku_flow_through_the_pipeline_and_verify(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        world = await seed(conn)
        no_sku, _, drawable = await _lines_of_each_kind(conn, world)
    await run_pipeline(engine)
    async with engine.connect() as conn:
        assert not {line for _, line in await queued(conn)} & {no_sku, drawable}
        report = await verify(conn)
    assert report.ok, report.as_dict()

    async with engine.begin() as conn:  # mapped later: the line is drawn like any other
        await conn.execute(update(OrderLine).where(OrderLine.id == no_sku).values(sku_id=world.coop_sku))
        await add_lot(conn, world, [(world.households[0], 5, "A", 100)])
        assert ("allocate", no_sku) in await queued(conn)
    await run_pipeline(engine)
    async with engine.connect() as conn:
        assert ("allocate", no_sku) not in await queued(conn)
        report = await verify(conn)
    assert report.ok, report.as_dict()


def _downgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.downgrade(_alembic_config(connection), revision)


async def test_the_migration_goes_down_to_three_rows_per_line_and_up_again(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade, "0025")
        async with engine.begin() as conn:
            world = await seed(conn)
            lines = await _lines_of_each_kind(conn, world)
            assert await queued(conn) == rows(*lines)  # 0009's triggers: every stage for every line
            await conn.execute(delete(LineChange))
            await conn.execute(update(OrderLine).where(OrderLine.id == lines[0]).values(version=2))
            assert await queued(conn) == rows(lines[0])
        await upgrade(engine)
        async with engine.begin() as conn:
            no_sku, no_quantity, drawable = await _lines_of_each_kind(conn, world)
            assert await queued(conn) == rows(no_sku, no_quantity, stages=("attribute", "post")) | rows(drawable)
    finally:
        await engine.dispose()
