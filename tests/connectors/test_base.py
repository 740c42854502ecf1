"""connectors.base (and the tests' harvest) against a tiny platform served over real loopback HTTP.

The "toy" platform is just enough API to exercise the base: an MD5-signed form POST, an
envelope ``{"code": 0, "data": ...}`` with error codes, a token endpoint, order list/detail
by modified-time window with page numbers, and scripted faults for the next requests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import aiohttp
import pytest
from aiohttp import web

from bangfu.enums import ErrorClass, OrderStatus, PlatformKind, RefundStatus, SyncStream
from bangfu.records import OrderLineRecord, OrderRecord, Quarantined, Raw, RefundRecord
from connectors.base import Connector, Page, Request, ShopConfig, Tokens
from connectors.errors import (
    AuthError,
    BadRequestError,
    ErrorResolution,
    RateLimitError,
    RecordError,
    TransientError,
    UnsupportedStream,
    WindowUnstable,
    lookup,
    parse_ban_hint,
)
from connectors.ratelimit import RateLimit, RateLimiter
from connectors.retry import RetryPolicy
from connectors.windows import from_epoch_s, to_epoch_s
from tests.connectors.harvest import harvest

SECRET = "toy-secret-not-real"
T0 = datetime(2024, 5, 1, tzinfo=UTC)


def toy_sign(params: Mapping[str, str]) -> str:
    text = SECRET + "".join(f"{k}{params[k]}" for k in sorted(params) if k != "sign") + SECRET
    return hashlib.md5(text.encode()).hexdigest()


# ---------------------------------------------------------------------------- the toy server


@dataclass
class Toy:
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    # Scripted responses for the next API requests: (status, body, headers) or "drop"/"hang".
    script: list[Any] = field(default_factory=list)
    malformed_once: set[str] = field(default_factory=set)
    broken_detail: set[str] = field(default_factory=set)
    token: str = "tok-1"
    page_size: int = 2
    requests: list[dict[str, str]] = field(default_factory=list)
    token_calls: int = 0


def scripted(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Any:
    return (status, body, dict(headers or {}))


TOY_KEY = web.AppKey("toy", Toy)


async def _api(request: web.Request) -> web.StreamResponse:
    toy = request.app[TOY_KEY]
    form = {k: str(v) for k, v in (await request.post()).items()}
    toy.requests.append(form)
    if toy.script:
        step = toy.script.pop(0)
        if step == "drop":
            assert request.transport is not None
            request.transport.close()
            await asyncio.sleep(0)
            return web.Response()
        if step == "hang":
            await asyncio.sleep(5)
            return web.Response()
        status, body, headers = step
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=headers, content_type="text/html")
        return web.json_response(body, status=status, headers=headers)
    if form.get("sign") != toy_sign(form):
        return web.json_response({"code": 25, "msg": "Invalid Signature"})
    if form.get("token") != toy.token:
        return web.json_response({"code": 27, "msg": "token expired"})
    op = form["op"]
    if op == "orders.list":
        start, end, page = int(form["start"]), int(form["end"]), int(form["page"])
        if end - start > 3600:
            return web.json_response({"code": 41, "msg": "window wider than 1 hour"})
        hits = sorted((o for o in toy.orders.values() if start <= o["modified"] < end), key=lambda o: o["modified"])
        chunk = [dict(o) for o in hits[(page - 1) * toy.page_size : page * toy.page_size]]
        for item in chunk:
            if item["id"] in toy.malformed_once:
                toy.malformed_once.discard(item["id"])
                item["paid"] = "not-money"
        has_next = page * toy.page_size < len(hits)
        return web.json_response({"code": 0, "data": {"items": chunk, "has_next": has_next}})
    if op == "order.get":
        order_id = form["id"]
        if order_id in toy.broken_detail:
            return web.json_response({"code": 0, "data": {"id": order_id, "paid": "still-bad"}})
        order = toy.orders.get(order_id)
        if order is None:
            return web.json_response({"code": 41, "msg": "no such order"})
        return web.json_response({"code": 0, "data": order})
    if op == "refunds.list":
        start, end = int(form["start"]), int(form["end"])
        hits = [r for r in toy.refunds if start <= r["modified"] < end]
        return web.json_response({"code": 0, "data": {"items": hits, "has_next": False}})
    return web.json_response({"code": 22, "msg": "Invalid Method"})


async def _token(request: web.Request) -> web.StreamResponse:
    toy = request.app[TOY_KEY]
    form = {k: str(v) for k, v in (await request.post()).items()}
    if form.get("sign") != toy_sign(form) or form.get("refresh_token") != "refresh-1":
        return web.json_response({"code": 25, "msg": "bad refresh"})
    toy.token_calls += 1
    toy.token = f"tok-{toy.token_calls + 1}"
    await asyncio.sleep(0.01)  # concurrent callers pile up behind the refresh lock
    return web.json_response({"code": 0, "data": {"access_token": toy.token, "expires_in": 7200}})


@pytest.fixture
async def toy_server() -> AsyncIterator[tuple[Toy, str]]:
    toy = Toy()
    app = web.Application()
    app[TOY_KEY] = toy
    app.router.add_post("/api", _api)
    app.router.add_post("/token", _token)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield toy, f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------------------- the toy connector

TOY_ERRORS: Mapping[str | int, ErrorResolution] = {
    7: ErrorResolution(ErrorClass.RATE_LIMIT, message="App Call Limited"),
    15: ErrorResolution(ErrorClass.TRANSIENT),
    25: ErrorResolution(ErrorClass.AUTH),
    27: ErrorResolution(ErrorClass.AUTH, token_expired=True),
    41: ErrorResolution(ErrorClass.BAD_REQUEST),
}


class ToyConnector(Connector):
    platform: ClassVar[PlatformKind] = PlatformKind.SELFMALL
    window_max: ClassVar[timedelta] = timedelta(hours=1)
    window_advised: ClassVar[timedelta] = timedelta(minutes=30)
    page_size: ClassVar[int] = 2
    rate: ClassVar[RateLimit] = RateLimit(1000, 50)
    streams: ClassVar[frozenset[SyncStream]] = frozenset({SyncStream.ORDERS, SyncStream.REFUNDS})
    id_paths: ClassVar[Mapping[SyncStream, str]] = {SyncStream.ORDERS: "id", SyncStream.REFUNDS: "rid"}
    token_refresh: ClassVar[bool] = True

    seen_attempts: list[int]

    def prepare(self, request: Request) -> Request:
        self.seen_attempts = [*getattr(self, "seen_attempts", []), request.attempt]
        form = {"op": request.op, "app_key": self.config.app_key, **(request.data or {})}
        if request.authenticated and self.tokens.access_token:
            form["token"] = self.tokens.access_token
        form["sign"] = toy_sign(form)
        request.data = form
        return request

    def classify(self, http_status: int, body: Any) -> ErrorResolution | None:
        resolution = super().classify(http_status, body)
        if resolution is not None or body.get("code") == 0:
            return resolution
        code, msg = body["code"], str(body.get("msg", ""))
        row = lookup(TOY_ERRORS, code, default=ErrorResolution(ErrorClass.BAD_REQUEST))
        assert row is not None
        return row.with_details(code=code, message=msg, retry_after=parse_ban_hint(msg, pad=0.0))

    def unwrap(self, request: Request, body: Any) -> Any:
        return body["data"]

    async def refresh_token(self) -> None:
        data = await self.call(
            "token.refresh",
            path="/token",
            data={"refresh_token": self.tokens.refresh_token},
            authenticated=False,
        )
        self.set_tokens(data["access_token"], expires_at=self.clock() + timedelta(seconds=data["expires_in"]))

    async def _orders_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        async def fetch(page: int) -> Page:
            data = await self.call(
                "orders.list",
                path="/api",
                data={"start": to_epoch_s(start), "end": to_epoch_s(end), "page": page},
            )
            return Page(data["items"], next=page + 1 if data["has_next"] else None)

        async for raw in self.paginate(fetch, 1):
            yield raw

    async def _order_detail_raw(self, platform_order_id: str) -> Raw:
        data: Raw = await self.call("order.get", path="/api", data={"id": platform_order_id})
        return data

    async def _refunds_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        data = await self.call("refunds.list", path="/api", data={"start": to_epoch_s(start), "end": to_epoch_s(end)})
        for raw in data["items"]:
            yield raw

    def parse_order(self, raw: Raw) -> OrderRecord:
        paid = raw["paid"]
        if not isinstance(paid, int):
            raise ValueError(f"paid is not fen: {paid!r}")
        modified = from_epoch_s(raw["modified"])
        line = OrderLineRecord(f"{raw['id']}-1", "item-1", 1, paid, paid)
        return OrderRecord(
            raw["id"], OrderStatus(raw["status"]), raw["status"], modified, modified, paid, (line,), raw=raw
        )

    def parse_refund(self, raw: Raw) -> RefundRecord:
        modified = from_epoch_s(raw["modified"])
        return RefundRecord(
            raw["rid"],
            raw["id"],
            RefundStatus(raw["status"]),
            raw["status"],
            raw["amount"],
            modified,
            modified,
        )


def toy_order(order_id: str, minutes: float, paid: int = 1000, status: str = "paid") -> dict[str, Any]:
    return {
        "id": order_id,
        "modified": to_epoch_s(T0 + timedelta(minutes=minutes)),
        "paid": paid,
        "status": status,
    }


def make_config(base_url: str, **changes: Any) -> ShopConfig:
    values: dict[str, Any] = {
        "platform": PlatformKind.SELFMALL,
        "base_url": base_url,
        "app_key": "toy-app",
        "app_secret": SECRET,
        "shop_id": "shop-1",
        "access_token": "tok-1",
        "refresh_token": "refresh-1",
    }
    values.update(changes)
    return ShopConfig(**values)


@pytest.fixture
def make_connector(
    toy_server: tuple[Toy, str], session: aiohttp.ClientSession, limiter: RateLimiter, fast_retry: RetryPolicy
) -> Any:
    _, base_url = toy_server

    def factory(**kwargs: Any) -> ToyConnector:
        config = kwargs.pop("config", None) or make_config(base_url)
        options: dict[str, Any] = {
            "session": session,
            "limiter": limiter,
            "retry": fast_retry,
            "timeout": 1.5,
        }
        options.update(kwargs)
        return ToyConnector(config, **options)

    return factory


# ---------------------------------------------------------------------------- ShopConfig


def test_shop_config_repr_hides_secrets() -> None:
    config = ShopConfig(
        platform="youzan",  # type: ignore[arg-type]
        base_url="http://127.0.0.1:1",
        app_key="app",
        app_secret="s3cr3t-value",
        shop_id="kdt-1",
        access_token="access-value",
        refresh_token="refresh-value",
        extra={"password": "pw-value"},
    )
    text = repr(config)
    for secret in ("s3cr3t-value", "access-value", "refresh-value", "pw-value"):
        assert secret not in text
    assert "kdt-1" in text and "password" in text
    assert config.platform is PlatformKind.YOUZAN
    with pytest.raises(TypeError):
        config.extra["password"] = "x"  # type: ignore[index]
    assert "access-value" not in repr(Tokens("access-value", "refresh-value", None))
    assert hash(config) == hash(dataclasses.replace(config, extra={"password": "other"}))


def test_shop_config_validates() -> None:
    with pytest.raises(ValueError):
        make_config("ftp://example")
    with pytest.raises(ValueError, match="naive"):
        make_config("http://127.0.0.1:1", token_expires_at=datetime(2024, 1, 1))
    with pytest.raises(ValueError):
        make_config("http://127.0.0.1:1", platform="nowhere")


# ---------------------------------------------------------------------------- the request loop


async def test_call_signs_and_unwraps(toy_server: tuple[Toy, str], make_connector: Any, limiter: RateLimiter) -> None:
    toy, _ = toy_server
    toy.orders["1"] = toy_order("1", 5)
    connector = make_connector()
    assert len(limiter) == 0  # an empty registry is still the one to use
    data = await connector.call("order.get", path="/api", data={"id": "1", "flag": True, "none": None})
    assert data["id"] == "1"
    assert toy.requests[-1]["flag"] == "true" and "none" not in toy.requests[-1]
    assert connector.stats.requests == 1
    assert connector.stats.calls["order.get"] == 1
    assert limiter.get("selfmall", "toy-app", ToyConnector.rate).acquired == 1


async def test_call_refuses_float_values(make_connector: Any) -> None:
    with pytest.raises(TypeError, match="float"):
        await make_connector().call("order.get", path="/api", data={"amount": 1.5})


async def test_transient_failures_are_retried(toy_server: tuple[Toy, str], make_connector: Any) -> None:
    toy, _ = toy_server
    toy.orders["1"] = toy_order("1", 5)
    toy.script = [
        scripted("<html>502 Bad Gateway</html>", status=502),
        "drop",
        scripted({"code": 15, "msg": "Remote Service Error"}),
        scripted("not json at all"),
    ]
    connector = make_connector()
    data = await connector.call("order.get", path="/api", data={"id": "1"})
    assert data["id"] == "1"
    assert connector.stats.retries == {ErrorClass.TRANSIENT: 4}
    assert connector.stats.requests == 5
    assert connector.seen_attempts == [1, 2, 3, 4, 5]  # prepare ran afresh for every attempt


async def test_rate_limit_hint_bans_the_key(toy_server: tuple[Toy, str], make_connector: Any) -> None:
    toy, _ = toy_server
    toy.orders["1"] = toy_order("1", 5)
    toy.script = [scripted({"code": 7, "msg": "This ban will last for 0.2 more seconds"})]
    connector = make_connector()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await connector.call("order.get", path="/api", data={"id": "1"})
    assert loop.time() - started >= 0.19
    assert connector.stats.retries == {ErrorClass.RATE_LIMIT: 1}
    assert connector.bucket.bans == 1


async def test_http_429_retry_after_header(toy_server: tuple[Toy, str], make_connector: Any) -> None:
    toy, _ = toy_server
    toy.orders["1"] = toy_order("1", 5)
    toy.script = [scripted({"error": "slow down"}, status=429, headers={"Retry-After": "0"})] * 2
    connector = make_connector()
    await connector.call("order.get", path="/api", data={"id": "1"})
    assert connector.stats.retries == {ErrorClass.RATE_LIMIT: 2}


@pytest.mark.parametrize(
    ("step", "error", "error_class"),
    [
        (scripted({"code": 25, "msg": "Invalid Signature"}), AuthError, ErrorClass.AUTH),
        (scripted({}, status=401), AuthError, ErrorClass.AUTH),
        (scripted({}, status=403), AuthError, ErrorClass.AUTH),
        (scripted({"code": 41, "msg": "Invalid Arguments"}), BadRequestError, ErrorClass.BAD_REQUEST),
        (scripted({}, status=404), BadRequestError, ErrorClass.BAD_REQUEST),
        (scripted({}, status=302, headers={"Location": "/elsewhere"}), BadRequestError, ErrorClass.BAD_REQUEST),
    ],
)
async def test_fatal_errors_are_not_retried(
    toy_server: tuple[Toy, str],
    make_connector: Any,
    step: Any,
    error: type[Exception],
    error_class: ErrorClass,
) -> None:
    toy, _ = toy_server
    toy.script = [step]
    connector = make_connector()
    with pytest.raises(error):
        await connector.call("order.get", path="/api", data={"id": "1"})
    assert connector.stats.requests == 1
    assert connector.stats.errors == {error_class: 1}
    assert not connector.stats.retries


async def test_retries_exhausted_raise_the_last_error(toy_server: tuple[Toy, str], make_connector: Any) -> None:
    toy, _ = toy_server
    toy.script = [scripted("busy", status=503)] * 3
    connector = make_connector(retry=RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.001))
    with pytest.raises(TransientError) as info:
        await connector.call("order.get", path="/api", data={"id": "1"})
    assert info.value.code == 503
    assert connector.stats.requests == 3
    assert connector.stats.errors == {ErrorClass.TRANSIENT: 1}


async def test_rate_limit_exhausted_propagates_with_its_hint(toy_server: tuple[Toy, str], make_connector: Any) -> None:
    toy, _ = toy_server
    toy.script = [scripted({"code": 7, "msg": "This ban will last for 0 more seconds"})] * 2
    connector = make_connector(retry=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.001))
    with pytest.raises(RateLimitError) as info:
        await connector.call("order.get", path="/api", data={"id": "1"})
    assert info.value.retry_after == 0.0
    assert info.value.code == 7
    assert connector.stats.errors == {ErrorClass.RATE_LIMIT: 1}


async def test_a_hanging_server_is_cut_by_the_timeout(toy_server: tuple[Toy, str], make_connector: Any) -> None:
    toy, _ = toy_server
    toy.orders["1"] = toy_order("1", 5)
    toy.script = ["hang"]
    connector = make_connector(timeout=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    data = await connector.call("order.get", path="/api", data={"id": "1"})
    assert data["id"] == "1"
    assert loop.time() - started < 1.5
    assert connector.stats.retries == {ErrorClass.TRANSIENT: 1}


# ---------------------------------------------------------------------------- tokens


async def test_expired_token_is_refreshed_once_and_the_call_resent(
    toy_server: tuple[Toy, str], make_connector: Any
) -> None:
    toy, _ = toy_server
    toy.orders["1"] = toy_order("1", 5)
    toy.token = "tok-rotated-elsewhere"  # ours is stale: the platform says "token expired"
    saved: list[Tokens] = []

    async def on_tokens(tokens: Tokens) -> None:
        saved.append(tokens)

    connector = make_connector(on_tokens=on_tokens)
    data = await connector.call("order.get", path="/api", data={"id": "1"})
    assert data["id"] == "1"
    assert toy.token_calls == 1
    assert connector.tokens.access_token == toy.token == "tok-2"
    assert connector.tokens.refresh_token == "refresh-1"
    assert connector.stats.token_refreshes == 1
    assert [t.access_token for t in saved] == ["tok-2"]


async def test_concurrent_expired_calls_refresh_once(toy_server: tuple[Toy, str], make_connector: Any) -> None:
    toy, _ = toy_server
    for i in range(5):
        toy.orders[str(i)] = toy_order(str(i), i)
    toy.token = "tok-rotated-elsewhere"
    connector = make_connector()
    results = await asyncio.gather(*(connector.call("order.get", path="/api", data={"id": str(i)}) for i in range(5)))
    assert [r["id"] for r in results] == [str(i) for i in range(5)]
    assert toy.token_calls == 1


async def test_token_is_refreshed_before_it_expires(toy_server: tuple[Toy, str], make_connector: Any) -> None:
    toy, base_url = toy_server
    toy.orders["1"] = toy_order("1", 5)
    now = T0
    config = make_config(base_url, token_expires_at=now + timedelta(minutes=4))
    toy.token = "tok-2"  # the platform would accept the old token, but it is about to expire
    connector = make_connector(config=config, clock=lambda: now)
    await connector.call("order.get", path="/api", data={"id": "1"})
    assert toy.token_calls == 1
    assert connector.tokens.expires_at == now + timedelta(hours=2)
    await connector.call("order.get", path="/api", data={"id": "1"})
    assert toy.token_calls == 1  # fresh now: no second refresh


async def test_no_refresh_when_token_far_from_expiry(toy_server: tuple[Toy, str], make_connector: Any) -> None:
    toy, base_url = toy_server
    toy.orders["1"] = toy_order("1", 5)
    config = make_config(base_url, token_expires_at=T0 + timedelta(minutes=6))
    connector = make_connector(config=config, clock=lambda: T0)
    await connector.call("order.get", path="/api", data={"id": "1"})
    assert toy.token_calls == 0


async def test_auth_error_after_refresh_is_fatal(toy_server: tuple[Toy, str], make_connector: Any) -> None:
    toy, _ = toy_server
    toy.script = [scripted({"code": 27, "msg": "token expired"})] * 2
    connector = make_connector()
    with pytest.raises(AuthError) as info:
        await connector.call("order.get", path="/api", data={"id": "1"})
    assert info.value.token_expired
    assert toy.token_calls == 1


async def test_base_without_refresh_support() -> None:
    class NoRefresh(ToyConnector):
        token_refresh: ClassVar[bool] = False

    connector = NoRefresh(make_config("http://127.0.0.1:9"))
    with pytest.raises(UnsupportedStream):
        await Connector.refresh_token(connector)


# ---------------------------------------------------------------------------- streams


async def test_orders_split_into_windows_and_pages(toy_server: tuple[Toy, str], make_connector: Any) -> None:
    toy, _ = toy_server
    for i, minutes in enumerate([1, 2, 3, 29, 30, 31, 59, 61, 119]):
        toy.orders[str(i)] = toy_order(str(i), minutes)
    connector = make_connector()
    got = [o async for o in connector.orders(T0, T0 + timedelta(hours=2))]
    assert [o.platform_order_id for o in got if isinstance(o, OrderRecord)] == [str(i) for i in range(9)]
    windows = [(w.start, w.end) for w in connector.stats.windows]
    assert windows == [(T0 + timedelta(minutes=30 * i), T0 + timedelta(minutes=30 * (i + 1))) for i in range(4)]
    assert all(w.stream is SyncStream.ORDERS for w in connector.stats.windows)
    # 30-min windows holding 3, 3, 1, 1 orders at 2 per page -> 2 + 2 + 1 + 1 pages
    assert connector.stats.pages == 6


async def test_window_never_exceeds_the_hard_limit(toy_server: tuple[Toy, str], make_connector: Any) -> None:
    class Wide(ToyConnector):
        window_advised: ClassVar[timedelta] = timedelta(hours=6)  # a mistake: above window_max

    toy, base_url = toy_server
    toy.orders["1"] = toy_order("1", 150)
    connector = Wide(make_config(base_url), session=make_connector()._session, limiter=RateLimiter())
    assert connector.window_for(SyncStream.ORDERS) == timedelta(hours=1)
    got = [o async for o in connector.orders(T0, T0 + timedelta(hours=3))]
    assert len(got) == 1
    assert len(connector.stats.windows) == 3


async def test_per_stream_windows(make_connector: Any) -> None:
    class PerStream(ToyConnector):
        stream_windows: ClassVar[Mapping[SyncStream, timedelta]] = {SyncStream.REFUNDS: timedelta(minutes=10)}
        stream_window_max: ClassVar[Mapping[SyncStream, timedelta]] = {SyncStream.REFUNDS: timedelta(minutes=5)}

    connector = PerStream(make_config("http://127.0.0.1:9"))
    assert connector.window_for(SyncStream.ORDERS) == timedelta(minutes=30)
    assert connector.window_for(SyncStream.REFUNDS) == timedelta(minutes=5)


async def test_malformed_record_is_quarantined_then_recovered(toy_server: tuple[Toy, str], make_connector: Any) -> None:
    toy, _ = toy_server
    for i in range(4):
        toy.orders[str(i)] = toy_order(str(i), i)
    toy.malformed_once = {"1"}
    connector = make_connector()
    got = [o async for o in connector.orders(T0, T0 + timedelta(minutes=30))]
    assert isinstance(got[1], Quarantined)
    assert got[1].stream is SyncStream.ORDERS
    assert got[1].platform_id == "1"
    assert "ValueError" in got[1].error and got[1].raw["paid"] == "not-money"
    assert isinstance(got[2], OrderRecord) and got[2].platform_order_id == "1"  # from the detail API
    assert [o.platform_order_id for o in got if isinstance(o, OrderRecord)] == ["0", "1", "2", "3"]
    assert (connector.stats.quarantined, connector.stats.recovered) == (1, 1)
    assert connector.stats.calls["order.get"] == 1


async def test_unrecoverable_record_stays_quarantined(toy_server: tuple[Toy, str], make_connector: Any) -> None:
    toy, _ = toy_server
    for i in range(3):
        toy.orders[str(i)] = toy_order(str(i), i)
    toy.malformed_once = {"0", "2"}
    toy.broken_detail = {"0"}
    del toy.orders["2"]["status"]  # stays malformed even when the list copy is good
    toy.broken_detail.add("2")
    connector = make_connector()
    got = [o async for o in connector.orders(T0, T0 + timedelta(minutes=30))]
    assert [type(o).__name__ for o in got] == ["Quarantined", "OrderRecord", "Quarantined"]
    assert connector.stats.recovered == 0


async def test_order_detail_raises_record_error_for_a_bad_record(
    toy_server: tuple[Toy, str], make_connector: Any
) -> None:
    toy, _ = toy_server
    toy.broken_detail = {"9"}
    with pytest.raises(RecordError):
        await make_connector().order_detail("9")
    toy.orders["1"] = toy_order("1", 1)
    assert (await make_connector().order_detail("1")).paid_fen == 1000


async def test_unsupported_streams(make_connector: Any) -> None:
    connector = make_connector()
    with pytest.raises(UnsupportedStream):
        _ = [x async for x in connector.live_sessions(T0, T0 + timedelta(hours=1))]
    with pytest.raises(UnsupportedStream):
        _ = [x async for x in connector.products()]
    with pytest.raises(UnsupportedStream):
        _ = [x async for x in connector.settlements(T0, T0 + timedelta(hours=1))]
    with pytest.raises(UnsupportedStream):
        await connector.push_stock("1", None, 3, idempotency_key="k")


async def test_paginate_refuses_a_repeated_token(make_connector: Any) -> None:
    connector = make_connector()
    tokens = iter(["a", "b", "a"])

    async def fetch(token: str) -> Page:
        return Page([{"token": token}], next=next(tokens))

    with pytest.raises(TransientError, match="repeated"):
        _ = [x async for x in connector.paginate(fetch, "start")]


async def test_closed_connector_refuses_calls(make_connector: Any) -> None:
    async with make_connector() as connector:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        await connector.call("order.get", path="/api")


async def test_shared_session_is_used_by_default(toy_server: tuple[Toy, str], limiter: RateLimiter) -> None:
    toy, base_url = toy_server
    toy.orders["1"] = toy_order("1", 1)
    connector = ToyConnector(make_config(base_url), limiter=limiter)
    assert (await connector.order_detail("1")).platform_order_id == "1"  # closed by conftest


# ---------------------------------------------------------------------------- harvest


async def test_harvest_dedupes_and_totals(toy_server: tuple[Toy, str], make_connector: Any) -> None:
    toy, _ = toy_server
    toy.orders["1"] = toy_order("1", 5, paid=1000)
    toy.orders["2"] = toy_order("2", 40, paid=250, status="pending_payment")
    toy.orders["3"] = toy_order("3", 50, paid=700, status="completed")
    toy.refunds = [
        {
            "rid": "r1",
            "id": "3",
            "status": "succeeded",
            "amount": 300,
            "modified": to_epoch_s(T0 + timedelta(minutes=55)),
        },
        {
            "rid": "r2",
            "id": "1",
            "status": "closed",
            "amount": 1000,
            "modified": to_epoch_s(T0 + timedelta(minutes=56)),
        },
    ]
    connector = make_connector(clock=lambda: T0 + timedelta(hours=1))
    result = await harvest(connector, T0, T0 + timedelta(hours=1))
    assert result.totals() == {
        "orders": 3,
        "order_lines": 3,
        "refunds": 2,
        "paid_fen": 1700,
        "refunded_fen": 300,
    }
    assert result.quarantined == [] and result.unresolved() == []
    # The catch-up pass re-reads the last 10 minutes: order 3 and both refunds again, merged.
    assert result.passes == 2
    assert result.duplicates == 3


async def test_harvest_keeps_the_newest_version(toy_server: tuple[Toy, str], make_connector: Any) -> None:
    toy, _ = toy_server
    toy.orders["1"] = toy_order("1", 5, paid=1000, status="pending_payment")
    connector = make_connector(clock=lambda: T0 + timedelta(hours=1))
    original_orders = connector.orders

    async def orders_then_change(start: datetime, end: datetime) -> AsyncIterator[OrderRecord | Quarantined]:
        async for item in original_orders(start, end):
            yield item
        # The buyer pays while we page: the order moves to "now", after the first pass's end.
        toy.orders["1"] = toy_order("1", 60, paid=1000, status="paid")

    connector.orders = orders_then_change
    result = await harvest(connector, T0, T0 + timedelta(minutes=30))
    assert result.orders["1"].status is OrderStatus.PAID
    assert result.totals()["paid_fen"] == 1000
    assert result.passes == 3  # main, catch-up with the change, catch-up with nothing new


async def test_harvest_rereads_a_window_whose_quarantine_was_not_recovered(
    toy_server: tuple[Toy, str], make_connector: Any
) -> None:
    class NoDetail(ToyConnector):
        async def _order_detail_raw(self, platform_order_id: str) -> Raw:
            raise self._unsupported("order_detail")

    toy, base_url = toy_server
    for i in range(3):
        toy.orders[str(i)] = toy_order(str(i), 31 + i)
    toy.malformed_once = {"1"}
    session = make_connector()._session
    connector = NoDetail(make_config(base_url), session=session, limiter=RateLimiter())
    result = await harvest(connector, T0, T0 + timedelta(hours=2), catch_up=0)
    assert [q.platform_id for q in result.quarantined] == ["1"]
    assert [(w.start, w.end) for w in result.reread] == [(T0 + timedelta(minutes=30), T0 + timedelta(hours=1))]
    assert sorted(result.orders) == ["0", "1", "2"]
    assert result.unresolved() == []
    assert connector.stats.recovered == 0


async def test_a_range_older_than_the_lookback_starts_at_what_the_platform_accepts(
    toy_server: tuple[Toy, str], make_connector: Any
) -> None:
    """Issue 12.1: a first sync asking for exactly the platform's look-back was refused (the
    request arrives after it was built, and clocks drift). The base cuts the range to the
    declared look-back less a margin, for every connector."""

    class Limited(ToyConnector):
        stream_lookback: ClassVar[Mapping[SyncStream, timedelta]] = {SyncStream.ORDERS: timedelta(hours=2)}
        lookback_margin: ClassVar[timedelta] = timedelta(minutes=5)

    now = T0 + timedelta(hours=3)
    connector = Limited(make_config(make_connector().config.base_url), clock=lambda: now, **_options(make_connector))
    assert connector.earliest_start(SyncStream.ORDERS) == T0 + timedelta(hours=1, minutes=5)
    assert connector.earliest_start(SyncStream.REFUNDS) is None
    [o async for o in connector.orders(T0, now)]
    assert connector.stats.windows[0].start == T0 + timedelta(hours=1, minutes=5)
    assert connector.stats.clamped[SyncStream.ORDERS] == 1
    [o async for o in connector.refunds(T0, now)]  # no limit declared: asked whole
    assert connector.stats.windows[-1].stream is SyncStream.REFUNDS
    assert min(w.start for w in connector.stats.windows if w.stream is SyncStream.REFUNDS) == T0


async def test_an_unstable_window_is_read_again_then_propagates(
    toy_server: tuple[Toy, str], make_connector: Any
) -> None:
    """Issue 12.2: one policy for every connector: a window that never settles is re-read
    ``unstable_retries`` times and then raises, never returns as if read."""
    passes: list[datetime] = []

    class Shifty(ToyConnector):
        async def _orders_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
            passes.append(start)
            yield toy_order("1", 1)
            raise WindowUnstable(self.platform_name, "total kept moving")

    _, base_url = toy_server
    connector = Shifty(make_config(base_url), **_options(make_connector))
    got: list[Any] = []
    with pytest.raises(WindowUnstable):
        async for item in connector.orders(T0, T0 + timedelta(minutes=90)):
            got.append(item)
    assert passes == [T0] * (Shifty.unstable_retries + 1)  # the first window only, read twice
    assert len(got) == Shifty.unstable_retries + 1 and connector.stats.unstable_windows == len(passes)


def _options(make_connector: Any) -> dict[str, Any]:
    sample = make_connector()
    return {"session": sample._session, "limiter": sample._limiter, "retry": sample.retry, "sleep": _no_sleep}


async def _no_sleep(seconds: float) -> None:
    return None
