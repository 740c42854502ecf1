"""sales days

The sales ledger's figures (``bangfu.sales_days``): the order lines' paid amount summed per
Asia/Shanghai day the order was paid, the order's shop, the line's shop and the line's SKU (0: a
line without SKU) in ``sales_days``, with the planting pages' sell-through of the same lines (of
paid orders, net of each line's succeeded refunds of any day: how many lines, units left, fen);
the succeeded refunds' amount summed per local day they succeeded (``modified_at``), the
refund's shop, the SKU of its line (0: none) and the day its line's order was paid (0001-01-01:
no line, or an order without payment time) in ``sales_refund_days``. Each row also counts its
lines (refunds): a group of 0 fen is still a group the pages show. Channel, product and
certificate are joined at read time.

Kept exact by marking, as ``county_income_days`` (0039) are: triggers write the days a change
touches into ``sales_dirty`` in the transaction of the change; readers take a day's stored rows
only while it has no marker and sum a marked day from the lines and refunds in the same
statement; ``bangfu.sales_days.refresh`` (run by the pipeline once per run) recomputes each
marked day's rows of both tables and deletes the markers it read. Inputs and their triggers:

- ``order_lines`` inserted or deleted: the paid day of their orders; a line's ``paid_fen``,
  ``sku_id``, ``shop_id``, ``order_id``, ``quantity`` or ``refund_state`` changed: the paid day
  of its old and new order, and (SKU or order changed) the days its succeeded refunds succeeded;
- ``orders``: ``paid_at`` or ``shop_id`` changed, or ``status`` crossing paid / not paid: the
  old and new paid day, and (``paid_at`` changed) the days the succeeded refunds of its lines
  succeeded; deleted: the paid day;
- ``refunds`` inserted or deleted: for a succeeded one the day it succeeded and the paid day of
  its line's order; ``status``, ``amount_fen``, ``quantity``, ``modified_at``,
  ``order_line_id`` or ``shop_id`` changed, succeeded before or after: the old and new day, and
  the paid day of its old and new line's order.

``orders.paid_at`` gets an index: a marked day's lines are found by their orders' payment time.

On PostgreSQL inserts and deletes are statement-level triggers over transition tables (one
marker per distinct day and statement), updates row-level ``UPDATE OF <columns>`` triggers whose
``WHEN`` lets through only a row whose watched column changed (an upsert that rewrites a line
with the same values marks nothing). SQLite uses row triggers that skip a day already marked.

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

NO_DAY = "0001-01-01"  # sales_refund_days.sale_day of a refund without a paid sale
PG_DAY = "CAST({x} AT TIME ZONE 'Asia/Shanghai' AS DATE)"
SQLITE_DAY = "date({x}, '+8 hours')"
SUCCEEDED = "'succeeded'"
UNPAID = "'pending_payment', 'cancelled'"  # bangfu.enums.UNPAID_ORDER_STATUSES, frozen

# bangfu.sales_days.live_gross and live_refunds over every day, frozen.
GROSS_BACKFILL = """
INSERT INTO sales_days (day, order_shop_id, shop_id, sku_id, fen, lines, paid_lines, units_left, net_fen)
SELECT {paid_day}, o.shop_id, l.shop_id, COALESCE(l.sku_id, 0), SUM(l.paid_fen), COUNT(*),
       SUM(CASE WHEN {paid} THEN 1 ELSE 0 END),
       SUM(CASE WHEN NOT {paid} OR l.refund_state = 'full' THEN 0
                WHEN l.quantity - COALESCE(x.units, 0) > 0 THEN l.quantity - COALESCE(x.units, 0) ELSE 0 END),
       SUM(CASE WHEN {paid} THEN l.paid_fen - COALESCE(x.fen, 0) ELSE 0 END)
  FROM order_lines l
  JOIN orders o ON o.id = l.order_id
  LEFT JOIN (SELECT order_line_id, SUM(amount_fen) AS fen, SUM(quantity) AS units FROM refunds
              WHERE status = {succeeded} AND order_line_id IS NOT NULL GROUP BY order_line_id) x
    ON x.order_line_id = l.id
 WHERE o.paid_at IS NOT NULL
 GROUP BY {paid_day}, o.shop_id, l.shop_id, COALESCE(l.sku_id, 0)
"""
REFUNDS_BACKFILL = """
INSERT INTO sales_refund_days (day, shop_id, sku_id, sale_day, fen, refunds)
SELECT {refund_day}, r.shop_id, COALESCE(l.sku_id, 0), COALESCE({paid_day}, {no_day}), SUM(r.amount_fen), COUNT(*)
  FROM refunds r
  LEFT JOIN order_lines l ON l.id = r.order_line_id
  LEFT JOIN orders o ON o.id = l.order_id
 WHERE r.status = {succeeded}
 GROUP BY {refund_day}, r.shop_id, COALESCE(l.sku_id, 0), COALESCE({paid_day}, {no_day})
