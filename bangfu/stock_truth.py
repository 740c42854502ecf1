"""The read side of stock (see ``sync/stock.py`` for the definitions): each SKU's truth, what
each listing holds, the shops' shares and the targets, from one snapshot; and how a read-back
explains uncertain pushes. No platform call and no write: the console's stock page reads it too.

The units sold and not yet drawn are read from the lines not fully drawn only (``line_stock``
rows with ``quantity <> drawn_units``, partial indexes; ``line_stock`` mirrors each line's SKU,
shop, item and quantity and sums its ``lot_allocations``, kept by triggers in the statements
that write them, migration 0042): a fully drawn line adds 0, so the sum is the definition's, at
a cost that follows what is undrawn rather than every sale since the first lot. Rows of lines
whose order is cancelled or closed (``line_stock.unsold``, migration 0043) are left out of those
indexes too: never sold, the status filter dropped them anyway.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, case, exists, false, func, literal, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.channel_shares import ShopShare, allocate, split_even
from bangfu.enums import OrderStatus
from bangfu.models import (
    LineStock,
    Listing,
    MallOrder,
    Order,
    OrderLine,
    Shop,
    Sku,
    StockPush,
    StockReservation,
    StockRule,
    SupplyLot,
)
from bangfu.models.base import UTCDateTime

__all__ = [
    "COUNT_MARGIN",
    "SOLD_STATUSES",
    "ListingStock",
    "SkuStock",
    "explain_read_back",
    "load_stock",
    "lock_skus",
    "plan_targets",
    "shares_for",
]

LISTINGS: Table = Listing.__table__  # type: ignore[assignment]
LINES: Table = OrderLine.__table__  # type: ignore[assignment]
ORDERS: Table = Order.__table__  # type: ignore[assignment]
LOTS: Table = SupplyLot.__table__  # type: ignore[assignment]
PUSHES: Table = StockPush.__table__  # type: ignore[assignment]
SHOPS: Table = Shop.__table__  # type: ignore[assignment]
SKUS: Table = Sku.__table__  # type: ignore[assignment]
RULES: Table = StockRule.__table__  # type: ignore[assignment]
RESERVATIONS: Table = StockReservation.__table__  # type: ignore[assignment]
MALL: Table = MallOrder.__table__  # type: ignore[assignment]
LINE_STOCK: Table = LineStock.__table__  # type: ignore[assignment]
#: ``mall_orders.state`` of a checkout whose units are held (awaiting payment)
MALL_HELD = "reserved"
_LOCK_SPACE = 0x42465354 << 32  # "BFST": advisory lock keys for stock, one per SKU

#: Order statuses whose units are sold (paid and neither cancelled nor closed).
SOLD_STATUSES: tuple[OrderStatus, ...] = tuple(
    s for s in OrderStatus if s.is_paid and s not in (OrderStatus.CANCELLED, OrderStatus.CLOSED)
)
PENDING, DONE, FAILED, UNCERTAIN = "pending", "done", "failed", "uncertain"
NOT_APPLIED = "not_applied"  # an uncertain push that its read-back showed was not applied
UNCONFIRMED = (PENDING, FAILED, UNCERTAIN)
APPLIED, WAITING = "applied", "waiting"  # settle verdicts besides NOT_APPLIED and FAILED
#: at most this many uncertain pushes of one listing are settled together (their 2**n
#: combinations are compared with the read-back)
SETTLE_AT_ONCE = 16
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
COUNT_MARGIN = timedelta(minutes=1)


@dataclass(slots=True)
class ListingStock:
    listing_id: int
    shop_id: int
    platform_item_id: str
    platform_sku_id: str
    allocated: int  # G: listings.allocated_stock
    unconfirmed: int  # decreases recorded but not confirmed: G does not drop until they are
    sold: int  # sold units the hub knows of since takeover
    taken_over: bool
    shop_active: bool
    platform_stock: int | None  # as the last product sync saw it

    @property
    def believed(self) -> int:
        """What the platform holds at most, as far as the hub can tell (0 before takeover)."""
        if not self.taken_over:
            return 0
        return max(0, self.allocated + self.unconfirmed - self.sold)


@dataclass(slots=True)
class SkuStock:
    sku_id: int
    sku_code: str
    lots: int  # Σ supply_lots.remaining
    undrawn: int  # sold since the count time and not yet drawn from a lot
    listings: list[ListingStock] = field(default_factory=list)
    # Units held by the county's own mall for checkouts awaiting payment (``mall_orders`` in
    # state ``reserved``): sold as far as every other channel is concerned.
    mall_held: int = 0

    @property
    def truth(self) -> int:
        return max(0, self.lots - self.undrawn - self.mall_held)

    @property
    def free(self) -> int:
        """What no platform holds: the units the county's own mall may sell now."""
        return max(0, self.truth - self.held)

    @property
    def held(self) -> int:
        """Σ believed platform stock over the taken-over listings."""
        return sum(listing.believed for listing in self.listings)


