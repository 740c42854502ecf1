"""Webhooks: fakes push signed messages over HTTP to the receiver, which stores and pulls.

Every test runs a fake platform and the receiver on loopback; the fake's clock is frozen and
advanced by hand, and the sync engine and connectors read the same clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.enums import OrderStatus, SyncStream
from bangfu.models import Order, Shop, SyncRun, WebhookEvent
from bangfu.secrets import SecretStore
from bangfu.store import make_engine, session_factory
from connectors.fakes.clock import FakeClock
from connectors.fakes.push import PushSender
from connectors.fakes.server import Running, fake_server
from connectors.retry import RetryPolicy
from connectors.signing import douyin as douyin_signing
from sync.engine import StreamOutcome, SyncEngine, SyncPolicy
from sync.shops import register, specs_from_fakes
from sync.webhooks import (
    RECEIVER,
    SweepPolicy,
    WebhookReceiver,
    add_webhook_routes,
    build_app,
    describe_error,
    event_counts,
    parse_taobao,
    process_pending,
    store_events,
    tmc_sign,
    verify_tmc,
)
from tests.bangfu.test_cli import bangfu_in_process as bangfu

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.005, max_delay=0.02)
POLICY = SyncPolicy(lag=timedelta(0), lookback=timedelta(days=5), batch_size=500)
ROUTE = {"douyin": "douyin", "taobao": "taobao"}
ADVANCE = 3 * 86400  # seconds: long enough for most recent orders to ship or complete


class CountingSync(SyncEngine):
    """The sync engine, counting the follow-up pulls."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refreshes: list[tuple[int, list[str]]] = []
        self.refund_refreshes: list[tuple[int, list[str]]] = []

    async def refresh_orders(self, shop: Shop, platform_order_ids: Sequence[str]) -> StreamOutcome:
        self.refreshes.append((shop.id, list(platform_order_ids)))
        return await super().refresh_orders(shop, platform_order_ids)

    async def refresh_refunds(self, shop: Shop, platform_refund_ids: Sequence[str]) -> StreamOutcome:
        self.refund_refreshes.append((shop.id, list(platform_refund_ids)))
        return await super().refresh_refunds(shop, platform_refund_ids)


@dataclass
class Hub:
    platform: str
    fake: Running
    clock: FakeClock
    engine: AsyncEngine
    sync: CountingSync
    receiver: WebhookReceiver
    url: str
    http: aiohttp.ClientSession

    @property
    def pusher(self) -> PushSender:
        pusher: PushSender = getattr(self.fake.fake, "pusher")  # noqa: B009 - set by add_routes
        return pusher

    async def fake_push(self, **payload: Any) -> dict[str, Any]:
        async with self.http.post(f"{self.fake.base_url}/_fake/push", json=payload) as response:
            assert response.status == 200, await response.text()
            answer: dict[str, Any] = await response.json()
            return answer

    async def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        async with self.http.post(self.url, data=body, headers=headers) as response:
            return response.status, await response.json(content_type=None)

    async def settle(self) -> None:
        await self.pusher.drain()
        await self.receiver.idle()

    async def sync_orders(self) -> None:
        results = await self.sync.sync_all(streams=[SyncStream.ORDERS])
        assert all(o.ok for outcomes in results.values() for o in outcomes), results

    async def orders(self) -> dict[str, tuple[OrderStatus, datetime]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(Order.platform_order_id, Order.status, Order.modified_at))
            return {r.platform_order_id: (r.status, r.modified_at) for r in rows}

    async def events(self) -> list[Any]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(select(WebhookEvent).order_by(WebhookEvent.id))).all())

    async def sync_runs(self) -> int:
        async with self.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(SyncRun)) or 0)

    def world_modified(self, order_id: str) -> datetime:
        order = self.fake.world.order(order_id)
        assert order is not None
        return order.modified_at

    async def changed_since_sync(self) -> list[str]:
        """Orders the hub holds whose platform state has moved on since (by modified time)."""
        held = await self.orders()
        return sorted(oid for oid, (_, modified) in held.items() if self.world_modified(oid) > modified)


