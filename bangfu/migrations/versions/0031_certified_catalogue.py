"""certified catalogue: supplier (entity) certificates, certificate batch numbers

Issue 17 (消费帮扶产品认定): the county's certified catalogue is imported from the official list
(``bangfu certificates import``). A product certificate gets the batch / announcement number it
was published under (``certifications.batch``) and an index on its number (a re-import finds the
certificate by number); suppliers get certificates of their own (经营主体认定,
``supplier_certifications``, the number unique). Expiry alerts live in ``alerts``.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0031'
down_revision: str | None = '0030'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TIME = sa.DateTime(timezone=True)
STATUS = sa.Enum('valid', 'expired', 'revoked', name='certificationstatus', native_enum=False, length=24)


def upgrade() -> None:
    with op.batch_alter_table('certifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('batch', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_certifications_number'), ['number'], unique=False)
    op.create_table(
        'supplier_certifications',
        sa.Column('supplier_id', ID, nullable=False),
        sa.Column('body', sa.String(length=128), nullable=False),
        sa.Column('number', sa.String(length=64), nullable=False),
        sa.Column('batch', sa.String(length=64), nullable=True),
        sa.Column('county_id', ID, nullable=True),
        sa.Column('valid_from', sa.Date(), nullable=False),
        sa.Column('valid_to', sa.Date(), nullable=False),
        sa.Column('status', STATUS, nullable=False),
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('created_at', TIME, nullable=False),
        sa.Column('updated_at', TIME, nullable=False),
        sa.ForeignKeyConstraint(['county_id'], ['regions.id'], name=op.f('fk_supplier_certifications_county_id_regions')),
        sa.ForeignKeyConstraint(
            ['supplier_id'], ['suppliers.id'], name=op.f('fk_supplier_certifications_supplier_id_suppliers')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier_certifications')),
        sa.UniqueConstraint('number', name=op.f('uq_supplier_certifications_number')),
    )
    op.create_index(
        op.f('ix_supplier_certifications_supplier_id'), 'supplier_certifications', ['supplier_id'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_supplier_certifications_supplier_id'), table_name='supplier_certifications')
    op.drop_table('supplier_certifications')
    with op.batch_alter_table('certifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certifications_number'))
        batch_op.drop_column('batch')
