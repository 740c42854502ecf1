"""The connector base class: one request loop, small hooks, windowed streams, quarantine.

A platform connector subclasses :class:`Connector`, sets the class variables, and overrides
hooks (singer-sdk ``RESTStream`` style; behaviour changes by overriding a hook, not by flags):

=====================================  ====================================================
hook                                   what it does
=====================================  ====================================================
``prepare(request) -> Request``        sign: add system params, timestamp, token, ``sign``;
                                       may set ``content`` (exact body bytes) and headers.
                                       Called afresh for every attempt (new timestamp,
                                       refreshed token). Default: ``params = sign(params)``.
``sign(params) -> params``             the simple case of ``prepare`` (query params only)
``classify(http_status, body)``        ``ErrorResolution`` or ``None`` for success; look codes
                                       up in the module's ``ERRORS`` table (policy as data).
                                       Default: 429 rate limit, 5xx transient, 401/403 auth,
                                       other 4xx bad request, an undecodable 2xx transient.
``unwrap(request, body) -> Any``       strip the success envelope (default: identity)
``decode(status, content_type, raw)``  bytes -> JSON (orjson); text when not JSON
``parse_order(raw) -> OrderRecord``    pure normalisation, no I/O (same for parse_refund,
                                       parse_product, parse_live_session; parse_settlement
                                       returns a sequence: one bill row can be many lines)
``_orders_window(start, end)``         async iterator of raw orders modified in [start, end)
                                       for ONE window (the base splits ranges; see below);
                                       likewise ``_refunds_window``, ``_settlements_window``,
                                       ``_live_sessions_window``, and ``_products_pages()``
``_order_detail_raw(order_id) -> Raw`` one raw order by id (detail API), same shape that
                                       ``parse_order`` takes; ``_refund_detail_raw`` likewise
``refresh_token()``                    where ``token_refresh = True``: call the token API with
                                       ``authenticated=False`` and ``self.set_tokens(...)``
``push_stock(...)``                    where the platform supports it
``_stock_delta(...)``, ``read_stock``  the platform's incremental stock API and stock read
                                       (default: read-then-set; see ``push_stock_delta``)
=====================================  ====================================================

The request loop, :meth:`Connector.call`::

    for attempt in RetryPolicy:                        (RetriableError only; ban hints honoured)
        refresh the token if it expires within refresh_margin (5 min)
        await rate limiter (platform, app_key)         (shared per process; bans pause all)
        request = prepare(Request(...))                (sign)
        send with ClientTimeout(total, sock_read)      (aiohttp errors -> TransientError)
        body = decode(...)
        resolution = classify(status, body)            (None -> return unwrap(request, body))
        raise error_for(resolution)                    (AuthError with token_expired ->
                                                        refresh once and resend)

Streams: ``orders(start, end)`` splits ``[start, end)`` into windows no wider than
``window_for(stream)`` (``min(stream_windows.get(stream, window_advised), window_max)``), calls
``_orders_window`` per window, and passes each raw record through :meth:`Connector.guard`:
a record whose parse raises is yielded as ``Quarantined(stream, id, error, raw)``, then the
base fetches the detail once (``_order_detail_raw``) and yields it if it parses. Paging never
stops because of one bad record. Streams not in ``streams`` raise :class:`UnsupportedStream`.

Three policies hold for every connector, here and nowhere else:

* look-back: a range starting before ``earliest_start(stream)`` (the platform's look-back from
  ``stream_lookback``, less ``lookback_margin`` for clock skew) is cut to start there, so a first
  sync never asks for what the platform refuses;
* unstable windows: a window whose records kept moving while paged (the connector raises
  :class:`WindowUnstable` after its own rescans) is read again ``unstable_retries`` times, then
  the error propagates: sync keeps the cursor before that window and reports the run failed;
* personal data (PIPL): every record :meth:`Connector.guard` and the detail calls yield, and
  every quarantined payload, has its raw payload scrubbed after parsing (:meth:`scrub_raw`,
  the per-platform table ``bangfu.scrub.PERSONAL_FIELDS``): no raw buyer id, nick, receiver
  name, phone or address reaches the store.

Paging within a window is platform-specific; :meth:`Connector.paginate` runs the common loop
(``fetch(token) -> Page(items, next)`` until ``next is None``, refusing a repeated token)::

    async def _orders_window(self, start, end):
        async def fetch(page_no):
            body = await self.call("orders.list", params={**self.window_params(start, end),
                                                           "page": page_no})
            items = body["orders"]
            return Page(items, next=page_no + 1 if len(items) == self.page_size else None)
        async for raw in self.paginate(fetch, 1):
            yield raw
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar, Self, TypeVar

import aiohttp
import orjson

from bangfu.enums import ErrorClass, PlatformKind, SyncStream
from bangfu.records import (
    LiveSessionRecord,
    OrderRecord,
    ProductRecord,
    Quarantined,
    Raw,
    RefundRecord,
    SettlementLineRecord,
    StockPushResult,
)
from bangfu.scrub import scrub_raw
from connectors.errors import (
    AuthError,
    BadRequestError,
    ErrorResolution,
    FatalError,
    PlatformError,
    RateLimitError,
    RecordError,
    RetriableError,
    TransientError,
    UnsupportedStream,
    WindowUnstable,
    error_for,
)
from connectors.http import decode_json, encode_json, get_session, request_timeout
from connectors.ratelimit import RateLimit, RateLimiter, TokenBucket, default_limiter
from connectors.retry import NETWORK_ERRORS, RetryPolicy, Uniform, as_platform_error
from connectors.windows import ensure_utc, split_windows, utcnow

__all__ = [
    "DEFAULT_HTTP_ERRORS",
    "Connector",
    "ConnectorStats",
    "Page",
    "Request",
    "Response",
    "ShopConfig",
    "StockDeltaResult",
    "StockPushUncertain",
    "Tokens",
    "WindowLog",
]

R = TypeVar("R")
Clock = Callable[[], datetime]

_HIDDEN = "***"


@dataclass(frozen=True)
class ShopConfig:
    """One connected shop: where its platform is and how we authenticate.

    ``repr`` never shows the app secret, tokens, or the values of ``extra`` (which may hold
    e.g. a self-built mall's password).
    """

    platform: PlatformKind
    base_url: str  # fake: http://127.0.0.1:18600 ; real: the gateway
    app_key: str
    app_secret: str = field(repr=False)
    shop_id: str  # the platform's shop id (ours is the DB id, elsewhere)
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    token_expires_at: datetime | None = None
    extra: Mapping[str, str] = field(default_factory=dict, repr=False, hash=False)
    #: the rate granted to this shop's app key where it differs from the connector class's
    #: (a bigger quota, or an unthrottled loopback fake in benchmarks)
    rate_limit: RateLimit | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "platform", PlatformKind(self.platform))
        if self.token_expires_at is not None:
            object.__setattr__(self, "token_expires_at", ensure_utc(self.token_expires_at, "token_expires_at"))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {self.base_url!r}")

    def __repr__(self) -> str:
        token = _HIDDEN if self.access_token else None
        return (
            f"ShopConfig(platform={self.platform.value!r}, base_url={self.base_url!r}, "
            f"app_key={self.app_key!r}, app_secret={_HIDDEN!r}, shop_id={self.shop_id!r}, "
            f"access_token={token!r}, token_expires_at={self.token_expires_at!r}, "
            f"extra_keys={sorted(self.extra)!r})"
        )


@dataclass
class Tokens:
    """The connector's current OAuth tokens (they change on refresh; the config does not)."""

    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None


@dataclass
class Request:
    """One HTTP request as the hooks see it. ``prepare`` edits a fresh copy per attempt.

    ``params`` go to the query string and ``data`` to a form body; both hold strings only
    (``None`` values are dropped, booleans become ``"true"``/``"false"``, numbers ``str()``)
    so what is signed is exactly what is sent. ``json`` is sent as compact JSON; ``content``
    (exact bytes, e.g. a signed JSON body) wins over both.
    """

    op: str
    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] | None = None
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    authenticated: bool = True
    attempt: int = 1

    def copy(self, **changes: Any) -> Request:
        fresh = dataclasses.replace(
            self,
            params=dict(self.params),
            data=None if self.data is None else dict(self.data),
            headers=dict(self.headers),
        )
        return dataclasses.replace(fresh, **changes) if changes else fresh


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    raw: bytes
    body: Any  # decoded JSON, or text when the body was not JSON


