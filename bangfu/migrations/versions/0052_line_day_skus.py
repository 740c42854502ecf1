"""household line days keep their line's SKU

``household_line_days.sku_id``: the SKU of the row's order line (``order_lines.sku_id``), NULL
for line 0 (the year-end surplus return, no line). The household statement
(``bangfu.queries.households.statement``) named each of the period's lines by looking it up in
``order_lines`` -> ``skus`` -> ``products``: at 1,000,000 lines the busiest household's 55,073
lines of a two-month period cost 55,073 primary-key lookups of ``order_lines`` (~230 of its
~350 ms). With the SKU on the row it sums the rows per month and SKU and names them from the few
hundred SKUs; only rows of no SKU, or of a product with an empty name, are still named per line
(by the line's title). Only resolved lines are drawn and posted, so every row of a line has one.
``bangfu.ledger.post`` writes it with the row (``bangfu.line_credits.credit_households``, the
posting stage passing the SKU it read with the line). No index: the primary key (household, day,
line) serves a household's days.

A posted line's SKU can still change: the order upsert sets ``order_lines.sku_id`` to what its
listing now maps to (``bangfu.upsert``, ``_LINE_SET``), and the posting stage then trues the line
up to the new SKU's split. The statement names the whole line by its current SKU, so triggers
follow the line: an update of ``order_lines.sku_id`` rewrites the SKU of the line's rows, a
deleted line's rows lose theirs (named per line, as a line that is gone was). They find the rows
by their keys: the households credited by the line (``line_household_credits``) and the days of
its journals (``journal_line_days``, migration 0039). PostgreSQL: a statement-level trigger over
transition tables, as 0039's; SQLite: row triggers. ``bangfu verify`` checks every row against
its line (``household_line_day_skus_match_lines``).

Backfilled from ``order_lines``: on PostgreSQL one ``UPDATE ... FROM``, which writes a new
version of every row of a line (measured in docs/web.md, "the statement named by SKU").

Revision ID: 0052
Revises: 0051
Create Date: 2026-12-08 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0052"
down_revision: str | None = "0051"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

BACKFILL = {
    "postgresql": (
        "UPDATE household_line_days AS d SET sku_id = l.sku_id FROM order_lines AS l"
        " WHERE l.id = d.order_line_id AND d.order_line_id <> 0 AND l.sku_id IS NOT NULL"
    ),
    "sqlite": (
        "UPDATE household_line_days SET sku_id ="
        " (SELECT l.sku_id FROM order_lines AS l WHERE l.id = household_line_days.order_line_id)"
        " WHERE order_line_id <> 0"
    ),
}


# The rows of the lines in ``moved`` (a query of (id, sku_id)) take that SKU; found by their keys.
# First the lines' state rows are locked ``FOR SHARE``: a poster holds a line's state row
# (``FOR UPDATE``) from before it reads the line's SKU until it commits the rows it wrote with
# that SKU, which this statement could not see. Waiting for it, the update below (a new snapshot
# in plpgsql) sees and rewrites them too; a poster that comes later skips the line while it is
# locked (``SKIP LOCKED``) and reads the new SKU once this transaction has committed.
_PG_FOLLOW = (
    "PERFORM 1 FROM line_accounting WHERE order_line_id IN (SELECT id FROM ({moved}) AS m)"
    " ORDER BY id FOR SHARE;"
    " UPDATE household_line_days AS d SET sku_id = m.sku_id FROM ({moved}) AS m"
    " JOIN line_household_credits AS c ON c.order_line_id = m.id"
    " JOIN journal_line_days AS j ON j.order_line_id = m.id"
    " WHERE d.household_id = c.household_id AND d.day = j.day AND d.order_line_id = m.id"
    " AND d.sku_id IS DISTINCT FROM m.sku_id;"
)
# (name, event, transition tables, body)
_PG_TRIGGERS: tuple[tuple[str, str, str, str], ...] = (
    (
        "order_lines_line_days_update",
        "UPDATE",
        "OLD TABLE AS o_rows NEW TABLE AS n_rows",
        _PG_FOLLOW.format(
            moved="SELECT n.id, n.sku_id FROM n_rows AS n JOIN o_rows AS o ON o.id = n.id"
            " WHERE n.sku_id IS DISTINCT FROM o.sku_id"
        ),
    ),
    (
        "order_lines_line_days_delete",
        "DELETE",
        "OLD TABLE AS o_rows",
        _PG_FOLLOW.format(moved="SELECT id, CAST(NULL AS BIGINT) AS sku_id FROM o_rows"),
    ),
)


def _sqlite_follow(line: str, sku: str) -> str:
    return (
        f"UPDATE household_line_days SET sku_id = {sku} WHERE order_line_id = {line}"
        f" AND household_id IN (SELECT household_id FROM line_household_credits WHERE order_line_id = {line})"
        f" AND day IN (SELECT day FROM journal_line_days WHERE order_line_id = {line});"
    )


# (name, event and table, WHEN condition or "", statements)
_SQLITE_TRIGGERS: tuple[tuple[str, str, str, str], ...] = (
    (
        "order_lines_line_days_update",
        "UPDATE OF sku_id ON order_lines",
        "NEW.sku_id IS NOT OLD.sku_id",
        _sqlite_follow("NEW.id", "NEW.sku_id"),
    ),
    ("order_lines_line_days_delete", "DELETE ON order_lines", "", _sqlite_follow("OLD.id", "NULL")),
)


def upgrade() -> None:
    op.add_column("household_line_days", sa.Column("sku_id", ID, nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        for name, event, tables, body in _PG_TRIGGERS:
            op.execute(
                f"CREATE FUNCTION bangfu_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {body} RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON order_lines REFERENCING {tables} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION bangfu_{name}()"
            )
    else:
        for name, on, when, body in _SQLITE_TRIGGERS:
            condition = f" WHEN {when}" if when else ""
            op.execute(f"CREATE TRIGGER {name} AFTER {on}{condition} BEGIN {body} END")
    op.execute(BACKFILL[op.get_bind().dialect.name])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _event, _tables, _body in _PG_TRIGGERS:
            op.execute(f"DROP TRIGGER {name} ON order_lines")
            op.execute(f"DROP FUNCTION bangfu_{name}()")
    else:
        for name, _on, _when, _body in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    # In place on SQLite too (3.35+), as 0040 drops its column.
    op.execute("ALTER TABLE household_line_days DROP COLUMN sku_id")
