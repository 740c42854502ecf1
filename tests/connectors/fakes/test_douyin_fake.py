"""The Douyin fake against an independent client (tests/connectors/clients/douyin_client.py,
which shares no code with connectors/): the gateway accepts correctly signed calls in both sign
methods and both request styles, refuses wrong signatures, stale timestamps and bad tokens with
the platform's codes; tokens, paging, window rules, money in fen, live attribution, stock, the
settle bill cursor and live sessions render the world faithfully."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from bangfu.enums import RefundStatus
from connectors.fakes.clock import FakeClock
from connectors.fakes.server import Running, fake_server
from tests.connectors.clients.douyin_client import BEIJING, DouyinTestClient, beijing_text, dy_param_json, dy_sign

FROZEN = datetime(2024, 6, 15, 4, 0, tzinfo=UTC)
DAYS = 12


@pytest.fixture
async def fake() -> AsyncIterator[Running]:
    async with fake_server("douyin", seed=5, orders=360, days=DAYS, clock=FakeClock(frozen_at=FROZEN)) as running:
        yield running


def client_for(fake: Running, http: aiohttp.ClientSession, **overrides: Any) -> DouyinTestClient:
    creds = fake.credentials
    fields: dict[str, Any] = {
        "base_url": fake.base_url,
        "app_key": creds.app_key,
        "secret": creds.app_secret,
        "http": http,
        "access_token": creds.access_token,
        "refresh_token": creds.refresh_token,
        "now": fake.clock.now,
    }
    fields.update(overrides)
    return DouyinTestClient(**fields)


def now_s(fake: Running) -> int:
    return int(fake.clock.now().timestamp())


def window(fake: Running, days: float = DAYS + 1, **extra: Any) -> dict[str, Any]:
    end = now_s(fake)
    return {
        "update_time_start": end - int(days * 86400),
        "update_time_end": end,
        "order_by": "update_time",
        "page": 0,
        "size": 100,
        **extra,
    }


def assert_error(answer: dict[str, Any], code: int, sub_code: str) -> None:
    assert answer["code"] == code, answer
    assert answer["sub_code"] == sub_code, answer
    assert answer["err_no"] == code and answer["log_id"], answer
    assert "data" not in answer


# -- gateway: signing, timestamps, tokens -------------------------------------------------------


@pytest.mark.parametrize(("sign_method", "legacy"), [("hmac-sha256", False), ("md5", False), ("md5", True)])
async def test_correctly_signed_calls_are_accepted(
    fake: Running, session: aiohttp.ClientSession, sign_method: str, legacy: bool
) -> None:
    client = client_for(fake, session, sign_method=sign_method, legacy=legacy)
    status, answer = await client.call("order.searchList", window(fake))
    assert status == 200
    assert answer["code"] == 10000 and answer["msg"] == "success", answer
    assert answer["err_no"] == 0 and answer["message"] == "success"  # legacy envelope keys too
    assert answer["data"]["page"] == 0 and answer["data"]["total"] > 0
    assert isinstance(answer["data"]["shop_order_list"], list)


async def test_the_official_vector_algorithm_is_what_the_client_sends() -> None:
    # PLATFORMS.md §3.1 [C]: the client's own signer reproduces both vectors.
    pj = dy_param_json(
        {
            "order_by": "update_time",
            "page": 0,
            "size": 100,
            "update_time_end": 1700000000,
            "update_time_start": 1699990000,
        }
    )
    args = ("testsecret", "1234567890123456789", "order.searchList", pj, "1700000000")
    assert dy_sign(*args, "hmac-sha256") == "25c0f18e4c0a1bba0a5c05493615dc793453b35ef09e5e93e80ad5282d26d4b5"
    assert dy_sign(*args, "md5") == "27601e95e081743e35f9dcf81eada022"


async def test_wrong_signatures_are_refused(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    _, answer = await client.call("order.searchList", window(fake), sign="0" * 64)
    assert_error(answer, 40003, "isv.signature-invalid")
    wrong_secret = client_for(fake, session, secret="wrong-secret-not-real")
    _, answer = await wrong_secret.call("order.searchList", window(fake))
    assert_error(answer, 40003, "isv.signature-invalid")
    # The body is hashed as received: a param_json other than the signed one fails...
    signed = dy_param_json(window(fake))
    _, answer = await client.call("order.searchList", window(fake), body_override=signed.replace(",", ", "))
    assert_error(answer, 40003, "isv.signature-invalid")
    # ...while the same spaced text, signed as sent, passes (no re-serialisation).
    _, answer = await client.call("order.searchList", param_json=signed.replace(",", ", "))
    assert answer["code"] == 10000, answer
    # md5 declared, hmac computed: refused
    md5_client = client_for(fake, session, sign_method="md5")
    ts = str(now_s(fake))
    hmac_sign = dy_sign(
        fake.credentials.app_secret, fake.credentials.app_key, "order.searchList", signed, ts, "hmac-sha256"
    )
    _, answer = await md5_client.call("order.searchList", window(fake), timestamp=ts, sign=hmac_sign)
    assert_error(answer, 40003, "isv.signature-invalid")
    _, answer = await client.call("order.searchList", window(fake), sign="")
    assert_error(answer, 40001, "isv.signature-missing")


async def test_stale_timestamps_are_refused(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    for offset in (-11 * 60, 11 * 60):
        _, answer = await client.call("order.searchList", window(fake), timestamp=str(now_s(fake) + offset))
        assert_error(answer, 40003, "isv.timestamp-invalid")
    _, answer = await client.call("order.searchList", window(fake), timestamp=str(now_s(fake) - 9 * 60))
    assert answer["code"] == 10000
    legacy = client_for(fake, session, legacy=True)
    stale = beijing_text(fake.clock.now() - timedelta(minutes=30))
    _, answer = await legacy.call("order.searchList", window(fake), timestamp=stale)
    assert_error(answer, 40003, "isv.timestamp-invalid")
    _, answer = await client.call("order.searchList", window(fake), timestamp="yesterday")
    assert_error(answer, 40003, "isv.timestamp-invalid")


async def test_bad_tokens_and_app_keys_are_refused(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    _, answer = await client.call("order.searchList", window(fake), with_token=False)
    assert_error(answer, 40001, "isv.access-token-missing")
    _, answer = await client.call("order.searchList", window(fake), access_token="fake-unknown-token")
    assert_error(answer, 40003, "isv.access-token-no-existed")
    _, answer = await client.call("order.searchList", window(fake), app_key="9999999999999999999")
    assert_error(answer, 40003, "isv.app-key-invalid")
    async with session.post(f"{fake.base_url}/_fake/tokens/expire") as resp:
        assert resp.status == 200
    _, answer = await client.call("order.searchList", window(fake))
    assert_error(answer, 40003, "isv.access-token-expired")


async def test_token_create_and_refresh(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session, access_token=None, refresh_token=None)
    answer = await client.create_token(fake.credentials.shop_id)
    assert answer["code"] == 10000, answer
    data = answer["data"]
    assert data["shop_id"] == fake.credentials.shop_id
    assert data["expires_in"] == 7 * 86400 and data["access_token"] and data["refresh_token"]
    first_token, first_refresh = client.access_token, client.refresh_token
    _, answer = await client.call("order.searchList", window(fake))
    assert answer["code"] == 10000
    answer = await client.refresh()
    assert answer["code"] == 10000 and client.access_token != first_token
    _, answer = await client.call("order.searchList", window(fake))
    assert answer["code"] == 10000
    # the old pair is retired: its access token is gone and its refresh token single-use
    _, answer = await client.call("order.searchList", window(fake), access_token=first_token)
    assert_error(answer, 40003, "isv.access-token-no-existed")
    answer = await client.refresh(first_refresh)
    assert_error(answer, 40003, "isv.refresh-token-no-existed")
    answer = await client.create_token("123")
    assert_error(answer, 30001, "dop.authorization-no-existed")
    # token calls are signed too
    _, answer = await client.call(
        "token.create",
        {"grant_type": "authorization_self", "shop_id": fake.credentials.shop_id},
        with_token=False,
        sign="0" * 64,
    )
    assert_error(answer, 40003, "isv.signature-invalid")


async def test_param_json_must_be_an_object(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    _, answer = await client.call("order.searchList", param_json="[1,2]")
    assert_error(answer, 40003, "isv.parameter-format-invalid")


async def test_rate_limit_answer_carries_code_and_hint(fake: Running, session: aiohttp.ClientSession) -> None:
    async with session.post(f"{fake.base_url}/_fake/faults", json={"rate_limit": 1.0, "max_consecutive": 10}) as resp:
        assert resp.status == 200
    client = client_for(fake, session)
    _, answer = await client.call("order.searchList", window(fake))
    assert_error(answer, 60000, "isv.app-api-rate-limit")
    assert answer["msg"] == "触发限流" and "秒后重试" in answer["sub_msg"]


# -- orders -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "sub_code"),
    [
        ({"size": 101}, "isv.parameter-invalid:20008"),
        ({"page": -1}, "isv.parameter-invalid:10035"),
        ({"page": 500, "size": 100}, "isv.parameter-invalid:20013"),
        ({"update_time_start": None, "update_time_end": None}, "isv.parameter-invalid:20011"),
        ({"combine_status": [{"order_status": "2"}, {"order_status": "3"}]}, "isv.parameter-invalid:20012"),
    ],
)
async def test_order_search_parameter_errors(
    fake: Running, session: aiohttp.ClientSession, change: dict[str, Any], sub_code: str
) -> None:
    params = {k: v for k, v in {**window(fake), **change}.items() if v is not None}
    _, answer = await client_for(fake, session).call("order.searchList", params)
    assert_error(answer, 40004, sub_code)


async def test_order_search_refuses_beyond_90_days(fake: Running, session: aiohttp.ClientSession) -> None:
    _, answer = await client_for(fake, session).call("order.searchList", window(fake, days=91))
    assert_error(answer, 40004, "isv.parameter-invalid:20022")
    _, answer = await client_for(fake, session).call("order.searchList", window(fake, days=89))
    assert answer["code"] == 10000


async def test_orders_page_from_zero_sorted_and_complete(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    end = now_s(fake)
    start = end - (DAYS + 1) * 86400
    listed = await client.all_orders(start, end, size=50)
    expected = fake.world.orders_modified(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end + 1, UTC))
    assert len(listed) == len(expected) > 100  # several pages
    assert {o["order_id"] for o in listed} == {o.order_id for o in expected}
    # default order: update_time descending; order_asc flips it
    times = [o["update_time"] for o in listed]
    assert times == sorted(times, reverse=True)
    _, answer = await client.call("order.searchList", window(fake, order_asc=True))
    asc = [o["update_time"] for o in answer["data"]["shop_order_list"]]
    assert asc == sorted(asc) and answer["data"]["size"] == 100
    # status filter: one combine_status element
    _, answer = await client.call("order.searchList", window(fake, combine_status=[{"order_status": "5"}]))
    assert answer["data"]["total"] > 0
    assert all(o["order_status"] == 5 for o in answer["data"]["shop_order_list"])


async def test_orders_are_fen_and_carry_live_attribution(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    end = now_s(fake)
    listed = await client.all_orders(end - (DAYS + 1) * 86400, end)
    live_lines = 0
    for raw in listed:
        order = fake.world.order(raw["order_id"])
        assert order is not None
        assert raw["pay_amount"] == order.paid_fen and isinstance(raw["pay_amount"], int)
        assert raw["post_amount"] == order.post_fee_fen
        assert sum(line["pay_amount"] for line in raw["sku_order_list"]) + raw["post_amount"] == raw["pay_amount"]
        assert raw["create_time"] == int(order.created_at.timestamp())
        assert raw["pay_time"] == (int(order.paid_at.timestamp()) if order.paid_at else 0)
        assert raw["doudian_open_id"] == order.buyer_id
        for line, canonical in zip(raw["sku_order_list"], order.lines, strict=True):
            assert line["parent_order_id"] == raw["order_id"] and line["order_id"] == canonical.line_id
            assert line["origin_amount"] == canonical.unit_price_fen
            assert line["sum_amount"] == canonical.total_fen
            assert line["code"] == canonical.sku_code
            if canonical.room_id is not None:
                live_lines += 1
                assert line["room_id_str"] == canonical.room_id
                assert line["room_id"] == int(canonical.room_id)
                assert line["author_id"] == int(canonical.author_id or 0)
                assert line["theme_type"] == "1" and line["author_name"]
            else:
                assert line["room_id"] == 0 and line["room_id_str"] == "" and line["author_id"] == 0
    assert live_lines > 0, "the live world has attributed lines"


async def test_order_detail_matches_the_list(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    _, answer = await client.call("order.searchList", window(fake, size=5))
    first = answer["data"]["shop_order_list"][0]
    _, detail = await client.call("order.orderDetail", {"shop_order_id": first["order_id"]})
    assert detail["data"]["shop_order_detail"] == first
    _, missing = await client.call("order.orderDetail", {"shop_order_id": "1"})
    assert missing["code"] == 50002 and missing["sub_code"].startswith("isv.business-failed:")


# -- after-sales --------------------------------------------------------------------------------


async def test_after_sales_by_update_window_and_by_id(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    end = now_s(fake)
    params: dict[str, Any] = {
        "update_start_time": end - (DAYS + 1) * 86400,
        "update_end_time": end,
        "order_by": ["update_time asc"],
        "page": 0,
        "size": 100,
    }
    _, answer = await client.call("afterSale.List", params)
    data = answer["data"]
    refunds = fake.world.refunds_modified(
        datetime.fromtimestamp(params["update_start_time"], UTC), datetime.fromtimestamp(end + 1, UTC)
    )
    assert data["total"] == len(refunds) > 0 and data["page"] == 0
    times = [item["aftersale_info"]["update_time"] for item in data["items"]]
    assert times == sorted(times)
    codes = {RefundStatus.SUCCEEDED: 12, RefundStatus.REQUESTED: 6, RefundStatus.AWAITING_RETURN: 7}
    for item in data["items"]:
        info = item["aftersale_info"]
        canonical = fake.world.refund(info["aftersale_id"])
        assert canonical is not None
        assert info["refund_amount"] == canonical.amount_fen
        assert item["order_info"]["shop_order_id"] == canonical.order_id
        assert item["order_info"]["related_order_info"][0]["sku_order_id"] == canonical.line_id
        if canonical.status in codes:
            assert info["aftersale_status"] == codes[canonical.status]
    one = data["items"][0]["aftersale_info"]["aftersale_id"]
    _, answer = await client.call("afterSale.List", {"aftersale_id": one, "page": 0, "size": 1})
    assert [i["aftersale_info"]["aftersale_id"] for i in answer["data"]["items"]] == [one]
    _, answer = await client.call("afterSale.List", {**params, "size": 101})
    assert_error(answer, 40004, "isv.parameter-invalid:20008")


# -- products and stock -------------------------------------------------------------------------


async def test_products_skus_and_stock(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    _, answer = await client.call("product.listV2", {"page": 1, "size": 10})
    data = answer["data"]
    items = fake.world.products()
    assert data["total"] == len(items) and data["page"] == 1 and len(data["data"]) == min(10, len(items))
    _, answer = await client.call("product.listV2", {"page": 0, "size": 10})
    assert answer["code"] == 40004  # pages count from 1 here
    product = data["data"][0]
    item = fake.world.item(str(product["product_id"]))
    assert item is not None and product["name"] == item.title and product["outer_product_id"] == item.spu_code
    _, answer = await client.call("sku.list", {"product_id": str(product["product_id"])})
    skus = answer["data"]
    assert [s["code"] for s in skus] == [s.sku_code for s in item.skus]
    assert all(isinstance(s["price"], int) and s["stock_num"] >= 0 for s in skus)
    sku = skus[0]
    base = {"product_id": product["product_id"], "sku_id": sku["id"]}
    _, answer = await client.call("sku.syncStock", {**base, "stock_num": 42, "incremental": False})
    assert answer["code"] == 10000, answer
    assert fake.world.item(item.item_id).skus[0].stock == 42  # type: ignore[union-attr]
    _, answer = await client.call("sku.syncStock", {**base, "stock_num": 5, "incremental": True})
    assert answer["code"] == 40004  # incremental needs an idempotent_id
    delta = {**base, "stock_num": 5, "incremental": True, "idempotent_id": "push-1"}
    for _ in range(2):  # the replay is a no-op
        _, answer = await client.call("sku.syncStock", delta)
        assert answer["code"] == 10000, answer
    assert fake.world.item(item.item_id).skus[0].stock == 47  # type: ignore[union-attr]
    _, answer = await client.call("sku.syncStock", {**delta, "stock_num": 6})
    assert answer["code"] == 50002  # same idempotent_id, other change
    _, answer = await client.call(
        "sku.syncStock", {**base, "stock_num": -1000, "incremental": True, "idempotent_id": "x"}
    )
    assert answer["code"] == 50002  # never below zero


# -- settle bills -------------------------------------------------------------------------------


async def test_settle_bill_cursor_walks_every_row(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    end = fake.clock.now()
    start = end - timedelta(days=7)
    params: dict[str, Any] = {
        "start_time": beijing_text(start),
        "end_time": beijing_text(end),
        "size": 7,
        "time_type": "0",
    }
    rows: list[dict[str, Any]] = []
    for _ in range(500):
        _, answer = await client.call("order.getSettleBillDetailV3", params)
        data = answer["data"]
        assert data["code"] == "100000", answer
        rows.extend(data["data"])
        if data["is_end"] == 1:
            break
        params = {**params, "start_index": data["next_start_index"], "start_time": data["next_start_time"]}
    else:
        pytest.fail("the cursor never ended")
    assert len({r["request_no"] for r in rows}) == len(rows) > 7
    lines = fake.world.settlements(start, end + timedelta(seconds=1))
    assert sum(r["settle_amount"] for r in rows) == sum(line.amount_fen for line in lines)
    for row in rows:
        assert all(isinstance(row[k], int) for k in ("settle_amount", "total_income", "platform_service_fee"))
        if row["trade_type"] == 0:
            assert row["total_income"] - row["total_outcome"] == row["settle_amount"]
        local = datetime.strptime(row["settle_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
        assert start - timedelta(seconds=1) <= local <= end
    _, answer = await client.call(
        "order.getSettleBillDetailV3",
        {"start_time": beijing_text(end - timedelta(days=8)), "end_time": beijing_text(end), "size": 10},
    )
    assert answer["code"] == 40004


# -- live sessions [I] --------------------------------------------------------------------------


async def test_live_sessions_list_and_detail(fake: Running, session: aiohttp.ClientSession) -> None:
    client = client_for(fake, session)
    end = now_s(fake)
    _, answer = await client.call(
        "live.sessionList", {"start_time": end - 10 * 86400, "end_time": end, "page": 0, "size": 100}
    )
    rooms = answer["data"]["room_list"]
    sessions = fake.world.live_sessions(fake.clock.now() - timedelta(days=10), fake.clock.now())
    assert [r["room_id_str"] for r in rooms] == [s.room_id for s in sessions] and rooms
    _, answer = await client.call("live.sessionDetail", {"room_id": rooms[0]["room_id_str"]})
    detail = answer["data"]
    canonical = sessions[0]
    assert detail["room"]["author_id"] == int(canonical.author_id)
    assert len(detail["minute_list"]) == len(canonical.minutes)
    assert sum(m["pay_amt"] for m in detail["minute_list"]) == canonical.gmv_fen
    assert [e["product_id_str"] for e in detail["explain_list"]] == [e.item_id for e in canonical.explanations]
    _, answer = await client.call("live.sessionDetail", {"room_id": "1"})
    assert answer["code"] == 50002
