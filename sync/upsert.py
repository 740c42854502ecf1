"""Batched, idempotent upserts of normalised records: one statement per table per page.

Every table's idempotency key is (shop, platform id). An incoming record replaces the stored
one only if it is not older: its modified time is later, or equal with a later lifecycle
status, or equal in both with different content. The comparison runs in SQL, inside the
``ON CONFLICT ... DO UPDATE ... WHERE`` of the same statement, so two pulls racing on one row
cannot move it backwards either. The same code runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import ColumnElement, Table, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import SyncStream
from bangfu.models import (
    ExplanationWindow,
    Host,
    Listing,
    LiveMinuteStat,
    LiveSession,
    Order,
    OrderLine,
    QuarantinedRecord,
    Refund,
    SettlementLine,
    Sku,
)
from bangfu.records import (
    LiveSessionRecord,
    OrderRecord,
    ProductRecord,
    Quarantined,
    RefundRecord,
    SettlementLineRecord,
)

T = TypeVar("T")

ORDERS: Table = Order.__table__  # type: ignore[assignment]
LINES: Table = OrderLine.__table__  # type: ignore[assignment]
REFUNDS: Table = Refund.__table__  # type: ignore[assignment]
BILLS: Table = SettlementLine.__table__  # type: ignore[assignment]
LISTINGS: Table = Listing.__table__  # type: ignore[assignment]
SESSIONS: Table = LiveSession.__table__  # type: ignore[assignment]
MINUTES: Table = LiveMinuteStat.__table__  # type: ignore[assignment]
WINDOWS: Table = ExplanationWindow.__table__  # type: ignore[assignment]
HOSTS: Table = Host.__table__  # type: ignore[assignment]
QUARANTINE: Table = QuarantinedRecord.__table__  # type: ignore[assignment]

# SQLite allows 32,766 bound parameters per statement; stay well below on both back ends.
MAX_PARAMS = 30_000


@dataclass(slots=True)
class PageResult:
    """What one page did to the store."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    duplicates: int = 0
    quarantined: int = 0
    max_modified: datetime | None = None

    def add(self, other: PageResult) -> None:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        if other.max_modified and (self.max_modified is None or other.max_modified > self.max_modified):
            self.max_modified = other.max_modified


def content_hash(*parts: Any) -> str:
    """A short stable digest of a record's normalised content (not its raw payload)."""
    return hashlib.blake2b(orjson.dumps(parts, default=str), digest_size=16).hexdigest()


def _chunks(rows: Sequence[T], columns: int) -> Iterator[Sequence[T]]:
    size = max(1, MAX_PARAMS // max(columns, 1))
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _insert(conn: AsyncConnection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _newest(records: Iterable[T], key: Callable[[T], str], rank: Callable[[T], tuple[Any, ...]]) -> tuple[list[T], int]:
    """Keep one record per key, the newest by ``rank``; return them and how many were dropped."""
    best: dict[str, T] = {}
    dropped = 0
    for record in records:
        k = key(record)
        current = best.get(k)
        if current is None:
            best[k] = record
            continue
        dropped += 1
        if rank(record) >= rank(current):
            best[k] = record
    return list(best.values()), dropped


def _not_older(table: Table, excluded: Any, *, ranked: bool) -> ColumnElement[bool]:
    """The DO UPDATE guard: newer modified time, or same time with later status, or same with new content."""
    newer = excluded.modified_at > table.c.modified_at
    same_time = excluded.modified_at == table.c.modified_at
    changed = excluded.content_hash != table.c.content_hash
    if not ranked:
        return or_(newer, and_(same_time, changed))
    return or_(
        and_(newer, excluded.status_rank >= table.c.status_rank),
        and_(same_time, excluded.status_rank > table.c.status_rank),
        and_(same_time, excluded.status_rank == table.c.status_rank, changed),
    )


async def _existing(conn: AsyncConnection, table: Table, shop_id: int, key: str, values: Sequence[str]) -> set[str]:
    found: set[str] = set()
    column = table.c[key]
    for chunk in _chunks(values, 1):
        rows = await conn.execute(select(column).where(table.c.shop_id == shop_id, column.in_(chunk)))
        found.update(r[0] for r in rows)
    return found


async def _upsert(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    conflict: Sequence[str],
    *,
    guard: Callable[[Any], ColumnElement[bool]] | None,
    returning: Sequence[str],
    update_columns: Sequence[str] | None = None,
) -> list[Any]:
    """INSERT ... ON CONFLICT (conflict) DO UPDATE SET ... WHERE guard RETURNING ...; in chunks."""
    if not rows:
        return []
    returned: list[Any] = []
    names = list(rows[0])
    to_update = [c for c in (update_columns or names) if c not in conflict and c != "id"]
    for chunk in _chunks(rows, len(names)):
        stmt = _insert(conn, table).values(list(chunk))
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c[c] for c in conflict],
            set_={c: excluded[c] for c in to_update},
            where=guard(excluded) if guard is not None else None,
        ).returning(*[table.c[c] for c in returning])
        returned.extend((await conn.execute(stmt)).all())
    return returned


