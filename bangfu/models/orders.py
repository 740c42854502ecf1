"""Sales as the platforms report them: orders, lines, refunds and settlement-bill lines.

Idempotency keys are unique constraints: (shop, platform id) on every table, so an upsert
from a re-sync never creates a second row.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bangfu.enums import UNPAID_ORDER_STATUSES, LineRefundState, OrderStatus, RefundStatus, SettlementKind
from bangfu.models.base import Base, Fen, IdMixin, IdType, RawPayload, enum_column, utcnow

#: Foreign keys that PostgreSQL enforces with set-based triggers instead of constraints
#: (migration 0038: one check per statement over its new rows, the parents' deletes and
#: renumberings refused as before). The models keep them: the ORM orders its writes by them,
#: and SQLite keeps them as foreign keys.
TRIGGER_CHECKED_REFERENCES = frozenset(
    {
        "fk_orders_shop_id_shops",
        "fk_orders_purchasing_unit_id_purchasing_units",
        "fk_order_lines_order_id_orders",
        "fk_order_lines_shop_id_shops",
        "fk_order_lines_sku_id_skus",
    }
)


#: Indexes PostgreSQL's migrations make on expressions and the models do not declare (SQLite has
#: no such index, and alembic cannot compare expression indexes there).
MIGRATION_ONLY_INDEXES = frozenset({"ix_journals_order_line"})  # migration 0050

#: Indexes of the change queue that PostgreSQL does without (migration 0053): its primary key is
#: ``(stage, id)`` there, which serves every reader; SQLite keeps ``id`` (the rowid) as its key
#: and these indexes, as the models declare.
QUEUE_INDEXES_IN_KEY = frozenset({"ix_line_changes_stage_id", "ix_line_changes_order_line_id"})


def schema_comparison_filter(dialect: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """An ``include_object`` for alembic's schema comparison on ``dialect``: on PostgreSQL the
    foreign keys in :data:`TRIGGER_CHECKED_REFERENCES` are triggers, not constraints, the
    indexes in :data:`MIGRATION_ONLY_INDEXES` are the migrations' alone and those in
    :data:`QUEUE_INDEXES_IN_KEY` are not made."""

    def include(_obj: Any, name: str | None, type_: str, reflected: bool, _compare_to: Any) -> bool:
        if dialect != "postgresql":
            return True
        if type_ == "index":
            if reflected:
                return name not in MIGRATION_ONLY_INDEXES
            return name not in QUEUE_INDEXES_IN_KEY
        return not (type_ == "foreign_key_constraint" and not reflected and name in TRIGGER_CHECKED_REFERENCES)

    return include


class Order(IdMixin, Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("shop_id", "platform_order_id"),
        Index("ix_orders_shop_modified", "shop_id", "modified_at"),
        # A marked day's sales summed live (bangfu.sales_days, migration 0041).
        Index("ix_orders_paid_at", "paid_at"),
        # The few closed orders, whose refunds put units back (workers.lot_draws, migration 0037).
        Index(
            "ix_orders_closed",
            "id",
            postgresql_where=text("status = 'closed'"),
            sqlite_where=text("status = 'closed'"),
        ),
    )

    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"))
    platform_order_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[OrderStatus] = enum_column(OrderStatus)
    # OrderStatus.rank, stored so an upsert can refuse to move a record backwards in SQL.
    status_rank: Mapped[int] = mapped_column(Integer, default=0)
    platform_status: Mapped[str] = mapped_column(String(48))
    created_at: Mapped[datetime] = mapped_column(index=True)
    paid_at: Mapped[datetime | None]
    modified_at: Mapped[datetime]
    paid_fen: Mapped[int] = mapped_column(Fen)
    post_fee_fen: Mapped[int] = mapped_column(Fen, default=0)
    discount_fen: Mapped[int] = mapped_column(Fen, default=0)
    buyer_ref: Mapped[str | None] = mapped_column(String(64))  # keyed hash, never the raw id
    purchasing_unit_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("purchasing_units.id"), index=True)
    room_id: Mapped[str | None] = mapped_column(String(64))
    author_id: Mapped[str | None] = mapped_column(String(64))
    campaign_code: Mapped[str | None] = mapped_column(String(64))
    raw: Mapped[dict[str, Any] | None] = mapped_column(RawPayload)
    content_hash: Mapped[str] = mapped_column(String(32), default="")  # of the normalised record
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)

    lines: Mapped[list[OrderLine]] = relationship(back_populates="order")


def order_is_paid() -> ColumnElement[bool]:
    """SQL: the order was paid (:attr:`OrderStatus.is_paid`) and its payment time is known; the
    one paid-order filter of the queries and the accounting stages."""
    return and_(Order.paid_at.is_not(None), Order.status.not_in(UNPAID_ORDER_STATUSES))


class OrderLine(IdMixin, Base):
    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("shop_id", "platform_line_id"),)

    order_id: Mapped[int] = mapped_column(IdType, ForeignKey("orders.id"), index=True)
    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"))
    platform_line_id: Mapped[str] = mapped_column(String(64))
    listing_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("listings.id"))
    sku_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("skus.id"), index=True)
    platform_item_id: Mapped[str] = mapped_column(String(64))
    platform_sku_id: Mapped[str | None] = mapped_column(String(64))
    outer_sku_id: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255), default="")
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(Fen)
    paid_fen: Mapped[int] = mapped_column(Fen)
    refund_state: Mapped[LineRefundState] = enum_column(LineRefundState, default=LineRefundState.NONE)
    room_id: Mapped[str | None] = mapped_column(String(64))
    author_id: Mapped[str | None] = mapped_column(String(64))
    # Bumped whenever the line's money or refund state changes; workers key events on it.
    version: Mapped[int] = mapped_column(Integer, default=1)
    content_hash: Mapped[str] = mapped_column(String(32), default="")

    order: Mapped[Order] = relationship(back_populates="lines")


class Refund(IdMixin, Base):
    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("shop_id", "platform_refund_id"),
        Index("ix_refunds_shop_modified", "shop_id", "modified_at"),
    )

    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"))
    platform_refund_id: Mapped[str] = mapped_column(String(64))
    platform_order_id: Mapped[str] = mapped_column(String(64), index=True)
    platform_line_id: Mapped[str | None] = mapped_column(String(64))
    order_line_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("order_lines.id"), index=True)
    status: Mapped[RefundStatus] = enum_column(RefundStatus)
    status_rank: Mapped[int] = mapped_column(Integer, default=0)
    platform_status: Mapped[str] = mapped_column(String(48))
    amount_fen: Mapped[int] = mapped_column(Fen)
    quantity: Mapped[int | None] = mapped_column(Integer)
    with_return: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]
    raw: Mapped[dict[str, Any] | None] = mapped_column(RawPayload)
    content_hash: Mapped[str] = mapped_column(String(32), default="")


class SettlementLine(IdMixin, Base):
    """One line of a platform's settlement bill (payout, fee, refund...), signed fen."""

    __tablename__ = "settlement_lines"
    __table_args__ = (UniqueConstraint("shop_id", "platform_bill_id"),)

    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"))
    platform_bill_id: Mapped[str] = mapped_column(String(64))
    platform_order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    platform_line_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[SettlementKind] = enum_column(SettlementKind)
    amount_fen: Mapped[int] = mapped_column(Fen)
    settled_at: Mapped[datetime] = mapped_column(index=True)
    raw: Mapped[dict[str, Any] | None] = mapped_column(RawPayload)
    content_hash: Mapped[str] = mapped_column(String(32), default="")


