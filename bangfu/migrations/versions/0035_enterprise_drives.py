"""enterprise-driven households

Issue 17 (企业带动农户): ``drive_households`` are the households an enterprise supplier drives
(masked on display, the identity number only as a keyed hash, linked to the cooperative member
with the same hash), ``drive_entries`` what it paid each of them per month and mode (order
purchase, employment, land lease, dividends), ``drive_dividend_pools`` a month's dividend pool
split over the shareholding households.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = '0034'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "drive_households",
        sa.Column("enterprise_id", ID, nullable=False),
        sa.Column("household_ref", sa.String(length=32), nullable=False),
        sa.Column("head_name", sa.String(length=64), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "lifted",
                "monitored",
                "ordinary",
                name="householdcategory",
                native_enum=False,
                length=24,
                create_constraint=False,
            ),
            nullable=False,
        ),
        sa.Column("village", sa.String(length=64), nullable=False),
        sa.Column("id_number_hash", sa.String(length=64), nullable=True),
        sa.Column("household_id", ID, nullable=True),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["suppliers.id"], name=op.f("fk_drive_households_enterprise_id_suppliers")
        ),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_drive_households_household_id_households")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drive_households")),
        sa.UniqueConstraint(
            "enterprise_id", "household_ref", name=op.f("uq_drive_households_enterprise_id_household_ref")
        ),
    )
    with op.batch_alter_table("drive_households", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drive_households_enterprise_id"), ["enterprise_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_drive_households_id_number_hash"), ["id_number_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_drive_households_household_id"), ["household_id"], unique=False)
    op.create_table(
        "drive_entries",
        sa.Column("drive_household_id", ID, nullable=False),
        sa.Column("enterprise_id", ID, nullable=False),
        sa.Column(
            "mode",
            sa.Enum(
                "order_purchase",
                "employment",
                "land_lease",
                "dividend",
                name="drivemode",
                native_enum=False,
                length=24,
                create_constraint=False,
            ),
            nullable=False,
        ),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("computed", sa.Boolean(), nullable=False),
        sa.Column("quantity_g", sa.BigInteger(), nullable=True),
        sa.Column("price_fen", sa.BigInteger(), nullable=True),
        sa.Column("shares", sa.Integer(), nullable=True),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["drive_household_id"],
            ["drive_households.id"],
            name=op.f("fk_drive_entries_drive_household_id_drive_households"),
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["suppliers.id"], name=op.f("fk_drive_entries_enterprise_id_suppliers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drive_entries")),
        sa.UniqueConstraint(
            "drive_household_id", "mode", "month", name=op.f("uq_drive_entries_drive_household_id_mode_month")
        ),
    )
    with op.batch_alter_table("drive_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drive_entries_drive_household_id"), ["drive_household_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_drive_entries_enterprise_id"), ["enterprise_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_drive_entries_month"), ["month"], unique=False)
    op.create_table(
        "drive_dividend_pools",
        sa.Column("enterprise_id", ID, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("pool_fen", sa.BigInteger(), nullable=False),
        sa.Column("shares_total", sa.Integer(), nullable=False),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["suppliers.id"], name=op.f("fk_drive_dividend_pools_enterprise_id_suppliers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drive_dividend_pools")),
        sa.UniqueConstraint("enterprise_id", "month", name=op.f("uq_drive_dividend_pools_enterprise_id_month")),
    )
    with op.batch_alter_table("drive_dividend_pools", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drive_dividend_pools_enterprise_id"), ["enterprise_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("drive_dividend_pools", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drive_dividend_pools_enterprise_id"))
    op.drop_table("drive_dividend_pools")
    with op.batch_alter_table("drive_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drive_entries_month"))
        batch_op.drop_index(batch_op.f("ix_drive_entries_enterprise_id"))
        batch_op.drop_index(batch_op.f("ix_drive_entries_drive_household_id"))
    op.drop_table("drive_entries")
    with op.batch_alter_table("drive_households", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drive_households_household_id"))
        batch_op.drop_index(batch_op.f("ix_drive_households_id_number_hash"))
        batch_op.drop_index(batch_op.f("ix_drive_households_enterprise_id"))
    op.drop_table("drive_households")
