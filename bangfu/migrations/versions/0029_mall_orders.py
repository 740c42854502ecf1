"""mall orders

Issue 16 (the county's own mall): ``mall_orders`` keeps what only the mall knows of a checkout
whose order is stored in ``orders`` (the buyer's contact, shown masked; the stock hold and its
expiry; the unit and staff member; the payment), ``mall_payment_events`` every payment
notification, query and refund, verified or refused. The application role gets the default
privileges of ``bangfu db grant``.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mall_orders",
        sa.Column("order_no", sa.String(length=64), nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("shop_id", ID, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("buyer_name", sa.String(length=64), nullable=False),
        sa.Column("buyer_phone", sa.String(length=32), nullable=False),
        sa.Column("buyer_address", sa.Text(), nullable=False),
        sa.Column("purchasing_unit_id", ID, nullable=True),
        sa.Column("staff_user_id", ID, nullable=True),
        sa.Column("campaign_code", sa.String(length=64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("released_at", TS, nullable=True),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_txn_id", sa.String(length=64), nullable=True),
        sa.Column("paid_at", TS, nullable=True),
        sa.Column("paid_by", sa.String(length=16), nullable=True),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_mall_orders_order_id_orders")),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_mall_orders_shop_id_shops")),
        sa.ForeignKeyConstraint(
            ["purchasing_unit_id"],
            ["purchasing_units.id"],
            name=op.f("fk_mall_orders_purchasing_unit_id_purchasing_units"),
        ),
        sa.ForeignKeyConstraint(["staff_user_id"], ["users.id"], name=op.f("fk_mall_orders_staff_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mall_orders")),
        sa.UniqueConstraint("order_no", name=op.f("uq_mall_orders_order_no")),
        sa.UniqueConstraint("order_id", name=op.f("uq_mall_orders_order_id")),
    )
    with op.batch_alter_table("mall_orders", schema=None) as batch_op:
        batch_op.create_index("ix_mall_orders_state_expiry", ["state", "expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_mall_orders_shop_id"), ["shop_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mall_orders_purchasing_unit_id"), ["purchasing_unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mall_orders_staff_user_id"), ["staff_user_id"], unique=False)
    op.create_table(
        "mall_payment_events",
        sa.Column("order_no", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mall_payment_events")),
    )
    with op.batch_alter_table("mall_payment_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mall_payment_events_order_no"), ["order_no"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mall_payment_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mall_payment_events_order_no"))
    op.drop_table("mall_payment_events")
    with op.batch_alter_table("mall_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mall_orders_staff_user_id"))
        batch_op.drop_index(batch_op.f("ix_mall_orders_purchasing_unit_id"))
        batch_op.drop_index(batch_op.f("ix_mall_orders_shop_id"))
        batch_op.drop_index("ix_mall_orders_state_expiry")
    op.drop_table("mall_orders")
