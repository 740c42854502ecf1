"""The Kuaishou fake against an independent client (tests/connectors/clients/kuaishou_client.py,
which shares no code with connectors/): the gateway accepts correctly signed calls in both sign
methods and refuses wrong signatures, stale timestamps and bad tokens with the platform's codes;
OAuth, windows, cursors, money, stock, bills and live sessions render the world faithfully."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from connectors.fakes.clock import FakeClock
from connectors.fakes.faults import FaultProfile
from connectors.fakes.kuaishou import FakeKuaishou
from connectors.fakes.server import Running, fake_server
from connectors.fakes.world import FakeOrder
from tests.connectors.clients.kuaishou_client import KuaishouTestClient, ks_sign

FROZEN = datetime(2024, 6, 15, 4, 0, tzinfo=UTC)
DAY_MS = 86_400_000


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture
async def fake() -> AsyncIterator[Running]:
    async with fake_server("kuaishou", seed=5, orders=240, days=20, clock=FakeClock(frozen_at=FROZEN)) as running:
        yield running


def client_for(fake: Running, http: aiohttp.ClientSession, **overrides: Any) -> KuaishouTestClient:
    creds = fake.credentials
    fields: dict[str, Any] = {
        "base_url": fake.base_url,
        "app_key": creds.app_key,
        "sign_secret": fake.fake.credential_fields()["sign_secret"],
        "http": http,
        "access_token": creds.access_token,
        "now_ms": lambda: to_ms(fake.clock.now()),
    }
    fields.update(overrides)
    return KuaishouTestClient(**fields)


def order_query(fake: Running, *, days: float = 7, **extra: Any) -> dict[str, Any]:
    end = to_ms(fake.clock.now())
    return {
        "orderViewStatus": 1,
        "pageSize": 50,
        "queryType": 2,
        "beginTime": end - int(days * DAY_MS),
        "endTime": end,
        "cursor": "",
        **extra,
    }


# -- gateway: signing, timestamps, tokens -------------------------------------------------------


@pytest.mark.parametrize("sign_method", ["MD5", "HMAC_SHA256"])
async def test_correctly_signed_calls_are_accepted(
    fake: Running, session: aiohttp.ClientSession, sign_method: str
) -> None:
    client = client_for(fake, session, sign_method=sign_method)
    body = await client.call("open.order.cursor.list", order_query(fake))
    assert body["result"] == 1, body
    assert isinstance(body["data"]["orderList"], list) and body["data"]["cursor"]
    sent = client.last_sent
    assert sent["signMethod"] == sign_method and sent["version"] == "1"
    if sign_method == "MD5":
        assert len(sent["sign"]) == 32 and sent["sign"] == sent["sign"].lower()
    else:
        assert sent["sign"].endswith("=")  # Base64 of 32 bytes


async def test_a_write_signed_with_param_in_the_body_is_accepted(fake: Running, session: aiohttp.ClientSession) -> None:
    item = fake.world.products()[0]
    sku = item.skus[0]
    client = client_for(fake, session)
    body = await client.call(
        "open.item.sku.stock.update",
        {"kwaiItemId": int(item.item_id), "skuId": int(sku.sku_id), "skuChangeStock": 3, "changeType": 1},
        post=True,
    )
    assert body["result"] == 1, body
    assert fake.world.item(item.item_id).skus[0].stock == sku.stock + 3  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("tamper", "result"),
    [
        ({"sign": "0" * 32}, 802001),  # wrong signature
        ({"sign": "RnbXle+zvpWUi7HA6Wrpgz5rLVS31qHDaLSK/fipeEM="}, 802001),
        ({"uppercase": True}, 802001),  # MD5 must be lowercase hex
        ({"secret": "not-the-sign-secret"}, 802001),  # signed with the appSecret-like wrong key
        ({"timestamp_shift_s": -11 * 60}, 802002),  # stale
        ({"timestamp_shift_s": 11 * 60}, 802002),  # from the future
        ({"access_token": "fake-kuaishou-made-up-token"}, 100200102),
        ({"app_key": "ks-unknown-app"}, 100200101),
        ({"sign_method": "SHA1"}, 802003),
    ],
)
async def test_bad_requests_are_refused_with_the_platform_codes(
    fake: Running, session: aiohttp.ClientSession, tamper: dict[str, Any], result: int
) -> None:
    overrides: dict[str, Any] = {}
    if "access_token" in tamper:
        overrides["access_token"] = tamper["access_token"]
    if "app_key" in tamper:
        overrides["app_key"] = tamper["app_key"]
    if "secret" in tamper:
        overrides["sign_secret"] = tamper["secret"]
    client = client_for(fake, session, **overrides)
    stamp = to_ms(fake.clock.now()) + 1000 * tamper.get("timestamp_shift_s", 0)
    if tamper.get("sign_method") == "SHA1":
        params = client.build("open.order.cursor.list", order_query(fake), timestamp_ms=stamp)
        params["signMethod"] = "SHA1"
        body = await client.send(params)
    elif tamper.get("uppercase"):
        params = client.build("open.order.cursor.list", order_query(fake), timestamp_ms=stamp)
        params["sign"] = params["sign"].upper()
        body = await client.send(params)
    else:
        body = await client.call(
            "open.order.cursor.list", order_query(fake), timestamp_ms=stamp, sign=tamper.get("sign")
        )
    assert body["result"] == result, body
    assert "data" not in body and body["error_msg"]


async def test_timestamps_within_ten_minutes_are_accepted(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    for shift in (-9 * 60, 9 * 60):
        body = await client.call(
            "open.order.cursor.list", order_query(fake), timestamp_ms=to_ms(fake.clock.now()) + shift * 1000
        )
        assert body["result"] == 1, body


async def test_seconds_instead_of_ms_is_a_stale_timestamp(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    body = await client.call("open.order.cursor.list", order_query(fake), timestamp_ms=int(FROZEN.timestamp()))
    assert body["result"] == 802002


async def test_missing_params_path_and_method_rules(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    params = client.build("open.order.cursor.list", order_query(fake))
    params.pop("sign")
    assert (await client.send(params))["result"] == 100200100
    # the path must be the method with . -> /
    params = client.build("open.order.detail", {"oid": 1})
    url = fake.base_url + "/open/order/cursor/list"
    async with session.get(url, params=params) as response:
        assert (await response.json())["result"] == 802004
    # unknown API
    assert (await client.call("open.no.such.api"))["result"] == 802004
    # a write must be POSTed, form-encoded
    item = fake.world.products()[0]
    update = {"kwaiItemId": int(item.item_id), "skuId": int(item.skus[0].sku_id), "skuChangeStock": 1}
    assert (await client.call("open.item.sku.stock.update", update))["result"] == 100200100
    params = client.build("open.item.sku.stock.update", update)
    async with session.post(
        fake.base_url + "/open/item/sku/stock/update", params=params, json={"param": params["param"]}
    ) as response:
        assert (await response.json())["result"] == 100200100


async def test_the_fake_hashes_param_exactly_as_sent(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    params = client.build("open.order.cursor.list", order_query(fake))
    # same JSON meaning, different text: the signature no longer matches
    params["param"] = params["param"].replace(",", ", ")
    assert (await client.send(params))["result"] == 802001
    params["sign"] = ks_sign(params, client.sign_secret, "MD5")
    assert (await client.send(params))["result"] == 1


# -- OAuth --------------------------------------------------------------------------------------


async def test_code_exchange_refresh_and_expiry(fake: Running, session: aiohttp.ClientSession) -> None:
    creds = fake.credentials
    client = client_for(fake, session)
    body = await client.token_by_code(creds.app_secret, "fake-kuaishou-code-1")
    assert body["result"] == 1 and body["expires_in"] == 172800 and body["open_id"]
    assert body["refresh_token_expires_in"] == 180 * 86400
    # a code works once
    again = await client.token_by_code(creds.app_secret, "fake-kuaishou-code-1")
    assert again["result"] == 100200105 and again["error"] == "invalid_grant"
    assert (await client.token_by_code("wrong-secret", "fake-kuaishou-code-2"))["result"] == 100200101
    # the new access token works on the gateway
    client.access_token = body["access_token"]
    assert (await client.call("open.shop.info.get"))["result"] == 1
    # refresh: a new pair; the old refresh token is retired
    refreshed = await client.refresh(creds.app_secret, body["refresh_token"])
    assert refreshed["result"] == 1 and refreshed["access_token"] != body["access_token"]
    stale = await client.refresh(creds.app_secret, body["refresh_token"])
    assert stale["result"] == 100200102 and stale["error"] == "access_denied"
    # expired access tokens are refused with access_denied
    client.access_token = refreshed["access_token"]
    async with session.post(fake.base_url + "/_fake/tokens/expire") as response:
        assert response.status == 200
    expired = await client.call("open.shop.info.get")
    assert expired["result"] == 100200102 and "expired" in expired["error_msg"]


# -- orders -------------------------------------------------------------------------------------


async def test_cursor_paging_serves_the_window_once_and_ends_with_nomore(
    fake: Running, session: aiohttp.ClientSession
) -> None:
    client = client_for(fake, session)
    now = fake.clock.now()
    seen: list[int] = []
    updates: list[int] = []
    cursor = ""
    pages = 0
    while True:
        body = await client.call("open.order.cursor.list", order_query(fake, pageSize=20, cursor=cursor))
        assert body["result"] == 1, body
        data = body["data"]
        assert len(data["orderList"]) <= 20
        for order in data["orderList"]:
            seen.append(order["orderBaseInfo"]["oid"])
            updates.append(order["orderBaseInfo"]["updateTime"])
        pages += 1
        cursor = data["cursor"]
        if cursor == "nomore":
            break
        stamp, _, oid = cursor.partition("_")
        assert stamp.isdigit() and oid.isdigit()  # the documented cursor shape
    expected = fake.world.orders_modified(now - timedelta(days=7), now + timedelta(milliseconds=1))
    assert pages > 1
    assert sorted(seen) == sorted(int(o.order_id) for o in expected)
    assert len(seen) == len(set(seen))
    assert updates == sorted(updates, reverse=True)  # sort=1 (default): newest first


async def test_ascending_sort_and_create_time_queries(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    body = await client.call("open.order.cursor.list", order_query(fake, sort=2, queryType=1))
    created = [o["orderBaseInfo"]["createTime"] for o in body["data"]["orderList"]]
    assert created == sorted(created) and created


@pytest.mark.parametrize(
    ("change", "result"),
    [
        ({"days": 7.01}, 300004),  # wider than 7 days
        ({"swap": True}, 300003),  # end before begin
        ({"old": True}, 300005),  # older than 90 days
        ({"pageSize": 51}, 2001),
        ({"cursor": "garbage"}, 2001),
    ],
)
async def test_order_list_limits(
    fake: Running, session: aiohttp.ClientSession, change: dict[str, Any], result: int
) -> None:
    client = client_for(fake, session)
    query = order_query(fake, days=change.get("days", 1))
    if change.get("swap"):
        query["beginTime"], query["endTime"] = query["endTime"], query["beginTime"]
    if change.get("old"):
        query["beginTime"] -= 91 * DAY_MS
        query["endTime"] = query["beginTime"] + DAY_MS
    for key in ("pageSize", "cursor"):
        if key in change:
            query[key] = change[key]
    body = await client.call("open.order.cursor.list", query)
    assert body["result"] == result, body


async def test_exactly_seven_days_is_allowed(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    assert (await client.call("open.order.cursor.list", order_query(fake, days=7)))["result"] == 1


def _find(fake: Running, predicate: Any) -> FakeOrder:
    now = fake.clock.now()
    for order in fake.world.orders_created(now - timedelta(days=21), now):
        if predicate(order):
            return order
    raise AssertionError("no such order in the world")


async def test_order_detail_renders_money_in_fen_times_in_ms_and_live_fields(
    fake: Running, session: aiohttp.ClientSession
) -> None:
    client = client_for(fake, session)
    order = _find(fake, lambda o: len(o.lines) > 1 and o.author_id and o.paid_at)
    body = await client.call("open.order.detail", {"oid": int(order.order_id)})
    assert body["result"] == 1
    data = body["data"]
    base = data["orderBaseInfo"]
    assert base["oid"] == int(order.order_id)
    assert base["totalFee"] == order.paid_fen and isinstance(base["totalFee"], int)
    assert base["expressFee"] == order.post_fee_fen and base["discountFee"] == order.discount_fen
    assert order.paid_at is not None
    assert base["createTime"] == to_ms(order.created_at) and base["payTime"] == to_ms(order.paid_at)
    assert base["cpsType"] == 2
    items = data["orderItemInfoList"]
    assert len(items) == len(order.lines) and data["orderItemInfo"] == items[0]
    assert sum(i["price"] * i["num"] - i["discountFee"] for i in items) + base["expressFee"] == base["totalFee"]
    live = [i for i in items if i["liveStreamId"]]
    assert live and all(i["distributorId"] == order.author_id for i in live)
    assert data["orderCpsInfo"]["distributorId"] == order.author_id
    assert data["orderCpsInfo"]["liveStreamId"] == order.room_id
    assert data["orderCpsInfo"]["distributorName"]
    missing = await client.call("open.order.detail", {"oid": 1})
    assert missing["result"] == 2001


async def test_status_codes_follow_the_world(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    cancelled = _find(fake, lambda o: o.cancelled_at is not None)
    body = await client.call("open.order.detail", {"oid": int(cancelled.order_id)})
    assert body["data"]["orderBaseInfo"]["status"] == 80 and body["data"]["orderBaseInfo"]["payTime"] == 0
    finished = _find(fake, lambda o: o.finished_at is not None and not o.refunds)
    body = await client.call("open.order.detail", {"oid": int(finished.order_id)})
    assert body["data"]["orderBaseInfo"]["status"] == 70


# -- refunds ------------------------------------------------------------------------------------


async def test_refund_list_by_update_time_one_day_at_most(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    end = to_ms(fake.clock.now())
    wide = await client.call(
        "open.seller.order.refund.pcursor.list",
        {"beginTime": end - DAY_MS - 1, "endTime": end, "type": 9, "pageSize": 100, "pcursor": ""},
    )
    assert wide["result"] == 300019
    bad_type = await client.call(
        "open.seller.order.refund.pcursor.list",
        {"beginTime": end - DAY_MS, "endTime": end, "type": 3, "pcursor": ""},
    )
    assert bad_type["result"] == 300002
    seen: dict[int, dict[str, Any]] = {}
    day_end = end
    for _ in range(22):
        cursor = ""
        while cursor != "nomore":
            body = await client.call(
                "open.seller.order.refund.pcursor.list",
                {"beginTime": day_end - DAY_MS, "endTime": day_end - 1, "type": 9, "pageSize": 5, "pcursor": cursor},
            )
            assert body["result"] == 1, body
            for refund in body["data"]["refundOrderInfoList"]:
                seen[refund["refundId"]] = refund
            cursor = body["data"]["pcursor"]
        day_end -= DAY_MS
    truth = fake.fake.truth()["shops"][fake.credentials.shop_id]
    assert len(seen) == truth["refunds"] > 0
    succeeded = sum(r["refundFee"] for r in seen.values() if r["status"] == 60)
    assert succeeded == truth["refunded_fen"]
    one = next(iter(seen.values()))
    detail = await client.call("open.seller.order.refund.detail", {"refundId": one["refundId"]})
    assert detail["data"] == one
    assert (await client.call("open.seller.order.refund.detail", {"refundId": 1}))["result"] == 300011


# -- items and stock ----------------------------------------------------------------------------


async def test_items_pages_and_stock_changes(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        body = await client.call("open.item.list.get", {"pageNumber": page, "pageSize": 10})
        assert body["result"] == 1
        items.extend(body["data"]["items"])
        if page >= body["data"]["totalPage"]:
            break
        page += 1
    world_items = fake.world.products()
    assert [i["kwaiItemId"] for i in items] == [int(i.item_id) for i in world_items]
    first = items[0]
    sku = first["skuInfos"][0]
    assert sku["skuSalePrice"] == world_items[0].skus[0].price_fen
    assert sku["skuNick"] == world_items[0].skus[0].sku_code
    update = {
        "kwaiItemId": first["kwaiItemId"],
        "skuId": sku["kwaiSkuId"],
        "skuChangeStock": sku["skuStock"] + 1,
        "changeType": 2,
    }
    refused = await client.call("open.item.sku.stock.update", update, post=True)
    assert refused["result"] == 2001  # would go below zero
    update["skuChangeStock"] = 0
    assert (await client.call("open.item.sku.stock.update", update, post=True))["result"] == 2001
    got = await client.call("open.item.get", {"kwaiItemId": first["kwaiItemId"]})
    assert got["data"]["skuInfos"][0]["skuStock"] == sku["skuStock"]
    assert (await client.call("open.item.list.get", {"pageSize": 101}))["result"] == 2001


# -- funds and live -----------------------------------------------------------------------------


async def test_bills_cover_the_world_settlements(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    now = fake.clock.now()
    end = to_ms(now)
    rows: list[dict[str, Any]] = []
    for week in range(3):
        cursor = ""
        while cursor != "nomore":
            body = await client.call(
                "open.funds.financial.bill.batch.detail",
                {
                    "settlementStartTime": end - (week + 1) * 7 * DAY_MS,
                    "settlementEndTime": end - week * 7 * DAY_MS - 1,
                    "cursor": cursor,
                    "pageSize": 100,
                },
            )
            assert body["result"] == 1, body
            rows.extend(body["data"]["billList"])
            cursor = body["data"]["cursor"]
    world_lines = fake.world.settlements(now - timedelta(days=21), now + timedelta(milliseconds=1))
    assert len(rows) == len(world_lines) > 0
    assert sum(r["amount"] for r in rows) == sum(line.amount_fen for line in world_lines)
    assert {r["billType"] for r in rows} >= {1, 2, 4}
    too_wide = await client.call(
        "open.funds.financial.bill.batch.detail",
        {"settlementStartTime": end - 8 * DAY_MS, "settlementEndTime": end, "cursor": ""},
    )
    assert too_wide["result"] == 300004


async def test_live_streams_with_minutes_and_explanations(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    end = to_ms(fake.clock.now())
    body = await client.call(
        "open.live.stream.list", {"beginTime": end - 7 * DAY_MS, "endTime": end, "pcursor": "", "pageSize": 20}
    )
    assert body["result"] == 1, body
    streams = body["data"]["liveStreamList"]
    assert streams and body["data"]["pcursor"] == "nomore"
    first = streams[0]
    assert isinstance(first["liveStreamId"], str) and first["authorId"] and first["startTime"] > 0
    detail = await client.call("open.live.stream.detail", {"liveStreamId": first["liveStreamId"]})
    minutes = detail["data"]["minuteList"]
    assert minutes and sum(m["payAmount"] for m in minutes) == first["payAmount"]
    assert detail["data"]["explainList"]
    assert (await client.call("open.live.stream.list", {"beginTime": end - 8 * DAY_MS, "endTime": end}))[
        "result"
    ] == 300004


# -- faults -------------------------------------------------------------------------------------


async def test_rate_limit_answer_and_the_qps_block(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    fake.fake.faults.profile = FaultProfile(rate_limit=1.0)
    body = await client.call("open.order.cursor.list", order_query(fake))
    assert body["result"] == 802005
    assert body["error_msg"].startswith("Exceed qps limit, KEY [apiId:open.order.cursor.list;appkey:")
    assert "MAX_QPS [300.0]" in body["error_msg"]
    # by default nothing else is held off once the fault has passed
    fake.fake.faults.profile = FaultProfile.NONE
    assert (await client.call("open.order.cursor.list", order_query(fake)))["result"] == 1
    # with the QPS block on, the app stays refused on that API for the rest of the second...
    assert isinstance(fake.fake, FakeKuaishou)
    fake.fake.qps_block_seconds = 60.0
    fake.fake.faults.profile = FaultProfile(rate_limit=1.0)
    assert (await client.call("open.order.cursor.list", order_query(fake)))["result"] == 802005
    fake.fake.faults.profile = FaultProfile.NONE
    again = await client.call("open.order.cursor.list", order_query(fake))
    assert again["result"] == 802005 and "Exceed qps limit" in again["error_msg"]
    # ...and only on that API
    assert (await client.call("open.shop.info.get"))["result"] == 1


async def test_each_shop_is_reached_by_its_own_token(session: aiohttp.ClientSession) -> None:
    async with fake_server("kuaishou", seed=5, orders=30, days=5, shops=2, clock=FakeClock(frozen_at=FROZEN)) as fake:
        fields = fake.fake.credential_fields()
        second = list(fake.worlds)[1]
        assert fields[f"access_token:{second}"] != fields["access_token"]
        oid = int(fake.worlds[second].orders_created(FROZEN - timedelta(days=5), FROZEN)[0].order_id)
        own = client_for(fake, session, access_token=fields[f"access_token:{second}"])
        assert (await own.call("open.order.detail", {"oid": oid}))["result"] == 1
        other = client_for(fake, session)  # the first shop's token
        assert (await other.call("open.order.detail", {"oid": oid}))["result"] == 2001
        refreshed = await own.refresh(fake.credentials.app_secret, fields[f"refresh_token:{second}"])
        own.access_token = refreshed["access_token"]
        assert (await own.call("open.order.detail", {"oid": oid}))["result"] == 1
