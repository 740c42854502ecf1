"""The unsold (滞销) pages (issue 13): the rule explained, the alerts with their numbers and channels,
the same as ``bangfu alerts list``; the county sees its region's lots, a cooperative its own."""

from __future__ import annotations

import html as htmllib
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bangfu.enums import UserRole
from bangfu.models import Alert, SupplyLot, User
from bangfu.queries.unsold import unsold_alerts
from bangfu.scope import Scope, region_and_below
from bangfu.store import make_engine
from tests.web.conftest import World, api_token, csrf_of, login

Client = TestClient[web.Request, web.Application]


async def _facts(world: World) -> dict[str, Any]:
    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            coop = await conn.scalar(select(User.cooperative_id).where(User.name == "coop"))
            region = await conn.scalar(select(User.region_id).where(User.name == "county"))
            assert region is not None
            county = Scope(UserRole.COUNTY, region_ids=await region_and_below(conn, int(region)))
            alerts = await unsold_alerts(conn, Scope.admin())
            county_alerts = await unsold_alerts(conn, county)
            lot_coop = {int(i): c for i, c in await conn.execute(select(SupplyLot.id, SupplyLot.cooperative_id))}
            open_alerts = await conn.scalar(
                select(Alert.id).where(Alert.kind == "unsold", Alert.resolved_at.is_(None)).limit(1)
            )
            return {
                "coop": coop,
                "alerts": alerts,
                "county": county_alerts,
                "lot_coop": lot_coop,
                "any_open": open_alerts,
            }
    finally:
        await engine.dispose()


async def test_county_page_explains_the_rule_and_lists_the_alerts(world: World, client: Client) -> None:
    facts = await _facts(world)
    alerts = facts["county"]  # the world's one county holds every lot; its channels are its region's
    assert alerts and len(alerts) == len(facts["alerts"]), "the demo world's run opened unsold alerts"
    await login(client, "county")
    page = await client.get("/county/unsold")
    assert page.status == 200
    text = htmllib.unescape(await page.text())
    assert "预警规则" in text and "只有同时满足以下条件的批次才会预警" in text and "先进先出" in text
    assert "保质期（自收购日起，按品类）：中药材 730 天" in text
    assert f'data-alerts="{len(alerts)}"' in text
    for a in alerts:
        assert f'data-lot="{a.detail["lot"]}"' in text
        for c in a.channels:
            assert f"「{c['name']}」" in text
    first = alerts[0]
    assert first.status == "at_risk" or all(a.status == "expired" for a in alerts)  # still savable first

    token = await api_token(world.url, "county")
    data = await (await client.get("/api/v1/county/unsold", headers={"Authorization": f"Bearer {token}"})).json()
    assert [i["lot"] for i in data["items"]] == [a.detail["lot"] for a in alerts]
    assert data["rule"]["parameters"]["horizon_days"] == 30 and data["rule"]["explanation"]
    for item in data["items"]:
        assert item["left_at_end"] <= item["remaining"] and item["value_fen"] >= 0
        assert item["status"] == "expired" or 0 < item["days_left"] <= 30
        assert all(c["reason"] for c in item["channels"])

    csrf = await csrf_of(client, "/county/unsold")
    await client.post("/lang", data={"lang": "en", "_csrf": csrf, "next": "/"})
    try:
        english = htmllib.unescape(await (await client.get("/county/unsold")).text())
        main = english.split("<main>", 1)[1].split("</main>", 1)[0]
        assert "A lot is flagged only when both hold" in main and "first in first out" in main
        for word in ("预警规则", "可承接渠道", "保质期末"):
            assert word not in main
    finally:
        await client.post("/lang", data={"lang": "zh", "_csrf": csrf, "next": "/"})


async def test_cooperative_sees_its_own_lots_only(world: World, client: Client) -> None:
    facts = await _facts(world)
    coop = facts["coop"]
    own = [a for a in facts["alerts"] if facts["lot_coop"][a.detail["lot_id"]] == coop]
    others = [a for a in facts["alerts"] if facts["lot_coop"][a.detail["lot_id"]] != coop]
    await login(client, "coop")
    page = await client.get(f"/cooperatives/{coop}/unsold")
    assert page.status == 200
    text = htmllib.unescape(await page.text())
    assert "预警规则" in text and f'data-alerts="{len(own)}"' in text
    for a in own:
        assert f'data-lot="{a.detail["lot"]}"' in text
    for a in others:
        assert f'data-lot="{a.detail["lot"]}"' not in text
    assert "采购单位「" not in text and "主播「" not in text  # a cooperative sees storefronts only
    assert (await client.get(f"/cooperatives/{coop + 1000}/unsold")).status == 404
    for path in ("/county/unsold", "/api/v1/county/unsold"):
        assert (await client.get(path)).status == 404


async def test_other_roles_get_404(world: World, client: Client) -> None:
    for role in ("host", "unit", "operator"):
        await login(client, role)
        for path in ("/county/unsold", "/api/v1/county/unsold"):
            assert (await client.get(path)).status == 404, (role, path)
