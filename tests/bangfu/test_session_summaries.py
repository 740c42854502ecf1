"""bangfu.session_summaries on the demo county, both backends: the kept figures equal the lines'
sums after the build, after re-attribution (by hand and by the attribution stage), payment,
refunds, line and credit changes; a changed session is marked by the triggers and read from
its lines until refreshed; the session list, page and report agree.

The changes run in a transaction that is rolled back, so the shared demo world is untouched."""

from __future__ import annotations

import importlib.util
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, distinct, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu import session_summaries as summaries
from bangfu.enums import AttributionConfidence, RefundStatus
from bangfu.models import (
    LineAttribution,
    LineChange,
    LineHouseholdCredit,
    LiveSession,
    Order,
    OrderLine,
    Product,
    Refund,
    SessionLineFacts,
    SessionSummary,
    SessionSummaryDirty,
    Sku,
)
from bangfu.queries.sessions import list_sessions, session_detail
from bangfu.reports.base import Period
from bangfu.reports.sessions import session_metrics, session_products, session_review
from bangfu.scope import Scope
from bangfu.store import make_engine
from tests.web.conftest import World
from workers.attribution import attribute_lines

MIGRATION = Path(summaries.__file__).parent / "migrations" / "versions" / "0025_session_summaries.py"


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


async def _sessions(conn: AsyncConnection) -> list[int]:
    return [int(s) for s in await conn.scalars(select(LiveSession.id).order_by(LiveSession.id))]


async def _kept(conn: AsyncConnection, sid: int) -> summaries.SessionFigures:
    row = (
        await conn.execute(
            select(*(getattr(SessionSummary, n) for n in summaries.NAMES)).where(SessionSummary.session_id == sid)
        )
    ).first()
    return summaries.ZERO if row is None else summaries.SessionFigures(*(int(v) for v in row))


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


async def _exact_after_refresh(conn: AsyncConnection, changed: set[int]) -> dict[int, summaries.SessionFigures]:
    """The changed sessions are marked and read from their lines; a refresh makes every kept row
    equal to the lines' sums again and clears the markers. Returns the refreshed figures."""
    ids = await _sessions(conn)
    marked = await summaries.marked_sessions(conn)
    assert changed <= marked
    computed = await summaries.compute(conn, ids)
    read = await summaries.figures(conn, ids)
    assert read == {sid: computed.get(sid, summaries.ZERO) for sid in ids}
    assert await summaries.refresh(conn) >= len(changed)
    assert await summaries.marked_sessions(conn) == set()
    assert await summaries.differing(conn) == {}
    return {sid: await _kept(conn, sid) for sid in changed}


async def test_the_built_store_is_summarised_exactly(store: World) -> None:
    async def check(conn: AsyncConnection) -> None:
        ids = await _sessions(conn)
        assert await summaries.marked_sessions(conn) == set()  # the pipeline refreshed them
        assert await summaries.differing(conn, ids) == {}
        kept = await summaries.figures(conn, ids)
        assert sum(f.gmv_fen for f in kept.values()) > 0
        # the report's own sums, session by session
        rows = {r["session"]: r for r in await session_metrics(conn, ids)}
        for sid in ids:
            f, r = kept[sid], rows[sid]
            assert (f.gmv_fen, f.orders, f.buyers, f.units, f.refunds_fen, f.net_households_fen) == (
                r["gmv"],
                r["orders"],
                r["buyers"],
                r["units"],
                r["refunds"],
                r["net_households"],
            )
            assert (f.orders_exact, f.orders_inferred) == (r["orders_exact"], r["orders_inferred"])
        # the migration's backfill writes the same rows as the refresh
        await conn.execute(delete(SessionSummary))
        spec = importlib.util.spec_from_file_location("migration_0025", MIGRATION)
        assert spec is not None and spec.loader is not None
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        await conn.exec_driver_sql(migration.BACKFILL.format(columns=", ".join(migration.FIGURES)))
        assert await summaries.differing(conn, ids) == {}

    await _in_rolled_back(store, check)


