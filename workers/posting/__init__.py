"""The posting stage: order lines and refunds into journals (docs/accounting.md).

:func:`post_lines` and :func:`post_refunds` run in the caller's transaction (the caller commits,
and rolls back on error). Each works in batches with a constant number of statements per batch:
discovery is three set-based statements per chunk of the change queue (:mod:`workers.changes`),
the due lines are read with one joined select (locked ``FOR UPDATE SKIP LOCKED`` on PostgreSQL
so concurrent workers take different lines), their inputs with one select per input table, the
state rows are written back with one statement (an executemany on SQLite), and then the journals
go through one batched :func:`bangfu.ledger.post` (last: it takes the ledger's chain head, which
another worker's posting waits on until this transaction commits). A line's first posting, the
common case, is computed with its batch's (:class:`bangfu.sale_batch.SaleBatch`); every other
journal is built line by line.

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

The package, by concern:

- :mod:`workers.posting.discovery`: state rows for paid lines, lines made due by new inputs;
- :mod:`workers.posting.state`: the due lines' state rows and their inputs, loaded in bulk;
- :mod:`workers.posting.rules`: the pure rules (fees, the desired journal, its fingerprint, the
  true-up time, the policy in force); no database, no I/O, no clock;
- :mod:`workers.posting.loop`: :func:`post_lines` and :func:`post_refunds`.
"""

from workers.posting.discovery import discover, discovery_due
from workers.posting.loop import PostingStats, post_lines, post_refunds
from workers.posting.rules import (
    FAILED,
    NOT_SPLIT,
    PENDING,
    POSTED,
    SHANGHAI,
    WAITING_LOTS,
    BatchCache,
    Desired,
    LineInputs,
    LineState,
    bill_fees,
    desired_journal,
    fingerprint,
    fingerprint_doc,
    line_fees,
    local_date,
    policy_in_force,
    receivable_account_code,
    refunded_part,
    trueup_time,
)
from workers.posting.state import load_inputs, state_select, to_state

__all__ = [
    "FAILED",
    "NOT_SPLIT",
    "PENDING",
    "POSTED",
    "SHANGHAI",
    "WAITING_LOTS",
    "BatchCache",
    "Desired",
    "LineInputs",
    "LineState",
    "PostingStats",
    "bill_fees",
    "desired_journal",
    "discover",
    "discovery_due",
    "fingerprint",
    "fingerprint_doc",
    "line_fees",
    "load_inputs",
    "local_date",
    "policy_in_force",
    "post_lines",
    "post_refunds",
    "receivable_account_code",
    "refunded_part",
    "state_select",
    "to_state",
    "trueup_time",
]
