"""The sync engine against real fake platforms over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.enums import SyncStream
from bangfu.models import Alert, Order, OrderLine, QuarantinedRecord, SyncCursor, SyncRun
from bangfu.secrets import SecretStore
from bangfu.store import session_factory
from connectors.fakes.clock import FakeClock
from connectors.fakes.faults import FaultProfile
from connectors.fakes.server import Running, fake_server
from connectors.fakes.youzan import FakeYouzan
from connectors.kuaishou import KuaishouConnector
from connectors.ratelimit import RateLimiter
from connectors.retry import RetryPolicy
from connectors.windows import to_local_str
from sync.engine import SyncEngine, SyncPolicy
from sync.shops import register, shop_config, specs_from_fakes
from sync.stats import TOTALS, compare_with_truth, shop_records, shop_stats
from tests.connectors.contract import VirtualTime

FAST_RETRY = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05)
POLICY = SyncPolicy(lag=timedelta(0), lookback=timedelta(days=32), batch_size=200)


async def _register(engine: AsyncEngine, fakes: list[Running], tmp_path: Path) -> SecretStore:
    lines = tmp_path / "fakes.jsonl"
    lines.write_text("\n".join(orjson.dumps(f.describe()).decode() for f in fakes) + "\nready\n")
    secrets = SecretStore(tmp_path / "secrets.json")
    async with session_factory(engine)() as session, session.begin():
        await register(session, specs_from_fakes(lines), secrets)
    return secrets


def _truth(fake: Running) -> dict[str, int]:
    return fake.world.truth()


@pytest.mark.parametrize("platform", ["taobao", "douyin"])
async def test_sync_matches_truth_and_a_second_run_changes_nothing(
    engine: AsyncEngine, tmp_path: Path, platform: str
) -> None:
    clock = FakeClock()
    # About 19 orders a day, as at any size: several day windows and several batches per stream.
    async with fake_server(platform, seed=5, orders=150, days=8, clock=clock) as fake:
        clock.freeze(clock.now())
        secrets = await _register(engine, [fake], tmp_path)
        policy = replace(POLICY, lookback=timedelta(days=10), batch_size=50)
        sync = SyncEngine(engine, secrets=secrets, policy=policy, connector_kwargs={"retry": FAST_RETRY})
        results = await sync.sync_all(until_caught_up=True)
        assert all(o.ok for outcomes in results.values() for o in outcomes), results
        stats = await shop_stats(engine)
        truth = _truth(fake)
        hub = {k: stats[0][k] for k in ("orders", "order_lines", "refunds", "paid_fen", "refunded_fen")}
        assert hub == {k: truth[k] for k in hub}
        # A second run finds nothing new; a full re-scan changes nothing either.
        again = await sync.sync_all()
        orders = next(o for o in again[stats[0]["shop"]] if o.stream is SyncStream.ORDERS)
        assert orders.rows.new == 0 and orders.rows.changed == 0
        rescan = await sync.sync_all(full=True)
        orders = next(o for o in rescan[stats[0]["shop"]] if o.stream is SyncStream.ORDERS)
        assert orders.rows.new == 0 and orders.rows.changed == 0 and orders.rows.unchanged > 0
        assert await shop_stats(engine) == stats


async def test_chaos_converges_without_duplicates(engine: AsyncEngine, tmp_path: Path) -> None:
    clock = FakeClock()
    # Every fault at chaos rates, with short hangs; bans and backoff run on virtual time.
    chaos = FaultProfile.named("chaos").with_delays(slow_seconds=0.05, hang_seconds=0.6)
    vt = VirtualTime()
    fast = {
        "retry": FAST_RETRY,
        "timeout": 0.3,
        "limiter": RateLimiter(clock=vt.clock, sleep=vt.sleep),
        "sleep": vt.sleep,
    }
    async with (
        fake_server("kuaishou", seed=9, orders=500, days=8, faults=chaos, clock=clock) as ks,
        fake_server("jd", seed=9, orders=300, days=2, faults=chaos, clock=clock) as jd,
    ):
        clock.freeze(clock.now())
        secrets = await _register(engine, [ks, jd], tmp_path)
        sync = SyncEngine(
            engine,
            secrets=secrets,
            policy=replace(POLICY, lookback=timedelta(days=10)),
            connector_kwargs=fast,
        )
        await sync.sync_all(until_caught_up=True)
        by_platform = {s["platform"]: s for s in await shop_stats(engine)}
        records = await shop_records(engine)
        for fake in (ks, jd):
            truth = fake.fake.truth(records=True)["shops"][fake.credentials.shop_id]
            hub = {**by_platform[fake.platform], **records[by_platform[fake.platform]["shop"]]}
            # Every total the platform reports, and every order and refund on either side, each
            # at its latest status and modified time: a key only one side has is a difference.
            totals = {k: v for k, v in truth.items() if k != "records"}
            assert {k: hub.get(k) for k in totals.keys() | set(TOTALS)} == {
                k: totals.get(k) for k in totals.keys() | set(TOTALS)
            }, fake.platform
            for kind in ("orders", "refunds"):
                theirs = {key: list(value) for key, value in truth["records"][kind].items()}
                ours = hub[f"{kind[:-1]}_records"]
                assert len(theirs) == totals[kind], (fake.platform, kind)
                assert {k: ours.get(k) for k in ours.keys() | theirs.keys()} == {
                    k: theirs.get(k) for k in ours.keys() | theirs.keys()
                }, (fake.platform, kind)
            assert hub["duplicates"] == {"orders": 0, "order_lines": 0, "refunds": 0}, fake.platform
            assert compare_with_truth(hub, truth) == [], fake.platform
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(Order)) == sum(
                _truth(f)["orders"] for f in (ks, jd)
            )
            assert await conn.scalar(
                select(func.count(func.distinct(OrderLine.platform_line_id)))
            ) == await conn.scalar(select(func.count()).select_from(OrderLine))
            runs = (await conn.execute(select(SyncRun.outcome, SyncRun.errors))).all()
            cursors = await conn.scalar(select(func.count()).select_from(SyncCursor))
            open_quarantine = await conn.scalar(
                select(func.count()).select_from(QuarantinedRecord).where(QuarantinedRecord.resolved_at.is_(None))
            )
        assert cursors and open_quarantine == 0
        assert runs and all(outcome in ("ok", "failed") for outcome, _ in runs)


@pytest.mark.parametrize("platform", ["taobao", "jd", "douyin", "kuaishou"])
async def test_each_shop_of_a_platform_syncs_its_own_orders(engine: AsyncEngine, tmp_path: Path, platform: str) -> None:
    """A fake serving several shops: each registered shop gets its own world's records, not shop 1's."""
    clock = FakeClock()
    async with fake_server(platform, seed=6, orders=40, days=3, shops=3, clock=clock) as fake:
        clock.freeze(clock.now())
        secrets = await _register(engine, [fake], tmp_path)
        sync = SyncEngine(engine, secrets=secrets, policy=replace(POLICY, lookback=timedelta(days=5)))
        results = await sync.sync_all(streams=[SyncStream.ORDERS, SyncStream.REFUNDS], until_caught_up=True)
        assert all(o.ok for outcomes in results.values() for o in outcomes), results
        stats = await shop_stats(engine)
        records = await shop_records(engine)
        truth = fake.fake.truth(records=True)["shops"]
    assert sorted(s["platform_shop_id"] for s in stats) == sorted(truth)
    for entry in stats:
        hub = {**entry, **records[entry["shop"]]}
        assert compare_with_truth(hub, truth[entry["platform_shop_id"]]) == [], entry["platform_shop_id"]


# -- issue 12 ("Hardening"): look-back, failing streams, unstable windows ---------------------------

SKEW = timedelta(seconds=2)  # our clock a moment behind the platform's, as in production


@pytest.mark.parametrize("platform", ["kuaishou", "taobao", "douyin", "jd"])
async def test_first_sync_with_the_default_90_day_lookback_is_not_refused(
    engine: AsyncEngine, tmp_path: Path, platform: str
) -> None:
    """Issue 12.1: with ``SyncPolicy()`` (look-back 90 days, the platforms' own limit) every
    first sync was refused, every run: ``[kuaishou 300005] 只能查询最近90天内的订单`` (orders,
    refunds, live, settlements), ``[taobao 41] start_time must be within the last three
    months``. The connectors now start no earlier than their platform accepts."""
    clock = FakeClock()
    async with fake_server(platform, seed=4, orders=60, days=3, clock=clock) as fake:
        now = clock.freeze(clock.now())

        def ours() -> datetime:
            return now - SKEW

        secrets = await _register(engine, [fake], tmp_path)
        # 90 days of windows are some 500 requests: the rate limit is honoured on virtual time
        # (waits counted, not spent), as in the chaos test above.
        vt = VirtualTime()
        sync = SyncEngine(
            engine,
            secrets=secrets,
            policy=SyncPolicy(),
            clock=ours,
            connector_kwargs={
                "retry": FAST_RETRY,
                "clock": ours,
                "limiter": RateLimiter(clock=vt.clock, sleep=vt.sleep),
                "sleep": vt.sleep,
            },
        )
        results = await sync.sync_all()
        failed = [(o.stream.value, o.message) for outcomes in results.values() for o in outcomes if not o.ok]
        assert failed == []
        assert (await shop_stats(engine))[0]["orders"] > 0


class _Unclamped(KuaishouConnector):
    """Kuaishou as before issue 12: asks for the whole 90 days, so the platform refuses it."""

    stream_lookback: ClassVar[Mapping[SyncStream, timedelta]] = {}


async def _open_alerts(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list(
            (await conn.execute(select(Alert).where(Alert.kind == "sync.failing", Alert.resolved_at.is_(None)))).all()
        )


async def test_a_stream_refused_every_run_raises_an_alert_until_a_run_succeeds(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Issue 12.1: Kuaishou orders failed every run (``300005 只能查询最近90天内的订单``) and
    nobody was told. Three failed runs in a row of a (shop, stream) open one alert naming the
    shop, the stream, the error class and the platform's message; a good run resolves it."""
    clock = FakeClock()
    async with fake_server("kuaishou", seed=4, orders=30, days=3, clock=clock) as fake:
        now = clock.freeze(clock.now())

        def ours() -> datetime:
            return now - SKEW

        secrets = await _register(engine, [fake], tmp_path)
        broken = SyncEngine(
            engine,
            secrets=secrets,
            clock=ours,
            connector_factory=lambda shop: _Unclamped(shop_config(shop, secrets), clock=ours, retry=FAST_RETRY),
        )
        for run in range(1, 4):
            results = await broken.sync_all(streams=[SyncStream.ORDERS])
            (outcome,) = next(iter(results.values()))
            assert outcome.errors == {"bad_request": 1} and "300005" in (outcome.message or "")
            assert len(await _open_alerts(engine)) == (1 if run == 3 else 0)
        await broken.sync_all(streams=[SyncStream.ORDERS])  # a fourth failure: still one alert
        (alert,) = await _open_alerts(engine)
        assert alert.subject == "orders" and alert.severity == "error"
        for part in (fake.describe()["shop_ids"][0], "orders", "bad_request", "只能查询最近90天内的订单"):
            assert part in alert.message, (part, alert.message)
        fixed = SyncEngine(engine, secrets=secrets, clock=ours, connector_kwargs={"retry": FAST_RETRY, "clock": ours})
        results = await fixed.sync_all(streams=[SyncStream.ORDERS])
        assert all(o.ok for outcomes in results.values() for o in outcomes)
        assert await _open_alerts(engine) == []


class _NeverSettles(FakeYouzan):
    """Youzan whose ``total_results`` moves on every call for one update-time day: that window
    never settles, whatever the client does."""

    day = ""
    calls = 0

    async def _trades_sold_get(self, world: Any, shop_id: str, params: dict[str, Any]) -> dict[str, Any]:
        answer = await super()._trades_sold_get(world, shop_id, params)
        if str(params.get("start_update", "")).startswith(_NeverSettles.day):
            _NeverSettles.calls += 1
            answer["total_results"] += _NeverSettles.calls
        return answer


async def test_a_window_that_never_settles_keeps_the_cursor_and_fails_the_run(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Issue 12.2: Youzan (and the self-built mall) returned quietly after their rescans, so the
    cursor moved past a window whose records kept moving; anything that slipped between its
    pages was lost until a ``--full`` run. Now the cursor stays before that window, the later
    windows are still read, and the run fails with the window's error."""
    clock = FakeClock()
    async with fake_server(_NeverSettles, seed=8, orders=400, days=4, clock=clock) as fake:
        now = clock.freeze(clock.now())
        bad_start = now - timedelta(days=5) + timedelta(days=3)  # the fourth one-day window
        _NeverSettles.day = to_local_str(bad_start + timedelta(seconds=1))[:13]
        secrets = await _register(engine, [fake], tmp_path)
        vt = VirtualTime()
        sync = SyncEngine(
            engine,
            secrets=secrets,
            policy=replace(POLICY, lookback=timedelta(days=5)),
            clock=lambda: now,
            connector_kwargs={"retry": FAST_RETRY, "clock": lambda: now, "sleep": vt.sleep},
        )
        results = await sync.sync_all(streams=[SyncStream.ORDERS])
        (outcome,) = next(iter(results.values()))
        assert _NeverSettles.calls > 0
        assert outcome.errors == {"transient": 1} and "window_unstable" in (outcome.message or "")
        async with engine.connect() as conn:
            cursor = await conn.scalar(select(SyncCursor.watermark).where(SyncCursor.stream == SyncStream.ORDERS))
            run = (await conn.execute(select(SyncRun.outcome, SyncRun.message).order_by(SyncRun.id))).all()[-1]
        # Held at the start of the unsettled window, not moved on to "now".
        assert cursor is not None and cursor.replace(tzinfo=UTC) == bad_start
        assert run.outcome == "failed" and "window_unstable" in run.message
        # The windows after it were read all the same (and what it yielded was stored).
        assert (await shop_stats(engine))[0]["orders"] == _truth(fake)["orders"]
