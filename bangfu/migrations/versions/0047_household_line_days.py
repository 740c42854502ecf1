"""household line days

``household_line_days``: per household, Asia/Shanghai day and order line (0 for a journal of no
line: the year-end surplus return), what the income journals (sale, true-up, refund, surplus)
credited the household's three accounts (``household:<id>``, ``household:<id>:bonus``,
``household:<id>:advance``), legs negated: the sale and true-up legs by account
(``guaranteed_fen``, ``rebate_fen``, ``bonus_fen``), every leg of refund journals
(``refunds_fen``) and of surplus returns (``surplus_fen``), and how many journals post there
(``journals``). The household statement (``bangfu.queries.households.statement``) summed those
legs from the postings on each view, 1.1 s for the busiest household at 1,000,000 lines (164,565
postings over ~99k heap blocks); it reads the household's rows of the period's days instead.
``bangfu.ledger.post`` adds to it in the transaction that posts each journal
(``bangfu.line_credits.credit_households``); backfilled here from the ledger
(``bangfu.line_credits.ledger_line_days_query`` is the same query). The application role gets its
privileges from ``bangfu db grant`` (every table but the ledger's).

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-07 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0047"
down_revision: str | None = "0046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
VALUES = ("journals", "guaranteed_fen", "rebate_fen", "bonus_fen", "refunds_fen", "surplus_fen")

# A household's three income accounts by their exact codes (as the statement reads them).
BACKFILL = """
INSERT INTO household_line_days (household_id, day, order_line_id, {values})
SELECT a.owner_id, {day}, {line},
    COUNT(DISTINCT j.id),
    -SUM(CASE WHEN j.kind IN ('sale', 'true_up') AND a.leg = 'guaranteed' THEN p.amount_fen ELSE 0 END),
    -SUM(CASE WHEN j.kind IN ('sale', 'true_up') AND a.leg = 'rebate' THEN p.amount_fen ELSE 0 END),
    -SUM(CASE WHEN j.kind IN ('sale', 'true_up') AND a.leg = 'bonus' THEN p.amount_fen ELSE 0 END),
    -SUM(CASE WHEN j.kind = 'refund' THEN p.amount_fen ELSE 0 END),
    -SUM(CASE WHEN j.kind = 'surplus' THEN p.amount_fen ELSE 0 END)
FROM (
    SELECT id, owner_id, CASE code
        WHEN 'household:' || CAST(owner_id AS VARCHAR) THEN 'rebate'
        WHEN 'household:' || CAST(owner_id AS VARCHAR) || ':bonus' THEN 'bonus'
        WHEN 'household:' || CAST(owner_id AS VARCHAR) || ':advance' THEN 'guaranteed'
        END AS leg
    FROM ledger_accounts
    WHERE owner_type = 'household' AND owner_id IS NOT NULL
) a
JOIN postings p ON p.account_id = a.id
JOIN journals j ON j.id = p.journal_id
WHERE a.leg IS NOT NULL AND j.kind IN ('sale', 'refund', 'true_up', 'surplus')
GROUP BY a.owner_id, {day}, {line}
"""
PG_LINE = (
    "COALESCE(CASE WHEN j.kind IN ('sale', 'refund', 'true_up') "
    "THEN CAST(split_part(j.source_event, ':', 3) AS BIGINT) END, 0)"
)
SQLITE_LINE = (
    "COALESCE(CASE WHEN j.kind IN ('sale', 'refund', 'true_up') THEN "
    "CAST(substr(substr(substr(j.source_event, 12), instr(substr(j.source_event, 12), ':') + 1), 1, "
    "instr(substr(substr(j.source_event, 12), instr(substr(j.source_event, 12), ':') + 1), ':') - 1) AS INTEGER) "
    "END, 0)"
)
PG_DAY = "CAST(j.occurred_at AT TIME ZONE 'Asia/Shanghai' AS DATE)"
SQLITE_DAY = "date(j.occurred_at, '+8 hours')"


def backfill_sql(dialect: str) -> str:
    """The backfill's statement for a backend (``postgresql`` or ``sqlite``)."""
    postgres = dialect == "postgresql"
    return BACKFILL.format(
        values=", ".join(VALUES), day=PG_DAY if postgres else SQLITE_DAY, line=PG_LINE if postgres else SQLITE_LINE
    )


def upgrade() -> None:
    op.create_table(
        "household_line_days",
        sa.Column("household_id", ID, autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("order_line_id", ID, autoincrement=False, nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in VALUES),
        sa.PrimaryKeyConstraint("household_id", "day", "order_line_id", name=op.f("pk_household_line_days")),
    )
    # exec_driver_sql: the codes' colons (':bonus') are not bind parameters.
    op.get_bind().exec_driver_sql(backfill_sql(op.get_bind().dialect.name))


def downgrade() -> None:
    op.drop_table("household_line_days")
