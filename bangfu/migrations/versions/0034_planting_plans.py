"""order planting: imported sell-through history and purchase contracts

Issue 17 (订单种植): a county imports past seasons' sell-through per product, season and channel
(``planting_history``: an imported cell stands in for the hub's own figure of that cell), and a
cooperative accepts its suggested supply plan of a product for a season as a purchase contract at
a guaranteed price (``planting_contracts``: one per cooperative, product and season). The
application role gets the tables from ``bangfu db grant``.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = '0033'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "planting_history",
        sa.Column("product_id", ID, nullable=False),
        sa.Column("season", sa.String(length=7), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("imported_at", TIME, nullable=False),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.CheckConstraint("units >= 0", name=op.f("ck_planting_history_units_not_negative")),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_planting_history_product_id_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planting_history")),
        sa.UniqueConstraint(
            "product_id", "season", "channel", name=op.f("uq_planting_history_product_id_season_channel")
        ),
    )
    op.create_index(op.f("ix_planting_history_product_id"), "planting_history", ["product_id"], unique=False)
    op.create_table(
        "planting_contracts",
        sa.Column("cooperative_id", ID, nullable=False),
        sa.Column("product_id", ID, nullable=False),
        sa.Column("season", sa.String(length=7), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("forecast_units", sa.Integer(), nullable=False),
        sa.Column("forecast_model", sa.String(length=24), nullable=False),
        sa.Column("accepted_by", ID, nullable=True),
        sa.Column("accepted_at", TIME, nullable=False),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_planting_contracts_quantity_positive")),
        sa.CheckConstraint("price_fen > 0", name=op.f("ck_planting_contracts_price_positive")),
        sa.ForeignKeyConstraint(
            ["cooperative_id"], ["cooperatives.id"], name=op.f("fk_planting_contracts_cooperative_id_cooperatives")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_planting_contracts_product_id_products")
        ),
        sa.ForeignKeyConstraint(["accepted_by"], ["users.id"], name=op.f("fk_planting_contracts_accepted_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planting_contracts")),
        sa.UniqueConstraint(
            "cooperative_id",
            "product_id",
            "season",
            name=op.f("uq_planting_contracts_cooperative_id_product_id_season"),
        ),
    )
    op.create_index(
        op.f("ix_planting_contracts_cooperative_id"), "planting_contracts", ["cooperative_id"], unique=False
    )
    op.create_index(op.f("ix_planting_contracts_product_id"), "planting_contracts", ["product_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_planting_contracts_product_id"), table_name="planting_contracts")
    op.drop_index(op.f("ix_planting_contracts_cooperative_id"), table_name="planting_contracts")
    op.drop_table("planting_contracts")
    op.drop_index(op.f("ix_planting_history_product_id"), table_name="planting_history")
    op.drop_table("planting_history")
