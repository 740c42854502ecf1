"""Batched, idempotent upserts of normalised records: one statement per table per page.

Every table's idempotency key is (shop, platform id). An incoming record replaces the stored
one only if it is not older: its modified time is later, or equal with a later lifecycle
status, or equal in both with different content. The comparison runs in SQL, inside the
``ON CONFLICT ... DO UPDATE ... WHERE`` of the same statement, so two pulls racing on one row
cannot move it backwards either. The same code runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

import orjson
from sqlalchemy import ColumnElement, Table, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import LineRefundState, OrderStatus, SyncStream
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
from bangfu.store import asyncpg_in_transaction
from bangfu.upsert_rules import content_hash, newest, order_hash, replaces

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
    # Records the store refused as bad records while writing (quarantined with the batch's own).
    held: list[Quarantined] = field(default_factory=list)

    def add(self, other: PageResult) -> None:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        if other.max_modified and (self.max_modified is None or other.max_modified > self.max_modified):
            self.max_modified = other.max_modified


def _chunks(rows: Sequence[T], columns: int) -> Iterator[Sequence[T]]:
    size = max(1, MAX_PARAMS // max(columns, 1))
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _insert(conn: AsyncConnection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


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
    """INSERT ... ON CONFLICT (conflict) DO UPDATE SET ... WHERE guard RETURNING ...

    One statement with bound parameters, executed for all the rows: SQLAlchemy compiles it once
    (then from its cache) and sends the rows as multi-row VALUES pages ("insertmanyvalues"),
    where a statement built with the rows' values in it was compiled again for every batch.
    """
    if not rows:
        return []
    names = list(rows[0])
    to_update = [c for c in (update_columns or names) if c not in conflict and c != "id"]
    stmt = _insert(conn, table)
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c[c] for c in conflict],
        set_={c: excluded[c] for c in to_update},
        where=guard(excluded) if guard is not None else None,
    ).returning(*[table.c[c] for c in returning])
    return list((await conn.execute(stmt, list(rows))).all())


# ------------------------------------------------------------------ orders: the hot path
#
# Orders and their lines are most of what sync writes, so they skip SQLAlchemy's statement
# building: the SQL text is fixed per table (and per row count for multi-row VALUES) and rows
# are plain tuples. SQLite gets one multi-row ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``
# per chunk of orders and one ``executemany`` for the lines; PostgreSQL gets ``COPY`` into a
# session-private temp table and one ``INSERT ... SELECT ... ON CONFLICT`` per table. Raw
# payloads are serialised once with orjson. The never-backwards guards are the same SQL as
# :func:`_not_older` builds for the other tables.

ORDER_COLUMNS = (
    "shop_id",
    "platform_order_id",
    "status",
    "status_rank",
    "platform_status",
    "created_at",
    "paid_at",
    "modified_at",
    "paid_fen",
    "post_fee_fen",
    "discount_fen",
    "buyer_ref",
    "purchasing_unit_id",
    "room_id",
    "author_id",
    "campaign_code",
    "raw",
    "content_hash",
    "synced_at",
)
LINE_COLUMNS = (
    "order_id",
    "shop_id",
    "platform_line_id",
    "platform_item_id",
    "platform_sku_id",
    "outer_sku_id",
    "title",
    "quantity",
    "unit_price_fen",
    "paid_fen",
    "refund_state",
    "room_id",
    "author_id",
    "content_hash",
    "version",
)
_ORDER_GUARD = (
    "(excluded.modified_at > orders.modified_at AND excluded.status_rank >= orders.status_rank)"
    " OR (excluded.modified_at = orders.modified_at AND excluded.status_rank > orders.status_rank)"
    " OR (excluded.modified_at = orders.modified_at AND excluded.status_rank = orders.status_rank"
    " AND excluded.content_hash != orders.content_hash)"
)
# A line's version goes up only when its money or refund state changed: workers key on it.
_LINE_GUARD = (
    "excluded.content_hash != order_lines.content_hash"
    " OR excluded.room_id IS DISTINCT FROM order_lines.room_id"
    " OR excluded.sku_id IS DISTINCT FROM order_lines.sku_id"
)
_ORDER_SET = ", ".join(f"{c} = excluded.{c}" for c in ORDER_COLUMNS if c not in ("shop_id", "platform_order_id"))
_LINE_SET = ", ".join(
    [f"{c} = excluded.{c}" for c in (*LINE_COLUMNS, "sku_id") if c not in ("shop_id", "platform_line_id", "version")]
    + ["version = order_lines.version + 1"]
)
_ORDER_CONFLICT = f"ON CONFLICT (shop_id, platform_order_id) DO UPDATE SET {_ORDER_SET} WHERE {_ORDER_GUARD}"
_LINE_CONFLICT = f"ON CONFLICT (shop_id, platform_line_id) DO UPDATE SET {_LINE_SET} WHERE {_LINE_GUARD}"
# A line's SKU: its listing's mapping (an operator may have mapped it by hand), else the SKU
# whose code is the line's merchant code. A line of an unmapped listing keeps sku_id NULL and
# waits; mapping the listing sets it (bangfu.listing_map), and a later sync keeps it.
_SQLITE_LINES = (
    f"INSERT INTO order_lines ({', '.join((*LINE_COLUMNS, 'sku_id'))}) "
    f"VALUES ({', '.join(f'?{n}' for n in range(1, len(LINE_COLUMNS) + 1))}, "
    "COALESCE((SELECT m.sku_id FROM listings m WHERE m.shop_id = ?2 AND m.platform_item_id = ?4"
    f" AND m.platform_sku_id = COALESCE(?5, '')), ?{len(LINE_COLUMNS) + 1})) {_LINE_CONFLICT}"
)
# Id lists go in as one JSON array: one statement text whatever the count, so SQLite's prepared
# statement cache (per connection) does not fill up with a variant per list length.
_SQLITE_STORED = (
    "SELECT platform_order_id, modified_at, status_rank, content_hash FROM orders"
    " WHERE shop_id = ? AND platform_order_id IN (SELECT value FROM json_each(?))"
)
# Keys go in as one JSON array of [id, modified] pairs, not as arrays the driver checks element
# by element (three isinstance checks against abstract base classes per element).
_PG_STORED = (
    "SELECT o.platform_order_id, o.modified_at, o.status_rank, o.content_hash"
    " FROM json_array_elements($2::text::json) AS k (pair)"
    " JOIN orders o ON o.shop_id = $1 AND o.platform_order_id = k.pair ->> 0"
    " WHERE (k.pair ->> 1)::timestamptz <= (SELECT max(m.modified_at) FROM orders m WHERE m.shop_id = $1)"
)
_SQLITE_SKU_IDS = "SELECT sku_code, id FROM skus WHERE sku_code IN (SELECT value FROM json_each(?))"
_SQLITE_LINK_REFUNDS = (
    "UPDATE refunds SET order_line_id = (SELECT l.id FROM order_lines l"
    " WHERE l.shop_id = refunds.shop_id AND l.platform_line_id = refunds.platform_line_id)"
    " WHERE shop_id = ? AND order_line_id IS NULL AND platform_order_id IN (SELECT value FROM json_each(?))"
)
# The staged raw payload is the JSON's bytes (``bytea``): the driver passes them through as they
# are, where a ``json`` column would take them decoded to text and encoded again. ``orders.raw``
# is ``json`` (0051): the payload is checked and kept as text, not parsed into ``jsonb`` (its
# numbers into ``numeric``), which was about a quarter of PostgreSQL's work per stored order.
_PG_STAGED_ORDER = [f"''::bytea AS {c}" if c == "raw" else c for c in ORDER_COLUMNS]
_PG_TEMP = (
    "CREATE TEMP TABLE IF NOT EXISTS bangfu_orders_in ON COMMIT DELETE ROWS AS"
    f" SELECT {', '.join(_PG_STAGED_ORDER)} FROM orders WITH NO DATA;"
    " CREATE TEMP TABLE IF NOT EXISTS bangfu_lines_in ON COMMIT DELETE ROWS AS"
    f" SELECT {', '.join(LINE_COLUMNS)} FROM order_lines WITH NO DATA;"
    # Emptied at commit; emptied here too for a second batch in the same transaction.
    " DELETE FROM bangfu_orders_in; DELETE FROM bangfu_lines_in"
)
_PG_ORDERS = (
    f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) SELECT "
    + ", ".join("convert_from(raw, 'UTF8')::json" if c == "raw" else c for c in ORDER_COLUMNS)
    + f" FROM bangfu_orders_in {_ORDER_CONFLICT} RETURNING id, platform_order_id, (xmax = 0) AS inserted"
)
_PG_LINES = (
    f"INSERT INTO order_lines ({', '.join((*LINE_COLUMNS, 'sku_id'))}) "
    f"SELECT {', '.join('t.' + c for c in LINE_COLUMNS)}, COALESCE((SELECT m.sku_id FROM listings m"
    " WHERE m.shop_id = t.shop_id AND m.platform_item_id = t.platform_item_id"
    " AND m.platform_sku_id = COALESCE(t.platform_sku_id, '')), s.id) FROM bangfu_lines_in t"
    f" LEFT JOIN skus s ON s.sku_code = t.outer_sku_id {_LINE_CONFLICT}"
)
_PG_LINK_REFUNDS = (
    "UPDATE refunds r SET order_line_id = l.id FROM order_lines l"
    " WHERE r.shop_id = $1 AND r.order_line_id IS NULL"
    " AND r.platform_order_id = ANY(ARRAY(SELECT json_array_elements_text($2::text::json)))"
    " AND l.shop_id = r.shop_id AND l.platform_line_id = r.platform_line_id"
)


def sqlite_time(value: datetime | None) -> str | None:
    """What SQLAlchemy's SQLite DATETIME stores for an aware datetime: naive UTC text, microseconds."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        if value.utcoffset() is None:
            raise ValueError(f"naive datetime given for a UTC column: {value!r}")
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


