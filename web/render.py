"""Templates (``storefront_templates/``, jinja2 through aiohttp-jinja2) and how figures look.

Money arrives in integer fen and is shown as ``¥1,234.50`` (``yuan``) or, for large sums where
the programme speaks so, ``123.46 万元`` (``wan``); a missing figure is ``-``, never 0.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_jinja2.helpers import GLOBAL_HELPERS
from yarl import URL

from bangfu.enums import UserRole
from bangfu.i18n import current_lang, t
from bangfu.money import format_yuan
from bangfu.reports.base import SHANGHAI
from bangfu.reports.households import wan_yuan
from web.keys import CSRF, SCOPE, USER

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "storefront_templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PREFIX = "/static/"  # where web.app serves STATIC_DIR
MISSING = "-"


def yuan(fen: int | None) -> str:
    return MISSING if fen is None else format_yuan(int(fen))


def wan(fen: int | None) -> str:
    """万元 with two decimals (``1,234.56 万元``); the unit follows the language."""
    if fen is None:
        return MISSING
    return t("web.wan", value=f"{wan_yuan(int(fen)):,}")


def num(value: int | Decimal | None) -> str:
    return MISSING if value is None else f"{value:,}"


def pct(value: Decimal | float | None, places: int = 2) -> str:
    if value is None:
        return MISSING
    return f"{Decimal(str(value)) * 100:.{places}f}%"


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return MISSING if value is None else value.astimezone(SHANGHAI).strftime(fmt)


def dash(value: Any) -> Any:
    return MISSING if value is None or value == "" else value


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str


def nav_for(request: web.Request) -> list[NavItem]:
    """The menu of the signed-in user's role (pages of each role register theirs in NAV)."""
    scope = request.get(SCOPE)
    if scope is None:
        return []
    items: list[NavItem] = []
    for builder in NAV:
        items.extend(builder(scope))
    return items


# Each surface appends a function scope -> [NavItem] (web/views/*.py at import).
NAV: list[Any] = []


def active_href(items: list[NavItem], path: str) -> str | None:
    """The menu item the page belongs to: the longest item path that is the page's path or a
    folder of it (``/cooperatives/7`` for ``/cooperatives/7``, ``/cooperatives/7/households`` for
    its pages), so one item is highlighted, never two."""
    best: str | None = None
    for item in items:
        href = item.href.split("?", 1)[0]
        if (path == href or path.startswith(href.rstrip("/") + "/")) and (best is None or len(href) > len(best)):
            best = href
    return best


def static_url(filename: str) -> str:
    """``/static/<filename>?v=<hash of its content>``, the URL aiohttp's static route gives with
    ``append_version`` (``request.app.router['static'].url_for(filename=...)``), which reads and
    hashes the file on every call: about 1 ms per page for the 1.1 MB of ECharts. The hash is
    kept per file, size and modification time, so a changed file still gets a new URL."""
    path = STATIC_DIR / filename
    try:
        stat = path.stat()
    except OSError:
        return STATIC_PREFIX + filename
    return _versioned_url(filename, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _versioned_url(filename: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256((STATIC_DIR / filename).read_bytes()).digest()
    return str(URL(STATIC_PREFIX + filename).with_query({"v": base64.urlsafe_b64encode(digest).decode("ascii")}))


def base_context(request: web.Request) -> dict[str, Any]:
    user = request.get(USER)
    scope = request.get(SCOPE)
    nav = nav_for(request)
    return {
        "request": request,
        "user": user,
        "scope": scope,
        "role": scope.role.value if scope else None,
        "roles": UserRole,
        "csrf_token": request.get(CSRF, ""),
        "lang": current_lang(),
        "nav": nav,
        "active_href": active_href(nav, request.path),
        "path": request.path,
    }


def render(request: web.Request, template: str, context: dict[str, Any], *, status: int = 200) -> web.Response:
    return aiohttp_jinja2.render_template(template, request, base_context(request) | context, status=status)


@functools.cache
def template_environment() -> jinja2.Environment:
    """The console's and the mall's template environment, one per process: a template is compiled
    once and then serves every application the process makes (one in production; a test run
    makes hundreds, and compiling the 72 templates again for each cost about 9 ms a template).
    What aiohttp_jinja2.setup makes, less its per-application ``app`` global, which no template
    uses (templates reach the application through ``request.app``)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(["html", "xml"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(GLOBAL_HELPERS)
    env.globals["t"] = t
    env.globals["static_url"] = static_url
    env.filters.update(yuan=yuan, wan=wan, num=num, pct=pct, local_time=local_time, dash=dash)
    return env


def setup_templates(app: web.Application) -> None:
    app[aiohttp_jinja2.APP_KEY] = template_environment()
