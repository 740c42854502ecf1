"""Engines and sessions for the store, and schema upgrades through Alembic.

The same code runs on the embedded SQLite file and on PostgreSQL; only the URL differs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, event, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from bangfu.settings import get_settings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class StoreError(RuntimeError):
    """The store cannot be reached or is not in the expected shape."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str | None = None, **kw: Any) -> AsyncEngine:
    """An async engine for ``url`` (default: the configured database)."""
    url = url or get_settings().resolved_database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kw)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kw.setdefault("pool_pre_ping", True)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "asyncpg":
        # The hub's statements are short batch reads and writes: PostgreSQL's JIT, triggered by
        # the planner's cost estimates for batch selects, spent ~40 ms compiling each of them.
        connect_args = dict(kw.pop("connect_args", {}))
        connect_args["server_settings"] = {"jit": "off", **connect_args.get("server_settings", {})}
        kw["connect_args"] = connect_args
    return create_async_engine(url, **kw)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def open_store(url: str | None = None) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


def _alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("path_separator", "os")
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _run_upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.upgrade(_alembic_config(connection), revision)


def _current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent: a current schema is left alone).

    On SQLite, a migration that changes a table the SQLite way (Alembic's batch mode: copy, drop,
    rename) would fail on a store with rows referencing that table, since dropping it breaks their
    foreign keys for a moment: foreign keys are off while migrating (the pragma only takes effect
    outside a transaction), and ``PRAGMA foreign_key_check`` must find nothing before the commit.
    """
    if engine.dialect.name != "sqlite":
        async with engine.begin() as conn:
            await conn.run_sync(_run_upgrade, revision)
        return
    async with engine.connect() as conn:
        await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        await conn.commit()
        try:
            async with conn.begin():
                await conn.run_sync(_run_upgrade, revision)
                broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                if broken:
                    raise StoreError(
                        f"migrating to {revision} left rows with broken foreign keys (table, rowid, parent): "
                        + ", ".join(" ".join(map(str, tuple(r)[:3])) for r in broken[:10])
                    )
        finally:
            await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            await conn.commit()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current_revision)


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise StoreError("no migrations found")
    return head


async def asyncpg_in_transaction(conn: AsyncConnection) -> Any:
    """The asyncpg connection under ``conn``, inside the transaction SQLAlchemy runs on it.

    SQLAlchemy begins its asyncpg transaction lazily, on the first statement: make sure it has
    begun, so what is written through the driver (COPY, temp tables) commits or rolls back with
    the caller's transaction.
    """
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if driver is None:
        raise RuntimeError("no driver connection")
    if not driver.is_in_transaction():
        await conn.exec_driver_sql("SELECT 1")
        if not driver.is_in_transaction():
            raise RuntimeError("bulk writes through the driver need a transaction (the connection is in autocommit)")
    return driver


async def pg_unnest_insert(
    conn: AsyncConnection, table: str, rows: Sequence[dict[str, Any]], types: dict[str, str], *, conflict: str
) -> None:
    """PostgreSQL: insert ``rows`` with one ``INSERT ... SELECT FROM unnest(arrays)`` statement
    (one round trip, one plan, whatever the number of rows). ``types`` maps column -> SQL type;
    ``conflict`` is the ``ON CONFLICT`` clause. Names come from code, never from data."""
    if not rows:
        return
    names = list(types)
    arrays = ", ".join(f"CAST(:c{i} AS {types[name]}[])" for i, name in enumerate(names))
    sql = f"INSERT INTO {table} ({', '.join(names)}) SELECT * FROM unnest({arrays}) {conflict}"
    params = {
        f"c{i}": [row[name].value if hasattr(row[name], "value") else row[name] for row in rows]
        for i, name in enumerate(names)
    }
    await conn.execute(text(sql), params)


async def pg_unnest_columns(
    conn: AsyncConnection,
    table: str,
    types: dict[str, str],
    columns: Sequence[Sequence[Any]],
    *,
    conflict: str,
) -> None:
    """PostgreSQL: insert rows given as ``columns`` (one sequence per name of ``types``) with one
    ``INSERT ... SELECT FROM unnest(arrays)`` statement, like :func:`pg_unnest_insert`. Only for
    integer and date columns: each is sent as one array literal in text (``{1,2,3}``), which
    costs the driver one string instead of one encoded element per row (None is ``NULL``). ``conflict`` is the
    ``ON CONFLICT`` clause; names come from code, never from data."""
    if not columns or not len(columns[0]):
        return
    names = list(types)
    if any(types[name] not in ("bigint", "integer", "date") for name in names):
        raise ValueError("pg_unnest_columns takes integer and date columns only")
    arrays = ", ".join(f"${i + 1}::text::{types[name]}[]" for i, name in enumerate(names))
    sql = f"INSERT INTO {table} ({', '.join(names)}) SELECT * FROM unnest({arrays}) {conflict}"
    driver = await asyncpg_in_transaction(conn)
    await driver.execute(sql, *("{" + _array_text(column) + "}" for column in columns))


def _array_text(column: Sequence[Any]) -> str:
    """An array literal's elements in text, None as ``NULL`` (looked for once, not per element)."""
    if None not in column:
        return ",".join(map(str, column))
    return ",".join("NULL" if value is None else str(value) for value in column)


def among(conn: AsyncConnection, column: Any, values: Sequence[Any]) -> Any:
    """``column IN values`` for a batch of keys.

    On PostgreSQL it is ``column IN (SELECT unnest($1))`` with the keys bound as one array: the
    statement stays the same whatever the batch size, so it is neither re-rendered with thousands
    of bind parameters nor re-planned. (Not ``= ANY($1)``: a prepared statement's generic plan,
    made while a table was small, scans it and searches the whole array for every row; a semi-join
    against the unnested keys stays linear.) Elsewhere it is a plain expanding ``IN``.
    """
    if conn.dialect.name == "postgresql":
        keys = bindparam(None, list(values), type_=ARRAY(column.type))
        return column.in_(select(func.unnest(keys)).scalar_subquery())
    return column.in_(values)
