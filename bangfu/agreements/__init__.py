"""Procurement agreements (采购协议): what counts toward an agreement, and how far behind it is.

Pure rules over plain data; :mod:`bangfu.queries.agreements` loads the data and calls them.

**Which orders count** is the reserved share's attribution (:mod:`bangfu.reports.reserved`),
unchanged: an order counts for a unit when it carries the unit (``orders.purchasing_unit_id``:
the county mall's unit orders, imported institutional sales with a unit code, platform orders
placed by the unit's buyers where the platform names the unit), and it falls in a period by its
payment time, in Asia/Shanghai days. An agreement then takes, of those orders paid in its period
(up to the day it is judged), the **lines** of its supplier's products that it covers (its SKUs,
products or categories; none named: every product of the supplier), net of succeeded refunds: a
refund naming a line comes off that line; a refund of the whole order is shared over the order's
lines in proportion to their paid amounts (largest remainder, so the fen add up).

An agreement's execution is the contract's fulfilment: every covered line counts, certified or
not; :class:`Execution` says how much of it is 帮扶 sales (lines of products certified on the
sale's day, :mod:`bangfu.certification`). It also keeps what separates it from the unit's own
purchases in the same days (paid net of refunds): lines of other suppliers or products, and what
the orders carry beyond their lines (shipping, order-level adjustments); and, of those purchases,
the unit's reserved-share figure (certified lines only, :mod:`bangfu.unit_purchases`).

**Behind schedule**: the target is spread evenly over the period's days. On day ``d`` of ``n``
the elapsed share is ``d / n`` and the agreement is *behind* when executed / target is below the
elapsed share minus :data:`TOLERANCE` (10 percentage points), *ahead* when it is above the
elapsed share plus the tolerance; *met* once executed reaches the target, *missed* when the
period is over without it. Behind and missed are at risk (an ``agreement.behind`` alert).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from bangfu.i18n import MESSAGES
from bangfu.money import split_largest_remainder
from bangfu.reports.base import ratio

#: How far below the straight line (executed / target vs elapsed share) an agreement may fall
#: before it is behind; the same margin above it is ahead.
TOLERANCE = Decimal("0.10")

STATES = ("not_started", "met", "ahead", "on_track", "behind", "missed")
AT_RISK = ("behind", "missed")

MESSAGES.update(
    {
        "agreements.title": {"zh": "采购协议执行", "en": "Procurement agreements"},
        "agreements.col.number": {"zh": "协议编号", "en": "Number"},
        "agreements.col.title": {"zh": "协议名称", "en": "Title"},
        "agreements.col.unit": {"zh": "采购单位", "en": "Purchasing unit"},
        "agreements.col.supplier": {"zh": "供应商", "en": "Supplier"},
        "agreements.col.period": {"zh": "协议期", "en": "Period"},
        "agreements.col.starts_on": {"zh": "开始日期", "en": "Starts"},
        "agreements.col.ends_on": {"zh": "结束日期", "en": "Ends"},
        "agreements.col.target": {"zh": "目标金额", "en": "Target"},
        "agreements.col.executed": {"zh": "已执行（扣除退款）", "en": "Executed (net of refunds)"},
        "agreements.col.expected": {"zh": "按进度应执行", "en": "Due by now"},
        "agreements.col.rate": {"zh": "完成率", "en": "Rate"},
        "agreements.col.elapsed": {"zh": "时间进度", "en": "Time elapsed"},
        "agreements.col.state": {"zh": "执行状态", "en": "State"},
        "agreements.col.status": {"zh": "协议状态", "en": "Status"},
        "agreements.col.covers": {"zh": "协议范围", "en": "Covers"},
        "agreements.state.not_started": {"zh": "未开始", "en": "Not started"},
        "agreements.state.met": {"zh": "已完成", "en": "Met"},
        "agreements.state.ahead": {"zh": "超前", "en": "Ahead"},
        "agreements.state.on_track": {"zh": "正常", "en": "On track"},
        "agreements.state.behind": {"zh": "滞后", "en": "Behind"},
        "agreements.state.missed": {"zh": "到期未完成", "en": "Missed"},
        "agreements.status.active": {"zh": "执行中", "en": "Active"},
        "agreements.status.suspended": {"zh": "暂停", "en": "Suspended"},
        "agreements.status.terminated": {"zh": "已终止", "en": "Terminated"},
    }
)


@dataclass(frozen=True, slots=True)
class Cover:
    """What an agreement covers: SKUs, products and categories (all empty: every product)."""

    supplier_id: int
    sku_ids: frozenset[int] = frozenset()
    product_ids: frozenset[int] = frozenset()
    categories: frozenset[str] = frozenset()

    @property
    def everything(self) -> bool:
        return not (self.sku_ids or self.product_ids or self.categories)

    def covers(self, line: LineFact) -> bool:
        if line.supplier_id != self.supplier_id:
            return False
        return (
            self.everything
            or line.sku_id in self.sku_ids
            or line.product_id in self.product_ids
            or line.category in self.categories
        )


@dataclass(frozen=True, slots=True)
class OrderFact:
    id: int
    paid_at: datetime
    paid_fen: int  # the order's paid amount (lines, shipping, order-level adjustments)
    refunded_fen: int  # every succeeded refund of the order (line and order level)
    order_refund_fen: int  # succeeded refunds naming no line
    ref: str = ""  # the platform's order number, for display
    shop: str = ""
    unit_id: int | None = None  # the purchasing unit the order carries


@dataclass(frozen=True, slots=True)
class LineFact:
    id: int
    order_id: int
    sku_id: int | None
    product_id: int | None
    supplier_id: int | None
    category: str | None
    quantity: int
    paid_fen: int
    refunded_fen: int  # succeeded refunds naming this line
    title: str = ""
    certified: bool = False  # its product was certified on the sale's day (bangfu.certification)


@dataclass(frozen=True, slots=True)
class CountedLine:
    line: LineFact
    order: OrderFact
    net_fen: int  # paid - its refunds - its share of order-level refunds


@dataclass
class Execution:
    """An agreement's executed amount and what separates it from the unit's own figure."""

    executed_fen: int = 0
    certified_fen: int = 0  # of executed: lines of products certified on the sale's day (帮扶 sales)
    quantity: int = 0
    orders: int = 0
    unit_net_fen: int = 0  # the unit's orders in the same days, all purchases net of refunds
    unit_certified_fen: int = 0  # of them, the reserved share's executed (certified lines)
    other_lines_fen: int = 0  # lines of other suppliers or products, net
    order_level_fen: int = 0  # shipping and order-level adjustments, net of their refunds
    lines: list[CountedLine] = field(default_factory=list)
    daily: dict[date, int] = field(default_factory=dict)  # executed by local payment day


def line_nets(order: OrderFact, lines: Sequence[LineFact]) -> dict[int, int]:
    """Each line's paid amount net of its refunds and of its share of the order-level refunds."""
    share = (
        split_largest_remainder(order.order_refund_fen, {ln.id: max(ln.paid_fen, 0) for ln in lines})
        if order.order_refund_fen and any(ln.paid_fen > 0 for ln in lines)
        else {}
    )
    return {ln.id: ln.paid_fen - ln.refunded_fen - share.get(ln.id, 0) for ln in lines}


