"""Kill the sync process with SIGKILL at random points, restart it, and compare with a clean run.

Real processes throughout: `bangfu fakes serve` (frozen clock, light faults), `bangfu shops
add-from-fakes` and `bangfu sync run`, as an operator would run them. The database killed
mid-sync must end with exactly the rows of a database synced without interruption.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bangfu.models import LiveSession, Order, OrderLine, Refund, SettlementLine, SyncRun
from bangfu.store import make_engine
from connectors.fakes.process import FakesProcess
from tests.conftest import REPO_ROOT

PLATFORMS = "taobao,kuaishou"
SYNC_ARGS = ["sync", "run", "--all", "--until-caught-up", "--lag-seconds", "0", "--lookback-days", "12"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "BANGFU_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}


@pytest.fixture
def fakes(tmp_path: Path, env: dict[str, str]) -> Iterator[Path]:
    with FakesProcess(
        platforms=PLATFORMS.split(","), orders=1500, days=10, seed=4, faults="light", env=env, cwd=REPO_ROOT
    ) as process:
        yield process.write_lines(tmp_path / "fakes.jsonl")


def bangfu(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bangfu", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def _snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Business content only: no surrogate ids, no bookkeeping times."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            orders = {r.id: r.platform_order_id for r in await conn.execute(select(Order.id, Order.platform_order_id))}
            snap = {
                "orders": sorted(
                    tuple(r)
                    for r in await conn.execute(
                        select(
                            Order.platform_order_id,
                            Order.status,
                            Order.status_rank,
                            Order.modified_at,
                            Order.paid_fen,
                            Order.post_fee_fen,
                            Order.room_id,
                            Order.content_hash,
                        )
                    )
                ),
                "lines": sorted(
                    (orders[r[0]], *r[1:])
                    for r in await conn.execute(
                        select(
                            OrderLine.order_id,
                            OrderLine.platform_line_id,
                            OrderLine.quantity,
                            OrderLine.paid_fen,
                            OrderLine.refund_state,
                            OrderLine.version,
                            OrderLine.sku_id,
                        )
                    )
                ),
                "refunds": sorted(
                    tuple(r)
                    for r in await conn.execute(
                        select(
                            Refund.platform_refund_id,
                            Refund.status,
                            Refund.amount_fen,
                            Refund.modified_at,
                            Refund.order_line_id.is_(None),
                        )
                    )
                ),
                "settlements": sorted(
                    tuple(r)
                    for r in await conn.execute(
                        select(SettlementLine.platform_bill_id, SettlementLine.kind, SettlementLine.amount_fen)
                    )
                ),
                "sessions": sorted(
                    tuple(r)
                    for r in await conn.execute(select(LiveSession.room_id, LiveSession.views, LiveSession.ended_at))
                ),
            }
            interrupted = [r[0] for r in await conn.execute(select(SyncRun.outcome))]
    finally:
        await engine.dispose()
    snap["_outcomes"] = sorted({(o,) for o in interrupted})
    return snap


async def _count_runs(url: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(SyncRun)) or 0)
    finally:
        await engine.dispose()


@pytest.mark.slow
def test_sigkill_at_random_points_then_restart_ends_like_an_uninterrupted_run(
    db_url: str, tmp_path: Path, env: dict[str, str], fakes: Path
) -> None:
    reference = f"sqlite+aiosqlite:///{tmp_path / 'reference.db'}"
    for url in (reference, db_url):
        added = bangfu(env, "shops", "add-from-fakes", str(fakes), "--db", url)
        assert added.returncode == 0, added.stderr
    clean = bangfu(env, *SYNC_ARGS, "--db", reference)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    seed = random.randrange(10**6)
    rng = random.Random(seed)
    kills = 0
    attempts = 0
    while kills < 3 and attempts < 10:  # three kills that land mid-pull
        attempts += 1
        before = asyncio.run(_count_runs(db_url))
        process = subprocess.Popen(
            [sys.executable, "-m", "bangfu", *SYNC_ARGS, "--db", db_url],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Wait until this process is pulling (it has started a run), then kill it a random
        # moment later: mid-window, mid-transaction, between windows, wherever it happens to be.
        deadline = time.monotonic() + 60
        while asyncio.run(_count_runs(db_url)) == before and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(rng.uniform(0.0, 0.8))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=30)
    assert kills >= 2, f"the sync finished before it could be killed (seed {seed})"
    final = bangfu(env, *SYNC_ARGS, "--db", db_url)
    assert final.returncode == 0, final.stdout + final.stderr
    # Light faults touch records while pages are read, so the platforms moved on while we were
    # killing: bring the reference up to the same moment before comparing.
    caught_up = bangfu(env, *SYNC_ARGS, "--db", reference)
    assert caught_up.returncode == 0, caught_up.stdout + caught_up.stderr

    crashed, clean_snap = asyncio.run(_snapshot(db_url)), asyncio.run(_snapshot(reference))
    outcomes = crashed.pop("_outcomes")
    assert ("interrupted",) in outcomes and ("running",) not in outcomes, f"seed {seed}: {outcomes}"
    clean_snap.pop("_outcomes")
    assert crashed == clean_snap, f"seed {seed}"
    assert len(crashed["orders"]) == 3000
