"""one probe of the orders for a statement's new order lines (PostgreSQL)

**The cost.** Three statement-level triggers on ``order_lines`` each looked the statement's
orders up by primary key, one after another, for every batch the sync writes: the reference
check (0038: the distinct orders, locked ``FOR KEY SHARE``; fewer locked than named means one is
missing), the sales day markers (0041: the paid day of each order with a payment time, into
``sales_dirty``) and the ``line_stock`` mirror (0043: the orders cancelled or closed, locked ``FOR
SHARE``, whose lines are inserted ``unsold``). A batch of 1,000 new orders with 1,490 lines ran
three index scans of 1,000 orders, three plpgsql calls and three scans of the transition table.

**Now.** ``order_lines_stock_insert``'s function does the three from one locking read: the
distinct orders the new lines name, ``FOR KEY SHARE`` (as the check locked them), with their
payment time and status. From those rows, in the same statement: the paid days are marked; then
a missing order is refused with the foreign key's error (SQLSTATE 23503, message, table, column
and constraint as 0038 raises it); the orders read as cancelled or closed are locked ``FOR SHARE``
and read again (only those, as 0043's query locked only those, and a status that moved out of
the set meanwhile is seen); the lines' ``line_stock`` rows are inserted with that flag. The
trigger ``order_lines_sales_insert`` and its function are dropped, and
``bangfu_order_lines_references_inserted`` keeps the shop and SKU checks only. What is marked,
mirrored, flagged, locked and refused is the same; a statement with a missing order still stores
nothing (the error aborts it, whichever trigger raises it).

**The SKU's undrawn index without the unmapped lines.** ``ix_line_stock_undrawn_sku`` (0042, 0043)
held every undrawn row, those without a SKU too, all under the key NULL; its one reader, the
stock truth's sum over a SKU's own lines (``bangfu.stock_truth``), asks for ``sku_id = <a SKU>``,
which never matches NULL (the unmapped lines are read through ``ix_line_stock_undrawn_unmapped``).
On PostgreSQL its predicate adds ``sku_id IS NOT NULL``, which the reader's equality implies (the
planner proves it, so the index is still chosen): a new line without a SKU writes one index entry
less. The rows every reader gets are the same.

Deletes and updates keep their own triggers. SQLite is unchanged (row triggers, one line each,
and 0043's index). Downgrade restores the three functions, the trigger and the index as 0038,
0041 and 0043 left them.

Revision ID: 0049
Revises: 0046
Create Date: 2026-12-07 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0049"
down_revision: str | None = "0048"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSOLD = "('cancelled', 'closed')"  # 0043's UNSOLD, frozen
PG_DAY = "CAST({x} AT TIME ZONE 'Asia/Shanghai' AS DATE)"  # 0041, frozen
_MIRRORED = "sku_id, shop_id, platform_item_id, quantity"
_NEW = "n.sku_id, n.shop_id, n.platform_item_id, n.quantity"


def _missing(column: str, parent: str, key: str) -> str:
    """0038's foreign key error for an order line naming ``key`` (a plpgsql expression)."""
    constraint = f"fk_order_lines_{column}_{parent}"
    return (
        f"RAISE EXCEPTION 'insert or update on table \"order_lines\" violates foreign key constraint"
        f" \"{constraint}\"' USING ERRCODE = 'foreign_key_violation',"
        f" DETAIL = format('Key ({column})=(%s) is not present in table \"{parent}\".', {key}),"
        f" TABLE = 'order_lines', COLUMN = '{column}', CONSTRAINT = '{constraint}';"
    )


def _check_0038(column: str, parent: str) -> str:
    """0038's check of one reference over the new lines, frozen."""
    return f"""
        keys := ARRAY(SELECT DISTINCT n.{column} FROM new_rows n WHERE n.{column} IS NOT NULL);
        IF cardinality(keys) > 0 THEN
            PERFORM 1 FROM {parent} p WHERE p.id = ANY (keys) FOR KEY SHARE OF p;
            GET DIAGNOSTICS found = ROW_COUNT;
            IF found < cardinality(keys) THEN
                SELECT k INTO bad FROM unnest(keys) k
                 WHERE NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = k) LIMIT 1;
                {_missing(column, parent, "bad")}
            END IF;
        END IF;"""


def _references(checks: Sequence[tuple[str, str]]) -> str:
    body = "".join(_check_0038(column, parent) for column, parent in checks)
    return f"""
    CREATE OR REPLACE FUNCTION bangfu_order_lines_references_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        keys bigint[]; found bigint; bad bigint;
    BEGIN{body}
        RETURN NULL;
    END $$
    """


