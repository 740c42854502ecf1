"""``bangfu tasks``: the department task ledger (调度台账).

::

    bangfu tasks import FILE     # CSV or XLSX, Chinese or English headers; all or nothing
    bangfu tasks refresh         # append the bound tasks' figures that changed (as the beat does)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from bangfu.cli.app import console, err_console, run
from bangfu.cli.db import DbOption, upgrade_database
from bangfu.errors import UserError
from bangfu.i18n import MESSAGES, t
from bangfu.importing import ImportRejected
from bangfu.settings import get_settings
from bangfu.store import make_engine

tasks_app = typer.Typer(help="The department task ledger (调度台账): import, refresh.", no_args_is_help=True)

MESSAGES.update(
    {
        "tasks.imported": {
            "zh": "{file}：任务 新增 {created}，更新 {updated}，未变 {unchanged}",
            "en": "{file}: tasks created {created}, updated {updated}, unchanged {unchanged}",
        },
        "tasks.refreshed": {
            "zh": "已检查绑定指标的任务 {checked} 项，记入新进展 {appended} 条",
            "en": "{checked} bound tasks checked, {appended} progress entries appended",
        },
        "tasks.refresh_failed": {"zh": "任务 {code} 的指标无法读取：{why}", "en": "task {code}: {why}"},
    }
)


async def _import(path: Path, url: str) -> None:
    from bangfu.tasks.importing import import_tasks

    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            done = await import_tasks(conn, path)
    except ImportRejected as exc:
        raise UserError(t("import.rejected", file=path, count=len(exc.errors)) + "\n" + str(exc)) from exc
    finally:
        await engine.dispose()
    console.print(Text(t("tasks.imported", file=path, **vars(done))), soft_wrap=True)


@tasks_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="A .csv or .xlsx task list (see docs/tasks.md).")],
    db: DbOption = None,
) -> None:
    """Import a task list: one task per row, keyed by its code; a file with any bad row is
    rejected whole (file:row:field: reason), importing it again changes nothing."""
    run(_import(file, db or get_settings().resolved_database_url))


async def _refresh(url: str) -> int:
    from bangfu.tasks.progress import refresh_bound

    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            done = await refresh_bound(conn)
    finally:
        await engine.dispose()
    console.print(t("tasks.refreshed", checked=done.checked, appended=done.appended), highlight=False)
    for code, why in done.failed:
        err_console.print(Text(t("tasks.refresh_failed", code=code, why=why)), soft_wrap=True)
    return len(done.failed)


@tasks_app.command("refresh")
def refresh_command(db: DbOption = None) -> None:
    """Read every bound task's figure and append it where it changed (exit 1 if a binding names
    something that is gone)."""
    failed = run(_refresh(db or get_settings().resolved_database_url))
    if failed:
        raise typer.Exit(1)
