"""reconciliation exceptions, per-type verdict figures, Douyin bill columns remapped

Issue 13 (the operator console, reconciliation):

- ``reconciliation_exceptions``: one per (shop, platform order) a reconcile run flagged, with its
  state (open, accepted with a reason, resolved, reopened) and who changed it last, when;
- ``reconciliation_events``: the append-only history of each (who, what, when, why, and the
  verdict seen). ``bangfu db grant`` gives the application role SELECT and INSERT on it only;
  the exceptions table takes the usual SELECT, INSERT, UPDATE, DELETE;
- ``reconciliation_results.expected_by_type`` / ``actual_by_type``: fen per type (sale, refund,
  each fee type) behind a verdict, so the console shows the difference by fee type in full;
- Douyin settle lines stored before the connector mapped every cost column (``connectors/
  douyin.py``): ``other_sharing_amount`` lines become ``payment_fee``, the channel, colonel and
  off-site promotion columns ``platform_fee``. The next posting pass folds them into the fees
  (the bill's fingerprint changes), and the next reconcile run stops flagging them.

Revision ID: 0020
Revises: 0023
Create Date: 2026-12-06 16:03:36.708755
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0020'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Douyin settle-bill cost columns stored as 'other' before, and their fee type now.
DOUYIN_COLUMNS = {
    'other_sharing_amount': 'payment_fee',
    'good_learn_channel_fee': 'platform_fee',
    'colonel_service_fee': 'platform_fee',
    'channel_promotion_fee': 'platform_fee',
}


def upgrade() -> None:
    op.create_table('reconciliation_exceptions',
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('platform_order_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('differences', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.CheckConstraint("state IN ('open', 'accepted', 'resolved', 'reopened')", name=op.f('ck_reconciliation_exceptions_state_known')),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_reconciliation_exceptions_shop_id_shops')),
    sa.ForeignKeyConstraint(['updated_by'], ['users.id'], name=op.f('fk_reconciliation_exceptions_updated_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliation_exceptions')),
    sa.UniqueConstraint('shop_id', 'platform_order_id', name=op.f('uq_reconciliation_exceptions_shop_id_platform_order_id'))
    )
    with op.batch_alter_table('reconciliation_exceptions', schema=None) as batch_op:
        batch_op.create_index('ix_reconciliation_exceptions_state', ['state', 'shop_id'], unique=False)

    op.create_table('reconciliation_events',
    sa.Column('exception_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('differences', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['exception_id'], ['reconciliation_exceptions.id'], name=op.f('fk_reconciliation_events_exception_id_reconciliation_exceptions')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_reconciliation_events_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliation_events'))
    )
    with op.batch_alter_table('reconciliation_events', schema=None) as batch_op:
        batch_op.create_index('ix_reconciliation_events_exception', ['exception_id', 'id'], unique=False)

    with op.batch_alter_table('reconciliation_results', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expected_by_type', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('actual_by_type', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))

    for column, kind in DOUYIN_COLUMNS.items():
        op.execute(
            sa.text(
                "UPDATE settlement_lines SET kind = :kind WHERE kind = 'other' AND platform_bill_id LIKE :suffix"
                " AND shop_id IN (SELECT id FROM shops WHERE platform = 'douyin')"
            ).bindparams(kind=kind, suffix=f"%:{column}")
        )


def downgrade() -> None:
    # The Douyin lines keep their new kinds: the old mapping was the mistake.
    with op.batch_alter_table('reconciliation_results', schema=None) as batch_op:
        batch_op.drop_column('actual_by_type')
        batch_op.drop_column('expected_by_type')

    with op.batch_alter_table('reconciliation_events', schema=None) as batch_op:
        batch_op.drop_index('ix_reconciliation_events_exception')

    op.drop_table('reconciliation_events')
    with op.batch_alter_table('reconciliation_exceptions', schema=None) as batch_op:
        batch_op.drop_index('ix_reconciliation_exceptions_state')

    op.drop_table('reconciliation_exceptions')
