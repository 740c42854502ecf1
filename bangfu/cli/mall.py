"""``bangfu mall release``: release the county mall's stock holds whose payment time is up.

The mall also releases them on read (before every checkout and every order page); this is the
periodic side, for a cron entry or a scheduler (every minute or so). Running it again changes
nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from bangfu.cli.app import console, run
from bangfu.cli.db import DbOption
from bangfu.i18n import MESSAGES, t
from bangfu.mall import release_expired
from bangfu.settings import get_settings
from bangfu.store import make_engine

MESSAGES.update(
    {
        "mall.release.done": {
            "zh": "县域自营商城：释放了 {n} 笔超时未支付订单的库存",
            "en": "County mall: released the stock of {n} order(s) not paid in time",
        },
    }
)

mall_app = typer.Typer(help="The county's own mall.", no_args_is_help=True)


async def _release(url: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            return await release_expired(conn, datetime.now(UTC))
    finally:
        await engine.dispose()


@mall_app.command("release")
def release_command(db: DbOption = None) -> None:
    """Release the stock held by mall orders not paid in time (their orders are cancelled)."""
    released = run(_release(db or get_settings().resolved_database_url))
    console.print(t("mall.release.done", n=released), highlight=False)
