"""The county's own mall as its pages read it: the catalogue, a product's origin story, the
stock state (from the one truth, :func:`bangfu.stock_truth.load_stock`: what no platform holds),
and a mall order with the buyer's contact masked.

Households are only ever counted (by category), never named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Table, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import CertificationStatus
from bangfu.mall import HOLD_MINUTES, hold_minutes, mall_prices, mall_shop_id
from bangfu.models import (
    Certification,
    Cooperative,
    Household,
    LotContribution,
    MallOrder,
    Order,
    OrderLine,
    Product,
    PurchasingUnit,
    Region,
    Sku,
    Supplier,
    SupplyLot,
)
from bangfu.privacy import mask_address, mask_name, mask_phone
from bangfu.stock_truth import load_stock

__all__ = [
    "LOW_STOCK",
    "CatalogueItem",
    "MallOrderDetail",
    "ProductPage",
    "catalogue",
    "categories",
    "free_stock",
    "mall_order",
    "product_page",
    "stock_state",
]

LOW_STOCK = 10  # units: "only a few left" at or below this

PRODUCTS: Table = Product.__table__  # type: ignore[assignment]
SKUS: Table = Sku.__table__  # type: ignore[assignment]
CERTS: Table = Certification.__table__  # type: ignore[assignment]
SUPPLIERS: Table = Supplier.__table__  # type: ignore[assignment]
REGIONS: Table = Region.__table__  # type: ignore[assignment]
LOTS: Table = SupplyLot.__table__  # type: ignore[assignment]
PARTS: Table = LotContribution.__table__  # type: ignore[assignment]
HOUSEHOLDS: Table = Household.__table__  # type: ignore[assignment]
COOPS: Table = Cooperative.__table__  # type: ignore[assignment]
MALL: Table = MallOrder.__table__  # type: ignore[assignment]
ORDERS: Table = Order.__table__  # type: ignore[assignment]
LINES: Table = OrderLine.__table__  # type: ignore[assignment]
UNITS: Table = PurchasingUnit.__table__  # type: ignore[assignment]


def stock_state(free: int) -> str:
    """``in_stock`` | ``low`` | ``sold_out``."""
    if free <= 0:
        return "sold_out"
    return "low" if free <= LOW_STOCK else "in_stock"


@dataclass(frozen=True)
class Cert:
    body: str
    number: str
    valid_from: date
    valid_to: date

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_to


@dataclass
class CatalogueItem:
    product_id: int
    spu_code: str
    name: str
    category: str
    selling_points: str | None
    price_fen: int  # the lowest of its SKUs
    free: int  # units the mall may sell now, over its SKUs
    cert: Cert | None  # the certification valid today, if any

    @property
    def state(self) -> str:
        return stock_state(self.free)


async def free_stock(conn: AsyncConnection, sku_ids: list[int]) -> dict[int, int]:
    """Units of each SKU that no platform holds: what the mall may sell now."""
    return {sku_id: sku.free for sku_id, sku in (await load_stock(conn, sku_ids)).items()}


async def _valid_certs(conn: AsyncConnection, product_ids: list[int], today: date) -> dict[int, list[Cert]]:
    out: dict[int, list[Cert]] = {}
    if not product_ids:
        return out
    rows = await conn.execute(
        select(CERTS.c.product_id, CERTS.c.body, CERTS.c.number, CERTS.c.valid_from, CERTS.c.valid_to)
        .where(
            CERTS.c.product_id.in_(product_ids),
            CERTS.c.status == CertificationStatus.VALID,
            CERTS.c.valid_from <= today,
            CERTS.c.valid_to >= today,
        )
        .order_by(CERTS.c.valid_to.desc())
    )
    for r in rows:
        out.setdefault(r.product_id, []).append(Cert(r.body, r.number, r.valid_from, r.valid_to))
    return out


async def categories(conn: AsyncConnection) -> list[tuple[str, int]]:
    """Categories with active SKUs and how many products each has, by name."""
    rows = await conn.execute(
        select(PRODUCTS.c.category, func.count(func.distinct(PRODUCTS.c.id)))
        .join(SKUS, SKUS.c.product_id == PRODUCTS.c.id)
        .where(SKUS.c.active.is_(True))
        .group_by(PRODUCTS.c.category)
        .order_by(PRODUCTS.c.category)
    )
    return [(str(c), int(n)) for c, n in rows]


async def catalogue(
    conn: AsyncConnection,
    *,
    today: date,
    category: str | None = None,
    search: str | None = None,
    certified_only: bool = False,
    limit: int = 60,
) -> list[CatalogueItem]:
    """Products with an active SKU, certified first then by name; ``search`` matches the name,
    the category or the selling points (case-insensitive)."""
    query = (
        select(
            PRODUCTS.c.id,
            PRODUCTS.c.spu_code,
            PRODUCTS.c.name,
            PRODUCTS.c.category,
            PRODUCTS.c.selling_points,
        )
        .where(select(SKUS.c.id).where(SKUS.c.product_id == PRODUCTS.c.id, SKUS.c.active.is_(True)).exists())
        .order_by(PRODUCTS.c.name, PRODUCTS.c.id)
    )
    if category:
        query = query.where(PRODUCTS.c.category == category)
    if search and search.strip():
        like = f"%{search.strip().lower()}%"
        query = query.where(
            or_(
                func.lower(PRODUCTS.c.name).like(like),
                func.lower(PRODUCTS.c.category).like(like),
                func.lower(func.coalesce(PRODUCTS.c.selling_points, "")).like(like),
            )
        )
    products = (await conn.execute(query)).all()
    ids = [p.id for p in products]
    certs = await _valid_certs(conn, ids, today)
    if certified_only:
        products = [p for p in products if p.id in certs]
    products = sorted(products, key=lambda p: p.id not in certs)[:limit]
    ids = [p.id for p in products]
    skus = (
        (
            await conn.execute(select(SKUS.c.id, SKUS.c.product_id).where(SKUS.c.product_id.in_(ids), SKUS.c.active))
        ).all()
        if ids
        else []
    )
    shop_id = await mall_shop_id(conn)
    prices = await mall_prices(conn, shop_id or 0, [s.id for s in skus])
    free = await free_stock(conn, [s.id for s in skus])
    price_of: dict[int, int] = {}
    free_of: dict[int, int] = {}
    for s in skus:
        price_of[s.product_id] = min(price_of.get(s.product_id, prices[s.id]), prices[s.id])
        free_of[s.product_id] = free_of.get(s.product_id, 0) + free.get(s.id, 0)
    return [
        CatalogueItem(
            product_id=p.id,
            spu_code=p.spu_code,
            name=p.name,
            category=p.category,
            selling_points=p.selling_points,
            price_fen=price_of.get(p.id, 0),
            free=free_of.get(p.id, 0),
            cert=next(iter(certs.get(p.id, [])), None),
        )
        for p in products
    ]


@dataclass
class SkuOffer:
    sku_id: int
    sku_code: str
    spec: str
    unit: str
    price_fen: int
    retail_fen: int
    free: int

    @property
    def state(self) -> str:
        return stock_state(self.free)


@dataclass
class Origin:
    """Where the product's current lots (those with units left) come from."""

    cooperatives: list[str] = field(default_factory=list)
    lots: int = 0
    households: int = 0  # distinct member households with produce in them
    by_category: dict[str, int] = field(default_factory=dict)  # household category -> count


