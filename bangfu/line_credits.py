"""Household credits per order line (``line_household_credits``), kept as journals are posted.

The sessions pages show what the ledger credited to households for a session's lines. Summing
postings for that on every view grew with the ledger; instead, every sale, true-up and refund
journal of a line adds its household legs here, in the transaction that posts it. The figures
are exactly the ledger's (``tests/bangfu/test_queries_sessions.py`` compares them with the
postings, line by line; :func:`credits_differing_from_ledger` is the same check, for a store).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import JournalKind
from bangfu.ledger import Journal, PostStatus
from bangfu.models import Journal as JournalRow
from bangfu.models import LedgerAccount, LineHouseholdCredit, Posting
from bangfu.reports.base import parse_line_event
from bangfu.store import pg_unnest_insert

LINE_JOURNALS = (JournalKind.SALE, JournalKind.REFUND, JournalKind.TRUE_UP)
SQLITE_ROWS = 250  # rows per multi-row insert on SQLite (3 parameters each)


def deltas_of(journals: Iterable[Journal]) -> dict[tuple[int, int], int]:
    """(line, household) -> fen credited by these line journals (a household leg's negation)."""
    out: dict[tuple[int, int], int] = {}
    for journal in journals:
        if journal.kind not in LINE_JOURNALS:
            continue
        line = parse_line_event(journal.source_event)
        if line is None:
            continue
        for leg in journal.postings:
            account = leg.account
            if account.owner_type == "household" and account.owner_id is not None:
                key = (line, int(account.owner_id))
                out[key] = out.get(key, 0) - leg.amount_fen
    return out


async def credit_households(
    conn: AsyncConnection, journals: Sequence[Journal], status: Mapping[str, PostStatus] | None = None
) -> None:
    """Add what ``journals`` credit households to ``line_household_credits``, in the caller's
    transaction. ``status`` is :func:`bangfu.ledger.post`'s answer: a journal already in the
    ledger (``exists``) was counted when it was posted and is skipped."""
    fresh: dict[str, Journal] = {}
    for journal in journals:
        if status is None or status.get(journal.uid) == PostStatus.CREATED:
            fresh[journal.uid] = journal
    deltas = deltas_of(fresh.values())
    if not deltas:
        return
    rows = [{"order_line_id": k[0], "household_id": k[1], "credit_fen": v} for k, v in sorted(deltas.items())]
    if conn.dialect.name == "postgresql":
        types = {"order_line_id": "bigint", "household_id": "bigint", "credit_fen": "bigint"}
        conflict = (
            "ON CONFLICT (order_line_id, household_id) DO UPDATE "
            "SET credit_fen = line_household_credits.credit_fen + excluded.credit_fen"
        )
        await pg_unnest_insert(conn, "line_household_credits", rows, types, conflict=conflict)
        return
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    for offset in range(0, len(rows), SQLITE_ROWS):
        stmt = sqlite_insert(LineHouseholdCredit).values(rows[offset : offset + SQLITE_ROWS])
        stmt = stmt.on_conflict_do_update(
            index_elements=["order_line_id", "household_id"],
            set_={"credit_fen": LineHouseholdCredit.credit_fen + stmt.excluded.credit_fen},
        )
        await conn.execute(stmt)


def ledger_credits_query(conn: AsyncConnection) -> Any:
    """SQL: (line, household, fen) summed from the postings of every line journal (what the
    table must hold; for the backfill's check and ``bangfu verify``)."""
    from bangfu.queries.cooperatives import line_id_of

    line = line_id_of(conn, JournalRow.source_event)
    return (
        select(
            line.label("line"), LedgerAccount.owner_id.label("household"), (-func.sum(Posting.amount_fen)).label("fen")
        )
        .select_from(JournalRow)
        .join(Posting, Posting.journal_id == JournalRow.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(LedgerAccount.owner_type == "household", JournalRow.kind.in_(LINE_JOURNALS))
        .group_by(line, LedgerAccount.owner_id)
    )


async def credits_differing_from_ledger(conn: AsyncConnection, limit: int = 20) -> list[tuple[int, int, int, int]]:
    """(line, household, table fen, ledger fen) where the table and the ledger disagree."""
    ledger = {(int(a), int(b)): int(c) for a, b, c in await conn.execute(ledger_credits_query(conn))}
    table = {
        (int(a), int(b)): int(c)
        for a, b, c in await conn.execute(
            select(LineHouseholdCredit.order_line_id, LineHouseholdCredit.household_id, LineHouseholdCredit.credit_fen)
        )
    }
    out = [
        (k[0], k[1], table.get(k, 0), ledger.get(k, 0))
        for k in sorted(set(ledger) | set(table))
        if table.get(k) != ledger.get(k)
    ]
    return out[:limit]
