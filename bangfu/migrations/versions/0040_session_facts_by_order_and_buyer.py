"""session summaries moved by what a refresh changed; the session page's products from the facts

**The refresh.** ``bangfu.session_summaries.refresh`` rewrote each marked session's row from all
its ``session_line_facts`` rows (sums and seven distinct counts). The store's sessions grow with
it: at 1,000,000 lines the bench's 60 live sessions hold about 16,700 lines each, and every
pipeline pass marks nearly all of them, so each refresh aggregated the whole table (0.4 s for 10
sessions of 37,000 rows on a loaded machine). A refresh now moves a session's row by what it
changed: the sums by the rewritten rows' difference, the distinct orders and buyers by counting
only the orders and buyers the rewritten rows name, before and after, over their rows, which two
new indexes find.

**The session page's products.** Its per-product table grouped the session's lines joined with
their orders, SKUs and products (0.3 s for a session of 5,500 lines). The facts now carry the
line's SKU (``sku_id``, filled here from the lines), and the triggers of 0025/0037 on
``order_lines`` also mark a line whose SKU or title changes, so the table is grouped from the
facts of an unmarked session, the product joined by SKU at read time (a SKU's product or a
product's name needs no marker).

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

SKU_BACKFILL = (
    "UPDATE session_line_facts SET sku_id = "
    "(SELECT l.sku_id FROM order_lines AS l WHERE l.id = session_line_facts.order_line_id)"
)

_MARK = "INSERT INTO session_summary_dirty (session_id, order_line_id)"


def _pg(watched: Sequence[str]) -> str:
    changed = " OR ".join(f"n.{c} IS DISTINCT FROM o.{c}" for c in watched)
    return f"""
    CREATE OR REPLACE FUNCTION bangfu_order_lines_summary_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {_MARK} SELECT DISTINCT x.session_id, x.line_id FROM (
            SELECT a.session_id, a.order_line_id AS line_id FROM line_attributions a
              JOIN n_rows n ON a.order_line_id = n.id JOIN o_rows o ON o.id = n.id
             WHERE {changed}) x
         WHERE x.session_id IS NOT NULL ORDER BY 1, 2;
        RETURN NULL;
    END $$
    """


def _sqlite(watched: Sequence[str]) -> list[str]:
    changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in watched)
    return [
        "DROP TRIGGER order_lines_summary_update",
        f"CREATE TRIGGER order_lines_summary_update AFTER UPDATE OF {', '.join(watched)} ON order_lines "
        f"WHEN {changed} BEGIN {_MARK} SELECT DISTINCT x.session_id, x.line_id FROM "
        "(SELECT a.session_id, a.order_line_id AS line_id FROM line_attributions AS a "
        "WHERE a.order_line_id = NEW.id) AS x WHERE x.session_id IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM session_summary_dirty AS d WHERE d.session_id = x.session_id "
        "AND d.order_line_id = x.line_id); END",
    ]


_BEFORE = ("paid_fen", "quantity", "order_id")
_AFTER = (*_BEFORE, "sku_id", "title")


def _trigger(watched: Sequence[str]) -> list[str]:
    return [_pg(watched)] if op.get_bind().dialect.name == "postgresql" else _sqlite(watched)


def upgrade() -> None:
    op.create_index("ix_session_line_facts_order_id", "session_line_facts", ["order_id"])
    op.create_index("ix_session_line_facts_buyer_ref", "session_line_facts", ["buyer_ref"])
    op.add_column("session_line_facts", sa.Column("sku_id", ID, nullable=True))
    for statement in _trigger(_AFTER):
        op.execute(statement)
    op.execute(SKU_BACKFILL)


def downgrade() -> None:
    for statement in _trigger(_BEFORE):
        op.execute(statement)
    # In place on SQLite too (3.35+), as 0037 drops its column.
    op.execute("ALTER TABLE session_line_facts DROP COLUMN sku_id")
    op.drop_index("ix_session_line_facts_buyer_ref", table_name="session_line_facts")
    op.drop_index("ix_session_line_facts_order_id", table_name="session_line_facts")
