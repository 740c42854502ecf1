"""Who is asking, in what language, and whether a form really came from our page.

- Pages: the aiohttp-session cookie (``web/sessions.py``) names the user; a session started
  before the user's ``sessions_valid_after`` (new password, disabled) is void.
- API (``/api/``): ``Authorization: Bearer <token>`` (``bangfu users token``), or the session
  cookie for the console's own scripts.
- CSRF: every unsafe request to a page carries the token of the ``bangfu_csrf`` cookie in its
  ``_csrf`` field or ``X-CSRF-Token`` header (double submit; the cookie is SameSite=Lax and a
  page of another site can neither read it nor set it).
- The language is the user's own, else the ``bangfu_lang`` cookie, else Simplified Chinese.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web
from aiohttp_session import get_session

from bangfu.accounts import user_for_token
from bangfu.i18n import Lang, set_lang
from bangfu.models import User
from bangfu.scope import scope_of as load_scope
from bangfu.store import session_factory
from web.keys import CSRF, ENGINE, SCOPE, SECURE_COOKIES, USER
from web.sessions import LOADED

CSRF_COOKIE = "bangfu_csrf"
LANG_COOKIE = "bangfu_lang"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Reachable without signing in.
PUBLIC_PREFIXES = (
    "/login",
    "/static/",
    "/healthz",
    "/api/v1/openapi.json",
    "/lang",
    "/favicon.ico",
    "/board",
    "/mall",
    "/t/",
)

# Server-to-server callbacks that carry their own signature instead (the payment provider's notify).
CSRF_EXEMPT = frozenset({"/mall/pay/notify"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def is_public(path: str) -> bool:
    return any(path == p or path.startswith(p) for p in PUBLIC_PREFIXES)


async def _session_user(request: web.Request) -> User | None:
    session = await get_session(request)
    user_id = session.get("user_id")
    if not isinstance(user_id, int):
        return None
    loaded = request.get(LOADED)  # read with the session (web/sessions.py): no second query
    scope = None
    if loaded is not None and loaded[0].id == user_id:
        user: User | None = loaded[0]
        scope = loaded[1]
    else:
        async with session_factory(request.app[ENGINE])() as db:
            user = await db.get(User, user_id)
    login_at = session.get("login_at")
    if user is None or user.disabled or not isinstance(login_at, (int, float)):
        session.invalidate()
        return None
    # A session is void unless it began after the last password change or disable: compared to
    # the microsecond, so a new password set within the same second as a login still ends it.
    if datetime.fromtimestamp(login_at, UTC) <= user.sessions_valid_after:
        session.invalidate()
        return None
    if scope is not None:
        request[SCOPE] = scope
    return user


async def _token_user(request: web.Request) -> User | bool | None:
    """The bearer token's user; None when no token was sent; False when it is not valid."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    async with session_factory(request.app[ENGINE])() as db, db.begin():
        user = await user_for_token(db, token.strip())
        if user is not None:  # the scope on the same connection, for this request only
            request[SCOPE] = await load_scope(await db.connection(), user)
    return user if user is not None else False


def _lang_for(request: web.Request, user: User | None) -> Lang:
    if user is not None and user.lang in ("zh", "en"):
        return "en" if user.lang == "en" else "zh"
    return "en" if request.cookies.get(LANG_COOKIE) == "en" else "zh"


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    from web.errors import api_error  # one JSON error shape

    user: User | None = None
    if is_api(request):
        found = await _token_user(request)
        if found is False:
            return api_error(401, "unauthorized", "invalid or revoked token")
        user = found if isinstance(found, User) else await _session_user(request)
    elif not request.path.startswith("/static/"):
        user = await _session_user(request)
    request[USER] = user
    set_lang(_lang_for(request, user))
    if user is not None and request.get(SCOPE) is None:
        async with request.app[ENGINE].connect() as conn:
            request[SCOPE] = await load_scope(conn, user)

    token = request.cookies.get(CSRF_COOKIE) or ""
    fresh = len(token) < 32
    if fresh:
        token = secrets.token_urlsafe(32)
    request[CSRF] = token
    if request.method in UNSAFE and not is_api(request) and request.path not in CSRF_EXEMPT:
        sent = request.headers.get("X-CSRF-Token") or ""
        if not sent and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            sent = str((await request.post()).get("_csrf", ""))
        if fresh or not hmac.compare_digest(sent.encode(), token.encode()):
            raise web.HTTPForbidden(reason="CSRF token missing or wrong")

    if user is None and not is_public(request.path):
        if is_api(request):
            return api_error(401, "unauthorized", "sign in or send a bearer token")
        raise web.HTTPFound(f"/login?next={_safe_next(request.path_qs)}")

    response = await handler(request)
    if fresh and not response.prepared:
        response.set_cookie(CSRF_COOKIE, token, path="/", httponly=True, samesite="Lax", secure=_secure(request))
    return response


def _secure(request: web.Request) -> bool:
    return request.app[SECURE_COOKIES] or request.secure


def _safe_next(target: str) -> str:
    from urllib.parse import quote

    return quote(target if target.startswith("/") and not target.startswith("//") else "/", safe="")


def safe_redirect_target(value: str | None) -> str:
    """Only a path on this site (never ``//host`` or a full URL) may be a redirect target."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@web.middleware
async def forwarded_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Behind a reverse proxy that sets X-Forwarded-Proto / X-Forwarded-For (``serve --behind-proxy``)."""
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip()
    forwarded_for = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
    changes: dict[str, str] = {}
    if proto in ("http", "https"):
        changes["scheme"] = proto
    if forwarded_for:
        changes["remote"] = forwarded_for
    return await handler(request.clone(**changes) if changes else request)  # type: ignore[arg-type]
