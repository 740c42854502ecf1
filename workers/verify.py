"""Ledger invariants, checked on a live database (``bangfu verify``).

Each check is one set-based query (or a stream of one) and reports how many violations it
found (``count``) with the first few spelled out (``details``):

- ``journals_balanced``: every journal's postings sum to 0 and it has at least 2 legs.
- ``ledger_total_zero``: all postings together sum to 0.
- ``source_events_unique``: no source event is posted as two journals.
- ``lines_match_state``: for every posted line, the sum of its journals' legs (journals whose
  source event is ``order-line:<shop>:<line>:...``) equals ``refunded_legs(desired_legs,
  refunded)`` of its ``line_accounting`` row, to the fen. The rounding is documented in
  :func:`bangfu.ledger.build_refund_journal`: each leg is reduced by its largest-remainder
  share of the refunded fraction, so it is within one fen of ``leg x (1 - refunded)`` and
  exact for a full refund. A line with journals and no state is a violation too.
- ``lines_match_inputs``: for every line posted at its current input revision, the stored
  desired journal is the one its current inputs build (policy, draws, fees, host). Lines with a
  newer line version or bill line than discovery has seen are pending, not violations.
- ``lot_remaining``: every lot's ``remaining`` is ``quantity`` minus the sum of its allocations.
- ``no_negative_remaining``: no lot's remaining stock is negative.
- ``refunds_within_paid``: per line, succeeded refunds never exceed the paid amount (nor
  the refunded fraction posted exceed the whole line).
- ``due_lines_queued``: every line due for attribution, waiting for a lot draw or due for
  posting discovery has a row in the change queue (``line_changes``), which is what the
  stages read.
- ``journal_chain``: every journal's stored hash is the one its content, its legs and the
  previous journal's hash give (:mod:`bangfu.ledger_chain`), its uid is the uuid5 of its source
  event, and the chain head row names the last journal. Each break is named on its own journal
  (the next one is hashed after the stored hash), first break first. With a digest kept from
  ``bangfu ledger digest`` (``ID:HASH``), the journal it names must still carry that hash.
- ``adjustments_recorded``: every ``adjustment`` journal moves exactly what its record says.
- ``cooperative_facts_match_ledger``, ``household_income_matches_ledger``,
  ``household_monthly_income_matches_ledger``, ``household_volumes_match_ledger``,
  ``foreign_retention_matches_ledger``, ``household_line_days_match_ledger``: the pages'
  pre-aggregates kept at posting (``cooperative_line_facts``, ``household_daily_income``,
  ``household_monthly_income``, ``cooperative_household_volumes``,
  ``cooperative_foreign_retention``, ``household_line_days``) equal the ledger's sums
  (:mod:`bangfu.line_credits`).
- ``household_line_day_skus_match_lines``: each ``household_line_days`` row keeps its order
  line's SKU (the statement names its rows by it), none for line 0.

The report carries the chain head (last journal id and hash) for an outside party to keep.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import JournalKind, RefundStatus
from bangfu.ledger import journal_uid, refunded_legs
from bangfu.ledger_chain import GENESIS, Head, stored_head, walk
from bangfu.line_credits import (
    facts_differing_from_ledger,
    foreign_retention_differing_from_ledger,
    household_line_day_skus_differing_from_lines,
    household_line_days_differing_from_ledger,
    income_differing_from_ledger,
    monthly_income_differing_from_ledger,
    volumes_differing_from_ledger,
)
from bangfu.models import (
    Journal,
    LedgerAccount,
    LedgerAdjustment,
    LineAccounting,
    LineChange,
    LotAllocation,
    OrderLine,
    Posting,
    Refund,
    SupplyLot,
)
from workers import changes
from workers.attribution import due_lines as attribution_due
from workers.lot_draws import waiting_lines
from workers.posting import (
    FAILED,
    NOT_SPLIT,
    POSTED,
    WAITING_LOTS,
    desired_journal,
    discovery_due,
    load_inputs,
    state_select,
    to_state,
)

MAX_DETAILS = 20
_BATCH = 2_000


@dataclass
class Check:
    name: str
    ok: bool
    count: int  # violations found
    details: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "count": self.count, "details": self.details}


@dataclass
class VerifyReport:
    checks: list[Check]
    head: Head | None = None  # the chain head as recomputed (None when the chain was not checked)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "checks": [check.as_dict() for check in self.checks]}
        if self.head is not None:
            out["head"] = {"journal_id": self.head.journal_id, "hash": self.head.hash}
        return out


def _check(name: str, problems: list[str], count: int | None = None) -> Check:
    total = len(problems) if count is None else count
    return Check(name, total == 0, total, problems[:MAX_DETAILS])


async def verify(conn: AsyncConnection, *, inputs: bool = True, digest: Head | None = None) -> VerifyReport:
    """Run every check; ``inputs=False`` skips rebuilding each posted line from its inputs;
    ``digest`` is a chain head kept earlier, which the ledger must still contain."""
    chain, head = await journal_chain(conn, digest)
    checks = [
        chain,
        await _adjustments_recorded(conn),
        await _journals_balanced(conn),
        await _total_zero(conn),
        await _unique_sources(conn),
        await _lines_match_state(conn),
    ]
    if inputs:
        checks.append(await _lines_match_inputs(conn))
    checks += [await _lot_remaining(conn), await _no_negative_remaining(conn), await _refunds_within_paid(conn)]
    checks.append(await _due_lines_queued(conn))
    checks += [await _cooperative_facts_match_ledger(conn), await _household_income_matches_ledger(conn)]
    checks.append(await _household_monthly_income_matches_ledger(conn))
    checks += [await _household_volumes_match_ledger(conn), await _foreign_retention_matches_ledger(conn)]
    checks.append(await _household_line_days_match_ledger(conn))
    checks.append(await _household_line_day_skus_match_lines(conn))
    return VerifyReport(checks, head)


async def _cooperative_facts_match_ledger(conn: AsyncConnection) -> Check:
    """The cooperative pages' pre-aggregate (``cooperative_line_facts``) equals the ledger."""
    rows = await facts_differing_from_ledger(conn, limit=MAX_DETAILS)
    problems = [
        f"cooperative #{coop}, {day}, line {line}: table {table}, ledger {ledger}"
        for (coop, day, line), table, ledger in rows
    ]
    return _check("cooperative_facts_match_ledger", problems)