@dataclass
class ProductPage:
    product_id: int
    spu_code: str
    name: str
    category: str
    selling_points: list[str]
    supplier: str
    county: str | None
    skus: list[SkuOffer]
    certs: list[Cert]
    origin: Origin

    @property
    def free(self) -> int:
        return sum(s.free for s in self.skus)


async def product_page(conn: AsyncConnection, product_id: int, *, today: date) -> ProductPage | None:
    """One product with its active SKUs, or None (unknown, or nothing of it on sale)."""
    county = REGIONS.alias("county")
    row = (
        await conn.execute(
            select(
                PRODUCTS.c.id,
                PRODUCTS.c.spu_code,
                PRODUCTS.c.name,
                PRODUCTS.c.category,
                PRODUCTS.c.selling_points,
                SUPPLIERS.c.name.label("supplier"),
                county.c.name.label("county"),
            )
            .join(SUPPLIERS, SUPPLIERS.c.id == PRODUCTS.c.supplier_id)
            .outerjoin(county, county.c.id == func.coalesce(PRODUCTS.c.origin_county_id, SUPPLIERS.c.county_id))
            .where(PRODUCTS.c.id == product_id)
        )
    ).one_or_none()
    if row is None:
        return None
    skus = (
        await conn.execute(
            select(SKUS.c.id, SKUS.c.sku_code, SKUS.c.spec, SKUS.c.unit, SKUS.c.retail_price_fen)
            .where(SKUS.c.product_id == product_id, SKUS.c.active.is_(True))
            .order_by(SKUS.c.sku_code)
        )
    ).all()
    if not skus:
        return None
    shop_id = await mall_shop_id(conn)
    sku_ids = [s.id for s in skus]
    prices = await mall_prices(conn, shop_id or 0, sku_ids)
    free = await free_stock(conn, sku_ids)
    origin = Origin()
    current = LOTS.c.sku_id.in_(sku_ids) & (LOTS.c.remaining > 0)
    origin.lots = int(await conn.scalar(select(func.count()).select_from(LOTS).where(current)) or 0)
    coop_suppliers = SUPPLIERS.alias("coop_supplier")
    origin.cooperatives = [
        str(name)
        for name in (
            await conn.execute(
                select(coop_suppliers.c.name)
                .select_from(LOTS)
                .join(COOPS, COOPS.c.id == LOTS.c.cooperative_id)
                .join(coop_suppliers, coop_suppliers.c.id == COOPS.c.supplier_id)
                .where(current)
                .distinct()
                .order_by(coop_suppliers.c.name)
            )
        ).scalars()
    ]
    households = (
        select(HOUSEHOLDS.c.id, HOUSEHOLDS.c.category)
        .select_from(PARTS)
        .join(LOTS, LOTS.c.id == PARTS.c.lot_id)
        .join(HOUSEHOLDS, HOUSEHOLDS.c.id == PARTS.c.household_id)
        .where(current)
        .distinct()
        .subquery()
    )
    for category, n in await conn.execute(
        select(households.c.category, func.count()).group_by(households.c.category).order_by(households.c.category)
    ):
        origin.by_category[str(category)] = int(n)
    origin.households = sum(origin.by_category.values())
    certs = (await _valid_certs(conn, [product_id], today)).get(product_id, [])
    points = [p.strip() for p in (row.selling_points or "").replace("；", "\n").replace(";", "\n").splitlines()]
    return ProductPage(
        product_id=row.id,
        spu_code=row.spu_code,
        name=row.name,
        category=row.category,
        selling_points=[p for p in points if p],
        supplier=row.supplier,
        county=row.county,
        skus=[
            SkuOffer(s.id, s.sku_code, s.spec, s.unit, prices[s.id], int(s.retail_price_fen), free.get(s.id, 0))
            for s in skus
        ],
        certs=certs,
        origin=origin,
    )


