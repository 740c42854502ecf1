"""``bangfu report <name>`` and ``bangfu reconcile``: county reports and settlement reconciliation."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import orjson
import typer
from rich.table import Table

from bangfu.cli.app import console, fail, run
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.errors import UserError
from bangfu.i18n import t
from bangfu.money import format_yuan
from bangfu.reports import REPORT_NAMES, ReportRequest, build_report, parse_period
from bangfu.reports.base import Period, Report
from bangfu.reports.writers import to_table, write
from bangfu.settings import get_settings
from bangfu.store import make_engine
from workers.reconcile import ReconcileSummary

Format = Literal["table", "csv", "xlsx"]


def _url(db: str | None) -> str:
    return db or get_settings().resolved_database_url


def report_command(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(REPORT_NAMES)}.")],
    period: Annotated[str | None, typer.Option("--period", help="A month (2026-10) or a year (2026).")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First local day (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last local day (YYYY-MM-DD), inclusive.")] = None,
    shop: Annotated[int | None, typer.Option("--shop", help="Only this shop.")] = None,
    cooperative: Annotated[int | None, typer.Option("--cooperative", help="Only this cooperative.")] = None,
    session: Annotated[int | None, typer.Option("--session", help="session-review: one session's products.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv or xlsx.")] = "table",
    out: Annotated[Path | None, typer.Option("--out", help="Write CSV/XLSX here (default: stdout for CSV).")] = None,
    db: DbOption = None,
) -> None:
    """Print or export a report (Chinese headers by default; --lang en for English)."""
    if name not in REPORT_NAMES:
        raise typer.BadParameter(t("report.unknown", name=name, known=", ".join(REPORT_NAMES)), param_hint="NAME")
    if fmt == "xlsx" and out is None:
        raise typer.BadParameter(t("report.xlsx_needs_out"), param_hint="--out")
    now = datetime.now(UTC)
    try:
        span = parse_period(period, start, end, now=now)
    except UserError as exc:
        fail(str(exc))
    report = run(_report(_url(db), name, span, now, shop, cooperative, session))
    if fmt == "table":
        console.print(to_table(report))
        for line in report.summary:
            console.print(line, highlight=False)
        return
    data = write(report, fmt, out)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        console.print(t("report.written", file=str(out), rows=len(report.rows)), highlight=False)


async def _report(
    url: str,
    name: str,
    period: Period,
    now: datetime,
    shop: int | None,
    cooperative: int | None,
    session: int | None,
) -> Report:
    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await build_report(conn, ReportRequest(name, period, now, shop, cooperative, session))
    finally:
        await engine.dispose()


def reconcile_command(
    shop: Annotated[int, typer.Option("--shop", help="The shop's id (bangfu shops list).")],
    period: Annotated[str, typer.Option("--period", help="The month of payment, YYYY-MM (Asia/Shanghai).")],
    missing_after_days: Annotated[
        int, typer.Option("--missing-after-days", min=0, help="Days after which a missing payout is flagged.")
    ] = 15,
    as_json: Annotated[bool, typer.Option("--json", help="Print the exceptions and counts as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Match settlement lines to expected payouts; print the exceptions (results are stored)."""
    summary = run(_reconcile(_url(db), shop, period, missing_after_days))
    counts = summary.counts()
    if as_json:
        payload = {
            "shop_id": summary.shop_id,
            "period": summary.period,
            "counts": counts,
            "exceptions": [v.as_json() for v in summary.exceptions],
        }
        sys.stdout.buffer.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
        return
    table = Table(title=t("reconcile.title", shop=shop, period=summary.period), title_justify="left")
    for key in ("order", "kind", "expected", "actual", "differences"):
        table.add_column(t(f"reconcile.{key}"), justify="right" if key in ("expected", "actual") else "left")
    for v in summary.exceptions:
        diffs = ", ".join(f"{t('reconcile.type.' + k)} {format_yuan(a)}" for k, a in (v.differences or {}).items())
        table.add_row(
            v.platform_order_id,
            t(f"reconcile.kind.{v.kind}"),
            format_yuan(v.expected_fen) if v.expected_fen is not None else "-",
            format_yuan(v.actual_fen) if v.actual_fen is not None else "-",
            diffs or "-",
        )
    console.print(table)
    console.print(t("reconcile.summary", **counts), highlight=False)


async def _reconcile(url: str, shop: int, period: str, missing_after_days: int) -> ReconcileSummary:
    from sqlalchemy import select

    from bangfu.models import Shop
    from workers.reconcile import reconcile

    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            if await conn.scalar(select(Shop.id).where(Shop.id == shop)) is None:
                raise UserError(t("stock.no_shop", id=shop))
            return await reconcile(conn, shop_id=shop, period=period, missing_after_days=missing_after_days)
    finally:
        await engine.dispose()
