"""cooperative_day_groups and cooperative_day_totals, the cooperative pages' per-day sums of
cooperative_line_facts (bangfu.cooperative_groups), on the demo county on both backends: after
the pipeline the rows equal the facts' sums and the migration's backfill writes the same rows; every kind of change
the groups depend on (re-attribution, a refund and a sale posted, a line's SKU, a SKU's
product, lot draws, a line's title) marks every (cooperative, day) whose rows it makes stale,
the pages stay equal to the ledger while marked, and a refresh makes the rows equal again."""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu import cooperative_groups
from bangfu.cooperative_groups import COLUMNS, groups_differing_from_facts, refresh
from bangfu.enums import JournalKind, UserRole
from bangfu.ledger import (
    Journal,
    Posting,
    collective_account,
    household_account,
    journal_uid,
    post,
    receivable_account,
    retention_account,
)
from bangfu.line_credits import FACT_MONEY
from bangfu.models import (
    CooperativeDayGroup,
    CooperativeDayTotal,
    CooperativeGroupDirty,
    CooperativeLineFact,
    Household,
    LineAttribution,
    LiveSession,
    LotAllocation,
    OrderLine,
    Product,
    Sku,
    SupplyLot,
)
from bangfu.queries.cooperatives import dashboard, list_cooperatives
from bangfu.reports.base import Period, local_midnight
from bangfu.scope import Scope
from tests.bangfu.conftest import with_conn
from tests.web.conftest import World

MIGRATION = Path(__file__).resolve().parents[2] / "bangfu/migrations/versions/0036_cooperative_day_groups.py"
ALL = Period(local_midnight(date(2020, 1, 1)), local_midnight(date(2040, 1, 1)), "all")
ADMIN = Scope(role=UserRole.ADMIN, user_id=0)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def _stored(conn: AsyncConnection) -> list[tuple[Any, ...]]:
    table = CooperativeDayGroup.__table__
    rows = await conn.execute(select(*(table.c[name] for name in COLUMNS)))
    return sorted((tuple(row) for row in rows), key=repr)


async def _stored_totals(conn: AsyncConnection) -> list[tuple[Any, ...]]:
    total = CooperativeDayTotal
    names = ("cooperative_id", "day", *FACT_MONEY)
    rows = await conn.execute(select(*(total.__table__.c[name] for name in names)))
    return sorted((tuple(row) for row in rows), key=repr)


async def _marked_pairs(conn: AsyncConnection) -> set[tuple[int, date]]:
    dirty = CooperativeGroupDirty
    return {(int(c), _day(d)) for c, d in await conn.execute(select(dirty.cooperative_id, dirty.day))}


async def _pages_equal_the_ledger(conn: AsyncConnection, coop: int) -> None:
    assert await list_cooperatives(conn, ADMIN, ALL) == await list_cooperatives(conn, ADMIN, ALL, from_ledger=True)
    facts = await dashboard(conn, ADMIN, coop, ALL)
    ledger = await dashboard(conn, ADMIN, coop, ALL, from_ledger=True)
    assert facts is not None and facts.totals.lines and facts == ledger


async def _stale_pairs_are_marked(conn: AsyncConnection) -> None:
    """What differs from the facts is marked (so read from the facts), and there is something."""
    differing = await groups_differing_from_facts(conn, limit=10_000)
    assert differing, "the change made stored rows stale (else the check below proves nothing)"
    marked = await _marked_pairs(conn)
    assert {(key[0], key[1]) for key, _stored, _facts in differing} <= marked


