"""The operator console's stock page (/operator/stock): truth, shares, reservations, what each
channel was last told, unfinished pushes with the platform's message, the settle button; scope,
roles and bad input. The figures are the ones ``bangfu stock push --dry-run`` plans with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import insert, select, update

from bangfu.models import Listing, Sku, StockPush, StockReservation, StockRule, User, UserShop
from bangfu.store import make_engine
from sync.stock import StockPusher
from tests.web.conftest import World, _client, api_token, csrf_of, login

OTHER_ROLES = ("host", "coop", "county", "unit")
MESSAGE = "StockPushUncertain: [taobao isp.remote-service-timeout] no answer, may have applied"


async def _exec(url: str, *statements: Any) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(statement)
    finally:
        await engine.dispose()


async def _rows(url: str, statement: Any) -> list[Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(statement)).all())
    finally:
        await engine.dispose()


async def _pushes(url: str) -> dict[str, Any]:
    """A SKU listed by shop 1 and by no other shop, with a takeover read, an uncertain push, a
    settled one, a reservation running now and the shop's default rule."""
    listings = await _rows(url, select(Listing.id, Listing.shop_id, Listing.sku_id).where(Listing.sku_id.is_not(None)))
    shops_of: dict[int, set[int]] = {}
    for _, shop_id, sku_id in listings:
        shops_of.setdefault(sku_id, set()).add(shop_id)
    sku_id = min(s for s, shops in shops_of.items() if shops == {1})
    listing_id = min(i for i, shop_id, s in listings if s == sku_id)
    [(code,)] = await _rows(url, select(Sku.sku_code).where(Sku.id == sku_id))
    now = datetime.now(UTC)

    def push(n: int, delta: int, status: str, **extra: Any) -> Any:
        return insert(StockPush).values(
            idempotency_key=f"bf:stock:{listing_id}:{n}", shop_id=1, listing_id=listing_id,
            allocated_before=30 + (5 if n > 1 else 0), allocated_after=30 + 5 * n, delta=delta, status=status,
            created_at=now - timedelta(minutes=30 - n), **extra,
        )  # fmt: skip

    await _exec(
        url,
        push(0, 0, "done", platform_stock_after=30, done_at=now - timedelta(minutes=30)),
        push(1, 5, "not_applied", error=MESSAGE, settled_at=now - timedelta(minutes=20), settled_by="tester",
             settled_stock=30, settle_note="not applied: read back 30; expected 35 had it applied, 30 had it not"),
        push(2, 5, "uncertain", error=MESSAGE),
        update(Listing).where(Listing.id == listing_id).values(allocated_stock=35),  # 30 read, +5 uncertain
        insert(StockRule).values(shop_id=1, sku_id=None, share_bp=6000, floor=2, priority=1),
        insert(StockReservation).values(shop_id=1, sku_id=sku_id, quantity=5, starts_at=now - timedelta(hours=1),
                                        ends_at=now + timedelta(hours=2), note="今晚直播"),
    )  # fmt: skip
    return {"sku_id": sku_id, "sku_code": code, "listing_id": listing_id}