async def _household_income_matches_ledger(conn: AsyncConnection) -> Check:
    """The households' daily income (``household_daily_income``) equals the ledger."""
    rows = await income_differing_from_ledger(conn, limit=MAX_DETAILS)
    problems = [
        f"household #{household}, {day}: table {table}, ledger {ledger}" for (household, day), table, ledger in rows
    ]
    return _check("household_income_matches_ledger", problems)


async def _household_monthly_income_matches_ledger(conn: AsyncConnection) -> Check:
    """The households' monthly income (``household_monthly_income``) equals the ledger."""
    rows = await monthly_income_differing_from_ledger(conn, limit=MAX_DETAILS)
    problems = [
        f"household #{household}, {month:%Y-%m}: table {table}, ledger {ledger}"
        for (household, month), table, ledger in rows
    ]
    return _check("household_monthly_income_matches_ledger", problems)


async def _household_volumes_match_ledger(conn: AsyncConnection) -> Check:
    """The surplus's volumes (``cooperative_household_volumes``) equal the ledger."""
    rows = await volumes_differing_from_ledger(conn, limit=MAX_DETAILS)
    problems = [
        f"cooperative #{coop}, {month:%Y-%m}, household #{household}: table {table}, ledger {ledger}"
        for (coop, month, household), table, ledger in rows
    ]
    return _check("household_volumes_match_ledger", problems)


async def _foreign_retention_matches_ledger(conn: AsyncConnection) -> Check:
    """The surplus's retention correction (``cooperative_foreign_retention``) equals the ledger."""
    rows = await foreign_retention_differing_from_ledger(conn, limit=MAX_DETAILS)
    problems = [
        f"cooperative #{coop}, {month:%Y-%m}: table {table}, ledger {ledger}" for (coop, month), table, ledger in rows
    ]
    return _check("foreign_retention_matches_ledger", problems)


async def _household_line_days_match_ledger(conn: AsyncConnection) -> Check:
    """The household statement's sums (``household_line_days``) equal the ledger."""
    rows = await household_line_days_differing_from_ledger(conn, limit=MAX_DETAILS)
    problems = [
        f"household #{household}, {day}, line {line}: table {table}, ledger {ledger}"
        for (household, day, line), table, ledger in rows
    ]
    return _check("household_line_days_match_ledger", problems)


async def _household_line_day_skus_match_lines(conn: AsyncConnection) -> Check:
    """The household statement's rows (``household_line_days``) keep their lines' SKUs."""
    rows = await household_line_day_skus_differing_from_lines(conn, limit=MAX_DETAILS)
    problems = [
        f"household #{household}, {day}, line {line}: sku {row_sku}, the line's {line_sku}"
        for (household, day, line), row_sku, line_sku in rows
    ]
    return _check("household_line_day_skus_match_lines", problems)


