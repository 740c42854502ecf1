"""Reconciliation: each paid order's settlement-bill lines against the payout the hub expects.

For a shop and a month (Asia/Shanghai month of ``orders.paid_at``) every paid order gets one
verdict in ``reconciliation_results`` (unique per shop and platform order id, upserted in bulk):

``matched``         the bill pays what the hub expects (or nothing is due and nothing came:
                    the order is refunded in full, or the platform closed the trade);
``amount_differs``  ``differences`` holds, per type (``sale``, ``refund`` and each fee type),
                    actual minus expected in fen, for the types beyond tolerance only;
``payout_missing``  no bill line at all, and the order was paid (or, when completed, last
                    changed) more than ``missing_after_days`` before ``now``;
``pending``         no bill line yet, not overdue; or the bill differs only by refunds that
                    succeeded less than ``refund_grace_days`` before ``now`` (below);
``unknown_order``   bill lines settled in the month for a platform order id the hub does not
                    have (``differences`` holds their amounts by type).

What "expected" means. The payout identity is ``payout = sale + refund + fees`` (fees negative).
Expected, per type, in the bill's sign convention:

* ``sale``: the order's paid amount as the hub stored it (lines + post fee); no tolerance.
* ``refund``: minus the order's succeeded refunds; no tolerance. So a payout for more or less
  than was sold, or a refund the platform deducted that the hub never saw succeed (or the
  reverse), is flagged. One timing gap is not a difference: a refund the hub saw succeed
  (``refunds.modified_at``) less than ``refund_grace_days`` (default 3) before ``now`` whose
  deduction is not on the bill yet. Platforms put a refund on the next day's bill (the fakes:
  one day after it succeeds), so while the bill lacks exactly some of those recent refunds the
  refund type waits: the order is ``pending`` when nothing else differs, and its other
  differences are flagged without the refund when something does. After the window the
  missing deduction is an ``amount_differs`` like any other; a deduction the hub cannot match
  with its own refunds (a different amount, or one it never saw) is flagged at once.
* fees (``platform_fee``, ``host_commission``, ``payment_fee``, ``logistics``): the figure the
  hub itself works with, on one basis per order (``fee_basis``):
  - ``bill``: every line of the order has the bill folded into its journals
    (``line_accounting.fees_source = 'bill'``). The ledger then holds the bill's own fees and
    the gap to the old estimate was posted as a true-up, so the bill's fee lines are the expected
    fees: nothing to flag on fees, only on money (sale, refund) and unexpected kinds.
  - ``ledger``: every line is posted but the bill is not folded in yet: the fees of the line's
    full (unrefunded) journal as posting last built it (``line_accounting.desired_legs``: the
    shop's ``fees:shop:<shop>:<fee>`` accounts and the host's commission account).
  - ``bill_unposted``: the bill came and some line of the order is not posted yet (waiting for
    lot stock, say) while every posted line already has the bill folded in. Posting takes the
    bill's fees for every line of an order that has a bill (``workers/posting.py``: the fee
    lines naming a line are that line's, the others are spread over the order's lines by paid
    amount, largest remainder), so once the rest is posted the ledger's fee accounts hold the
    bill's fee lines: nothing to flag on fees. (Compared with the policy's estimates instead,
    every such order was flagged: the estimates are one rate per cooperative, not the
    platform's, and include a logistics share no platform bills.) Two nuances of posting do not
    change the payout: a billed host commission with no attributed host is booked as platform
    fee, and an attributed host's commission the bill does not deduct is booked from the host's
    deal (the hub owes it to the host; the platform did not take it).
  - ``estimate``: otherwise, the policy in force when the line was paid (its cooperative's
    ``estimates_bp``) and the attributed host's ``commission_bp``; ledger figures for the lines
    that are posted.
  A fee type is flagged only beyond a rounding tolerance: ``max(lines in the order,
  paid x fee_tolerance_bp / 10000)`` fen, since estimates are floored per line while platforms
  compute on the order (the fake platforms' payment fee is on the order total with post fee).
  Fees are not refunded: both the fakes and the hub's full journal keep the fee on the whole
  paid amount, so expected fees do not shrink with refunds.
* ``subsidy`` and ``other``: the hub never expects them; any such line is flagged for a person
  to look at.

Each platform's bill fields map to these types in its connector (``connectors/<platform>.py``:
Douyin's ``other_sharing_amount`` is the payment fee, for one), so a clean bill has no
``other`` line. A verdict stores the figures per type (``expected_by_type``,
``actual_by_type``) as well as the differences beyond tolerance.

Exceptions. A run opens a ``reconciliation_exceptions`` row for each flagged order (state
``open``), records a changed verdict on an open one (``changed``), reopens an accepted or
resolved one whose verdict changed (``reopened``), and resolves one whose order now matches or
waits (``resolved``); each step appends a ``reconciliation_events`` row with no user (the run).
People accept (with a reason), resolve and reopen in the console (``bangfu.queries.reconciliation``).

Nothing is due for an order the platform closed (``closed``: the fakes close a one-line order
refunded in full before shipping and never settle it; the buyer's post fee goes back with the
trade), so with no bill line it is ``matched``, however old, like an order refunded in full.

So the report catches missing payouts, payouts for unknown orders, money that differs from what
was sold and refunded, and fee types whose bill figure differs from the hub's estimate (before
the bill is folded into the ledger) or that the hub did not expect at all. A synced fake shop
matches once its bills are folded in: the fakes' bills pay exactly lines + post fee, minus
succeeded refunds, minus fees. In the default demo (``bangfu demo``) every order is ``matched``
or ``pending``: the fakes' faults (``connectors/fakes/faults.py``) are failed requests and
transient malformed or duplicated records, none a bill that differs from its order, and the
demo runs without them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import OrderStatus, RefundStatus, SettlementKind
from bangfu.models import (
    Cooperative,
    Host,
    LineAccounting,
    LineAttribution,
    Order,
    OrderLine,
    Product,
    ReconciliationEvent,
    ReconciliationException,
    ReconciliationResult,
    Refund,
    SettlementLine,
    Sku,
    SplitPolicy,
)
from bangfu.money import pro_rata
from bangfu.policy import BP_WHOLE, Policy, PolicyError, parse_policy_row
from bangfu.reports.base import SHANGHAI, month_period

KINDS = ("matched", "amount_differs", "payout_missing", "unknown_order", "pending")
EXCEPTIONS = ("amount_differs", "payout_missing", "unknown_order")
FEE_TYPES = ("platform_fee", "host_commission", "payment_fee", "logistics")
UNEXPECTED_TYPES = ("subsidy", "other")
ALL_TYPES = ("sale", "refund", *FEE_TYPES, *UNEXPECTED_TYPES)
_BATCH = 1000
_MAX_RECENT_REFUNDS = 16  # subset sums of at most 2**16 totals


@dataclass(frozen=True)
class Verdict:
    platform_order_id: str
    order_id: int | None
    kind: str
    expected_fen: int | None
    actual_fen: int | None
    differences: dict[str, int] | None
    fee_basis: str | None
    expected_by_type: dict[str, int] | None = None  # nonzero types only
    actual_by_type: dict[str, int] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "platform_order_id": self.platform_order_id,
            "order_id": self.order_id,
            "kind": self.kind,
            "expected_fen": self.expected_fen,
            "actual_fen": self.actual_fen,
            "differences": self.differences,
            "fee_basis": self.fee_basis,
            "expected_by_type": self.expected_by_type,
            "actual_by_type": self.actual_by_type,
        }


@dataclass
class ReconcileSummary:
    shop_id: int
    period: str
    verdicts: list[Verdict] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(KINDS, 0)
        for verdict in self.verdicts:
            out[verdict.kind] += 1
        return out

    @property
    def exceptions(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.kind in EXCEPTIONS]


@dataclass
class _Line:
    id: int
    paid_fen: int
    paid_at: datetime
    cooperative_id: int | None
    host_commission_bp: int
    fees_source: str | None
    posted: bool
    desired_legs: dict[str, Any] | None


async def reconcile(
    conn: AsyncConnection,
    *,
    shop_id: int,
    period: str,
    missing_after_days: int = 15,
    now: datetime | None = None,
    fee_tolerance_bp: int = 10,
    refund_grace_days: int = 3,
) -> ReconcileSummary:
    """Classify the shop's paid orders of ``period`` (``YYYY-MM``) and upsert the verdicts."""
    now = now or datetime.now(UTC)
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    month = month_period(period)
    in_month = and_(
        Order.shop_id == shop_id,
        Order.paid_at.is_not(None),
        Order.paid_at >= month.start,
        Order.paid_at < month.end,
    )
    orders = (
        await conn.execute(
            select(Order.id, Order.platform_order_id, Order.status, Order.paid_at, Order.modified_at, Order.paid_fen)
            .where(in_month)
            .order_by(Order.id)
        )
    ).all()

    bills: dict[str, dict[str, int]] = defaultdict(dict)
    for order_no, bill_kind, total in await conn.execute(
        select(SettlementLine.platform_order_id, SettlementLine.kind, func.sum(SettlementLine.amount_fen))
        .join(
            Order,
            and_(Order.shop_id == SettlementLine.shop_id, Order.platform_order_id == SettlementLine.platform_order_id),
        )
        .where(in_month)
        .group_by(SettlementLine.platform_order_id, SettlementLine.kind)
    ):
        bills[str(order_no)][SettlementKind(bill_kind).value] = int(total)

    refunded: dict[int, int] = defaultdict(int)
    recent_refunds: dict[int, list[int]] = defaultdict(list)  # succeeded within the grace window
    grace_from = now - timedelta(days=refund_grace_days)
    for order_id, amount, modified_at in await conn.execute(
        select(Order.id, Refund.amount_fen, Refund.modified_at)
        .join(Refund, and_(Refund.shop_id == Order.shop_id, Refund.platform_order_id == Order.platform_order_id))
        .where(in_month, Refund.status == RefundStatus.SUCCEEDED)
    ):
        refunded[int(order_id)] += int(amount)
        if _aware(modified_at) > grace_from:
            recent_refunds[int(order_id)].append(int(amount))

    lines = await _lines(conn, in_month)
    policies = await _policies(conn, {line.cooperative_id for ls in lines.values() for line in ls if not line.posted})

    verdicts: list[Verdict] = []
    for order in orders:
        order_lines = lines.get(order.id, [])
        expected, basis = _expected(shop_id, order.paid_fen, refunded.get(order.id, 0), order_lines, policies)
        bill = bills.get(order.platform_order_id)
        expected_total = sum(expected.values())
        if not bill:
            due_from = order.modified_at if order.status is OrderStatus.COMPLETED else order.paid_at
            if order.status is OrderStatus.CLOSED or order.paid_fen - refunded.get(order.id, 0) <= 0:
                kind = "matched"  # nothing is due (a closed trade is never settled) and nothing came
            elif due_from <= now - timedelta(days=missing_after_days):
                kind = "payout_missing"
            else:
                kind = "pending"
            verdicts.append(
                Verdict(
                    order.platform_order_id, order.id, kind, expected_total, None, None, basis, _nonzero(expected), None
                )
            )
            continue
        if (
            basis == "estimate"
            and order_lines
            and all(line.fees_source == "bill" or not line.posted for line in order_lines)
        ):
            basis = "bill_unposted"  # posting will take the bill's fees for the lines still to post
        if basis in ("bill", "bill_unposted"):
            for fee in FEE_TYPES:
                expected[fee] = bill.get(fee, 0)
            expected_total = sum(expected.values())
        tolerance = max(len(order_lines), pro_rata(order.paid_fen, fee_tolerance_bp, BP_WHOLE))
        differences: dict[str, int] = {}
        for kind_name in ALL_TYPES:
            gap = bill.get(kind_name, 0) - expected.get(kind_name, 0)
            limit = tolerance if kind_name in FEE_TYPES else 0
            if abs(gap) > limit:
                differences[kind_name] = gap
        # Refunds that succeeded within the grace window and are not on the bill yet wait for
        # their bill line: not a difference until the window has passed.
        waiting = differences.get("refund", 0) in _subset_sums(recent_refunds.get(order.id, []))
        if waiting:
            del differences["refund"]
        verdicts.append(
            Verdict(
                order.platform_order_id,
                order.id,
                "amount_differs" if differences else "pending" if waiting else "matched",
                expected_total,
                sum(bill.values()),
                differences or None,
                basis,
                _nonzero(expected),
                _nonzero(bill),
            )
        )

    verdicts += await _unknown(conn, shop_id, month.start, month.end)
    await _store(conn, shop_id, month.label, verdicts, now)
    await _track_exceptions(conn, shop_id, verdicts, now)
    return ReconcileSummary(shop_id, month.label, verdicts)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; the hub stores UTC."""
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


def _subset_sums(amounts: Sequence[int]) -> set[int]:
    """Every positive total of some of ``amounts`` (refunds of one order: a handful at most)."""
    sums: set[int] = set()
    for amount in amounts[:_MAX_RECENT_REFUNDS]:
        sums |= {amount} | {total + amount for total in sums}
    return {total for total in sums if total > 0}


def _nonzero(amounts: dict[str, int]) -> dict[str, int] | None:
    kept = {k: v for k, v in amounts.items() if v}
    return kept or None


def _expected(
    shop_id: int,
    paid_fen: int,
    refunded_fen: int,
    lines: Sequence[_Line],
    policies: dict[int, list[tuple[date, Policy]]],
) -> tuple[dict[str, int], str]:
    """Expected amounts per type in the bill's sign (fees negative) and the fee basis."""
    expected = {"sale": paid_fen, "refund": -refunded_fen}
    fees = dict.fromkeys(FEE_TYPES, 0)
    if lines and all(line.fees_source == "bill" for line in lines):
        return expected | fees, "bill"
    basis = "ledger" if lines and all(line.posted and line.desired_legs is not None for line in lines) else "estimate"
    for line in lines:
        if line.posted and line.desired_legs is not None:
            for code, amount in line.desired_legs.items():
                fee = _fee_of(shop_id, code)
                if fee is not None:
                    fees[fee] += int(amount)  # credits (negative), the bill's sign
            continue
        policy = _policy_at(policies.get(line.cooperative_id or 0, []), line.paid_at)
        if policy is not None:
            est = policy.estimates
            fees["platform_fee"] -= pro_rata(line.paid_fen, est.platform_fee_bp, BP_WHOLE)
            fees["payment_fee"] -= pro_rata(line.paid_fen, est.payment_fee_bp, BP_WHOLE)
            fees["logistics"] -= pro_rata(line.paid_fen, est.logistics_bp, BP_WHOLE)
        fees["host_commission"] -= pro_rata(line.paid_fen, line.host_commission_bp, BP_WHOLE)
    return expected | fees, basis


