"""Frozen mode of the fakes (``build_fake(frozen=True)``, ``bangfu fakes serve --frozen``): the
list APIs serve pre-rendered records, and every answer is byte for byte the live mode's.

For each platform, the hub's own connector reads the whole history (orders and refunds, every
window of a world dense enough that windows span several pages, plus the catch-up passes) from
a live fake and from a frozen one of the same world; each fake's answers are recorded as they
leave it, and the two recordings must be equal once the per-request ids that differ between any
two requests (Kuaishou's uuid request ids, TOP's process-wide counter, the mall's session tokens)
are masked. The same holds for refusals: wrong credentials (a bad signature where the platform
signs) are refused by the frozen fake with the live fake's error, and a bad page size with the
same error. And the frozen fake never serves a stale page: a sale placed after the pre-render
shows up.
"""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bangfu.enums import SyncStream
from connectors.base import ShopConfig
from connectors.errors import AuthError
from connectors.fakes.clock import FakeClock
from connectors.fakes.douyin import FakeDouyin
from connectors.fakes.registry import PLATFORM_ORDER
from connectors.fakes.server import FakePlatform, Running, build_fake, start
from connectors.fakes.world import FakeWorld
from connectors.http import new_session
from tests.connectors.clients.douyin_client import DouyinTestClient
from tests.connectors.conftest import PATIENT_CLIENT_TIMEOUT
from tests.connectors.contract import ContractTests, collect, make_contract_tests

Recording = list[tuple[str, int, bytes]]
Answer = tuple[int, dict[str, Any]]

#: values that differ between any two requests, live or frozen
_VOLATILE = [
    re.compile(rb'("request_?[iI]d"\s*:\s*")[^"]*(")'),  # Kuaishou uuid4, TOP process-wide counter
    re.compile(rb'(name="csrf[-_]token"\s+(?:content|value)=")[^"]*(")'),  # the mall's session CSRF token
    re.compile(rb'(name="csrf_token"\s+value=")[^"]*(")'),
]


def _masked(body: bytes) -> bytes:
    for pattern in _VOLATILE:
        body = pattern.sub(rb"\1*\2", body)
    return body


