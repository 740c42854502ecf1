"""``bangfu verify`` (ledger invariants) and ``bangfu surplus distribute`` (arts. 40-44)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from bangfu.cli.app import console, run
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.i18n import t
from bangfu.money import format_yuan
from bangfu.settings import get_settings
from bangfu.store import make_engine

surplus_app = typer.Typer(help="Year-end surplus distribution of a cooperative (arts. 40-44).", no_args_is_help=True)


def verify_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    db: DbOption = None,
) -> None:
    """Check the ledger invariants on the database; exit 1 when one fails."""
    from workers.verify import VerifyReport, verify

    url = db or get_settings().resolved_database_url

    async def work() -> VerifyReport:
        await upgrade_database(url)
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return await verify(conn)
        finally:
            await engine.dispose()

    report = run(work())
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        table = Table(title=t("verify.title"))
        for header in ("verify.check", "verify.result", "verify.count", "verify.details"):
            table.add_column(t(header))
        for check in report.checks:
            table.add_row(
                t(f"verify.check.{check.name}"),
                t("verify.ok") if check.ok else t("verify.failed"),
                str(check.count),
                "\n".join(check.details[:5]),
            )
        console.print(table)
    if not report.ok:
        raise typer.Exit(1)


@surplus_app.command("distribute")
def distribute_command(
    cooperative: Annotated[int, typer.Option("--cooperative", help="Cooperative id.")],
    year: Annotated[int, typer.Option("--year", min=2000, max=2999, help="Calendar year (Asia/Shanghai).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; post nothing.")] = False,
    db: DbOption = None,
) -> None:
    """Distribute a cooperative's surplus for a year: patronage return by volume, the rest by shares."""
    from workers.surplus import SurplusPlan, distribute_surplus

    url = db or get_settings().resolved_database_url

    async def work() -> SurplusPlan:
        await upgrade_database(url)
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                return await distribute_surplus(conn, cooperative, year, dry_run=dry_run)
        finally:
            await engine.dispose()

    plan = run(work())
    table = Table(title=t("surplus.title", cooperative=cooperative, year=year))
    for header in ("surplus.member", "surplus.volume", "surplus.patronage", "surplus.shares", "surplus.total"):
        table.add_column(t(header), justify="left" if header == "surplus.member" else "right")
    for member in plan.members:
        table.add_row(
            member.member_no,
            format_yuan(member.volume_fen),
            format_yuan(member.patronage_fen),
            format_yuan(member.share_fen),
            format_yuan(member.total_fen),
        )
    console.print(table)
    console.print(
        t(
            "surplus.summary",
            distributable=format_yuan(plan.distributable_fen),
            patronage=format_yuan(plan.patronage_fen),
            bp=plan.patronage_return_bp / 100,
            shares=format_yuan(plan.shares_fen),
            non_member=format_yuan(plan.non_member_volume_fen),
        )
    )
    console.print(t("surplus.dry_run") if dry_run else t("surplus.posted"))
