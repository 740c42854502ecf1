"""The hub's side of the comparison with a platform's ground truth, per shop."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.enums import OrderStatus, RefundStatus
from bangfu.models import Order, OrderLine, Refund, Shop

PAID_RANK = OrderStatus.PAID.rank


async def shop_stats(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Per shop: orders, order_lines, refunds, paid_fen (orders that were paid), refunded_fen (succeeded)."""
    orders = (
        select(
            Order.shop_id,
            func.count().label("orders"),
            func.coalesce(func.sum(case((Order.status_rank >= PAID_RANK, Order.paid_fen), else_=0)), 0).label("paid"),
        )
        .group_by(Order.shop_id)
        .subquery()
    )
    lines = select(OrderLine.shop_id, func.count().label("lines")).group_by(OrderLine.shop_id).subquery()
    refunds = (
        select(
            Refund.shop_id,
            func.count().label("refunds"),
            func.coalesce(
                func.sum(case((Refund.status == RefundStatus.SUCCEEDED, Refund.amount_fen), else_=0)), 0
            ).label("refunded"),
        )
        .group_by(Refund.shop_id)
        .subquery()
    )
    query = (
        select(
            Shop.id,
            Shop.name,
            Shop.platform,
            Shop.platform_shop_id,
            func.coalesce(orders.c.orders, 0),
            func.coalesce(lines.c.lines, 0),
            func.coalesce(refunds.c.refunds, 0),
            func.coalesce(orders.c.paid, 0),
            func.coalesce(refunds.c.refunded, 0),
        )
        .outerjoin(orders, orders.c.shop_id == Shop.id)
        .outerjoin(lines, lines.c.shop_id == Shop.id)
        .outerjoin(refunds, refunds.c.shop_id == Shop.id)
        .order_by(Shop.id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        {
            "shop": shop_id,
            "name": name,
            "platform": str(platform),
            "platform_shop_id": platform_shop_id,
            "orders": int(n_orders),
            "order_lines": int(n_lines),
            "refunds": int(n_refunds),
            "paid_fen": int(paid),
            "refunded_fen": int(refunded),
        }
        for shop_id, name, platform, platform_shop_id, n_orders, n_lines, n_refunds, paid, refunded in rows
    ]
