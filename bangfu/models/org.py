"""Where produce comes from: regions, suppliers, cooperatives, member households, policies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bangfu.enums import HouseholdCategory, SupplierKind
from bangfu.models.base import Base, Fen, IdMixin, IdType, JSONDoc, TimestampMixin, enum_column, utcnow


class Region(IdMixin, Base):
    """Province, city, county, township or village, by administrative division code."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))  # province | city | county | township | village
    parent_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("regions.id"), index=True)
    # Counties under national assistance (国家乡村振兴重点帮扶县 and the like).
    assisted: Mapped[bool] = mapped_column(default=False)


class Supplier(IdMixin, TimestampMixin, Base):
    """经营主体: an enterprise or cooperative that supplies certified products."""

    __tablename__ = "suppliers"

    credit_code: Mapped[str] = mapped_column(String(18), unique=True)  # 统一社会信用代码
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[SupplierKind] = enum_column(SupplierKind)
    county_id: Mapped[int] = mapped_column(IdType, ForeignKey("regions.id"), index=True)
    contact_name: Mapped[str | None] = mapped_column(String(64))
    contact_phone_masked: Mapped[str | None] = mapped_column(String(20))

    county: Mapped[Region] = relationship()
    cooperative: Mapped[Cooperative | None] = relationship(back_populates="supplier")


class Cooperative(IdMixin, TimestampMixin, Base):
    """农民专业合作社: a supplier with member households and member accounts (art. 43)."""

    __tablename__ = "cooperatives"

    supplier_id: Mapped[int] = mapped_column(IdType, ForeignKey("suppliers.id"), unique=True)
    registered_on: Mapped[date | None] = mapped_column(Date)
    village_collective: Mapped[str | None] = mapped_column(String(128))

    supplier: Mapped[Supplier] = relationship(back_populates="cooperative")
    households: Mapped[list[Household]] = relationship(back_populates="cooperative")


class Household(IdMixin, TimestampMixin, Base):
    """A member household. The identity number is kept only as a keyed hash (PIPL)."""

    __tablename__ = "households"
    __table_args__ = (UniqueConstraint("cooperative_id", "member_no"),)

    cooperative_id: Mapped[int] = mapped_column(IdType, ForeignKey("cooperatives.id"), index=True)
    member_no: Mapped[str] = mapped_column(String(32))  # 成员编号 within the cooperative
    head_name: Mapped[str] = mapped_column(String(64))
    category: Mapped[HouseholdCategory] = enum_column(HouseholdCategory)
    village: Mapped[str] = mapped_column(String(64))
    id_number_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_masked: Mapped[str | None] = mapped_column(String(20))
    members: Mapped[int] = mapped_column(Integer, default=1)
    joined_on: Mapped[date | None] = mapped_column(Date)

    cooperative: Mapped[Cooperative] = relationship(back_populates="households")
    account: Mapped[MemberAccount | None] = relationship(back_populates="household")


class MemberAccount(IdMixin, TimestampMixin, Base):
    """成员账户 (art. 43): capital contribution, reserve share and subsidy share, in fen.

    Transaction volume with the cooperative is not stored here: it is summed from the ledger.
    """

    __tablename__ = "member_accounts"

    household_id: Mapped[int] = mapped_column(IdType, ForeignKey("households.id"), unique=True)
    capital_fen: Mapped[int] = mapped_column(Fen, default=0)
    reserve_share_fen: Mapped[int] = mapped_column(Fen, default=0)
    subsidy_share_fen: Mapped[int] = mapped_column(Fen, default=0)

    household: Mapped[Household] = relationship(back_populates="account")


class SplitPolicy(IdMixin, Base):
    """A cooperative's income-split policy, versioned: a new version never rewrites the past.

    ``rules`` holds the validated policy document (retention, collective share, priority bonus,
    grade coefficients, fee estimates, patronage-return ratio >= 60% per art. 44).
    """

    __tablename__ = "split_policies"
    __table_args__ = (
        UniqueConstraint("cooperative_id", "version"),
        CheckConstraint(
            "patronage_return_bp >= 6000 AND patronage_return_bp <= 10000", name="patronage_return_at_least_60pct"
        ),
    )

    cooperative_id: Mapped[int] = mapped_column(IdType, ForeignKey("cooperatives.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)
    patronage_return_bp: Mapped[int] = mapped_column(Integer)  # basis points of distributable surplus
    rules: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SplitPolicyWithdrawal(IdMixin, Base):
    """A policy version withdrawn before it came into force (``bangfu policy withdraw``).

    The version is moved here whole, as it was stored, with when and why it was withdrawn; it
    leaves ``split_policies``, so every reader of policies in force ignores it without knowing
    about withdrawals. Only a version that never applied can be withdrawn (its first day after
    today), so no journal was ever split by it. Its number is never given to another version.
    """

    __tablename__ = "split_policy_withdrawals"
    __table_args__ = (UniqueConstraint("cooperative_id", "version"),)

    cooperative_id: Mapped[int] = mapped_column(IdType, ForeignKey("cooperatives.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)  # the first day it would have applied
    patronage_return_bp: Mapped[int] = mapped_column(Integer)
    rules: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    note: Mapped[str | None] = mapped_column(Text)  # the version's own note
    created_at: Mapped[datetime]  # when the version was added
    withdrawn_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)
