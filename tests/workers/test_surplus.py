"""Year-end surplus distribution (arts. 40-44): patronage by volume, the rest by shares, once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.enums import HouseholdCategory
from bangfu.ledger import balances
from bangfu.models import Journal, SurplusDistribution
from bangfu.policy import PolicyError
from tests.workers.accounting_seed import add_household, add_lot, add_order, draw, seed
from workers.posting import post_lines
from workers.surplus import SurplusError, distribute_surplus, plan_surplus
from workers.verify import verify


def test_the_plan_returns_at_least_60_percent_by_volume_and_sums_exactly() -> None:
    plan = plan_surplus(
        cooperative_id=1,
        year=2026,
        policy_version=1,
        patronage_return_bp=6000,
        distributable_fen=10_001,
        members={1: ("M1", 300, 100, 0, 0), 2: ("M2", 700, 0, 50, 50), 3: ("M3", 0, 0, 0, 0)},
    )
    assert plan.patronage_fen == 6_001 and plan.shares_fen == 4_000  # leftover fen stay with patronage
    by_id = {m.household_id: m for m in plan.members}
    assert [by_id[h].patronage_fen for h in (1, 2, 3)] == [1_800, 4_201, 0]
    assert [by_id[h].share_fen for h in (1, 2, 3)] == [2_000, 2_000, 0]
    assert sum(m.total_fen for m in plan.members) == 10_001
    journal = plan.journal(datetime(2027, 1, 20, tzinfo=UTC))
    assert journal.problems() == [] and journal.legs["cooperative:1:retained"] == 10_001


def test_a_patronage_return_below_60_percent_is_refused_naming_the_law() -> None:
    with pytest.raises(PolicyError, match=r"art\. 44"):
        plan_surplus(
            cooperative_id=1,
            year=2026,
            policy_version=1,
            patronage_return_bp=5_999,
            distributable_fen=100,
            members={1: ("M1", 1, 0, 0, 0)},
        )


async def test_the_distribution_is_posted_once_and_excludes_non_members(db_url: str, engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        world = await seed(conn)
        member = world.households[0]
        # A household of another cooperative delivering to this one's lot: a non-member (art. 41).
        other = await seed(conn)
        outsider = await add_household(conn, other, HouseholdCategory.ORDINARY, cooperative=other.coop)
        rich = await add_household(conn, world, HouseholdCategory.ORDINARY, capital=50_000)
        mixed = await add_lot(conn, world, [(member, 5, "A", 0), (outsider, 5, "A", 0), (rich, 1, "A", 0)])
        for lot in (world.lots[0], mixed):
            _, (line,) = await add_order(conn, world, [(world.coop_sku, 1, 100_000)])
            await draw(conn, line, lot, 1)
        await post_lines(conn)
    async with engine.begin() as conn:
        plan = await distribute_surplus(conn, world.coop, 2026, occurred_at=datetime(2027, 1, 15, tzinfo=UTC))
    assert plan.distributable_fen > 0
    assert plan.non_member_volume_fen > 0
    assert outsider not in {m.household_id for m in plan.members}
    assert sum(m.total_fen for m in plan.members) == plan.distributable_fen
    assert plan.patronage_fen * 10_000 >= plan.distributable_fen * 6_000
    by_id = {m.household_id: m for m in plan.members}
    assert by_id[rich].share_fen == plan.shares_fen  # the only member with capital takes the shares part
    async with engine.connect() as conn:
        ledger = await balances(conn)
        assert f"cooperative:{world.coop}:retained" not in ledger  # fully distributed
        assert await conn.scalar(select(func.count()).select_from(SurplusDistribution)) == 1
        report = await verify(conn)
        assert report.ok, report.as_dict()
    with pytest.raises(SurplusError, match=r"已于 .* 分配"):
        async with engine.begin() as conn:
            await distribute_surplus(conn, world.coop, 2026)
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Journal).where(Journal.kind == "surplus")) == 1


async def test_a_dry_run_writes_nothing_and_an_empty_year_is_an_error(db_url: str, engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        world = await seed(conn)
        _, (line,) = await add_order(conn, world, [(world.coop_sku, 1, 50_000)])
        await draw(conn, line, world.lots[0], 1)
        await post_lines(conn)
    async with engine.begin() as conn:
        plan = await distribute_surplus(conn, world.coop, 2026, dry_run=True)
        assert plan.distributable_fen > 0
        assert await conn.scalar(select(func.count()).select_from(SurplusDistribution)) == 0
        with pytest.raises(SurplusError, match="没有可分配盈余"):
            await distribute_surplus(conn, world.coop, 2027)
