"""The append-only double-entry ledger, in integer fen.

Every journal carries a deterministic id derived from its source event (uuid5 of e.g.
``order-line:<shop>:<line>:v<version>:sale``), so a replay finds the journal already there and
posts nothing twice. Postings of a journal sum to zero: on PostgreSQL a deferred constraint
trigger (see the migration) refuses an unbalanced journal at commit; on SQLite the ledger
store checks in the same transaction. Rows are never updated or deleted (triggers on both).

``postings`` carries no row-by-row foreign keys: on PostgreSQL one statement-level trigger checks
a whole insert (COPY included) at once, that every journal and account it names exists and that
every journal it touched balances (migration 0006); on SQLite row triggers check existence.
Accounts are never deleted, and an account's identity (code, kind, owner) never changes.

Tamper evidence (migration 0011): every journal carries ``chain_hash``, SHA-256 over its content
and legs and the previous journal's hash (:mod:`bangfu.ledger_chain`); ``ledger_chain_head`` is
the one row appends lock and move. Only the pipeline's kinds are accepted, each with its source
event's shape (a CHECK on PostgreSQL, a trigger on SQLite), and an ``adjustment`` journal only
with its :class:`LedgerAdjustment` record (who, why, when). ``chain_hash`` is nullable in the
column type only because SQLite cannot add a NOT NULL column to a table others reference; the
database refuses a journal without one on both back ends.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bangfu.enums import AccountKind, JournalKind
from bangfu.models.base import Base, Fen, IdMixin, IdType, enum_column, utcnow


class LedgerAccount(IdMixin, Base):
    """An account: platform receivable, fees, host commission payable, cooperative, household...

    ``code`` is structured, e.g. ``receivable:shop:12``, ``household:3456``,
    ``cooperative:7:retained``, ``collective:7``, ``fees:shop:12:platform_fee``.
    """

    __tablename__ = "ledger_accounts"

    code: Mapped[str] = mapped_column(String(96), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[AccountKind] = enum_column(AccountKind)
    owner_type: Mapped[str | None] = mapped_column(String(24))  # shop | cooperative | household | host
    owner_id: Mapped[int | None] = mapped_column(IdType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Journal(IdMixin, Base):
    __tablename__ = "journals"

    uid: Mapped[str] = mapped_column(String(36), unique=True)  # uuid5 of the source event
    kind: Mapped[JournalKind] = enum_column(JournalKind)
    # On PostgreSQL also indexed by the order-line id it names, for line journals (migration 0050,
    # ``ix_journals_order_line``; not declared here: see ``MIGRATION_ONLY_INDEXES``).
    source_event: Mapped[str] = mapped_column(String(160))
    occurred_at: Mapped[datetime] = mapped_column(index=True)  # when it happened (refunds: then)
    posted_at: Mapped[datetime] = mapped_column(default=utcnow)
    memo: Mapped[str | None] = mapped_column(Text)
    reverses_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("journals.id"))
    chain_hash: Mapped[str | None] = mapped_column(String(64))  # required: see the module docstring

    postings: Mapped[list[Posting]] = relationship(
        back_populates="journal", primaryjoin="Journal.id == foreign(Posting.journal_id)"
    )


class Posting(Base):
    """One leg of a journal: at most one per account, keyed by (journal, account)."""

    __tablename__ = "postings"
    __table_args__ = (CheckConstraint("amount_fen <> 0", name="nonzero"),)

    journal_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False, index=True)
    amount_fen: Mapped[int] = mapped_column(Fen)  # debit positive, credit negative

    journal: Mapped[Journal] = relationship(
        back_populates="postings", primaryjoin="foreign(Posting.journal_id) == Journal.id"
    )
    account: Mapped[LedgerAccount] = relationship(primaryjoin="foreign(Posting.account_id) == LedgerAccount.id")


class LedgerChainHead(Base):
    """The chain head: one row (id 1), locked by every append and moved to its last journal."""

    __tablename__ = "ledger_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    journal_id: Mapped[int] = mapped_column(IdType)  # 0 while the ledger is empty
    chain_hash: Mapped[str] = mapped_column(String(64))


class LedgerAdjustment(IdMixin, Base):
    """Who asked for a manual adjustment, why and when; its journal's source event is
    ``adjustment:<id>``. Written only by ``bangfu ledger adjust``; never updated or deleted."""

    __tablename__ = "ledger_adjustments"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="positive"),)

    from_code: Mapped[str] = mapped_column(String(96))  # debited
    to_code: Mapped[str] = mapped_column(String(96))  # credited
    amount_fen: Mapped[int] = mapped_column(Fen)
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
