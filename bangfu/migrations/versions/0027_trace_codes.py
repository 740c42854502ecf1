"""trace codes

Every supply lot gets its public traceability code (``supply_lots.trace_code``, 128 random bits,
unique, not null; ``bangfu.trace``), and the lot its harvest date and quality inspection
(``harvested_on``, ``inspection_agency``, ``inspected_on``, ``inspection_result``, all optional).
Lots already stored get a code here, one by one.

Every live session has a campaign code (``live_sessions.campaign_code``, unique already): a
session stored without one takes the code its raw payload carries (a self-built mall's session
stored before the column was filled) when no other session has it, else a new one
(``LS`` and 80 random bits).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 22:40:00
"""

import base64
import json
import secrets
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _trace_code() -> str:
    return secrets.token_urlsafe(16)


def _campaign_code() -> str:
    return "LS" + base64.b32encode(secrets.token_bytes(10)).decode().lower()


def _raw_code(raw: Any) -> str | None:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    code = raw.get("campaign_code") if isinstance(raw, dict) else None
    return code if isinstance(code, str) and 0 < len(code) <= 64 else None


def _triggers(table: str) -> list[str]:
    """The SQLite triggers on ``table``: a batch operation that copies the table drops them, so
    they are created again after it (the line queue's triggers on supply_lots, migration 0009)."""
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return []
    rows = conn.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :table ORDER BY name"),
        {"table": table},
    )
    return [str(sql) for (sql,) in rows]


def _restore(triggers: list[str]) -> None:
    if not triggers:
        return
    conn = op.get_bind()
    present = {
        str(name) for (name,) in conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
    }
    for sql in triggers:
        name = sql.split()[2]  # CREATE TRIGGER <name> ...
        if name not in present:
            conn.execute(sa.text(sql))


def upgrade() -> None:
    triggers = _triggers("supply_lots")
    with op.batch_alter_table("supply_lots") as batch:
        batch.add_column(sa.Column("trace_code", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("harvested_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("inspection_agency", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("inspected_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("inspection_result", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    lots = sa.table("supply_lots", sa.column("id", sa.BigInteger), sa.column("trace_code", sa.String))
    ids = [row[0] for row in conn.execute(sa.select(lots.c.id).where(lots.c.trace_code.is_(None)))]
    if ids:
        conn.execute(
            lots.update().where(lots.c.id == sa.bindparam("lot_id")).values(trace_code=sa.bindparam("code")),
            [{"lot_id": i, "code": _trace_code()} for i in ids],
        )
    with op.batch_alter_table("supply_lots") as batch:
        batch.alter_column("trace_code", existing_type=sa.String(length=32), nullable=False)
        batch.create_unique_constraint("uq_supply_lots_trace_code", ["trace_code"])
    _restore(triggers)

    sessions = sa.table(
        "live_sessions",
        sa.column("id", sa.BigInteger),
        sa.column("campaign_code", sa.String),
        sa.column("raw", sa.Text),
    )
    taken = {
        row[0] for row in conn.execute(sa.select(sessions.c.campaign_code).where(sessions.c.campaign_code.isnot(None)))
    }
    changes: list[dict[str, Any]] = []
    for session_id, raw in conn.execute(
        sa.select(sessions.c.id, sessions.c.raw).where(sessions.c.campaign_code.is_(None)).order_by(sessions.c.id)
    ):
        code = _raw_code(raw)
        if code is None or code in taken:
            code = _campaign_code()
        taken.add(code)
        changes.append({"session_id": session_id, "code": code})
    if changes:
        conn.execute(
            sessions.update()
            .where(sessions.c.id == sa.bindparam("session_id"))
            .values(campaign_code=sa.bindparam("code")),
            changes,
        )


def downgrade() -> None:
    triggers = _triggers("supply_lots")
    with op.batch_alter_table("supply_lots") as batch:
        batch.drop_constraint("uq_supply_lots_trace_code", type_="unique")
        batch.drop_column("inspection_result")
        batch.drop_column("inspected_on")
        batch.drop_column("inspection_agency")
        batch.drop_column("harvested_on")
        batch.drop_column("trace_code")
    _restore(triggers)
