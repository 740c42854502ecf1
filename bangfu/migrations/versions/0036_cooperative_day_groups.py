"""cooperative day groups

``cooperative_day_groups``: ``cooperative_line_facts`` summed per cooperative and day by the
dashboard's groups (product through the line's SKU, shop, live session, lot key, and the line's
previous day so a period counts each line once), so a cooperative's dashboard and the list read
a few rows per day instead of one row per line joined to lines, SKUs and attributions
(``bangfu.cooperative_groups``); ``cooperative_day_totals``, the facts per cooperative and day,
for the list and the trend, kept by the same markers. A line's SKU, shop, title, session and lot draws and a SKU's
product may change after posting, so the rows are recomputed whole per (cooperative, day) and
kept exact by marking: triggers write the pairs a change touches into
``cooperative_group_dirty`` in the transaction of the change, readers take a pair's rows only
while it has no marker (summing a marked pair from the facts), and
``bangfu.cooperative_groups.refresh`` (run by the pipeline after each pass) recomputes marked
pairs and removes the markers it read. Inputs and the triggers on them (every day of the
line's facts in the cooperative is marked):

- ``cooperative_line_facts``: inserted, updated or deleted (the row's pair and the line's other days);
- ``line_attributions``: inserted or deleted, or its session or line changed (old and new line);
- ``lot_allocations``: inserted or deleted, or its lot, quantity or line changed;
- ``order_lines``: SKU, shop or title changed, or deleted;
- ``skus``: product changed (the lines of the SKU).

PostgreSQL uses statement-level triggers over transition tables, SQLite row triggers that skip
a pair already marked. Also ``ix_cooperative_line_facts_line`` (a line's facts rows: the
triggers' and the previous day's lookups).

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

MONEY = (
    "sales",
    "refunds",
    "platform_fee",
    "payment_fee",
    "logistics",
    "commission",
    "retention",
    "collective",
    "guaranteed",
    "rebate",
    "bonus",
    "other",
    "to_non_members",
)
KEYS = ("cooperative_id", "day", "product_id", "shop_id", "session_id", "lot_id", "split_line", "prev_day")

_MARK = "INSERT INTO cooperative_group_dirty (cooperative_id, day)"
_OF_LINES = "SELECT f.cooperative_id, f.day FROM cooperative_line_facts f WHERE f.order_line_id IN ({lines})"


def _facts_pairs(rows: str) -> str:
    """The pairs of changed facts rows ``rows`` and every day of their lines in their cooperatives."""
    return (
        f"SELECT r0.cooperative_id, r0.day FROM {rows} r0 UNION "
        "SELECT f.cooperative_id, f.day FROM cooperative_line_facts f "
        f"JOIN (SELECT DISTINCT r1.cooperative_id, r1.order_line_id FROM {rows} r1) r "
        "ON r.cooperative_id = f.cooperative_id AND r.order_line_id = f.order_line_id"
    )


def _changed_line(columns: Sequence[str]) -> str:
    """Old and new ``order_line_id`` of updated rows where one of ``columns`` changed."""
    changed = " OR ".join(f"n.{c} IS DISTINCT FROM o.{c}" for c in columns)
    return (
        "SELECT l.line_id FROM n_rows n JOIN o_rows o ON o.id = n.id "
        "CROSS JOIN LATERAL (VALUES (n.order_line_id), (o.order_line_id)) l (line_id) "
        f"WHERE {changed}"
    )


# (table, event, transition tables, pairs touched)
_PG_TRIGGERS: tuple[tuple[str, str, str, str], ...] = (
    ("cooperative_line_facts", "INSERT", "NEW TABLE AS n_rows", _facts_pairs("n_rows")),
    (
        "cooperative_line_facts",
        "UPDATE",
        "OLD TABLE AS o_rows NEW TABLE AS n_rows",
        _facts_pairs("(SELECT * FROM n_rows UNION ALL SELECT * FROM o_rows)"),
    ),
    ("cooperative_line_facts", "DELETE", "OLD TABLE AS o_rows", _facts_pairs("o_rows")),
    ("line_attributions", "INSERT", "NEW TABLE AS n_rows", _OF_LINES.format(lines="SELECT order_line_id FROM n_rows")),
    (
        "line_attributions",
        "UPDATE",
        "OLD TABLE AS o_rows NEW TABLE AS n_rows",
        _OF_LINES.format(lines=_changed_line(("session_id", "order_line_id"))),
    ),
    ("line_attributions", "DELETE", "OLD TABLE AS o_rows", _OF_LINES.format(lines="SELECT order_line_id FROM o_rows")),
    ("lot_allocations", "INSERT", "NEW TABLE AS n_rows", _OF_LINES.format(lines="SELECT order_line_id FROM n_rows")),
    (
        "lot_allocations",
        "UPDATE",
        "OLD TABLE AS o_rows NEW TABLE AS n_rows",
        _OF_LINES.format(lines=_changed_line(("lot_id", "quantity", "order_line_id"))),
    ),
    ("lot_allocations", "DELETE", "OLD TABLE AS o_rows", _OF_LINES.format(lines="SELECT order_line_id FROM o_rows")),
    (
        "order_lines",
        "UPDATE",
        "OLD TABLE AS o_rows NEW TABLE AS n_rows",
        _OF_LINES.format(
            lines="SELECT n.id FROM n_rows n JOIN o_rows o ON o.id = n.id "
            "WHERE n.sku_id IS DISTINCT FROM o.sku_id OR n.shop_id IS DISTINCT FROM o.shop_id "
            "OR n.title IS DISTINCT FROM o.title"
        ),
    ),
    ("order_lines", "DELETE", "OLD TABLE AS o_rows", _OF_LINES.format(lines="SELECT id FROM o_rows")),
    (
        "skus",
        "UPDATE",
        "OLD TABLE AS o_rows NEW TABLE AS n_rows",
        _OF_LINES.format(
            lines="SELECT l.id FROM n_rows n JOIN o_rows o ON o.id = n.id JOIN order_lines l ON l.sku_id = n.id "
            "WHERE n.product_id IS DISTINCT FROM o.product_id"
        ),
    ),
)


def _pg_name(table: str, event: str) -> str:
    return f"{table}_groups_{event.lower()}"


def _pg_function(name: str, pairs: str) -> str:
    return f"""
    CREATE FUNCTION bangfu_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {_MARK}
        SELECT DISTINCT x.cooperative_id, x.day FROM ({pairs}) x ORDER BY 1, 2;
        RETURN NULL;
    END $$
    """


def _sqlite_mark(pairs: str) -> str:
    return (
        f"{_MARK} SELECT DISTINCT x.cooperative_id, x.day FROM ({pairs}) AS x "
        "WHERE NOT EXISTS (SELECT 1 FROM cooperative_group_dirty AS d "
        "WHERE d.cooperative_id = x.cooperative_id AND d.day = x.day);"
    )


def _sqlite_line(line: str) -> str:
    return _sqlite_mark(_OF_LINES.format(lines=line))


def _sqlite_facts(row: str) -> str:
    return _sqlite_mark(
        f"SELECT {row}.cooperative_id AS cooperative_id, {row}.day AS day UNION "
        "SELECT f.cooperative_id, f.day FROM cooperative_line_facts AS f "
        f"WHERE f.cooperative_id = {row}.cooperative_id AND f.order_line_id = {row}.order_line_id"
    )


# (trigger name, event and table, WHEN condition or "", statements)
_SQLITE_TRIGGERS: tuple[tuple[str, str, str, str], ...] = (
    ("cooperative_line_facts_groups_insert", "INSERT ON cooperative_line_facts", "", _sqlite_facts("NEW")),
    (
        "cooperative_line_facts_groups_update",
        "UPDATE ON cooperative_line_facts",
        "",
        _sqlite_facts("NEW") + " " + _sqlite_facts("OLD"),
    ),
    ("cooperative_line_facts_groups_delete", "DELETE ON cooperative_line_facts", "", _sqlite_facts("OLD")),
    ("line_attributions_groups_insert", "INSERT ON line_attributions", "", _sqlite_line("NEW.order_line_id")),
    (
        "line_attributions_groups_update",
        "UPDATE OF session_id, order_line_id ON line_attributions",
        "NEW.session_id IS NOT OLD.session_id OR NEW.order_line_id IS NOT OLD.order_line_id",
        _sqlite_line("NEW.order_line_id, OLD.order_line_id"),
    ),
    ("line_attributions_groups_delete", "DELETE ON line_attributions", "", _sqlite_line("OLD.order_line_id")),
    ("lot_allocations_groups_insert", "INSERT ON lot_allocations", "", _sqlite_line("NEW.order_line_id")),
    (
        "lot_allocations_groups_update",
        "UPDATE OF lot_id, quantity, order_line_id ON lot_allocations",
        "NEW.lot_id IS NOT OLD.lot_id OR NEW.quantity IS NOT OLD.quantity "
        "OR NEW.order_line_id IS NOT OLD.order_line_id",
        _sqlite_line("NEW.order_line_id, OLD.order_line_id"),
    ),
    ("lot_allocations_groups_delete", "DELETE ON lot_allocations", "", _sqlite_line("OLD.order_line_id")),
    (
        "order_lines_groups_update",
        "UPDATE OF sku_id, shop_id, title ON order_lines",
        "NEW.sku_id IS NOT OLD.sku_id OR NEW.shop_id IS NOT OLD.shop_id OR NEW.title IS NOT OLD.title",
        _sqlite_line("NEW.id"),
    ),
    ("order_lines_groups_delete", "DELETE ON order_lines", "", _sqlite_line("OLD.id")),
    (
        "skus_groups_update",
        "UPDATE OF product_id ON skus",
        "NEW.product_id IS NOT OLD.product_id",
        _sqlite_line("SELECT l.id FROM order_lines AS l WHERE l.sku_id = NEW.id"),
    ),
)

# Every facts row's group, summed per group (bangfu.cooperative_groups.live_rows, frozen).
BACKFILL = """
INSERT INTO cooperative_day_groups ({keys}, title, lines, {money})
SELECT {keys}, MIN(title), COUNT(*), {sums}
  FROM (
       SELECT f.cooperative_id, f.day, s.product_id, l.shop_id, a.session_id,
              CASE WHEN d.lots IS NULL THEN 0 WHEN d.lots = 1 THEN d.lot ELSE -1 END AS lot_id,
              CASE WHEN d.lots > 1 THEN f.order_line_id ELSE 0 END AS split_line,
              (SELECT MAX(e.day) FROM cooperative_line_facts e
                WHERE e.cooperative_id = f.cooperative_id AND e.order_line_id = f.order_line_id
                  AND e.day < f.day) AS prev_day,
              l.title, {fact_money}
         FROM cooperative_line_facts f
         LEFT JOIN order_lines l ON l.id = f.order_line_id
         LEFT JOIN skus s ON s.id = l.sku_id
         LEFT JOIN line_attributions a ON a.order_line_id = f.order_line_id
         LEFT JOIN (SELECT order_line_id, COUNT(DISTINCT lot_id) AS lots, MIN(lot_id) AS lot
                      FROM lot_allocations WHERE quantity > 0 GROUP BY order_line_id) d
           ON d.order_line_id = f.order_line_id) x
 GROUP BY {keys}
