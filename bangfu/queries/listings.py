"""Listings (商品对应) for the operator: every platform item/SKU of the user's shops and the hub
SKU it maps to, unmapped first with suggestions, the sales waiting on each unmapped one, the
channel price set for its SKU and the last price push.

Shared by ``/operator/listings``, its JSON (``/api/v1/operator/listings``) and ``bangfu
listings list`` (admin scope), so they never disagree. The admin sees every shop, an operator
their named shops; for everyone else each function returns None (the web answers 404), as for
a listing or shop outside the scope.

*Waiting* sales are paid order lines (order paid, not pending payment or cancelled) whose SKU
is unknown (``order_lines.sku_id`` NULL): they are kept, and flow on to lot allocation and
posting once their listing is mapped (:mod:`bangfu.listing_map`). A key seen only in orders
(the product sync never listed it) shows as an unmapped listing of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bangfu.errors import UserError
from bangfu.importing import FileError, ImportRejected, parse_rows
from bangfu.importing.loaders import LoadResult, load_listing_map
from bangfu.importing.rows import ListingMapRow
from bangfu.listing_map import ListingKey, SkuChoice, Suggestion, set_mapping, suggest
from bangfu.models import ChannelPrice, Listing, Order, OrderLine, PricePush, Product, Shop, Sku, User, order_is_paid
from bangfu.queries.operator import operates
from bangfu.scope import Scope

STATUSES = ("all", "unmapped", "mapped")


@dataclass(frozen=True)
class PushView:
    status: str
    price_fen: int
    error: str | None
    created_at: datetime
    done_at: datetime | None


@dataclass
class ListingRow:
    listing_id: int | None  # None: seen only in orders
    shop_id: int
    shop_name: str
    platform: str
    platform_item_id: str
    platform_sku_id: str
    outer_id: str | None
    title: str
    price_fen: int | None
    platform_stock: int | None
    on_sale: bool
    sku_id: int | None
    sku_code: str | None
    sku_name: str | None
    mapping: str  # auto | manual | none (seen only in orders)
    mapped_by: str | None
    mapped_at: datetime | None
    waiting_lines: int = 0
    waiting_units: int = 0
    waiting_fen: int = 0
    waiting_since: datetime | None = None
    suggestions: list[Suggestion] = field(default_factory=list)
    channel_price_fen: int | None = None
    last_push: PushView | None = None

    @property
    def key(self) -> str:
        return f"{self.shop_id}:{self.platform_item_id}:{self.platform_sku_id}"


@dataclass
class ListingsPage:
    items: list[ListingRow]
    total: int  # rows after the filters
    unmapped: int  # in the scope, before the filters
    waiting_lines: int
    waiting_fen: int
    waiting_since: datetime | None
    shops: list[tuple[int, str]]
    skus: list[SkuChoice]


class MappingError(UserError):
    """A map/price request names something that does not exist; ``field`` says which input."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        super().__init__(message)


def _sku_name(product: str | None, spec: str | None) -> str | None:
    if product is None:
        return None
    return f"{product} {spec}" if spec else product


async def sku_choices(conn: AsyncConnection) -> list[SkuChoice]:
    rows = await conn.execute(
        select(Sku.id, Sku.sku_code, Product.name, Sku.spec)
        .join(Product, Product.id == Sku.product_id)
        .where(Sku.active.is_(True))
        .order_by(Sku.sku_code)
    )
    return [SkuChoice(r.id, r.sku_code, _sku_name(r.name, r.spec) or r.sku_code) for r in rows]


async def _waiting(conn: AsyncConnection, scope: Scope, shop_id: int | None) -> dict[tuple[int, str, str], Any]:
    sku_key = func.coalesce(OrderLine.platform_sku_id, "")
    query = (
        select(
            OrderLine.shop_id,
            OrderLine.platform_item_id,
            sku_key.label("sku_key"),
            func.count().label("lines"),
            func.sum(OrderLine.quantity).label("units"),
            func.sum(OrderLine.paid_fen).label("paid"),
            func.min(Order.paid_at).label("since"),
            func.max(OrderLine.title).label("title"),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            OrderLine.sku_id.is_(None),
            order_is_paid(),
            scope.shops(OrderLine.shop_id),
        )
        .group_by(OrderLine.shop_id, OrderLine.platform_item_id, sku_key)
    )
    if shop_id is not None:
        query = query.where(OrderLine.shop_id == shop_id)
    return {(r.shop_id, r.platform_item_id, r.sku_key): r for r in await conn.execute(query)}


