"""quarantine re-fetches

Issue 13 (the operator console): a quarantined record can be fetched again from its platform by
id (the console's re-fetch button, ``bangfu sync refetch --quarantine ID``). Each request is a
row of ``quarantine_refetches``: who asked and when, and once the task ran its outcome
(``stored``: the record parsed and was stored through the sync path, closing the quarantine
entry; ``failed``: the error class and the platform's message). The application role gets the
default privileges of ``bangfu db grant`` (a request is written queued and then finished).

Revision ID: 0024
Revises: 0019
Create Date: 2026-12-06 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "quarantine_refetches",
        sa.Column("quarantined_id", ID, nullable=False),
        sa.Column("requested_by", ID, nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error_class", sa.String(length=32), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.CheckConstraint(
            "outcome IN ('queued', 'stored', 'failed')", name=op.f("ck_quarantine_refetches_outcome_known")
        ),
        sa.ForeignKeyConstraint(
            ["quarantined_id"],
            ["quarantined_records.id"],
            name=op.f("fk_quarantine_refetches_quarantined_id_quarantined_records"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_quarantine_refetches_requested_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine_refetches")),
    )
    with op.batch_alter_table("quarantine_refetches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_quarantine_refetches_quarantined_id"), ["quarantined_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("quarantine_refetches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quarantine_refetches_quarantined_id"))
    op.drop_table("quarantine_refetches")
