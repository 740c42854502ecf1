"""Shipments: the county ships an order (carrier + tracking number) and the hub tells the
order's platform (``sync.shipments``); delivery batches: a purchasing unit's orders delivered
together on one day (``bangfu.delivery``)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bangfu.enums import Carrier, ShipmentState
from bangfu.models.base import Base, IdMixin, IdType, enum_column, utcnow


class Shipment(IdMixin, Base):
    """One order's shipment (one per order: a second ``add`` with the same tracking is the
    same shipment, another tracking replaces it while it is not pushed yet).

    ``push_state``: ``pending`` (to push at ``next_attempt_at``; ``attempts`` so far, the last
    error's class and message kept while retrying), ``pushed`` (the platform has it;
    ``pushed_at``), ``failed`` (refused: bad record, a conflicting tracking number, auth; an
    operator retries it) or ``local`` (the county's own mall or an offline shop: no platform).
    """

    __tablename__ = "shipments"
    __table_args__ = (Index("ix_shipments_state_next", "push_state", "next_attempt_at"),)

    order_id: Mapped[int] = mapped_column(IdType, ForeignKey("orders.id"), unique=True)
    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"), index=True)
    carrier: Mapped[Carrier] = enum_column(Carrier)
    tracking_no: Mapped[str] = mapped_column(String(32))
    recorded_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"))
    recorded_via: Mapped[str] = mapped_column(String(16), default="cli")  # cli | console | batch | import
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    push_state: Mapped[ShipmentState] = enum_column(ShipmentState)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error_class: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    pushed_at: Mapped[datetime | None]
    already_on_platform: Mapped[bool] = mapped_column(default=False)  # the platform had it before our push


class DeliveryBatch(IdMixin, Base):
    """A purchasing unit's orders delivered together on one day (统一配送): ``open`` while
    orders are added, ``shipped`` once marked shipped (a shipment recorded for each order).

    ``address`` is where it goes (the unit's delivery address when the batch was made)."""

    __tablename__ = "delivery_batches"
    __table_args__ = (UniqueConstraint("unit_id", "delivery_date"),)

    unit_id: Mapped[int] = mapped_column(IdType, ForeignKey("purchasing_units.id"), index=True)
    delivery_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | shipped
    address: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    shipped_at: Mapped[datetime | None]
    shipped_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"))


class DeliveryBatchOrder(IdMixin, Base):
    """An order in a delivery batch (an order is in one batch at most)."""

    __tablename__ = "delivery_batch_orders"

    batch_id: Mapped[int] = mapped_column(IdType, ForeignKey("delivery_batches.id"), index=True)
    order_id: Mapped[int] = mapped_column(IdType, ForeignKey("orders.id"), unique=True)
