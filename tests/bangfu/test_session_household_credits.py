"""session_household_credits (bangfu.session_summaries, migration 0046) on the demo county, both
backends: after the pipeline every session's stored rows equal its lines' sums and the
migration's backfill writes the same rows; a refund posted to a session's line, a line moved to
another session, and a 0-fen credit of a new household each leave the page's per-household
credits (and its cooperative table's count) equal to the lines' sums before any refresh (the
session is marked, its stale rows are not read), and after a refresh the stored rows equal the
lines' sums again and nothing is marked (the summaries' refresh hands the session on to
``refresh_household_credits``, and it is read from its lines until that runs).

The changes run in a transaction that is rolled back, so the shared demo world is untouched."""

from __future__ import annotations

import importlib.util
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu import session_summaries as summaries
from bangfu.enums import JournalKind
from bangfu.ledger import Journal, Posting, household_account, journal_uid, post, receivable_account
from bangfu.models import (
    Household,
    JournalLineDay,
    LineAttribution,
    LineHouseholdCredit,
    LiveSession,
    OrderLine,
    SessionHouseholdCredit,
)
from bangfu.queries.sessions import session_detail
from bangfu.scope import Scope
from bangfu.store import make_engine
from tests.web.conftest import World

MIGRATION = Path(summaries.__file__).parent / "migrations" / "versions" / "0046_session_household_credits.py"


async def _in_rolled_back(world: World, check: Callable[[AsyncConnection], Awaitable[None]]) -> None:
    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            transaction = await conn.begin()
            try:
                await check(conn)
            finally:
                await transaction.rollback()
    finally:
        await engine.dispose()


async def _busiest(conn: AsyncConnection, skip: int = 0) -> int:
    query = (
        select(LineAttribution.session_id)
        .where(LineAttribution.session_id.is_not(None))
        .group_by(LineAttribution.session_id)
        .order_by(func.count().desc(), LineAttribution.session_id)
        .offset(skip)
        .limit(1)
    )
    return int(await conn.scalar(query) or 0)