def _pow2_chunks(rows: Sequence[T], max_rows: int) -> Iterator[Sequence[T]]:
    """Chunks whose sizes are powers of two (largest first): a handful of statement texts."""
    size = 1 << (max(1, max_rows).bit_length() - 1)
    start = 0
    while start < len(rows):
        while size > len(rows) - start:
            size >>= 1
        yield rows[start : start + size]
        start += size


@lru_cache(maxsize=64)
def _sqlite_values(columns: int, rows: int) -> str:
    one = "(" + ", ".join("?" * columns) + ")"
    return ", ".join([one] * rows)


@lru_cache(maxsize=64)
def _sqlite_orders(rows: int) -> str:
    return (
        f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) VALUES {_sqlite_values(len(ORDER_COLUMNS), rows)} "
        f"{_ORDER_CONFLICT} RETURNING id, platform_order_id"
    )


# Enum members' values by member: a dict lookup, not the enum's property machinery, per record.
_STATUS: dict[OrderStatus, tuple[str, int]] = {status: (status.value, status.rank) for status in OrderStatus}
_REFUND_STATE: dict[LineRefundState, str] = {state: state.value for state in LineRefundState}


def _order_tuple(
    shop_id: int,
    record: OrderRecord,
    digest: str,
    unit_ids: Mapping[str, int],
    now: Any,
    time: Callable[[datetime | None], Any] | None = None,
) -> tuple[Any, ...]:
    """The row in ``ORDER_COLUMNS`` order; ``time`` converts datetimes for the driver. The raw
    payload is JSON bytes (PostgreSQL's staging column is ``bytea``) or text (SQLite)."""
    status, rank = _STATUS[record.status]
    code = record.purchasing_unit_code
    created, paid, modified = record.created_at, record.paid_at, record.modified_at
    payload = orjson.dumps(record.raw)
    raw: bytes | str = payload
    if time is not None:
        created, paid, modified = time(created), time(paid), time(modified)
        raw = payload.decode()
    return (
        shop_id,
        record.platform_order_id,
        status,
        rank,
        record.platform_status,
        created,
        paid,
        modified,
        record.paid_fen,
        record.post_fee_fen,
        record.discount_fen,
        record.buyer_ref,
        unit_ids.get(code) if code else None,
        record.room_id,
        record.author_id,
        record.campaign_code,
        raw,
        digest,
        now,
    )


