"""A small county for the posting, surplus and verify tests, written with plain inserts.

Attribution and allocation rows are inserted directly (their stages are tested elsewhere), the
way ``workers/attribution.py`` and ``workers/lot_draws.py`` leave them: one attribution per
line, positive draws keyed ``line:<line>:lot:<lot>``, and ``line_accounting.input_rev`` bumped.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import column, insert, inspect, select, table, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import (
    AttributionConfidence,
    ChannelType,
    HostKind,
    HouseholdCategory,
    OrderStatus,
    PlatformKind,
    RefundStatus,
    SettlementKind,
    SupplierKind,
)
from bangfu.models import (
    Cooperative,
    Host,
    Household,
    LineAccounting,
    LineAttribution,
    LiveSession,
    LotAllocation,
    LotContribution,
    MemberAccount,
    Order,
    OrderLine,
    Product,
    Refund,
    Region,
    SettlementLine,
    Shop,
    Sku,
    SplitPolicy,
    Supplier,
    SupplyLot,
)

PAID_AT = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
_seq = itertools.count(1)


def rules(
    retention: int = 800, collective: int = 500, bonus: int = 300, patronage: int = 6000, **extra: Any
) -> dict[str, Any]:
    return {
        "retention_bp": retention,
        "collective_bp": collective,
        "priority_bonus_bp": bonus,
        "grade_coefficients": {"A": 100, "B": 90, "C": 80},
        "patronage_return_bp": patronage,
        "estimates_bp": {"platform_fee": 500, "payment_fee": 60, "logistics": 800},
        **extra,
    }


@dataclass
class World:
    shop: int
    coop: int
    coop_supplier: int
    enterprise: int
    coop_sku: int
    enterprise_sku: int
    host: int
    session: int
    households: list[int] = field(default_factory=list)
    lots: list[int] = field(default_factory=list)


async def _id(conn: AsyncConnection, table: Any, **values: Any) -> int:
    new_id = await conn.scalar(insert(table).values(**values).returning(table.id))
    assert new_id is not None
    return int(new_id)


async def seed(
    conn: AsyncConnection,
    *,
    policy: dict[str, Any] | None = None,
    households: list[tuple[HouseholdCategory, int, str, int]] | None = None,
    commission_bp: int = 1000,
) -> World:
    """A county, a cooperative with member households and one lot, an enterprise, a shop, a host."""
    n = next(_seq)
    county = await _id(conn, Region, code=f"6301{n:04d}", name="县", level="county")
    coop_supplier = await _id(
        conn, Supplier, credit_code=f"93{n:016d}", name="牦牛合作社", kind=SupplierKind.COOPERATIVE, county_id=county
    )
    coop = await _id(conn, Cooperative, supplier_id=coop_supplier)
    enterprise = await _id(
        conn, Supplier, credit_code=f"91{n:016d}", name="肉联厂", kind=SupplierKind.ENTERPRISE, county_id=county
    )
    coop_product = await _id(
        conn, Product, spu_code=f"P{n}C", name="牦牛肉", category="meat", supplier_id=coop_supplier
    )
    ent_product = await _id(conn, Product, spu_code=f"P{n}E", name="罐头", category="meat", supplier_id=enterprise)
    coop_sku = await _id(
        conn, Sku, sku_code=f"S{n}C", product_id=coop_product, spec="500g", unit="袋", retail_price_fen=9900
    )
    enterprise_sku = await _id(
        conn, Sku, sku_code=f"S{n}E", product_id=ent_product, spec="1罐", unit="罐", retail_price_fen=3000
    )
    shop = await _id(
        conn,
        Shop,
        name=f"店{n}",
        platform=PlatformKind.DOUYIN,
        channel_type=ChannelType.LIVE,
        platform_shop_id=f"shop{n}",
        settings={},
    )
    host = await _id(
        conn,
        Host,
        name="主播",
        kind=HostKind.INFLUENCER,
        platform="douyin",
        author_id=f"a{n}",
        commission_bp=commission_bp,
    )
    session = await _id(
        conn, LiveSession, shop_id=shop, room_id=f"room{n}", host_id=host, started_at=PAID_AT.replace(hour=2)
    )
    await conn.execute(
        insert(SplitPolicy).values(
            cooperative_id=coop,
            version=1,
            effective_from=date(2026, 1, 1),
            patronage_return_bp=(policy or rules())["patronage_return_bp"],
            rules=policy or rules(),
        )
    )
    world = World(shop, coop, coop_supplier, enterprise, coop_sku, enterprise_sku, host, session)
    plan = households or [
        (HouseholdCategory.LIFTED, 60, "A", 2000),
        (HouseholdCategory.ORDINARY, 30, "B", 1500),
        (HouseholdCategory.MONITORED, 10, "C", 0),
    ]
    lot = await add_lot(conn, world, [(await add_household(conn, world, cat), q, g, p) for cat, q, g, p in plan])
    world.lots.append(lot)
    return world


async def add_household(
    conn: AsyncConnection,
    world: World,
    category: HouseholdCategory,
    *,
    cooperative: int | None = None,
    capital: int = 0,
    reserve: int = 0,
    subsidy: int = 0,
) -> int:
    coop = cooperative or world.coop
    hid = await _id(
        conn,
        Household,
        cooperative_id=coop,
        member_no=f"M{next(_seq)}",
        head_name="户主",
        category=category,
        village="村",
    )
    await conn.execute(
        insert(MemberAccount).values(
            household_id=hid, capital_fen=capital, reserve_share_fen=reserve, subsidy_share_fen=subsidy
        )
    )
    if coop == world.coop:
        world.households.append(hid)
    return hid


async def add_lot(
    conn: AsyncConnection, world: World, deliveries: list[tuple[int, int, str, int]], *, sku: int | None = None
) -> int:
    """A lot of the cooperative: (household, quantity, grade, guaranteed price per unit)."""
    total = sum(q for _, q, _, _ in deliveries)
    values = {
        "lot_code": f"L{next(_seq)}",
        "sku_id": sku or world.coop_sku,
        "cooperative_id": world.coop,
        "received_on": date(2026, 2, 1),
        "quantity": total,
        "remaining": total,
    }
    columns = await conn.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns("supply_lots")})
    if "trace_code" in columns:
        lot = await _id(conn, SupplyLot, **values)
    else:  # a store migrated only up to a revision before 0027 (migration tests): no code column yet
        values |= {"created_at": PAID_AT, "updated_at": PAID_AT}  # the model's defaults, but the code's
        old = table("supply_lots", column("id"), *(column(name) for name in values))
        found = await conn.scalar(insert(old).values(**values).returning(old.c.id))
        assert found is not None
        lot = int(found)
    for hid, quantity, grade, price in deliveries:
        await conn.execute(
            insert(LotContribution).values(
                lot_id=lot, household_id=hid, quantity=quantity, grade=grade, guaranteed_price_fen=price
            )
        )
    return lot


async def add_order(
    conn: AsyncConnection,
    world: World,
    lines: list[tuple[int | None, int, int]],
    *,
    paid_at: datetime = PAID_AT,
    status: OrderStatus = OrderStatus.PAID,
) -> tuple[str, list[int]]:
    """An order with lines (sku, quantity, paid fen); returns its platform id and line ids."""
    n = next(_seq)
    platform_order_id = f"O{n}"
    order = await _id(
        conn,
        Order,
        shop_id=world.shop,
        platform_order_id=platform_order_id,
        status=status,
        status_rank=status.rank,
        platform_status="x",
        created_at=paid_at,
        paid_at=paid_at if status.is_paid else None,
        modified_at=paid_at,
        paid_fen=sum(p for _, _, p in lines),
    )
    ids = []
    for index, (sku, quantity, paid) in enumerate(lines):
        ids.append(
            await _id(
                conn,
                OrderLine,
                order_id=order,
                shop_id=world.shop,
                platform_line_id=f"{platform_order_id}-{index}",
                sku_id=sku,
                platform_item_id="item",
                quantity=quantity,
                unit_price_fen=paid // max(quantity, 1),
                paid_fen=paid,
            )
        )
    return platform_order_id, ids


async def bump(conn: AsyncConnection, line_id: int) -> None:
    await conn.execute(
        update(LineAccounting)
        .where(LineAccounting.order_line_id == line_id)
        .values(input_rev=LineAccounting.input_rev + 1)
    )


async def attribute(conn: AsyncConnection, world: World, line_id: int, host: int | None) -> None:
    """Attribute (or re-attribute) a line to the world's session with ``host``."""
    existing = await conn.scalar(select(LineAttribution.id).where(LineAttribution.order_line_id == line_id))
    values = {
        "session_id": world.session if host else None,
        "host_id": host,
        "confidence": AttributionConfidence.EXACT if host else AttributionConfidence.NONE,
        "rule": "room_id" if host else "none",
        "line_version": 1,
    }
    if existing is None:
        await conn.execute(insert(LineAttribution).values(order_line_id=line_id, shop_id=world.shop, **values))
    else:
        await conn.execute(update(LineAttribution).where(LineAttribution.id == existing).values(**values))
    await bump(conn, line_id)


