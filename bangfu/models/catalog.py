"""What is sold: products (SPU), SKUs, and their consumption-assistance certificates."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bangfu.enums import CertificationStatus
from bangfu.models.base import Base, Fen, IdMixin, IdType, TimestampMixin, enum_column
from bangfu.models.org import Region, Supplier


class Product(IdMixin, TimestampMixin, Base):
    """A product (SPU) as seed 000 lists it: category, selling points, supplier, evaluation."""

    __tablename__ = "products"

    spu_code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(32), index=True)
    supplier_id: Mapped[int] = mapped_column(IdType, ForeignKey("suppliers.id"), index=True)
    origin_county_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("regions.id"))
    selling_points: Mapped[str | None] = mapped_column(Text)
    selection_evaluation: Mapped[str | None] = mapped_column(Text)  # 选品评估
    perishable: Mapped[bool] = mapped_column(default=False)  # exempt from 7-day no-reason returns

    supplier: Mapped[Supplier] = relationship()
    origin_county: Mapped[Region | None] = relationship()
    skus: Mapped[list[Sku]] = relationship(back_populates="product", order_by="Sku.sku_code")
    certifications: Mapped[list[Certification]] = relationship(back_populates="product")


class Sku(IdMixin, TimestampMixin, Base):
    __tablename__ = "skus"

    sku_code: Mapped[str] = mapped_column(String(40), unique=True)
    product_id: Mapped[int] = mapped_column(IdType, ForeignKey("products.id"), index=True)
    spec: Mapped[str] = mapped_column(String(64))  # 规格
    unit: Mapped[str] = mapped_column(String(16))
    retail_price_fen: Mapped[int] = mapped_column(Fen)
    promo_price_fen: Mapped[int | None] = mapped_column(Fen)
    # GS1 barcode (EAN-8/UPC-A/EAN-13/ITF-14) on the pack: how POS and vending exports name it.
    barcode: Mapped[str | None] = mapped_column(String(14), unique=True, index=True)
    active: Mapped[bool] = mapped_column(default=True)

    product: Mapped[Product] = relationship(back_populates="skus")


class Certification(IdMixin, TimestampMixin, Base):
    """消费帮扶产品认定: certifying body, certificate/announcement number, validity."""

    __tablename__ = "certifications"
    __table_args__ = (UniqueConstraint("body", "number", "product_id"),)

    product_id: Mapped[int] = mapped_column(IdType, ForeignKey("products.id"), index=True)
    body: Mapped[str] = mapped_column(String(128))
    number: Mapped[str] = mapped_column(String(64), index=True)
    batch: Mapped[str | None] = mapped_column(String(64))  # 认定批次 / 公告文号 (migration 0031)
    county_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("regions.id"))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    status: Mapped[CertificationStatus] = enum_column(CertificationStatus)

    product: Mapped[Product] = relationship(back_populates="certifications")
