"""The operator's reconciliation pages (/operator/reconciliation[/<id>]) and their JSON API: what
they list agrees with the stored verdicts and exceptions; roles and scope (another shop's or a
missing exception is a 404); bad filters and bad reasons are a 400 naming the field, with nothing
written; CSRF; and the workflow accept -> reopen -> resolve recorded with who and when.

The web world is reconciled with an 8-day payout deadline (tests/web/conftest.py), so every shop
has open ``payout_missing`` exceptions; a test that needs an ``amount_differs`` one adds a bill
line to a matched order of its private copy and runs the reconciliation from the page's form.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import delete, func, insert, select

from bangfu.enums import OFFLINE_PLATFORMS, SettlementKind
from bangfu.models import (
    Order,
    ReconciliationEvent,
    ReconciliationException,
    ReconciliationResult,
    SettlementLine,
    Shop,
    User,
    UserShop,
)
from bangfu.store import make_engine
from tests.web.conftest import World, _client, api_token, csrf_of, login

OTHER_ROLES = ("host", "coop", "county", "unit")
LIST, API = "/operator/reconciliation", "/api/v1/operator/reconciliation"


async def _rows(url: str, statement: Any) -> list[Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(statement)).all())
    finally:
        await engine.dispose()


async def _exec(url: str, *statements: Any) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(statement)
    finally:
        await engine.dispose()


async def _bearer(url: str, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {await api_token(url, name)}"}


async def test_list_detail_and_api_agree_with_the_store(world: World, client: TestClient) -> None:  # type: ignore[type-arg]
    stored = await _rows(
        world.url,
        select(ReconciliationException.id, ReconciliationException.platform_order_id, ReconciliationException.state),
    )
    assert len(stored) >= 7, "the web world should have open exceptions in every shop"
    verdicts = {
        (shop, period, kind): n
        for shop, period, kind, n in await _rows(
            world.url,
            select(
                ReconciliationResult.shop_id, ReconciliationResult.period, ReconciliationResult.kind, func.count()
            ).group_by(ReconciliationResult.shop_id, ReconciliationResult.period, ReconciliationResult.kind),
        )
    }
    # bangfu demo reconciled every shop and month it sold in: one verdict per paid order (but the
    # offline shops': no platform pays them out).
    paid = await _rows(
        world.url,
        select(func.count())
        .select_from(Order)
        .join(Shop, Shop.id == Order.shop_id)
        .where(Order.paid_at.is_not(None), Shop.platform.not_in(OFFLINE_PLATFORMS)),
    )
    assert sum(verdicts.values()) == paid[0][0] > 0
    headers = await _bearer(world.url, "admin")
    data = await (await client.get(f"{API}?size=200", headers=headers)).json()
    assert data["total"] == len(stored) and data["counts"]["open"] == sum(1 for s in stored if s[2] == "open")
    assert {i["id"] for i in data["items"]} == {s[0] for s in stored}
    assert all(
        i["state"] == "open" and i["kind"] == "payout_missing" and i["updated_by"] is None for i in data["items"]
    )
    assert {
        (v["shop_id"], v["period"], k): n for v in data["verdicts"] for k, n in v["counts"].items() if n
    } == verdicts
    assert all(v["orders"] == sum(v["counts"].values()) for v in data["verdicts"])

    await login(client, "admin")
    page = await client.get(LIST)
    body = await page.text()
    assert page.status == 200 and "对账异常" in body and "对账结论（按店铺、付款月份）" in body
    first = data["items"][0]  # newest change first, as the page lists them
    assert f'href="/operator/reconciliation/{first["id"]}"' in body and first["platform_order_id"] in body
    assert f"待处理 {data['counts']['open']}" in body and "回款缺失" in body and "对账程序" in body

    detail = await (await client.get(f"{API}/{first['id']}", headers=headers)).json()
    assert detail["platform_order_id"] == first["platform_order_id"] and detail["state"] == "open"
    assert [e["action"] for e in detail["history"]] == ["opened"] and detail["history"][0]["who"] is None
    assert detail["allowed"] == ["accept", "resolve"] and detail["bill"] == []
    shown = await (await client.get(f"{LIST}/{first['id']}")).text()
    assert first["platform_order_id"] in shown and "发现异常" in shown and "尚无结算单。" in shown
    assert shown.count('name="_csrf"') >= 2 and "/accept" in shown and "/resolve" in shown and "/reopen" not in shown

    token = await csrf_of(client, LIST)
    await client.post("/lang", data={"lang": "en", "_csrf": token, "next": "/"})
    try:
        for path in (LIST, f"{LIST}/{first['id']}"):
            main = (await (await client.get(path)).text()).split("<main>", 1)[1].split("</main>", 1)[0]
            for label in ("对账", "待处理", "回款缺失", "应收", "差额", "处理记录", "原因", "结算单", "程序"):
                assert label not in main, (path, label)
        english = await (await client.get(LIST)).text()
        assert "Reconciliation exceptions" in english and "Payout missing" in english and "Verdicts by shop" in english
    finally:
        await client.post("/lang", data={"lang": "zh", "_csrf": token, "next": "/"})


async def test_filters_and_bad_filter_values(world: World, client: TestClient) -> None:  # type: ignore[type-arg]
    headers = await _bearer(world.url, "operator")
    everything = await (await client.get(f"{API}?size=200", headers=headers)).json()
    shop = everything["items"][0]["shop_id"]
    one_shop = await (await client.get(f"{API}?shop={shop}&size=200", headers=headers)).json()
    assert one_shop["total"] == sum(1 for i in everything["items"] if i["shop_id"] == shop) > 0
    assert {v["shop_id"] for v in one_shop["verdicts"]} == {shop}
    accepted = await (await client.get(f"{API}?state=accepted", headers=headers)).json()
    assert accepted["total"] == 0 and accepted["counts"]["open"] == everything["counts"]["open"]
    by_type = await (await client.get(f"{API}?type=other", headers=headers)).json()
    assert by_type["total"] == 0  # payout_missing exceptions have no difference by type
    for query, name in (
        ("shop=abc", "shop"),
        ("shop=0", "shop"),
        ("shop=-3", "shop"),
        ("state=closed", "state"),
        ("type=tax", "type"),
        ("page=0", "page"),
    ):
        response = await client.get(f"{API}?{query}", headers=headers)
        error = (await response.json())["error"]
        assert response.status == 400 and error["code"] == "bad_request" and error["message"].startswith(name), query
    assert (await client.get(f"{API}?shop=999999999", headers=headers)).status == 404
    await login(client, "operator")
    page = await client.get(f"{LIST}?state=closed")
    assert page.status == 400 and "state" in await page.text()
    assert (await client.get(f"{LIST}/999999999")).status == 404
    assert (await client.get(f"{API}/999999999", headers=headers)).status == 404


async def test_other_roles_get_404(sqlite_world: World) -> None:
    exception = (await _rows(sqlite_world.url, select(func.min(ReconciliationException.id))))[0][0]
    async for client in _client(sqlite_world.url):
        for role in OTHER_ROLES:
            client.session.cookie_jar.clear()
            await login(client, role)
            for path in (LIST, f"{LIST}/{exception}"):
                assert (await client.get(path)).status == 404, (role, path)
            headers = await _bearer(sqlite_world.url, role)
            for path in (API, f"{API}/{exception}"):
                response = await client.get(path, headers=headers)
                assert response.status == 404 and (await response.json())["error"]["code"] == "not_found"
            csrf = await csrf_of(client, "/login")
            accept = await client.post(f"{LIST}/{exception}/accept", data={"_csrf": csrf, "reason": "x"})
            assert accept.status == 404, role
            run = await client.post(f"{LIST}/run", data={"_csrf": csrf, "shop": "1", "period": "2026-11"})
            assert run.status == 404, role
    rows = await _rows(sqlite_world.url, select(func.count()).select_from(ReconciliationEvent))
    assert (
        rows[0][0] == (await _rows(sqlite_world.url, select(func.count()).select_from(ReconciliationException)))[0][0]
    )


async def _amount_differs(client: TestClient, url: str) -> tuple[int, int, str]:  # type: ignore[type-arg]
    """Adds a 5-yuan 'other' deduction to a matched order's bill and runs its shop's month from
    the page's form; returns (exception id, shop id, period)."""
    shop, order, period = (
        await _rows(
            url,
            select(ReconciliationResult.shop_id, ReconciliationResult.platform_order_id, ReconciliationResult.period)
            .where(ReconciliationResult.kind == "matched")
            .order_by(ReconciliationResult.id)
            .limit(1),
        )
    )[0]
    await _exec(
        url,
        insert(SettlementLine).values(
            shop_id=shop,
            platform_bill_id="TEST-ADJ-1",
            platform_order_id=order,
            kind=SettlementKind.OTHER,
            amount_fen=-500,
            settled_at=datetime.now(UTC),
            content_hash="",
        ),
    )
    csrf = await csrf_of(client, LIST)
    denied = await client.post(f"{LIST}/run", data={"shop": str(shop), "period": period}, allow_redirects=False)
    assert denied.status == 403
    bad = await client.post(f"{LIST}/run", data={"_csrf": csrf, "shop": str(shop), "period": "2026-13"})
    assert bad.status == 400 and "period" in await bad.text()
    ran = await client.post(
        f"{LIST}/run", data={"_csrf": csrf, "shop": str(shop), "period": period}, allow_redirects=False
    )
    assert ran.status == 303 and ran.headers["Location"] == f"{LIST}?shop={shop}&ran={shop}:{period}"
    assert "已完成对账" in await (await client.get(ran.headers["Location"])).text()
    found = await _rows(
        url,
        select(ReconciliationException.id, ReconciliationException.differences).where(
            ReconciliationException.shop_id == shop, ReconciliationException.platform_order_id == order
        ),
    )
    assert len(found) == 1 and found[0][1] == {"other": -500}
    return int(found[0][0]), int(shop), str(period)


