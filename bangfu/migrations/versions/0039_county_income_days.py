"""county income days

The county overview's income by channel and by product (``bangfu.county_income``): what the
ledger's income journals (sale, refund, true-up, surplus return) credited each household, summed
per Asia/Shanghai day, household, the line's shop and the line's SKU (0, 0: not a sale, i.e. a
surplus return or a line that is gone; shop, 0: a line without SKU) in ``county_income_days``,
and per month in ``county_income_months`` (the same sums over a whole month, for the whole
months inside a period). The channel and the product are joined at read time (shop ->
channel type, SKU -> product), so a SKU's product or a shop's channel type needs no rebooking;
members are chosen at read time, so a household changing cooperative neither.

Kept exact by marking, as ``cooperative_day_groups`` (0036) are: triggers write the days a
change touches into ``county_income_dirty`` in the transaction of the change; readers take a
day's (or a month's) stored rows only while it has no marker and sum a marked day from the
ledger in the same statement; ``bangfu.county_income.refresh`` (run by the pipeline once per
run) recomputes each marked day from that day's journals and its month from the day rows, and
deletes the markers it read. Inputs and their triggers:

- ``journals`` inserted (posting): the local day of every income journal; and each line
  journal's (order line, day) into ``journal_line_days`` (the days of a line's journals, which
  the line triggers look up; the ledger is append-only, so it only grows);
- ``order_lines``: SKU or shop changed, or deleted: every day of the line's journals.

PostgreSQL uses statement-level triggers over transition tables, SQLite row triggers that skip
a day already marked (SQLite writers are serialised; on PostgreSQL a marker is always written:
one committed while a refresh runs must outlive it).

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

INCOME = "'sale', 'refund', 'true_up', 'surplus'"
TRADE = "'sale', 'refund', 'true_up'"
PG_LINE = "CAST(split_part({j}source_event, ':', 3) AS BIGINT)"
SQLITE_LINE = (
    "CAST(substr(substr(substr({j}source_event, 12), instr(substr({j}source_event, 12), ':') + 1), 1, "
    "instr(substr(substr({j}source_event, 12), instr(substr({j}source_event, 12), ':') + 1), ':') - 1) AS INTEGER)"
)
PG_DAY = "CAST({j}occurred_at AT TIME ZONE 'Asia/Shanghai' AS DATE)"
SQLITE_DAY = "date({j}occurred_at, '+8 hours')"

# Every household leg of an income journal, per day, household, shop and SKU
# (bangfu.county_income.live_rows, frozen).
BACKFILL = """
INSERT INTO county_income_days (day, household_id, shop_id, sku_id, fen)
SELECT day, household_id, shop_id, sku_id, SUM(fen)
  FROM (
       SELECT {day} AS day, a.owner_id AS household_id,
              COALESCE(l.shop_id, 0) AS shop_id,
              CASE WHEN l.id IS NULL THEN 0 ELSE COALESCE(l.sku_id, 0) END AS sku_id,
              -p.amount_fen AS fen
         FROM journals j
         JOIN postings p ON p.journal_id = j.id
         JOIN ledger_accounts a ON a.id = p.account_id
         LEFT JOIN order_lines l ON j.kind IN ({trade}) AND l.id = {line}
        WHERE a.owner_type = 'household' AND a.owner_id IS NOT NULL AND j.kind IN ({income})) x
 GROUP BY day, household_id, shop_id, sku_id
HAVING SUM(fen) <> 0
"""
MONTHS_BACKFILL = """
INSERT INTO county_income_months (month, household_id, shop_id, sku_id, fen)
SELECT {month}, household_id, shop_id, sku_id, SUM(fen)
  FROM county_income_days
 GROUP BY {month}, household_id, shop_id, sku_id
