"""Loading what posting needs: the due lines' state rows and every input of their journals.

One select per input table for a whole batch (:func:`load_inputs`); the rules applied to what
is loaded are in :mod:`workers.posting.rules`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import and_, func, not_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import SettlementKind
from bangfu.models import (
    Cooperative,
    Host,
    Household,
    LineAccounting,
    LineAttribution,
    LiveSession,
    LotAllocation,
    LotContribution,
    Order,
    OrderLine,
    Product,
    Refund,
    RefundPosting,
    SettlementLine,
    Shop,
    Sku,
    SplitPolicy,
    Supplier,
    on_a_platform,
)
from bangfu.policy import Policy, PolicyError, parse_policy_row
from bangfu.split import Contribution
from bangfu.store import among
from workers.posting.rules import (
    LineInputs,
    LineState,
    bill_fees,
    local_date,
    paid_changed_since_refunded,
    policy_in_force,
    refunded_part,
)

_CHUNK = 5_000


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


async def load_inputs(conn: AsyncConnection, states: Sequence[LineState]) -> dict[int, LineInputs]:
    """The inputs of every line in ``states``, by line id: one select per input table."""
    inputs = {s.line_id: LineInputs() for s in states}
    shop_ids = sorted({s.shop_id for s in states})
    no_platform = set(
        (await conn.execute(select(Shop.id).where(among(conn, Shop.id, shop_ids), not_(on_a_platform())))).scalars()
    )
    for s in states:
        if s.shop_id in no_platform:
            inputs[s.line_id].platform_fee = False
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

    per_order = {
        order_id: bill_fees(order_lines[order_id], [(target, kind, amount) for target, kind, amount, _ in lines])
        for order_id, lines in bills.items()
    }
    for s in states:
        order_bill = bills.get(s.order_id)
        if not order_bill:
            continue
        inp = inputs[s.line_id]
        inp.bill = per_order[s.order_id].get(s.line_id, {})
        inp.bill_lines = len(order_bill)
        inp.last_bill_at = max(line[3] for line in order_bill)


async def refunded_at_new_paid(conn: AsyncConnection, states: Sequence[LineState]) -> dict[int, Fraction]:
    """The refunded part of each refunded line whose paid amount changed since it was posted,
    from its folded refunds (:func:`workers.posting.rules.refunded_part`)."""
    changed = {s.line_id: s for s in states if paid_changed_since_refunded(s)}
    if not changed:
        return {}
    rows = await conn.execute(
        select(RefundPosting.order_line_id, Refund.amount_fen, Refund.quantity)
        .join(Refund, Refund.id == RefundPosting.refund_id)
        .where(among(conn, RefundPosting.order_line_id, sorted(changed)))
    )
    refunds: dict[int, list[tuple[int | None, int | None]]] = defaultdict(list)
    for line_id, amount, units in rows:
        refunds[line_id].append((amount, units))
    parts = {
        line_id: refunded_part(changed[line_id].paid_fen, changed[line_id].quantity, folded)
        for line_id, folded in refunds.items()
    }
    return {line_id: part for line_id, part in parts.items() if part is not None}


async def returned_units(conn: AsyncConnection, refund_ids: Sequence[int]) -> dict[int, int]:
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
