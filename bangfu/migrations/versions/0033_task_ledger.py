"""the department task ledger (调度台账)

Issue 17: a county's tasks (department, owner, measure, deadline, a target in the task's unit,
the year, an optional binding to a hub metric) in ``ledger_tasks`` (key: ``code``), and each
task's append-only progress history in ``ledger_task_progress`` (as-of date, value, note,
evidence, who reported it: a console user, ``import`` or ``metric`` for the periodic refresh).
Targets and values are whole numbers in the unit's base (fen, households, a count, or
hundredths of a percent). The application role gets the tables from ``bangfu db grant``.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0033'
down_revision: str | None = '0032'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TIME = sa.DateTime(timezone=True)
DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'ledger_tasks',
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('region_id', ID, nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('department', sa.String(length=64), nullable=False),
        sa.Column('owner', sa.String(length=128), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('deadline', sa.Date(), nullable=False),
        sa.Column('target', sa.BigInteger(), nullable=False),
        sa.Column('unit', sa.String(length=16), nullable=False),
        sa.Column('metric_kind', sa.String(length=32), nullable=True),
        sa.Column('metric_params', DOC, nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('created_at', TIME, nullable=False),
        sa.Column('updated_at', TIME, nullable=False),
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_ledger_tasks_region_id_regions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_tasks')),
        sa.UniqueConstraint('code', name=op.f('uq_ledger_tasks_code')),
    )
    op.create_index('ix_ledger_tasks_region_year', 'ledger_tasks', ['region_id', 'year'], unique=False)
    op.create_table(
        'ledger_task_progress',
        sa.Column('task_id', ID, nullable=False),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('evidence', sa.Text(), nullable=True),
        sa.Column('who', sa.String(length=64), nullable=False),
        sa.Column('recorded_by', ID, nullable=True),
        sa.Column('recorded_at', TIME, nullable=False),
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ['task_id'], ['ledger_tasks.id'], name=op.f('fk_ledger_task_progress_task_id_ledger_tasks')
        ),
        sa.ForeignKeyConstraint(
            ['recorded_by'], ['users.id'], name=op.f('fk_ledger_task_progress_recorded_by_users')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_task_progress')),
    )
    op.create_index(
        'ix_ledger_task_progress_task_as_of', 'ledger_task_progress', ['task_id', 'as_of'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_ledger_task_progress_task_as_of', table_name='ledger_task_progress')
    op.drop_table('ledger_task_progress')
    op.drop_index('ix_ledger_tasks_region_year', table_name='ledger_tasks')
    op.drop_table('ledger_tasks')
