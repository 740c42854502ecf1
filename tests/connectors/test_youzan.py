"""Youzan connector: token handling against the official SDK's shapes and the documented sample,
error classification, status tables and normalisation on payloads shaped as PLATFORMS.md §5
describes them, then the connector against the fake (the contract suite, token refresh before
expiry and after a refusal, products, settlements, stock push)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from bangfu.enums import (
    ErrorClass,
    LineRefundState,
    OrderStatus,
    PlatformKind,
    RefundStatus,
    SettlementKind,
    SyncStream,
)
from bangfu.privacy import buyer_ref
from bangfu.records import OrderRecord, ProductRecord, SettlementLineRecord
from connectors.base import ShopConfig
from connectors.errors import AuthError, BadRequestError, UnsupportedStream
from connectors.fakes.clock import FakeClock
from connectors.fakes.faults import FaultProfile
from connectors.fakes.server import Running, fake_server
from connectors.fakes.youzan import render_order
from connectors.ratelimit import RateLimiter
from connectors.signing.youzan import (
    AuthorizeType,
    TokenRequestError,
    TokenResponseError,
    YouzanToken,
    api_path,
    api_url,
    datetime_to_expires_ms,
    expires_ms_to_datetime,
    parse_token_response,
    token_request_body,
)
from connectors.youzan import (
    ERRORS,
    ORDER_STATUS,
    REFUND_STATUS,
    YouzanConnector,
    classify_body,
    order_status,
    parse_bill,
    parse_item,
    parse_order,
    parse_refund,
    post_fee_shares,
    second_bounds,
    unwrap_body,
    window_is_empty,
)
from connectors.youzan import pages as youzan_pages
from tests.connectors.contract import CONTRACT_RETRY, ContractTests, VirtualTime
from tests.connectors.harvest import harvest

HASH_KEY = b"test-only-hash-key-not-a-secret"
FROZEN = datetime(2024, 6, 15, 4, 0, tzinfo=UTC)


# -- tokens: the SDK's request shapes and the documented answer ------------------------------------


def test_silent_token_body_has_the_sdk_shape() -> None:
    body = token_request_body(
        AuthorizeType.SILENT, "fake-youzan-client-id", "fake-secret-not-real", grant_id=110, refresh=True
    )
    # open-sdk-node README: {authorize_type, client_id, client_secret, grant_id, refresh: true}
    assert body == {
        "client_id": "fake-youzan-client-id",
        "client_secret": "fake-secret-not-real",
        "authorize_type": "silent",
        "grant_id": "110",
        "refresh": True,
    }
    assert token_request_body(AuthorizeType.SILENT, "c", "s", grant_id="1")["refresh"] is False


def test_other_grant_types_and_sdk_checks() -> None:
    assert token_request_body(AuthorizeType.REFRESH_TOKEN, "c", "s", refresh_token="rt") == {
        "client_id": "c",
        "client_secret": "s",
        "authorize_type": "refresh_token",
        "refresh_token": "rt",
    }
    code = token_request_body(AuthorizeType.AUTHORIZATION_CODE, "c", "s", code="x", redirect_uri="https://a")
    assert code["code"] == "x" and code["redirect_uri"] == "https://a"
    with pytest.raises(TokenRequestError):
        token_request_body(AuthorizeType.SILENT, "c", "s")  # no grant_id
    with pytest.raises(TokenRequestError):
        token_request_body(AuthorizeType.SILENT, "", "s", grant_id="1")
    with pytest.raises(TokenRequestError):
        token_request_body(AuthorizeType.REFRESH_TOKEN, "c", "s")
    with pytest.raises(TokenRequestError):
        token_request_body(AuthorizeType.AUTHORIZATION_CODE, "c", "s")


def test_documented_token_answer_is_read_with_ms_expiry() -> None:
    # The sample answer of the silent-authorisation doc: expires is an epoch-ms instant.
    body = {
        "success": True,
        "code": 200,
        "data": {
            "expires": 1583720718116,
            "scope": "beauty_appointment beauty_cashier",
            "access_token": "774ae7b675f8db2aa65d38bf5de710b",
            "authority_id": "42583152",
        },
        "message": None,
    }
    token = parse_token_response(body)
    assert token.access_token == "774ae7b675f8db2aa65d38bf5de710b"
    assert token.expires_at == datetime(2020, 3, 9, 2, 25, 18, 116000, tzinfo=UTC)
    assert token.authority_id == "42583152" and token.refresh_token is None
    assert datetime_to_expires_ms(token.expires_at) == 1583720718116
    assert "774ae7" not in repr(token)


def test_token_refusals_and_garbage_are_errors() -> None:
    with pytest.raises(TokenResponseError) as caught:
        parse_token_response({"success": False, "code": 1103, "data": None, "message": "Client 不存在"})
    assert caught.value.code == 1103 and "Client" in caught.value.message
    with pytest.raises(TokenResponseError):
        parse_token_response({"success": True, "code": 200, "data": {"expires": 1}})
    with pytest.raises(TokenResponseError):
        parse_token_response([])
    with pytest.raises(TokenResponseError):
        expires_ms_to_datetime("soon")
    with pytest.raises(TokenResponseError):
        expires_ms_to_datetime(True)


def test_needs_refresh_uses_the_margin() -> None:
    token = YouzanToken("t", datetime(2024, 1, 1, 12, tzinfo=UTC))
    assert not token.needs_refresh(datetime(2024, 1, 1, 10, tzinfo=UTC))
    assert token.needs_refresh(datetime(2024, 1, 1, 11, 30, tzinfo=UTC))
    assert token.needs_refresh(datetime(2024, 1, 1, 11, 30, tzinfo=UTC), margin=timedelta(minutes=31))
    assert not token.needs_refresh(datetime(2024, 1, 1, 11, 30, tzinfo=UTC), margin=timedelta(minutes=29))
    with pytest.raises(ValueError):
        YouzanToken("t", datetime(2024, 1, 1))  # naive


def test_api_path_scheme_and_token_in_query_only() -> None:
    assert api_path("youzan.trade.get", "4.0.2") == "/api/youzan.trade.get/4.0.2"
    url = api_url("https://open.youzanyun.com/", "youzan.trades.sold.get", "4.0.4", "a/b+c")
    assert url == "https://open.youzanyun.com/api/youzan.trades.sold.get/4.0.4?access_token=a%2Fb%2Bc"
    with pytest.raises(ValueError):
        api_path("youzan.trade.get", "")
    with pytest.raises(ValueError):
        api_path("youzan/trade", "1.0.0")


# -- envelopes and error classification -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error_class", "token_expired"),
    [
        ({"gw_err_resp": {"err_code": 4201, "err_msg": "非法的请求凭证"}}, ErrorClass.AUTH, True),
        ({"gw_err_resp": {"err_code": 4202, "err_msg": "请求凭证过期"}}, ErrorClass.AUTH, True),
        ({"gw_err_resp": {"err_code": 4203, "err_msg": "Token 不存在"}}, ErrorClass.AUTH, True),
        ({"gw_err_resp": {"err_code": 4204, "err_msg": "无权限访问"}}, ErrorClass.AUTH, False),
        ({"gw_err_resp": {"err_code": 4101, "err_msg": "请求太频繁"}}, ErrorClass.RATE_LIMIT, False),
        ({"gw_err_resp": {"err_code": 4005, "err_msg": "非法的API"}}, ErrorClass.BAD_REQUEST, False),
        ({"gw_err_resp": {"err_code": 4001, "err_msg": "非法请求地址"}}, ErrorClass.BAD_REQUEST, False),
        ({"success": False, "code": 106000001, "message": "请求超时"}, ErrorClass.TRANSIENT, False),
        ({"success": False, "code": 5000, "message": "trade not found"}, ErrorClass.BAD_REQUEST, False),
        ({"success": False, "code": 1103, "data": None, "message": "Client 不存在"}, ErrorClass.AUTH, False),
        ({"success": False, "code": 123000042, "message": "请求被限流"}, ErrorClass.RATE_LIMIT, False),
        ({"success": False, "code": 987654321, "message": "?"}, ErrorClass.BAD_REQUEST, False),
        ({"error_response": {"code": 500, "msg": "x"}}, ErrorClass.BAD_REQUEST, False),
        ({"gw_err_resp": "garbled"}, ErrorClass.TRANSIENT, False),
        ("<html>502</html>", ErrorClass.TRANSIENT, False),
    ],
)
def test_classify_body(body: Any, error_class: ErrorClass, token_expired: bool) -> None:
    resolution = classify_body(body)
    assert resolution is not None
    assert resolution.error_class is error_class
    assert resolution.token_expired is token_expired


def test_success_envelopes_and_hints() -> None:
    v4 = {"trace_id": "yz7-1", "code": 200, "success": True, "message": "successful", "data": {"x": 1}}
    assert classify_body(v4) is None and unwrap_body(v4) == {"x": 1}
    v3 = {"response": {"is_success": True}}
    assert classify_body(v3) is None and unwrap_body(v3) == {"is_success": True}
    hinted = classify_body({"gw_err_resp": {"err_code": 4101, "err_msg": "请求太频繁，请2秒后重试"}})
    assert hinted is not None and hinted.retry_after == 3.0  # the hint plus a second of margin
    plain = classify_body({"gw_err_resp": {"err_code": 4101, "err_msg": "请求太频繁"}})
    assert plain is not None and plain.retry_after is None and plain.code == 4101
    assert ERRORS[4202].token_expired and not ERRORS[4204].token_expired


# -- status tables ----------------------------------------------------------------------------------


def test_order_status_table_covers_the_documented_enum() -> None:
    documented = {
        "WAIT_BUYER_PAY",
        "TRADE_PAID",
        "WAIT_CONFIRM",
        "WAIT_SELLER_SEND_GOODS",
        "WAIT_BUYER_CONFIRM_GOODS",
        "TRADE_SUCCESS",
        "TRADE_CLOSED",
    }
    assert set(ORDER_STATUS) == documented
    assert order_status("TRADE_CLOSED", paid=False) is OrderStatus.CANCELLED
    assert order_status("TRADE_CLOSED", paid=True) is OrderStatus.CLOSED
    assert order_status("WAIT_BUYER_CONFIRM_GOODS", paid=True) is OrderStatus.SHIPPED
    with pytest.raises(ValueError):
        order_status("TRADE_REFUND_SOMETHING", paid=True)


def test_refund_status_table() -> None:
    assert REFUND_STATUS["SUCCESS"] is RefundStatus.SUCCEEDED
    assert REFUND_STATUS["SELLER_REFUSE_BUYER_RETURN_GOODS"] is RefundStatus.REFUSED
    assert REFUND_STATUS["WAIT_BUYER_RETURN_GOODS"] is RefundStatus.AWAITING_RETURN
    assert REFUND_STATUS["CLOSED"] is RefundStatus.CLOSED


# -- normalisation (pure) ---------------------------------------------------------------------------


def sample_order(**order_info: Any) -> dict[str, Any]:
    """A trades.sold.get entry shaped as PLATFORMS.md §5 (yuan strings, Beijing time)."""
    info = {
        "tid": "E20190509110527067500013",
        "status": "WAIT_SELLER_SEND_GOODS",
        "status_str": "待发货",
        "type": 0,
        "created": "2019-05-09 11:05:27",
        "update_time": "2019-05-09 11:06:30",
        "pay_time": "2019-05-09 11:06:01",
        "refund_state": 0,
        "order_tags": {"is_payed": True},
    }
    info.update(order_info)
    return {
        "full_order_info": {
            "order_info": info,
            "buyer_info": {"yz_open_id": "yzFakeOpenId0001"},
            "pay_info": {"total_fee": "150.00", "post_fee": "6.00", "payment": "139.14"},
            "orders": [
                {
                    "oid": "1447380000000001",
                    "item_id": 461000001,
                    "sku_id": 36000001,
                    "outer_item_id": "GZ-SPU-0001",
                    "outer_sku_id": "GZ-SPU-0001-01",
                    "title": "高原土豆 5斤",
                    "num": 2,
                    "price": "50.00",
                    "discount_price": "45.00",
                    "total_fee": "90.00",
                    "payment": "84.84",
                },
                {
                    "oid": "1447380000000002",
                    "item_id": 461000002,
                    "sku_id": 0,
                    "outer_item_id": "GZ-SPU-0002",
                    "outer_sku_id": "",
                    "title": "牦牛肉干",
                    "num": 1,
                    "price": "50.00",
                    "discount_price": "50.00",
                    "total_fee": "50.00",
                    "payment": "54.30",
                },
            ],
        }
    }


def test_parse_order_in_fen_utc_and_hashed_buyer() -> None:
    order = parse_order(sample_order(), hash_key=HASH_KEY)
    assert order.platform_order_id == "E20190509110527067500013"
    assert order.status is OrderStatus.PAID and order.platform_status == "WAIT_SELLER_SEND_GOODS"
    assert order.created_at == datetime(2019, 5, 9, 3, 5, 27, tzinfo=UTC)
    assert order.paid_at == datetime(2019, 5, 9, 3, 6, 1, tzinfo=UTC)
    assert order.modified_at == datetime(2019, 5, 9, 3, 6, 30, tzinfo=UTC)
    assert order.paid_fen == 13914 and order.post_fee_fen == 600
    assert order.discount_fen == 15000 + 600 - 13914
    # the 6.00 post fee is carried by the lines' payments (90:50 -> 386 + 214 fen)
    first, second = order.lines
    assert (first.paid_fen, second.paid_fen) == (8484 - 386, 5430 - 214)
    assert sum(line.paid_fen for line in order.lines) + order.post_fee_fen == order.paid_fen
    assert first.unit_price_fen == 4500 and first.quantity == 2 and first.platform_sku_id == "36000001"
    assert second.platform_sku_id is None  # sku_id 0: an item without specs
    assert first.outer_sku_id == "GZ-SPU-0001-01" and second.outer_sku_id == "GZ-SPU-0002"
    assert order.buyer_ref == buyer_ref("youzan", "yzFakeOpenId0001", HASH_KEY)
    assert "yzFakeOpenId0001" not in repr(order)
    assert order.raw["full_order_info"]["pay_info"]["payment"] == "139.14"


def test_unpaid_and_closed_orders() -> None:
    unpaid = parse_order(sample_order(status="WAIT_BUYER_PAY", pay_time="", order_tags={"is_payed": False}))
    assert unpaid.status is OrderStatus.PENDING_PAYMENT and unpaid.paid_fen == 0 and unpaid.paid_at is None
    cancelled = parse_order(sample_order(status="TRADE_CLOSED", pay_time="", order_tags={"is_payed": False}))
    assert cancelled.status is OrderStatus.CANCELLED and not cancelled.status.is_paid
    refunded = parse_order(sample_order(status="TRADE_CLOSED", refund_state=12))
    assert refunded.status is OrderStatus.CLOSED and refunded.paid_fen == 13914
    assert all(line.refund_state is LineRefundState.FULL for line in refunded.lines)


def test_refund_order_sets_line_states_in_trade_detail() -> None:
    raw = sample_order(refund_state=2)
    raw["refund_order"] = [
        {"refund_id": "2019", "refund_state": 60, "refund_fee": "20.00", "oids": ["1447380000000001"]},
        {"refund_id": "2020", "refund_state": 1, "refund_fee": "52.16", "oids": ["1447380000000002"]},
    ]
    partial, in_progress = parse_order(raw).lines
    assert partial.refund_state is LineRefundState.PARTIAL
    assert in_progress.refund_state is LineRefundState.IN_PROGRESS
    raw["refund_order"][0]["refund_fee"] = "80.98"  # the line's whole goods payment
    raw["refund_order"][1]["refund_state"] = 50  # closed: no money moved
    full, untouched = parse_order(raw).lines
    assert full.refund_state is LineRefundState.FULL and untouched.refund_state is LineRefundState.NONE
    raw["refund_order"][1]["refund_state"] = 77
    with pytest.raises(ValueError, match="refund_state"):
        parse_order(raw)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda raw: raw["full_order_info"]["pay_info"].update(payment="12.3.4"),
        lambda raw: raw["full_order_info"]["pay_info"].update(payment=139.14),  # a float
        lambda raw: raw["full_order_info"]["orders"].clear(),
        lambda raw: raw["full_order_info"]["order_info"].update(status="BOGUS"),
        lambda raw: raw["full_order_info"]["order_info"].update(created="2019/05/09"),
        lambda raw: raw["full_order_info"]["orders"][0].update(payment="1.00"),  # below its post share
        lambda raw: raw.pop("full_order_info"),
    ],
)
def test_malformed_orders_raise(mutate: Any) -> None:
    raw = sample_order()
    mutate(raw)
    with pytest.raises(ValueError):
        parse_order(raw)


def test_post_fee_shares_follow_total_fee_and_sum_exactly() -> None:
    entries = [{"oid": "a", "total_fee": "1.00"}, {"oid": "b", "total_fee": "2.00"}]
    assert post_fee_shares(entries, 100) == {"a": 33, "b": 67}
    assert post_fee_shares(entries, 0) == {"a": 0, "b": 0}
    free = [{"oid": "a", "total_fee": "0.00"}, {"oid": "b", "total_fee": "0.00"}]
    assert post_fee_shares(free, 800) == {"a": 800, "b": 0}


def test_parse_refund() -> None:
    raw = {
        "refund_id": "201907042058500000031002",
        "tid": "E20190509110527067500013",
        "oid": "1447380000000001",
        "status": "SUCCESS",
        "refund_fee": "45.50",
        "created": "2019-07-04 20:58:50",
        "modified": "2019-07-05 09:00:00",
        "return_goods": True,
        "reason": 11,
        "num": 1,
    }
    refund = parse_refund(raw)
    assert refund.status is RefundStatus.SUCCEEDED and refund.amount_fen == 4550
    assert refund.created_at == datetime(2019, 7, 4, 12, 58, 50, tzinfo=UTC)
    assert refund.platform_line_id == "1447380000000001" and refund.quantity == 1 and refund.with_return
    assert refund.reason == "质量问题"
    loose = parse_refund({**raw, "reason": 999, "num": None, "return_goods": False})
    assert loose.reason == "999" and loose.quantity is None and not loose.with_return
    with pytest.raises(ValueError):
        parse_refund({**raw, "status": "WHATEVER"})


def test_parse_item_prices_are_fen() -> None:
    raw = {
        "item_id": 4315547367,
        "title": "纯棉T恤",
        "price": 1990,
        "quantity": 200,
        "item_no": "TS",
        "is_listing": True,
        "created": "2024-01-01 10:00:00",
        "update_time": "2024-02-01 10:00:00",
        "skus": [
            {"sku_id": 1, "price": 1990, "quantity": 100, "item_no": "TS-RED", "modified": "2024-02-01 10:00:00"},
            {"sku_id": 2, "price": 2090, "quantity": 100, "item_no": "TS-BLK"},
        ],
    }
    item = parse_item(raw)
    assert item.price_fen == 1990 and item.stock == 200 and item.on_sale
    assert item.modified_at == datetime(2024, 2, 1, 2, 0, tzinfo=UTC)
    assert [sku.outer_id for sku in item.skus] == ["TS-RED", "TS-BLK"]
    assert item.skus[1].price_fen == 2090 and item.skus[1].modified_at is None


def test_parse_bill_signed_yuan() -> None:
    line = parse_bill(
        {
            "bill_no": "9",
            "tid": "E1",
            "oid": "",
            "biz_type": "PAY_FEE",
            "amount": "-0.84",
            "settle_time": "2024-06-01 00:00:00",
        }
    )
    assert line.kind is SettlementKind.PAYMENT_FEE and line.amount_fen == -84
    assert line.platform_line_id is None and line.platform_order_id == "E1"
    other = parse_bill(
        {"bill_no": "10", "biz_type": "NEW_KIND", "amount": "1.00", "settle_time": "2024-06-01 00:00:00"}
    )
    assert other.kind is SettlementKind.OTHER


def test_windows_are_whole_inclusive_seconds() -> None:
    start = datetime(2024, 6, 1, 10, 0, 0, 500000, tzinfo=UTC)
    end = datetime(2024, 6, 1, 16, 0, 0, 500000, tzinfo=UTC)
    first, last = second_bounds(start, end)
    assert first == datetime(2024, 6, 1, 10, 0, 1, tzinfo=UTC)
    assert last == datetime(2024, 6, 1, 16, 0, 0, tzinfo=UTC)
    assert second_bounds(end, end + timedelta(hours=1))[0] == last + timedelta(seconds=1)  # no shared second
    assert window_is_empty(start, start + timedelta(milliseconds=300))
    assert not window_is_empty(start, start + timedelta(milliseconds=600))


# -- the contract suite against the fake ---------------------------------------------------------------


class TestYouzanContract(ContractTests):
    platform = "youzan"

    def world_order_id(self, platform_order_id: str) -> str:
        return platform_order_id.removeprefix("E")

    def platform_order_id(self, world_order_id: str) -> str:
        return f"E{world_order_id}"


# -- the connector against the fake: tokens, other streams, stock ---------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[Running]:
    async with fake_server("youzan", seed=5, orders=150, days=10, clock=FakeClock(frozen_at=FROZEN)) as running:
        yield running


def config_for(fake: Running, **changes: Any) -> ShopConfig:
    creds = fake.credentials
    fields: dict[str, Any] = {
        "platform": PlatformKind.YOUZAN,
        "base_url": fake.base_url,
        "app_key": creds.app_key,
        "app_secret": creds.app_secret,
        "shop_id": creds.shop_id,
    }
    fields.update(changes)
    return ShopConfig(**fields)


def connect(fake: Running, connector_kwargs: dict[str, Any], **changes: Any) -> YouzanConnector:
    return YouzanConnector(config_for(fake, **changes), clock=fake.clock.now, **connector_kwargs)


async def collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


def test_window_and_paging_limits() -> None:
    assert YouzanConnector.window_max == timedelta(days=90)
    assert YouzanConnector.page_size == 100
    assert YouzanConnector.token_refresh
    assert SyncStream.LIVE_SESSIONS not in YouzanConnector.streams


async def test_first_call_fetches_a_token_silently(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs)  # no token in the config
    order = fake.world.orders_created(FROZEN - timedelta(days=3), FROZEN)[0]
    record = await connector.order_detail(f"E{order.order_id}")
    assert isinstance(record, OrderRecord) and record.paid_fen == order.paid_fen
    assert connector.stats.calls["auth.token"] == 1 and connector.stats.token_refreshes == 1
    # refresh=false: the shop's current (printed) token comes back while it is valid
    assert connector.tokens.access_token == fake.credentials.access_token
    assert connector.tokens.expires_at == FROZEN + timedelta(days=7)


async def test_token_is_refreshed_before_it_expires(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    creds = fake.credentials
    connector = connect(
        fake,
        connector_kwargs,
        access_token=creds.access_token,
        token_expires_at=FROZEN + timedelta(minutes=10),  # inside the 30-minute margin
    )
    now = fake.clock.now()
    await collect(connector.orders(now - timedelta(hours=6), now))
    assert connector.stats.token_refreshes == 1 and connector.stats.calls["auth.token"] == 1
    assert connector.tokens.access_token != creds.access_token
    assert not connector.stats.errors
    # the refresh minted a new token and retired the old one at once
    assert fake.fake.tokens.check(creds.access_token) == "unknown"
    assert fake.fake.tokens.is_valid(connector.tokens.access_token)


async def test_refused_token_is_refreshed_once(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs, access_token="fake-youzan-unknown-token")
    now = fake.clock.now()
    records = await collect(connector.orders(now - timedelta(days=1), now))
    assert records and connector.stats.token_refreshes == 1
    assert fake.fake.tokens.is_valid(connector.tokens.access_token)


async def test_a_refresh_that_fails_is_fatal(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs, access_token="fake-youzan-unknown-token", app_secret="wrong-not-real")
    with pytest.raises(AuthError) as caught:
        await connector.order_detail("E1")
    assert caught.value.code == 1000
    assert connector.stats.requests == 2 and not connector.stats.retries
    unauthorised = connect(fake, connector_kwargs, shop_id="1")  # a shop that never authorised us
    with pytest.raises(AuthError) as revoked:
        await unauthorised.order_detail("E1")
    assert revoked.value.code == 1103


async def test_tool_app_refreshes_with_its_refresh_token(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    creds = fake.credentials
    fake.fake.tokens.expire_all()
    connector = connect(
        fake,
        connector_kwargs,
        access_token=creds.access_token,
        refresh_token=creds.refresh_token,
        extra={"app_type": "tool"},
    )
    await connector.order_detail(f"E{fake.world.orders_created(FROZEN - timedelta(days=2), FROZEN)[0].order_id}")
    assert connector.stats.token_refreshes == 1
    assert connector.tokens.refresh_token not in (None, creds.refresh_token)
    # the spent refresh token cannot be used twice
    again = connect(
        fake, connector_kwargs, access_token="gone", refresh_token=creds.refresh_token, extra={"app_type": "tool"}
    )
    with pytest.raises(AuthError) as caught:
        await again.order_detail("E1")
    assert caught.value.code == 1004


async def test_products_match_the_world(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs)
    products = await collect(connector.products())
    assert all(isinstance(p, ProductRecord) for p in products)
    world = {item.item_id: item for item in fake.world.products()}
    assert {p.platform_item_id for p in products} == set(world)
    for product in products:
        item = world[product.platform_item_id]
        assert product.on_sale is item.on_sale and product.title == item.title
        assert product.price_fen == item.price_fen and product.stock == item.stock
        assert product.outer_id == item.spu_code
        assert [(s.platform_sku_id, s.outer_id, s.price_fen, s.stock) for s in product.skus] == [
            (s.sku_id, s.sku_code, s.price_fen, s.stock) for s in item.skus
        ]
    assert connector.stats.calls["youzan.items.inventory.get"] == 1  # off-sale items are read too


async def test_settlements_match_the_world(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs)
    start, end = FROZEN - timedelta(days=8), FROZEN
    lines = await collect(connector.settlements(start, end))
    expected = fake.world.settlements(start, end)
    assert expected and all(isinstance(line, SettlementLineRecord) for line in lines)
    assert sorted(line.platform_bill_id for line in lines) == sorted(line.bill_id for line in expected)
    assert sum(line.amount_fen for line in lines) == sum(line.amount_fen for line in expected)
    kinds = {line.platform_bill_id: line.kind for line in lines}
    assert all(kinds[line.bill_id] is line.kind for line in expected)


async def test_push_stock_full_update(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs)
    item = next(item for item in fake.world.products() if len(item.skus) > 1)
    sku = item.skus[1]
    result = await connector.push_stock(item.item_id, sku.sku_id, 42, idempotency_key="push-1")
    assert result.stock == 42
    current = fake.world.item(item.item_id)
    assert current is not None and {s.sku_id: s.stock for s in current.skus}[sku.sku_id] == 42
    again = await connector.push_stock(item.item_id, sku.sku_id, 42, idempotency_key="push-1")
    assert again == result  # a full update repeats harmlessly
    with pytest.raises(BadRequestError) as missing:
        await connector.push_stock(item.item_id, "123", 1, idempotency_key="push-2")
    assert missing.value.code == 123004002
    with pytest.raises(BadRequestError):
        await connector.push_stock(item.item_id, sku.sku_id, -1, idempotency_key="push-3")


async def test_live_sessions_are_unsupported(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs)
    with pytest.raises(UnsupportedStream):
        await collect(connector.live_sessions(FROZEN - timedelta(days=1), FROZEN))


async def test_rendered_orders_parse_back_to_the_world(fake: Running) -> None:
    """The fake's rendering and the connector's parsing agree line by line, post fees included."""
    orders = fake.world.orders_created(FROZEN - timedelta(days=10), FROZEN)
    with_post_fee = [o for o in orders if o.post_fee_fen and len(o.lines) > 1]
    assert with_post_fee
    for order in orders:
        record = parse_order({"full_order_info": render_order(order, fake.credentials.shop_id)})
        assert record.platform_order_id == f"E{order.order_id}"
        assert [line.paid_fen for line in record.lines] == [line.paid_fen for line in order.lines]
        assert record.status.is_paid == order.is_paid


async def test_chaos_over_three_weeks_equals_the_truth(
    session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contract's chaos run on a bigger shop: 23 one-day order and refund windows, pages that
    shift under us, every fault kind; bans and backoff on virtual time. Pages of 20 (the API
    allows 1-100) give each day's window several pages, so the fake's shifts between pages
    happen whatever the timing of the other faults (with one page a day they were rare)."""
    monkeypatch.setattr(youzan_pages, "MAX_PAGE_SIZE", 20)
    profile = FaultProfile.CHAOS.with_delays(slow_seconds=0.05, hang_seconds=1.0)
    async with fake_server(
        "youzan", seed=23, orders=900, days=21, faults=profile, clock=FakeClock(frozen_at=FROZEN)
    ) as fake:
        warp = VirtualTime()
        connector = YouzanConnector(
            config_for(fake, access_token=fake.credentials.access_token),
            session=session,
            retry=CONTRACT_RETRY,
            timeout=0.5,
            clock=fake.clock.now,
            limiter=RateLimiter(clock=warp.clock, sleep=warp.sleep),
            sleep=warp.sleep,
        )
        result = await harvest(connector, FROZEN - timedelta(days=23))
        truth = fake.fake.truth()["shops"][fake.credentials.shop_id]
        assert result.totals() == truth
        assert len(result.orders) == truth["orders"] and len(result.refunds) == truth["refunds"]
        assert result.unresolved() == []
        stats = fake.fake.faults.stats
        for kind in ("rate_limit", "server_error", "drop", "hang", "malformed", "modify_during_paging"):
            assert stats[kind] > 0, f"no {kind} fault happened: {dict(stats)}"
        assert connector.stats.retries[ErrorClass.RATE_LIMIT] > 0 and warp.slept > 0
        assert connector.stats.recovered > 0 and not connector.stats.errors
