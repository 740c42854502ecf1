"""The surplus's transaction volumes kept at posting (``cooperative_household_volumes``) through
the posting stage: sales (batched), true-ups (a bill's fees, a new host, a SKU remapped to
another cooperative's product: one journal posting to both) and refunds, a
non-member delivering to the cooperative's lot, lines on both sides of the Asia/Shanghai new
year and a refund in the next year. The table equals the ledger, the migration's backfill writes
the same rows, ``bangfu verify`` checks it, and the plan read from the pre-aggregates is the plan
summed from the postings, before and after the surplus is distributed."""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bangfu.enums import HouseholdCategory, SettlementKind
from bangfu.line_credits import (
    facts_differing_from_ledger,
    foreign_retention_differing_from_ledger,
    volumes_differing_from_ledger,
)
from bangfu.models import CooperativeForeignRetention, CooperativeHouseholdVolume, Journal, OrderLine
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
from workers.surplus import SurplusError, SurplusPlan, compute_surplus, distribute_surplus
from workers.verify import verify

MIGRATION = Path(__file__).resolve().parents[2] / "bangfu/migrations/versions/0044_surplus_volumes.py"
LATE = datetime(2026, 12, 31, 15, 30, tzinfo=UTC)  # 23:30 on 2026-12-31 in Shanghai
NEW_YEAR = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)  # 00:30 on 2027-01-01 in Shanghai


async def _run(engine: AsyncEngine) -> PostingStats:
    total = PostingStats()
    async with engine.begin() as conn:
        total += await post_lines(conn)
        total += await post_refunds(conn)
    return total


async def _table(conn: AsyncConnection) -> dict[tuple[int, date, int], int]:
    volume = CooperativeHouseholdVolume
    rows = await conn.execute(select(volume.cooperative_id, volume.month, volume.household_id, volume.volume_fen))
    return {(int(c), m if isinstance(m, date) else date.fromisoformat(str(m)), int(h)): int(v) for c, m, h, v in rows}


async def _foreign(conn: AsyncConnection) -> set[tuple[Any, ...]]:
    foreign = CooperativeForeignRetention
    rows = await conn.execute(select(foreign.cooperative_id, foreign.month, foreign.retention_fen))
    return {(int(c), str(m), int(v)) for c, m, v in rows}


async def _plan(conn: AsyncConnection, coop: int, year: int, *, from_ledger: bool) -> SurplusPlan | str:
    try:
        return await compute_surplus(conn, coop, year, from_ledger=from_ledger)
    except SurplusError as exc:
        return str(exc)


async def _plans_agree(conn: AsyncConnection, coops: list[int]) -> int:
    """Compare both paths for every cooperative and year 2025-2028; how many plans had a surplus."""
    found = 0
    for coop in coops:
        for year in range(2025, 2029):
            kept = await _plan(conn, coop, year, from_ledger=False)
            assert kept == await _plan(conn, coop, year, from_ledger=True), (coop, year)
            found += isinstance(kept, SurplusPlan)
    return found


async def test_volumes_through_the_posting_stage_equal_the_ledger(db_url: str, engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        world = await seed(conn)
        other = await seed(conn)
        outsider = await add_household(conn, other, HouseholdCategory.ORDINARY, cooperative=other.coop)
        rich = await add_household(conn, world, HouseholdCategory.ORDINARY, capital=50_000)
        mixed = await add_lot(
            conn, world, [(world.households[0], 5, "A", 1_000), (outsider, 5, "A", 800), (rich, 2, "B", 0)]
        )
        orders = []
        for lot, paid_at, paid in ((world.lots[0], LATE, 30_000), (mixed, LATE, 50_000), (mixed, NEW_YEAR, 40_000)):
            order, (line,) = await add_order(conn, world, [(world.coop_sku, 2, paid)], paid_at=paid_at)
            await discover(conn)
            await attribute(conn, world, line, world.host)
            await draw(conn, line, lot, 2)
            orders.append((order, line))
        # A line of the other cooperative: its volumes are its own.
        order, (line,) = await add_order(conn, other, [(other.coop_sku, 1, 20_000)], paid_at=LATE)
        await draw(conn, line, other.lots[0], 1)
    stats = await _run(engine)
    assert stats.sales == 4
    async with engine.begin() as conn:
        # True-ups: the bill's fees of the first order, a new host on the second line.
        await add_bill_line(conn, world, orders[0][0], SettlementKind.PLATFORM_FEE, -1_001, at=LATE)
        await attribute(conn, world, orders[1][1], None)
        # Refunds: part of the second line in 2026, part of the first in 2027 (a later year).
        await add_refund(conn, world, orders[1][0], orders[1][1], amount=10_000, at=LATE)
        await add_refund(conn, world, orders[0][0], orders[0][1], amount=15_000, at=NEW_YEAR)
        # The third line's SKU remapped to the other cooperative's product: a true-up moving it.
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
        table = await _table(conn)
        assert {(c, m) for c, m, _h in table} >= {
            (world.coop, date(2026, 12, 1)),
            (world.coop, date(2027, 1, 1)),
            (other.coop, date(2026, 12, 1)),
        }
        assert any(h == outsider and c == world.coop for c, _m, h in table)  # a non-member's volume
        assert await volumes_differing_from_ledger(conn) == []
        assert await facts_differing_from_ledger(conn) == []
        assert await foreign_retention_differing_from_ledger(conn) == []
        foreign_rows = await _foreign(conn)
        assert {c for c, _m, _v in foreign_rows} == {world.coop, other.coop}  # the moving true-up posts to both
        assert await _plans_agree(conn, [world.coop, other.coop]) >= 2
        plan = await compute_surplus(conn, world.coop, 2026)
        assert plan.non_member_volume_fen > 0 and plan.distributable_fen > 0
        report = await verify(conn)
        assert report.ok, report.as_dict()
        assert {"household_volumes_match_ledger", "foreign_retention_matches_ledger"} <= {c.name for c in report.checks}

        # The migration's backfill, on an emptied table (rolled back), writes the same rows.
        spec = importlib.util.spec_from_file_location("m0044", MIGRATION)
        assert spec is not None and spec.loader is not None
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        postgres = conn.dialect.name == "postgresql"
        await conn.commit()
        try:
            month = migration.PG_MONTH if postgres else migration.SQLITE_MONTH
            await conn.execute(delete(CooperativeHouseholdVolume))
            await conn.execute(delete(CooperativeForeignRetention))
            await conn.exec_driver_sql(migration.BACKFILL.format(month=month))
            await conn.exec_driver_sql(migration.FOREIGN_BACKFILL.format(month=month))
            assert await _table(conn) == table
            assert await _foreign(conn) == foreign_rows
        finally:
            await conn.rollback()

    # The surplus journal is not a line journal: it adds no volume, and both paths still agree.
    async with engine.begin() as conn:
        posted = await distribute_surplus(conn, world.coop, 2026, occurred_at=datetime(2027, 1, 20, tzinfo=UTC))
        assert posted == plan
    async with engine.connect() as conn:
        assert await _table(conn) == table
        assert await _surplus_journals(conn) == 1
        assert await volumes_differing_from_ledger(conn) == []
        assert await _plans_agree(conn, [world.coop, other.coop]) >= 2
        report = await verify(conn)
        assert report.ok, report.as_dict()


async def _surplus_journals(conn: AsyncConnection) -> Any:
    return await conn.scalar(select(func.count()).select_from(Journal).where(Journal.kind == "surplus"))
