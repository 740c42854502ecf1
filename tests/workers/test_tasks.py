"""The Celery tasks in eager mode (the embedded default): the same code a worker runs.

A task is called with ``.apply()``, which runs it in-process through Celery's task machinery,
exactly as ``bangfu demo`` and the beat schedule's eager fallback do. The real worker on Redis
is tested by ``test_celery_worker.py``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bangfu.models import Alert, Journal, LineAttribution, LotAllocation, ReconciliationResult
from bangfu.store import make_engine
from tests.workers.accounting_seed import add_order, seed
from workers import tasks
from workers.app import ROUTES, app


def _world(url: str) -> dict[str, int]:
    async def main() -> dict[str, int]:
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                world = await seed(conn)
                _, lines = await add_order(conn, world, [(world.coop_sku, 2, 10_000)])
                return {"shop": world.shop, "line": lines[0]}
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _count(url: str, model: type) -> int:
    async def main() -> int:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return int(await conn.scalar(select(func.count()).select_from(model)) or 0)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def test_the_app_is_eager_without_redis_and_acks_late() -> None:
    assert app.conf.task_always_eager is True
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert {route["queue"] for route in ROUTES.values()} == {"sync", "accounting", "reconcile", "alerts"}
    for name in ROUTES:
        assert name in app.tasks, f"{name} is routed but not registered"
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks


def test_stage_tasks_run_the_pipeline_once_however_often_they_are_sent(db_url: str) -> None:
    world = _world(db_url)
    attributed = tasks.attribute_lines.apply(kwargs={"database_url": db_url}).get()
    assert attributed["first"] == 1
    drawn = tasks.allocate_lines.apply(kwargs={"database_url": db_url}).get()
    assert drawn["lines_allocated"] == 1
    posted = tasks.post_journals.apply(kwargs={"database_url": db_url}).get()
    assert posted["sales"] == 1
    for _ in range(2):  # redelivered: nothing more happens
        assert tasks.process_lines.apply(kwargs={"database_url": db_url}).get()["posted"] == 0
        assert tasks.process_all.apply(kwargs={"database_url": db_url}).get()["posted"] == 0
    assert _count(db_url, Journal) == 1
    assert _count(db_url, LotAllocation) == 1
    assert _count(db_url, LineAttribution) == 1
    assert world["line"] > 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_reconcile_and_unsold_tasks_store_their_findings(db_url: str) -> None:
    world = _world(db_url)
    tasks.process_all.apply(kwargs={"database_url": db_url}).get()
    counts = tasks.reconcile.apply(args=(world["shop"], "2024-04"), kwargs={"database_url": db_url}).get()
    assert isinstance(counts, dict)
    queued = tasks.reconcile_all.apply(kwargs={"database_url": db_url, "now": "2026-11-23T08:00:00+00:00"}).get()
    assert [world["shop"], "2026-11"] in queued and [world["shop"], "2026-10"] in queued
    assert _count(db_url, ReconciliationResult) >= 0
    open_alerts = tasks.detect_unsold.apply(kwargs={"database_url": db_url}).get()
    assert open_alerts == _count(db_url, Alert)


def test_recent_periods_are_local_months() -> None:
    # 2026-11-30 20:00 UTC is already December 1st in Asia/Shanghai.
    assert tasks.recent_periods(datetime(2026, 11, 30, 20, tzinfo=UTC)) == ["2026-11", "2026-12"]
    assert tasks.recent_periods(datetime(2026, 1, 5, tzinfo=UTC)) == ["2025-12", "2026-01"]
