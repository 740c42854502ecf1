"""``bangfu worker``: a Celery worker (optionally with the beat scheduler) for the hub's queues.

The same worker starts with plain ``celery -A workers worker``; this command only adds the
hub's defaults and a clear error when there is no Redis to take tasks from.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bangfu.cli.app import fail
from bangfu.errors import UserError
from bangfu.i18n import t
from bangfu.settings import get_settings


def worker_command(
    queues: Annotated[
        str, typer.Option("--queues", "-Q", help="Comma-separated queues: sync, accounting, reconcile, alerts.")
    ] = "sync,accounting,reconcile,alerts",
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, help="Worker processes.")] = 2,
    beat: Annotated[bool, typer.Option("--beat", help="Also run the periodic schedule (one per site).")] = False,
    loglevel: Annotated[str, typer.Option("--loglevel", "-l", help="Log level.")] = "INFO",
    hostname: Annotated[str | None, typer.Option("--hostname", "-n", help="Worker node name.")] = None,
) -> None:
    """Start a Celery worker on Redis (BANGFU_REDIS_URL) for the hub's task queues."""
    from workers.app import QUEUES

    settings = get_settings()
    if settings.is_eager or not settings.redis_url:
        fail(t("worker.needs_redis"))
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(wanted) - set(QUEUES))
    if unknown or not wanted:
        raise typer.BadParameter(t("worker.unknown_queue", queues=", ".join(unknown) or "-", known=", ".join(QUEUES)))
    from workers.app import app

    argv = ["worker", f"--queues={','.join(wanted)}", f"--concurrency={concurrency}", f"--loglevel={loglevel}"]
    if beat:
        argv.append("--beat")
    if hostname:
        argv.append(f"--hostname={hostname}")
    try:
        app.worker_main(argv)
    except OSError as exc:
        raise UserError(t("worker.failed", error=exc)) from exc