def _order_row(shop_id: int, record: OrderRecord, unit_ids: Mapping[str, int], now: datetime) -> dict[str, Any]:
    return {
        "shop_id": shop_id,
        "platform_order_id": record.platform_order_id,
        "status": record.status.value,
        "status_rank": record.status.rank,
        "platform_status": record.platform_status,
        "created_at": record.created_at,
        "paid_at": record.paid_at,
        "modified_at": record.modified_at,
        "paid_fen": record.paid_fen,
        "post_fee_fen": record.post_fee_fen,
        "discount_fen": record.discount_fen,
        "buyer_ref": record.buyer_ref,
        "purchasing_unit_id": unit_ids.get(record.purchasing_unit_code or ""),
        "room_id": record.room_id,
        "author_id": record.author_id,
        "campaign_code": record.campaign_code,
        "raw": dict(record.raw),
        "content_hash": _order_hash(record),
        "synced_at": now,
    }


def _order_hash(record: OrderRecord) -> str:
    return content_hash(
        record.status.value,
        record.platform_status,
        record.paid_at,
        record.paid_fen,
        record.post_fee_fen,
        record.discount_fen,
        record.room_id,
        record.author_id,
        record.campaign_code,
        record.purchasing_unit_code,
        [
            (
                ln.platform_line_id,
                ln.quantity,
                ln.unit_price_fen,
                ln.paid_fen,
                ln.refund_state.value,
                ln.platform_sku_id,
                ln.room_id,
                ln.author_id,
            )
            for ln in record.lines
        ],
    )


async def upsert_orders(
    conn: AsyncConnection, shop_id: int, records: Iterable[OrderRecord], *, now: datetime
) -> PageResult:
    """Store a page of orders with their lines; returns new/changed/unchanged/duplicate counts."""
    orders, duplicates = _newest(records, lambda r: r.platform_order_id, lambda r: (r.modified_at, r.status.rank))
    result = PageResult(duplicates=duplicates)
    if not orders:
        return result
    result.max_modified = max(r.modified_at for r in orders)
    codes = {r.purchasing_unit_code for r in orders if r.purchasing_unit_code}
    unit_ids = await _unit_ids(conn, codes) if codes else {}
    known = await _existing(conn, ORDERS, shop_id, "platform_order_id", [r.platform_order_id for r in orders])
    rows = [_order_row(shop_id, r, unit_ids, now) for r in orders]
    written = await _upsert(
        conn,
        ORDERS,
        rows,
        ("shop_id", "platform_order_id"),
        guard=lambda ex: _not_older(ORDERS, ex, ranked=True),
        returning=("id", "platform_order_id"),
    )
    ids = {platform_id: order_id for order_id, platform_id in written}
    result.new = sum(1 for pid in ids if pid not in known)
    result.changed = len(ids) - result.new
    result.unchanged = len(orders) - len(ids)
    by_id = {r.platform_order_id: r for r in orders}
    await _upsert_lines(conn, shop_id, [(ids[pid], by_id[pid]) for pid in ids])
    if ids:
        await _link_refunds(conn, shop_id, list(ids))
    return result


