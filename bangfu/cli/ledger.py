"""``bangfu verify`` (ledger invariants and hash chain), ``bangfu ledger digest|adjust`` and
``bangfu surplus distribute`` (arts. 40-44)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from bangfu.cli.app import console, run
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.errors import UserError
from bangfu.i18n import t
from bangfu.money import MoneyError, format_yuan, yuan_to_fen
from bangfu.settings import get_settings
from bangfu.store import make_engine

surplus_app = typer.Typer(help="Year-end surplus distribution of a cooperative (arts. 40-44).", no_args_is_help=True)
ledger_app = typer.Typer(help="The ledger's hash chain digest and manual adjustments.", no_args_is_help=True)


def verify_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    digest: Annotated[
        str | None,
        typer.Option(
            "--digest", help="A head kept from `bangfu ledger digest` (ID:HASH): prove nothing up to it changed."
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Check the ledger invariants and its hash chain on the database; exit 1 when one fails."""
    from bangfu.ledger_chain import Head
    from workers.verify import VerifyReport, verify

    url = db or get_settings().resolved_database_url
    try:
        kept = Head.parse(digest) if digest is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--digest") from exc

    async def work() -> VerifyReport:
        await upgrade_database(url)
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return await verify(conn, digest=kept)
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
        if report.head is not None:
            typer.echo(t("verify.head", digest=str(report.head)))  # one line, never wrapped
    if not report.ok:
        raise typer.Exit(1)


@ledger_app.command("digest")
def digest_command(db: DbOption = None) -> None:
    """Print the chain head, ID:HASH, for an outside party to keep (the chain is checked first)."""
    from bangfu.ledger_chain import Head
    from workers.verify import journal_chain

    url = db or get_settings().resolved_database_url

    async def work() -> tuple[bool, list[str], Head]:
        await upgrade_database(url)
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                check, head = await journal_chain(conn)
                return check.ok, check.details, head
        finally:
            await engine.dispose()

    ok, details, head = run(work())
    if not ok:
        raise UserError(t("ledger.chain_broken", details="\n".join(details[:5])))
    typer.echo(str(head))


@ledger_app.command("adjust")
def adjust_command(
    from_code: Annotated[str, typer.Option("--from", help="Account code debited, e.g. household:12.")],
    to_code: Annotated[str, typer.Option("--to", help="Account code credited, e.g. household:34.")],
    amount: Annotated[str, typer.Option("--amount", help="Amount in yuan, e.g. 1000 or 12.50.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the journal).")],
    by: Annotated[str, typer.Option("--by", help="Who asks for it (kept with the journal).")],
    db: DbOption = None,
) -> None:
    """Post a manual adjustment: balanced, chained, with who, why and when recorded."""
    from bangfu.ledger import LedgerError, post_adjustment
    from bangfu.ledger_chain import stored_head

    url = db or get_settings().resolved_database_url
    try:
        amount_fen = yuan_to_fen(amount)
    except MoneyError as exc:
        raise typer.BadParameter(str(exc), param_hint="--amount") from exc

    async def work() -> tuple[str, str]:
        await upgrade_database(url)
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                journal = await post_adjustment(
                    conn, from_code=from_code, to_code=to_code, amount_fen=amount_fen, reason=reason, requested_by=by
                )
                return journal.source_event, str(await stored_head(conn))
        except LedgerError as exc:
            raise UserError(str(exc)) from exc
        finally:
            await engine.dispose()

    source, head = run(work())
    console.print(
        t("ledger.adjusted", source=source, amount=format_yuan(amount_fen), src=from_code, dst=to_code, head=head),
        highlight=False,
    )


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
