"""line_stock: each order line's drawn units beside its SKU and quantity; the stock truth reads
only the lines not fully drawn

**The cost.** A SKU's truth (``bangfu.stock_truth.load_stock``) subtracts the units sold and not
yet drawn from a lot: over every sold line of the SKU paid since its first lot, the line's
quantity less what ``lot_allocations`` drew for it (net of returns). That read every such line
and summed its draws, on every storefront page of the county's mall, every checkout and every
stock push: at 1,000,000 order lines, 4.3 s for ``/mall/``. Nearly every one of those lines is
fully drawn (it adds 0).

**The table.** ``line_stock`` has one row per order line: the line's SKU, shop, item and
quantity as ``order_lines`` holds them, and ``drawn_units``, the sum of the line's
``lot_allocations`` (draws less returns). Triggers keep it in the statement that writes either
table, whoever writes it: on ``order_lines`` (insert, update, delete) and on ``lot_allocations``
(insert, update, delete); PostgreSQL statement triggers over the transition tables, SQLite row
triggers. Partial indexes hold the rows with ``quantity <> drawn_units``: by SKU, and the
unmapped lines (``sku_id`` NULL) by shop and item. The truth reads only those lines: not drawn
yet (unpaid, waiting for the pipeline or for stock, cancelled), returned in part, or changed in
quantity after their draw. The sum is the same: a line with ``quantity = drawn_units`` adds 0.

A table of its own rather than a column of ``order_lines``: a draw then updates this narrow row,
not the line, whose update triggers (the change queue, session summaries, day and county groups)
would each run for every draw statement.

Existing lines are copied with their draws' sum here.

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UNDRAWN = "quantity <> drawn_units"
_MIRRORED = ("sku_id", "shop_id", "platform_item_id", "quantity")


def _pg_function(name: str, body: str) -> str:
    return f"""
    CREATE OR REPLACE FUNCTION bangfu_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {body};
        RETURN NULL;
    END $$
    """


def _pg_draws(moved: str) -> str:
    return (
        "UPDATE line_stock AS s SET drawn_units = s.drawn_units + d.units"
        f" FROM (SELECT m.order_line_id, SUM(m.units) AS units FROM ({moved}) AS m"
        " GROUP BY m.order_line_id HAVING SUM(m.units) <> 0) AS d"
        " WHERE s.order_line_id = d.order_line_id"
    )


# (trigger and function name, table, event, transition tables, body)
_PG = (
    (
        "order_lines_stock_insert",
        "order_lines",
        "INSERT",
        "NEW TABLE AS n_lines",
        f"INSERT INTO line_stock (order_line_id, {', '.join(_MIRRORED)})"
        f" SELECT n.id, {', '.join('n.' + c for c in _MIRRORED)} FROM n_lines n ORDER BY n.id",
    ),
    (
        "order_lines_stock_update",
        "order_lines",
        "UPDATE",
        "NEW TABLE AS n_lines",
        f"UPDATE line_stock AS s SET {', '.join(f'{c} = n.{c}' for c in _MIRRORED)} FROM n_lines n"
        " WHERE s.order_line_id = n.id AND (" + " OR ".join(f"s.{c} IS DISTINCT FROM n.{c}" for c in _MIRRORED) + ")",
    ),
    (
        "order_lines_stock_delete",
        "order_lines",
        "DELETE",
        "OLD TABLE AS o_lines",
        "DELETE FROM line_stock WHERE order_line_id IN (SELECT o.id FROM o_lines o)",
    ),
    (
        "lot_allocations_stock_insert",
        "lot_allocations",
        "INSERT",
        "NEW TABLE AS n_draws",
        _pg_draws("SELECT order_line_id, quantity AS units FROM n_draws"),
    ),
    (
        "lot_allocations_stock_update",
        "lot_allocations",
        "UPDATE",
        "OLD TABLE AS o_draws NEW TABLE AS n_draws",
        _pg_draws(
            "SELECT order_line_id, quantity AS units FROM n_draws"
            " UNION ALL SELECT order_line_id, -quantity FROM o_draws"
        ),
    ),
    (
        "lot_allocations_stock_delete",
        "lot_allocations",
        "DELETE",
        "OLD TABLE AS o_draws",
        _pg_draws("SELECT order_line_id, -quantity AS units FROM o_draws"),
    ),
)


def _sqlite_draw(row: str, sign: str) -> str:
    return (
        f"UPDATE line_stock SET drawn_units = drawn_units {sign} {row}.quantity"
        f" WHERE order_line_id = {row}.order_line_id;"
    )


_SQLITE = (
    (
        "order_lines_stock_insert",
        "INSERT ON order_lines",
        f"INSERT INTO line_stock (order_line_id, {', '.join(_MIRRORED)})"
        f" VALUES (NEW.id, {', '.join('NEW.' + c for c in _MIRRORED)});",
    ),
    (
        "order_lines_stock_update",
        f"UPDATE OF {', '.join(_MIRRORED)} ON order_lines",
        f"UPDATE line_stock SET {', '.join(f'{c} = NEW.{c}' for c in _MIRRORED)} WHERE order_line_id = NEW.id;",
    ),
    ("order_lines_stock_delete", "DELETE ON order_lines", "DELETE FROM line_stock WHERE order_line_id = OLD.id;"),
    ("lot_allocations_stock_insert", "INSERT ON lot_allocations", _sqlite_draw("NEW", "+")),
    (
        "lot_allocations_stock_update",
        "UPDATE OF order_line_id, quantity ON lot_allocations",
        _sqlite_draw("OLD", "-") + " " + _sqlite_draw("NEW", "+"),
    ),
    ("lot_allocations_stock_delete", "DELETE ON lot_allocations", _sqlite_draw("OLD", "-")),
)

_BACKFILL = (
    f"INSERT INTO line_stock (order_line_id, {', '.join(_MIRRORED)}, drawn_units)"
    f" SELECT l.id, {', '.join('l.' + c for c in _MIRRORED)}, COALESCE(d.units, 0) FROM order_lines AS l"
    " LEFT JOIN (SELECT order_line_id, SUM(quantity) AS units FROM lot_allocations GROUP BY order_line_id) AS d"
    " ON d.order_line_id = l.id ORDER BY l.id"
)


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "line_stock",
        sa.Column("order_line_id", ID, autoincrement=False, nullable=False),
        sa.Column("sku_id", ID, nullable=True),
        sa.Column("shop_id", ID, nullable=False),
        sa.Column("platform_item_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("drawn_units", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("order_line_id", name=op.f("pk_line_stock")),
    )
    op.execute(_BACKFILL)
    op.create_index(
        "ix_line_stock_undrawn_sku",
        "line_stock",
        ["sku_id"],
        postgresql_where=sa.text(_UNDRAWN),
        sqlite_where=sa.text(_UNDRAWN),
    )
    unmapped = f"sku_id IS NULL AND {_UNDRAWN}"
    op.create_index(
        "ix_line_stock_undrawn_unmapped",
        "line_stock",
        ["shop_id", "platform_item_id"],
        postgresql_where=sa.text(unmapped),
        sqlite_where=sa.text(unmapped),
    )
    if pg:
        for name, table, event, tables, body in _PG:
            op.execute(_pg_function(name, body))
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {tables}"
                f" FOR EACH STATEMENT EXECUTE FUNCTION bangfu_{name}()"
            )
    else:
        for name, event, body in _SQLITE:
            op.execute(f"CREATE TRIGGER {name} AFTER {event} BEGIN {body} END")


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:
        for name, table, *_ in _PG:
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION bangfu_{name}()")
    else:
        for name, *_ in _SQLITE:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index("ix_line_stock_undrawn_unmapped", table_name="line_stock")
    op.drop_index("ix_line_stock_undrawn_sku", table_name="line_stock")
    op.drop_table("line_stock")
