"""session household credits

The session page's cooperative table (``bangfu.queries.sessions._cooperatives``) summed, on
each request, the ``line_household_credits`` rows of every line of the session per household:
about 60,000 rows for a busy session at 1,000,000 lines (8.8 a line, 703 households), 40-64 ms
of the page's ~97 ms. ``session_household_credits`` holds those sums per (session, household),
a row for every household the session's lines have a row for, at 0 fen too, as the live sum
gives it.

Kept exact by the session summaries' markers (``session_summary_dirty``, 0025/0037): their
triggers already mark a session for every change of its lines' household credits and of its
attributions, so no trigger is added. ``bangfu.session_summaries.refresh`` hands each session
whose markers it read on to ``session_household_dirty`` (in its transaction), and
``refresh_household_credits`` (once per pipeline run) rewrites those sessions' rows from their
lines and deletes the markers it read; the page reads the stored rows while the session has
neither marker and the live sum otherwise, in one statement.

Backfill: every session's rows from its lines (the live sum, frozen here).

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-07 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0046"
down_revision: str | None = "0045"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# bangfu.session_summaries.live_household_credits over every session, frozen.
BACKFILL = """
INSERT INTO session_household_credits (session_id, household_id, credit_fen)
SELECT a.session_id, c.household_id, SUM(c.credit_fen)
  FROM line_attributions a
  JOIN line_household_credits c ON c.order_line_id = a.order_line_id
 WHERE a.session_id IS NOT NULL
 GROUP BY a.session_id, c.household_id
"""


def upgrade() -> None:
    op.create_table(
        "session_household_credits",
        sa.Column("session_id", ID, autoincrement=False, nullable=False),
        sa.Column("household_id", ID, autoincrement=False, nullable=False),
        sa.Column("credit_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_session_household_credits_session_id_live_sessions"),
        ),
        sa.PrimaryKeyConstraint("session_id", "household_id", name=op.f("pk_session_household_credits")),
    )
    op.create_table(
        "session_household_dirty",
        sa.Column("session_id", ID, nullable=False),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_household_dirty")),
    )
    op.create_index("ix_session_household_dirty_session_id", "session_household_dirty", ["session_id"])
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_index("ix_session_household_dirty_session_id", table_name="session_household_dirty")
    op.drop_table("session_household_dirty")
    op.drop_table("session_household_credits")