def execute(
    cover: Cover, orders: Iterable[OrderFact], lines: Iterable[LineFact], local_day: Callable[[datetime], date]
) -> Execution:
    """What of the unit's ``orders`` (already those of the unit and the days) counts for ``cover``.

    ``local_day`` maps a payment time to its Asia/Shanghai date (passed in to keep this pure).
    """
    by_order: dict[int, list[LineFact]] = defaultdict(list)
    for ln in lines:
        by_order[ln.order_id].append(ln)
    out = Execution()
    for order in orders:
        own = sorted(by_order.get(order.id, []), key=lambda ln: ln.id)
        nets = line_nets(order, own)
        out.unit_net_fen += order.paid_fen - order.refunded_fen
        out.unit_certified_fen += sum(nets[ln.id] for ln in own if ln.certified)
        counted = 0
        for ln in own:
            if cover.covers(ln):
                counted += 1
                out.executed_fen += nets[ln.id]
                if ln.certified:
                    out.certified_fen += nets[ln.id]
                out.quantity += ln.quantity
                out.lines.append(CountedLine(ln, order, nets[ln.id]))
                day = local_day(order.paid_at)
                out.daily[day] = out.daily.get(day, 0) + nets[ln.id]
            else:
                out.other_lines_fen += nets[ln.id]
        out.order_level_fen += (order.paid_fen - order.refunded_fen) - sum(nets.values())
        if counted:
            out.orders += 1
    out.lines.sort(key=lambda c: (c.order.paid_at, c.line.id), reverse=True)
    return out


@dataclass(frozen=True, slots=True)
class Schedule:
    days: int  # the period's days
    elapsed_days: int  # of them, up to and including ``as_of``
    elapsed_share: Decimal  # elapsed_days / days, 4 places

    @property
    def started(self) -> bool:
        return self.elapsed_days > 0

    @property
    def over(self) -> bool:
        return self.elapsed_days >= self.days


def schedule(starts_on: date, ends_on: date, as_of: date) -> Schedule:
    days = (ends_on - starts_on).days + 1
    elapsed = min(max((as_of - starts_on).days + 1, 0), days)
    return Schedule(days, elapsed, ratio(elapsed, days) or Decimal(0))


def expected_fen(target_fen: int, sched: Schedule) -> int:
    """The straight line: the target's share for the elapsed days (floored to the fen)."""
    return target_fen * sched.elapsed_days // sched.days


def judge(executed_fen: int, target_fen: int, sched: Schedule, tolerance: Decimal = TOLERANCE) -> str:
    """One of :data:`STATES` (see the module's docstring)."""
    if executed_fen >= target_fen:
        return "met"
    if not sched.started:
        return "not_started"
    if sched.over:
        return "missed"
    rate = ratio(executed_fen, target_fen) or Decimal(0)
    if rate < sched.elapsed_share - tolerance:
        return "behind"
    if rate >= sched.elapsed_share + tolerance:
        return "ahead"
    return "on_track"
