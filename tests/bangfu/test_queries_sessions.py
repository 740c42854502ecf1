"""bangfu.queries.sessions and the session-review functions it shares with the report, on the demo
county: the metric rows, household credits read from the lines' own journals only, missing
figures, scope and sorting."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import UserRole
from bangfu.models import (
    Cooperative,
    Household,
    Journal,
    LedgerAccount,
    LineAttribution,
    LiveSession,
    Posting,
    SessionHouseholdDirty,
    SessionSummaryDirty,
    Supplier,
)
from bangfu.queries.sessions import (
    CONFIDENCES,
    Comparison,
    CooperativeSupport,
    SessionDetail,
    compare_sessions,
    list_sessions,
    session_detail,
    session_details,
    session_minutes,
    sessions_report,
)
from bangfu.reports.base import Period, parse_line_event
from bangfu.reports.sessions import (
    LINE_JOURNALS,
    household_credits_by_line,
    review_columns,
    session_metrics,
    session_products,
    session_review,
    unreported,
)
from bangfu.scope import Scope
from bangfu.session_summaries import figures, household_credits
from tests.bangfu.conftest import with_conn
from tests.web.conftest import World

# The web tests' demo county, built once per backend (pytest names a fixture by its attribute).


async def _scan_every_household_journal(conn: AsyncConnection, lines: set[int], since: Any) -> dict[int, int]:
    """The former household_credits_by_line: every household journal in the store, filtered after."""
    query = (
        select(Journal.source_event, func.sum(Posting.amount_fen))
        .join(Posting, Posting.journal_id == Journal.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(
            LedgerAccount.owner_type == "household",
            Journal.kind.in_(LINE_JOURNALS),
            Journal.source_event.like("order-line:%"),
        )
        .group_by(Journal.source_event)
    )
    if since is not None:
        query = query.where(Journal.occurred_at >= since)
    out: dict[int, int] = {}
    for source, total in await conn.execute(query):
        line = parse_line_event(source)
        if line is not None and line in lines:
            out[line] = out.get(line, 0) - int(total)
    return out


async def _all_period(conn: AsyncConnection) -> Period:
    first, last = (await conn.execute(select(func.min(LiveSession.started_at), func.max(LiveSession.started_at)))).one()
    return Period(first, last + timedelta(seconds=1), "all")


@pytest.mark.slow
async def test_household_credits_read_only_the_lines_journals_and_agree_with_a_full_scan(store: World) -> None:
    async def check(conn: AsyncConnection) -> None:
        lines = {int(i) for i in await conn.scalars(select(LineAttribution.order_line_id))}
        assert len(lines) > 200  # more than one chunk
        first = await conn.scalar(select(func.min(Journal.occurred_at)))
        assert first is not None
        since: datetime | None
        for since in (None, first + timedelta(days=5)):
            expected = await _scan_every_household_journal(conn, lines, since)
            assert expected and await household_credits_by_line(conn, lines, since) == expected
        some = set(sorted(lines)[::7])
        assert await household_credits_by_line(conn, some) == {
            k: v for k, v in (await _scan_every_household_journal(conn, lines, None)).items() if k in some
        }
        assert await household_credits_by_line(conn, set()) == {}

    await with_conn(store, check)


async def test_session_metrics_are_the_reports_rows(store: World) -> None:
    async def check(conn: AsyncConnection) -> None:
        period = await _all_period(conn)
        report = await session_review(conn, period)
        ids = [r["session"] for r in report.rows]
        rows = await session_metrics(conn, [*reversed(ids), 10**9])
        assert [r["session"] for r in rows] == list(reversed(ids))
        keys = [c.key for c in review_columns()]
        assert len(keys) == 24
        by_id = {r["session"]: r for r in rows}
        for expected in report.rows:
            assert {k: by_id[expected["session"]][k] for k in keys} == {k: expected[k] for k in keys}
        exported = await sessions_report(conn, Scope.admin(), period, sort="start", descending=False)
        assert exported.rows == report.rows and exported.totals == report.totals

    await with_conn(store, check)


def test_unreported_figures() -> None:
    full = {"views": 100, "unique_viewers": 70, "peak_online": 20, "total_watch_seconds": 900, "ad_spend_fen": 500}
    douyin = {"room": {"watch_cnt": 100, "watch_ucnt": 70, "max_online_ucnt": 20, "total_watch_duration": 900}}
    assert unreported("douyin", douyin, full, 3) == frozenset()
    no_watch = {"room": {k: v for k, v in douyin["room"].items() if k != "total_watch_duration"}}
    assert unreported("douyin", no_watch, full, 3) == {"total_watch_seconds"}
    # The self-built mall has no watch time at all; no raw payload: judged from the data alone.
    assert "total_watch_seconds" in unreported("selfmall", {"views": "100"}, full, 3)
    assert unreported(None, None, full, 3) == frozenset()
    assert unreported(None, None, full | {"total_watch_seconds": 0}, 3) == {"total_watch_seconds"}
    assert unreported(None, None, full | {"ad_spend_fen": 0}, 3) == {"ad_spend_fen"}
    assert unreported(None, None, full | {"views": 0}, 3) >= {"views"}
    # Nothing watched, nothing sold: zero is a real zero.
    zero = dict.fromkeys(full, 0) | {"ad_spend_fen": 1}
    assert unreported(None, None, zero, 0) == frozenset()


async def test_scope_sort_and_window(store: World) -> None:
    async def check(conn: AsyncConnection) -> None:
        period = await _all_period(conn)
        admin = Scope.admin()
        everything = await list_sessions(conn, admin, period, sort="gmv", descending=True, limit=None)
        gmv = [r["gmv"] for r in everything.rows]
        assert gmv == sorted(gmv, reverse=True) and everything.gmv_fen == sum(gmv)
        window = await list_sessions(conn, admin, period, sort="gmv", descending=True, offset=3, limit=4)
        assert [r["session"] for r in window.rows] == [r["session"] for r in everything.rows[3:7]]
        assert window.total == everything.total
        ascending = await list_sessions(conn, admin, period, sort="start", descending=False, limit=None)
        starts = [r["started_at"] for r in ascending.rows]
        assert starts == sorted(starts)

        host_id = await conn.scalar(select(LiveSession.host_id).where(LiveSession.host_id.is_not(None)).limit(1))
        host = Scope(UserRole.HOST, host_id=host_id)
        own = await list_sessions(conn, host, period, limit=None)
        assert own.rows and {r["host_id"] for r in own.rows} == {host_id}
        other = next(r["session"] for r in everything.rows if r["host_id"] != host_id)
        assert await session_detail(conn, host, other) is None and await session_minutes(conn, host, other) is None
        for role in (UserRole.COOPERATIVE, UserRole.UNIT):
            nobody = Scope(role, cooperative_id=1, unit_id=1)
            assert (await list_sessions(conn, nobody, period)).total == 0
            assert await session_detail(conn, nobody, other) is None

        detail = await session_detail(conn, admin, everything.rows[0]["session"])
        assert detail is not None
        assert sum(c.net_fen for c in detail.cooperatives) == detail.metrics["net_households"]
        assert detail.households == sum(c.households for c in detail.cooperatives) > 0

    await with_conn(store, check)


@pytest.mark.parametrize("key", ["start", "duration", "gmv", "orders", "buyers", "views", "gpm", "conversion"])
async def test_every_sort_key(store: World, key: str) -> None:
    async def check(conn: AsyncConnection) -> None:
        period = await _all_period(conn)
        for descending in (True, False):
            listed = await list_sessions(conn, Scope.admin(), period, sort=key, descending=descending, limit=None)
            assert len({r["session"] for r in listed.rows}) == listed.total > 0

    await with_conn(store, check)


async def test_line_household_credits_equal_the_ledger_for_every_line(store: World) -> None:
    """The pre-aggregate posting keeps (bangfu.line_credits) is the ledger's figure, line by line,
    household by household, refunds included; and what the pages read from it agrees."""
    from bangfu.line_credits import credits_differing_from_ledger, ledger_credits_query
    from bangfu.models import LineHouseholdCredit, Refund
    from bangfu.reports.sessions import household_credits, household_credits_from_ledger

    async def check(conn: AsyncConnection) -> None:
        assert await conn.scalar(select(func.count()).select_from(Refund)), "the demo has refunds"
        ledger = {(int(a), int(b)): int(c) for a, b, c in await conn.execute(ledger_credits_query(conn))}
        table = {
            (int(a), int(b)): int(c)
            for a, b, c in await conn.execute(
                select(
                    LineHouseholdCredit.order_line_id, LineHouseholdCredit.household_id, LineHouseholdCredit.credit_fen
                )
            )
        }
        assert ledger and table == ledger
        assert await credits_differing_from_ledger(conn) == []
        lines = {line for line, _household in ledger}
        assert await household_credits(conn, lines) == await household_credits_from_ledger(conn, lines)

    await with_conn(store, check)


async def _detail_alone(conn: AsyncConnection, session_id: int) -> SessionDetail:
    """One session's detail from its own single-session queries, as ``session_detail`` built it
    before sessions were read together: its figures and review row, its products report, its
    household credits and their cooperatives."""
    known = await figures(conn, [session_id])
    (metrics,) = await session_metrics(
        conn,
        [session_id],
        sales={sid: f.sales for sid, f in known.items()},
        refunds={sid: f.refunds_fen for sid, f in known.items()},
        net={sid: f.net_households_fen for sid, f in known.items()},
    )
    products = (await session_products(conn, session_id)).rows
    credits = {int(h): int(fen) for h, fen in await conn.execute(household_credits(conn, session_id))}
    by_coop: dict[int, tuple[str, int, int]] = {}
    if credits:
        for hid, coop, name in await conn.execute(
            select(Household.id, Household.cooperative_id, Supplier.name)
            .join(Cooperative, Cooperative.id == Household.cooperative_id)
            .join(Supplier, Supplier.id == Cooperative.supplier_id)
            .where(Household.id.in_(sorted(credits)))
        ):
            fen = credits[int(hid)]
            _, count, total = by_coop.get(int(coop), (str(name), 0, 0))
            by_coop[int(coop)] = (str(name), count + (1 if fen > 0 else 0), total + fen)
    coops = sorted(
        (CooperativeSupport(cid, name, n, fen) for cid, (name, n, fen) in by_coop.items()),
        key=lambda c: (-c.net_fen, c.cooperative_id),
    )
    by = known[session_id].by_confidence()
    confidence = [{"confidence": c.value, "orders": by[c][0], "gmv": by[c][1]} for c in CONFIDENCES]
    return SessionDetail(metrics, products, confidence, coops, sum(1 for fen in credits.values() if fen > 0))


async def test_sessions_read_together_equal_each_read_alone(store: World) -> None:
    """``compare_sessions`` and ``session_details`` read several sessions with one query set; each
    session's detail equals its own single-session queries', for sessions with credits and
    products, the same session twice, the least-selling session, and with one of them marked (its
    products and credits then summed from its lines) while the other is read from its summary.
    A session out of scope makes the comparison None. Markers rolled back."""

    async def check(conn: AsyncConnection) -> None:
        admin = Scope.admin()
        ranked = (
            await list_sessions(conn, admin, await _all_period(conn), sort="gmv", descending=True, limit=None)
        ).rows
        busy = [int(r["session"]) for r in ranked[:3]]
        idle = int(ranked[-1]["session"])
        assert len(busy) == 3 and all(r["gmv"] > 0 for r in ranked[:3])

        async def agree() -> None:
            alone = {sid: await _detail_alone(conn, sid) for sid in [*busy, idle]}
            assert all(alone[sid].products and alone[sid].cooperatives for sid in busy)
            assert await session_details(conn, admin, [*busy, idle, busy[0]]) == alone
            for a, b in ((busy[0], busy[1]), (busy[1], busy[0]), (busy[2], idle), (busy[0], busy[0])):
                assert await compare_sessions(conn, admin, a, b) == Comparison(alone[a], alone[b])
            assert await session_detail(conn, admin, busy[0]) == alone[busy[0]]

        await agree()
        await conn.commit()
        try:
            await conn.execute(
                insert(SessionSummaryDirty).values(session_id=busy[0]),
            )
            await conn.execute(insert(SessionHouseholdDirty).values(session_id=busy[1]))
            await agree()
        finally:
            await conn.rollback()

        host_id = await conn.scalar(select(LiveSession.host_id).where(LiveSession.id == busy[0]))
        host = Scope(UserRole.HOST, host_id=host_id)
        other = next(int(r["session"]) for r in ranked if r["host_id"] != host_id)
        assert await compare_sessions(conn, host, busy[0], other) is None
        assert await compare_sessions(conn, host, other, busy[0]) is None
        assert await session_details(conn, host, [other]) == {}

    await with_conn(store, check)
