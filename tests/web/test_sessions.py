"""The host pages (直播复盘): list, session, compare, exports and the JSON API, for every role, on
the demo county; figures checked against the ``session-review`` report."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from bangfu.models import LiveMinuteStat, LiveSession, Shop, User
from bangfu.reports.base import SHANGHAI, parse_period
from bangfu.reports.sessions import session_review
from bangfu.store import make_engine
from tests.web.conftest import ROLES, World, api_token, csrf_of, login

Client = TestClient[web.Request, web.Application]


@dataclass(frozen=True)
class Facts:
    """What the world holds, read straight from the store."""

    ids: list[int]
    by_host: dict[int | None, list[int]]
    platform: dict[int, str]
    with_minutes: set[int]
    host_of_login: int
    span: tuple[str, str]  # local first and last day of all sessions (from/to)
    review: dict[int, dict[str, Any]]  # session-review rows over that span


async def _facts(url: str) -> Facts:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = list(
                await conn.execute(
                    select(LiveSession.id, LiveSession.host_id, LiveSession.started_at, Shop.platform).join(
                        Shop, Shop.id == LiveSession.shop_id
                    )
                )
            )
            with_minutes = {int(s) for s in await conn.scalars(select(LiveMinuteStat.session_id).distinct())}
            host = await conn.scalar(select(User.host_id).where(User.name == "host"))
            days = sorted(r.started_at.astimezone(SHANGHAI).date() for r in rows)
            span = (str(days[0]), str(days[-1]))
            period = parse_period(None, *span, now=rows[0].started_at)
            report = await session_review(conn, period)
    finally:
        await engine.dispose()
    by_host: dict[int | None, list[int]] = {}
    for r in rows:
        by_host.setdefault(r.host_id, []).append(int(r.id))
    assert host is not None
    return Facts(
        ids=sorted(int(r.id) for r in rows),
        by_host=by_host,
        platform={int(r.id): str(r.platform) for r in rows},
        with_minutes=with_minutes,
        host_of_login=int(host),
        span=span,
        review={int(r["session"]): r for r in report.rows},
    )


@pytest.fixture
async def facts(world: World) -> Facts:
    return await _facts(world.url)


def _own(facts: Facts) -> list[int]:
    return sorted(facts.by_host[facts.host_of_login])


def _others(facts: Facts) -> list[int]:
    return sorted(set(facts.ids) - set(_own(facts)))


def _span_qs(facts: Facts) -> str:
    return f"from={facts.span[0]}&to={facts.span[1]}"


async def _as(client: Client, name: str) -> None:
    client.session.cookie_jar.clear()
    await login(client, name)


async def test_world_has_what_these_tests_need(facts: Facts) -> None:
    assert _own(facts) and _others(facts)
    assert any(p == "selfmall" for p in facts.platform.values())
    assert facts.with_minutes


@pytest.mark.slow
async def test_every_route_for_every_role(client: Client, facts: Facts) -> None:
    own, other = _own(facts)[0], _others(facts)[0]
    for role in ROLES:
        await _as(client, role)
        sid = own if role == "host" else other
        paths = [
            f"/sessions?{_span_qs(facts)}",
            f"/sessions/{sid}",
            f"/sessions/compare?a={sid}&b={sid}",
            "/sessions/compare",
            f"/api/v1/sessions?{_span_qs(facts)}",
            f"/api/v1/sessions/{sid}",
            f"/api/v1/sessions/{sid}/minutes",
        ]
        for path in paths:
            response = await client.get(path, allow_redirects=False)
            expected = 404 if role in ("coop", "unit") else 200
            assert response.status == expected, (role, path, response.status)
        nav = await (await client.get("/sessions/compare" if role not in ("coop", "unit") else "/")).text()
        assert ('href="/sessions"' in nav) == (role not in ("coop", "unit")), role


async def test_host_sees_only_own_sessions(client: Client, facts: Facts) -> None:
    await _as(client, "host")
    page = await (await client.get(f"/sessions?{_span_qs(facts)}&size=200")).text()
    linked = {int(i) for i in re.findall(r'href="/sessions/(\d+)"', page)}
    assert linked == set(_own(facts))
    api = await (await client.get(f"/api/v1/sessions?{_span_qs(facts)}&limit=200")).json()
    assert {item["id"] for item in api["items"]} == set(_own(facts)) and api["next_cursor"] is None
    for sid in _others(facts):
        for path in (f"/sessions/{sid}", f"/api/v1/sessions/{sid}", f"/api/v1/sessions/{sid}/minutes"):
            assert (await client.get(path)).status == 404, path
    compare = await client.get(f"/sessions/compare?a={_own(facts)[0]}&b={_others(facts)[0]}")
    assert compare.status == 404
    for path in ("/sessions/999999999", "/api/v1/sessions/999999999", "/sessions/abc", "/api/v1/sessions/-1"):
        assert (await client.get(path)).status == 404, path


async def test_operator_and_county_see_every_session_of_their_shops(client: Client, facts: Facts) -> None:
    for role in ("admin", "operator", "county"):
        await _as(client, role)
        api = await (await client.get(f"/api/v1/sessions?{_span_qs(facts)}&limit=200")).json()
        assert sorted(item["id"] for item in api["items"]) == facts.ids, role


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("period=2026-13", "period"),
        ("period=0000", "period"),
        ("period=2026-10&from=2026-10-01", "period"),
        ("from=2026-10-40", "period"),
        ("from=2026-10-20&to=2026-10-01", "period"),
        ("to=9999-12-31", "period"),
        ("sort=price", "sort"),
        ("shop=abc", "shop"),
        ("shop=0", "shop"),
        ("page=0", "page"),
        ("size=100000", "size"),
        ("format=pdf", "format"),
    ],
)
async def test_bad_page_params_are_400_naming_the_param(client: Client, query: str, param: str) -> None:
    await _as(client, "operator")
    response = await client.get(f"/sessions?{query}")
    assert response.status == 400 and param in await response.text(), (query, response.status)


@pytest.mark.parametrize(
    ("query", "param"),
    [("cursor=garbage", "cursor"), ("limit=0", "limit"), ("limit=201", "limit"), ("sort=-", "sort")],
)
async def test_bad_api_params_are_400_naming_the_param(world: World, client: Client, query: str, param: str) -> None:
    token = await api_token(world.url, "host")
    response = await client.get(f"/api/v1/sessions?{query}", headers={"Authorization": f"Bearer {token}"})
    body = await response.json()
    assert response.status == 400 and body["error"]["message"].startswith(param), body


async def test_api_pages_with_a_cursor(world: World, client: Client, facts: Facts) -> None:
    token = await api_token(world.url, "admin")
    headers = {"Authorization": f"Bearer {token}"}
    seen: list[int] = []
    url: str | None = f"/api/v1/sessions?{_span_qs(facts)}&sort=-gmv&limit=5"
    while url is not None:
        body = await (await client.get(url, headers=headers)).json()
        seen += [item["id"] for item in body["items"]]
        gmvs = [item["gmv_fen"] for item in body["items"]]
        assert gmvs == sorted(gmvs, reverse=True)
        url = (
            f"/api/v1/sessions?{_span_qs(facts)}&sort=-gmv&limit=5&cursor={body['next_cursor']}"
            if body["next_cursor"]
            else None
        )
    assert sorted(seen) == facts.ids and len(seen) == len(set(seen))
    other = await client.get(f"/api/v1/sessions?{_span_qs(facts)}&sort=gmv&cursor={body['next_cursor'] or 'x'}")
    assert other.status in (400, 401)


async def test_figures_equal_the_session_review_report(client: Client, facts: Facts) -> None:
    await _as(client, "admin")
    listed = await (await client.get(f"/api/v1/sessions?{_span_qs(facts)}&limit=200")).json()
    by_id = {item["id"]: item for item in listed["items"]}
    assert sum(r["net_households"] for r in facts.review.values()) > 0
    for sid, row in facts.review.items():
        item = by_id[sid]
        detail = await (await client.get(f"/api/v1/sessions/{sid}")).json()
        for got in (item, detail["session"]):
            assert (got["gmv_fen"], got["orders"], got["net_households_fen"]) == (
                row["gmv"],
                row["orders"],
                row["net_households"],
            ), sid
            assert (got["buyers"], got["units"], got["refunds_fen"], got["gpm_fen"]) == (
                row["buyers"],
                row["units"],
                row["refunds"],
                row["gpm"],
            )
            assert got["avg_watch_s"] == row["avg_watch_s"] and got["acu"] == row["acu"]
        assert sum(p["gmv_fen"] for p in detail["products"]) == row["gmv"]
        assert sum(c["gmv_fen"] for c in detail["confidence"]) == row["gmv"]
        assert sum(c["net_fen"] for c in detail["cooperatives"]) == row["net_households"]
        exact = sum(c["orders"] for c in detail["confidence"] if c["confidence"] in ("exact", "link"))
        assert exact >= row["orders_exact"]
    # The page shows the same figures.
    sid = max(facts.review, key=lambda s: facts.review[s]["gmv"])
    page = await (await client.get(f"/sessions/{sid}")).text()
    from bangfu.money import format_yuan

    row = facts.review[sid]
    assert format_yuan(row["gmv"]) in page and format_yuan(row["net_households"]) in page
    assert "带动" in page and "确定" in page and "推断" in page


async def test_unreported_figures_are_missing_not_zero(client: Client, facts: Facts) -> None:
    await _as(client, "admin")
    selfmall = next(sid for sid, p in facts.platform.items() if p == "selfmall")
    detail = await (await client.get(f"/api/v1/sessions/{selfmall}")).json()
    session = detail["session"]
    assert session["avg_watch_s"] is None and session["acu"] is None and session["ad_spend_fen"] is None
    assert "total_watch_seconds" in session["missing"] and session["views"] is not None
    minutes = await (await client.get(f"/api/v1/sessions/{selfmall}/minutes")).json()
    assert minutes["minutes"] == []
    page = await (await client.get(f"/sessions/{selfmall}")).text()
    assert "平台未提供该场次的分钟级数据" in page and 'id="timeline"' not in page
    watch = re.search(r'人均观看\(秒\)</div><div class="value">([^<]*)<', page)
    assert watch and watch.group(1) == "-"


async def test_minutes_api_has_the_series_and_explanation_windows(client: Client, facts: Facts) -> None:
    await _as(client, "host")
    sid = next(s for s in _own(facts) if s in facts.with_minutes)
    body = await (await client.get(f"/api/v1/sessions/{sid}/minutes")).json()
    assert body["minutes"] and body["explanations"]
    assert {"minute_at", "online", "views", "gmv_fen"} <= set(body["minutes"][0])
    assert any(m["online"] > 0 for m in body["minutes"])
    first = body["explanations"][0]
    assert first["product"] and first["started_at"] <= first["ended_at"]
    page = await (await client.get(f"/sessions/{sid}")).text()
    assert 'id="timeline"' in page and "echarts.min.js" in page and "session-timeline.js" in page
    data = re.search(r'<script type="application/json" id="timeline-data">(.*?)</script>', page, re.S)
    assert data and '"bands"' in data.group(1)


async def test_compare_page(client: Client, facts: Facts) -> None:
    await _as(client, "host")
    a, b = _own(facts)[:2]
    picker = await (await client.get("/sessions/compare")).text()
    assert f'<option value="{a}"' in picker and f'<option value="{_others(facts)[0]}"' not in picker
    page = await client.get(f"/sessions/compare?a={a}&b={b}")
    text = await page.text()
    assert page.status == 200 and f'href="/sessions/{a}"' in text and f'href="/sessions/{b}"' in text
    assert "B 与 A 相差" in text
    assert (await client.get(f"/sessions/compare?a={a}&b=abc")).status == 400
    assert (await client.get(f"/sessions/compare?a={a}&b=999999999")).status == 404


async def test_exports_open_and_carry_the_title_row(client: Client, facts: Facts) -> None:
    await _as(client, "operator")
    xlsx = await client.get(f"/sessions?{_span_qs(facts)}&format=xlsx")
    assert xlsx.status == 200 and "attachment" in xlsx.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(await xlsx.read())).active
    assert sheet is not None
    assert str(sheet["A1"].value).startswith("直播复盘")
    headers = [c.value for c in sheet[3]]
    assert "成交金额(GMV)" in headers and "农户净收益" in headers
    assert sheet.max_row >= 3 + len(facts.ids)
    csv = await client.get(f"/sessions?{_span_qs(facts)}&format=csv")
    data = await csv.read()
    assert data.startswith(b"\xef\xbb\xbf") and "场次,标题" in data.decode("utf-8-sig")


async def test_list_sorts_and_pages_server_side(client: Client, facts: Facts) -> None:
    await _as(client, "admin")
    first = await (await client.get(f"/sessions?{_span_qs(facts)}&sort=-gmv&size=5")).text()
    second = await (await client.get(f"/sessions?{_span_qs(facts)}&sort=-gmv&size=5&page=2")).text()
    ids_1 = list(dict.fromkeys(int(i) for i in re.findall(r'href="/sessions/(\d+)"', first)))
    ids_2 = list(dict.fromkeys(int(i) for i in re.findall(r'href="/sessions/(\d+)"', second)))
    assert len(ids_1) == 5 and not set(ids_1) & set(ids_2)
    gmv = [facts.review[i]["gmv"] for i in ids_1 + ids_2]
    assert gmv == sorted(gmv, reverse=True)
    assert 'aria-sort="descending"' in first and "page=2" in first


async def test_default_period_is_this_month(client: Client, facts: Facts) -> None:
    await _as(client, "admin")
    page = await (await client.get("/sessions")).text()
    from datetime import UTC, datetime

    assert datetime.now(UTC).astimezone(SHANGHAI).strftime("%Y-%m") in page


async def test_english_variant(client: Client, facts: Facts) -> None:
    await _as(client, "host")
    token = await csrf_of(client, "/sessions")
    await client.post("/lang", data={"lang": "en", "_csrf": token, "next": "/sessions"})
    sid = _own(facts)[0]
    try:
        for path in (f"/sessions?{_span_qs(facts)}", f"/sessions/{sid}", f"/sessions/compare?a={sid}&b={sid}"):
            page = await (await client.get(path)).text()
            assert "Live sessions" in page and "Compare sessions" in page
            assert "直播场次" not in page and "场次对比" not in page, path
            assert "成交金额" not in page and "带动" not in page
    finally:  # the choice is kept on the user of the shared world: give it back
        await client.post("/lang", data={"lang": "zh", "_csrf": token, "next": "/sessions"})


async def test_the_openapi_document_describes_the_routes(client: Client) -> None:
    doc = await (await client.get("/api/v1/openapi.json")).json()
    for path in ("/api/v1/sessions", "/api/v1/sessions/{id}", "/api/v1/sessions/{id}/minutes"):
        operation = doc["paths"][path]["get"]
        assert {"200", "400", "401", "404"} <= set(operation["responses"])
    assert {"Session", "SessionList", "SessionDetail", "SessionMinutes"} <= set(doc["components"]["schemas"])
