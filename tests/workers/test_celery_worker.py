"""Acceptance: a real `celery worker` on a real Redis, SIGKILLed mid-batch, posts nothing twice.

One PostgreSQL database is filled the way the demo fills it: the county, then six fake platforms
synced. It is cloned (``CREATE DATABASE ... TEMPLATE``), so both copies have the same ids. The
clone is processed eagerly, in-process and uninterrupted: that is the expected ledger. The
original is processed by a `celery -A workers worker` process (prefork, two children, acks late)
fed by many small `process_lines` tasks. The worker is killed with SIGKILL twice while journals
are being written, and started again each time. At the end, the journals, postings, lot draws
and attributions of the two databases are identical, row for row by their natural keys.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import text

from bangfu.settings import Settings
from bangfu.store import make_engine
from tests.conftest import REPO_ROOT, PgServer
from workers.app import make_app

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

TASKS = 50
LINES_PER_TASK = 25


def _populate(url: str) -> None:
    from bangfu.cli.demo import _connect_and_sync, _load

    async def main() -> None:
        from connectors.http import close_session

        try:
            await _load(url, seed=11, households=150)
            await _connect_and_sync(url, seed=11, orders=80, days=8)
        finally:
            await close_session()

    asyncio.run(main())


async def _snapshot(url: str) -> dict[str, Any]:
    """The accounting state by natural keys (no surrogate ids that could differ)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            journals = (
                await conn.execute(
                    text(
                        "SELECT j.uid, j.kind, j.source_event, j.occurred_at, a.code, p.amount_fen "
                        "FROM journals j JOIN postings p ON p.journal_id = j.id "
                        "JOIN ledger_accounts a ON a.id = p.account_id"
                    )
                )
            ).all()
            draws = (
                await conn.execute(text("SELECT source_key, lot_id, quantity, order_line_id FROM lot_allocations"))
            ).all()
            attributions = (
                await conn.execute(
                    text("SELECT order_line_id, session_id, host_id, confidence, rule FROM line_attributions")
                )
            ).all()
            lots = (await conn.execute(text("SELECT id, remaining FROM supply_lots"))).all()
            due = await conn.scalar(text("SELECT count(*) FROM line_accounting WHERE posted_rev < input_rev"))
    finally:
        await engine.dispose()
    return {
        "postings": sorted(tuple(map(str, row)) for row in journals),
        "journals": len({row[0] for row in journals}),
        "draws": sorted(tuple(row) for row in draws),
        "attributions": sorted(tuple(map(str, row)) for row in attributions),
        "lots": sorted(tuple(row) for row in lots),
        "due": due,
    }


async def _journal_count(url: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(text("SELECT count(*) FROM journals")) or 0)
    finally:
        await engine.dispose()


class Worker:
    """A `celery -A workers worker` process group on the accounting queue."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "workers",
                    "worker",
                    "--queues=accounting",
                    "--concurrency=2",
                    "--pool=prefork",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "--loglevel=INFO",
                    f"--hostname=w{self.starts}@%h",
                ],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool children, no goodbye."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


@pytest.fixture
def two_databases(pg_server: PgServer) -> Iterator[tuple[str, str]]:
    """The populated original and its clone (same ids)."""
    original = asyncio.run(pg_server.create(template=pg_server.template))
    clone: str | None = None
    try:
        _populate(pg_server.app_url(original))
        clone = asyncio.run(pg_server.create(template=original))
        # The worker and the pipeline connect as the application role, as in production.
        yield pg_server.app_url(original), pg_server.app_url(clone)
    finally:
        asyncio.run(pg_server.drop(original))
        if clone is not None:
            asyncio.run(pg_server.drop(clone))


def _journal_difference(got: dict[str, Any], expected: dict[str, Any]) -> str:
    """The journals one side has and the other has not (uid, kind, source event, time)."""

    def heads(snapshot: dict[str, Any]) -> set[tuple[str, ...]]:
        return {row[:4] for row in snapshot["postings"]}

    extra, missing = heads(got) - heads(expected), heads(expected) - heads(got)
    # The legs of every journal of the lines concerned, on both sides: what moved between the
    # worker's first journal and its true-up names the input that changed in between.
    events = {head[2] for head in extra | missing}

    def legs(snapshot: dict[str, Any]) -> list[tuple[str, ...]]:
        return [(row[0], row[4], row[5]) for row in snapshot["postings"] if row[2] in events]

    return (
        f"journals the worker wrote that the eager run did not: {sorted(extra)}; missing: {sorted(missing)}; "
        f"the worker's legs of these lines: {legs(got)}; the eager run's: {legs(expected)}"
    )


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_sigkilled_worker_posts_everything_once(
    two_databases: tuple[str, str], redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original, clone = two_databases

    # Expected: the clone, processed eagerly and uninterrupted.
    from workers.pipeline import run_pipeline

    async def eager() -> None:
        engine = make_engine(clone)
        try:
            await run_pipeline(engine)
        finally:
            await engine.dispose()

    asyncio.run(eager())
    expected = asyncio.run(_snapshot(clone))
    total = expected["journals"]
    assert total > 300, f"the batch is too small to be interrupted ({total} journals)"
    assert expected["due"] == 0

    env = {
        **os.environ,
        "BANGFU_DATABASE_URL": original,
        "BANGFU_REDIS_URL": redis_url,
        "BANGFU_CELERY_EAGER": "false",
        # Unacknowledged messages of a killed worker go back to the queue after this long.
        "BANGFU_CELERY_VISIBILITY_TIMEOUT": "5",
    }
    monkeypatch.setenv("BANGFU_CELERY_VISIBILITY_TIMEOUT", "5")
    client = make_app(Settings(redis_url=redis_url, celery_eager=False, database_url=original))
    broker = redis.Redis.from_url(redis_url)
    worker = Worker(env, tmp_path / "worker.log")
    try:
        for _ in range(TASKS):
            client.send_task("bangfu.process_lines", kwargs={"limit": LINES_PER_TASK}, queue="accounting")
        worker.start()
        kills: list[int] = []
        for share in (0.2, None):
            # The first kill once a fifth is posted; the second as soon as the restarted worker
            # has posted anything more (a fixed share can be overtaken between two polls: the
            # worker posts the rest in well under a second).
            floor = share * total if share is not None else kills[-1] + 1
            _wait_for(
                lambda floor=floor: asyncio.run(_journal_count(original)) >= floor,
                240,
                f"{floor:.0f} journals",
            )
            worker.kill()
            kills.append(asyncio.run(_journal_count(original)))
            worker.start()
        assert all(0 < k < total for k in kills), f"the kills landed at {kills} of {total} journals"

        # The queue drains (messages of the killed workers come back after the visibility timeout) ...
        drained_at = time.monotonic()
        _wait_for(
            lambda: broker.llen("accounting") == 0 and broker.hlen("unacked") == 0,
            300,
            "the accounting queue to drain",
        )
        print(f"drained in {time.monotonic() - drained_at:.1f} s", file=sys.stderr)
        # ... and one last pass finds whatever no queued task covered (it must find nothing twice).
        result = client.send_task("bangfu.process_all", queue="accounting")
        result.get(timeout=300)
    finally:
        worker.stop()
        broker.close()

    got = asyncio.run(_snapshot(original))
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert got["due"] == 0, log[-3000:]
    assert got["journals"] == total, _journal_difference(got, expected)
    assert got["postings"] == expected["postings"]
    assert got["draws"] == expected["draws"]
    assert got["attributions"] == expected["attributions"]
    assert got["lots"] == expected["lots"]
