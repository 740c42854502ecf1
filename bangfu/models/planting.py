"""Order planting (订单种植): past seasons' sell-through a county imports, and the purchase
contracts (订单收购合同) cooperatives accept from their suggested supply plan (``bangfu.planting``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bangfu.models.base import Base, Fen, IdMixin, IdType, utcnow


class PlantingHistory(IdMixin, Base):
    """One product's sell-through in one season and channel before the hub kept it (imported).

    An imported cell is the whole figure of that (product, season, channel): it stands in for
    what the hub's own orders give for the same cell, never adds to it.
    """

    __tablename__ = "planting_history"
    __table_args__ = (
        UniqueConstraint("product_id", "season", "channel"),
        CheckConstraint("units >= 0", name="units_not_negative"),
    )

    product_id: Mapped[int] = mapped_column(IdType, ForeignKey("products.id"), index=True)
    season: Mapped[str] = mapped_column(String(7))  # 2025Q3 (bangfu.planting.seasons)
    channel: Mapped[str] = mapped_column(String(16))  # a ChannelType value
    units: Mapped[int] = mapped_column(Integer)  # net of refunds, in the product's SKU units
    amount_fen: Mapped[int] = mapped_column(Fen)  # net of refunds
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlantingContract(IdMixin, Base):
    """A cooperative's purchase contract for one product and season at a guaranteed price.

    ``quantity`` is what the cooperative undertakes to deliver (its suggested plan, or what it
    chose to accept); the forecast behind it is kept as it was when accepted.
    """

    __tablename__ = "planting_contracts"
    __table_args__ = (
        UniqueConstraint("cooperative_id", "product_id", "season"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("price_fen > 0", name="price_positive"),
    )

    cooperative_id: Mapped[int] = mapped_column(IdType, ForeignKey("cooperatives.id"), index=True)
    product_id: Mapped[int] = mapped_column(IdType, ForeignKey("products.id"), index=True)
    season: Mapped[str] = mapped_column(String(7))
    quantity: Mapped[int] = mapped_column(Integer)
    price_fen: Mapped[int] = mapped_column(Fen)  # guaranteed price per unit (保底收购价)
    forecast_units: Mapped[int] = mapped_column(Integer)  # the product's forecast when accepted
    forecast_model: Mapped[str] = mapped_column(String(24))
    accepted_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"))
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)
