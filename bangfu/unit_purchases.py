"""Purchasing units' purchases, split by the certified-at-sale rule (预留份额 and what builds on it).

An order counts for a unit when it carries the unit (``orders.purchasing_unit_id``: the county
mall's unit orders, imported institutional sales with a unit code, platform orders naming the
unit), in a period by its payment time. Its paid amount net of its succeeded refunds is the
unit's **purchases** (all of them), and it separates into three parts, to the fen:

- **帮扶 (certified)**: lines of products certified on the sale's day
  (:func:`bangfu.certification.certified_at_sale`), net of their refunds. This is the reserved
  share's executed amount, the rate and the ranking;
- **uncertified**: the other lines (uncertified products, lines without a mapped product), net;
- **order level**: what an order carries beyond its lines (shipping, order-level adjustments),
  net of what its refunds leave after the lines.

A refund naming a line comes off that line; a refund of the whole order is shared over the
order's lines by their paid amounts with largest remainder (:func:`bangfu.agreements.line_nets`,
the agreements' own rule), so a certified line's refund is a certified refund.

:func:`load` reads the facts once for every page that speaks of a unit's purchases (the
reserved-share report, the unit's page, the county's unit ranking and campaign groups, the
board, an agreement's execution); :func:`tally` sums them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.agreements import LineFact, OrderFact, line_nets
from bangfu.certification import certified_at_sale
from bangfu.enums import RefundStatus
from bangfu.models import Order, OrderLine, Product, Refund, Shop, Sku


@dataclass
class Purchases:
    """A unit's (or a group's) purchases in a period, by part; ``net_fen`` is their sum."""

    orders: int = 0
    certified_fen: int = 0
    uncertified_fen: int = 0
    order_level_fen: int = 0

    @property
    def net_fen(self) -> int:
        return self.certified_fen + self.uncertified_fen + self.order_level_fen

    @property
    def not_counted_fen(self) -> int:
        """What the unit bought that is not a 帮扶 sale (uncertified lines, shipping and the like)."""
        return self.uncertified_fen + self.order_level_fen


@dataclass(frozen=True, slots=True)
class OrderParts:
    certified_fen: int
    uncertified_fen: int
    order_level_fen: int


async def load(conn: AsyncConnection, where: ColumnElement[bool]) -> tuple[list[OrderFact], list[LineFact]]:
    """The orders matching ``where`` (a condition on :class:`Order`) with their lines, each line
    marked certified or not at the sale's day, and their succeeded refunds."""
    head = (
        await conn.execute(
            select(
                Order.id,
                Order.paid_at,
                Order.paid_fen,
                Order.platform_order_id,
                Shop.name,
                Order.purchasing_unit_id,
            )
            .join(Shop, Shop.id == Order.shop_id)
            .where(where)
        )
    ).all()
    if not head:
        return [], []
    refunds = (
        await conn.execute(
            select(Order.id, Refund.order_line_id, Refund.platform_line_id, Refund.amount_fen)
            .join(Refund, (Refund.shop_id == Order.shop_id) & (Refund.platform_order_id == Order.platform_order_id))
            .where(where, Refund.status == RefundStatus.SUCCEEDED)
        )
    ).all()
    raw_lines = (
        await conn.execute(
            select(
                OrderLine.id,
                OrderLine.order_id,
                OrderLine.platform_line_id,
                OrderLine.sku_id,
                OrderLine.quantity,
                OrderLine.paid_fen,
                OrderLine.title,
                Sku.product_id,
                Product.supplier_id,
                Product.category,
                certified_at_sale(conn, Sku.product_id, Order.paid_at).label("certified"),
            )
            .join(Order, Order.id == OrderLine.order_id)
            .outerjoin(Sku, Sku.id == OrderLine.sku_id)
            .outerjoin(Product, Product.id == Sku.product_id)
            .where(where)
        )
    ).all()
    line_ids = {int(r.id) for r in raw_lines}
    by_platform_id = {(int(r.order_id), str(r.platform_line_id)): int(r.id) for r in raw_lines}
    line_refund: dict[int, int] = defaultdict(int)
    order_refund: dict[int, int] = defaultdict(int)
    order_all: dict[int, int] = defaultdict(int)
    for oid, line_id, platform_line, amount in refunds:
        order_all[int(oid)] += int(amount)
        target = int(line_id) if line_id is not None and int(line_id) in line_ids else None
        if target is None and platform_line is not None:
            target = by_platform_id.get((int(oid), str(platform_line)))
        if target is None:
            order_refund[int(oid)] += int(amount)
        else:
            line_refund[target] += int(amount)
    orders = [
        OrderFact(
            int(r.id),
            r.paid_at,
            int(r.paid_fen),
            order_all[int(r.id)],
            order_refund[int(r.id)],
            str(r.platform_order_id),
            r.name,
            None if r.purchasing_unit_id is None else int(r.purchasing_unit_id),
        )
        for r in head
    ]
    lines = [
        LineFact(
            int(r.id),
            int(r.order_id),
            None if r.sku_id is None else int(r.sku_id),
            None if r.product_id is None else int(r.product_id),
            None if r.supplier_id is None else int(r.supplier_id),
            r.category,
            int(r.quantity),
            int(r.paid_fen),
            line_refund[int(r.id)],
            r.title or "",
            bool(r.certified),
        )
        for r in raw_lines
    ]
    return orders, lines


def parts(orders: Iterable[OrderFact], lines: Iterable[LineFact]) -> dict[int, OrderParts]:
    """Each order's three parts (they add up to its paid amount net of its refunds)."""
    by_order: dict[int, list[LineFact]] = defaultdict(list)
    for ln in lines:
        by_order[ln.order_id].append(ln)
    out: dict[int, OrderParts] = {}
    for order in orders:
        own = sorted(by_order.get(order.id, []), key=lambda ln: ln.id)
        nets = line_nets(order, own)
        certified = sum(nets[ln.id] for ln in own if ln.certified)
        uncertified = sum(nets[ln.id] for ln in own if not ln.certified)
        net = order.paid_fen - order.refunded_fen
        out[order.id] = OrderParts(certified, uncertified, net - certified - uncertified)
    return out


def tally(
    orders: Iterable[OrderFact], lines: Iterable[LineFact], key: Callable[[OrderFact], Any] = lambda o: o.unit_id
) -> dict[Any, Purchases]:
    """Purchases by ``key`` (the order's purchasing unit by default)."""
    orders = list(orders)
    split = parts(orders, lines)
    out: dict[Any, Purchases] = defaultdict(Purchases)
    for order in orders:
        p, acc = split[order.id], out[key(order)]
        acc.orders += 1
        acc.certified_fen += p.certified_fen
        acc.uncertified_fen += p.uncertified_fen
        acc.order_level_fen += p.order_level_fen
    return dict(out)
