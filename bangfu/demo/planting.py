"""The demo county's order planting: three years of imported quarterly sell-through for its main
products (what a county loads with ``bangfu planting history import``), so their forecasts use a
seasonal model, and one purchase contract accepted for a past season with the lots delivered
against it.

Main products: the four with the most units delivered in cooperatives' lots. Their history has
a harvest-season peak (Q3), a slow Q1 and a slight growth, drawn from the seed. Safe to run
again: stored cells and contracts are kept as they are.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.clock import SHANGHAI, utcnow
from bangfu.i18n import MESSAGES, t
from bangfu.models import Household, LotContribution, PlantingContract, PlantingHistory, Sku, SupplyLot
from bangfu.planting.seasons import Season
from bangfu.store import make_engine

__all__ = ["HISTORY_SEASONS", "MAIN_PRODUCTS", "PlantingSeed", "seed_planting", "seed_planting_and_describe"]

MESSAGES.update(
    {
        "demo.planting": {
            "zh": "订单种植：导入 {products} 个主要商品 {seasons} 个季度的历史销量，签订收购合同 {contracts} 份",
            "en": "Order planting: {seasons} seasons of history imported for {products} main products, "
            "{contracts} purchase contracts",
        },
    }
)

MAIN_PRODUCTS = 4
HISTORY_SEASONS = 12  # three years: enough for ETS with a seasonal component
_FACTORS = {1: 0.65, 2: 0.9, 3: 1.45, 4: 1.1}
_CHANNELS = (("ecommerce", 45), ("live", 30), ("canteen", 15), ("union", 10))


@dataclass(frozen=True)
class PlantingSeed:
    products: int
    seasons: int
    contracts: int


async def seed_planting(conn: AsyncConnection, *, seed: int, now: datetime) -> PlantingSeed:
    rng = random.Random(seed * 7919 + 17)
    today = now.astimezone(SHANGHAI).date()
    last = Season.of(today).shift(-1)
    seasons = last.shift(-(HISTORY_SEASONS - 1)).upto(last)
    supplied = (
        await conn.execute(
            select(Sku.product_id, func.sum(SupplyLot.quantity).label("units"), func.min(Sku.retail_price_fen))
            .join(Sku, Sku.id == SupplyLot.sku_id)
            .where(SupplyLot.cooperative_id.is_not(None))
            .group_by(Sku.product_id)
            .order_by(func.sum(SupplyLot.quantity).desc(), Sku.product_id)
            .limit(MAIN_PRODUCTS)
        )
    ).all()
    stored = {
        (int(p), str(s), str(c))
        for p, s, c in await conn.execute(
            select(PlantingHistory.product_id, PlantingHistory.season, PlantingHistory.channel)
        )
    }
    imported_at = now.astimezone(UTC)
    for pid, units, price in supplied:
        base = max(60, int(units) // 2)
        for i, season in enumerate(seasons):
            level = base * (1 + 0.03 * i) * _FACTORS[season.quarter] * rng.uniform(0.9, 1.1)
            for channel, share in _CHANNELS:
                if (int(pid), season.label, channel) in stored:
                    continue
                cell_units = int(level * share / 100)
                await conn.execute(
                    insert(PlantingHistory).values(
                        product_id=int(pid), season=season.label, channel=channel, units=cell_units,
                        amount_fen=cell_units * int(price), imported_at=imported_at,
                    )
                )  # fmt: skip
    contracts = await _contract(conn, [int(p) for p, _, _ in supplied], now)
    return PlantingSeed(len(supplied), len(seasons), contracts)


async def _contract(conn: AsyncConnection, product_ids: list[int], now: datetime) -> int:
    """One contract of the main products' cooperative with the most households (the demo's
    cooperative login), for the season of its latest lot of its biggest product, a fifth above
    what that season's lots delivered (so the page shows a shortfall)."""
    if await conn.scalar(select(func.count()).select_from(PlantingContract)):
        return int(await conn.scalar(select(func.count()).select_from(PlantingContract)) or 0)
    lots = (
        await conn.execute(
            select(Sku.product_id, SupplyLot.cooperative_id, SupplyLot.received_on, SupplyLot.quantity,
                   func.max(LotContribution.guaranteed_price_fen))
            .join(Sku, Sku.id == SupplyLot.sku_id)
            .outerjoin(LotContribution, LotContribution.lot_id == SupplyLot.id)
            .where(SupplyLot.cooperative_id.is_not(None), Sku.product_id.in_(product_ids))
            .group_by(SupplyLot.id, Sku.product_id, SupplyLot.cooperative_id, SupplyLot.received_on, SupplyLot.quantity)
        )
    ).all()  # fmt: skip
    if not lots:
        return 0
    totals: dict[tuple[int, int], int] = defaultdict(int)
    for lot in lots:
        totals[(int(lot[0]), int(lot[1] or 0))] += int(lot[3])
    members = {
        int(c): int(n)
        for c, n in await conn.execute(
            select(Household.cooperative_id, func.count()).group_by(Household.cooperative_id)
        )
    }
    # The cooperative with the most households (the demo's cooperative login), its biggest product.
    pid, coop = max(totals, key=lambda k: (members.get(k[1], 0), totals[k], -k[0], -k[1]))
    own = [lot for lot in lots if (int(lot[0]), int(lot[1] or 0)) == (pid, coop)]
    latest = max(own, key=lambda lot: lot[2])
    season = Season.of(latest[2])
    delivered = sum(int(lot[3]) for lot in own if Season.of(lot[2]) == season)
    price = int(latest[4] or 0) or 100
    accepted = season.start - timedelta(days=20)
    await conn.execute(
        insert(PlantingContract).values(
            cooperative_id=coop, product_id=pid, season=season.label, quantity=delivered + max(1, delivered // 5),
            price_fen=price, forecast_units=delivered * 2, forecast_model="ets_ana", accepted_by=None,
            accepted_at=min(accepted, now),
        )
    )  # fmt: skip
    return 1


async def seed_planting_and_describe(url: str, seed: int) -> str:
    """:func:`seed_planting` on the store at ``url``, then the line the demo prints about it."""
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            made = await seed_planting(conn, seed=seed, now=utcnow())
    finally:
        await engine.dispose()
    return t("demo.planting", products=made.products, seasons=made.seasons, contracts=made.contracts)
