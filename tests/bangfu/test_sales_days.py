"""sales_days and sales_refund_days, the sales ledger's figures per day (bangfu.sales_days), on the
demo county on both backends: after a refresh the stored rows equal the lines' and refunds' sums
and the migration's backfill writes the same rows; each change in turn (a new line, an order's
payment moved to another day, a line's SKU and shop, an order's shop, a refund succeeded, its
amount changed, reverted, deleted, a line deleted) leaves every page's figures equal to the ones
summed from the lines before any refresh (stale days marked), with and without a refresh in
between; a change whose trigger is gone is caught."""

from __future__ import annotations

import importlib.util
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu import sales_days
from bangfu.enums import LineRefundState, OrderStatus, RefundStatus, UserRole
from bangfu.models import (
    Cooperative,
    Order,
    OrderLine,
    Product,
    Refund,
    SalesDay,
    SalesDirty,
    SalesRefundDay,
    Shop,
    Sku,
)
from bangfu.queries.certification import monthly_sales
from bangfu.queries.county import _sales, product_pivot
from bangfu.queries.planting import sell_through
from bangfu.reports.base import Period, local_midnight
from bangfu.reports.sales_ledger import sales_ledger
from bangfu.sales_days import refresh, rows_differing_from_lines
from bangfu.scope import Scope
from tests.bangfu.conftest import with_conn
from tests.web.conftest import World

MIGRATION = Path(__file__).resolve().parents[2] / "bangfu/migrations/versions/0041_sales_days.py"


def _migration() -> Any:
    spec = importlib.util.spec_from_file_location("m0041", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def _scopes(conn: AsyncConnection) -> list[Scope]:
    county = await conn.scalar(select(Shop.county_id).where(Shop.county_id.is_not(None)).limit(1))
    coop = await conn.scalar(select(Cooperative.id).order_by(Cooperative.id).limit(1))
    scopes = [Scope(UserRole.ADMIN, user_id=0), Scope(UserRole.COOPERATIVE, user_id=0, cooperative_id=coop)]
    if county is not None:
        scopes.append(Scope(UserRole.COUNTY, user_id=0, region_ids=frozenset({int(county)})))
    return scopes


async def _periods(conn: AsyncConnection, few: bool = False) -> list[Period]:
    """The whole span, the first paid month, and days across two months (``few``: the span)."""
    first = await conn.scalar(select(func.min(Order.paid_at)))
    assert first is not None
    month = first.date().replace(day=1)
    nxt = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    periods = [
        Period(local_midnight(date(2020, 1, 1)), local_midnight(date(2040, 1, 1)), "all"),
        Period(local_midnight(month), local_midnight(nxt), "month"),
        Period(local_midnight(month + timedelta(days=9)), local_midnight(nxt + timedelta(days=12)), "days"),
    ]
    return periods[:1] if few else periods


async def _pages_equal_the_lines(conn: AsyncConnection, what: str = "", few: bool = False) -> None:
    """Every page's sales figures read from the stored days equal the ones summed from the lines
    (``few``: the whole span, the admin: once per change)."""
    scopes = await _scopes(conn)
    for period in await _periods(conn, few):
        for scope in scopes[:1] if few else scopes:
            where = (what, period.label, scope.role)
            assert await _sales(conn, scope, period) == await _sales(conn, scope, period, stored=False), where
            assert await product_pivot(conn, scope, period) == await product_pivot(conn, scope, period, stored=False), (
                where
            )
            assert await monthly_sales(conn, scope, period) == await monthly_sales(conn, scope, period, stored=False), (
                where
            )
        stored, live = await sales_ledger(conn, period), await sales_ledger(conn, period, stored=False)
        assert (stored.rows, stored.totals, stored.summary) == (live.rows, live.totals, live.summary), what
    products = [int(p) for p in await conn.scalars(select(Product.id))]
    assert await sell_through(conn, products) == await sell_through(conn, products, stored=False), what


async def _stale_days_are_marked(conn: AsyncConnection, what: str, stale: bool = True) -> None:
    """What differs from the lines is marked, and there is something (``stale``: a change that
    undoes an unrefreshed one leaves nothing stale, but its days are marked all the same)."""
    differing = await rows_differing_from_lines(conn, limit=100_000)
    assert differing or not stale, f"{what}: the change made stored rows stale (else the check proves nothing)"
    marked = {_day(d) for d in await conn.scalars(select(SalesDirty.day))}
    assert marked, what
    for (_grain, day, *_rest), _stored, _live in differing:
        assert day in marked, (what, day)


async def _rows(conn: AsyncConnection) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for model in (SalesDay, SalesRefundDay):
        table: Any = model.__table__
        found = await conn.execute(select(*table.c).order_by(*table.primary_key.columns))
        out[table.name] = [tuple(_day(v) if isinstance(v, date | str) else int(v) for v in row) for row in found]
    return out


async def test_rows_equal_the_lines_and_the_backfill(store: World) -> None:
    """After a refresh nothing is marked and the rows are the lines' and refunds' sums; the
    migration's backfill writes the same rows; the pages read them."""

    async def check(conn: AsyncConnection) -> None:
        await refresh(conn)
        await conn.commit()
        assert await sales_days.marked(conn) == 0
        assert await rows_differing_from_lines(conn) == []
        before = await _rows(conn)
        assert all(before.values())
        await _pages_equal_the_lines(conn)
        try:
            for model in (SalesDay, SalesRefundDay):
                await conn.execute(delete(model))
            for statement in _migration().backfill_sql(conn.dialect.name == "postgresql"):
                await conn.exec_driver_sql(statement)
            assert await _rows(conn) == before
        finally:
            await conn.rollback()

    await with_conn(store, check)


async def _a_paid_line(conn: AsyncConnection) -> dict[str, Any]:
    """A line with a SKU, of a paid order, without refunds."""
    refunded = select(Refund.id).where(Refund.order_line_id == OrderLine.id).exists()
    row = (
        await conn.execute(
            select(OrderLine.__table__)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.paid_at.is_not(None), OrderLine.sku_id.is_not(None), ~refunded)
            .order_by(OrderLine.id)
            .limit(1)
        )
    ).one()
    return dict(row._mapping)


