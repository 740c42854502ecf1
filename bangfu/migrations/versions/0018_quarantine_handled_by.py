"""who marked a quarantined record handled

Issue 13 (the operator console): an operator marks a quarantined record handled;
``quarantined_records.resolved_by`` records who (``resolved_at`` already records when). A record
a later sync read whole keeps ``resolved_by`` NULL.

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-06 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('quarantined_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resolved_by', ID, nullable=True))
        batch_op.create_foreign_key(
            op.f('fk_quarantined_records_resolved_by_users'), 'users', ['resolved_by'], ['id']
        )


def downgrade() -> None:
    with op.batch_alter_table('quarantined_records', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_quarantined_records_resolved_by_users'), type_='foreignkey')
        batch_op.drop_column('resolved_by')