async def listings_page(
    conn: AsyncConnection,
    scope: Scope,
    *,
    shop_id: int | None = None,
    status: str = "all",
    q: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> ListingsPage | None:
    """Listings of the user's shops: unmapped first (most money waiting first), then by shop
    and title; ``status`` filters mapped/unmapped, ``q`` matches title, ids, outer id or SKU
    code. None for a user who runs no shops or a ``shop_id`` outside the scope."""
    if not operates(scope) or status not in STATUSES:
        return None
    shops = [
        (r.id, r.name, r.platform.value)
        for r in await conn.execute(
            select(Shop.id, Shop.name, Shop.platform).where(scope.shops(Shop.id)).order_by(Shop.id)
        )
    ]
    names = {sid: (name, platform) for sid, name, platform in shops}
    if shop_id is not None and shop_id not in names:
        return None
    mapper = User.__table__.alias("mapper")
    query = (
        select(
            Listing.id,
            Listing.shop_id,
            Listing.platform_item_id,
            Listing.platform_sku_id,
            Listing.outer_id,
            Listing.title,
            Listing.price_fen,
            Listing.platform_stock,
            Listing.on_sale,
            Listing.sku_id,
            Listing.mapping,
            Listing.mapped_at,
            Sku.sku_code,
            Sku.spec,
            Product.name.label("product"),
            mapper.c.name.label("mapped_by"),
        )
        .outerjoin(Sku, Sku.id == Listing.sku_id)
        .outerjoin(Product, Product.id == Sku.product_id)
        .outerjoin(mapper, mapper.c.id == Listing.mapped_by)
        .where(scope.shops(Listing.shop_id))
    )
    if shop_id is not None:
        query = query.where(Listing.shop_id == shop_id)
    waiting = await _waiting(conn, scope, shop_id)
    rows: list[ListingRow] = []
    for r in await conn.execute(query):
        name, platform = names[r.shop_id]
        row = ListingRow(
            r.id,
            r.shop_id,
            name,
            platform,
            r.platform_item_id,
            r.platform_sku_id,
            r.outer_id,
            r.title or "",
            r.price_fen,
            r.platform_stock,
            bool(r.on_sale),
            r.sku_id,
            r.sku_code,
            _sku_name(r.product, r.spec),
            r.mapping,
            r.mapped_by,
            r.mapped_at,
        )
        w = waiting.pop((r.shop_id, r.platform_item_id, r.platform_sku_id), None)
        if w is not None and r.sku_id is None:
            row.waiting_lines, row.waiting_units, row.waiting_fen = int(w.lines), int(w.units or 0), int(w.paid or 0)
            row.waiting_since = w.since
        rows.append(row)
    for (sid, item, sku), w in waiting.items():  # seen only in orders
        name, platform = names[sid]
        rows.append(
            ListingRow(
                None,
                sid,
                name,
                platform,
                item,
                sku,
                None,
                w.title or "",
                None,
                None,
                True,
                None,
                None,
                None,
                "none",
                None,
                None,
                int(w.lines),
                int(w.units or 0),
                int(w.paid or 0),
                w.since,
            )
        )
    unmapped = sum(1 for r in rows if r.sku_id is None)
    total_lines = sum(r.waiting_lines for r in rows)
    total_fen = sum(r.waiting_fen for r in rows)
    since = min((r.waiting_since for r in rows if r.waiting_since is not None), default=None)
    if status != "all":
        rows = [r for r in rows if (r.sku_id is None) == (status == "unmapped")]
    if q:
        needle = q.strip().lower()
        rows = [
            r
            for r in rows
            if any(
                needle in (text or "").lower()
                for text in (r.title, r.platform_item_id, r.platform_sku_id, r.outer_id, r.sku_code)
            )
        ]
    rows.sort(
        key=lambda r: (r.sku_id is not None, -r.waiting_fen, r.shop_id, r.title, r.platform_item_id, r.platform_sku_id)
    )
    page = rows[offset : offset + limit]
    skus = await sku_choices(conn)
    for row in page:
        if row.sku_id is None:
            row.suggestions = suggest(row.outer_id, row.title, skus)
    await _prices_and_pushes(conn, page)
    return ListingsPage(
        page, len(rows), unmapped, total_lines, total_fen, since, [(sid, name) for sid, name, _ in shops], skus
    )


async def _prices_and_pushes(conn: AsyncConnection, rows: list[ListingRow]) -> None:
    mapped = [r for r in rows if r.sku_id is not None]
    if mapped:
        prices = {
            (p.sku_id, p.shop_id): p.price_fen
            for p in await conn.execute(
                select(ChannelPrice.sku_id, ChannelPrice.shop_id, ChannelPrice.price_fen).where(
                    ChannelPrice.sku_id.in_(sorted({r.sku_id for r in mapped if r.sku_id is not None}))
                )
            )
        }
        for r in mapped:
            r.channel_price_fen = prices.get((r.sku_id, r.shop_id))
    ids = [r.listing_id for r in rows if r.listing_id is not None]
    if ids:
        latest = (
            select(func.max(PricePush.id)).where(PricePush.listing_id.in_(ids)).group_by(PricePush.listing_id)
        ).scalar_subquery()
        pushes = {
            p.listing_id: PushView(p.status, p.price_fen, p.error, p.created_at, p.done_at)
            for p in (await conn.execute(select(PricePush).where(PricePush.id.in_(latest)))).scalars()
        }
        for r in rows:
            if r.listing_id is not None:
                r.last_push = pushes.get(r.listing_id)


async def _shop_in_scope(conn: AsyncConnection, scope: Scope, shop_id: int) -> bool:
    return await conn.scalar(select(Shop.id).where(Shop.id == shop_id, scope.shops(Shop.id))) is not None


async def map_listing(
    conn: AsyncConnection,
    scope: Scope,
    key: ListingKey,
    sku_code: str | None,
    *,
    user_id: int | None,
    now: datetime,
) -> tuple[int, int] | None:
    """Map (``sku_code`` None: unmap) one listing by hand; (listing id, lines that flow on), or
    None when the shop is outside the scope. An unknown SKU code raises :class:`MappingError`.
    A key without a listing is mapped only if orders name it (else there is nothing to map)."""
    if not operates(scope) or not await _shop_in_scope(conn, scope, key.shop_id):
        return None
    sku_id = None
    if sku_code is not None:
        sku_id = await conn.scalar(select(Sku.id).where(Sku.sku_code == sku_code.strip()))
        if sku_id is None:
            raise MappingError("sku_code", f"no SKU with code {sku_code.strip()}")
    known = await conn.scalar(
        select(Listing.id).where(
            Listing.shop_id == key.shop_id,
            Listing.platform_item_id == key.platform_item_id,
            Listing.platform_sku_id == key.platform_sku_id,
        )
    )
    if known is None:
        seen = await conn.scalar(
            select(func.count()).where(
                OrderLine.shop_id == key.shop_id,
                OrderLine.platform_item_id == key.platform_item_id,
                func.coalesce(OrderLine.platform_sku_id, "") == key.platform_sku_id,
            )
        )
        if not seen:
            return None
    return await set_mapping(conn, key, sku_id, user_id=user_id, now=now)


async def listing_key(conn: AsyncConnection, scope: Scope, listing_id: int) -> ListingKey | None:
    if not operates(scope):
        return None
    row = (
        await conn.execute(
            select(Listing.shop_id, Listing.platform_item_id, Listing.platform_sku_id).where(
                Listing.id == listing_id, scope.shops(Listing.shop_id)
            )
        )
    ).first()
    return None if row is None else ListingKey(row.shop_id, row.platform_item_id, row.platform_sku_id)


async def bulk_map(
    engine: AsyncEngine, scope: Scope, path: Path, *, user_id: int | None, shown_name: str | None = None
) -> LoadResult | None:
    """Map listings from a CSV/XLSX file (the ``listings`` import kind), all or nothing, only in
    the user's shops: raises :class:`ImportRejected` with file:row:field errors (``shown_name``
    is the file name the errors use, for an upload saved under another path)."""
    if not operates(scope):
        return None
    name = shown_name or str(path)
    parsed = parse_rows("listings", path)
    errors = [FileError(name, e.row, e.field, e.reason) for e in parsed.errors]
    if not parsed.rows:
        raise ImportRejected(name, errors)
    shop_ids = None if scope.shop_ids is None else frozenset(scope.shop_ids)
    from sqlalchemy.ext.asyncio import AsyncSession

    async with AsyncSession(engine) as session, session.begin():
        rows = [(n, r) for n, r in parsed.rows if isinstance(r, ListingMapRow)]
        result = await load_listing_map(session, rows, partial=bool(parsed.errors), shop_ids=shop_ids, user_id=user_id)
        errors += [FileError(name, e.row, parsed.columns.get(e.field, e.field), e.reason) for e in result.errors]
        if errors:
            raise ImportRejected(name, errors)  # rolls the transaction back
    return result


async def set_channel_price(
    conn: AsyncConnection,
    scope: Scope,
    sku_code: str,
    shop_id: int,
    price_fen: int,
    *,
    user_id: int | None,
    now: datetime,
) -> bool | None:
    """Set the price (fen) of a SKU on a shop; None when the shop is outside the scope. An
    unknown SKU or a price out of range raises :class:`MappingError`. True when it changed."""
    if not operates(scope) or not await _shop_in_scope(conn, scope, shop_id):
        return None
    if isinstance(price_fen, bool) or not 0 < price_fen <= 100_000_000:
        raise MappingError("price", "the price must be ¥0.01 to ¥1,000,000")
    sku_id = await conn.scalar(select(Sku.id).where(Sku.sku_code == sku_code.strip()))
    if sku_id is None:
        raise MappingError("sku_code", f"no SKU with code {sku_code.strip()}")
    row = (
        await conn.execute(
            select(ChannelPrice.id, ChannelPrice.price_fen).where(
                ChannelPrice.sku_id == sku_id, ChannelPrice.shop_id == shop_id
            )
        )
    ).first()
    table: Table = ChannelPrice.__table__  # type: ignore[assignment]
    if row is None:
        await conn.execute(
            table.insert().values(sku_id=sku_id, shop_id=shop_id, price_fen=price_fen, set_by=user_id, set_at=now)
        )
        return True
    if row.price_fen == price_fen:
        return False
    await conn.execute(
        table.update().where(table.c.id == row.id).values(price_fen=price_fen, set_by=user_id, set_at=now)
    )
    return True


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def listings_as_json(page: ListingsPage) -> dict[str, Any]:
    return {
        "total": page.total,
        "unmapped": page.unmapped,
        "waiting": {"lines": page.waiting_lines, "paid_fen": page.waiting_fen, "since": _time(page.waiting_since)},
        "items": [
            {
                "listing_id": r.listing_id,
                "shop_id": r.shop_id,
                "shop_name": r.shop_name,
                "platform": r.platform,
                "platform_item_id": r.platform_item_id,
                "platform_sku_id": r.platform_sku_id,
                "outer_id": r.outer_id,
                "title": r.title,
                "price_fen": r.price_fen,
                "platform_stock": r.platform_stock,
                "on_sale": r.on_sale,
                "sku_id": r.sku_id,
                "sku_code": r.sku_code,
                "sku_name": r.sku_name,
                "mapping": r.mapping,
                "mapped_by": r.mapped_by,
                "mapped_at": _time(r.mapped_at),
                "waiting": {
                    "lines": r.waiting_lines,
                    "units": r.waiting_units,
                    "paid_fen": r.waiting_fen,
                    "since": _time(r.waiting_since),
                },
                "suggestions": [
                    {"sku_id": s.sku_id, "sku_code": s.sku_code, "name": s.name, "reason": s.reason, "score": s.score}
                    for s in r.suggestions
                ],
                "channel_price_fen": r.channel_price_fen,
                "last_price_push": None
                if r.last_push is None
                else {
                    "status": r.last_push.status,
                    "price_fen": r.last_push.price_fen,
                    "error": r.last_push.error,
                    "created_at": _time(r.last_push.created_at),
                    "done_at": _time(r.last_push.done_at),
                },
            }
            for r in page.items
        ],
    }


__all__ = [
    "STATUSES",
    "ListingRow",
    "ListingsPage",
    "MappingError",
    "PushView",
    "bulk_map",
    "listing_key",
    "listings_as_json",
    "listings_page",
    "map_listing",
    "set_channel_price",
    "sku_choices",
]
