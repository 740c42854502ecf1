"""The posting loop: lock due lines and refunds, apply the rules, post the journals, write state.

:func:`post_lines` and :func:`post_refunds` run in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, exists, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import JournalKind, RefundStatus
from bangfu.ledger import (
    Journal,
    LedgerError,
    build_refund_journal,
    build_trueup_journal,
    journal_from_legs,
    post,
    receivable_account,
    refund_fraction,
    refunded_legs,
    sale_event_key,
)
from bangfu.models import Journal as JournalRow
from bangfu.models import (
    LineAccounting,
    LineAttribution,
    LotAllocation,
    OrderLine,
    Refund,
    RefundPosting,
)
from bangfu.sale_batch import BatchedSale, SaleBatch
from bangfu.store import among, asyncpg_in_transaction
from workers.posting.discovery import discover
from workers.posting.rules import (
    FAILED,
    NOT_SPLIT,
    PENDING,
    POSTED,
    WAITING_LOTS,
    BatchCache,
    desired_journal,
    plain_sale,
    receivable_account_code,
    trueup_time,
)
from workers.posting.state import load_inputs, refunded_at_new_paid, returned_units, state_select, to_state

_CHUNK = 5_000


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


# -- post_lines ---------------------------------------------------------------------------------


def _due(retry_failed: bool, after_attribution: bool = False) -> Any:
    has_draw = exists().where(LotAllocation.order_line_id == LineAccounting.order_line_id, LotAllocation.quantity > 0)
    gates = [LineAccounting.posted_rev < LineAccounting.input_rev]
    if after_attribution:
        gates.append(
            exists().where(
                LineAttribution.order_line_id == LineAccounting.order_line_id,
                LineAttribution.line_version >= LineAccounting.line_version,
            )
        )
    return and_(
        *gates,
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
    after_attribution: bool = False,
) -> PostingStats:
    """Discover paid lines, then post the journals of up to ``limit`` due lines.

    A failed line (``reason`` says why) is tried again when one of its inputs changes, or on
    ``retry_failed``. ``discovery=False`` skips :func:`discover`, whose statements read every
    paid line: a caller that has just run it (the pipeline's later passes) saves that scan.

    ``after_attribution`` (the pipeline's stage): only lines the attribution stage has looked at,
    at their version, are due. One pass attributes before it posts; with two workers, one could
    otherwise post a line while the other attributes it (or before it gets to it), and the
    host's commission would come as a true-up that one worker never writes (the SIGKILL test
    compares the two ledgers journal for journal). Alone (tests, a re-post), a line not yet
    attributed is posted as sold by no session.
    Runs in the caller's transaction.
    """
    stats = PostingStats()
    if discovery:
        stats.discovered, stats.bumped = await discover(conn, shop_id=shop_id)
    if conn.dialect.name == "postgresql":
        # Lock, then read: see _lock_due_lines.
        locked = await _lock_due_lines(
            conn, shop_id=shop_id, limit=limit, retry_failed=retry_failed, after_attribution=after_attribution
        )
        query = state_select().where(among(conn, LineAccounting.id, locked))
    else:
        locked = None
        query = state_select().where(_due(retry_failed, after_attribution))
        if shop_id is not None:
            query = query.where(LineAccounting.shop_id == shop_id)
        query = query.limit(limit)
    states = [to_state(row) for row in await conn.execute(query.order_by(LineAccounting.id))] if locked != [] else []
    stats.examined = len(states)
    if not states:
        return stats
    inputs = await load_inputs(conn, states)
    now = datetime.now(UTC)

    journals: list[Journal | BatchedSale] = []
    done: list[dict[str, Any]] = []
    waiting: list[dict[str, Any]] = []
    cache = BatchCache()
    sales = SaleBatch()  # first postings of plain cooperative sales, computed together
    batched: list[tuple[dict[str, Any], int]] = []  # their state rows, by batch index
    refolded = await refunded_at_new_paid(conn, states)
    for state in states:
        inp = inputs[state.line_id]
        sale = plain_sale(state, inp, cache) if state.sale_version is None and not state.refunded else None
        if sale is not None and (state.fingerprint != sale.fingerprint or state.desired is None):
            assert state.cooperative_id is not None
            journal = sales.add(
                shop_id=state.shop_id,
                line_id=state.line_id,
                version=state.version,
                occurred_at=state.paid_at,
                paid_fen=state.paid_fen,
                fees=sale.fees,
                host_id=sale.host_id,
                cooperative_id=state.cooperative_id,
                plan=sale.plan,
                plan_key=sale.plan_key,
            )
            journals.append(journal)
            sale_row: dict[str, Any] = {
                "b_id": state.la_id,
                "b_status": POSTED,
                "b_reason": None,
                "b_rev": state.input_rev,
                "b_fp": sale.fingerprint,
                "b_fees": sale.fees_source,
                "b_bills": inp.bill_lines,
                "b_desired": None,  # the batch's legs, below
                "b_sale": state.version,
                "b_seq": state.journal_seq + 1,
                "b_refunded": refolded.get(state.line_id, state.refunded),
            }
            batched.append((sale_row, journal.slot))
            done.append(sale_row)
            stats.sales += 1
            continue
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

    for row, index in batched:
        row["b_desired"] = sales.legs(index)
    # The state rows first, the journals last: posting takes the ledger's chain head, which
    # another worker's posting waits on until this transaction ends, so the less done after it
    # the better (the rows are this worker's, locked when read, and everything commits together).
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
    if waiting and conn.dialect.name == "postgresql":
        driver = await asyncpg_in_transaction(conn)
        await driver.execute(
            _PG_UPDATE_WAITING,
            [row["b_id"] for row in waiting],
            [row["b_status"] for row in waiting],
            [row["b_reason"] for row in waiting],
            [row["b_rev"] for row in waiting],
            now,
        )
    elif waiting:
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
    if journals:
        await post(conn, journals, line_skus={s.line_id: s.sku_id for s in states if s.sku_id is not None})
    return stats


async def _lock_due_lines(
    conn: AsyncConnection, *, shop_id: int | None, limit: int, retry_failed: bool, after_attribution: bool
) -> list[int]:
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
    query = select(LineAccounting.id).where(_due(retry_failed, after_attribution))
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


# The lines still waiting (for lots, or failed): one statement, like _PG_UPDATE_DONE (an
# executemany of single-row updates cost 0.7 s of 20,000 lines in bench/attribution.py).
_PG_UPDATE_WAITING = (
    "UPDATE line_accounting AS la SET status = t.status, reason = t.reason, checked_rev = t.rev, updated_at = $5 "
    "FROM unnest($1::bigint[], $2::varchar[], $3::text[], $4::int[]) AS t(id, status, reason, rev) "
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
        returned = await returned_units(conn, [refund_id for refund_id, _, _, _ in folded])
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
