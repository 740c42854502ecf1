"""listing mapping by hand, channel prices and price pushes

Issue 13 (the operator console, listings 商品对应): an operator maps a platform listing to a hub
SKU by hand (``listings.mapping = 'manual'``, ``mapped_by``, ``mapped_at``; the product sync
keeps such a mapping), sets a SKU's price per shop (``channel_prices``) and pushes it through
the platform's price API (``price_pushes``, one row per price sent, keyed for idempotency).
The application role gets the new tables from ``bangfu db grant`` (every table but the ledger's
takes SELECT, INSERT, UPDATE, DELETE).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('listings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mapping', sa.String(length=8), server_default='auto', nullable=False))
        batch_op.add_column(sa.Column('mapped_by', ID, nullable=True))
        batch_op.add_column(sa.Column('mapped_at', TIME, nullable=True))
        batch_op.create_foreign_key(op.f('fk_listings_mapped_by_users'), 'users', ['mapped_by'], ['id'])
    op.create_table(
        'channel_prices',
        sa.Column('sku_id', ID, nullable=False),
        sa.Column('shop_id', ID, nullable=False),
        sa.Column('price_fen', sa.BigInteger(), nullable=False),
        sa.Column('set_by', ID, nullable=True),
        sa.Column('set_at', TIME, nullable=False),
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.CheckConstraint('price_fen > 0', name=op.f('ck_channel_prices_price_positive')),
        sa.ForeignKeyConstraint(['set_by'], ['users.id'], name=op.f('fk_channel_prices_set_by_users')),
        sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_channel_prices_shop_id_shops')),
        sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_channel_prices_sku_id_skus')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_prices')),
        sa.UniqueConstraint('sku_id', 'shop_id', name=op.f('uq_channel_prices_sku_id_shop_id')),
    )
    op.create_index(op.f('ix_channel_prices_shop_id'), 'channel_prices', ['shop_id'], unique=False)
    op.create_index(op.f('ix_channel_prices_sku_id'), 'channel_prices', ['sku_id'], unique=False)
    op.create_table(
        'price_pushes',
        sa.Column('idempotency_key', sa.String(length=96), nullable=False),
        sa.Column('shop_id', ID, nullable=False),
        sa.Column('listing_id', ID, nullable=False),
        sa.Column('price_fen', sa.BigInteger(), nullable=False),
        sa.Column('price_before_fen', sa.BigInteger(), nullable=True),
        sa.Column('platform_price_fen', sa.BigInteger(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', TIME, nullable=False),
        sa.Column('done_at', TIME, nullable=True),
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(['listing_id'], ['listings.id'], name=op.f('fk_price_pushes_listing_id_listings')),
        sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_price_pushes_shop_id_shops')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_price_pushes')),
        sa.UniqueConstraint('idempotency_key', name=op.f('uq_price_pushes_idempotency_key')),
    )
    op.create_index(op.f('ix_price_pushes_listing_id'), 'price_pushes', ['listing_id'], unique=False)
    op.create_index(op.f('ix_price_pushes_shop_id'), 'price_pushes', ['shop_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_price_pushes_shop_id'), table_name='price_pushes')
    op.drop_index(op.f('ix_price_pushes_listing_id'), table_name='price_pushes')
    op.drop_table('price_pushes')
    op.drop_index(op.f('ix_channel_prices_sku_id'), table_name='channel_prices')
    op.drop_index(op.f('ix_channel_prices_shop_id'), table_name='channel_prices')
    op.drop_table('channel_prices')
    with op.batch_alter_table('listings', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_listings_mapped_by_users'), type_='foreignkey')
        batch_op.drop_column('mapped_at')
        batch_op.drop_column('mapped_by')
        batch_op.drop_column('mapping')