def _line_tuples(shop_id: int, order_id: int, record: OrderRecord) -> Iterator[tuple[Any, ...]]:
    for line in record.lines:
        state = _REFUND_STATE[line.refund_state]
        yield (
            order_id,
            shop_id,
            line.platform_line_id,
            line.platform_item_id,
            line.platform_sku_id,
            line.outer_sku_id,
            line.title[:255],
            line.quantity,
            line.unit_price_fen,
            line.paid_fen,
            state,
            line.room_id or record.room_id,
            line.author_id or record.author_id,
            content_hash(line.quantity, line.unit_price_fen, line.paid_fen, state, line.platform_sku_id),
            1,
        )


async def upsert_orders(
    conn: AsyncConnection, shop_id: int, records: Iterable[OrderRecord], *, now: datetime
) -> PageResult:
    """Store a page of orders with their lines; returns new/changed/unchanged/duplicate counts.

    The stored versions of the page's orders are read first (their modified time, status rank
    and digest), and an order the guard would refuse is left out: a re-read page, most of what an
    overlapping sync reads, costs one query instead of serialising and shipping every order and
    line. What is sent is still guarded in the database (a concurrent write may have moved on).
    """
    orders, duplicates = newest(records, lambda r: r.platform_order_id, lambda r: (r.modified_at, r.status.rank))
    result = PageResult(duplicates=duplicates)
    if not orders:
        return result
    result.max_modified = max(r.modified_at for r in orders)
    digests = [order_hash(r) for r in orders]
    by_id = {r.platform_order_id: r for r in orders}
    if conn.dialect.name == "postgresql":
        driver = await asyncpg_in_transaction(conn)
        stored = await _pg_stored(driver, shop_id, orders)
        fresh = _replacing(orders, digests, stored, None)
        unit_ids = await _unit_ids(conn, fresh)
        rows = [_order_tuple(shop_id, r, digest, unit_ids, now) for r, digest in fresh]
        written, new = await _pg_orders(driver, shop_id, rows, by_id) if rows else (0, 0)
    else:
        found = await conn.exec_driver_sql(_SQLITE_STORED, (shop_id, orjson.dumps(list(by_id)).decode()))
        held: Sequence[Any] = found.all()
        stored = {row[0]: (row[1], row[2], row[3]) for row in held}
        fresh = _replacing(orders, digests, stored, sqlite_time)
        unit_ids = await _unit_ids(conn, fresh)
        stamp = sqlite_time(now)
        rows = [_order_tuple(shop_id, r, digest, unit_ids, stamp, sqlite_time) for r, digest in fresh]
        written, new = await _sqlite_orders_write(conn, shop_id, rows, by_id, set(stored)) if rows else (0, 0)
    result.new = new
    result.changed = written - new
    result.unchanged = len(orders) - written
    return result