@dataclass(frozen=True)
class CartRow:
    sku_id: int
    product_id: int
    name: str
    spec: str
    quantity: int
    price_fen: int
    free: int

    @property
    def amount_fen(self) -> int:
        return self.price_fen * self.quantity


async def cart_rows(conn: AsyncConnection, cart: dict[int, int]) -> list[CartRow]:
    """The cart's SKUs (active ones only) with the mall's prices and what is free now."""
    if not cart:
        return []
    rows = (
        await conn.execute(
            select(SKUS.c.id, SKUS.c.product_id, SKUS.c.spec, PRODUCTS.c.name)
            .join(PRODUCTS, PRODUCTS.c.id == SKUS.c.product_id)
            .where(SKUS.c.id.in_(sorted(cart)), SKUS.c.active.is_(True))
            .order_by(SKUS.c.id)
        )
    ).all()
    shop_id = await mall_shop_id(conn)
    prices = await mall_prices(conn, shop_id or 0, [r.id for r in rows])
    free = await free_stock(conn, [r.id for r in rows])
    return [CartRow(r.id, r.product_id, r.name, r.spec, cart[r.id], prices[r.id], free.get(r.id, 0)) for r in rows]


@dataclass(frozen=True)
class MallOrderLine:
    title: str
    quantity: int
    unit_price_fen: int
    paid_fen: int


