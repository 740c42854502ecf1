"""Plain-insert helpers for the reconciliation, unsold-alert and report tests."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import ChannelType, OrderStatus, PlatformKind, RefundStatus, SettlementKind, SupplierKind
from bangfu.models import (
    Cooperative,
    Order,
    OrderLine,
    Product,
    Refund,
    Region,
    SettlementLine,
    Shop,
    Sku,
    Supplier,
    SupplyLot,
)

_seq = itertools.count(1)


def at(text: str) -> datetime:
    """``2026-10-05T12:00`` as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def new_id(conn: AsyncConnection, model: Any, **values: Any) -> int:
    result = await conn.execute(insert(model).values(**values).returning(model.id))
    return int(result.scalar_one())


async def base(conn: AsyncConnection, *, channel: ChannelType = ChannelType.LIVE) -> dict[str, int]:
    n = next(_seq)
    county = await new_id(conn, Region, code=f"5{n:05d}", name="玛多县", level="county")
    supplier = await new_id(
        conn,
        Supplier,
        credit_code=f"93{n:016d}",
        name="玛多牦牛合作社",
        kind=SupplierKind.COOPERATIVE,
        county_id=county,
    )
    coop = await new_id(conn, Cooperative, supplier_id=supplier)
    shop = await new_id(
        conn,
        Shop,
        name="县长直播间",
        platform=PlatformKind.DOUYIN,
        channel_type=channel,
        platform_shop_id=f"S{n}",
        settings={},
    )
    product = await new_id(conn, Product, spu_code=f"P{n}", name="牦牛肉", category="meat", supplier_id=supplier)
    sku = await new_id(
        conn, Sku, sku_code=f"SKU{n}", product_id=product, spec="500g", unit="袋", retail_price_fen=10000
    )
    return {"county": county, "supplier": supplier, "coop": coop, "shop": shop, "product": product, "sku": sku}


async def add_order(
    conn: AsyncConnection,
    shop: int,
    number: str,
    paid_at: datetime | None,
    lines: list[int],
    *,
    sku: int | None = None,
    status: OrderStatus = OrderStatus.COMPLETED,
    buyer: str | None = None,
    post_fee: int = 0,
    unit: int | None = None,
    quantity: int = 1,
) -> tuple[int, list[int]]:
    order = await new_id(
        conn,
        Order,
        shop_id=shop,
        platform_order_id=number,
        status=status,
        status_rank=status.rank,
        platform_status=status.value,
        created_at=paid_at or at("2026-10-01T00:00"),
        paid_at=paid_at,
        modified_at=paid_at or at("2026-10-01T00:00"),
        paid_fen=sum(lines) + post_fee,
        post_fee_fen=post_fee,
        buyer_ref=buyer,
        purchasing_unit_id=unit,
    )
    ids = []
    for k, paid in enumerate(lines):
        ids.append(
            await new_id(
                conn,
                OrderLine,
                order_id=order,
                shop_id=shop,
                platform_line_id=f"{number}-{k}",
                sku_id=sku,
                platform_item_id="I1",
                quantity=quantity,
                unit_price_fen=paid // quantity,
                paid_fen=paid,
            )
        )
    return order, ids


async def add_refund(
    conn: AsyncConnection, shop: int, number: str, line_id: int | None, amount: int, when: datetime
) -> int:
    return await new_id(
        conn,
        Refund,
        shop_id=shop,
        platform_refund_id=f"R{next(_seq)}",
        platform_order_id=number,
        order_line_id=line_id,
        status=RefundStatus.SUCCEEDED,
        status_rank=RefundStatus.SUCCEEDED.rank,
        platform_status="succeeded",
        amount_fen=amount,
        created_at=when,
        modified_at=when,
    )


async def add_bill(
    conn: AsyncConnection, shop: int, number: str | None, kind: SettlementKind, amount: int, when: datetime
) -> None:
    await new_id(
        conn,
        SettlementLine,
        shop_id=shop,
        platform_bill_id=f"B{next(_seq)}",
        platform_order_id=number,
        kind=kind,
        amount_fen=amount,
        settled_at=when,
    )


async def add_lot(conn: AsyncConnection, sku: int, supplier: int, received: date, quantity: int, remaining: int) -> int:
    return await new_id(
        conn,
        SupplyLot,
        lot_code=f"LOT{next(_seq)}",
        sku_id=sku,
        supplier_id=supplier,
        received_on=received,
        quantity=quantity,
        remaining=remaining,
    )
