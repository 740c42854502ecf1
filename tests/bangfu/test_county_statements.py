"""The county overview's statements kept per (dialect, period, scope or cooperatives)
(``queries.county._SALES_STATEMENTS``, ``_INCOME_STATEMENTS``), on the demo county on both
backends: read through the kept statements in any order, every scope and period gets the figures
a statement built for it alone gives, and the scopes' figures differ (so a statement kept for one
scope and served to another would show); the oldest statements are dropped past the limit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.models import Cooperative
from bangfu.queries import county
from tests.bangfu.conftest import with_conn
from tests.bangfu.test_sales_days import _periods, _scopes
from tests.web.conftest import World


async def test_kept_statements_serve_their_own_scope_and_period(store: World) -> None:
    async def check(conn: AsyncConnection) -> None:
        scopes = await _scopes(conn)
        periods = await _periods(conn)
        coops = [int(c) for c in await conn.scalars(select(Cooperative.id).order_by(Cooperative.id))]
        groups = [coops, coops[:1], coops[1:]]
        cold_sales, cold_income = {}, {}
        for period in periods:
            for scope in scopes:
                county._SALES_STATEMENTS.clear()
                cold_sales[period.label, scope] = await county._sales(conn, scope, period)
            for n, group in enumerate(groups):
                county._INCOME_STATEMENTS.clear()
                cold_income[period.label, n] = await county._income_by_channel_and_product(conn, period, group)
        assert len({(s.gross, s.certified_gross) for s in cold_sales.values()}) > 1
        assert len({tuple(sorted(rows)) for rows in cold_income.values()}) > 1
        for _ in range(2):  # kept after the first round: the second reads them
            for period in reversed(periods):
                for scope in reversed(scopes):
                    assert await county._sales(conn, scope, period) == cold_sales[period.label, scope]
                for n, group in reversed(list(enumerate(groups))):
                    rows = await county._income_by_channel_and_product(conn, period, group)
                    assert rows == cold_income[period.label, n]
        assert len(county._SALES_STATEMENTS) == len(periods) * len(scopes)
        limit = county._STATEMENTS_KEPT
        county._SALES_STATEMENTS.clear()
        county._SALES_STATEMENTS.update({("filler", n): () for n in range(limit)})
        assert await county._sales(conn, scopes[0], periods[0]) == cold_sales[periods[0].label, scopes[0]]
        assert len(county._SALES_STATEMENTS) == limit and ("filler", 0) not in county._SALES_STATEMENTS
        county._SALES_STATEMENTS.clear()
        await conn.rollback()

    await with_conn(store, check)