async def test_changes_are_marked_and_the_pages_stay_exact(store: World) -> None:
    """Each change in turn (rolled back at the end): the stale days are marked, every page equals
    the lines' sums before any refresh; every other change is refreshed (then the rows equal the
    lines and nothing is marked), the rest pile up for the last refresh."""

    async def check(conn: AsyncConnection) -> None:
        await refresh(conn)
        await conn.commit()
        step = 0

        async def changed(what: str, stale: bool = True) -> None:
            nonlocal step
            step += 1
            await _stale_days_are_marked(conn, what, stale)
            await _pages_equal_the_lines(conn, what, few=True)
            if step % 2:
                assert await refresh(conn) > 0, what
                assert await sales_days.marked(conn) == 0, what
                assert await rows_differing_from_lines(conn) == [], what

        try:
            line = await _a_paid_line(conn)
            paid_at = await conn.scalar(select(Order.paid_at).where(Order.id == line["order_id"]))
            assert paid_at is not None

            new = {k: v for k, v in line.items() if k != "id"} | {
                "platform_line_id": "sales-days-test",
                "paid_fen": 777,
            }
            new_id = await conn.scalar(insert(OrderLine).values(**new).returning(OrderLine.id))
            await changed("a new line")

            later = paid_at + timedelta(days=5)
            refund = {
                "shop_id": line["shop_id"],
                "platform_refund_id": "sales-days-test",
                "platform_order_id": "sales-days-test",
                "platform_line_id": "sales-days-test",
                "order_line_id": new_id,
                "status": RefundStatus.SUCCEEDED,
                "status_rank": RefundStatus.SUCCEEDED.rank,
                "platform_status": "SUCCESS",
                "amount_fen": 300,
                "quantity": 1,
                "created_at": later,
                "modified_at": later,
            }
            refund_id = await conn.scalar(insert(Refund).values(**refund).returning(Refund.id))
            await changed("a refund succeeded")

            await conn.execute(
                update(Order).where(Order.id == line["order_id"]).values(paid_at=paid_at + timedelta(days=2))
            )
            await changed("the order's payment moved two days")

            product = await conn.scalar(select(Sku.product_id).where(Sku.id == line["sku_id"]))
            other_sku = await conn.scalar(select(Sku.id).where(Sku.product_id != product).order_by(Sku.id).limit(1))
            assert other_sku is not None
            await conn.execute(update(OrderLine).where(OrderLine.id == new_id).values(sku_id=other_sku))
            await changed("the line's SKU remapped")

            channel = await conn.scalar(select(Shop.channel_type).where(Shop.id == line["shop_id"]))
            other_shop = await conn.scalar(
                select(Shop.id).where(Shop.channel_type != channel).order_by(Shop.id).limit(1)
            )
            assert other_shop is not None
            await conn.execute(update(OrderLine).where(OrderLine.id == new_id).values(shop_id=other_shop))
            await changed("the line's shop")
            await conn.execute(update(Order).where(Order.id == line["order_id"]).values(shop_id=other_shop))
            await changed("the order's shop")

            await conn.execute(update(Refund).where(Refund.id == refund_id).values(amount_fen=450))
            await changed("the refund's amount")
            await conn.execute(update(OrderLine).where(OrderLine.id == new_id).values(quantity=line["quantity"] + 3))
            await changed("the line's units")
            await conn.execute(update(Refund).where(Refund.id == refund_id).values(quantity=2))
            await changed("the refund's units")
            await conn.execute(
                update(OrderLine).where(OrderLine.id == new_id).values(refund_state=LineRefundState.FULL)
            )
            await changed("the line fully refunded")
            status = await conn.scalar(select(Order.status).where(Order.id == line["order_id"]))
            await conn.execute(update(Order).where(Order.id == line["order_id"]).values(status=OrderStatus.CANCELLED))
            await changed("the order cancelled")
            await conn.execute(update(Order).where(Order.id == line["order_id"]).values(status=status))
            await changed("the order paid again")
            await conn.execute(
                update(Refund).where(Refund.id == refund_id).values(modified_at=later + timedelta(days=3))
            )
            await changed("the refund's day")
            await conn.execute(update(Refund).where(Refund.id == refund_id).values(status=RefundStatus.CLOSED))
            await changed("the refund reverted")
            await conn.execute(update(Refund).where(Refund.id == refund_id).values(status=RefundStatus.SUCCEEDED))
            await changed("the refund succeeded again", stale=False)  # undoes the unrefreshed revert
            await conn.execute(delete(Refund).where(Refund.id == refund_id))
            await changed("the refund deleted")
            await conn.execute(delete(OrderLine).where(OrderLine.id == new_id))
            await changed("the line deleted")

            await refresh(conn)
            assert await sales_days.marked(conn) == 0
            assert await rows_differing_from_lines(conn) == []
            await _pages_equal_the_lines(conn, "after the last refresh")
        finally:
            await conn.rollback()

    await with_conn(store, check)


