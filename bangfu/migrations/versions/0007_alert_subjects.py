"""alert subjects

An alert names what it is about in its own column, ``subject`` (e.g. ``lot:12``), instead of a
``[lot:12]`` prefix in its message: one open alert per (kind, subject) is found by index, and the
message is only text for people. Existing unsold alerts get their subject from the prefix, and
lose the prefix.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 01:00:00
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PREFIX = re.compile(r"^\[lot:(\d+)\] ?")
_ALERTS = sa.table(
    "alerts",
    sa.column("id", sa.BigInteger()),
    sa.column("kind", sa.String()),
    sa.column("subject", sa.String()),
    sa.column("message", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_alerts_subject", ["kind", "subject"], unique=False)
    bind = op.get_bind()
    rows = bind.execute(sa.select(_ALERTS.c.id, _ALERTS.c.message).where(_ALERTS.c.kind == "unsold")).all()
    for alert_id, message in rows:
        match = _PREFIX.match(message)
        if match:
            bind.execute(
                _ALERTS.update()
                .where(_ALERTS.c.id == alert_id)
                .values(subject=f"lot:{match.group(1)}", message=message[match.end() :])
            )


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_ALERTS.c.id, _ALERTS.c.subject, _ALERTS.c.message).where(
            _ALERTS.c.kind == "unsold", _ALERTS.c.subject.like("lot:%")
        )
    ).all()
    for alert_id, subject, message in rows:
        bind.execute(_ALERTS.update().where(_ALERTS.c.id == alert_id).values(message=f"[{subject}] {message}"))
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_subject")
        batch_op.drop_column("subject")
