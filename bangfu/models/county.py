"""What a county office sets for its reports: unit kinds grouped into campaigns, monitoring lines.

*Unit kinds* are data, not an enum: a purchasing unit's kind is ``purchasing_units.kind_code``
when the office has named one (军营, 社区, 商超 ...), otherwise its legal ``unit_type``. Each kind
belongs to a *campaign group* (进机关, 进学校, 进医院 ... of the 五进/七进 campaigns), with labels
in Chinese and English; ``bangfu county kinds|groups`` edit them. While both tables are empty the
defaults of :mod:`bangfu.queries.county` apply.

*Monitoring lines* (防止返贫监测线) are per region and year, in fen per person per year; a
household is checked against the row of its cooperative's county or the nearest region above it
(``bangfu county monitoring-line``).
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bangfu.models.base import Base, Fen, IdMixin, IdType


class CampaignGroup(IdMixin, Base):
    """A group of the 五进/七进 campaigns (进机关, 进学校 ...), in the order shown."""

    __tablename__ = "campaign_groups"

    code: Mapped[str] = mapped_column(String(24), unique=True)
    label_zh: Mapped[str] = mapped_column(String(64))
    label_en: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, default=0)


class UnitKind(IdMixin, Base):
    """A kind of purchasing unit (机关, 学校, 军营 ...) and the campaign group it counts in."""

    __tablename__ = "unit_kinds"

    code: Mapped[str] = mapped_column(String(24), unique=True)
    label_zh: Mapped[str] = mapped_column(String(64))
    label_en: Mapped[str] = mapped_column(String(64))
    group_code: Mapped[str] = mapped_column(String(24))


class MonitoringLine(IdMixin, Base):
    """防止返贫监测线: a region's yearly income line per person, in fen."""

    __tablename__ = "monitoring_lines"
    __table_args__ = (UniqueConstraint("region_id", "year"),)

    region_id: Mapped[int] = mapped_column(IdType, ForeignKey("regions.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    line_fen: Mapped[int] = mapped_column(Fen)
    note: Mapped[str | None] = mapped_column(Text)
