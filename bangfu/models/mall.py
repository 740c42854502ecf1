"""The county's own mall: what the store keeps of a mall checkout beside its ``orders`` row.

The order itself (``orders``/``order_lines``, shop of platform ``selfmall`` flagged ``own_mall``)
is written through :func:`bangfu.upsert.upsert_orders` like any synced order; ``mall_orders``
holds what only the mall knows: the buyer's contact (shown masked), the stock hold and its
expiry, the purchasing unit's staff member, and the payment. ``mall_payment_events`` logs every
notify, query and refund, verified or refused.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bangfu.models.base import Base, Fen, IdMixin, IdType, utcnow


class MallOrder(IdMixin, Base):
    """One mall checkout. ``state``: ``reserved`` (awaiting payment: its units are held) ->
    ``paid`` | ``released`` (unpaid at ``expires_at``: units back, order cancelled)."""

    __tablename__ = "mall_orders"
    __table_args__ = (Index("ix_mall_orders_state_expiry", "state", "expires_at"),)

    order_no: Mapped[str] = mapped_column(String(64), unique=True)  # = orders.platform_order_id
    order_id: Mapped[int] = mapped_column(IdType, ForeignKey("orders.id"), unique=True)
    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="reserved")
    amount_fen: Mapped[int] = mapped_column(Fen)
    buyer_name: Mapped[str] = mapped_column(String(64))
    buyer_phone: Mapped[str] = mapped_column(String(32))
    buyer_address: Mapped[str] = mapped_column(Text)
    purchasing_unit_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("purchasing_units.id"), index=True)
    staff_user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"), index=True)
    campaign_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    released_at: Mapped[datetime | None]
    provider: Mapped[str] = mapped_column(String(16), default="fakepay")
    provider_txn_id: Mapped[str | None] = mapped_column(String(64))
    paid_at: Mapped[datetime | None]
    paid_by: Mapped[str | None] = mapped_column(String(16))  # notify | query
    refunded_fen: Mapped[int] = mapped_column(Fen, default=0)


class MallPaymentEvent(IdMixin, Base):
    """A payment message about a mall order: ``kind`` notify | query | refund; ``outcome`` what
    it did (paid, duplicate, refused, mismatch, pending, refunded ...)."""

    __tablename__ = "mall_payment_events"

    order_no: Mapped[str | None] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(24))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
