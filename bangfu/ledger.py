"""Posting journals to the append-only ledger, and reading its balances.

The journals themselves are values built by the pure rules of :mod:`bangfu.journal_rules`
(re-exported here, so ``from bangfu.ledger import Journal, build_sale_journal`` keeps working).

:func:`post` writes journals through an ``AsyncConnection`` inside the caller's transaction (the
caller commits, and rolls back on error). Posting a uid already present with the same postings is
``exists`` (a no-op); the same uid with different postings is a :class:`JournalConflictError`.
Balance follows django-hordak: an unbalanced journal is refused before anything is written, on
SQLite the sum is checked again in the same transaction, and on PostgreSQL the database checks
each statement of postings (all of a journal's postings go in one statement, a COPY here) and,
at commit, every new journal.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import JournalKind
from bangfu.journal_rules import (
    LEDGER_NAMESPACE,
    Account,
    Journal,
    JournalConflictError,
    LedgerError,
    Posting,
    RefundError,
    SaleLine,
    UnbalancedJournalError,
    account_from_code,
    assert_postable,
    build_refund_journal,
    build_sale_journal,
    build_supplier_sale_journal,
    build_trueup_journal,
    collective_account,
    fee_account,
    host_commission_account,
    household_account,
    household_advance_account,
    household_bonus_account,
    journal_from_legs,
    journal_uid,
    legs_difference,
    receivable_account,
    refund_fraction,
    refunded_legs,
    retention_account,
    sale_event_key,
    supplier_account,
    trueup_event_key,
)
from bangfu.ledger_chain import Head, journal_hash, lock_head, set_head
from bangfu.models.base import utcnow
from bangfu.models.ledger import Journal as JournalRow
from bangfu.models.ledger import LedgerAccount, LedgerAdjustment
from bangfu.models.ledger import Posting as PostingRow
from bangfu.sale_batch import BatchedSale, SaleBatch, by_batch
from bangfu.store import among, asyncpg_in_transaction

__all__ = [
    "LEDGER_NAMESPACE",
    "Account",
    "Journal",
    "JournalConflictError",
    "LedgerError",
    "PostStatus",
    "Posting",
    "RefundError",
    "SaleLine",
    "UnbalancedJournalError",
    "account_from_code",
    "assert_postable",
    "balances",
    "build_refund_journal",
    "build_sale_journal",
    "build_supplier_sale_journal",
    "build_trueup_journal",
    "collective_account",
    "fee_account",
    "host_commission_account",
    "household_account",
    "household_advance_account",
    "household_bonus_account",
    "journal_from_legs",
    "journal_uid",
    "legs_difference",
    "post",
    "post_adjustment",
    "receivable_account",
    "refund_fraction",
    "refunded_legs",
    "retention_account",
    "sale_event_key",
    "supplier_account",
    "trueup_event_key",
]


class PostStatus(StrEnum):
    CREATED = "created"
    EXISTS = "exists"


async def post(
    conn: AsyncConnection, journals: Iterable[Journal | BatchedSale], *, line_skus: Mapping[int, int] | None = None
) -> dict[str, PostStatus]:
    """Post journals in the caller's transaction; returns each uid's status.

    Every journal is checked before anything is written; an unbalanced or malformed one raises
    :class:`UnbalancedJournalError` and nothing is posted. Accounts are created by code on first
    use. A uid already in the ledger with the same kind, source event and legs is ``exists``;
    with anything different it is a :class:`JournalConflictError`. Within one call the order of
    ``journals`` does not matter: sales are written before the refunds that reverse them. On
    error the caller must roll back its transaction.

    A :class:`bangfu.sale_batch.BatchedSale` is posted exactly as the equal
    :class:`~bangfu.journal_rules.Journal` would be (same id order, hash, rows), from its batch's
    arrays: its legs are never objects here (its batch checked them when it computed them).

    Batched: a constant number of statements whatever the batch size. One multi-row insert of
    the journals that reverse nothing (ids returned), one of the journals that reverse another,
    one COPY (SQLite: executemany) of every posting, and on SQLite one grouped query checking
    the balances.

    Chained: each new journal's hash (:func:`bangfu.ledger_chain.journal_hash`) is computed here,
    in the batch, after the chain head this call locks right before inserting the journals; the
    lock is held until the caller's transaction ends, so commit soon after posting. The pages'
    pre-aggregates (:func:`bangfu.line_credits.credit_households`) are written before the head is
    taken, so a concurrent poster waits on it only for the journals and their postings.
    ``line_skus``: the SKUs of the journals' lines, when the caller has them at hand (the
    household statement's rows keep them); any other line's is looked up.
    """
    batch: dict[str, Journal | BatchedSale] = {}
    for journal in journals:
        if not isinstance(journal, BatchedSale):
            assert_postable(journal)
        seen = batch.get(journal.uid)
        if seen is not None and _fingerprint(seen) != _fingerprint(journal):
            raise JournalConflictError(f"journal {journal.uid} appears twice in the batch with different content")
        batch[journal.uid] = journal
    if not batch:
        return {}

    existing = await _existing(conn, list(batch))
    status: dict[str, PostStatus] = {}
    for uid, fingerprint in existing.items():
        if fingerprint != _fingerprint(batch[uid]):
            raise JournalConflictError(f"journal {uid} is already posted with different content")
        status[uid] = PostStatus.EXISTS
    fresh = [j for uid, j in batch.items() if uid not in existing]
    if not fresh:
        return status
    objects = [j for j in fresh if not isinstance(j, BatchedSale)]
    batched = by_batch(fresh)

    # Accounts are values: one per code is enough (a batch names each household's many times).
    wanted = {p.account.code: p.account for j in objects for p in j.postings}
    for sales, indexes in batched.items():
        _, leg_accounts, _ = sales.leg_arrays(indexes)
        wanted.update((sales.accounts[a].code, sales.accounts[a]) for a in np.unique(leg_accounts).tolist())
    account_ids = await _ensure_accounts(conn, wanted.values())
    journal_ids: dict[str, int] = {}
    plain = [j for j in fresh if j.reverses_uid is None]
    reversing = [j for j in fresh if j.reverses_uid is not None]
    reversed_ids: dict[str, int] = {}
    if reversing:
        in_batch = {j.uid for j in plain}
        wanted_uids = {j.reverses_uid for j in reversing if j.reverses_uid is not None} - in_batch
        for chunk in _chunks(sorted(wanted_uids)):
            rows = await conn.execute(select(JournalRow.uid, JournalRow.id).where(among(conn, JournalRow.uid, chunk)))
            reversed_ids.update({uid: journal_id for uid, journal_id in rows})
        for journal in reversing:
            if journal.reverses_uid not in reversed_ids and journal.reverses_uid not in in_batch:
                raise RefundError(f"journal {journal.uid} reverses {journal.reverses_uid}, which is not in the ledger")

    # The pages' pre-aggregates (household credits per order line, cooperative line facts,
    # household daily income), kept in this transaction by whoever posts a line journal. Written
    # before the chain head is taken: they need no journal id, and a second worker's posting then
    # waits on the head only for the journals and their postings, not for these upserts (their
    # rows are locked in key order, and the head is always taken last, so no two posters wait on
    # each other in a cycle).
    from bangfu.line_credits import credit_households

    await credit_households(conn, fresh, line_skus=line_skus)

    # The chain: taken right before the journals get their ids, so id order is chain order and
    # a concurrent poster appends after this transaction ends (bangfu.ledger_chain).
    head = await lock_head(conn)
    hashes: dict[str, str] = {}
    previous = head.hash
    for journal in (*plain, *reversing):
        previous = journal_hash(
            previous,
            journal.uid,
            journal.kind.value,
            journal.source_event,
            journal.occurred_at,
            journal.memo,
            journal.reverses_uid,
            journal.batch.sorted_legs(journal.slot) if isinstance(journal, BatchedSale) else journal.legs.items(),
        )
        hashes[journal.uid] = previous
    journal_ids.update(await _insert_journals(conn, plain, {}, hashes))
    if reversing:
        journal_ids.update(await _insert_journals(conn, reversing, {**reversed_ids, **journal_ids}, hashes))
    last = (*plain, *reversing)[-1]
    await set_head(conn, Head(journal_ids[last.uid], previous))

    columns = _posting_columns(objects, batched, journal_ids, account_ids)
    if conn.dialect.name == "postgresql":
        # COPY in PostgreSQL's binary format, encoded from the arrays: no per-row Python.
        driver = await asyncpg_in_transaction(conn)
        await driver.copy_to_table(
            PostingRow.__tablename__,
            source=_once(_binary_copy(*columns)),
            columns=("journal_id", "account_id", "amount_fen"),
            format="binary",
        )
    else:
        # The raw DBAPI executemany: plain ints need no SQLAlchemy parameter processing.
        await conn.exec_driver_sql(
            f"INSERT INTO {PostingRow.__tablename__} (journal_id, account_id, amount_fen) VALUES (?, ?, ?)",
            list(zip(*(column.tolist() for column in columns), strict=True)),
        )
    if conn.dialect.name != "postgresql":
        # SQLite cannot defer a trigger: check the rows just written, in the same transaction.
        new_ids = [journal_ids[j.uid] for j in fresh]
        for chunk in _chunks(new_ids):
            bad = (
                await conn.execute(
                    select(PostingRow.journal_id, func.sum(PostingRow.amount_fen), func.count())
                    .where(among(conn, PostingRow.journal_id, chunk))
                    .group_by(PostingRow.journal_id)
                    .having((func.sum(PostingRow.amount_fen) != 0) | (func.count() < 2))
                    .limit(1)
                )
            ).first()
            if bad is not None:
                raise UnbalancedJournalError(
                    f"journal #{bad[0]} is unbalanced in the store: {bad[2]} legs, {bad[1]} fen"
                )
    for journal in fresh:
        status[journal.uid] = PostStatus.CREATED
    return status


def _posting_columns(
    objects: Sequence[Journal],
    batched: Mapping[SaleBatch, Sequence[int]],
    journal_ids: Mapping[str, int],
    account_ids: Mapping[str, int],
) -> tuple[Any, Any, Any]:
    """(journal id, account id, amount) of every posting, as int64 arrays."""
    journal_column: list[Any] = []
    account_column: list[Any] = []
    amount_column: list[Any] = []
    if objects:
        rows = [(journal_ids[j.uid], account_ids[a.code], m) for j in objects for a, m in j.postings]
        journal_column.append(np.fromiter((r[0] for r in rows), np.int64, len(rows)))
        account_column.append(np.fromiter((r[1] for r in rows), np.int64, len(rows)))
        amount_column.append(np.fromiter((r[2] for r in rows), np.int64, len(rows)))
    for sales, indexes in batched.items():
        line, account, amount = sales.leg_arrays(indexes)
        ids_by_line = np.zeros(len(sales), dtype=np.int64)
        ids_by_line[np.asarray(indexes, dtype=np.int64)] = [journal_ids[sales.uids[i]] for i in indexes]
        ids_by_account = np.fromiter(
            (account_ids.get(a.code, 0) for a in sales.accounts), np.int64, len(sales.accounts)
        )
        journal_column.append(ids_by_line[line])
        account_column.append(ids_by_account[account])
        amount_column.append(amount)
    if not journal_column:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(journal_column), np.concatenate(account_column), np.concatenate(amount_column)


_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_ROW = np.dtype(
    [("n", ">i2"), ("l1", ">i4"), ("c1", ">i8"), ("l2", ">i4"), ("c2", ">i8"), ("l3", ">i4"), ("c3", ">i8")]
)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    """``data`` as the async iterable asyncpg's COPY reads (bytes alone would be read as a path)."""
    yield data


