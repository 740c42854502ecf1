"""The ``bangfu`` entry point. User mistakes end as one clear line on stderr and exit 2."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from bangfu.errors import UserError
from bangfu.i18n import Lang, set_lang, t
from bangfu.runtime import tune_gc

T = TypeVar("T")

app = typer.Typer(
    name="bangfu",
    help="Bangfu Hub (帮扶销售中台): sales integration hub for consumption-assistance programmes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# No emoji codes: user text like ``sessions.csv:100:店铺ID`` must not print as ``sessions.csv💯店铺ID``.
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)


@app.callback()
def _root(
    lang: Annotated[Lang | None, typer.Option("--lang", help="UI language: zh (default) or en.")] = None,
) -> None:
    if lang is not None:
        set_lang(lang)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine for a command; a :class:`UserError` (or sync's own error, see
    :func:`user_errors`) becomes one line on stderr, exit 2."""
    try:
        with user_errors():
            return asyncio.run(_closing(coro))
    except UserError as exc:
        fail(str(exc))


@contextmanager
def user_errors() -> Iterator[None]:
    """The outer layers' own errors, raised inside, as the CLI's :class:`UserError`: the sync
    engine's :class:`sync.errors.SyncError` (a bad shop, an unknown id) is the user's to act on,
    and reads the same. The CLI is the composition root; sync knows nothing of it."""
    from sync.errors import SyncError

    try:
        yield
    except SyncError as exc:
        raise UserError(str(exc)) from exc


async def _closing(coro: Coroutine[Any, Any, T]) -> T:
    """Await the command, then close the process's shared HTTP session if connectors opened one."""
    from connectors.http import close_session  # the CLI is a composition root: it may import connectors

    try:
        return await coro
    finally:
        await close_session()


def fail(message: str, code: int = 2) -> NoReturn:
    """``message`` (user text: file names, cells) as it is: no markup, no emoji, lines never wrapped."""
    lines = message.splitlines() or [""]
    err_console.print(Text.assemble((f"{t('error.prefix')}:", "bold red"), " ", lines[0]), soft_wrap=True)
    for line in lines[1:]:
        err_console.print(Text(line), soft_wrap=True)
    raise typer.Exit(code)


def _register() -> None:
    from bangfu.cli import db, demo, imports, sync

    app.add_typer(db.db_app, name="db")
    app.command("import")(imports.import_command)
    app.command("demo")(demo.demo_command)
    scenario_app = typer.Typer(help="The demo county scenario.", no_args_is_help=True)
    scenario_app.command("export")(demo.export_command)
    app.add_typer(scenario_app, name="scenario")
    app.add_typer(sync.shops_app, name="shops")
    app.add_typer(sync.sync_app, name="sync")
    from bangfu.cli import stock

    app.add_typer(stock.stock_app, name="stock")
    from bangfu.cli import webhooks

    app.add_typer(webhooks.webhooks_app, name="webhooks")
    app.command("stats")(sync.stats_command)
    from bangfu.cli import policy, worker

    app.add_typer(policy.policy_app, name="policy")

    app.command("worker")(worker.worker_command)
    from bangfu.cli import reports

    app.command("report")(reports.report_command)
    app.command("reconcile")(reports.reconcile_command)
    from bangfu.cli import ledger

    app.command("verify")(ledger.verify_command)
    app.add_typer(ledger.ledger_app, name="ledger")
    app.add_typer(ledger.surplus_app, name="surplus")
    from bangfu.cli import serve, users

    app.add_typer(users.users_app, name="users")
    from bangfu.cli import county

    app.add_typer(county.county_app, name="county")
    from bangfu.cli import alerts

    app.add_typer(alerts.alerts_app, name="alerts")
    app.command("serve")(serve.serve_command)
    from bangfu.cli import listings

    app.add_typer(listings.listings_app, name="listings")
    app.add_typer(listings.prices_app, name="prices")
    from bangfu.cli import mall

    app.add_typer(mall.mall_app, name="mall")
    from bangfu.cli import shipments

    app.add_typer(shipments.shipments_app, name="shipments")
    from bangfu.cli import planting

    app.add_typer(planting.planting_app, name="planting")
    try:
        from bangfu.cli.fakes import fakes_app
    except ImportError:  # the fakes package is optional in a slimmed install
        pass
    else:
        app.add_typer(fakes_app, name="fakes")


_register()


def main() -> None:
    tune_gc()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
