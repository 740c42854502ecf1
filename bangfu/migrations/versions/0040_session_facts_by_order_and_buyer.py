"""session summaries moved by what a refresh changed: the facts indexed by order and by buyer

``bangfu.session_summaries.refresh`` rewrote each marked session's row from all its
``session_line_facts`` rows (sums and seven distinct counts). The store's sessions grow with it:
at 1,000,000 lines the bench's 60 live sessions hold about 16,700 lines each, and every pipeline
pass marks nearly all of them, so each refresh aggregated the whole table (0.4 s for 10 sessions
of 37,000 rows on a loaded machine). A refresh now moves a session's row by what it changed: the
sums by the rewritten rows' difference, the distinct orders and buyers by counting only the
orders and buyers the rewritten rows name, before and after, over their rows, which these two
indexes find.

Revision ID: 0040
Revises: 0037
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0040"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_session_line_facts_order_id", "session_line_facts", ["order_id"])
    op.create_index("ix_session_line_facts_buyer_ref", "session_line_facts", ["buyer_ref"])


def downgrade() -> None:
    op.drop_index("ix_session_line_facts_buyer_ref", table_name="session_line_facts")
    op.drop_index("ix_session_line_facts_order_id", table_name="session_line_facts")
