"""The sales ledger's figures kept per day (``sales_days``, ``sales_refund_days``), and the
county overview's order totals (``sales_order_days``).

The sales ledger's rule (:mod:`bangfu.reports.sales_ledger`): gross = the lines' ``paid_fen``
on the Asia/Shanghai day the order was paid, refunds = succeeded refunds on the day they
succeeded (``refunds.modified_at``), certified when the sale they reverse was. The county
overview's sales, the product pivot, the certificates page's monthly sales and the sales ledger
summed every line and refund of the period for it (2-4 s at 1,000,000 lines). Here they are
summed per day:

- ``sales_days``: per paid day, the order's shop (the overview's scope), the line's shop (the
  channel; the pivot's and the certificates page's scope) and the line's SKU (0: none): ``fen``
  and ``lines``; and for the planting pages' sell-through, over the lines of paid orders
  (``order_is_paid``) net of each line's succeeded refunds of any day: ``paid_lines``,
  ``units_left`` (0 for a fully refunded line, never below 0) and ``net_fen``;
- ``sales_refund_days``: per refund day, the refund's shop, its line's SKU (0: none) and the
  day its line's order was paid (:data:`NO_DAY`: no line, or no payment time; the certificate
  is looked up for that day): ``fen`` and ``refunds``;
- ``sales_order_days`` (migration 0045): per paid day and the order's shop, the orders' own
  sums the county overview shows beside the lines' (``queries.county._sales``): how many,
  ``paid_fen`` of orders in a paid status (``status_rank`` paid or later: :data:`PAID_RANK`,
  as ``bangfu stats`` counts; the rank, not ``order_is_paid``'s status list) and of the others
  (a payment time only), and ``post_fee_fen``.

A group is kept while it has a line (refund), even at 0 fen: the pages show such a group. The
channel (shop -> channel type), the product (SKU -> product) and the certificate (product, sale
day) are joined at read time, so none of them needs a rebooking. Kept exact by marking, as
:mod:`bangfu.county_income` is:

- Database triggers (migration 0041) write the days a change touches into ``sales_dirty`` in
  the transaction of the change (a line inserted, deleted, or its paid amount, SKU, shop,
  order, units or refund state changed; an order's payment time or shop changed, its status
  crossing paid / not paid, or deleted; a succeeded refund inserted, deleted or changed: its
  day and its line's sale day). Migration 0045 adds what the order totals read: an order
  inserted with a payment time, its ``status_rank`` crossing :data:`PAID_RANK`, its
  ``paid_fen`` or ``post_fee_fen`` changed (old and new paid day). The three tables share the
  markers: an order's days are nearly always marked by its lines anyway.
- :func:`gross_rows` and :func:`refund_rows` (what the pages read) take unmarked days from the
  stored rows and sum marked days from the lines and refunds (:func:`live_gross`,
  :func:`live_refunds`), in one statement, so one snapshot; :func:`order_sums` likewise
  (:func:`live_orders`).
- :func:`refresh` recomputes the marked days and deletes the markers it read; the pipeline runs
  it once per run. On PostgreSQL one refresh runs at a time (a transaction advisory lock).

A period that is not whole local days (none of the console's) is summed from the lines and
refunds (``stored=False``), by the same statement; the order totals by the overview's own
statement over the orders.

:func:`rows_differing_from_lines` is the proof: the stored rows against the live sums.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    TIMESTAMP,
    ColumnElement,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.certification import sale_day
from bangfu.day_marks import as_date, clear_marks, take_marks
from bangfu.enums import UNPAID_ORDER_STATUSES, LineRefundState, OrderStatus, RefundStatus
from bangfu.models import (
    Order,
    OrderLine,
    Product,
    Refund,
    SalesDay,
    SalesDirty,
    SalesOrderDay,
    SalesRefundDay,
    Shop,
    Sku,
)
from bangfu.reports.base import Period, local_midnight, whole_days
from bangfu.store import among

NO_DAY = date(1, 1, 1)  # sales_refund_days.sale_day of a refund without a paid sale
LOCK_KEY = 0x0C00_9D41  # pg_advisory_xact_lock: one refresh at a time
_CHUNK = 366  # days per recomputing statement

GROSS_KEYS = ("day", "order_shop_id", "shop_id", "sku_id")
GROSS_COLUMNS = (*GROSS_KEYS, "fen", "lines", "paid_lines", "units_left", "net_fen")
REFUND_KEYS = ("day", "shop_id", "sku_id", "sale_day")
REFUND_COLUMNS = (*REFUND_KEYS, "fen", "refunds")
ORDER_KEYS = ("day", "shop_id")
ORDER_COLUMNS = (*ORDER_KEYS, "orders", "paid_fen", "paid_time_only_fen", "post_fee_fen")
PAID_RANK = OrderStatus.PAID.rank  # the overview's paid status: this rank or later


def _ranges(days: Sequence[date]) -> list[tuple[date, date]]:
    """Consecutive days merged: (first, last) of each run."""
    out: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if out and out[-1][1] + timedelta(days=1) == day:
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def _within(conn: AsyncConnection, at: Any, days: Any) -> tuple[Any, Any]:
    """(source addition, condition): the rows whose timestamp ``at`` falls on ``days``: a list of
    dates, a subquery with a ``day`` column (joined), a ``(start, end)`` pair of UTC datetimes,
    or None (every day)."""
    if days is None:
        return None, literal(True)
    if isinstance(days, tuple) and days and isinstance(days[0], datetime):
        return None, and_(at >= days[0], at < days[1])
    if isinstance(days, list | tuple):
        if not days:
            return None, literal(False)
        return None, or_(
            *(and_(at >= local_midnight(a), at < local_midnight(b + timedelta(days=1))) for a, b in _ranges(days))
        )
    if conn.dialect.name == "postgresql":
        # A range on the timestamp per marked day (its index), not the day of every row.
        start = cast(days.c.day, TIMESTAMP)
        return days, and_(
            at >= func.timezone("Asia/Shanghai", start),
            at < func.timezone("Asia/Shanghai", start + literal_column("interval '1 day'")),
        )
    return days, sale_day(conn, at) == days.c.day


def live_gross(conn: AsyncConnection, days: Any = None) -> Any:
    """SQL: rows of ``sales_days`` (day, order_shop_id, shop_id, sku_id, fen, lines, paid_lines,
    units_left, net_fen) summed from the lines of the orders paid on ``days`` (see
    :func:`_within`; None: every day). A line's succeeded refunds (of any day) are looked up per
    line: a marked day has few."""
    day = sale_day(conn, Order.paid_at)
    succeeded = (Refund.order_line_id == OrderLine.id, Refund.status == RefundStatus.SUCCEEDED)
    refunded_units = select(func.coalesce(func.sum(Refund.quantity), 0)).where(*succeeded).scalar_subquery()
    refunded_fen = select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(*succeeded).scalar_subquery()
    paid = Order.status.not_in(UNPAID_ORDER_STATUSES)
    left = OrderLine.quantity - refunded_units
    zero: Any = literal_column("0")
    units = case((~paid, zero), (OrderLine.refund_state == LineRefundState.FULL, zero), (left > 0, left), else_=zero)
    sku = func.coalesce(OrderLine.sku_id, literal_column("0"))
    marked, on_days = _within(conn, Order.paid_at, days)
    source: Any = Order if marked is None else marked.join(Order, on_days)
    query = (
        select(
            day.label("day"),
            Order.shop_id.label("order_shop_id"),
            OrderLine.shop_id.label("shop_id"),
            sku.label("sku_id"),
            func.sum(OrderLine.paid_fen).label("fen"),
            func.count().label("lines"),
            func.sum(case((paid, 1), else_=0)).label("paid_lines"),
            func.sum(units).label("units_left"),
            func.sum(case((paid, OrderLine.paid_fen - refunded_fen), else_=zero)).label("net_fen"),
        )
        .select_from(source)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.paid_at.is_not(None))
        .group_by(day, Order.shop_id, OrderLine.shop_id, sku)
    )
    return query if marked is not None else query.where(on_days)


def _no_day(conn: AsyncConnection) -> Any:
    if conn.dialect.name == "postgresql":
        return literal_column(f"DATE '{NO_DAY.isoformat()}'")
    return literal_column(f"'{NO_DAY.isoformat()}'")


def live_refunds(conn: AsyncConnection, days: Any = None) -> Any:
    """SQL: rows of ``sales_refund_days`` (day, shop_id, sku_id, sale_day, fen, refunds) summed
    from the refunds that succeeded on ``days`` (see :func:`_within`; None: every day)."""
    day = sale_day(conn, Refund.modified_at)
    sku = func.coalesce(OrderLine.sku_id, literal_column("0"))
    sold = func.coalesce(sale_day(conn, Order.paid_at), _no_day(conn))
    marked, on_days = _within(conn, Refund.modified_at, days)
    source: Any = Refund if marked is None else marked.join(Refund, on_days)
    query = (
        select(
            day.label("day"),
            Refund.shop_id.label("shop_id"),
            sku.label("sku_id"),
            sold.label("sale_day"),
            func.sum(Refund.amount_fen).label("fen"),
            func.count().label("refunds"),
        )
        .select_from(source)
        .outerjoin(OrderLine, OrderLine.id == Refund.order_line_id)
        .outerjoin(Order, Order.id == OrderLine.order_id)
        .where(Refund.status == RefundStatus.SUCCEEDED)
        .group_by(day, Refund.shop_id, sku, sold)
    )
    return query if marked is not None else query.where(on_days)


def _order_sums() -> tuple[Any, Any, Any, Any]:
    """SQL aggregates over ``orders``: how many, ``paid_fen`` of paid status, ``paid_fen`` of the
    others, ``post_fee_fen`` (0 over no order)."""
    paid = Order.status_rank >= PAID_RANK
    return (
        func.count(),
        func.coalesce(func.sum(Order.paid_fen).filter(paid), 0),
        func.coalesce(func.sum(Order.paid_fen).filter(~paid), 0),
        func.coalesce(func.sum(Order.post_fee_fen), 0),
    )


def live_orders(conn: AsyncConnection, days: Any = None) -> Any:
    """SQL: rows of ``sales_order_days`` (day, shop_id, orders, paid_fen, paid_time_only_fen,
    post_fee_fen) summed from the orders paid on ``days`` (see :func:`_within`; None: every day)."""
    day = sale_day(conn, Order.paid_at)
    marked, on_days = _within(conn, Order.paid_at, days)
    source: Any = Order if marked is None else marked.join(Order, on_days)
    sums = _order_sums()
    query = (
        select(
            day.label("day"),
            Order.shop_id.label("shop_id"),
            *(value.label(name) for value, name in zip(sums, ORDER_COLUMNS[2:], strict=True)),
        )
        .select_from(source)
        .where(Order.paid_at.is_not(None))
        .group_by(day, Order.shop_id)
    )
    return query if marked is not None else query.where(on_days)


def _marked(first: date, last: date) -> Any:
    return select(SalesDirty.day).where(SalesDirty.day >= first, SalesDirty.day <= last).distinct().subquery("marked")


DIMENSIONS = ("product_id", "supplier_id", "channel")


def _dimensioned(source: Any, columns: Sequence[str]) -> Any:
    """SELECT ``columns`` of ``source`` (a table or subquery with shop_id and sku_id) with the
    SKU's product (NULL: none), the product's supplier and the shop's channel type joined here,
    in each branch: the readers then join nothing to the union, whose columns have no statistics
    (a join to it was planned as a nested loop over every (SKU, row) pair: 0.4 s at 100,000
    lines)."""
    return (
        select(
            *(source.c[name] for name in columns),
            Sku.product_id.label("product_id"),
            Product.supplier_id.label("supplier_id"),
            Shop.channel_type.label("channel"),
        )
        .select_from(source)
        .join(Shop, Shop.id == source.c.shop_id)
        .outerjoin(Sku, Sku.id == source.c.sku_id)
        .outerjoin(Product, Product.id == Sku.product_id)
    )


async def read_marked_days(
    conn: AsyncConnection, period: Period | None, *, stored: bool = True
) -> tuple[date, ...] | None:
    """The marked days of ``period`` (None: ever), read first, for a reader to pass as
    ``marked_days`` to :func:`gross_rows`, :func:`refund_rows` and :func:`order_sums`; None where
    those sum the lines anyway (not ``stored``, or a period that is not whole local days), which
    is also what they take for "read the markers in the statement".

    None marked (the usual case for a past period): the stored rows alone; otherwise the stored
    rows of the other days and the lines' sums of those days by their payment time's range
    (constants: the planner sees a day's few orders, where a join to the markers was planned for
    17,000 orders per day, with parallel workers and JIT compilation, even when nothing was
    marked). Under READ COMMITTED each statement has its own snapshot anyway; a day unmarked when
    this ran is read stored: its figures as of then or of a later refresh. A day read live is
    exact whether or not it is still marked."""
    if not stored:
        return None
    days = (date.min, date.max) if period is None else whole_days(period)
    if days is None:
        return None
    found = select(SalesDirty.day).where(SalesDirty.day >= days[0], SalesDirty.day <= days[1]).distinct()
    return tuple(sorted(as_date(d) for d in await conn.scalars(found)))


def _kept_where(row: Any, days: tuple[date, date], marked_days: Sequence[date] | None) -> list[Any]:
    within = [row.c.day >= days[0], row.c.day <= days[1]]
    if marked_days is None:
        return [*within, ~exists().where(SalesDirty.day == row.c.day)]
    return [*within, row.c.day.not_in(list(marked_days))] if marked_days else within


def _live_days(days: tuple[date, date], marked_days: Sequence[date] | None) -> Any:
    """What the live branch sums: the markers (a subquery) or the days the caller found."""
    return _marked(*days) if marked_days is None else list(marked_days)


def gross_rows(
    conn: AsyncConnection, period: Period | None, *, stored: bool = True, marked_days: Sequence[date] | None = None
) -> Any:
    """Subquery (:data:`GROSS_COLUMNS` and :data:`DIMENSIONS`: of the line's shop and SKU) of the
    orders paid in ``period`` (None: ever): stored rows of unmarked days and the lines' sums of
    marked days, in one statement; summed from the lines when ``stored`` is False or the period
    is not whole days. ``marked_days``: the marked days of the period the caller found
    (:func:`read_marked_days`), instead of the markers read in the statement."""
    bounds = None if period is None else (period.start, period.end)
    days = (date.min, date.max) if period is None else whole_days(period)
    if days is None or not stored:
        return _dimensioned(live_gross(conn, bounds).subquery("live_gross"), GROSS_COLUMNS).subquery("gross")
    row: Any = SalesDay.__table__
    kept = _dimensioned(row, GROSS_COLUMNS).where(*_kept_where(row, days, marked_days))
    if marked_days is not None and not marked_days:
        return kept.subquery("gross")
    live = live_gross(conn, _live_days(days, marked_days)).subquery("live_gross")
    return union_all(kept, _dimensioned(live, GROSS_COLUMNS)).subquery("gross")


def refund_rows(
    conn: AsyncConnection, period: Period, *, stored: bool = True, marked_days: Sequence[date] | None = None
) -> Any:
    """Subquery (day, shop_id, sku_id, sale_day, fen, refunds and :data:`DIMENSIONS`: of the
    refund's shop and its line's SKU) of the refunds that succeeded in ``period``, ``sale_day``
    NULL for a refund without a paid sale: as :func:`gross_rows` (``marked_days`` too)."""
    days = whole_days(period) if stored else None
    if days is None:
        live = live_refunds(conn, (period.start, period.end)).subquery("live_refunds")
        source = _dimensioned(live, REFUND_COLUMNS).subquery("refund_source")
    else:
        row: Any = SalesRefundDay.__table__
        kept = _dimensioned(row, REFUND_COLUMNS).where(*_kept_where(row, days, marked_days))
        if marked_days is not None and not marked_days:
            source = kept.subquery("refund_source")
        else:
            live = live_refunds(conn, _live_days(days, marked_days)).subquery("live_refunds")
            source = union_all(kept, _dimensioned(live, REFUND_COLUMNS)).subquery("refund_source")
    sold = case((source.c.sale_day == _no_day(conn), null()), else_=source.c.sale_day)
    return select(
        *(source.c[name] for name in REFUND_COLUMNS if name != "sale_day"),
        sold.label("sale_day"),
        *(source.c[name] for name in DIMENSIONS),
    ).subquery("refunds")


def order_sums(
    conn: AsyncConnection,
    period: Period,
    shops: Callable[[Any], ColumnElement[bool]],
    *,
    stored: bool = True,
    marked_days: Sequence[date] | None = None,
) -> Any:
    """SQL, one row: (orders, paid_fen of paid status, paid_fen of the others, post_fee_fen) of
    the orders paid in ``period`` whose shop passes ``shops`` (a scope's filter of a shop id
    column): the stored rows of unmarked days and the orders' sums of marked days, in one
    statement; the overview's statement over the orders when ``stored`` is False or the period
    is not whole days; ``marked_days`` as :func:`gross_rows`'s."""
    days = whole_days(period) if stored else None
    if days is None:
        return select(*_order_sums()).where(
            Order.paid_at >= period.start, Order.paid_at < period.end, shops(Order.shop_id)
        )
    row: Any = SalesOrderDay.__table__
    sums = ORDER_COLUMNS[2:]
    where = (*_kept_where(row, days, marked_days), shops(row.c.shop_id))
    if marked_days is not None and not marked_days:
        return select(*(func.coalesce(func.sum(row.c[name]), 0) for name in sums)).where(*where)
    kept = select(*(row.c[name] for name in sums)).where(*where)
    live = live_orders(conn, _live_days(days, marked_days)).where(shops(Order.shop_id)).subquery("live_orders")
    both = union_all(kept, select(*(live.c[name] for name in sums))).subquery("orders")
    return select(*(func.coalesce(func.sum(both.c[name]), 0) for name in sums))


async def refresh(conn: AsyncConnection) -> int:
    """Recompute the marked days' rows of the three tables from the lines, refunds and orders and
    delete the markers read, in the caller's transaction; the number of days recomputed."""
    days, ids = await take_marks(conn, SalesDirty, LOCK_KEY)
    if not ids:
        return 0
    gross_columns = [SalesDay.__table__.c[name] for name in GROSS_COLUMNS]
    refund_columns = [SalesRefundDay.__table__.c[name] for name in REFUND_COLUMNS]
    order_columns = [SalesOrderDay.__table__.c[name] for name in ORDER_COLUMNS]
    for offset in range(0, len(days), _CHUNK):
        chunk = days[offset : offset + _CHUNK]
        await conn.execute(delete(SalesDay).where(among(conn, SalesDay.day, chunk)))
        await conn.execute(insert(SalesDay).from_select(gross_columns, live_gross(conn, chunk)))
        await conn.execute(delete(SalesRefundDay).where(among(conn, SalesRefundDay.day, chunk)))
        await conn.execute(insert(SalesRefundDay).from_select(refund_columns, live_refunds(conn, chunk)))
        await conn.execute(delete(SalesOrderDay).where(among(conn, SalesOrderDay.day, chunk)))
        await conn.execute(insert(SalesOrderDay).from_select(order_columns, live_orders(conn, chunk)))
    await clear_marks(conn, SalesDirty, ids)
    return len(days)


async def marked(conn: AsyncConnection) -> int:
    """How many markers are waiting for a refresh."""
    return int(await conn.scalar(select(func.count()).select_from(SalesDirty)) or 0)


def _key(row: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(as_date(v) if isinstance(v, date | str) else int(v) for v in row)


async def rows_differing_from_lines(
    conn: AsyncConnection, limit: int = 20
) -> list[tuple[tuple[Any, ...], tuple[int, ...] | None, tuple[int, ...] | None]]:
    """(("gross" | "refund" | "orders", day, key...), stored values, live values) where the
    stored rows and the sums of the lines, refunds and orders disagree, ignoring nothing: a
    marked day counts as differing when its rows are stale (call :func:`refresh` first)."""
    differing: list[tuple[tuple[Any, ...], tuple[int, ...] | None, tuple[int, ...] | None]] = []
    for grain, model, keys, columns, live in (
        ("gross", SalesDay, len(GROSS_KEYS), GROSS_COLUMNS, live_gross(conn)),
        ("refund", SalesRefundDay, len(REFUND_KEYS), REFUND_COLUMNS, live_refunds(conn)),
        ("orders", SalesOrderDay, len(ORDER_KEYS), ORDER_COLUMNS, live_orders(conn)),
    ):
        table: Any = model.__table__
        stored = {
            (grain, *_key(row[:keys])): tuple(int(v) for v in row[keys:])
            for row in await conn.execute(select(*(table.c[name] for name in columns)))
        }
        summed = {(grain, *_key(row[:keys])): tuple(int(v) for v in row[keys:]) for row in await conn.execute(live)}
        differing += [
            (key, stored.get(key), summed.get(key))
            for key in sorted(set(stored) | set(summed))
            if stored.get(key) != summed.get(key)
        ]
    return differing[:limit]
