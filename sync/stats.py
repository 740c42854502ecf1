"""The hub's side of the comparison with a platform's ground truth, per shop."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.enums import OrderStatus, RefundStatus
from bangfu.models import Order, OrderLine, Refund, Shop

PAID_RANK = OrderStatus.PAID.rank
#: the per-shop totals compared with a platform's ``/_fake/truth``
TOTALS = ("orders", "order_lines", "refunds", "paid_fen", "refunded_fen")


async def shop_stats(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Per shop: orders, order_lines, refunds, paid_fen (orders that were paid), refunded_fen (succeeded)."""
    orders = (
        select(
            Order.shop_id,
            func.count().label("orders"),
            func.coalesce(func.sum(case((Order.status_rank >= PAID_RANK, Order.paid_fen), else_=0)), 0).label("paid"),
        )
        .group_by(Order.shop_id)
        .subquery()
    )
    lines = select(OrderLine.shop_id, func.count().label("lines")).group_by(OrderLine.shop_id).subquery()
    refunds = (
        select(
            Refund.shop_id,
            func.count().label("refunds"),
            func.coalesce(
                func.sum(case((Refund.status == RefundStatus.SUCCEEDED, Refund.amount_fen), else_=0)), 0
            ).label("refunded"),
        )
        .group_by(Refund.shop_id)
        .subquery()
    )
    query = (
        select(
            Shop.id,
            Shop.name,
            Shop.platform,
            Shop.platform_shop_id,
            func.coalesce(orders.c.orders, 0),
            func.coalesce(lines.c.lines, 0),
            func.coalesce(refunds.c.refunds, 0),
            func.coalesce(orders.c.paid, 0),
            func.coalesce(refunds.c.refunded, 0),
        )
        .outerjoin(orders, orders.c.shop_id == Shop.id)
        .outerjoin(lines, lines.c.shop_id == Shop.id)
        .outerjoin(refunds, refunds.c.shop_id == Shop.id)
        .order_by(Shop.id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        {
            "shop": shop_id,
            "name": name,
            "platform": str(platform),
            "platform_shop_id": platform_shop_id,
            "orders": int(n_orders),
            "order_lines": int(n_lines),
            "refunds": int(n_refunds),
            "paid_fen": int(paid),
            "refunded_fen": int(refunded),
        }
        for shop_id, name, platform, platform_shop_id, n_orders, n_lines, n_refunds, paid, refunded in rows
    ]


async def shop_records(engine: AsyncEngine) -> dict[int, dict[str, Any]]:
    """Per shop: every order's and refund's ``[status, modified epoch s]`` (``order_records``,
    ``refund_records``: ``{platform id: [status, epoch]}``) and duplicate-row counts (``duplicates``).

    The record-level side of a convergence check against a fake's ``/_fake/truth?records=1``:
    the hub holds the latest version of each record (no stale status or modified time), and no
    platform id is stored twice (``duplicates``: rows beyond one per platform id, per table).
    """
    out: dict[int, dict[str, Any]] = {}

    def entry(shop_id: int) -> dict[str, Any]:
        return out.setdefault(
            shop_id,
            {"order_records": {}, "refund_records": {}, "duplicates": {"orders": 0, "order_lines": 0, "refunds": 0}},
        )

    async with engine.connect() as conn:
        for shop_id in await conn.scalars(select(Shop.id)):
            entry(shop_id)
        for kind, model, key in (
            ("orders", Order, Order.platform_order_id),
            ("order_lines", OrderLine, OrderLine.platform_line_id),
            ("refunds", Refund, Refund.platform_refund_id),
        ):
            shop_col = model.shop_id
            dupes = select(shop_col, (func.count() - func.count(func.distinct(key))).label("extra")).group_by(shop_col)
            for shop_id, extra in await conn.execute(dupes):
                entry(shop_id)["duplicates"][kind] = int(extra)
        for kind, columns in (
            ("order_records", (Order.shop_id, Order.platform_order_id, Order.status, Order.modified_at)),
            ("refund_records", (Refund.shop_id, Refund.platform_refund_id, Refund.status, Refund.modified_at)),
        ):
            for row in await conn.execute(select(*columns)):
                entry(row[0])[kind][row[1]] = [str(row[2].value), _epoch(row[3])]
    return out


def _epoch(value: datetime) -> int:
    """Whole seconds since the epoch (naive values, as SQLite returns them, are UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def compare_with_truth(hub: dict[str, Any], truth: dict[str, Any]) -> list[str]:
    """What differs between the hub's view of one shop and the platform's truth, as sentences.

    ``hub``: a :func:`shop_stats` entry, optionally with :func:`shop_records`' keys merged in;
    ``truth``: the shop's entry of ``/_fake/truth`` (with ``records`` when checking records).
    Empty when they agree: same totals, no duplicate rows, and where both sides carry records,
    the same set of ids with the same status and modified time for each.
    """
    problems = [f"{key}: hub {hub.get(key)} != truth {truth[key]}" for key in TOTALS if hub.get(key) != truth[key]]
    for table, extra in (hub.get("duplicates") or {}).items():
        if extra:
            problems.append(f"{table}: {extra} duplicate rows")
    records = truth.get("records")
    if records is None or "order_records" not in hub:
        return problems
    for kind in ("orders", "refunds"):
        ours: dict[str, list[Any]] = hub[f"{kind[:-1]}_records"]
        theirs: dict[str, list[Any]] = records[kind]
        missing = sorted(set(theirs) - set(ours))
        unknown = sorted(set(ours) - set(theirs))
        stale = sorted(i for i in set(ours) & set(theirs) if list(ours[i]) != list(theirs[i]))
        for label, ids in (("missing", missing), ("not on the platform", unknown)):
            if ids:
                problems.append(f"{kind} {label}: {len(ids)} (e.g. {', '.join(ids[:5])})")
        if stale:
            examples = "; ".join(f"{i}: hub {ours[i]} != truth {theirs[i]}" for i in stale[:5])
            problems.append(f"{kind} not at their latest version: {len(stale)} (e.g. {examples})")
    return problems