"""


def backfill_sql(postgres: bool) -> list[str]:
    """The statements that fill both tables from the lines and refunds (and the test's check)."""
    day = PG_DAY if postgres else SQLITE_DAY
    no_day = f"DATE '{NO_DAY}'" if postgres else f"'{NO_DAY}'"
    return [
        s.format(
            paid_day=day.format(x="o.paid_at"),
            refund_day=day.format(x="r.modified_at"),
            no_day=no_day,
            succeeded=SUCCEEDED,
            paid=f"o.status NOT IN ({UNPAID})",
        )
        for s in (GROSS_BACKFILL, REFUNDS_BACKFILL)
    ]


def _pg(x: str) -> str:
    return PG_DAY.format(x=x)


# The statement's distinct orders as an array: probed one by one on the primary key whatever
# the planner thinks of the transition table (a semi-join was planned as a scan of ``orders``,
# whose cost grew with the table: 72 -> 100 µs per stored order over 12 runs of
# bench/order_batch_cpu.py).
_PG_PAID_DAYS = (
    "INSERT INTO sales_dirty (day) SELECT DISTINCT {day} FROM orders o "
    "WHERE o.id = ANY (ARRAY(SELECT DISTINCT order_id FROM {rows})) AND o.paid_at IS NOT NULL ORDER BY 1;"
).format(day=_pg("o.paid_at"), rows="{rows}")
_PG_SALE_DAYS_OF_REFUNDS = (
    "INSERT INTO sales_dirty (day) SELECT DISTINCT {day} FROM {rows} r "
    "JOIN order_lines l ON l.id = r.order_line_id JOIN orders o ON o.id = l.order_id "
    f"WHERE r.status = {SUCCEEDED} AND o.paid_at IS NOT NULL ORDER BY 1;"
).format(day=_pg("o.paid_at"), rows="{rows}")
_PG_SALE_DAY_OF_LINE = (
    "INSERT INTO sales_dirty (day) SELECT {day} FROM order_lines l JOIN orders o ON o.id = l.order_id "
    "WHERE l.id = {line} AND o.paid_at IS NOT NULL;"
).format(day=_pg("o.paid_at"), line="{line}")
_PG_REFUND_DAYS = (
    "INSERT INTO sales_dirty (day) SELECT DISTINCT {day} FROM refunds r "
    f"WHERE r.order_line_id IN ({{lines}}) AND r.status = {SUCCEEDED} ORDER BY 1;"
).format(day=_pg("r.modified_at"), lines="{lines}")

# Statement-level: (name, table, event, transition table, body)
_PG_STATEMENT_TRIGGERS: tuple[tuple[str, str, str, str, str], ...] = (
    ("order_lines_sales_insert", "order_lines", "INSERT", "NEW TABLE AS n_rows", _PG_PAID_DAYS.format(rows="n_rows")),
    ("order_lines_sales_delete", "order_lines", "DELETE", "OLD TABLE AS o_rows", _PG_PAID_DAYS.format(rows="o_rows")),
    (
        "orders_sales_delete",
        "orders",
        "DELETE",
        "OLD TABLE AS o_rows",
        f"INSERT INTO sales_dirty (day) SELECT DISTINCT {_pg('paid_at')} FROM o_rows "
        "WHERE paid_at IS NOT NULL ORDER BY 1;",
    ),
    (
        "refunds_sales_insert",
        "refunds",
        "INSERT",
        "NEW TABLE AS n_rows",
        f"INSERT INTO sales_dirty (day) SELECT DISTINCT {_pg('modified_at')} FROM n_rows "
        f"WHERE status = {SUCCEEDED} ORDER BY 1; " + _PG_SALE_DAYS_OF_REFUNDS.format(rows="n_rows"),
    ),
    (
        "refunds_sales_delete",
        "refunds",
        "DELETE",
        "OLD TABLE AS o_rows",
        f"INSERT INTO sales_dirty (day) SELECT DISTINCT {_pg('modified_at')} FROM o_rows "
        f"WHERE status = {SUCCEEDED} ORDER BY 1; " + _PG_SALE_DAYS_OF_REFUNDS.format(rows="o_rows"),
    ),
)

# Row-level updates: (name, table, watched columns, extra WHEN condition, body)
_LINE_COLUMNS = ("paid_fen", "sku_id", "shop_id", "order_id", "quantity", "refund_state")
_ORDER_COLUMNS = ("paid_at", "shop_id", "status")
_REFUND_COLUMNS = ("status", "amount_fen", "modified_at", "order_line_id", "shop_id", "quantity")
# An order's status matters only when it crosses paid / not paid (bangfu.models.order_is_paid).
_ORDER_CHANGED = (
    "OLD.paid_at {d} NEW.paid_at OR OLD.shop_id {d} NEW.shop_id"
    f" OR (OLD.status IN ({UNPAID})) {{d}} (NEW.status IN ({UNPAID}))"
)


def _changed(columns: Sequence[str], distinct: str) -> str:
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)