async def _history(url: str, exception: int) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in await _rows(
            url,
            select(ReconciliationEvent.action, ReconciliationEvent.state, User.name, ReconciliationEvent.reason)
            .outerjoin(User, User.id == ReconciliationEvent.user_id)
            .where(ReconciliationEvent.exception_id == exception)
            .order_by(ReconciliationEvent.id),
        )
    ]


async def test_accept_reopen_resolve_with_who_and_when(world_copy: World) -> None:
    url = world_copy.url
    async for client in _client(url):
        await login(client, "operator")
        exception, shop, _ = await _amount_differs(client, url)
        page = f"{LIST}/{exception}"
        body = await (await client.get(page)).text()
        assert "其他" in body and "-¥5.00" in body and "金额不符" in body
        csrf = await csrf_of(client, page)

        # Bad input: nothing is written.
        no_csrf = await client.post(f"{page}/accept", data={"reason": "ok"}, allow_redirects=False)
        assert no_csrf.status == 403
        blank = await client.post(f"{page}/accept", data={"_csrf": csrf, "reason": "   "})
        text = await blank.text()
        assert blank.status == 400 and "“原因”一栏：接受差额必须填写原因。" in text and 'aria-invalid="true"' in text
        long = await client.post(f"{page}/accept", data={"_csrf": csrf, "reason": "差" * 501})
        text = await long.text()
        assert long.status == 400 and "最多 500 字，填写了 501 字" in text and "差" * 501 in text  # kept as typed
        await client.post("/lang", data={"lang": "en", "_csrf": csrf, "next": "/"})
        english = await client.post(f"{page}/accept", data={"_csrf": csrf, "reason": ""})
        assert english.status == 400 and "Reason: accepting the difference needs a reason." in await english.text()
        await client.post("/lang", data={"lang": "zh", "_csrf": csrf, "next": "/"})
        assert await _history(url, exception) == [("opened", "open", None, None)]
        assert (await client.post(f"{LIST}/999999999/accept", data={"_csrf": csrf, "reason": "x"})).status == 404

        reason = "平台临时扣款，已与平台客服确认，下月返还"
        accepted = await client.post(f"{page}/accept", data={"_csrf": csrf, "reason": reason}, allow_redirects=False)
        assert accepted.status == 303 and accepted.headers["Location"] == f"{page}?done=accepted"
        assert "已记录：已接受。" in await (await client.get(accepted.headers["Location"])).text()
        again = await client.post(f"{page}/accept", data={"_csrf": csrf, "reason": reason})
        assert again.status == 409 and "当前状态不允许此操作" in await again.text()
        reopened = await client.post(f"{page}/reopen", data={"_csrf": csrf, "reason": ""}, allow_redirects=False)
        assert reopened.status == 303
        resolved = await client.post(
            f"{page}/resolve", data={"_csrf": csrf, "reason": "平台已补回 5 元"}, allow_redirects=False
        )
        assert resolved.status == 303 and resolved.headers["Location"] == f"{page}?done=resolved"

        assert await _history(url, exception) == [
            ("opened", "open", None, None),
            ("accepted", "accepted", "operator", reason),
            ("reopened", "reopened", "operator", None),
            ("resolved", "resolved", "operator", "平台已补回 5 元"),
        ]
        headers = await _bearer(url, "operator")
        detail = await (await client.get(f"{API}/{exception}", headers=headers)).json()
        assert detail["state"] == "resolved" and detail["updated_by"] == "operator"
        assert detail["reason"] == "平台已补回 5 元" and detail["allowed"] == ["reopen"]
        assert [(e["action"], e["who"]) for e in detail["history"]] == [
            ("opened", None),
            ("accepted", "operator"),
            ("reopened", "operator"),
            ("resolved", "operator"),
        ]
        times = [datetime.fromisoformat(e["at"]) for e in detail["history"]]
        assert times == sorted(times) and all(e["differences"] == {"other": -500} for e in detail["history"])
        other = next(r for r in detail["types"] if r["type"] == "other")
        assert other == {
            "type": "other",
            "expected_fen": 0,
            "actual_fen": -500,
            "difference_fen": -500,
            "flagged": True,
        }
        assert any(b["bill_id"] == "TEST-ADJ-1" and b["amount_fen"] == -500 for b in detail["bill"])
        # The page shows what the API says.
        shown = await (await client.get(page)).text()
        for label in ("发现异常", "接受差额", "重新打开", "标记解决", html.escape(reason), "已解决"):
            assert label in shown, label
        history = shown.split("处理记录", 1)[1].split("</table>", 1)[0]
        assert history.count(">operator<") == 3 and history.count("对账程序") == 1
        # The form's run (the usual 15-day deadline) resolved the month's payout_missing exceptions
        # as pending again; the operator's resolution is the newest change.
        listed = await (await client.get(f"{API}?shop={shop}&state=resolved&size=200", headers=headers)).json()
        assert listed["items"][0]["id"] == exception and listed["items"][0]["reason"] == "平台已补回 5 元"
        assert all(i["updated_by"] is None and i["verdict"] == "pending" for i in listed["items"][1:])
        by_type = await (await client.get(f"{API}?type=other", headers=headers)).json()
        assert [i["id"] for i in by_type["items"]] == [exception]


