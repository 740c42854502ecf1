"""Cooperative pages and API: scope per role, figures that add up to the report, drill-down, exports."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from bangfu.models import Household, Journal, LedgerAccount, LotAllocation, OrderLine, Posting, SupplyLot
from bangfu.reports.base import SHANGHAI, parse_period
from bangfu.reports.households import household_income, households_driven
from bangfu.store import make_engine
from tests.web.conftest import ROLES, World, api_token, csrf_of, login

Client = TestClient[web.Request, web.Application]


def _window() -> tuple[str, str]:
    """A custom period holding the whole demo world (built over the last ten days)."""
    today = datetime.now(UTC).astimezone(SHANGHAI).date()
    return (today - timedelta(days=40)).isoformat(), today.isoformat()


def _pq() -> str:
    start, end = _window()
    return f"from={start}&to={end}"


async def _own_coop(client: Client) -> int:
    await login(client, "coop")
    response = await client.get("/", allow_redirects=False)
    match = re.fullmatch(r"/cooperatives/(\d+)", response.headers["Location"])
    assert match
    return int(match.group(1))


async def _ids(world: World, coop_id: int) -> dict[str, Any]:
    """Ids of things of the coop user's cooperative and of another one."""
    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            own_household = await conn.scalar(
                select(Household.id).where(Household.cooperative_id == coop_id).order_by(Household.id).limit(1)
            )
            other = await conn.execute(
                select(Household.id, Household.cooperative_id, Household.head_name)
                .where(Household.cooperative_id != coop_id)
                .order_by(Household.id)
                .limit(1)
            )
            other_household, other_coop, other_name = other.one()
            own_journal = await conn.scalar(
                select(Posting.journal_id)
                .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
                .where(LedgerAccount.code == f"cooperative:{coop_id}:retained")
                .order_by(Posting.journal_id)
                .limit(1)
            )
            other_journal = await conn.scalar(
                select(Posting.journal_id)
                .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
                .where(LedgerAccount.code == f"cooperative:{other_coop}:retained")
                .order_by(Posting.journal_id)
                .limit(1)
            )
            own_line = await conn.scalar(
                select(LotAllocation.order_line_id)
                .join(SupplyLot, SupplyLot.id == LotAllocation.lot_id)
                .where(SupplyLot.cooperative_id == coop_id)
                .limit(1)
            )
            other_line = await conn.scalar(
                select(LotAllocation.order_line_id)
                .join(SupplyLot, SupplyLot.id == LotAllocation.lot_id)
                .where(SupplyLot.cooperative_id == other_coop)
                .limit(1)
            )
            max_line = await conn.scalar(select(func.max(OrderLine.id)))
            max_journal = await conn.scalar(select(func.max(Journal.id)))
            assert max_line is not None and max_journal is not None
    finally:
        await engine.dispose()
    return {
        "coop": coop_id,
        "other_coop": other_coop,
        "household": own_household,
        "other_household": other_household,
        "other_name": other_name,
        "journal": own_journal,
        "other_journal": other_journal,
        "line": own_line,
        "other_line": other_line,
        "missing_line": int(max_line) + 1000,
        "missing_journal": int(max_journal) + 1000,
    }


def _routes(ids: dict[str, Any], coop: str = "coop", household: str = "household") -> list[str]:
    c, h = ids[coop], ids[household]
    return [
        f"/cooperatives/{c}",
        f"/cooperatives/{c}/households",
        f"/cooperatives/{c}/members",
        f"/cooperatives/{c}/surplus",
        f"/cooperatives/{c}/policies/1",
        f"/households/{h}",
        f"/households/{h}/journals",
        f"/api/v1/cooperatives/{c}/income",
        f"/api/v1/cooperatives/{c}/households",
        f"/api/v1/households/{h}/statement",
    ]


