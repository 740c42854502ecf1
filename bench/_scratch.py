"""A scratch schema for the benches that measure PostgreSQL itself (``ledger_rows``, ``line_floor``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.store import asyncpg_in_transaction


@asynccontextmanager
async def scratch_schema(engine: AsyncEngine, prefix: str) -> AsyncIterator[str]:
    """A new schema named ``<prefix>_<random>``, dropped with all it holds on the way out, so a
    bench touches nothing else in the database it is pointed at."""
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await (await asyncpg_in_transaction(conn)).execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        async with engine.begin() as conn:
            await (await asyncpg_in_transaction(conn)).execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
