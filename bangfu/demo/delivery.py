"""The demo county's centralised delivery: units' orders in delivery batches, the batches already
due marked shipped, and a few platform orders shipped by the county with their shipments pushed
back to the (fake) platforms.

Core code: the push itself is ``sync.shipments``; ``bangfu demo`` (a composition root) passes
its ``push`` in. Safe to run again: batching is idempotent, only open batches are shipped, and a
shop that has demo shipments gets no more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.clock import SHANGHAI
from bangfu.delivery import assign_batches, mark_batch_shipped, shippable_orders
from bangfu.enums import Carrier, OrderStatus
from bangfu.i18n import MESSAGES
from bangfu.models import DeliveryBatch, Order, PurchasingUnit, Region, Shipment, Shop
from bangfu.shipments import SHIP_PLATFORMS, record_shipment

__all__ = ["DeliverySeed", "seed_delivery"]

MESSAGES.update(
    {
        "demo.delivery": {
            "zh": "统一配送：配送批次 {batches} 个（已发货 {shipped_batches}），"
            "平台订单发货回传 {pushed}/{platform_shipments} 笔",
            "en": "Delivery: {batches} batches ({shipped_batches} shipped), "
            "platform shipments pushed {pushed}/{platform_shipments}",
        },
    }
)

#: platform orders each shop ships in the demo (their shipments are pushed to the fakes)
PLATFORM_SHIPMENTS = 3
_CARRIERS = (Carrier.SF, Carrier.ZTO, Carrier.YTO, Carrier.EMS, Carrier.YUNDA)


@dataclass(frozen=True)
class DeliverySeed:
    batches: int
    shipped_batches: int
    platform_shipments: int
    pushed: int


def _tracking(carrier: Carrier, order_id: int) -> str:
    """A demo tracking number: the carrier's letters and 12 digits from the order id."""
    return f"{carrier.value[:2]}{7_700_000_000_000 + order_id * 7919 % 10**12:013d}"[:30]


async def seed_delivery(
    engine: AsyncEngine,
    *,
    push: Callable[[], Awaitable[Sequence[Any]]] | None = None,
    now: datetime | None = None,
) -> DeliverySeed:
    """Batch the units' orders, ship the batches due by today, ship a few platform orders per
    shop and push (``push``: ``ShipmentPusher.push``)."""
    now = now or datetime.now(UTC)
    today = now.astimezone(SHANGHAI).date()
    async with engine.begin() as conn:
        units = (
            await conn.execute(
                select(PurchasingUnit.id, PurchasingUnit.name, Region.name)
                .outerjoin(Region, Region.id == PurchasingUnit.region_id)
                .where(PurchasingUnit.delivery_address.is_(None))
            )
        ).all()
        for unit_id, name, region in units:
            place = name if not region or name.startswith(region) else f"{region}{name}"
            address = f"{place}后勤收货处（县城配送站统一送达）"
            await conn.execute(
                update(PurchasingUnit).where(PurchasingUnit.id == unit_id).values(delivery_address=address)
            )
        await assign_batches(conn, now=now)
        due = (
            await conn.execute(
                select(DeliveryBatch.id)
                .where(DeliveryBatch.status == "open", DeliveryBatch.delivery_date < today)
                .order_by(DeliveryBatch.id)
            )
        ).scalars()
        shipped = 0
        for batch_id in list(due):
            orders = await shippable_orders(conn, batch_id)
            carrier = _CARRIERS[batch_id % len(_CARRIERS)]
            tracking = {order_id: _tracking(carrier, order_id) for order_id, _ in orders}
            await mark_batch_shipped(conn, batch_id, carrier, tracking, now=now, via="batch")
            shipped += 1
        batches = len((await conn.execute(select(DeliveryBatch.id))).all())
        shops = (
            await conn.execute(
                select(Shop.id)
                .where(
                    Shop.platform.in_(sorted(SHIP_PLATFORMS)),
                    Shop.base_url.is_not(None),
                    Shop.active.is_(True),
                    Shop.id.not_in(select(Shipment.shop_id).where(Shipment.recorded_via == "demo")),
                )
                .order_by(Shop.id)
            )
        ).scalars()
        platform = 0
        for shop_id in list(shops):
            picks = (
                await conn.execute(
                    select(Order.id)
                    .where(
                        Order.shop_id == shop_id,
                        Order.status == OrderStatus.PAID,
                        Order.purchasing_unit_id.is_(None),
                        Order.id.not_in(select(Shipment.order_id)),
                    )
                    .order_by(Order.paid_at.desc(), Order.id)
                    .limit(PLATFORM_SHIPMENTS)
                )
            ).scalars()
            for n, order_id in enumerate(list(picks)):
                carrier = _CARRIERS[(shop_id + n) % len(_CARRIERS)]
                await record_shipment(conn, order_id, carrier, _tracking(carrier, order_id), now=now, via="demo")
                platform += 1
    pushed = 0
    if push is not None:
        pushed = sum(1 for line in await push() if getattr(line, "status", None) == "pushed")
    return DeliverySeed(batches, shipped, platform, pushed)