@asynccontextmanager
async def hub(db_url: str, tmp_path: Path, platform: str, *, orders: int = 60) -> AsyncIterator[Hub]:
    clock = FakeClock()
    clock.freeze(clock.now().replace(microsecond=0))
    async with fake_server(platform, seed=11, orders=orders, days=3, clock=clock) as fake:
        lines = tmp_path / "fakes.jsonl"
        lines.write_text(orjson.dumps(fake.describe()).decode() + "\nready\n")
        secrets = SecretStore(tmp_path / "secrets.json")
        engine = make_engine(db_url)
        http = aiohttp.ClientSession()
        runner: web.AppRunner | None = None
        try:
            async with session_factory(engine)() as session, session.begin():
                await register(session, specs_from_fakes(lines), secrets)
            sync = CountingSync(
                engine,
                secrets=secrets,
                policy=POLICY,
                clock=clock.now,
                connector_kwargs={"retry": FAST_RETRY, "clock": clock.now, "session": http, "timeout": 3.0},
            )
            app = web.Application()
            receiver = add_webhook_routes(app, engine, sync, debounce=0.01)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhooks/{ROUTE[platform]}"
            async with http.post(f"{fake.base_url}/_fake/webhooks", json={"url": url}) as response:
                assert response.status == 200 and (await response.json())["targets"] == [url]
            yield Hub(platform, fake, clock, engine, sync, receiver, url, http)
        finally:
            if runner is not None:
                await runner.cleanup()
            await http.close()
            await engine.dispose()


def _first_order(fake: Running, *, skip: int = 0) -> str:
    orders = fake.world.orders_created(fake.clock.now() - timedelta(days=4), fake.clock.now())
    return orders[skip].order_id


# --------------------------------------------------------------------------- signatures


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("platform", ["douyin", "taobao"])
async def test_signature_accepted_and_refused(db_url: str, tmp_path: Path, platform: str) -> None:
    async with hub(db_url, tmp_path, platform) as h:
        order_id = _first_order(h.fake)
        (good,) = h.pusher.prepare(order_id)
        headers = dict(good.headers)
        # Refused: a tampered body, a wrong signature, an unknown app; nothing is stored.
        tampered = good.body.replace(order_id.encode(), str(int(order_id) + 1).encode())
        assert tampered != good.body
        wrong_sign = dict(headers)
        other_app = dict(headers)
        if platform == "douyin":
            wrong_sign["event-sign"] = douyin_signing.push_sign(
                good.body, app_key=h.fake.credentials.app_key, secret="x"
            )
            other_app["app-id"] = "someone-else"
        else:
            wrong_sign["x-top-sign"] = tmc_sign(good.body, "x")
            other_app["x-top-appkey"] = "someone-else"
        for body, hdrs in ((tampered, headers), (good.body, wrong_sign), (good.body, other_app)):
            status, answer = await h.post(body, hdrs)
            assert status == 401
            if platform == "douyin":
                assert answer["code"] != 0
            else:
                assert answer["error_response"]["code"] == 25
        assert await h.events() == []
        # Accepted: exactly the platform's success answer, after the event is stored.
        status, answer = await h.post(good.body, headers)
        assert status == 200
        assert answer == ({"code": 0, "msg": "success"} if platform == "douyin" else {"success": True})
        await h.settle()
        (event,) = await h.events()
        assert event.platform_order_id == order_id and event.status == "done" and event.shop_id is not None
        assert h.sync.refreshes == [(event.shop_id, [order_id])]
        if platform == "douyin":
            # The HMAC-SHA256 sign method (sign-method header) verifies too.
            other = _first_order(h.fake, skip=1)
            (hmac_push,) = h.pusher.prepare(other, sign_method="hmac-sha256")
            assert hmac_push.headers["sign-method"] == "hmac-sha256"
            assert (await h.post(hmac_push.body, dict(hmac_push.headers)))[0] == 200
            # A correctly signed message about no order (a product message) is kept and ignored.
            body = orjson.dumps([{"tag": "400", "msg_id": "m-400", "data": '{"product_id":1}'}])
            creds = h.fake.credentials
            signed = {
                "app-id": creds.app_key,
                "event-sign": douyin_signing.push_sign(body, app_key=creds.app_key, secret=creds.app_secret),
            }
            assert (await h.post(body, signed))[0] == 200
            await h.settle()
            statuses = {e.event_key: e.status for e in await h.events()}
            assert statuses["m-400"] == "ignored" and sorted(statuses.values()) == ["done", "done", "ignored"]
            assert len(h.sync.refreshes) == 2


