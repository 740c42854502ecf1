"""What the store holds, counted for people: the scenario summary the demo prints."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bangfu.enums import HouseholdCategory, SupplierKind, UnitType
from bangfu.models import (
    Certification,
    Cooperative,
    Host,
    Household,
    Product,
    PurchasingUnit,
    Region,
    Shop,
    Sku,
    SplitPolicy,
    Supplier,
    SupplyLot,
    UnitTarget,
)


@dataclass(frozen=True, slots=True)
class StoreSummary:
    regions: int
    suppliers: int
    cooperatives: int
    enterprises: int
    households_by_category: dict[HouseholdCategory, int]
    products: int
    skus: int
    certified_products: int
    lots: int
    units_in_stock: int
    units: int
    schools: int
    target_fen: int
    shops_by_platform: dict[str, int]
    hosts: int
    policies: int

    @property
    def households(self) -> int:
        return sum(self.households_by_category.values())


async def summarise(session: AsyncSession, year: int) -> StoreSummary:
    async def count(statement: object) -> int:
        return int(await session.scalar(statement) or 0)  # type: ignore[call-overload]

    by_category = {
        HouseholdCategory(category): n
        for category, n in (
            await session.execute(select(Household.category, func.count()).group_by(Household.category))
        )
    }
    shops = {
        str(platform): n
        for platform, n in (
            await session.execute(select(Shop.platform, func.count()).group_by(Shop.platform).order_by(Shop.platform))
        )
    }
    return StoreSummary(
        regions=await count(select(func.count()).select_from(Region)),
        suppliers=await count(select(func.count()).select_from(Supplier)),
        cooperatives=await count(select(func.count()).select_from(Cooperative)),
        enterprises=await count(
            select(func.count()).select_from(Supplier).where(Supplier.kind == SupplierKind.ENTERPRISE)
        ),
        households_by_category={c: by_category.get(c, 0) for c in HouseholdCategory},
        products=await count(select(func.count()).select_from(Product)),
        skus=await count(select(func.count()).select_from(Sku)),
        certified_products=await count(
            select(func.count(func.distinct(Certification.product_id))).where(Certification.status == "valid")
        ),
        lots=await count(select(func.count()).select_from(SupplyLot)),
        units_in_stock=await count(select(func.coalesce(func.sum(SupplyLot.remaining), 0))),
        units=await count(select(func.count()).select_from(PurchasingUnit)),
        schools=await count(
            select(func.count()).select_from(PurchasingUnit).where(PurchasingUnit.unit_type == UnitType.SCHOOL)
        ),
        target_fen=await count(
            select(func.coalesce(func.sum(UnitTarget.target_fen), 0)).where(UnitTarget.year == year)
        ),
        shops_by_platform=shops,
        hosts=await count(select(func.count()).select_from(Host)),
        policies=await count(select(func.count()).select_from(SplitPolicy)),
    )