async def test_groups_equal_the_facts_and_the_backfill(store: World) -> None:
    """After the pipeline (which refreshes), nothing is marked and the rows are the facts' sums,
    refunded lines (a row with an earlier day) included; the backfill writes the same rows."""

    async def check(conn: AsyncConnection) -> None:
        assert await cooperative_groups.marked(conn) == 0
        assert await groups_differing_from_facts(conn) == []
        rows = await _stored(conn)
        assert rows and any(row[COLUMNS.index("prev_day")] is not None for row in rows)
        facts = await conn.scalar(select(func.count()).select_from(CooperativeLineFact))
        assert len(rows) < int(facts or 0)  # grouped: fewer rows than lines

        spec = importlib.util.spec_from_file_location("m0036", MIGRATION)
        assert spec is not None and spec.loader is not None
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        await conn.commit()
        try:
            totals = await _stored_totals(conn)
            assert totals
            await conn.execute(delete(CooperativeDayGroup))
            await conn.execute(delete(CooperativeDayTotal))
            await conn.exec_driver_sql(migration.backfill_sql())
            await conn.exec_driver_sql(migration.totals_backfill_sql())
            assert await _stored(conn) == rows
            assert await _stored_totals(conn) == totals
            assert await groups_differing_from_facts(conn) == []
        finally:
            await conn.rollback()

    await with_conn(store, check)


