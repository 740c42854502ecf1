"""The journal hash chain: each journal's hash covers its content, its legs and the journal before.

Append-only triggers stop an edit by the hub's own role; the chain makes an edit by anyone else
(the schema owner, a restored backup, a disk editor) visible. ``bangfu verify`` recomputes the
chain in journal id order and names the first journal whose stored hash does not match; ``bangfu
ledger digest`` prints the head (journal id and hash) for an outside party to keep, and ``bangfu
verify --digest ID:HASH`` later proves that nothing up to that journal changed since, even if the
whole chain after it was recomputed.

The encoding is fixed forever (changing it would break every digest kept outside):

    hash = sha256(compact JSON of
        ["bangfu-ledger-v1", previous hash, uid, kind, source event, occurred at,
         memo or null, uid of the reversed journal or null, [[account code, amount fen], ...]]
    ).hexdigest()

- compact JSON (RFC 8259, ``,`` and ``:`` separators, non-ASCII written as UTF-8, not escaped:
  what orjson and ``json.dumps(..., ensure_ascii=False, separators=(",", ":"))`` both write);
- occurred at in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``;
- legs sorted by account code; an account's code is immutable (a trigger), so a leg names its
  account for good: changing an account's owner cannot move a balance without breaking a hash;
- the first journal's previous hash is 64 zeros.

Appends are serialised by the chain head row (``ledger_chain_head``): :func:`lock_head` takes it
(``SELECT ... FOR UPDATE`` on PostgreSQL, a write on SQLite, whose writers are serial anyway)
right before the journals are inserted, so two workers posting at once append one after the
other and the chain never forks; ids are assigned after the lock, so id order is chain order.
The lock is held until the caller's transaction ends: commit soon after posting.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.models.base import UTCDateTime

GENESIS = "0" * 64
_VERSION = "bangfu-ledger-v1"


def canonical_time(value: datetime) -> str:
    if value.tzinfo is None:  # SQLite hands back UTC without a zone
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def journal_hash(
    previous: str,
    uid: str,
    kind: str,
    source_event: str,
    occurred_at: datetime,
    memo: str | None,
    reverses_uid: str | None,
    legs: Iterable[tuple[str, int]],
) -> str:
    """The chain hash of one journal after ``previous`` (see the module docstring)."""
    payload = [
        _VERSION,
        previous,
        uid,
        kind,
        source_event,
        canonical_time(occurred_at),
        memo,
        reverses_uid,
        sorted(legs),
    ]
    return hashlib.sha256(orjson.dumps(payload)).hexdigest()


@dataclass(frozen=True, slots=True)
class Head:
    """The chain head: the last journal's id and hash (id 0 and :data:`GENESIS` when empty)."""

    journal_id: int
    hash: str

    def __str__(self) -> str:
        return f"{self.journal_id}:{self.hash}"

    @classmethod
    def parse(cls, digest: str) -> Head:
        """``ID:HASH`` as printed by ``bangfu ledger digest``; ValueError when it is not one."""
        journal_id, _, value = digest.strip().partition(":")
        if not journal_id.isdigit() or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise ValueError(f"not a ledger digest (ID:HASH, 64 hex digits): {digest!r}")
        return cls(int(journal_id), value)


async def lock_head(conn: AsyncConnection) -> Head:
    """Take the chain head for this transaction (held until it ends) and return it."""
    if conn.dialect.name == "postgresql":
        row = (
            await conn.execute(text("SELECT journal_id, chain_hash FROM ledger_chain_head WHERE id = 1 FOR UPDATE"))
        ).one()
    else:
        await conn.execute(text("UPDATE ledger_chain_head SET journal_id = journal_id WHERE id = 1"))
        row = (await conn.execute(text("SELECT journal_id, chain_hash FROM ledger_chain_head WHERE id = 1"))).one()
    return Head(int(row[0]), str(row[1]))


async def set_head(conn: AsyncConnection, head: Head) -> None:
    await conn.execute(
        text("UPDATE ledger_chain_head SET journal_id = :j, chain_hash = :h WHERE id = 1"),
        {"j": head.journal_id, "h": head.hash},
    )


async def stored_head(conn: AsyncConnection) -> Head:
    row = (await conn.execute(text("SELECT journal_id, chain_hash FROM ledger_chain_head WHERE id = 1"))).one()
    return Head(int(row[0]), str(row[1]))


# -- reading the chain back ---------------------------------------------------------------------

_BATCH = 2_000  # journals per read

CHAIN_ROWS = text(
    "SELECT j.id, j.uid, j.kind, j.source_event, j.occurred_at, j.memo, r.uid, j.chain_hash, a.code, p.amount_fen "
    "FROM journals j "
    "LEFT JOIN journals r ON r.id = j.reverses_id "
    "LEFT JOIN postings p ON p.journal_id = j.id "
    "LEFT JOIN ledger_accounts a ON a.id = p.account_id "
    "WHERE j.id > :after AND j.id <= :upto "
    "ORDER BY j.id"
).columns(occurred_at=UTCDateTime())


@dataclass(frozen=True, slots=True)
class ChainedJournal:
    id: int
    source_event: str
    uid: str
    stored: str | None  # the hash in the row
    computed: str  # the hash its content gives after the previous journal's stored hash


def chain_batch(rows: Sequence[Any], previous: str) -> list[ChainedJournal]:
    """Group :data:`CHAIN_ROWS` rows by journal and hash each after the previous one's *stored*
    hash, so every break is located on its own journal rather than cascading."""
    out: list[ChainedJournal] = []
    current: Any = None
    legs: list[tuple[str, int]] = []

    def close() -> None:
        nonlocal previous
        jid, uid, kind, source, occurred, memo, reverses, stored = current
        computed = journal_hash(previous, uid, kind, source, occurred, memo, reverses, legs)
        out.append(ChainedJournal(int(jid), source, uid, stored, computed))
        previous = stored if stored is not None else computed

    for row in rows:
        if current is None or row[0] != current[0]:
            if current is not None:
                close()
            current, legs = tuple(row[:8]), []
        if row[8] is not None:
            legs.append((row[8], int(row[9])))
    if current is not None:
        close()
    return out


async def walk(conn: AsyncConnection) -> AsyncIterator[list[ChainedJournal]]:
    """Every journal in id order, with its stored and recomputed hash, a batch at a time."""
    previous, after = GENESIS, 0
    while True:
        upto = await conn.scalar(
            text("SELECT max(id) FROM (SELECT id FROM journals WHERE id > :after ORDER BY id LIMIT :n) s"),
            {"after": after, "n": _BATCH},
        )
        if upto is None:
            return
        batch = chain_batch((await conn.execute(CHAIN_ROWS, {"after": after, "upto": upto})).all(), previous)
        yield batch
        last = batch[-1]
        previous, after = last.stored or last.computed, last.id
