"""Celery tasks: thin, idempotent wrappers around the pipeline's async functions.

Each task opens its own database engine, runs one coroutine with ``asyncio.run`` and disposes
of the engine, so the same code runs in a prefork pool process, in a thread, or eagerly inside
``bangfu demo``. A task never carries the work itself, only which shop or period to look at.
Each stage finds what is due in the store and records its effect under unique keys: journal
uids derived from source events, lot draws keyed by line and lot, one attribution per line. A
task delivered twice therefore finds nothing left to do. So does a task redelivered after its
worker was killed (acks late), and so do two workers running the same task at once.

Transient database errors (a lost connection, a serialization failure or a deadlock victim on
PostgreSQL) are retried with backoff; anything else fails the task and stays in the result
backend for operators to see.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.settings import get_settings
from bangfu.store import make_engine
from connectors.http import close_session
from workers.app import app

log = logging.getLogger(__name__)

T = TypeVar("T")

# Retried: the database went away or PostgreSQL chose this transaction as a deadlock victim.
TRANSIENT_DB_ERRORS = (OperationalError, DBAPIError, ConnectionError, TimeoutError)
RETRY = {
    "autoretry_for": TRANSIENT_DB_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": 8,
}


def limits(minutes: int) -> dict[str, int]:
    """Celery's time limits for a task that should finish within ``minutes``.

    ``soft_time_limit`` raises :class:`celery.exceptions.SoftTimeLimitExceeded` inside the task,
    so its ``finally`` blocks run (the engine is disposed, an open transaction rolls back, a sync
    run is closed as failed); ``time_limit`` kills the pool process one minute later if the task
    is stuck where the exception cannot reach it. Every stage commits its work in small units
    under unique keys, so a task stopped by either limit loses nothing: the next run (or the
    redelivery, ``task_acks_late``) picks up where it stopped. The hard limit stays under the
    broker's visibility timeout (an hour by default, :mod:`workers.app`), or Redis would hand a
    task still running to a second worker. Enforced by the prefork pool, not in eager mode.
    """
    return {"soft_time_limit": minutes * 60, "time_limit": minutes * 60 + 60}


def run_with_engine(work: Callable[[AsyncEngine], Awaitable[T]], database_url: str | None = None) -> T:
    """Run ``work`` with a fresh engine on a fresh event loop; dispose of both afterwards."""

    async def main() -> T:
        engine = make_engine(database_url or get_settings().resolved_database_url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()
            await close_session()

    return asyncio.run(main())


# One pass over at most 2,000 lines (and their refunds): seconds to a few minutes.
@app.task(name="bangfu.process_lines", **RETRY, **limits(10))  # type: ignore[untyped-decorator]
def process_lines(shop_id: int | None = None, limit: int = 2_000, database_url: str | None = None) -> dict[str, int]:
    """One pass of attribute -> allocate -> post over at most ``limit`` due lines (and refunds)."""
    from workers.pipeline import run_once

    async def work(engine: AsyncEngine) -> dict[str, int]:
        return (await run_once(engine, shop_id=shop_id, limit=limit)).as_dict()

    return run_with_engine(work, database_url)


def _stage_task(stages: dict[str, str], shop_id: int | None, limit: int, database_url: str | None) -> dict[str, int]:
    """Run pipeline stages (name -> prefix of its figures) one transaction each, on one engine."""
    from workers.pipeline import stage as stage_function

    async def work(engine: AsyncEngine) -> dict[str, int]:
        result: dict[str, int] = {}
        for name, prefix in stages.items():
            async with engine.begin() as conn:
                stats = await stage_function(name)(conn, shop_id=shop_id, limit=limit)
            result |= {f"{prefix}{key}": value for key, value in stats.as_dict().items()}
        return result

    return run_with_engine(work, database_url)


# One stage over at most 5,000 lines, one transaction.
@app.task(name="bangfu.attribute_lines", **RETRY, **limits(10))  # type: ignore[untyped-decorator]
def attribute_lines(shop_id: int | None = None, limit: int = 5_000, database_url: str | None = None) -> dict[str, int]:
    """Attribute new or changed order lines (and lines near newly arrived sessions) to live sessions."""
    return _stage_task({"attribute": ""}, shop_id, limit, database_url)


# One stage over at most 5,000 lines, one transaction.
@app.task(name="bangfu.allocate_lines", **RETRY, **limits(10))  # type: ignore[untyped-decorator]
def allocate_lines(shop_id: int | None = None, limit: int = 5_000, database_url: str | None = None) -> dict[str, int]:
    """Draw paid lines' units from their SKUs' supply lots (FIFO), and put refunded units back."""
    return _stage_task({"allocate": "", "return": "returns_"}, shop_id, limit, database_url)


# One stage over at most 5,000 lines, one transaction.
@app.task(name="bangfu.post_journals", **RETRY, **limits(10))  # type: ignore[untyped-decorator]
def post_journals(shop_id: int | None = None, limit: int = 5_000, database_url: str | None = None) -> dict[str, int]:
    """Post the sale, true-up and refund journals that are due."""
    return _stage_task({"post": "", "refunds": "refunds_"}, shop_id, limit, database_url)


# Passes until nothing is due: a backlog (a first sync, a re-scan) can take many passes; each
# pass commits, so a stopped task leaves the rest to the next minute's run.
@app.task(name="bangfu.process_all", **RETRY, **limits(30))  # type: ignore[untyped-decorator]
def process_all(shop_id: int | None = None, database_url: str | None = None) -> dict[str, int]:
    """Passes of :func:`process_lines` until nothing is due."""
    from workers.pipeline import run_pipeline

    async def work(engine: AsyncEngine) -> dict[str, int]:
        return (await run_pipeline(engine, shop_id=shop_id)).as_dict()

    return run_with_engine(work, database_url)


# A whole shop until caught up: a first sync reads 90 days of windows for five streams at the
# platform's rate limit, with up to 20 passes; the longest task we have. Cursors are committed per
# window, so a sync stopped here resumes from where it stopped on the next beat.
@app.task(name="bangfu.sync_shop", **RETRY, **limits(50))  # type: ignore[untyped-decorator]
def sync_shop(shop_id: int, database_url: str | None = None) -> dict[str, Any]:
    """Sync one shop until caught up, then queue the accounting of what arrived."""
    from sync.engine import SyncEngine

    async def work(engine: AsyncEngine) -> dict[str, Any]:
        results = await SyncEngine(engine).sync_all([shop_id], until_caught_up=True)
        outcomes = results.get(shop_id, [])
        return {
            "shop_id": shop_id,
            "streams": len(outcomes),
            "failed": sorted(o.stream.value for o in outcomes if not o.ok),
            "new": sum(o.rows.new for o in outcomes),
            "changed": sum(o.rows.changed for o in outcomes),
        }

    summary = run_with_engine(work, database_url)
    process_all.delay(shop_id, database_url=database_url)
    return summary


# As bangfu.sync_shop; with ``full`` a re-scan of the whole look-back period, as long as a first sync.
@app.task(name="bangfu.sync_shop_requested", **RETRY, **limits(50))  # type: ignore[untyped-decorator]
def sync_shop_requested(shop_id: int, full: bool = False, database_url: str | None = None) -> dict[str, Any]:
    """A sync of one shop an operator asked for in the console (``/operator``): from the cursors
    until caught up, or with ``full`` a re-scan of the whole look-back period; then the accounting
    of what arrived. Progress and outcome land in ``sync_runs`` as for any sync."""
    from sync.engine import SyncEngine

    async def work(engine: AsyncEngine) -> dict[str, Any]:
        results = await SyncEngine(engine).sync_all([shop_id], full=full, until_caught_up=True)
        outcomes = results.get(shop_id, [])
        return {
            "shop_id": shop_id,
            "full": full,
            "streams": len(outcomes),
            "failed": sorted(o.stream.value for o in outcomes if not o.ok),
        }

    summary = run_with_engine(work, database_url)
    process_all.delay(shop_id, database_url=database_url)
    return summary


# One read-back per uncertain push and a push per settled SKU, at the platforms' rate limits.
@app.task(name="bangfu.stock_settle_requested", **limits(20))  # type: ignore[untyped-decorator]
def stock_settle_requested(shop_ids: list[int] | None, by: str, database_url: str | None = None) -> dict[str, Any]:
    """Settle the uncertain stock pushes of the shops (None: every shop) an operator asked for in
    the console (``/operator/stock``): read each listing's stock back, mark its pushes applied or
    not (``stock_pushes.settled_at``/``settled_by``), then push the settled SKUs again. Idempotent:
    a settled push is not looked at twice."""
    from sync.stock import StockPusher

    async def work(engine: AsyncEngine) -> dict[str, Any]:
        report = await StockPusher(engine).settle(shop_ids, by=by)
        return {
            "settled": sorted(line.push_id for line in report.lines if line.settled),
            "unsettled": sorted(line.push_id for line in report.unsettled),
            "pushed": len(report.pushed),
        }

    return run_with_engine(work, database_url)


# One ship call per due shipment, at the platforms' rate limits.
@app.task(name="bangfu.push_shipments", **limits(20))  # type: ignore[untyped-decorator]
def push_shipments(shop_ids: list[int] | None = None, database_url: str | None = None) -> dict[str, int]:
    """Push the due shipments to their orders' platforms (``sync.shipments``): retried with
    backoff on the next runs, never sent again once pushed, a shop stopped on an auth error."""
    from sync.shipments import ShipmentPusher

    async def work(engine: AsyncEngine) -> dict[str, int]:
        lines = await ShipmentPusher(engine).push(shop_ids)
        counts: dict[str, int] = {}
        for line in lines:
            counts[line.status] = counts.get(line.status, 0) + 1
        return counts

    return run_with_engine(work, database_url)


# One query and a message per active shop: seconds.
@app.task(name="bangfu.sync_all", **limits(2))  # type: ignore[untyped-decorator]
def sync_all(database_url: str | None = None) -> list[int]:
    """Queue a sync of every active shop (one task per shop, so shops run on any worker)."""
    shop_ids = run_with_engine(_active_shop_ids, database_url)
    for shop_id in shop_ids:
        sync_shop.delay(shop_id, database_url=database_url)
    return shop_ids


# One shop's month of settlement lines against its orders, one transaction.
@app.task(name="bangfu.reconcile", **RETRY, **limits(15))  # type: ignore[untyped-decorator]
def reconcile(shop_id: int, period: str, database_url: str | None = None) -> dict[str, int]:
    """Reconcile one shop's settlement lines for a month (``YYYY-MM``); results are stored."""
    from workers.reconcile import reconcile as reconcile_period

    async def work(engine: AsyncEngine) -> dict[str, int]:
        async with engine.begin() as conn:
            summary = await reconcile_period(conn, shop_id=shop_id, period=period)
        return summary.counts()

    return run_with_engine(work, database_url)