_REFERENCES_0038 = _references((("order_id", "orders"), ("shop_id", "shops"), ("sku_id", "skus")))
_REFERENCES_0049 = _references((("shop_id", "shops"), ("sku_id", "skus")))

# The statement's orders, read and locked once: their paid days marked (0041), a missing one
# refused (0038), the cancelled or closed ones locked FOR SHARE and read again (0043), the lines
# mirrored into line_stock with that flag (0042, 0043).
_STOCK_0049 = f"""
CREATE OR REPLACE FUNCTION bangfu_order_lines_stock_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    keys bigint[]; unsold bigint[]; found bigint; bad bigint;
BEGIN
    keys := ARRAY(SELECT DISTINCT n.order_id FROM n_lines n WHERE n.order_id IS NOT NULL);
    WITH o AS MATERIALIZED (
        SELECT o.id, o.paid_at, o.status FROM orders o WHERE o.id = ANY (keys) FOR KEY SHARE OF o
    ), marked AS (
        INSERT INTO sales_dirty (day) SELECT DISTINCT {PG_DAY.format(x="o.paid_at")} FROM o
         WHERE o.paid_at IS NOT NULL ORDER BY 1
    )
    SELECT ARRAY(SELECT o.id FROM o WHERE o.status IN {UNSOLD}), (SELECT count(*) FROM o) INTO unsold, found;
    IF found < cardinality(keys) THEN
        SELECT k INTO bad FROM unnest(keys) k WHERE NOT EXISTS (SELECT 1 FROM orders p WHERE p.id = k) LIMIT 1;
        {_missing("order_id", "orders", "bad")}
    END IF;
    IF cardinality(unsold) > 0 THEN
        unsold := ARRAY(SELECT o.id FROM orders o WHERE o.id = ANY (unsold) AND o.status IN {UNSOLD} FOR SHARE);
    END IF;
    INSERT INTO line_stock (order_line_id, {_MIRRORED}, unsold)
    SELECT n.id, {_NEW}, n.order_id = ANY (unsold) FROM n_lines n ORDER BY n.id;
    RETURN NULL;
END $$
"""
_STOCK_0043 = (
    "CREATE OR REPLACE FUNCTION bangfu_order_lines_stock_insert() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN WITH unsold AS (SELECT o.id FROM orders o"
    f" WHERE o.id = ANY (ARRAY(SELECT DISTINCT order_id FROM n_lines)) AND o.status IN {UNSOLD} FOR SHARE)"
    f" INSERT INTO line_stock (order_line_id, {_MIRRORED}, unsold)"
    f" SELECT n.id, {_NEW}, n.order_id IN (SELECT id FROM unsold) FROM n_lines n ORDER BY n.id; RETURN NULL; END $$"
)
_SALES_0041 = (
    "CREATE FUNCTION bangfu_order_lines_sales_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"INSERT INTO sales_dirty (day) SELECT DISTINCT {PG_DAY.format(x='o.paid_at')} FROM orders o "
    "WHERE o.id = ANY (ARRAY(SELECT DISTINCT order_id FROM n_rows)) AND o.paid_at IS NOT NULL ORDER BY 1; "
    "RETURN NULL; END $$"
)
_SALES_TRIGGER_0041 = (
    "CREATE TRIGGER order_lines_sales_insert AFTER INSERT ON order_lines REFERENCING NEW TABLE AS n_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION bangfu_order_lines_sales_insert()"
)


_UNDRAWN_0043 = "quantity <> drawn_units AND unsold = false"
_UNDRAWN_SKU_0049 = "sku_id IS NOT NULL AND " + _UNDRAWN_0043


def _sku_index(where: str) -> None:
    op.drop_index("ix_line_stock_undrawn_sku", table_name="line_stock")
    op.create_index("ix_line_stock_undrawn_sku", "line_stock", ["sku_id"], postgresql_where=sa.text(where))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite's row triggers are unchanged
    op.execute("DROP TRIGGER order_lines_sales_insert ON order_lines")
    op.execute("DROP FUNCTION bangfu_order_lines_sales_insert()")
    op.execute(_STOCK_0049)
    op.execute(_REFERENCES_0049)
    _sku_index(_UNDRAWN_SKU_0049)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _sku_index(_UNDRAWN_0043)
    op.execute(_REFERENCES_0038)
    op.execute(_STOCK_0043)
    op.execute(_SALES_0041)
    op.execute(_SALES_TRIGGER_0041)
