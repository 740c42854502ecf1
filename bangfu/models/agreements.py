"""Procurement agreements (采购协议): a purchasing unit buys a supplier's products against a target.

Seed 004: hospitals, schools and companies sign purchase agreements (产品购销合作协议) with
consumption-assistance suppliers and execute them through the year. An agreement names the unit,
the supplier, its period (local dates, both included), the target in fen, and what it covers: its
``agreement_items`` (a SKU, a product or a category of the supplier's products); no item means
every product of the supplier. Optional terms: a quantity (units of everything covered), a
discount off the retail price and an agreed unit price per item. What was executed is never
stored: it is computed from the unit's orders (:mod:`bangfu.agreements.execution`).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bangfu.models.base import Base, Fen, IdMixin, IdType, TimestampMixin

#: ``agreements.status``: only an active agreement is judged and alerted on.
AGREEMENT_STATUSES = ("active", "suspended", "terminated")


class Agreement(IdMixin, TimestampMixin, Base):
    __tablename__ = "agreements"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="period_ordered"),
        CheckConstraint("target_fen > 0", name="target_positive"),
        CheckConstraint("discount_bp IS NULL OR (discount_bp >= 0 AND discount_bp < 10000)", name="discount_range"),
    )

    number: Mapped[str] = mapped_column(String(64), unique=True)  # 协议编号, the import's key
    title: Mapped[str | None] = mapped_column(String(128))
    unit_id: Mapped[int] = mapped_column(IdType, ForeignKey("purchasing_units.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(IdType, ForeignKey("suppliers.id"), index=True)
    signed_on: Mapped[date | None] = mapped_column(Date)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    target_fen: Mapped[int] = mapped_column(Fen)
    quantity: Mapped[int | None] = mapped_column(Integer)  # units of everything covered, if agreed
    discount_bp: Mapped[int | None] = mapped_column(Integer)  # off the retail price, basis points
    status: Mapped[str] = mapped_column(String(16), default="active")
    note: Mapped[str | None] = mapped_column(Text)

    items: Mapped[list[AgreementItem]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", order_by="AgreementItem.id"
    )


class AgreementItem(IdMixin, Base):
    """What an agreement covers: exactly one of a SKU, a product or a category (of its supplier)."""

    __tablename__ = "agreement_items"
    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN sku_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN product_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN category IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_target",
        ),
    )

    agreement_id: Mapped[int] = mapped_column(IdType, ForeignKey("agreements.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("skus.id"))
    product_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("products.id"))
    category: Mapped[str | None] = mapped_column(String(32))
    unit_price_fen: Mapped[int | None] = mapped_column(Fen)  # the agreed price of one unit, if any

    agreement: Mapped[Agreement] = relationship(back_populates="items")