async def test_stock_page_api_and_detail_agree_with_the_push_plan(world_copy: World) -> None:
    made = await _pushes(world_copy.url)
    sku_id, code = made["sku_id"], made["sku_code"]
    engine = make_engine(world_copy.url)
    try:
        plan = {line.listing_id: line for line in await StockPusher(engine).push(dry_run=True, sku_ids=[sku_id])}
        truth = (await StockPusher(engine).truth([sku_id]))[sku_id]
    finally:
        await engine.dispose()
    async for client in _client(world_copy.url):
        await login(client, "admin")
        page = await client.get("/operator/stock?problems=1")
        body = await page.text()
        assert page.status == 200 and "多渠道库存" in body and code in body
        assert MESSAGE in body and "结果未知" in body and "店铺默认" in body and "保底 2" in body
        assert "今晚直播" in body and "进行中" in body
        assert 'action="/operator/stock/settle"' in body and 'name="_csrf"' in body
        assert "tester" in body and "未生效（已回读确认）" in body  # the latest settlements
        token = await api_token(world_copy.url, "admin")
        headers = {"Authorization": f"Bearer {token}"}
        data = await (await client.get("/api/v1/operator/stock?problems=1", headers=headers)).json()
        assert data["total"] == 1 and data["open_counts"] == {"pending": 0, "failed": 0, "uncertain": 1}
        [item] = data["items"]
        assert (item["sku_id"], item["truth"], item["lots"], item["undrawn"]) == (
            sku_id,
            truth.truth,
            truth.lots,
            truth.undrawn,
        )
        [channel] = item["channels"]
        line = plan[channel["listing_id"]]
        # One computation: the page's target and held stock are what bangfu stock push plans.
        assert (channel["target"], channel["believed"]) == (line.target, line.believed)
        assert (channel["share_bp"], channel["floor"], channel["rule_for"], channel["reserved"]) == (
            6000,
            2,
            "default",
            5,
        )
        assert channel["last_told"]["delta"] == 0 and channel["last_told"]["stock_after"] == 30
        assert [(p["delta"], p["status"], p["message"]) for p in channel["open_pushes"]] == [(5, "uncertain", MESSAGE)]
        assert [p["settled_by"] for p in data["settled"]] == ["tester"]
        # A search, a page in English, the detail page and its JSON.
        found = await (await client.get(f"/api/v1/operator/stock?q={code.lower()}", headers=headers)).json()
        assert [i["sku_code"] for i in found["items"]] == [code]
        csrf = await csrf_of(client, "/operator/stock")
        await client.post("/lang", data={"lang": "en", "_csrf": csrf, "next": "/operator/stock"})
        english = await (await client.get(f"/operator/stock?q={code}")).text()
        assert "Stock across channels" in english and "Settle uncertain pushes" in english and "shop default" in english
        await client.post("/lang", data={"lang": "zh", "_csrf": csrf, "next": "/operator/stock"})
        detail = await client.get(f"/operator/stock/{sku_id}")
        text = await detail.text()
        assert detail.status == 200 and "推送记录" in text and "读回平台库存" in text and "tester" in text
        one = await (await client.get(f"/api/v1/operator/stock/{sku_id}", headers=headers)).json()
        assert [p["status"] for p in one["pushes"]] == ["uncertain", "not_applied", "done"]

        # An operator who runs shop 2 only: shop 1's SKU and pushes are not theirs.
        [(operator,)] = await _rows(world_copy.url, select(User.id).where(User.name == "operator"))
        await _exec(world_copy.url, insert(UserShop).values(user_id=operator, shop_id=2))
        client.session.cookie_jar.clear()
        await login(client, "operator")
        assert (await client.get(f"/operator/stock/{sku_id}")).status == 404
        assert (await client.get("/operator/stock?shop=1")).status == 404
        mine = await client.get("/operator/stock?shop=2")
        assert mine.status == 200 and MESSAGE not in await mine.text()
        token = await api_token(world_copy.url, "operator")
        data = await (await client.get("/api/v1/operator/stock", headers={"Authorization": f"Bearer {token}"})).json()
        assert sku_id not in [i["sku_id"] for i in data["items"]] and data["open_pushes"] == []
        listed = {s for (s,) in await _rows(world_copy.url, select(Listing.sku_id).where(Listing.shop_id == 2))}
        assert {i["sku_id"] for i in data["items"]} <= listed and data["total"] == len(listed - {None})


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("shop=abc", "shop"),
        ("shop=0", "shop"),
        ("q=" + "x" * 65, "q"),
        ("problems=yes", "problems"),
        ("page=0", "page"),
    ],
)
async def test_bad_parameters_are_a_400_naming_them(
    client_sqlite: TestClient,  # type: ignore[type-arg]
    query: str,
    name: str,
) -> None:
    await login(client_sqlite, "admin")
    page = await client_sqlite.get(f"/operator/stock?{query}")
    assert page.status == 400 and name in await page.text()
    api = await client_sqlite.get(f"/api/v1/operator/stock?{query}")
    assert api.status == 400 and (await api.json())["error"]["message"].startswith(name)


