"""Typed keys for what the application and each request carry."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.models import User
from bangfu.scope import Scope

ENGINE = web.AppKey("engine", AsyncEngine)
SECURE_COOKIES = web.AppKey("secure_cookies", bool)
SESSION_STORAGE: web.AppKey[Any] = web.AppKey("session_storage")

# Request keys (aiohttp's request mapping): set by web.security.auth_middleware.
USER: web.RequestKey[User | None] = web.RequestKey("user", object)  # type: ignore[arg-type]
SCOPE = web.RequestKey("scope", Scope)
CSRF = web.RequestKey("csrf", str)


def user_of(request: web.Request) -> User | None:
    user: User | None = request.get(USER)
    return user


def scope_of(request: web.Request) -> Scope:
    """The signed-in user's scope (views behind the login only)."""
    scope: Scope | None = request.get(SCOPE)
    if scope is None:
        raise web.HTTPUnauthorized()
    return scope