# Two messages per active shop: seconds.
@app.task(name="bangfu.reconcile_all", **limits(2))  # type: ignore[untyped-decorator]
def reconcile_all(database_url: str | None = None, now: str | None = None) -> list[list[Any]]:
    """Queue reconciliation of this month and last month (Asia/Shanghai) for every active shop."""
    moment = datetime.fromisoformat(now) if now else datetime.now(UTC)
    periods = recent_periods(moment)
    queued: list[list[Any]] = []
    for shop_id in run_with_engine(_active_shop_ids, database_url):
        for period in periods:
            reconcile.delay(shop_id, period, database_url=database_url)
            queued.append([shop_id, period])
    return queued


# Opens, refreshes and resolves the unsold alerts of every lot, one transaction.
@app.task(name="bangfu.detect_unsold", **RETRY, **limits(15))  # type: ignore[untyped-decorator]
def detect_unsold(database_url: str | None = None, now: str | None = None) -> int:
    """Open, refresh and resolve unsold (滞销) alerts, as ``bangfu alerts run`` does (the rule of
    :mod:`bangfu.unsold`, ``BANGFU_UNSOLD_RULE`` if set); returns the number of open alerts."""
    from bangfu.unsold import load_rule
    from workers.alerts import run_unsold

    moment = datetime.fromisoformat(now) if now else datetime.now(UTC)
    rule = load_rule()

    async def work(engine: AsyncEngine) -> int:
        async with engine.begin() as conn:
            return (await run_unsold(conn, now=moment, rule=rule)).open

    return run_with_engine(work, database_url)


