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

from bangfu.cli.lazy import Lazy, LazyGroup
from bangfu.errors import UserError
from bangfu.i18n import Lang, set_lang, t
from bangfu.runtime import tune_gc

T = TypeVar("T")

# Every sub-command, in the order ``bangfu --help`` lists them: imported only when it runs
# (bangfu/cli/lazy.py). ``help`` is the first paragraph of the command's own help, as listed;
# tests/bangfu/test_cli.py checks it against the loaded commands.
COMMANDS = (
    Lazy(
        "import",
        "bangfu.cli.imports:import_command",
        "Import cooperatives, households, products, lots, purchasing units, live sessions, listings or\n"
        "sales of an offline shop (CSV or XLSX).",
    ),
    Lazy(
        "demo",
        "bangfu.cli.demo:demo_command",
        "Build the county, start fake platforms on loopback, sync every shop and show the results.",
    ),
    Lazy(
        "stats",
        "bangfu.cli.sync:stats_command",
        "Per shop: orders, order lines, refunds, paid and refunded fen as the hub holds them.",
    ),
    Lazy(
        "worker",
        "bangfu.cli.worker:worker_command",
        "Start a Celery worker on Redis (BANGFU_REDIS_URL) for the hub's task queues.",
    ),
    Lazy(
        "report",
        "bangfu.cli.reports:report_command",
        "Print or export a report (Chinese headers by default; --lang en for English).",
    ),
    Lazy(
        "reconcile",
        "bangfu.cli.reports:reconcile_command",
        "Match settlement lines to expected payouts; print the exceptions (results are stored).",
    ),
    Lazy(
        "verify",
        "bangfu.cli.ledger:verify_command",
        "Check the ledger invariants and its hash chain on the database; exit 1 when one fails.",
    ),
    Lazy("serve", "bangfu.cli.serve:serve_command", "Serve the web console and the JSON API until Ctrl-C."),
    Lazy("db", "bangfu.cli.db:db_app", "Database schema: create or upgrade it; grant the application role."),
    Lazy("scenario", "bangfu.cli.demo:scenario_app", "The demo county scenario."),
    Lazy("shops", "bangfu.cli.sync:shops_app", "Connected shops (channels) and their credentials."),
    Lazy("sync", "bangfu.cli.sync:sync_app", "Pull orders, refunds, products, settlements and live sessions."),
    Lazy(
        "stock",
        "bangfu.cli.stock:stock_app",
        "Stock: share each SKU's truth between shops, reserve units, push the deltas.",
    ),
    Lazy(
        "webhooks",
        "bangfu.cli.webhooks:webhooks_app",
        "Receive platform pushes (Douyin message push, Taobao TMC-style) and pull what they announce.",
    ),
    Lazy("policy", "bangfu.cli.policy:policy_app", "Cooperatives' income-split policies (versioned)."),
    Lazy("ledger", "bangfu.cli.ledger:ledger_app", "The ledger's hash chain digest and manual adjustments."),
    Lazy("surplus", "bangfu.cli.ledger:surplus_app", "Year-end surplus distribution of a cooperative (arts. 40-44)."),
    Lazy("users", "bangfu.cli.users:users_app", "Console users: roles, scopes, passwords and API tokens."),
    Lazy(
        "county",
        "bangfu.cli.county:county_app",
        "County office settings: campaign groups, unit kinds, monitoring lines.",
    ),
    Lazy(
        "alerts",
        "bangfu.cli.alerts:alerts_app",
        "Alerts for people: the unsold (滞销) early warning, and every open alert.",
    ),
    Lazy(
        "listings", "bangfu.cli.listings:listings_app", "Listings: which hub SKU each platform item/SKU is (商品对应)."
    ),
    Lazy("prices", "bangfu.cli.listings:prices_app", "Prices per shop, pushed through the platforms' price APIs."),
    Lazy("mall", "bangfu.cli.mall:mall_app", "The county's own mall."),
    Lazy(
        "shipments",
        "bangfu.cli.shipments:shipments_app",
        "Shipments: record carrier + tracking per order, push them to the platforms.",
    ),
    Lazy("drives", "bangfu.cli.drives:drives_app", "Enterprise-driven households: import and list."),
    Lazy("tasks", "bangfu.cli.tasks:tasks_app", "The department task ledger (调度台账): import, refresh."),
    Lazy(
        "certificates",
        "bangfu.cli.certificates:certificates_app",
        "The certified catalogue (消费帮扶产品认定): import the official list, expiry alerts.",
    ),
    Lazy(
        "agreements",
        "bangfu.cli.agreements:agreements_app",
        "Procurement agreements (采购协议): import, list, behind-schedule alerts.",
    ),
    Lazy("planting", "bangfu.cli.planting:planting_app", "Order planting: demand forecasts, supply plans, contracts."),
    # the fakes package is optional in a slimmed install: no package, no command
    Lazy(
        "fakes",
        "bangfu.cli.fakes:fakes_app",
        "Fake platform servers (loopback only) for tests and the demo.",
        needs="connectors.fakes",
    ),
)


class _Root(LazyGroup):
    lazy = COMMANDS


app = typer.Typer(
    name="bangfu",
    cls=_Root,
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


def main() -> None:
    tune_gc()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
