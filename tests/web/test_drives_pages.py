"""Enterprise-driven households in the console (/county/drives): the demo county's enterprises
drive households by several modes; the county overview's card, the drives page and the API show
the same two lines and the same combined count (a family on both lines once); the members' line
is the households-driven report, untouched; an enterprise's page masks names; XLSX exports; only
the county and the admin see these pages, and an id that is not an enterprise in scope is a 404."""

from __future__ import annotations

import io
import re
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from bangfu.clock import SHANGHAI, utcnow
from bangfu.enums import SupplierKind
from bangfu.models import DriveHousehold, Supplier
from bangfu.reports.base import parse_period
from bangfu.reports.households import households_driven
from bangfu.store import make_engine
from tests.web.conftest import World, api_token, login

Client = TestClient[web.Request, web.Application]
YEAR = utcnow().astimezone(SHANGHAI).year  # the demo's records run from January of this year


async def _rows(url: str, statement: Any) -> list[Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(statement)).all())
    finally:
        await engine.dispose()


def _attr(html: str, name: str) -> int:
    match = re.search(rf'{name}="(-?\d+)"', html)
    assert match, name
    return int(match.group(1))


async def test_lines_agree_everywhere_and_members_line_is_the_report(world: World, client: Client) -> None:
    token = await api_token(world.url, "county")
    response = await client.get(f"/api/v1/county/overview?period={YEAR}", headers={"Authorization": f"Bearer {token}"})
    data = await response.json()
    lines = data["lines"]
    # The members' line is the overview's own figure, which is the households-driven report's.
    assert lines["cooperative"]["households"] == data["households_driven"]
    assert lines["cooperative"]["income_fen"] == data["income_fen"]
    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            report = await households_driven(conn, parse_period(str(YEAR), now=utcnow()))
    finally:
        await engine.dispose()
    assert report.totals is not None and report.totals["households"] == data["households_driven"]
    assert f"{lines['combined_households']} 户" in report.summary[-1]
    # The demo: enterprises drive households by every mode, some of them members on both lines.
    enterprise = lines["enterprise"]
    assert enterprise["households"] > 20 and enterprise["income_fen"] > 0
    assert lines["on_both_lines"] > 0
    assert lines["combined_households"] == (
        lines["cooperative"]["households"] + enterprise["households"] - lines["on_both_lines"]
    )
    await login(client, "county")
    overview = await (await client.get(f"/county?period={YEAR}")).text()
    assert _attr(overview, "data-enterprise-households") == enterprise["households"]
    assert _attr(overview, "data-combined") == lines["combined_households"]
    assert 'href="/county/drives?period=' in overview
    page = await client.get(f"/county/drives?period={YEAR}")
    html = await page.text()
    assert page.status == 200
    assert _attr(html, "data-combined") == lines["combined_households"]
    assert _attr(html, "data-both") == lines["on_both_lines"]
    for mode in ("order_purchase", "employment", "land_lease", "dividend"):
        assert f'data-mode="{mode}"' in html
    assert 'data-category="lifted"' in html and "脱贫户" in html
    assert "甘孜哦呀食品有限公司" in html and "echarts" in html


async def test_enterprise_page_export_and_scope(world: World, client: Client) -> None:
    suppliers = await _rows(world.url, select(Supplier.id, Supplier.kind, Supplier.name).order_by(Supplier.id))
    enterprise = next(int(i) for i, k, n in suppliers if k == SupplierKind.ENTERPRISE and n.startswith("甘孜哦呀"))
    cooperative = next(int(i) for i, k, _ in suppliers if k == SupplierKind.COOPERATIVE)
    names = [str(n) for (n,) in await _rows(world.url, select(DriveHousehold.head_name))]
    await login(client, "county")
    page = await client.get(f"/county/drives/{enterprise}?period={YEAR}")
    html = await page.text()
    assert page.status == 200
    assert _attr(html, "data-households") > 0
    for name in names:
        assert f"<td>{name}</td>" not in html  # masked: 扎** never 扎西
    assert re.search(r"<td>\w\*+</td>", html)
    export = await client.get(f"/county/drives/{enterprise}?period={YEAR}&format=xlsx")
    assert export.status == 200
    sheet = load_workbook(io.BytesIO(await export.read())).active
    assert sheet is not None
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = next(r for r in rows if r and r[0] == "农户编号")
    assert header[:5] == ["农户编号", "户主", "农户类别", "村", "合作社成员"] and "订单收购" in header
    for table in ("enterprises", "modes", "categories", "lines"):
        response = await client.get(f"/county/drives?period={YEAR}&table={table}&format=xlsx")
        assert response.status == 200, table
    csv = await client.get(f"/county/drives?period={YEAR}&table=lines&format=csv")
    assert "企业带动农户" in (await csv.read()).decode("utf-8-sig")
    for path in (f"/county/drives/{cooperative}", "/county/drives/999999999", "/county/drives/abc"):
        assert (await client.get(path)).status == 404, path
    assert (await client.get("/county/drives?format=pdf")).status == 400
    for name in ("host", "coop", "operator", "unit"):
        client.session.cookie_jar.clear()
        await login(client, name)
        for path in ("/county/drives", f"/county/drives/{enterprise}"):
            assert (await client.get(path)).status == 404, (name, path)
    client.session.cookie_jar.clear()
    await login(client, "admin")
    assert (await client.get(f"/county/drives/{enterprise}")).status == 200
