"""FakePlatform base: /_fake routes, request faults over real HTTP, paging helpers, tokens,
serve_all port layout, the registry and ``bangfu fakes serve``."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from typer.testing import CliRunner

from bangfu.cli import fakes as cli_fakes
from connectors.fakes import server as fake_server_module
from connectors.fakes.clock import FakeClock
from connectors.fakes.faults import FaultInjector, FaultProfile
from connectors.fakes.registry import (
    FAKE_PLATFORMS,
    PLATFORM_ORDER,
    FakeNotAvailableError,
    load_fake,
    port_for,
)
from connectors.fakes.server import (
    FakePlatform,
    FakeTokens,
    build_fake,
    fake_server,
    missing,
    replaced,
    serve_all,
)

T0 = datetime(2025, 3, 1, 4, 0, tzinfo=UTC)
TIMEOUT = aiohttp.ClientTimeout(total=0.5)


class DummyFake(FakePlatform):
    """A tiny platform: one orders endpoint, with a signature-like volatile parameter."""

    platform = "dummy"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/orders", self.orders)

    async def orders(self, request: web.Request) -> web.Response:
        world = self.world_for(request.query.get("shop_id"))
        if world is None:
            return web.json_response({"code": 404})
        page_no = int(request.query.get("page", "1"))
        window = world.orders_modified(T0 - timedelta(days=90), world.now())
        page = self.page_slice(window, page_no, 20)
        self.touch_during_paging(world, [o.order_id for o in window], page_no)
        rows = [self.maybe_malform(o.order_id, {"id": o.order_id, "paid": o.paid_fen}, missing("paid")) for o in page]
        return web.json_response({"code": 0, "total": len(window), "orders": rows})

    def rate_limit_response(self, request: web.Request) -> web.Response:
        return web.json_response({"code": 7, "msg": "App Call Limited", "sub_msg": "This ban will last 1 more seconds"})

    def credential_fields(self) -> dict[str, str]:
        return {"app_key": self.credentials.app_key, "session": self.credentials.access_token}


def dummy(faults: str | FaultProfile = "none", **kwargs: Any) -> Any:
    return fake_server(DummyFake, seed=3, orders=300, clock=FakeClock(frozen_at=T0), faults=faults, **kwargs)


async def get_json(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> Any:
    kwargs.setdefault("timeout", TIMEOUT)
    async with session.get(url, **kwargs) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_truth_health_and_clock_routes() -> None:
    async with dummy() as running, aiohttp.ClientSession() as session:
        world = running.world
        truth = await get_json(session, f"{running.base_url}/_fake/truth")
        assert truth == {"platform": "dummy", "shops": {world.shop_id: world.truth()}, "as_of": T0.isoformat()}
        health = await get_json(session, f"{running.base_url}/_fake/health")
        assert health["ok"] is True and health["platform"] == "dummy"

        async with session.post(f"{running.base_url}/_fake/clock", json={"advance_seconds": 3600}) as response:
            assert (await response.json()) == {"now": (T0 + timedelta(hours=1)).isoformat(), "frozen": True}
        assert running.clock.now() == T0 + timedelta(hours=1)
        later = (T0 + timedelta(days=15)).isoformat()
        async with session.post(f"{running.base_url}/_fake/clock", json={"freeze_at": later}) as response:
            assert (await response.json())["now"] == later
        truth_later = await get_json(session, f"{running.base_url}/_fake/truth")
        assert truth_later["as_of"] == later
        assert truth_later["shops"][world.shop_id]["paid_fen"] >= truth["shops"][world.shop_id]["paid_fen"]
        async with session.post(f"{running.base_url}/_fake/clock", json={"freeze_at": "soon"}) as response:
            assert response.status == 400
        async with session.post(f"{running.base_url}/_fake/clock", data=b"[1]") as response:
            assert response.status == 400


async def test_fake_routes_are_never_faulted() -> None:
    profile = FaultProfile(drop=1.0, max_consecutive=100)
    async with dummy(profile, latency_ms=300) as running, aiohttp.ClientSession() as session:
        started = time.monotonic()
        for _ in range(5):
            await get_json(session, f"{running.base_url}/_fake/health")
        assert time.monotonic() - started < 0.5  # no latency either


async def test_drop_closes_the_connection() -> None:
    async with dummy(FaultProfile(drop=1.0)) as running, aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await get_json(session, f"{running.base_url}/api/orders")
        assert running.fake.faults.stats["drop"] >= 1  # aiohttp may retry an idempotent GET once


async def test_hang_outlasts_the_client_timeout_and_does_not_delay_shutdown() -> None:
    profile = FaultProfile(hang=1.0).with_delays(hang_seconds=30.0)
    started = time.monotonic()
    async with dummy(profile) as running, aiohttp.ClientSession() as session:
        with pytest.raises(asyncio.TimeoutError):
            async with session.get(
                f"{running.base_url}/api/orders", timeout=aiohttp.ClientTimeout(total=0.2)
            ) as response:
                await response.read()
    assert time.monotonic() - started < 5


async def test_slow_answers_late_but_answers() -> None:
    profile = FaultProfile(slow=1.0).with_delays(slow_seconds=0.2)
    async with dummy(profile) as running, aiohttp.ClientSession() as session:
        started = time.monotonic()
        # The answer is 0.2 s late by design; on a loaded machine it may take longer than the
        # 0.5 s the other tests allow, which is not what this test is about.
        body = await get_json(session, f"{running.base_url}/api/orders", timeout=aiohttp.ClientTimeout(total=10))
        assert body["code"] == 0
        assert time.monotonic() - started >= 0.2


async def test_server_error_is_an_html_5xx_and_the_cap_lets_retries_through() -> None:
    async with dummy(FaultProfile(server_error=1.0)) as running, aiohttp.ClientSession() as session:
        statuses = []
        for attempt in range(4):
            # a retry re-signs: timestamp and sign change, the request key does not
            params = {"page": "1", "timestamp": str(attempt), "sign": f"S{attempt}"}
            async with session.get(f"{running.base_url}/api/orders", params=params, timeout=TIMEOUT) as response:
                statuses.append(response.status)
                if response.status >= 500:
                    assert response.content_type == "text/html"
                    assert "<html>" in await response.text()
        assert all(status >= 500 for status in statuses[:3]) and statuses[3] == 200


async def test_rate_limit_uses_the_subclass_answer() -> None:
    async with dummy(FaultProfile(rate_limit=1.0)) as running, aiohttp.ClientSession() as session:
        body = await get_json(session, f"{running.base_url}/api/orders")
        assert body["code"] == 7 and "ban will last" in body["sub_msg"]


async def test_latency_is_added_to_api_requests() -> None:
    async with dummy(latency_ms=150) as running, aiohttp.ClientSession() as session:
        started = time.monotonic()
        await get_json(session, f"{running.base_url}/api/orders")
        assert time.monotonic() - started >= 0.15


async def test_faults_route_switches_profiles() -> None:
    async with dummy() as running, aiohttp.ClientSession() as session:
        url = f"{running.base_url}/_fake/faults"
        async with session.post(url, json={"profile": "chaos", "hang_seconds": 0.1}) as response:
            body = await response.json()
        assert body["profile"]["rate_limit"] == FaultProfile.CHAOS.rate_limit
        assert running.fake.faults.profile.hang_seconds == 0.1
        async with session.post(url, json={"rate_limit": 7}) as response:
            assert response.status == 400
        async with session.post(url, json={"profile": "none"}) as response:
            assert (await response.json())["profile"]["drop"] == 0


async def test_paging_faults_duplicate_touch_and_malform() -> None:
    profile = FaultProfile(duplicate_on_page=1.0, modify_during_paging=1.0, malformed=1.0)
    async with dummy(profile) as running, aiohttp.ClientSession() as session:
        first = await get_json(session, f"{running.base_url}/api/orders", params={"page": "1"})
        second = await get_json(session, f"{running.base_url}/api/orders", params={"page": "2"})
        assert len(first["orders"]) == 20 and len(second["orders"]) == 21
        assert second["orders"][0]["id"] == first["orders"][-1]["id"]  # the same record on two pages
        assert all("paid" not in row for row in first["orders"])  # malformed ...
        again = await get_json(session, f"{running.base_url}/api/orders", params={"page": "1"})
        assert any("paid" in row for row in again["orders"])  # ... but transient
        assert running.fake.faults.stats["modify_during_paging"] == 1
        touched = [o for o in running.world.orders_modified(T0, T0 + timedelta(seconds=1))]
        assert len(touched) == 1 and touched[0].modified_at == T0


def test_page_slice_bounds() -> None:
    fake = build_fake(DummyFake, orders=5, clock=FakeClock(frozen_at=T0))
    items = list(range(10))
    assert fake.page_slice(items, 1, 4) == [0, 1, 2, 3]
    assert fake.page_slice(items, 3, 4) == [8, 9]
    assert fake.page_slice(items, 4, 4) == []
    assert fake.page_slice(items, 0, 4, first_page=0) == [0, 1, 2, 3]
    assert fake.page_slice(items, 0, 4) == []
    with pytest.raises(ValueError):
        fake.page_slice(items, 1, 0)
    assert missing("a")({"a": 1, "b": 2}) == {"b": 2}
    assert replaced(a="x")({"a": 1}) == {"a": "x"}
    record = {"id": "1", "nested": {"v": 1}}
    fake.faults = FaultInjector(FaultProfile(malformed=1.0))
    corrupted = fake.maybe_malform("1", record, replaced(nested=None))
    assert corrupted == {"id": "1", "nested": None} and record == {"id": "1", "nested": {"v": 1}}


def test_tokens_issue_refresh_and_expire() -> None:
    clock = FakeClock(frozen_at=T0)
    tokens = FakeTokens(clock, "fake-x", timedelta(hours=1), timedelta(days=1))
    first = tokens.register("fake-at", "fake-rt")
    assert tokens.is_valid("fake-at") and first.expires_in(clock.now()) == 3600
    assert tokens.check("nope") == "unknown" and tokens.check(None) == "unknown"
    clock.advance(3601)
    assert tokens.check("fake-at") == "expired"
    renewed = tokens.refresh("fake-rt")
    assert renewed is not None and tokens.is_valid(renewed.access_token)
    assert tokens.current == renewed
    assert tokens.refresh("fake-rt") is None  # single use
    assert tokens.check("fake-at") == "unknown"
    clock.advance(2 * 86400)
    assert tokens.refresh(renewed.refresh_token) is None  # refresh token expired too
    fresh = tokens.issue()
    assert tokens.expire_all() >= 1 and not tokens.is_valid(fresh.access_token)
    assert tokens.refresh(fresh.refresh_token) is not None


async def test_expire_tokens_route() -> None:
    async with dummy() as running, aiohttp.ClientSession() as session:
        token = running.credentials.access_token
        assert running.fake.tokens.is_valid(token)
        async with session.post(f"{running.base_url}/_fake/tokens/expire") as response:
            assert (await response.json())["expired"] == 1
        assert running.fake.tokens.check(token) == "expired"


async def test_describe_and_multiple_shops() -> None:
    async with dummy(shops=2) as running:
        described = running.describe()
        assert described["platform"] == "dummy" and described["base_url"] == running.base_url
        assert described["credentials"] == {"app_key": "fake-dummy-app", "session": "fake-dummy-access-token"}
        assert len(described["shop_ids"]) == 2 and list(running.worlds) == described["shop_ids"]
        assert running.fake.world_for(described["shop_ids"][1]) is running.worlds[described["shop_ids"][1]]
        assert running.fake.world_for("nope") is None
        truth = running.fake.truth()
        assert set(truth["shops"]) == set(described["shop_ids"])
        assert running.credentials.app_secret == "fake-secret-not-real"
        assert "fake-secret-not-real" not in repr(running.credentials)


def free_port_base(count: int) -> int:
    """A port base with ``count`` consecutive free ports (best effort)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count >= 65535:
            continue
        try:
            sockets = []
            for offset in range(count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
        return base
    raise RuntimeError("no free port range")


class LiveDummy(DummyFake):
    platform = "douyin"


async def test_serve_all_uses_the_fixed_port_order(monkeypatch: pytest.MonkeyPatch) -> None:
    classes = {"jd": type("FakeJdDummy", (DummyFake,), {"platform": "jd"}), "douyin": LiveDummy}
    monkeypatch.setattr(fake_server_module, "load_fake", classes.__getitem__)
    base = free_port_base(len(PLATFORM_ORDER))
    clock = FakeClock(frozen_at=T0)
    running = await serve_all(["douyin", "jd"], "127.0.0.1", base, 5, 50, "none", 0, clock)
    try:
        assert [r.platform for r in running] == ["douyin", "jd"]
        assert running[0].base_url == f"http://127.0.0.1:{base + 2}"
        assert running[1].base_url == f"http://127.0.0.1:{base + 1}"
        assert running[0].world.live and not running[1].world.live
        assert running[0].clock is running[1].clock is clock
    finally:
        for item in running:
            await item.close()


def test_registry() -> None:
    assert list(FAKE_PLATFORMS) == list(PLATFORM_ORDER)
    assert port_for("taobao", 18600) == 18600 and port_for("selfmall", 18600) == 18605
    with pytest.raises(FakeNotAvailableError, match="unknown"):
        port_for("amazon", 1)
    with pytest.raises(FakeNotAvailableError, match="unknown"):
        load_fake("amazon")


def test_registry_reports_missing_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FAKE_PLATFORMS, "jd", "connectors.fakes.no_such_module:FakeJd")
    with pytest.raises(FakeNotAvailableError, match="does not exist"):
        load_fake("jd")
    monkeypatch.setitem(FAKE_PLATFORMS, "jd", "connectors.fakes.world:FakeWorld")
    with pytest.raises(FakeNotAvailableError, match="no FakePlatform subclass"):
        load_fake("jd")
    monkeypatch.setitem(FAKE_PLATFORMS, "jd", "connectors.fakes.server:FakePlatform")
    assert load_fake("jd") is FakePlatform