@pytest.mark.slow
async def test_every_route_for_every_role(world: World, client: Client) -> None:
    coop_id = await _own_coop(client)
    ids = await _ids(world, coop_id)
    own = [*_routes(ids), f"/journals/{ids['journal']}", f"/order-lines/{ids['line']}"]
    own += [f"/api/v1/journals/{ids['journal']}", f"/api/v1/order-lines/{ids['line']}"]
    other = _routes(ids, "other_coop", "other_household")
    other += [f"/journals/{ids['other_journal']}", f"/order-lines/{ids['other_line']}"]
    other += [f"/api/v1/journals/{ids['other_journal']}", f"/api/v1/order-lines/{ids['other_line']}"]
    missing = [
        f"/journals/{ids['missing_journal']}",
        f"/order-lines/{ids['missing_line']}",
        "/cooperatives/999999",
        "/households/999999",
        "/cooperatives/abc",
        "/api/v1/journals/0",
    ]
    for role in ROLES:
        client.session.cookie_jar.clear()
        await login(client, role)
        sees_own = role in ("admin", "coop", "county")
        for path in own:
            response = await client.get(path, allow_redirects=False)
            assert response.status == (200 if sees_own else 404), (role, path, response.status)
        for path in other:
            response = await client.get(path, allow_redirects=False)
            assert response.status < 500, (role, path)
            if role == "coop" or not sees_own:
                assert response.status == 404, (role, path, response.status)
            if role == "admin":
                assert response.status == 200, (role, path)
        for path in missing:
            assert (await client.get(path)).status == 404, (role, path)
        listing = await client.get("/cooperatives", allow_redirects=False)
        expected = {"admin": 200, "county": 200, "coop": 302}.get(role, 404)
        assert listing.status == expected, (role, listing.status)
        if role in ("admin", "county"):
            menu = await (await client.get("/cooperatives")).text()
            assert re.search(r'href="/cooperatives"[^>]*>合作社</a>', menu)


async def test_bad_parameters_are_400_naming_the_parameter(world: World, client: Client) -> None:
    coop_id = await _own_coop(client)
    cases = {
        f"/cooperatives/{coop_id}?period=2026-13": "period",
        f"/cooperatives/{coop_id}?period=0000": "period",
        f"/cooperatives/{coop_id}?period=2026&from=2026-01-01": "period",
        f"/cooperatives/{coop_id}?from=2026-02-30": "period",
        f"/cooperatives/{coop_id}?format=pdf": "format",
        f"/cooperatives/{coop_id}?table=nope": "table",
        f"/cooperatives/{coop_id}/households?sort=phone": "sort",
        f"/cooperatives/{coop_id}/households?page=0": "page",
        f"/cooperatives/{coop_id}/households?size=abc": "size",
        f"/cooperatives/{coop_id}/members?year=1": "year",
        f"/cooperatives/{coop_id}/surplus?year=x": "year",
        f"/cooperatives/{coop_id}/members?page=0": "page",
        f"/cooperatives/{coop_id}/surplus?size=1000": "size",
    }
    for path, param in cases.items():
        response = await client.get(path)
        assert response.status == 400, (path, response.status)
        assert param in await response.text(), path
    token = await api_token(world.url, "coop")
    headers = {"Authorization": f"Bearer {token}"}
    api_cases = {
        f"/api/v1/cooperatives/{coop_id}/income?period=9999-99": "period",
        f"/api/v1/cooperatives/{coop_id}/households?cursor=%%%": "cursor",
        f"/api/v1/cooperatives/{coop_id}/households?limit=0": "limit",
        f"/api/v1/cooperatives/{coop_id}/households?sort=-x": "sort",
    }
    for path, param in api_cases.items():
        response = await client.get(path, headers=headers)
        assert response.status == 400, path
        body = await response.json()
        assert body["error"]["code"] == "bad_request" and body["error"]["message"].startswith(param), path