def _fee_of(shop_id: int, code: str) -> str | None:
    prefix = f"fees:shop:{shop_id}:"
    if code.startswith(prefix):
        fee = code.removeprefix(prefix)
        return fee if fee in FEE_TYPES else None
    if code.startswith("payable:host:") and code.endswith(":commission"):
        return "host_commission"
    return None


def _policy_at(versions: Sequence[tuple[date, Policy]], paid_at: datetime) -> Policy | None:
    day = paid_at.astimezone(SHANGHAI).date()
    chosen = None
    for effective_from, policy in versions:  # sorted by effective_from, version
        if effective_from <= day:
            chosen = policy
    return chosen


async def _lines(conn: AsyncConnection, in_month: Any) -> dict[int, list[_Line]]:
    query = (
        select(
            OrderLine.id,
            OrderLine.order_id,
            OrderLine.paid_fen,
            Order.paid_at,
            Cooperative.id.label("cooperative_id"),
            func.coalesce(Host.commission_bp, 0).label("commission_bp"),
            LineAccounting.fees_source,
            LineAccounting.posted_rev,
            LineAccounting.desired_legs,
        )
        .select_from(OrderLine)
        .join(Order, Order.id == OrderLine.order_id)
        .outerjoin(Sku, Sku.id == OrderLine.sku_id)
        .outerjoin(Product, Product.id == Sku.product_id)
        .outerjoin(Cooperative, Cooperative.supplier_id == Product.supplier_id)
        .outerjoin(LineAttribution, LineAttribution.order_line_id == OrderLine.id)
        .outerjoin(Host, Host.id == LineAttribution.host_id)
        .outerjoin(LineAccounting, LineAccounting.order_line_id == OrderLine.id)
        .where(in_month)
    )
    out: dict[int, list[_Line]] = defaultdict(list)
    for row in await conn.execute(query):
        out[row.order_id].append(
            _Line(
                row.id,
                int(row.paid_fen),
                row.paid_at,
                row.cooperative_id,
                int(row.commission_bp),
                row.fees_source,
                bool(row.posted_rev),
                row.desired_legs,
            )
        )
    return out