def _binary_copy(first: Any, second: Any, third: Any) -> bytes:
    """Three int64 columns as a PostgreSQL binary COPY stream (three bigint columns per row)."""
    rows = np.empty(len(first), dtype=_COPY_ROW)
    rows["n"] = 3
    rows["l1"] = rows["l2"] = rows["l3"] = 8
    rows["c1"], rows["c2"], rows["c3"] = first, second, third
    return _COPY_HEADER + rows.tobytes() + b"\xff\xff"


_CHUNK = 5_000  # ids per IN list: far below SQLite's and asyncpg's bind-parameter limits


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


_PG_INSERT_JOURNALS = (
    "INSERT INTO journals (uid, kind, source_event, occurred_at, posted_at, memo, reverses_id, chain_hash) "
    "SELECT uid, kind, source_event, occurred_at, $5, memo, reverses_id, chain_hash "
    "FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::timestamptz[], $6::text[], $7::bigint[], "
    "$8::varchar[]) WITH ORDINALITY AS t(uid, kind, source_event, occurred_at, memo, reverses_id, chain_hash, n) "
    "ORDER BY n "
    "RETURNING uid, id"
)


async def _insert_journals(
    conn: AsyncConnection,
    journals: Sequence[Journal | BatchedSale],
    known_ids: Mapping[str, int],
    hashes: Mapping[str, str],
) -> dict[str, int]:
    """Insert journals with one multi-row statement (PostgreSQL: unnest of arrays, elsewhere
    insertmanyvalues), ids assigned in the order given; their ids by uid."""
    if not journals:
        return {}
    if conn.dialect.name == "postgresql":
        driver = await asyncpg_in_transaction(conn)
        returned = await driver.fetch(
            _PG_INSERT_JOURNALS,
            [j.uid for j in journals],
            [j.kind.value for j in journals],
            [j.source_event for j in journals],
            [j.occurred_at for j in journals],
            utcnow(),
            [j.memo for j in journals],
            [known_ids[j.reverses_uid] if j.reverses_uid is not None else None for j in journals],
            [hashes[j.uid] for j in journals],
        )
        return {uid: journal_id for uid, journal_id in returned}
    rows = await conn.execute(
        insert(JournalRow).returning(JournalRow.uid, JournalRow.id, sort_by_parameter_order=True),
        [
            {
                "uid": j.uid,
                "kind": j.kind,
                "source_event": j.source_event,
                "occurred_at": j.occurred_at,
                "memo": j.memo,
                "reverses_id": known_ids[j.reverses_uid] if j.reverses_uid is not None else None,
                "chain_hash": hashes[j.uid],
            }
            for j in journals
        ],
    )
    return {uid: journal_id for uid, journal_id in rows}


