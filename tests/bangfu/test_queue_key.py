"""Migration 0053: on PostgreSQL the change queue's primary key is ``(stage, id)`` and its other
two plain indexes are gone; every reader names the stage, and the queue's rows and what the
stages do with them are the same on both back ends, across the migration both ways."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, false, inspect, select, text, true
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bangfu.models import LineChange, OrderLine
from bangfu.store import _alembic_config, make_engine, upgrade
from tests.workers.accounting_seed import World, add_lot, add_order, seed
from workers import changes
from workers.pipeline import run_pipeline
from workers.verify import verify


async def _rows(conn: AsyncConnection) -> set[tuple[int, str, int, int | None]]:
    query = select(LineChange.id, LineChange.stage, LineChange.order_line_id, LineChange.sku_id)
    return {(row_id, stage, line, sku) for row_id, stage, line, sku in await conn.execute(query)}


async def _orders(conn: AsyncConnection, world: World) -> list[int]:
    """Paid orders: a line of the cooperative's SKU, one without a SKU, one of the enterprise's."""
    _, (drawable,) = await add_order(conn, world, [(world.coop_sku, 2, 3_000)])
    _, (unmapped,) = await add_order(conn, world, [(None, 1, 1_000)])
    _, (enterprise,) = await add_order(conn, world, [(world.enterprise_sku, 1, 2_000)])
    return [drawable, unmapped, enterprise]


async def test_settle_deletes_only_the_named_stages_rows(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        world = await seed(conn)
        lines = await _orders(conn, world)
        before = await _rows(conn)
        post = [row_id for row_id, stage, _line, _sku in before if stage == changes.POST]
        assert len(post) == len(lines)
        # The post rows' ids, settled as attribute rows: none of them is an attribute row.
        assert await changes.settle(conn, changes.ATTRIBUTE, post, false()) == 0
        assert await _rows(conn) == before
        assert await changes.settle(conn, changes.POST, post, true()) == 0  # still due: kept
        assert await changes.settle(conn, changes.POST, post, false()) == len(post)
        assert await _rows(conn) == {row for row in before if row[1] != changes.POST}


def _key_and_indexes(connection: Connection) -> tuple[list[str], set[str]]:
    inspector = inspect(connection)
    key = inspector.get_pk_constraint("line_changes")["constrained_columns"]
    return key, {str(index["name"]) for index in inspector.get_indexes("line_changes")}


async def _lot_functions(conn: AsyncConnection) -> list[str]:
    """The first-lot triggers' function bodies, whitespace collapsed (PostgreSQL)."""
    query = text(
        "SELECT prosrc FROM pg_proc WHERE proname IN ('bangfu_new_lot_lines_queued', 'bangfu_moved_lot_lines_queued')"
        " ORDER BY proname"
    )
    return [" ".join(source.split()) for source in await conn.scalars(query)]


def _downgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.downgrade(_alembic_config(connection), revision)


@pytest.mark.parametrize("sku_lot_first", [False, True])
async def test_the_migration_keeps_the_queue_down_and_up(empty_db_url: str, sku_lot_first: bool) -> None:
    engine = make_engine(empty_db_url)
    try:
        await upgrade(engine, "0052")
        async with engine.connect() as conn:
            postgresql = conn.dialect.name == "postgresql"
            functions = await _lot_functions(conn) if postgresql else []
        await upgrade(engine)
        async with engine.connect() as conn:
            key, indexes = await conn.run_sync(_key_and_indexes)
            if postgresql:
                upgraded = await _lot_functions(conn)
                assert len(upgraded) == 2
                assert all("c.sku_id = l.sku_id AND c.order_line_id = l.id" in body for body in upgraded)
        if postgresql:
            assert key == ["stage", "id"]
            assert indexes == {"ix_line_changes_allocate_sku"}
        else:
            assert key == ["id"]
            assert indexes >= {"ix_line_changes_stage_id", "ix_line_changes_order_line_id"}

        async with engine.begin() as conn:
            world = await seed(conn)
            lines = await _orders(conn, world)
            if sku_lot_first:  # a SKU's first lot queues its lines not queued yet (0037's trigger)
                await conn.execute(
                    delete(LineChange).where(LineChange.stage == changes.ALLOCATE, LineChange.order_line_id == lines[2])
                )
                _, (kept,) = await add_order(conn, world, [(world.enterprise_sku, 1, 2_000)])
                await add_lot(conn, world, [(world.households[0], 5, "A", 100)], sku=world.enterprise_sku)
                allocate = [(line, sku) for _id, stage, line, sku in await _rows(conn) if stage == changes.ALLOCATE]
                enterprise = world.enterprise_sku
                assert sorted(allocate) == [(lines[0], world.coop_sku), (lines[2], enterprise), (kept, enterprise)]
                lines.append(kept)
            queued = await _rows(conn)
        assert {line for _id, _stage, line, _sku in queued} == set(lines)

        async with engine.begin() as conn:
            await conn.run_sync(_downgrade, "0052")
        async with engine.connect() as conn:
            assert await conn.run_sync(_key_and_indexes) == (
                ["id"],
                {"ix_line_changes_allocate_sku", "ix_line_changes_stage_id", "ix_line_changes_order_line_id"},
            )
            assert await _rows(conn) == queued
            if postgresql:
                assert await _lot_functions(conn) == functions  # 0037's, as they were
        async with engine.begin() as conn:
            lines += await _orders(conn, world)  # queued under 0052's key
            queued = await _rows(conn)

        await upgrade(engine)
        async with engine.connect() as conn:
            assert await _rows(conn) == queued
            assert (await conn.run_sync(_key_and_indexes))[0] == (["stage", "id"] if postgresql else ["id"])
        async with engine.begin() as conn:
            lines += await _orders(conn, world)
            assert {line for _id, _stage, line, _sku in await _rows(conn)} == set(lines)

        await run_pipeline(engine)
        async with engine.connect() as conn:
            left = {line for _id, _stage, line, _sku in await _rows(conn)}
            unmapped = set(await conn.scalars(select(OrderLine.id).where(OrderLine.sku_id.is_(None))))
            report = await verify(conn)
        assert report.ok, [c for c in report.as_dict()["checks"] if not c["ok"]]
        assert len(unmapped) == 3
        assert not left & unmapped  # what is left waits for stock: no line without a SKU
    finally:
        await engine.dispose()