# Marks ended certificates expired and keeps the 60/30-day expiry alerts, one transaction.
@app.task(name="bangfu.certificate_expiry", **RETRY, **limits(15))  # type: ignore[untyped-decorator]
def certificate_expiry(database_url: str | None = None, now: str | None = None) -> int:
    """What ``bangfu certificates alerts`` does (:func:`bangfu.certification.run_expiry_alerts`);
    returns the number of open expiry alerts."""
    from bangfu.certification import run_expiry_alerts

    moment = datetime.fromisoformat(now) if now else datetime.now(UTC)

    async def work(engine: AsyncEngine) -> int:
        async with engine.begin() as conn:
            return (await run_expiry_alerts(conn, now=moment)).open

    return run_with_engine(work, database_url)


# Opens, refreshes and resolves the procurement agreements' behind-schedule alerts, one transaction.
@app.task(name="bangfu.agreement_alerts", **RETRY, **limits(15))  # type: ignore[untyped-decorator]
def agreement_alerts(database_url: str | None = None, now: str | None = None) -> int:
    """Open, refresh and resolve ``agreement.behind`` alerts as ``bangfu agreements alerts`` does
    (:mod:`bangfu.agreements.alerts`), as of the local day of ``now``; returns the open alerts."""
    from bangfu.agreements.alerts import run_agreement_alerts
    from bangfu.clock import SHANGHAI

    moment = datetime.fromisoformat(now) if now else datetime.now(UTC)

    async def work(engine: AsyncEngine) -> int:
        async with engine.begin() as conn:
            today = moment.astimezone(SHANGHAI).date()
            return (await run_agreement_alerts(conn, today=today, now=moment)).open

    return run_with_engine(work, database_url)


def recent_periods(moment: datetime) -> list[str]:
    """Last month and this month, as ``YYYY-MM`` in the programme's time zone."""
    local = moment.astimezone(ZoneInfo(get_settings().timezone))
    first = local.replace(day=1)
    previous = first - timedelta(days=1)
    return [f"{previous.year:04d}-{previous.month:02d}", f"{local.year:04d}-{local.month:02d}"]


async def _active_shop_ids(engine: AsyncEngine) -> list[int]:
    """Active shops with a platform to sync and a settlement bill to reconcile against (not the
    offline ones: their sales are imported and no platform pays them out; nor the county's own
    mall, which has no endpoint: its payments are verified one by one with the payment provider)."""
    from bangfu.models import Shop, on_a_platform

    async with engine.connect() as conn:
        rows = await conn.execute(select(Shop.id).where(Shop.active.is_(True), on_a_platform()).order_by(Shop.id))
        return [shop_id for (shop_id,) in rows]
