"""split policy withdrawals

Issue 12 item 14: a policy version not yet in force can be withdrawn (``bangfu policy
withdraw``). The version moves from ``split_policies`` to ``split_policy_withdrawals`` whole,
with when and why, so readers of the policies in force never see it and the record stays. A
version that ever applied is never withdrawn.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('split_policy_withdrawals',
    sa.Column('cooperative_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('patronage_return_bp', sa.Integer(), nullable=False),
    sa.Column('rules', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id'], name=op.f('fk_split_policy_withdrawals_cooperative_id_cooperatives')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_split_policy_withdrawals')),
    sa.UniqueConstraint('cooperative_id', 'version', name=op.f('uq_split_policy_withdrawals_cooperative_id_version'))
    )
    with op.batch_alter_table('split_policy_withdrawals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_split_policy_withdrawals_cooperative_id'), ['cooperative_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('split_policy_withdrawals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_split_policy_withdrawals_cooperative_id'))
    op.drop_table('split_policy_withdrawals')
