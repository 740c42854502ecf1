"""The stages' work queue of changed order lines (``line_changes``, filled by triggers).

A stage :func:`take`\\ s queued rows, looks at their lines with its own due predicate, and
then :func:`settle`\\ s them: a row is deleted only if its line is no longer due for the stage,
as the stage's own transaction sees it. So a line another worker holds, or one the batch did
not reach, keeps its row; and a change committed while the stage runs has a row the stage
never took. Nothing is lost between the trigger that queued a change and the stage that
handled it, and a crash before commit leaves the rows where they were.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.models import LineChange, OrderLine
from bangfu.store import among

ATTRIBUTE, ALLOCATE, POST = "attribute", "allocate", "post"
_CHUNK = 2_000


async def take(
    conn: AsyncConnection, stage: str, *, shop_id: int | None = None, limit: int, after: int = 0
) -> list[tuple[int, int]]:
    """Up to ``limit`` queued (row id, line id) pairs of ``stage`` with row ids above ``after``,
    oldest first; on PostgreSQL rows another worker has taken are skipped (and locked here)."""
    query = select(LineChange.id, LineChange.order_line_id).where(LineChange.stage == stage, LineChange.id > after)
    if shop_id is not None:
        query = query.where(exists().where(OrderLine.id == LineChange.order_line_id, OrderLine.shop_id == shop_id))
    query = query.order_by(LineChange.id).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=LineChange)
    return [(row_id, line_id) for row_id, line_id in await conn.execute(query)]


async def settle(conn: AsyncConnection, stage: str, rows: Sequence[int], due: ColumnElement[bool]) -> int:
    """Delete the queue rows ``rows`` of ``stage`` whose line is not due; ``due`` is the stage's
    predicate, correlated to ``LineChange.order_line_id``. Returns the rows deleted. (The rows are
    found by stage and id: on PostgreSQL that is the queue's primary key, migration 0053.)"""
    deleted = 0
    for start in range(0, len(rows), _CHUNK):
        result = await conn.execute(
            delete(LineChange)
            .where(LineChange.stage == stage, among(conn, LineChange.id, rows[start : start + _CHUNK]), ~due)
            .execution_options(synchronize_session=False)
        )
        deleted += result.rowcount or 0
    return deleted


__all__ = ["ALLOCATE", "ATTRIBUTE", "POST", "settle", "take"]
