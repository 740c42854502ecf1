"""procurement agreements (采购协议)

Issue 17: agreements between purchasing units (hospitals, schools, companies) and suppliers, with
a period, a target in fen and optional quantity, discount and agreed prices; ``agreement_items``
names what each covers (a SKU, a product or a category; none: every product of the supplier).
Executed amounts are computed from the unit's orders, never stored. The application role gets
the tables from ``bangfu db grant``.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0032'
down_revision: str | None = '0031'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('agreements',
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=128), nullable=True),
    sa.Column('unit_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('supplier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('signed_on', sa.Date(), nullable=True),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('target_fen', sa.BigInteger(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=True),
    sa.Column('discount_bp', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('discount_bp IS NULL OR (discount_bp >= 0 AND discount_bp < 10000)', name=op.f('ck_agreements_discount_range')),
    sa.CheckConstraint('ends_on >= starts_on', name=op.f('ck_agreements_period_ordered')),
    sa.CheckConstraint('target_fen > 0', name=op.f('ck_agreements_target_positive')),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_agreements_supplier_id_suppliers')),
    sa.ForeignKeyConstraint(['unit_id'], ['purchasing_units.id'], name=op.f('fk_agreements_unit_id_purchasing_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreements')),
    sa.UniqueConstraint('number', name=op.f('uq_agreements_number'))
    )
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreements_supplier_id'), ['supplier_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_agreements_unit_id'), ['unit_id'], unique=False)

    op.create_table('agreement_items',
    sa.Column('agreement_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sku_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('unit_price_fen', sa.BigInteger(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.CheckConstraint('(CASE WHEN sku_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN product_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN category IS NULL THEN 0 ELSE 1 END) = 1', name=op.f('ck_agreement_items_one_target')),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], name=op.f('fk_agreement_items_agreement_id_agreements'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_agreement_items_product_id_products')),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_agreement_items_sku_id_skus')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_items'))
    )
    with op.batch_alter_table('agreement_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_items_agreement_id'), ['agreement_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('agreement_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_items_agreement_id'))

    op.drop_table('agreement_items')
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreements_unit_id'))
        batch_op.drop_index(batch_op.f('ix_agreements_supplier_id'))

    op.drop_table('agreements')
