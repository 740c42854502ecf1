"""Supply lots (收购批次) and which households delivered them."""

from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bangfu.models.base import Base, Fen, IdMixin, IdType, TimestampMixin
from bangfu.models.catalog import Sku
from bangfu.models.org import Cooperative, Household, Supplier
from bangfu.trace import new_trace_code


class SupplyLot(IdMixin, TimestampMixin, Base):
    """A delivery of one SKU into stock. ``remaining`` falls as sales draw on the lot."""

    __tablename__ = "supply_lots"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= quantity", name="remaining_within_quantity"),
        CheckConstraint("(cooperative_id IS NOT NULL) OR (supplier_id IS NOT NULL)", name="has_receiver"),
    )

    lot_code: Mapped[str] = mapped_column(String(40), unique=True)
    # The public traceability code (bangfu.trace): drawn when the lot is stored, never shown
    # but on the lot's QR labels; it alone opens the public page /t/<code>.
    trace_code: Mapped[str] = mapped_column(String(32), unique=True, default=new_trace_code)
    sku_id: Mapped[int] = mapped_column(IdType, ForeignKey("skus.id"), index=True)
    cooperative_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("cooperatives.id"), index=True)
    supplier_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("suppliers.id"), index=True)
    received_on: Mapped[date] = mapped_column(Date, index=True)
    quantity: Mapped[int] = mapped_column(Integer)  # in SKU units
    remaining: Mapped[int] = mapped_column(Integer)
    harvested_on: Mapped[date | None] = mapped_column(Date)  # 采收日期
    # The lot's quality inspection (检测): who inspected it, when, and the result they gave.
    inspection_agency: Mapped[str | None] = mapped_column(String(128))
    inspected_on: Mapped[date | None] = mapped_column(Date)
    inspection_result: Mapped[str | None] = mapped_column(String(64))

    sku: Mapped[Sku] = relationship()
    cooperative: Mapped[Cooperative | None] = relationship()
    supplier: Mapped[Supplier | None] = relationship()
    contributions: Mapped[list[LotContribution]] = relationship(back_populates="lot")


class LotContribution(IdMixin, Base):
    """One household's part of a lot: quantity, grade and guaranteed price (保底价)."""

    __tablename__ = "lot_contributions"
    __table_args__ = (
        UniqueConstraint("lot_id", "household_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    lot_id: Mapped[int] = mapped_column(IdType, ForeignKey("supply_lots.id"), index=True)
    household_id: Mapped[int] = mapped_column(IdType, ForeignKey("households.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str] = mapped_column(String(8), default="A")  # coefficient comes from the policy
    guaranteed_price_fen: Mapped[int] = mapped_column(Fen, default=0)  # per unit, paid at delivery

    lot: Mapped[SupplyLot] = relationship(back_populates="contributions")
    household: Mapped[Household] = relationship()