async def test_cli_serve_prints_lines_then_ready_and_stops_on_sigterm(
    monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    monkeypatch.setattr(fake_server_module, "load_fake", lambda name: DummyFake)
    base = free_port_base(1)
    task = asyncio.create_task(cli_fakes._serve(["taobao"], "127.0.0.1", base, 7, 40, "none", 0, 1, 30))
    output = b""
    for _ in range(250):
        await asyncio.sleep(0.02)
        output += capsysbinary.readouterr().out
        if output.endswith(b"ready\n"):
            break
    else:
        task.cancel()
        pytest.fail(f"no ready line in {output!r}")
    first, ready = output.splitlines()
    described = orjson.loads(first)
    assert described["base_url"] == f"http://127.0.0.1:{base}" and ready == b"ready"
    async with aiohttp.ClientSession() as session:
        await get_json(session, f"{described['base_url']}/_fake/health")
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, 5)
    assert task.result() is None


def test_cli_refuses_unknown_platforms_and_profiles() -> None:
    from bangfu.cli.app import app

    runner = CliRunner()
    wide = {"COLUMNS": "300"}
    result = runner.invoke(app, ["fakes", "serve", "--platforms", "taobao,amazon"], env=wide)
    assert result.exit_code == 2 and "unknown platform(s) amazon" in result.output
    result = runner.invoke(app, ["fakes", "serve", "--faults", "mayhem"], env=wide)
    assert result.exit_code == 2 and "unknown fault profile 'mayhem'" in result.output
