"""The fake JOS gateway against the independent test client (tests/connectors/clients/jd_client.py,
which shares no code with connectors/): signed requests are accepted, wrong signatures, stale
timestamps and bad tokens are refused with JOS's own codes, and the APIs answer in JOS's shapes.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest

from bangfu.enums import OrderStatus, RefundStatus
from connectors.fakes.clock import FakeClock
from connectors.fakes.faults import FaultProfile
from connectors.fakes.jd import FakeJd, parse_timestamp
from connectors.fakes.server import Running, fake_server


def _load_client() -> ModuleType:
    """Import the independent client by path (tests/connectors/clients is not a package)."""
    path = Path(__file__).resolve().parents[1] / "clients" / "jd_client.py"
    spec = importlib.util.spec_from_file_location("jd_test_client", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


jd_client = _load_client()
NOW = datetime(2024, 6, 1, 4, 0, tzinfo=UTC)  # 12:00 Beijing
SEARCH = "jingdong.pop.order.search"
DETAIL = "jingdong.pop.order.get"
#: the orderInfo fields these tests read (JD returns only the fields named in optional_fields)
FIELDS = (
    "orderId,orderState,orderStartTime,modified,paymentConfirmTime,orderPayment,freightPrice,"
    "sellerDiscount,itemInfoList"
)


def window(hours: float = 24, end: datetime = NOW) -> dict[str, str]:
    start = end - timedelta(hours=hours)
    return {
        "start_date": jd_client.plain_timestamp(start),
        "end_date": jd_client.plain_timestamp(end - timedelta(seconds=1)),
        "order_state": "WAIT_PAY,WAIT_SELLER_STOCK_OUT,WAIT_GOODS_RECEIVE_CONFIRM,FINISHED_L,TRADE_CANCELED,LOCKED",
        "optional_fields": FIELDS,
        "page": "1",
        "page_size": "100",
    }


def detail(order_id: str, fields: str = FIELDS) -> dict[str, str]:
    return {"order_id": order_id, "optional_fields": fields}


@pytest.fixture
async def jd() -> AsyncIterator[Running]:
    async with fake_server("jd", seed=21, orders=250, days=5, clock=FakeClock(frozen_at=NOW)) as running:
        yield running


@pytest.fixture
def client(jd: Running, session: aiohttp.ClientSession) -> Any:
    creds = jd.credentials
    return jd_client.JdTestClient(
        base_url=jd.base_url,
        app_key=creds.app_key,
        app_secret=creds.app_secret,
        access_token=creds.access_token,
        session=session,
        now=NOW,
    )


def result(body: dict[str, Any], method: str = SEARCH) -> dict[str, Any]:
    responce: dict[str, Any] = jd_client.responce(body, method)
    assert responce["code"] == "0"
    return responce


def fake_jd(running: Running) -> FakeJd:
    assert isinstance(running.fake, FakeJd)
    return running.fake


# ---------------------------------------------------------------------------- the gateway


async def test_signed_sdk_request_is_accepted(jd: Running, client: Any) -> None:
    body = await client.call(SEARCH, window())
    found = result(body)["searchorderinfo_result"]
    assert found["apiResult"]["success"] is True
    expected = jd.world.orders_modified(NOW - timedelta(hours=24), NOW)
    assert found["orderTotal"] == len(expected) > 0
    assert [o["orderId"] for o in found["orderInfoList"]] == [o.order_id for o in expected]
    assert client.last_params["timestamp"].endswith(".000+0800")


@pytest.mark.parametrize(
    "variant",
    [{"plain_ts": True}, {"in_body": True}],
    ids=["plain-timestamp", "form-body"],
)
async def test_other_accepted_forms(client: Any, variant: dict[str, Any]) -> None:
    body = await client.call(SEARCH, window(), **variant)
    assert result(body)["searchorderinfo_result"]["apiResult"]["success"] is True


async def test_wrapped_search_params_are_accepted(client: Any) -> None:
    body = await client.call(SEARCH, {"paramOrderJSFQuery": window(), "source_id": "bangfu"})
    assert result(body)["searchorderinfo_result"]["orderTotal"] > 0


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"sign": "0" * 32}, "12"),
        ({"secret": "wrong-secret-not-real"}, "12"),
        ({"drop": ("sign",)}, "11"),
        ({"timestamp": "2024-06-01 11:53:00"}, "8"),  # 7 minutes stale
        ({"timestamp": "2024-06-01 12:07:00.000+0800"}, "8"),  # 7 minutes ahead
        ({"timestamp": "yesterday"}, "8"),
        ({"drop": ("timestamp",)}, "7"),
        ({"access_token": "not-a-token"}, "19"),
        ({"access_token": ""}, "18"),
        ({"app_key": "unknown-app-key"}, "10"),
        ({"drop": ("app_key",)}, "9"),
        ({"drop": ("v",)}, "4"),
    ],
)
async def test_bad_requests_get_the_gateway_codes(client: Any, kwargs: dict[str, Any], code: str) -> None:
    body = await client.call(SEARCH, window(), **kwargs)
    assert jd_client.gateway_error(body) == code
    assert body["error_response"]["zh_desc"] and body["error_response"]["en_desc"]


async def test_lowercase_sign_is_refused(client: Any) -> None:
    params = client.system_params(SEARCH, window())
    body = await client.call(SEARCH, window(), sign=jd_client.jos_sign(client.app_secret, params).lower())
    assert jd_client.gateway_error(body) == "12"


async def test_timestamp_within_six_minutes_is_accepted(client: Any) -> None:
    body = await client.call(SEARCH, window(), timestamp="2024-06-01 11:54:30")
    assert jd_client.gateway_error(body) is None


async def test_method_and_version_errors(client: Any) -> None:
    assert jd_client.gateway_error(await client.call("jingdong.no.such.api", {})) == "15"
    assert jd_client.gateway_error(await client.call("", {})) == "14"
    params = client.system_params(SEARCH, window())
    params["v"] = "1.0"
    params["sign"] = jd_client.jos_sign(client.app_secret, params)
    async with client.session.post(client.base_url + "/routerjson", params=params) as response:
        assert jd_client.gateway_error(json.loads(await response.text())) == "5"


async def test_expired_token_is_refused(jd: Running, client: Any, session: aiohttp.ClientSession) -> None:
    async with session.post(jd.base_url + "/_fake/tokens/expire") as response:
        assert response.status == 200
    assert jd_client.gateway_error(await client.call(SEARCH, window())) == "19"


async def test_rate_limit_answer(jd: Running, client: Any) -> None:
    jd.fake.faults.profile = FaultProfile(rate_limit=1.0)
    body = await client.call(SEARCH, window())
    assert body["error_response"]["code"] == "2"
    assert body["error_response"]["en_desc"] == "App Call Limited"
    fake_jd(jd).ban_hint_seconds = 3
    body = await client.call(SEARCH, window())
    assert "3秒后重试" in body["error_response"]["zh_desc"]


def test_timestamp_formats() -> None:
    sdk = parse_timestamp("2021-05-07 09:20:39.683+0800")
    assert sdk == datetime(2021, 5, 7, 1, 20, 39, 683000, tzinfo=UTC)
    assert parse_timestamp("2021-05-07 09:20:39") == datetime(2021, 5, 7, 1, 20, 39, tzinfo=UTC)
    assert parse_timestamp("2021-05-07T09:20:39") is None


# ---------------------------------------------------------------------------- orders


async def test_paging_window_limits_and_order_shape(jd: Running, client: Any) -> None:
    query = window(hours=24 * 5)
    query["page_size"] = "40"
    seen: list[str] = []
    total = None
    page = 1
    while True:
        found = result(await client.call(SEARCH, {**query, "page": str(page)}))["searchorderinfo_result"]
        total = found["orderTotal"] if total is None else total
        assert found["orderTotal"] == total
        seen.extend(o["orderId"] for o in found["orderInfoList"])
        if page * 40 >= total:
            break
        page += 1
    expected = jd.world.orders_modified(NOW - timedelta(days=5), NOW)
    assert seen == [o.order_id for o in expected]  # modified ascending by default
    assert len(seen) == total > 40
    desc = result(await client.call(SEARCH, {**query, "sortType": "1"}))["searchorderinfo_result"]
    assert desc["orderInfoList"][0]["orderId"] == expected[-1].order_id
    # too wide, too big a page, older than the 3-month modified look-back
    wide = result(await client.call(SEARCH, window(hours=24 * 32)))["searchorderinfo_result"]
    assert wide["apiResult"] == {
        "success": False,
        "englishErrCode": "failure",
        "chineseErrCode": wide["apiResult"]["chineseErrCode"],
        "numberCode": 10100041,
    }
    big = result(await client.call(SEARCH, {**query, "page_size": "101"}))["searchorderinfo_result"]
    assert big["apiResult"]["numberCode"] == 10100021
    old = result(await client.call(SEARCH, window(end=NOW - timedelta(days=100))))["searchorderinfo_result"]
    assert old["apiResult"]["numberCode"] == 10100042
    created = result(await client.call(SEARCH, {**window(end=NOW - timedelta(days=100)), "dateType": "1"}))[
        "searchorderinfo_result"
    ]
    assert created["apiResult"]["success"] is True


async def test_order_fields_and_detail(jd: Running, client: Any) -> None:
    orders = jd.world.orders_created(NOW - timedelta(days=5), NOW)
    paid = max(orders, key=lambda o: (o.status is OrderStatus.SHIPPED, o.post_fee_fen > 0, o.discount_fen))
    assert paid.status is OrderStatus.SHIPPED and paid.post_fee_fen
    body = await client.call(DETAIL, detail(paid.order_id))
    info = result(body, DETAIL)["orderDetailInfo"]["orderInfo"]
    assert info["orderState"] == "WAIT_GOODS_RECEIVE_CONFIRM"
    assert info["sellerDiscount"] == f"{paid.discount_fen // 100}.{paid.discount_fen % 100:02d}"
    assert info["orderPayment"] == f"{paid.paid_fen // 100}.{paid.paid_fen % 100:02d}"
    assert info["freightPrice"] == f"{paid.post_fee_fen // 100}.{paid.post_fee_fen % 100:02d}"
    assert info["orderStartTime"] == jd_client.plain_timestamp(paid.created_at)
    assert len(info["itemInfoList"]) == len(paid.lines)
    assert info["itemInfoList"][0]["itemTotal"] == str(paid.lines[0].quantity)
    unpaid = next((o for o in orders if not o.is_paid), None)
    if unpaid is not None:
        got = await client.call(DETAIL, detail(unpaid.order_id))
        unpaid_info = result(got, DETAIL)["orderDetailInfo"]["orderInfo"]
        assert unpaid_info["paymentConfirmTime"] == "0001-01-01 00:00:00"
        assert unpaid_info["orderState"] in ("WAIT_PAY", "TRADE_CANCELED")
    missing = await client.call(DETAIL, detail("1"))
    api = result(missing, DETAIL)["orderDetailInfo"]["apiResult"]
    assert api["success"] is False and api["numberCode"] == 10100051


@pytest.mark.parametrize("fields", [None, "", " , "], ids=["missing", "empty", "blank"])
async def test_optional_fields_is_required(jd: Running, client: Any, fields: str | None) -> None:
    """Search and detail refuse a missing or empty list ("必填，不填或者为空则请求被拒绝")."""
    query = window()
    order_id = jd.world.orders_created(NOW - timedelta(days=5), NOW)[0].order_id
    asked = detail(order_id)
    if fields is None:
        del query["optional_fields"], asked["optional_fields"]
    else:
        query["optional_fields"] = asked["optional_fields"] = fields
    found = result(await client.call(SEARCH, query))["searchorderinfo_result"]
    assert found["apiResult"]["success"] is False and found["apiResult"]["numberCode"] == 10100021
    assert "orderInfoList" not in found
    got = result(await client.call(DETAIL, asked), DETAIL)["orderDetailInfo"]
    assert got["apiResult"]["success"] is False and got["apiResult"]["numberCode"] == 10100021
    assert "orderInfo" not in got
    wrapped = {"paramOrderJSFQuery": query, "source_id": "bangfu"}
    boxed = result(await client.call(SEARCH, wrapped))["searchorderinfo_result"]
    assert boxed["apiResult"]["numberCode"] == 10100021


async def test_only_the_asked_fields_come_back(jd: Running, client: Any) -> None:
    found = result(await client.call(SEARCH, {**window(), "optional_fields": "orderId, modified,nosuchField"}))
    orders = found["searchorderinfo_result"]["orderInfoList"]
    assert orders and all(set(order) == {"orderId", "modified"} for order in orders)
    order_id = orders[0]["orderId"]
    info = result(await client.call(DETAIL, detail(order_id, "itemInfoList,orderPayment")), DETAIL)
    order = info["orderDetailInfo"]["orderInfo"]
    assert set(order) == {"itemInfoList", "orderPayment"}
    assert order["itemInfoList"] and "skuId" in order["itemInfoList"][0]  # nested lists come whole


@pytest.mark.parametrize(("value", "like"), [("2", "0"), (7, "0"), ("-1", "0"), ("", "0"), (1, "1"), ("1", "1")])
async def test_other_date_type_numbers_act_like_zero(client: Any, value: Any, like: str) -> None:
    """Any number but 1 searches by modification time, like 0 ("其它数字同0")."""
    query = window(hours=24 * 5)

    async def ids(date_type: Any) -> list[str]:
        found = result(await client.call(SEARCH, {**query, "dateType": date_type}))["searchorderinfo_result"]
        assert found["apiResult"]["success"] is True
        return [order["orderId"] for order in found["orderInfoList"]]

    assert await ids(value) == await ids(like)
    assert await ids("0") != await ids("1")  # the two searches do differ on this window


@pytest.mark.parametrize("value", ["x", "1.5", True, "一"])
async def test_date_type_that_is_not_a_number_is_refused(client: Any, value: Any) -> None:
    found = result(await client.call(SEARCH, {**window(), "dateType": value}))["searchorderinfo_result"]
    assert found["apiResult"]["success"] is False and found["apiResult"]["numberCode"] == 10100021


# ---------------------------------------------------------------------------- the other APIs


async def test_after_sales(jd: Running, client: Any) -> None:
    start = NOW - timedelta(days=5)
    refunds = jd.world.refunds_modified(start, NOW)
    assert refunds
    query = {
        "buId": jd.credentials.shop_id,
        "operatePin": "tester",
        "operateNick": "tester",
        "updateTimeBegin": jd_client.plain_timestamp(start),
        "updateTimeEnd": jd_client.plain_timestamp(NOW - timedelta(seconds=1)),
        "pageNumber": "1",
        "pageSize": "100",
    }
    page = result(await client.call("jingdong.asc.query.list", query), "jingdong.asc.query.list")["pageResult"]
    assert page["totalCount"] == len(refunds)
    first = page["data"][0]
    assert str(first["serviceId"]) == refunds[0].refund_id
    assert first["refundAmount"] == f"{refunds[0].amount_fen // 100}.{refunds[0].amount_fen % 100:02d}"
    assert isinstance(first["applyTime"], int) and isinstance(first["updateDate"], int)
    succeeded = [r for r in refunds if r.status is RefundStatus.SUCCEEDED]
    assert sum(1 for row in page["data"] if row["serviceStatus"] == 10010) == len(succeeded)
    view = await client.call("jingdong.asc.query.view", {**query, "serviceId": str(first["serviceId"])})
    assert result(view, "jingdong.asc.query.view")["result"]["data"] == first
    wrong_bu = await client.call("jingdong.asc.query.list", {**query, "buId": "1"})
    assert result(wrong_bu, "jingdong.asc.query.list")["pageResult"]["success"] is False


async def test_wares_skus_and_stock(jd: Running, client: Any) -> None:
    items = jd.world.products()
    wares = result(
        await client.call("jingdong.ware.read.searchWare4Valid", {"pageNo": "1", "pageSize": "100"}),
        "jingdong.ware.read.searchWare4Valid",
    )["page"]
    assert wares["totalItem"] == len(items)
    assert [str(w["wareId"]) for w in wares["data"]] == [item.item_id for item in items]
    item = items[0]
    skus = result(
        await client.call("jingdong.sku.read.searchSkuList", {"wareId": item.item_id, "pageNo": "1"}),
        "jingdong.sku.read.searchSkuList",
    )["page"]["data"]
    assert [str(s["skuId"]) for s in skus] == [sku.sku_id for sku in item.skus]
    assert skus[0]["outerId"] == item.skus[0].sku_code
    updated = await client.call(
        "jingdong.stock.write.updateSkuStock", {"skuId": item.skus[0].sku_id, "stockNum": "321"}
    )
    assert result(updated, "jingdong.stock.write.updateSkuStock")["success"] is True
    again = jd.world.item(item.item_id)
    assert again is not None and again.skus[0].stock == 321
    unknown = await client.call("jingdong.stock.write.updateSkuStock", {"skuId": "1", "stockNum": "1"})
    failed = result(unknown, "jingdong.stock.write.updateSkuStock")
    assert failed["success"] is False and failed["resultCode"] == "20100001"


async def test_settlement_bills_and_shop(jd: Running, client: Any) -> None:
    start = NOW - timedelta(days=5)
    query = {
        "startTime": jd_client.plain_timestamp(start),
        "endTime": jd_client.plain_timestamp(NOW - timedelta(seconds=1)),
        "pageNo": "1",
        "pageSize": "100",
    }
    bills = result(await client.call("jingdong.pop.bill.detail.query", query), "jingdong.pop.bill.detail.query")[
        "billResult"
    ]
    assert bills["totalCount"] == len(jd.world.settlements(start, NOW))
    for row in bills["billDetailList"]:
        assert isinstance(row["amount"], str) and row["amount"].count(".") == 1
    shop = result(await client.call("jingdong.vender.shop.query", {}), "jingdong.vender.shop.query")
    assert shop["shop_jos_result"]["vender_id"] == jd.credentials.shop_id


# ---------------------------------------------------------------------------- OAuth


async def test_code_exchange_and_refresh(jd: Running, client: Any) -> None:
    status, issued = await client.exchange_code(fake_jd(jd).auth_code)
    assert status == 200 and issued["access_token"] and issued["expires_in"] > 0
    status, reused = await client.exchange_code(fake_jd(jd).auth_code)
    assert reused == {"code": 402, "msg": reused["msg"]}
    client.access_token = issued["access_token"]
    assert jd_client.gateway_error(await client.call(SEARCH, window())) is None

    status, refreshed = await client.refresh(issued["refresh_token"])
    assert refreshed["access_token"] != issued["access_token"]
    assert jd_client.gateway_error(await client.call(SEARCH, window())) == "19"  # retired
    client.access_token = refreshed["access_token"]
    assert jd_client.gateway_error(await client.call(SEARCH, window())) is None
    _, again = await client.refresh(issued["refresh_token"])  # single use
    assert again["code"] == 403

    client.app_secret = "wrong-secret-not-real"
    _, denied = await client.refresh(refreshed["refresh_token"])
    assert denied["code"] == 401