HAVING SUM(fen) <> 0
"""
LINE_DAYS_BACKFILL = """
INSERT INTO journal_line_days (order_line_id, day)
SELECT DISTINCT {line}, {day} FROM journals j WHERE j.kind IN ({trade})
"""
PG_MONTH = "CAST(date_trunc('month', day) AS DATE)"
SQLITE_MONTH = "date(day, 'start of month')"


def _sql(template: str, postgres: bool) -> str:
    line = (PG_LINE if postgres else SQLITE_LINE).format(j="j.")
    day = (PG_DAY if postgres else SQLITE_DAY).format(j="j.")
    month = PG_MONTH if postgres else SQLITE_MONTH
    return template.format(day=day, line=line, month=month, trade=TRADE, income=INCOME)


def backfill_sql(postgres: bool) -> list[str]:
    """The statements that fill the three tables from the ledger (and the test's check)."""
    return [_sql(s, postgres) for s in (LINE_DAYS_BACKFILL, BACKFILL, MONTHS_BACKFILL)]


_PG_OF_LINES = (
    "INSERT INTO county_income_dirty (day) "
    "SELECT DISTINCT d.day FROM journal_line_days d WHERE d.order_line_id IN ({lines}) ORDER BY 1;"
)

# (name, table, event, transition tables, body)
_PG_TRIGGERS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "journals_county_insert",
        "journals",
        "INSERT",
        "NEW TABLE AS n_rows",
        "INSERT INTO county_income_dirty (day) "
        f"SELECT DISTINCT {PG_DAY.format(j='')} FROM n_rows WHERE kind IN ({INCOME}) ORDER BY 1; "
        "INSERT INTO journal_line_days (order_line_id, day) "
        f"SELECT DISTINCT {PG_LINE.format(j='')}, {PG_DAY.format(j='')} FROM n_rows WHERE kind IN ({TRADE}) "
        "ON CONFLICT DO NOTHING;",
    ),
    (
        "order_lines_county_update",
        "order_lines",
        "UPDATE",
        "OLD TABLE AS o_rows NEW TABLE AS n_rows",
        _PG_OF_LINES.format(
            lines="SELECT n.id FROM n_rows n JOIN o_rows o ON o.id = n.id "
            "WHERE n.sku_id IS DISTINCT FROM o.sku_id OR n.shop_id IS DISTINCT FROM o.shop_id"
        ),
    ),
    (
        "order_lines_county_delete",
        "order_lines",
        "DELETE",
        "OLD TABLE AS o_rows",
        _PG_OF_LINES.format(lines="SELECT id FROM o_rows"),
    ),
)

_SQLITE_UNMARKED = "WHERE NOT EXISTS (SELECT 1 FROM county_income_dirty AS m WHERE m.day = x.day)"


def _sqlite_of_line(line: str) -> str:
    return (
        "INSERT INTO county_income_dirty (day) SELECT DISTINCT x.day FROM "
        f"(SELECT d.day AS day FROM journal_line_days AS d WHERE d.order_line_id = {line}) AS x {_SQLITE_UNMARKED};"
    )


# (name, event and table, WHEN condition or "", statements)
_SQLITE_TRIGGERS: tuple[tuple[str, str, str, str], ...] = (
    (
        "journals_county_insert",
        "INSERT ON journals",
        f"NEW.kind IN ({INCOME})",
        f"INSERT INTO county_income_dirty (day) SELECT x.day FROM (SELECT {SQLITE_DAY.format(j='NEW.')} AS day) AS x "
        f"{_SQLITE_UNMARKED}; "
        f"INSERT OR IGNORE INTO journal_line_days (order_line_id, day) SELECT {SQLITE_LINE.format(j='NEW.')}, "
        f"{SQLITE_DAY.format(j='NEW.')} WHERE NEW.kind IN ({TRADE});",
    ),
    (
        "order_lines_county_update",
        "UPDATE OF sku_id, shop_id ON order_lines",
        "NEW.sku_id IS NOT OLD.sku_id OR NEW.shop_id IS NOT OLD.shop_id",
        _sqlite_of_line("NEW.id"),
    ),
    ("order_lines_county_delete", "DELETE ON order_lines", "", _sqlite_of_line("OLD.id")),
)


def _key_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("household_id", ID, autoincrement=False, nullable=False),
        sa.Column("shop_id", ID, autoincrement=False, nullable=False),
        sa.Column("sku_id", ID, autoincrement=False, nullable=False),
        sa.Column("fen", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "county_income_days",
        sa.Column("day", sa.Date(), nullable=False),
        *_key_columns(),
        sa.PrimaryKeyConstraint("day", "household_id", "shop_id", "sku_id", name=op.f("pk_county_income_days")),
    )
    op.create_table(
        "county_income_months",
        sa.Column("month", sa.Date(), nullable=False),
        *_key_columns(),
        sa.PrimaryKeyConstraint("month", "household_id", "shop_id", "sku_id", name=op.f("pk_county_income_months")),
    )
    op.create_table(
        "county_income_dirty",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_county_income_dirty")),
    )
    op.create_index("ix_county_income_dirty_day", "county_income_dirty", ["day"], unique=False)
    op.create_table(
        "journal_line_days",
        sa.Column("order_line_id", ID, autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("order_line_id", "day", name=op.f("pk_journal_line_days")),
    )
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        for name, table, event, tables, body in _PG_TRIGGERS:
            op.execute(
                f"CREATE FUNCTION bangfu_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {body} RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {tables} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION bangfu_{name}()"
            )
    else:
        for name, on, when, body in _SQLITE_TRIGGERS:
            condition = f" WHEN {when}" if when else ""
            op.execute(f"CREATE TRIGGER {name} AFTER {on}{condition} BEGIN {body} END")
    for statement in backfill_sql(postgres):
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table, _event, _tables, _body in _PG_TRIGGERS:
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION bangfu_{name}()")
    else:
        for name, _on, _when, _body in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("journal_line_days")
    op.drop_index("ix_county_income_dirty_day", table_name="county_income_dirty")
    op.drop_table("county_income_dirty")
    op.drop_table("county_income_months")
    op.drop_table("county_income_days")
