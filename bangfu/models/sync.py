"""Sync state: a cursor per (shop, stream), a record per run, and quarantined records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bangfu.enums import SyncStream
from bangfu.models.base import Base, IdMixin, IdType, JSONDoc, enum_column, utcnow


class SyncCursor(IdMixin, Base):
    """Where a (shop, stream) pull stands. Advanced in the same transaction as its rows.

    ``watermark`` is the modified-time high-water mark already stored; ``token`` holds a
    platform's own cursor where it has one (Kuaishou ``pcursor``, Douyin settle cursor).
    """

    __tablename__ = "sync_cursors"
    __table_args__ = (UniqueConstraint("shop_id", "stream"),)

    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"))
    stream: Mapped[SyncStream] = enum_column(SyncStream)
    watermark: Mapped[datetime | None]
    token: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncRun(IdMixin, Base):
    __tablename__ = "sync_runs"

    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"), index=True)
    stream: Mapped[SyncStream] = enum_column(SyncStream)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    windows_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_new: Mapped[int] = mapped_column(Integer, default=0)
    rows_changed: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    duplicates_suppressed: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[dict[str, int]] = mapped_column(JSONDoc, default=dict)  # by ErrorClass
    lag_seconds: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16), default="running")  # ok | failed | running
    message: Mapped[str | None] = mapped_column(Text)


class QuarantinedRecord(IdMixin, Base):
    """A platform record that could not be normalised, kept with its raw payload."""

    __tablename__ = "quarantined_records"

    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"), index=True)
    stream: Mapped[SyncStream] = enum_column(SyncStream)
    platform_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(Text)
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    # The operator who marked it handled in the console (NULL: a later sync read it whole).
    resolved_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"))


class QuarantineRefetch(IdMixin, Base):
    """One operator's (or the CLI's) request to fetch a quarantined record again by id.

    ``outcome``: ``queued`` until the task ran, then ``stored`` (the record parsed and was stored
    through the normal sync path; the quarantine entry is closed with ``resolved_by`` the
    requester) or ``failed`` (the entry stays open; ``error_class`` and the platform's
    ``message``, redacted, say why).
    """

    __tablename__ = "quarantine_refetches"
    __table_args__ = (CheckConstraint("outcome IN ('queued', 'stored', 'failed')", name="outcome_known"),)

    quarantined_id: Mapped[int] = mapped_column(IdType, ForeignKey("quarantined_records.id"), index=True)
    requested_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"))  # NULL: the CLI
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(16), default="queued")  # queued | stored | failed
    error_class: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
