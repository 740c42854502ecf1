"""The fake TOP gateway against the independent test client (tests/connectors/clients).

The client shares no code with ``connectors/``: what it signs correctly the fake must accept,
what it gets wrong (signature, timestamp, app key, session) the fake must refuse with TOP's own
codes; the data must be the world's, in TOP's shapes, paging, limits and units.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from bangfu.enums import RefundStatus, SettlementKind
from connectors.fakes.clock import FakeClock
from connectors.fakes.faults import FaultProfile
from connectors.fakes.server import Running, fake_server
from tests.connectors.clients.taobao_client import TopTestClient, gmt8_text, top_sign

FROZEN_AT = datetime(2024, 6, 15, 4, 0, tzinfo=UTC)
INCREMENT = "taobao.trades.sold.increment.get"
TRADE_FIELDS = "tid,tid_str,status,created,modified,pay_time,payment,post_fee,total_fee,orders"


@pytest.fixture
async def fake() -> AsyncIterator[Running]:
    async with fake_server("taobao", seed=5, orders=400, days=7, clock=FakeClock(frozen_at=FROZEN_AT)) as running:
        yield running


def client(fake: Running, http: aiohttp.ClientSession, **options: Any) -> TopTestClient:
    creds = fake.credentials
    settings: dict[str, Any] = {
        "base_url": fake.base_url,
        "app_key": creds.app_key,
        "secret": creds.app_secret,
        "http": http,
        "session_key": creds.access_token,
        "clock": fake.clock.now,
    }
    settings.update(options)
    return TopTestClient(**settings)


def window(fake: Running, hours_back: float, hours: float = 24) -> dict[str, str]:
    now = fake.clock.now()
    start = now - timedelta(hours=hours_back)
    return {"start_modified": gmt8_text(start), "end_modified": gmt8_text(start + timedelta(hours=hours))}


def error(answer: dict[str, Any]) -> dict[str, Any]:
    assert "error_response" in answer, answer
    err: dict[str, Any] = answer["error_response"]
    assert isinstance(err["code"], int) and err["msg"] and err["request_id"]
    return err


# -- signing, timestamp, app key and session --------------------------------------------------


def test_independent_signer_reproduces_the_official_vector() -> None:
    params = {
        "method": "taobao.item.seller.get", "app_key": "12345678", "session": "test",
        "timestamp": "2016-01-01 12:00:00", "format": "json", "v": "2.0", "sign_method": "md5",
        "fields": "num_iid,title,nick,price,num", "num_iid": "11223344",
    }  # fmt: skip
    assert top_sign("helloworld", params, "md5") == "66987CB115214E59E6EC978214934FB8"
    assert top_sign("helloworld", {**params, "sign_method": "hmac"}, "hmac") == "D56D7858309C31B6251083A874D48273"


@pytest.mark.parametrize("sign_method", ["md5", "hmac", "hmac-sha256"])
@pytest.mark.parametrize("epoch_ms", [False, True])
@pytest.mark.parametrize("split", [False, True])
async def test_correctly_signed_requests_are_accepted(
    fake: Running, session: aiohttp.ClientSession, sign_method: str, epoch_ms: bool, split: bool
) -> None:
    top = client(fake, session, sign_method=sign_method, epoch_ms_timestamp=epoch_ms, split_query_body=split)
    answer = await top.call(INCREMENT, {"fields": "tid,modified", **window(fake, 24), "page_size": 5})
    body = top.payload(answer, INCREMENT)
    assert body["total_results"] > 0 and len(top.nested(body, "trades", "trade")) == 5


async def test_non_ascii_business_params_are_signed_as_utf8(fake: Running, session: aiohttp.ClientSession) -> None:
    top = client(fake, session, sign_method="hmac-sha256")
    answer = await top.call("taobao.items.onsale.get", {"fields": "num_iid,title", "q": "牦牛肉 干"})
    assert "items_onsale_get_response" in answer


@pytest.mark.parametrize(
    ("change", "code", "sub_code"),
    [
        ({"tamper_sign": True}, 25, None),
        ({"sign_method_sent": "sha1"}, 25, None),
        ({"skew": timedelta(minutes=11)}, 31, None),
        ({"skew": timedelta(minutes=-11)}, 31, None),
        ({"timestamp": "2024/06/15 12:00"}, 31, None),
        ({"app_key": "fake-unknown-app"}, 29, None),
        ({"app_key": ""}, 28, None),
        ({"session_key": "fake-wrong-session"}, 27, "invalid-sessionkey"),
        ({"session_key": None}, 26, None),
    ],
)
async def test_bad_requests_get_top_error_codes(
    fake: Running, session: aiohttp.ClientSession, change: dict[str, Any], code: int, sub_code: str | None
) -> None:
    options = {k: v for k, v in change.items() if k in ("app_key", "session_key")}
    top = client(fake, session, **options)
    skew = change.get("skew", timedelta(0))
    system, business = top.build(
        INCREMENT, {"fields": "tid", **window(fake, 24)}, now=fake.clock.now() + skew, timestamp=change.get("timestamp")
    )
    if change.get("tamper_sign"):
        system["sign"] = ("0" if system["sign"][0] != "0" else "1") + system["sign"][1:]
    if "sign_method_sent" in change:
        system["sign_method"] = change["sign_method_sent"]
    err = error(await top.send(system, business))
    assert err["code"] == code, err
    if sub_code is not None:
        assert err["sub_code"] == sub_code


async def test_timestamp_within_ten_minutes_is_accepted(fake: Running, session: aiohttp.ClientSession) -> None:
    top = client(fake, session)
    for skew in (timedelta(minutes=9, seconds=30), timedelta(minutes=-9, seconds=-30)):
        answer = await top.call(INCREMENT, {"fields": "tid", **window(fake, 24)}, now=fake.clock.now() + skew)
        assert INCREMENT.removeprefix("taobao.").replace(".", "_") + "_response" in answer


async def test_expired_session_and_wrong_secret(fake: Running, session: aiohttp.ClientSession) -> None:
    assert (
        error(await client(fake, session, secret="fake-other-secret").call(INCREMENT, {"fields": "tid"}))["code"] == 25
    )
    fake.fake.tokens.expire_all()
    err = error(await client(fake, session).call(INCREMENT, {"fields": "tid", **window(fake, 24)}))
    assert (err["code"], err["sub_code"]) == (27, "session-expired")


async def test_unknown_or_missing_method(fake: Running, session: aiohttp.ClientSession) -> None:
    top = client(fake, session)
    assert error(await top.call("taobao.no.such.api", {}))["code"] == 22
    system, business = top.build(INCREMENT, {"fields": "tid"})
    del system["method"]
    assert error(await top.send(system, business))["code"] == 21


# -- trades ------------------------------------------------------------------------------------


async def test_increment_is_sorted_desc_and_pages_cover_the_window(
    fake: Running, session: aiohttp.ClientSession
) -> None:
    top = client(fake, session)
    params = {"fields": TRADE_FIELDS, **window(fake, 24), "page_size": 7}
    first = top.payload(await top.call(INCREMENT, {**params, "page_no": 1}), INCREMENT)
    total = first["total_results"]
    pages = -(-total // 7)
    assert pages >= 2 and first["has_next"] is True
    seen: list[dict[str, Any]] = []
    for page_no in range(1, pages + 1):
        body = top.payload(await top.call(INCREMENT, {**params, "page_no": page_no}), INCREMENT)
        assert body["has_next"] is (page_no < pages)
        seen.extend(top.nested(body, "trades", "trade"))
    assert len(seen) == total == len({t["tid"] for t in seen})
    stamps = [t["modified"] for t in seen]
    assert stamps == sorted(stamps, reverse=True)
    now = fake.clock.now()
    world = fake.world.orders_modified(now - timedelta(hours=24), now + timedelta(seconds=1))
    assert {t["tid_str"] for t in seen} == {o.order_id for o in world}
    past = top.payload(await top.call(INCREMENT, {**params, "page_no": pages + 1}), INCREMENT)
    assert past["trades"] == {} and past["has_next"] is False


async def test_trade_shape_and_money(fake: Running, session: aiohttp.ClientSession) -> None:
    top = client(fake, session)
    body = top.payload(
        await top.call(INCREMENT, {"fields": TRADE_FIELDS, **window(fake, 24), "page_size": 40}), INCREMENT
    )
    trades = top.nested(body, "trades", "trade")
    assert trades
    for trade in trades:
        assert set(trade) <= set(TRADE_FIELDS.split(","))  # only the requested fields
        order = fake.world.order(trade["tid_str"])
        assert order is not None
        for key in ("payment", "post_fee", "total_fee"):
            assert isinstance(trade[key], str) and Decimal(trade[key]).as_tuple().exponent == -2
        assert Decimal(trade["payment"]) * 100 == order.paid_fen
        datetime.strptime(trade["created"], "%Y-%m-%d %H:%M:%S")
        subs = trade["orders"]["order"]
        assert len(subs) == len(order.lines)
        assert sum(Decimal(s["payment"]) for s in subs) + Decimal(trade["post_fee"]) == Decimal(trade["payment"])
        assert all(isinstance(s["oid"], int) and s["oid_str"] == str(s["oid"]) for s in subs)


async def test_use_has_next_omits_the_count_and_empty_windows(fake: Running, session: aiohttp.ClientSession) -> None:
    top = client(fake, session)
    body = top.payload(
        await top.call(INCREMENT, {"fields": "tid", **window(fake, 24), "use_has_next": "true", "page_size": 5}),
        INCREMENT,
    )
    assert "total_results" not in body and body["has_next"] is True
    future = {
        "start_modified": gmt8_text(fake.clock.now() + timedelta(hours=1)),
        "end_modified": gmt8_text(fake.clock.now() + timedelta(hours=2)),
    }
    empty = top.payload(await top.call(INCREMENT, {"fields": "tid", **future}), INCREMENT)
    assert empty["total_results"] == 0 and "trades" not in empty


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"fields": "tid", "start_modified": "2024-06-14 10:00:00", "end_modified": "2024-06-15 10:00:01"}, 41),
        ({"fields": "tid", "start_modified": "2024-06-15 10:00:00", "end_modified": "2024-06-15 09:00:00"}, 41),
        ({"fields": "tid", "start_modified": "2024-06-15", "end_modified": "2024-06-15 09:00:00"}, 41),
        ({"fields": "tid", "start_modified": "2024-06-15 10:00:00"}, 40),
        ({"start_modified": "2024-06-15 10:00:00", "end_modified": "2024-06-15 11:00:00"}, 40),
        ({"fields": "tid", "start_modified": "2024-06-15 10:00:00", "end_modified": "2024-06-15 11:00:00",
          "page_size": "101"}, 41),
        ({"fields": "tid", "start_modified": "2024-02-01 10:00:00", "end_modified": "2024-02-01 11:00:00"}, 41),
    ],
)  # fmt: skip
async def test_increment_arguments_are_checked(
    fake: Running, session: aiohttp.ClientSession, params: dict[str, str], code: int
) -> None:
    assert error(await client(fake, session).call(INCREMENT, params))["code"] == code


async def test_exactly_one_day_is_allowed(fake: Running, session: aiohttp.ClientSession) -> None:
    params = {"fields": "tid", "start_modified": "2024-06-14 10:00:00", "end_modified": "2024-06-15 10:00:00"}
    answer = await client(fake, session).call(INCREMENT, params)
    assert "trades_sold_increment_get_response" in answer


async def test_fullinfo(fake: Running, session: aiohttp.ClientSession) -> None:
    top = client(fake, session)
    order = fake.world.orders_created(FROZEN_AT - timedelta(days=3), FROZEN_AT)[0]
    body = top.payload(await top.call("taobao.trade.fullinfo.get", {"fields": TRADE_FIELDS, "tid": order.order_id}),
                       "taobao.trade.fullinfo.get")  # fmt: skip
    assert body["trade"]["tid_str"] == order.order_id
    assert Decimal(body["trade"]["payment"]) * 100 == order.paid_fen
    err = error(await top.call("taobao.trade.fullinfo.get", {"fields": "tid", "tid": "1"}))
    assert (err["code"], err["sub_code"]) == (15, "isv.trade-not-exist")


# -- refunds, items, stock, bills ------------------------------------------------------------


async def test_refunds_receive_and_refund_get(fake: Running, session: aiohttp.ClientSession) -> None:
    top = client(fake, session)
    method = "taobao.refunds.receive.get"
    fields = "refund_id,tid,oid,refund_fee,status,modified,has_good_return"
    body = top.payload(
        await top.call(method, {"fields": fields, "start_modified": "2024-06-08 12:00:00",
                                "end_modified": "2024-06-15 12:00:00", "page_size": 100}),
        method,
    )  # fmt: skip
    refunds = top.nested(body, "refunds", "refund")
    assert refunds and body["total_results"] == len(refunds)
    for raw in refunds:
        canonical = fake.world.refund(raw["refund_id"])
        assert canonical is not None and raw["tid"] == int(canonical.order_id)
        assert Decimal(raw["refund_fee"]) * 100 == canonical.amount_fen
        assert (raw["status"] == "SUCCESS") == (canonical.status is RefundStatus.SUCCEEDED)
    one = top.payload(await top.call("taobao.refund.get", {"fields": fields, "refund_id": refunds[0]["refund_id"]}),
                      "taobao.refund.get")  # fmt: skip
    assert one["refund"]["refund_id"] == refunds[0]["refund_id"]


async def test_items_with_skus(fake: Running, session: aiohttp.ClientSession) -> None:
    top = client(fake, session)
    items: list[dict[str, Any]] = []
    for method in ("taobao.items.onsale.get", "taobao.items.inventory.get"):
        body = top.payload(await top.call(method, {"fields": "num_iid,title,num,price,approve_status,sku",
                                                   "page_size": 200}), method)  # fmt: skip
        items.extend(top.nested(body, "items", "item"))
    world = {item.item_id: item for item in fake.world.products()}
    assert {str(i["num_iid"]) for i in items} == set(world)
    for raw in items:
        item = world[str(raw["num_iid"])]
        assert raw["approve_status"] == ("onsale" if item.on_sale else "instock")
        skus = raw["skus"]["sku"]
        assert {str(s["sku_id"]) for s in skus} == {s.sku_id for s in item.skus}
        assert raw["num"] == sum(s["quantity"] for s in skus)
    assert error(await top.call("taobao.items.onsale.get", {"fields": "num_iid", "page_size": "201"}))["code"] == 41


async def test_quantity_update_full_and_incremental(fake: Running, session: aiohttp.ClientSession) -> None:
    top = client(fake, session)
    method = "taobao.item.quantity.update"
    item = next(i for i in fake.world.products() if len(i.skus) > 1)
    sku = item.skus[0]
    body = top.payload(await top.call(method, {"num_iid": item.item_id, "sku_id": sku.sku_id, "quantity": 40}), method)
    assert body["item"]["skus"]["sku"][0]["quantity"] == 40
    body = top.payload(
        await top.call(method, {"num_iid": item.item_id, "sku_id": sku.sku_id, "quantity": -15, "type": 2}), method
    )
    assert body["item"]["skus"]["sku"][0]["quantity"] == 25
    err = error(await top.call(method, {"num_iid": item.item_id, "sku_id": sku.sku_id, "quantity": -26, "type": 2}))
    assert err["code"] == 15 and err["sub_code"].startswith("isv.")
    by_outer = await top.call(method, {"num_iid": item.item_id, "outer_id": sku.sku_code, "quantity": 7})
    assert top.payload(by_outer, method)["item"]["skus"]["sku"][0]["quantity"] == 7
    fresh = fake.world.item(item.item_id)
    assert fresh is not None and fresh.skus[0].stock == 7
    assert error(await top.call(method, {"num_iid": item.item_id, "quantity": 1}))["code"] == 40  # sku needed
    assert error(await top.call(method, {"num_iid": "1", "quantity": 1}))["code"] == 15


async def test_bills_in_fen_within_one_day(fake: Running, session: aiohttp.ClientSession) -> None:
    top = client(fake, session)
    method = "taobao.bill.bills.get"
    start, end = FROZEN_AT - timedelta(days=2), FROZEN_AT - timedelta(days=1)
    params = {"fields": "bid,account_id,trade_id,order_id,amount,pay_time",
              "start_time": gmt8_text(start), "end_time": gmt8_text(end), "page_size": 100}  # fmt: skip
    body = top.payload(await top.call(method, params), method)
    bills = top.nested(body, "bills", "bill")
    world = fake.world.settlements(start, end + timedelta(seconds=1))
    assert bills and len(bills) == len(world) == body["total_results"]
    assert all(isinstance(b["amount"], int) for b in bills)
    assert all(set(b) <= set(str(params["fields"]).split(",")) for b in bills)  # only the fields asked
    assert sum(b["amount"] for b in bills) == sum(line.amount_fen for line in world)
    kinds = {line.bill_id: line.kind for line in world}
    assert all((b["account_id"] == 1001) == (kinds[str(b["bid"])] is SettlementKind.SALE) for b in bills)
    wide = {**params, "start_time": gmt8_text(start - timedelta(days=1))}
    assert error(await top.call(method, wide))["code"] == 41
    trade_id = bills[0]["trade_id"]
    by_trade = top.payload(await top.call(method, {**wide, "trade_id": trade_id}), method)
    assert {b["trade_id"] for b in top.nested(by_trade, "bills", "bill")} == {trade_id}


READ_APIS = {
    INCREMENT: {"start_modified": "2024-06-14 10:00:00", "end_modified": "2024-06-14 11:00:00"},
    "taobao.trades.sold.get": {},
    "taobao.trade.fullinfo.get": {"tid": "1"},
    "taobao.refunds.receive.get": {},
    "taobao.refund.get": {"refund_id": "1"},
    "taobao.items.onsale.get": {},
    "taobao.items.inventory.get": {},
    "taobao.bill.bills.get": {"start_time": "2024-06-14 10:00:00", "end_time": "2024-06-14 11:00:00"},
    "taobao.bill.bill.get": {"bid": "1"},
}


@pytest.mark.parametrize("fields", [None, "", " , "], ids=["missing", "empty", "blank"])
@pytest.mark.parametrize("method", READ_APIS)
async def test_every_read_api_requires_fields(
    fake: Running, session: aiohttp.ClientSession, method: str, fields: str | None
) -> None:
    """``fields`` is 必须 for each of them (the official SDKs' request checks say the same)."""
    params = dict(READ_APIS[method]) if fields is None else {**READ_APIS[method], "fields": fields}
    err = error(await client(fake, session).call(method, params))
    assert (err["code"], err["sub_code"]) == (40, "isv.missing-parameter:fields")


# -- faults ---------------------------------------------------------------------------------------


async def test_rate_limit_answer_has_code_7_and_the_ban_hint(fake: Running, session: aiohttp.ClientSession) -> None:
    fake.fake.faults.profile = FaultProfile(rate_limit=1.0, max_consecutive=10)
    err = error(await client(fake, session).call(INCREMENT, {"fields": "tid", **window(fake, 24)}))
    assert err["code"] == 7 and err["msg"] == "App Call Limited"
    assert err["sub_code"].startswith("accesscontrol.limited-by-")
    assert err["sub_msg"] == "This ban will last for 1 more seconds"


async def test_server_errors_are_isp_codes_or_gateway_pages(fake: Running, session: aiohttp.ClientSession) -> None:
    fake.fake.faults.profile = FaultProfile(server_error=1.0, max_consecutive=100)
    top = client(fake, session)
    seen: set[object] = set()
    for _ in range(12):
        system, business = top.build(INCREMENT, {"fields": "tid", **window(fake, 24)})
        async with session.post(f"{fake.base_url}/router/rest", data={**system, **business}) as resp:
            if resp.status == 200:
                err = error(await resp.json())
                assert err["sub_code"].startswith("isp.") and err["code"] in (15, 520)
                seen.add(err["code"])
            else:
                assert resp.status >= 500 and resp.content_type == "text/html"
                seen.add("html")
    assert "html" in seen and seen & {15, 520}


async def test_each_shop_has_its_own_session(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(frozen_at=FROZEN_AT)
    async with fake_server("taobao", seed=5, orders=50, days=2, shops=2, clock=clock) as fake:
        fields = fake.fake.credential_fields()
        (second_id,) = [shop_id for shop_id in fake.worlds if shop_id != fake.credentials.shop_id]
        top = client(fake, session, session_key=fields[f"session:{second_id}"])
        order = fake.worlds[second_id].orders_created(FROZEN_AT - timedelta(days=2), FROZEN_AT)[0]
        method = "taobao.trade.fullinfo.get"
        body = top.payload(await top.call(method, {"fields": "tid_str", "tid": order.order_id}), method)
        assert body["trade"]["tid_str"] == order.order_id
        first_shop = client(fake, session)  # shop 0's session does not see shop 1's orders
        assert error(await first_shop.call(method, {"fields": "tid", "tid": order.order_id}))["code"] == 15
