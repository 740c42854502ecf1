"""county unit kinds, campaign groups and monitoring lines

Issue 13: purchasing-unit kinds as data (``unit_kinds``, and ``purchasing_units.kind_code`` for a
kind beyond the legal ``unit_type``), the 五进/七进 campaign groups they count in
(``campaign_groups``), and the per-region, per-year monitoring line (``monitoring_lines``). The
kind and group tables start empty: the code's defaults apply until ``bangfu county`` writes them.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('campaign_groups',
    sa.Column('code', sa.String(length=24), nullable=False),
    sa.Column('label_zh', sa.String(length=64), nullable=False),
    sa.Column('label_en', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_groups')),
    sa.UniqueConstraint('code', name=op.f('uq_campaign_groups_code'))
    )
    op.create_table('unit_kinds',
    sa.Column('code', sa.String(length=24), nullable=False),
    sa.Column('label_zh', sa.String(length=64), nullable=False),
    sa.Column('label_en', sa.String(length=64), nullable=False),
    sa.Column('group_code', sa.String(length=24), nullable=False),
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_kinds')),
    sa.UniqueConstraint('code', name=op.f('uq_unit_kinds_code'))
    )
    op.create_table('monitoring_lines',
    sa.Column('region_id', ID, nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('line_fen', sa.BigInteger(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_monitoring_lines_region_id_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_lines')),
    sa.UniqueConstraint('region_id', 'year', name=op.f('uq_monitoring_lines_region_id_year'))
    )
    with op.batch_alter_table('monitoring_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitoring_lines_region_id'), ['region_id'], unique=False)
    with op.batch_alter_table('purchasing_units', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind_code', sa.String(length=24), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('purchasing_units', schema=None) as batch_op:
        batch_op.drop_column('kind_code')
    with op.batch_alter_table('monitoring_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monitoring_lines_region_id'))
    op.drop_table('monitoring_lines')
    op.drop_table('unit_kinds')
    op.drop_table('campaign_groups')
