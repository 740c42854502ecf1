"""``bangfu db``: schema management."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from bangfu.cli.app import console, run
from bangfu.errors import UserError
from bangfu.i18n import t
from bangfu.settings import get_settings
from bangfu.store import current_revision, make_engine, upgrade

db_app = typer.Typer(help="Database schema: create or upgrade it; grant the application role.", no_args_is_help=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: BANGFU_DATABASE_URL or the embedded SQLite file)."),
]


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    return make_url(url).render_as_string(hide_password=True)


async def upgrade_database(url: str) -> str:
    engine = make_engine(url)
    try:
        await upgrade(engine)
        revision = await current_revision(engine)
    except (OperationalError, DBAPIError, OSError) as exc:
        raise UserError(
            f"cannot open database {safe_url(url)}: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"
        ) from exc
    finally:
        await engine.dispose()
    return revision or "-"


@db_app.command("upgrade")
def upgrade_command(db: DbOption = None) -> None:
    """Create the schema or bring it up to date (safe to run again)."""
    url = db or get_settings().resolved_database_url
    revision = run(upgrade_database(url))
    console.print(t("db.upgraded", revision=revision, url=safe_url(url)))


@db_app.command("grant")
def grant_command(
    role: Annotated[str, typer.Argument(help="The application role the hub and workers connect as.")],
    db: DbOption = None,
) -> None:
    """Give ROLE exactly what the hub needs (PostgreSQL; run as the owner, after each upgrade).

    INSERT and SELECT on the ledger tables, never UPDATE, DELETE or TRUNCATE; what the pipeline
    and the console need on the other tables; sequences. Idempotent; creates nothing.
    """
    from bangfu.grants import grant
    from bangfu.store import head_revision

    url = db or get_settings().resolved_database_url
    if make_url(url).get_backend_name() != "postgresql":
        console.print(t("db.grant_sqlite"))
        return

    async def work() -> int:
        engine = make_engine(url)
        try:
            if await current_revision(engine) != head_revision():
                raise UserError(t("db.grant_not_current", url=safe_url(url)))
            async with engine.begin() as conn:
                return len(await grant(conn, role))
        except (OperationalError, DBAPIError, OSError) as exc:
            raise UserError(
                f"cannot grant on {safe_url(url)}: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"
            ) from exc
        finally:
            await engine.dispose()

    tables = run(work())
    console.print(t("db.granted", role=role, tables=tables, url=safe_url(url)))