async def journal_chain(conn: AsyncConnection, digest: Head | None = None) -> tuple[Check, Head]:
    """Recompute the hash chain; the check and the head as recomputed."""
    problems: list[str] = []
    count = 0
    head = Head(0, GENESIS)
    digest_seen = digest is None or digest.journal_id == 0
    async for batch in walk(conn):
        for journal in batch:
            if journal.stored != journal.computed:
                count += 1
                if len(problems) < MAX_DETAILS:
                    problems.append(
                        f"journal #{journal.id} ({journal.source_event}): its hash does not match its content, "
                        "legs and place in the chain"
                    )
            if journal.uid != journal_uid(journal.source_event):
                count += 1
                problems.append(f"journal #{journal.id} ({journal.source_event}): uid is not its source event's")
            if digest is not None and journal.id == digest.journal_id:
                digest_seen = True
                if journal.stored != digest.hash:
                    count += 1
                    problems.append(f"journal #{journal.id}: hash differs from the digest kept ({digest.hash[:12]}...)")
            head = Head(journal.id, journal.computed)
    if not digest_seen:
        assert digest is not None
        count += 1
        problems.append(f"journal #{digest.journal_id} of the digest kept is not in the ledger")
    stored = await stored_head(conn)
    if stored != head:
        count += 1
        problems.append(f"the chain head row says {stored}, the chain ends at {head}")
    return _check("journal_chain", problems, count), head


