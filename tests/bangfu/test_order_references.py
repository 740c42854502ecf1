"""What the foreign keys of orders and order lines refuse, on both back ends (migration 0038).

On PostgreSQL they are set-based triggers (one check per statement over its new rows, parents
locked as a foreign key locks them, the parents' deletes and renumberings refused at the end of
the statement); on SQLite they are SQLite's foreign keys. Either way a reference to a missing
row is refused, by INSERT, UPDATE or COPY, and the statement (and with it the batch's
transaction) leaves nothing behind.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bangfu.enums import ChannelType, PlatformKind, UnitType
from bangfu.models import Order, OrderLine, PurchasingUnit, Shop, Sku
from bangfu.store import _alembic_config, asyncpg_in_transaction, make_engine, upgrade
from tests.workers.accounting_seed import PAID_AT, World, add_order, seed

MISSING = 987_654_321

ORDER_SQL = (
    "INSERT INTO orders (shop_id, platform_order_id, status, status_rank, platform_status, created_at,"
    " modified_at, paid_fen, post_fee_fen, discount_fen, purchasing_unit_id, content_hash, synced_at)"
    " VALUES (:shop, :pid, 'paid', 3, 'x', :at, :at, 100, 0, 0, :unit, '', :at)"
)
LINE_SQL = (
    "INSERT INTO order_lines (order_id, shop_id, platform_line_id, sku_id, platform_item_id, title, quantity,"
    " unit_price_fen, paid_fen, refund_state, version, content_hash)"
    " VALUES (:order, :shop, :pid, :sku, 'item', '', 1, 100, 100, 'none', 1, '')"
)


def refused(error: pytest.ExceptionInfo[IntegrityError], table: str, column: str, *, constraint: bool = False) -> None:
    """A foreign key's refusal: SQLite's own message, or on PostgreSQL a foreign key's error
    naming the table, the column (not named by a foreign key ``constraint`` itself, as before
    0038) and the constraint."""
    if "sqlite" in type(error.value.orig).__module__:
        assert "FOREIGN KEY constraint failed" in str(error.value)
        return
    cause: Any = getattr(error.value.orig, "__cause__", None)  # asyncpg's error
    assert cause.sqlstate == "23503"
    assert (cause.table_name, cause.column_name) == (table, None if constraint else column)
    assert cause.constraint_name.startswith(f"fk_{table}_{column}_")
    assert f'violates foreign key constraint "{cause.constraint_name}"' in str(error.value)


def line(order: int, shop: int, pid: str, sku: int | None = None) -> dict[str, Any]:
    return {"order": order, "shop": shop, "pid": pid, "sku": sku}


async def _order(conn: AsyncConnection, shop: int, pid: str, unit: int | None = None) -> int:
    await conn.execute(text(ORDER_SQL), {"shop": shop, "pid": pid, "at": PAID_AT, "unit": unit})
    return int(await conn.scalar(select(Order.id).where(Order.platform_order_id == pid)) or 0)


async def _new_id(conn: AsyncConnection, model: Any, **values: Any) -> int:
    new_id = await conn.scalar(insert(model).values(**values).returning(model.id))
    assert new_id is not None
    return int(new_id)


async def _shop(conn: AsyncConnection, name: str) -> int:
    values = {"name": name, "platform": PlatformKind.JD, "channel_type": ChannelType.ECOMMERCE}
    return await _new_id(conn, Shop, **values, platform_shop_id=name, settings={})


async def _sku(conn: AsyncConnection, world: World, code: str) -> int:
    product = await conn.scalar(select(Sku.product_id).where(Sku.id == world.coop_sku))
    values = {"sku_code": code, "product_id": product, "spec": "1kg", "unit": "袋", "retail_price_fen": 100}
    return await _new_id(conn, Sku, **values)


async def _unit(conn: AsyncConnection, code: str) -> int:
    return await _new_id(conn, PurchasingUnit, code=code, name="食堂", unit_type=UnitType.CANTEEN)


async def _count(conn: AsyncConnection, model: Any) -> int:
    return int(await conn.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_reference_to_a_missing_row_is_refused_on_insert(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        world = await seed(conn)
        _, (line_id,) = await add_order(conn, world, [(world.coop_sku, 1, 100)])
        order = int(await conn.scalar(select(OrderLine.order_id).where(OrderLine.id == line_id)) or 0)
    cases = [
        (ORDER_SQL, {"shop": MISSING, "pid": "N1", "at": PAID_AT, "unit": None}, "orders", "shop_id"),
        (ORDER_SQL, {"shop": world.shop, "pid": "N2", "at": PAID_AT, "unit": MISSING}, "orders", "purchasing_unit_id"),
        (LINE_SQL, line(MISSING, world.shop, "L1"), "order_lines", "order_id"),
        (LINE_SQL, line(order, MISSING, "L2"), "order_lines", "shop_id"),
        (LINE_SQL, line(order, world.shop, "L3", MISSING), "order_lines", "sku_id"),
    ]
    for sql, values, table, column in cases:
        async with engine.connect() as conn:
            with pytest.raises(IntegrityError) as error:
                await conn.execute(text(sql), values)
            refused(error, table, column)
    async with engine.begin() as conn:  # the same rows with their references right are taken
        unit = await _unit(conn, "U1")
        await _order(conn, world.shop, "N2", unit)
        await conn.execute(text(LINE_SQL), line(order, world.shop, "L3", world.enterprise_sku))
        assert await _count(conn, Order) == 2 and await _count(conn, OrderLine) == 2


async def test_a_reference_changed_to_a_missing_row_is_refused(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        world = await seed(conn)
        _, (line_id,) = await add_order(conn, world, [(world.coop_sku, 1, 100)])
        order = int(await conn.scalar(select(OrderLine.order_id).where(OrderLine.id == line_id)) or 0)
    cases = [
        (f"UPDATE orders SET shop_id = {MISSING}", "orders", "shop_id"),
        (f"UPDATE orders SET purchasing_unit_id = {MISSING}", "orders", "purchasing_unit_id"),
        (f"UPDATE order_lines SET order_id = {MISSING}", "order_lines", "order_id"),
        (f"UPDATE order_lines SET shop_id = {MISSING}", "order_lines", "shop_id"),
        (f"UPDATE order_lines SET sku_id = {MISSING}", "order_lines", "sku_id"),
    ]
    for sql, table, column in cases:
        async with engine.connect() as conn:
            with pytest.raises(IntegrityError) as error:
                await conn.execute(text(sql))
            refused(error, table, column)
    async with engine.begin() as conn:  # rewriting the same references, or existing ones, is fine
        other = await _order(conn, world.shop, "N3")
        await conn.execute(text("UPDATE order_lines SET order_id = order_id, shop_id = shop_id, sku_id = sku_id"))
        await conn.execute(
            text("UPDATE order_lines SET order_id = :o, sku_id = :s"), {"o": other, "s": world.enterprise_sku}
        )
        await conn.execute(text("UPDATE orders SET purchasing_unit_id = :u"), {"u": await _unit(conn, "U2")})
        assert await conn.scalar(select(OrderLine.order_id)) == other != order


async def test_a_batch_with_one_bad_row_leaves_nothing(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        world = await seed(conn)
    async with engine.connect() as conn:
        await conn.begin()
        order = await _order(conn, world.shop, "B1")
        rows = [line(order, world.shop, "B1-0"), line(MISSING, world.shop, "B1-1"), line(order, world.shop, "B1-2")]
        with pytest.raises(IntegrityError) as error:
            await conn.execute(text(LINE_SQL), rows)
        refused(error, "order_lines", "order_id")
        await conn.rollback()
    async with engine.connect() as conn:
        assert await _count(conn, Order) == 0 and await _count(conn, OrderLine) == 0


async def test_deleting_or_renumbering_a_referenced_row_is_refused(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        world = await seed(conn)
        shop = await _shop(conn, "only-orders")  # referenced by nothing but an order and its line
        unit = await _unit(conn, "U3")
        sku = await _sku(conn, world, "ONLY-LINES")
        order = await _order(conn, shop, "D1", unit)
        await conn.execute(text(LINE_SQL), line(order, shop, "D1-0", sku))
    cases = [
        ("orders", order, "order_lines", "order_id"),
        ("shops", shop, "orders", "shop_id"),
        ("purchasing_units", unit, "orders", "purchasing_unit_id"),
        ("skus", sku, "order_lines", "sku_id"),
    ]
    for parent, key, table, column in cases:
        for sql in (f"DELETE FROM {parent} WHERE id = {key}", f"UPDATE {parent} SET id = {MISSING} WHERE id = {key}"):
            async with engine.connect() as conn:
                with pytest.raises(IntegrityError) as error:
                    await conn.execute(text(sql))
                refused(error, table, column)
    async with engine.begin() as conn:  # once nothing names them, they go; in one statement or several
        await conn.execute(text("DELETE FROM order_lines"))
        await conn.execute(text(f"DELETE FROM orders WHERE id = {order}"))
        await conn.execute(text(f"DELETE FROM shops WHERE id = {shop}"))
        await conn.execute(text(f"DELETE FROM purchasing_units WHERE id = {unit}"))
        await conn.execute(text(f"UPDATE skus SET id = {MISSING} WHERE id = {sku}"))
        await conn.execute(text(f"DELETE FROM skus WHERE id = {MISSING}"))
        assert await _count(conn, Order) == 0


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_copy_is_checked_too(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        world = await seed(conn)
        _, (line_id,) = await add_order(conn, world, [(None, 1, 100)])
        order = int(await conn.scalar(select(OrderLine.order_id).where(OrderLine.id == line_id)) or 0)
    columns = ["order_id", "shop_id", "platform_line_id", "sku_id", "platform_item_id", "title", "quantity"]
    columns += ["unit_price_fen", "paid_fen", "refund_state", "version", "content_hash"]
    for bad, column in (((MISSING, world.shop, None), "order_id"), ((order, world.shop, MISSING), "sku_id")):
        records = [(order, world.shop, "C0", None), (bad[0], bad[1], "C1", bad[2])]
        async with engine.connect() as conn:
            driver = await asyncpg_in_transaction(conn)
            with pytest.raises(Exception) as caught:
                await driver.copy_records_to_table(
                    "order_lines",
                    records=[(*r, "item", "", 1, 100, 100, "none", 1, "") for r in records],
                    columns=columns,
                )
            assert getattr(caught.value, "sqlstate", None) == "23503"
            assert (caught.value.table_name, caught.value.column_name) == ("order_lines", column)  # type: ignore[attr-defined]
    columns_orders = ["shop_id", "platform_order_id", "status", "status_rank", "platform_status", "created_at"]
    columns_orders += ["modified_at", "paid_fen", "post_fee_fen", "discount_fen", "content_hash", "synced_at"]
    async with engine.connect() as conn:
        driver = await asyncpg_in_transaction(conn)
        with pytest.raises(Exception) as caught:
            await driver.copy_records_to_table(
                "orders",
                records=[(MISSING, "C9", "paid", 3, "x", PAID_AT, PAID_AT, 1, 0, 0, "", PAID_AT)],
                columns=columns_orders,
            )
        assert (caught.value.table_name, caught.value.column_name) == ("orders", "shop_id")  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        assert await _count(conn, OrderLine) == 1 and await _count(conn, Order) == 1


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_delete_waits_for_a_writer_naming_the_row_and_is_then_refused(engine: AsyncEngine) -> None:
    """The check locks the parents it names (FOR KEY SHARE), as a foreign key's check does: a
    concurrent delete of one waits for the writer, then sees its line and is refused."""
    async with engine.begin() as conn:
        world = await seed(conn)
        order = await _order(conn, world.shop, "W1")
    async with engine.connect() as writer, engine.connect() as deleter:
        await writer.begin()
        await writer.execute(text(LINE_SQL), line(order, world.shop, "W1-0"))
        await deleter.begin()
        pid = await deleter.scalar(text("SELECT pg_backend_pid()"))
        delete = asyncio.ensure_future(deleter.execute(text(f"DELETE FROM orders WHERE id = {order}")))
        waiting = text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid")
        async with engine.connect() as watcher:
            for _ in range(200):  # until the delete waits for the writer's lock on the order
                if await watcher.scalar(waiting, {"pid": pid}) == "Lock":
                    break
                await watcher.rollback()
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the delete did not wait for the writer")
        assert not delete.done()
        await writer.commit()
        with pytest.raises(IntegrityError) as error:
            await delete
        refused(error, "order_lines", "order_id")
        await deleter.rollback()
    async with engine.connect() as conn:
        assert await _count(conn, OrderLine) == 1


def _downgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.downgrade(_alembic_config(connection), revision)


async def _foreign_keys(conn: AsyncConnection) -> set[str]:
    def read(sync: Connection) -> set[str]:
        from sqlalchemy import inspect

        found = inspect(sync)
        return {
            f"{table}.{','.join(fk['constrained_columns'])}"
            for table in ("orders", "order_lines")
            for fk in found.get_foreign_keys(table)
        }

    return await conn.run_sync(read)


async def test_the_migration_goes_down_to_foreign_keys_and_up_again(empty_db_url: str) -> None:
    every = {
        "orders.shop_id",
        "orders.purchasing_unit_id",
        "order_lines.order_id",
        "order_lines.shop_id",
        "order_lines.sku_id",
        "order_lines.listing_id",
    }
    engine = make_engine(empty_db_url)
    try:
        await upgrade(engine, "0037")
        async with engine.begin() as conn:
            world = await seed(conn)
            await add_order(conn, world, [(world.coop_sku, 1, 100), (None, 2, 200)])
        await upgrade(engine)
        async with engine.connect() as conn:
            postgres = conn.dialect.name == "postgresql"
            assert await _foreign_keys(conn) == ({"order_lines.listing_id"} if postgres else every)
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade, "0037")
        async with engine.connect() as conn:
            assert await _foreign_keys(conn) == every
            with pytest.raises(IntegrityError) as error:
                await conn.execute(text(LINE_SQL), line(MISSING, world.shop, "X1"))
            refused(error, "order_lines", "order_id", constraint=True)
        await upgrade(engine)
        async with engine.connect() as conn:
            with pytest.raises(IntegrityError) as error:
                await conn.execute(text(LINE_SQL), line(MISSING, world.shop, "X1"))
            refused(error, "order_lines", "order_id")
        async with engine.connect() as conn:
            assert await _count(conn, OrderLine) == 2
    finally:
        await engine.dispose()
