"""stock, lot allocations and webhook events

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 19:15:33.234282
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('webhook_events',
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('event_key', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('platform_order_id', sa.String(length=64), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_webhook_events_shop_id_shops')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_events')),
    sa.UniqueConstraint('platform', 'event_key', name=op.f('uq_webhook_events_platform_event_key'))
    )
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_events_shop_id'), ['shop_id'], unique=False)

    op.create_table('stock_reservations',
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sku_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('live_session_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_stock_reservations_quantity_positive')),
    sa.ForeignKeyConstraint(['live_session_id'], ['live_sessions.id'], name=op.f('fk_stock_reservations_live_session_id_live_sessions')),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_stock_reservations_shop_id_shops')),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_stock_reservations_sku_id_skus')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_reservations'))
    )
    with op.batch_alter_table('stock_reservations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_reservations_shop_id'), ['shop_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_reservations_sku_id'), ['sku_id'], unique=False)

    op.create_table('stock_rules',
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sku_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('share_bp', sa.Integer(), nullable=False),
    sa.Column('floor', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.CheckConstraint('floor >= 0', name=op.f('ck_stock_rules_floor_not_negative')),
    sa.CheckConstraint('share_bp >= 0 AND share_bp <= 10000', name=op.f('ck_stock_rules_share_in_range')),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_stock_rules_shop_id_shops')),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_stock_rules_sku_id_skus')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_rules')),
    sa.UniqueConstraint('shop_id', 'sku_id', name=op.f('uq_stock_rules_shop_id_sku_id'))
    )
    with op.batch_alter_table('stock_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_rules_shop_id'), ['shop_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_rules_sku_id'), ['sku_id'], unique=False)

    op.create_table('stock_pushes',
    sa.Column('idempotency_key', sa.String(length=96), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('listing_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('allocated_before', sa.Integer(), nullable=False),
    sa.Column('allocated_after', sa.Integer(), nullable=False),
    sa.Column('delta', sa.Integer(), nullable=False),
    sa.Column('platform_stock_after', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['listing_id'], ['listings.id'], name=op.f('fk_stock_pushes_listing_id_listings')),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_stock_pushes_shop_id_shops')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_pushes')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_stock_pushes_idempotency_key'))
    )
    with op.batch_alter_table('stock_pushes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_pushes_listing_id'), ['listing_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_pushes_shop_id'), ['shop_id'], unique=False)

    op.create_table('lot_allocations',
    sa.Column('source_key', sa.String(length=128), nullable=False),
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lot_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.CheckConstraint('quantity <> 0', name=op.f('ck_lot_allocations_quantity_nonzero')),
    sa.ForeignKeyConstraint(['lot_id'], ['supply_lots.id'], name=op.f('fk_lot_allocations_lot_id_supply_lots')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_lot_allocations_order_line_id_order_lines')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lot_allocations')),
    sa.UniqueConstraint('source_key', name=op.f('uq_lot_allocations_source_key'))
    )
    with op.batch_alter_table('lot_allocations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lot_allocations_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lot_allocations_order_line_id'), ['order_line_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('lot_allocations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lot_allocations_order_line_id'))
        batch_op.drop_index(batch_op.f('ix_lot_allocations_lot_id'))

    op.drop_table('lot_allocations')
    with op.batch_alter_table('stock_pushes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_pushes_shop_id'))
        batch_op.drop_index(batch_op.f('ix_stock_pushes_listing_id'))

    op.drop_table('stock_pushes')
    with op.batch_alter_table('stock_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_rules_sku_id'))
        batch_op.drop_index(batch_op.f('ix_stock_rules_shop_id'))

    op.drop_table('stock_rules')
    with op.batch_alter_table('stock_reservations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_reservations_sku_id'))
        batch_op.drop_index(batch_op.f('ix_stock_reservations_shop_id'))

    op.drop_table('stock_reservations')
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_events_shop_id'))

    op.drop_table('webhook_events')