def _migration() -> Any:
    spec = importlib.util.spec_from_file_location("migration_0046", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _from_lines(conn: AsyncConnection, sid: int) -> dict[int, int]:
    """The session's credits per household, summed here from its lines' rows (a plain join)."""
    query = (
        select(LineHouseholdCredit.household_id, func.sum(LineHouseholdCredit.credit_fen))
        .join(LineAttribution, LineAttribution.order_line_id == LineHouseholdCredit.order_line_id)
        .where(LineAttribution.session_id == sid)
        .group_by(LineHouseholdCredit.household_id)
    )
    return {int(h): int(fen) for h, fen in await conn.execute(query)}


async def _stored(conn: AsyncConnection, sid: int | None = None) -> dict[tuple[int, int], int]:
    table = SessionHouseholdCredit
    query = select(table.session_id, table.household_id, table.credit_fen)
    if sid is not None:
        query = query.where(table.session_id == sid)
    return {(int(s), int(h)): int(fen) for s, h, fen in await conn.execute(query)}


async def _page_equals_the_lines(conn: AsyncConnection, sid: int) -> dict[int, int]:
    """What the session page reads per household, and the households it counts, are the lines'."""
    live = await _from_lines(conn, sid)
    read = {int(h): int(fen) for h, fen in await conn.execute(summaries.household_credits(conn, sid))}
    assert read == live
    detail = await session_detail(conn, Scope.admin(), sid)
    assert detail is not None
    assert detail.households == sum(1 for fen in live.values() if fen > 0)
    return live


async def _marked_then_exact(conn: AsyncConnection, changed: set[int]) -> None:
    """The changed sessions are marked and read from their lines (their stored rows are stale);
    a refresh stores the lines' sums and clears the markers."""
    assert changed <= await summaries.marked_sessions(conn)
    stale = False
    for sid in changed:
        live = await _page_equals_the_lines(conn, sid)
        stale |= {h: fen for (_s, h), fen in (await _stored(conn, sid)).items()} != live
    assert stale, "the change left the stored rows as they were: the test would prove nothing"
    assert await summaries.refresh(conn) >= len(changed)
    assert await summaries.marked_sessions(conn) == set()
    # handed on: still read from the lines until the credits are rewritten
    assert changed <= await summaries.household_credits_marked(conn)
    for sid in changed:
        await _page_equals_the_lines(conn, sid)
    assert await summaries.refresh_household_credits(conn) >= len(changed)
    assert await summaries.household_credits_marked(conn) == set()
    assert await summaries.household_credits_differing(conn) == {}
    for sid in changed:
        live = await _page_equals_the_lines(conn, sid)
        assert {h: fen for (_s, h), fen in (await _stored(conn, sid)).items()} == live


async def test_the_built_store_keeps_every_sessions_credits_and_the_backfill_agrees(store: World) -> None:
    async def check(conn: AsyncConnection) -> None:
        ids = [int(s) for s in await conn.scalars(select(LiveSession.id).order_by(LiveSession.id))]
        assert await summaries.household_credits_marked(conn) == set()  # the pipeline refreshed them
        assert await summaries.household_credits_differing(conn, ids) == {}
        kept = await _stored(conn)
        assert len({s for s, _h in kept}) > 1 and sum(kept.values()) > 0
        for sid in ids[:5]:
            await _page_equals_the_lines(conn, sid)
        # the migration's backfill writes the same rows as the refreshes
        await conn.execute(delete(SessionHouseholdCredit))
        await conn.exec_driver_sql(_migration().BACKFILL)
        assert await _stored(conn) == kept

    await _in_rolled_back(store, check)


async def test_a_refund_a_moved_line_and_a_zero_credit_are_read_live_until_refreshed(store: World) -> None:
    async def check(conn: AsyncConnection) -> None:
        a, b = await _busiest(conn), await _busiest(conn, 1)
        line, household = (
            await conn.execute(
                select(LineHouseholdCredit.order_line_id, LineHouseholdCredit.household_id)
                .join(LineAttribution, LineAttribution.order_line_id == LineHouseholdCredit.order_line_id)
                .where(LineAttribution.session_id == a, LineHouseholdCredit.credit_fen > 300)
                .order_by(LineHouseholdCredit.order_line_id, LineHouseholdCredit.household_id)
                .limit(1)
            )
        ).one()

        # a refund posted on the line: its household's credit falls (bangfu.ledger.post)
        shop = await conn.scalar(select(OrderLine.shop_id).where(OrderLine.id == line))
        last = await conn.scalar(select(func.max(JournalLineDay.day)).where(JournalLineDay.order_line_id == line))
        assert shop is not None and last is not None
        event = f"order-line:{shop}:{line}:v98:refund:1"
        when = await conn.scalar(select(func.max(LiveSession.started_at)))
        assert when is not None
        legs = (Posting(receivable_account(int(shop)), -300), Posting(household_account(int(household)), 300))
        await post(conn, [Journal(journal_uid(event), JournalKind.REFUND, event, when + timedelta(days=1), legs)])
        before = await _stored(conn, a)
        await _marked_then_exact(conn, {a})
        assert (await _stored(conn, a))[(a, household)] == before[(a, household)] - 300

        # the line moved to another session: both sessions change
        await conn.execute(update(LineAttribution).where(LineAttribution.order_line_id == line).values(session_id=b))
        await _marked_then_exact(conn, {a, b})
        await conn.execute(update(LineAttribution).where(LineAttribution.order_line_id == line).values(session_id=a))
        await _marked_then_exact(conn, {a, b})

        # a 0-fen credit of a household the session's lines never credited: a row at 0, as live
        fresh = await conn.scalar(
            select(Household.id)
            .where(Household.id.not_in([h for _s, h in await _stored(conn, a)]))
            .order_by(Household.id)
            .limit(1)
        )
        assert fresh is not None
        await conn.execute(insert(LineHouseholdCredit).values(order_line_id=line, household_id=fresh, credit_fen=0))
        await _marked_then_exact(conn, {a})
        assert (await _stored(conn, a))[(a, int(fresh))] == 0

    await _in_rolled_back(store, check)


async def test_a_falsified_row_is_never_read_while_marked(store: World) -> None:
    """A stored row is read only while its session has no marker: falsified by hand, it shows
    (the proof reports it) until a change marks the session, then the lines' sums show."""

    async def check(conn: AsyncConnection) -> None:
        a = await _busiest(conn)
        household = await conn.scalar(
            select(SessionHouseholdCredit.household_id).where(SessionHouseholdCredit.session_id == a).limit(1)
        )
        await conn.execute(
            update(SessionHouseholdCredit)
            .where(SessionHouseholdCredit.session_id == a, SessionHouseholdCredit.household_id == household)
            .values(credit_fen=SessionHouseholdCredit.credit_fen + 1_000_000)
        )
        assert set(await summaries.household_credits_differing(conn)) == {a}
        read = {int(h): int(fen) for h, fen in await conn.execute(summaries.household_credits(conn, a))}
        assert read != await _from_lines(conn, a)
        line = await conn.scalar(select(LineAttribution.order_line_id).where(LineAttribution.session_id == a).limit(1))
        await conn.execute(update(OrderLine).where(OrderLine.id == line).values(paid_fen=OrderLine.paid_fen + 1))
        assert a in await summaries.marked_sessions(conn)
        await _page_equals_the_lines(conn, a)
        await summaries.refresh(conn)
        await _page_equals_the_lines(conn, a)
        await summaries.refresh_household_credits(conn)
        assert await summaries.household_credits_differing(conn) == {}

    await _in_rolled_back(store, check)