async def _upsert_lines(conn: AsyncConnection, shop_id: int, orders: Sequence[tuple[int, OrderRecord]]) -> None:
    rows: list[dict[str, Any]] = []
    outer_ids: set[str] = set()
    for order_id, record in orders:
        for line in record.lines:
            if line.outer_sku_id:
                outer_ids.add(line.outer_sku_id)
            rows.append(
                {
                    "order_id": order_id,
                    "shop_id": shop_id,
                    "platform_line_id": line.platform_line_id,
                    "platform_item_id": line.platform_item_id,
                    "platform_sku_id": line.platform_sku_id,
                    "outer_sku_id": line.outer_sku_id,
                    "title": line.title[:255],
                    "quantity": line.quantity,
                    "unit_price_fen": line.unit_price_fen,
                    "paid_fen": line.paid_fen,
                    "refund_state": line.refund_state.value,
                    "room_id": line.room_id or record.room_id,
                    "author_id": line.author_id or record.author_id,
                    "content_hash": content_hash(
                        line.quantity, line.unit_price_fen, line.paid_fen, line.refund_state.value, line.platform_sku_id
                    ),
                    "version": 1,
                }
            )
    if not rows:
        return
    sku_ids = await _sku_ids(conn, outer_ids) if outer_ids else {}
    for row in rows:
        row["sku_id"] = sku_ids.get(row["outer_sku_id"] or "")
    stmt_rows = rows
    # A line's version goes up only when its money or refund state changed: workers key on it.
    for chunk in _chunks(stmt_rows, len(stmt_rows[0])):
        stmt = _insert(conn, LINES).values(list(chunk))
        ex = stmt.excluded
        set_ = {c: ex[c] for c in stmt_rows[0] if c not in ("shop_id", "platform_line_id", "version")}
        set_["version"] = LINES.c.version + 1
        stmt = stmt.on_conflict_do_update(
            index_elements=[LINES.c.shop_id, LINES.c.platform_line_id],
            set_=set_,
            where=or_(
                ex.content_hash != LINES.c.content_hash,
                ex.room_id.is_distinct_from(LINES.c.room_id),
                ex.sku_id.is_distinct_from(LINES.c.sku_id),
            ),
        )
        await conn.execute(stmt)


async def _link_refunds(conn: AsyncConnection, shop_id: int, platform_order_ids: Sequence[str]) -> None:
    """Refunds that arrived before their order get their order line now."""
    line_id = (
        select(LINES.c.id)
        .where(LINES.c.shop_id == REFUNDS.c.shop_id, LINES.c.platform_line_id == REFUNDS.c.platform_line_id)
        .scalar_subquery()
    )
    for chunk in _chunks(platform_order_ids, 1):
        await conn.execute(
            update(REFUNDS)
            .where(
                REFUNDS.c.shop_id == shop_id, REFUNDS.c.order_line_id.is_(None), REFUNDS.c.platform_order_id.in_(chunk)
            )
            .values(order_line_id=line_id)
        )


