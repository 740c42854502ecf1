"""经营主体认定: the certificate of a supplier (enterprise or cooperative) as a 消费帮扶 entity.

A product's certificate is :class:`bangfu.models.catalog.Certification`; a supplier's has the
same fields and the same validity rule (status and the days from ``valid_from`` to ``valid_to``).
The certificate number is unique among supplier certificates: a re-import of the same number
updates it (:mod:`bangfu.importing.certificates`).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bangfu.enums import CertificationStatus
from bangfu.models.base import Base, IdMixin, IdType, TimestampMixin, enum_column
from bangfu.models.org import Supplier


class SupplierCertification(IdMixin, TimestampMixin, Base):
    __tablename__ = "supplier_certifications"
    __table_args__ = (UniqueConstraint("number"),)

    supplier_id: Mapped[int] = mapped_column(IdType, ForeignKey("suppliers.id"), index=True)
    body: Mapped[str] = mapped_column(String(128))  # 认定机构
    number: Mapped[str] = mapped_column(String(64))  # 认定编号 / 证书编号
    batch: Mapped[str | None] = mapped_column(String(64))  # 认定批次 / 公告文号
    county_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("regions.id"))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    status: Mapped[CertificationStatus] = enum_column(CertificationStatus)

    supplier: Mapped[Supplier] = relationship()