def _replacing(
    orders: Sequence[OrderRecord],
    digests: Sequence[str],
    stored: Mapping[str, tuple[Any, int, str]],
    time: Callable[[datetime | None], Any] | None,
) -> list[tuple[OrderRecord, str]]:
    """The orders (with their digests) that are not stored yet or would replace the stored version."""
    fresh: list[tuple[OrderRecord, str]] = []
    for record, digest in zip(orders, digests, strict=True):
        held = stored.get(record.platform_order_id)
        if held is None:
            fresh.append((record, digest))
            continue
        modified = record.modified_at if time is None else time(record.modified_at)
        if replaces(modified, _STATUS[record.status][1], digest, *held):
            fresh.append((record, digest))
    return fresh


async def _pg_stored(driver: Any, shop_id: int, orders: Sequence[OrderRecord]) -> dict[str, tuple[Any, int, str]]:
    """The stored (modified time, status rank, digest) of the page's orders that may be stored.

    An order modified after every stored order of the shop cannot be an unchanged re-read (the
    guard writes it, or refuses it for a status behind the stored one, which the database still
    does), so only the others are looked up: a page of new orders costs one index probe.
    """
    rows = await driver.fetch(
        _PG_STORED, shop_id, orjson.dumps([(r.platform_order_id, r.modified_at) for r in orders]).decode()
    )
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


