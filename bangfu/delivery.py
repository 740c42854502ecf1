"""Unified ordering, centralised delivery (统一下单、集中配送): purchasing units' orders
consolidated into delivery batches per unit and delivery date.

Any order carrying a purchasing unit is a unit order, whatever its shop (the scraped mall's
orders carry the unit's code; the county's own mall writes the unit straight in), except the
sales of offline shops (a counter, a vending machine): they were handed over where they were paid. A paid unit
order, not cancelled or closed and not in a batch yet, goes into its unit's batch for its
delivery date (:func:`delivery_date_for`: orders paid by the cut-off, 16:00 Beijing time, are
delivered the next day, later ones the day after). :func:`assign_batches` is idempotent: an
order is in one batch at most (a unique key), so running it again adds only new orders; an
order paid after its batch was shipped starts a batch of its own date only if that date's batch
is still open, else it waits for the next run's date (see ``_open_batch``).

:func:`mark_batch_shipped` records a shipment for each of the batch's orders that has none
(``bangfu.shipments.record_shipment``; platform orders are then pushed to their platform by
``sync.shipments``, the county's own and offline orders are ``local``) and marks the batch
shipped. Orders the platform already shipped (status shipped or later) get no shipment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Table, and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.clock import SHANGHAI
from bangfu.enums import OFFLINE_PLATFORMS, Carrier, OrderStatus
from bangfu.errors import UserError
from bangfu.models import DeliveryBatch, DeliveryBatchOrder, Order, PurchasingUnit, Shipment, Shop, order_is_paid
from bangfu.shipments import parse_carrier, record_shipment

__all__ = [
    "CUTOFF_HOUR",
    "BatchAssignment",
    "DeliveryError",
    "assign_batches",
    "delivery_date_for",
    "mark_batch_shipped",
    "shippable_orders",
]

BATCHES: Table = DeliveryBatch.__table__  # type: ignore[assignment]
BATCH_ORDERS: Table = DeliveryBatchOrder.__table__  # type: ignore[assignment]
ORDERS: Table = Order.__table__  # type: ignore[assignment]
SHOPS: Table = Shop.__table__  # type: ignore[assignment]
UNITS: Table = PurchasingUnit.__table__  # type: ignore[assignment]
SHIPMENTS: Table = Shipment.__table__  # type: ignore[assignment]

CUTOFF_HOUR = 16  # Beijing time: paid by then, delivered the next day
#: statuses a unit order is delivered in (paid, not yet shipped by anyone)
WAITING = (OrderStatus.PAID, OrderStatus.PART_SHIPPED)
#: statuses past shipping: the platform (or its seller) shipped the order already
SHIPPED = (OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED)


class DeliveryError(UserError):
    """A batch that cannot be shipped as asked (unknown, already shipped, a tracking missing)."""


def delivery_date_for(paid_at: datetime, cutoff_hour: int = CUTOFF_HOUR) -> date:
    """The day a unit order paid at ``paid_at`` is delivered (see the module doc)."""
    local = paid_at.astimezone(SHANGHAI)
    return local.date() + timedelta(days=1 if local.hour < cutoff_hour else 2)


@dataclass(frozen=True)
class BatchAssignment:
    """What a run of :func:`assign_batches` did."""

    batches_created: int
    orders_added: int
    batch_ids: tuple[int, ...]  # the batches orders were added to


async def assign_batches(conn: AsyncConnection, *, now: datetime, unit_ids: list[int] | None = None) -> BatchAssignment:
    """Put every paid unit order not in a batch into its unit's batch for its delivery date."""
    in_batch = select(BATCH_ORDERS.c.order_id)
    query = (
        select(ORDERS.c.id, ORDERS.c.purchasing_unit_id, ORDERS.c.paid_at)
        .where(
            ORDERS.c.purchasing_unit_id.is_not(None),
            order_is_paid(),
            ORDERS.c.status.in_([*WAITING, *SHIPPED]),
            ORDERS.c.id.not_in(in_batch),
            # A counter's or a vending machine's sale was handed over where it was paid.
            ORDERS.c.shop_id.not_in(select(SHOPS.c.id).where(SHOPS.c.platform.in_(OFFLINE_PLATFORMS))),
        )
        .order_by(ORDERS.c.paid_at, ORDERS.c.id)
    )
    if unit_ids is not None:
        query = query.where(ORDERS.c.purchasing_unit_id.in_(unit_ids))
    created = 0
    added = 0
    touched: dict[int, None] = {}
    cache: dict[tuple[int, date], int | None] = {}
    for order_id, unit_id, paid_at in (await conn.execute(query)).all():
        day = delivery_date_for(paid_at)
        key = (int(unit_id), day)
        if key not in cache:
            cache[key], made = await _open_batch(conn, key[0], day, now)
            created += made
        batch_id = cache[key]
        if batch_id is None:
            continue  # that day's batch left already: the order waits for a batch of its own day
        await conn.execute(BATCH_ORDERS.insert().values(batch_id=batch_id, order_id=order_id))
        touched[batch_id] = None
        added += 1
    return BatchAssignment(created, added, tuple(touched))


