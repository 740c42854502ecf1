"""``bangfu import KIND FILE``: data in by hand, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bangfu.cli.app import console, run
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.errors import UserError
from bangfu.i18n import t
from bangfu.importing import KINDS, ImportRejected, import_file
from bangfu.settings import get_settings
from bangfu.store import open_store


async def _import(kind: str, path: Path, url: str) -> None:
    await upgrade_database(url)
    async with open_store(url) as sessions:
        try:
            result = await import_file(sessions, kind, path)
        except ImportRejected as exc:
            raise UserError(t("import.rejected", file=path, count=len(exc.errors)) + "\n" + str(exc)) from exc
    console.print(
        t("import.ok", file=path, kind=kind, created=result.created, updated=result.updated, unchanged=result.unchanged)
    )


def import_command(
    kind: Annotated[str, typer.Argument(help=f"What the file holds: {', '.join(KINDS)}.", show_default=False)],
    file: Annotated[Path, typer.Argument(help="A .csv or .xlsx file with Chinese or English headers.")],
    db: DbOption = None,
) -> None:
    """Import cooperatives, households, products, lots or purchasing units from CSV or XLSX.

    Every row is checked first; a file with any bad row is rejected whole, with one
    file:row:field: reason line per problem, and nothing is written. Importing the same
    file again changes nothing.
    """
    if kind not in KINDS:
        raise typer.BadParameter(f"choose one of {', '.join(KINDS)}", param_hint="KIND")
    run(_import(kind, file, db or get_settings().resolved_database_url))
