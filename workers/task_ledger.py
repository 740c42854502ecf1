"""The task ledger's periodic refresh (``bangfu.refresh_task_metrics``, on the beat every hour,
on the ``alerts`` queue): every bound task's figure read as of today and appended to its
progress when it changed (:func:`bangfu.tasks.progress.refresh_bound`; idempotent: a second
run appends nothing)."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from workers.app import app
from workers.tasks import RETRY, limits, run_with_engine

log = logging.getLogger(__name__)


@app.task(name="bangfu.refresh_task_metrics", **RETRY, **limits(10))  # type: ignore[untyped-decorator]
def refresh_task_metrics(database_url: str | None = None) -> int:
    """Append the bound tasks' changed figures; returns how many entries were appended."""
    from bangfu.tasks.progress import refresh_bound

    async def work(engine: AsyncEngine) -> int:
        async with engine.begin() as conn:
            done = await refresh_bound(conn)
        for code, why in done.failed:
            log.warning("task %s: its metric cannot be read: %s", code, why)
        return done.appended

    return run_with_engine(work, database_url)
