"""Sign in, sign out, each role's home, the language switch."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from aiohttp_session import get_session, new_session

from bangfu.accounts import login as check_login
from bangfu.enums import UserRole
from bangfu.i18n import t
from bangfu.models import User
from bangfu.store import session_factory
from web.keys import ENGINE, SESSION_STORAGE, USER
from web.render import render, static_url
from web.security import LANG_COOKIE, safe_redirect_target

routes = web.RouteTableDef()


def home_path(user: User) -> str:
    """Where each role starts."""
    match UserRole(user.role):
        case UserRole.HOST:
            return "/sessions"
        case UserRole.OPERATOR:
            return "/operator"
        case UserRole.COOPERATIVE:
            return f"/cooperatives/{user.cooperative_id}"
        case UserRole.UNIT:
            return f"/units/{user.unit_id}"
        case UserRole.COUNTY:
            return "/county"
    return "/cooperatives"


@routes.get("/")
async def home(request: web.Request) -> web.StreamResponse:
    user = request[USER]
    if user is None:
        raise web.HTTPFound("/login")
    raise web.HTTPFound(home_path(user))


@routes.get("/login")
async def login_form(request: web.Request) -> web.StreamResponse:
    if request.get(USER) is not None:
        raise web.HTTPFound(safe_redirect_target(request.query.get("next")))
    return render(request, "console/login.html", {"error": None, "name": "", "next": request.query.get("next", "")})


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    target = safe_redirect_target(str(form.get("next", "")) or None)
    result = await check_login(session_factory(request.app[ENGINE]), name, password, client_address(request))
    user_id, lang = (result.user.id, result.user.lang) if result.user else (None, None)
    home = home_path(result.user) if result.user else "/"
    if result.throttled_for is not None:
        minutes = max(1, int(result.throttled_for.total_seconds() + 59) // 60)
        context = {"error": t("web.login.throttled", minutes=minutes), "name": name, "next": target}
        return render(request, "console/login.html", context, status=429)
    if user_id is None:
        context = {"error": t("web.login.failed"), "name": name, "next": target}
        return render(request, "console/login.html", context, status=401)
    old = await get_session(request)
    if old.identity:
        storage = request.app[SESSION_STORAGE]
        await storage.forget(str(old.identity))
    session = await new_session(request)  # a fresh key: no session fixation
    session["user_id"] = user_id
    session["login_at"] = datetime.now(UTC).timestamp()  # to the microsecond: see web.security
    response = web.HTTPFound(target if target != "/" else home)
    response.set_cookie(LANG_COOKIE, lang or "zh", path="/", samesite="Lax", httponly=True)
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    session = await get_session(request)
    session.invalidate()
    raise web.HTTPFound("/login")


@routes.post("/lang")
async def switch_lang(request: web.Request) -> web.StreamResponse:
    """Switch the UI language: kept on the user (signed in) and in a cookie."""
    form = await request.post()
    lang = "en" if form.get("lang") == "en" else "zh"
    user = request.get(USER)
    if user is not None:
        async with session_factory(request.app[ENGINE])() as db, db.begin():
            row = await db.get(User, user.id)
            if row is not None:
                row.lang = lang
    response = web.HTTPFound(safe_redirect_target(str(form.get("next", "")) or None))
    response.set_cookie(LANG_COOKIE, lang, path="/", samesite="Lax", httponly=True, max_age=365 * 86400)
    raise response


@routes.get("/favicon.ico")
async def favicon(request: web.Request) -> web.StreamResponse:
    """Browsers ask for /favicon.ico whatever the page says: point them at the icon."""
    raise web.HTTPMovedPermanently(static_url("favicon.svg"))


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.StreamResponse:
    async with request.app[ENGINE].connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
    return web.json_response({"ok": True})


def setup(app: web.Application) -> None:
    app.add_routes(routes)
