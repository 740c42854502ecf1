"""Kill the sync process with SIGKILL in every phase of a sync, restart it, and compare with a clean run.

Real processes: `bangfu fakes serve` (frozen clock, light faults) and `bangfu sync run`, as an
operator would run them (the shops are registered in-process, as `bangfu shops add-from-fakes`
does). The database killed mid-sync must end with exactly the rows of a database synced
without interruption.

Each killed run is `bangfu sync run` under `tests/sync/kill_at.py`, which SIGKILLs the process
the N-th time it reaches a phase: one kill per distinct phase (a run just started, records read
and not written, a batch written and not committed, a batch committed, a run just finished),
N drawn from a fixed seed printed with every failure.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bangfu.models import LiveSession, Order, OrderLine, Refund, SettlementLine, SyncRun
from bangfu.settings import get_settings
from bangfu.store import make_engine
from connectors.fakes.process import FakesProcess
from tests.conftest import REPO_ROOT
from tests.sync import kill_at

PLATFORMS = "taobao,kuaishou"
ORDERS = 200  # per platform, over DAYS days
DAYS = 6
SYNC_ARGS = ["sync", "run", "--all", "--until-caught-up", "--lag-seconds", "0", "--lookback-days", str(DAYS + 2)]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    # Shops are registered in this process and synced by child processes: one data directory,
    # so one secrets file, for both.
    monkeypatch.setenv("BANGFU_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    return {**os.environ, "COLUMNS": "200"}


@pytest.fixture
def fakes(tmp_path: Path, env: dict[str, str]) -> Iterator[Path]:
    with FakesProcess(
        platforms=PLATFORMS.split(","), orders=ORDERS, days=DAYS, seed=4, faults="light", env=env, cwd=REPO_ROOT
    ) as process:
        yield process.write_lines(tmp_path / "fakes.jsonl")


def register_shops(fakes: Path, url: str) -> None:
    """What `bangfu shops add-from-fakes FAKES --db URL` does, in this process: registering is not
    what this test is about (test_cli_convergence.py runs the command), and two fewer processes
    to start make the test cheaper."""
    from bangfu.cli.sync import _register
    from sync.shops import specs_from_fakes

    asyncio.run(_register(url, specs_from_fakes(fakes)))


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
            snap: dict[str, list[tuple[object, ...]]] = {
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


# One kill in each distinct phase of a sync, in this order; each restart goes on from where the
# previous kill left the database. Which arrival at the phase is killed is drawn from the seed.
KILL_POINTS = (
    ("run_started", 1, 4),
    ("mid_fetch", 1, 100),
    ("in_transaction", 1, 6),
    ("after_commit", 1, 6),
    ("run_finished", 1, 6),
)
# Fixed, so a failure reproduces; BANGFU_CRASH_SEED=<n> tries other arrivals.
SEED = int(os.environ.get("BANGFU_CRASH_SEED", "20250419"))


def kill_plan(seed: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    return [(phase, rng.randint(low, high)) for phase, low, high in KILL_POINTS]


def test_the_kill_plan_covers_every_phase_and_depends_only_on_the_seed() -> None:
    assert [phase for phase, _ in kill_plan(SEED)] == list(kill_at.PHASES)
    assert kill_plan(7) == kill_plan(7)


@pytest.mark.slow
def test_sigkill_in_every_phase_then_restart_ends_like_an_uninterrupted_run(
    db_url: str, tmp_path: Path, env: dict[str, str], fakes: Path
) -> None:
    reference = f"sqlite+aiosqlite:///{tmp_path / 'reference.db'}"
    for url in (reference, db_url):
        register_shops(fakes, url)
    clean = bangfu(env, *SYNC_ARGS, "--db", reference)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    plan = kill_plan(SEED)
    for phase, nth in plan:
        killed = subprocess.run(
            [sys.executable, "-m", "tests.sync.kill_at", phase, str(nth), "--", *SYNC_ARGS, "--db", db_url],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert killed.returncode == -signal.SIGKILL, (
            f"seed {SEED}, plan {plan}: the sync was not killed at arrival {nth} at {phase} "
            f"(exit {killed.returncode})\n{killed.stdout[-2000:]}{killed.stderr[-2000:]}"
        )
    final = bangfu(env, *SYNC_ARGS, "--db", db_url)
    assert final.returncode == 0, f"seed {SEED}, plan {plan}\n{final.stdout}{final.stderr}"
    # Light faults touch records while pages are read, so the platforms moved on while we were
    # killing: bring the reference up to the same moment before comparing.
    caught_up = bangfu(env, *SYNC_ARGS, "--db", reference)
    assert caught_up.returncode == 0, caught_up.stdout + caught_up.stderr

    crashed, clean_snap = asyncio.run(_snapshot(db_url)), asyncio.run(_snapshot(reference))
    outcomes = crashed.pop("_outcomes")
    assert ("interrupted",) in outcomes and ("running",) not in outcomes, f"seed {SEED}, plan {plan}: {outcomes}"
    clean_snap.pop("_outcomes")
    assert crashed == clean_snap, f"seed {SEED}, plan {plan}"
    assert len(crashed["orders"]) == 2 * ORDERS