async def _sku_ids(conn: AsyncConnection, codes: set[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    sku = Sku.__table__
    for chunk in _chunks(sorted(codes), 1):
        rows = await conn.execute(select(sku.c.sku_code, sku.c.id).where(sku.c.sku_code.in_(chunk)))
        out.update({code: sku_id for code, sku_id in rows})
    return out


async def _unit_ids(conn: AsyncConnection, codes: set[str]) -> dict[str, int]:
    from bangfu.models import PurchasingUnit

    units = PurchasingUnit.__table__
    rows = await conn.execute(select(units.c.code, units.c.id).where(units.c.code.in_(sorted(codes))))
    return {code: unit_id for code, unit_id in rows}


async def upsert_refunds(
    conn: AsyncConnection, shop_id: int, records: Iterable[RefundRecord], *, now: datetime
) -> PageResult:
    refunds, duplicates = _newest(records, lambda r: r.platform_refund_id, lambda r: (r.modified_at, r.status.rank))
    result = PageResult(duplicates=duplicates)
    if not refunds:
        return result
    result.max_modified = max(r.modified_at for r in refunds)
    line_ids: dict[str, int] = {}
    wanted = sorted({r.platform_line_id for r in refunds if r.platform_line_id})
    for chunk in _chunks(wanted, 1):
        rows = await conn.execute(
            select(LINES.c.platform_line_id, LINES.c.id).where(
                LINES.c.shop_id == shop_id, LINES.c.platform_line_id.in_(chunk)
            )
        )
        line_ids.update({pid: lid for pid, lid in rows})
    known = await _existing(conn, REFUNDS, shop_id, "platform_refund_id", [r.platform_refund_id for r in refunds])
    refund_rows = [
        {
            "shop_id": shop_id,
            "platform_refund_id": r.platform_refund_id,
            "platform_order_id": r.platform_order_id,
            "platform_line_id": r.platform_line_id,
            "order_line_id": line_ids.get(r.platform_line_id or ""),
            "status": r.status.value,
            "status_rank": r.status.rank,
            "platform_status": r.platform_status,
            "amount_fen": r.amount_fen,
            "quantity": r.quantity,
            "with_return": r.with_return,
            "reason": r.reason,
            "created_at": r.created_at,
            "modified_at": r.modified_at,
            "raw": dict(r.raw),
            "content_hash": content_hash(
                r.status.value, r.platform_status, r.amount_fen, r.quantity, r.platform_line_id, r.with_return
            ),
        }
        for r in refunds
    ]
    written = await _upsert(
        conn,
        REFUNDS,
        refund_rows,
        ("shop_id", "platform_refund_id"),
        guard=lambda ex: _not_older(REFUNDS, ex, ranked=True),
        returning=("platform_refund_id",),
    )
    ids = {row[0] for row in written}
    result.new = len(ids - known)
    result.changed = len(ids & known)
    result.unchanged = len(refunds) - len(ids)
    return result


async def upsert_settlements(
    conn: AsyncConnection, shop_id: int, records: Iterable[SettlementLineRecord], *, now: datetime
) -> PageResult:
    bills, duplicates = _newest(records, lambda r: r.platform_bill_id, lambda r: (r.settled_at,))
    result = PageResult(duplicates=duplicates)
    if not bills:
        return result
    result.max_modified = max(r.settled_at for r in bills)
    known = await _existing(conn, BILLS, shop_id, "platform_bill_id", [r.platform_bill_id for r in bills])
    rows = [
        {
            "shop_id": shop_id,
            "platform_bill_id": r.platform_bill_id,
            "platform_order_id": r.platform_order_id,
            "platform_line_id": r.platform_line_id,
            "kind": r.kind.value,
            "amount_fen": r.amount_fen,
            "settled_at": r.settled_at,
            "raw": dict(r.raw),
            "content_hash": content_hash(
                r.kind.value, r.amount_fen, r.settled_at, r.platform_order_id, r.platform_line_id
            ),
        }
        for r in bills
    ]
    written = await _upsert(
        conn,
        BILLS,
        rows,
        ("shop_id", "platform_bill_id"),
        guard=lambda ex: ex.content_hash != BILLS.c.content_hash,
        returning=("platform_bill_id",),
    )
    ids = {row[0] for row in written}
    result.new = len(ids - known)
    result.changed = len(ids & known)
    result.unchanged = len(bills) - len(ids)
    return result


async def upsert_products(
    conn: AsyncConnection, shop_id: int, records: Iterable[ProductRecord], *, now: datetime
) -> PageResult:
    """Products become listings, one per (item, SKU), mapped to our SKU by outer id."""
    products, duplicates = _newest(records, lambda r: r.platform_item_id, lambda r: (r.modified_at,))
    result = PageResult(duplicates=duplicates)
    if not products:
        return result
    result.max_modified = max(r.modified_at for r in products)
    rows: list[dict[str, Any]] = []
    for product in products:
        variants = product.skus or ()
        entries = (
            [(s.platform_sku_id, s.outer_id, s.spec, s.price_fen, s.stock) for s in variants]
            if variants
            else [("", product.outer_id, None, product.price_fen, product.stock)]
        )
        for sku_id, outer_id, spec, price, stock in entries:
            title = f"{product.title} {spec}" if spec else product.title
            rows.append(
                {
                    "shop_id": shop_id,
                    "platform_item_id": product.platform_item_id,
                    "platform_sku_id": sku_id,
                    "outer_id": outer_id,
                    "title": title[:255],
                    "price_fen": price,
                    "platform_stock": stock,
                    "on_sale": product.on_sale,
                    "platform_modified_at": product.modified_at,
                    "content_hash": content_hash(outer_id, title, price, stock, product.on_sale),
                    "allocated_stock": 0,
                }
            )
    sku_ids = await _sku_ids(conn, {r["outer_id"] for r in rows if r["outer_id"]})
    for row in rows:
        row["sku_id"] = sku_ids.get(row["outer_id"] or "")
    known_rows = await conn.execute(
        select(LISTINGS.c.platform_item_id, LISTINGS.c.platform_sku_id).where(
            LISTINGS.c.shop_id == shop_id,
            LISTINGS.c.platform_item_id.in_(sorted({r["platform_item_id"] for r in rows})),
        )
    )
    known = {(a, b) for a, b in known_rows}
    written = await _upsert(
        conn,
        LISTINGS,
        rows,
        ("shop_id", "platform_item_id", "platform_sku_id"),
        guard=lambda ex: or_(ex.content_hash != LISTINGS.c.content_hash, ex.sku_id.is_distinct_from(LISTINGS.c.sku_id)),
        returning=("platform_item_id", "platform_sku_id"),
        update_columns=[c for c in rows[0] if c != "allocated_stock"],
    )
    keys = {(a, b) for a, b in written}
    result.new = len(keys - known)
    result.changed = len(keys & known)
    result.unchanged = len(rows) - len(keys)
    return result


async def upsert_live_sessions(
    conn: AsyncConnection, shop_id: int, platform: str, records: Iterable[LiveSessionRecord], *, now: datetime
) -> PageResult:
    """Sessions, their hosts (created on first sight), per-minute stats and explanation windows."""
    sessions, duplicates = _newest(records, lambda r: r.room_id, lambda r: (r.modified_at,))
    result = PageResult(duplicates=duplicates)
    if not sessions:
        return result
    result.max_modified = max(r.modified_at for r in sessions)
    await _upsert(
        conn,
        HOSTS,
        [
            {
                "name": (s.host_name or s.author_id)[:64],
                "kind": "influencer",
                "platform": platform,
                "author_id": s.author_id,
                "commission_bp": 0,
                "created_at": now,
                "updated_at": now,
            }
            for s in {s.author_id: s for s in sessions}.values()
        ],
        ("platform", "author_id"),
        guard=lambda ex: HOSTS.c.name == HOSTS.c.author_id,
        returning=("id",),
        update_columns=["name"],
    )
    host_rows = await conn.execute(
        select(HOSTS.c.author_id, HOSTS.c.id).where(
            HOSTS.c.platform == platform, HOSTS.c.author_id.in_(sorted({s.author_id for s in sessions}))
        )
    )
    host_ids = {a: i for a, i in host_rows}
    known = await _existing(conn, SESSIONS, shop_id, "room_id", [s.room_id for s in sessions])
    rows = [
        {
            "shop_id": shop_id,
            "room_id": s.room_id,
            "host_id": host_ids.get(s.author_id),
            "title": s.title[:255] or None,
            "started_at": s.started_at,
            "ended_at": s.ended_at,
            "views": s.views,
            "unique_viewers": s.unique_viewers,
            "peak_online": s.peak_online,
            "total_watch_seconds": s.total_watch_seconds,
            "ad_spend_fen": 0,
            "modified_at": s.modified_at,
            "raw": dict(s.raw),
            "content_hash": content_hash(
                s.ended_at,
                s.views,
                s.unique_viewers,
                s.peak_online,
                s.total_watch_seconds,
                s.minutes,
                s.explanations,
                s.title,
            ),
            "created_at": now,
            "updated_at": now,
        }
        for s in sessions
    ]
    written = await _upsert(
        conn,
        SESSIONS,
        rows,
        ("shop_id", "room_id"),
        guard=lambda ex: _not_older(SESSIONS, ex, ranked=False),
        returning=("id", "room_id"),
        update_columns=[c for c in rows[0] if c not in ("created_at", "ad_spend_fen")],
    )
    session_ids = {room: sid for sid, room in written}
    result.new = len(set(session_ids) - known)
    result.changed = len(set(session_ids) & known)
    result.unchanged = len(sessions) - len(session_ids)
    by_room = {s.room_id: s for s in sessions}
    minute_rows = [
        {
            "session_id": sid,
            "minute_at": m.minute_at,
            "online": m.online,
            "views": m.views,
            "new_buyers": m.new_buyers,
            "gmv_fen": m.gmv_fen,
        }
        for room, sid in session_ids.items()
        for m in by_room[room].minutes
    ]
    await _upsert(conn, MINUTES, minute_rows, ("session_id", "minute_at"), guard=None, returning=("id",))
    window_rows = [
        {
            "session_id": sid,
            "platform_item_id": e.platform_item_id,
            "platform_sku_id": e.platform_sku_id,
            "started_at": e.started_at,
            "ended_at": e.ended_at,
        }
        for room, sid in session_ids.items()
        for e in by_room[room].explanations
    ]
    await _upsert(
        conn, WINDOWS, window_rows, ("session_id", "platform_item_id", "started_at"), guard=None, returning=("id",)
    )
    return result


async def quarantine(conn: AsyncConnection, shop_id: int, items: Sequence[Quarantined], *, now: datetime) -> int:
    if not items:
        return 0
    await conn.execute(
        QUARANTINE.insert(),
        [
            {
                "shop_id": shop_id,
                "stream": q.stream.value,
                "platform_id": q.platform_id,
                "error": q.error[:2000],
                "raw": dict(q.raw),
                "seen_at": now,
            }
            for q in items
        ],
    )
    return len(items)


async def resolve_quarantine(
    conn: AsyncConnection, shop_id: int, stream: SyncStream, ids: Sequence[str], now: datetime
) -> None:
    """A record that later arrived whole clears its quarantine entries."""
    for chunk in _chunks(list(ids), 1):
        await conn.execute(
            update(QUARANTINE)
            .where(
                QUARANTINE.c.shop_id == shop_id,
                QUARANTINE.c.stream == stream.value,
                QUARANTINE.c.platform_id.in_(chunk),
                QUARANTINE.c.resolved_at.is_(None),
            )
            .values(resolved_at=now)
        )


__all__ = [
    "PageResult",
    "content_hash",
    "quarantine",
    "resolve_quarantine",
    "upsert_live_sessions",
    "upsert_orders",
    "upsert_products",
    "upsert_refunds",
    "upsert_settlements",
]
