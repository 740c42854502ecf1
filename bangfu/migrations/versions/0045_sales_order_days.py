"""sales order days

The county overview's order totals (``bangfu.queries.county._sales``: how many orders, their
``paid_fen`` split by paid status, their ``post_fee_fen``, over the orders paid in the period
and the user's shops) summed per Asia/Shanghai day the order was paid and the order's shop in
``sales_order_days`` (``bangfu.sales_days``). "Paid status" is the overview's rule:
``status_rank >= 20`` (``OrderStatus.PAID.rank``: paid or later, as ``bangfu stats`` counts),
which reads ``status_rank``, not ``status``.

Kept exact by 0041's markers (``sales_dirty``), shared with ``sales_days`` and
``sales_refund_days``: an order's days are nearly always marked already by its lines (inserted
with it, or its status crossing paid), so one marker set, one refresh and one reader's "is this
day marked" serve the three tables. What an order change marks, old and new paid day:

- ``orders`` inserted with a payment time (new: an order was counted only through its lines);
- ``paid_at`` or ``shop_id`` changed, ``status`` crossing paid / not paid (as in 0041),
  ``status_rank`` crossing 20, ``paid_fen`` or ``post_fee_fen`` changed (new), while the order
  has a payment time before or after: 0041's ``orders_sales_update`` trigger is recreated with
  these columns and conditions (its body, which marks the old and new paid day and, for
  ``paid_at``, its lines' refunds' days, is unchanged);
- deleted: 0041's ``orders_sales_delete`` already marks the paid day.

A day marked for an order's amounts only also makes its ``sales_days`` rows be summed live
until the refresh: correct, and rare (the sync's amount changes come with their lines').

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-07 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0045"
down_revision: str | None = "0044"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

PG_DAY = "CAST({x} AT TIME ZONE 'Asia/Shanghai' AS DATE)"
SQLITE_DAY = "date({x}, '+8 hours')"
PAID_RANK = 20  # bangfu.enums.OrderStatus.PAID.rank, frozen
UNPAID = "'pending_payment', 'cancelled'"  # bangfu.enums.UNPAID_ORDER_STATUSES, frozen (0041)

# bangfu.sales_days.live_orders over every day, frozen.
ORDERS_BACKFILL = """
INSERT INTO sales_order_days (day, shop_id, orders, paid_fen, paid_time_only_fen, post_fee_fen)
SELECT {paid_day}, o.shop_id, COUNT(*),
       SUM(CASE WHEN o.status_rank >= {rank} THEN o.paid_fen ELSE 0 END),
       SUM(CASE WHEN o.status_rank >= {rank} THEN 0 ELSE o.paid_fen END),
       SUM(o.post_fee_fen)
  FROM orders o
 WHERE o.paid_at IS NOT NULL
 GROUP BY {paid_day}, o.shop_id
