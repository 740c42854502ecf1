"""The household statement's sums kept at posting (``household_line_days``) through the posting
stage: sales (batched), true-ups (a bill's fees, a new host, a SKU remapped to another
cooperative's product; a true-up moving a line to another household is posted in
tests/bangfu/test_household_line_days.py), partial refunds,
lines on both sides of the Asia/Shanghai new year, and a surplus return. The table equals the
ledger, the migration's backfill writes the same rows, ``bangfu verify`` checks it, and every
household's statement read from the table is the statement summed from the postings, before and
after the surplus is distributed."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bangfu.enums import HouseholdCategory, SettlementKind
from bangfu.line_credits import household_line_days_differing_from_ledger
from bangfu.models import Household, HouseholdLineDay, Journal, OrderLine
from tests.bangfu.test_household_line_days import journals_agree, migration, periods, statements_agree, table_of
from tests.workers.accounting_seed import (
    add_bill_line,
    add_household,
    add_lot,
    add_order,
    add_refund,
    attribute,
    draw,
    seed,
)
from workers.posting import PostingStats, discover, post_lines, post_refunds
from workers.surplus import distribute_surplus
from workers.verify import verify

LATE = datetime(2026, 12, 31, 15, 30, tzinfo=UTC)  # 23:30 on 2026-12-31 in Shanghai
NEW_YEAR = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)  # 00:30 on 2027-01-01 in Shanghai


async def _run(engine: AsyncEngine) -> PostingStats:
    total = PostingStats()
    async with engine.begin() as conn:
        total += await post_lines(conn)
        total += await post_refunds(conn)
    return total


async def _statements_agree(conn: AsyncConnection) -> int:
    """Every household's statement and journals pages from the table equal the ledger's over
    several periods; how many statement rows were compared."""
    rows = 0
    for household in await conn.scalars(select(Household.id).order_by(Household.id)):
        for k, period in enumerate(periods(date(2026, 12, 1), date(2027, 2, 28))):
            rows += len((await statements_agree(conn, int(household), period)).rows)
            await journals_agree(conn, int(household), period, pages=k == 0)
    return rows


async def test_line_days_through_the_posting_stage_equal_the_ledger(db_url: str, engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        world = await seed(conn)
        other = await seed(conn)
        outsider = await add_household(conn, other, HouseholdCategory.ORDINARY, cooperative=other.coop)
        mixed = await add_lot(conn, world, [(world.households[0], 5, "A", 1_000), (outsider, 5, "A", 800)])
        orders = []
        for lot, paid_at, paid in ((world.lots[0], LATE, 30_000), (mixed, LATE, 50_000), (mixed, NEW_YEAR, 40_000)):
            order, (line,) = await add_order(conn, world, [(world.coop_sku, 2, paid)], paid_at=paid_at)
            await discover(conn)
            await attribute(conn, world, line, world.host)
            await draw(conn, line, lot, 2)
            orders.append((order, line))
        order, (line,) = await add_order(conn, other, [(other.coop_sku, 1, 20_000)], paid_at=LATE)
        await draw(conn, line, other.lots[0], 1)
    stats = await _run(engine)
    assert stats.sales == 4
    async with engine.begin() as conn:
        await add_bill_line(conn, world, orders[0][0], SettlementKind.PLATFORM_FEE, -1_001, at=LATE)
        await attribute(conn, world, orders[1][1], None)
        await add_refund(conn, world, orders[1][0], orders[1][1], amount=10_000, at=LATE)
        await add_refund(conn, world, orders[0][0], orders[0][1], amount=15_000, at=NEW_YEAR)
        # The third line's SKU remapped to the other cooperative's product: a true-up.
        await conn.execute(
            update(OrderLine)
            .where(OrderLine.id == orders[2][1])
            .values(sku_id=other.coop_sku, version=OrderLine.version + 1)
        )
    await _run(engine)
    await _run(engine)

    async with engine.connect() as conn:
        kinds = {str(k) for k in await conn.scalars(select(Journal.kind).distinct())}
        assert {"sale", "true_up", "refund"} <= kinds
        table = await table_of(conn)
        # A sale and its true-up (the bill's fees, the new host) on one day: two journals in a row.
        assert any(v[0] >= 2 for v in table.values())
        assert any(v[4] < 0 for v in table.values())  # partial refunds
        assert {d for _h, d, _l in table} >= {date(2026, 12, 31), date(2027, 1, 1)}
        assert await household_line_days_differing_from_ledger(conn) == []
        assert await _statements_agree(conn) > 5
        report = await verify(conn)
        assert report.ok, report.as_dict()
        assert "household_line_days_match_ledger" in {c.name for c in report.checks}

        await conn.commit()
        try:
            await conn.execute(delete(HouseholdLineDay))
            await conn.exec_driver_sql(migration().backfill_sql(conn.dialect.name))
            assert await table_of(conn) == table
        finally:
            await conn.rollback()

        # A row off by a fen: verify names it.
        await conn.execute(update(HouseholdLineDay).values(journals=HouseholdLineDay.journals + 1))
        report = await verify(conn, inputs=False)
        check = next(c for c in report.checks if c.name == "household_line_days_match_ledger")
        assert not check.ok and check.count > 0
        await conn.rollback()

    async with engine.begin() as conn:
        await distribute_surplus(conn, world.coop, 2026, occurred_at=datetime(2027, 1, 20, tzinfo=UTC))
    async with engine.connect() as conn:
        after = await table_of(conn)
        returned = {k: v for k, v in after.items() if table.get(k) != v}
        assert returned and all(k[1:] == (date(2027, 1, 20), 0) and v[5] > 0 for k, v in returned.items())
        assert await household_line_days_differing_from_ledger(conn) == []
        assert await _statements_agree(conn) > 5
        report = await verify(conn)
        assert report.ok, report.as_dict()