async def test_paid_to_households_equals_the_table_and_the_report(world: World, client: Client) -> None:
    coop_id = await _own_coop(client)
    start, end = _window()
    token = await api_token(world.url, "coop")
    headers = {"Authorization": f"Bearer {token}"}
    income = await (await client.get(f"/api/v1/cooperatives/{coop_id}/income?{_pq()}", headers=headers)).json()
    totals = income["totals"]
    assert totals["sales_fen"] > 0
    # The waterfall balances, and every breakdown adds up to the totals.
    assert totals["sales_fen"] - totals["refunds_fen"] - totals["fees_fen"] == totals["net_fen"]
    assert totals["net_fen"] == totals["retention_fen"] + totals["collective_fen"] + totals["households_fen"]
    for table in ("by_product", "by_lot", "by_channel", "by_session"):
        for key in ("sales_fen", "refunds_fen", "fees_fen", "net_fen", "households_fen"):
            assert sum(row[key] for row in income[table]) == totals[key], (table, key)
    rec = income["reconciliation"]
    assert (
        rec["households_share_fen"]
        - rec["to_non_members_fen"]
        + rec["from_other_cooperatives_fen"]
        + rec["surplus_returned_fen"]
        == income["paid_to_households_fen"]
    )

    # The households table (every page) sums to the same figure.
    seen, cursor, rows = 0, None, []
    while True:
        url = f"/api/v1/cooperatives/{coop_id}/households?{_pq()}&limit=7" + (f"&cursor={cursor}" if cursor else "")
        page = await (await client.get(url, headers=headers)).json()
        rows += page["items"]
        cursor = page["next_cursor"]
        seen += 1
        if cursor is None:
            break
    assert seen > 1 and len({r["id"] for r in rows}) == len(rows) == page["matched"]
    assert sum(r["income_fen"] for r in rows) == income["paid_to_households_fen"] == page["total_income_fen"]

    # And so does the report ``bangfu report household-income --cooperative`` prints.
    period = parse_period(None, start, end, now=datetime.now(UTC))
    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            report = await household_income(conn, period, cooperative_id=coop_id)
            driven = await households_driven(conn, period, cooperative_id=coop_id)
    finally:
        await engine.dispose()
    assert report.totals is not None and driven.totals is not None
    assert report.totals["income"] == income["paid_to_households_fen"]
    assert driven.totals["households"] == income["households_reached"]

    # The page shows the same figure as the API, and the table's footer too.
    page_html = await (await client.get(f"/cooperatives/{coop_id}?{_pq()}")).text()
    assert f'data-paid="{income["paid_to_households_fen"]}"' in page_html
    table_html = await (await client.get(f"/cooperatives/{coop_id}/households?{_pq()}")).text()
    assert f'data-total="{income["paid_to_households_fen"]}"' in table_html


async def test_a_statement_total_equals_its_row_in_the_table(world: World, client: Client) -> None:
    coop_id = await _own_coop(client)
    token = await api_token(world.url, "coop")
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/cooperatives/{coop_id}/households?{_pq()}&sort=-income&limit=3"
    top = (await (await client.get(url, headers=headers)).json())["items"]
    assert top[0]["income_fen"] >= top[1]["income_fen"] > 0
    for row in top:
        statement = await (
            await client.get(f"/api/v1/households/{row['id']}/statement?{_pq()}", headers=headers)
        ).json()
        assert statement["totals"]["income_fen"] == row["income_fen"]
        assert sum(r["income_fen"] for r in statement["rows"]) == row["income_fen"]
        assert sum(m["income_fen"] for m in statement["months"]) == row["income_fen"]
        html = await (await client.get(f"/households/{row['id']}?{_pq()}")).text()
        assert f'data-income="{row["income_fen"]}"' in html


async def test_drill_down_links_resolve(client: Client) -> None:
    coop_id = await _own_coop(client)
    table = await (await client.get(f"/cooperatives/{coop_id}/households?{_pq()}&sort=-income")).text()
    journals_link = re.search(r'href="(/households/\d+/journals\?[^"]+)"', table)
    assert journals_link
    journals = await (await client.get(journals_link.group(1).replace("&amp;", "&"))).text()
    journal_path = re.search(r'href="(/journals/\d+)"', journals)
    assert journal_path
    journal = await client.get(journal_path.group(1))
    assert journal.status == 200
    line_path = re.search(r'href="(/order-lines/\d+)"', await journal.text())
    assert line_path
    line = await (await client.get(line_path.group(1))).text()
    links = set(re.findall(r'href="(/(?:journals|households|cooperatives)/[^"#?]+)', line))
    assert any("/policies/" in link for link in links) and any(link.startswith("/journals/") for link in links)
    for link in links:
        assert (await client.get(link)).status == 200, link
    assert "/sessions/" not in line  # a cooperative does not see sessions: the name only
    dashboard = await (await client.get(f"/cooperatives/{coop_id}?{_pq()}")).text()
    for link in set(re.findall(r'href="(/cooperatives/[^"#]+)"', dashboard)):
        assert (await client.get(link.replace("&amp;", "&"))).status == 200, link


