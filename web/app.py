"""The application factory: ``create_app(url)`` serves the console, the API and static files.

Several ``bangfu serve`` processes may run on one database behind a reverse proxy: sessions and
the login throttle live in the database, nothing is kept in a process's memory.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

from aiohttp import web
from aiohttp_session import session_middleware
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError, InvalidatePoolError
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.store import make_engine
from web.errors import error_middleware
from web.keys import ENGINE, SECURE_COOKIES, SESSION_STORAGE
from web.render import STATIC_DIR, STATIC_PREFIX, setup_templates
from web.security import auth_middleware, forwarded_middleware
from web.sessions import DbStorage

MAX_BODY = 1024 * 1024  # forms only: nothing larger is ever posted to the console
# The web's own pool (workers keep the engine defaults): a request holds a connection for its
# few statements only, so 20 serve well over the 16 requests in flight of bench/web.py; a
# request that still finds none within POOL_TIMEOUT_S is answered 503 with Retry-After
# (web/errors.py), never left waiting 30 s to end in a 500.
POOL_SIZE, MAX_OVERFLOW, POOL_TIMEOUT_S = 10, 10, 5.0
# Every execution planned for its own parameters. asyncpg prepares each statement, and from the
# sixth execution on a connection PostgreSQL may switch to a generic plan made without the
# values: at 1,000,000 lines the operator's waiting lines (a status = $1 filter on
# line_accounting) went from 0.8 s to 36-39 s on every later request, the household page from
# 0.6 to 6-8 s. The console's statements are few per request; planning each costs far less.
# No parallel workers: a page's statements read a few thousand rows at most, where starting
# workers costs more than it saves (the sessions comparison's skipped live branches launched two
# each, about 50 ms per session at 1,000,000 lines), and requests in flight already share the
# cores; an export reading more takes longer alone rather than the cores from everyone else.
SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan", "max_parallel_workers_per_gather": "0"}


# A pooled connection is checked before use (make_engine's pool_pre_ping) only when it has been
# idle this long: the pre-ping is three round trips (BEGIN, an empty statement, ROLLBACK) on
# every checkout, and a page checks out two connections (the session, then its queries). A
# connection the server has closed (a restart, pg_terminate_backend) is known to asyncpg as
# soon as the event loop reads the end of its socket, and is replaced at checkout for free.
PING_IDLE_S = 10.0
_CHECKED_IN = "web_checked_in"


def _note_checkin(_dbapi_connection: Any, record: Any, *_args: Any) -> None:
    record.info[_CHECKED_IN] = time.monotonic()


def _check_on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """The console's pre-ping: replace a connection the server closed; ping one idle for
    PING_IDLE_S or more (as pool_pre_ping would: a failed ping invalidates the whole pool)."""
    if dbapi_connection._connection.is_closed():  # the asyncpg connection under the adapter
        raise DisconnectionError("connection closed by the server")
    if time.monotonic() - record.info.get(_CHECKED_IN, 0.0) >= PING_IDLE_S:
        try:
            dbapi_connection.ping()
        except Exception as exc:
            raise InvalidatePoolError(f"ping of an idle connection failed: {exc}") from exc


def web_engine(database_url: str | None) -> AsyncEngine:
    """An engine for the console: a pool sized for concurrent requests on PostgreSQL."""
    from sqlalchemy.engine import make_url

    from bangfu.settings import get_settings

    url = database_url or get_settings().resolved_database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        asyncpg = parsed.get_driver_name() == "asyncpg"
        engine = make_engine(
            url,
            pool_size=POOL_SIZE,
            max_overflow=MAX_OVERFLOW,
            pool_timeout=POOL_TIMEOUT_S,
            pool_pre_ping=not asyncpg,
            connect_args={"server_settings": SERVER_SETTINGS},
        )
        if asyncpg:
            event.listen(engine.sync_engine, "connect", _note_checkin)
            event.listen(engine.sync_engine, "checkin", _note_checkin)
            event.listen(engine.sync_engine, "checkout", _check_on_checkout)
        return engine
    return make_engine(url)


def create_app(
    database_url: str | None = None,
    *,
    engine: AsyncEngine | None = None,
    secure_cookies: bool = False,
    behind_proxy: bool = False,
) -> web.Application:
    """The console and API on the store at ``database_url`` (or an engine the caller owns)."""
    own_engine = engine is None
    db = engine if engine is not None else web_engine(database_url)
    storage = DbStorage(db, secure=True if secure_cookies else None)
    middlewares = [error_middleware, session_middleware(storage), auth_middleware]
    if behind_proxy:
        middlewares.insert(0, forwarded_middleware)
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY)
    app[ENGINE] = db
    app[SECURE_COOKIES] = secure_cookies
    app[SESSION_STORAGE] = storage
    setup_templates(app)

    from web import api
    from web.views import auth

    auth.setup(app)
    api.setup(app)
    for module in surface_modules():
        module.setup(app)
    app.router.add_static(STATIC_PREFIX, STATIC_DIR, name="static", append_version=True)

    async def lifespan(_app: web.Application) -> AsyncIterator[None]:
        yield
        if own_engine:
            await db.dispose()

    app.cleanup_ctx.append(lifespan)
    return app


def surface_modules() -> list[ModuleType]:
    """The view modules of each surface, in menu order (each has ``setup(app)``, and may have
    ``OPENAPI_PATHS`` / ``OPENAPI_SCHEMAS`` for the API routes it serves)."""
    import importlib

    names = [
        "web.views.sessions",
        "web.views.cooperatives",
        "web.views.units",
        "web.views.board",
        "web.views.county",
        "web.views.operator",
        "web.views.lots",
        "web.views.operator_recon",
        "web.views.operator_stock",
        "web.views.operator_listings",
        "web.views.mall",
        "web.views.mall_operator",
        "web.views.trace",
        "web.views.operator_shipments",
        "web.views.delivery",
        "web.views.drives",
        "web.views.tasks",
        "web.views.certification",
        "web.views.agreements",
        "web.views.planting",
    ]
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return modules
