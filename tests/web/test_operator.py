"""The operator console: sync health (as ``bangfu sync status`` computes it), queued syncs,
quarantined records, lines waiting for lot stock and enterprise sales; scope and roles."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from markupsafe import escape
from sqlalchemy import func, insert, select, text, update

from bangfu.enums import OFFLINE_PLATFORMS
from bangfu.models import Alert, LineAccounting, QuarantinedRecord, Shop, SyncRun, User, UserShop
from bangfu.money import format_yuan
from bangfu.store import make_engine
from tests.web.conftest import World, _client, api_token, csrf_of, login

OTHER_ROLES = ("host", "coop", "county", "unit")
PAGES = ("/operator", "/operator/quarantine", "/operator/waiting")
APIS = ("/api/v1/operator/sync", "/api/v1/operator/waiting")


async def _exec(url: str, *statements: Any) -> list[Any]:
    engine = make_engine(url)
    out = []
    try:
        async with engine.begin() as conn:
            for statement in statements:
                out.append(await conn.execute(statement))
    finally:
        await engine.dispose()
    return out


async def _scalar(url: str, statement: Any) -> Any:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(statement)
    finally:
        await engine.dispose()


async def test_sync_health_agrees_with_sync_status(world: World, client: TestClient) -> None:  # type: ignore[type-arg]
    from bangfu.cli.sync import _status

    rows, _ = await _status(world.url)
    await login(client, "admin")
    page = await client.get("/operator")
    body = await page.text()
    assert page.status == 200 and "店铺同步状态" in body and "全量重同步" in body
    token = await api_token(world.url, "admin")
    data = await (await client.get("/api/v1/operator/sync", headers={"Authorization": f"Bearer {token}"})).json()
    runs = {
        (shop["name"], stream["stream"]): stream["last_run"]
        for shop in data["items"]
        for stream in shop["streams"]
        if stream["last_run"]
    }
    assert len(runs) == len(rows) > 0
    for row in rows:
        run = runs[(row["shop"], row["stream"])]
        assert (run["outcome"], run["rows_new"], run["rows_changed"], run["quarantined"]) == (
            row["outcome"],
            row["new"],
            row["changed"],
            row["quarantined"],
        )
        assert html.escape(str(row["shop"])) in body
    assert all(s["cursor"] is None or s["lag_seconds"] >= 0 for shop in data["items"] for s in shop["streams"])


async def test_failed_and_running_runs_alerts_and_a_named_operators_shops(world_copy: World) -> None:
    now = datetime.now(UTC)
    operator = await _scalar(world_copy.url, select(User.id).where(User.name == "operator"))
    await _exec(
        world_copy.url,
        insert(SyncRun).values(
            shop_id=1, stream="orders", started_at=now, finished_at=now, outcome="failed", windows_done=2,
            rows_new=3, rows_changed=1, quarantined=1, errors={"auth": 1, "retriable": 2},
            message="[taobao 27] Invalid session: token *** expired",
        ),
        insert(SyncRun).values(shop_id=2, stream="refunds", started_at=now, outcome="running", windows_done=4),
        insert(Alert).values(kind="sync.auth", severity="error", shop_id=1, message="淘宝店授权失效", created_at=now),
        insert(Alert).values(kind="sync.auth", severity="error", shop_id=2, message="天猫授权失效", created_at=now),
        insert(UserShop).values(user_id=operator, shop_id=1),
    )  # fmt: skip
    async for client in _client(world_copy.url):
        await login(client, "admin")
        body = await (await client.get("/operator")).text()
        assert "[taobao 27] Invalid session: token *** expired" in body
        assert "auth×1" in body and "retriable×2" in body and "同步中" in body
        assert "淘宝店授权失效" in body and "天猫授权失效" in body
        client.session.cookie_jar.clear()
        await login(client, "operator")
        body = await (await client.get("/operator")).text()
        assert "淘宝店授权失效" in body and "天猫授权失效" not in body
        assert 'action="/operator/shops/1/sync"' in body and "/operator/shops/2/sync" not in body
        token = await api_token(world_copy.url, "operator")
        headers = {"Authorization": f"Bearer {token}"}
        data = await (await client.get("/api/v1/operator/sync", headers=headers)).json()
        assert [s["id"] for s in data["items"]] == [1] and data["other_alerts"] == []
        orders = next(s for s in data["items"][0]["streams"] if s["stream"] == "orders")
        assert orders["last_run"]["errors"] == {"auth": 1, "retriable": 2}
        assert orders["last_run"]["message"].startswith("[taobao 27]")
        csrf = await csrf_of(client, "/operator")
        other = await client.post("/operator/shops/2/sync", data={"_csrf": csrf}, allow_redirects=False)
        assert other.status == 404
        assert (await client.get("/operator/quarantine?shop=2")).status == 404
        assert (await client.get("/operator/quarantine?shop=1")).status == 200


async def test_sync_button_queues_the_task(
    sqlite_world: World,
    client_sqlite: TestClient,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workers.tasks import sync_shop_requested

    calls: list[tuple[Any, ...]] = []

    def fake_apply_async(args: Any = None, kwargs: Any = None, **options: Any) -> None:
        calls.append((tuple(args), dict(kwargs), options))

    monkeypatch.setattr(sync_shop_requested, "apply_async", fake_apply_async)
    client = client_sqlite
    await login(client, "operator")
    denied = await client.post("/operator/shops/1/sync", data={}, allow_redirects=False)
    assert denied.status == 403 and not calls
    csrf = await csrf_of(client, "/operator")
    done = await client.post("/operator/shops/1/sync", data={"_csrf": csrf}, allow_redirects=False)
    assert done.status == 303 and done.headers["Location"].startswith("/operator?queued=sync-1")
    full = await client.post("/operator/shops/3/sync", data={"_csrf": csrf, "full": "1"}, allow_redirects=False)
    assert full.status == 303
    assert [(c[0], c[1]["full"], c[2]["queue"]) for c in calls] == [((1,), False, "sync"), ((3,), True, "sync")]
    assert calls[0][1]["database_url"] == sqlite_world.url
    page = await (await client.get(done.headers["Location"])).text()
    assert "已提交同步" in page
    missing = await client.post("/operator/shops/99999/sync", data={"_csrf": csrf}, allow_redirects=False)
    assert missing.status == 404 and len(calls) == 2
    # An offline shop has no platform to sync from: no button, and a post is a 404, queueing nothing.
    engine = make_engine(sqlite_world.url)
    try:
        async with engine.connect() as conn:
            offline = await conn.scalar(select(Shop.id).where(Shop.platform.in_(OFFLINE_PLATFORMS)).limit(1))
    finally:
        await engine.dispose()
    assert offline is not None
    await login(client, "admin")
    csrf = await csrf_of(client, "/operator")
    listed = await (await client.get("/operator")).text()
    card = listed.split(f'id="shop-{offline}"', 1)[1].split("</section>", 1)[0]
    assert "无平台接口" in card and f"/operator/shops/{offline}/sync" not in card
    refused = await client.post(f"/operator/shops/{offline}/sync", data={"_csrf": csrf}, allow_redirects=False)
    assert refused.status == 404 and len(calls) == 2
    token = await api_token(sqlite_world.url, "admin")
    api = await (await client.get("/api/v1/operator/sync", headers={"Authorization": f"Bearer {token}"})).json()
    assert {item["id"]: item["synced"] for item in api["items"]}[offline] is False


@pytest.fixture
async def client_sqlite(sqlite_world: World) -> Any:
    async for c in _client(sqlite_world.url):
        yield c


async def test_quarantine_shows_raw_payload_and_records_who_handled_it(world_copy: World) -> None:
    base = datetime(2026, 11, 1, tzinfo=UTC)
    rows = [
        {
            "shop_id": 1 + i % 2,
            "stream": "orders",
            "platform_id": f"T{i:04d}",
            "error": f"missing field payment <{i}>",
            "raw": {"tid": f"T{i:04d}", "buyer": "***", "items": [{"num": i, "title": "青稞面"}]},
            "seen_at": base + timedelta(minutes=i),
        }
        for i in range(25)
    ]
    engine = make_engine(world_copy.url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(QuarantinedRecord), rows)
    finally:
        await engine.dispose()
    async for client in _client(world_copy.url):
        await login(client, "operator")
        page = await client.get("/operator/quarantine")
        body = await page.text()
        assert page.status == 200 and "T0024" in body and "T0004" not in body  # newest first, 20 a page
        assert html.escape("missing field payment <24>") in body
        assert str(escape(json.dumps("青稞面", ensure_ascii=False))) in body
        assert str(escape('\n  "items": [')) in body  # pretty-printed
        second = await (await client.get("/operator/quarantine?page=2")).text()
        assert "T0004" in second and "T0024" not in second
        assert (await client.get("/operator/quarantine?shop=abc")).status == 400
        record = await _scalar(
            world_copy.url, select(QuarantinedRecord.id).where(QuarantinedRecord.platform_id == "T0024")
        )
        denied = await client.post(f"/operator/quarantine/{record}/handled", data={}, allow_redirects=False)
        assert denied.status == 403
        csrf = await csrf_of(client, "/operator/quarantine")
        done = await client.post(
            f"/operator/quarantine/{record}/handled", data={"_csrf": csrf, "back": "shop=1"}, allow_redirects=False
        )
        assert done.status == 303 and done.headers["Location"] == "/operator/quarantine?shop=1&done=1"
        again = await client.post(f"/operator/quarantine/{record}/handled", data={"_csrf": csrf}, allow_redirects=False)
        assert again.status == 303 and again.headers["Location"].endswith("done=0")
        engine = make_engine(world_copy.url)
        try:
            async with engine.connect() as conn:
                at, by = (
                    await conn.execute(
                        select(QuarantinedRecord.resolved_at, QuarantinedRecord.resolved_by).where(
                            QuarantinedRecord.id == record
                        )
                    )
                ).one()
                operator = await conn.scalar(select(User.id).where(User.name == "operator"))
        finally:
            await engine.dispose()
        assert at is not None and by == operator
        assert "T0024" not in await (await client.get("/operator/quarantine")).text()
        shown = await (await client.get("/operator/quarantine?all=1")).text()
        assert "T0024" in shown and "operator 于" in shown
        assert (await client.post("/operator/quarantine/99999999/handled", data={"_csrf": csrf})).status == 404
        client.session.cookie_jar.clear()
        await login(client, "host")
        csrf = await csrf_of(client, "/sessions")
        assert (await client.post(f"/operator/quarantine/{record}/handled", data={"_csrf": csrf})).status == 404


async def test_waiting_lines_by_sku_and_enterprise_sales(world: World, client: TestClient) -> None:  # type: ignore[type-arg]
    waiting_lines = await _scalar(
        world.url, select(func.count()).select_from(LineAccounting).where(LineAccounting.status == "waiting_lots")
    )
    credited = -int(
        await _scalar(
            world.url,
            text(
                "SELECT coalesce(sum(p.amount_fen), 0) FROM postings p "
                "JOIN ledger_accounts a ON a.id = p.account_id WHERE a.owner_type = 'supplier'"
            ),
        )
    )
    await login(client, "operator")
    page = await client.get("/operator/waiting")
    body = await page.text()
    assert page.status == 200 and "等待批次库存" in body and "企业主体销售" in body
    token = await api_token(world.url, "operator")
    data = await (await client.get("/api/v1/operator/waiting", headers={"Authorization": f"Bearer {token}"})).json()
    assert sum(s["lines"] for s in data["items"]) == waiting_lines > 0
    total = sum(s["paid_fen"] for s in data["items"])
    assert format_yuan(total) in body
    assert all(s["oldest_paid_at"] for s in data["items"])
    assert data["enterprise_sales"] and sum(e["credited_fen"] for e in data["enterprise_sales"]) == credited > 0
    for e in data["enterprise_sales"]:
        assert e["account_code"] == f"supplier:{e['supplier_id']}" and e["account_code"] in body
        assert 0 < e["credited_fen"] <= e["paid_fen"]


async def test_other_roles_get_404(world: World, client: TestClient) -> None:  # type: ignore[type-arg]
    for role in OTHER_ROLES:
        client.session.cookie_jar.clear()
        await login(client, role)
        for path in PAGES:
            assert (await client.get(path)).status == 404, (role, path)
        headers = {"Authorization": f"Bearer {await api_token(world.url, role)}"}
        for path in APIS:
            response = await client.get(path, headers=headers)
            assert response.status == 404 and (await response.json())["error"]["code"] == "not_found"
        csrf = await csrf_of(client, "/login")
        assert (await client.post("/operator/shops/1/sync", data={"_csrf": csrf})).status == 404
    client.session.cookie_jar.clear()
    await login(client, "operator")
    assert "/operator/waiting" in await (await client.get("/operator")).text()


async def test_refetch_button_queues_the_task_and_the_list_says_what_came_of_it(
    world_copy: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bangfu.models import QuarantineRefetch
    from workers.refetch import refetch_quarantined

    calls: list[tuple[Any, ...]] = []

    def fake_apply_async(args: Any = None, kwargs: Any = None, **options: Any) -> None:
        calls.append((tuple(args), dict(kwargs), options))

    monkeypatch.setattr(refetch_quarantined, "apply_async", fake_apply_async)
    seen = datetime(2026, 11, 2, tzinfo=UTC)
    rows = [
        {"shop_id": 1, "stream": "orders", "platform_id": "R-ORDER", "error": "bad pay", "raw": {}, "seen_at": seen},
        {"shop_id": 1, "stream": "settlements", "platform_id": "R-BILL", "error": "bad", "raw": {}, "seen_at": seen},
        {"shop_id": 2, "stream": "refunds", "platform_id": "R-REFUND", "error": "bad", "raw": {}, "seen_at": seen},
    ]
    engine = make_engine(world_copy.url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(QuarantinedRecord), rows)
            ids = {
                pid: rid
                for rid, pid in await conn.execute(
                    select(QuarantinedRecord.id, QuarantinedRecord.platform_id).where(
                        QuarantinedRecord.platform_id.like("R-%")
                    )
                )
            }
    finally:
        await engine.dispose()
    order, bill, refund = ids["R-ORDER"], ids["R-BILL"], ids["R-REFUND"]
    async for client in _client(world_copy.url):
        await login(client, "operator")
        body = await (await client.get("/operator/quarantine")).text()
        assert f'action="/operator/quarantine/{order}/refetch"' in body
        assert f'action="/operator/quarantine/{bill}/refetch"' not in body  # no fetch by id for bills
        denied = await client.post(f"/operator/quarantine/{order}/refetch", data={}, allow_redirects=False)
        assert denied.status == 403 and not calls
        csrf = await csrf_of(client, "/operator/quarantine")
        done = await client.post(
            f"/operator/quarantine/{order}/refetch", data={"_csrf": csrf, "back": "shop=1"}, allow_redirects=False
        )
        assert done.status == 303
        (call,) = calls
        (refetch_id,) = call[0]
        assert call[1]["database_url"] == world_copy.url and call[2]["queue"] == "sync"
        assert done.headers["Location"] == f"/operator/quarantine?shop=1&refetched={refetch_id}#q-{order}"
        operator = await _scalar(world_copy.url, select(User.id).where(User.name == "operator"))
        row = (await _exec(world_copy.url, select(QuarantineRefetch).where(QuarantineRefetch.id == refetch_id)))[
            0
        ].one()
        assert (row.quarantined_id, row.requested_by, row.outcome) == (order, operator, "queued")
        page = await (await client.get(done.headers["Location"])).text()
        assert "已提交重新获取" in page
        # The task failed: the platform's class and message are shown, the record stays open.
        await _exec(
            world_copy.url,
            update(QuarantineRefetch)
            .where(QuarantineRefetch.id == refetch_id)
            .values(outcome="failed", error_class="auth", message="AuthError: [kuaishou 24] 签名错误"),
        )
        page = await (await client.get(done.headers["Location"])).text()
        assert "重新获取失败（auth）：AuthError: [kuaishou 24] 签名错误" in page
        assert f'action="/operator/quarantine/{order}/handled"' in page
        # It was stored: the record is handled by the re-fetch, with who and when.
        await _exec(
            world_copy.url,
            update(QuarantineRefetch)
            .where(QuarantineRefetch.id == refetch_id)
            .values(outcome="stored", error_class=None, message=None),
            update(QuarantinedRecord)
            .where(QuarantinedRecord.id == order)
            .values(resolved_at=datetime.now(UTC), resolved_by=operator),
        )
        page = await (await client.get(f"/operator/quarantine?all=1&refetched={refetch_id}")).text()
        assert "已重新获取并入库" in page and "重新获取后入库，已处理" in page
        again = await client.post(f"/operator/quarantine/{order}/refetch", data={"_csrf": csrf}, allow_redirects=False)
        assert again.status == 303 and again.headers["Location"].endswith(f"refetched=resolved#q-{order}")
        unsupported = await client.post(
            f"/operator/quarantine/{bill}/refetch", data={"_csrf": csrf}, allow_redirects=False
        )
        assert unsupported.headers["Location"].endswith(f"refetched=unsupported#q-{bill}") and len(calls) == 1
        missing = await client.post("/operator/quarantine/99999999/refetch", data={"_csrf": csrf})
        assert missing.status == 404
        bad_id = await client.post("/operator/quarantine/abc/refetch", data={"_csrf": csrf})
        assert bad_id.status in (400, 404)
        # A stranger's request id in the query string tells nothing.
        assert 'role="status"' not in await (await client.get("/operator/quarantine?refetched=99999999")).text()
        for role in OTHER_ROLES:
            client.session.cookie_jar.clear()
            await login(client, role)
            csrf = await csrf_of(client, "/login")
            response = await client.post(f"/operator/quarantine/{refund}/refetch", data={"_csrf": csrf})
            assert response.status == 404, role
        assert len(calls) == 1
