"""The fake platform server base: an aiohttp app per platform, faults, latency and test hooks.

A platform fake subclasses :class:`FakePlatform`, sets ``platform`` and implements three hooks:

* ``add_routes(app)``: the platform's API routes, rendering ``self.shops`` worlds;
* ``rate_limit_response(request)``: the platform's own rate-limit answer (its code and ban hint);
* ``credential_fields()``: the credentials under the platform's own names, for ``describe()``.

Optional hooks: ``server_error_response(request)`` (default: a 5xx HTML page),
``default_credentials(shop_id)`` (obviously fake values), ``request_key(request, body)`` (what
counts as "the same request" for the fault cap; drops ``volatile_params`` such as timestamp and
sign), ``shop_id_for(seed, number)``, ``public_order_id(order_id)`` (the id as the platform
shows it, for ``/_fake/truth?records=1``), and the ClassVars ``volatile_params``,
``access_token_ttl``/``refresh_token_ttl``.

Every app gets, outside the fault middleware (never faulted, never delayed):

* ``GET /_fake/health`` -> ``{"ok": true, "platform", "now"}``;
* ``GET /_fake/truth`` -> ``{"platform", "shops": {shop_id: world.truth()}, "as_of": iso}``;
  ``?records=1`` adds each shop's ``"records"`` (``world.records()``: every order's and refund's
  status and modified time, to check a sync holds the latest version of each);
* ``GET|POST /_fake/clock`` with ``{"advance_seconds": N}`` | ``{"freeze_at": iso}`` |
  ``{"freeze": true}`` | ``{"unfreeze": true}`` -> ``{"now": iso, "frozen": bool}``;
* ``GET|POST /_fake/faults`` with ``{"profile": "none|light|chaos"}`` and/or field overrides
  (``{"rate_limit": 0.5, "hang_seconds": 0.2}``) -> the profile and counters;
* ``POST /_fake/tokens/expire`` -> expires every issued access token (refresh tests).
* ``POST /_fake/buy`` with ``{"item_id", "sku_id", "quantity", "shop_id"?, "buyer"?}`` -> a buyer's
  paid order placed now (``FakeWorld.place_order``): ``200 {"ok": true, "order_id", "shop_id",
  "quantity", "stock"}``, or ``409 {"ok": false, "error"}`` when the stock is short or the
  item/SKU unknown (nothing changes), ``404`` for an unknown shop, ``400`` for a bad body.

API requests pass: fixed latency (``latency_ms``), then a request fault: ``rate_limit`` ->
``rate_limit_response``; ``server_error`` -> ``server_error_response``; ``slow`` -> sleep
``slow_seconds`` then answer; ``hang`` -> sleep ``hang_seconds`` (cut short when the app shuts
down) then answer; ``drop`` -> the connection is closed without an answer.

Helpers for subclasses: :meth:`FakePlatform.page_slice` (applies ``duplicate_on_page``),
:meth:`FakePlatform.touch_during_paging` (``modify_during_paging``: touching an order moves its
``modified_at`` to now, out of the window being paged), :meth:`FakePlatform.maybe_malform`
(with :func:`missing` / :func:`replaced` corruptors), :class:`FakeTokens` for token endpoints,
and :meth:`FakePlatform.orders_modified` / ``orders_created`` / ``refunds_modified``: the world's
window queries, cached while a client pages through one window (each page would otherwise
rebuild every record of the window).

Frozen mode (``build_fake(..., frozen=True)``, ``bangfu fakes serve --frozen``): the clock stands
still, the worlds keep every order and refund they build (``FakeWorld.retain``), and the list
APIs' records are pre-rendered: :meth:`FakePlatform.prerender` renders every order and refund of
every world once (each platform's :meth:`~FakePlatform.prerender_world`) to the JSON bytes (an
``orjson.Fragment``; the self-built mall: HTML) its list pages carry, and a page is served by
checking the request exactly as in live mode (signing, token, paging, parameters, the same
errors), then cutting the window's cached, sorted list and joining the records' bytes
(:meth:`FakePlatform.frozen_records`). Records are keyed by id and by whatever else shapes
them (TOP's ``fields``, JD's ``optional_fields``): a shape first asked for renders the whole
world in it once, on that request. The bytes are the ones live rendering produces, so bodies
are identical; every cache is keyed on the world's state (its clock to the second, touches,
placed orders), so a moved clock, a touch or a sale is never served stale, and with the
``malformed`` fault on, records are rendered live (a malformed record is a per-request draw).

Public interface (stable)::

    FakeCredentials(app_key, app_secret, shop_id, access_token, refresh_token)
    FakeTokens(clock, prefix, access_ttl, refresh_ttl)
        .register(access, refresh) .issue() .refresh(refresh_token) .is_valid(access) .check(access)
        .expire_all() .current
    FakePlatform(*, shops, faults=None, latency_ms=0, credentials=None, frozen=False)
        .platform .shops (dict) .world .clock .faults .latency_ms .credentials .tokens .frozen
        .build_app() .world_for(shop_id) .truth(records=False) .describe(base_url)
        .page_slice(items, page_no, page_size, *, first_page=1)
        .touch_during_paging(world, order_ids, page_no, *, first_page=1) -> str | None
        .maybe_malform(key, record, corrupt) -> dict
        .serving_frozen -> bool       # frozen, the clock stopped, no malformed records
        .frozen_records(world, kind, items, key, render, *, source, freeze=json_fragment) -> list
        .frozen_count(world, *kinds) -> int           # records of those kinds pre-rendered
        .prerender() -> int           # records pre-rendered over every world (frozen mode)
        .prerender_world(world) -> int                # hook: a platform's list records
    json_fragment(value) -> orjson.Fragment           # a record as the bytes json_response writes
    build_fake(platform, *, seed=7, orders=500, faults="none", latency_ms=0, clock=None,
               shops=1, days=60, catalog=None, fault_seed=None, frozen=False) -> FakePlatform
    Running(platform, fake, base_url, runner): .credentials .clock .world .describe() .close()
    start(fake, host="127.0.0.1", port=0) -> Running
    serve_all(platforms, host, port_base, seed, orders, faults, latency_ms, clock, *, shops=1,
              days=60, frozen=False) -> list[Running]   # ports by PLATFORM_ORDER, not list position
                                      # frozen: the clock frozen and the records pre-rendered
    fake_server(platform, **build_fake kwargs) -> async context manager yielding Running
"""

