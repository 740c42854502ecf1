"""Day markers of the per-day pre-aggregates (:mod:`bangfu.county_income`, :mod:`bangfu.sales_days`).

Triggers write the days a change touches into a ``*_dirty`` table (``id``, ``day``); a refresh
takes the marked days under its advisory lock (one refresh at a time on PostgreSQL), recomputes
them and deletes exactly the markers it read: a day marked again meanwhile keeps its new marker.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.store import among

_BATCH = 500  # marker ids per DELETE


def as_date(value: Any) -> date:
    """A stored day as a date (SQLite hands back ISO text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def take_marks(conn: AsyncConnection, dirty: Any, lock_key: int) -> tuple[list[date], list[int]]:
    """The marked days (sorted, distinct) and the ids of the markers read, in the caller's
    transaction; on PostgreSQL after taking the transaction advisory lock ``lock_key``."""
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_advisory_xact_lock(lock_key)))
    marks = list(await conn.execute(select(dirty.id, dirty.day)))
    return sorted({as_date(d) for _id, d in marks}), [int(i) for i, _d in marks]


async def clear_marks(conn: AsyncConnection, dirty: Any, ids: list[int]) -> None:
    """Delete the markers ``ids`` (those :func:`take_marks` read), in batches."""
    for offset in range(0, len(ids), _BATCH):
        await conn.execute(delete(dirty).where(among(conn, dirty.id, ids[offset : offset + _BATCH])))
