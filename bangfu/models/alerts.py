"""Alerts for people: a shop stopped by an auth failure, unsold stock, reconciliation gaps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bangfu.models.base import Base, IdMixin, IdType, utcnow


class Alert(IdMixin, Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_open", "kind", "resolved_at"),
        Index("ix_alerts_subject", "kind", "subject"),
    )

    kind: Mapped[str] = mapped_column(String(48))  # e.g. sync.auth, unsold
    severity: Mapped[str] = mapped_column(String(16))  # info | warning | error
    shop_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("shops.id"), index=True)
    subject: Mapped[str | None] = mapped_column(String(64))  # what it is about, e.g. lot:12
    message: Mapped[str] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)  # JSON: the figures behind it (migration 0023)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
