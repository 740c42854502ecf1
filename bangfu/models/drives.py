"""Enterprise-driven households (企业带动农户): households an enterprise supplier drives by order
purchase, employment, land lease or dividends, and what it paid them per month.

These households are usually not cooperative members, so they live in their own table, never in
``households`` and never in the ledger: what an enterprise pays a household is its own line in the
带动 figures, beside the cooperative members' ledger income. The identity number is kept only as a
keyed hash (PIPL), as for members; when it matches a member's hash the row is linked to that
household (``household_id``), so the family is counted once where both lines are added up.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bangfu.enums import HouseholdCategory
from bangfu.models.base import Base, Fen, IdMixin, IdType, TimestampMixin, enum_column


class DriveMode(StrEnum):
    """How an enterprise drives a household (the order is the pages' order)."""

    ORDER_PURCHASE = "order_purchase"  # 订单收购: buys the household's produce
    EMPLOYMENT = "employment"  # 务工: wages
    LAND_LEASE = "land_lease"  # 土地流转: rent for the household's land
    DIVIDEND = "dividend"  # 入股分红: dividends on the household's shares


class DriveHousehold(IdMixin, TimestampMixin, Base):
    """A household an enterprise drives, as the enterprise's records name it."""

    __tablename__ = "drive_households"
    __table_args__ = (UniqueConstraint("enterprise_id", "household_ref"),)

    enterprise_id: Mapped[int] = mapped_column(IdType, ForeignKey("suppliers.id"), index=True)
    household_ref: Mapped[str] = mapped_column(String(32))  # the enterprise's own number for it
    head_name: Mapped[str] = mapped_column(String(64))
    category: Mapped[HouseholdCategory] = enum_column(HouseholdCategory)
    village: Mapped[str] = mapped_column(String(64))
    id_number_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # The cooperative member household with the same identity number, if any.
    household_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("households.id"), index=True)


class DriveEntry(IdMixin, TimestampMixin, Base):
    """What an enterprise paid one household in one month by one mode, in fen.

    ``computed``: the hub worked the amount out (an order purchase from ``quantity_g`` x
    ``price_fen`` per kg; a dividend as the household's ``shares`` of the month's pool);
    otherwise the enterprise declared it.
    """

    __tablename__ = "drive_entries"
    __table_args__ = (UniqueConstraint("drive_household_id", "mode", "month"),)

    drive_household_id: Mapped[int] = mapped_column(IdType, ForeignKey("drive_households.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(IdType, ForeignKey("suppliers.id"), index=True)
    mode: Mapped[DriveMode] = enum_column(DriveMode)
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM, Asia/Shanghai
    amount_fen: Mapped[int] = mapped_column(Fen)
    computed: Mapped[bool] = mapped_column(Boolean, default=False)
    quantity_g: Mapped[int | None] = mapped_column(BigInteger)  # order purchase: grams bought
    price_fen: Mapped[int | None] = mapped_column(Fen)  # order purchase: price per kg
    shares: Mapped[int | None] = mapped_column(Integer)  # dividend: the household's shares


class DividendPool(IdMixin, TimestampMixin, Base):
    """An enterprise's dividend pool for a month, split over its shareholding households."""

    __tablename__ = "drive_dividend_pools"
    __table_args__ = (UniqueConstraint("enterprise_id", "month"),)

    enterprise_id: Mapped[int] = mapped_column(IdType, ForeignKey("suppliers.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))
    pool_fen: Mapped[int] = mapped_column(Fen)
    shares_total: Mapped[int] = mapped_column(Integer)