async def _policies(
    conn: AsyncConnection, cooperative_ids: Iterable[int | None]
) -> dict[int, list[tuple[date, Policy]]]:
    wanted = sorted(c for c in cooperative_ids if c is not None)
    out: dict[int, list[tuple[date, Policy]]] = defaultdict(list)
    if not wanted:
        return out
    rows = await conn.execute(
        select(
            SplitPolicy.cooperative_id, SplitPolicy.effective_from, SplitPolicy.rules, SplitPolicy.patronage_return_bp
        )
        .where(SplitPolicy.cooperative_id.in_(wanted))
        .order_by(SplitPolicy.cooperative_id, SplitPolicy.effective_from, SplitPolicy.version)
    )
    for cooperative_id, effective_from, rules, patronage in rows:
        try:
            out[cooperative_id].append((effective_from, parse_policy_row(rules, patronage)))
        except PolicyError:
            continue  # an invalid stored policy estimates nothing; posting reports it
    return out


async def _unknown(conn: AsyncConnection, shop_id: int, start: datetime, end: datetime) -> list[Verdict]:
    known = exists().where(Order.shop_id == shop_id, Order.platform_order_id == SettlementLine.platform_order_id)
    amounts: dict[str, dict[str, int]] = defaultdict(dict)
    for order_no, kind, total in await conn.execute(
        select(SettlementLine.platform_order_id, SettlementLine.kind, func.sum(SettlementLine.amount_fen))
        .where(
            SettlementLine.shop_id == shop_id,
            SettlementLine.platform_order_id.is_not(None),
            SettlementLine.settled_at >= start,
            SettlementLine.settled_at < end,
            ~known,
        )
        .group_by(SettlementLine.platform_order_id, SettlementLine.kind)
    ):
        amounts[str(order_no)][SettlementKind(kind).value] = int(total)
    return [
        Verdict(order_no, None, "unknown_order", None, sum(by_kind.values()), by_kind, None, None, by_kind)
        for order_no, by_kind in sorted(amounts.items())
    ]