from __future__ import annotations

import asyncio
import copy
import gc
import hashlib
import logging
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web

from bangfu.demo.catalog import CatalogSku
from connectors.fakes.clock import FakeClock
from connectors.fakes.faults import FaultInjector, FaultKind, FaultProfile, RequestFault
from connectors.fakes.registry import LIVE_PLATFORMS, load_fake, port_for
from connectors.fakes.world import FakeOrder, FakeRefund, FakeWorld, StockError

T = TypeVar("T")
Record = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

log = logging.getLogger(__name__)

FAKE_PREFIX = "/_fake/"
_BEIJING_OFFSET = timedelta(hours=8)
#: window query results kept per shop: the hub reads up to 8 windows of a stream at once
#: (sync/windows.py), orders and refunds together, each window's first page twice
WINDOW_CACHE_PER_SHOP = 24
#: the same in frozen mode, where the records are retained anyway and a list of them is cheap:
#: enough for a client reading many windows of a shop at once
FROZEN_WINDOW_CACHE_PER_SHOP = 64

#: Request parameters that change on every retry and so do not identify "the same request".
DEFAULT_VOLATILE_PARAMS: frozenset[str] = frozenset(
    {
        "timestamp",
        "sign",
        "signature",
        "sign_method",
        "sign_type",
        "signMethod",
        "sign_v2",
        "nonce",
        "nonce_str",
        "_",
        "t",
        "ts",
        "access_token",
        "session",
    }
)


# --------------------------------------------------------------------------- credentials, tokens


@dataclass(frozen=True, slots=True)
class FakeCredentials:
    """Obviously fake credentials a fake accepts (and its clients send)."""

    app_key: str
    app_secret: str = field(repr=False)
    shop_id: str
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    refresh_token: str
    expires_at: datetime
    refresh_expires_at: datetime

    def expires_in(self, now: datetime) -> int:
        """Seconds left, as token endpoints report it."""
        return max(0, int((self.expires_at - now).total_seconds()))