class SalesDay(Base):
    """The paid amount of the order lines whose order was paid on one Asia/Shanghai day, per the
    order's shop, the line's shop and the line's SKU (0: none); ``lines`` counts them
    (``bangfu.sales_days``, migration 0041). A day with a row in ``sales_dirty`` is summed from
    the lines instead."""

    __tablename__ = "sales_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    order_shop_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    shop_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    sku_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    fen: Mapped[int] = mapped_column(Fen)
    lines: Mapped[int] = mapped_column(Integer)
    # Of the lines of paid orders (order_is_paid), net of each line's succeeded refunds of any
    # day: how many, units left (0 for a fully refunded line, never below 0), fen (planting).
    paid_lines: Mapped[int] = mapped_column(Integer)
    units_left: Mapped[int] = mapped_column(BigInteger)
    net_fen: Mapped[int] = mapped_column(Fen)


class SalesRefundDay(Base):
    """The succeeded refunds' amount on one Asia/Shanghai day they succeeded (``modified_at``),
    per the refund's shop, its line's SKU (0: none) and the day its line's order was paid
    (``bangfu.sales_days.NO_DAY``: no line or no payment time); ``refunds`` counts them."""

    __tablename__ = "sales_refund_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    shop_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    sku_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    sale_day: Mapped[date] = mapped_column(Date, primary_key=True)
    fen: Mapped[int] = mapped_column(Fen)
    refunds: Mapped[int] = mapped_column(Integer)


class SalesOrderDay(Base):
    """The orders paid on one Asia/Shanghai day, per the order's shop: how many, their
    ``paid_fen`` split by paid status (``status_rank`` paid or later / the others) and their
    ``post_fee_fen`` (``bangfu.sales_days``, migration 0045). A day with a row in
    ``sales_dirty`` is summed from the orders instead."""

    __tablename__ = "sales_order_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    shop_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    orders: Mapped[int] = mapped_column(Integer)
    paid_fen: Mapped[int] = mapped_column(Fen)  # of orders in a paid status
    paid_time_only_fen: Mapped[int] = mapped_column(Fen)  # of the others (a paid time only)
    post_fee_fen: Mapped[int] = mapped_column(Fen)


class SalesDirty(IdMixin, Base):
    """A day whose ``sales_days``, ``sales_refund_days`` and ``sales_order_days`` rows may be
    stale: written by triggers (never by the application), removed by the refresh that read it."""

    __tablename__ = "sales_dirty"
    __table_args__ = (Index("ix_sales_dirty_day", "day"),)

    day: Mapped[date] = mapped_column(Date)
