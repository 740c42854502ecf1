"""ledger hash chain, pipeline journal kinds, adjustment records and immutable account identity

Issue 12 item 6: the ledger must be tamper-evident, not only append-only.

- ``journals.chain_hash``: SHA-256 over a journal's canonical content and legs plus the previous
  journal's hash (``bangfu.ledger_chain``; the encoding is copied below, frozen, as migrations
  import nothing of the hub). Existing journals are chained here, in id order.
  ``ledger_chain_head`` is the row every append locks and moves.
- Only the pipeline's journal kinds, each with the source event its kind requires (and only a
  refund may reverse a journal): a CHECK on PostgreSQL, a trigger on SQLite (a CHECK there
  would mean rebuilding ``journals``, which other tables reference). A journal without a chain
  hash is refused the same way.
- ``ledger_adjustments``: who, why and when of a manual adjustment (``bangfu ledger adjust``); an
  ``adjustment`` journal is refused unless its record is there. Append-only like the ledger.
- A ledger account's identity (code, kind, owner_type, owner_id) cannot change.
- PostgreSQL: TRUNCATE of a ledger table is refused by a statement trigger, for the owner too
  (the application role has no TRUNCATE privilege at all: ``bangfu db grant``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 10:00:00
"""

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GENESIS = "0" * 64
_LEDGER_TABLES = ("journals", "postings", "ledger_accounts", "ledger_adjustments")


