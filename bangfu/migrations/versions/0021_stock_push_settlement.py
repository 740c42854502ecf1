"""who settled an uncertain stock push, when, and what the platform said

Issue 13 (the operator console, stock): a push whose answer was lost (``uncertain``) is settled
by reading the platform's stock back. ``stock_pushes.settled_at`` and ``settled_by`` record when
and who (a console user's name, or ``cli:<login>``), ``settled_stock`` the stock read back, and
``settle_note`` how the verdict (status ``done``: applied, or ``not_applied``) was reached.

Revision ID: 0021
Revises: 0018
Create Date: 2026-12-06 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('stock_pushes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('settled_by', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('settled_stock', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('settle_note', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('stock_pushes', schema=None) as batch_op:
        batch_op.drop_column('settle_note')
        batch_op.drop_column('settled_stock')
        batch_op.drop_column('settled_by')
        batch_op.drop_column('settled_at')
