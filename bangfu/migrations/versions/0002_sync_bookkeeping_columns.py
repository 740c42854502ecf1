"""sync bookkeeping columns

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:00:34.250992
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Columns the sync engine's upserts compare in SQL: status rank and a content hash."""
    with op.batch_alter_table('listings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('platform_modified_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('content_hash', sa.String(length=32), nullable=False, server_default=''))

    with op.batch_alter_table('live_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_hash', sa.String(length=32), nullable=False, server_default=''))

    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_hash', sa.String(length=32), nullable=False, server_default=''))

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_rank', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('content_hash', sa.String(length=32), nullable=False, server_default=''))

    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_rank', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('content_hash', sa.String(length=32), nullable=False, server_default=''))

    with op.batch_alter_table('settlement_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_hash', sa.String(length=32), nullable=False, server_default=''))



def downgrade() -> None:
    with op.batch_alter_table('settlement_lines', schema=None) as batch_op:
        batch_op.drop_column('content_hash')

    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_column('content_hash')
        batch_op.drop_column('status_rank')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('content_hash')
        batch_op.drop_column('status_rank')

    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_column('content_hash')

    with op.batch_alter_table('live_sessions', schema=None) as batch_op:
        batch_op.drop_column('content_hash')

    with op.batch_alter_table('listings', schema=None) as batch_op:
        batch_op.drop_column('content_hash')
        batch_op.drop_column('platform_modified_at')