_Fingerprint = tuple[str, str, frozenset[tuple[str, int]]]


def _fingerprint(journal: Journal | BatchedSale) -> _Fingerprint:
    return (str(journal.kind), journal.source_event, frozenset(journal.legs.items()))


async def _existing(conn: AsyncConnection, uids: list[str]) -> dict[str, _Fingerprint]:
    found: dict[str, tuple[str, str, set[tuple[str, int]]]] = {}
    for chunk in _chunks(uids):
        rows = await conn.execute(
            select(JournalRow.uid, JournalRow.kind, JournalRow.source_event, LedgerAccount.code, PostingRow.amount_fen)
            .join(PostingRow, PostingRow.journal_id == JournalRow.id)
            .join(LedgerAccount, LedgerAccount.id == PostingRow.account_id)
            .where(among(conn, JournalRow.uid, chunk))
        )
        for uid, kind, source, code, amount in rows:
            found.setdefault(uid, (str(kind), source, set()))[2].add((code, amount))
    return {uid: (kind, source, frozenset(legs)) for uid, (kind, source, legs) in found.items()}


async def _ensure_accounts(conn: AsyncConnection, accounts: Iterable[Account]) -> dict[str, int]:
    """Get-or-create accounts by code; concurrent creators do not collide (ON CONFLICT DO NOTHING).

    Existing accounts are read first, so a batch inserts only the new ones, in code order (two
    workers creating the same accounts lock them in the same order and cannot deadlock).
    """
    wanted = {a.code: a for a in accounts}
    found = await account_ids(conn, sorted(wanted))
    missing = sorted(set(wanted) - set(found))
    if missing:
        statement = (
            postgresql.insert(LedgerAccount) if conn.dialect.name == "postgresql" else sqlite.insert(LedgerAccount)
        )
        await conn.execute(
            statement.on_conflict_do_nothing(index_elements=["code"]),
            [
                {
                    "code": code,
                    "name": wanted[code].name,
                    "kind": wanted[code].kind,
                    "owner_type": wanted[code].owner_type,
                    "owner_id": wanted[code].owner_id,
                }
                for code in missing
            ],
        )
        found.update(await account_ids(conn, missing))
    return found