class FakeTokens:
    """Issued access/refresh tokens and their expiry, for platforms with token endpoints.

    Tokens are deterministic strings (``<prefix>-at-000001``), never real secrets. A refresh
    token is single-use: refreshing retires it and the access token issued with it.
    """

    def __init__(self, clock: FakeClock, prefix: str, access_ttl: timedelta, refresh_ttl: timedelta) -> None:
        self.clock = clock
        self.prefix = prefix
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._by_access: dict[str, IssuedToken] = {}
        self._by_refresh: dict[str, IssuedToken] = {}
        self._serial = 0
        self.current: IssuedToken | None = None

    def register(self, access_token: str, refresh_token: str) -> IssuedToken:
        """Accept a given pair (the credentials printed at start), valid from now."""
        now = self.clock.now()
        token = IssuedToken(access_token, refresh_token, now + self.access_ttl, now + self.refresh_ttl)
        self._by_access[access_token] = token
        self._by_refresh[refresh_token] = token
        self.current = token
        return token

    def issue(self) -> IssuedToken:
        """A new pair (e.g. for an authorisation-code exchange)."""
        self._serial += 1
        return self.register(f"{self.prefix}-at-{self._serial:06d}", f"{self.prefix}-rt-{self._serial:06d}")

    def refresh(self, refresh_token: str) -> IssuedToken | None:
        """Exchange a live refresh token for a new pair; None if unknown, used or expired."""
        old = self._by_refresh.pop(refresh_token, None)
        if old is None or old.refresh_expires_at <= self.clock.now():
            return None
        self._by_access.pop(old.access_token, None)
        return self.issue()

    def check(self, access_token: str | None) -> str:
        """``"valid"``, ``"expired"`` or ``"unknown"``."""
        token = self._by_access.get(access_token or "")
        if token is None:
            return "unknown"
        return "valid" if token.expires_at > self.clock.now() else "expired"

    def is_valid(self, access_token: str | None) -> bool:
        return self.check(access_token) == "valid"

    def expire_all(self) -> int:
        """Expire every access token now (refresh tokens stay usable); returns how many."""
        now = self.clock.now() - timedelta(seconds=1)
        for access, token in list(self._by_access.items()):
            expired = IssuedToken(token.access_token, token.refresh_token, now, token.refresh_expires_at)
            self._by_access[access] = expired
            self._by_refresh[token.refresh_token] = expired
        return len(self._by_access)


# --------------------------------------------------------------------------- malformed records


def missing(*names: str) -> Callable[[Record], Record]:
    """A corruptor that deletes top-level fields (e.g. the id or the amount)."""

    def corrupt(record: Record) -> Record:
        for name in names:
            record.pop(name, None)
        return record

    return corrupt


def replaced(**values: Any) -> Callable[[Record], Record]:
    """A corruptor that overwrites top-level fields (e.g. ``payment="12.3.4"``)."""

    def corrupt(record: Record) -> Record:
        record.update(values)
        return record

    return corrupt


# --------------------------------------------------------------------------- the base app


def _digest(*parts: object) -> int:
    text = ":".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


