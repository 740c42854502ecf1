"""Self-built mall session: logging in like an operator (the session id is the connector's
access token, ``refresh_token`` logs in), its own cookie-less HTTP session, the request hooks
and one admin page fetch."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import aiohttp

from connectors.base import Connector, Request, Response
from connectors.errors import AuthError, ErrorResolution, TransientError
from connectors.http import POOL_LIMIT, POOL_LIMIT_PER_HOST, USER_AGENT, request_timeout
from connectors.selfmall.html import HtmlPage, attr, classify_page, csrf_of
from connectors.selfmall.tables import PLATFORM, REDIRECTS, SESSION_COOKIE


class MallSession(Connector):
    """The login session and request hooks; the streams are in :class:`connectors.selfmall.SelfmallConnector`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._own_session: aiohttp.ClientSession | None = None
        self._csrf: str | None = None
        if not self.tokens.access_token:
            # Not logged in yet: make the base log in before the first admin page.
            self.tokens.expires_at = datetime(1970, 1, 1, tzinfo=UTC)

    # ------------------------------------------------------------------ HTTP session
    @property
    def session(self) -> aiohttp.ClientSession:
        """The injected session, else one of our own whose cookie jar stores nothing (the
        login cookie is ours to send, never shared with another shop on the same host)."""
        if self._session is not None:
            return self._session
        if self._own_session is None or self._own_session.closed:
            self._own_session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=POOL_LIMIT, limit_per_host=POOL_LIMIT_PER_HOST),
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=request_timeout(self.timeout),
                headers={"User-Agent": USER_AGENT},
            )
        return self._own_session

    async def aclose(self) -> None:
        if self._own_session is not None and not self._own_session.closed:
            await self._own_session.close()
        await super().aclose()

    @property
    def username(self) -> str:
        return self.config.extra.get("username") or self.config.app_key

    @property
    def password(self) -> str:
        return self.config.extra.get("password") or self.config.app_secret

    # ------------------------------------------------------------------ request hooks
    def prepare(self, request: Request) -> Request:
        if request.authenticated:
            if not self.tokens.access_token:
                raise AuthError(PLATFORM, "no_session", "not logged in", token_expired=True)
            request.headers["Cookie"] = f"{SESSION_COOKIE}={self.tokens.access_token}"
            if request.data is not None and "csrf_token" in request.data and self._csrf:
                request.data["csrf_token"] = self._csrf  # the current session's token
        return request

    def decode(self, status: int, content_type: str, raw: bytes) -> Any:
        return HtmlPage(status, raw.decode("utf-8", errors="replace"))

    def resolve(self, response: Response) -> ErrorResolution | None:
        if isinstance(response.body, HtmlPage):
            response.body.headers = MappingProxyType(dict(response.headers))
        return super().resolve(response)

    def classify(self, http_status: int, body: Any) -> ErrorResolution | None:
        return classify_page(http_status, body)

    async def page(self, op: str, path: str, *, expect: str, params: Mapping[str, Any] | None = None) -> HtmlPage:
        """GET an admin page; a login page where ``expect`` was due means the session is gone:
        log in again once, then it is an :class:`AuthError`."""
        for attempt in range(2):
            page = await self.call(op, method="GET", path=path, params=params)
            if not isinstance(page, HtmlPage):
                raise TransientError(PLATFORM, "garbled", f"{op}: not a page")
            name = page.page_name
            if name == expect:
                return page
            if name != "login":
                raise TransientError(PLATFORM, "unexpected_page", f"{op}: expected {expect!r}, got {name!r}")
            if attempt == 0:
                await self._refresh(stale=self.tokens.access_token)
        raise AuthError(PLATFORM, "login_loop", f"{op}: still at the login page after logging in again")

    # ------------------------------------------------------------------ login ("token refresh")
    async def refresh_token(self) -> None:
        form = await self.call("login.form", method="GET", path="/login", authenticated=False)
        if not isinstance(form, HtmlPage) or form.page_name != "login":
            raise TransientError(PLATFORM, "no_login_form", "GET /login did not answer the login form")
        anonymous = form.cookie(SESSION_COOKIE)
        token = attr(form.first('//form[@data-form="login"]//input[@name="csrf_token"]'), "value")
        if not anonymous or not token:
            raise TransientError(PLATFORM, "no_login_form", "login form without session cookie or CSRF token")
        result = await self.call(
            "login.submit",
            method="POST",
            path="/login",
            data={"csrf_token": token, "username": self.username, "password": self.password, "next": "/admin/stock"},
            headers={"Cookie": f"{SESSION_COOKIE}={anonymous}"},
            authenticated=False,
        )
        if not isinstance(result, HtmlPage) or result.status not in REDIRECTS:
            code = result.error_code if isinstance(result, HtmlPage) else None
            raise AuthError(PLATFORM, code or "login_refused", "the mall refused the login")
        sid = result.cookie(SESSION_COOKIE)
        if not sid:
            raise AuthError(PLATFORM, "no_session_cookie", "login answered without a session cookie")
        landing = await self.call(
            "login.landing",
            method="GET",
            path="/admin/stock",
            headers={"Cookie": f"{SESSION_COOKIE}={sid}"},
            authenticated=False,
        )
        self._csrf = csrf_of(landing) if isinstance(landing, HtmlPage) else None
        self.set_tokens(sid, None, None)
