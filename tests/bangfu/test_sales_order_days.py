"""sales_order_days, the county overview's order totals per day (bangfu.sales_days.order_sums,
migration 0045), on the demo county on both backends: after a refresh the stored rows equal the
orders' sums and the migration's backfill writes the same rows; each change to the orders in
turn (orders inserted with a payment time, one at a time and several in one statement, the
paid amount and the shipping fee changed, the status rank crossing paid with and without the
status, the payment moved to another day, removed and set again, the shop changed, an order
deleted) leaves ``_sales`` from the stored days equal to ``_sales`` summed from the orders before
any refresh (stale days marked), with and without a refresh in between; a rank change that
stays paid marks nothing; a change whose trigger is gone is caught."""

from __future__ import annotations

import importlib.util
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu import sales_days
from bangfu.enums import OrderStatus
from bangfu.models import Order, OrderLine, SalesDirty, SalesOrderDay, Shop
from bangfu.queries.county import _sales
from bangfu.reports.base import Period
from bangfu.sales_days import refresh, rows_differing_from_lines
from tests.bangfu.conftest import with_conn
from tests.bangfu.test_sales_days import _day, _periods, _scopes, _stale_days_are_marked
from tests.web.conftest import World

MIGRATION = Path(__file__).resolve().parents[2] / "bangfu/migrations/versions/0045_sales_order_days.py"