def explain_read_back(deltas: Sequence[int], allocated: int, sold: int, read_back: int) -> tuple[tuple[bool, ...], int]:
    """Which of a listing's uncertain pushes applied, judged by the stock read back.

    ``allocated`` (G) counts every one of ``deltas`` as applied, so had the pushes in a set A
    applied, the platform would hold ``allocated - sold - Σ deltas outside A`` less the sales it
    made that the hub has not synced yet (never negative). The chosen set is the one that needs
    the fewest such sales; when none fits (the platform holds more than any set explains: its
    stock was changed outside the hub) the one that comes closest. Returns the set (one flag per
    delta) and the unsynced sales it implies (negative: units added outside the hub).
    """
    best: tuple[int, int, tuple[bool, ...]] | None = None
    for mask in range(1 << len(deltas)):
        applied = tuple(not (mask >> n) & 1 for n in range(len(deltas)))  # mask 0: all applied
        expected = allocated - sold - sum(d for d, a in zip(deltas, applied, strict=True) if not a)
        unsynced = expected - read_back
        rank = (0, unsynced) if unsynced >= 0 else (1, -unsynced)
        if best is None or rank < best[:2]:
            best = (*rank, applied)
    assert best is not None
    return best[2], best[1] if best[0] == 0 else -best[1]


# --------------------------------------------------------------------------- reading


def _sold() -> ColumnElement[bool]:
    return and_(ORDERS.c.paid_at.is_not(None), ORDERS.c.status.in_(SOLD_STATUSES))


