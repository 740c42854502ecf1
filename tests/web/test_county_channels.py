"""The county's figures show every channel: the demo county's vending machine and counter, whose
sales came in as files (``bangfu import sales``), beside the platforms, with their own labels."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bangfu.enums import PlatformKind
from bangfu.models import Order, Shop, SyncRun
from bangfu.reports.base import parse_period
from bangfu.reports.sales_ledger import sales_ledger
from bangfu.store import make_engine
from tests.web.conftest import World, api_token, csrf_of, login

Client = TestClient[web.Request, web.Application]
YEAR = 2026


async def _offline_facts(url: str) -> tuple[dict[str, int], int, Any]:
    """Paid fen per offline channel, the offline shops' sync runs, and the year's sales ledger."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            paid = {
                str(getattr(channel, "value", channel)): int(total)
                for channel, total in await conn.execute(
                    select(Shop.channel_type, func.sum(Order.paid_fen))
                    .join(Order, Order.shop_id == Shop.id)
                    .where(Shop.platform.in_([PlatformKind.VENDING, PlatformKind.COUNTER]))
                    .group_by(Shop.channel_type)
                )
            }
            runs = await conn.scalar(
                select(func.count())
                .select_from(SyncRun)
                .join(Shop, Shop.id == SyncRun.shop_id)
                .where(Shop.platform.in_([PlatformKind.VENDING, PlatformKind.COUNTER]))
            )
            ledger = await sales_ledger(conn, parse_period(str(YEAR), now=datetime.now(UTC)))
        return paid, int(runs or 0), ledger
    finally:
        await engine.dispose()


async def test_the_county_sees_its_offline_channels(world: World, client: Client) -> None:
    paid, runs, ledger = await _offline_facts(world.url)
    assert paid.keys() == {"vending", "counter"} and all(v > 0 for v in paid.values())
    assert runs == 0  # imported, never synced
    token = await api_token(world.url, "county")
    response = await client.get(f"/api/v1/county/overview?period={YEAR}", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200
    data = await response.json()
    sales = {r["key"]: r for r in data["sales"]["by_channel"]}
    assert sales["vending"]["label"] == "智能售货机" and sales["vending"]["gross_fen"] == paid["vending"]
    assert sales["counter"]["label"] == "专柜/专区" and sales["counter"]["gross_fen"] == paid["counter"]
    driven = {r["key"]: r for r in data["by_channel"]}
    assert driven["vending"]["income_fen"] > 0 and driven["counter"]["income_fen"] > 0
    assert {"智能售货机", "专柜/专区"} <= {row["channel"] for row in ledger.rows}

    await login(client, "county")
    html = await (await client.get(f"/county?period={YEAR}")).text()
    section = html.split('id="sales-channel"', 1)[1].split("</section>", 1)[0]
    assert "智能售货机" in section and "专柜/专区" in section
    csrf = await csrf_of(client, "/county")
    await client.post("/lang", data={"lang": "en", "_csrf": csrf, "next": "/"})
    try:
        english = await (await client.get(f"/county?period={YEAR}")).text()
        section = english.split('id="sales-channel"', 1)[1].split("</section>", 1)[0]
        assert "Vending machines" in section and "Counters" in section
    finally:
        await client.post("/lang", data={"lang": "zh", "_csrf": csrf, "next": "/"})
