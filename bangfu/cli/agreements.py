"""``bangfu agreements import|list|alerts``: procurement agreements (采购协议) from the shell.

``import`` loads a CSV or XLSX file all or nothing (:mod:`bangfu.agreements.importing`);
``list`` prints every agreement with its execution as of today (or ``--as-of``), the figures of
the console's pages; ``alerts`` opens, refreshes and resolves the behind-schedule alerts as the
beat's daily task does. A failure is one line on stderr and exit 2, with nothing written.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table
from rich.text import Text

from bangfu import clock
from bangfu.cli.app import console, run
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.errors import UserError
from bangfu.i18n import MESSAGES, t
from bangfu.money import format_yuan
from bangfu.settings import get_settings
from bangfu.store import make_engine, open_store

MESSAGES.update(
    {
        "agreements.cli.none": {"zh": "没有采购协议。", "en": "No procurement agreements."},
        "agreements.cli.alerts": {
            "zh": "采购协议执行预警：检查了 {agreements} 份执行中的协议；新开 {opened} 条，更新 {refreshed} 条，"
            "解除 {resolved} 条；未解除 {open} 条",
            "en": "Agreement alerts: {agreements} active agreements checked; {opened} opened, {refreshed} refreshed, "
            "{resolved} resolved; {open} open",
        },
    }
)

agreements_app = typer.Typer(help="Procurement agreements (采购协议): import, list, behind-schedule alerts.")


def _url(db: str | None) -> str:
    return db or get_settings().resolved_database_url


def today() -> date:
    """The hub's today (Asia/Shanghai) from :mod:`bangfu.clock`."""
    return clock.utcnow().astimezone(clock.SHANGHAI).date()


@agreements_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="A .csv or .xlsx file with Chinese or English headers.")],
    db: DbOption = None,
) -> None:
    """Import agreements (one row each, keyed by the agreement number), all or nothing.

    Columns: number/协议编号, unit/采购单位 (code or name), supplier/供应商 (credit code or name),
    starts_on/开始日期, ends_on/结束日期, target/目标金额(元); optional title/协议名称,
    products/协议产品, categories/协议品类, prices/约定单价 (CODE=12.50;...), quantity/约定数量,
    discount/折扣(%), signed_on/签订日期, status/状态, note/备注. See docs/agreements.md.
    """
    run(_import(_url(db), file))


async def _import(url: str, path: Path) -> None:
    from bangfu.agreements.importing import KIND, import_agreements
    from bangfu.importing import ImportRejected

    await upgrade_database(url)
    async with open_store(url) as sessions:
        try:
            result = await import_agreements(sessions, path)
        except ImportRejected as exc:
            raise UserError(t("import.rejected", file=path, count=len(exc.errors)) + "\n" + str(exc)) from exc
    done = t(
        "import.ok", file=path, kind=KIND, created=result.created, updated=result.updated, unchanged=result.unchanged
    )
    console.print(Text(done), soft_wrap=True)


@agreements_app.command("list")
def list_command(
    as_of: Annotated[
        datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"], help="Judge as of this day (default today).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the agreements as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Every agreement: unit, supplier, period, target, executed, rate and state."""
    day = as_of.date() if as_of else today()
    items = run(_list(_url(db), day))
    if as_json:
        sys.stdout.buffer.write(orjson.dumps({"as_of": day.isoformat(), "items": items}, option=orjson.OPT_INDENT_2))
        sys.stdout.buffer.write(b"\n")
        sys.stdout.flush()
        return
    if not items:
        console.print(t("agreements.cli.none"), highlight=False)
        return
    table = Table(title=t("agreements.title") + f" ({day.isoformat()})")
    for key in ("number", "unit", "supplier", "period", "target", "executed", "rate", "elapsed", "state"):
        table.add_column(
            t(f"agreements.col.{key}"), justify="right" if key in ("target", "executed", "rate", "elapsed") else "left"
        )
    for item in items:
        table.add_row(
            item["number"],
            item["unit"]["name"],
            item["supplier"]["name"],
            f"{item['starts_on']} ~ {item['ends_on']}",
            format_yuan(item["target_fen"]),
            format_yuan(item["executed_fen"]),
            "-" if item["rate"] is None else f"{float(item['rate']) * 100:.1f}%",
            f"{float(item['elapsed_share']) * 100:.1f}%",
            t(f"agreements.state.{item['state']}"),
        )
    console.print(table)


async def _list(url: str, day: date) -> list[dict[str, Any]]:
    from bangfu.queries.agreements import agreements_overview, as_json
    from bangfu.scope import Scope

    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            overview = await agreements_overview(conn, Scope.admin(), day)
            return [as_json(p) for p in overview.rows]
    finally:
        await engine.dispose()


@agreements_app.command("alerts")
def alerts_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Open, refresh and resolve behind-schedule alerts now (the beat does the same daily)."""
    counts = run(run_alerts(_url(db)))
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(counts) + b"\n")
        sys.stdout.flush()
        return
    console.print(t("agreements.cli.alerts", **counts), highlight=False)


async def run_alerts(url: str) -> dict[str, int]:
    from bangfu.agreements.alerts import run_agreement_alerts

    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            now = clock.utcnow()
            return (await run_agreement_alerts(conn, today=now.astimezone(clock.SHANGHAI).date(), now=now)).as_dict()
    finally:
        await engine.dispose()