async def _sqlite_orders_write(
    conn: AsyncConnection,
    shop_id: int,
    rows: list[tuple[Any, ...]],
    by_id: Mapping[str, OrderRecord],
    known: set[str],
) -> tuple[int, int]:
    """Returns (rows written, of which new); ``known``: the orders stored before."""
    ids: dict[str, int] = {}
    for chunk in _pow2_chunks(rows, MAX_PARAMS // len(ORDER_COLUMNS)):
        params = tuple(value for row in chunk for value in row)
        returned = await conn.exec_driver_sql(_sqlite_orders(len(chunk)), params)
        written: Sequence[Any] = returned.all()
        ids.update((row[1], row[0]) for row in written)
    if ids:
        line_rows = [row for pid, order_id in ids.items() for row in _line_tuples(shop_id, order_id, by_id[pid])]
        if line_rows:
            outer = sorted({row[5] for row in line_rows if row[5]})
            sku_ids: dict[str, int] = {}
            if outer:
                skus = await conn.exec_driver_sql(_SQLITE_SKU_IDS, (orjson.dumps(outer).decode(),))
                pairs: Sequence[Any] = skus.all()
                sku_ids.update((row[0], row[1]) for row in pairs)
            await conn.exec_driver_sql(_SQLITE_LINES, [(*row, sku_ids.get(row[5] or "")) for row in line_rows])
        await conn.exec_driver_sql(_SQLITE_LINK_REFUNDS, (shop_id, orjson.dumps(list(ids)).decode()))
    return len(ids), sum(1 for pid in ids if pid not in known)


async def _pg_orders(
    driver: Any, shop_id: int, rows: list[tuple[Any, ...]], by_id: Mapping[str, OrderRecord]
) -> tuple[int, int]:
    """COPY into temp tables, then one upsert per table. Returns (rows written, of which new)."""
    await driver.execute(_PG_TEMP)
    await driver.copy_records_to_table("bangfu_orders_in", records=rows, columns=ORDER_COLUMNS)
    returned = await driver.fetch(_PG_ORDERS)
    if returned:
        line_rows = [row for rec in returned for row in _line_tuples(shop_id, rec[0], by_id[rec[1]])]
        if line_rows:
            await driver.copy_records_to_table("bangfu_lines_in", records=line_rows, columns=LINE_COLUMNS)
            await driver.execute(_PG_LINES)
        await driver.execute(_PG_LINK_REFUNDS, shop_id, orjson.dumps([rec[1] for rec in returned]).decode())
    return len(returned), sum(1 for rec in returned if rec[2])


async def _sku_ids(conn: AsyncConnection, codes: set[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    sku = Sku.__table__
    for chunk in _chunks(sorted(codes), 1):
        rows = await conn.execute(select(sku.c.sku_code, sku.c.id).where(sku.c.sku_code.in_(chunk)))
        out.update({code: sku_id for code, sku_id in rows})
    return out


async def _unit_ids(conn: AsyncConnection, orders: Sequence[tuple[OrderRecord, str]]) -> dict[str, int]:
    """Purchasing unit code -> id for the units the orders name."""
    codes = {r.purchasing_unit_code for r, _ in orders if r.purchasing_unit_code}
    if not codes:
        return {}
    from bangfu.models import PurchasingUnit

    units = PurchasingUnit.__table__
    rows = await conn.execute(select(units.c.code, units.c.id).where(units.c.code.in_(sorted(codes))))
    return {code: unit_id for code, unit_id in rows}


async def upsert_refunds(
    conn: AsyncConnection, shop_id: int, records: Iterable[RefundRecord], *, now: datetime
) -> PageResult:
    refunds, duplicates = newest(records, lambda r: r.platform_refund_id, lambda r: (r.modified_at, r.status.rank))
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
    bills, duplicates = newest(records, lambda r: r.platform_bill_id, lambda r: (r.settled_at,))
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
    products, duplicates = newest(records, lambda r: r.platform_item_id, lambda r: (r.modified_at,))
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
    manual = {
        (item, sku): mapped
        for item, sku, mapped in await conn.execute(
            select(LISTINGS.c.platform_item_id, LISTINGS.c.platform_sku_id, LISTINGS.c.sku_id).where(
                LISTINGS.c.shop_id == shop_id,
                LISTINGS.c.mapping == "manual",
                LISTINGS.c.platform_item_id.in_(sorted({r["platform_item_id"] for r in rows})),
            )
        )
    }
    for row in rows:
        key = (row["platform_item_id"], row["platform_sku_id"])
        # An operator's mapping (or unmapping) stands; otherwise the SKU with the merchant code.
        row["sku_id"] = manual[key] if key in manual else sku_ids.get(row["outer_id"] or "")
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
    sessions, duplicates = newest(records, lambda r: r.room_id, lambda r: (r.modified_at,))
    result = PageResult(duplicates=duplicates)
    sessions, result.held = await _campaign_code_clashes(conn, shop_id, sessions)
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
            "campaign_code": s.campaign_code,
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
                *((s.campaign_code,) if s.campaign_code else ()),  # hashes of sessions without one unchanged
            ),
            "created_at": now,
            "updated_at": now,
        }
        for s in sessions
    ]
    # A record without a campaign code (every API but the self-mall's) leaves a stored one
    # (e.g. imported) alone: those rows are written without the column.
    coded = [r for r in rows if r["campaign_code"] is not None]
    uncoded = [{k: v for k, v in r.items() if k != "campaign_code"} for r in rows if r["campaign_code"] is None]
    written: list[Any] = []
    for group in (coded, uncoded):
        if group:
            written += await _upsert(
                conn,
                SESSIONS,
                group,
                ("shop_id", "room_id"),
                guard=lambda ex: _not_older(SESSIONS, ex, ranked=False),
                returning=("id", "room_id"),
                update_columns=[c for c in group[0] if c not in ("created_at", "ad_spend_fen")],
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


async def _campaign_code_clashes(
    conn: AsyncConnection, shop_id: int, sessions: list[LiveSessionRecord]
) -> tuple[list[LiveSessionRecord], list[Quarantined]]:
    """Sessions whose campaign code another session already has, held back as bad records.

    A campaign code names one session (self-mall links are attributed by it), so a second
    session with the same code, stored or in the same page, would make attribution ambiguous.
    It is quarantined with both sessions named; it is stored once its code is fixed at the source.
    """
    codes = sorted({s.campaign_code for s in sessions if s.campaign_code})
    if not codes:
        return sessions, []
    owners: dict[str, tuple[int, str]] = {}
    for chunk in _chunks(codes, 1):
        rows = await conn.execute(
            select(SESSIONS.c.campaign_code, SESSIONS.c.shop_id, SESSIONS.c.room_id).where(
                SESSIONS.c.campaign_code.in_(chunk)
            )
        )
        owners.update({code: (owner_shop, room) for code, owner_shop, room in rows})
    kept: list[LiveSessionRecord] = []
    held: list[Quarantined] = []
    for session in sorted(sessions, key=lambda s: (s.started_at, s.room_id)):
        code = session.campaign_code
        owner = owners.get(code) if code else None
        if code and owner is not None and owner != (shop_id, session.room_id):
            held.append(
                Quarantined(
                    SyncStream.LIVE_SESSIONS,
                    session.room_id,
                    f"campaign code {code!r} of room {session.room_id} already belongs to room {owner[1]} "
                    f"of shop #{owner[0]}; a campaign code must name one session",
                    session.raw,
                )
            )
            continue
        if code:
            owners[code] = (shop_id, session.room_id)  # a later session of this page with it clashes
        kept.append(session)
    return kept, held


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