_PG_ROW_TRIGGERS: tuple[tuple[str, str, Sequence[str], str, str], ...] = (
    (
        "order_lines_sales_update",
        "order_lines",
        _LINE_COLUMNS,
        "",
        "INSERT INTO sales_dirty (day) SELECT DISTINCT "
        f"{_pg('o.paid_at')} FROM orders o WHERE o.id IN (OLD.order_id, NEW.order_id) AND o.paid_at IS NOT NULL; "
        "IF OLD.sku_id IS DISTINCT FROM NEW.sku_id OR OLD.order_id IS DISTINCT FROM NEW.order_id THEN "
        + _PG_REFUND_DAYS.format(lines="NEW.id")
        + " END IF;",
    ),
    (
        "orders_sales_update",
        "orders",
        _ORDER_COLUMNS,
        "",
        f"INSERT INTO sales_dirty (day) SELECT DISTINCT d FROM (VALUES ({_pg('OLD.paid_at')}), "
        f"({_pg('NEW.paid_at')})) AS x (d) WHERE d IS NOT NULL; "
        "IF OLD.paid_at IS DISTINCT FROM NEW.paid_at THEN "
        + _PG_REFUND_DAYS.format(lines="SELECT l.id FROM order_lines l WHERE l.order_id = NEW.id")
        + " END IF;",
    ),
    (
        "refunds_sales_update",
        "refunds",
        _REFUND_COLUMNS,
        f"(OLD.status = {SUCCEEDED} OR NEW.status = {SUCCEEDED})",
        f"IF OLD.status = {SUCCEEDED} THEN INSERT INTO sales_dirty (day) VALUES ({_pg('OLD.modified_at')}); END IF; "
        f"IF NEW.status = {SUCCEEDED} THEN INSERT INTO sales_dirty (day) VALUES ({_pg('NEW.modified_at')}); END IF; "
        + _PG_SALE_DAY_OF_LINE.format(line="OLD.order_line_id")
        + " IF OLD.order_line_id IS DISTINCT FROM NEW.order_line_id THEN "
        + _PG_SALE_DAY_OF_LINE.format(line="NEW.order_line_id")
        + " END IF;",
    ),
)


def _sqlite_mark(days: str) -> str:
    """Insert the days of ``days`` (a SELECT of a ``day`` column) not yet marked."""
    return (
        f"INSERT INTO sales_dirty (day) SELECT DISTINCT x.day FROM ({days}) AS x "
        "WHERE x.day IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sales_dirty AS m WHERE m.day = x.day);"
    )


def _sqlite_paid_day(order: str) -> str:
    return _sqlite_mark(f"SELECT {SQLITE_DAY.format(x='o.paid_at')} AS day FROM orders AS o WHERE o.id = {order}")


def _sqlite_refund_days(lines: str) -> str:
    return _sqlite_mark(
        f"SELECT {SQLITE_DAY.format(x='r.modified_at')} AS day FROM refunds AS r "
        f"WHERE r.order_line_id IN ({lines}) AND r.status = {SUCCEEDED}"
    )


def _sqlite_sale_day_of(line: str) -> str:
    return _sqlite_mark(
        f"SELECT {SQLITE_DAY.format(x='o.paid_at')} AS day FROM order_lines AS l JOIN orders AS o ON o.id = l.order_id "
        f"WHERE l.id = {line}"
    )


def _sqlite_day_of(value: str) -> str:
    return _sqlite_mark(f"SELECT {SQLITE_DAY.format(x=value)} AS day")


