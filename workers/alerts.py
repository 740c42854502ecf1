"""Unsold (滞销) alerts: the rule of :mod:`bangfu.unsold` applied to every lot, kept in ``alerts``.

One open alert per lot (kind ``unsold``, subject ``lot:<id>``). A run (:func:`run_unsold`, which
``bangfu alerts run`` and the beat's ``bangfu.detect_unsold`` task both call) opens alerts for lots
newly at risk, refreshes those still at risk whose figures changed, and resolves (``resolved_at``)
those no longer at risk; a second run with the same data and clock changes nothing. On PostgreSQL a
transaction-scoped advisory lock keeps two concurrent runs from opening the same alert twice.

Each alert keeps its figures as JSON in ``alerts.detail`` (:class:`bangfu.queries.unsold.Detail`
reads it back): the lot, the verdict's numbers, and the channels that could take the produce:

- shops that sold this SKU or its category in the rule's window (units, so a rate per day);
- purchasing units that bought it in the last ``channel_days`` days (units);
- hosts whose live sessions sold it in the last ``channel_days`` days (units);

each kind ranked by units of this SKU, then of its category, at most ``channels_per_kind`` each.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.alert_sets import keep_open
from bangfu.models import (
    Host,
    LineAttribution,
    Order,
    OrderLine,
    Product,
    PurchasingUnit,
    Shop,
    Sku,
    SupplyLot,
)
from bangfu.queries.unsold import KIND, describe
from bangfu.unsold import DEFAULT_RULE, LotFacts, UnsoldRule, Verdict, assess

_LOCK_KEY = 0x62616E67_75736F  # "bang" "uso": any constant shared by every run
_SUBJECT = re.compile(r"lot:(\d+)")
SHANGHAI_OFFSET = timedelta(hours=8)


def lot_subject(lot_id: int) -> str:
    return f"lot:{lot_id}"


def lot_of(subject: str | None) -> int | None:
    """The lot id an unsold alert's subject names, or None."""
    match = _SUBJECT.fullmatch(subject or "")
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class RunResult:
    """What one run did; ``open`` is the number of open unsold alerts afterwards."""

    lots: int  # lots holding stock that were judged
    opened: int
    refreshed: int
    resolved: int
    open: int

    def as_dict(self) -> dict[str, int]:
        return {
            "lots": self.lots,
            "opened": self.opened,
            "refreshed": self.refreshed,
            "resolved": self.resolved,
            "open": self.open,
        }


