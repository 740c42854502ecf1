"""The Celery task behind the console's re-fetch button: one quarantined record fetched again
by id (:mod:`sync.refetch`), on the ``sync`` queue. Eager in the embedded default."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from workers.app import app
from workers.tasks import RETRY, limits, run_with_engine


# One record fetched by id: a request or two, with the connector's retries and rate-limit waits.
@app.task(name="bangfu.refetch_quarantined", **RETRY, **limits(5))  # type: ignore[untyped-decorator]
def refetch_quarantined(refetch_id: int, database_url: str | None = None) -> dict[str, Any]:
    """Carry out the queued re-fetch ``refetch_id``; a request carried out already is left as it is."""
    from sync.engine import SyncEngine
    from sync.refetch import run_refetch

    async def work(engine: AsyncEngine) -> dict[str, Any]:
        result = await run_refetch(SyncEngine(engine), refetch_id)
        return {
            "refetch_id": result.refetch_id,
            "quarantined_id": result.quarantined_id,
            "outcome": result.outcome,
            "error_class": result.error_class,
            "ran": result.ran,
        }

    return run_with_engine(work, database_url)
