"""cooperative line facts and household daily income

``cooperative_line_facts``: per cooperative, Asia/Shanghai day and order line, the legs of the
line journals (sale, true-up, refund) that post to the cooperative's own accounts, booked by the
role of each account (sales, refunds, fees, retention, collective, households' share) and the
households' legs that went to other cooperatives' households. A pre-aggregate of the ledger the
cooperative pages read instead of summing postings on every view; ``bangfu.ledger.post`` adds to
it in the transaction that posts each line journal. ``household_daily_income``: per household
and day, what line journals and surplus returns credited its accounts (the ``household-income``
report's sums, for *paid to households*), kept the same way. Both backfilled here. The
application role gets its privileges from ``bangfu db grant`` (every table but the ledger's).

Revision ID: 0019
Revises: 0020
Create Date: 2026-12-06 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0020"
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

# The role of an account by its code (bangfu.queries.cooperatives.account_class).
CLASS = """CASE
    WHEN a.code LIKE 'receivable:%' THEN 'receivable'
    WHEN a.code LIKE 'fees:%:platform_fee' THEN 'platform_fee'
    WHEN a.code LIKE 'fees:%:payment_fee' THEN 'payment_fee'
    WHEN a.code LIKE 'fees:%:logistics' THEN 'logistics'
    WHEN a.code LIKE 'payable:host:%' THEN 'commission'
    WHEN a.code LIKE 'cooperative:%' THEN 'retention'
    WHEN a.code LIKE 'collective:%' THEN 'collective'
    WHEN a.code LIKE 'household:%:bonus' THEN 'bonus'
    WHEN a.code LIKE 'household:%:advance' THEN 'guaranteed'
    WHEN a.code LIKE 'household:%' THEN 'rebate'
    ELSE 'other' END"""

BACKFILL = """
INSERT INTO cooperative_line_facts (cooperative_id, day, order_line_id, {columns})
SELECT o.cooperative_id, {day}, {line},
    SUM(CASE WHEN l.klass = 'receivable' AND j.kind <> 'refund' THEN l.amount_fen ELSE 0 END),
    SUM(CASE WHEN l.klass = 'receivable' AND j.kind = 'refund' THEN -l.amount_fen ELSE 0 END),
    {credits},
    SUM(CASE WHEN l.owner_type = 'household' AND h.cooperative_id <> o.cooperative_id
        THEN -l.amount_fen ELSE 0 END)
FROM (
    SELECT DISTINCT p.journal_id, a.owner_id AS cooperative_id
    FROM postings p JOIN ledger_accounts a ON a.id = p.account_id
    WHERE a.owner_type = 'cooperative' AND a.owner_id IS NOT NULL
) o
JOIN journals j ON j.id = o.journal_id
JOIN (
    SELECT p.journal_id, p.amount_fen, a.owner_type, a.owner_id, {klass} AS klass
    FROM postings p JOIN ledger_accounts a ON a.id = p.account_id
) l ON l.journal_id = j.id
LEFT JOIN households h ON l.owner_type = 'household' AND h.id = l.owner_id
WHERE j.kind IN ('sale', 'refund', 'true_up') AND j.source_event LIKE 'order-line:%'
GROUP BY o.cooperative_id, {day}, {line}
"""
INCOME_BACKFILL = """
INSERT INTO household_daily_income (household_id, day, trade_fen, surplus_fen)
SELECT a.owner_id, {day},
    -SUM(CASE WHEN j.kind IN ('sale', 'refund', 'true_up') THEN p.amount_fen ELSE 0 END),
    -SUM(CASE WHEN j.kind = 'surplus' THEN p.amount_fen ELSE 0 END)
FROM journals j
JOIN postings p ON p.journal_id = j.id
JOIN ledger_accounts a ON a.id = p.account_id
WHERE a.owner_type = 'household' AND a.owner_id IS NOT NULL
  AND j.kind IN ('sale', 'refund', 'true_up', 'surplus')
GROUP BY a.owner_id, {day}
"""
PG_LINE = "CAST(split_part(j.source_event, ':', 3) AS BIGINT)"
SQLITE_LINE = (
    "CAST(substr(substr(substr(j.source_event, 12), instr(substr(j.source_event, 12), ':') + 1), 1, "
    "instr(substr(substr(j.source_event, 12), instr(substr(j.source_event, 12), ':') + 1), ':') - 1) AS INTEGER)"
)
PG_DAY = "CAST(j.occurred_at AT TIME ZONE 'Asia/Shanghai' AS DATE)"
SQLITE_DAY = "date(j.occurred_at, '+8 hours')"


def upgrade() -> None:
    op.create_table(
        "cooperative_line_facts",
        sa.Column("cooperative_id", ID, autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("order_line_id", ID, autoincrement=False, nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in MONEY),
        sa.PrimaryKeyConstraint("cooperative_id", "day", "order_line_id", name=op.f("pk_cooperative_line_facts")),
    )
    op.create_table(
        "household_daily_income",
        sa.Column("household_id", ID, autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("trade_fen", sa.BigInteger(), nullable=False),
        sa.Column("surplus_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("household_id", "day", name=op.f("pk_household_daily_income")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    credits = ",\n    ".join(
        f"SUM(CASE WHEN l.klass = '{name}' THEN -l.amount_fen ELSE 0 END)"
        for name in MONEY
        if name not in ("sales", "refunds", "to_non_members")
    )
    # exec_driver_sql: the codes' colons (':platform_fee') are not bind parameters.
    op.get_bind().exec_driver_sql(
        BACKFILL.format(
            columns=", ".join(MONEY),
            day=PG_DAY if postgres else SQLITE_DAY,
            line=PG_LINE if postgres else SQLITE_LINE,
            credits=credits,
            klass=CLASS,
        )
    )

    op.get_bind().exec_driver_sql(INCOME_BACKFILL.format(day=PG_DAY if postgres else SQLITE_DAY))


def downgrade() -> None:
    op.drop_table("household_daily_income")
    op.drop_table("cooperative_line_facts")
