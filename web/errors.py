"""Errors as one shape: JSON ``{"error": {"code", "message"}}`` under ``/api/``, a page elsewhere.

Nothing a client sends may end in a 500: bad input is a 400 naming the parameter, something
outside the user's scope is a 404 exactly like something that does not exist. An unexpected
exception is logged with its traceback and answered 500 without details.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bangfu.errors import UserError
from bangfu.i18n import t
from sync.errors import SyncError

log = logging.getLogger("bangfu.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "too_many_requests",
    500: "internal",
    503: "unavailable",
}
RETRY_AFTER_S = 2  # told to a client turned away because every database connection was busy


class BadParam(web.HTTPBadRequest):
    """A query or form parameter is wrong: names it and says why."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(reason=f"{name}: {message}")
        self.param = name
        self.detail = f"{name}: {message}"


def api_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _page(request: web.Request, status: int, message: str) -> web.StreamResponse:
    from web.render import render

    return render(request, "console/error.html", {"status": status, "message": message}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    api = request.path.startswith("/api/")
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = getattr(exc, "detail", None) or exc.reason or ""
        if api:
            return api_error(exc.status, CODES.get(exc.status, "error"), str(detail))
        if exc.status == 404:
            return _page(request, 404, t("web.error.404"))
        if exc.status == 403:
            return _page(request, 403, t("web.error.403"))
        return _page(request, exc.status, str(detail))
    except (UserError, SyncError) as exc:  # sync's own error (a task run eagerly here) reads the same
        if api:
            return api_error(400, "bad_request", str(exc))
        return _page(request, 400, str(exc))
    except PoolTimeout:
        # Every pooled connection stayed busy for the pool timeout: overload, not a fault. The
        # client is told to come back shortly instead of waiting on (web/app.py sizes the pool).
        log.warning("no database connection free for %s %s", request.method, request.path)
        response = (
            api_error(503, "unavailable", "busy, retry shortly") if api else _page(request, 503, t("web.error.503"))
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if api:
            return api_error(500, "internal", "internal error")
        return _page(request, 500, t("web.error.500"))