async def _store(conn: AsyncConnection, shop_id: int, period: str, verdicts: Sequence[Verdict], now: datetime) -> None:
    table = ReconciliationResult.__table__
    # An order synced after its payout was seen as unknown: its old verdict goes.
    await conn.execute(
        delete(ReconciliationResult).where(
            ReconciliationResult.shop_id == shop_id,
            ReconciliationResult.kind == "unknown_order",
            exists().where(Order.shop_id == shop_id, Order.platform_order_id == ReconciliationResult.platform_order_id),
        )
    )
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    for start in range(0, len(verdicts), _BATCH):
        chunk = verdicts[start : start + _BATCH]
        statement = dialect.insert(ReconciliationResult)
        excluded = statement.excluded
        same = table.c.kind == excluded.kind
        statement = statement.on_conflict_do_update(
            index_elements=["shop_id", "platform_order_id"],
            set_={
                "order_id": excluded.order_id,
                "period": excluded.period,
                "kind": excluded.kind,
                "expected_fen": excluded.expected_fen,
                "actual_fen": excluded.actual_fen,
                "differences": excluded.differences,
                "fee_basis": excluded.fee_basis,
                "expected_by_type": excluded.expected_by_type,
                "actual_by_type": excluded.actual_by_type,
                "detected_at": case((same, table.c.detected_at), else_=excluded.detected_at),
                "resolved_at": case((same, table.c.resolved_at), else_=None),
            },
        )
        await conn.execute(
            statement,
            [
                {
                    "shop_id": shop_id,
                    "platform_order_id": v.platform_order_id,
                    "order_id": v.order_id,
                    "period": period,
                    "kind": v.kind,
                    "expected_fen": v.expected_fen,
                    "actual_fen": v.actual_fen,
                    "differences": v.differences,
                    "fee_basis": v.fee_basis,
                    "expected_by_type": v.expected_by_type,
                    "actual_by_type": v.actual_by_type,
                    "detected_at": now,
                    "resolved_at": None,
                    "note": None,
                }
                for v in chunk
            ],
        )


