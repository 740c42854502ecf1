"""What a statement of new order lines does beside storing them, on both back ends, and on
PostgreSQL before and after migration 0049 (one read of the lines' orders for the three): the
paid days of their orders are marked for the sales tables (0041), each line gets its
``line_stock`` row flagged ``unsold`` when its order is cancelled or closed (0042, 0043), and a
line naming a missing order is refused with the foreign key's error, leaving nothing of its
statement behind (0038)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.models import LineStock, Order, SalesDirty
from bangfu.store import _alembic_config, make_engine, upgrade
from tests.bangfu.test_order_references import MISSING, refused
from tests.workers.accounting_seed import seed

# Local (Asia/Shanghai) days 2026-03-01 and 2026-03-03.
FIRST = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
SECOND = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)

ORDER_SQL = (
    "INSERT INTO orders (shop_id, platform_order_id, status, status_rank, platform_status, created_at,"
    " modified_at, paid_at, paid_fen, post_fee_fen, discount_fen, content_hash, synced_at)"
    " VALUES (:shop, :pid, :status, 3, 'x', :at, :at, :paid_at, 100, 0, 0, '', :at)"
)


def _lines_sql(count: int) -> str:
    """One INSERT statement of ``count`` lines."""
    rows = ", ".join(f"(:order{k}, :shop, :pid{k}, NULL, 'item', '', 2, 100, 200, 'none', 1, '')" for k in range(count))
    return (
        "INSERT INTO order_lines (order_id, shop_id, platform_line_id, sku_id, platform_item_id, title,"
        f" quantity, unit_price_fen, paid_fen, refund_state, version, content_hash) VALUES {rows}"
    )


async def _order(conn: AsyncConnection, shop: int, pid: str, status: str, paid_at: datetime | None) -> int:
    at = {"shop": shop, "pid": pid, "status": status, "at": FIRST, "paid_at": paid_at}
    await conn.execute(text(ORDER_SQL), at)
    return int(await conn.scalar(select(Order.id).where(Order.platform_order_id == pid)) or 0)


async def _insert_lines(conn: AsyncConnection, shop: int, tag: str, orders: list[int]) -> None:
    values: dict[str, Any] = {"shop": shop}
    for k, order in enumerate(orders):
        values[f"order{k}"] = order
        values[f"pid{k}"] = f"{tag}-L{k}"
    await conn.execute(text(_lines_sql(len(orders))), values)


async def _marked(conn: AsyncConnection) -> set[str]:
    return {str(day)[:10] for day in await conn.scalars(select(SalesDirty.day))}


async def _flags(conn: AsyncConnection, tag: str) -> dict[str, bool]:
    from bangfu.models import OrderLine

    rows = await conn.execute(
        select(OrderLine.platform_line_id, LineStock.unsold, LineStock.quantity)
        .join(LineStock, LineStock.order_line_id == OrderLine.id)
        .where(OrderLine.platform_line_id.like(f"{tag}-%"))
    )
    found = {}
    for pid, unsold, quantity in rows:
        assert quantity == 2
        found[str(pid)] = bool(unsold)
    return found


async def _check(conn: AsyncConnection, shop: int, tag: str) -> None:
    paid = await _order(conn, shop, f"{tag}-paid", "paid", FIRST)
    cancelled = await _order(conn, shop, f"{tag}-cancelled", "cancelled", SECOND)
    closed = await _order(conn, shop, f"{tag}-closed", "closed", FIRST)
    pending = await _order(conn, shop, f"{tag}-pending", "pending_payment", None)
    await conn.execute(delete(SalesDirty))
    await _insert_lines(conn, shop, tag, [paid, cancelled, closed, pending, paid])
    # every order with a payment time marks its day, whatever its status (0041)
    assert await _marked(conn) == {"2026-03-01", "2026-03-03"}
    assert await _flags(conn, tag) == {
        f"{tag}-L0": False,
        f"{tag}-L1": True,
        f"{tag}-L2": True,
        f"{tag}-L3": False,
        f"{tag}-L4": False,
    }
    await conn.commit()
    later = await _order(conn, shop, f"{tag}-later", "paid", SECOND)  # marks its own day (0045)
    await conn.execute(delete(SalesDirty))
    await conn.commit()
    with pytest.raises(IntegrityError) as error:
        await _insert_lines(conn, shop, f"{tag}x", [later, MISSING, cancelled])
    refused(error, "order_lines", "order_id")
    await conn.rollback()
    assert await _marked(conn) == set()
    assert await _flags(conn, f"{tag}x") == {}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
async def test_new_lines_mark_days_mirror_flags_and_refuse_missing_orders(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            world = await seed(conn)
            await conn.commit()
            await _check(conn, world.shop, "H")
    finally:
        await engine.dispose()


def _downgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.downgrade(_alembic_config(connection), revision)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_the_same_before_and_after_0049(empty_db_url: str) -> None:
    """0049 folds three triggers' reads of the orders into one; down and up again, each schema
    does the same."""
    engine = make_engine(empty_db_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            world = await seed(conn)
            await conn.commit()
            await _check(conn, world.shop, "A")
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade, "0046")
        async with engine.connect() as conn:
            triggers = set(await conn.scalars(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")))
            assert "order_lines_sales_insert" in triggers
            await _check(conn, world.shop, "B")
        await upgrade(engine)
        async with engine.connect() as conn:
            triggers = set(await conn.scalars(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")))
            assert "order_lines_sales_insert" not in triggers
            await _check(conn, world.shop, "C")
    finally:
        await engine.dispose()
