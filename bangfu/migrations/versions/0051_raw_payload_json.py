"""the platform payloads of orders, refunds and settlement lines as ``json`` (PostgreSQL)

**The cost.** ``orders.raw``, ``refunds.raw`` and ``settlement_lines.raw`` keep what the
platform said about a record (scrubbed of personal data, ``bangfu.scrub``) beside its normalised
columns. As ``jsonb`` every write parsed the payload into PostgreSQL's binary form, its numbers
into ``numeric``: in the sync's orders statement about 144,000 of the 610,000 instructions
PostgreSQL spends per stored order (docs/connectors.md, 2026-12-08), for a copy that nothing
reads by content.

**Now.** The three columns are ``json``: the text is checked on input and kept as it came
(``->`` and ``->>`` still work on it). Nothing needs ``jsonb`` there: no index, constraint,
trigger or query reads these columns; the hub reads them whole, and only the tests compare
them, in Python. What ``json`` cannot do is compare values (it has no equality operator), so a
``DISTINCT``, ``UNION`` or row comparison over these tables' whole rows would now fail; none
exists. A payload stored before keeps ``jsonb``'s text form of it (keys in ``jsonb``'s order,
duplicate keys dropped), equal as JSON to what it was. The quarantined records, the live
sessions (whose payload a column default reads) and the policies and other documents stay
``jsonb``. SQLite is unchanged: its JSON is text already.

Each ``ALTER`` rewrites its table and rebuilds its indexes under an exclusive lock (measured in
docs/connectors.md). Downgrade parses the payloads back into ``jsonb``; a payload stored after
this migration that holds ``\\u0000`` in a string (which ``jsonb`` refuses and ``json`` keeps)
would stop it, where the write itself would have failed before.

Revision ID: 0051
Revises: 0050
Create Date: 2026-12-08 00:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0051"
down_revision: str | None = "0050"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("orders", "refunds", "settlement_lines")


def _retype(to: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN raw TYPE {to} USING raw::{to}")


def upgrade() -> None:
    _retype("json")


def downgrade() -> None:
    _retype("jsonb")