async def test_unknown_skus_shops_and_other_roles_are_a_404(client_sqlite: TestClient) -> None:  # type: ignore[type-arg]
    client = client_sqlite
    await login(client, "admin")
    for path in (
        "/operator/stock/999999",
        "/operator/stock/abc",
        "/api/v1/operator/stock/999999",
        "/operator/stock?shop=999999",
    ):
        assert (await client.get(path)).status == 404, path
    csrf = await csrf_of(client, "/operator/stock")
    assert (await client.post("/operator/stock/settle", data={"_csrf": csrf, "shop": "999999"})).status == 404
    assert (await client.post("/operator/stock/settle", data={"_csrf": csrf, "shop": "x1"})).status == 400
    for role in OTHER_ROLES:
        client.session.cookie_jar.clear()
        await login(client, role)
        for path in ("/operator/stock", "/operator/stock/1", "/api/v1/operator/stock"):
            assert (await client.get(path)).status == 404, (role, path)
        csrf = await csrf_of(client, "/")
        denied = await client.post("/operator/stock/settle", data={"_csrf": csrf}, allow_redirects=False)
        assert denied.status == 404, role


async def test_settle_button_queues_the_task_for_the_users_shops(
    sqlite_world: World,
    client_sqlite: TestClient,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workers.tasks import stock_settle_requested

    calls: list[tuple[Any, ...]] = []

    def fake_apply_async(args: Any = None, kwargs: Any = None, **options: Any) -> None:
        calls.append((tuple(args), dict(kwargs), options))

    monkeypatch.setattr(stock_settle_requested, "apply_async", fake_apply_async)
    client = client_sqlite
    await login(client, "admin")
    denied = await client.post("/operator/stock/settle", data={}, allow_redirects=False)
    assert denied.status == 403 and not calls  # no CSRF field
    csrf = await csrf_of(client, "/operator/stock")
    done = await client.post("/operator/stock/settle", data={"_csrf": csrf}, allow_redirects=False)
    assert done.status == 303 and done.headers["Location"] == "/operator/stock?settle=queued"
    one = await client.post("/operator/stock/settle", data={"_csrf": csrf, "shop": "2"}, allow_redirects=False)
    assert one.status == 303 and one.headers["Location"] == "/operator/stock?shop=2&settle=queued"
    kept = await client.post(
        "/operator/stock/settle", data={"_csrf": csrf, "back": "q=GZ&problems=1"}, allow_redirects=False
    )
    assert kept.headers["Location"] == "/operator/stock?q=GZ&problems=1&settle=queued"
    odd = await client.post("/operator/stock/settle", data={"_csrf": csrf, "back": "x=<y>"}, allow_redirects=False)
    assert odd.headers["Location"] == "/operator/stock?settle=queued"  # not a query this page made
    assert [(c[0], c[2]["queue"]) for c in calls][:2] == [((None, "admin"), "sync"), (([2], "admin"), "sync")]
    assert calls[0][1]["database_url"] == sqlite_world.url
    page = await (await client.get(one.headers["Location"])).text()
    assert "已提交回读确认" in page


async def test_settle_button_runs_eagerly_and_the_page_says_why_a_push_stays_uncertain(world_copy: World) -> None:
    """Embedded default: the task runs before the redirect. The demo's platforms are not running
    (and their shops' credentials are not on this machine), so the read-back cannot be made: the
    push stays uncertain and the page shows who tried, when, and why."""
    made = await _pushes(world_copy.url)
    await _exec(
        world_copy.url,
        insert(UserShop).values(user_id=select(User.id).where(User.name == "operator").scalar_subquery(), shop_id=1),
    )
    async for client in _client(world_copy.url):
        await login(client, "operator")
        csrf = await csrf_of(client, "/operator/stock")
        done = await client.post("/operator/stock/settle", data={"_csrf": csrf}, allow_redirects=False)
        assert done.status == 303
        [(status, note)] = await _rows(
            world_copy.url,
            select(StockPush.status, StockPush.settle_note).where(
                StockPush.listing_id == made["listing_id"], StockPush.delta == 5, StockPush.settled_at.is_(None)
            ),
        )
        assert status == "uncertain" and note is not None and "operator: failed" in note
        body = await (await client.get(done.headers["Location"])).text()
        assert "上次回读" in body and "operator: failed" in body


@pytest.fixture
async def client_sqlite(sqlite_world: World) -> Any:
    async for c in _client(sqlite_world.url):
        yield c
