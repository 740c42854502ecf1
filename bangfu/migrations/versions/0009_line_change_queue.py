"""line change queue

The pipeline used to find its work by reading every paid line each run (attribution: lines
without an attribution of their current version; lot allocation: undrawn lines of SKUs with
lots; posting discovery: lines without a state row, with a newer version, or with more
settlement lines than they have seen), so an idle run took time in proportion to all the lines
ever stored: 0.7 s at 100,000 lines, once a minute.

``line_changes`` is the stages' work queue, filled by triggers in the transaction of the change
itself, so a change can never be committed without its queue row:

- a new order line, or a new version, SKU or quantity of one: the line, for ``attribute``,
  ``allocate`` and ``post``;
- an order whose ``paid_at`` or ``status`` changes: its lines, for all three;
- a new settlement line, or one moved to another order: the lines of its order, for ``post``;
- the first lot of a SKU (or a lot moved to a SKU without lots): the SKU's undrawn lines, for
  ``allocate`` (a line waiting for stock keeps its row while its SKU has lots).

PostgreSQL uses statement-level triggers over transition tables (one insert per statement,
COPY included), joined to the lines by index lookups (``LATERAL``); SQLite uses row triggers.
Lines that are due now are queued by this migration, so nothing due is left behind.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ALL = "(VALUES ('attribute'), ('allocate'), ('post')) AS s (stage)"
_ALL_SQLITE = "(SELECT 'attribute' AS stage UNION ALL SELECT 'allocate' UNION ALL SELECT 'post') AS s"

_PG_UP = (
    # Lines stored, or stored again with another version, SKU or quantity: for every stage.
    *(
        f"""
        CREATE FUNCTION bangfu_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO line_changes (stage, order_line_id)
            SELECT s.stage, n.id FROM new_lines n {changed} CROSS JOIN {_ALL} {where} ORDER BY n.id, s.stage;
            RETURN NULL;
        END $$
        """
        for name, changed, where in (
            ("new_lines_queued", "", ""),
            (
                "changed_lines_queued",
                "JOIN old_lines o ON o.id = n.id",
                "WHERE n.version IS DISTINCT FROM o.version OR n.sku_id IS DISTINCT FROM o.sku_id "
                "OR n.quantity <> o.quantity",
            ),
        )
    ),
    f"""
    CREATE FUNCTION bangfu_order_lines_queued() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO line_changes (stage, order_line_id)
        SELECT s.stage, l.id
          FROM new_orders n JOIN old_orders o ON o.id = n.id
         CROSS JOIN LATERAL (SELECT id FROM order_lines WHERE order_id = n.id) l
         CROSS JOIN {_ALL}
         WHERE n.paid_at IS DISTINCT FROM o.paid_at OR n.status IS DISTINCT FROM o.status
         ORDER BY l.id, s.stage;
        RETURN NULL;
    END $$
    """,
    # Settlement lines for an order (new, or moved to it): the order's lines, for posting.
    *(
        f"""
        CREATE FUNCTION bangfu_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO line_changes (stage, order_line_id)
            SELECT DISTINCT 'post', l.id
              FROM (SELECT DISTINCT n.shop_id, n.platform_order_id FROM new_bills n {moved}) n
             CROSS JOIN LATERAL (SELECT ol.id FROM orders o JOIN order_lines ol ON ol.order_id = o.id
                                  WHERE o.shop_id = n.shop_id AND o.platform_order_id = n.platform_order_id) l
             ORDER BY l.id;
            RETURN NULL;
        END $$
        """
        for name, moved in (
            ("billed_lines_queued", "WHERE n.platform_order_id IS NOT NULL"),
            (
                "moved_bills_queued",
                "JOIN old_bills o ON o.id = n.id WHERE n.platform_order_id IS NOT NULL "
                "AND (n.shop_id <> o.shop_id OR n.platform_order_id IS DISTINCT FROM o.platform_order_id)",
            ),
        )
    ),
    # A SKU's first lot (or a lot moved to a SKU without lots): its undrawn lines are queued for
    # allocation (a SKU's waiting lines stay queued while it has lots, so later lots need nothing).
    *(
        f"""
        CREATE FUNCTION bangfu_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO line_changes (stage, order_line_id)
            SELECT 'allocate', l.id
              FROM (SELECT DISTINCT n.sku_id FROM new_lots n {moved}) n
             CROSS JOIN LATERAL (SELECT ol.id FROM order_lines ol WHERE ol.sku_id = n.sku_id) l
             WHERE NOT EXISTS (SELECT 1 FROM supply_lots s WHERE s.sku_id = n.sku_id
                                  AND s.id NOT IN (SELECT id FROM new_lots))
               AND NOT EXISTS (SELECT 1 FROM lot_allocations a WHERE a.order_line_id = l.id AND a.quantity > 0)
               AND NOT EXISTS (SELECT 1 FROM line_changes c WHERE c.stage = 'allocate' AND c.order_line_id = l.id)
             ORDER BY l.id;
            RETURN NULL;
        END $$
        """
        for name, moved in (
            ("new_lot_lines_queued", ""),
            ("moved_lot_lines_queued", "JOIN old_lots o ON o.id = n.id WHERE n.sku_id IS DISTINCT FROM o.sku_id"),
        )
    ),
    "CREATE TRIGGER supply_lots_queued_insert AFTER INSERT ON supply_lots REFERENCING NEW TABLE AS new_lots "
    "FOR EACH STATEMENT EXECUTE FUNCTION bangfu_new_lot_lines_queued()",
    "CREATE TRIGGER supply_lots_queued_update AFTER UPDATE ON supply_lots "
    "REFERENCING OLD TABLE AS old_lots NEW TABLE AS new_lots "
    "FOR EACH STATEMENT EXECUTE FUNCTION bangfu_moved_lot_lines_queued()",
    "CREATE TRIGGER order_lines_queued_insert AFTER INSERT ON order_lines REFERENCING NEW TABLE AS new_lines "
    "FOR EACH STATEMENT EXECUTE FUNCTION bangfu_new_lines_queued()",
    "CREATE TRIGGER order_lines_queued_update AFTER UPDATE ON order_lines "
    "REFERENCING OLD TABLE AS old_lines NEW TABLE AS new_lines "
    "FOR EACH STATEMENT EXECUTE FUNCTION bangfu_changed_lines_queued()",
    "CREATE TRIGGER orders_queued_update AFTER UPDATE ON orders "
    "REFERENCING OLD TABLE AS old_orders NEW TABLE AS new_orders "
    "FOR EACH STATEMENT EXECUTE FUNCTION bangfu_order_lines_queued()",
    "CREATE TRIGGER settlement_lines_queued_insert AFTER INSERT ON settlement_lines "
    "REFERENCING NEW TABLE AS new_bills FOR EACH STATEMENT EXECUTE FUNCTION bangfu_billed_lines_queued()",
    # A bill line moved to another order changes both orders' counts; the new one is queued.
    "CREATE TRIGGER settlement_lines_queued_update AFTER UPDATE ON settlement_lines "
    "REFERENCING OLD TABLE AS old_bills NEW TABLE AS new_bills "
    "FOR EACH STATEMENT EXECUTE FUNCTION bangfu_moved_bills_queued()",
)

_PG_DOWN = (
    "DROP TRIGGER supply_lots_queued_update ON supply_lots",
    "DROP TRIGGER supply_lots_queued_insert ON supply_lots",
    "DROP FUNCTION bangfu_moved_lot_lines_queued()",
    "DROP FUNCTION bangfu_new_lot_lines_queued()",
    "DROP TRIGGER settlement_lines_queued_update ON settlement_lines",
    "DROP TRIGGER settlement_lines_queued_insert ON settlement_lines",
    "DROP TRIGGER orders_queued_update ON orders",
    "DROP TRIGGER order_lines_queued_update ON order_lines",
    "DROP TRIGGER order_lines_queued_insert ON order_lines",
    "DROP FUNCTION bangfu_moved_bills_queued()",
    "DROP FUNCTION bangfu_billed_lines_queued()",
    "DROP FUNCTION bangfu_order_lines_queued()",
    "DROP FUNCTION bangfu_changed_lines_queued()",
    "DROP FUNCTION bangfu_new_lines_queued()",
)

_SQLITE_UP = (
    "CREATE TRIGGER order_lines_queued_insert AFTER INSERT ON order_lines BEGIN "
    f"INSERT INTO line_changes (stage, order_line_id) SELECT s.stage, NEW.id FROM {_ALL_SQLITE}; END",
    "CREATE TRIGGER order_lines_queued_update AFTER UPDATE OF version, sku_id, quantity ON order_lines "
    "WHEN NEW.version IS NOT OLD.version OR NEW.sku_id IS NOT OLD.sku_id OR NEW.quantity IS NOT OLD.quantity "
    f"BEGIN INSERT INTO line_changes (stage, order_line_id) SELECT s.stage, NEW.id FROM {_ALL_SQLITE}; END",
    "CREATE TRIGGER orders_queued_update AFTER UPDATE OF paid_at, status ON orders "
    "WHEN NEW.paid_at IS NOT OLD.paid_at OR NEW.status IS NOT OLD.status BEGIN "
    "INSERT INTO line_changes (stage, order_line_id) SELECT s.stage, l.id FROM order_lines AS l "
    f"CROSS JOIN {_ALL_SQLITE} WHERE l.order_id = NEW.id; END",
    *(
        f"CREATE TRIGGER settlement_lines_queued_{event.split()[0].lower()} AFTER {event} ON settlement_lines "
        "WHEN NEW.platform_order_id IS NOT NULL BEGIN "
        "INSERT INTO line_changes (stage, order_line_id) SELECT 'post', l.id FROM orders AS o "
        "JOIN order_lines AS l ON l.order_id = o.id "
        "WHERE o.shop_id = NEW.shop_id AND o.platform_order_id = NEW.platform_order_id; END"
        for event in ("INSERT", "UPDATE OF shop_id, platform_order_id")
    ),
    *(
        f"CREATE TRIGGER supply_lots_queued_{event.split()[0].lower()} AFTER {event} ON supply_lots "
        f"WHEN {moved}NOT EXISTS (SELECT 1 FROM supply_lots WHERE sku_id = NEW.sku_id AND id <> NEW.id) BEGIN "
        "INSERT INTO line_changes (stage, order_line_id) SELECT 'allocate', l.id FROM order_lines AS l "
        "WHERE l.sku_id = NEW.sku_id "
        "AND NOT EXISTS (SELECT 1 FROM lot_allocations AS a WHERE a.order_line_id = l.id AND a.quantity > 0) "
        "AND NOT EXISTS (SELECT 1 FROM line_changes AS c WHERE c.stage = 'allocate' AND c.order_line_id = l.id); END"
        for event, moved in (("INSERT", ""), ("UPDATE OF sku_id", "NEW.sku_id IS NOT OLD.sku_id AND "))
    ),
)

_SQLITE_DOWN = tuple(
    f"DROP TRIGGER {name}"
    for name in (
        "supply_lots_queued_update",
        "supply_lots_queued_insert",
        "settlement_lines_queued_update",
        "settlement_lines_queued_insert",
        "orders_queued_update",
        "order_lines_queued_update",
        "order_lines_queued_insert",
    )
)

_PAID = "o.paid_at IS NOT NULL AND o.status NOT IN ('pending_payment', 'cancelled')"

# What the stages' full scans found due before this migration, queued once.
_SEED = (
    "INSERT INTO line_changes (stage, order_line_id) SELECT 'attribute', l.id FROM order_lines AS l "
    "JOIN orders AS o ON o.id = l.order_id LEFT JOIN line_attributions AS a ON a.order_line_id = l.id "
    f"WHERE {_PAID} AND (a.id IS NULL OR a.line_version < l.version) ORDER BY l.id",
    "INSERT INTO line_changes (stage, order_line_id) SELECT 'post', l.id FROM order_lines AS l "
    "JOIN orders AS o ON o.id = l.order_id LEFT JOIN line_accounting AS la ON la.order_line_id = l.id "
    f"WHERE {_PAID} AND (la.id IS NULL OR l.version > la.line_version OR la.bill_lines < "
    "(SELECT count(*) FROM settlement_lines AS b WHERE b.shop_id = o.shop_id "
    "AND b.platform_order_id = o.platform_order_id)) ORDER BY l.id",
    "INSERT INTO line_changes (stage, order_line_id) SELECT 'allocate', l.id FROM order_lines AS l "
    f"JOIN orders AS o ON o.id = l.order_id WHERE {_PAID} AND l.quantity > 0 "
    "AND l.sku_id IN (SELECT sku_id FROM supply_lots) "
    "AND NOT EXISTS (SELECT 1 FROM lot_allocations AS a WHERE a.order_line_id = l.id AND a.quantity > 0) "
    "ORDER BY l.id",
)


def upgrade() -> None:
    op.create_table(
        "line_changes",
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("order_line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_changes")),
    )
    op.create_index("ix_line_changes_stage_id", "line_changes", ["stage", "id"], unique=False)
    op.create_index("ix_line_changes_order_line_id", "line_changes", ["order_line_id"], unique=False)
    pg = op.get_bind().dialect.name == "postgresql"
    for statement in _PG_UP if pg else _SQLITE_UP:
        op.execute(statement)
    for statement in _SEED:
        op.execute(statement)


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for statement in _PG_DOWN if pg else _SQLITE_DOWN:
        op.execute(statement)
    op.drop_index("ix_line_changes_order_line_id", table_name="line_changes")
    op.drop_index("ix_line_changes_stage_id", table_name="line_changes")
    op.drop_table("line_changes")