async def account_ids(conn: AsyncConnection, codes: Sequence[str]) -> dict[str, int]:
    """code -> id of the accounts among ``codes`` that exist (read in chunks)."""
    found: dict[str, int] = {}
    for chunk in _chunks(codes):
        rows = await conn.execute(
            select(LedgerAccount.code, LedgerAccount.id).where(among(conn, LedgerAccount.code, chunk))
        )
        found.update({code: account_id for code, account_id in rows})
    return found


async def balances(conn: AsyncConnection) -> dict[str, int]:
    """Every account's balance in fen by code (debit positive); accounts at zero are left out."""
    rows = await conn.execute(
        select(LedgerAccount.code, func.sum(PostingRow.amount_fen))
        .join(PostingRow, PostingRow.account_id == LedgerAccount.id)
        .group_by(LedgerAccount.code)
    )
    return {code: int(total) for code, total in rows if total}


async def post_adjustment(
    conn: AsyncConnection,
    *,
    from_code: str,
    to_code: str,
    amount_fen: int,
    reason: str,
    requested_by: str,
    at: datetime | None = None,
) -> Journal:
    """A manual adjustment: debit ``from_code``, credit ``to_code`` with ``amount_fen``, recorded
    (who, why, when) in ``ledger_adjustments`` and posted, balanced and chained, as the journal
    ``adjustment:<record id>``. Both accounts must already be in the ledger. In the caller's
    transaction; :class:`LedgerError` when the request is not a valid adjustment."""
    reason, requested_by = reason.strip(), requested_by.strip()
    if amount_fen <= 0:
        raise LedgerError(f"an adjustment moves a positive amount, not {amount_fen} fen")
    if from_code == to_code:
        raise LedgerError(f"an adjustment moves money between two accounts, not from {from_code} to itself")
    if not reason or not requested_by:
        raise LedgerError("an adjustment needs a reason and the name of who asked for it")
    accounts = {code: account_from_code(code) for code in (from_code, to_code)}
    missing = sorted(set(accounts) - set(await account_ids(conn, sorted(accounts))))
    if missing:
        raise LedgerError(f"no such ledger account: {', '.join(missing)}")
    when = at or utcnow()
    record_id = await conn.scalar(
        insert(LedgerAdjustment)
        .values(
            from_code=from_code,
            to_code=to_code,
            amount_fen=amount_fen,
            reason=reason,
            requested_by=requested_by,
            requested_at=when,
        )
        .returning(LedgerAdjustment.id)
    )
    journal = journal_from_legs(
        JournalKind.ADJUSTMENT,
        f"adjustment:{record_id}",
        when,
        {from_code: amount_fen, to_code: -amount_fen},
        memo=f"adjustment by {requested_by} at {when.isoformat()}: {reason}",
    )
    await post(conn, [journal])
    return journal
