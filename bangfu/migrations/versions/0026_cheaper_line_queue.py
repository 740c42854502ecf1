"""cheaper line queue

The change queue's triggers (0009) wrote three ``line_changes`` rows for every order line
stored, ``attribute``, ``allocate`` and ``post``, and on PostgreSQL sorted them first. Storing
an order wrote more queue rows than order and line rows together; the queue was the largest
single cost of the sync's writes in the database (``docs/connectors.md``, "Storing a batch").

A line can only be due for ``allocate`` when it has a SKU and a quantity (the stage draws a
SKU's lots for the line's quantity: ``workers.lot_draws.waiting_lines``). Both are the line's
own columns, so a line without them is not queued for ``allocate`` when it is stored, when its
order is paid or when its version changes; a later change that gives it a SKU or a quantity is
itself a change of the line and queues it for every stage, as before. ``attribute`` and
``post`` stay as they were. No other row is read to decide, so no concurrent change can slip
between the decision and the commit. What the stages and ``bangfu verify``'s
``due_lines_queued`` read is unchanged.

The new-lines trigger no longer sorts: a statement's new lines come in the order their ids were
drawn, and each stage's rows are written in that order (one pass over the transition table
per stage). On SQLite the line triggers select their rows from ``VALUES`` instead of a
``UNION ALL`` subquery.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 19:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The condition under which a line (alias ``{l}``) may ever be due for allocation.
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


_PG_UP = (
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
)

# 0009's functions, put back by the downgrade.
_PG_DOWN = (
    _pg_function(
        "new_lines_queued",
        "INSERT INTO line_changes (stage, order_line_id)"
        f" SELECT s.stage, n.id FROM new_lines n CROSS JOIN {_STAGES} ORDER BY n.id, s.stage",
    ),
    _pg_function(
        "changed_lines_queued",
        "INSERT INTO line_changes (stage, order_line_id)"
        f" SELECT s.stage, n.id FROM new_lines n JOIN old_lines o ON o.id = n.id CROSS JOIN {_STAGES}"
        " WHERE n.version IS DISTINCT FROM o.version OR n.sku_id IS DISTINCT FROM o.sku_id"
        " OR n.quantity <> o.quantity ORDER BY n.id, s.stage",
    ),
    _pg_function(
        "order_lines_queued",
        "INSERT INTO line_changes (stage, order_line_id)"
        " SELECT s.stage, l.id FROM new_orders n JOIN old_orders o ON o.id = n.id"
        f" CROSS JOIN LATERAL (SELECT id FROM order_lines WHERE order_id = n.id) l CROSS JOIN {_STAGES}"
        " WHERE n.paid_at IS DISTINCT FROM o.paid_at OR n.status IS DISTINCT FROM o.status"
        " ORDER BY l.id, s.stage",
    ),
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


def _sqlite_up() -> list[str]:
    statements: list[str] = []
    for name, event, when in _SQLITE_LINE_EVENTS:
        statements += [
            f"DROP TRIGGER {name}",
            f"CREATE TRIGGER {name} AFTER {event} {when}BEGIN "
            "INSERT INTO line_changes (stage, order_line_id) SELECT s.column1, NEW.id "
            "FROM (VALUES ('attribute', 1), ('allocate', 0), ('post', 1)) AS s "
            f"WHERE s.column2 OR ({_DRAWABLE.format(l='NEW')}); END",
        ]
    name, event, when = _SQLITE_ORDERS_EVENT
    statements += [
        f"DROP TRIGGER {name}",
        f"CREATE TRIGGER {name} AFTER {event} {when}BEGIN "
        "INSERT INTO line_changes (stage, order_line_id) SELECT s.stage, l.id FROM order_lines AS l "
        "CROSS JOIN (SELECT 'attribute' AS stage UNION ALL SELECT 'allocate' UNION ALL SELECT 'post') AS s "
        f"WHERE l.order_id = NEW.id AND (s.stage <> 'allocate' OR ({_DRAWABLE.format(l='l')})); END",
    ]
    return statements


def _sqlite_down() -> list[str]:
    all_stages = "(SELECT 'attribute' AS stage UNION ALL SELECT 'allocate' UNION ALL SELECT 'post') AS s"
    statements: list[str] = []
    for name, event, when in _SQLITE_LINE_EVENTS:
        statements += [
            f"DROP TRIGGER {name}",
            f"CREATE TRIGGER {name} AFTER {event} {when}BEGIN "
            f"INSERT INTO line_changes (stage, order_line_id) SELECT s.stage, NEW.id FROM {all_stages}; END",
        ]
    name, event, when = _SQLITE_ORDERS_EVENT
    statements += [
        f"DROP TRIGGER {name}",
        f"CREATE TRIGGER {name} AFTER {event} {when}BEGIN "
        "INSERT INTO line_changes (stage, order_line_id) SELECT s.stage, l.id FROM order_lines AS l "
        f"CROSS JOIN {all_stages} WHERE l.order_id = NEW.id; END",
    ]
    return statements


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for statement in _PG_UP if pg else _sqlite_up():
        op.execute(statement)


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for statement in _PG_DOWN if pg else _sqlite_down():
        op.execute(statement)
