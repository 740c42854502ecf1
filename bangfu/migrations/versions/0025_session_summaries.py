"""session summaries

``session_summaries``: per live session what the session list and the session page headline
show (GMV, paid orders, buyers, units, orders by confidence, refunds, net to households), so a
list no longer groups every attributed line of its period per request. Distinct orders and
buyers do not add up and the inputs change outside posting (attribution redone, order payment,
refunds, lines waiting for stock), so the rows are not maintained incrementally: triggers on
every input write the sessions a change touches into ``session_summary_dirty`` in the
transaction of the change, readers use a summary row only while its session has no marker
(computing a marked session from its lines), and ``bangfu.session_summaries.refresh`` (run by
the attribution stage and the pipeline) recomputes marked sessions and removes the markers it
read. Inputs and the triggers on them:

- ``line_attributions``: a row inserted or deleted, or its session, confidence or line changed
  (the old and the new session);
- ``order_lines``: paid amount, quantity or order changed (the line's session);
- ``orders``: ``paid_at`` or ``buyer_ref`` changed (the sessions of its lines);
- ``refunds``: inserted, deleted, or status, amount or line changed (the old and new line's);
- ``line_household_credits``: inserted, deleted or its figure changed (the line's session).

PostgreSQL uses statement-level triggers over transition tables (one insert per statement,
distinct sessions); SQLite row triggers, which skip a session already marked (one writer at a
time, so the marker left is read by a refresh that runs after the change). Every session with
attributed lines is summarised here. The application role gets the default privileges of
``bangfu db grant`` (the triggers insert markers as the role that changes the inputs).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

FIGURES = (
    "gmv_fen",
    "orders",
    "buyers",
    "units",
    "orders_exact",
    "orders_inferred",
    "refunds_fen",
    "net_households_fen",
    "exact_orders",
    "exact_gmv_fen",
    "link_orders",
    "link_gmv_fen",
    "inferred_orders",
    "inferred_gmv_fen",
)

_MARK = "INSERT INTO session_summary_dirty (session_id)"


def _pg_function(name: str, sessions: str) -> str:
    """A statement trigger's function: the distinct non-null sessions of ``sessions`` marked."""
    return f"""
    CREATE FUNCTION bangfu_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {_MARK}
        SELECT DISTINCT x.session_id FROM ({sessions}) x WHERE x.session_id IS NOT NULL ORDER BY 1;
        RETURN NULL;
    END $$
    """


_LINE_SESSION = "SELECT a.session_id FROM line_attributions a WHERE a.order_line_id = {line}"

# (table, event, old/new transition tables, function name, sessions touched)
_PG_TRIGGERS: tuple[tuple[str, str, str, str], ...] = (
    ("line_attributions", "INSERT", "NEW TABLE AS n_rows", "SELECT session_id FROM n_rows"),
    (
        "line_attributions",
        "UPDATE",
        "OLD TABLE AS o_rows NEW TABLE AS n_rows",
        "SELECT s.session_id FROM n_rows n JOIN o_rows o ON o.id = n.id "
        "CROSS JOIN LATERAL (VALUES (n.session_id), (o.session_id)) s (session_id) "
        "WHERE n.session_id IS DISTINCT FROM o.session_id OR n.confidence IS DISTINCT FROM o.confidence "
        "OR n.order_line_id <> o.order_line_id",
    ),
    ("line_attributions", "DELETE", "OLD TABLE AS o_rows", "SELECT session_id FROM o_rows"),
    (
        "order_lines",
        "UPDATE",
        "OLD TABLE AS o_rows NEW TABLE AS n_rows",
        "SELECT a.session_id FROM n_rows n JOIN o_rows o ON o.id = n.id "
        "JOIN line_attributions a ON a.order_line_id = n.id "
        "WHERE n.paid_fen IS DISTINCT FROM o.paid_fen OR n.quantity IS DISTINCT FROM o.quantity "
        "OR n.order_id IS DISTINCT FROM o.order_id",
    ),
    (
        "orders",
        "UPDATE",
        "OLD TABLE AS o_rows NEW TABLE AS n_rows",
        "SELECT x.session_id FROM n_rows n JOIN o_rows o ON o.id = n.id "
        "CROSS JOIN LATERAL (SELECT a.session_id FROM order_lines l "
        "JOIN line_attributions a ON a.order_line_id = l.id WHERE l.order_id = n.id) x "
        "WHERE n.paid_at IS DISTINCT FROM o.paid_at OR n.buyer_ref IS DISTINCT FROM o.buyer_ref",
    ),
    (
        "refunds",
        "INSERT",
        "NEW TABLE AS n_rows",
        "SELECT a.session_id FROM n_rows n JOIN line_attributions a ON a.order_line_id = n.order_line_id",
    ),
    (
        "refunds",
        "UPDATE",
        "OLD TABLE AS o_rows NEW TABLE AS n_rows",
        "SELECT a.session_id FROM n_rows n JOIN o_rows o ON o.id = n.id "
        "CROSS JOIN LATERAL (VALUES (n.order_line_id), (o.order_line_id)) r (line_id) "
        "JOIN line_attributions a ON a.order_line_id = r.line_id "
        "WHERE n.status IS DISTINCT FROM o.status OR n.amount_fen IS DISTINCT FROM o.amount_fen "
        "OR n.order_line_id IS DISTINCT FROM o.order_line_id",
    ),
    (
        "refunds",
        "DELETE",
        "OLD TABLE AS o_rows",
        "SELECT a.session_id FROM o_rows o JOIN line_attributions a ON a.order_line_id = o.order_line_id",
    ),
    (
        "line_household_credits",
        "INSERT",
        "NEW TABLE AS n_rows",
        "SELECT a.session_id FROM (SELECT DISTINCT order_line_id FROM n_rows) n "
        "JOIN line_attributions a ON a.order_line_id = n.order_line_id",
    ),
    (
        "line_household_credits",
        "UPDATE",
        "OLD TABLE AS o_rows NEW TABLE AS n_rows",
        "SELECT a.session_id FROM (SELECT DISTINCT n.order_line_id FROM n_rows n JOIN o_rows o "
        "ON o.order_line_id = n.order_line_id AND o.household_id = n.household_id "
        "WHERE n.credit_fen IS DISTINCT FROM o.credit_fen) n "
        "JOIN line_attributions a ON a.order_line_id = n.order_line_id",
    ),
    (
        "line_household_credits",
        "DELETE",
        "OLD TABLE AS o_rows",
        "SELECT a.session_id FROM (SELECT DISTINCT order_line_id FROM o_rows) o "
        "JOIN line_attributions a ON a.order_line_id = o.order_line_id",
    ),
)


