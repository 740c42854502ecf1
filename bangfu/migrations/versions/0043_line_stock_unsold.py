"""line_stock.unsold: lines of cancelled and closed orders leave the undrawn indexes

**The cost.** The stock truth reads the ``line_stock`` rows with ``quantity <> drawn_units``
(migration 0042) and joins each to its line and order to keep the sold ones. Lines of orders
that will never be drawn stayed in those partial indexes for good: orders cancelled before
payment (on Douyin and Kuaishou a large share of orders time out unpaid) and orders closed after
payment (fully refunded; their draws may be returned, leaving ``drawn_units < quantity``). In a
real store they are 10-30 % of the lines, and each one cost the truth a probe of ``orders``: its
cost grew with the store again.

**The flag.** ``line_stock.unsold`` is true exactly when the line's order is ``cancelled`` or
``closed`` (:data:`UNSOLD`), statuses that are never sold (``bangfu.stock_truth.SOLD_STATUSES``:
paid and neither cancelled nor closed). The partial indexes and the truth's sum add ``NOT
unsold``. ``pending_payment`` is not in the set: such an order is not sold yet but becomes
``paid`` in the ordinary course, and flagging it would make every payment rewrite its lines'
rows; it stays in the indexes (the sum's ``paid_at``/status filter leaves it out, as before).

Kept by triggers, in the statement that writes:

* a line's ``line_stock`` row is inserted with the flag of its order's status (the
  ``order_lines`` insert trigger looks the statement's orders up as an array on the primary
  key, as 0041's triggers do);
* an order's ``status`` moving into or out of the set rewrites its lines' flags (a row trigger
  ``AFTER UPDATE OF status`` whose ``WHEN`` lets through only such a move: the sync's upserts
  that keep the status, or move it within or outside the set, cost a comparison);
* a line moved to another order (``order_id`` changed: never done by the hub, kept exact
  anyway) takes that order's flag.

**Why no number changes.** Every row the flag leaves out belongs to an order in a status outside
``SOLD_STATUSES``, which the sum's ``_sold()`` filter dropped anyway. The flag may only ever lag
in the safe direction: a row flagged unsold must never belong to a sold line. The order status
rank rule lets an upsert raise the rank only, and ``cancelled`` (10) < ``paid`` (20), so
``cancelled -> paid`` does happen (a payment that lands after a timeout); the status trigger
clears the flag in the same statement. On PostgreSQL two transactions could otherwise race: one
inserting lines of an order it reads as cancelled while another makes the order paid (whose
trigger cannot see the uncommitted lines). The insert trigger therefore takes ``FOR SHARE`` on
the orders it flags (only those: the usual paid order takes no lock): the status update waits
for it, or it waits for the update and rereads the order (read committed), so it flags no line
of a sold order. The opposite race (a line inserted as sold while its order is cancelled) leaves
a row unflagged: it stays in the index and the status filter drops it, as before 0043. SQLite
has one writer at a time.

Existing rows are flagged from their orders here.

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-07 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0043"
down_revision: str | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Order statuses whose lines are never sold (a subset of those outside SOLD_STATUSES).
UNSOLD = ("cancelled", "closed")
_IN = "IN (" + ", ".join(f"'{s}'" for s in UNSOLD) + ")"
_MIRRORED = ("sku_id", "shop_id", "platform_item_id", "quantity")
_COLUMNS = ", ".join(_MIRRORED)
_NEW = ", ".join("n." + c for c in _MIRRORED)
_OLD_UNDRAWN = "quantity <> drawn_units"
# As ``bangfu.stock_truth`` renders its filter on each back end: SQLite matches a partial index
# only when the query's WHERE holds its terms, and SQLAlchemy writes ``unsold = 0`` there.
_UNDRAWN = {
    "postgresql": "quantity <> drawn_units AND unsold = false",
    "sqlite": "quantity <> drawn_units AND unsold = 0",
}
_INDEXES = (
    ("ix_line_stock_undrawn_sku", ["sku_id"], ""),
    ("ix_line_stock_undrawn_unmapped", ["shop_id", "platform_item_id"], "sku_id IS NULL AND "),
)

_PG_INSERT = (
    "WITH unsold AS (SELECT o.id FROM orders o"
    " WHERE o.id = ANY (ARRAY(SELECT DISTINCT order_id FROM n_lines)) AND o.status " + _IN + " FOR SHARE)"
    f" INSERT INTO line_stock (order_line_id, {_COLUMNS}, unsold)"
    f" SELECT n.id, {_NEW}, n.order_id IN (SELECT id FROM unsold) FROM n_lines n ORDER BY n.id"
)
_PG_INSERT_0042 = f"INSERT INTO line_stock (order_line_id, {_COLUMNS}) SELECT n.id, {_NEW} FROM n_lines n ORDER BY n.id"
# (name, table, watched column, WHEN, body)
_PG_ROW = (
    (
        "orders_line_stock_unsold",
        "orders",
        "status",
        f"(OLD.status {_IN}) <> (NEW.status {_IN})",
        f"UPDATE line_stock SET unsold = (NEW.status {_IN})"
        " WHERE order_line_id = ANY (ARRAY(SELECT id FROM order_lines WHERE order_id = NEW.id));",
    ),
    (
        "order_lines_stock_order",
        "order_lines",
        "order_id",
        "OLD.order_id IS DISTINCT FROM NEW.order_id",
        f"PERFORM 1 FROM orders WHERE id = NEW.order_id AND status {_IN} FOR SHARE;"
        " UPDATE line_stock SET unsold = FOUND WHERE order_line_id = NEW.id;",
    ),
)
_SQLITE_UNSOLD_OF = f"COALESCE((SELECT o.status {_IN} FROM orders o WHERE o.id = NEW.order_id), 0)"
_SQLITE_INSERT = (
    f"INSERT INTO line_stock (order_line_id, {_COLUMNS}, unsold)"
    f" VALUES (NEW.id, {', '.join('NEW.' + c for c in _MIRRORED)}, {_SQLITE_UNSOLD_OF});"
)
_SQLITE_INSERT_0042 = (
    f"INSERT INTO line_stock (order_line_id, {_COLUMNS}) VALUES (NEW.id, {', '.join('NEW.' + c for c in _MIRRORED)});"
)
# (name, event, WHEN, body)
_SQLITE_ROW = (
    (
        "orders_line_stock_unsold",
        "UPDATE OF status ON orders",
        f"(OLD.status {_IN}) <> (NEW.status {_IN})",
        f"UPDATE line_stock SET unsold = (NEW.status {_IN})"
        " WHERE order_line_id IN (SELECT id FROM order_lines WHERE order_id = NEW.id);",
    ),
    (
        "order_lines_stock_order",
        "UPDATE OF order_id ON order_lines",
        "OLD.order_id IS NOT NEW.order_id",
        f"UPDATE line_stock SET unsold = {_SQLITE_UNSOLD_OF} WHERE order_line_id = NEW.id;",
    ),
)
_BACKFILL = (
    "UPDATE line_stock SET unsold = true WHERE order_line_id IN"
    f" (SELECT l.id FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.status {_IN})"
)


def _pg_function(name: str, body: str) -> str:
    return (
        f"CREATE OR REPLACE FUNCTION bangfu_{name}() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN {body}; RETURN NULL; END $$"
    )


def _indexes(where: dict[str, str]) -> None:
    for name, columns, extra in _INDEXES:
        op.drop_index(name, table_name="line_stock")
        op.create_index(
            name,
            "line_stock",
            columns,
            postgresql_where=sa.text(extra + where["postgresql"]),
            sqlite_where=sa.text(extra + where["sqlite"]),
        )


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.add_column("line_stock", sa.Column("unsold", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute(_BACKFILL)
    _indexes(_UNDRAWN)
    if pg:
        op.execute(_pg_function("order_lines_stock_insert", _PG_INSERT))
        for name, table, column, when, body in _PG_ROW:
            op.execute(
                f"CREATE FUNCTION bangfu_{name}() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN {body} RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER UPDATE OF {column} ON {table}"
                f" FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION bangfu_{name}()"
            )
    else:
        op.execute("DROP TRIGGER order_lines_stock_insert")
        op.execute(f"CREATE TRIGGER order_lines_stock_insert AFTER INSERT ON order_lines BEGIN {_SQLITE_INSERT} END")
        for name, event, when, body in _SQLITE_ROW:
            op.execute(f"CREATE TRIGGER {name} AFTER {event} WHEN {when} BEGIN {body} END")


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:
        for name, table, *_ in _PG_ROW:
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION bangfu_{name}()")
        op.execute(_pg_function("order_lines_stock_insert", _PG_INSERT_0042))
    else:
        for name, *_ in _SQLITE_ROW:
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TRIGGER order_lines_stock_insert")
        op.execute(
            f"CREATE TRIGGER order_lines_stock_insert AFTER INSERT ON order_lines BEGIN {_SQLITE_INSERT_0042} END"
        )
    _indexes({"postgresql": _OLD_UNDRAWN, "sqlite": _OLD_UNDRAWN})
    if pg:
        op.drop_column("line_stock", "unsold")
    else:  # SQLite >= 3.35 (a batch copy of the table would trip over the triggers naming it)
        op.execute("ALTER TABLE line_stock DROP COLUMN unsold")