async def _track_exceptions(conn: AsyncConnection, shop_id: int, verdicts: Sequence[Verdict], now: datetime) -> None:
    """Open, update, reopen or resolve the shop's exceptions after the verdicts of a run."""
    table = ReconciliationException
    existing = {
        row.platform_order_id: row
        for row in await conn.execute(
            select(table.id, table.platform_order_id, table.state, table.kind, table.differences).where(
                table.shop_id == shop_id
            )
        )
    }
    new: list[Verdict] = []
    changes: list[dict[str, Any]] = []  # exception updates
    events: list[dict[str, Any]] = []
    for v in verdicts:
        flagged = v.kind in EXCEPTIONS
        ex = existing.get(v.platform_order_id)
        if ex is None:
            if flagged:
                new.append(v)
            continue
        if flagged:
            if ex.kind == v.kind and (ex.differences or None) == v.differences:
                continue
            action, state = ("reopened", "reopened") if ex.state in ("accepted", "resolved") else ("changed", ex.state)
        elif ex.state != "resolved":
            action, state = "resolved", "resolved"
        else:
            continue
        changes.append({"b_id": ex.id, "b_state": state, "b_kind": v.kind, "b_diff": v.differences, "b_at": now})
        events.append(_event(ex.id, action, state, v, now))
    for start in range(0, len(new), _BATCH):
        chunk = new[start : start + _BATCH]
        await conn.execute(
            insert(table),
            [
                {
                    "shop_id": shop_id,
                    "platform_order_id": v.platform_order_id,
                    "state": "open",
                    "kind": v.kind,
                    "differences": v.differences,
                    "opened_at": now,
                    "updated_at": now,
                    "updated_by": None,
                }
                for v in chunk
            ],
        )
        by_pid = {v.platform_order_id: v for v in chunk}
        ids = await conn.execute(
            select(table.id, table.platform_order_id).where(
                table.shop_id == shop_id, table.platform_order_id.in_(sorted(by_pid))
            )
        )
        events += [_event(ex_id, "opened", "open", by_pid[pid], now) for ex_id, pid in ids]
    if changes:
        await conn.execute(
            update(table)
            .where(table.id == bindparam("b_id"))
            .values(
                state=bindparam("b_state"),
                kind=bindparam("b_kind"),
                differences=bindparam("b_diff", type_=table.differences.type),
                updated_at=bindparam("b_at"),
                updated_by=None,
            )
            .execution_options(synchronize_session=False),
            changes,
        )
    for start in range(0, len(events), _BATCH):
        await conn.execute(insert(ReconciliationEvent), events[start : start + _BATCH])


def _event(exception_id: int, action: str, state: str, v: Verdict, now: datetime) -> dict[str, Any]:
    return {
        "exception_id": exception_id,
        "action": action,
        "state": state,
        "user_id": None,
        "reason": None,
        "kind": v.kind,
        "differences": v.differences,
        "at": now,
    }