async def test_reattribution_payment_refund_and_credits_keep_it_exact(store: World) -> None:
    async def check(conn: AsyncConnection) -> None:
        a, b = await _busiest(conn), await _busiest(conn, 1)
        before = await _kept(conn, a)
        line, order = (
            await conn.execute(
                select(OrderLine.id, OrderLine.order_id)
                .join(LineAttribution, LineAttribution.order_line_id == OrderLine.id)
                .join(Order, Order.id == OrderLine.order_id)
                .where(LineAttribution.session_id == a, Order.paid_at.is_not(None))
                .order_by(OrderLine.id)
                .limit(1)
            )
        ).one()

        # re-attribution by hand: the line moves from a to b (both sessions change)
        await conn.execute(update(LineAttribution).where(LineAttribution.order_line_id == line).values(session_id=b))
        moved = await _exact_after_refresh(conn, {a, b})
        assert moved[a].units < before.units
        await conn.execute(update(LineAttribution).where(LineAttribution.order_line_id == line).values(session_id=a))
        assert (await _exact_after_refresh(conn, {a, b}))[a] == before

        # re-attribution by the stage: an attribution removed is made again, refreshed in its transaction
        await conn.execute(delete(LineAttribution).where(LineAttribution.order_line_id == line))
        await conn.execute(insert(LineChange).values(stage="attribute", order_line_id=line))  # as a sync would
        assert a in await summaries.marked_sessions(conn)
        await attribute_lines(conn)
        assert await summaries.marked_sessions(conn) == set()
        assert await summaries.differing(conn) == {}
        assert await _kept(conn, a) == before

        # payment: the order unpaid, then paid again
        paid_at = await conn.scalar(select(Order.paid_at).where(Order.id == order))
        await conn.execute(update(Order).where(Order.id == order).values(paid_at=None))
        unpaid = (await _exact_after_refresh(conn, {a}))[a]
        assert unpaid.orders == before.orders - 1
        await conn.execute(update(Order).where(Order.id == order).values(paid_at=paid_at))
        assert (await _exact_after_refresh(conn, {a}))[a] == before

        # a refund requested, then succeeded
        shop, platform_order = (
            await conn.execute(select(Order.shop_id, Order.platform_order_id).where(Order.id == order))
        ).one()
        now = datetime.now(UTC)
        await conn.execute(
            insert(Refund).values(
                shop_id=shop,
                platform_refund_id="summary-test-refund",
                platform_order_id=platform_order,
                order_line_id=line,
                status=RefundStatus.REQUESTED,
                platform_status="requested",
                amount_fen=123,
                created_at=now,
                modified_at=now,
            )
        )
        assert (await _exact_after_refresh(conn, {a}))[a].refunds_fen == before.refunds_fen
        await conn.execute(
            update(Refund)
            .where(Refund.platform_refund_id == "summary-test-refund")
            .values(status=RefundStatus.SUCCEEDED, modified_at=now + timedelta(minutes=1))
        )
        assert (await _exact_after_refresh(conn, {a}))[a].refunds_fen == before.refunds_fen + 123

        # the line's amount and quantity, and a household credit (posting)
        await conn.execute(
            update(OrderLine)
            .where(OrderLine.id == line)
            .values(paid_fen=OrderLine.paid_fen + 1, quantity=OrderLine.quantity + 1)
        )
        changed = (await _exact_after_refresh(conn, {a}))[a]
        assert (changed.gmv_fen, changed.units) == (before.gmv_fen + 1, before.units + 1)
        credited = (
            await conn.execute(
                select(LineHouseholdCredit.order_line_id, LineHouseholdCredit.household_id)
                .join(LineAttribution, LineAttribution.order_line_id == LineHouseholdCredit.order_line_id)
                .where(LineAttribution.session_id == a)
                .limit(1)
            )
        ).first()
        assert credited is not None
        await conn.execute(
            update(LineHouseholdCredit)
            .where(
                and_(
                    LineHouseholdCredit.order_line_id == credited[0],
                    LineHouseholdCredit.household_id == credited[1],
                )
            )
            .values(credit_fen=LineHouseholdCredit.credit_fen + 7)
        )
        assert (await _exact_after_refresh(conn, {a}))[a].net_households_fen == before.net_households_fen + 7

        # an unrelated change (attributed_at only) marks nothing
        await conn.execute(update(LineAttribution).values(attributed_at=now))
        assert await summaries.marked_sessions(conn) == set()

    await _in_rolled_back(store, check)


