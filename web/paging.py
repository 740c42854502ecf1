"""Query parameters every list shares: page and size (pages), cursor and limit (API), sort,
period. Each parse either returns a clean value or raises :class:`~web.errors.BadParam` naming
the parameter, so bad input is a 400, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bangfu.errors import UserError
from bangfu.reports.base import Period, parse_period
from web.errors import BadParam

MAX_LIMIT = 200


def int_param(request: web.Request, name: str, default: int, *, lo: int = 1, hi: int = 10**9) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParam(name, "not a whole number") from None
    if not lo <= value <= hi:
        raise BadParam(name, f"must be between {lo} and {hi}")
    return value


def id_param(request: web.Request, name: str = "id") -> int:
    """A path id; anything but a positive integer is simply not found."""
    raw = request.match_info.get(name, "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:  # str.isdigit() also takes "²" and "٣"
        raise web.HTTPNotFound()
    return int(raw)


@dataclass(frozen=True)
class Window:
    """Rows ``offset .. offset + limit`` of a sorted list."""

    offset: int
    limit: int

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1


def page_window(request: web.Request, default_size: int = 50) -> Window:
    """``?page=N&size=M`` for pages."""
    size = int_param(request, "size", default_size, hi=MAX_LIMIT)
    page = int_param(request, "page", 1, hi=10**6)
    return Window((page - 1) * size, size)


def encode_cursor(offset: int, fingerprint: str = "") -> str:
    raw = json.dumps({"o": offset, "f": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_window(request: web.Request, fingerprint: str = "", default_limit: int = 50) -> Window:
    """``?cursor=...&limit=M`` for the API; a cursor is only valid for the same query."""
    limit = int_param(request, "limit", default_limit, hi=MAX_LIMIT)
    cursor = request.query.get("cursor")
    if not cursor:
        return Window(0, limit)
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset, seen = int(data["o"]), str(data["f"])
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError, UnicodeDecodeError):
        raise BadParam("cursor", "not a cursor this API gave") from None
    if offset < 0 or seen != fingerprint:
        raise BadParam("cursor", "not a cursor for this query")
    return Window(offset, limit)


def next_cursor(window: Window, total: int, fingerprint: str = "") -> str | None:
    end = window.offset + window.limit
    return encode_cursor(end, fingerprint) if end < total else None


def sort_param(request: web.Request, allowed: Sequence[str], default: str) -> tuple[str, bool]:
    """``?sort=key`` or ``?sort=-key`` (descending) among ``allowed``; (key, descending)."""
    raw = request.query.get("sort") or default
    key = raw.lstrip("-")
    if key not in allowed:
        raise BadParam("sort", f"one of {', '.join(allowed)} (prefix - for descending)")
    return key, raw.startswith("-")


def period_param(request: web.Request, *, default: str | None = None, now: datetime | None = None) -> Period:
    """``?period=2026-10`` or ``?period=2026``, or ``?from=2026-10-01&to=2026-10-15``; default this month."""
    try:
        return parse_period(
            request.query.get("period") or (None if request.query.get("from") or request.query.get("to") else default),
            request.query.get("from") or None,
            request.query.get("to") or None,
            now=now or datetime.now(UTC),
        )
    except UserError as exc:
        raise BadParam("period", str(exc)) from None


def choice_param(request: web.Request, name: str, choices: Mapping[str, Any] | Sequence[str], default: str) -> str:
    raw = request.query.get(name) or default
    if raw not in choices:
        raise BadParam(name, f"one of {', '.join(choices)}")
    return raw