"""


TOTALS_BACKFILL = """
INSERT INTO cooperative_day_totals (cooperative_id, day, {money})
SELECT cooperative_id, day, {sums} FROM cooperative_line_facts GROUP BY cooperative_id, day
"""


def totals_backfill_sql() -> str:
    return TOTALS_BACKFILL.format(money=", ".join(MONEY), sums=", ".join(f"SUM({name})" for name in MONEY))


def backfill_sql() -> str:
    return BACKFILL.format(
        keys=", ".join(KEYS),
        money=", ".join(MONEY),
        sums=", ".join(f"SUM({name})" for name in MONEY),
        fact_money=", ".join(f"f.{name}" for name in MONEY),
    )


def upgrade() -> None:
    op.create_index(
        "ix_cooperative_line_facts_line",
        "cooperative_line_facts",
        ["order_line_id", "cooperative_id", "day"],
        unique=False,
    )
    op.create_table(
        "cooperative_day_groups",
        sa.Column("cooperative_id", ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("product_id", ID, nullable=True),
        sa.Column("shop_id", ID, nullable=True),
        sa.Column("session_id", ID, nullable=True),
        sa.Column("lot_id", ID, nullable=False),
        sa.Column("split_line", ID, nullable=False),
        sa.Column("prev_day", sa.Date(), nullable=True),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in MONEY),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cooperative_day_groups")),
    )
    op.create_index("ix_cooperative_day_groups_day", "cooperative_day_groups", ["cooperative_id", "day"], unique=False)
    op.create_table(
        "cooperative_day_totals",
        sa.Column("cooperative_id", ID, autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in MONEY),
        sa.PrimaryKeyConstraint("cooperative_id", "day", name=op.f("pk_cooperative_day_totals")),
    )
    op.create_table(
        "cooperative_group_dirty",
        sa.Column("cooperative_id", ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cooperative_group_dirty")),
    )
    op.create_index(
        "ix_cooperative_group_dirty_day", "cooperative_group_dirty", ["cooperative_id", "day"], unique=False
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table, event, tables, pairs in _PG_TRIGGERS:
            name = _pg_name(table, event)
            op.execute(_pg_function(name, pairs))
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {tables} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION bangfu_{name}()"
            )
    else:
        for name, on, when, body in _SQLITE_TRIGGERS:
            condition = f" WHEN {when}" if when else ""
            op.execute(f"CREATE TRIGGER {name} AFTER {on}{condition} BEGIN {body} END")
    bind.exec_driver_sql(backfill_sql())
    bind.exec_driver_sql(totals_backfill_sql())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, event, _tables, _pairs in _PG_TRIGGERS:
            name = _pg_name(table, event)
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION bangfu_{name}()")
    else:
        for name, _on, _when, _body in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index("ix_cooperative_group_dirty_day", table_name="cooperative_group_dirty")
    op.drop_table("cooperative_group_dirty")
    op.drop_table("cooperative_day_totals")
    op.drop_index("ix_cooperative_day_groups_day", table_name="cooperative_day_groups")
    op.drop_table("cooperative_day_groups")
    op.drop_index("ix_cooperative_line_facts_line", table_name="cooperative_line_facts")