# A fixed vector for the TMC-like push signature, x-top-sign = base64(HMAC-SHA256(app secret, raw
# body)) [I], the algorithm sync/webhooks.py and connectors/fakes/push.py state (PLATFORMS.md
# documents TOP request signing, §1.2, but not TMC push signing). Worked out by hand outside the
# code under test: printf '%s' "$BODY" | openssl dgst -sha256 -hmac helloworld -binary | base64
# (hex: 7599ddbcdb7aa7c77780411380fa1fc8401c7dbbc48b32f370954efa13ab068e).
TMC_SECRET = "helloworld"
TMC_APP_KEY = "12345678"
TMC_BODY = (
    b'{"messages":[{"id":"2300000000000000001","topic":"taobao_trade_TradeBuyerPay","user_id":1234567,'
    b'"user_nick":"test","pub_time":"2024-06-15 12:00:00",'
    b'"content":"{\\"tid\\":4000000000000001,\\"status\\":\\"WAIT_SELLER_SEND_GOODS\\"}"}]}'
)
TMC_SIGN = "dZndvNt6p8d3gEETgPofyEAcfbvEizLzcJVO+hOrBo4="


def test_tmc_push_signature_vector() -> None:
    from connectors.fakes import push

    assert tmc_sign(TMC_BODY, TMC_SECRET) == TMC_SIGN
    assert push.tmc_sign(TMC_BODY, TMC_SECRET) == TMC_SIGN  # what the fake sends
    headers = {"X-Top-Appkey": TMC_APP_KEY, "X-Top-Sign": TMC_SIGN}
    assert verify_tmc(headers, TMC_BODY, app_key=TMC_APP_KEY, secret=TMC_SECRET)
    refused = [
        (headers, TMC_BODY + b" ", TMC_APP_KEY, TMC_SECRET),  # one byte more
        (headers, TMC_BODY, TMC_APP_KEY, "helloworlD"),  # another secret
        (headers, TMC_BODY, "87654321", TMC_SECRET),  # another app's push
        ({"X-Top-Appkey": TMC_APP_KEY}, TMC_BODY, TMC_APP_KEY, TMC_SECRET),  # no signature
        (
            {**headers, "X-Top-Sign": "7599ddbcdb7aa7c77780411380fa1fc8401c7dbbc48b32f370954efa13ab068e"},
            TMC_BODY,
            TMC_APP_KEY,
            TMC_SECRET,
        ),  # the right digest, as hex instead of base64
    ]
    for given, body, app_key, secret in refused:
        assert not verify_tmc(given, body, app_key=app_key, secret=secret)
    (event,) = parse_taobao(TMC_BODY)
    assert (event.event_key, event.kind, event.platform_shop_id, event.platform_order_id) == (
        "2300000000000000001",
        "taobao_trade_TradeBuyerPay",
        "1234567",
        "4000000000000001",
    )


# --------------------------------------------------------------------------- duplicates


@pytest.mark.parametrize("platform", ["douyin", "taobao"])
async def test_duplicate_pushes_store_one_event_and_pull_once(db_url: str, tmp_path: Path, platform: str) -> None:
    async with hub(db_url, tmp_path, platform) as h:
        order_id = _first_order(h.fake)
        answer = await h.fake_push(order_id=order_id, duplicate=3)
        sent = answer["sent"]
        assert len(sent) == 4 and len({tuple(d["message_ids"]) for d in sent}) == 1  # one message, four times
        assert all(d["status"] == 200 for d in sent)
        ok = '{"code":0,"msg":"success"}' if platform == "douyin" else '{"success":true}'
        assert all(d["answer"] == ok for d in sent)  # byte for byte what the platform expects
        await h.settle()
        # A redelivery later on (the platform retrying) is acknowledged and ignored too.
        assert all(d["status"] == 200 for d in (await h.fake_push(order_id=order_id))["sent"])
        await h.settle()
        events = await h.events()
        assert [(e.platform_order_id, e.status) for e in events] == [(order_id, "done")]
        assert h.sync.refreshes == [(events[0].shop_id, [order_id])]
        if platform == "douyin":
            assert getattr(h.fake.fake, "requests_by_method")["order.orderDetail"] == 1  # noqa: B009
        held = await h.orders()
        assert list(held) == [order_id] and held[order_id][1] == h.world_modified(order_id)


