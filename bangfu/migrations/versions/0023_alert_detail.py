"""alert detail

An alert keeps the figures behind it as JSON text in ``detail`` (for an unsold alert: shelf life,
days left, units left, sales rate, the units projected to be left at the end of shelf life and
the channels that could take them), so the page, the API and ``bangfu alerts list`` show the
reason in numbers in the reader's language. Adding a column to a table the application role can
already read and write needs no new grant.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detail", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("detail")