# (name, event and table, WHEN condition or "", statements)
_SQLITE_TRIGGERS: tuple[tuple[str, str, str, str], ...] = (
    ("order_lines_sales_insert", "INSERT ON order_lines", "", _sqlite_paid_day("NEW.order_id")),
    ("order_lines_sales_delete", "DELETE ON order_lines", "", _sqlite_paid_day("OLD.order_id")),
    (
        "order_lines_sales_update",
        f"UPDATE OF {', '.join(_LINE_COLUMNS)} ON order_lines",
        _changed(_LINE_COLUMNS, "IS NOT"),
        _sqlite_paid_day("OLD.order_id")
        + _sqlite_paid_day("NEW.order_id")
        + _sqlite_refund_days("SELECT NEW.id WHERE NEW.sku_id IS NOT OLD.sku_id OR NEW.order_id IS NOT OLD.order_id"),
    ),
    (
        "orders_sales_update",
        f"UPDATE OF {', '.join(_ORDER_COLUMNS)} ON orders",
        _ORDER_CHANGED.format(d="IS NOT"),
        _sqlite_day_of("OLD.paid_at")
        + _sqlite_day_of("NEW.paid_at")
        + _sqlite_refund_days(
            "SELECT l.id FROM order_lines AS l WHERE l.order_id = NEW.id AND NEW.paid_at IS NOT OLD.paid_at"
        ),
    ),
    ("orders_sales_delete", "DELETE ON orders", "", _sqlite_day_of("OLD.paid_at")),
    (
        "refunds_sales_insert",
        "INSERT ON refunds",
        f"NEW.status = {SUCCEEDED}",
        _sqlite_day_of("NEW.modified_at") + _sqlite_sale_day_of("NEW.order_line_id"),
    ),
    (
        "refunds_sales_delete",
        "DELETE ON refunds",
        f"OLD.status = {SUCCEEDED}",
        _sqlite_day_of("OLD.modified_at") + _sqlite_sale_day_of("OLD.order_line_id"),
    ),
    (
        "refunds_sales_update",
        f"UPDATE OF {', '.join(_REFUND_COLUMNS)} ON refunds",
        f"(OLD.status = {SUCCEEDED} OR NEW.status = {SUCCEEDED}) AND ({_changed(_REFUND_COLUMNS, 'IS NOT')})",
        _sqlite_mark(
            f"SELECT {SQLITE_DAY.format(x='OLD.modified_at')} AS day WHERE OLD.status = {SUCCEEDED} "
            f"UNION SELECT {SQLITE_DAY.format(x='NEW.modified_at')} WHERE NEW.status = {SUCCEEDED}"
        )
        + _sqlite_sale_day_of("OLD.order_line_id")
        + _sqlite_sale_day_of("NEW.order_line_id"),
    ),
)


def pg_trigger_statements() -> list[tuple[str, str]]:
    """(trigger name, table) of every PostgreSQL trigger, for downgrade (and the tests)."""
    return [(name, table) for name, table, *_ in (*_PG_STATEMENT_TRIGGERS, *_PG_ROW_TRIGGERS)]


def sqlite_trigger_names() -> list[str]:
    return [name for name, *_ in _SQLITE_TRIGGERS]


def upgrade() -> None:
    op.create_table(
        "sales_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("order_shop_id", ID, autoincrement=False, nullable=False),
        sa.Column("shop_id", ID, autoincrement=False, nullable=False),
        sa.Column("sku_id", ID, autoincrement=False, nullable=False),
        sa.Column("fen", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("paid_lines", sa.Integer(), nullable=False),
        sa.Column("units_left", sa.BigInteger(), nullable=False),
        sa.Column("net_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "order_shop_id", "shop_id", "sku_id", name=op.f("pk_sales_days")),
    )
    op.create_table(
        "sales_refund_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("shop_id", ID, autoincrement=False, nullable=False),
        sa.Column("sku_id", ID, autoincrement=False, nullable=False),
        sa.Column("sale_day", sa.Date(), nullable=False),
        sa.Column("fen", sa.BigInteger(), nullable=False),
        sa.Column("refunds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "shop_id", "sku_id", "sale_day", name=op.f("pk_sales_refund_days")),
    )
    op.create_table(
        "sales_dirty",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_dirty")),
    )
    op.create_index("ix_sales_dirty_day", "sales_dirty", ["day"], unique=False)
    op.create_index("ix_orders_paid_at", "orders", ["paid_at"], unique=False)
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        for name, table, event, tables, body in _PG_STATEMENT_TRIGGERS:
            op.execute(
                f"CREATE FUNCTION bangfu_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {body} RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {tables} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION bangfu_{name}()"
            )
        for name, table, columns, also, body in _PG_ROW_TRIGGERS:
            changed = (
                _ORDER_CHANGED.format(d="IS DISTINCT FROM")
                if table == "orders"
                else _changed(columns, "IS DISTINCT FROM")
            )
            when = f"({changed})" + (f" AND {also}" if also else "")
            op.execute(
                f"CREATE FUNCTION bangfu_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {body} RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER UPDATE OF {', '.join(columns)} ON {table} "
                f"FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION bangfu_{name}()"
            )
    else:
        for name, on, when, body in _SQLITE_TRIGGERS:
            condition = f" WHEN {when}" if when else ""
            op.execute(f"CREATE TRIGGER {name} AFTER {on}{condition} BEGIN {body} END")
    for statement in backfill_sql(postgres):
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table in pg_trigger_statements():
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION bangfu_{name}()")
    else:
        for name in sqlite_trigger_names():
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index("ix_orders_paid_at", table_name="orders")
    op.drop_index("ix_sales_dirty_day", table_name="sales_dirty")
    op.drop_table("sales_dirty")
    op.drop_table("sales_refund_days")
    op.drop_table("sales_days")
