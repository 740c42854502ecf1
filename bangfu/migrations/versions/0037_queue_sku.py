"""the change queue names the line's SKU

The lot draws (``workers.lot_draws.allocate_lines``) pick SKUs with due lines, in SKU order,
until they hold about a batch of lines. They counted every due line of the store for that, on
every pass: a join of every queued ``allocate`` row with its line, its order and the draws,
grouped by SKU (at 200,000 lines, 0.6 s of PostgreSQL per pass, three processes with its
parallel workers). Lines are drawn per SKU, so the queue now says which SKU a line had when it
was queued: ``line_changes.sku_id``, written by the same triggers from the line's own row, and a
partial index on the ``allocate`` rows by SKU. The pick then counts the queue rows of each SKU
from that index alone and reads the lines of only as many SKUs as the batch needs; a SKU's
lines are read through its queue rows, not through every line ever sold of it.

A line's SKU can change after it was queued; the change queues it again with its new SKU (as
before, a change of the SKU queues the line for every stage), so every line due for ``allocate``
has a row naming its current SKU, and a row naming an old SKU is only ever read together with
the line's own ``sku_id``. Rows of other stages carry the line's SKU too (NULL for the bills'
``post`` rows): one column written the same way everywhere.

Existing ``allocate`` rows get their line's SKU here.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_DRAWABLE = "{l}.sku_id IS NOT NULL AND {l}.quantity > 0"
_STAGES = "(VALUES ('attribute'), ('allocate'), ('post')) AS s (stage)"


def _pg_function(name: str, body: str) -> str:
    return f"""
    CREATE OR REPLACE FUNCTION bangfu_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {body};
        RETURN NULL;
    END $$
    """


def _pg_lot_function(name: str, moved: str, sku: bool) -> str:
    columns, value = ("(stage, order_line_id, sku_id)", ", l.sku_id") if sku else ("(stage, order_line_id)", "")
    return _pg_function(
        name,
        f"INSERT INTO line_changes {columns}"
        f" SELECT 'allocate', l.id{value}"
        f" FROM (SELECT DISTINCT n.sku_id FROM new_lots n {moved}) n"
        " CROSS JOIN LATERAL (SELECT ol.id, ol.sku_id FROM order_lines ol WHERE ol.sku_id = n.sku_id) l"
        " WHERE NOT EXISTS (SELECT 1 FROM supply_lots s WHERE s.sku_id = n.sku_id"
        " AND s.id NOT IN (SELECT id FROM new_lots))"
        " AND NOT EXISTS (SELECT 1 FROM lot_allocations a WHERE a.order_line_id = l.id AND a.quantity > 0)"
        " AND NOT EXISTS (SELECT 1 FROM line_changes c WHERE c.stage = 'allocate' AND c.order_line_id = l.id)"
        " ORDER BY l.id",
    )


_LOT_EVENTS = (
    ("new_lot_lines_queued", ""),
    ("moved_lot_lines_queued", "JOIN old_lots o ON o.id = n.id WHERE n.sku_id IS DISTINCT FROM o.sku_id"),
)

_PG_UP = (
    _pg_function(
        "new_lines_queued",
        "INSERT INTO line_changes (stage, order_line_id, sku_id)"
        " SELECT 'attribute', n.id, n.sku_id FROM new_lines n"
        " UNION ALL SELECT 'allocate', n.id, n.sku_id FROM new_lines n WHERE " + _DRAWABLE.format(l="n") + ""
        " UNION ALL SELECT 'post', n.id, n.sku_id FROM new_lines n",
    ),
    _pg_function(
        "changed_lines_queued",
        "INSERT INTO line_changes (stage, order_line_id, sku_id)"
        f" SELECT s.stage, n.id, n.sku_id FROM new_lines n JOIN old_lines o ON o.id = n.id CROSS JOIN {_STAGES}"
        " WHERE (n.version IS DISTINCT FROM o.version OR n.sku_id IS DISTINCT FROM o.sku_id"
        " OR n.quantity <> o.quantity)"
        " AND (s.stage <> 'allocate' OR (" + _DRAWABLE.format(l="n") + "))"
        " ORDER BY n.id, s.stage",
    ),
    _pg_function(
        "order_lines_queued",
        "INSERT INTO line_changes (stage, order_line_id, sku_id)"
        " SELECT s.stage, l.id, l.sku_id FROM new_orders n JOIN old_orders o ON o.id = n.id"
        " CROSS JOIN LATERAL (SELECT id, sku_id, quantity FROM order_lines WHERE order_id = n.id) l"
        f" CROSS JOIN {_STAGES}"
        " WHERE (n.paid_at IS DISTINCT FROM o.paid_at OR n.status IS DISTINCT FROM o.status)"
        " AND (s.stage <> 'allocate' OR (" + _DRAWABLE.format(l="l") + "))"
        " ORDER BY l.id, s.stage",
    ),
    *(_pg_lot_function(name, moved, True) for name, moved in _LOT_EVENTS),
)

# 0026's functions (and 0009's for the lots), put back by the downgrade.
_PG_DOWN = (
    _pg_function(
        "new_lines_queued",
        "INSERT INTO line_changes (stage, order_line_id)"
        " SELECT 'attribute', n.id FROM new_lines n"
        " UNION ALL SELECT 'allocate', n.id FROM new_lines n WHERE " + _DRAWABLE.format(l="n") + ""
        " UNION ALL SELECT 'post', n.id FROM new_lines n",
    ),
    _pg_function(
        "changed_lines_queued",
        "INSERT INTO line_changes (stage, order_line_id)"
        f" SELECT s.stage, n.id FROM new_lines n JOIN old_lines o ON o.id = n.id CROSS JOIN {_STAGES}"
        " WHERE (n.version IS DISTINCT FROM o.version OR n.sku_id IS DISTINCT FROM o.sku_id"
        " OR n.quantity <> o.quantity)"
        " AND (s.stage <> 'allocate' OR (" + _DRAWABLE.format(l="n") + "))"
        " ORDER BY n.id, s.stage",
    ),
    _pg_function(
        "order_lines_queued",
        "INSERT INTO line_changes (stage, order_line_id)"
        " SELECT s.stage, l.id FROM new_orders n JOIN old_orders o ON o.id = n.id"
        " CROSS JOIN LATERAL (SELECT id, sku_id, quantity FROM order_lines WHERE order_id = n.id) l"
        f" CROSS JOIN {_STAGES}"
        " WHERE (n.paid_at IS DISTINCT FROM o.paid_at OR n.status IS DISTINCT FROM o.status)"
        " AND (s.stage <> 'allocate' OR (" + _DRAWABLE.format(l="l") + "))"
        " ORDER BY l.id, s.stage",
    ),
    *(_pg_lot_function(name, moved, False) for name, moved in _LOT_EVENTS),
)

_SQLITE_LINE_EVENTS = (
    ("order_lines_queued_insert", "INSERT ON order_lines", ""),
    (
        "order_lines_queued_update",
        "UPDATE OF version, sku_id, quantity ON order_lines",
        "WHEN NEW.version IS NOT OLD.version OR NEW.sku_id IS NOT OLD.sku_id OR NEW.quantity IS NOT OLD.quantity ",
    ),
)
_SQLITE_ORDERS_EVENT = (
    "orders_queued_update",
    "UPDATE OF paid_at, status ON orders",
    "WHEN NEW.paid_at IS NOT OLD.paid_at OR NEW.status IS NOT OLD.status ",
)
_SQLITE_LOT_EVENTS = (("INSERT", ""), ("UPDATE OF sku_id", "NEW.sku_id IS NOT OLD.sku_id AND "))


def _sqlite(sku: bool) -> list[str]:
    columns = "(stage, order_line_id, sku_id)" if sku else "(stage, order_line_id)"
    statements: list[str] = []
    for name, event, when in _SQLITE_LINE_EVENTS:
        statements += [
            f"DROP TRIGGER {name}",
            f"CREATE TRIGGER {name} AFTER {event} {when}BEGIN "
            f"INSERT INTO line_changes {columns} SELECT s.column1, NEW.id{', NEW.sku_id' if sku else ''} "
            "FROM (VALUES ('attribute', 1), ('allocate', 0), ('post', 1)) AS s "
            f"WHERE s.column2 OR ({_DRAWABLE.format(l='NEW')}); END",
        ]
    name, event, when = _SQLITE_ORDERS_EVENT
    statements += [
        f"DROP TRIGGER {name}",
        f"CREATE TRIGGER {name} AFTER {event} {when}BEGIN "
        f"INSERT INTO line_changes {columns} SELECT s.stage, l.id{', l.sku_id' if sku else ''} "
        "FROM order_lines AS l "
        "CROSS JOIN (SELECT 'attribute' AS stage UNION ALL SELECT 'allocate' UNION ALL SELECT 'post') AS s "
        f"WHERE l.order_id = NEW.id AND (s.stage <> 'allocate' OR ({_DRAWABLE.format(l='l')})); END",
    ]
    for event, moved in _SQLITE_LOT_EVENTS:
        name = f"supply_lots_queued_{event.split()[0].lower()}"
        statements += [
            f"DROP TRIGGER {name}",
            f"CREATE TRIGGER {name} AFTER {event} ON supply_lots "
            f"WHEN {moved}NOT EXISTS (SELECT 1 FROM supply_lots WHERE sku_id = NEW.sku_id AND id <> NEW.id) BEGIN "
            f"INSERT INTO line_changes {columns} SELECT 'allocate', l.id{', l.sku_id' if sku else ''} "
            "FROM order_lines AS l WHERE l.sku_id = NEW.sku_id "
            "AND NOT EXISTS (SELECT 1 FROM lot_allocations AS a WHERE a.order_line_id = l.id AND a.quantity > 0) "
            "AND NOT EXISTS (SELECT 1 FROM line_changes AS c WHERE c.stage = 'allocate' "
            "AND c.order_line_id = l.id); END",
        ]
    return statements


_BACKFILL = (
    "UPDATE line_changes SET sku_id = (SELECT l.sku_id FROM order_lines AS l WHERE l.id = line_changes.order_line_id)"
)


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.add_column("line_changes", sa.Column("sku_id", ID, nullable=True))
    op.execute(_BACKFILL)
    op.create_index(
        "ix_line_changes_allocate_sku",
        "line_changes",
        ["sku_id"],
        postgresql_where=sa.text("stage = 'allocate'"),
        sqlite_where=sa.text("stage = 'allocate'"),
    )
    for statement in _PG_UP if pg else _sqlite(sku=True):
        op.execute(statement)


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for statement in _PG_DOWN if pg else _sqlite(sku=False):
        op.execute(statement)
    op.drop_index("ix_line_changes_allocate_sku", table_name="line_changes")
    # In place on SQLite too (3.35+): a copied table would break the triggers that write it.
    op.execute("ALTER TABLE line_changes DROP COLUMN sku_id")