async def draw(conn: AsyncConnection, line_id: int, lot_id: int, quantity: int) -> None:
    await conn.execute(
        insert(LotAllocation).values(
            source_key=f"line:{line_id}:lot:{lot_id}", order_line_id=line_id, lot_id=lot_id, quantity=quantity
        )
    )
    await conn.execute(update(SupplyLot).where(SupplyLot.id == lot_id).values(remaining=SupplyLot.remaining - quantity))
    await bump(conn, line_id)


async def add_refund(
    conn: AsyncConnection,
    world: World,
    platform_order_id: str,
    line_id: int,
    *,
    amount: int = 0,
    quantity: int | None = None,
    at: datetime | None = None,
    status: RefundStatus = RefundStatus.SUCCEEDED,
) -> int:
    when = at or PAID_AT.replace(day=5)
    return await _id(
        conn,
        Refund,
        shop_id=world.shop,
        platform_refund_id=f"R{next(_seq)}",
        platform_order_id=platform_order_id,
        order_line_id=line_id,
        status=status,
        status_rank=status.rank,
        platform_status="x",
        amount_fen=amount,
        quantity=quantity,
        created_at=when,
        modified_at=when,
    )


async def add_bill_line(
    conn: AsyncConnection,
    world: World,
    platform_order_id: str,
    kind: SettlementKind,
    amount: int,
    *,
    platform_line_id: str | None = None,
    at: datetime | None = None,
) -> None:
    await conn.execute(
        insert(SettlementLine).values(
            shop_id=world.shop,
            platform_bill_id=f"B{next(_seq)}",
            platform_order_id=platform_order_id,
            platform_line_id=platform_line_id,
            kind=kind,
            amount_fen=amount,
            settled_at=at or PAID_AT.replace(day=10),
        )
    )