@dataclass(frozen=True)
class MallOrderDetail:
    order_no: str
    state: str  # reserved | paid | released
    status: str  # the order's status in the store
    amount_fen: int
    refunded_fen: int
    buyer_name: str  # masked
    buyer_phone: str  # masked
    buyer_address: str  # masked
    unit: str | None
    campaign_code: str | None
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    paid_by: str | None
    lines: list[MallOrderLine]


async def mall_order(conn: AsyncConnection, order_no: str) -> MallOrderDetail | None:
    """A mall order as any later view shows it: the buyer's name, phone and address masked."""
    row = (
        await conn.execute(
            select(MALL, ORDERS.c.status.label("order_status"), UNITS.c.name.label("unit_name"))
            .join(ORDERS, ORDERS.c.id == MALL.c.order_id)
            .outerjoin(UNITS, UNITS.c.id == MALL.c.purchasing_unit_id)
            .where(MALL.c.order_no == order_no)
        )
    ).one_or_none()
    if row is None:
        return None
    lines = await conn.execute(
        select(LINES.c.title, LINES.c.quantity, LINES.c.unit_price_fen, LINES.c.paid_fen)
        .where(LINES.c.order_id == row.order_id)
        .order_by(LINES.c.id)
    )
    return MallOrderDetail(
        order_no=row.order_no,
        state=row.state,
        status=str(row.order_status),
        amount_fen=int(row.amount_fen),
        refunded_fen=int(row.refunded_fen),
        buyer_name=mask_name(row.buyer_name),
        buyer_phone=mask_phone(row.buyer_phone),
        buyer_address=mask_address(row.buyer_address),
        unit=row.unit_name,
        campaign_code=row.campaign_code,
        created_at=row.created_at,
        expires_at=row.expires_at,
        paid_at=row.paid_at,
        paid_by=row.paid_by,
        lines=[MallOrderLine(r.title, int(r.quantity), int(r.unit_price_fen), int(r.paid_fen)) for r in lines],
    )


async def order_no_of(conn: AsyncConnection, order_id: int) -> str | None:
    """The mall order number of a stored order (None: not a mall order)."""
    return await conn.scalar(select(MALL.c.order_no).where(MALL.c.order_id == order_id))


async def unit_name(conn: AsyncConnection, unit_id: int) -> str | None:
    return await conn.scalar(select(UNITS.c.name).where(UNITS.c.id == unit_id))


async def hold_minutes_now(conn: AsyncConnection) -> int:
    """How long a checkout holds its units (the mall shop's setting)."""
    shop_id = await mall_shop_id(conn)
    return HOLD_MINUTES if shop_id is None else await hold_minutes(conn, shop_id)


@dataclass(frozen=True)
class MallOrderRow:
    order_no: str
    state: str
    status: str
    amount_fen: int
    refunded_fen: int
    buyer_name: str  # masked
    buyer_phone: str  # masked
    unit: str | None
    campaign_code: str | None
    created_at: datetime
    paid_at: datetime | None
    paid_by: str | None

    @property
    def refundable_fen(self) -> int:
        return self.amount_fen - self.refunded_fen if self.state == "paid" else 0


async def recent_orders(conn: AsyncConnection, *, limit: int = 100) -> list[MallOrderRow]:
    """The mall's latest orders for the operator console, contacts masked."""
    rows = await conn.execute(
        select(MALL, ORDERS.c.status.label("order_status"), UNITS.c.name.label("unit_name"))
        .join(ORDERS, ORDERS.c.id == MALL.c.order_id)
        .outerjoin(UNITS, UNITS.c.id == MALL.c.purchasing_unit_id)
        .order_by(MALL.c.created_at.desc(), MALL.c.id.desc())
        .limit(limit)
    )
    return [
        MallOrderRow(
            order_no=r.order_no,
            state=r.state,
            status=str(r.order_status),
            amount_fen=int(r.amount_fen),
            refunded_fen=int(r.refunded_fen),
            buyer_name=mask_name(r.buyer_name),
            buyer_phone=mask_phone(r.buyer_phone),
            unit=r.unit_name,
            campaign_code=r.campaign_code,
            created_at=r.created_at,
            paid_at=r.paid_at,
            paid_by=r.paid_by,
        )
        for r in rows
    ]
