"""cooperative household volumes and foreign retention

``cooperative_household_volumes``: per cooperative, Asia/Shanghai month (its first day) and
household, what the line journals (sale, true-up, refund) that post to the cooperative's own
accounts (retention ``cooperative:<id>:retained`` or village collective ``collective:<id>``)
credited to the household's rebate (``household:<id>``) and guaranteed-price
(``household:<id>:advance``) accounts, legs negated (the bonus is aid, not volume). The year-end
surplus splits the patronage return by these volumes (``workers.surplus``); its preview summed
every household leg of the cooperative's year from the postings on each view, and reads the
year's twelve months here instead. ``bangfu.ledger.post`` adds to it in the transaction that
posts each line journal (``bangfu.line_credits.credit_households``); backfilled here from the
ledger (``bangfu.line_credits.ledger_volumes_query`` is the same query).

``cooperative_foreign_retention``: per cooperative and month, what those journals credited other
cooperatives' retention accounts (``cooperative:<other>:retained``), which the cooperative's
``cooperative_line_facts.retention`` counts too: only a journal posting to two cooperatives (a
true-up moving a line from one cooperative to another) has such a leg, so the backfill reads
those journals only. The preview's distributable
surplus is the facts' retention over the year's days less these rows (exactly the postings on the
cooperative's own retention account). Kept and backfilled the same way
(``bangfu.line_credits.ledger_foreign_retention_query``). The application role
gets its privileges from ``bangfu db grant`` (every table but the ledger's).

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-07 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0044"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

BACKFILL = """
INSERT INTO cooperative_household_volumes (cooperative_id, month, household_id, volume_fen)
SELECT o.cooperative_id, {month}, a.owner_id, -SUM(p.amount_fen)
FROM (
    SELECT DISTINCT p.journal_id, a.owner_id AS cooperative_id
    FROM postings p JOIN ledger_accounts a ON a.id = p.account_id
    WHERE a.owner_type = 'cooperative' AND a.owner_id IS NOT NULL
) o
JOIN journals j ON j.id = o.journal_id
JOIN postings p ON p.journal_id = j.id
JOIN ledger_accounts a ON a.id = p.account_id
WHERE j.kind IN ('sale', 'refund', 'true_up')
  AND a.owner_type = 'household' AND a.owner_id IS NOT NULL
  AND (a.code LIKE 'household:%:advance' OR a.code NOT LIKE 'household:%:%')
GROUP BY o.cooperative_id, {month}, a.owner_id
"""
FOREIGN_BACKFILL = """
INSERT INTO cooperative_foreign_retention (cooperative_id, month, retention_fen)
SELECT o.cooperative_id, {month}, -SUM(p.amount_fen)
FROM (
    SELECT DISTINCT p.journal_id, a.owner_id AS cooperative_id
    FROM postings p JOIN ledger_accounts a ON a.id = p.account_id
    WHERE a.owner_type = 'cooperative' AND a.owner_id IS NOT NULL
      AND p.journal_id IN (
        SELECT p2.journal_id
        FROM postings p2 JOIN ledger_accounts a2 ON a2.id = p2.account_id
        WHERE a2.owner_type = 'cooperative' AND a2.owner_id IS NOT NULL
        GROUP BY p2.journal_id
        HAVING COUNT(DISTINCT a2.owner_id) > 1
      )
) o
JOIN journals j ON j.id = o.journal_id
JOIN postings p ON p.journal_id = j.id
JOIN ledger_accounts a ON a.id = p.account_id
WHERE j.kind IN ('sale', 'refund', 'true_up')
  AND a.code LIKE 'cooperative:%'
  AND a.code <> 'cooperative:' || CAST(o.cooperative_id AS VARCHAR) || ':retained'
GROUP BY o.cooperative_id, {month}
"""
PG_MONTH = "CAST(date_trunc('month', j.occurred_at AT TIME ZONE 'Asia/Shanghai') AS DATE)"
SQLITE_MONTH = "date(j.occurred_at, '+8 hours', 'start of month')"


def upgrade() -> None:
    op.create_table(
        "cooperative_household_volumes",
        sa.Column("cooperative_id", ID, autoincrement=False, nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("household_id", ID, autoincrement=False, nullable=False),
        sa.Column("volume_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "cooperative_id", "month", "household_id", name=op.f("pk_cooperative_household_volumes")
        ),
    )
    op.create_table(
        "cooperative_foreign_retention",
        sa.Column("cooperative_id", ID, autoincrement=False, nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("retention_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("cooperative_id", "month", name=op.f("pk_cooperative_foreign_retention")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    month = PG_MONTH if postgres else SQLITE_MONTH
    # exec_driver_sql: the LIKE patterns' colons are not bind parameters.
    op.get_bind().exec_driver_sql(BACKFILL.format(month=month))
    op.get_bind().exec_driver_sql(FOREIGN_BACKFILL.format(month=month))


def downgrade() -> None:
    op.drop_table("cooperative_foreign_retention")
    op.drop_table("cooperative_household_volumes")