def _snapshot_query(counted_from: dict[int, datetime]) -> Any:
    """One statement (one snapshot on both back ends) with every number the plan needs.

    ``counted_from``: per SKU id, sales paid from when count (count time less the margin).
    """
    mapping = LISTINGS.alias("mapping")
    line_of_sku = or_(
        LINES.c.sku_id == SKUS.c.id,
        and_(
            LINES.c.sku_id.is_(None),
            exists()
            .where(
                mapping.c.sku_id == SKUS.c.id,
                mapping.c.shop_id == LINES.c.shop_id,
                mapping.c.platform_item_id == LINES.c.platform_item_id,
                mapping.c.platform_sku_id == func.coalesce(LINES.c.platform_sku_id, ""),
            )
            .correlate(SKUS, LINES),
        ),
    )
    counted_at = case(
        {sku_id: literal(moment, UTCDateTime()) for sku_id, moment in counted_from.items()},
        value=SKUS.c.id,
        else_=literal(EPOCH, UTCDateTime()),
    )
    # Σ (quantity − drawn) over the SKU's sold lines since the count time, read from
    # ``line_stock`` (the line's SKU, shop, item and quantity, and the sum of its lot_allocations,
    # kept by triggers): a fully drawn line adds 0, so only the rows with ``quantity <>
    # drawn_units`` are read, through their partial indexes (migration 0042): the SKU's own,
    # then the unmapped lines of its listings (a listing is unique per shop/item/SKU ids, so a
    # line joins at most one).
    stock = LINE_STOCK
    # ``unsold``: the order is cancelled or closed (migration 0043), never a sold line; the same
    # terms as the indexes' predicates (SQLite matches them term by term).
    not_drawn = and_(stock.c.quantity != stock.c.drawn_units, stock.c.unsold == false())
    left = stock.c.quantity - stock.c.drawn_units
    undrawn_own = (
        select(func.coalesce(func.sum(left), 0))
        .select_from(
            stock.join(LINES, LINES.c.id == stock.c.order_line_id).join(ORDERS, ORDERS.c.id == LINES.c.order_id)
        )
        .where(stock.c.sku_id == SKUS.c.id, not_drawn, _sold(), ORDERS.c.paid_at >= counted_at)
        .scalar_subquery()
    )
    undrawn_unmapped = (
        select(func.coalesce(func.sum(left), 0))
        .select_from(
            mapping.join(
                stock,
                and_(stock.c.shop_id == mapping.c.shop_id, stock.c.platform_item_id == mapping.c.platform_item_id),
            )
            .join(LINES, LINES.c.id == stock.c.order_line_id)
            .join(ORDERS, ORDERS.c.id == LINES.c.order_id)
        )
        .where(
            mapping.c.sku_id == SKUS.c.id,
            stock.c.sku_id.is_(None),
            not_drawn,
            func.coalesce(LINES.c.platform_sku_id, "") == mapping.c.platform_sku_id,
            _sold(),
            ORDERS.c.paid_at >= counted_at,
        )
        .correlate(SKUS)
        .scalar_subquery()
    )
    undrawn = undrawn_own + undrawn_unmapped
    lots = select(func.coalesce(func.sum(LOTS.c.remaining), 0)).where(LOTS.c.sku_id == SKUS.c.id).scalar_subquery()
    mall_held = (
        select(func.coalesce(func.sum(LINES.c.quantity), 0))
        .select_from(LINES.join(MALL, MALL.c.order_id == LINES.c.order_id))
        .where(line_of_sku, MALL.c.state == MALL_HELD)
        .scalar_subquery()
    )
    # Nested two levels deep, so correlated by hand (auto-correlation reaches one level only).
    # Sales count from the latest baseline: the takeover, or the read-back of a settlement.
    since = (
        select(func.max(PUSHES.c.created_at))
        .where(PUSHES.c.listing_id == LISTINGS.c.id, PUSHES.c.delta == 0)
        .correlate(LISTINGS)
        .scalar_subquery()
    )
    sold_since = (
        select(func.coalesce(func.sum(LINES.c.quantity), 0))
        .select_from(LINES.join(ORDERS, ORDERS.c.id == LINES.c.order_id))
        .where(
            LINES.c.shop_id == LISTINGS.c.shop_id,
            LINES.c.platform_item_id == LISTINGS.c.platform_item_id,
            func.coalesce(LINES.c.platform_sku_id, "") == LISTINGS.c.platform_sku_id,
            or_(LINES.c.sku_id.is_(None), LINES.c.sku_id == LISTINGS.c.sku_id),
            _sold(),
            ORDERS.c.created_at > since,
        )
        .scalar_subquery()
    )
    unconfirmed = (
        select(func.coalesce(func.sum(-PUSHES.c.delta), 0))
        .where(PUSHES.c.listing_id == LISTINGS.c.id, PUSHES.c.delta < 0, PUSHES.c.status.in_(UNCONFIRMED))
        .scalar_subquery()
    )
    return (
        select(
            SKUS.c.id,
            SKUS.c.sku_code,
            lots.label("lots"),
            undrawn.label("undrawn"),
            mall_held.label("mall_held"),
            LISTINGS.c.id.label("listing_id"),
            LISTINGS.c.shop_id,
            LISTINGS.c.platform_item_id,
            LISTINGS.c.platform_sku_id,
            LISTINGS.c.allocated_stock,
            LISTINGS.c.platform_stock,
            since.label("since"),
            sold_since.label("sold_since"),
            unconfirmed.label("unconfirmed"),
            SHOPS.c.active,
        )
        .select_from(
            SKUS.outerjoin(LISTINGS, LISTINGS.c.sku_id == SKUS.c.id).outerjoin(SHOPS, SHOPS.c.id == LISTINGS.c.shop_id)
        )
        .where(SKUS.c.id.in_(list(counted_from)))
        .order_by(SKUS.c.id, LISTINGS.c.id)
    )


