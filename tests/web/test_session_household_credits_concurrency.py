"""Two transactions changing one session's household credits at once on PostgreSQL, each
refreshing (the summaries, then the credits) before committing: the second waits for the
first's summary row (and the credits refresh's lock), then rewrites the session's
``session_household_credits`` rows from a snapshot that includes the first's commit, so the
rows kept are the lines' sums, both changes in."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu import session_summaries as summaries
from bangfu.models import LineAttribution, LineHouseholdCredit, SessionHouseholdCredit
from bangfu.store import make_engine
from tests.web.conftest import World


def _credit(line: int, household: int, fen: int) -> Any:
    return (
        update(LineHouseholdCredit)
        .where(and_(LineHouseholdCredit.order_line_id == line, LineHouseholdCredit.household_id == household))
        .values(credit_fen=LineHouseholdCredit.credit_fen + fen)
    )


async def _refresh(conn: AsyncConnection) -> None:
    """What a pipeline run does at its end: the summaries, then the credits they marked."""
    await summaries.refresh(conn)
    await summaries.refresh_household_credits(conn)


async def test_concurrent_refreshes_of_one_sessions_credits_keep_them_exact(world_copy: World) -> None:
    if world_copy.backend != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    engine = make_engine(world_copy.url)
    try:
        async with engine.connect() as conn:
            session = int(
                await conn.scalar(
                    select(LineAttribution.session_id)
                    .where(LineAttribution.session_id.is_not(None))
                    .group_by(LineAttribution.session_id)
                    .order_by(func.count().desc())
                    .limit(1)
                )
                or 0
            )
            household = await conn.scalar(
                select(LineHouseholdCredit.household_id)
                .join(LineAttribution, LineAttribution.order_line_id == LineHouseholdCredit.order_line_id)
                .where(LineAttribution.session_id == session)
                .group_by(LineHouseholdCredit.household_id)
                .having(func.count() >= 2)
                .order_by(LineHouseholdCredit.household_id)
                .limit(1)
            )
            assert household is not None
            lines = [
                int(x)
                for x in await conn.scalars(
                    select(LineHouseholdCredit.order_line_id)
                    .join(LineAttribution, LineAttribution.order_line_id == LineHouseholdCredit.order_line_id)
                    .where(LineAttribution.session_id == session, LineHouseholdCredit.household_id == household)
                    .order_by(LineHouseholdCredit.order_line_id)
                    .limit(2)
                )
            ]
            stored = select(SessionHouseholdCredit.credit_fen).where(
                SessionHouseholdCredit.session_id == session, SessionHouseholdCredit.household_id == household
            )
            before = int(await conn.scalar(stored) or 0)

        first, second = await engine.connect(), await engine.connect()
        try:
            await first.begin()
            await first.execute(_credit(lines[0], int(household), 7))
            await _refresh(first)
            await second.begin()
            await second.execute(_credit(lines[1], int(household), 11))
            waiting = asyncio.create_task(_refresh(second))
            await asyncio.sleep(0.5)
            assert not waiting.done()  # held by the first transaction's summary row
            await first.commit()
            await asyncio.wait_for(waiting, 10)
            await second.commit()
        finally:
            await first.close()
            await second.close()

        async with engine.connect() as conn:
            assert await summaries.household_credits_marked(conn) == set()
            assert await summaries.household_credits_differing(conn) == {}
            assert await conn.scalar(stored) == before + 18
    finally:
        await engine.dispose()
