"""the change queue keyed by stage: one index entry per queued row on PostgreSQL

Every new order line writes two or three ``line_changes`` rows (``attribute``, ``post``, and
``allocate`` when it has a SKU and a quantity), and each row wrote three B-tree entries on
PostgreSQL: the primary key ``(id)``, ``ix_line_changes_stage_id (stage, id)`` and
``ix_line_changes_order_line_id``, plus the partial SKU index for the ``allocate`` rows. The
queue was the largest single cost of storing a new order (docs/connectors.md, "2026-12-08
(later)").

On PostgreSQL the primary key is now ``(stage, id)`` and the two other indexes are dropped:
- every reader names the stage: a stage takes its rows by ``stage = ... AND id > ...`` in id
  order (``workers.changes.take``) and deletes the rows it took by stage and id
  (``workers.changes.settle``, the lot draws), which is the new key's order; the lot draws read
  a SKU's ``allocate`` rows through the partial SKU index, as before;
- the look-ups by line are set-wise and rare: ``bangfu verify``'s anti-join of every due line
  with its stage's rows (through the key's ``stage`` prefix), and the first-lot triggers' check
  that a line of the SKU is not queued for ``allocate`` yet (0037), which now also names the
  line's SKU, so it reads the SKU's rows through the partial SKU index instead of every
  ``allocate`` row for each line. A line queued only under an older SKU is then queued once more:
  a duplicate row, which the stages settle like any other (the check only ever saved a row).
``id`` still comes from its sequence and stays unique (the key's columns include it), so a row
is named by its id as before; what a stage reads, deletes and leaves behind is unchanged, and so
is the concurrency story (``bangfu.models.accounting.LineChange``).

SQLite keeps ``id`` as its primary key (the rowid, which its triggers' inserts rely on to number
the rows) and both indexes; the models describe that schema, and the schema comparison leaves
the two indexes out on PostgreSQL (``bangfu.models.orders.QUEUE_INDEXES_IN_KEY``).

Revision ID: 0053
Revises: 0052
Create Date: 2026-12-08 03:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0053"
down_revision: str | None = "0052"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None



def _lot_function(name: str, moved: str, queued: str) -> str:
    """0037's function queueing a SKU's undrawn lines when it gets its first lot; ``queued`` is
    the condition that a line already has an ``allocate`` row."""
    return f"""
    CREATE OR REPLACE FUNCTION bangfu_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO line_changes (stage, order_line_id, sku_id)
         SELECT 'allocate', l.id, l.sku_id
         FROM (SELECT DISTINCT n.sku_id FROM new_lots n {moved}) n
         CROSS JOIN LATERAL (SELECT ol.id, ol.sku_id FROM order_lines ol WHERE ol.sku_id = n.sku_id) l
         WHERE NOT EXISTS (SELECT 1 FROM supply_lots s WHERE s.sku_id = n.sku_id
         AND s.id NOT IN (SELECT id FROM new_lots))
         AND NOT EXISTS (SELECT 1 FROM lot_allocations a WHERE a.order_line_id = l.id AND a.quantity > 0)
         AND NOT EXISTS (SELECT 1 FROM line_changes c WHERE {queued})
         ORDER BY l.id;
        RETURN NULL;
    END $$
    """


_LOT_EVENTS = (
    ("new_lot_lines_queued", ""),
    ("moved_lot_lines_queued", "JOIN old_lots o ON o.id = n.id WHERE n.sku_id IS DISTINCT FROM o.sku_id"),
)
_QUEUED_UP = "c.stage = 'allocate' AND c.sku_id = l.sku_id AND c.order_line_id = l.id"
_QUEUED_DOWN = "c.stage = 'allocate' AND c.order_line_id = l.id"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, moved in _LOT_EVENTS:
        op.execute(_lot_function(name, moved, _QUEUED_UP))
    op.execute("ALTER TABLE line_changes DROP CONSTRAINT pk_line_changes")
    op.execute("DROP INDEX ix_line_changes_stage_id")
    op.execute("DROP INDEX ix_line_changes_order_line_id")
    op.execute("ALTER TABLE line_changes ADD CONSTRAINT pk_line_changes PRIMARY KEY (stage, id)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE line_changes DROP CONSTRAINT pk_line_changes")
    op.execute("ALTER TABLE line_changes ADD CONSTRAINT pk_line_changes PRIMARY KEY (id)")
    op.execute("CREATE INDEX ix_line_changes_stage_id ON line_changes (stage, id)")
    op.execute("CREATE INDEX ix_line_changes_order_line_id ON line_changes (order_line_id)")
    for name, moved in _LOT_EVENTS:
        op.execute(_lot_function(name, moved, _QUEUED_DOWN))
