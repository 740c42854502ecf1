"""The Celery tasks in eager mode (the embedded default): the same code a worker runs.

A task is called with ``.apply()``, which runs it in-process through Celery's task machinery,
exactly as ``bangfu demo`` and the beat schedule's eager fallback do. The real worker on Redis
is tested by ``test_celery_worker.py``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from bangfu.enums import SettlementKind
from bangfu.models import Alert, Journal, LineAttribution, LotAllocation, ReconciliationResult, SupplyLot
from bangfu.store import make_engine
from tests.workers.accounting_seed import add_bill_line, add_order, seed
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
    app.loader.import_default_modules()  # what a worker does at start: the app's include list
    for name in ROUTES:
        assert name in app.tasks, f"{name} is routed but not registered"
    unrouted = {name for name in app.tasks if not name.startswith("celery.")} - set(ROUTES)
    assert not unrouted, f"{sorted(unrouted)} would go to the default queue, not the one their workers read"
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks


def test_every_task_has_a_soft_and_a_hard_time_limit_under_the_visibility_timeout() -> None:
    app.loader.import_default_modules()  # the app's include list, as a worker loads it
    ours = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
    assert set(ROUTES) <= set(ours)
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    for name, task in ours.items():
        assert task.soft_time_limit, f"{name} has no soft_time_limit"
        assert task.time_limit, f"{name} has no time_limit"
        # The soft limit leaves time to clean up; Redis must not redeliver a task still running.
        assert task.soft_time_limit < task.time_limit < visibility, name


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


def _billed_world(url: str) -> dict[str, Any]:
    """Three orders paid on 2026-03-01 (Asia/Shanghai March) and a payout for an unknown order:
    one billed as sold, one billed 100 fen short, one never billed; a lot of 100 units."""

    async def main() -> dict[str, Any]:
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                world = await seed(conn)
                matched, _ = await add_order(conn, world, [(world.coop_sku, 2, 10_000)])
                short, _ = await add_order(conn, world, [(world.coop_sku, 1, 5_000)])
                unbilled, _ = await add_order(conn, world, [(world.coop_sku, 1, 5_000)])
                await add_bill_line(conn, world, matched, SettlementKind.SALE, 10_000)
                await add_bill_line(conn, world, matched, SettlementKind.PLATFORM_FEE, -500)
                await add_bill_line(conn, world, short, SettlementKind.SALE, 4_900)
                await add_bill_line(conn, world, "GHOST-1", SettlementKind.SALE, 777)
                return {
                    "shop": world.shop,
                    "lot": world.lots[0],
                    "matched": matched,
                    "short": short,
                    "unbilled": unbilled,
                }
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _rows(url: str, *columns: Any) -> list[tuple[Any, ...]]:
    async def main() -> list[tuple[Any, ...]]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return [tuple(row) for row in await conn.execute(select(*columns))]
        finally:
            await engine.dispose()

    return asyncio.run(main())


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_reconcile_and_unsold_tasks_store_their_findings(db_url: str) -> None:
    world = _billed_world(db_url)
    tasks.process_all.apply(kwargs={"database_url": db_url}).get()
    counts = tasks.reconcile.apply(args=(world["shop"], "2026-03"), kwargs={"database_url": db_url}).get()
    assert counts == {"matched": 1, "amount_differs": 1, "payout_missing": 1, "unknown_order": 1, "pending": 0}
    stored = _rows(
        db_url,
        ReconciliationResult.platform_order_id,
        ReconciliationResult.period,
        ReconciliationResult.kind,
        ReconciliationResult.differences,
    )
    assert sorted(stored) == sorted(
        [
            (world["matched"], "2026-03", "matched", None),
            (world["short"], "2026-03", "amount_differs", {"sale": -100}),
            (world["unbilled"], "2026-03", "payout_missing", None),
            ("GHOST-1", "2026-03", "unknown_order", {"sale": 777}),
        ]
    )
    # The months around 2026-11-23 are queued (and, eager, run): they hold nothing to store.
    queued = tasks.reconcile_all.apply(kwargs={"database_url": db_url, "now": "2026-11-23T08:00:00+00:00"}).get()
    assert queued == [[world["shop"], "2026-10"], [world["shop"], "2026-11"]]
    assert _count(db_url, ReconciliationResult) == 4
    # The lot (received 2026-02-01, shelf life 365 days) holds 96 of its 100 units and sold nothing
    # in the 30 days before 2027-01-20, 12 days before its shelf life ends: one unsold alert, and a
    # second run opens no other.
    late = "2027-01-20T00:00:00+00:00"
    for _ in range(2):
        assert tasks.detect_unsold.apply(kwargs={"database_url": db_url, "now": late}).get() == 1
    alerts = _rows(db_url, Alert.kind, Alert.subject, Alert.severity, Alert.resolved_at)
    assert alerts == [("unsold", f"lot:{world['lot']}", "warning", None)]
    assert _rows(db_url, SupplyLot.remaining) == [(96,)]


def test_recent_periods_are_local_months() -> None:
    # 2026-11-30 20:00 UTC is already December 1st in Asia/Shanghai.
    assert tasks.recent_periods(datetime(2026, 11, 30, 20, tzinfo=UTC)) == ["2026-11", "2026-12"]
    assert tasks.recent_periods(datetime(2026, 1, 5, tzinfo=UTC)) == ["2025-12", "2026-01"]
