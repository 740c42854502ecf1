"""household monthly income

``household_monthly_income``: ``household_daily_income`` summed per household and Asia/Shanghai
month (its first day): what the ledger credited the household's accounts in the month, net, from
line journals (``trade_fen``) and surplus returns (``surplus_fen``). The county overview's
households-driven figures group a period's income per household and month; over the day rows
that was about 180,000 rows per view at 1,000,000 lines, over these about 6,000 (whole months
here, the partial edge months from the day rows: ``bangfu.reports.households.income_by_household``).
``bangfu.ledger.post`` adds to it with the day rows in the transaction that posts each journal
(``bangfu.line_credits.credit_households``); backfilled here from the day rows, which equal the
ledger (``bangfu verify``: ``household_income_matches_ledger``, and
``household_monthly_income_matches_ledger`` for this table). The application role gets its
privileges from ``bangfu db grant`` (every table but the ledger's).

Revision ID: 0048
Revises: 0046
Create Date: 2026-12-07 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0048"
down_revision: str | None = "0047"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

BACKFILL = """
INSERT INTO household_monthly_income (household_id, month, trade_fen, surplus_fen)
SELECT household_id, {month}, SUM(trade_fen), SUM(surplus_fen)
FROM household_daily_income
GROUP BY household_id, {month}
"""
PG_MONTH = "CAST(date_trunc('month', day) AS DATE)"
SQLITE_MONTH = "date(day, 'start of month')"


def upgrade() -> None:
    op.create_table(
        "household_monthly_income",
        sa.Column("household_id", ID, autoincrement=False, nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("trade_fen", sa.BigInteger(), nullable=False),
        sa.Column("surplus_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("household_id", "month", name=op.f("pk_household_monthly_income")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(BACKFILL.format(month=PG_MONTH if postgres else SQLITE_MONTH))


def downgrade() -> None:
    op.drop_table("household_monthly_income")
