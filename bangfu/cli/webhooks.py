"""``bangfu webhooks``: receive platform pushes and follow each one with a pull of its order."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from aiohttp import web
from rich.table import Table

from bangfu.cli.app import console, run
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.i18n import t
from bangfu.settings import get_settings
from bangfu.store import make_engine

webhooks_app = typer.Typer(
    help="Receive platform pushes (Douyin message push, Taobao TMC-style) and pull what they announce.",
    no_args_is_help=True,
)


@webhooks_app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)] = 18680,
    sweep_seconds: Annotated[
        int, typer.Option("--sweep-seconds", help="Seconds between retries of failed or unfinished pushes.", min=1)
    ] = 60,
    db: DbOption = None,
) -> None:
    """Serve POST /webhooks/douyin and /webhooks/taobao until interrupted (Ctrl-C)."""
    url = db or get_settings().resolved_database_url
    run(upgrade_database(url))
    base = f"http://{host}:{port}"

    def announce(_text: str) -> None:
        console.print(t("webhooks.serving", url=base, interval=sweep_seconds), highlight=False)

    # run_app owns the loop: it starts the app, handles SIGINT/SIGTERM, stops accepting, lets the
    # worker finish the stored events, stops the sweep and runs the cleanups below.
    web.run_app(_app(url, sweep_seconds), host=host, port=port, print=announce, access_log=None, shutdown_timeout=10.0)
    console.print(t("webhooks.stopped"))


@webhooks_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object {status: count}, for machines.")] = False,
    db: DbOption = None,
) -> None:
    """Stored push events by status (the receiver's GET /webhooks tells only that it is up)."""
    from sync.webhooks import event_counts

    url = db or get_settings().resolved_database_url

    async def main() -> dict[str, int]:
        await upgrade_database(url)
        engine = make_engine(url)
        try:
            return await event_counts(engine)
        finally:
            await engine.dispose()

    counts = run(main())
    if as_json:
        typer.echo(orjson.dumps(dict(sorted(counts.items()))).decode())
        return
    if not counts:
        console.print(t("webhooks.none"))
        return
    table = Table(title=t("webhooks.status_title"), title_justify="left")
    table.add_column(t("webhooks.status"))
    table.add_column(t("webhooks.count"), justify="right")
    for name, count in sorted(counts.items()):
        table.add_row(name, f"{count:,}")
    console.print(table)


async def _app(url: str, sweep_seconds: int) -> web.Application:
    from connectors.http import close_session
    from sync.engine import SyncEngine
    from sync.webhooks import build_app

    engine = make_engine(url)
    app = build_app(engine, SyncEngine(engine), sweep_interval=float(sweep_seconds))

    async def release(app: web.Application) -> None:
        await close_session()  # the connectors' shared HTTP session of this loop
        await engine.dispose()

    app.on_cleanup.append(release)
    return app
