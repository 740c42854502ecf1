from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bangfu.demo.catalog import default_catalog
from bangfu.demo.scenario import SCENARIO_YEAR, build_scenario, load_scenario
from bangfu.demo.summary import summarise
from bangfu.enums import HouseholdCategory, SupplierKind
from bangfu.models import Shop, SplitPolicy, SupplyLot


def test_scenario_is_deterministic_and_shaped_like_seed_000() -> None:
    a, b = build_scenario(11, households=500), build_scenario(11, households=500)
    assert a == b
    assert build_scenario(12, households=500) != a
    assert len(a.cooperatives) == 17
    assert Counter(r.kind for r in a.cooperatives) == {SupplierKind.COOPERATIVE: 10, SupplierKind.ENTERPRISE: 7}
    assert len({r.spu_code for r in a.products}) == 130
    names = {r.name for r in a.products}
    for product in ("冬虫夏草", "藏贝母", "高原籼米", "藏红花", "青稞饼干", "牦牛肉", "獐子菌"):
        assert any(product in n for n in names), product
    categories = Counter(r.category for r in a.households)
    assert categories[HouseholdCategory.LIFTED] > 100 and categories[HouseholdCategory.MONITORED] > 10
    assert sum(1 for u in a.units if u.unit_type.value == "school") == 66
    assert {s.sku_code for s in default_catalog()} == {r.sku_code for r in a.products}


async def test_loading_twice_is_idempotent(sessions: async_sessionmaker[AsyncSession]) -> None:
    scenario = build_scenario(3, households=200)
    steps: list[str] = []
    first = await load_scenario(sessions, scenario, on_step=steps.append)
    assert steps == ["cooperatives", "households", "products", "lots", "units", "setup"]
    assert first["households"].created == 200
    second = await load_scenario(sessions, scenario)
    assert all(r.created == 0 and r.updated == 0 for r in second.values())
    async with sessions() as session:
        summary = await summarise(session, SCENARIO_YEAR)
        assert summary.households == 200 and summary.products == 130 and summary.schools == 66
        assert set(summary.shops_by_platform) == {"taobao", "tmall", "jd", "douyin", "kuaishou", "youzan", "selfmall"}
        assert await session.scalar(select(func.count()).select_from(Shop)) == 7
        assert await session.scalar(select(func.count()).select_from(SplitPolicy)) == 10
        assert (await session.scalar(select(func.min(SplitPolicy.patronage_return_bp))) or 0) >= 6000
        assert summary.units_in_stock == await session.scalar(select(func.sum(SupplyLot.quantity)))
