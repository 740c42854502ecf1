"""Channels: shops on platforms, their listings of our SKUs, and purchasing units."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ColumnElement, ForeignKey, Integer, String, Text, UniqueConstraint, and_, or_
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bangfu.enums import OFFLINE_PLATFORMS, ChannelType, PlatformKind, UnitType
from bangfu.models.base import Base, Fen, IdMixin, IdType, JSONDoc, TimestampMixin, enum_column, utcnow
from bangfu.models.catalog import Sku
from bangfu.models.org import Region


class Shop(IdMixin, TimestampMixin, Base):
    """One shop on one platform (or an offline channel of its own kind).

    Secrets are never stored here: ``credentials_ref`` names an entry in the secrets store
    (environment or the data directory's secrets file), so listings and logs cannot leak them.
    """

    __tablename__ = "shops"
    __table_args__ = (UniqueConstraint("platform", "platform_shop_id"),)

    name: Mapped[str] = mapped_column(String(128))
    platform: Mapped[PlatformKind] = enum_column(PlatformKind)
    channel_type: Mapped[ChannelType] = enum_column(ChannelType)
    platform_shop_id: Mapped[str] = mapped_column(String(64))
    base_url: Mapped[str | None] = mapped_column(String(255))
    credentials_ref: Mapped[str | None] = mapped_column(String(128))
    county_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("regions.id"))
    active: Mapped[bool] = mapped_column(default=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)

    listings: Mapped[list[Listing]] = relationship(back_populates="shop")


class Listing(IdMixin, TimestampMixin, Base):
    """Our SKU as a shop lists it (SKU mapping across channels).

    ``mapping`` says who set ``sku_id``: ``auto`` (the product sync, by outer id: the SKU whose
    code is the listing's merchant code) or ``manual`` (an operator, ``mapped_by``/``mapped_at``;
    a manual unmap is ``manual`` with ``sku_id`` NULL). The product sync never overrides a
    manual mapping.
    """

    __tablename__ = "listings"
    __table_args__ = (UniqueConstraint("shop_id", "platform_item_id", "platform_sku_id"),)

    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"), index=True)
    sku_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("skus.id"), index=True)
    platform_item_id: Mapped[str] = mapped_column(String(64))
    platform_sku_id: Mapped[str] = mapped_column(String(64), default="")  # "" when the item has none
    outer_id: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(255))
    price_fen: Mapped[int | None] = mapped_column(Fen)
    platform_stock: Mapped[int | None] = mapped_column(Integer)
    allocated_stock: Mapped[int] = mapped_column(Integer, default=0)
    on_sale: Mapped[bool] = mapped_column(default=True)
    platform_modified_at: Mapped[datetime | None]
    content_hash: Mapped[str] = mapped_column(String(32), default="")
    mapping: Mapped[str] = mapped_column(String(8), default="auto", server_default="auto")  # auto | manual
    mapped_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"))
    mapped_at: Mapped[datetime | None]

    shop: Mapped[Shop] = relationship(back_populates="listings")
    sku: Mapped[Sku | None] = relationship()


class ChannelPrice(IdMixin, Base):
    """The price (fen) an operator set for one SKU on one shop (channel); pushed to every
    listing of the SKU on that shop by :mod:`sync.prices`."""

    __tablename__ = "channel_prices"
    __table_args__ = (
        UniqueConstraint("sku_id", "shop_id"),
        CheckConstraint("price_fen > 0", name="price_positive"),
    )

    sku_id: Mapped[int] = mapped_column(IdType, ForeignKey("skus.id"), index=True)
    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"), index=True)
    price_fen: Mapped[int] = mapped_column(Fen)
    set_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)


class PricePush(IdMixin, Base):
    """One price sent to one platform listing.

    ``idempotency_key`` is ``bf:price:<listing>:<price>:<n>``: a price already confirmed on a
    listing is not pushed again. Statuses: ``pending`` -> ``done`` | ``failed`` (the platform
    refused; ``error`` holds its message) | ``uncertain`` (no answer: it may have applied; a
    price is absolute, so the next pass sends it again).
    """

    __tablename__ = "price_pushes"

    idempotency_key: Mapped[str] = mapped_column(String(96), unique=True)
    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"), index=True)
    listing_id: Mapped[int] = mapped_column(IdType, ForeignKey("listings.id"), index=True)
    price_fen: Mapped[int] = mapped_column(Fen)
    price_before_fen: Mapped[int | None] = mapped_column(Fen)
    platform_price_fen: Mapped[int | None] = mapped_column(Fen)  # as the platform answered
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


class PurchasingUnit(IdMixin, TimestampMixin, Base):
    """采购单位: a body that buys, often against a yearly reserved share."""

    __tablename__ = "purchasing_units"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    unit_type: Mapped[UnitType] = enum_column(UnitType)
    region_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("regions.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("purchasing_units.id"))
    staff_count: Mapped[int | None] = mapped_column(Integer)
    # The unit's kind for campaign reports when the county names one beyond ``unit_type``
    # (``unit_kinds.code``: 军营, 社区, 商超 ...); None: its ``unit_type``.
    kind_code: Mapped[str | None] = mapped_column(String(24))
    # Where the county delivers the unit's orders (delivery notes; migration 0030).
    delivery_address: Mapped[str | None] = mapped_column(Text)

    region: Mapped[Region | None] = relationship()
    targets: Mapped[list[UnitTarget]] = relationship(back_populates="unit")


class UnitTarget(IdMixin, Base):
    """A unit's reserved-share target for one year, in fen."""

    __tablename__ = "unit_targets"
    __table_args__ = (UniqueConstraint("unit_id", "year"),)

    unit_id: Mapped[int] = mapped_column(IdType, ForeignKey("purchasing_units.id"))
    year: Mapped[int] = mapped_column(Integer)
    target_fen: Mapped[int] = mapped_column(Fen)
    canteen_budget_fen: Mapped[int | None] = mapped_column(Fen)

    unit: Mapped[PurchasingUnit] = relationship(back_populates="targets")


class ReservedShareRule(IdMixin, Base):
    """Per-region, per-year minimum share of canteen food buying (10% nationally, 30% in some)."""

    __tablename__ = "reserved_share_rules"
    __table_args__ = (UniqueConstraint("region_code", "year"),)

    region_code: Mapped[str] = mapped_column(String(12))  # "000000" for the national rule
    year: Mapped[int] = mapped_column(Integer)
    share_bp: Mapped[int] = mapped_column(Integer)


def on_a_platform() -> ColumnElement[bool]:
    """Shops on a platform: pulled from its API and paid out by its settlement bills. Not the
    offline shops (their sales are imported) nor the county's own mall (a self-built mall the hub
    does not pull from: no endpoint; its payments are verified one by one)."""
    return and_(
        Shop.platform.not_in(OFFLINE_PLATFORMS),
        or_(Shop.platform != PlatformKind.SELFMALL, Shop.base_url.is_not(None)),
    )


def is_on_a_platform(platform: str, base_url: str | None) -> bool:
    """:func:`on_a_platform` for one shop's values."""
    return platform not in OFFLINE_PLATFORMS and (platform != PlatformKind.SELFMALL.value or base_url is not None)
