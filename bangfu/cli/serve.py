"""``bangfu serve``: the web console and JSON API.

Production runs several of these behind a reverse proxy (nginx, Caddy...) on one database:
``bangfu serve --host 127.0.0.1 --port 8081 --behind-proxy --secure-cookies`` per process.
Sessions and the login throttle are in the database, so any process can answer any request.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Awaitable, Callable
from typing import Annotated

import typer

from bangfu.cli.app import console, run
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.i18n import t
from bangfu.settings import get_settings


def free_port(host: str, preferred: int) -> int:
    """``preferred`` if it can be bound on ``host``, else a free port the system picks."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or port == 0:
                    raise
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free port")


async def serve_until_stopped(
    url: str,
    host: str,
    port: int,
    *,
    secure_cookies: bool = False,
    behind_proxy: bool = False,
    on_ready: Callable[[str], Awaitable[None] | None] | None = None,
) -> None:
    from aiohttp import web

    from web import create_app

    app = create_app(url, secure_cookies=secure_cookies, behind_proxy=behind_proxy)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        shown = f"[{host}]" if ":" in host else host
        address = f"http://{shown}:{port}/"
        if on_ready is not None:
            result = on_ready(address)
            if result is not None:
                await result
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8080,
    secure_cookies: Annotated[
        bool, typer.Option("--secure-cookies", help="Mark cookies Secure (served over https).")
    ] = False,
    behind_proxy: Annotated[
        bool, typer.Option("--behind-proxy", help="Trust X-Forwarded-Proto/-For from a reverse proxy.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Serve the web console and the JSON API until Ctrl-C."""
    url = db or get_settings().resolved_database_url

    async def main() -> None:
        await upgrade_database(url)

        def ready(address: str) -> None:
            console.print(t("web.serving", url=address), highlight=False)
            console.print(t("web.stop_hint"))

        await serve_until_stopped(
            url, host, port, secure_cookies=secure_cookies, behind_proxy=behind_proxy, on_ready=ready
        )

    import web.messages  # noqa: F401  (the serving lines' text)

    run(main())