async def test_names_in_full_for_the_cooperative_masked_for_others(world: World, client: Client) -> None:
    coop_id = await _own_coop(client)
    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            hid, name = (
                await conn.execute(
                    select(Household.id, Household.head_name)
                    .where(Household.cooperative_id == coop_id, func.length(Household.head_name) > 1)
                    .limit(1)
                )
            ).one()
    finally:
        await engine.dispose()
    own = await (await client.get(f"/households/{hid}")).text()
    assert name in own
    found = await (await client.get(f"/cooperatives/{coop_id}/households?q={name}")).text()
    assert name in found and f"/households/{hid}?" in found
    for role in ("county", "admin"):
        client.session.cookie_jar.clear()
        await login(client, role)
        page = await (await client.get(f"/households/{hid}")).text()
        assert name not in page and name[0] + "*" in page, role
        table = await (await client.get(f"/cooperatives/{coop_id}/households?size=200")).text()
        assert name not in table
        # Searching by a name the user cannot see finds nothing (it would confirm the name).
        searched = await (await client.get(f"/cooperatives/{coop_id}/households?q={name}")).text()
        assert f"/households/{hid}?" not in searched


async def test_exports_open_with_a_title_row_and_frozen_header(client: Client) -> None:
    coop_id = await _own_coop(client)
    paths = [
        f"/cooperatives/{coop_id}?{_pq()}&format=xlsx&table=product",
        f"/cooperatives/{coop_id}?{_pq()}&format=xlsx&table=lot",
        f"/cooperatives/{coop_id}?{_pq()}&format=xlsx&table=summary",
        f"/cooperatives/{coop_id}/households?{_pq()}&format=xlsx",
        f"/cooperatives/{coop_id}/members?format=xlsx",
        f"/cooperatives/{coop_id}/surplus?format=xlsx",
    ]
    for path in paths:
        response = await client.get(path)
        assert response.status == 200, path
        book = load_workbook(io.BytesIO(await response.read()))
        sheet = book.active
        assert sheet is not None
        assert sheet["A1"].value and sheet.freeze_panes, path
        assert "金额单位：元" in str(sheet["A2"].value), path
    csv = await client.get(f"/cooperatives/{coop_id}/households?{_pq()}&format=csv")
    body = await csv.read()
    assert body.startswith(b"\xef\xbb\xbf") and "成员编号".encode() in body


async def test_english_has_no_chinese_menu_and_chinese_shows_no_account_codes(client: Client) -> None:
    coop_id = await _own_coop(client)
    page = await (await client.get(f"/cooperatives/{coop_id}?{_pq()}")).text()
    table = await (await client.get(f"/cooperatives/{coop_id}/households?{_pq()}&sort=-income")).text()
    first = re.search(r'href="(/households/\d+)/journals', table)
    assert first
    journals = await (await client.get(f"{first.group(1)}/journals?{_pq()}")).text()
    journal_path = re.search(r'href="(/journals/\d+)"', journals)
    assert journal_path
    journal = await (await client.get(journal_path.group(1))).text()
    for html in (page, journal):
        for raw in ("receivable:", "fees:shop", "household:", "cooperative:", "collective:", "预提", "platform_fee"):
            assert raw not in html, raw
    assert "平台应收" in journal and "合作社留存" in journal
    token = await csrf_of(client, f"/cooperatives/{coop_id}")
    await client.post("/lang", data={"lang": "en", "_csrf": token, "next": "/"})
    try:
        english = await (await client.get(f"/cooperatives/{coop_id}?{_pq()}")).text()
        menu = english.split('<nav class="menu"', 1)[1].split("</nav>", 1)[0]
        assert "Income" in menu and "Households" in menu
        assert not re.search(r"[\u4e00-\u9fff]", menu)
        for label in ("收益概览", "成员账户", "盈余分配", "销售额", "净收入"):
            assert label not in english
        assert "Platform receivable" in await (await client.get(journal_path.group(1))).text()
    finally:  # the choice is kept on the user of the shared world: give it back
        await client.post("/lang", data={"lang": "zh", "_csrf": token, "next": "/"})


