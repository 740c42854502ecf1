"""Two transactions changing the same session at once on PostgreSQL, each refreshing its
summary before committing: the second refresh waits for the first's row, then computes from a
snapshot that includes the first's commit, so the row kept is exact. (Checked: with the
refresh's row insert and lock taken out, the second refresh keeps a row that misses the first
change, and this test fails.)"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, update

from bangfu import session_summaries as summaries
from bangfu.models import LineAttribution, Order, OrderLine
from bangfu.store import make_engine
from tests.web.conftest import World


async def test_concurrent_refreshes_of_one_session_keep_it_exact(world_copy: World) -> None:
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
            orders = [
                int(o)
                for o in await conn.scalars(
                    select(OrderLine.order_id)
                    .join(LineAttribution, LineAttribution.order_line_id == OrderLine.id)
                    .join(Order, Order.id == OrderLine.order_id)
                    .where(LineAttribution.session_id == session, Order.paid_at.is_not(None))
                    .group_by(OrderLine.order_id)
                    .order_by(OrderLine.order_id)
                    .limit(2)
                )
            ]
            before = (await summaries.figures(conn, [session]))[session]
        assert len(orders) == 2

        first, second = await engine.connect(), await engine.connect()
        try:
            await first.begin()
            await first.execute(update(Order).where(Order.id == orders[0]).values(paid_at=None))
            await summaries.refresh(first)
            await second.begin()
            await second.execute(update(Order).where(Order.id == orders[1]).values(paid_at=None))
            waiting = asyncio.create_task(summaries.refresh(second))
            await asyncio.sleep(0.5)
            assert not waiting.done()  # held by the first transaction's row
            await first.commit()
            await asyncio.wait_for(waiting, 10)
            await second.commit()
        finally:
            await first.close()
            await second.close()

        async with engine.connect() as conn:
            assert await summaries.marked_sessions(conn) == set()
            assert await summaries.differing(conn) == {}
            after = (await summaries.figures(conn, [session]))[session]
        assert after.orders == before.orders - 2
    finally:
        await engine.dispose()
