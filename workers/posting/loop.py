"""The posting stage: order lines and refunds into journals (docs/accounting.md).

:func:`post_lines` and :func:`post_refunds` run in the caller's transaction (the caller commits,
and rolls back on error). Each works in batches with a constant number of statements per batch:
discovery is three set-based statements per chunk of the change queue (:mod:`workers.changes`),
the due lines are read with one joined select (locked ``FOR UPDATE SKIP LOCKED`` on PostgreSQL
so concurrent workers take different lines), their inputs with one select per input table, the
journals go through one batched :func:`bangfu.ledger.post`, and the state rows are written back
with one executemany.

What is already posted for a line is never summed from the journals. ``line_accounting`` keeps
the full (unrefunded) journal last posted for the line, ``desired_legs``, and the refunded part
``refunded_num / refunded_den``. The line's ledger holds exactly
``refunded_legs(desired_legs, refunded)`` (the sale, its true-ups and the refund reversals
always move it from one such state to the next, in the same transaction as the state row), and
``bangfu verify`` checks that against the journals themselves. A change of inputs posts
``refunded_legs(new, refunded) - refunded_legs(old, refunded)`` as a true-up; a refund posts
``build_refund_journal`` of ``desired_legs``.

Definitions made here:

- A line is *paid* when its order has ``paid_at`` and a paid status. Its policy version is the
  cooperative's ``SplitPolicy`` with the latest ``effective_from`` on or before the payment date
  in Asia/Shanghai (ties: the highest version).
- Draws are the positive ``lot_allocations`` of the line summed per lot; returns (negative rows
  written for refunds) are not subtracted, since the refund journal already reverses their share.
- Fees: when any settlement line of the order exists, the fees are the bill's (fee kinds
  ``platform_fee``, ``payment_fee``, ``logistics``, ``host_commission``; fee lines are negative
  in the payout, so a fee is minus their sum). These are the fees charged on the whole line:
  a positive fee line (a fee given back because the buyer was refunded) is left out, since the
  refund journal reverses the line's fees pro rata along with every other leg; any gap between
  that and what the platform gave back shows in the reconciliation. A bill line naming a line
  of the order is that line's; any other is spread over the order's lines pro rata by
  ``paid_fen`` (largest remainder). Without a bill: the policy's estimates (none for enterprise
  suppliers). The host commission is the bill's when it has one, otherwise the attributed
  host's deal (``Host.commission_bp``); a billed commission with no attributed host is booked
  as platform fee.
- A sale is dated when paid; a true-up at the latest of the payment, the order's last change,
  the last bill line and the attributed session's start (data, never the clock, so a replay
  dates it the same); a refund when it was last modified (succeeded).
- Journal keys: ``order-line:<shop>:<line>:v<version>:sale``; true-up
  ``...:v<version>:trueup:<n>.<fingerprint>`` where ``n`` counts the line's journals and the
  fingerprint hashes the new inputs (so A -> B -> A -> B posts three different true-ups);
  refunds ``...:v<sale version>:refund:<refund id>``.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import and_, bindparam, exists, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import JournalKind, OrderStatus, RefundStatus, SettlementKind, SupplierKind
from bangfu.ledger import (
    Journal,
    LedgerError,
    SaleLine,
    build_refund_journal,
    build_sale_journal,
    build_supplier_sale_journal,
    build_trueup_journal,
    journal_from_legs,
    post,
    receivable_account,
    refund_fraction,
    refunded_legs,
    sale_event_key,
)
from bangfu.models import (
    Cooperative,
    Host,
    Household,
    LineAccounting,
    LineAttribution,
    LineChange,
    LiveSession,
    LotAllocation,
    LotContribution,
    Order,
    OrderLine,
    Product,
    Refund,
    RefundPosting,
    SettlementLine,
    Sku,
    SplitPolicy,
    Supplier,
)
from bangfu.models import Journal as JournalRow
from bangfu.money import split_largest_remainder
from bangfu.policy import BP_WHOLE, Policy, PolicyError, parse_policy_row
from bangfu.split import Contribution, LineFees, SplitError, SplitPlan, estimate_fees, plan_split
from bangfu.store import among, asyncpg_in_transaction
from workers import changes

SHANGHAI = ZoneInfo("Asia/Shanghai")  # the programmes' local time: policy dates, surplus years

PENDING = "pending"
POSTED = "posted"
WAITING_LOTS = "waiting_lots"
NOT_SPLIT = "not_split"
FAILED = "failed"

_UNPAID = (OrderStatus.PENDING_PAYMENT.value, OrderStatus.CANCELLED.value)
_FEE_KINDS = {
    SettlementKind.PLATFORM_FEE: "platform_fee_fen",
    SettlementKind.PAYMENT_FEE: "payment_fee_fen",
    SettlementKind.LOGISTICS: "logistics_fen",
    SettlementKind.HOST_COMMISSION: "host_commission_fen",
}
_CHUNK = 5_000
_FINGERPRINT_JSON = json.JSONEncoder(sort_keys=True)  # what json.dumps(doc, sort_keys=True) writes


@dataclass
class PostingStats:
    """What one call did. ``progress`` counts lines and refunds whose state moved forward."""

    discovered: int = 0  # line_accounting rows created for paid lines
    bumped: int = 0  # lines made due by discovery (new line version or new bill lines)
    examined: int = 0  # due lines taken
    sales: int = 0  # sale journals posted
    trueups: int = 0  # true-up journals posted
    unchanged: int = 0  # due lines whose ledger already matched their inputs
    waiting_lots: int = 0  # cooperative lines with no lot draw yet
    not_split: int = 0  # lines of enterprise suppliers (net credited to the supplier)
    failed: int = 0  # lines or refunds that could not be posted (reason in line_accounting)
    refunds: int = 0  # refunds folded in (refund_postings rows written)
    refund_journals: int = 0  # refund journals posted (a sliver moving no fen posts none)

    @property
    def journals(self) -> int:
        return self.sales + self.trueups + self.refund_journals

    @property
    def progress(self) -> int:
        return self.discovered + self.bumped + self.sales + self.trueups + self.unchanged + self.refunds

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "journals": self.journals}

    def __iadd__(self, other: PostingStats) -> PostingStats:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)
        return self


# -- discovery ----------------------------------------------------------------------------------


async def discover(conn: AsyncConnection, *, shop_id: int | None = None, chunk: int = 20_000) -> tuple[int, int]:
    """Create state rows for paid lines without one; make lines with new inputs due.

    Reads the lines that the change queue (:mod:`workers.changes`) holds for posting, ``chunk``
    queue rows at a time, with three set-based statements per chunk; a queue row is settled
    once its line needs no discovery. Returns (rows created, lines bumped).
    """
    created = bumped = 0
    after = 0
    while True:
        queued = await changes.take(conn, changes.POST, shop_id=shop_id, limit=chunk, after=after)
        if not queued:
            break
        after = queued[-1][0]
        made, moved = await _discover_lines(conn, sorted({line_id for _row, line_id in queued}))
        created += made
        bumped += moved
        await changes.settle(conn, [row for row, _line_id in queued], _discovery_due())
        if len(queued) < chunk:
            break
    return created, bumped


def _bill_count() -> Any:
    """Settlement lines of the line's order (correlated to ``Order``)."""
    return (
        select(func.count(SettlementLine.id))
        .where(SettlementLine.shop_id == Order.shop_id, SettlementLine.platform_order_id == Order.platform_order_id)
        .scalar_subquery()
    )