@dataclass(frozen=True)
class Page:
    """One page of raw records and the token for the next page (``None`` = last page)."""

    items: Sequence[Raw]
    next: Any = None
    total: int | None = None


@dataclass(frozen=True)
class WindowLog:
    stream: SyncStream
    start: datetime
    end: datetime


@dataclass
class ConnectorStats:
    """Counters sync reads after a run (and tests assert on)."""

    requests: int = 0  # HTTP exchanges sent (every attempt counts)
    calls: Counter[str] = field(default_factory=Counter)  # exchanges by op
    retries: Counter[ErrorClass] = field(default_factory=Counter)  # retried errors by class
    errors: Counter[ErrorClass] = field(default_factory=Counter)  # errors raised out of call()
    pages: int = 0
    quarantined: int = 0
    recovered: int = 0  # quarantined records recovered from the detail API
    token_refreshes: int = 0
    clamped: Counter[SyncStream] = field(default_factory=Counter)  # ranges cut to the look-back
    unstable_windows: int = 0  # passes over a window that ended in WindowUnstable
    windows: deque[WindowLog] = field(default_factory=lambda: deque(maxlen=20_000))

    def snapshot(self) -> dict[str, Any]:
        """A plain-JSON view for logs and the sync-health page."""
        return {
            "requests": self.requests,
            "calls": dict(self.calls),
            "retries": {k.value: v for k, v in self.retries.items()},
            "errors": {k.value: v for k, v in self.errors.items()},
            "pages": self.pages,
            "quarantined": self.quarantined,
            "recovered": self.recovered,
            "token_refreshes": self.token_refreshes,
            "clamped": {k.value: v for k, v in self.clamped.items()},
            "unstable_windows": self.unstable_windows,
            "windows": len(self.windows),
        }