# --------------------------------------------------------------------------- ordering


async def test_old_push_after_newer_sync_does_not_move_the_order_back(db_url: str, tmp_path: Path) -> None:
    async with hub(db_url, tmp_path, "douyin") as h:
        t0 = h.clock.now()
        await h.sync_orders()
        before = await h.orders()
        # Pushes rendered now (the orders' current, soon old, state), delivered only later.
        open_orders = [oid for oid, (status, _) in before.items() if status.rank < OrderStatus.COMPLETED.rank]
        old = {oid: h.pusher.prepare(oid) for oid in open_orders}
        h.clock.advance(ADVANCE)
        await h.sync_orders()
        after = await h.orders()
        moved = [oid for oid in open_orders if after[oid] != before[oid]]
        assert moved, "the world should have moved some open orders on"
        target = moved[0]
        assert after[target][0].rank > before[target][0].rank
        runs = await h.sync_runs()
        deliveries = await h.pusher.deliver(old[target])
        assert [d.status for d in deliveries] == [200]
        await h.settle()
        assert await h.orders() == after  # the old push pulled the current state: nothing moved back
        assert [e.status for e in await h.events()] == ["done"]
        # Even a pull that reads a stale copy (the platform's clock back at t0) cannot move it back:
        # a full-life push of the order, rendered and pulled at t0, is refused by the upserts.
        later = h.clock.now()
        h.clock.freeze(t0)
        stale = [p for p in h.pusher.prepare(target, events="all") if p.message_ids != old[target][0].message_ids]
        assert stale
        await h.pusher.deliver(stale)
        await h.settle()
        h.clock.freeze(later)
        assert await h.orders() == after
        assert await h.sync_runs() == runs
        assert {e.status for e in await h.events()} == {"done"}


async def test_push_brings_a_newer_state_without_a_sync_run(db_url: str, tmp_path: Path) -> None:
    async with hub(db_url, tmp_path, "taobao") as h:
        await h.sync_orders()
        runs = await h.sync_runs()
        h.clock.advance(ADVANCE)
        changed = await h.changed_since_sync()
        assert len(changed) >= 2
        target = changed[0]
        await h.fake_push(order_id=target)
        await h.settle()
        assert await h.sync_runs() == runs
        held = await h.orders()
        assert held[target][1] == h.world_modified(target)
        order = h.fake.world.order(target)
        assert order is not None and held[target][0] is order.status
        # Only the pushed order moved; the others wait for the periodic sync.
        assert await h.changed_since_sync() == changed[1:]


async def test_missed_and_out_of_order_pushes_cost_nothing(db_url: str, tmp_path: Path) -> None:
    async with hub(db_url, tmp_path, "douyin") as h:
        await h.sync_orders()
        h.clock.advance(ADVANCE)
        changed = await h.changed_since_sync()
        assert len(changed) >= 2
        # One order's whole life arrives newest first, late and twice; the others' pushes are lost.
        target = changed[0]
        answer = await h.fake_push(order_id=target, events="all", out_of_order=True, duplicate=1, delay_ms=20)
        assert answer["scheduled"] >= 4
        await h.settle()
        events = await h.events()
        assert len(events) == answer["scheduled"] // 2 and {e.status for e in events} == {"done"}
        assert {e.platform_order_id for e in events} == {target}
        assert sum(ids.count(target) for _, ids in h.sync.refreshes) <= len(events)
        assert await h.changed_since_sync() == changed[1:]
        # The periodic sync still runs and covers every order no push announced.
        await h.sync_orders()
        assert await h.changed_since_sync() == []


# --------------------------------------------------------------------------- retries


