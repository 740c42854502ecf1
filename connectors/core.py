"""The connector core: the class variables a platform sets, construction, identity and lifecycle.

The layers above it (:mod:`connectors.tokens`, :mod:`connectors.request_loop`,
:mod:`connectors.streams`, :mod:`connectors.stock`, :mod:`connectors.prices`) each add one
concern; :class:`connectors.base.Connector` assembles them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self

import aiohttp

from bangfu.clock import Clock as Clock  # re-exported: the connectors' clock type
from bangfu.enums import PlatformKind, SyncStream
from connectors.errors import UnsupportedStream
from connectors.http import get_session, request_timeout
from connectors.ratelimit import RateLimit, RateLimiter, TokenBucket, default_limiter
from connectors.retry import RetryPolicy, Uniform
from connectors.values import ConnectorStats, ShopConfig, Tokens
from connectors.windows import utcnow


class ConnectorCore:
    """What every layer reads: the platform's class variables, the shop, counters, clock."""

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
        #: the PIPL scrub of each stream, its table compiled once (connectors.streams)
        self._scrubbers: dict[SyncStream, Callable[[Mapping[str, Any]], Mapping[str, Any]]] = {}

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

    def _require(self, stream: SyncStream) -> None:
        if stream not in self.streams:
            raise UnsupportedStream(self.platform_name, stream.value)

    def _unsupported(self, what: str) -> UnsupportedStream:
        return UnsupportedStream(self.platform_name, what)
