"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 18:40:37.005300
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('hosts',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.Enum('official', 'influencer', 'staff', name='hostkind', native_enum=False, length=24), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('author_id', sa.String(length=64), nullable=False),
    sa.Column('commission_bp', sa.Integer(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hosts')),
    sa.UniqueConstraint('platform', 'author_id', name=op.f('uq_hosts_platform_author_id'))
    )
    op.create_table('journals',
    sa.Column('uid', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.Enum('sale', 'refund', 'settlement', 'true_up', 'surplus', 'adjustment', name='journalkind', native_enum=False, length=24), nullable=False),
    sa.Column('source_event', sa.String(length=160), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('memo', sa.Text(), nullable=True),
    sa.Column('reverses_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['reverses_id'], ['journals.id'], name=op.f('fk_journals_reverses_id_journals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_journals')),
    sa.UniqueConstraint('uid', name=op.f('uq_journals_uid'))
    )
    with op.batch_alter_table('journals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_journals_occurred_at'), ['occurred_at'], unique=False)

    op.create_table('ledger_accounts',
    sa.Column('code', sa.String(length=96), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.Enum('asset', 'liability', 'income', 'expense', 'equity', name='accountkind', native_enum=False, length=24), nullable=False),
    sa.Column('owner_type', sa.String(length=24), nullable=True),
    sa.Column('owner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_accounts')),
    sa.UniqueConstraint('code', name=op.f('uq_ledger_accounts_code'))
    )
    op.create_table('regions',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('parent_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('assisted', sa.Boolean(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['regions.id'], name=op.f('fk_regions_parent_id_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_regions')),
    sa.UniqueConstraint('code', name=op.f('uq_regions_code'))
    )
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_regions_parent_id'), ['parent_id'], unique=False)

    op.create_table('reserved_share_rules',
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('share_bp', sa.Integer(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reserved_share_rules')),
    sa.UniqueConstraint('region_code', 'year', name=op.f('uq_reserved_share_rules_region_code_year'))
    )
    op.create_table('postings',
    sa.Column('journal_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.CheckConstraint('amount_fen <> 0', name=op.f('ck_postings_nonzero')),
    sa.ForeignKeyConstraint(['account_id'], ['ledger_accounts.id'], name=op.f('fk_postings_account_id_ledger_accounts')),
    sa.ForeignKeyConstraint(['journal_id'], ['journals.id'], name=op.f('fk_postings_journal_id_journals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_postings')),
    sa.UniqueConstraint('journal_id', 'account_id', name=op.f('uq_postings_journal_id_account_id'))
    )
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_postings_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_postings_journal_id'), ['journal_id'], unique=False)

    op.create_table('purchasing_units',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('unit_type', sa.Enum('government', 'hospital', 'school', 'union', 'company', 'canteen', 'other', name='unittype', native_enum=False, length=24), nullable=False),
    sa.Column('region_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('parent_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('staff_count', sa.Integer(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['purchasing_units.id'], name=op.f('fk_purchasing_units_parent_id_purchasing_units')),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_purchasing_units_region_id_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchasing_units')),
    sa.UniqueConstraint('code', name=op.f('uq_purchasing_units_code'))
    )
    with op.batch_alter_table('purchasing_units', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purchasing_units_region_id'), ['region_id'], unique=False)

    op.create_table('shops',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('platform', sa.Enum('taobao', 'tmall', 'jd', 'douyin', 'kuaishou', 'youzan', 'selfmall', 'counter', 'vending', 'community', 'fair', name='platformkind', native_enum=False, length=24), nullable=False),
    sa.Column('channel_type', sa.Enum('ecommerce', 'live', 'selfmall', '832', 'canteen', 'union', 'counter', name='channeltype', native_enum=False, length=24), nullable=False),
    sa.Column('platform_shop_id', sa.String(length=64), nullable=False),
    sa.Column('base_url', sa.String(length=255), nullable=True),
    sa.Column('credentials_ref', sa.String(length=128), nullable=True),
    sa.Column('county_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('settings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['county_id'], ['regions.id'], name=op.f('fk_shops_county_id_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shops')),
    sa.UniqueConstraint('platform', 'platform_shop_id', name=op.f('uq_shops_platform_platform_shop_id'))
    )
    op.create_table('suppliers',
    sa.Column('credit_code', sa.String(length=18), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.Enum('cooperative', 'enterprise', name='supplierkind', native_enum=False, length=24), nullable=False),
    sa.Column('county_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('contact_name', sa.String(length=64), nullable=True),
    sa.Column('contact_phone_masked', sa.String(length=20), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['county_id'], ['regions.id'], name=op.f('fk_suppliers_county_id_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suppliers')),
    sa.UniqueConstraint('credit_code', name=op.f('uq_suppliers_credit_code'))
    )
    with op.batch_alter_table('suppliers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suppliers_county_id'), ['county_id'], unique=False)

    op.create_table('cooperatives',
    sa.Column('supplier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('registered_on', sa.Date(), nullable=True),
    sa.Column('village_collective', sa.String(length=128), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_cooperatives_supplier_id_suppliers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cooperatives')),
    sa.UniqueConstraint('supplier_id', name=op.f('uq_cooperatives_supplier_id'))
    )
    op.create_table('live_sessions',
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('room_id', sa.String(length=64), nullable=False),
    sa.Column('host_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('title', sa.String(length=255), nullable=True),
    sa.Column('campaign_code', sa.String(length=64), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('views', sa.Integer(), nullable=False),
    sa.Column('unique_viewers', sa.Integer(), nullable=False),
    sa.Column('peak_online', sa.Integer(), nullable=False),
    sa.Column('total_watch_seconds', sa.Integer(), nullable=False),
    sa.Column('ad_spend_fen', sa.BigInteger(), nullable=False),
    sa.Column('modified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['host_id'], ['hosts.id'], name=op.f('fk_live_sessions_host_id_hosts')),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_live_sessions_shop_id_shops')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_live_sessions')),
    sa.UniqueConstraint('campaign_code', name=op.f('uq_live_sessions_campaign_code')),
    sa.UniqueConstraint('shop_id', 'room_id', name=op.f('uq_live_sessions_shop_id_room_id'))
    )
    with op.batch_alter_table('live_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_sessions_host_id'), ['host_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_live_sessions_shop_id'), ['shop_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_live_sessions_started_at'), ['started_at'], unique=False)

    op.create_table('orders',
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('platform_order_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Enum('pending_payment', 'cancelled', 'paid', 'part_shipped', 'shipped', 'delivered', 'completed', 'closed', name='orderstatus', native_enum=False, length=24), nullable=False),
    sa.Column('platform_status', sa.String(length=48), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('modified_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_fen', sa.BigInteger(), nullable=False),
    sa.Column('post_fee_fen', sa.BigInteger(), nullable=False),
    sa.Column('discount_fen', sa.BigInteger(), nullable=False),
    sa.Column('buyer_ref', sa.String(length=64), nullable=True),
    sa.Column('purchasing_unit_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('room_id', sa.String(length=64), nullable=True),
    sa.Column('author_id', sa.String(length=64), nullable=True),
    sa.Column('campaign_code', sa.String(length=64), nullable=True),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('synced_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['purchasing_unit_id'], ['purchasing_units.id'], name=op.f('fk_orders_purchasing_unit_id_purchasing_units')),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_orders_shop_id_shops')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('shop_id', 'platform_order_id', name=op.f('uq_orders_shop_id_platform_order_id'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_purchasing_unit_id'), ['purchasing_unit_id'], unique=False)
        batch_op.create_index('ix_orders_shop_modified', ['shop_id', 'modified_at'], unique=False)

    op.create_table('products',
    sa.Column('spu_code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('supplier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('origin_county_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('selling_points', sa.Text(), nullable=True),
    sa.Column('selection_evaluation', sa.Text(), nullable=True),
    sa.Column('perishable', sa.Boolean(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['origin_county_id'], ['regions.id'], name=op.f('fk_products_origin_county_id_regions')),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_products_supplier_id_suppliers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('spu_code', name=op.f('uq_products_spu_code'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_products_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_products_supplier_id'), ['supplier_id'], unique=False)

    op.create_table('quarantined_records',
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('stream', sa.Enum('orders', 'refunds', 'products', 'settlements', 'live_sessions', name='syncstream', native_enum=False, length=24), nullable=False),
    sa.Column('platform_id', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_quarantined_records_shop_id_shops')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantined_records'))
    )
    with op.batch_alter_table('quarantined_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantined_records_shop_id'), ['shop_id'], unique=False)

    op.create_table('settlement_lines',
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('platform_bill_id', sa.String(length=64), nullable=False),
    sa.Column('platform_order_id', sa.String(length=64), nullable=True),
    sa.Column('platform_line_id', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.Enum('sale', 'refund', 'platform_fee', 'host_commission', 'payment_fee', 'logistics', 'subsidy', 'other', name='settlementkind', native_enum=False, length=24), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_settlement_lines_shop_id_shops')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_lines')),
    sa.UniqueConstraint('shop_id', 'platform_bill_id', name=op.f('uq_settlement_lines_shop_id_platform_bill_id'))
    )
    with op.batch_alter_table('settlement_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settlement_lines_platform_order_id'), ['platform_order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_settlement_lines_settled_at'), ['settled_at'], unique=False)

    op.create_table('sync_cursors',
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('stream', sa.Enum('orders', 'refunds', 'products', 'settlements', 'live_sessions', name='syncstream', native_enum=False, length=24), nullable=False),
    sa.Column('watermark', sa.DateTime(timezone=True), nullable=True),
    sa.Column('token', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_sync_cursors_shop_id_shops')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_cursors')),
    sa.UniqueConstraint('shop_id', 'stream', name=op.f('uq_sync_cursors_shop_id_stream'))
    )
    op.create_table('sync_runs',
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('stream', sa.Enum('orders', 'refunds', 'products', 'settlements', 'live_sessions', name='syncstream', native_enum=False, length=24), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('windows_done', sa.Integer(), nullable=False),
    sa.Column('rows_new', sa.Integer(), nullable=False),
    sa.Column('rows_changed', sa.Integer(), nullable=False),
    sa.Column('rows_unchanged', sa.Integer(), nullable=False),
    sa.Column('duplicates_suppressed', sa.Integer(), nullable=False),
    sa.Column('quarantined', sa.Integer(), nullable=False),
    sa.Column('errors', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('lag_seconds', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_sync_runs_shop_id_shops')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_runs'))
    )
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_runs_shop_id'), ['shop_id'], unique=False)

    op.create_table('unit_targets',
    sa.Column('unit_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('target_fen', sa.BigInteger(), nullable=False),
    sa.Column('canteen_budget_fen', sa.BigInteger(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['purchasing_units.id'], name=op.f('fk_unit_targets_unit_id_purchasing_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_targets')),
    sa.UniqueConstraint('unit_id', 'year', name=op.f('uq_unit_targets_unit_id_year'))
    )
    op.create_table('certifications',
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('body', sa.String(length=128), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('county_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('valid', 'expired', 'revoked', name='certificationstatus', native_enum=False, length=24), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['county_id'], ['regions.id'], name=op.f('fk_certifications_county_id_regions')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_certifications_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certifications')),
    sa.UniqueConstraint('body', 'number', 'product_id', name=op.f('uq_certifications_body_number_product_id'))
    )
    with op.batch_alter_table('certifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certifications_product_id'), ['product_id'], unique=False)

    op.create_table('households',
    sa.Column('cooperative_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_no', sa.String(length=32), nullable=False),
    sa.Column('head_name', sa.String(length=64), nullable=False),
    sa.Column('category', sa.Enum('lifted', 'monitored', 'ordinary', name='householdcategory', native_enum=False, length=24), nullable=False),
    sa.Column('village', sa.String(length=64), nullable=False),
    sa.Column('id_number_hash', sa.String(length=64), nullable=True),
    sa.Column('phone_masked', sa.String(length=20), nullable=True),
    sa.Column('members', sa.Integer(), nullable=False),
    sa.Column('joined_on', sa.Date(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id'], name=op.f('fk_households_cooperative_id_cooperatives')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_households')),
    sa.UniqueConstraint('cooperative_id', 'member_no', name=op.f('uq_households_cooperative_id_member_no'))
    )
    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_households_cooperative_id'), ['cooperative_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_households_id_number_hash'), ['id_number_hash'], unique=False)

    op.create_table('live_minute_stats',
    sa.Column('session_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('minute_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('online', sa.Integer(), nullable=False),
    sa.Column('views', sa.Integer(), nullable=False),
    sa.Column('new_buyers', sa.Integer(), nullable=False),
    sa.Column('gmv_fen', sa.BigInteger(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['live_sessions.id'], name=op.f('fk_live_minute_stats_session_id_live_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_live_minute_stats')),
    sa.UniqueConstraint('session_id', 'minute_at', name=op.f('uq_live_minute_stats_session_id_minute_at'))
    )
    with op.batch_alter_table('live_minute_stats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_minute_stats_session_id'), ['session_id'], unique=False)

    op.create_table('skus',
    sa.Column('sku_code', sa.String(length=40), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('spec', sa.String(length=64), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('retail_price_fen', sa.BigInteger(), nullable=False),
    sa.Column('promo_price_fen', sa.BigInteger(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_skus_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_skus')),
    sa.UniqueConstraint('sku_code', name=op.f('uq_skus_sku_code'))
    )
    with op.batch_alter_table('skus', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_skus_product_id'), ['product_id'], unique=False)

    op.create_table('split_policies',
    sa.Column('cooperative_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('patronage_return_bp', sa.Integer(), nullable=False),
    sa.Column('rules', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.CheckConstraint('patronage_return_bp >= 6000 AND patronage_return_bp <= 10000', name=op.f('ck_split_policies_patronage_return_at_least_60pct')),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id'], name=op.f('fk_split_policies_cooperative_id_cooperatives')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_split_policies')),
    sa.UniqueConstraint('cooperative_id', 'version', name=op.f('uq_split_policies_cooperative_id_version'))
    )
    with op.batch_alter_table('split_policies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_split_policies_cooperative_id'), ['cooperative_id'], unique=False)

    op.create_table('explanation_windows',
    sa.Column('session_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('platform_item_id', sa.String(length=64), nullable=False),
    sa.Column('platform_sku_id', sa.String(length=64), nullable=True),
    sa.Column('sku_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['live_sessions.id'], name=op.f('fk_explanation_windows_session_id_live_sessions')),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_explanation_windows_sku_id_skus')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_explanation_windows')),
    sa.UniqueConstraint('session_id', 'platform_item_id', 'started_at', name=op.f('uq_explanation_windows_session_id_platform_item_id_started_at'))
    )
    with op.batch_alter_table('explanation_windows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_explanation_windows_session_id'), ['session_id'], unique=False)

    op.create_table('listings',
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sku_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('platform_item_id', sa.String(length=64), nullable=False),
    sa.Column('platform_sku_id', sa.String(length=64), nullable=False),
    sa.Column('outer_id', sa.String(length=64), nullable=True),
    sa.Column('title', sa.String(length=255), nullable=True),
    sa.Column('price_fen', sa.BigInteger(), nullable=True),
    sa.Column('platform_stock', sa.Integer(), nullable=True),
    sa.Column('allocated_stock', sa.Integer(), nullable=False),
    sa.Column('on_sale', sa.Boolean(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_listings_shop_id_shops')),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_listings_sku_id_skus')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_listings')),
    sa.UniqueConstraint('shop_id', 'platform_item_id', 'platform_sku_id', name=op.f('uq_listings_shop_id_platform_item_id_platform_sku_id'))
    )
    with op.batch_alter_table('listings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_listings_shop_id'), ['shop_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_listings_sku_id'), ['sku_id'], unique=False)

    op.create_table('member_accounts',
    sa.Column('household_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('capital_fen', sa.BigInteger(), nullable=False),
    sa.Column('reserve_share_fen', sa.BigInteger(), nullable=False),
    sa.Column('subsidy_share_fen', sa.BigInteger(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_member_accounts_household_id_households')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_accounts')),
    sa.UniqueConstraint('household_id', name=op.f('uq_member_accounts_household_id'))
    )
    op.create_table('supply_lots',
    sa.Column('lot_code', sa.String(length=40), nullable=False),
    sa.Column('sku_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('cooperative_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('supplier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('remaining', sa.Integer(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(cooperative_id IS NOT NULL) OR (supplier_id IS NOT NULL)', name=op.f('ck_supply_lots_has_receiver')),
    sa.CheckConstraint('remaining >= 0 AND remaining <= quantity', name=op.f('ck_supply_lots_remaining_within_quantity')),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id'], name=op.f('fk_supply_lots_cooperative_id_cooperatives')),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_supply_lots_sku_id_skus')),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_supply_lots_supplier_id_suppliers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supply_lots')),
    sa.UniqueConstraint('lot_code', name=op.f('uq_supply_lots_lot_code'))
    )
    with op.batch_alter_table('supply_lots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supply_lots_cooperative_id'), ['cooperative_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_supply_lots_received_on'), ['received_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_supply_lots_sku_id'), ['sku_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_supply_lots_supplier_id'), ['supplier_id'], unique=False)

    op.create_table('lot_contributions',
    sa.Column('lot_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('household_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('grade', sa.String(length=8), nullable=False),
    sa.Column('guaranteed_price_fen', sa.BigInteger(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_lot_contributions_quantity_positive')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_lot_contributions_household_id_households')),
    sa.ForeignKeyConstraint(['lot_id'], ['supply_lots.id'], name=op.f('fk_lot_contributions_lot_id_supply_lots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lot_contributions')),
    sa.UniqueConstraint('lot_id', 'household_id', name=op.f('uq_lot_contributions_lot_id_household_id'))
    )
    with op.batch_alter_table('lot_contributions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lot_contributions_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lot_contributions_lot_id'), ['lot_id'], unique=False)

    op.create_table('order_lines',
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('platform_line_id', sa.String(length=64), nullable=False),
    sa.Column('listing_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('sku_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('platform_item_id', sa.String(length=64), nullable=False),
    sa.Column('platform_sku_id', sa.String(length=64), nullable=True),
    sa.Column('outer_sku_id', sa.String(length=64), nullable=True),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price_fen', sa.BigInteger(), nullable=False),
    sa.Column('paid_fen', sa.BigInteger(), nullable=False),
    sa.Column('refund_state', sa.Enum('none', 'in_progress', 'partial', 'full', name='linerefundstate', native_enum=False, length=24), nullable=False),
    sa.Column('room_id', sa.String(length=64), nullable=True),
    sa.Column('author_id', sa.String(length=64), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['listing_id'], ['listings.id'], name=op.f('fk_order_lines_listing_id_listings')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_lines_order_id_orders')),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_order_lines_shop_id_shops')),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_order_lines_sku_id_skus')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_lines')),
    sa.UniqueConstraint('shop_id', 'platform_line_id', name=op.f('uq_order_lines_shop_id_platform_line_id'))
    )
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_lines_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_order_lines_sku_id'), ['sku_id'], unique=False)

    op.create_table('refunds',
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('platform_refund_id', sa.String(length=64), nullable=False),
    sa.Column('platform_order_id', sa.String(length=64), nullable=False),
    sa.Column('platform_line_id', sa.String(length=64), nullable=True),
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('status', sa.Enum('requested', 'awaiting_return', 'awaiting_confirm', 'refused', 'succeeded', 'closed', name='refundstatus', native_enum=False, length=24), nullable=False),
    sa.Column('platform_status', sa.String(length=48), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=True),
    sa.Column('with_return', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('modified_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_refunds_order_line_id_order_lines')),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_refunds_shop_id_shops')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds')),
    sa.UniqueConstraint('shop_id', 'platform_refund_id', name=op.f('uq_refunds_shop_id_platform_refund_id'))
    )
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refunds_order_line_id'), ['order_line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refunds_platform_order_id'), ['platform_order_id'], unique=False)
        batch_op.create_index('ix_refunds_shop_modified', ['shop_id', 'modified_at'], unique=False)
    _create_ledger_guards()


_PG_GUARDS = (
    """
    CREATE FUNCTION bangfu_journal_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        jid bigint;
        total numeric;
        legs integer;
    BEGIN
        IF TG_TABLE_NAME = 'journals' THEN
            jid := NEW.id;
        ELSE
            jid := NEW.journal_id;
        END IF;
        SELECT coalesce(sum(amount_fen), 0), count(*) INTO total, legs
          FROM postings WHERE journal_id = jid;
        IF legs < 2 OR total <> 0 THEN
            RAISE EXCEPTION 'journal % is unbalanced: % legs summing to % fen', jid, legs, total
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE CONSTRAINT TRIGGER journals_balanced AFTER INSERT ON journals
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bangfu_journal_balanced()
    """,
    """
    CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bangfu_journal_balanced()
    """,
    """
    CREATE FUNCTION bangfu_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END $$
    """,
    """
    CREATE TRIGGER journals_append_only BEFORE UPDATE OR DELETE ON journals
        FOR EACH ROW EXECUTE FUNCTION bangfu_append_only()
    """,
    """
    CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
        FOR EACH ROW EXECUTE FUNCTION bangfu_append_only()
    """,
)


def _create_ledger_guards() -> None:
    """Balanced journals and an append-only ledger, enforced by the database itself.

    PostgreSQL checks balance at commit (deferred constraint triggers, as django-hordak does);
    SQLite cannot defer, so the ledger store checks balance in the same transaction, and
    triggers here still refuse any UPDATE or DELETE of journals and postings.
    """
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_GUARDS:
            op.execute(statement)
        return
    for table in ("journals", "postings"):
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: {action} on {table} refused'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS journals_balanced ON journals")
        op.execute("DROP TRIGGER IF EXISTS postings_balanced ON postings")
        op.execute("DROP TRIGGER IF EXISTS journals_append_only ON journals")
        op.execute("DROP TRIGGER IF EXISTS postings_append_only ON postings")
        op.execute("DROP FUNCTION IF EXISTS bangfu_journal_balanced()")
        op.execute("DROP FUNCTION IF EXISTS bangfu_append_only()")
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index('ix_refunds_shop_modified')
        batch_op.drop_index(batch_op.f('ix_refunds_platform_order_id'))
        batch_op.drop_index(batch_op.f('ix_refunds_order_line_id'))

    op.drop_table('refunds')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_lines_sku_id'))
        batch_op.drop_index(batch_op.f('ix_order_lines_order_id'))

    op.drop_table('order_lines')
    with op.batch_alter_table('lot_contributions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lot_contributions_lot_id'))
        batch_op.drop_index(batch_op.f('ix_lot_contributions_household_id'))

    op.drop_table('lot_contributions')
    with op.batch_alter_table('supply_lots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supply_lots_supplier_id'))
        batch_op.drop_index(batch_op.f('ix_supply_lots_sku_id'))
        batch_op.drop_index(batch_op.f('ix_supply_lots_received_on'))
        batch_op.drop_index(batch_op.f('ix_supply_lots_cooperative_id'))

    op.drop_table('supply_lots')
    op.drop_table('member_accounts')
    with op.batch_alter_table('listings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_listings_sku_id'))
        batch_op.drop_index(batch_op.f('ix_listings_shop_id'))

    op.drop_table('listings')
    with op.batch_alter_table('explanation_windows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_explanation_windows_session_id'))

    op.drop_table('explanation_windows')
    with op.batch_alter_table('split_policies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_split_policies_cooperative_id'))

    op.drop_table('split_policies')
    with op.batch_alter_table('skus', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_skus_product_id'))

    op.drop_table('skus')
    with op.batch_alter_table('live_minute_stats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_minute_stats_session_id'))

    op.drop_table('live_minute_stats')
    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_households_id_number_hash'))
        batch_op.drop_index(batch_op.f('ix_households_cooperative_id'))

    op.drop_table('households')
    with op.batch_alter_table('certifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certifications_product_id'))

    op.drop_table('certifications')
    op.drop_table('unit_targets')
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_runs_shop_id'))

    op.drop_table('sync_runs')
    op.drop_table('sync_cursors')
    with op.batch_alter_table('settlement_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_settlement_lines_settled_at'))
        batch_op.drop_index(batch_op.f('ix_settlement_lines_platform_order_id'))

    op.drop_table('settlement_lines')
    with op.batch_alter_table('quarantined_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantined_records_shop_id'))

    op.drop_table('quarantined_records')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_products_supplier_id'))
        batch_op.drop_index(batch_op.f('ix_products_category'))

    op.drop_table('products')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_shop_modified')
        batch_op.drop_index(batch_op.f('ix_orders_purchasing_unit_id'))
        batch_op.drop_index(batch_op.f('ix_orders_created_at'))

    op.drop_table('orders')
    with op.batch_alter_table('live_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_sessions_started_at'))
        batch_op.drop_index(batch_op.f('ix_live_sessions_shop_id'))
        batch_op.drop_index(batch_op.f('ix_live_sessions_host_id'))

    op.drop_table('live_sessions')
    op.drop_table('cooperatives')
    with op.batch_alter_table('suppliers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_suppliers_county_id'))

    op.drop_table('suppliers')
    op.drop_table('shops')
    with op.batch_alter_table('purchasing_units', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purchasing_units_region_id'))

    op.drop_table('purchasing_units')
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_postings_journal_id'))
        batch_op.drop_index(batch_op.f('ix_postings_account_id'))

    op.drop_table('postings')
    op.drop_table('reserved_share_rules')
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_regions_parent_id'))

    op.drop_table('regions')
    op.drop_table('ledger_accounts')
    with op.batch_alter_table('journals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_journals_occurred_at'))

    op.drop_table('journals')
    op.drop_table('hosts')
