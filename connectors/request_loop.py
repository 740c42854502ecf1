"""The request loop: limit -> prepare (sign) -> send -> decode -> classify -> retry, with
the request hooks a platform overrides (see :mod:`connectors.base`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

import orjson

from bangfu.enums import ErrorClass
from connectors.errors import AuthError, ErrorResolution, PlatformError, RateLimitError, RetriableError, error_for
from connectors.http import decode_json, encode_json
from connectors.retry import NETWORK_ERRORS, as_platform_error
from connectors.tokens import TokenRefresh
from connectors.values import Request, Response, StockPushUncertain

R = TypeVar("R")

#: HTTP status -> resolution used by the default ``classify`` (platforms add their codes).
DEFAULT_HTTP_ERRORS: Mapping[int, ErrorResolution] = MappingProxyType(
    {
        401: ErrorResolution(ErrorClass.AUTH, message="HTTP 401 Unauthorized"),
        403: ErrorResolution(ErrorClass.AUTH, message="HTTP 403 Forbidden"),
        408: ErrorResolution(ErrorClass.TRANSIENT, message="HTTP 408 Request Timeout"),
        429: ErrorResolution(ErrorClass.RATE_LIMIT, message="HTTP 429 Too Many Requests"),
    }
)

_TRANSIENT_5XX = ErrorResolution(ErrorClass.TRANSIENT, message="server error")
_BAD_REQUEST_4XX = ErrorResolution(ErrorClass.BAD_REQUEST, message="client error")
_UNDECODABLE = ErrorResolution(ErrorClass.TRANSIENT, message="response body is not JSON")


def _stringify(values: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (values or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, float):
            raise TypeError(f"refusing float request value for {key!r}: {value!r}")
        elif isinstance(value, str | int):
            out[key] = str(value)
        else:
            out[key] = encode_json(value)
    return out


class RequestLoop(TokenRefresh):
    """One platform API call, resent by the retry policy, refreshing the token on expiry."""

    #: status -> resolution for the default ``classify``
    http_errors: ClassVar[Mapping[int, ErrorResolution]] = DEFAULT_HTTP_ERRORS

    # ------------------------------------------------------------------ hooks: request
    def sign(self, params: dict[str, str]) -> dict[str, str]:
        """Sign query params (platforms that sign more than the query override ``prepare``)."""
        return params

    def prepare(self, request: Request) -> Request:
        """Build the request as sent (system params, timestamp, token, signature)."""
        request.params = self.sign(request.params)
        return request

    def decode(self, status: int, content_type: str, raw: bytes) -> Any:
        """JSON (orjson) when the body parses, else the text (for ``classify`` to judge)."""
        if not raw:
            return None
        try:
            return decode_json(raw)
        except orjson.JSONDecodeError:
            return raw.decode("utf-8", errors="replace")

    def classify(self, http_status: int, body: Any) -> ErrorResolution | None:
        """``None`` for success, else what the response means. Platforms call ``super()``
        first for HTTP-level failures, then read their envelope and ``ERRORS`` table."""
        row = self.http_errors.get(http_status)
        if row is not None:
            return row.with_details(code=http_status)
        if http_status >= 500:
            return _TRANSIENT_5XX.with_details(code=http_status, message=f"HTTP {http_status}")
        if http_status >= 300:  # 4xx, and redirects (we never follow one to a gateway)
            return _BAD_REQUEST_4XX.with_details(code=http_status, message=f"HTTP {http_status}")
        if isinstance(body, str) or body is None:
            return _UNDECODABLE.with_details(code=http_status)
        return None

    def resolve(self, response: Response) -> ErrorResolution | None:
        """``classify`` plus the HTTP ``Retry-After`` header for rate limits without a hint."""
        resolution = self.classify(response.status, response.body)
        if (
            resolution is not None
            and resolution.error_class is ErrorClass.RATE_LIMIT
            and resolution.retry_after is None
        ):
            header = response.headers.get("Retry-After", "")
            if header.strip().isdigit():
                resolution = resolution.with_details(retry_after=float(header.strip()))
        return resolution

    def unwrap(self, request: Request, body: Any) -> Any:
        """Strip the success envelope; ``call`` returns what this returns."""
        return body

    # ------------------------------------------------------------------ request loop
    async def call(
        self,
        op: str,
        *,
        method: str = "POST",
        path: str = "",
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
        base_url: str | None = None,
    ) -> Any:
        """One platform API call with rate limiting, signing, retries and token refresh.

        ``op`` is the platform's method name (e.g. ``taobao.trades.sold.increment.get``) and
        is what ``prepare`` signs and counters count; ``path`` is appended to ``base_url``.
        ``authenticated=False`` for calls made without the access token (token APIs):
        no proactive refresh, no refresh on auth errors. Returns ``unwrap(request, body)``.
        """
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        root = (base_url or self.config.base_url).rstrip("/")
        url = root + (path if not path or path.startswith("/") else "/" + path)
        template = Request(
            op=op,
            method=method.upper(),
            url=url,
            params=_stringify(params),
            data=None if data is None else _stringify(data),
            json=json,
            content=content,
            headers=dict(headers or {}),
            authenticated=authenticated,
        )

        async def attempt(number: int) -> Any:
            refreshed = False
            while True:
                if authenticated and self.token_refresh and self._token_expiring():
                    await self._refresh(stale=None)
                sent_with = self.tokens.access_token
                try:
                    return await self._exchange(template.copy(attempt=number))
                except AuthError as exc:
                    if not (exc.token_expired and authenticated and self.token_refresh) or refreshed:
                        raise
                    refreshed = True
                    await self._refresh(stale=sent_with)

        try:
            return await self.retry.run(
                attempt,
                platform=self.platform_name,
                sleep=self._sleep,
                rng=self._rng,
                on_retry=self._on_retry,
            )
        except PlatformError as exc:
            self.stats.errors[exc.error_class] += 1
            raise

    async def call_once(
        self,
        op: str,
        *,
        method: str = "POST",
        path: str = "",
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        base_url: str | None = None,
    ) -> Any:
        """``call`` sent exactly once: no resend on any error (after a proactive token refresh).

        For writes a platform cannot deduplicate (stock increments): a resend after a lost
        answer could apply them twice. See :meth:`_send_once` for waiting out rate limits.
        """
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        if self.token_refresh and self._token_expiring():
            await self._refresh(stale=None)
        root = (base_url or self.config.base_url).rstrip("/")
        request = Request(
            op=op,
            method=method.upper(),
            url=root + (path if not path or path.startswith("/") else "/" + path),
            params=_stringify(params),
            data=None if data is None else _stringify(data),
            json=json,
            headers=dict(headers or {}),
        )
        try:
            return await self._exchange(request)
        except PlatformError as exc:
            self.stats.errors[exc.error_class] += 1
            raise

    async def _send_once(self, send: Callable[[], Awaitable[R]]) -> R:
        """Run a write the platform cannot deduplicate (``send`` must send it once).

        A rate-limit refusal was never applied: it is waited out and sent again (up to the
        retry policy's attempts, then raised). Any other retriable failure (timeout, dropped
        connection, 5xx) may have been applied after all: it becomes
        :class:`StockPushUncertain`, never a resend.
        """
        attempt = 1
        while True:
            try:
                return await send()
            except RateLimitError as exc:
                if attempt >= self.retry.max_attempts:
                    raise
                self.stats.retries[exc.error_class] += 1
                await self._sleep(self.retry.delay_for(exc, attempt, self._rng))
                attempt += 1
            except RetriableError as exc:
                raise StockPushUncertain(self.platform_name, exc.code, f"no answer, may have applied: {exc}") from exc

    async def _exchange(self, template: Request) -> Any:
        await self.bucket.acquire()
        request = self.prepare(template)
        self.stats.requests += 1
        self.stats.calls[request.op] += 1
        body_kwargs: dict[str, Any] = {}
        if request.content is not None:
            body_kwargs["data"] = request.content
        elif request.json is not None:
            body_kwargs["data"] = orjson.dumps(request.json)
            request.headers.setdefault("Content-Type", "application/json")
        elif request.data is not None:
            body_kwargs["data"] = request.data
        try:
            async with self.session.request(
                request.method,
                request.url,
                params=request.params or None,
                headers=request.headers,
                timeout=self._client_timeout,
                allow_redirects=False,
                **body_kwargs,
            ) as resp:
                raw = await resp.read()
                response = Response(
                    resp.status,
                    MappingProxyType(dict(resp.headers)),
                    raw,
                    self.decode(resp.status, resp.content_type, raw),
                )
        except NETWORK_ERRORS as exc:
            converted = as_platform_error(exc, self.platform_name)
            if converted is None:
                raise
            raise converted from exc
        resolution = self.resolve(response)
        if resolution is None:
            return self.unwrap(request, response.body)
        code = resolution.code if resolution.code is not None else response.status
        error = error_for(resolution, self.platform_name, code)
        if isinstance(error, RateLimitError) and error.retry_after:
            self.bucket.ban(error.retry_after)
        raise error

    def _on_retry(self, error: RetriableError, attempt: int, delay: float) -> None:
        self.stats.retries[error.error_class] += 1