async def _adjustments_recorded(conn: AsyncConnection) -> Check:
    legs: dict[str, dict[str, int]] = defaultdict(dict)
    rows = await conn.execute(
        select(Journal.source_event, LedgerAccount.code, Posting.amount_fen)
        .join(Posting, Posting.journal_id == Journal.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(Journal.kind == JournalKind.ADJUSTMENT)
    )
    for source, code, amount in rows:
        legs[source][code] = amount
    records = {
        f"adjustment:{rid}": {src: amount, dst: -amount}
        for rid, src, dst, amount in await conn.execute(
            select(
                LedgerAdjustment.id, LedgerAdjustment.from_code, LedgerAdjustment.to_code, LedgerAdjustment.amount_fen
            )
        )
    }
    problems = [
        f"{source}: legs {moved} differ from its record {records.get(source)}"
        for source, moved in sorted(legs.items())
        if records.get(source) != moved
    ]
    return _check("adjustments_recorded", problems)


async def _journals_balanced(conn: AsyncConnection) -> Check:
    total = func.coalesce(func.sum(Posting.amount_fen), 0)
    legs = func.count(Posting.account_id)
    rows = await conn.execute(
        select(Journal.id, Journal.source_event, total, legs)
        .outerjoin(Posting, Posting.journal_id == Journal.id)
        .group_by(Journal.id, Journal.source_event)
        .having((total != 0) | (legs < 2))
        .order_by(Journal.id)
    )
    problems = [f"journal #{jid} ({source}): {n} legs summing to {s} fen" for jid, source, s, n in rows]
    return _check("journals_balanced", problems)


async def _total_zero(conn: AsyncConnection) -> Check:
    total = int(await conn.scalar(select(func.coalesce(func.sum(Posting.amount_fen), 0))) or 0)
    return _check("ledger_total_zero", [f"all postings sum to {total} fen"] if total else [])


async def _unique_sources(conn: AsyncConnection) -> Check:
    rows = await conn.execute(
        select(Journal.source_event, func.count()).group_by(Journal.source_event).having(func.count() > 1)
    )
    return _check("source_events_unique", [f"{source} posted {n} times" for source, n in rows])


def line_of(source_event: str) -> int | None:
    """The order line a journal's source event names (``order-line:<shop>:<line>:...``)."""
    parts = source_event.split(":")
    if len(parts) < 3 or parts[0] != "order-line":
        return None
    try:
        return int(parts[2])
    except ValueError:
        return None


async def _lines_match_state(conn: AsyncConnection) -> Check:
    ledger: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = await conn.stream(
        select(Journal.source_event, LedgerAccount.code, Posting.amount_fen)
        .join(Posting, Posting.journal_id == Journal.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(Journal.source_event.like("order-line:%"))
    )
    async for source, code, amount in rows:
        line = line_of(source)
        if line is not None:
            ledger[line][code] += amount
    problems: list[str] = []
    states = await conn.stream(
        select(
            LineAccounting.order_line_id,
            LineAccounting.desired_legs,
            LineAccounting.refunded_num,
            LineAccounting.refunded_den,
        ).where(LineAccounting.desired_legs.is_not(None))
    )
    seen: set[int] = set()
    async for line_id, desired, num, den in states:
        seen.add(line_id)
        if num > den:
            problems.append(f"line {line_id}: refunded {num}/{den} of the line, more than all of it")
            continue
        expected = refunded_legs({str(k): int(v) for k, v in desired.items()}, Fraction(num, den))
        actual = {code: amount for code, amount in ledger.get(line_id, {}).items() if amount}
        if actual != expected:
            diff = {
                code: actual.get(code, 0) - expected.get(code, 0)
                for code in sorted(set(actual) | set(expected))
                if actual.get(code, 0) != expected.get(code, 0)
            }
            problems.append(f"line {line_id}: ledger differs from its state by {diff}")
    for line_id in sorted(set(ledger) - seen):
        if any(ledger[line_id].values()):
            problems.append(f"line {line_id}: journals posted but no posted state")
    return _check("lines_match_state", problems)


async def _lines_match_inputs(conn: AsyncConnection) -> Check:
    problems: list[str] = []
    last = 0
    while True:
        query = (
            state_select()
            .where(
                LineAccounting.id > last,
                LineAccounting.desired_legs.is_not(None),
                LineAccounting.posted_rev == LineAccounting.input_rev,
                LineAccounting.status.in_([POSTED, NOT_SPLIT]),
            )
            .order_by(LineAccounting.id)
            .limit(_BATCH)
        )
        states = [to_state(row) for row in await conn.execute(query)]
        if not states:
            break
        last = states[-1].la_id
        inputs = await load_inputs(conn, states)
        for state in states:
            inp = inputs[state.line_id]
            if state.version != state.line_version or inp.bill_lines != state.bill_lines:
                continue  # discovery has not seen the change yet: pending, not wrong
            desired = desired_journal(state, inp)
            if desired.status in (WAITING_LOTS, FAILED):
                problems.append(f"line {state.line_id}: posted, but its inputs now give {desired.reason}")
            elif desired.legs != (state.desired or {}):
                problems.append(f"line {state.line_id}: posted state is not what its current inputs build")
    return _check("lines_match_inputs", problems)


async def _lot_remaining(conn: AsyncConnection) -> Check:
    drawn = func.coalesce(func.sum(LotAllocation.quantity), 0)
    rows = await conn.execute(
        select(SupplyLot.id, SupplyLot.quantity, SupplyLot.remaining, drawn)
        .outerjoin(LotAllocation, LotAllocation.lot_id == SupplyLot.id)
        .group_by(SupplyLot.id, SupplyLot.quantity, SupplyLot.remaining)
        .having(SupplyLot.remaining != SupplyLot.quantity - drawn)
        .order_by(SupplyLot.id)
    )
    problems = [
        f"lot {lot}: remaining {rem}, but {qty} delivered - {d} allocated = {qty - d}" for lot, qty, rem, d in rows
    ]
    return _check("lot_remaining", problems)


async def _no_negative_remaining(conn: AsyncConnection) -> Check:
    drawn = func.coalesce(func.sum(LotAllocation.quantity), 0)
    rows = await conn.execute(
        select(SupplyLot.id, SupplyLot.remaining, SupplyLot.quantity - drawn)
        .outerjoin(LotAllocation, LotAllocation.lot_id == SupplyLot.id)
        .group_by(SupplyLot.id, SupplyLot.remaining, SupplyLot.quantity)
        .having((SupplyLot.remaining < 0) | (SupplyLot.quantity - drawn < 0))
        .order_by(SupplyLot.id)
    )
    return _check(
        "no_negative_remaining", [f"lot {lot}: remaining {rem} (by allocations {by})" for lot, rem, by in rows]
    )


async def _refunds_within_paid(conn: AsyncConnection) -> Check:
    refunded = func.sum(Refund.amount_fen)
    rows = await conn.execute(
        select(Refund.order_line_id, OrderLine.paid_fen, refunded)
        .join(OrderLine, OrderLine.id == Refund.order_line_id)
        .where(Refund.status == RefundStatus.SUCCEEDED)
        .group_by(Refund.order_line_id, OrderLine.paid_fen)
        .having(refunded > OrderLine.paid_fen)
        .order_by(Refund.order_line_id)
    )
    problems = [f"line {line}: refunds of {r} fen exceed the {paid} fen paid" for line, paid, r in rows]
    over = await conn.execute(
        select(LineAccounting.order_line_id, LineAccounting.refunded_num, LineAccounting.refunded_den).where(
            LineAccounting.refunded_num > LineAccounting.refunded_den
        )
    )
    problems += [f"line {line}: {num}/{den} of the line refunded" for line, num, den in over]
    return _check("refunds_within_paid", problems)


async def _due_lines_queued(conn: AsyncConnection) -> Check:
    """Every line due for attribution or posting discovery has a row in the change queue (the
    stages read only the queue, so a due line without one would wait forever)."""
    problems: list[str] = []
    stages = (
        (changes.ATTRIBUTE, attribution_due()),
        (changes.ALLOCATE, waiting_lines()),
        (changes.POST, discovery_due()),
    )
    for stage, due in stages:
        queued = exists().where(LineChange.stage == stage, LineChange.order_line_id == OrderLine.id)
        rows = await conn.execute(due.where(~queued).order_by(OrderLine.id))
        problems += [f"line {line_id}: due for {stage} but not in the change queue" for (line_id,) in rows]
    return _check("due_lines_queued", problems)
