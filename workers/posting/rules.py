"""The pure rules of posting: what a line's journal is, from its inputs (docs/accounting.md).

No database, no I/O, no clock: every function here is a function of its arguments, so the rules
of DOMAIN.md can be read and tested as examples (``tests/workers/test_posting_rules.py``).

- :func:`bill_fees`: the fees each line of an order bears on the order's bill; a bill line
  naming no line of the order is spread over its lines by paid amount, largest remainder, exact
  to the fen.
- :func:`line_fees`: the bill's fees when the order has a bill, else the policy's estimates; the
  host commission from the bill or the attributed host's deal.
- :func:`desired_journal`: the line's full (unrefunded) journal and its status.
- :func:`fingerprint`: the hash of everything that journal depends on; it changes only when
  the desired journal's inputs change.
- :func:`trueup_time`: when a true-up is dated (the latest cause in the data).
- :func:`policy_in_force`: the cooperative's policy version for a payment date.
- :func:`refunded_part`: the refunded part of a line whose paid amount changed after refunds.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from bangfu.clock import SHANGHAI as SHANGHAI  # re-exported: the programmes' local time
from bangfu.enums import SettlementKind, SupplierKind
from bangfu.ledger import (
    Journal,
    LedgerError,
    SaleLine,
    build_sale_journal,
    build_supplier_sale_journal,
    receivable_account,
)
from bangfu.money import split_largest_remainder
from bangfu.policy import BP_WHOLE, Policy, PolicyError
from bangfu.split import Contribution, LineFees, SplitError, SplitPlan, estimate_fees, plan_split, plan_weights

PENDING = "pending"
POSTED = "posted"
WAITING_LOTS = "waiting_lots"
NOT_SPLIT = "not_split"
FAILED = "failed"

_FEE_KINDS = {
    SettlementKind.PLATFORM_FEE: "platform_fee_fen",
    SettlementKind.PAYMENT_FEE: "payment_fee_fen",
    SettlementKind.LOGISTICS: "logistics_fen",
    SettlementKind.HOST_COMMISSION: "host_commission_fen",
}
_FINGERPRINT_JSON = json.JSONEncoder(sort_keys=True)  # what json.dumps(doc, sort_keys=True) writes


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
    # The shop sells on a platform that takes a fee. False for shops without a platform API (an
    # offline counter or vending machine, the county's own mall): their estimates have no platform
    # fee (the payment fee and logistics estimates still apply), and no bill ever replaces them.
    platform_fee: bool = True


def local_date(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def policy_in_force(
    versions: Sequence[tuple[date, int, int, dict[str, Any]]], on: date
) -> tuple[date, int, int, dict[str, Any]] | None:
    """The policy version with the latest ``effective_from`` on or before ``on`` (ties: highest version)."""
    candidates = [v for v in versions if v[0] <= on]
    return max(candidates, key=lambda v: (v[0], v[1])) if candidates else None


def bill_fees(
    lines: Mapping[str, tuple[int, int]], bill: Sequence[tuple[str | None, SettlementKind, int]]
) -> dict[int, dict[str, int]]:
    """The fees each line of an order bears on the order's bill: fee field -> fen, by line id.

    ``lines`` maps the order's platform line ids to (line id, paid fen); ``bill`` is the order's
    settlement lines as (platform line id or None, kind, amount in the payout's sign). Fee lines
    are negative in the payout, so a fee is minus their sum. A bill line naming a line of the
    order is that line's; any other is spread over the order's lines pro rata by paid amount
    (largest remainder: the parts sum to the bill line exactly). A positive fee line (a fee
    given back on refunded money) is left out: the refund's own journal already reverses the
    line's fees pro rata, so counting it here would take it twice.
    """
    fees: dict[int, dict[str, int]] = {line_id: {} for line_id, _ in lines.values()}
    spread: dict[str, int] = defaultdict(int)
    for target, kind, amount in bill:
        fee_name = _FEE_KINDS.get(kind)
        if fee_name is None or amount > 0:
            continue
        if target is not None and target in lines:
            line_fees = fees[lines[target][0]]
            line_fees[fee_name] = line_fees.get(fee_name, 0) - amount
        else:
            spread[fee_name] -= amount
    weights = {line_id: max(paid, 0) for line_id, paid in lines.values()}
    if spread and weights:
        if not any(weights.values()):
            weights = dict.fromkeys(weights, 1)
        for name, total in spread.items():
            for line_id, part in split_largest_remainder(total, weights).items():
                fees[line_id][name] = fees[line_id].get(name, 0) + part
    return fees


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
        if not inp.platform_fee:
            fees = replace(fees, platform_fee_fen=0)
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
    plain_plans: dict[tuple[Any, ...], bool] = field(default_factory=dict)  # by the plans' keys

    def plain(self, key: tuple[Any, ...], plan: SplitPlan) -> bool:
        """Whether the plan under ``key`` splits without refusing a weight (PlanWeights.plain)."""
        known = self.plain_plans.get(key)
        if known is None:
            known = self.plain_plans[key] = plan_weights(plan).plain
        return known


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
    hashed = fingerprint(state, inp, fees, host_id, source, cache)
    status = POSTED if is_coop else NOT_SPLIT
    if state.paid_fen <= 0:
        return Desired(status, fingerprint=hashed, fees_source=source, reason="paid 0 fen: nothing to post")
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
    return Desired(status, journal.legs, journal, hashed, source)


@dataclass(frozen=True)
class PlainSale:
    """A cooperative line whose full journal :class:`bangfu.sale_batch.SaleBatch` computes with
    its batch's: what :func:`desired_journal` would read, computed once."""

    fees: LineFees
    host_id: int | None
    fees_source: str
    fingerprint: str
    plan: SplitPlan
    plan_key: tuple[Any, ...]


def plain_sale(state: LineState, inp: LineInputs, cache: BatchCache) -> PlainSale | None:
    """The line's inputs when its full journal is a plain cooperative sale (paid, draws, a policy,
    a split plan without errors, a commission only with a host), else None: then
    :func:`desired_journal` says what it is (waiting, failed, not split, nothing to post).
    ``tests/workers/test_posting_rules.py`` checks the batch's journals against it."""
    if (
        state.supplier_id is None
        or state.supplier_kind is not SupplierKind.COOPERATIVE
        or state.cooperative_id is None
        or not inp.draws
        or inp.policy is None
        or state.paid_fen <= 0
        or state.paid_at.utcoffset() is None
    ):
        return None
    fees, host_id, source = line_fees(state, inp)
    if fees.host_commission_fen and host_id is None:
        return None
    key = (state.cooperative_id, inp.policy_version, *sorted(inp.draws.items()))
    plan = cache.plans.get(key)
    if plan is None:
        try:
            plan = cache.plans[key] = plan_split(inp.draws, inp.lots, inp.policy)
        except (LedgerError, SplitError, PolicyError):
            return None
    if not cache.plain(key, plan):
        return None
    return PlainSale(fees, host_id, source, fingerprint(state, inp, fees, host_id, source, cache), plan, key)


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


def fingerprint(
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
    fee_list = (
        f"[{_number(fees.platform_fee_fen)}, {_number(fees.payment_fee_fen)}, "
        f"{_number(fees.host_commission_fen)}, {_number(fees.logistics_fen)}]"
    )
    text = (
        f'{{"cooperative": {_number(state.cooperative_id)}, "draws": {parts[0]}, "fees": {fee_list}, '
        f'"fees_source": {_SOURCES.get(source) or encode(source)}, "host": {_number(host_id)}, "lots": {parts[1]}, '
        f'"paid": {_number(state.paid_fen)}, "policy": {_number(inp.policy_version)}, '
        f'"supplier": {_number(state.supplier_id)}}}'
    )
    return hashlib.sha256(text.encode()).hexdigest()


_SOURCES = {"bill": '"bill"', "estimate": '"estimate"'}  # the JSON of the two fee sources


def _number(value: int | None) -> str:
    """An int or None as JSON writes it (the text of ``json.dumps``, without its per-call setup)."""
    return "null" if value is None else int.__repr__(value)


def trueup_time(state: LineState, inp: LineInputs) -> datetime:
    """When the cause of a true-up happened, from the data (never the clock)."""
    times = [state.paid_at, state.order_modified_at]
    if inp.last_bill_at is not None:
        times.append(inp.last_bill_at)
    if inp.session_started_at is not None:
        times.append(inp.session_started_at)
    return max(times)


def paid_changed_since_refunded(state: LineState) -> bool:
    """A refunded, posted line whose paid amount is no longer what its posted journal received."""
    return bool(
        state.refunded
        and state.desired is not None
        and state.desired.get(receivable_account(state.shop_id).code) != state.paid_fen
    )


def refunded_part(paid_fen: int, quantity: int, refunds: Iterable[tuple[int | None, int | None]]) -> Fraction | None:
    """The refunded part of a line at its current paid amount, from its folded refunds.

    A refund by amount took back ``amount / paid`` of the line *then*. When the paid amount
    changes afterwards, the same fen are a different part of the line: the part is recomputed
    over the new paid amount (by quantity: units over the line's units, unchanged), at most the
    whole line, so the true-up leaves the receivable at the new paid amount minus exactly the
    fen refunded. ``refunds`` are (amount fen, units); None when none of them counts.
    """
    part: Fraction | None = None
    for amount, units in refunds:
        if amount and paid_fen > 0:
            part = (part or Fraction(0)) + Fraction(amount, paid_fen)
        elif units and quantity > 0:
            part = (part or Fraction(0)) + Fraction(units, quantity)
    return None if part is None else min(part, Fraction(1))


def receivable_account_code(journal: Journal) -> str:
    """The receivable leg's code of a line journal (its source key names the shop)."""
    shop = int(journal.source_event.split(":")[1])
    return receivable_account(shop).code
