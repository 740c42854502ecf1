"""Stock across channels for the operator console (``/operator/stock``), one computation with
``bangfu stock push --dry-run`` (``bangfu.stock_truth``: the same truth, believed stock, shares and
targets).

Per SKU listed by a shop in scope: the **truth** (what the lots hold less sales not yet drawn),
what the listings are believed to hold, and per channel (listing) its **share** (the shop's rule
for the SKU, else the shop's default), the units **reserved** for it now (live sessions), the
target it would be pushed to, **what it was last told** (the latest confirmed push, or the read
of a takeover or settlement, with when), and its unfinished pushes (``pending``, ``failed``,
``uncertain``) with the platform's message. Listings of shops outside the scope count in the
truth's share-out but are shown only as one number (held by other shops), never by name.

Only the admin (every shop) and operators (their named shops, or every shop when none is named)
see any of it; for everyone else each function returns None (the web answers 404), as it does
for a SKU no shop in scope lists and for a shop outside the scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import UserRole
from bangfu.models import LiveSession, Product, Shop, Sku, StockReservation, StockRule
from bangfu.queries.operator import operates, shop_in_scope
from bangfu.scope import Scope
from bangfu.stock_truth import (
    DONE,
    FAILED,
    LISTINGS,
    NOT_APPLIED,
    PENDING,
    PUSHES,
    UNCERTAIN,
    SkuStock,
    load_stock,
    plan_targets,
    shares_for,
)

OPEN = (PENDING, FAILED, UNCERTAIN)  # pushes not finished: shown with the platform's message
RULES: Table = StockRule.__table__  # type: ignore[assignment]
RESERVATIONS: Table = StockReservation.__table__  # type: ignore[assignment]
SHOPS: Table = Shop.__table__  # type: ignore[assignment]
SKUS: Table = Sku.__table__  # type: ignore[assignment]
PRODUCTS: Table = Product.__table__  # type: ignore[assignment]
SESSIONS: Table = LiveSession.__table__  # type: ignore[assignment]
HISTORY = 100  # pushes shown on a SKU's page


@dataclass(frozen=True)
class PushItem:
    id: int
    listing_id: int
    shop_id: int
    shop_name: str
    sku_id: int
    sku_code: str
    delta: int
    allocated_before: int
    allocated_after: int
    stock_after: int | None  # the platform's stock after it (a takeover or settlement: as read)
    status: str  # pending | done | failed | uncertain | not_applied
    error: str | None  # the platform's message (redacted when stored)
    created_at: datetime
    done_at: datetime | None
    settled_at: datetime | None
    settled_by: str | None
    settled_stock: int | None
    settle_note: str | None

    @property
    def is_read(self) -> bool:
        """A takeover or settlement read (delta 0), not a change sent to the platform."""
        return self.delta == 0


@dataclass(frozen=True)
class ChannelStock:
    listing_id: int
    shop_id: int
    shop_name: str
    platform: str
    shop_active: bool
    platform_item_id: str
    platform_sku_id: str
    taken_over: bool
    allocated: int  # G: every unit the listing may sell since its latest read
    sold: int  # sold since that read, as far as the hub knows
    believed: int  # what the platform holds at most
    share_bp: int | None  # the rule's share (None: no rule)
    floor: int
    priority: int
    rule_for: str | None  # "sku" (the SKU's own rule), "default" (the shop's) or None
    reserved: int  # reserved for live sessions now
    target: int  # what the next push would give it
    last: PushItem | None  # what it was last told (or read), and when
    open: list[PushItem] = field(default_factory=list)


@dataclass(frozen=True)
class SkuView:
    sku_id: int
    sku_code: str
    product_name: str
    spec: str
    lots: int
    undrawn: int
    truth: int
    held: int  # Σ believed over every listing of the SKU
    held_elsewhere: int  # of which by listings of shops outside the scope
    channels: list[ChannelStock]

    @property
    def open_pushes(self) -> int:
        return sum(len(c.open) for c in self.channels)

    @property
    def uncertain(self) -> int:
        return sum(1 for c in self.channels for p in c.open if p.status == UNCERTAIN)


@dataclass(frozen=True)
class ReservationItem:
    id: int
    shop_id: int
    shop_name: str
    sku_id: int
    sku_code: str
    quantity: int
    starts_at: datetime
    ends_at: datetime
    session_id: int | None
    session_title: str | None
    note: str | None
    active: bool  # running now (held back from the other shops)


@dataclass(frozen=True)
class StockOverview:
    skus: list[SkuView]
    total: int  # SKUs matching the filters (the page shows skus)
    counts: dict[str, int]  # open pushes in scope by status
    open_pushes: list[PushItem]  # every pending, failed and uncertain push in scope, oldest first
    settled: list[PushItem]  # the latest settlements
    reservations: list[ReservationItem]  # running now or to come
    shops: list[tuple[int, str]]  # the shops in scope (the filter)


@dataclass(frozen=True)
class SkuDetail:
    sku: SkuView
    pushes: list[PushItem]  # newest first, at most HISTORY
    reservations: list[ReservationItem]


def _shop_filter(scope: Scope, shop_id: int | None) -> ColumnElement[bool]:
    where = scope.shops(LISTINGS.c.shop_id)
    return and_(where, LISTINGS.c.shop_id == shop_id) if shop_id is not None else where


def _push_query() -> Any:
    return (
        select(
            PUSHES,
            SHOPS.c.name.label("shop_name"),
            LISTINGS.c.sku_id,
            SKUS.c.sku_code,
        )
        .join_from(PUSHES, LISTINGS, LISTINGS.c.id == PUSHES.c.listing_id)
        .join(SHOPS, SHOPS.c.id == PUSHES.c.shop_id)
        .join(SKUS, SKUS.c.id == LISTINGS.c.sku_id)
    )


def _push(r: Any) -> PushItem:
    return PushItem(
        id=int(r.id),
        listing_id=int(r.listing_id),
        shop_id=int(r.shop_id),
        shop_name=str(r.shop_name),
        sku_id=int(r.sku_id),
        sku_code=str(r.sku_code),
        delta=int(r.delta),
        allocated_before=int(r.allocated_before),
        allocated_after=int(r.allocated_after),
        stock_after=r.platform_stock_after,
        status=str(r.status),
        error=r.error,
        created_at=r.created_at,
        done_at=r.done_at,
        settled_at=r.settled_at,
        settled_by=r.settled_by,
        settled_stock=r.settled_stock,
        settle_note=r.settle_note,
    )


async def _skus_matching(
    conn: AsyncConnection, scope: Scope, shop_id: int | None, q: str | None, problems: bool
) -> list[int]:
    """SKUs listed by a shop in scope (and ``shop_id``), matching ``q`` (code or product name),
    with open pushes first (``problems``: only those), then by code."""
    open_push = exists().where(
        PUSHES.c.listing_id == LISTINGS.c.id, PUSHES.c.status.in_(OPEN), _shop_filter(scope, shop_id)
    )
    has_open = (
        select(func.count())
        .select_from(LISTINGS.join(PUSHES, PUSHES.c.listing_id == LISTINGS.c.id))
        .where(LISTINGS.c.sku_id == SKUS.c.id, PUSHES.c.status.in_(OPEN), _shop_filter(scope, shop_id))
        .correlate(SKUS)
        .scalar_subquery()
    )
    listed = exists().where(LISTINGS.c.sku_id == SKUS.c.id, _shop_filter(scope, shop_id)).correlate(SKUS)
    where: ColumnElement[bool] = listed
    if q:
        pattern = f"%{q.lower()}%"
        where = and_(where, or_(func.lower(SKUS.c.sku_code).like(pattern), func.lower(PRODUCTS.c.name).like(pattern)))
    if problems:
        where = and_(
            where,
            exists().where(LISTINGS.c.sku_id == SKUS.c.id, open_push).correlate(SKUS),
        )
    query = (
        select(SKUS.c.id)
        .join_from(SKUS, PRODUCTS, PRODUCTS.c.id == SKUS.c.product_id)
        .where(where)
        .order_by((has_open > 0).desc(), SKUS.c.sku_code, SKUS.c.id)
    )
    return [int(i) for i in await conn.scalars(query)]


async def _views(
    conn: AsyncConnection, scope: Scope, sku_ids: list[int], now: datetime, shop_id: int | None
) -> list[SkuView]:
    """The numbers of ``sku_ids`` (in that order): truth from one snapshot, targets as the next
    push would plan them, channels of the shops in scope (and ``shop_id``)."""
    if not sku_ids:
        return []
    stock = await load_stock(conn, sku_ids)
    visible = {
        int(i)
        for i in await conn.scalars(
            select(LISTINGS.c.id).where(LISTINGS.c.sku_id.in_(sku_ids), _shop_filter(scope, shop_id))
        )
    }
    shops = {
        int(r.id): (str(r.name), r.platform.value if hasattr(r.platform, "value") else str(r.platform))
        for r in await conn.execute(select(SHOPS.c.id, SHOPS.c.name, SHOPS.c.platform))
    }
    names = {
        int(r.id): (str(r.name), str(r.spec))
        for r in await conn.execute(
            select(SKUS.c.id, PRODUCTS.c.name, SKUS.c.spec)
            .join_from(SKUS, PRODUCTS, PRODUCTS.c.id == SKUS.c.product_id)
            .where(SKUS.c.id.in_(sku_ids))
        )
    }
    # What each visible listing was last told: its latest confirmed push (or read).
    latest = (
        select(func.max(PUSHES.c.id))
        .where(PUSHES.c.listing_id.in_(sorted(visible)), PUSHES.c.status == DONE)
        .group_by(PUSHES.c.listing_id)
    )
    last = {p.listing_id: p for p in map(_push, await conn.execute(_push_query().where(PUSHES.c.id.in_(latest))))}
    open_by: dict[int, list[PushItem]] = {}
    for r in await conn.execute(
        _push_query().where(PUSHES.c.listing_id.in_(sorted(visible)), PUSHES.c.status.in_(OPEN)).order_by(PUSHES.c.id)
    ):
        item = _push(r)
        open_by.setdefault(item.listing_id, []).append(item)
    rules: dict[tuple[int, int], tuple[int, int, int, str]] = {}
    for r in await conn.execute(
        select(RULES.c.shop_id, RULES.c.sku_id, RULES.c.share_bp, RULES.c.floor, RULES.c.priority).order_by(
            RULES.c.sku_id.is_(None)
        )
    ):
        for sku_id in sku_ids if r.sku_id is None else [int(r.sku_id)]:
            rules.setdefault(
                (int(r.shop_id), sku_id), (r.share_bp, r.floor, r.priority, "default" if r.sku_id is None else "sku")
            )
    out: list[SkuView] = []
    for sku_id in sku_ids:
        sku: SkuStock | None = stock.get(sku_id)
        if sku is None:
            continue
        active = {x.shop_id for x in sku.listings if x.shop_active}
        shares = {s.shop_id: s for s in await shares_for(conn, sku_id, active, now)}
        targets = plan_targets(sku, list(shares.values()))
        channels = []
        for x in sku.listings:
            if x.listing_id not in visible:
                continue
            rule = rules.get((x.shop_id, sku_id))
            share = shares.get(x.shop_id)
            shop_name, platform = shops.get(x.shop_id, (str(x.shop_id), ""))
            channels.append(
                ChannelStock(
                    listing_id=x.listing_id,
                    shop_id=x.shop_id,
                    shop_name=shop_name,
                    platform=platform,
                    shop_active=x.shop_active,
                    platform_item_id=x.platform_item_id,
                    platform_sku_id=x.platform_sku_id,
                    taken_over=x.taken_over,
                    allocated=x.allocated,
                    sold=x.sold,
                    believed=x.believed,
                    share_bp=rule[0] if rule else None,
                    floor=rule[1] if rule else 0,
                    priority=rule[2] if rule else 0,
                    rule_for=rule[3] if rule else None,
                    reserved=share.reserved if share is not None else 0,
                    target=targets.get(x.listing_id, 0),
                    last=last.get(x.listing_id),
                    open=open_by.get(x.listing_id, []),
                )
            )
        name, spec = names.get(sku_id, ("", ""))
        out.append(
            SkuView(
                sku_id=sku_id,
                sku_code=sku.sku_code,
                product_name=name,
                spec=spec,
                lots=sku.lots,
                undrawn=sku.undrawn,
                truth=sku.truth,
                held=sku.held,
                held_elsewhere=sum(x.believed for x in sku.listings if x.listing_id not in visible),
                channels=channels,
            )
        )
    return out


async def _reservations(
    conn: AsyncConnection, scope: Scope, now: datetime, *, sku_id: int | None = None, shop_id: int | None = None
) -> list[ReservationItem]:
    listed = exists().where(LISTINGS.c.sku_id == RESERVATIONS.c.sku_id, scope.shops(LISTINGS.c.shop_id))
    where = and_(RESERVATIONS.c.ends_at > now, scope.shops(RESERVATIONS.c.shop_id), listed)
    if sku_id is not None:
        where = and_(where, RESERVATIONS.c.sku_id == sku_id)
    if shop_id is not None:
        where = and_(where, RESERVATIONS.c.shop_id == shop_id)
    rows = await conn.execute(
        select(RESERVATIONS, SHOPS.c.name.label("shop_name"), SKUS.c.sku_code, SESSIONS.c.title)
        .join_from(RESERVATIONS, SHOPS, SHOPS.c.id == RESERVATIONS.c.shop_id)
        .join(SKUS, SKUS.c.id == RESERVATIONS.c.sku_id)
        .outerjoin(SESSIONS, SESSIONS.c.id == RESERVATIONS.c.live_session_id)
        .where(where)
        .order_by(RESERVATIONS.c.starts_at, RESERVATIONS.c.id)
        .limit(200)
    )
    return [
        ReservationItem(
            id=int(r.id),
            shop_id=int(r.shop_id),
            shop_name=str(r.shop_name),
            sku_id=int(r.sku_id),
            sku_code=str(r.sku_code),
            quantity=int(r.quantity),
            starts_at=r.starts_at,
            ends_at=r.ends_at,
            session_id=r.live_session_id,
            session_title=r.title,
            note=r.note,
            active=r.starts_at <= now < r.ends_at,
        )
        for r in rows
    ]


async def stock_overview(
    conn: AsyncConnection,
    scope: Scope,
    now: datetime,
    *,
    shop_id: int | None = None,
    q: str | None = None,
    problems: bool = False,
    offset: int = 0,
    limit: int = 20,
) -> StockOverview | None:
    """The stock page: SKUs (paged, open pushes first), every open push, the latest
    settlements and the reservations, of the shops in scope (or of ``shop_id``: None when that
    shop is outside the scope, or the user runs no shops)."""
    if not operates(scope):
        return None
    if shop_id is not None and not await shop_in_scope(conn, scope, shop_id):
        return None
    ids = await _skus_matching(conn, scope, shop_id, q, problems)
    skus = await _views(conn, scope, ids[offset : offset + limit], now, shop_id)
    push_scope = and_(scope.shops(PUSHES.c.shop_id), PUSHES.c.shop_id == shop_id if shop_id else literal(True))
    open_pushes = [
        _push(r)
        for r in await conn.execute(
            _push_query().where(push_scope, PUSHES.c.status.in_(OPEN)).order_by(PUSHES.c.id).limit(200)
        )
    ]
    counts = {
        str(s): int(n)
        for s, n in await conn.execute(
            select(PUSHES.c.status, func.count()).where(push_scope, PUSHES.c.status.in_(OPEN)).group_by(PUSHES.c.status)
        )
    }
    settled = [
        _push(r)
        for r in await conn.execute(
            _push_query()
            .where(push_scope, PUSHES.c.settled_at.is_not(None), PUSHES.c.delta != 0)
            .order_by(PUSHES.c.settled_at.desc(), PUSHES.c.id.desc())
            .limit(20)
        )
    ]
    shops = [
        (int(i), str(n))
        for i, n in await conn.execute(
            select(SHOPS.c.id, SHOPS.c.name).where(scope.shops(SHOPS.c.id)).order_by(SHOPS.c.id)
        )
    ]
    return StockOverview(
        skus=skus,
        total=len(ids),
        counts={s: counts.get(s, 0) for s in OPEN},
        open_pushes=open_pushes,
        settled=settled,
        reservations=await _reservations(conn, scope, now, shop_id=shop_id),
        shops=shops,
    )


async def sku_stock(conn: AsyncConnection, scope: Scope, sku_id: int, now: datetime) -> SkuDetail | None:
    """One SKU: its numbers, its push history on the shops in scope, its reservations (None:
    no shop in scope lists it, or the user runs no shops; the admin sees every SKU)."""
    if not operates(scope):
        return None
    if scope.role == UserRole.ADMIN:  # every SKU, listed anywhere or not yet
        found = await conn.scalar(select(SKUS.c.id).where(SKUS.c.id == sku_id))
    else:
        found = await conn.scalar(
            select(LISTINGS.c.id).where(LISTINGS.c.sku_id == sku_id, scope.shops(LISTINGS.c.shop_id)).limit(1)
        )
    if found is None:
        return None
    [view] = await _views(conn, scope, [sku_id], now, None)
    pushes = [
        _push(r)
        for r in await conn.execute(
            _push_query()
            .where(LISTINGS.c.sku_id == sku_id, scope.shops(PUSHES.c.shop_id))
            .order_by(PUSHES.c.id.desc())
            .limit(HISTORY)
        )
    ]
    return SkuDetail(view, pushes, await _reservations(conn, scope, now, sku_id=sku_id))


# -- JSON ---------------------------------------------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()


def push_as_json(p: PushItem) -> dict[str, Any]:
    return {
        "id": p.id,
        "listing_id": p.listing_id,
        "shop_id": p.shop_id,
        "sku_id": p.sku_id,
        "sku_code": p.sku_code,
        "delta": p.delta,
        "stock_after": p.stock_after,
        "status": p.status,
        "message": p.error,
        "created_at": _iso(p.created_at),
        "done_at": _iso(p.done_at),
        "settled_at": _iso(p.settled_at),
        "settled_by": p.settled_by,
        "settled_stock": p.settled_stock,
        "settle_note": p.settle_note,
    }


def sku_as_json(s: SkuView) -> dict[str, Any]:
    return {
        "sku_id": s.sku_id,
        "sku_code": s.sku_code,
        "product_name": s.product_name,
        "spec": s.spec,
        "lots": s.lots,
        "undrawn": s.undrawn,
        "truth": s.truth,
        "held": s.held,
        "held_elsewhere": s.held_elsewhere,
        "channels": [
            {
                "listing_id": c.listing_id,
                "shop_id": c.shop_id,
                "shop_name": c.shop_name,
                "platform": c.platform,
                "shop_active": c.shop_active,
                "platform_item_id": c.platform_item_id,
                "platform_sku_id": c.platform_sku_id,
                "taken_over": c.taken_over,
                "believed": c.believed,
                "sold_since_read": c.sold,
                "share_bp": c.share_bp,
                "floor": c.floor,
                "priority": c.priority,
                "rule_for": c.rule_for,
                "reserved": c.reserved,
                "target": c.target,
                "last_told": push_as_json(c.last) if c.last is not None else None,
                "open_pushes": [push_as_json(p) for p in c.open],
            }
            for c in s.channels
        ],
    }


def overview_as_json(o: StockOverview) -> dict[str, Any]:
    return {
        "items": [sku_as_json(s) for s in o.skus],
        "total": o.total,
        "open_counts": o.counts,
        "open_pushes": [push_as_json(p) for p in o.open_pushes],
        "settled": [push_as_json(p) for p in o.settled],
        "reservations": [
            {
                "id": r.id,
                "shop_id": r.shop_id,
                "sku_id": r.sku_id,
                "sku_code": r.sku_code,
                "quantity": r.quantity,
                "starts_at": _iso(r.starts_at),
                "ends_at": _iso(r.ends_at),
                "session_id": r.session_id,
                "active": r.active,
            }
            for r in o.reservations
        ],
    }


__all__ = [
    "NOT_APPLIED",
    "ChannelStock",
    "PushItem",
    "ReservationItem",
    "SkuDetail",
    "SkuView",
    "StockOverview",
    "overview_as_json",
    "sku_as_json",
    "sku_stock",
    "stock_overview",
]