def _pg_name(table: str, event: str) -> str:
    return f"{table}_summary_{event.lower()}"


def _sqlite_mark(sessions: str) -> str:
    return (
        f"{_MARK} SELECT DISTINCT x.session_id FROM ({sessions}) AS x WHERE x.session_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM session_summary_dirty AS d WHERE d.session_id = x.session_id);"
    )


# (trigger name, event and table, WHEN condition or "", statements)
_SQLITE_TRIGGERS: tuple[tuple[str, str, str, str], ...] = (
    (
        "line_attributions_summary_insert",
        "INSERT ON line_attributions",
        "",
        _sqlite_mark("SELECT NEW.session_id AS session_id"),
    ),
    (
        "line_attributions_summary_update",
        "UPDATE OF session_id, confidence, order_line_id ON line_attributions",
        "NEW.session_id IS NOT OLD.session_id OR NEW.confidence IS NOT OLD.confidence "
        "OR NEW.order_line_id IS NOT OLD.order_line_id",
        _sqlite_mark("SELECT NEW.session_id AS session_id UNION SELECT OLD.session_id"),
    ),
    (
        "line_attributions_summary_delete",
        "DELETE ON line_attributions",
        "",
        _sqlite_mark("SELECT OLD.session_id AS session_id"),
    ),
    (
        "order_lines_summary_update",
        "UPDATE OF paid_fen, quantity, order_id ON order_lines",
        "NEW.paid_fen IS NOT OLD.paid_fen OR NEW.quantity IS NOT OLD.quantity OR NEW.order_id IS NOT OLD.order_id",
        _sqlite_mark(_LINE_SESSION.format(line="NEW.id")),
    ),
    (
        "orders_summary_update",
        "UPDATE OF paid_at, buyer_ref ON orders",
        "NEW.paid_at IS NOT OLD.paid_at OR NEW.buyer_ref IS NOT OLD.buyer_ref",
        _sqlite_mark(
            "SELECT a.session_id FROM order_lines AS l JOIN line_attributions AS a ON a.order_line_id = l.id "
            "WHERE l.order_id = NEW.id"
        ),
    ),
    (
        "refunds_summary_insert",
        "INSERT ON refunds",
        "",
        _sqlite_mark(_LINE_SESSION.format(line="NEW.order_line_id")),
    ),
    (
        "refunds_summary_update",
        "UPDATE OF status, amount_fen, order_line_id ON refunds",
        "NEW.status IS NOT OLD.status OR NEW.amount_fen IS NOT OLD.amount_fen "
        "OR NEW.order_line_id IS NOT OLD.order_line_id",
        _sqlite_mark(
            "SELECT a.session_id FROM line_attributions AS a "
            "WHERE a.order_line_id IN (NEW.order_line_id, OLD.order_line_id)"
        ),
    ),
    (
        "refunds_summary_delete",
        "DELETE ON refunds",
        "",
        _sqlite_mark(_LINE_SESSION.format(line="OLD.order_line_id")),
    ),
    (
        "line_household_credits_summary_insert",
        "INSERT ON line_household_credits",
        "",
        _sqlite_mark(_LINE_SESSION.format(line="NEW.order_line_id")),
    ),
    (
        "line_household_credits_summary_update",
        "UPDATE ON line_household_credits",
        "NEW.credit_fen IS NOT OLD.credit_fen OR NEW.order_line_id IS NOT OLD.order_line_id",
        _sqlite_mark(
            "SELECT a.session_id FROM line_attributions AS a "
            "WHERE a.order_line_id IN (NEW.order_line_id, OLD.order_line_id)"
        ),
    ),
    (
        "line_household_credits_summary_delete",
        "DELETE ON line_household_credits",
        "",
        _sqlite_mark(_LINE_SESSION.format(line="OLD.order_line_id")),
    ),
)

