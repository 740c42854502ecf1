"""The connector's value types: a shop's configuration, tokens, one request and response,
a page, the counters sync reads, and the results of stock and price writes."""

from __future__ import annotations

import dataclasses
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from bangfu.enums import ErrorClass, PlatformKind, SyncStream
from bangfu.records import Raw, StockPushResult
from connectors.errors import PlatformError
from connectors.ratelimit import RateLimit
from connectors.windows import ensure_utc

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
