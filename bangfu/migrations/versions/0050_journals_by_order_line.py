"""the journals of an order line by its id (PostgreSQL)

**The cost.** The household journals page (``bangfu.queries.households._kept_journal_page``)
found the days that hold a page in ``household_line_days``, then read every journal of those days
by ``journals.occurred_at`` and kept those of the household's lines: at 300,000 order lines
about 5,200 journals a day read to keep about 260, at 1,000,000 about 17,000 a day.

**Now.** ``ix_journals_order_line`` indexes the order-line id of the line journals' source events
(``order-line:<shop>:<line>:v<n>:...``, the third field), as the page reads it:
``CASE WHEN source_event LIKE 'order-line:%' THEN CAST(split_part(source_event, ':', 3) AS BIGINT)
END`` (NULL for the surplus and adjustment journals), so the page reads the journals of the
household's lines of those days only. The cast is safe: ``ck_journals_kind_source`` (0011)
admits a source event starting ``order-line:`` only as ``order-line:<digits>:<digits>:v...``
(sale, refund and true-up), and a CHECK is evaluated before a row's index entries are made. Not
a partial index (``WHERE source_event LIKE 'order-line:%'``) on the bare cast: PostgreSQL keeps
no statistics for a partial index's expression, so it guessed 0.5% of the journals per line id
and chose the days' scan over the index (measured: 1,545 journals estimated per line, 1-3 real).

The index is made with ``ANALYZE journals`` after it, so the planner has the expression's
statistics (the line ids are nearly unique) before the first page asks. SQLite is unchanged: it
keeps reading the days' journals (no expression index there). Downgrade drops the index.

Revision ID: 0050
Revises: 0049
Create Date: 2026-12-07 23:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0050"
down_revision: str | None = "0049"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINE_OF_SOURCE = "CASE WHEN source_event LIKE 'order-line:%' THEN CAST(split_part(source_event, ':', 3) AS BIGINT) END"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"CREATE INDEX ix_journals_order_line ON journals (({LINE_OF_SOURCE}))")
    op.execute("ANALYZE journals")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_journals_order_line")
