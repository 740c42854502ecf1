"""``bangfu drives``: enterprise-driven households (企业带动农户).

- ``import FILE``: what enterprises paid the households they drive (order purchase, employment,
  land lease, dividends), CSV or XLSX, all or nothing (docs/drives.md);
- ``list``: per enterprise, the households driven and the amounts by mode for a period, with the
  two lines of the 带动 figures (cooperative members, enterprise-driven) and the families both
  reach, each counted once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from bangfu.cli.app import console, run
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.clock import SHANGHAI, utcnow
from bangfu.errors import UserError
from bangfu.i18n import MESSAGES, t
from bangfu.money import format_yuan
from bangfu.settings import get_settings

MESSAGES.update(
    {
        "drives.cli.ok": {
            "zh": "{file}：新增农户 {households} 户；带动记录新增 {created}、更新 {updated}、未变 {unchanged}；"
            "分红池 {pools} 个；与合作社成员关联变更 {linked} 户",
            "en": "{file}: {households} new households; entries created {created}, updated {updated}, "
            "unchanged {unchanged}; {pools} dividend pools; {linked} links to cooperative members changed",
        },
        "drives.cli.rejected": {
            "zh": "{file} 有 {count} 处错误，未导入任何数据：",
            "en": "{file} has {count} errors; nothing was imported:",
        },
    }
)

drives_app = typer.Typer(help="Enterprise-driven households: import and list.", no_args_is_help=True)


async def _import(path: Path, url: str) -> None:
    from bangfu.importing import ImportRejected
    from bangfu.importing.drives import import_drives
    from bangfu.store import open_store

    await upgrade_database(url)
    async with open_store(url) as sessions:
        try:
            loaded = await import_drives(sessions, path)
        except ImportRejected as exc:
            raise UserError(t("drives.cli.rejected", file=path, count=len(exc.errors)) + "\n" + str(exc)) from exc
    r = loaded.entries
    done = t(
        "drives.cli.ok",
        file=path,
        households=loaded.households,
        created=r.created,
        updated=r.updated,
        unchanged=r.unchanged,
        pools=loaded.pools,
        linked=loaded.linked,
    )
    console.print(Text(done), soft_wrap=True)


@drives_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="A .csv or .xlsx file with Chinese or English headers.")],
    db: DbOption = None,
) -> None:
    """Import what enterprises paid the households they drive, one row per enterprise, household,
    mode and month. A file with any bad row is rejected whole (file:row:field: reason); importing
    it again changes nothing. Order purchases: kg and price per kg (the hub computes the amount);
    employment and land lease: the amount; dividends: shares and the month's pool (split by the hub)."""
    run(_import(file, db or get_settings().resolved_database_url))


async def _list(url: str, period_text: str | None, start: str | None, end: str | None) -> None:
    from bangfu.drives import MODES, mode_label
    from bangfu.queries import drives as qd
    from bangfu.reports.base import parse_period
    from bangfu.scope import Scope
    from bangfu.store import make_engine

    now = utcnow()
    if period_text is None and start is None and end is None:
        period_text = str(now.astimezone(SHANGHAI).year)  # default: this year, as the county page
    period = parse_period(period_text, start, end, now=now)
    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            o = await qd.overview(conn, Scope.admin(), period)
    finally:
        await engine.dispose()
    table = Table(title=t("drives.web.title", period=period.label), title_justify="left")
    table.add_column(t("drives.web.enterprise"), overflow="fold")
    table.add_column(t("drives.web.on_books"), justify="right")
    table.add_column(t("drives.web.households"), justify="right")
    table.add_column(t("drives.web.amount"), justify="right")
    for m in MODES:
        table.add_column(mode_label(m), justify="right")
    for e in o.enterprises:
        table.add_row(
            e.name,
            str(e.households),
            str(e.figures.households),
            format_yuan(e.figures.income),
            *(f"{e.by_mode[m.value].households} / {format_yuan(e.by_mode[m.value].income)}" for m in MODES),
        )
    console.print(table)
    lines = Table(title=t("drives.web.lines"), title_justify="left")
    lines.add_column(t("drives.web.line"))
    lines.add_column(t("drives.web.households"), justify="right")
    lines.add_column(t("drives.web.amount"), justify="right")
    for row in qd.line_rows(o.lines):
        lines.add_row(str(row["line"]), str(row["households"]), format_yuan(int(row["amount"])))
    console.print(lines)
    console.print(t("drives.web.both", n=o.lines.both), highlight=False)


@drives_app.command("list")
def list_command(
    period: Annotated[
        str | None, typer.Option("--period", help="A year (2026) or a month (2026-10); default this year.")
    ] = None,
    start: Annotated[str | None, typer.Option("--from", help="First local day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last local day, YYYY-MM-DD.")] = None,
    db: DbOption = None,
) -> None:
    """Households driven per enterprise and mode, and the two lines of the 带动 figures."""
    run(_list(db or get_settings().resolved_database_url, period, start, end))
