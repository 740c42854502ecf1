"""``bangfu import KIND FILE``: data in by hand, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

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
    done = t(
        "import.ok", file=path, kind=kind, created=result.created, updated=result.updated, unchanged=result.unchanged
    )
    console.print(Text(done), soft_wrap=True)  # the file name is user text: no markup


def import_command(
    kind: Annotated[str, typer.Argument(help=f"What the file holds: {', '.join(KINDS)}.", show_default=False)],
    file: Annotated[Path, typer.Argument(help="A .csv or .xlsx file with Chinese or English headers.")],
    db: DbOption = None,
) -> None:
    """Import cooperatives, households, products, lots, purchasing units or live sessions (CSV or XLSX).

    Every row is checked first: a file with any bad row is rejected whole, nothing is written.

    Each problem is one line, file:row:field: reason. Importing the same file again changes nothing.

    A blank cell or a missing column keeps what is stored; to clear an optional field, write <清空> or <clear>.

    CSV is UTF-8 or GB18030. Money is yuan like 1234.50 or 1,234.50, at most two decimals.

    Limits: 100,000 rows, 200 columns, 32 MB a file, 128 MB unpacked for XLSX.
    """
    if kind not in KINDS:
        raise typer.BadParameter(f"choose one of {', '.join(KINDS)}", param_hint="KIND")
    run(_import(kind, file, db or get_settings().resolved_database_url))
