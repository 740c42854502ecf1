"""Shipments as the operator console shows them (``/operator/shipments``): every shipment of
the shops in the user's scope with its push state, attempts, last error and next retry, newest
first, filtered by state and shop; and counts per state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import Carrier, ShipmentState
from bangfu.models import Order, PurchasingUnit, Shipment, Shop, User
from bangfu.queries.operator import operates
from bangfu.scope import Scope

__all__ = ["ShipmentRow", "ShipmentsPage", "shipments_page"]


@dataclass(frozen=True)
class ShipmentRow:
    id: int
    shop_id: int
    shop_name: str
    platform: str
    order_id: int
    platform_order_id: str
    unit_name: str | None
    carrier: Carrier
    tracking_no: str
    recorded_via: str
    recorded_by: str | None
    recorded_at: datetime
    state: ShipmentState
    attempts: int
    last_error_class: str | None
    last_error: str | None
    next_attempt_at: datetime | None
    pushed_at: datetime | None
    already_on_platform: bool

    @property
    def retryable(self) -> bool:
        return self.state in (ShipmentState.FAILED, ShipmentState.PENDING)


@dataclass(frozen=True)
class ShipmentsPage:
    rows: list[ShipmentRow]
    total: int  # rows matching the filters
    counts: dict[str, int]  # per state, the shop filter applied
    shops: list[tuple[int, str]]  # the shops in scope that have shipments


async def shipments_page(
    conn: AsyncConnection,
    scope: Scope,
    *,
    state: ShipmentState | None = None,
    shop_id: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> ShipmentsPage | None:
    """The page, or None for a user who operates no shops."""
    if not operates(scope):
        return None
    base = [scope.shops(Shipment.shop_id)]
    if shop_id is not None:
        base.append(Shipment.shop_id == shop_id)
    counts = {
        ShipmentState(row[0]).value: int(row[1])
        for row in await conn.execute(
            select(Shipment.push_state, func.count()).where(*base).group_by(Shipment.push_state)
        )
    }
    wanted = [*base, Shipment.push_state == state] if state is not None else base
    total = int(await conn.scalar(select(func.count()).select_from(Shipment).where(*wanted)) or 0)
    query = (
        select(
            Shipment.id,
            Shipment.shop_id,
            Shop.name.label("shop_name"),
            Shop.platform,
            Shipment.order_id,
            Order.platform_order_id,
            PurchasingUnit.name.label("unit_name"),
            Shipment.carrier,
            Shipment.tracking_no,
            Shipment.recorded_via,
            User.name.label("recorded_by"),
            Shipment.recorded_at,
            Shipment.push_state,
            Shipment.attempts,
            Shipment.last_error_class,
            Shipment.last_error,
            Shipment.next_attempt_at,
            Shipment.pushed_at,
            Shipment.already_on_platform,
        )
        .join(Shop, Shop.id == Shipment.shop_id)
        .join(Order, Order.id == Shipment.order_id)
        .outerjoin(PurchasingUnit, PurchasingUnit.id == Order.purchasing_unit_id)
        .outerjoin(User, User.id == Shipment.recorded_by)
        .where(*wanted)
        .order_by(Shipment.recorded_at.desc(), Shipment.id.desc())
        .offset(offset)
        .limit(limit)
    )
    rows = [
        ShipmentRow(
            id=r.id,
            shop_id=r.shop_id,
            shop_name=r.shop_name,
            platform=str(r.platform),
            order_id=r.order_id,
            platform_order_id=r.platform_order_id,
            unit_name=r.unit_name,
            carrier=Carrier(r.carrier),
            tracking_no=r.tracking_no,
            recorded_via=r.recorded_via,
            recorded_by=r.recorded_by,
            recorded_at=r.recorded_at,
            state=ShipmentState(r.push_state),
            attempts=r.attempts,
            last_error_class=r.last_error_class,
            last_error=r.last_error,
            next_attempt_at=r.next_attempt_at,
            pushed_at=r.pushed_at,
            already_on_platform=r.already_on_platform,
        )
        for r in await conn.execute(query)
    ]
    shops = [
        (int(r.id), str(r.name))
        for r in await conn.execute(
            select(Shop.id, Shop.name)
            .where(scope.shops(Shop.id), Shop.id.in_(select(Shipment.shop_id).distinct()))
            .order_by(Shop.id)
        )
    ]
    return ShipmentsPage(rows, total, counts, shops)
