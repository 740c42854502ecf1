"""sku barcodes

A SKU may carry its GS1 barcode (``skus.barcode``: EAN-8, UPC-A, EAN-13 or ITF-14, one SKU per
barcode), set by the products import; sales files from counters' tills and vending machines name
their lines by SKU code or by barcode (``bangfu import sales``). Adding a column and an index to
a table the application role can already read and write needs no new grant.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("skus", schema=None) as batch_op:
        batch_op.add_column(sa.Column("barcode", sa.String(length=14), nullable=True))
        batch_op.create_index("ix_skus_barcode", ["barcode"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("skus", schema=None) as batch_op:
        batch_op.drop_index("ix_skus_barcode")
        batch_op.drop_column("barcode")