@dataclass(frozen=True, slots=True)
class StockDeltaResult(StockPushResult):
    """What a stock delta did: the platform's ``stock`` after it, the delta asked for and the
    delta the platform took. They differ only for a decrease the platform could not take
    whole because it had already sold more than the hub knew: it is clamped at zero stock.
    ``stock`` is -1 when the write was confirmed but the stock could not be read back."""

    requested: int
    applied: int


#: the highest price a push may set: 1,000,000 yuan (TOP's own cap is 100,000,000 yuan)
MAX_PRICE_FEN = 100_000_000


@dataclass(frozen=True, slots=True)
class PricePushResult:
    """What a price write did: the price (fen) the platform holds for the item/SKU after it,
    as the platform answered (or as sent where the answer carries no price)."""

    platform_item_id: str
    platform_sku_id: str | None
    price_fen: int


class StockPushUncertain(PlatformError):
    """A stock write went to a platform that cannot deduplicate it and no answer came back:
    it may or may not have been applied, so it must never be sent again. Not retriable."""

    error_class = ErrorClass.TRANSIENT


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


def _dig(raw: Any, path: str) -> Any:
    value = raw
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


class Connector:
    """Base of every platform connector; see the module docstring for the hooks."""

    platform: ClassVar[PlatformKind]
    window_max: ClassVar[timedelta]  # hard platform limit: a wider window is refused
    window_advised: ClassVar[timedelta]  # what we use
    page_size: ClassVar[int]
    rate: ClassVar[RateLimit]  # requests/s and burst per (platform, app_key)
    streams: ClassVar[frozenset[SyncStream]]

    #: per-stream advised width and hard limit where they differ from the class's
    #: (e.g. Kuaishou refunds <= 1 day while orders <= 7 days).
    stream_windows: ClassVar[Mapping[SyncStream, timedelta]] = {}
    stream_window_max: ClassVar[Mapping[SyncStream, timedelta]] = {}
    #: how far back the platform serves each windowed stream: a window starting earlier is
    #: refused (e.g. Kuaishou 300005 "只能查询最近90天内的订单"). Streams not listed have no
    #: known limit. Applied in one place, :meth:`earliest_start`, to every windowed stream.
    stream_lookback: ClassVar[Mapping[SyncStream, timedelta]] = {}
    #: kept clear of the look-back edge: our clock may run behind the platform's (TOP allows
    #: +-10 min of timestamp skew) and the request arrives a little after it is built.
    lookback_margin: ClassVar[timedelta] = timedelta(minutes=10)
    #: times a window that never settled (:class:`WindowUnstable`) is read again, after a
    #: backoff, before the error propagates (sync then keeps the cursor before the window)
    unstable_retries: ClassVar[int] = 1
    #: dotted path of the platform id in a raw record, per stream (for quarantine)
    id_paths: ClassVar[Mapping[SyncStream, str]] = {}
    #: the platform refreshes access tokens (``refresh_token`` is implemented)
    token_refresh: ClassVar[bool] = False
    refresh_margin: ClassVar[timedelta] = timedelta(minutes=5)
    #: status -> resolution for the default ``classify``
    http_errors: ClassVar[Mapping[int, ErrorResolution]] = DEFAULT_HTTP_ERRORS
    #: the platform applies a stock delta once per idempotency key (a resend is a no-op)
    stock_delta_idempotent: ClassVar[bool] = False
    #: ``read_stock`` is one cheap call (an item API), not a walk of every product
    cheap_stock_read: ClassVar[bool] = False

    def __init__(
        self,
        config: ShopConfig,
        *,
        session: aiohttp.ClientSession | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen value object
        timeout: float = 20.0,
        clock: Clock = utcnow,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Uniform | None = None,
        on_tokens: Callable[[Tokens], Awaitable[None]] | None = None,
    ) -> None:
        self.config = config
        self.retry = retry
        self.timeout = timeout
        self.clock = clock
        self.stats = ConnectorStats()
        self.tokens = Tokens(config.access_token, config.refresh_token, config.token_expires_at)
        self._session = session
        self._client_timeout = request_timeout(timeout)
        self._limiter = limiter if limiter is not None else default_limiter()
        self._sleep = sleep
        self._rng = rng
        self._on_tokens = on_tokens
        self._refresh_lock: asyncio.Lock | None = None
        self._closed = False

    # ------------------------------------------------------------------ identity
    @property
    def platform_name(self) -> str:
        """The shop's platform as a string (``tmall`` for a Tmall shop on the TOP connector)."""
        return self.config.platform.value

    @property
    def bucket(self) -> TokenBucket:
        """This connector's rate-limit bucket, shared per (platform, app_key)."""
        return self._limiter.get(self.platform.value, self.config.app_key, self.config.rate_limit or self.rate)

    @property
    def session(self) -> aiohttp.ClientSession:
        return self._session if self._session is not None else get_session()

    def window_for(self, stream: SyncStream) -> timedelta:
        """The window width used for ``stream``: advised, never above the hard limit."""
        advised = self.stream_windows.get(stream, self.window_advised)
        hard = self.stream_window_max.get(stream, self.window_max)
        return min(advised, hard)

    def earliest_start(self, stream: SyncStream) -> datetime | None:
        """The earliest window start the platform accepts for ``stream`` right now (its
        look-back less :attr:`lookback_margin`), or ``None`` where it has no known limit."""
        lookback = self.stream_lookback.get(stream)
        if lookback is None:
            return None
        return self.clock() - lookback + self.lookback_margin

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shop_id={self.config.shop_id!r}, app_key={self.config.app_key!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release what the connector holds (never the shared or an injected session)."""
        self._closed = True

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

    # ------------------------------------------------------------------ tokens
    def _token_expiring(self) -> bool:
        expires = self.tokens.expires_at
        return expires is not None and expires - self.clock() <= self.refresh_margin

    async def _refresh(self, *, stale: str | None) -> None:
        """Refresh once even if many calls ask at the same time.

        ``stale`` is the token an auth error was raised with: if another caller already
        replaced it, there is nothing to do. ``None`` means "because it is about to expire".
        """
        if self._refresh_lock is None:
            self._refresh_lock = asyncio.Lock()
        async with self._refresh_lock:
            if stale is not None and self.tokens.access_token != stale:
                return
            if stale is None and not self._token_expiring():
                return
            await self.refresh_token()
            self.stats.token_refreshes += 1
            if self._on_tokens is not None:
                await self._on_tokens(dataclasses.replace(self.tokens))

    def set_tokens(
        self, access_token: str, refresh_token: str | None = None, expires_at: datetime | None = None
    ) -> None:
        """Record new tokens (from ``refresh_token``); ``refresh_token=None`` keeps the old one."""
        self.tokens = Tokens(
            access_token,
            refresh_token if refresh_token is not None else self.tokens.refresh_token,
            None if expires_at is None else ensure_utc(expires_at, "expires_at"),
        )

    async def refresh_token(self) -> None:
        """Get a new access token (platforms with ``token_refresh = True`` override)."""
        raise UnsupportedStream(self.platform_name, "token refresh")

    # ------------------------------------------------------------------ paging and quarantine
    async def paginate(
        self, fetch: Callable[[Any], Awaitable[Page]], first: Any, *, max_pages: int = 100_000
    ) -> AsyncIterator[Raw]:
        """Yield every item of every page, fetching ``fetch(token)`` until ``next is None``.

        A token seen twice would loop forever: that is refused as a transient error (the
        platform's paging state is inconsistent; the window is retried by sync).
        """
        token = first
        seen: set[str] = set()
        for _ in range(max_pages):
            page = await fetch(token)
            self.stats.pages += 1
            for item in page.items:
                yield item
            if page.next is None:
                return
            key = repr(page.next)
            if key in seen or page.next == token:
                raise TransientError(self.platform_name, "paging_loop", f"page token repeated: {key}")
            seen.add(key)
            token = page.next
        raise BadRequestError(self.platform_name, "paging_limit", f"more than {max_pages} pages")

    def record_id(self, stream: SyncStream, raw: Any) -> str | None:
        """The platform id of a raw record (from ``id_paths``), or ``None`` if unknown."""
        path = self.id_paths.get(stream)
        if path is None:
            return None
        value = _dig(raw, path)
        if value is None or isinstance(value, Mapping | list):
            return None
        text = str(value).strip()
        return text or None

    def scrub_raw(self, stream: SyncStream, raw: Raw) -> Raw:
        """``raw`` without its personal fields (PIPL; the table is ``bangfu.scrub.PERSONAL_FIELDS``):
        buyer ids hashed, names, phones and addresses dropped. Applied to every record and
        quarantined payload this class yields, after parsing (which needs the buyer id)."""
        return scrub_raw(self.config.platform, stream, raw)

    def scrubbed(self, stream: SyncStream, record: R) -> R:
        """``record`` with its ``raw`` scrubbed (the same object when nothing changed)."""
        raw = getattr(record, "raw", None)
        if not isinstance(raw, Mapping):
            return record
        clean = self.scrub_raw(stream, raw)
        return record if clean is raw else dataclasses.replace(record, raw=clean)  # type: ignore[type-var]

    async def guard(
        self,
        stream: SyncStream,
        raw: Raw,
        parse: Callable[[Raw], Iterable[R]],
        *,
        detail: Callable[[str], Awaitable[Raw]] | None = None,
    ) -> AsyncIterator[R | Quarantined]:
        """Parse one raw record; on failure yield ``Quarantined`` and try ``detail`` once.

        Any exception from ``parse`` quarantines the record (parse functions are pure; a bug
        in one shows up as quarantined records with the error, not a dead stream), except
        fatal and retriable platform errors, which propagate. A failed recovery is left
        quarantined: sync re-fetches it on a later run. Records and quarantined payloads come
        out with their personal fields scrubbed (:meth:`scrub_raw`).
        """
        try:
            results = [self.scrubbed(stream, record) for record in parse(raw)]
        except (FatalError, RetriableError):
            raise
        except Exception as exc:
            platform_id = self.record_id(stream, raw)
            self.stats.quarantined += 1
            kept = self.scrub_raw(stream, raw) if isinstance(raw, Mapping) else {"value": raw}
            yield Quarantined(stream, platform_id, _describe(exc), kept)
            if platform_id is None or detail is None:
                return
            try:
                fresh = await detail(platform_id)
                recovered = [self.scrubbed(stream, record) for record in parse(fresh)]
            except UnsupportedStream:
                return  # no detail API: the record stays quarantined
            except FatalError:
                raise
            except Exception:
                return  # still bad or still failing: stays quarantined, sync retries later
            self.stats.recovered += 1
            for record in recovered:
                yield record
            return
        for record in results:
            yield record

    async def _windowed(
        self,
        stream: SyncStream,
        start: datetime,
        end: datetime,
        fetch_window: Callable[[datetime, datetime], AsyncIterator[Raw]],
        parse: Callable[[Raw], Iterable[R]],
        detail: Callable[[str], Awaitable[Raw]] | None,
    ) -> AsyncIterator[R | Quarantined]:
        self._require(stream)
        floor = self.earliest_start(stream)
        if floor is not None and ensure_utc(start, "start") < floor:
            start = floor  # older records are out of the platform's reach: asking is refused
            self.stats.clamped[stream] += 1
        for window_start, window_end in split_windows(start, end, self.window_for(stream)):
            self.stats.windows.append(WindowLog(stream, window_start, window_end))
            for attempt in range(1, self.unstable_retries + 2):
                try:
                    async for raw in fetch_window(window_start, window_end):
                        async for item in self.guard(stream, raw, parse, detail=detail):
                            yield item
                    break
                except WindowUnstable as exc:
                    # Read it again after a pause (what was yielded is yielded again: upserts
                    # are idempotent); still moving, it propagates and the window stays unread.
                    self.stats.unstable_windows += 1
                    if attempt > self.unstable_retries:
                        raise
                    await self._sleep(self.retry.delay_for(exc, attempt, self._rng))

    def _require(self, stream: SyncStream) -> None:
        if stream not in self.streams:
            raise UnsupportedStream(self.platform_name, stream.value)

    def _unsupported(self, what: str) -> UnsupportedStream:
        return UnsupportedStream(self.platform_name, what)

    # ------------------------------------------------------------------ public streams
    async def orders(self, start: datetime, end: datetime) -> AsyncIterator[OrderRecord | Quarantined]:
        """Orders modified in ``[start, end)``, window by window, page by page."""
        async for item in self._windowed(
            SyncStream.ORDERS,
            start,
            end,
            self._orders_window,
            lambda raw: (self.parse_order(raw),),
            self._order_detail_raw,
        ):
            yield item

    async def order_detail(self, platform_order_id: str) -> OrderRecord:
        """One order by id; a record that does not parse raises :class:`RecordError`."""
        raw = await self._order_detail_raw(platform_order_id)
        try:
            return self.scrubbed(SyncStream.ORDERS, self.parse_order(raw))
        except PlatformError:
            raise
        except Exception as exc:
            raise RecordError(self.platform_name, "bad_record", _describe(exc)) from exc

    async def refund_detail(self, platform_refund_id: str) -> RefundRecord:
        """One refund by id; a record that does not parse raises :class:`RecordError`."""
        raw = await self._refund_detail_raw(platform_refund_id)
        try:
            return self.scrubbed(SyncStream.REFUNDS, self.parse_refund(raw))
        except PlatformError:
            raise
        except Exception as exc:
            raise RecordError(self.platform_name, "bad_record", _describe(exc)) from exc

    async def refunds(self, start: datetime, end: datetime) -> AsyncIterator[RefundRecord | Quarantined]:
        """Refunds / after-sales modified in ``[start, end)``."""
        async for item in self._windowed(
            SyncStream.REFUNDS,
            start,
            end,
            self._refunds_window,
            lambda raw: (self.parse_refund(raw),),
            self._refund_detail_raw,
        ):
            yield item

    async def products(self) -> AsyncIterator[ProductRecord | Quarantined]:
        """Every product (with SKUs) of the shop."""
        self._require(SyncStream.PRODUCTS)
        async for raw in self._products_pages():
            async for item in self.guard(SyncStream.PRODUCTS, raw, lambda r: (self.parse_product(r),)):
                yield item

    async def settlements(self, start: datetime, end: datetime) -> AsyncIterator[SettlementLineRecord | Quarantined]:
        """Settlement-bill lines settled in ``[start, end)``."""
        async for item in self._windowed(
            SyncStream.SETTLEMENTS, start, end, self._settlements_window, self.parse_settlement, None
        ):
            yield item

    async def live_sessions(self, start: datetime, end: datetime) -> AsyncIterator[LiveSessionRecord | Quarantined]:
        """Live sessions started (or modified) in ``[start, end)``, with minutes and explanations."""
        async for item in self._windowed(
            SyncStream.LIVE_SESSIONS,
            start,
            end,
            self._live_sessions_window,
            lambda raw: (self.parse_live_session(raw),),
            None,
        ):
            yield item

    async def push_stock(
        self,
        platform_item_id: str,
        platform_sku_id: str | None,
        quantity: int,
        *,
        idempotency_key: str,
    ) -> StockPushResult:
        """Set the platform's stock of an item/SKU to ``quantity`` (full update)."""
        raise self._unsupported("push_stock")

    async def push_stock_delta(
        self,
        platform_item_id: str,
        platform_sku_id: str | None,
        delta: int,
        *,
        idempotency_key: str,
    ) -> StockDeltaResult:
        """Add ``delta`` (negative: take away) to the platform's stock of an item/SKU.

        Uses the platform's incremental API where it has one (:meth:`_stock_delta`); the base
        default reads the stock and sets it, which races with a sale made between the read
        and the set (that unit goes back on sale): one round trip of exposure, documented
        per platform. Where the platform deduplicates by key (``stock_delta_idempotent``) the
        key is sent and a resend is a no-op; elsewhere a write is sent once, and a lost
        answer raises :class:`StockPushUncertain` (never send that push again).

        A decrease never drives the stock below zero: when the platform refuses it because
        it has sold more than the hub knew, the current stock is read and only that is taken
        (``applied``; ``requested`` is what was asked). Other refusals propagate unchanged.
        """
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise BadRequestError(self.platform_name, "stock", f"delta must be an int, got {delta!r}")
        if delta == 0:
            sku_id, stock = await self.read_stock(platform_item_id, platform_sku_id)
            return StockDeltaResult(platform_item_id, sku_id, stock, 0, 0)
        try:
            result = await self._stock_delta(platform_item_id, platform_sku_id, delta, idempotency_key)
        except UnsupportedStream:
            raise
        except (BadRequestError, RecordError) as refused:
            if delta > 0:
                raise
            return await self._clamp_decrease(platform_item_id, platform_sku_id, delta, idempotency_key, refused)
        return StockDeltaResult(result.platform_item_id, result.platform_sku_id, result.stock, delta, delta)

    async def _clamp_decrease(
        self, item_id: str, sku_id: str | None, delta: int, key: str, refused: PlatformError
    ) -> StockDeltaResult:
        """A refused decrease: take what the platform still has, re-reading if it sells meanwhile."""
        for round_no in range(1, self.retry.max_attempts + 1):
            resolved, current = await self.read_stock(item_id, sku_id)
            if current >= -delta:
                raise refused  # the stock was there: refused for another reason
            if current == 0:
                return StockDeltaResult(item_id, resolved, 0, delta, 0)
            try:
                result = await self._stock_delta(item_id, resolved, -current, f"{key}:c{round_no}")
            except UnsupportedStream:
                raise
            except (BadRequestError, RecordError):
                continue  # sold again between the read and the write: read again
            return StockDeltaResult(item_id, result.platform_sku_id, result.stock, delta, -current)
        raise refused

    async def read_stock(self, platform_item_id: str, platform_sku_id: str | None) -> tuple[str | None, int]:
        """The platform's current stock of an item/SKU and the SKU id it resolved to.

        Default: walk :meth:`products` (every item; platforms with an item API override).
        Without ``platform_sku_id`` the item must have at most one SKU.
        """
        async for product in self.products():
            if isinstance(product, Quarantined) or product.platform_item_id != platform_item_id:
                continue
            if not product.skus and not platform_sku_id:
                return None, product.stock
            if platform_sku_id is None and len(product.skus) == 1:
                return product.skus[0].platform_sku_id, product.skus[0].stock
            if platform_sku_id is None:
                raise BadRequestError(self.platform_name, "stock", f"item {platform_item_id} has several SKUs")
            for sku in product.skus:
                if sku.platform_sku_id == platform_sku_id:
                    return sku.platform_sku_id, sku.stock
            raise BadRequestError(self.platform_name, "stock", f"item {platform_item_id} has no SKU {platform_sku_id}")
        raise BadRequestError(self.platform_name, "stock", f"no item {platform_item_id}")

    async def read_stocks(
        self, wanted: Sequence[tuple[str, str | None]]
    ) -> dict[tuple[str, str | None], int | PlatformError]:
        """The stock of several items/SKUs: one :meth:`read_stock` each where that is cheap
        (``cheap_stock_read``), else a single walk of :meth:`products`. A pair that cannot be
        read maps to the error; an error of the walk itself propagates."""
        out: dict[tuple[str, str | None], int | PlatformError] = {}
        if self.cheap_stock_read or len(wanted) == 1:
            for pair in dict.fromkeys(wanted):
                try:
                    out[pair] = (await self.read_stock(*pair))[1]
                except (BadRequestError, RecordError) as exc:
                    out[pair] = exc
            return out
        items = {item for item, _ in wanted}
        found: dict[tuple[str, str | None], int] = {}
        async for product in self.products():
            if isinstance(product, Quarantined) or product.platform_item_id not in items:
                continue
            found[(product.platform_item_id, None)] = product.stock if len(product.skus) <= 1 else -1
            for sku in product.skus:
                found[(product.platform_item_id, sku.platform_sku_id)] = sku.stock
                if len(product.skus) == 1:
                    found[(product.platform_item_id, None)] = sku.stock
        for pair in wanted:
            stock = found.get(pair, -1)
            out[pair] = stock if stock >= 0 else BadRequestError(self.platform_name, "stock", f"cannot read {pair}")
        return out

    async def _stock_after(self, platform_item_id: str, platform_sku_id: str | None) -> StockPushResult:
        """Read the stock back after a confirmed write; ``-1`` if that read fails (the write
        stands: failing the push now would invite a second, duplicate write)."""
        try:
            sku_id, stock = await self.read_stock(platform_item_id, platform_sku_id)
        except PlatformError:
            return StockPushResult(platform_item_id, platform_sku_id, -1)
        return StockPushResult(platform_item_id, sku_id, stock)

    async def _stock_delta(
        self, platform_item_id: str, platform_sku_id: str | None, delta: int, idempotency_key: str
    ) -> StockPushResult:
        """Apply ``delta`` with the platform's API (one attempt of :meth:`push_stock_delta`).

        Default, for platforms with only a full update: read the stock, then set it. A result
        below zero is refused (like the incremental APIs); a set whose answer is lost becomes
        :class:`StockPushUncertain` (a second read-then-set could apply the delta twice).
        """
        sku_id, current = await self.read_stock(platform_item_id, platform_sku_id)
        if current + delta < 0:
            raise BadRequestError(self.platform_name, "stock_short", f"stock {current} {delta:+d} would go below zero")
        try:
            return await self.push_stock(platform_item_id, sku_id, current + delta, idempotency_key=idempotency_key)
        except RetriableError as exc:
            raise StockPushUncertain(
                self.platform_name, exc.code, f"set not confirmed, may have applied: {exc}"
            ) from exc

    # ------------------------------------------------------------------ price push
    async def push_price(
        self,
        platform_item_id: str,
        platform_sku_id: str | None,
        price_fen: int,
        *,
        idempotency_key: str,
    ) -> PricePushResult:
        """Set the platform's price of an item/SKU to ``price_fen`` (integer fen) with the
        platform's price API (:meth:`_price_write`).

        A price write is absolute: sending the same price again leaves the same price, so a
        resend (the request loop's retries, a later pass after a lost answer) can never apply
        twice; no platform here takes a key for it, so ``idempotency_key`` is not sent (the
        hub's own ledger of pushes, ``price_pushes``, is what keeps one price from being
        pushed twice). Bad prices are refused before anything is sent.
        """
        if isinstance(price_fen, bool) or not isinstance(price_fen, int):
            raise BadRequestError(self.platform_name, "price", f"price must be an int of fen, got {price_fen!r}")
        if not 0 < price_fen <= MAX_PRICE_FEN:
            raise BadRequestError(self.platform_name, "price", f"price must be 1..{MAX_PRICE_FEN} fen, got {price_fen}")
        return await self._price_write(platform_item_id, platform_sku_id or None, price_fen)

    async def _price_write(self, platform_item_id: str, platform_sku_id: str | None, price_fen: int) -> PricePushResult:
        """One platform's price API (overridden per platform)."""
        raise self._unsupported("push_price")

    # ------------------------------------------------------------------ hooks: per stream
    def _orders_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        raise self._unsupported(SyncStream.ORDERS.value)

    async def _order_detail_raw(self, platform_order_id: str) -> Raw:
        raise self._unsupported("order_detail")

    def _refunds_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        raise self._unsupported(SyncStream.REFUNDS.value)

    async def _refund_detail_raw(self, platform_refund_id: str) -> Raw:
        raise self._unsupported("refund_detail")

    def _products_pages(self) -> AsyncIterator[Raw]:
        raise self._unsupported(SyncStream.PRODUCTS.value)

    def _settlements_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        raise self._unsupported(SyncStream.SETTLEMENTS.value)

    def _live_sessions_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        raise self._unsupported(SyncStream.LIVE_SESSIONS.value)

    def parse_order(self, raw: Raw) -> OrderRecord:
        raise self._unsupported("parse_order")

    def parse_refund(self, raw: Raw) -> RefundRecord:
        raise self._unsupported("parse_refund")

    def parse_product(self, raw: Raw) -> ProductRecord:
        raise self._unsupported("parse_product")

    def parse_settlement(self, raw: Raw) -> Sequence[SettlementLineRecord]:
        raise self._unsupported("parse_settlement")

    def parse_live_session(self, raw: Raw) -> LiveSessionRecord:
        raise self._unsupported("parse_live_session")


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
