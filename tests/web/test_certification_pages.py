"""The certified catalogue's pages: county and cooperative scope, filters, export, and the rule's
figures agreeing across the overview, the product table, the board and the sales ledger."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from aiohttp.test_utils import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from bangfu.models import Cooperative, Supplier, User
from bangfu.reports.base import parse_period
from bangfu.reports.sales_ledger import sales_ledger
from bangfu.store import make_engine
from tests.web.conftest import World, api_token, login


async def _facts(world: World) -> tuple[int, str, int, int, int]:
    """(the coop user's supplier, its name, another supplier, the ledger's certified and
    uncertified net for this year)."""
    now = datetime.now(UTC)
    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            own, name = (
                await conn.execute(
                    select(Supplier.id, Supplier.name)
                    .join(Cooperative, Cooperative.supplier_id == Supplier.id)
                    .join(User, User.cooperative_id == Cooperative.id)
                    .where(User.name == "coop")
                )
            ).one()
            other = await conn.scalar(select(Supplier.id).where(Supplier.id != own).limit(1))
            ledger = await sales_ledger(conn, parse_period(str(now.year), now=now))
    finally:
        await engine.dispose()
    yes = sum(r["net"] for r in ledger.rows if r["certified"] == "是")
    no = sum(r["net"] for r in ledger.rows if r["certified"] == "否")
    return int(own), str(name), int(other or 0), yes, no


async def test_county_catalogue_counts_alerts_and_figures_agree(world: World, client: TestClient) -> None:  # type: ignore[type-arg]
    _own, _name, _other, certified, uncertified = await _facts(world)
    assert certified > 0 and uncertified > 0  # the demo has both
    await login(client, "county")
    token = await api_token(world.url, "county")
    headers = {"Authorization": f"Bearer {token}"}
    data = await (await client.get("/api/v1/certificates", headers=headers)).json()
    counts = data["counts"]
    # The demo: two product and one supplier certificate end within 30 days, two more of each
    # kind within 60; one ended ten days ago; a quarter of the products were never certified.
    assert counts["expiring_30"] == 3 and counts["expiring_60"] == 6 and counts["expired"] >= 1
    assert counts["uncertified_products"] > 0 and counts["valid"] > 0
    # 30 days: two products and a supplier (60 and 30 alerts); 60 days: two products and a supplier.
    assert {a["threshold"] for a in data["alerts"]} == {60, 30} and len(data["alerts"]) == 9
    assert any(i["holder"] == "supplier" for i in data["items"])
    assert sum(m["certified_net_fen"] for m in data["monthly"]) == certified
    assert sum(m["uncertified_net_fen"] for m in data["monthly"]) == uncertified
    # The overview, the product table and the board say the same.
    overview = await (await client.get("/api/v1/county/overview", headers=headers)).json()
    assert overview["sales"]["certified_net_fen"] == certified
    assert overview["sales"]["uncertified_net_fen"] == uncertified
    products = await (await client.get("/api/v1/county/products", headers=headers)).json()
    assert (products["certified"]["net_fen"], products["uncertified"]["net_fen"]) == (certified, uncertified)
    page = await client.get("/county")
    text = await page.text()
    assert page.status == 200 and 'href="/certificates"' in text and f'data-certified-net="{certified}"' in text
    # Filters: within 30 days, one supplier, a state, a search.
    soon = await (await client.get("/api/v1/certificates?within=30", headers=headers)).json()
    assert len(soon["items"]) == 3 and all(0 <= i["days_left"] <= 30 for i in soon["items"])
    one = soon["items"][0]
    mine = await (await client.get(f"/api/v1/certificates?supplier={one['supplier_id']}", headers=headers)).json()
    assert mine["items"] and all(i["supplier_id"] == one["supplier_id"] for i in mine["items"])
    found = await (await client.get(f"/api/v1/certificates?q={one['number']}", headers=headers)).json()
    assert [i["number"] for i in found["items"]] == [one["number"]]
    expired = await (await client.get("/api/v1/certificates?state=expired", headers=headers)).json()
    assert expired["items"] and all(i["state"] == "expired" for i in expired["items"])
    html = await client.get("/certificates?within=60")
    body = await html.text()
    assert html.status == 200 and "消费帮扶认定产品目录" in body and "到期预警" in body
    assert (await client.get("/certificates?state=bogus")).status == 400
    # XLSX of the filtered catalogue.
    export = await client.get("/certificates?within=60&format=xlsx")
    assert export.status == 200
    sheet = load_workbook(io.BytesIO(await export.read())).active
    assert sheet is not None and "认定产品目录" in str(sheet["A1"].value)
    numbers = {str(c.value) for row in sheet.iter_rows() for c in row if c.value}
    assert one["number"] in numbers


async def test_a_cooperative_sees_its_own_and_others_nothing(world: World, client: TestClient) -> None:  # type: ignore[type-arg]
    own, name, other, _c, _u = await _facts(world)
    await login(client, "coop")
    page = await client.get("/certificates")
    text = await page.text()
    assert page.status == 200 and name in text
    token = await api_token(world.url, "coop")
    headers = {"Authorization": f"Bearer {token}"}
    data = await (await client.get("/api/v1/certificates", headers=headers)).json()
    assert data["items"] and {i["supplier_id"] for i in data["items"]} == {own}
    assert (await client.get(f"/certificates?supplier={other}")).status == 404
    assert (await client.get(f"/certificates?supplier={own}")).status == 200
    for role in ("unit", "operator", "host"):
        token = await api_token(world.url, role)
        answer = await client.get("/api/v1/certificates", headers={"Authorization": f"Bearer {token}"})
        assert answer.status == 404, role