async def test_openapi_describes_the_cooperative_routes(client: Client) -> None:
    doc = await (await client.get("/api/v1/openapi.json")).json()
    for path in (
        "/api/v1/cooperatives/{id}/income",
        "/api/v1/cooperatives/{id}/households",
        "/api/v1/households/{id}/statement",
        "/api/v1/journals/{id}",
        "/api/v1/order-lines/{id}",
    ):
        op = doc["paths"][path]["get"]
        params = {p["name"]: p for p in op["parameters"]}
        assert params["id"]["schema"] == {"type": "integer", "minimum": 1}
        assert "404" in op["responses"] and "200" in op["responses"]
    assert "CooperativeIncome" in doc["components"]["schemas"]


async def test_admin_opens_an_enterprise_sale_journal_the_order_line_links(world: World, client: Client) -> None:
    """Reproduction: as admin, /order-lines/N linked /journals/M of a company supplier's sale
    (only the shop receivable and the supplier payable), and that page answered 404."""
    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            touches_coop = (
                select(Posting.journal_id)
                .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
                .where(LedgerAccount.owner_type.in_(["cooperative", "household"]))
            )
            journal_id = await conn.scalar(
                select(Journal.id).where(Journal.id.not_in(touches_coop), Journal.kind == "sale").limit(1)
            )
    finally:
        await engine.dispose()
    assert journal_id is not None, "the demo county has enterprise sales"
    await login(client, "admin")
    assert (await client.get(f"/journals/{journal_id}")).status == 200
    client.session.cookie_jar.clear()
    await login(client, "coop")
    assert (await client.get(f"/journals/{journal_id}")).status == 404


async def test_members_and_surplus_list_every_household_a_page_at_a_time(client: Client) -> None:
    """The member accounts and the surplus plan show a page of households at a time
    (MEMBERS_PER_PAGE unless ``size`` says otherwise); the pages together hold every row of the
    export once, and the footer counts and totals all of them."""
    from web.views.cooperatives import MEMBERS_PER_PAGE

    coop_id = await _own_coop(client)
    year = datetime.now(UTC).astimezone(SHANGHAI).year
    size = 20
    for tab in ("members", "surplus"):
        book = load_workbook(io.BytesIO(await (await client.get(f"/cooperatives/{coop_id}/{tab}?format=xlsx")).read()))
        sheet = book.active
        assert sheet is not None
        rows = list(sheet.iter_rows(values_only=True))
        header = next(i for i, row in enumerate(rows) if "成员编号" in row)
        column = rows[header].index("成员编号")
        exported = [str(row[column]) for row in rows[header + 1 :] if row[column] not in (None, "合计")]
        assert len(exported) > 2 * size, (tab, len(exported))
        first = await (await client.get(f"/cooperatives/{coop_id}/{tab}?year={year}")).text()
        shown = first.split("<tbody>", 1)[1].split("</tbody>", 1)[0].count("<tr>")
        assert shown == min(len(exported), MEMBERS_PER_PAGE), tab
        seen: list[str] = []
        page = 1
        while True:
            html = await (await client.get(f"/cooperatives/{coop_id}/{tab}?year={year}&page={page}&size={size}")).text()
            body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
            numbers = re.findall(r'<a href="/households/\d+\?period=\d+">([^<]+)</a>', body)
            assert 0 < len(numbers) <= size, (tab, page)
            seen += numbers
            assert f"({len(exported)})" in html.split("<tfoot>", 1)[1], (tab, page)
            if f"page={page + 1}&amp;size={size}" not in html.split('<nav class="pager"', 1)[1]:
                break
            page += 1
        assert page == -(-len(exported) // size), tab
        assert sorted(seen) == sorted(exported), tab
