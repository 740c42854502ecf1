"""Declarative base and the column types every table shares.

- ``Fen``: money, BigInteger integer fen (never float, never Numeric).
- ``UTCDateTime``: timezone-aware UTC in and out on both SQLite (which keeps no zone) and
  PostgreSQL (timestamptz).
- ``JSONDoc``: JSON on SQLite, JSONB on PostgreSQL (policies, plans, quarantined records).
- ``RawPayload``: JSON on both; on PostgreSQL the ``json`` type (text checked on input), for the
  platform payloads kept beside the sync's high-volume rows (orders, refunds, settlement lines):
  an archive nothing queries by content, so it need not pay ``jsonb``'s parse on every write.
- ``PK``: integer ids that autoincrement on both back ends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Enum, Integer, MetaData, String
from sqlalchemy.dialects.postgresql import JSON as PG_JSON
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from bangfu.clock import utcnow as utcnow  # re-exported: the models' default timestamps

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Fen = BigInteger
JSONDoc = JSON().with_variant(JSONB(), "postgresql")
RawPayload = JSON().with_variant(PG_JSON(), "postgresql")
IdType = BigInteger().with_variant(Integer(), "sqlite")

E = TypeVar("E", bound=StrEnum)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes; naive values are refused rather than guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError(f"naive datetime given for a UTC column: {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def enum_column(enum_cls: type[E], **kw: Any) -> Mapped[E]:
    """A string column holding a hub enum (non-native, so both back ends share migrations)."""
    return mapped_column(
        Enum(
            enum_cls,
            native_enum=False,
            length=24,
            values_callable=lambda e: [m.value for m in e],
            validate_strings=True,
            create_constraint=False,
        ),
        **kw,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), str: String(255)}


class IdMixin:
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
