"""``bangfu planting``: order-planting plans (docs/planting.md).

::

    bangfu planting forecast [--contracts] [--format table|csv|xlsx] [--out FILE]
    bangfu planting history import FILE     # past seasons' sell-through, all or nothing
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.text import Text

from bangfu.cli.app import console, run
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.clock import SHANGHAI
from bangfu.errors import UserError
from bangfu.i18n import MESSAGES, t
from bangfu.importing import ImportRejected
from bangfu.reports.base import Report
from bangfu.reports.writers import to_table, write
from bangfu.scope import Scope
from bangfu.settings import get_settings
from bangfu.store import make_engine, open_store

planting_app = typer.Typer(help="Order planting: demand forecasts, supply plans, contracts.", no_args_is_help=True)
history_app = typer.Typer(help="Past seasons' sell-through.", no_args_is_help=True)
planting_app.add_typer(history_app, name="history")

MESSAGES.update(
    {
        "planting.cli.season": {
            "zh": "计划季度 {season}（预测依据截至 {last} 的完整季度）",
            "en": "Plan season {season} (forecast from complete seasons up to {last})",
        },
        "planting.cli.needs_out": {"zh": "xlsx 需要 --out 文件", "en": "xlsx needs --out FILE"},
    }
)


def _url(db: str | None) -> str:
    return db or get_settings().resolved_database_url


async def _plan(url: str, contracts_only: bool) -> tuple[Report, str]:
    from bangfu.queries.planting import contracts_report, plan_report, planning

    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            plan = await planning(conn, Scope.admin(), datetime.now(UTC).astimezone(SHANGHAI).date())
    finally:
        await engine.dispose()
    assert plan is not None
    report = contracts_report(plan.contracts) if contracts_only else plan_report(plan)
    return report, t("planting.cli.season", season=plan.season.label, last=plan.last_complete.label)


@planting_app.command("forecast")
def forecast_command(
    contracts: Annotated[bool, typer.Option("--contracts", help="The contracts and their deliveries instead.")] = False,
    fmt: Annotated[Literal["table", "csv", "xlsx"], typer.Option("--format", help="table, csv or xlsx.")] = "table",
    out: Annotated[Path | None, typer.Option("--out", help="Write CSV/XLSX here (default: stdout for CSV).")] = None,
    db: DbOption = None,
) -> None:
    """Print or export the next season's forecast per product and the plan per cooperative."""
    if fmt == "xlsx" and out is None:
        raise typer.BadParameter(t("planting.cli.needs_out"), param_hint="--out")
    report, season = run(_plan(_url(db), contracts))
    if fmt == "table":
        console.print(season, highlight=False)
        for line in report.summary:
            console.print(Text(line), soft_wrap=True)
        if not contracts:  # the wide export's plan columns, narrowed to what fits a terminal
            columns = {c.key: c for c in report.columns}
            report.columns = [columns[k] for k in ("product", "cooperative", "capacity", "planned")]
        console.print(to_table(report))
        return
    data = write(report, fmt, out)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        console.print(t("report.written", file=str(out), rows=len(report.rows)), highlight=False)


async def _import(url: str, path: Path) -> None:
    from bangfu.planting.history import KIND, import_history

    await upgrade_database(url)
    async with open_store(url) as sessions:
        try:
            result = await import_history(sessions, path)
        except ImportRejected as exc:
            raise UserError(t("import.rejected", file=path, count=len(exc.errors)) + "\n" + str(exc)) from exc
    done = t("import.ok", file=path, kind=KIND, created=result.created, updated=result.updated,
             unchanged=result.unchanged)  # fmt: skip
    console.print(Text(done), soft_wrap=True)


@history_app.command("import")
def history_import_command(
    file: Annotated[Path, typer.Argument(help="A .csv or .xlsx file with Chinese or English headers.")],
    db: DbOption = None,
) -> None:
    """Import past seasons' sell-through: product SPU code, season (2024Q3), channel, net units and
    net amount in yuan, one row per product, season and channel.

    Every row is checked first: a file with any bad row is rejected whole, nothing is written.
    Each problem is one line, file:row:field: reason. A row replaces the stored figure of its
    product, season and channel, and stands in for the hub's own orders of that cell.
    """
    run(_import(_url(db), file))
