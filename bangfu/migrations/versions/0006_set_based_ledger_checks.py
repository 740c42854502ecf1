"""set-based ledger checks

The postings table's integrity moves from row-by-row checks to set-based ones, because at
~24 postings per order line the row-level checks were most of the cost of posting:

- PostgreSQL: the two foreign keys of ``postings`` (journal, account) and the deferred
  per-posting balance trigger are replaced by one statement-level trigger over the statement's
  new rows (a transition table, so COPY is covered too). It refuses a posting to a journal or
  account that does not exist, and re-checks the balance of every journal the statement
  touched against all of its postings. The deferred per-journal trigger stays: it refuses, at
  commit, a journal left with fewer than two legs or unbalanced. So a journal's postings are
  written by one statement, as ``bangfu.ledger.post`` does.
- SQLite: the foreign keys become row triggers (what SQLite's own enforcement is anyway).
- Both: ledger accounts are never deleted (a posting's account must stay). A posting is keyed
  by (journal_id, account_id), which was already unique: the surrogate ``id`` and its sequence,
  and the index on ``journal_id`` alone, go (one index less to maintain per posting row).
- ``line_accounting`` gets a partial index on the lines due for posting, so taking the next
  batch reads only due lines instead of skipping every line posted before (which made each
  pass slower the more lines were posted).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 00:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_PG_UP = (
    "DROP TRIGGER postings_balanced ON postings",
    "ALTER TABLE postings DROP CONSTRAINT fk_postings_journal_id_journals",
    "ALTER TABLE postings DROP CONSTRAINT fk_postings_account_id_ledger_accounts",
    "DROP INDEX ix_postings_journal_id",
    "ALTER TABLE postings DROP CONSTRAINT pk_postings",
    "ALTER TABLE postings DROP COLUMN id",
    "ALTER TABLE postings DROP CONSTRAINT uq_postings_journal_id_account_id",
    "ALTER TABLE postings ADD CONSTRAINT pk_postings PRIMARY KEY (journal_id, account_id)",
    """
    CREATE FUNCTION bangfu_postings_checked() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        bad record;
    BEGIN
        SELECT n.journal_id INTO bad
          FROM (SELECT DISTINCT journal_id FROM new_postings) n
          LEFT JOIN journals j ON j.id = n.journal_id
         WHERE j.id IS NULL LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'posting to journal %, which does not exist', bad.journal_id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        SELECT n.account_id INTO bad
          FROM (SELECT DISTINCT account_id FROM new_postings) n
          LEFT JOIN ledger_accounts a ON a.id = n.account_id
         WHERE a.id IS NULL LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'posting to account %, which does not exist', bad.account_id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        -- One index lookup per touched journal (LATERAL): the planner knows nothing of the
        -- transition table's size and would otherwise scan every posting ever made.
        SELECT n.journal_id, s.legs, s.total INTO bad
          FROM (SELECT DISTINCT journal_id FROM new_postings) n
         CROSS JOIN LATERAL (SELECT count(*) AS legs, sum(p.amount_fen) AS total
                               FROM postings p WHERE p.journal_id = n.journal_id) s
         WHERE s.legs < 2 OR s.total <> 0 LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'journal % is unbalanced: % legs summing to % fen', bad.journal_id, bad.legs, bad.total
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER postings_checked AFTER INSERT ON postings
        REFERENCING NEW TABLE AS new_postings
        FOR EACH STATEMENT EXECUTE FUNCTION bangfu_postings_checked()
    """,
    """
    CREATE TRIGGER ledger_accounts_kept BEFORE DELETE ON ledger_accounts
        FOR EACH ROW EXECUTE FUNCTION bangfu_append_only()
    """,
)

_PG_DOWN = (
    "DROP TRIGGER ledger_accounts_kept ON ledger_accounts",
    "DROP TRIGGER postings_checked ON postings",
    "DROP FUNCTION bangfu_postings_checked()",
    "ALTER TABLE postings DROP CONSTRAINT pk_postings",
    "ALTER TABLE postings ADD CONSTRAINT uq_postings_journal_id_account_id UNIQUE (journal_id, account_id)",
    "ALTER TABLE postings ADD COLUMN id bigserial",
    "ALTER TABLE postings ADD CONSTRAINT pk_postings PRIMARY KEY (id)",
    "CREATE INDEX ix_postings_journal_id ON postings (journal_id)",
    "ALTER TABLE postings ADD CONSTRAINT fk_postings_journal_id_journals "
    "FOREIGN KEY (journal_id) REFERENCES journals (id)",
    "ALTER TABLE postings ADD CONSTRAINT fk_postings_account_id_ledger_accounts "
    "FOREIGN KEY (account_id) REFERENCES ledger_accounts (id)",
    """
    CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bangfu_journal_balanced()
    """,
)


def _sqlite_guards() -> list[str]:
    """Append-only and existence triggers of ``postings`` on SQLite (a table rebuild drops them)."""
    statements = [
        f"CREATE TRIGGER postings_no_{action.lower()} BEFORE {action} ON postings "
        f"BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: {action} on postings refused'); END"
        for action in ("UPDATE", "DELETE")
    ]
    statements += [
        "CREATE TRIGGER postings_journal_exists BEFORE INSERT ON postings "
        "WHEN NOT EXISTS (SELECT 1 FROM journals WHERE id = NEW.journal_id) "
        "BEGIN SELECT RAISE(ABORT, 'posting to a journal that does not exist'); END",
        "CREATE TRIGGER postings_account_exists BEFORE INSERT ON postings "
        "WHEN NOT EXISTS (SELECT 1 FROM ledger_accounts WHERE id = NEW.account_id) "
        "BEGIN SELECT RAISE(ABORT, 'posting to an account that does not exist'); END",
        "CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts "
        "BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: DELETE on ledger_accounts refused'); END",
    ]
    return statements


def upgrade() -> None:
    op.create_index(
        "ix_line_accounting_due_rev",
        "line_accounting",
        ["id"],
        unique=False,
        postgresql_where=sa.text("posted_rev < input_rev"),
        sqlite_where=sa.text("posted_rev < input_rev"),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_UP:
            op.execute(statement)
        return
    with op.batch_alter_table("postings", schema=None, recreate="always") as batch_op:
        batch_op.drop_constraint("fk_postings_journal_id_journals", type_="foreignkey")
        batch_op.drop_constraint("fk_postings_account_id_ledger_accounts", type_="foreignkey")
        batch_op.drop_constraint("uq_postings_journal_id_account_id", type_="unique")
        batch_op.drop_index("ix_postings_journal_id")
        batch_op.drop_column("id")
        batch_op.create_primary_key("pk_postings", ["journal_id", "account_id"])
    for statement in _sqlite_guards():
        op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_line_accounting_due_rev", table_name="line_accounting")
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_DOWN:
            op.execute(statement)
        return
    for name in ("postings_journal_exists", "postings_account_exists", "ledger_accounts_no_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table("postings", schema=None, recreate="always") as batch_op:
        batch_op.add_column(sa.Column("id", sa.Integer(), nullable=True))
    op.execute("UPDATE postings SET id = rowid")
    with op.batch_alter_table("postings", schema=None, recreate="always") as batch_op:
        batch_op.drop_constraint("pk_postings", type_="primary")
        batch_op.alter_column("id", existing_type=sa.Integer(), nullable=False, autoincrement=True)
        batch_op.create_primary_key("pk_postings", ["id"])
        batch_op.create_unique_constraint("uq_postings_journal_id_account_id", ["journal_id", "account_id"])
        batch_op.create_foreign_key("fk_postings_journal_id_journals", "journals", ["journal_id"], ["id"])
        batch_op.create_foreign_key("fk_postings_account_id_ledger_accounts", "ledger_accounts", ["account_id"], ["id"])
        batch_op.create_index("ix_postings_journal_id", ["journal_id"], unique=False)
    for statement in _sqlite_guards()[:2]:
        op.execute(statement)
