"""Live selling: hosts, sessions, per-minute stats and product explanation windows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bangfu.enums import HostKind
from bangfu.models.base import Base, Fen, IdMixin, IdType, JSONDoc, TimestampMixin, enum_column
from bangfu.models.channels import Shop
from bangfu.trace import session_campaign_default


class Host(IdMixin, TimestampMixin, Base):
    """主播/达人: a county official (no commission) or an influencer paid a commission."""

    __tablename__ = "hosts"
    __table_args__ = (UniqueConstraint("platform", "author_id"),)

    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[HostKind] = enum_column(HostKind)
    platform: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[str] = mapped_column(String(64))  # platform's author / anchor id
    commission_bp: Mapped[int] = mapped_column(Integer, default=0)


class LiveSession(IdMixin, TimestampMixin, Base):
    __tablename__ = "live_sessions"
    __table_args__ = (
        UniqueConstraint("shop_id", "room_id"),
        # A host's session list: their sessions started in a period (bangfu.queries.sessions).
        Index("ix_live_sessions_host_started", "host_id", "started_at"),
    )

    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"), index=True)
    room_id: Mapped[str] = mapped_column(String(64))
    host_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("hosts.id"), index=True)
    title: Mapped[str | None] = mapped_column(String(255))
    # The mall link's campaign code (bangfu.trace): a self-built mall's own, else drawn when the
    # session is stored; a record without one leaves the stored code alone (bangfu.upsert).
    campaign_code: Mapped[str | None] = mapped_column(String(64), unique=True, default=session_campaign_default)
    started_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]
    views: Mapped[int] = mapped_column(Integer, default=0)  # PV
    unique_viewers: Mapped[int] = mapped_column(Integer, default=0)  # UV
    peak_online: Mapped[int] = mapped_column(Integer, default=0)  # PCU
    total_watch_seconds: Mapped[int] = mapped_column(Integer, default=0)
    ad_spend_fen: Mapped[int] = mapped_column(Fen, default=0)
    modified_at: Mapped[datetime | None]
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    content_hash: Mapped[str] = mapped_column(String(32), default="")

    shop: Mapped[Shop] = relationship()
    host: Mapped[Host | None] = relationship()


class LiveMinuteStat(IdMixin, Base):
    __tablename__ = "live_minute_stats"
    __table_args__ = (UniqueConstraint("session_id", "minute_at"),)

    session_id: Mapped[int] = mapped_column(IdType, ForeignKey("live_sessions.id"), index=True)
    minute_at: Mapped[datetime]
    online: Mapped[int] = mapped_column(Integer, default=0)
    views: Mapped[int] = mapped_column(Integer, default=0)
    new_buyers: Mapped[int] = mapped_column(Integer, default=0)
    gmv_fen: Mapped[int] = mapped_column(Fen, default=0)


class ExplanationWindow(IdMixin, Base):
    """讲解: while the host explained one product in the session."""

    __tablename__ = "explanation_windows"
    __table_args__ = (UniqueConstraint("session_id", "platform_item_id", "started_at"),)

    session_id: Mapped[int] = mapped_column(IdType, ForeignKey("live_sessions.id"), index=True)
    platform_item_id: Mapped[str] = mapped_column(String(64))
    platform_sku_id: Mapped[str | None] = mapped_column(String(64))
    sku_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("skus.id"))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]
