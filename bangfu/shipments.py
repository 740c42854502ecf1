"""Recording a shipment (one per order): the part of ``sync.shipments`` that needs no platform,
shared by the CLI, the console and delivery batches (``bangfu.delivery``).

An order of a shop with a ship API (``SHIP_PLATFORMS`` and an endpoint) is recorded ``pending``
(pushed by ``sync.shipments``); any other (the county's own mall, offline shops) ``local``.
Recording the same carrier and tracking number again changes nothing; another one replaces a
shipment not pushed yet; a pushed one keeps its tracking number (the platform has it).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import Carrier, PlatformKind, ShipmentState
from bangfu.errors import UserError
from bangfu.models import Order, Shipment, Shop

__all__ = ["SHIP_PLATFORMS", "ShipmentError", "parse_carrier", "record_shipment"]

SHIPMENTS: Table = Shipment.__table__  # type: ignore[assignment]
ORDERS: Table = Order.__table__  # type: ignore[assignment]
SHOPS: Table = Shop.__table__  # type: ignore[assignment]

#: platforms with a ship API (the others' orders are shipped ``local``)
SHIP_PLATFORMS = frozenset(
    {
        PlatformKind.TAOBAO,
        PlatformKind.TMALL,
        PlatformKind.JD,
        PlatformKind.DOUYIN,
        PlatformKind.KUAISHOU,
        PlatformKind.YOUZAN,
    }
)


class ShipmentError(UserError):
    """A shipment that cannot be recorded (unknown order or carrier, a bad tracking number, a
    pushed one with another tracking number)."""


def parse_carrier(carrier: Carrier | str) -> Carrier:
    try:
        return Carrier(str(carrier).strip().upper())
    except ValueError:
        raise ShipmentError(f"unknown carrier {carrier!r}; one of {', '.join(c.value for c in Carrier)}") from None


def _tracking(tracking_no: str) -> str:
    tracking = tracking_no.strip()
    if not tracking.isascii() or not tracking.isalnum() or not 8 <= len(tracking) <= 30:
        raise ShipmentError(f"tracking number must be 8-30 letters/digits: {tracking_no!r}")
    return tracking


async def record_shipment(
    conn: AsyncConnection,
    order_id: int,
    carrier: Carrier | str,
    tracking_no: str,
    *,
    now: datetime,
    recorded_by: int | None = None,
    via: str = "cli",
) -> int:
    """Record the order's shipment in ``conn``'s transaction (see the module doc); its id."""
    known = parse_carrier(carrier)
    tracking = _tracking(tracking_no)
    order = (
        await conn.execute(
            select(ORDERS.c.id, ORDERS.c.shop_id, SHOPS.c.platform, SHOPS.c.base_url)
            .join(SHOPS, SHOPS.c.id == ORDERS.c.shop_id)
            .where(ORDERS.c.id == order_id)
        )
    ).first()
    if order is None:
        raise ShipmentError(f"no order {order_id}")
    pushable = PlatformKind(order.platform) in SHIP_PLATFORMS and order.base_url is not None
    state = ShipmentState.PENDING if pushable else ShipmentState.LOCAL
    existing = (await conn.execute(select(SHIPMENTS).where(SHIPMENTS.c.order_id == order_id))).first()
    if existing is not None:
        if existing.carrier == known and existing.tracking_no == tracking:
            return int(existing.id)
        if existing.push_state == ShipmentState.PUSHED:
            raise ShipmentError(
                f"order {order_id} was pushed shipped with {existing.carrier} {existing.tracking_no}; "
                "the platform keeps that tracking number"
            )
        await conn.execute(
            update(SHIPMENTS)
            .where(SHIPMENTS.c.id == existing.id)
            .values(
                carrier=known,
                tracking_no=tracking,
                recorded_by=recorded_by,
                recorded_via=via,
                recorded_at=now,
                push_state=state,
                attempts=0,
                last_error_class=None,
                last_error=None,
                next_attempt_at=None,
            )
        )
        return int(existing.id)
    inserted = await conn.execute(
        SHIPMENTS.insert()
        .values(
            order_id=order_id,
            shop_id=order.shop_id,
            carrier=known,
            tracking_no=tracking,
            recorded_by=recorded_by,
            recorded_via=via,
            recorded_at=now,
            push_state=state,
            attempts=0,
            already_on_platform=False,
        )
        .returning(SHIPMENTS.c.id)
    )
    return int(inserted.scalar_one())
