"""shipments pushed back to the platforms, delivery batches

Issue 16 (unified ordering and centralised delivery): the county ships orders (platform orders
too) and each platform is told the carrier and tracking number through its ship API. One
``shipments`` row per order: who recorded it and how, and its push state (pending -> pushed |
failed, or local where there is no platform), attempts, the last error's class and message and
the next retry time. Units' orders are delivered in batches per unit and delivery date
(``delivery_batches``, ``delivery_batch_orders``: an order in one batch at most), to the unit's
``purchasing_units.delivery_address``. The application role gets the tables from ``bangfu db grant``.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0030'
down_revision: str | None = '0029'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TIME = sa.DateTime(timezone=True)
CARRIER = sa.Enum(
    'SF', 'ZTO', 'YTO', 'STO', 'YUNDA', 'EMS', 'POSTB', 'JD', name='carrier', native_enum=False, length=24
)
STATE = sa.Enum('pending', 'pushed', 'failed', 'local', name='shipmentstate', native_enum=False, length=24)


def upgrade() -> None:
    op.create_table(
        'shipments',
        sa.Column('order_id', ID, nullable=False),
        sa.Column('shop_id', ID, nullable=False),
        sa.Column('carrier', CARRIER, nullable=False),
        sa.Column('tracking_no', sa.String(length=32), nullable=False),
        sa.Column('recorded_by', ID, nullable=True),
        sa.Column('recorded_via', sa.String(length=16), nullable=False),
        sa.Column('recorded_at', TIME, nullable=False),
        sa.Column('push_state', STATE, nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error_class', sa.String(length=16), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('next_attempt_at', TIME, nullable=True),
        sa.Column('pushed_at', TIME, nullable=True),
        sa.Column('already_on_platform', sa.Boolean(), nullable=False),
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_shipments_order_id_orders')),
        sa.ForeignKeyConstraint(['recorded_by'], ['users.id'], name=op.f('fk_shipments_recorded_by_users')),
        sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_shipments_shop_id_shops')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_shipments')),
        sa.UniqueConstraint('order_id', name=op.f('uq_shipments_order_id')),
    )
    op.create_index('ix_shipments_state_next', 'shipments', ['push_state', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_shipments_shop_id'), 'shipments', ['shop_id'], unique=False)
    with op.batch_alter_table('purchasing_units', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_address', sa.Text(), nullable=True))
    op.create_table(
        'delivery_batches',
        sa.Column('unit_id', ID, nullable=False),
        sa.Column('delivery_date', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('address', sa.Text(), nullable=True),
        sa.Column('created_at', TIME, nullable=False),
        sa.Column('shipped_at', TIME, nullable=True),
        sa.Column('shipped_by', ID, nullable=True),
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(['shipped_by'], ['users.id'], name=op.f('fk_delivery_batches_shipped_by_users')),
        sa.ForeignKeyConstraint(
            ['unit_id'], ['purchasing_units.id'], name=op.f('fk_delivery_batches_unit_id_purchasing_units')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_batches')),
        sa.UniqueConstraint('unit_id', 'delivery_date', name=op.f('uq_delivery_batches_unit_id_delivery_date')),
    )
    op.create_index(op.f('ix_delivery_batches_unit_id'), 'delivery_batches', ['unit_id'], unique=False)
    op.create_table(
        'delivery_batch_orders',
        sa.Column('batch_id', ID, nullable=False),
        sa.Column('order_id', ID, nullable=False),
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ['batch_id'], ['delivery_batches.id'], name=op.f('fk_delivery_batch_orders_batch_id_delivery_batches')
        ),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_delivery_batch_orders_order_id_orders')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_batch_orders')),
        sa.UniqueConstraint('order_id', name=op.f('uq_delivery_batch_orders_order_id')),
    )
    op.create_index(
        op.f('ix_delivery_batch_orders_batch_id'), 'delivery_batch_orders', ['batch_id'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_delivery_batch_orders_batch_id'), table_name='delivery_batch_orders')
    op.drop_table('delivery_batch_orders')
    op.drop_index(op.f('ix_delivery_batches_unit_id'), table_name='delivery_batches')
    op.drop_table('delivery_batches')
    with op.batch_alter_table('purchasing_units', schema=None) as batch_op:
        batch_op.drop_column('delivery_address')
    op.drop_index(op.f('ix_shipments_shop_id'), table_name='shipments')
    op.drop_index('ix_shipments_state_next', table_name='shipments')
    op.drop_table('shipments')