"""


def backfill_sql(postgres: bool) -> list[str]:
    """The statement that fills ``sales_order_days`` from the orders (and the test's check)."""
    day = (PG_DAY if postgres else SQLITE_DAY).format(x="o.paid_at")
    return [ORDERS_BACKFILL.format(paid_day=day, rank=PAID_RANK)]


# 0041's orders_sales_update trigger: its columns and WHEN, and this revision's.
OLD_COLUMNS = ("paid_at", "shop_id", "status")
NEW_COLUMNS = (*OLD_COLUMNS, "status_rank", "paid_fen", "post_fee_fen")
_OLD_CHANGED = (
    "OLD.paid_at {d} NEW.paid_at OR OLD.shop_id {d} NEW.shop_id"
    f" OR (OLD.status IN ({UNPAID})) {{d}} (NEW.status IN ({UNPAID}))"
)
_NEW_CHANGED = (
    "(OLD.paid_at IS NOT NULL OR NEW.paid_at IS NOT NULL) AND ("
    + _OLD_CHANGED
    + f" OR (OLD.status_rank >= {PAID_RANK}) {{d}} (NEW.status_rank >= {PAID_RANK})"
    " OR OLD.paid_fen {d} NEW.paid_fen OR OLD.post_fee_fen {d} NEW.post_fee_fen)"
)


def _sqlite_day_of(value: str) -> str:
    """0041's SQLite marking of one timestamp's day, skipping a day already marked."""
    day = SQLITE_DAY.format(x=value)
    return (
        f"INSERT INTO sales_dirty (day) SELECT x.day FROM (SELECT {day} AS day) AS x "
        "WHERE x.day IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sales_dirty AS m WHERE m.day = x.day);"
    )


def _sqlite_refund_days() -> str:
    """0041's SQLite body part: the days the succeeded refunds of the order's lines succeeded,
    when its payment time changed."""
    day = SQLITE_DAY.format(x="r.modified_at")
    return (
        f"INSERT INTO sales_dirty (day) SELECT DISTINCT x.day FROM (SELECT {day} AS day FROM refunds AS r "
        "WHERE r.order_line_id IN (SELECT l.id FROM order_lines AS l WHERE l.order_id = NEW.id "
        "AND NEW.paid_at IS NOT OLD.paid_at) AND r.status = 'succeeded') AS x "
        "WHERE x.day IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sales_dirty AS m WHERE m.day = x.day);"
    )


def _pg_update_trigger(columns: Sequence[str], changed: str) -> str:
    return (
        f"CREATE TRIGGER orders_sales_update AFTER UPDATE OF {', '.join(columns)} ON orders "
        f"FOR EACH ROW WHEN ({changed.format(d='IS DISTINCT FROM')}) EXECUTE FUNCTION bangfu_orders_sales_update()"
    )


def _sqlite_update_trigger(columns: Sequence[str], changed: str) -> str:
    body = _sqlite_day_of("OLD.paid_at") + _sqlite_day_of("NEW.paid_at") + _sqlite_refund_days()
    return (
        f"CREATE TRIGGER orders_sales_update AFTER UPDATE OF {', '.join(columns)} ON orders "
        f"WHEN {changed.format(d='IS NOT')} BEGIN {body} END"
    )


PG_INSERT_FUNCTION = (
    "CREATE FUNCTION bangfu_orders_sales_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"INSERT INTO sales_dirty (day) SELECT DISTINCT {PG_DAY.format(x='paid_at')} FROM n_rows "
    "WHERE paid_at IS NOT NULL ORDER BY 1; RETURN NULL; END $$"
)
PG_INSERT_TRIGGER = (
    "CREATE TRIGGER orders_sales_insert AFTER INSERT ON orders REFERENCING NEW TABLE AS n_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION bangfu_orders_sales_insert()"
)
SQLITE_INSERT_TRIGGER = (
    "CREATE TRIGGER orders_sales_insert AFTER INSERT ON orders WHEN NEW.paid_at IS NOT NULL "
    f"BEGIN {_sqlite_day_of('NEW.paid_at')} END"
)


def upgrade() -> None:
    op.create_table(
        "sales_order_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("shop_id", ID, autoincrement=False, nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_time_only_fen", sa.BigInteger(), nullable=False),
        sa.Column("post_fee_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "shop_id", name=op.f("pk_sales_order_days")),
    )
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.execute("DROP TRIGGER orders_sales_update ON orders")
        op.execute(_pg_update_trigger(NEW_COLUMNS, _NEW_CHANGED))
        op.execute(PG_INSERT_FUNCTION)
        op.execute(PG_INSERT_TRIGGER)
    else:
        op.execute("DROP TRIGGER orders_sales_update")
        op.execute(_sqlite_update_trigger(NEW_COLUMNS, _NEW_CHANGED))
        op.execute(SQLITE_INSERT_TRIGGER)
    for statement in backfill_sql(postgres):
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER orders_sales_insert ON orders")
        op.execute("DROP FUNCTION bangfu_orders_sales_insert()")
        op.execute("DROP TRIGGER orders_sales_update ON orders")
        op.execute(_pg_update_trigger(OLD_COLUMNS, _OLD_CHANGED))
    else:
        op.execute("DROP TRIGGER orders_sales_insert")
        op.execute("DROP TRIGGER orders_sales_update")
        op.execute(_sqlite_update_trigger(OLD_COLUMNS, _OLD_CHANGED))
    op.drop_table("sales_order_days")