def _migration() -> Any:
    spec = importlib.util.spec_from_file_location("m0045", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _overview_equals_the_orders(conn: AsyncConnection, what: str = "", few: bool = False) -> None:
    """``_sales`` read from the stored days equals ``_sales`` summed from the orders and lines
    (three periods, every scope; ``few``: the whole span, admin and county), and a period that is
    not whole days is summed from the orders."""
    scopes = await _scopes(conn)
    for period in await _periods(conn, few):
        for scope in [scopes[0], scopes[-1]] if few else scopes:
            where = (what, period.label, scope.role)
            assert await _sales(conn, scope, period) == await _sales(conn, scope, period, stored=False), where
    span = (await _periods(conn, True))[0]
    partial = Period(span.start + timedelta(hours=5), span.end, "not whole days")
    assert await _sales(conn, scopes[0], partial) == await _sales(conn, scopes[0], partial, stored=False), what


async def _order_rows(conn: AsyncConnection) -> list[tuple[Any, ...]]:
    table: Any = SalesOrderDay.__table__
    found = await conn.execute(select(*table.c).order_by(*table.primary_key.columns))
    return [tuple(_day(v) if isinstance(v, date | str) else int(v) for v in row) for row in found]


async def test_order_rows_equal_the_orders_and_the_backfill(store: World) -> None:
    """After a refresh nothing is marked and the rows are the orders' sums (with orders of a
    paid time only and a shipping fee among them); the migration's backfill writes the same
    rows; ``_sales`` reads them."""

    async def check(conn: AsyncConnection) -> None:
        await refresh(conn)
        await conn.commit()
        assert await sales_days.marked(conn) == 0
        assert await rows_differing_from_lines(conn) == []
        before = await _order_rows(conn)
        assert before
        assert sum(row[2] for row in before) == await conn.scalar(
            select(func.count()).select_from(Order).where(Order.paid_at.is_not(None))
        )
        await _overview_equals_the_orders(conn)
        try:
            await conn.execute(delete(SalesOrderDay))
            for statement in _migration().backfill_sql(conn.dialect.name == "postgresql"):
                await conn.exec_driver_sql(statement)
            assert await _order_rows(conn) == before
        finally:
            await conn.rollback()

    await with_conn(store, check)


async def _a_paid_order(conn: AsyncConnection) -> dict[str, Any]:
    """The first order of a paid status with lines."""
    row = (
        await conn.execute(
            select(Order.__table__)
            .where(
                Order.paid_at.is_not(None),
                Order.status_rank >= OrderStatus.PAID.rank,
                select(OrderLine.id).where(OrderLine.order_id == Order.id).exists(),
            )
            .order_by(Order.id)
            .limit(1)
        )
    ).one()
    return dict(row._mapping)


def _copy(order: dict[str, Any], suffix: str, **values: Any) -> dict[str, Any]:
    return {k: v for k, v in order.items() if k != "id"} | {"platform_order_id": f"order-days-{suffix}"} | values


async def test_order_changes_are_marked_and_the_overview_stays_exact(store: World) -> None:
    """Each change in turn (rolled back at the end): the stale days are marked, ``_sales`` from
    the stored days equals ``_sales`` summed from the orders before any refresh; every other
    change is refreshed (then the rows equal the orders and nothing is marked), the rest pile up
    for the last refresh."""

    async def check(conn: AsyncConnection) -> None:
        await refresh(conn)
        await conn.commit()
        step = 0

        async def changed(what: str, stale: bool = True) -> None:
            nonlocal step
            step += 1
            await _stale_days_are_marked(conn, what, stale)
            await _overview_equals_the_orders(conn, what, few=True)
            if step % 2:
                assert await refresh(conn) > 0, what
                assert await sales_days.marked(conn) == 0, what
                assert await rows_differing_from_lines(conn) == [], what

        try:
            order = await _a_paid_order(conn)
            paid_at: datetime = order["paid_at"]
            new = _copy(order, "one", paid_fen=1_234, post_fee_fen=56)
            new_id = await conn.scalar(insert(Order).values(**new).returning(Order.id))
            await changed("an order without lines inserted")
            await conn.execute(
                insert(Order).values(
                    [
                        _copy(order, f"many-{n}", paid_at=paid_at + timedelta(days=n), paid_fen=100 * n, post_fee_fen=n)
                        for n in range(1, 4)
                    ]
                )
            )
            await changed("three orders inserted in one statement, on three days")

            this = Order.id == new_id
            await conn.execute(update(Order).where(this).values(paid_fen=2_000))
            await changed("the order's paid amount")
            await conn.execute(update(Order).where(this).values(post_fee_fen=800))
            await changed("the order's shipping fee")
            await conn.execute(
                update(Order)
                .where(this)
                .values(status=OrderStatus.PENDING_PAYMENT, status_rank=OrderStatus.PENDING_PAYMENT.rank)
            )
            await changed("the order back to awaiting payment (a payment time only)")
            await conn.execute(update(Order).where(this).values(status_rank=OrderStatus.PAID.rank))
            await changed("the status rank crossing paid, the status not")
            await conn.execute(update(Order).where(this).values(status=OrderStatus.PAID))
            await refresh(conn)
            marks = await sales_days.marked(conn)
            await conn.execute(
                update(Order)
                .where(this)
                .values(status=OrderStatus.COMPLETED, status_rank=OrderStatus.COMPLETED.rank, modified_at=paid_at)
            )
            assert await sales_days.marked(conn) == marks, "paid -> completed, same amounts: nothing marked"

            await conn.execute(update(Order).where(this).values(paid_at=paid_at + timedelta(days=3)))
            await changed("the order's payment moved three days")
            await conn.execute(update(Order).where(this).values(paid_at=None))
            await changed("the order's payment time removed")
            await conn.execute(update(Order).where(this).values(paid_at=paid_at - timedelta(days=1)))
            await changed("the order's payment time set again, a day earlier")
            other_shop = await conn.scalar(select(Shop.id).where(Shop.id != order["shop_id"]).order_by(Shop.id))
            assert other_shop is not None
            await conn.execute(update(Order).where(this).values(shop_id=other_shop))
            await changed("the order's shop")

            listed = Order.id == order["id"]  # an order with lines: the lines' days and the order's
            await conn.execute(update(Order).where(listed).values(post_fee_fen=order["post_fee_fen"] + 1_000))
            await changed("an order with lines: its shipping fee")
            await conn.execute(
                update(Order).where(listed).values(status=OrderStatus.CANCELLED, status_rank=OrderStatus.CANCELLED.rank)
            )
            await changed("an order with lines cancelled (status and rank)")

            await conn.execute(delete(Order).where(this))
            await changed("the order deleted")

            await refresh(conn)
            assert await sales_days.marked(conn) == 0
            assert await rows_differing_from_lines(conn) == []
            await _overview_equals_the_orders(conn, "after the last refresh")
        finally:
            await conn.rollback()

    await with_conn(store, check)


async def test_an_order_change_without_its_trigger_is_caught(_sqlite_world: World) -> None:
    """With an orders trigger gone (in a transaction rolled back each), the change it marks
    leaves a stale day unmarked and the check fails: an order inserted without its insert
    trigger, a shipping fee changed without its update trigger. The checks above do test the
    triggers (SQLite only, as in test_sales_days)."""

    async def triggers(conn: AsyncConnection) -> set[str]:
        found = await conn.scalars(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'orders'")
        )
        return {str(name) for name in found}

    async def check(conn: AsyncConnection) -> None:
        await refresh(conn)
        await conn.commit()
        assert {"orders_sales_update", "orders_sales_insert"} <= await triggers(conn)
        order = await _a_paid_order(conn)
        changes = {
            "orders_sales_insert": insert(Order).values(**_copy(order, "untriggered")),
            "orders_sales_update": update(Order)
            .where(Order.id == order["id"])
            .values(post_fee_fen=order["post_fee_fen"] + 99),
        }
        for trigger, change in changes.items():
            try:
                await conn.execute(delete(SalesDirty))  # begins the transaction (SQLite: before the DDL)
                await conn.exec_driver_sql(f"DROP TRIGGER {trigger}")
                await conn.execute(change)
                assert await sales_days.marked(conn) == 0, trigger
                assert await rows_differing_from_lines(conn), f"{trigger}: the change made a day stale"
                with pytest.raises(AssertionError):
                    await _stale_days_are_marked(conn, f"no {trigger}")
            finally:
                await conn.rollback()
        assert {"orders_sales_update", "orders_sales_insert"} <= await triggers(conn)

    await with_conn(_sqlite_world, check)
