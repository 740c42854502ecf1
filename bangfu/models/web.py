"""Console users, their API tokens, web sessions and failed logins.

A user has one role and, except ``admin``, one scope: a cooperative, a host, a region, a
purchasing unit, or (``operator``) a set of shops, none meaning every shop. Passwords are kept
only as argon2 hashes, API tokens and session keys only as SHA-256 hashes (both are long random
strings, so a fast hash is enough and a stolen table holds nothing usable).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bangfu.enums import UserRole
from bangfu.models.base import Base, IdMixin, IdType, JSONDoc, enum_column, utcnow


class User(IdMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "(role <> 'cooperative' OR cooperative_id IS NOT NULL)"
            " AND (role <> 'host' OR host_id IS NOT NULL)"
            " AND (role <> 'county' OR region_id IS NOT NULL)"
            " AND (role <> 'unit' OR unit_id IS NOT NULL)",
            name="role_has_scope",
        ),
    )

    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[UserRole] = enum_column(UserRole)
    password_hash: Mapped[str] = mapped_column(String(255))
    cooperative_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("cooperatives.id"))
    host_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("hosts.id"))
    region_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("regions.id"))
    unit_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("purchasing_units.id"))
    lang: Mapped[str] = mapped_column(String(8), default="zh")
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Sessions started before this moment are void (a new password or a disable ends them).
    sessions_valid_after: Mapped[datetime] = mapped_column(default=utcnow)


class UserShop(Base):
    """An operator's shops (an operator with none is an operator of every shop)."""

    __tablename__ = "user_shops"

    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"), primary_key=True, autoincrement=False)
    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id"), primary_key=True, autoincrement=False)


class ApiToken(IdMixin, Base):
    __tablename__ = "api_tokens"

    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # shown in listings, so a user can tell tokens apart
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(default=False)


class WebSession(Base):
    """A browser session: aiohttp-session's data, keyed by the SHA-256 of the cookie's value."""

    __tablename__ = "web_sessions"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LoginFailure(IdMixin, Base):
    """One failed login, by account name and by address (the throttle counts recent rows)."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_name_at", "name", "at"),
        Index("ix_login_failures_address_at", "address", "at"),
    )

    name: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