async def test_an_operator_sees_only_the_shops_they_run(sqlite_world: World, tmp_path: Any) -> None:
    import shutil

    target = tmp_path / "world.db"
    shutil.copyfile(sqlite_world.url.removeprefix("sqlite+aiosqlite:///"), target)
    url = f"sqlite+aiosqlite:///{target}"
    exceptions = await _rows(
        url, select(ReconciliationException.id, ReconciliationException.shop_id).order_by(ReconciliationException.id)
    )
    mine = exceptions[0][1]
    own = next(e for e, s in exceptions if s == mine)
    foreign = next(e for e, s in exceptions if s != mine)
    foreign_shop = next(s for _, s in exceptions if s != mine)
    operator = (await _rows(url, select(User.id).where(User.name == "operator")))[0][0]
    await _exec(
        url,
        delete(UserShop).where(UserShop.user_id == operator),
        insert(UserShop).values(user_id=operator, shop_id=mine),
    )
    async for client in _client(url):
        await login(client, "operator")
        headers = await _bearer(url, "operator")
        data = await (await client.get(f"{API}?size=200", headers=headers)).json()
        assert {i["shop_id"] for i in data["items"]} == {mine} and {v["shop_id"] for v in data["verdicts"]} == {mine}
        assert (await client.get(f"{LIST}/{own}")).status == 200
        for path in (f"{LIST}/{foreign}", f"{LIST}?shop={foreign_shop}"):
            assert (await client.get(path)).status == 404, path
        for path in (f"{API}/{foreign}", f"{API}?shop={foreign_shop}"):
            assert (await client.get(path, headers=headers)).status == 404, path
        csrf = await csrf_of(client, LIST)
        accept = await client.post(f"{LIST}/{foreign}/accept", data={"_csrf": csrf, "reason": "not mine"})
        assert accept.status == 404
        run = await client.post(f"{LIST}/run", data={"_csrf": csrf, "shop": str(foreign_shop), "period": "2026-11"})
        assert run.status == 404
        body = await (await client.get(LIST)).text()
        assert f'href="/operator/reconciliation/{foreign}"' not in body
    assert await _history(url, foreign) == [("opened", "open", None, None)]
