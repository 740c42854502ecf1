"""The Youzan fake against an independent client (tests/connectors/clients/youzan_client.py, which
shares no code with connectors/): the token endpoint and the gateway's checks answer with the
platform's own envelopes and codes; the APIs render the world with Youzan's paging, window
limits, sort order, status enums, yuan strings and Beijing time."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from connectors.fakes.clock import FakeClock
from connectors.fakes.faults import FaultProfile
from connectors.fakes.server import Running, fake_server
from tests.connectors.clients.youzan_client import YouzanTestClient, gateway_error

FROZEN = datetime(2024, 6, 15, 4, 0, tzinfo=UTC)
BEIJING = ZoneInfo("Asia/Shanghai")
ORDER_STATUSES = {
    "WAIT_BUYER_PAY",
    "TRADE_PAID",
    "WAIT_CONFIRM",
    "WAIT_SELLER_SEND_GOODS",
    "WAIT_BUYER_CONFIRM_GOODS",
    "TRADE_SUCCESS",
    "TRADE_CLOSED",
}
YUAN = re.compile(r"^-?\d+\.\d{2}$")
LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def beijing(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
async def fake() -> AsyncIterator[Running]:
    async with fake_server("youzan", seed=9, orders=260, days=12, clock=FakeClock(frozen_at=FROZEN)) as running:
        yield running


@pytest.fixture
async def client(fake: Running, session: aiohttp.ClientSession) -> YouzanTestClient:
    creds = fake.credentials
    yz = YouzanTestClient(fake.base_url, creds.app_key, creds.app_secret, creds.shop_id, session)
    answer = await yz.fetch_token()
    assert answer["success"] is True, answer
    return yz


# -- /auth/token ------------------------------------------------------------------------------------


async def test_silent_token_answer(fake: Running, client: YouzanTestClient) -> None:
    answer = await client.fetch_token()
    assert answer["code"] == 200 and answer["message"] is None
    data = answer["data"]
    assert data["access_token"] == fake.credentials.access_token  # refresh=false: the current token
    assert data["expires"] == int((FROZEN + timedelta(days=7)).timestamp() * 1000)  # epoch ms
    assert data["authority_id"] == fake.credentials.shop_id and data["refresh_token"]


async def test_refresh_true_mints_a_token_and_retires_the_old_one(client: YouzanTestClient) -> None:
    old = client.access_token
    answer = await client.fetch_token(refresh=True)
    assert answer["success"] and client.access_token != old
    status, body = await client.call("youzan.trade.get", "4.0.2", {"tid": "E1"}, token=old)
    assert status == 200 and gateway_error(body) == 4203
    assert body["gw_err_resp"]["err_msg"] == "Token 不存在"


@pytest.mark.parametrize(
    ("override", "code", "message"),
    [
        ({"client_id": "fake-other-client"}, 1103, "Client 不存在"),
        ({"client_secret": "wrong-secret-not-real"}, 1000, "应用信息错误"),
        ({"grant_id": "1"}, 1103, "授权关系不存在"),
        ({"authorize_type": "authorization_code", "code": "fake-code"}, 1105, "不支持的应用类型"),
    ],
)
async def test_token_refusals(client: YouzanTestClient, override: dict[str, Any], code: int, message: str) -> None:
    answer = await client.fetch_token(**override)
    assert answer == {"success": False, "code": code, "data": None, "message": message}


async def test_token_endpoint_wants_json(fake: Running, session: aiohttp.ClientSession) -> None:
    creds = fake.credentials
    form = {
        "client_id": creds.app_key,
        "client_secret": creds.app_secret,
        "authorize_type": "silent",
        "grant_id": creds.shop_id,
    }
    async with session.post(f"{fake.base_url}/auth/token", data=form) as resp:
        answer = await resp.json(content_type=None)
    assert resp.status == 200 and answer["code"] == 1000 and "not supported" in answer["message"]


async def test_refresh_token_grant_is_single_use(fake: Running, client: YouzanTestClient) -> None:
    first = await client.refresh_with(fake.credentials.refresh_token)
    assert first["success"] and first["data"]["refresh_token"] != fake.credentials.refresh_token
    again = await client.refresh_with(fake.credentials.refresh_token)
    assert again["success"] is False and again["code"] == 1004


# -- the gateway's checks -----------------------------------------------------------------------------


async def test_token_only_counts_in_the_query(fake: Running, client: YouzanTestClient) -> None:
    status, body = await client.call("youzan.trade.get", "4.0.2", {"tid": "E1"}, omit_token=True)
    assert status == 200 and body["gw_err_resp"]["err_code"] == 4201
    assert body["gw_err_resp"]["err_msg"] == "非法的请求凭证" and body["gw_err_resp"]["trace_id"]
    headers = {"Authorization": f"Bearer {client.access_token}"}
    async with client.session.post(f"{fake.base_url}/api/youzan.trade.get/4.0.2", json={}, headers=headers) as resp:
        assert gateway_error(await resp.json()) == 4201
    status, body = await client.call(
        "youzan.trade.get", "4.0.2", {"tid": "E1", "access_token": client.access_token}, omit_token=True
    )
    assert gateway_error(body) == 4201


async def test_unknown_and_expired_tokens(fake: Running, client: YouzanTestClient) -> None:
    _, body = await client.call("youzan.trade.get", "4.0.2", {"tid": "E1"}, token="FAKE_TOKEN_TEST")
    assert gateway_error(body) == 4203
    fake.clock.advance(7 * 86400 + 1)  # tokens live seven days
    _, body = await client.call("youzan.trade.get", "4.0.2", {"tid": "E1"})
    assert gateway_error(body) == 4202 and body["gw_err_resp"]["err_msg"] == "请求凭证过期"
    renewed = await client.fetch_token()  # an expired token is replaced even with refresh=false
    assert renewed["success"] and renewed["data"]["access_token"] != fake.credentials.access_token


async def test_path_and_api_are_checked_before_the_token(client: YouzanTestClient) -> None:
    status, body = await client.call_raw("/api/youzan.item.detail.get", data=b"{}", content_type="application/json")
    assert status == 200 and gateway_error(body) == 4001
    _, body = await client.call("youzan.nonexistent.fake.api", "1.0.0", {}, token="FAKE_TOKEN_TEST")
    assert gateway_error(body) == 4005
    _, body = await client.call("youzan.trade.get", "9.9.9", {}, token="FAKE_TOKEN_TEST")
    assert gateway_error(body) == 4005


async def test_content_type_and_body_are_checked(client: YouzanTestClient) -> None:
    path = "/api/youzan.trade.get/4.0.2"
    _, body = await client.call_raw(path, data=b"{}", content_type="text/plain")
    assert gateway_error(body) == 4007
    assert body["gw_err_resp"]["err_msg"] == "非法的请求姿势，httpMethod:POST, contentType:text/plain"
    _, body = await client.call_raw(path, data=b"{not json", content_type="application/json")
    assert gateway_error(body) == 4004


async def test_rate_limit_is_gateway_4101(fake: Running, client: YouzanTestClient) -> None:
    fake.fake.faults.profile = FaultProfile(rate_limit=1.0)
    status, body = await client.call("youzan.trade.get", "4.0.2", {"tid": "E1"})
    assert status == 200 and body["gw_err_resp"]["err_code"] == 4101
    assert body["gw_err_resp"]["err_msg"] == "请求太频繁"


# -- trades.sold.get and trade.get --------------------------------------------------------------------


def window(fake: Running, days: float) -> dict[str, str]:
    end = fake.clock.now()
    return {"start_update": beijing(end - timedelta(days=days)), "end_update": beijing(end)}


async def test_trades_sold_get_pages_a_window_by_update_time(fake: Running, client: YouzanTestClient) -> None:
    query = window(fake, 5)
    tids: list[str] = []
    updates: list[str] = []
    total = None
    page_no = 1
    while True:
        status, body = await client.call(
            "youzan.trades.sold.get", "4.0.4", {**query, "page_no": page_no, "page_size": 40}
        )
        assert status == 200 and body["success"] is True and body["code"] == 200, body
        data = body["data"]
        total = data["total_results"] if total is None else total
        assert data["total_results"] == total
        for entry in data["full_order_info_list"]:
            info = entry["full_order_info"]["order_info"]
            tids.append(info["tid"])
            updates.append(info["update_time"])
        if page_no * 40 >= total:
            break
        page_no += 1
    start = datetime.strptime(query["start_update"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    end = datetime.strptime(query["end_update"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    expected = fake.world.orders_modified(start, end + timedelta(seconds=1))  # both ends inclusive
    assert total == len(expected) > 40
    assert tids == [f"E{order.order_id}" for order in expected]
    assert updates == sorted(updates)  # by update time, ascending


async def test_order_fields_are_yuan_strings_and_beijing_time(fake: Running, client: YouzanTestClient) -> None:
    _, body = await client.call("youzan.trades.sold.get", "4.0.4", {**window(fake, 12), "page_size": 100})
    entries = body["data"]["full_order_info_list"]
    assert entries
    for entry in entries:
        info = entry["full_order_info"]
        order_info, pay = info["order_info"], info["pay_info"]
        assert order_info["status"] in ORDER_STATUSES and order_info["tid"].startswith("E")
        assert LOCAL_TIME.match(order_info["created"]) and LOCAL_TIME.match(order_info["update_time"])
        assert order_info["refund_state"] in (0, 1, 2, 11, 12)
        for key in ("total_fee", "post_fee", "payment"):
            assert isinstance(pay[key], str) and YUAN.match(pay[key]), (key, pay[key])
        lines = info["orders"]
        assert all(YUAN.match(line["payment"]) and YUAN.match(line["price"]) for line in lines)
        # Σ orders.payment = pay_info.payment (the post fee is spread over the lines)
        assert sum(Decimal(line["payment"]) for line in lines) == Decimal(pay["payment"])
        world_order = fake.world.order(order_info["tid"][1:])
        assert world_order is not None
        assert Decimal(pay["payment"]) * 100 == world_order.paid_fen
        assert isinstance(info["buyer_info"]["yz_open_id"], str)
        assert world_order.buyer_id not in json.dumps(info)  # only the open id leaves the fake


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({"page_size": 101}, 5000, "每页最多显示100条数据"),
        ({"page_no": 101}, 5000, "查询页数超过100"),
        (
            {"start_update": "2024-06-10 00:00:00", "end_update": "2024-06-01 00:00:00"},
            5000,
            "开始时间不能大于结束时间",
        ),
        ({"start_update": "2024-01-01 00:00:00", "end_update": "2024-06-01 00:00:00"}, 5000, "时间跨度不能超过92天"),
    ],
)
async def test_sold_get_refusals(client: YouzanTestClient, params: dict[str, Any], code: int, message: str) -> None:
    _, body = await client.call("youzan.trades.sold.get", "4.0.4", params)
    assert body["success"] is False and body["code"] == code and body["message"] == message
    assert body["data"] is None and body["trace_id"]


async def test_date_without_time_is_a_5001(client: YouzanTestClient) -> None:
    _, body = await client.call(
        "youzan.trades.sold.get", "4.0.4", {"start_created": "2024-06-01", "end_created": "2024-06-02 00:00:00"}
    )
    assert gateway_error(body) == 5001


async def test_trade_get_detail_and_not_found(fake: Running, client: YouzanTestClient) -> None:
    refunded = next(
        order
        for order in fake.world.orders_created(FROZEN - timedelta(days=12), FROZEN)
        if order.refunds and order.shipped_at is not None
    )
    _, body = await client.call("youzan.trade.get", "4.0.2", {"tid": f"E{refunded.order_id}"})
    data = body["data"]
    assert data["full_order_info"]["order_info"]["tid"] == f"E{refunded.order_id}"
    refund = refunded.refunds[0]
    assert data["refund_order"][0]["refund_id"] == refund.refund_id
    assert data["refund_order"][0]["oids"] == [refund.line_id]
    assert Decimal(data["refund_order"][0]["refund_fee"]) * 100 == refund.amount_fen
    assert data["delivery_order"][0]["express_state"] == 1
    _, missing = await client.call("youzan.trade.get", "4.0.2", {"tid": "E20000000000000000000000"})
    assert missing["success"] is False and missing["code"] == 5000 and missing["message"] == "trade not found"


# -- refunds, items, stock, bills -------------------------------------------------------------------------


async def test_refund_search_uses_epoch_seconds_and_depth_limit(fake: Running, client: YouzanTestClient) -> None:
    end = fake.clock.now()
    start = end - timedelta(days=12)
    params = {"update_time_start": int(start.timestamp()), "update_time_end": int(end.timestamp())}
    _, body = await client.call("youzan.trade.refund.search", "3.0.1", {**params, "page_size": 100})
    refunds = body["data"]["refunds"]
    expected = fake.world.refunds_modified(start, end + timedelta(seconds=1))
    assert body["data"]["total"] == len(expected) and len(refunds) == len(expected) > 0
    assert [r["refund_id"] for r in refunds] == [r.refund_id for r in expected]
    for rendered, canonical in zip(refunds, expected, strict=True):
        assert Decimal(rendered["refund_fee"]) * 100 == canonical.amount_fen
        assert rendered["tid"] == f"E{canonical.order_id}" and LOCAL_TIME.match(rendered["modified"])
    _, deep = await client.call("youzan.trade.refund.search", "3.0.1", {**params, "page_no": 31, "page_size": 100})
    assert deep["code"] == 5000 and deep["message"] == "超过ES搜索最大深度"
    _, detail = await client.call("youzan.trade.refund.get", "3.0.1", {"refund_id": expected[0].refund_id})
    assert detail["data"]["refund_id"] == expected[0].refund_id
    _, gone = await client.call("youzan.trade.refund.get", "3.0.1", {"refund_id": "1"})
    assert gone["code"] == 103011024


async def test_items_are_in_fen_and_stock_updates(fake: Running, client: YouzanTestClient) -> None:
    _, onsale = await client.call("youzan.items.onsale.get", "3.0.0", {"page_no": 1, "page_size": 100})
    _, inventory = await client.call("youzan.items.inventory.get", "3.0.0", {"page_no": 1, "page_size": 100})
    world = fake.world.products()
    assert onsale["data"]["count"] + inventory["data"]["count"] == len(world)
    item = next(item for item in world if item.on_sale and len(item.skus) > 1)
    _, detail = await client.call("youzan.item.get", "3.0.0", {"item_id": int(item.item_id)})
    rendered = detail["data"]["item"]
    assert rendered["price"] == item.price_fen and isinstance(rendered["price"], int)
    assert [sku["item_no"] for sku in rendered["skus"]] == [sku.sku_code for sku in item.skus]
    sku = item.skus[0]
    _, update = await client.call(
        "youzan.item.quantity.update",
        "3.0.0",
        {"item_id": int(item.item_id), "sku_id": int(sku.sku_id), "quantity": 7, "type": 0},
    )
    assert update["data"] == {"is_success": True}
    current = fake.world.item(item.item_id)
    assert current is not None and current.skus[0].stock == 7
    _, wrong = await client.call(
        "youzan.item.quantity.update", "3.0.0", {"item_id": int(item.item_id), "sku_id": 1, "quantity": 7}
    )
    assert wrong["code"] == 123004002
    _, no_item = await client.call("youzan.item.get", "3.0.0", {"item_id": 1})
    assert no_item["code"] == 122001001


async def test_settlement_bills_sign_and_window(fake: Running, client: YouzanTestClient) -> None:
    end = fake.clock.now()
    query = {"start_time": beijing(end - timedelta(days=10)), "end_time": beijing(end), "page_size": 100}
    _, body = await client.call("youzan.trade.settlement.bill.search", "1.0.0", query)
    bills = body["data"]["bills"]
    assert bills and all(YUAN.match(bill["amount"]) for bill in bills)
    assert any(bill["amount"].startswith("-") for bill in bills)  # fees take from the payout
    too_wide = {**query, "start_time": beijing(end - timedelta(days=40))}
    _, refused = await client.call("youzan.trade.settlement.bill.search", "1.0.0", too_wide)
    assert refused["code"] == 5000 and refused["message"] == "时间跨度不能超过31天"