# Every session with attributed lines, from the lines (the same sums as the refresh).
BACKFILL = """
INSERT INTO session_summaries (session_id, {columns})
SELECT s.id,
       COALESCE(sales.gmv_fen, 0), COALESCE(sales.orders, 0), COALESCE(sales.buyers, 0),
       COALESCE(sales.units, 0), COALESCE(sales.orders_exact, 0), COALESCE(sales.orders_inferred, 0),
       COALESCE(ref.fen, 0), COALESCE(net.fen, 0),
       COALESCE(sales.exact_orders, 0), COALESCE(sales.exact_gmv_fen, 0),
       COALESCE(sales.link_orders, 0), COALESCE(sales.link_gmv_fen, 0),
       COALESCE(sales.inferred_orders, 0), COALESCE(sales.inferred_gmv_fen, 0)
  FROM live_sessions s
  LEFT JOIN (
       SELECT a.session_id,
              SUM(l.paid_fen) AS gmv_fen,
              COUNT(DISTINCT l.order_id) AS orders,
              COUNT(DISTINCT o.buyer_ref) AS buyers,
              SUM(l.quantity) AS units,
              COUNT(DISTINCT CASE WHEN a.confidence IN ('exact', 'link') THEN l.order_id END) AS orders_exact,
              COUNT(DISTINCT CASE WHEN a.confidence = 'inferred' THEN l.order_id END) AS orders_inferred,
              COUNT(DISTINCT CASE WHEN a.confidence = 'exact' THEN l.order_id END) AS exact_orders,
              SUM(CASE WHEN a.confidence = 'exact' THEN l.paid_fen ELSE 0 END) AS exact_gmv_fen,
              COUNT(DISTINCT CASE WHEN a.confidence = 'link' THEN l.order_id END) AS link_orders,
              SUM(CASE WHEN a.confidence = 'link' THEN l.paid_fen ELSE 0 END) AS link_gmv_fen,
              COUNT(DISTINCT CASE WHEN a.confidence = 'inferred' THEN l.order_id END) AS inferred_orders,
              SUM(CASE WHEN a.confidence = 'inferred' THEN l.paid_fen ELSE 0 END) AS inferred_gmv_fen
         FROM line_attributions a
         JOIN order_lines l ON l.id = a.order_line_id
         JOIN orders o ON o.id = l.order_id
        WHERE a.session_id IS NOT NULL AND o.paid_at IS NOT NULL
        GROUP BY a.session_id) sales ON sales.session_id = s.id
  LEFT JOIN (
       SELECT a.session_id, SUM(r.amount_fen) AS fen
         FROM line_attributions a JOIN refunds r ON r.order_line_id = a.order_line_id
        WHERE a.session_id IS NOT NULL AND r.status = 'succeeded'
        GROUP BY a.session_id) ref ON ref.session_id = s.id
  LEFT JOIN (
       SELECT a.session_id, SUM(c.credit_fen) AS fen
         FROM line_attributions a JOIN line_household_credits c ON c.order_line_id = a.order_line_id
        WHERE a.session_id IS NOT NULL
        GROUP BY a.session_id) net ON net.session_id = s.id
 WHERE s.id IN (SELECT session_id FROM line_attributions WHERE session_id IS NOT NULL)
"""


def upgrade() -> None:
    op.create_table(
        "session_summaries",
        sa.Column("session_id", ID, autoincrement=False, nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in FIGURES),
        sa.ForeignKeyConstraint(
            ["session_id"], ["live_sessions.id"], name=op.f("fk_session_summaries_session_id_live_sessions")
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_session_summaries")),
    )
    op.create_table(
        "session_summary_dirty",
        sa.Column("session_id", ID, nullable=False),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_summary_dirty")),
    )
    op.create_index("ix_session_summary_dirty_session_id", "session_summary_dirty", ["session_id"], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table, event, tables, sessions in _PG_TRIGGERS:
            name = _pg_name(table, event)
            op.execute(_pg_function(name, sessions))
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {tables} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION bangfu_{name}()"
            )
    else:
        for name, on, when, body in _SQLITE_TRIGGERS:
            condition = f" WHEN {when}" if when else ""
            op.execute(f"CREATE TRIGGER {name} AFTER {on}{condition} BEGIN {body} END")
    bind.exec_driver_sql(BACKFILL.format(columns=", ".join(FIGURES)))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, event, _tables, _sessions in _PG_TRIGGERS:
            name = _pg_name(table, event)
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION bangfu_{name}()")
    else:
        for name, _on, _when, _body in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index("ix_session_summary_dirty_session_id", table_name="session_summary_dirty")
    op.drop_table("session_summary_dirty")
    op.drop_table("session_summaries")