async def test_a_marked_session_is_read_from_its_lines_on_the_pages(store: World) -> None:
    """A session changed and not refreshed yet: the list and the page show the lines' sums."""

    async def check(conn: AsyncConnection) -> None:
        a = await _busiest(conn)
        order = await conn.scalar(
            select(OrderLine.order_id)
            .join(LineAttribution, LineAttribution.order_line_id == OrderLine.id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(LineAttribution.session_id == a, Order.paid_at.is_not(None))
            .limit(1)
        )
        await conn.execute(update(Order).where(Order.id == order).values(paid_at=None))
        assert a in await summaries.marked_sessions(conn)
        live = (await session_metrics(conn, [a]))[0]
        detail = await session_detail(conn, Scope.admin(), a)
        assert detail is not None
        assert detail.metrics["orders"] == live["orders"] != (await _kept(conn, a)).orders

    await _in_rolled_back(store, check)


async def _confidence_from_lines(conn: AsyncConnection, sid: int) -> list[dict[str, Any]]:
    query = (
        select(
            LineAttribution.confidence,
            func.count(distinct(OrderLine.order_id)),
            func.coalesce(func.sum(OrderLine.paid_fen), 0),
        )
        .join(OrderLine, OrderLine.id == LineAttribution.order_line_id)
        .join(Order, and_(Order.id == OrderLine.order_id, Order.paid_at.is_not(None)))
        .where(LineAttribution.session_id == sid)
        .group_by(LineAttribution.confidence)
    )
    found = {AttributionConfidence(c): (int(n), int(fen)) for c, n, fen in await conn.execute(query)}
    confidences = (AttributionConfidence.EXACT, AttributionConfidence.LINK, AttributionConfidence.INFERRED)
    return [
        {"confidence": c.value, "orders": found.get(c, (0, 0))[0], "gmv": found.get(c, (0, 0))[1]} for c in confidences
    ]


async def test_list_page_and_report_agree(store: World) -> None:
    async def check(conn: AsyncConnection) -> None:
        first, last = (
            await conn.execute(select(func.min(LiveSession.started_at), func.max(LiveSession.started_at)))
        ).one()
        period = Period(first, last + timedelta(seconds=1), "all")
        listed = await list_sessions(conn, Scope.admin(), period, sort="start", descending=False, limit=None)
        report = await session_review(conn, period)
        assert listed.rows == report.rows
        assert listed.gmv_fen == sum(r["gmv"] for r in report.rows)
        for sid in [r["session"] for r in report.rows][:5]:
            detail = await session_detail(conn, Scope.admin(), sid)
            assert detail is not None
            assert detail.metrics == (await session_metrics(conn, [sid]))[0]
            assert detail.confidence == await _confidence_from_lines(conn, sid)

    await _in_rolled_back(store, check)


FACTS_MIGRATION = Path(summaries.__file__).parent / "migrations" / "versions" / "0037_queue_sku_session_facts.py"
SKU_MIGRATION = Path(summaries.__file__).parent / "migrations" / "versions" / "0040_session_facts_by_order_and_buyer.py"


def _migration(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _facts(conn: AsyncConnection) -> dict[int, tuple[Any, ...]]:
    query = select(*SessionLineFacts.__table__.columns).order_by(SessionLineFacts.order_line_id)
    return {int(row[0]): tuple(row) for row in await conn.execute(query)}


async def test_a_refresh_recomputes_the_marked_lines_and_a_lineless_marker_its_whole_session(store: World) -> None:
    """Migration 0037: markers name the line; a refresh recomputes the facts of the marked lines
    only, and (0040) moves the session's row by what they changed; a marker without a line
    (written before 0037) recomputes every line of its session and the row from all its facts.
    The facts equal the migration's backfill."""

    async def check(conn: AsyncConnection) -> None:
        a = await _busiest(conn)
        line, other = [
            int(x)
            for x in await conn.scalars(
                select(LineAttribution.order_line_id)
                .join(OrderLine, OrderLine.id == LineAttribution.order_line_id)
                .join(Order, Order.id == OrderLine.order_id)
                .where(LineAttribution.session_id == a, Order.paid_at.is_not(None))
                .order_by(LineAttribution.order_line_id)
                .limit(2)
            )
        ]
        assert await summaries.marked_sessions(conn) == set()
        before = await _facts(conn)
        # the migration's backfill gives the facts the refreshes kept
        spec = importlib.util.spec_from_file_location("migration_0037", FACTS_MIGRATION)
        assert spec is not None and spec.loader is not None
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        await conn.execute(delete(SessionLineFacts))
        await conn.exec_driver_sql(migration.FACTS_BACKFILL)
        await conn.exec_driver_sql(_migration(SKU_MIGRATION).SKU_BACKFILL)  # 0040's column
        assert await _facts(conn) == before

        # a fact the refresh does not look at (its line is not marked) stays as it is
        await conn.execute(
            update(SessionLineFacts)
            .where(SessionLineFacts.order_line_id == other)
            .values(paid_fen=SessionLineFacts.paid_fen + 1000)
        )
        await conn.execute(update(OrderLine).where(OrderLine.id == line).values(paid_fen=OrderLine.paid_fen + 1))
        marked = set(await conn.execute(select(SessionSummaryDirty.session_id, SessionSummaryDirty.order_line_id)))
        assert marked == {(a, line)}
        assert await summaries.refresh(conn) == 1
        kept, lines = await _kept(conn, a), (await summaries.compute(conn, [a]))[a]
        # the row moved by the marked line's change only (+1): the other line's fact was not read
        assert kept == lines
        assert kept.gmv_fen == (await summaries.from_facts(conn, [a]))[a].gmv_fen - 1000
        assert (await _facts(conn))[line][6] == before[line][6] + 1
        assert (await _facts(conn))[other][6] == before[other][6] + 1000

        # a marker without a line: every line of the session is recomputed
        await conn.execute(insert(SessionSummaryDirty).values(session_id=a))
        assert await summaries.refresh(conn) == 1
        assert await summaries.differing(conn) == {}
        assert (await _facts(conn))[other] == before[other]

        # a line moved to another session and back: both sessions' facts follow it
        b = await _busiest(conn, 1)
        await conn.execute(update(LineAttribution).where(LineAttribution.order_line_id == line).values(session_id=b))
        assert set(await conn.execute(select(SessionSummaryDirty.session_id, SessionSummaryDirty.order_line_id))) == {
            (a, line),
            (b, line),
        }
        await summaries.refresh(conn)
        assert (await _facts(conn))[line][1] == b
        assert await summaries.differing(conn) == {}

    await _in_rolled_back(store, check)


async def test_a_refresh_counts_the_orders_and_buyers_its_lines_name(store: World) -> None:
    """Migration 0040: a refresh moves the distinct counts by the orders and buyers the marked
    lines name, counted over their other lines too: one line of a two-line order leaving the
    session keeps the order counted, the second leaving drops it; a buyer changed on an order;
    a confidence changed. After each, every kept row equals the lines' sums."""

    async def check(conn: AsyncConnection) -> None:
        a, b = await _busiest(conn), await _busiest(conn, 1)
        order = await conn.scalar(
            select(OrderLine.order_id)
            .join(LineAttribution, LineAttribution.order_line_id == OrderLine.id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(LineAttribution.session_id == a, Order.paid_at.is_not(None))
            .group_by(OrderLine.order_id)
            .having(func.count() >= 2)
            .order_by(OrderLine.order_id)
            .limit(1)
        )
        assert order is not None, "the demo county has a paid order with two lines in one session"
        first, second = [
            int(x)
            for x in await conn.scalars(
                select(OrderLine.id)
                .join(LineAttribution, LineAttribution.order_line_id == OrderLine.id)
                .where(OrderLine.order_id == order, LineAttribution.session_id == a)
                .order_by(OrderLine.id)
                .limit(2)
            )
        ]
        before_a, before_b = await _kept(conn, a), await _kept(conn, b)
        in_b = await conn.scalar(
            select(func.count())
            .select_from(LineAttribution)
            .join(OrderLine, OrderLine.id == LineAttribution.order_line_id)
            .where(OrderLine.order_id == order, LineAttribution.session_id == b)
        )

        def move(line: int, sid: int) -> Any:
            return update(LineAttribution).where(LineAttribution.order_line_id == line).values(session_id=sid)

        await conn.execute(move(first, b))
        moved = await _exact_after_refresh(conn, {a, b})
        assert moved[a].orders == before_a.orders  # the second line still holds the order in a
        assert moved[b].orders == before_b.orders + (0 if in_b else 1)
        await conn.execute(move(second, b))
        moved = await _exact_after_refresh(conn, {a, b})
        assert moved[a].orders == before_a.orders - 1
        await conn.execute(move(first, a))
        await conn.execute(move(second, a))
        assert await _exact_after_refresh(conn, {a, b}) == {a: before_a, b: before_b}

        # the order's buyer: a new one, then one that already bought in the session
        buyer = await conn.scalar(select(Order.buyer_ref).where(Order.id == order))
        await conn.execute(update(Order).where(Order.id == order).values(buyer_ref="summary-test-buyer"))
        renamed = (await _exact_after_refresh(conn, {a}))[a]
        other_buyer = await conn.scalar(
            select(Order.buyer_ref)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .join(LineAttribution, LineAttribution.order_line_id == OrderLine.id)
            .where(
                LineAttribution.session_id == a,
                Order.paid_at.is_not(None),
                Order.buyer_ref.is_not(None),
                Order.buyer_ref != buyer,
                Order.buyer_ref != "summary-test-buyer",
            )
            .limit(1)
        )
        assert other_buyer is not None
        await conn.execute(update(Order).where(Order.id == order).values(buyer_ref=other_buyer))
        merged = (await _exact_after_refresh(conn, {a}))[a]
        assert merged.buyers < renamed.buyers
        await conn.execute(update(Order).where(Order.id == order).values(buyer_ref=buyer))
        assert (await _exact_after_refresh(conn, {a}))[a] == before_a

        # a confidence changed on one line of the order, then the other
        confidence = await conn.scalar(select(LineAttribution.confidence).where(LineAttribution.order_line_id == first))
        changed = (
            AttributionConfidence.INFERRED
            if confidence != AttributionConfidence.INFERRED
            else AttributionConfidence.EXACT
        )
        for line in (first, second):
            await conn.execute(
                update(LineAttribution).where(LineAttribution.order_line_id == line).values(confidence=changed)
            )
            await _exact_after_refresh(conn, {a})
        for line in (first, second):
            await conn.execute(
                update(LineAttribution).where(LineAttribution.order_line_id == line).values(confidence=confidence)
            )
        assert (await _exact_after_refresh(conn, {a}))[a] == before_a

    await _in_rolled_back(store, check)


async def _products_from_lines(conn: AsyncConnection, sid: int) -> list[tuple[str, int, int, int]]:
    """The session page's per-product rows as they were grouped before 0040, from the lines."""
    name = func.coalesce(Product.name, OrderLine.title)
    query = (
        select(
            name, func.sum(OrderLine.quantity), func.sum(OrderLine.paid_fen), func.count(distinct(OrderLine.order_id))
        )
        .select_from(LineAttribution)
        .join(OrderLine, OrderLine.id == LineAttribution.order_line_id)
        .join(Order, and_(Order.id == OrderLine.order_id, Order.paid_at.is_not(None)))
        .outerjoin(Sku, Sku.id == OrderLine.sku_id)
        .outerjoin(Product, Product.id == Sku.product_id)
        .where(LineAttribution.session_id == sid)
        .group_by(name)
        .order_by(func.sum(OrderLine.paid_fen).desc(), name)
    )
    return [(str(p), int(u), int(g), int(o)) for p, u, g, o in await conn.execute(query)]


async def _products(conn: AsyncConnection, sid: int) -> list[tuple[str, int, int, int]]:
    report = await session_products(conn, sid)
    return [(r["product"], r["units"], r["gmv"], r["orders"]) for r in report.rows]


async def test_the_session_products_come_from_the_facts_and_equal_the_lines(store: World) -> None:
    """Migration 0040: the session page's per-product table is grouped from the facts of an
    unmarked session (the product joined by SKU at read time) and from the lines of a marked
    one, and equals the lines' grouping either way: after the build, a line moved to another
    product's SKU, a SKU's product changed (no marker needed), a line without a SKU retitled."""

    async def check(conn: AsyncConnection) -> None:
        sessions = await _sessions(conn)
        for sid in sessions:
            assert await _products(conn, sid) == await _products_from_lines(conn, sid), sid
        a = await _busiest(conn)
        line, sku = (
            await conn.execute(
                select(OrderLine.id, OrderLine.sku_id)
                .join(LineAttribution, LineAttribution.order_line_id == OrderLine.id)
                .join(Order, Order.id == OrderLine.order_id)
                .where(LineAttribution.session_id == a, Order.paid_at.is_not(None), OrderLine.sku_id.is_not(None))
                .order_by(OrderLine.id)
                .limit(1)
            )
        ).one()
        product = await conn.scalar(select(Sku.product_id).where(Sku.id == sku))
        other_sku, other_product = (
            await conn.execute(
                select(Sku.id, Sku.product_id).where(Sku.product_id != product).order_by(Sku.id).limit(1)
            )
        ).one()
        before = await _products(conn, a)

        async def equal_before_and_after_refresh(marked: bool) -> list[tuple[str, int, int, int]]:
            assert (a in await summaries.marked_sessions(conn)) is marked
            assert await _products(conn, a) == await _products_from_lines(conn, a)
            await summaries.refresh(conn)
            assert await summaries.marked_sessions(conn) == set()
            products = await _products(conn, a)
            assert products == await _products_from_lines(conn, a)
            return products

        await conn.execute(update(OrderLine).where(OrderLine.id == line).values(sku_id=other_sku))
        assert await equal_before_and_after_refresh(True) != before
        await conn.execute(update(Sku).where(Sku.id == other_sku).values(product_id=product))
        await equal_before_and_after_refresh(False)
        await conn.execute(update(Sku).where(Sku.id == other_sku).values(product_id=other_product))
        await conn.execute(
            update(OrderLine).where(OrderLine.id == line).values(sku_id=None, title="summary-test-title")
        )
        assert any(p[0] == "summary-test-title" for p in await equal_before_and_after_refresh(True))
        await conn.execute(update(OrderLine).where(OrderLine.id == line).values(title="summary-test-title-2"))
        assert any(p[0] == "summary-test-title-2" for p in await equal_before_and_after_refresh(True))
        await conn.execute(update(OrderLine).where(OrderLine.id == line).values(sku_id=sku))
        assert await equal_before_and_after_refresh(True) == before

    await _in_rolled_back(store, check)