async def test_failed_follow_up_is_retried_by_the_sweep(db_url: str, tmp_path: Path) -> None:
    async with hub(db_url, tmp_path, "douyin") as h:
        order_id = _first_order(h.fake)
        async with h.http.post(
            f"{h.fake.base_url}/_fake/faults", json={"server_error": 1.0, "max_consecutive": 1000}
        ) as response:
            assert response.status == 200
        await h.fake_push(order_id=order_id)
        await h.settle()
        (event,) = await h.events()
        assert event.status == "failed" and event.error and "TransientError" in event.error
        assert await h.orders() == {}
        now = SweepPolicy(grace=timedelta(0), retry_after=timedelta(0))
        # Not due yet under the default policy (retried a minute after the failure).
        assert (await process_pending(h.engine, h.sync)).claimed == 0
        still = await process_pending(h.engine, h.sync, policy=now)
        assert (still.claimed, still.failed, still.done) == (1, 1, 0)
        async with h.http.post(f"{h.fake.base_url}/_fake/faults", json={"profile": "none"}) as response:
            assert response.status == 200
        healed = await process_pending(h.engine, h.sync, policy=now)
        assert (healed.claimed, healed.done, healed.failed, healed.pulls) == (1, 1, 0, 1)
        (event,) = await h.events()
        assert event.status == "done" and event.error is None
        assert (await h.orders())[order_id][1] == h.world_modified(order_id)
        assert (await process_pending(h.engine, h.sync, policy=now)).claimed == 0  # done stays done
        # An event failing for longer than the give-up age is abandoned (the periodic sync has it).
        second = _first_order(h.fake, skip=1)
        faults = {"server_error": 1.0, "max_consecutive": 1000}
        async with h.http.post(f"{h.fake.base_url}/_fake/faults", json=faults) as response:
            assert response.status == 200
        await h.fake_push(order_id=second)
        await h.settle()
        h.clock.advance(4 * 86400)
        gave_up = await process_pending(h.engine, h.sync, policy=now)
        assert (gave_up.abandoned, gave_up.claimed) == (1, 0)
        assert sorted(e.status for e in await h.events()) == ["abandoned", "done"]


