"""The county office pages (issue 13): figures equal the reports, months add up, scope, params,
exports, English."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from bangfu.models import Cooperative, PurchasingUnit, Supplier, User
from bangfu.reports.base import month_period, parse_period
from bangfu.reports.households import household_income, households_driven
from bangfu.reports.reserved import reserved_share
from bangfu.reports.sales_ledger import sales_ledger
from bangfu.scope import region_and_below
from bangfu.store import make_engine
from tests.web.conftest import World, api_token, csrf_of, login

YEAR = 2026
NOW = datetime.now(UTC)
Client = TestClient[web.Request, web.Application]
ROUTES = (
    "/county",
    "/county/units",
    "/county/monitoring",
    "/county/products",
    "/api/v1/county/overview",
    "/api/v1/county/units",
    "/api/v1/county/monitoring",
    "/api/v1/county/products",
)


async def _county_coops(world: World) -> list[int]:
    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            region = await conn.scalar(select(User.region_id).where(User.name == "county"))
            assert region is not None
            regions = await region_and_below(conn, int(region))
            return [
                int(c)
                for c in await conn.scalars(
                    select(Cooperative.id)
                    .join(Supplier, Supplier.id == Cooperative.supplier_id)
                    .where(Supplier.county_id.in_(sorted(regions)))
                )
            ]
    finally:
        await engine.dispose()


async def _reports(world: World, coops: list[int] | None) -> dict[str, Any]:
    period = parse_period(str(YEAR), now=NOW)
    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            out: dict[str, Any] = {
                "driven": await households_driven(conn, period, cooperative_ids=coops),
                "income": await household_income(conn, period, cooperative_ids=coops),
                "ledger": await sales_ledger(conn, period),
                "reserved": await reserved_share(conn, period),
                "months": {},
            }
            for m in period.months():
                out["months"][m] = await households_driven(conn, month_period(m), cooperative_ids=coops)
            return out
    finally:
        await engine.dispose()


async def _json(client: Client, path: str, token: str) -> Any:
    response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200, (path, response.status, await response.text())
    return await response.json()


async def test_county_figures_equal_the_reports_and_months_add_up(world: World, client: Client) -> None:
    coops = await _county_coops(world)
    reports = await _reports(world, coops)
    driven, income, ledger = reports["driven"], reports["income"], reports["ledger"]
    token = await api_token(world.url, "county")
    data = await _json(client, f"/api/v1/county/overview?period={YEAR}", token)
    assert driven.totals is not None and income.totals is not None and ledger.totals is not None
    assert data["households_driven"] == driven.totals["households"] > 0
    assert data["income_fen"] == driven.totals["income"] == income.totals["income"]
    # One definition for a month and a year: each month is the report for that month, and the
    # monthly incomes add up to the year's (the counts need not).
    for row in data["monthly"]:
        month = reports["months"][row["key"]].totals
        assert (row["households"], row["income_fen"]) == (month["households"], month["income"])
    assert sum(r["income_fen"] for r in data["monthly"]) == data["income_fen"]
    for key in ("by_category", "by_cooperative", "by_channel", "by_product"):
        assert sum(r["income_fen"] for r in data[key]) == data["income_fen"], key
    by_label = {r["label"]: r for r in data["by_category"]}
    for row in driven.rows:
        assert (by_label[row["category"]]["households"], by_label[row["category"]]["income_fen"]) == (
            row["households"],
            row["income"],
        )
    # Sales: the ledger's gross, refunds and net; the orders' paid total and what separates them.
    sales = data["sales"]
    assert (sales["gross_fen"], sales["refunds_fen"], sales["net_fen"]) == (
        ledger.totals["gross"],
        ledger.totals["refunds"],
        ledger.totals["net"],
    )
    assert (
        sales["orders_paid_fen"] + sales["paid_time_only_fen"] - sales["shipping_fen"] - sales["order_adjustments_fen"]
        == sales["gross_fen"]
    )
    # The page shows the same headline and definition.
    await login(client, "county")
    page = await client.get(f"/county?period={YEAR}")
    html = await page.text()
    assert page.status == 200
    assert f'data-households="{data["households_driven"]}"' in html and f'data-income="{data["income_fen"]}"' in html
    assert f'data-months-sum="{data["income_fen"]}"' in html and f'data-gross="{sales["gross_fen"]}"' in html
    assert "各月增收相加等于全年" in html and "各月户数相加不等于全年" in html
    assert "echarts" in html
    products = await _json(client, f"/api/v1/county/products?period={YEAR}", token)
    assert products["totals"]["net_fen"] == ledger.totals["net"]
    assert sum(sum(m["net_fen"] for m in r["months"]) for r in products["items"]) == ledger.totals["net"]


async def test_units_ranking_rolls_up_and_matches_the_reserved_share(world: World, client: Client) -> None:
    reports = await _reports(world, None)
    by_code = {r["code"]: r for r in reports["reserved"].rows}
    token = await api_token(world.url, "admin")
    each = await _json(client, f"/api/v1/county/units?year={YEAR}&view=units&sort=amount", token)
    assert each["items"] and not each["rollup"]
    for item in each["items"]:
        row = by_code.get(item["code"])
        assert item["executed_fen"] == (row["executed"] if row else 0)
        assert item["target_fen"] == (row["target"] if row else None)
    executed = [i["executed_fen"] for i in each["items"]]
    assert executed == sorted(executed, reverse=True) and each["items"][0]["rank"] == 1
    rolled = await _json(client, f"/api/v1/county/units?year={YEAR}&sort=orders", token)
    parents = {i["parent_id"] for i in each["items"] if i["parent_id"] is not None}
    assert parents, "the demo has an education bureau with schools"
    for parent in parents:
        top = next(i for i in rolled["items"] if i["id"] == parent)
        children = [i for i in each["items"] if i["parent_id"] == parent or i["id"] == parent]
        assert top["subunits"] == len(children) - 1
        assert top["executed_fen"] == sum(c["executed_fen"] for c in children)
        assert top["orders"] == sum(c["orders"] for c in children)
    assert rolled["totals"]["executed_fen"] == each["totals"]["executed_fen"]
    assert all(i["parent_id"] is None for i in rolled["items"])
    orders = [i["orders"] for i in rolled["items"]]
    assert orders == sorted(orders, reverse=True)
    part = await _json(client, f"/api/v1/county/units?year={YEAR}&view=units&sort=participation", token)
    for item in part["items"]:
        if item["participation_basis"] == "buyers":
            assert item["orders_without_buyer"] == 0 and item["staff"]
    await login(client, "admin")
    page = await (await client.get(f"/county/units?year={YEAR}")).text()
    assert "教育局" in page and ("下单人数/职工数" in page or "每百名职工订单数" in page)
    # The county office sees the units of its own region only: none in the demo (buyers are in
    # the donor district).
    county = await api_token(world.url, "county")
    assert (await _json(client, f"/api/v1/county/units?year={YEAR}", county))["items"] == []


async def test_monitoring_lists_households_below_the_line(world: World, client: Client) -> None:
    token = await api_token(world.url, "county")
    data = await _json(client, f"/api/v1/county/monitoring?year={YEAR}&limit=200", token)
    assert data["households_checked"] > 0 and data["lines"]
    assert all(line["default"] and line["line_fen"] == 600_000 for line in data["lines"])
    per_person = [i["per_person_fen"] for i in data["items"]]
    assert per_person == sorted(per_person) and all(i["per_person_fen"] < i["line_fen"] for i in data["items"])
    assert data["below"] == len(data["items"])
    for item in data["items"]:
        assert item["gap_fen"] == item["line_fen"] - item["per_person_fen"]
        assert re.fullmatch(r".\*+", item["name"]), "a county sees names masked"
    page = await _json(client, f"/api/v1/county/monitoring?year={YEAR}&limit=5", token)
    assert len(page["items"]) <= 5
    if data["below"] > 5:
        assert page["next_cursor"]
        rest = await _json(client, f"/api/v1/county/monitoring?year={YEAR}&limit=5&cursor={page['next_cursor']}", token)
        assert rest["items"][0]["household_id"] == data["items"][5]["household_id"]
    nothing = await _json(client, "/api/v1/county/monitoring?year=2099", token)
    assert nothing["items"] == [] and nothing["elapsed_days"] == 0
    # The page counts the households below the line with no income at all, as the API lists them.
    await login(client, "county")
    html = await (await client.get(f"/county/monitoring?year={YEAR}")).text()
    none = sum(1 for item in data["items"] if item["income_fen"] == 0)
    assert f'data-below="{data["below"]}"' in html
    assert (f"其中 {none} 户本年度尚无经平台的收入" in html) == (none > 0)


async def test_only_county_and_admin_and_bad_params(world: World, client: Client) -> None:
    for name in ("host", "coop", "operator", "unit"):
        client.session.cookie_jar.clear()
        await login(client, name)
        for path in ROUTES:
            assert (await client.get(path)).status == 404, (name, path)
        token = await api_token(world.url, name)
        for path in ROUTES:
            if path.startswith("/api/"):
                response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
                assert response.status == 404 and (await response.json())["error"]["code"] == "not_found"
    client.session.cookie_jar.clear()
    assert (await client.get("/api/v1/county/overview")).status == 401
    await login(client, "county")
    home = await client.get("/", allow_redirects=False)
    assert home.headers["Location"] == "/county"
    bad = (
        "/county?period=2026-13",
        "/county?from=2026-12-01&to=2026-11-01",
        "/county?period=abc",
        "/county?table=nope",
        "/county?format=pdf",
        "/county/units?year=abc",
        "/county/units?year=1999",
        "/county/units?sort=name",
        "/county/units?view=tree",
        "/county/monitoring?year=x",
        "/county/monitoring?page=0",
        "/county/products?period=20266",
        "/api/v1/county/overview?period=2026-00",
        "/api/v1/county/units?sort=-amount",
        "/api/v1/county/monitoring?cursor=zzz",
        "/api/v1/county/monitoring?limit=1000",
        "/api/v1/county/products?from=2026-02-30",
    )
    for path in bad:
        response = await client.get(path)
        assert response.status == 400, (path, response.status)
        if path.startswith("/api/"):
            assert (await response.json())["error"]["code"] == "bad_request"


@pytest.mark.slow
async def test_exports_and_english(world: World, client: Client) -> None:
    await login(client, "county")
    for table in ("monthly", "category", "cooperative", "channel", "product", "sales", "campaigns"):
        export = await client.get(f"/county?period={YEAR}&table={table}&format=xlsx")
        assert export.status == 200, table
        sheet = load_workbook(io.BytesIO(await export.read())).active
        assert sheet is not None and "县域帮扶总览" in str(sheet["A1"].value) and sheet.freeze_panes == "A4"
    csv = await client.get(f"/county?period={YEAR}&table=monthly&format=csv")
    text = (await csv.read()).decode("utf-8-sig")
    assert text.splitlines()[0].startswith("月份,带动户数,增收") and f"{YEAR}-12" in text
    for path in ("/county/units", "/county/monitoring", "/county/products"):
        for fmt in ("xlsx", "csv"):
            response = await client.get(f"{path}?format={fmt}")
            assert response.status == 200 and "attachment" in response.headers["Content-Disposition"], path
    token = await csrf_of(client, "/county")
    await client.post("/lang", data={"lang": "en", "_csrf": token, "next": "/"})
    try:
        for path in ("/county", "/county/units", "/county/monitoring", "/county/products"):
            html = await (await client.get(path)).text()
            main = html.split("<main>", 1)[1].split("</main>", 1)[0]
            for label in ("带动", "增收", "采购单位排名", "监测线", "产品月度", "导出", "合计"):
                assert label not in main, (path, label)
        english = await (await client.get(f"/county?period={YEAR}")).text()
        assert "households driven" in english and "monthly incomes add up" in english.lower()
        csv = await client.get(f"/county?period={YEAR}&table=category&format=csv")
        assert (await csv.read()).decode("utf-8-sig").startswith("Category,Households driven,Income")
    finally:
        await client.post("/lang", data={"lang": "zh", "_csrf": token, "next": "/"})


async def test_unit_kinds_and_monitoring_lines_are_data(world_copy: World) -> None:
    from bangfu.queries import county as qc
    from bangfu.scope import Scope

    engine = make_engine(world_copy.url)
    try:
        async with engine.begin() as conn:
            unit = await conn.scalar(select(PurchasingUnit.code).order_by(PurchasingUnit.id).limit(1))
            assert unit is not None
            await qc.set_group(conn, "barracks", "进军营", "Barracks")
            await qc.set_kind(conn, "armed-police", "武警", "Armed police", "barracks")
            await qc.assign_kind(conn, unit, "armed-police")
            region = await conn.scalar(select(User.region_id).where(User.name == "county"))
            from bangfu.models import Region

            code = await conn.scalar(select(Region.code).where(Region.id == region))
            assert code is not None
            await qc.set_monitoring_line(conn, code, YEAR, 1)  # 1 fen: nobody is below
        async with engine.connect() as conn:
            kinds = await qc.load_kinds(conn)
            assert kinds.group_of("armed-police") == "barracks" and kinds.group_of("school") == "schools"
            o = await qc.overview(conn, Scope.admin(), parse_period(str(YEAR), now=NOW))
            barracks = next(c for c in o.campaigns if c.code == "barracks")
            assert "武警" in barracks.kinds
            m = await qc.below_monitoring_line(conn, Scope.admin(), YEAR)
            assert any(not default for _, _, default in m.lines)
    finally:
        await engine.dispose()


def test_county_cli_edits_kinds_groups_and_lines(sqlite_world: World, tmp_path: Any) -> None:
    import shutil

    from typer.testing import CliRunner

    from bangfu.cli.app import app

    source = sqlite_world.url.removeprefix("sqlite+aiosqlite:///")
    shutil.copyfile(source, tmp_path / "world.db")
    db = ["--db", f"sqlite+aiosqlite:///{tmp_path / 'world.db'}"]
    runner = CliRunner()
    ok = runner.invoke(app, ["county", "groups", "set", "fairs", "--zh", "进展会", "--en", "Fairs", *db])
    assert ok.exit_code == 0, ok.output
    ok = runner.invoke(app, ["county", "kinds", "set", "fair", "--zh", "展会", "--en", "Fair", "--group", "fairs", *db])
    assert ok.exit_code == 0, ok.output
    listed = runner.invoke(app, ["county", "groups", "list", *db])
    assert "进展会" in listed.stdout and "进学校" in listed.stdout  # the defaults are kept
    assert (
        runner.invoke(app, ["county", "kinds", "set", "x", "--zh", "x", "--en", "x", "--group", "nope", *db]).exit_code
        == 2
    )
    assert runner.invoke(app, ["county", "assign", "NO-SUCH-UNIT", "fair", *db]).exit_code == 2
    line = ["county", "monitoring-line", "set", "--region", "513328", "--year", "2026"]
    assert runner.invoke(app, [*line, "--yuan", "7400", *db]).exit_code == 0
    assert runner.invoke(app, [*line, "--yuan", "7.001", *db]).exit_code == 2
    assert "7,400.00" in runner.invoke(app, ["county", "monitoring-line", "list", *db]).stdout


async def test_monitoring_rows_are_built_when_read_and_read_alike_every_way(world: World) -> None:
    """The page and the API show a window of the rows below the line: only those are built
    (named, labelled); an index, a slice, iteration and the export's full read agree."""
    from bangfu.queries import county as qc
    from bangfu.scope import Scope

    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            m = await qc.below_monitoring_line(conn, Scope.admin(), YEAR)
            fresh = await qc.below_monitoring_line(conn, Scope.admin(), YEAR)
    finally:
        await engine.dispose()
    assert len(m.rows) >= 3
    window = m.rows[1:3]
    assert len(m.rows._built) == 2  # nothing else built
    every = list(m.rows)
    assert len(every) == len(m.rows) == len(fresh.rows) and every[1:3] == window
    assert m.rows[0] is every[0] and m.rows[-1] == every[-1] == fresh.rows[len(fresh.rows) - 1]
    assert [r.per_person for r in every] == sorted(r.per_person for r in every)
    assert list(fresh.rows) == every and m.no_income == sum(1 for r in every if r.income == 0)
    with pytest.raises(IndexError):
        m.rows[len(m.rows)]


def test_the_overviews_monthly_nets_are_net_by_household_per_month() -> None:
    from bangfu.queries.county import _nets_by_month
    from bangfu.reports.households import net_by_household

    period = parse_period(None, "2026-09-01", "2026-11-30", now=NOW)
    income = {
        1: {"2026-09": 500, "2026-10": -200},
        2: {"2026-10": 0, "2026-11": 70},
        3: {"2026-08": 900},  # outside the period
        4: {"2026-09": -5, "2026-11": 5},
    }
    expected = {m: net_by_household(income, [m]) for m in period.months()}
    assert _nets_by_month(income, period) == expected and list(expected) == ["2026-09", "2026-10", "2026-11"]
