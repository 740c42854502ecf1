"""Unsold-stock alerts: lots still holding units whose SKU has barely sold lately.

A lot is *unsold* when it has been in stock for at least the look-back window, still has units
left, and its SKU's sell-through over the window is below ``min_sell_through_bp``::

    sell-through = units sold in the window / (units sold in the window + units left in all its lots)

Units sold are the quantities of paid order lines (``orders.paid_at`` in the window) of the SKU
on every channel. Perishable products (``products.perishable``) use the shorter
``perishable_days`` window and are raised as ``error`` rather than ``warning``.

One open alert per lot (kind ``unsold``, subject ``lot:<id>``). A run opens alerts for newly
unsold lots, refreshes the message of those still unsold, and resolves (``resolved_at``) those
that sold through or are selling again; running it twice changes nothing. On PostgreSQL a
transaction-scoped advisory lock keeps two concurrent runs from opening the same alert twice.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.i18n import t
from bangfu.models import Alert, Order, OrderLine, Product, Sku, SupplyLot

KIND = "unsold"
_LOCK_KEY = 0x62616E67_75736F  # "bang" "uso": any constant shared by every run
_SUBJECT = re.compile(r"lot:(\d+)")
SHANGHAI_OFFSET = timedelta(hours=8)


def lot_subject(lot_id: int) -> str:
    return f"lot:{lot_id}"


def lot_of(subject: str | None) -> int | None:
    """The lot id an unsold alert's subject names, or None."""
    match = _SUBJECT.fullmatch(subject or "")
    return int(match.group(1)) if match else None


async def detect_unsold(
    conn: AsyncConnection,
    *,
    now: datetime | None = None,
    days: int = 14,
    perishable_days: int = 3,
    min_sell_through_bp: int = 2000,
) -> int:
    """Open, refresh and resolve ``unsold`` alerts; returns how many are open afterwards."""
    now = now or datetime.now(UTC)
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if days <= 0 or perishable_days <= 0 or not 0 <= min_sell_through_bp <= 10_000:
        raise ValueError("days must be positive and min_sell_through_bp within 0..10000")
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})

    long_since = now - timedelta(days=max(days, perishable_days))
    short_since = now - timedelta(days=min(days, perishable_days))
    long_is_days = days >= perishable_days
    lots = (
        await conn.execute(
            select(
                SupplyLot.id,
                SupplyLot.lot_code,
                SupplyLot.sku_id,
                SupplyLot.remaining,
                SupplyLot.received_on,
                Sku.sku_code,
                Product.perishable,
            )
            .join(Sku, Sku.id == SupplyLot.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .where(SupplyLot.remaining > 0)
        )
    ).all()
    sku_ids = sorted({lot.sku_id for lot in lots})
    sold: dict[int, tuple[int, int]] = {}
    last_sale: dict[int, datetime] = {}
    if sku_ids:
        query = (
            select(
                OrderLine.sku_id,
                func.coalesce(func.sum(case((Order.paid_at >= long_since, OrderLine.quantity), else_=0)), 0),
                func.coalesce(func.sum(case((Order.paid_at >= short_since, OrderLine.quantity), else_=0)), 0),
                func.max(Order.paid_at),
            )
            .join(Order, Order.id == OrderLine.order_id)
            .where(OrderLine.sku_id.in_(sku_ids), Order.paid_at.is_not(None), Order.paid_at < now)
            .group_by(OrderLine.sku_id)
        )
        for sku_id, long_units, short_units, last in await conn.execute(query):
            days_units, perishable_units = (long_units, short_units) if long_is_days else (short_units, long_units)
            sold[int(sku_id)] = (int(days_units), int(perishable_units))
            if last is not None:
                last_sale[int(sku_id)] = _aware(last)
    remaining_by_sku: dict[int, int] = {}
    for lot in lots:
        remaining_by_sku[lot.sku_id] = remaining_by_sku.get(lot.sku_id, 0) + lot.remaining

    today = (now + SHANGHAI_OFFSET).date()
    flagged: dict[int, tuple[str, str]] = {}  # lot id -> (severity, message)
    for lot in lots:
        window = perishable_days if lot.perishable else days
        if (today - lot.received_on).days < window:
            continue  # too new to judge
        units = sold.get(lot.sku_id, (0, 0))[1 if lot.perishable else 0]
        stock = units + remaining_by_sku[lot.sku_id]
        if units * 10_000 >= min_sell_through_bp * stock:
            continue
        last = last_sale.get(lot.sku_id)
        idle = (now - last).days if last is not None else (today - lot.received_on).days
        message = t(
            "alert.unsold",
            lot=lot.lot_code,
            sku=lot.sku_code,
            remaining=lot.remaining,
            days=window,
            sold=units,
            idle=idle,
        )
        flagged[lot.id] = ("error" if lot.perishable else "warning", message)

    open_alerts = (
        await conn.execute(
            select(Alert.id, Alert.subject, Alert.message, Alert.severity)
            .where(Alert.kind == KIND, Alert.resolved_at.is_(None))
            .order_by(Alert.id)
        )
    ).all()
    seen: set[int] = set()
    to_resolve: list[int] = []
    for alert in open_alerts:
        lot_id = lot_of(alert.subject)
        if lot_id is None or lot_id not in flagged or lot_id in seen:
            to_resolve.append(alert.id)
            continue
        seen.add(lot_id)
        severity, message = flagged[lot_id]
        if (alert.message, alert.severity) != (message, severity):
            await conn.execute(update(Alert).where(Alert.id == alert.id).values(message=message, severity=severity))
    if to_resolve:
        await conn.execute(update(Alert).where(Alert.id.in_(to_resolve)).values(resolved_at=now))
    fresh = [
        {
            "kind": KIND,
            "severity": severity,
            "shop_id": None,
            "subject": lot_subject(lot_id),
            "message": message,
            "created_at": now,
        }
        for lot_id, (severity, message) in sorted(flagged.items())
        if lot_id not in seen
    ]
    if fresh:
        await conn.execute(insert(Alert), fresh)
    return len(flagged)


def _aware(value: datetime) -> datetime:
    return value if value.utcoffset() is not None else value.replace(tzinfo=UTC)