def discovery_due() -> Any:
    """``SELECT`` of the lines discovery would act on: paid, and without a state row, or with a
    newer version or more settlement lines than their state row has seen."""
    return (
        select(OrderLine.id)
        .join(Order, Order.id == OrderLine.order_id)
        .outerjoin(LineAccounting, LineAccounting.order_line_id == OrderLine.id)
        .where(
            Order.paid_at.is_not(None),
            Order.status.not_in(_UNPAID),
            or_(
                LineAccounting.id.is_(None),
                OrderLine.version > LineAccounting.line_version,
                _bill_count() > LineAccounting.bill_lines,
            ),
        )
    )


def _discovery_due() -> Any:
    return exists(discovery_due().where(OrderLine.id == LineChange.order_line_id))


async def _discover_lines(conn: AsyncConnection, line_ids: Sequence[int]) -> tuple[int, int]:
    """Discovery for the lines ``line_ids``: three set-based statements."""
    now = datetime.now(UTC)
    paid = select(
        OrderLine.id,
        OrderLine.shop_id,
        OrderLine.version,
        literal(1),
        literal(0),
        literal(PENDING),
        literal(0),
        literal(now, LineAccounting.updated_at.type),
        literal(0),
        literal(0),
        literal(1),
        literal(0),
    ).join(Order, Order.id == OrderLine.order_id)
    paid = paid.where(
        among(conn, OrderLine.id, line_ids),
        Order.paid_at.is_not(None),
        Order.status.not_in(_UNPAID),
        ~exists().where(LineAccounting.order_line_id == OrderLine.id),
    )
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    created = await conn.execute(
        dialect_insert(LineAccounting)
        .from_select(
            [
                "order_line_id",
                "shop_id",
                "line_version",
                "input_rev",
                "posted_rev",
                "status",
                "bill_lines",
                "updated_at",
                "journal_seq",
                "refunded_num",
                "refunded_den",
                "checked_rev",
            ],
            paid.order_by(OrderLine.id),
        )
        .on_conflict_do_nothing(index_elements=["order_line_id"])
    )
    pg = conn.dialect.name == "postgresql"

    # A newer line version (paid amount, SKU, refund state changed).
    stale = select(LineAccounting.id).join(OrderLine, OrderLine.id == LineAccounting.order_line_id)
    stale = stale.where(
        among(conn, LineAccounting.order_line_id, line_ids), OrderLine.version > LineAccounting.line_version
    ).correlate(None)
    if pg:
        stale = stale.with_for_update(skip_locked=True, of=LineAccounting)
    newer = select(OrderLine.version).where(OrderLine.id == LineAccounting.order_line_id).scalar_subquery()
    bumped_version = await conn.execute(
        update(LineAccounting)
        .where(LineAccounting.id.in_(stale.scalar_subquery()))
        .values(input_rev=LineAccounting.input_rev + 1, line_version=newer, updated_at=now)
        .execution_options(synchronize_session=False)
    )

    # More settlement lines for the line's order than the line has seen.
    counts = (
        select(OrderLine.id.label("line_id"), func.count(SettlementLine.id).label("n"))
        .join(Order, Order.id == OrderLine.order_id)
        .join(
            SettlementLine,
            and_(SettlementLine.shop_id == Order.shop_id, SettlementLine.platform_order_id == Order.platform_order_id),
        )
        .where(among(conn, OrderLine.id, line_ids))
        .group_by(OrderLine.id)
    )
    bills = counts.subquery()
    unseen = select(LineAccounting.id).join(bills, bills.c.line_id == LineAccounting.order_line_id)
    unseen = unseen.where(bills.c.n > LineAccounting.bill_lines).correlate(None)
    if pg:
        unseen = unseen.with_for_update(skip_locked=True, of=LineAccounting)
    seen = select(bills.c.n).where(bills.c.line_id == LineAccounting.order_line_id).scalar_subquery()
    bumped_bills = await conn.execute(
        update(LineAccounting)
        .where(LineAccounting.id.in_(unseen.scalar_subquery()))
        .values(input_rev=LineAccounting.input_rev + 1, bill_lines=seen, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return created.rowcount or 0, (bumped_version.rowcount or 0) + (bumped_bills.rowcount or 0)


# -- inputs -------------------------------------------------------------------------------------


@dataclass
class LineState:
    """One due line with its state row and what the joined select gives."""

    la_id: int
    line_id: int
    shop_id: int
    input_rev: int
    status: str
    fingerprint: str | None
    desired: dict[str, int] | None
    sale_version: int | None
    journal_seq: int
    refunded: Fraction
    line_version: int  # the line version discovery last saw
    bill_lines: int  # the settlement lines discovery last saw
    version: int
    order_id: int
    platform_line_id: str
    sku_id: int | None
    quantity: int
    paid_fen: int
    paid_at: datetime
    order_modified_at: datetime
    supplier_id: int | None
    supplier_kind: SupplierKind | None
    cooperative_id: int | None


@dataclass
class LineInputs:
    """Everything a line's full journal depends on, loaded in bulk."""

    host_id: int | None = None
    host_commission_bp: int = 0
    session_started_at: datetime | None = None
    draws: dict[int, int] = field(default_factory=dict)
    lots: dict[int, list[Contribution]] = field(default_factory=dict)
    policy: Policy | None = None
    policy_version: int | None = None
    policy_error: str | None = None
    bill: dict[str, int] | None = None  # fee field -> fen, None when no bill line exists
    bill_lines: int = 0
    last_bill_at: datetime | None = None


def _state_columns() -> list[Any]:
    return [
        LineAccounting.id,
        LineAccounting.order_line_id,
        LineAccounting.shop_id,
        LineAccounting.input_rev,
        LineAccounting.status,
        LineAccounting.posted_fingerprint,
        LineAccounting.desired_legs,
        LineAccounting.sale_version,
        LineAccounting.journal_seq,
        LineAccounting.refunded_num,
        LineAccounting.refunded_den,
        LineAccounting.line_version,
        LineAccounting.bill_lines,
        OrderLine.version,
        OrderLine.order_id,
        OrderLine.platform_line_id,
        OrderLine.sku_id,
        OrderLine.quantity,
        OrderLine.paid_fen,
        Order.paid_at,
        Order.modified_at,
        Supplier.id,
        Supplier.kind,
        Cooperative.id,
    ]


def state_select() -> Any:
    return (
        select(*_state_columns())
        .join(OrderLine, OrderLine.id == LineAccounting.order_line_id)
        .join(Order, Order.id == OrderLine.order_id)
        .outerjoin(Sku, Sku.id == OrderLine.sku_id)
        .outerjoin(Product, Product.id == Sku.product_id)
        .outerjoin(Supplier, Supplier.id == Product.supplier_id)
        .outerjoin(Cooperative, Cooperative.supplier_id == Supplier.id)
    )


def to_state(row: Any) -> LineState:
    return LineState(
        la_id=row[0],
        line_id=row[1],
        shop_id=row[2],
        input_rev=row[3],
        status=row[4],
        fingerprint=row[5],
        desired={str(k): int(v) for k, v in row[6].items()} if row[6] is not None else None,
        sale_version=row[7],
        journal_seq=row[8],
        refunded=Fraction(row[9], row[10]),
        line_version=row[11],
        bill_lines=row[12],
        version=row[13],
        order_id=row[14],
        platform_line_id=row[15],
        sku_id=row[16],
        quantity=row[17],
        paid_fen=row[18],
        paid_at=row[19],
        order_modified_at=row[20],
        supplier_id=row[21],
        supplier_kind=row[22],
        cooperative_id=row[23],
    )


def _chunks(items: Sequence[int]) -> list[Sequence[int]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def local_date(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


async def load_inputs(conn: AsyncConnection, states: Sequence[LineState]) -> dict[int, LineInputs]:
    """The inputs of every line in ``states``, by line id: one select per input table."""
    inputs = {s.line_id: LineInputs() for s in states}
    line_ids = sorted(inputs)
    order_ids = sorted({s.order_id for s in states})
    for chunk in _chunks(line_ids):
        hosts = await conn.execute(
            select(LineAttribution.order_line_id, LineAttribution.host_id, Host.commission_bp, LiveSession.started_at)
            .outerjoin(Host, Host.id == LineAttribution.host_id)
            .outerjoin(LiveSession, LiveSession.id == LineAttribution.session_id)
            .where(among(conn, LineAttribution.order_line_id, chunk))
        )
        for line_id, host_id, commission_bp, started_at in hosts:
            inp = inputs[line_id]
            inp.host_id, inp.host_commission_bp, inp.session_started_at = host_id, commission_bp or 0, started_at
        draws = await conn.execute(
            select(LotAllocation.order_line_id, LotAllocation.lot_id, func.sum(LotAllocation.quantity))
            .where(among(conn, LotAllocation.order_line_id, chunk), LotAllocation.quantity > 0)
            .group_by(LotAllocation.order_line_id, LotAllocation.lot_id)
        )
        for line_id, lot_id, units in draws:
            inputs[line_id].draws[lot_id] = int(units)

    lot_ids = sorted({lot for inp in inputs.values() for lot in inp.draws})
    contributions: dict[int, list[Contribution]] = {lot: [] for lot in lot_ids}
    for chunk in _chunks(lot_ids):
        delivered = await conn.execute(
            select(
                LotContribution.lot_id,
                LotContribution.household_id,
                Household.category,
                LotContribution.quantity,
                LotContribution.grade,
                LotContribution.guaranteed_price_fen,
            )
            .join(Household, Household.id == LotContribution.household_id)
            .where(among(conn, LotContribution.lot_id, chunk))
            .order_by(LotContribution.lot_id, LotContribution.household_id)
        )
        for lot_id, household_id, category, quantity, grade, price in delivered:
            contributions[lot_id].append(Contribution(household_id, category, quantity, grade, price))
    for inp in inputs.values():
        inp.lots = {lot: contributions[lot] for lot in inp.draws}

    coop_ids = sorted({s.cooperative_id for s in states if s.cooperative_id is not None})
    policies: dict[int, list[tuple[date, int, int, dict[str, Any]]]] = defaultdict(list)
    for chunk in _chunks(coop_ids):
        versions = await conn.execute(
            select(
                SplitPolicy.cooperative_id,
                SplitPolicy.effective_from,
                SplitPolicy.version,
                SplitPolicy.patronage_return_bp,
                SplitPolicy.rules,
            ).where(among(conn, SplitPolicy.cooperative_id, chunk))
        )
        for coop_id, effective_from, version, patronage, rules in versions:
            policies[coop_id].append((effective_from, version, patronage, rules))
    parsed: dict[tuple[int, int], Policy | str] = {}
    for s in states:
        if s.cooperative_id is None:
            continue
        inp = inputs[s.line_id]
        chosen = policy_in_force(policies.get(s.cooperative_id, []), local_date(s.paid_at))
        if chosen is None:
            inp.policy_error = f"cooperative {s.cooperative_id} has no split policy in force on {local_date(s.paid_at)}"
            continue
        _, version, patronage, rules = chosen
        key = (s.cooperative_id, version)
        if key not in parsed:
            try:
                parsed[key] = parse_policy_row(rules, patronage)
            except PolicyError as exc:
                parsed[key] = f"cooperative {s.cooperative_id} policy v{version}: {exc}"
        value = parsed[key]
        inp.policy_version = version
        if isinstance(value, str):
            inp.policy_error = value
        else:
            inp.policy = value

    await _load_bills(conn, states, inputs, order_ids)
    return inputs


def policy_in_force(
    versions: Sequence[tuple[date, int, int, dict[str, Any]]], on: date
) -> tuple[date, int, int, dict[str, Any]] | None:
    """The policy version with the latest ``effective_from`` on or before ``on`` (ties: highest version)."""
    candidates = [v for v in versions if v[0] <= on]
    return max(candidates, key=lambda v: (v[0], v[1])) if candidates else None


async def _load_bills(
    conn: AsyncConnection, states: Sequence[LineState], inputs: dict[int, LineInputs], order_ids: Sequence[int]
) -> None:
    order_lines: dict[int, dict[str, tuple[int, int]]] = defaultdict(dict)  # order -> platform line -> (id, paid)
    bills: dict[int, list[tuple[str | None, SettlementKind, int, datetime]]] = defaultdict(list)
    for chunk in _chunks(order_ids):
        siblings = await conn.execute(
            select(OrderLine.order_id, OrderLine.platform_line_id, OrderLine.id, OrderLine.paid_fen)
            .where(among(conn, OrderLine.order_id, chunk))
            .order_by(OrderLine.id)
        )
        for order_id, own_line_id, line_id, paid in siblings:
            order_lines[order_id][own_line_id] = (line_id, paid)
        settled = await conn.execute(
            select(
                Order.id,
                SettlementLine.platform_line_id,
                SettlementLine.kind,
                SettlementLine.amount_fen,
                SettlementLine.settled_at,
            )
            .join(
                SettlementLine,
                and_(
                    SettlementLine.shop_id == Order.shop_id, SettlementLine.platform_order_id == Order.platform_order_id
                ),
            )
            .where(among(conn, Order.id, chunk))
            .order_by(SettlementLine.id)
        )
        for order_id, bill_line_id, kind, amount, settled_at in settled:
            bills[order_id].append((bill_line_id, kind, amount, settled_at))

    per_order: dict[int, dict[int, dict[str, int]]] = {}
    for order_id, lines in bills.items():
        own = order_lines[order_id]
        fees: dict[int, dict[str, int]] = {line_id: {} for line_id, _ in own.values()}
        spread: dict[str, int] = defaultdict(int)
        for target, kind, amount, _ in lines:
            fee_name = _FEE_KINDS.get(kind)
            if fee_name is None or amount > 0:
                # A positive fee line gives back a fee on refunded money: the refund's own journal
                # already reverses the line's fees pro rata, so counting it here would take it twice.
                continue
            if target is not None and target in own:
                line_fees = fees[own[target][0]]
                line_fees[fee_name] = line_fees.get(fee_name, 0) - amount
            else:
                spread[fee_name] -= amount
        weights = {line_id: max(paid, 0) for line_id, paid in own.values()}
        if spread and weights:
            if not any(weights.values()):
                weights = dict.fromkeys(weights, 1)
            for name, total in spread.items():
                for line_id, part in split_largest_remainder(total, weights).items():
                    fees[line_id][name] = fees[line_id].get(name, 0) + part
        per_order[order_id] = fees
    for s in states:
        order_bill = bills.get(s.order_id)
        if not order_bill:
            continue
        inp = inputs[s.line_id]
        inp.bill = per_order[s.order_id].get(s.line_id, {})
        inp.bill_lines = len(order_bill)
        inp.last_bill_at = max(line[3] for line in order_bill)


# -- the desired journal ------------------------------------------------------------------------


@dataclass(frozen=True)
class Desired:
    """A line's full (unrefunded) journal as its inputs make it, or why there is none yet."""

    status: str  # posted | not_split | waiting_lots | failed
    legs: dict[str, int] = field(default_factory=dict)
    journal: Journal | None = None  # the full journal (kind sale), None when paid is 0 or not computable
    fingerprint: str = ""
    fees_source: str | None = None
    reason: str | None = None


def line_fees(state: LineState, inp: LineInputs) -> tuple[LineFees, int | None, str]:
    """The line's fees, the host they pay (None: no host) and where they came from."""
    host_id = inp.host_id
    if inp.bill is not None:
        bill = dict(inp.bill)
        commission = bill.pop("host_commission_fen", None)
        if commission is None:
            commission = _commission(state.paid_fen, inp.host_commission_bp) if host_id is not None else 0
        elif host_id is None:
            bill["platform_fee_fen"] = bill.get("platform_fee_fen", 0) + commission
            commission = 0
        return LineFees(host_commission_fen=commission, **bill), host_id, "bill"
    if inp.policy is not None:
        fees = estimate_fees(state.paid_fen, inp.policy, inp.host_commission_bp if host_id is not None else 0)
    else:
        fees = LineFees(host_commission_fen=_commission(state.paid_fen, inp.host_commission_bp))
    return fees, host_id, "estimate"


def _commission(paid_fen: int, bp: int) -> int:
    return paid_fen * bp // BP_WHOLE if paid_fen > 0 else 0


@dataclass
class BatchCache:
    """What depends only on a line's draws, kept for one batch (every line's lots come from the
    same read): most lines of a batch share their draws with others."""

    plans: dict[tuple[Any, ...], SplitPlan] = field(default_factory=dict)  # by coop, policy, draws
    lots_json: dict[tuple[Any, ...], tuple[str, str]] = field(default_factory=dict)  # by draws


def desired_journal(state: LineState, inp: LineInputs, cache: BatchCache | None = None) -> Desired:
    """Build the line's full journal from its inputs (pure); ``cache`` is the batch's :class:`BatchCache`."""
    if state.supplier_id is None:
        return Desired(WAITING_LOTS, reason="the line has no SKU mapped to a product and supplier yet")
    is_coop = state.supplier_kind is SupplierKind.COOPERATIVE and state.cooperative_id is not None
    if is_coop and not inp.draws:
        return Desired(WAITING_LOTS, reason="no lot draw for the line yet")
    if is_coop and inp.policy is None:
        return Desired(FAILED, reason=inp.policy_error or "no split policy")
    fees, host_id, source = line_fees(state, inp)
    fingerprint = _fingerprint(state, inp, fees, host_id, source, cache)
    status = POSTED if is_coop else NOT_SPLIT
    if state.paid_fen <= 0:
        return Desired(status, fingerprint=fingerprint, fees_source=source, reason="paid 0 fen: nothing to post")
    try:
        if is_coop:
            assert inp.policy is not None and state.cooperative_id is not None
            line = SaleLine(
                shop_id=state.shop_id,
                line_id=state.line_id,
                version=state.sale_version or state.version,
                occurred_at=state.paid_at,
                paid_fen=state.paid_fen,
                fees=fees,
                cooperative_id=state.cooperative_id,
                draws=inp.draws,
                lots=inp.lots,
                host_id=host_id,
            )
            plan = None
            if cache is not None:
                key = (state.cooperative_id, inp.policy_version, *sorted(inp.draws.items()))
                plan = cache.plans.get(key)
                if plan is None:
                    plan = cache.plans[key] = plan_split(inp.draws, inp.lots, inp.policy)
            journal, _ = build_sale_journal(line, inp.policy, plan)
        else:
            assert state.supplier_id is not None
            journal = build_supplier_sale_journal(
                shop_id=state.shop_id,
                line_id=state.line_id,
                version=state.sale_version or state.version,
                occurred_at=state.paid_at,
                paid_fen=state.paid_fen,
                fees=fees,
                supplier_id=state.supplier_id,
                host_id=host_id,
            )
    except (LedgerError, SplitError, PolicyError) as exc:
        return Desired(FAILED, reason=f"{exc.__class__.__name__}: {exc}")
    return Desired(status, journal.legs, journal, fingerprint, source)


def _fee_list(fees: LineFees) -> list[int]:
    return [fees.platform_fee_fen, fees.payment_fee_fen, fees.host_commission_fen, fees.logistics_fen]


def fingerprint_doc(state: LineState, inp: LineInputs, fees: LineFees, host_id: int | None, source: str) -> Any:
    """Everything a line's full journal depends on, as JSON values: its fingerprint hashes this."""
    return {
        "paid": state.paid_fen,
        "fees": _fee_list(fees),
        "fees_source": source,
        "host": host_id,
        "supplier": state.supplier_id,
        "cooperative": state.cooperative_id,
        "policy": inp.policy_version,
        "draws": sorted(inp.draws.items()),
        "lots": {
            str(lot): [[c.household_id, c.category.value, c.quantity, c.grade, c.guaranteed_price_fen] for c in cs]
            for lot, cs in sorted(inp.lots.items())
        },
    }


def _fingerprint(
    state: LineState,
    inp: LineInputs,
    fees: LineFees,
    host_id: int | None,
    source: str,
    cache: BatchCache | None = None,
) -> str:
    """sha256 of :func:`fingerprint_doc` as ``json.dumps(doc, sort_keys=True)`` writes it.

    The text is assembled here in that exact form (keys sorted, default separators) so the draws
    and lots part, the same for every line of a batch with the same draws, is encoded once per
    batch (``cache``) instead of once per line.
    """
    encode = _FINGERPRINT_JSON.encode
    draws = sorted(inp.draws.items())
    key = tuple(draws)
    parts = cache.lots_json.get(key) if cache is not None else None
    if parts is None:
        doc = fingerprint_doc(state, inp, fees, host_id, source)
        parts = encode(doc["draws"]), encode(doc["lots"])
        if cache is not None:
            cache.lots_json[key] = parts
    text = (
        f'{{"cooperative": {encode(state.cooperative_id)}, "draws": {parts[0]}, "fees": {encode(_fee_list(fees))}, '
        f'"fees_source": {encode(source)}, "host": {encode(host_id)}, "lots": {parts[1]}, '
        f'"paid": {encode(state.paid_fen)}, "policy": {encode(inp.policy_version)}, '
        f'"supplier": {encode(state.supplier_id)}}}'
    )
    return hashlib.sha256(text.encode()).hexdigest()


def trueup_time(state: LineState, inp: LineInputs) -> datetime:
    """When the cause of a true-up happened, from the data (never the clock)."""
    times = [state.paid_at, state.order_modified_at]
    if inp.last_bill_at is not None:
        times.append(inp.last_bill_at)
    if inp.session_started_at is not None:
        times.append(inp.session_started_at)
    return max(times)


# -- post_lines ---------------------------------------------------------------------------------


def _due(retry_failed: bool) -> Any:
    has_draw = exists().where(LotAllocation.order_line_id == LineAccounting.order_line_id, LotAllocation.quantity > 0)
    return and_(
        LineAccounting.posted_rev < LineAccounting.input_rev,
        or_(
            LineAccounting.status.in_([PENDING, POSTED, NOT_SPLIT]),
            LineAccounting.checked_rev < LineAccounting.input_rev,
            and_(LineAccounting.status == WAITING_LOTS, has_draw),
            and_(LineAccounting.status == FAILED, literal(retry_failed)),
        ),
    )


async def post_lines(
    conn: AsyncConnection,
    *,
    shop_id: int | None = None,
    limit: int = 5_000,
    retry_failed: bool = False,
    discovery: bool = True,
) -> PostingStats:
    """Discover paid lines, then post the journals of up to ``limit`` due lines.

    A failed line (``reason`` says why) is tried again when one of its inputs changes, or on
    ``retry_failed``. ``discovery=False`` skips :func:`discover`, whose statements read every
    paid line: a caller that has just run it (the pipeline's later passes) saves that scan.
    Runs in the caller's transaction.
    """
    stats = PostingStats()
    if discovery:
        stats.discovered, stats.bumped = await discover(conn, shop_id=shop_id)
    if conn.dialect.name == "postgresql":
        # Lock, then read: see _lock_due_lines.
        locked = await _lock_due_lines(conn, shop_id=shop_id, limit=limit, retry_failed=retry_failed)
        query = state_select().where(among(conn, LineAccounting.id, locked))
    else:
        locked = None
        query = state_select().where(_due(retry_failed))
        if shop_id is not None:
            query = query.where(LineAccounting.shop_id == shop_id)
        query = query.limit(limit)
    states = [to_state(row) for row in await conn.execute(query.order_by(LineAccounting.id))] if locked != [] else []
    stats.examined = len(states)
    if not states:
        return stats
    inputs = await load_inputs(conn, states)
    now = datetime.now(UTC)

    journals: list[Journal] = []
    done: list[dict[str, Any]] = []
    waiting: list[dict[str, Any]] = []
    cache = BatchCache()
    refolded = await _refunded_at_new_paid(conn, states)
    for state in states:
        inp = inputs[state.line_id]
        desired = desired_journal(state, inp, cache)
        if desired.status in (WAITING_LOTS, FAILED):
            if desired.status == FAILED:
                stats.failed += 1
            else:
                stats.waiting_lots += 1
            waiting.append(
                {"b_id": state.la_id, "b_status": desired.status, "b_reason": desired.reason, "b_rev": state.input_rev}
            )
            continue
        row: dict[str, Any] = {
            "b_id": state.la_id,
            "b_status": desired.status,
            "b_reason": desired.reason,
            "b_rev": state.input_rev,
            "b_fp": desired.fingerprint,
            "b_fees": desired.fees_source,
            "b_bills": inp.bill_lines,
            "b_desired": desired.legs,
            "b_sale": state.sale_version,
            "b_seq": state.journal_seq,
            "b_refunded": refolded.get(state.line_id, state.refunded),
        }
        if desired.status == NOT_SPLIT:
            stats.not_split += 1
        unchanged = state.fingerprint == desired.fingerprint and state.desired is not None
        if not unchanged and state.sale_version is None and desired.journal is not None and not state.refunded:
            journals.append(desired.journal)
            row["b_sale"], row["b_seq"] = state.version, state.journal_seq + 1
            stats.sales += 1
        elif not unchanged:
            before = refunded_legs(state.desired or {}, state.refunded)
            after = refunded_legs(desired.legs, row["b_refunded"])
            seq = state.journal_seq + 1
            trueup = build_trueup_journal(
                shop_id=state.shop_id,
                line_id=state.line_id,
                version=state.version,
                fingerprint=f"{seq}.{desired.fingerprint[:24]}",
                occurred_at=trueup_time(state, inp),
                desired=after,
                posted=before,
                memo=f"true-up to inputs {desired.fingerprint[:12]} ({desired.fees_source} fees)",
            )
            if trueup is None:
                stats.unchanged += 1
            else:
                if state.sale_version is None:
                    raise LedgerError(f"line {state.line_id}: a true-up with no sale journal posted")
                journals.append(trueup)
                row["b_seq"] = seq
                stats.trueups += 1
        else:
            stats.unchanged += 1
        done.append(row)

    if journals:
        await post(conn, journals)
    if done and conn.dialect.name == "postgresql":
        await _pg_update_done(conn, done, now)
    elif done:
        await conn.execute(
            update(LineAccounting)
            .where(LineAccounting.id == bindparam("b_id"))
            .values(
                status=bindparam("b_status"),
                reason=bindparam("b_reason"),
                posted_rev=bindparam("b_rev"),
                checked_rev=bindparam("b_rev"),
                posted_fingerprint=bindparam("b_fp"),
                fees_source=bindparam("b_fees"),
                bill_lines=bindparam("b_bills"),
                desired_legs=bindparam("b_desired", type_=LineAccounting.desired_legs.type),
                sale_version=bindparam("b_sale"),
                journal_seq=bindparam("b_seq"),
                refunded_num=bindparam("b_num"),
                refunded_den=bindparam("b_den"),
                updated_at=now,
            )
            .execution_options(synchronize_session=False),
            [{**row, "b_num": row["b_refunded"].numerator, "b_den": row["b_refunded"].denominator} for row in done],
        )
    if waiting:
        await conn.execute(
            update(LineAccounting)
            .where(LineAccounting.id == bindparam("b_id"))
            .values(
                status=bindparam("b_status"),
                reason=bindparam("b_reason"),
                checked_rev=bindparam("b_rev"),
                updated_at=now,
            )
            .execution_options(synchronize_session=False),
            waiting,
        )
    return stats


async def _lock_due_lines(conn: AsyncConnection, *, shop_id: int | None, limit: int, retry_failed: bool) -> list[int]:
    """PostgreSQL: lock the state rows of up to ``limit`` due lines (``FOR UPDATE SKIP LOCKED``:
    lines another worker holds are left to it); their ids, for :func:`state_select` to read.

    The line, its order and its product are read by that later statement, not joined here: a
    select that locks takes its snapshot first and its row locks afterwards, so when another
    worker changes the state row and commits in between (discovery bumping it for a new line
    version), the lock hands back the new state row joined to the line as the old snapshot had
    it, and the line would be marked posted at the new version with the old version's amounts.
    Every stage that changes an input of the line bumps this row, so once it is locked the
    inputs read afterwards are the ones its ``input_rev`` stands for.
    """
    query = select(LineAccounting.id).where(_due(retry_failed))
    if shop_id is not None:
        query = query.where(LineAccounting.shop_id == shop_id)
    query = query.order_by(LineAccounting.id).limit(limit).with_for_update(skip_locked=True)
    return list((await conn.execute(query)).scalars())


_PG_UPDATE_DONE = (
    "UPDATE line_accounting AS la SET status = t.status, reason = t.reason, posted_rev = t.rev, "
    "checked_rev = t.rev, posted_fingerprint = t.fp, fees_source = t.fees, bill_lines = t.bills, "
    "desired_legs = t.desired::jsonb, sale_version = t.sale, journal_seq = t.seq, updated_at = $11, "
    "refunded_num = t.num, refunded_den = t.den "
    "FROM unnest($1::bigint[], $2::varchar[], $3::text[], $4::int[], $5::varchar[], $6::varchar[], $7::int[], "
    "$8::text[], $9::int[], $10::int[], $12::bigint[], $13::bigint[]) "
    "AS t(id, status, reason, rev, fp, fees, bills, desired, sale, seq, num, den) "
    "WHERE la.id = t.id"
)


async def _pg_update_done(conn: AsyncConnection, done: Sequence[dict[str, Any]], now: datetime) -> None:
    """PostgreSQL: write the posted lines' state rows with one ``UPDATE ... FROM unnest`` statement."""
    driver = await asyncpg_in_transaction(conn)
    await driver.execute(
        _PG_UPDATE_DONE,
        [row["b_id"] for row in done],
        [row["b_status"] for row in done],
        [row["b_reason"] for row in done],
        [row["b_rev"] for row in done],
        [row["b_fp"] for row in done],
        [row["b_fees"] for row in done],
        [row["b_bills"] for row in done],
        [orjson.dumps(row["b_desired"]).decode() for row in done],
        [row["b_sale"] for row in done],
        [row["b_seq"] for row in done],
        now,
        [row["b_refunded"].numerator for row in done],
        [row["b_refunded"].denominator for row in done],
    )


async def _refunded_at_new_paid(conn: AsyncConnection, states: Sequence[LineState]) -> dict[int, Fraction]:
    """The refunded part of each refunded line whose paid amount changed since it was posted.

    A refund by amount took back ``amount / paid`` of the line *then*. When the paid amount
    changes afterwards, the same fen are a different part of the line: the part is recomputed
    from the line's folded refunds over the new paid amount (by quantity: units over the line's
    units, unchanged), at most the whole line, so the true-up leaves the receivable at the new
    paid amount minus exactly the fen refunded.
    """
    changed = {
        s.line_id: s
        for s in states
        if s.refunded and s.desired is not None and s.desired.get(receivable_account(s.shop_id).code) != s.paid_fen
    }
    if not changed:
        return {}
    rows = await conn.execute(
        select(RefundPosting.order_line_id, Refund.amount_fen, Refund.quantity)
        .join(Refund, Refund.id == RefundPosting.refund_id)
        .where(among(conn, RefundPosting.order_line_id, sorted(changed)))
    )
    parts: dict[int, Fraction] = defaultdict(Fraction)
    for line_id, amount, units in rows:
        state = changed[line_id]
        if amount and state.paid_fen > 0:
            parts[line_id] += Fraction(amount, state.paid_fen)
        elif units and state.quantity > 0:
            parts[line_id] += Fraction(units, state.quantity)
    return {line_id: min(part, Fraction(1)) for line_id, part in parts.items()}


# -- post_refunds -------------------------------------------------------------------------------


async def post_refunds(conn: AsyncConnection, *, shop_id: int | None = None, limit: int = 5_000) -> PostingStats:
    """Fold succeeded refunds of posted lines into reversing journals, each once.

    Pro rata by amount (``amount / paid``), or by quantity when the refund has no amount;
    cumulative per line. A refund of a line not posted yet waits; one beyond what is left of
    its line is recorded as the line's ``reason`` (status ``failed``) and tried again next time.
    Runs in the caller's transaction.

    On PostgreSQL the lines are locked first (up to ``limit`` of them, ``SKIP LOCKED``) and
    their refunds read afterwards, by a statement of their own (:func:`_lock_refunded_lines`);
    elsewhere (one writer) up to ``limit`` refunds are read at once.
    """
    stats = PostingStats()
    pg = conn.dialect.name == "postgresql"
    query = (
        select(
            Refund.id,
            Refund.amount_fen,
            Refund.quantity,
            Refund.modified_at,
            LineAccounting.id,
            LineAccounting.order_line_id,
            LineAccounting.shop_id,
            LineAccounting.desired_legs,
            LineAccounting.sale_version,
            LineAccounting.refunded_num,
            LineAccounting.refunded_den,
            OrderLine.quantity,
        )
        .join(LineAccounting, LineAccounting.order_line_id == Refund.order_line_id)
        .join(OrderLine, OrderLine.id == Refund.order_line_id)
        .where(
            Refund.status == RefundStatus.SUCCEEDED,
            LineAccounting.sale_version.is_not(None),
            LineAccounting.desired_legs.is_not(None),
            ~exists().where(RefundPosting.refund_id == Refund.id),
        )
        .order_by(Refund.order_line_id, Refund.modified_at, Refund.id)
    )
    if shop_id is not None:
        query = query.where(Refund.shop_id == shop_id)
    if pg:
        locked = await _lock_refunded_lines(conn, shop_id=shop_id, limit=limit)
        if not locked:
            return stats
        query = query.where(among(conn, LineAccounting.id, locked))
    else:
        query = query.limit(limit)
    rows = (await conn.execute(query)).all()
    if not rows:
        return stats
    now = datetime.now(UTC)
    refunded: dict[int, Fraction] = {}
    failures: dict[int, str] = {}
    journals: list[Journal] = []
    folded: list[tuple[int, int, datetime, Journal | None]] = []
    la_ids: dict[int, int] = {}
    for refund_id, amount, units, modified_at, la_id, line_id, shop, legs, sale_version, num, den, line_units in rows:
        if line_id in failures:
            continue
        la_ids[line_id] = la_id
        before = refunded.get(line_id, Fraction(num, den))
        full = {str(k): int(v) for k, v in sorted(legs.items())}  # code order: see refunded_legs
        paid = full.get(receivable_account(shop).code, 0)
        try:
            if amount:
                fraction = refund_fraction(amount_fen=amount, paid_fen=paid)
            else:
                fraction = refund_fraction(units=units, line_units=line_units)
            original = journal_from_legs(JournalKind.SALE, sale_event_key(shop, line_id, sale_version), now, full)
            journal = build_refund_journal(
                original,
                refund_key=str(refund_id),
                occurred_at=modified_at,
                fraction=fraction,
                refunded_before=before,
            )
        except LedgerError as exc:
            failures[line_id] = f"refund {refund_id}: {exc}"
            continue
        refunded[line_id] = before + fraction
        if journal is not None:
            journals.append(journal)
        folded.append((refund_id, line_id, modified_at, journal))

    if journals:
        await post(conn, journals)
        stats.refund_journals = len(journals)
    ids: dict[str, int] = {}
    for start in range(0, len(journals), _CHUNK):
        uids = [j.uid for j in journals[start : start + _CHUNK]]
        result = await conn.execute(select(JournalRow.uid, JournalRow.id).where(among(conn, JournalRow.uid, uids)))
        ids.update({uid: journal_id for uid, journal_id in result})
    if folded:
        returned = await _returned_units(conn, [refund_id for refund_id, _, _, _ in folded])
        await conn.execute(
            insert(RefundPosting),
            [
                {
                    "refund_id": refund_id,
                    "order_line_id": line_id,
                    "journal_id": ids[journal.uid] if journal is not None else None,
                    "amount_fen": -journal.legs.get(receivable_account_code(journal), 0) if journal else 0,
                    "returned_units": returned.get(refund_id, 0),
                    "occurred_at": occurred_at,
                    "posted_at": now,
                }
                for refund_id, line_id, occurred_at, journal in folded
            ],
        )
        stats.refunds = len(folded)
    if refunded:
        await conn.execute(
            update(LineAccounting)
            .where(LineAccounting.id == bindparam("b_id"))
            .values(refunded_num=bindparam("b_num"), refunded_den=bindparam("b_den"), updated_at=now)
            .execution_options(synchronize_session=False),
            [
                {"b_id": la_ids[line_id], "b_num": value.numerator, "b_den": value.denominator}
                for line_id, value in refunded.items()
            ],
        )
    if failures:
        stats.failed = len(failures)
        await conn.execute(
            update(LineAccounting)
            .where(LineAccounting.id == bindparam("b_id"))
            .values(status=FAILED, reason=bindparam("b_reason"), updated_at=now)
            .execution_options(synchronize_session=False),
            [{"b_id": la_ids[line_id], "b_reason": reason} for line_id, reason in failures.items()],
        )
    return stats


async def _lock_refunded_lines(conn: AsyncConnection, *, shop_id: int | None, limit: int) -> list[int]:
    """PostgreSQL: lock the state rows of up to ``limit`` posted lines with a succeeded refund not
    folded yet (``FOR UPDATE SKIP LOCKED``: lines another worker holds are left to it); their ids.

    The line's ``order_lines`` row is held too (``_LOCK_REFUNDED``). The refunds themselves must
    be read by a later statement. A select that locks takes its
    snapshot first and its row locks afterwards: when another worker folds one of the line's
    refunds and commits in between, the lock hands back the state row as that worker left it
    (refunded part moved on), while the refund, joined, and the ``NOT EXISTS`` over
    ``refund_postings`` are still judged by the older snapshot. Folding from that select folded
    the refund a second time, into different legs under the same journal uid (``bench/attribution.py
    --workers 2``: "already posted with different content"). A statement begun after the lock is
    held sees every commit of the line's previous holder, and no other worker can fold the line's
    refunds, move its refunded part or post a true-up to it until this transaction ends, so what
    is folded is computed from one consistent state, by one worker.
    """
    unfolded = exists().where(
        Refund.order_line_id == LineAccounting.order_line_id,
        Refund.status == RefundStatus.SUCCEEDED,
        ~exists().where(RefundPosting.refund_id == Refund.id),
    )
    query = (
        select(LineAccounting.id)
        .join(OrderLine, OrderLine.id == LineAccounting.order_line_id)
        .where(LineAccounting.sale_version.is_not(None), LineAccounting.desired_legs.is_not(None), unfolded)
    )
    if shop_id is not None:
        query = query.where(LineAccounting.shop_id == shop_id)
    query = query.order_by(LineAccounting.order_line_id).limit(limit).suffix_with(_LOCK_REFUNDED)
    return list((await conn.execute(query)).scalars())


# The line's order_lines row too, in the mode of the foreign key check that writing its
# refund_postings row makes later (KEY SHARE: the sync's updates of the line do not wait for it).
# Attribution locks order_lines rows FOR UPDATE and then bumps their state rows: taking the state
# row here and waiting for the line in that check deadlocked two workers (bench --workers 2);
# a line whose row another stage holds is skipped like a locked state row.
_LOCK_REFUNDED = "FOR UPDATE OF line_accounting SKIP LOCKED FOR KEY SHARE OF order_lines SKIP LOCKED"


async def _returned_units(conn: AsyncConnection, refund_ids: Sequence[int]) -> dict[int, int]:
    """Units each refund has put back into lots so far (its ``refund:<id>:lot:<lot>`` allocations)."""
    keys = {f"refund:{refund_id}": refund_id for refund_id in refund_ids}
    line_ids = select(Refund.order_line_id).where(among(conn, Refund.id, sorted(keys.values())))
    rows = await conn.execute(
        select(LotAllocation.source_key, LotAllocation.quantity).where(
            LotAllocation.order_line_id.in_(line_ids.scalar_subquery()), LotAllocation.quantity < 0
        )
    )
    out: dict[int, int] = defaultdict(int)
    for key, quantity in rows:
        refund_id = keys.get(key.split(":lot:", 1)[0])
        if refund_id is not None:
            out[refund_id] -= quantity
    return out


def receivable_account_code(journal: Journal) -> str:
    """The receivable leg's code of a line journal (its source key names the shop)."""
    shop = int(journal.source_event.split(":")[1])
    return receivable_account(shop).code
