"""The sync engine against real fake platforms over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.enums import SyncStream
from bangfu.models import Order, OrderLine, QuarantinedRecord, SyncCursor, SyncRun
from bangfu.secrets import SecretStore
from bangfu.store import session_factory
from connectors.fakes.clock import FakeClock
from connectors.fakes.faults import FaultProfile
from connectors.fakes.server import Running, fake_server
from connectors.ratelimit import RateLimiter
from connectors.retry import RetryPolicy
from sync.engine import SyncEngine, SyncPolicy
from sync.shops import register, specs_from_fakes
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
    async with fake_server(platform, seed=5, orders=600, days=30, clock=clock) as fake:
        clock.freeze(clock.now())
        secrets = await _register(engine, [fake], tmp_path)
        sync = SyncEngine(engine, secrets=secrets, policy=POLICY, connector_kwargs={"retry": FAST_RETRY})
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