async def load_stock(
    conn: AsyncConnection, sku_ids: Sequence[int], *, count_margin: timedelta = COUNT_MARGIN
) -> dict[int, SkuStock]:
    """Truth and every listing's numbers for ``sku_ids``, from one snapshot.

    The count times are read first: they only ever move back (an earliest lot removed would
    move one forward, and then the earlier one read here counts more sales: the safe side).
    A SKU without lots yet counts every sale (its truth is 0 anyway).
    """
    out: dict[int, SkuStock] = {}
    if not sku_ids:
        return out
    ids = sorted(set(sku_ids))
    counted_from = dict.fromkeys(ids, EPOCH)
    rows = await conn.execute(
        select(LOTS.c.sku_id, func.min(LOTS.c.created_at)).where(LOTS.c.sku_id.in_(ids)).group_by(LOTS.c.sku_id)
    )
    for sku_id, first in rows:
        counted_from[sku_id] = max(EPOCH, first - count_margin)
    for row in await conn.execute(_snapshot_query(counted_from)):
        sku = out.get(row.id)
        if sku is None:
            sku = out[row.id] = SkuStock(
                row.id, row.sku_code, int(row.lots), int(row.undrawn), mall_held=int(row.mall_held)
            )
        if row.listing_id is not None:
            sku.listings.append(
                ListingStock(
                    listing_id=row.listing_id,
                    shop_id=row.shop_id,
                    platform_item_id=row.platform_item_id,
                    platform_sku_id=row.platform_sku_id,
                    allocated=int(row.allocated_stock),
                    unconfirmed=int(row.unconfirmed),
                    sold=int(row.sold_since),
                    taken_over=row.since is not None,
                    shop_active=bool(row.active),
                    platform_stock=row.platform_stock,
                )
            )
    return out


async def lock_skus(conn: AsyncConnection, sku_ids: Iterable[int]) -> None:
    """Serialise stock planning and mall checkouts per SKU across processes until the
    transaction ends (in ascending id order, so two holders of several never deadlock)."""
    if conn.dialect.name == "postgresql":
        for sku_id in sorted(set(sku_ids)):
            key = _LOCK_SPACE + (sku_id & 0xFFFFFFFF)
            await conn.execute(select(func.pg_advisory_xact_lock(literal(key))))
    else:  # SQLite: a write statement takes the database's single writer lock
        await conn.execute(text("UPDATE stock_pushes SET status = status WHERE 1 = 0"))


async def shares_for(conn: AsyncConnection, sku_id: int, shop_ids: Iterable[int], now: datetime) -> list[ShopShare]:
    """Each shop's rule for the SKU (its own, else the shop's default, else none) and the
    units reserved for it now (reservations with ``starts_at <= now < ends_at``)."""
    shops = sorted(set(shop_ids))
    if not shops:
        return []
    rules: dict[int, tuple[int, int, int]] = {}
    rows = await conn.execute(
        select(RULES.c.shop_id, RULES.c.sku_id, RULES.c.share_bp, RULES.c.floor, RULES.c.priority)
        .where(RULES.c.shop_id.in_(shops), or_(RULES.c.sku_id == sku_id, RULES.c.sku_id.is_(None)))
        .order_by(RULES.c.sku_id.is_(None))  # the SKU's own rule first
    )
    for shop_id, _, share_bp, floor, priority in rows:
        rules.setdefault(shop_id, (share_bp, floor, priority))
    reserved = dict(
        (
            await conn.execute(
                select(RESERVATIONS.c.shop_id, func.sum(RESERVATIONS.c.quantity))
                .where(
                    RESERVATIONS.c.sku_id == sku_id,
                    RESERVATIONS.c.shop_id.in_(shops),
                    RESERVATIONS.c.starts_at <= now,
                    RESERVATIONS.c.ends_at > now,
                )
                .group_by(RESERVATIONS.c.shop_id)
            )
        ).all()
    )
    return [ShopShare.from_rule(shop, rules.get(shop), int(reserved.get(shop) or 0)) for shop in shops]


def plan_targets(sku: SkuStock, shares: Sequence[ShopShare]) -> dict[int, int]:
    """Target stock per listing: the SKU's truth, less what inactive shops' listings still hold,
    allocated to the shops (``shares``), each shop's part split evenly over its listings."""
    live = [listing for listing in sku.listings if listing.shop_active]
    parked = sum(listing.believed for listing in sku.listings if not listing.shop_active)
    by_shop: dict[int, list[int]] = defaultdict(list)
    for listing in live:
        by_shop[listing.shop_id].append(listing.listing_id)
    shares = [share for share in shares if share.shop_id in by_shop]
    parts = allocate(max(0, sku.truth - parked), shares)
    targets = {listing.listing_id: 0 for listing in sku.listings}
    for shop_id, units in parts.items():
        targets.update(split_even(units, sorted(by_shop[shop_id])))
    return targets