async def _triggers(conn: AsyncConnection) -> set[str]:
    found = await conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%sales%'"))
    return {str(name) for name in found}


async def test_a_change_without_its_trigger_is_caught(_sqlite_world: World) -> None:
    """With the line update trigger gone (in a transaction rolled back), a line's SKU changed
    leaves a stale day unmarked and the check fails: the checks above do test the triggers.
    (SQLite only: on PostgreSQL the hub's role does not own the tables, and may not drop a
    trigger; the triggers of both backends mark the same changes.)"""

    async def check(conn: AsyncConnection) -> None:
        await refresh(conn)
        await conn.commit()
        assert "order_lines_sales_update" in await _triggers(conn)
        line = await _a_paid_line(conn)
        product = await conn.scalar(select(Sku.product_id).where(Sku.id == line["sku_id"]))
        other_sku = await conn.scalar(select(Sku.id).where(Sku.product_id != product).order_by(Sku.id).limit(1))
        try:
            await conn.execute(delete(SalesDirty))  # begins the transaction (SQLite: before the DDL)
            await conn.exec_driver_sql("DROP TRIGGER order_lines_sales_update")
            await conn.execute(update(OrderLine).where(OrderLine.id == line["id"]).values(sku_id=other_sku))
            with pytest.raises(AssertionError):
                await _stale_days_are_marked(conn, "SKU changed, no trigger")
        finally:
            await conn.rollback()
        assert "order_lines_sales_update" in await _triggers(conn)

    await with_conn(_sqlite_world, check)
