"""Stock: how one truth per SKU is shared out to channels, and what was pushed to each.

The truth for a SKU is what its supply lots hold (``supply_lots.remaining``) less what has
been sold and not yet drawn from a lot. ``stock_rules`` say how to share it between shops
(a share, a floor); ``stock_reservations`` hold units back for a scheduled live session;
``stock_pushes`` records every delta sent to a platform under its idempotency key.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from bangfu.models.base import Base, IdMixin, IdType, utcnow


class StockRule(IdMixin, Base):
    """How much of a SKU's stock a shop may sell: ``share_bp`` of it, at least ``floor`` units.

    A rule with ``sku_id`` NULL is the shop's default for every SKU.
    """

    __tablename__ = "stock_rules"
    __table_args__ = (
        UniqueConstraint("shop_id", "sku_id"),
        CheckConstraint("share_bp >= 0 AND share_bp <= 10000", name="share_in_range"),
        CheckConstraint("floor >= 0", name="floor_not_negative"),
    )

    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"), index=True)
    sku_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("skus.id"), index=True)
    share_bp: Mapped[int] = mapped_column(Integer)
    floor: Mapped[int] = mapped_column(Integer, default=0)
    priority: Mapped[int] = mapped_column(Integer, default=0)  # who gets leftover units first


class StockReservation(IdMixin, Base):
    """Units held for one shop (usually a scheduled live session) between two times."""

    __tablename__ = "stock_reservations"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"), index=True)
    sku_id: Mapped[int] = mapped_column(IdType, ForeignKey("skus.id"), index=True)
    live_session_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("live_sessions.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)


class StockPush(IdMixin, Base):
    """One stock delta sent to a platform listing; the key makes a retry a no-op."""

    __tablename__ = "stock_pushes"

    idempotency_key: Mapped[str] = mapped_column(String(96), unique=True)
    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"), index=True)
    listing_id: Mapped[int] = mapped_column(IdType, ForeignKey("listings.id"), index=True)
    allocated_before: Mapped[int] = mapped_column(Integer)
    allocated_after: Mapped[int] = mapped_column(Integer)
    delta: Mapped[int] = mapped_column(Integer)
    platform_stock_after: Mapped[int | None] = mapped_column(Integer)
    #: pending | done | failed | uncertain | not_applied (an uncertain push settled as not applied)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
    # An uncertain push settled by reading the platform's stock back (sync/stock.py, settle):
    settled_at: Mapped[datetime | None]
    settled_by: Mapped[str | None] = mapped_column(String(128))  # a console user's name, or cli:<login>
    settled_stock: Mapped[int | None] = mapped_column(Integer)  # the stock read back
    settle_note: Mapped[str | None] = mapped_column(Text)  # how the verdict was reached


class LotAllocation(IdMixin, Base):
    """Units of an order line drawn from (or, negative, returned to) a supply lot.

    Append-only: a draw is recorded once under its ``source_key`` and never moves; a refund
    returns units with a new row.
    """

    __tablename__ = "lot_allocations"
    __table_args__ = (CheckConstraint("quantity <> 0", name="quantity_nonzero"),)

    source_key: Mapped[str] = mapped_column(String(128), unique=True)
    order_line_id: Mapped[int] = mapped_column(IdType, ForeignKey("order_lines.id"), index=True)
    lot_id: Mapped[int] = mapped_column(IdType, ForeignKey("supply_lots.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)  # positive draw, negative return
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LineStock(Base):
    """One row per order line, kept by triggers (migration 0042): the line's SKU, shop, item and
    quantity as ``order_lines`` holds them, and ``drawn_units``, the sum of its ``lot_allocations``
    (draws less returns), and ``unsold``, whether its order is cancelled or closed (migration
    0043). Never written by the application.

    The stock truth (``bangfu.stock_truth``) reads the units sold and not yet drawn from the rows
    with ``quantity <> drawn_units`` and not ``unsold`` only (partial indexes): a fully drawn line
    adds 0, and a line of a cancelled or closed order is not sold.
    """

    __tablename__ = "line_stock"
    __table_args__ = (
        Index(
            "ix_line_stock_undrawn_sku",
            "sku_id",
            # Not the lines without a SKU (migration 0049): the reader asks for ``sku_id = <a SKU>``.
            # SQLite keeps 0043's predicate (0049 changes PostgreSQL's schema only).
            postgresql_where=text("sku_id IS NOT NULL AND quantity <> drawn_units AND unsold = false"),
            sqlite_where=text("quantity <> drawn_units AND unsold = 0"),
        ),
        Index(
            "ix_line_stock_undrawn_unmapped",
            "shop_id",
            "platform_item_id",
            postgresql_where=text("sku_id IS NULL AND quantity <> drawn_units AND unsold = false"),
            sqlite_where=text("sku_id IS NULL AND quantity <> drawn_units AND unsold = 0"),
        ),
    )

    order_line_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    sku_id: Mapped[int | None] = mapped_column(IdType)
    shop_id: Mapped[int] = mapped_column(IdType)
    platform_item_id: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    drawn_units: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: the order is cancelled or closed: never sold (the partial indexes leave the row out)
    unsold: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class WebhookEvent(IdMixin, Base):
    """A platform push, kept once per (platform, event key); processing pulls the order (and the
    refund an after-sale message names) again."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("platform", "event_key"),)

    platform: Mapped[str] = mapped_column(String(16))
    event_key: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    shop_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("shops.id"), index=True)
    platform_order_id: Mapped[str | None] = mapped_column(String(64))
    platform_refund_id: Mapped[str | None] = mapped_column(String(64))  # after-sale messages: pulled too
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="received")  # received | done | failed
    error: Mapped[str | None] = mapped_column(Text)
