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


async def _import(kind: str, path: Path, url: str, shop: int | None) -> int:
    """Import the file; returns how many records it created or changed."""
    await upgrade_database(url)
    async with open_store(url) as sessions:
        try:
            result = await import_file(sessions, kind, path, shop_id=shop)
        except ImportRejected as exc:
            raise UserError(t("import.rejected", file=path, count=len(exc.errors)) + "\n" + str(exc)) from exc
    done = t(
        "import.ok", file=path, kind=kind, created=result.created, updated=result.updated, unchanged=result.unchanged
    )
    console.print(Text(done), soft_wrap=True)  # the file name is user text: no markup
    return result.created + result.updated


def _queue_accounting(url: str) -> None:
    """Imported sales go through the pipeline as synced orders do (``bangfu.process_all``, as the
    sync task queues it): run now in the embedded default (Celery eager), else queued for workers."""
    from workers.tasks import process_all

    outcome = process_all.apply_async(kwargs={"database_url": url}, queue="accounting")
    if get_settings().is_eager:
        stats = outcome.get()
        console.print(t("import.sales.accounted", posted=stats["posted"], allocated=stats["allocated"]))
    else:
        console.print(t("import.sales.queued"))


def import_command(
    kind: Annotated[str, typer.Argument(help=f"What the file holds: {', '.join(KINDS)}.", show_default=False)],
    file: Annotated[Path, typer.Argument(help="A .csv or .xlsx file with Chinese or English headers.")],
    shop: Annotated[
        int | None,
        typer.Option("--shop", help="sales only: the offline shop (counter, vending machine...) the file is from."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Import cooperatives, households, products, lots, purchasing units, live sessions, listings or
    sales of an offline shop (CSV or XLSX).

    Every row is checked first: a file with any bad row is rejected whole, nothing is written.

    Each problem is one line, file:row:field: reason. Importing the same file again changes nothing.

    A blank cell or a missing column keeps what is stored; to clear an optional field, write <清空> or <clear>.

    CSV is UTF-8 or GB18030. Money is yuan like 1234.50 or 1,234.50, at most two decimals.

    Limits: 100,000 rows, 200 columns, 32 MB a file, 128 MB unpacked for XLSX.

    Sales (bangfu import sales FILE --shop ID): one order per receipt number, lines by SKU code or
    barcode, amount = quantity x unit price - discount to the fen; then the accounting pipeline runs.
    """
    if kind not in KINDS:
        raise typer.BadParameter(f"choose one of {', '.join(KINDS)}", param_hint="KIND")
    url = db or get_settings().resolved_database_url
    stored = run(_import(kind, file, url, shop))
    if kind == "sales" and stored:
        _queue_accounting(url)