async def test_changes_are_marked_pages_stay_exact_and_refresh_rebooks(store: World) -> None:
    """Each change in turn (rolled back at the end): the stale pairs are marked, the list and the
    dashboard equal the ledger before any refresh, and after a refresh the rows equal the facts
    and nothing is marked."""

    async def check(conn: AsyncConnection) -> None:
        fact = CooperativeLineFact
        coop = await conn.scalar(
            select(fact.cooperative_id).group_by(fact.cooperative_id).order_by(func.count().desc()).limit(1)
        )
        assert coop is not None
        lines = [
            int(i)
            for i in await conn.scalars(
                select(fact.order_line_id)
                .where(fact.cooperative_id == coop)
                .group_by(fact.order_line_id)
                .order_by(fact.order_line_id)
                .limit(8)
            )
        ]
        assert len(lines) == 8
        member = await conn.scalar(select(Household.id).where(Household.cooperative_id == coop).limit(1))
        assert member is not None
        await conn.commit()

        async def changed(what: str) -> None:
            await _stale_pairs_are_marked(conn)
            await _pages_equal_the_ledger(conn, int(coop))
            assert await refresh(conn) > 0, what
            assert await cooperative_groups.marked(conn) == 0, what
            assert await groups_differing_from_facts(conn) == [], what
            await _pages_equal_the_ledger(conn, int(coop))

        try:
            # Re-attribution: the line moves to another session (and one loses its session).
            attributed = (
                await conn.execute(
                    select(LineAttribution.order_line_id, LineAttribution.session_id)
                    .join(fact, fact.order_line_id == LineAttribution.order_line_id)
                    .where(fact.cooperative_id == coop, LineAttribution.session_id.is_not(None))
                    .limit(1)
                )
            ).first()
            assert attributed is not None
            other = await conn.scalar(select(LiveSession.id).where(LiveSession.id != attributed.session_id).limit(1))
            assert other is not None
            await conn.execute(
                update(LineAttribution)
                .where(LineAttribution.order_line_id == attributed.order_line_id)
                .values(session_id=other)
            )
            await changed("re-attribution")
            await conn.execute(delete(LineAttribution).where(LineAttribution.order_line_id == attributed.order_line_id))
            await changed("attribution removed")

            # The line's SKU changes to one of another product; then a SKU's product changes.
            line_sku = await conn.scalar(select(OrderLine.sku_id).where(OrderLine.id == lines[1]))
            product = await conn.scalar(select(Sku.product_id).where(Sku.id == line_sku))
            foreign_sku = await conn.scalar(select(Sku.id).where(Sku.product_id != product).limit(1))
            assert foreign_sku is not None
            await conn.execute(update(OrderLine).where(OrderLine.id == lines[1]).values(sku_id=foreign_sku))
            await changed("SKU of a line")
            line_sku = await conn.scalar(select(OrderLine.sku_id).where(OrderLine.id == lines[2]))
            product = await conn.scalar(select(Sku.product_id).where(Sku.id == line_sku))
            other_product = await conn.scalar(select(Product.id).where(Product.id != product).limit(1))
            await conn.execute(update(Sku).where(Sku.id == line_sku).values(product_id=other_product))
            await changed("product of a SKU")
            await conn.execute(update(OrderLine).where(OrderLine.id == lines[3]).values(sku_id=None, title="甲 no SKU"))
            await changed("a line without SKU")

            # Lot draws: a line drawn from two more lots (split), then those draws removed.
            lots = [int(i) for i in await conn.scalars(select(SupplyLot.id).where(SupplyLot.cooperative_id == coop))]
            assert len(lots) >= 2
            await conn.execute(
                insert(LotAllocation),
                [
                    {
                        "source_key": f"test-groups:{lines[4]}:{n}",
                        "order_line_id": lines[4],
                        "lot_id": lot,
                        "quantity": n,
                    }
                    for n, lot in enumerate(lots[:2], start=1)
                ],
            )
            await changed("drawn from two lots")
            await conn.execute(delete(LotAllocation).where(LotAllocation.source_key.like("test-groups:%")))
            await changed("draws removed")

            # A refund journal posted on a later day, then a true-up on an earlier day than the
            # line's first (the later days' previous day changes).
            shop = await conn.scalar(select(OrderLine.shop_id).where(OrderLine.id == lines[5]))
            first = await conn.scalar(
                select(func.min(fact.day)).where(fact.cooperative_id == coop, fact.order_line_id == lines[5])
            )
            assert shop is not None and first is not None
            first_day = _day(first)
            legs = (
                Posting(receivable_account(shop), -600),
                Posting(retention_account(int(coop)), 200),
                Posting(collective_account(int(coop)), 100),
                Posting(household_account(member), 300),
            )
            later = datetime.combine(first_day + timedelta(days=3), datetime.min.time(), UTC) + timedelta(hours=4)
            event = f"order-line:{shop}:{lines[5]}:v98:refund:1"
            await post(conn, [Journal(journal_uid(event), JournalKind.REFUND, event, later, legs)])
            await changed("refund posted")
            earlier = later - timedelta(days=10)
            event = f"order-line:{shop}:{lines[5]}:v97:trueup:1"
            await post(
                conn,
                [
                    Journal(
                        journal_uid(event),
                        JournalKind.TRUE_UP,
                        event,
                        earlier,
                        tuple(Posting(p.account, -p.amount_fen) for p in legs),
                    )
                ],
            )
            await changed("posted before the line's first day")

            # A line's title (the label of lines without a product).
            await conn.execute(update(OrderLine).where(OrderLine.id == lines[3]).values(title="乙 renamed"))
            await changed("title")
        finally:
            await conn.rollback()

    await with_conn(store, check)


async def test_a_stale_row_is_never_read_while_marked(store: World) -> None:
    """A stored row falsified by hand (as a missed change would leave it) shows on the page once
    unmarked, and not while its pair is marked: the reader takes marked pairs from the facts."""

    async def check(conn: AsyncConnection) -> None:
        group = CooperativeDayGroup
        row = (await conn.execute(select(group.id, group.cooperative_id, group.day).limit(1))).one()
        await conn.commit()
        try:
            good = await dashboard(conn, ADMIN, int(row.cooperative_id), ALL)
            assert good is not None
            await conn.execute(update(group).where(group.id == row.id).values(sales=group.sales + 1))
            bad = await dashboard(conn, ADMIN, int(row.cooperative_id), ALL)
            assert bad is not None and bad.totals.sales == good.totals.sales + 1
            await conn.execute(insert(CooperativeGroupDirty).values(cooperative_id=row.cooperative_id, day=row.day))
            assert await dashboard(conn, ADMIN, int(row.cooperative_id), ALL) == good
            assert await refresh(conn) == 1
            assert await dashboard(conn, ADMIN, int(row.cooperative_id), ALL) == good
            assert await groups_differing_from_facts(conn) == []
        finally:
            await conn.rollback()

    await with_conn(store, check)
