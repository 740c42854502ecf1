"""Least privilege on PostgreSQL: what the hub's application role may do (``bangfu db grant``).

Migrations run as the owner of the schema; the hub, its workers and ``bangfu serve`` connect as
an application role that holds only the privileges below. The ledger tables take INSERT and
SELECT, nothing else: no UPDATE, DELETE or TRUNCATE, and as a non-owner the role can neither
ALTER a table (so no ``DISABLE TRIGGER``) nor, without superuser, set
``session_replication_role``. The chain head row is locked and moved by every append (SELECT,
UPDATE). Every other table takes what the pipeline and the console do to it (SELECT, INSERT,
UPDATE, DELETE); sequences USAGE and SELECT; ``alembic_version`` SELECT (the hub checks the
schema is current on start).

:func:`grant` is idempotent: it revokes everything the role holds on the schema's tables and
sequences and grants exactly this, so running it again after each ``bangfu db upgrade`` (which
may add tables) leaves the same privileges. It creates nothing: the role must exist (created by
the DBA with LOGIN and a password) and must not be a superuser or the owner itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.errors import UserError

LEDGER_TABLES = ("journals", "postings", "ledger_accounts", "ledger_adjustments")

PRIVILEGES: Mapping[str, str] = {
    **dict.fromkeys(LEDGER_TABLES, "SELECT, INSERT"),
    "ledger_chain_head": "SELECT, UPDATE",
    "reconciliation_events": "SELECT, INSERT",  # an exception's history is append-only
    "alembic_version": "SELECT",
}
OTHER_TABLES = "SELECT, INSERT, UPDATE, DELETE"
SEQUENCES = "USAGE, SELECT"


async def grant(conn: AsyncConnection, role: str) -> list[tuple[str, str]]:
    """Give ``role`` exactly the application privileges on the current schema, in the caller's
    transaction; returns (table, privileges) as granted. :class:`UserError` when the role is
    missing, a superuser or the connecting (owner) role."""
    found = (
        await conn.execute(
            text("SELECT rolsuper, rolname = current_user FROM pg_roles WHERE rolname = :r"), {"r": role}
        )
    ).first()
    if found is None:
        raise UserError(
            f"role {role!r} does not exist; create it first (CREATE ROLE {role} LOGIN PASSWORD '...'), "
            "then run bangfu db grant again"
        )
    superuser, is_owner = found
    if superuser:
        raise UserError(f"role {role!r} is a superuser: privileges cannot restrict it; use a plain role")
    if is_owner:
        raise UserError(f"role {role!r} is the role running the migrations (the owner); grant to another role")
    quoted = conn.dialect.identifier_preparer.quote(role)
    schema = conn.dialect.identifier_preparer.quote(str(await conn.scalar(text("SELECT current_schema()"))))
    database = conn.dialect.identifier_preparer.quote(str(await conn.scalar(text("SELECT current_database()"))))
    tables = sorted(
        (await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))).scalars()
    )
    statements = [
        f"GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {quoted}",
        f"GRANT USAGE ON SCHEMA {schema} TO {quoted}",
        f"REVOKE CREATE ON SCHEMA {schema} FROM {quoted}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {quoted}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {quoted}",
        f"GRANT {SEQUENCES} ON ALL SEQUENCES IN SCHEMA {schema} TO {quoted}",
    ]
    granted = [(table, PRIVILEGES.get(table, OTHER_TABLES)) for table in tables]
    for table, privileges in granted:
        name = conn.dialect.identifier_preparer.quote(table)
        statements.append(f"GRANT {privileges} ON {schema}.{name} TO {quoted}")
    for statement in statements:
        await conn.execute(text(statement))
    return granted