def _hash(previous: str, uid: str, kind: str, source: str, at: datetime, memo, reverses, legs) -> str:  # type: ignore[no-untyped-def]
    """Frozen copy of ``bangfu.ledger_chain.journal_hash`` (the encoding never changes)."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    payload = [
        "bangfu-ledger-v1",
        previous,
        uid,
        kind,
        source,
        at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        memo,
        reverses,
        sorted(legs),
    ]
    return hashlib.sha256(orjson.dumps(payload)).hexdigest()


_ROWS = sa.text(
    "SELECT j.id, j.uid, j.kind, j.source_event, j.occurred_at, j.memo, r.uid, a.code, p.amount_fen "
    "FROM journals j LEFT JOIN journals r ON r.id = j.reverses_id "
    "LEFT JOIN postings p ON p.journal_id = j.id LEFT JOIN ledger_accounts a ON a.id = p.account_id "
    "WHERE j.id > :after AND j.id <= :upto ORDER BY j.id"
).columns(occurred_at=sa.DateTime(timezone=True))


def _chain_existing() -> tuple[int, str]:
    """Hash every journal in id order; returns the head (last id, last hash)."""
    bind = op.get_bind()
    previous, after = _GENESIS, 0
    while True:
        upto = bind.scalar(
            sa.text("SELECT max(id) FROM (SELECT id FROM journals WHERE id > :a ORDER BY id LIMIT 2000) s"),
            {"a": after},
        )
        if upto is None:
            return after, previous
        grouped: dict[int, tuple[tuple[object, ...], list[tuple[str, int]]]] = {}
        for row in bind.execute(_ROWS, {"after": after, "upto": upto}):
            head, legs = grouped.setdefault(row[0], (tuple(row[1:7]), []))
            if row[7] is not None:
                legs.append((row[7], int(row[8])))
        updates = []
        for journal_id, (head, legs) in grouped.items():  # insertion order is id order
            previous = _hash(previous, *head, legs)  # type: ignore[arg-type]
            updates.append({"h": previous, "i": journal_id})
        bind.execute(sa.text("UPDATE journals SET chain_hash = :h WHERE id = :i"), updates)
        after = upto


def _kind_source(regex: bool, row: str) -> str:
    """The kind/source-event rule: PostgreSQL regexes on the row, or SQLite GLOBs on ``NEW.``."""
    line, line_glob = "^order-line:[0-9]+:[0-9]+:v[0-9]+:", "order-line:[0-9]*:[0-9]*:v[0-9]*:"
    shapes = {  # kind: (PostgreSQL regex, SQLite GLOB, may reverse a journal)
        "sale": (f"{line}sale$", f"{line_glob}sale", False),
        "refund": (f"{line}refund:.+$", f"{line_glob}refund:?*", True),
        "true_up": (f"{line}trueup:.+$", f"{line_glob}trueup:?*", False),
        "surplus": ("^surplus:[0-9]+:[0-9]{4}$", "surplus:[0-9]*:[0-9][0-9][0-9][0-9]", False),
        "adjustment": ("^adjustment:[0-9]+$", "adjustment:[0-9]*", False),
    }
    match = f"{row}source_event ~" if regex else f"{row}source_event GLOB"
    cases = " ".join(
        f"WHEN '{kind}' THEN {match} '{pg if regex else glob}'" + ("" if reverses else f" AND {row}reverses_id IS NULL")
        for kind, (pg, glob, reverses) in shapes.items()
    )
    return f"CASE {row}kind {cases} ELSE {'false' if regex else '0'} END"


_PG_KIND_SOURCE = _kind_source(True, "")
_SQLITE_KIND_SOURCE = _kind_source(False, "NEW.")

_PG_UP = (
    f"ALTER TABLE journals ADD CONSTRAINT ck_journals_kind_source CHECK ({_PG_KIND_SOURCE})",
    "ALTER TABLE journals ADD CONSTRAINT ck_journals_chain_hash "
    "CHECK (chain_hash IS NOT NULL AND chain_hash ~ '^[0-9a-f]{64}$')",
    """
    CREATE FUNCTION bangfu_adjustment_recorded() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM ledger_adjustments
                        WHERE 'adjustment:' || id = NEW.source_event) THEN
            RAISE EXCEPTION 'journal %: no adjustment record for %; adjustments are made with bangfu ledger adjust',
                NEW.uid, NEW.source_event USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER journals_adjustment_recorded BEFORE INSERT ON journals
        FOR EACH ROW WHEN (NEW.kind = 'adjustment') EXECUTE FUNCTION bangfu_adjustment_recorded()
    """,
    """
    CREATE FUNCTION bangfu_account_identity() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'ledger account % identity is immutable: code, kind, owner_type and owner_id never change',
            OLD.code USING ERRCODE = 'check_violation';
    END $$
    """,
    """
    CREATE TRIGGER ledger_accounts_identity BEFORE UPDATE ON ledger_accounts FOR EACH ROW
        WHEN (OLD.code IS DISTINCT FROM NEW.code OR OLD.kind IS DISTINCT FROM NEW.kind
              OR OLD.owner_type IS DISTINCT FROM NEW.owner_type OR OLD.owner_id IS DISTINCT FROM NEW.owner_id)
        EXECUTE FUNCTION bangfu_account_identity()
    """,
    """
    CREATE TRIGGER ledger_adjustments_append_only BEFORE UPDATE OR DELETE ON ledger_adjustments
        FOR EACH ROW EXECUTE FUNCTION bangfu_append_only()
    """,
    *(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION bangfu_append_only()"
        for table in _LEDGER_TABLES
    ),
)

_PG_DOWN = (
    *(f"DROP TRIGGER {table}_no_truncate ON {table}" for table in _LEDGER_TABLES),
    "DROP TRIGGER ledger_adjustments_append_only ON ledger_adjustments",
    "DROP TRIGGER ledger_accounts_identity ON ledger_accounts",
    "DROP FUNCTION bangfu_account_identity()",
    "DROP TRIGGER journals_adjustment_recorded ON journals",
    "DROP FUNCTION bangfu_adjustment_recorded()",
    "ALTER TABLE journals DROP CONSTRAINT ck_journals_chain_hash",
    "ALTER TABLE journals DROP CONSTRAINT ck_journals_kind_source",
)

_SQLITE_UP = (
    "CREATE TRIGGER journals_kind_source BEFORE INSERT ON journals "
    f"WHEN NOT ({_SQLITE_KIND_SOURCE}) "
    "BEGIN SELECT RAISE(ABORT, 'ck_journals_kind_source: the journal kind does not match its source event'); END",
    "CREATE TRIGGER journals_chain_hash BEFORE INSERT ON journals "
    "WHEN NEW.chain_hash IS NULL OR length(NEW.chain_hash) <> 64 "
    "BEGIN SELECT RAISE(ABORT, 'ck_journals_chain_hash: a journal needs its chain hash'); END",
    "CREATE TRIGGER journals_adjustment_recorded BEFORE INSERT ON journals "
    "WHEN NEW.kind = 'adjustment' AND NOT EXISTS "
    "(SELECT 1 FROM ledger_adjustments WHERE 'adjustment:' || id = NEW.source_event) "
    "BEGIN SELECT RAISE(ABORT, 'no adjustment record for this adjustment journal; use bangfu ledger adjust'); END",
    "CREATE TRIGGER ledger_accounts_identity BEFORE UPDATE ON ledger_accounts "
    "WHEN OLD.code IS NOT NEW.code OR OLD.kind IS NOT NEW.kind "
    "OR OLD.owner_type IS NOT NEW.owner_type OR OLD.owner_id IS NOT NEW.owner_id "
    "BEGIN SELECT RAISE(ABORT, 'ledger account identity is immutable: code, kind, owner_type and owner_id "
    "never change'); END",
    *(
        f"CREATE TRIGGER ledger_adjustments_no_{action.lower()} BEFORE {action} ON ledger_adjustments "
        f"BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: {action} on ledger_adjustments refused'); END"
        for action in ("UPDATE", "DELETE")
    ),
)

_SQLITE_TRIGGERS = (
    "journals_kind_source",
    "journals_chain_hash",
    "journals_adjustment_recorded",
    "ledger_accounts_identity",
    "ledger_adjustments_no_update",
    "ledger_adjustments_no_delete",
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "ledger_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("journal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_ledger_chain_head_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_chain_head")),
    )
    op.create_table(
        "ledger_adjustments",
        sa.Column("from_code", sa.String(length=96), nullable=False),
        sa.Column("to_code", sa.String(length=96), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_ledger_adjustments_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_adjustments")),
    )
    op.execute("ALTER TABLE journals ADD COLUMN chain_hash VARCHAR(64)")
    # Existing journals get their hashes: the append-only guard steps aside for this one update.
    if postgres:
        op.execute("ALTER TABLE journals DISABLE TRIGGER journals_append_only")
    else:
        op.execute("DROP TRIGGER journals_no_update")
    last_id, last_hash = _chain_existing()
    if postgres:
        op.execute("ALTER TABLE journals ENABLE TRIGGER journals_append_only")
    else:
        op.execute(
            "CREATE TRIGGER journals_no_update BEFORE UPDATE ON journals "
            "BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: UPDATE on journals refused'); END"
        )
    op.get_bind().execute(
        sa.text("INSERT INTO ledger_chain_head (id, journal_id, chain_hash) VALUES (1, :j, :h)"),
        {"j": last_id, "h": last_hash},
    )
    for statement in _PG_UP if postgres else _SQLITE_UP:
        op.get_bind().exec_driver_sql(statement)  # raw: the patterns hold ':' and '$'


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        for statement in _PG_DOWN:
            op.execute(statement)
        op.execute("ALTER TABLE journals DROP COLUMN chain_hash")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("ALTER TABLE journals DROP COLUMN chain_hash")  # SQLite 3.35+: no rebuild
    op.drop_table("ledger_adjustments")
    op.drop_table("ledger_chain_head")
