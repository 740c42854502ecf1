"""the change queue names the line's SKU; session summaries refreshed line by line

**The queue's SKU.** The lot draws (``workers.lot_draws.allocate_lines``) pick SKUs with due lines, in SKU order,
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

Existing ``allocate`` rows get their line's SKU here (the other stages' rows stay without one:
nothing reads it there).

**Closed orders.** The return of refunded units (``workers.lot_draws.return_refunded_units``)
runs on every pass; it looked at every succeeded refund joined with its line and order to find
the few that put units back (sent back, or of an order closed after payment). A partial index on
the closed orders lets it pick those refunds from the refunds table alone.

**Session summaries, line by line.** ``bangfu.session_summaries.refresh`` recomputed every
marked session whole from its lines, on every pass of the pipeline (and in the attribution
stage), joining each line with its order, refunds and household credits: at 200,000 lines a
session holds thousands of lines and posting marks nearly every session on every pass. The
markers now name the line as well as the session (``session_summary_dirty.order_line_id``;
the triggers of 0025 are the same changes, marking ``(session, line)`` pairs), and
``session_line_facts`` keeps, per attributed line, what it adds to its session: session, order,
buyer, confidence, whether its order is paid, paid amount, units, succeeded refunds and the net
credited to households. A refresh recomputes the facts of the marked lines only (joining only
them with their orders, refunds and credits), then a marked session's figures from its facts
rows: sums, and the distinct orders and buyers, which do not add up, counted over that narrow
table. A marker without a line (from before this migration) recomputes the facts of every line
of its session. The facts are filled here from the lines.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
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
    " WHERE stage = 'allocate'"
)


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    _upgrade_summaries(pg)
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
    op.create_index(
        "ix_orders_closed",
        "orders",
        ["id"],
        postgresql_where=sa.text("status = 'closed'"),
        sqlite_where=sa.text("status = 'closed'"),
    )


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for statement in _PG_DOWN if pg else _sqlite(sku=False):
        op.execute(statement)
    op.drop_index("ix_orders_closed", table_name="orders")
    op.drop_index("ix_line_changes_allocate_sku", table_name="line_changes")
    # In place on SQLite too (3.35+): a copied table would break the triggers that write it.
    op.execute("ALTER TABLE line_changes DROP COLUMN sku_id")
    _downgrade_summaries(pg)


# -- session summaries --------------------------------------------------------------------------

_MARK_PAIRS = "INSERT INTO session_summary_dirty (session_id, order_line_id)"
_MARK_SESSIONS = "INSERT INTO session_summary_dirty (session_id)"


def _pg_mark(name: str, pairs: str, *, lines: bool = True) -> str:
    """A statement trigger's function: the distinct (session, line) pairs of ``pairs`` marked
    (``lines=False``: 0025's function, the distinct sessions)."""
    if lines:
        body = f"{_MARK_PAIRS} SELECT DISTINCT x.session_id, x.line_id FROM ({pairs}) x"
        body += " WHERE x.session_id IS NOT NULL ORDER BY 1, 2"
    else:
        body = (
            f"{_MARK_SESSIONS} SELECT DISTINCT x.session_id FROM ({pairs}) x WHERE x.session_id IS NOT NULL ORDER BY 1"
        )
    return _pg_function(name, body)


_ATTRIBUTED = "SELECT a.session_id, a.order_line_id AS line_id FROM line_attributions a"

# (trigger function's name, the (session, line) pairs a statement touches); the triggers of
# 0025 call these functions, on the same events.
_PG_SUMMARY: tuple[tuple[str, str], ...] = (
    ("line_attributions_summary_insert", "SELECT session_id, order_line_id AS line_id FROM n_rows"),
    (
        "line_attributions_summary_update",
        "SELECT s.session_id, s.line_id FROM n_rows n JOIN o_rows o ON o.id = n.id "
        "CROSS JOIN LATERAL (VALUES (n.session_id, n.order_line_id), (o.session_id, o.order_line_id)) "
        "s (session_id, line_id) "
        "WHERE n.session_id IS DISTINCT FROM o.session_id OR n.confidence IS DISTINCT FROM o.confidence "
        "OR n.order_line_id <> o.order_line_id",
    ),
    ("line_attributions_summary_delete", "SELECT session_id, order_line_id AS line_id FROM o_rows"),
    (
        "order_lines_summary_update",
        f"{_ATTRIBUTED} JOIN n_rows n ON a.order_line_id = n.id JOIN o_rows o ON o.id = n.id "
        "WHERE n.paid_fen IS DISTINCT FROM o.paid_fen OR n.quantity IS DISTINCT FROM o.quantity "
        "OR n.order_id IS DISTINCT FROM o.order_id",
    ),
    (
        "orders_summary_update",
        "SELECT x.session_id, x.line_id FROM n_rows n JOIN o_rows o ON o.id = n.id "
        "CROSS JOIN LATERAL (SELECT a.session_id, l.id AS line_id FROM order_lines l "
        "JOIN line_attributions a ON a.order_line_id = l.id WHERE l.order_id = n.id) x "
        "WHERE n.paid_at IS DISTINCT FROM o.paid_at OR n.buyer_ref IS DISTINCT FROM o.buyer_ref",
    ),
    ("refunds_summary_insert", f"{_ATTRIBUTED} JOIN n_rows n ON a.order_line_id = n.order_line_id"),
    (
        "refunds_summary_update",
        f"{_ATTRIBUTED} JOIN (SELECT r.line_id FROM n_rows n JOIN o_rows o ON o.id = n.id "
        "CROSS JOIN LATERAL (VALUES (n.order_line_id), (o.order_line_id)) r (line_id) "
        "WHERE n.status IS DISTINCT FROM o.status OR n.amount_fen IS DISTINCT FROM o.amount_fen "
        "OR n.order_line_id IS DISTINCT FROM o.order_line_id) r ON a.order_line_id = r.line_id",
    ),
    ("refunds_summary_delete", f"{_ATTRIBUTED} JOIN o_rows o ON a.order_line_id = o.order_line_id"),
    (
        "line_household_credits_summary_insert",
        f"{_ATTRIBUTED} JOIN (SELECT DISTINCT order_line_id FROM n_rows) n ON a.order_line_id = n.order_line_id",
    ),
    (
        "line_household_credits_summary_update",
        f"{_ATTRIBUTED} JOIN (SELECT DISTINCT n.order_line_id FROM n_rows n JOIN o_rows o "
        "ON o.order_line_id = n.order_line_id AND o.household_id = n.household_id "
        "WHERE n.credit_fen IS DISTINCT FROM o.credit_fen) n ON a.order_line_id = n.order_line_id",
    ),
    (
        "line_household_credits_summary_delete",
        f"{_ATTRIBUTED} JOIN (SELECT DISTINCT order_line_id FROM o_rows) o ON a.order_line_id = o.order_line_id",
    ),
)

# 0025's functions, put back by the downgrade: (name, the sessions a statement touches).
_PG_SUMMARY_DOWN: tuple[tuple[str, str], ...] = (
    ("line_attributions_summary_insert", "SELECT session_id FROM n_rows"),
    (
        "line_attributions_summary_update",
        "SELECT s.session_id FROM n_rows n JOIN o_rows o ON o.id = n.id "
        "CROSS JOIN LATERAL (VALUES (n.session_id), (o.session_id)) s (session_id) "
        "WHERE n.session_id IS DISTINCT FROM o.session_id OR n.confidence IS DISTINCT FROM o.confidence "
        "OR n.order_line_id <> o.order_line_id",
    ),
    ("line_attributions_summary_delete", "SELECT session_id FROM o_rows"),
    (
        "order_lines_summary_update",
        "SELECT a.session_id FROM n_rows n JOIN o_rows o ON o.id = n.id "
        "JOIN line_attributions a ON a.order_line_id = n.id "
        "WHERE n.paid_fen IS DISTINCT FROM o.paid_fen OR n.quantity IS DISTINCT FROM o.quantity "
        "OR n.order_id IS DISTINCT FROM o.order_id",
    ),
    (
        "orders_summary_update",
        "SELECT x.session_id FROM n_rows n JOIN o_rows o ON o.id = n.id "
        "CROSS JOIN LATERAL (SELECT a.session_id FROM order_lines l "
        "JOIN line_attributions a ON a.order_line_id = l.id WHERE l.order_id = n.id) x "
        "WHERE n.paid_at IS DISTINCT FROM o.paid_at OR n.buyer_ref IS DISTINCT FROM o.buyer_ref",
    ),
    (
        "refunds_summary_insert",
        "SELECT a.session_id FROM n_rows n JOIN line_attributions a ON a.order_line_id = n.order_line_id",
    ),
    (
        "refunds_summary_update",
        "SELECT a.session_id FROM n_rows n JOIN o_rows o ON o.id = n.id "
        "CROSS JOIN LATERAL (VALUES (n.order_line_id), (o.order_line_id)) r (line_id) "
        "JOIN line_attributions a ON a.order_line_id = r.line_id "
        "WHERE n.status IS DISTINCT FROM o.status OR n.amount_fen IS DISTINCT FROM o.amount_fen "
        "OR n.order_line_id IS DISTINCT FROM o.order_line_id",
    ),
    (
        "refunds_summary_delete",
        "SELECT a.session_id FROM o_rows o JOIN line_attributions a ON a.order_line_id = o.order_line_id",
    ),
    (
        "line_household_credits_summary_insert",
        "SELECT a.session_id FROM (SELECT DISTINCT order_line_id FROM n_rows) n "
        "JOIN line_attributions a ON a.order_line_id = n.order_line_id",
    ),
    (
        "line_household_credits_summary_update",
        "SELECT a.session_id FROM (SELECT DISTINCT n.order_line_id FROM n_rows n JOIN o_rows o "
        "ON o.order_line_id = n.order_line_id AND o.household_id = n.household_id "
        "WHERE n.credit_fen IS DISTINCT FROM o.credit_fen) n "
        "JOIN line_attributions a ON a.order_line_id = n.order_line_id",
    ),
    (
        "line_household_credits_summary_delete",
        "SELECT a.session_id FROM (SELECT DISTINCT order_line_id FROM o_rows) o "
        "JOIN line_attributions a ON a.order_line_id = o.order_line_id",
    ),
)


def _sqlite_mark(pairs: str, *, lines: bool = True) -> str:
    if lines:
        return (
            f"{_MARK_PAIRS} SELECT DISTINCT x.session_id, x.line_id FROM ({pairs}) AS x "
            "WHERE x.session_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM session_summary_dirty AS d "
            "WHERE d.session_id = x.session_id AND d.order_line_id = x.line_id);"
        )
    return (
        f"{_MARK_SESSIONS} SELECT DISTINCT x.session_id FROM ({pairs}) AS x WHERE x.session_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM session_summary_dirty AS d WHERE d.session_id = x.session_id);"
    )


def _sqlite_line(line: str, lines: bool) -> str:
    pick = "a.session_id, a.order_line_id AS line_id" if lines else "a.session_id"
    return f"SELECT {pick} FROM line_attributions AS a WHERE a.order_line_id {line}"


def _sqlite_summary(lines: bool) -> tuple[tuple[str, str, str, str], ...]:
    """0025's SQLite triggers (name, event, condition, pairs or sessions), marking pairs or sessions."""

    def row(prefix: str) -> str:
        if lines:
            return f"SELECT {prefix}.session_id AS session_id, {prefix}.order_line_id AS line_id"
        return f"SELECT {prefix}.session_id AS session_id"

    both = f"{row('NEW')} UNION {row('OLD')}"
    orders = "a.session_id, a.order_line_id AS line_id" if lines else "a.session_id"
    return (
        ("line_attributions_summary_insert", "INSERT ON line_attributions", "", row("NEW")),
        (
            "line_attributions_summary_update",
            "UPDATE OF session_id, confidence, order_line_id ON line_attributions",
            "NEW.session_id IS NOT OLD.session_id OR NEW.confidence IS NOT OLD.confidence "
            "OR NEW.order_line_id IS NOT OLD.order_line_id",
            both,
        ),
        ("line_attributions_summary_delete", "DELETE ON line_attributions", "", row("OLD")),
        (
            "order_lines_summary_update",
            "UPDATE OF paid_fen, quantity, order_id ON order_lines",
            "NEW.paid_fen IS NOT OLD.paid_fen OR NEW.quantity IS NOT OLD.quantity OR NEW.order_id IS NOT OLD.order_id",
            _sqlite_line("= NEW.id", lines),
        ),
        (
            "orders_summary_update",
            "UPDATE OF paid_at, buyer_ref ON orders",
            "NEW.paid_at IS NOT OLD.paid_at OR NEW.buyer_ref IS NOT OLD.buyer_ref",
            f"SELECT {orders} FROM order_lines AS l JOIN line_attributions AS a ON a.order_line_id = l.id "
            "WHERE l.order_id = NEW.id",
        ),
        ("refunds_summary_insert", "INSERT ON refunds", "", _sqlite_line("= NEW.order_line_id", lines)),
        (
            "refunds_summary_update",
            "UPDATE OF status, amount_fen, order_line_id ON refunds",
            "NEW.status IS NOT OLD.status OR NEW.amount_fen IS NOT OLD.amount_fen "
            "OR NEW.order_line_id IS NOT OLD.order_line_id",
            _sqlite_line("IN (NEW.order_line_id, OLD.order_line_id)", lines),
        ),
        ("refunds_summary_delete", "DELETE ON refunds", "", _sqlite_line("= OLD.order_line_id", lines)),
        (
            "line_household_credits_summary_insert",
            "INSERT ON line_household_credits",
            "",
            _sqlite_line("= NEW.order_line_id", lines),
        ),
        (
            "line_household_credits_summary_update",
            "UPDATE ON line_household_credits",
            "NEW.credit_fen IS NOT OLD.credit_fen OR NEW.order_line_id IS NOT OLD.order_line_id",
            _sqlite_line("IN (NEW.order_line_id, OLD.order_line_id)", lines),
        ),
        (
            "line_household_credits_summary_delete",
            "DELETE ON line_household_credits",
            "",
            _sqlite_line("= OLD.order_line_id", lines),
        ),
    )


def _summary_triggers(pg: bool, lines: bool) -> list[str]:
    if pg:
        return [_pg_mark(name, pairs, lines=lines) for name, pairs in (_PG_SUMMARY if lines else _PG_SUMMARY_DOWN)]
    statements: list[str] = []
    for name, on, when, pairs in _sqlite_summary(lines):
        condition = f" WHEN {when}" if when else ""
        statements += [
            f"DROP TRIGGER {name}",
            f"CREATE TRIGGER {name} AFTER {on}{condition} BEGIN {_sqlite_mark(pairs, lines=lines)} END",
        ]
    return statements


# What each attributed line adds to its session (``bangfu.session_summaries.line_facts``).
FACTS_BACKFILL = """
INSERT INTO session_line_facts (order_line_id, session_id, order_id, buyer_ref, confidence, paid,
                                paid_fen, quantity, refunds_fen, net_households_fen)
SELECT a.order_line_id, a.session_id, l.order_id, o.buyer_ref, a.confidence,
       CASE WHEN o.paid_at IS NULL THEN 0 ELSE 1 END, l.paid_fen, l.quantity,
       COALESCE((SELECT SUM(r.amount_fen) FROM refunds r
                  WHERE r.order_line_id = a.order_line_id AND r.status = 'succeeded'), 0),
       COALESCE((SELECT SUM(c.credit_fen) FROM line_household_credits c WHERE c.order_line_id = a.order_line_id), 0)
  FROM line_attributions a
  JOIN order_lines l ON l.id = a.order_line_id
  JOIN orders o ON o.id = l.order_id
 WHERE a.session_id IS NOT NULL
"""


def _upgrade_summaries(pg: bool) -> None:
    op.create_table(
        "session_line_facts",
        sa.Column("order_line_id", ID, autoincrement=False, nullable=False),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("buyer_ref", sa.String(length=64), nullable=True),
        sa.Column("confidence", sa.String(length=24), nullable=False),
        sa.Column("paid", sa.SmallInteger(), nullable=False),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("refunds_fen", sa.BigInteger(), nullable=False),
        sa.Column("net_households_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("order_line_id", name=op.f("pk_session_line_facts")),
    )
    op.create_index("ix_session_line_facts_session_id", "session_line_facts", ["session_id"], unique=False)
    op.add_column("session_summary_dirty", sa.Column("order_line_id", ID, nullable=True))
    for statement in _summary_triggers(pg, lines=True):
        op.execute(statement)
    op.get_bind().exec_driver_sql(FACTS_BACKFILL)


def _downgrade_summaries(pg: bool) -> None:
    for statement in _summary_triggers(pg, lines=False):
        op.execute(statement)
    op.execute("ALTER TABLE session_summary_dirty DROP COLUMN order_line_id")
    op.drop_index("ix_session_line_facts_session_id", table_name="session_line_facts")
    op.drop_table("session_line_facts")
