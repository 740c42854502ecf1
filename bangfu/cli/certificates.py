"""``bangfu certificates``: the county's certified list in, and the expiry alerts.

- ``import FILE`` loads the official list (CSV or XLSX, Chinese or English headers; columns in
  ``docs/certification.md``): all or nothing, errors as ``file:row:field: reason``; a re-import
  of the same certificate number updates it. ``--create-missing`` creates a product the hub does
  not know yet (under a supplier it does), so the catalogue holds the whole list.
- ``alerts`` does what the beat's ``bangfu.certificate_expiry`` task does: marks certificates
  past their last day expired and opens, reopens or resolves the 60- and 30-day expiry alerts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.text import Text

from bangfu.certification import run_expiry_alerts
from bangfu.cli.app import console, run
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.clock import utcnow
from bangfu.errors import UserError
from bangfu.i18n import MESSAGES, t
from bangfu.importing import ImportRejected
from bangfu.importing.certificates import import_certificates
from bangfu.settings import get_settings
from bangfu.store import make_engine, open_store

MESSAGES.update(
    {
        "cert.cli.imported": {
            "zh": "{file}：认定 新增 {created} 条，更新 {updated} 条，未变 {unchanged} 条",
            "en": "{file}: certificates {created} created, {updated} updated, {unchanged} unchanged",
        },
        "cert.cli.alerts": {
            "zh": "认定到期预警：检查 {checked} 项认定，标记过期 {expired} 项；新开 {opened} 条，解除 {resolved} 条；"
            "未解除 {open} 条",
            "en": "Certificate expiry: {checked} certificates checked, {expired} marked expired; {opened} alerts "
            "opened, {resolved} resolved; {open} open",
        },
    }
)

certificates_app = typer.Typer(
    help="The certified catalogue (消费帮扶产品认定): import the official list, expiry alerts."
)


def _url(db: str | None) -> str:
    return db or get_settings().resolved_database_url


@certificates_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX of the official list.", exists=True, dir_okay=False)],
    create_missing: Annotated[
        bool, typer.Option("--create-missing", help="Create products the hub does not know (under known suppliers).")
    ] = False,
    db: DbOption = None,
) -> None:
    """Import the certified list: product and supplier certificates, all or nothing."""
    run(_import(_url(db), file, create_missing))


async def _import(url: str, path: Path, create_missing: bool) -> None:
    await upgrade_database(url)
    async with open_store(url) as sessions:
        try:
            result = await import_certificates(sessions, path, create_missing=create_missing)
        except ImportRejected as exc:
            raise UserError(t("import.rejected", file=path, count=len(exc.errors)) + "\n" + str(exc)) from exc
    done = t("cert.cli.imported", file=path, created=result.created, updated=result.updated, unchanged=result.unchanged)
    console.print(Text(done), soft_wrap=True)


@certificates_app.command("alerts")
def alerts_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Mark ended certificates expired; open, reopen and resolve the 60/30-day expiry alerts."""
    counts = run(expiry_run(_url(db)))
    if as_json:
        console.print(Text(orjson.dumps(counts).decode()), soft_wrap=True)
        return
    console.print(t("cert.cli.alerts", **counts), highlight=False)


async def expiry_run(url: str) -> dict[str, int]:
    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            return (await run_expiry_alerts(conn, now=utcnow())).as_dict()
    finally:
        await engine.dispose()
