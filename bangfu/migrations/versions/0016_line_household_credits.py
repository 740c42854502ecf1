"""household credits per order line, and the host's session-list index

``line_household_credits``: what each order line's journals credited each household, net (a
pre-aggregate of the ledger the sessions pages read instead of summing postings on every view;
``bangfu.ledger.post`` adds to it in the transaction that posts each line journal). Backfilled here
from the ledger. ``ix_live_sessions_host_started``: a host's sessions in a period.

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-06 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

BACKFILL = """
INSERT INTO line_household_credits (order_line_id, household_id, credit_fen)
SELECT {line}, a.owner_id, -SUM(p.amount_fen)
FROM journals j
JOIN postings p ON p.journal_id = j.id
JOIN ledger_accounts a ON a.id = p.account_id
WHERE a.owner_type = 'household' AND a.owner_id IS NOT NULL
  AND j.kind IN ('sale', 'refund', 'true_up') AND j.source_event LIKE 'order-line:%'
GROUP BY {line}, a.owner_id
"""
PG_LINE = "CAST(split_part(j.source_event, ':', 3) AS BIGINT)"
SQLITE_LINE = (
    "CAST(substr(substr(substr(j.source_event, 12), instr(substr(j.source_event, 12), ':') + 1), 1, "
    "instr(substr(substr(j.source_event, 12), instr(substr(j.source_event, 12), ':') + 1), ':') - 1) AS INTEGER)"
)


def upgrade() -> None:
    op.create_table('line_household_credits',
    sa.Column('order_line_id', ID, autoincrement=False, nullable=False),
    sa.Column('household_id', ID, autoincrement=False, nullable=False),
    sa.Column('credit_fen', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('order_line_id', 'household_id', name=op.f('pk_line_household_credits'))
    )
    op.create_index('ix_live_sessions_host_started', 'live_sessions', ['host_id', 'started_at'], unique=False)
    bind = op.get_bind()
    line = PG_LINE if bind.dialect.name == 'postgresql' else SQLITE_LINE
    op.execute(BACKFILL.format(line=line))


def downgrade() -> None:
    op.drop_index('ix_live_sessions_host_started', table_name='live_sessions')
    op.drop_table('line_household_credits')