@asynccontextmanager
async def _recorded(contract: ContractTests, *, frozen: bool, orders: int) -> AsyncIterator[tuple[Running, Recording]]:
    """The contract's fake world, live or frozen, recording ``(path?query, status, body)`` of
    every platform API answer (not ``/_fake/*``)."""
    fake = build_fake(
        contract.platform,
        seed=contract.seed,
        orders=orders,
        days=contract.days,
        clock=FakeClock(frozen_at=contract.frozen_at),
        frozen=frozen,
    )
    recording: Recording = []

    @web.middleware
    async def record(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        response = await handler(request)
        if not request.path.startswith("/_fake/") and isinstance(response, web.Response):
            query = "&".join(f"{k}={v}" for k, v in sorted(request.query.items()) if k in ("method", "page"))
            body = response.body
            assert body is None or isinstance(body, bytes | bytearray), "the fakes answer with bytes"
            recording.append((f"{request.path}?{query}", response.status, _masked(bytes(body or b""))))
        return response

    build_app = fake.build_app

    def recording_app() -> web.Application:
        app = build_app()
        app.middlewares.insert(0, record)
        return app

    fake.build_app = recording_app  # type: ignore[method-assign]
    if frozen:
        assert fake.serving_frozen
        fake.prerender()
    running = await start(fake)
    try:
        yield running, recording
    finally:
        await running.close()


def _bad_config(good: ShopConfig) -> ShopConfig:
    return ShopConfig(
        platform=good.platform,
        base_url=good.base_url,
        app_key=good.app_key,
        app_secret="wrong-secret-not-real",
        shop_id=good.shop_id,
        access_token="wrong-token-not-real",
        refresh_token="wrong-refresh-not-real",
        extra={key: f"wrong-{key}" if "secret" in key or "password" in key else v for key, v in good.extra.items()},
    )


def _records(fake: FakePlatform) -> int:
    """How many records the fake holds pre-rendered, over every kind and world."""
    return sum(len(records) for _, records in fake._frozen.values())


# No faults here: the contract's 1.5 s client timeout (meant to cut the chaos fakes' hangs) would
# only turn a slow answer on a loaded machine into a resend, one answer more in one recording.
_PATIENT = PATIENT_CLIENT_TIMEOUT


@pytest.mark.parametrize("platform", PLATFORM_ORDER)
async def test_frozen_answers_are_the_live_answers(platform: str, patient_session: aiohttp.ClientSession) -> None:
    session = patient_session
    contract = make_contract_tests(platform)()
    orders = contract.dense_orders()
    recordings: dict[bool, Recording] = {}
    refusals: dict[bool, Recording] = {}
    totals: dict[bool, dict[str, int]] = {}
    for frozen in (False, True):
        async with _recorded(contract, frozen=frozen, orders=orders) as (running, recording):
            connector, _ = contract.connect(running, session, timeout=_PATIENT)
            result = await contract.full_harvest(running, connector)
            contract.assert_matches_truth(running, result)
            totals[frozen] = result.totals()
            assert not connector.stats.errors
            assert not connector.stats.retries, "a resend records one answer more"
            order_windows = [w for w in connector.stats.windows if w.stream is SyncStream.ORDERS]
            assert connector.stats.pages >= 2 * len(order_windows) > 0, "the windows do not span pages"
            if frozen:
                fake = running.fake
                assert fake.serving_frozen
                assert _records(fake) >= len(result.orders), "the frozen fake served nothing pre-rendered"
            recordings[frozen] = list(recording)
            recording.clear()
            # Wrong credentials (a wrong signing secret, token and password): refused alike.
            refused, _ = contract.connect(
                running, session, config=_bad_config(contract.make_config(running)), timeout=_PATIENT
            )
            now = running.clock.now()
            with pytest.raises(AuthError):
                await collect(refused.orders(now - refused.window_for(SyncStream.ORDERS), now))
            refusals[frozen] = list(recording)
    assert totals[True] == totals[False]
    assert len(recordings[True]) == len(recordings[False]) > 2
    for number, (live, frozen_answer) in enumerate(zip(recordings[False], recordings[True], strict=True)):
        assert frozen_answer == live, f"answer {number} differs ({live[0]})"
    assert refusals[True]
    assert refusals[True] == refusals[False]


async def _douyin_answers(client: DouyinTestClient, now: int) -> list[Answer]:
    window = {"update_time_start": now - 86400 * 3, "update_time_end": now, "order_by": "update_time"}
    answers = [await client.call("order.searchList", {**window, "page": page, "size": 50}) for page in range(3)]
    answers.append(await client.call("order.searchList", {**window, "page": 0, "size": 101}))  # size over 100
    answers.append(await client.call("order.searchList", {**window, "page": 0, "size": 50}, sign="0" * 64))
    for _, answer in answers:
        answer.pop("log_id", None)
    return answers


async def test_frozen_douyin_refuses_bad_signatures_and_pages_alike(session: aiohttp.ClientSession) -> None:
    """A plain signed client (not the hub's connector): pages, a bad page size and a bad sign."""
    answers: dict[bool, list[Answer]] = {}
    for frozen in (False, True):
        contract = make_contract_tests("douyin", days=3)()
        async with _recorded(contract, frozen=frozen, orders=400) as (running, _):
            creds = running.credentials
            client = DouyinTestClient(
                running.base_url, creds.app_key, creds.app_secret, session, access_token=creds.access_token
            )
            client.now = lambda: running.clock.wall_now()
            answers[frozen] = await _douyin_answers(client, int(running.clock.now().timestamp()))
    assert answers[True] == answers[False]
    pages = answers[True][:3]
    assert all(answer["code"] == 10000 for _, answer in pages)
    assert sum(len(answer["data"]["shop_order_list"]) for _, answer in pages) > 50
    assert answers[True][3][1]["code"] != 10000
    assert answers[True][4][1]["sub_code"] == "isv.signature-invalid"


async def test_frozen_pages_follow_the_world(session: aiohttp.ClientSession) -> None:
    """A sale placed (or a clock moved) after the pre-render is served, never a stale page."""
    contract = make_contract_tests("douyin")()
    async with _recorded(contract, frozen=True, orders=contract.orders) as (running, _):
        connector, _ = contract.connect(running, session)
        before = await contract.full_harvest(running, connector)
        contract.assert_matches_truth(running, before)
        item = running.world.products()[0]
        placed = running.world.place_order(item.item_id, item.skus[0].sku_id, 1)
        connector, _ = contract.connect(running, session)
        after = await contract.full_harvest(running, connector)
        contract.assert_matches_truth(running, after)
        assert len(after.orders) == len(before.orders) + 1
        assert any(record.platform_order_id == placed.order_id for record in after.orders.values())


async def test_a_frozen_fake_serves_pages_without_rendering_an_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain client pages 2,000+ orders, 100 a page, twice. The live fake renders every order
    of every page; the frozen one serves the pre-rendered bytes and renders none (what makes a
    page cost it well under a millisecond: bench/ingest.py --frozen measures the CPU). No faults
    here, so the client waits as long as a busy machine needs to render a live page."""
    rendered: dict[bool, int] = {}
    original = FakeDouyin._render_order
    for frozen in (False, True):
        count = 0

        def counting(self: FakeDouyin, order: Any) -> Any:
            nonlocal count
            count += 1
            return original(self, order)

        contract = make_contract_tests("douyin", days=10)()
        async with new_session(timeout=60) as session, _recorded(contract, frozen=frozen, orders=3000) as (running, _):
            creds = running.credentials
            client = DouyinTestClient(
                running.base_url, creds.app_key, creds.app_secret, session, access_token=creds.access_token
            )
            client.now = lambda: running.clock.wall_now()
            now = int(running.clock.now().timestamp())
            first = await client.all_orders(now - 86400 * 10, now)
            monkeypatch.setattr(FakeDouyin, "_render_order", counting)
            again = await client.all_orders(now - 86400 * 10, now)
            monkeypatch.setattr(FakeDouyin, "_render_order", original)
        assert again == first
        assert len(again) >= 2000
        rendered[frozen] = count
    assert rendered[True] == 0, rendered
    assert rendered[False] >= 2000, rendered


@pytest.mark.parametrize("platform", ["douyin", "taobao"])
def test_a_retained_world_answers_as_a_plain_one(platform: str) -> None:
    """``FakeWorld.retain`` (frozen mode) keeps built records and answers windows from sorted
    rows; the answers are the plain world's, through touches and a moved clock. The clock stands
    still while both worlds are built, so they are built at the same instant."""
    clock = FakeClock()
    clock.freeze()
    plain = FakeWorld(platform, "123456789", seed=3, orders=1500, clock=clock, days=20, live=platform == "douyin")
    kept = FakeWorld(platform, "123456789", seed=3, orders=1500, clock=clock, days=20, live=platform == "douyin")
    now = clock.freeze()
    kept.retain()
    rng = random.Random(5)
    for step in range(40):
        if step % 10 == 9:
            touched = plain.orders_created(now - timedelta(days=4), now)[rng.randrange(50)].order_id
            plain.touch(touched)
            kept.touch(touched)
        start = now - timedelta(days=rng.uniform(0, 23))
        end = start + timedelta(hours=rng.uniform(0.1, 72))
        assert kept.orders_modified(start, end) == plain.orders_modified(start, end)
        assert kept.refunds_modified(start, end) == plain.refunds_modified(start, end)
        assert kept.orders_created(start, end) == plain.orders_created(start, end)
    clock.advance(3 * 3600)
    start, end = now - timedelta(days=30), clock.now() + timedelta(days=1)
    assert kept.orders_modified(start, end) == plain.orders_modified(start, end)
    assert kept.refunds_modified(start, end) == plain.refunds_modified(start, end)
    assert len(kept.orders_modified(start, end)) == plain.order_count