# --------------------------------------------------------------------------- the app and the command


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_app_sweeps_events_left_unprocessed(db_url: str, tmp_path: Path) -> None:
    async with hub(db_url, tmp_path, "taobao") as h:
        order_id = _first_order(h.fake)
        # Events stored but never handed to a worker (as if the process died right after answering).
        (push,) = h.pusher.prepare(order_id)
        shop_id = await h.receiver.directory.shop_id("taobao", h.fake.credentials.app_key, h.fake.world.shop_id)
        stored = await store_events(
            h.engine, "taobao", [(e, shop_id, None) for e in parse_taobao(push.body)], h.clock.now()
        )
        assert len(stored) == 1
        app = build_app(
            h.engine,
            h.sync,
            sweep_interval=0.02,
            sweep_policy=SweepPolicy(grace=timedelta(0), retry_after=timedelta(0)),
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            for _ in range(200):
                counts = await event_counts(h.engine)
                if counts == {"done": 1}:
                    break
                await asyncio.sleep(0.02)
            assert counts == {"done": 1}
        finally:
            await runner.cleanup()
        assert (await h.orders())[order_id][1] == h.world_modified(order_id)
        assert app[RECEIVER].processed.claimed == 0  # the sweep did it, not a worker


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_webhooks_serve_command(db_url: str, tmp_path: Path) -> None:
    clock = FakeClock()
    async with fake_server("douyin", seed=3, orders=20, days=3, clock=clock) as fake:
        secrets_file = tmp_path / "secrets.json"
        engine = make_engine(db_url)
        try:
            lines = tmp_path / "fakes.jsonl"
            lines.write_text(orjson.dumps(fake.describe()).decode() + "\n")
            async with session_factory(engine)() as session, session.begin():
                await register(session, specs_from_fakes(lines), SecretStore(secrets_file))
        finally:
            await engine.dispose()
        port = _free_port()
        env = {**os.environ, "BANGFU_SECRETS_FILE": str(secrets_file), "BANGFU_LANG": "en", "COLUMNS": "200"}
        command = [sys.executable, "-m", "bangfu", "webhooks", "serve", "--port", str(port), "--db", db_url]
        process = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            async with aiohttp.ClientSession() as http:
                base = f"http://127.0.0.1:{port}"
                for _ in range(300):
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(f"{base}/webhooks") as response:
                            if response.status == 200:
                                break
                    await asyncio.sleep(0.05)
                async with http.post(f"{fake.base_url}/_fake/webhooks", json={"url": f"{base}/webhooks/douyin"}):
                    pass
                order_id = _first_order(fake)
                async with http.post(f"{fake.base_url}/_fake/push", json={"order_id": order_id}) as response:
                    (delivery,) = (await response.json())["sent"]
                assert delivery["answer"] == '{"code":0,"msg":"success"}'
                counts_engine = make_engine(db_url)
                try:
                    for _ in range(200):
                        counts = await event_counts(counts_engine)
                        if counts == {"done": 1}:
                            break
                        await asyncio.sleep(0.05)
                finally:
                    await counts_engine.dispose()
                assert counts == {"done": 1}
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(process.communicate(), timeout=30)
        assert process.returncode == 0, err.decode()
        assert f"Receiving platform pushes at http://127.0.0.1:{port}" in out.decode()
        assert "Stopped receiving" in out.decode() and "Traceback" not in err.decode()


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("platform", ["douyin", "taobao"])
async def test_an_after_sale_push_brings_the_refund_too(db_url: str, tmp_path: Path, platform: str) -> None:
    """The refund an after-sale message names is pulled by id right after its order, without a
    sync run: it is in the store, succeeded, before the periodic refunds stream runs."""
    from bangfu.enums import RefundStatus
    from bangfu.models import Refund

    async with hub(db_url, tmp_path, platform, orders=200) as h:
        h.clock.advance(ADVANCE)
        now = h.fake.clock.now()
        refunded = [
            order
            for order in h.fake.world.orders_created(now - timedelta(days=10), now)
            if any(r.status is RefundStatus.SUCCEEDED for r in order.refunds)
        ]
        assert refunded, "the fake world has no refunded order to push"
        order = refunded[0]
        refund = next(r for r in order.refunds if r.status is RefundStatus.SUCCEEDED)
        runs = await h.sync_runs()
        await h.fake_push(order_id=order.order_id, events="all")
        await h.settle()
        assert await h.sync_runs() == runs
        events = await h.events()
        assert {e.status for e in events} == {"done"}
        assert str(refund.refund_id) in {e.platform_refund_id for e in events}
        async with h.engine.connect() as conn:
            stored = (await conn.execute(select(Refund.status, Refund.amount_fen))).all()
        assert stored == [(RefundStatus.SUCCEEDED, refund.amount_fen)]
        pulled = [ids for _, ids in h.sync.refund_refreshes]
        assert pulled and all(ids == [str(refund.refund_id)] for ids in pulled)


# --------------------------------------------------------------------------- large pushes and logs


def _signed_douyin(h: Hub, messages: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps(messages)
    creds = h.fake.credentials
    return body, {
        "app-id": creds.app_key,
        "event-sign": douyin_signing.push_sign(body, app_key=creds.app_key, secret=creds.app_secret),
    }


def _product_messages(count: int, marker: str) -> list[dict[str, Any]]:
    """``count`` product messages (tag 400: kept, nothing to pull), each carrying ``marker``."""
    return [
        {"tag": "400", "msg_id": f"p-{i}", "data": orjson.dumps({"product_id": i, "name": marker}).decode()}
        for i in range(count)
    ]


async def test_a_push_of_3500_messages_is_stored_in_batches_not_refused_forever(db_url: str, tmp_path: Path) -> None:
    """Issue 12 item 5: a signed Douyin push of more than ~2,978 messages went into one INSERT of
    11 parameters a row, over asyncpg's 32,767-parameter limit (SQLite builds may allow more), so
    every delivery and redelivery was answered 503. It is stored in batches under the limit, in one
    transaction: answered 200, every message stored, the order messages followed by a pull."""
    async with hub(db_url, tmp_path, "douyin") as h:
        orders = [_first_order(h.fake, skip=i) for i in range(3)]
        about_orders = [
            {
                "tag": "101",
                "msg_id": f"o-{order_id}",
                "data": orjson.dumps({"shop_id": int(h.fake.world.shop_id), "p_id": int(order_id)}).decode(),
            }
            for order_id in orders
        ]
        messages = _product_messages(3497, "produce") + about_orders
        body, headers = _signed_douyin(h, messages)
        status, answer = await h.post(body, headers)
        assert (status, answer) == (200, {"code": 0, "msg": "success"})
        await h.settle()
        assert await event_counts(h.engine) == {"ignored": 3497, "done": 3}
        assert sorted(oid for _, ids in h.sync.refreshes for oid in ids) == sorted(orders)
        # A redelivery is acknowledged and stores nothing twice.
        assert (await h.post(body, headers))[0] == 200
        await h.settle()
        async with h.engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(WebhookEvent)) == 3500
        assert len(h.sync.refreshes) == 1


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_failed_store_logs_no_payload(db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 12 item 5: when the store failed, the log line carried SQLAlchemy's message, which
    holds the statement and every parameter (each message's payload: about 2.2 MB per delivery
    of a large push). Only the platform, the count and the error class (and a message with no
    values) are logged now. The store is made to fail by a trigger refusing every insert."""
    from sqlalchemy import text

    async with hub(db_url, tmp_path, "douyin") as h:
        async with h.engine.begin() as conn:
            await conn.execute(
                text(
                    "CREATE TRIGGER refuse_events BEFORE INSERT ON webhook_events "
                    "BEGIN SELECT RAISE(ABORT, 'disk quota exceeded'); END"
                )
            )
        marker = "SECRET-BUYER-ADDRESS-7731"
        body, headers = _signed_douyin(h, _product_messages(40, marker))
        with caplog.at_level(logging.DEBUG, logger="sync"):
            status, _ = await h.post(body, headers)
            await h.settle()
        assert status == 503
        assert await h.events() == []
        ours = [r for r in caplog.records if r.name.startswith("sync")]  # not the driver's own debug log
        logged = "\n".join(logging.Formatter().format(r) for r in ours)
        assert "douyin" in logged and "40" in logged and "IntegrityError" in logged
        for leaked in (marker, "p-1", "product_id", "INSERT", "parameters"):
            assert leaked not in logged, leaked


def test_describe_error_keeps_no_statement_parameter_or_value() -> None:
    from sqlalchemy.exc import IntegrityError

    orig = Exception(
        'duplicate key value violates unique constraint "uq_x"\nDETAIL:  Key (event_key)=(SECRET-1) already exists.'
    )
    exc = IntegrityError("INSERT INTO webhook_events (payload) VALUES ($1)", ("SECRET-2",), orig)
    text = describe_error(exc)
    assert text == "IntegrityError (Exception): duplicate key value violates unique constraint '…'"
    assert describe_error(ValueError("bad 'SECRET-3' here")) == "ValueError: bad '…' here"
    assert describe_error(RuntimeError()) == "RuntimeError"
    assert len(describe_error(ValueError("x" * 5000))) < 250


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_get_webhooks_tells_nobody_the_event_counts(db_url: str, tmp_path: Path) -> None:
    """Issue 12, also: ``GET /webhooks`` answered every caller with the events by status, without
    authentication. It is a health reply now, ``{"ok": true}``; the counts are for operators, from
    ``bangfu webhooks status``."""
    async with hub(db_url, tmp_path, "douyin") as h:
        await h.fake_push(order_id=_first_order(h.fake))
        await h.settle()
        async with h.http.get(h.url.rsplit("/", 1)[0]) as response:
            assert response.status == 200
            assert await response.json() == {"ok": True}
        assert await event_counts(h.engine) == {"done": 1}
        result = bangfu("webhooks", "status", "--db", db_url)
        assert result.returncode == 0, result.stderr
        assert "done" in result.stdout and "1" in result.stdout
        as_json = bangfu("webhooks", "status", "--json", "--db", db_url)
        assert as_json.returncode == 0, as_json.stderr
        assert orjson.loads(as_json.stdout) == {"done": 1}