async def _open_batch(conn: AsyncConnection, unit_id: int, day: date, now: datetime) -> tuple[int | None, int]:
    """The unit's open batch for ``day`` (made if none): ``(id, 1 if made)``; ``(None, 0)`` when
    that day's batch is shipped already."""
    row = (
        await conn.execute(
            select(BATCHES.c.id, BATCHES.c.status).where(BATCHES.c.unit_id == unit_id, BATCHES.c.delivery_date == day)
        )
    ).first()
    if row is not None:
        return (int(row.id) if row.status == "open" else None), 0
    address = await conn.scalar(select(UNITS.c.delivery_address).where(UNITS.c.id == unit_id))
    inserted = await conn.execute(
        BATCHES.insert()
        .values(unit_id=unit_id, delivery_date=day, status="open", address=address, created_at=now)
        .returning(BATCHES.c.id)
    )
    return int(inserted.scalar_one()), 1


async def shippable_orders(conn: AsyncConnection, batch_id: int) -> list[tuple[int, str]]:
    """The batch's orders that need a shipment: ``(order id, platform order id)``, not shipped by
    the platform already and without a shipment."""
    rows = await conn.execute(
        select(ORDERS.c.id, ORDERS.c.platform_order_id)
        .join(BATCH_ORDERS, BATCH_ORDERS.c.order_id == ORDERS.c.id)
        .outerjoin(SHIPMENTS, SHIPMENTS.c.order_id == ORDERS.c.id)
        .where(BATCH_ORDERS.c.batch_id == batch_id, SHIPMENTS.c.id.is_(None), ORDERS.c.status.in_(WAITING))
        .order_by(ORDERS.c.id)
    )
    return [(int(r.id), str(r.platform_order_id)) for r in rows]


async def mark_batch_shipped(
    conn: AsyncConnection,
    batch_id: int,
    carrier: Carrier | str,
    tracking: Mapping[int, str],
    *,
    now: datetime,
    by: int | None = None,
    via: str = "batch",
    unit_ids: list[int] | None = None,
) -> list[int]:
    """Record a shipment (``carrier``, ``tracking[order id]``) for each order of the batch that
    needs one, then mark the batch shipped; the shipments' ids. All or nothing (the caller's
    transaction). ``unit_ids``: the units the caller may act for (None: any)."""
    known = parse_carrier(carrier)
    where = [BATCHES.c.id == batch_id]
    if unit_ids is not None:
        where.append(BATCHES.c.unit_id.in_(unit_ids))
    status = await conn.scalar(select(BATCHES.c.status).where(and_(*where)))
    if status is None:
        raise DeliveryError(f"no delivery batch {batch_id}")
    if status != "open":
        raise DeliveryError(f"delivery batch {batch_id} is shipped already")
    shipment_ids = []
    for order_id, platform_order_id in await shippable_orders(conn, batch_id):
        number = (tracking.get(order_id) or "").strip()
        if not number:
            raise DeliveryError(f"order {platform_order_id}: no tracking number")
        shipment_ids.append(await record_shipment(conn, order_id, known, number, now=now, recorded_by=by, via=via))
    await conn.execute(
        update(BATCHES).where(BATCHES.c.id == batch_id).values(status="shipped", shipped_at=now, shipped_by=by)
    )
    return shipment_ids
