"""webhook refund ids

An after-sale push names its refund (Douyin ``aftersale_id``, Taobao ``refund_id``): the event
keeps it, and processing pulls that refund by id after the order, so a refund reaches the ledger
without waiting for the periodic refunds stream.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 01:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("platform_refund_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_column("platform_refund_id")