class FakePlatform(ABC):
    """Base of every fake platform server (see the module docstring for the hooks)."""

    platform: ClassVar[str]
    volatile_params: ClassVar[frozenset[str]] = DEFAULT_VOLATILE_PARAMS
    access_token_ttl: ClassVar[timedelta] = timedelta(days=7)
    refresh_token_ttl: ClassVar[timedelta] = timedelta(days=30)

    def __init__(
        self,
        *,
        shops: Sequence[FakeWorld],
        faults: FaultInjector | None = None,
        latency_ms: int = 0,
        credentials: FakeCredentials | None = None,
        frozen: bool = False,
    ) -> None:
        if not shops:
            raise ValueError("a fake platform serves at least one shop")
        if latency_ms < 0:
            raise ValueError("latency_ms must not be negative")
        self.shops: dict[str, FakeWorld] = {world.shop_id: world for world in shops}
        self.world = shops[0]
        self.clock = self.world.clock
        self.faults = faults if faults is not None else FaultInjector()
        self.latency_ms = latency_ms
        self.credentials = credentials if credentials is not None else self.default_credentials(self.world.shop_id)
        self.tokens = FakeTokens(self.clock, f"fake-{self.platform}", self.access_token_ttl, self.refresh_token_ttl)
        self.tokens.register(self.credentials.access_token, self.credentials.refresh_token)
        self._closing = asyncio.Event()
        self._window_touches = 0
        self._windows: OrderedDict[tuple[Any, ...], list[Any]] = OrderedDict()
        self._memos: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self.frozen = frozen
        #: window query results (and memos) kept, over all shops
        self.window_cache_size = (FROZEN_WINDOW_CACHE_PER_SHOP if frozen else WINDOW_CACHE_PER_SHOP) * len(self.shops)
        # (shop id, kind) -> (the world's state, {record key: pre-rendered record})
        self._frozen: dict[tuple[str, Hashable], tuple[tuple[Any, ...], dict[Hashable, Any]]] = {}
        if frozen:
            for world in self.shops.values():
                world.retain()

    # ----------------------------------------------------------------- hooks

    @classmethod
    def default_credentials(cls, shop_id: str) -> FakeCredentials:
        return FakeCredentials(
            app_key=f"fake-{cls.platform}-app",
            app_secret="fake-secret-not-real",
            shop_id=shop_id,
            access_token=f"fake-{cls.platform}-access-token",
            refresh_token=f"fake-{cls.platform}-refresh-token",
        )

    @classmethod
    def shop_id_for(cls, seed: int, number: int) -> str:
        """The platform's id of shop ``number`` (0-based) for a seed: a numeric string."""
        return str(10**8 + _digest("bangfu-fake-shop", cls.platform, seed, number) % (9 * 10**8))

    @classmethod
    def public_order_id(cls, order_id: str) -> str:
        """A world order id as the platform shows it (and the hub stores it)."""
        return order_id

    @abstractmethod
    def add_routes(self, app: web.Application) -> None:
        """Register the platform's API routes on ``app``."""

    @abstractmethod
    def rate_limit_response(self, request: web.Request) -> web.StreamResponse:
        """The platform's own rate-limit answer: its code, and its ban hint where it has one."""

    def credential_fields(self) -> dict[str, str]:
        """Credentials under the platform's own names (``describe()`` prints them)."""
        creds = self.credentials
        return {
            "app_key": creds.app_key,
            "app_secret": creds.app_secret,
            "access_token": creds.access_token,
            "refresh_token": creds.refresh_token,
            "shop_id": creds.shop_id,
        }

    def server_error_response(self, request: web.Request) -> web.StreamResponse:
        """A gateway-style 5xx with an HTML body (not the platform's JSON envelope)."""
        status = (500, 502, 503, 504)[self.faults.randint(0, 3)]
        reason = {
            500: "Internal Server Error",
            502: "Bad Gateway",
            503: "Service Unavailable",
            504: "Gateway Timeout",
        }
        title = f"{status} {reason[status]}"
        body = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        return web.Response(status=status, text=body, content_type="text/html")

    def request_key(self, request: web.Request, body: bytes) -> str:
        """What identifies "the same request" across retries (for the fault cap)."""
        params = [(k, v) for k, v in request.query.items() if k not in self.volatile_params]
        extra = ""
        if body:
            if request.content_type == "application/x-www-form-urlencoded":
                form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
                params.extend((k, v) for k, v in form if k not in self.volatile_params)
            else:
                extra = hashlib.sha256(body).hexdigest()
        params.sort()
        return f"{request.method} {request.path} {params} {extra}"

    # ----------------------------------------------------------------- helpers for subclasses

    def world_for(self, shop_id: str | None) -> FakeWorld | None:
        """The shop's world; ``None``/empty means the default (first) shop."""
        if not shop_id:
            return self.world
        return self.shops.get(shop_id)

    def page_slice(self, items: Sequence[T], page_no: int, page_size: int, *, first_page: int = 1) -> list[T]:
        """Page ``page_no`` of ``items``; past the end -> ``[]``.

        With ``duplicate_on_page`` a page after the first starts with the previous page's last
        item again (so the page holds ``page_size + 1`` items): the same record on two pages.
        """
        if page_size <= 0:
            raise ValueError("page_size must be positive")
        start = (page_no - first_page) * page_size
        if start < 0:
            return []
        page = list(items[start : start + page_size])
        if page and start > 0 and self.faults.should_duplicate():
            page.insert(0, items[start - 1])
        return page

    def touch_during_paging(
        self, world: FakeWorld, order_ids: Sequence[str], page_no: int, *, first_page: int = 1
    ) -> str | None:
        """On a page after the first, maybe touch one order of the window (returns its id).

        Call it after slicing the page being served: the touched order's ``modified_at`` jumps
        to now, so it leaves the window and the following pages shift under the client.
        """
        if page_no <= first_page or not order_ids or not self.faults.should_touch():
            return None
        order_id = self.faults.choice(order_ids)
        world.touch(order_id)
        self._window_touches += 1
        return order_id

    def orders_modified(self, world: FakeWorld, start: datetime, end: datetime) -> list[FakeOrder]:
        """``world.orders_modified(start, end)``, reused while a client pages through the window."""
        return self._cached_window(world, "orders_modified", start, end, world.orders_modified, _modified_at)

    def orders_created(self, world: FakeWorld, start: datetime, end: datetime) -> list[FakeOrder]:
        """``world.orders_created(start, end)``, reused while a client pages through the window."""
        return self._cached_window(world, "orders_created", start, end, world.orders_created, _created_at)

    def refunds_modified(self, world: FakeWorld, start: datetime, end: datetime) -> list[FakeRefund]:
        """``world.refunds_modified(start, end)``, reused while a client pages through the window."""
        return self._cached_window(world, "refunds_modified", start, end, world.refunds_modified, _modified_at)

    def _cached_window(
        self,
        world: FakeWorld,
        kind: str,
        start: datetime,
        end: datetime,
        query: Callable[[datetime, datetime], list[T]],
        moment: Callable[[T], datetime],
    ) -> list[T]:
        """A window query's result (a fresh list), cached while nothing can have changed it.

        A world is a pure function of its clock (to the second), the touches (which only the
        fake makes, in :meth:`touch_during_paging`) and the orders buyers placed, so paging
        through one window builds its records once instead of once per page. A window inside
        a cached one is cut out of it (the same records, in the same order: the queries sort
        by ``moment``), so a client that counts a wide window and then pages narrow slices of
        it (TOP's dense windows) builds each record once too.
        """
        state = (*self._world_state(world), kind)
        key = (*state, start, end)
        cached = self._windows.get(key)
        if cached is not None:
            self._windows.move_to_end(key)
            return list(cached)
        for wider, records in reversed(self._windows.items()):
            if wider[:-2] == state and wider[-2] <= start and end <= wider[-1]:
                self._windows.move_to_end(wider)
                return [record for record in records if start <= moment(record) < end]
        cached = query(start, end)
        self._windows[key] = cached
        while len(self._windows) > self.window_cache_size:
            self._windows.popitem(last=False)
        return list(cached)

    def memo(self, world: FakeWorld, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """``compute()`` for ``key`` (a window's filtered and sorted rows, say), kept like a window
        query's result while the world cannot have changed. Callers must not mutate it."""
        full = (*self._world_state(world), *key)
        if full in self._memos:
            self._memos.move_to_end(full)
            value: T = self._memos[full]
            return value
        value = compute()
        self._memos[full] = value
        while len(self._memos) > self.window_cache_size:
            self._memos.popitem(last=False)
        return value

    def _world_state(self, world: FakeWorld) -> tuple[Any, ...]:
        """What a world's answers depend on: its clock (to the second), touches, placed orders."""
        return (
            world.shop_id,
            int(world.now().timestamp()),
            self._window_touches,
            world.revision,
            world.placed_count,
        )

    # ----------------------------------------------------------------- frozen mode

    @property
    def serving_frozen(self) -> bool:
        """Whether list records come pre-rendered: frozen mode, the clock stopped, and no
        ``malformed`` fault (a malformed record is drawn per request, so those render live)."""
        return self.frozen and self.clock.frozen and self.faults.profile.malformed <= 0.0

    def frozen_records(
        self,
        world: FakeWorld,
        kind: Hashable,
        items: Iterable[T],
        key: Callable[[T], Hashable],
        render: Callable[[T], Any],
        *,
        source: Literal["orders", "refunds"],
        freeze: Callable[[Any], Any] | None = None,
    ) -> list[Any]:
        """``[render(item) for item in items]``, or in frozen mode the pre-rendered records.

        ``kind`` names the record's shape (say ``("trade", fields)``): the first time a shape is
        asked for while the world is in a state, every record of ``source`` (the world's orders
        or refunds) is rendered in it, ``freeze`` turning each into what the page carries
        (default :func:`json_fragment`, the bytes ``json_response`` would write for it);
        ``key(item)`` finds an item's record (an id: the world's state is part of the cache key).
        """
        if not self.serving_frozen:
            return [render(item) for item in items]
        state = self._world_state(world)
        slot = (world.shop_id, kind)
        cached = self._frozen.get(slot)
        to_frozen = json_fragment if freeze is None else freeze
        if cached is None or cached[0] != state:
            rendered: dict[Hashable, Any] = {}
            everything: Sequence[Any] = self._everything(world, source)
            for record in everything:
                rendered[key(record)] = to_frozen(render(record))
            cached = self._frozen[slot] = (state, rendered)
        records = cached[1]
        find = records.get
        out: list[Any] = [find(key(item)) for item in items]
        if None in out:  # an item the world did not list (rendered now, kept)
            for number, item in enumerate(items):
                if out[number] is None:
                    out[number] = records[key(item)] = to_frozen(render(item))
        return out

    def frozen_count(self, world: FakeWorld, *kinds: Hashable) -> int:
        """How many records of these kinds ``world`` has pre-rendered (0 outside frozen mode)."""
        return sum(len(self._frozen.get((world.shop_id, kind), ((), {}))[1]) for kind in kinds)

    def _everything(self, world: FakeWorld, source: Literal["orders", "refunds"]) -> Sequence[Any]:
        """Every order (created by now) or every refund (requested by now) of ``world``."""
        start = world.anchor - timedelta(days=world.days + 3)
        end = world.now() + timedelta(seconds=1)
        if source == "orders":
            return world.orders_created(start, end)
        return world.refunds_modified(start, end)

    def prerender(self) -> int:
        """Pre-render every world's list records (frozen mode; a no-op otherwise): how many."""
        if not self.serving_frozen:
            return 0
        return sum(self.prerender_world(world) for world in self.shops.values())

    def prerender_world(self, world: FakeWorld) -> int:
        """Hook: render ``world``'s records in the shapes the platform's list APIs serve by
        default (through :meth:`frozen_records` with no items); returns how many."""
        return 0

    def maybe_malform(self, key: str, record: Record, corrupt: Callable[[Record], Record]) -> Record:
        """``record``, or a corrupted deep copy of it (at most once per ``key``: transient)."""
        if not self.faults.should_malform(f"{self.platform}:{key}"):
            return record
        return corrupt(copy.deepcopy(record))

    def truth(self, *, records: bool = False) -> dict[str, Any]:
        """Per shop ``world.truth()``; with ``records``, also ``world.records()`` under ``"records"``."""
        shops: dict[str, Any] = {}
        for shop_id, world in self.shops.items():
            shops[shop_id] = world.truth()
            if records:
                found = world.records()
                shops[shop_id]["records"] = {
                    "orders": {self.public_order_id(i): v for i, v in found["orders"].items()},
                    "refunds": found["refunds"],
                }
        return {"platform": self.platform, "shops": shops, "as_of": self.clock.now().isoformat()}

    def describe(self, base_url: str) -> dict[str, Any]:
        """The JSON line ``bangfu fakes serve`` prints for this platform."""
        return {
            "platform": self.platform,
            "base_url": base_url,
            "credentials": self.credential_fields(),
            "shop_ids": list(self.shops),
        }

    # ----------------------------------------------------------------- the app

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._fault_middleware])
        app.router.add_get("/_fake/health", self._health)
        app.router.add_get("/_fake/truth", self._truth)
        app.router.add_route("*", "/_fake/clock", self._clock)
        app.router.add_route("*", "/_fake/faults", self._faults)
        app.router.add_post("/_fake/tokens/expire", self._expire_tokens)
        app.router.add_post("/_fake/buy", self._buy)
        self.add_routes(app)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_shutdown(self, app: web.Application) -> None:
        self._closing.set()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the app shuts down (so hangs never delay teardown)."""
        if seconds <= 0:
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(FAKE_PREFIX):
            return await handler(request)
        if self.latency_ms:
            await self._sleep(self.latency_ms / 1000)
        body = await request.read() if request.can_read_body else b""
        fault = self.faults.request_fault(self.request_key(request, body))
        if fault is not None:
            response = await self._apply_fault(request, fault)
            if response is not None:
                return response
        return await handler(request)

    async def _apply_fault(self, request: web.Request, fault: RequestFault) -> web.StreamResponse | None:
        kind = fault.kind
        if kind is FaultKind.RATE_LIMIT:
            return self.rate_limit_response(request)
        if kind is FaultKind.SERVER_ERROR:
            return self.server_error_response(request)
        if kind is FaultKind.DROP:
            transport = request.transport
            if transport is not None:
                transport.abort()
            # Nothing can be answered on an aborted connection; the handler is cancelled.
            raise asyncio.CancelledError
        await self._sleep(fault.delay)  # slow and hang: answer late
        return None

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "platform": self.platform, "now": self.clock.now().isoformat()})

    async def _truth(self, request: web.Request) -> web.Response:
        records = request.query.get("records", "") not in ("", "0", "false")
        return json_response(self.truth(records=records))

    async def _clock(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            wanted = await _json_object(request)
            try:
                if "advance_seconds" in wanted:
                    self.clock.advance(float(wanted["advance_seconds"]))
                if "freeze_at" in wanted:
                    self.clock.freeze(datetime.fromisoformat(str(wanted["freeze_at"])))
                elif wanted.get("freeze"):
                    self.clock.freeze()
                if wanted.get("unfreeze"):
                    self.clock.unfreeze()
            except (TypeError, ValueError) as exc:
                raise web.HTTPBadRequest(text=f"bad clock request: {exc}") from None
        elif request.method != "GET":
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
        return web.json_response({"now": self.clock.now().isoformat(), "frozen": self.clock.frozen})

    async def _faults(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            payload = await _json_object(request)
            try:
                profile = FaultProfile.named(str(payload.pop("profile"))) if "profile" in payload else None
                base = profile if profile is not None else self.faults.profile
                values = {**base.as_dict(), **payload}
                self.faults.profile = FaultProfile(**values)
            except (TypeError, ValueError) as exc:
                raise web.HTTPBadRequest(text=f"bad faults request: {exc}") from None
        elif request.method != "GET":
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
        return web.json_response({"profile": self.faults.profile.as_dict(), "stats": dict(self.faults.stats)})

    async def _expire_tokens(self, request: web.Request) -> web.Response:
        return web.json_response({"expired": self.tokens.expire_all()})

    async def _buy(self, request: web.Request) -> web.Response:
        """A buyer's order: takes the units from the SKU's stock or is refused (409)."""
        payload = await _json_object(request)
        world = self.world_for(str(payload.get("shop_id") or ""))
        if world is None:
            raise web.HTTPNotFound(text=f"no shop {payload.get('shop_id')!r} on this fake")
        item_id = str(payload.get("item_id") or "")
        sku_raw = payload.get("sku_id")
        sku_id = str(sku_raw) if sku_raw not in (None, "") else None
        quantity = payload.get("quantity", 1)
        buyer = payload.get("buyer")
        if not item_id or isinstance(quantity, bool) or not isinstance(quantity, int):
            raise web.HTTPBadRequest(text="expected item_id and an integer quantity")
        try:
            order = world.place_order(item_id, sku_id, quantity, None if buyer is None else str(buyer))
        except StockError as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=409)
        line = order.lines[0]
        item = world.item(line.item_id)
        stock = next((s.stock for s in item.skus if s.sku_id == line.sku_id), 0) if item is not None else 0
        return web.json_response(
            {"ok": True, "order_id": order.order_id, "shop_id": world.shop_id, "quantity": quantity, "stock": stock}
        )


def _modified_at(record: FakeOrder | FakeRefund) -> datetime:
    return record.modified_at


def _created_at(record: FakeOrder) -> datetime:
    return record.created_at


def beijing_text(value: datetime) -> str:
    """Aware ``value`` as Beijing-time ``yyyy-MM-dd HH:mm:ss`` (the fakes' hot path: every record
    has several; Shanghai has been UTC+8 without DST since 1992, earlier dates ask the zone)."""
    utc = value if value.tzinfo is UTC else value.astimezone(UTC)
    if utc.year < 1992:
        return value.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
    return (utc + _BEIJING_OFFSET).replace(tzinfo=None).isoformat(" ", "seconds")


def json_fragment(value: Any) -> orjson.Fragment:
    """``value`` as the bytes :func:`json_response` writes for it, embedded as they are."""
    return orjson.Fragment(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))


def json_response(body: Any, *, status: int = 200) -> web.Response:
    """Compact UTF-8 JSON (orjson; Chinese text as UTF-8, as the platforms send it, not escapes)."""
    return web.Response(
        body=orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS), status=status, content_type="application/json"
    )


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        payload = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="expected a JSON object") from None
    if not isinstance(payload, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return payload


# --------------------------------------------------------------------------- building and serving


def build_fake(
    platform: str | type[FakePlatform],
    *,
    seed: int = 7,
    orders: int = 500,
    faults: str | FaultProfile = "none",
    latency_ms: int = 0,
    clock: FakeClock | None = None,
    shops: int = 1,
    days: int = 60,
    catalog: Sequence[CatalogSku] | None = None,
    fault_seed: int | None = None,
    frozen: bool = False,
) -> FakePlatform:
    """A fake platform with ``shops`` worlds of ``orders`` orders each (live per LIVE_PLATFORMS).

    ``frozen``: frozen mode (see the module doc); the caller freezes the clock, once every
    world sharing it is built, then calls :meth:`FakePlatform.prerender`.
    """
    cls = load_fake(platform) if isinstance(platform, str) else platform
    clock = clock if clock is not None else FakeClock()
    if shops < 1:
        raise ValueError("shops must be at least 1")
    worlds = [
        FakeWorld(
            cls.platform,
            cls.shop_id_for(seed, number),
            seed=seed,
            orders=orders,
            clock=clock,
            catalog=catalog,
            days=days,
            live=cls.platform in LIVE_PLATFORMS,
        )
        for number in range(shops)
    ]
    profile = FaultProfile.named(faults) if isinstance(faults, str) else faults
    injector = FaultInjector(profile, seed if fault_seed is None else fault_seed)
    return cls(shops=worlds, faults=injector, latency_ms=latency_ms, frozen=frozen)


@dataclass(slots=True)
class Running:
    """A started fake: where it listens and what it serves."""

    platform: str
    fake: FakePlatform
    base_url: str
    runner: web.AppRunner

    @property
    def credentials(self) -> FakeCredentials:
        return self.fake.credentials

    @property
    def clock(self) -> FakeClock:
        return self.fake.clock

    @property
    def world(self) -> FakeWorld:
        return self.fake.world

    @property
    def worlds(self) -> Mapping[str, FakeWorld]:
        return self.fake.shops

    def describe(self) -> dict[str, Any]:
        return self.fake.describe(self.base_url)

    async def close(self) -> None:
        await self.runner.cleanup()


async def start(fake: FakePlatform, host: str = "127.0.0.1", port: int = 0) -> Running:
    """Serve ``fake`` on ``host:port`` (0: any free port) until ``Running.close()``."""
    runner = web.AppRunner(fake.build_app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        address = runner.addresses[0]
        actual_port = int(address[1])
    except BaseException:
        await runner.cleanup()
        raise
    return Running(fake.platform, fake, f"http://{host}:{actual_port}", runner)


async def serve_all(
    platforms: Iterable[str],
    host: str,
    port_base: int,
    seed: int,
    orders: int,
    faults: str,
    latency_ms: int,
    clock: FakeClock,
    *,
    shops: int = 1,
    days: int = 60,
    frozen: bool = False,
) -> list[Running]:
    """Start each platform on ``port_base + its index in PLATFORM_ORDER``; all share ``clock``.

    ``frozen``: every world is built, then ``clock`` frozen and each platform's records
    pre-rendered (:meth:`FakePlatform.prerender`), before the first one listens.
    """
    names = list(dict.fromkeys(platforms))
    ports = {name: port_for(name, port_base) for name in names}  # validates names first
    classes = {name: load_fake(name) for name in names}
    running: list[Running] = []

    def build(name: str) -> FakePlatform:
        return build_fake(
            classes[name],
            seed=seed,
            orders=orders,
            faults=faults,
            latency_ms=latency_ms,
            clock=clock,
            shops=shops,
            days=days,
            frozen=frozen,
        )

    try:
        if frozen:
            fakes = [build(name) for name in names]
            if not clock.frozen:
                clock.freeze()  # after the last world: every generated order is visible
            for fake in fakes:
                fake.prerender()
            # The worlds' records and their bytes live as long as the process: keep the cyclic
            # collector from walking millions of them again on every full collection.
            gc.collect()
            gc.freeze()
            for fake in fakes:
                running.append(await start(fake, host, ports[fake.platform]))
        else:
            for name in names:
                running.append(await start(build(name), host, ports[name]))
    except BaseException:
        for item in running:
            await item.close()
        raise
    return running


@asynccontextmanager
async def fake_server(
    platform: str | type[FakePlatform],
    *,
    seed: int = 7,
    orders: int = 500,
    faults: str | FaultProfile = "none",
    latency_ms: int = 0,
    clock: FakeClock | None = None,
    shops: int = 1,
    days: int = 60,
    catalog: Sequence[CatalogSku] | None = None,
    fault_seed: int | None = None,
    host: str = "127.0.0.1",
    frozen: bool = False,
) -> AsyncIterator[Running]:
    """In-process fake on a free loopback port, for tests::

    async with fake_server("taobao", seed=3, orders=200, clock=FakeClock(frozen_at=t0)) as fake:
        fake.base_url, fake.credentials, fake.world, fake.clock

    ``frozen``: frozen mode, the clock frozen (where it stands) and the records pre-rendered.
    """
    fake = build_fake(
        platform,
        seed=seed,
        orders=orders,
        faults=faults,
        latency_ms=latency_ms,
        clock=clock,
        shops=shops,
        days=days,
        catalog=catalog,
        fault_seed=fault_seed,
        frozen=frozen,
    )
    if frozen:
        if not fake.clock.frozen:
            fake.clock.freeze()
        fake.prerender()
    running = await start(fake, host)
    try:
        yield running
    finally:
        await running.close()