async def run_unsold(
    conn: AsyncConnection, *, now: datetime | None = None, rule: UnsoldRule | None = None
) -> RunResult:
    """Open, refresh and resolve ``unsold`` alerts in the caller's transaction."""
    now = now or datetime.now(UTC)
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    rule = rule or DEFAULT_RULE
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    today = (now.astimezone(UTC) + SHANGHAI_OFFSET).date()

    lots = (
        await conn.execute(
            select(
                SupplyLot.id,
                SupplyLot.lot_code,
                SupplyLot.sku_id,
                SupplyLot.cooperative_id,
                SupplyLot.supplier_id,
                SupplyLot.quantity,
                SupplyLot.remaining,
                SupplyLot.received_on,
                Sku.sku_code,
                Sku.retail_price_fen,
                Product.name.label("product"),
                Product.category,
                Product.perishable,
            )
            .join(Sku, Sku.id == SupplyLot.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .where(SupplyLot.remaining > 0)
            .order_by(SupplyLot.sku_id, SupplyLot.received_on, SupplyLot.id)
        )
    ).all()
    window_start = now - timedelta(days=rule.window_days)
    sold: dict[int, int] = {}
    if lots:
        query = (
            select(OrderLine.sku_id, func.coalesce(func.sum(OrderLine.quantity), 0))
            .join(Order, Order.id == OrderLine.order_id)
            .where(
                OrderLine.sku_id.in_(sorted({lot.sku_id for lot in lots})),
                Order.paid_at >= window_start,
                Order.paid_at < now,
            )
            .group_by(OrderLine.sku_id)
        )
        sold = {int(sku): int(units) for sku, units in await conn.execute(query) if sku is not None}

    ahead: dict[int, int] = defaultdict(int)  # lots come oldest first per SKU
    flagged: dict[int, tuple[Any, Verdict, int]] = {}  # lot id -> (lot, verdict, units ahead)
    for lot in lots:
        facts = LotFacts(
            received_on=lot.received_on,
            quantity=lot.quantity,
            remaining=lot.remaining,
            ahead=ahead[lot.sku_id],
            sold=sold.get(lot.sku_id, 0),
            category=lot.category,
            perishable=bool(lot.perishable),
        )
        ahead[lot.sku_id] += lot.remaining
        verdict = assess(facts, today, rule)
        if verdict is not None:
            flagged[lot.id] = (lot, verdict, facts.ahead)

    channels = await _channels(conn, [lot for lot, _, _ in flagged.values()], now, rule)
    wanted: dict[int, tuple[str, str, str]] = {}  # lot id -> (severity, message, detail)
    for lot_id, (lot, verdict, units_ahead) in flagged.items():
        detail = {
            "lot_id": lot_id,
            "lot": lot.lot_code,
            "sku_id": lot.sku_id,
            "sku": lot.sku_code,
            "product": lot.product,
            "category": lot.category,
            "cooperative_id": lot.cooperative_id,
            "supplier_id": lot.supplier_id,
            "status": verdict.status,
            "received_on": lot.received_on.isoformat(),
            "shelf_days": verdict.shelf_days,
            "expires_on": verdict.expires_on.isoformat(),
            "days_left": verdict.days_left,
            "quantity": lot.quantity,
            "remaining": lot.remaining,
            "ahead": units_ahead,
            "sold": sold.get(lot.sku_id, 0),
            "window_days": rule.window_days,
            "left_at_end": verdict.left_at_end,
            "days_to_clear": verdict.days_to_clear,
            "value_fen": verdict.left_at_end * int(lot.retail_price_fen),
            "channel_days": rule.channel_days,
            "channels": channels.get(lot_id, []),
        }
        wanted[lot_id] = (verdict.severity, describe(detail), json.dumps(detail, ensure_ascii=False, sort_keys=True))

    kept = await keep_open(conn, KIND, wanted, key_of=lot_of, subject_of=lot_subject, now=now)
    return RunResult(len(lots), kept.opened, kept.refreshed, kept.resolved, len(wanted))


async def detect_unsold(conn: AsyncConnection, *, now: datetime | None = None, rule: UnsoldRule | None = None) -> int:
    """:func:`run_unsold`, returning the number of open unsold alerts (the beat task's result)."""
    return (await run_unsold(conn, now=now, rule=rule)).open


async def _channels(
    conn: AsyncConnection, lots: list[Any], now: datetime, rule: UnsoldRule
) -> dict[int, list[dict[str, Any]]]:
    """For each lot id: the channels that could take it (module docstring), best first."""
    if not lots or rule.channels_per_kind == 0:
        return {}
    categories = sorted({lot.category for lot in lots})
    window_start = now - timedelta(days=rule.window_days)
    channel_start = now - timedelta(days=rule.channel_days)

    def units_by(key: Any, since: datetime, *joins: Any) -> Select[Any]:
        query = (
            select(key, OrderLine.sku_id, Product.category, func.sum(OrderLine.quantity))
            .select_from(OrderLine)
            .join(Order, Order.id == OrderLine.order_id)
            .join(Sku, Sku.id == OrderLine.sku_id)
            .join(Product, Product.id == Sku.product_id)
        )
        for target, on in joins:
            query = query.join(target, on)
        return query.where(
            key.is_not(None), Product.category.in_(categories), Order.paid_at >= since, Order.paid_at < now
        ).group_by(key, OrderLine.sku_id, Product.category)

    sources: list[tuple[str, Any, int]] = [
        ("shop", units_by(OrderLine.shop_id, window_start), rule.window_days),
        ("unit", units_by(Order.purchasing_unit_id, channel_start), rule.channel_days),
        (
            "host",
            units_by(
                LineAttribution.host_id,
                channel_start,
                (LineAttribution, LineAttribution.order_line_id == OrderLine.id),
            ),
            rule.channel_days,
        ),
    ]
    names = {
        "shop": {int(i): str(n) for i, n in await conn.execute(select(Shop.id, Shop.name))},
        "unit": {},
        "host": {},
    }
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for kind, query, days in sources:
        by_sku: dict[tuple[int, int], int] = defaultdict(int)  # (channel, sku) -> units
        by_category: dict[tuple[int, str], int] = defaultdict(int)
        for channel, sku, category, units in await conn.execute(query):
            by_sku[(int(channel), int(sku))] += int(units)
            by_category[(int(channel), category)] += int(units)
        ids = sorted({c for c, _ in by_category})
        if kind == "unit" and ids:
            query_names = select(PurchasingUnit.id, PurchasingUnit.name).where(PurchasingUnit.id.in_(ids))
            names["unit"] = {int(i): str(n) for i, n in await conn.execute(query_names)}
        if kind == "host" and ids:
            query_names = select(Host.id, Host.name).where(Host.id.in_(ids))
            names["host"] = {int(i): str(n) for i, n in await conn.execute(query_names)}
        for lot in lots:
            ranked = sorted(
                (
                    (by_sku.get((c, lot.sku_id), 0), units, c)
                    for (c, category), units in by_category.items()
                    if category == lot.category
                ),
                key=lambda r: (-r[0], -r[1], r[2]),
            )
            for sku_units, category_units, c in ranked[: rule.channels_per_kind]:
                out[lot.id].append(
                    {
                        "kind": kind,
                        "id": c,
                        "name": names[kind].get(c, f"#{c}"),
                        "sku_units": sku_units,
                        "category_units": category_units,
                        "days": days,
                    }
                )
    return dict(out)
