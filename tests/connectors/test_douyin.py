"""Douyin connector: status tables, error classification, pure parsers on sample payloads shaped
like PLATFORMS.md §3, and the connector against its fake (tokens, stock, settlements, live
sessions, window splitting, look-back), plus the shared contract suite."""

from __future__ import annotations

import copy
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
from bangfu.records import LiveSessionRecord, ProductRecord, Quarantined, SettlementLineRecord
from connectors import douyin as dy
from connectors.base import ShopConfig
from connectors.douyin.pages import content_key
from connectors.errors import AuthError, BadRequestError, RecordError, WindowUnstable
from connectors.fakes.clock import FakeClock
from connectors.fakes.douyin import FakeDouyin
from connectors.fakes.faults import FaultProfile
from connectors.fakes.server import Running, fake_server
from connectors.ratelimit import RateLimiter
from connectors.retry import RetryPolicy
from tests.connectors.contract import ContractTests, VirtualTime, collect

FROZEN = datetime(2024, 6, 15, 4, 0, tzinfo=UTC)
T0 = 1718400000  # 2024-06-14 21:20:00 UTC


class TestDouyinContract(ContractTests):
    platform = "douyin"


# -- sample payloads (PLATFORMS.md §3.3 field names) -------------------------------------------


def sku_line(**changes: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "order_id": "6920000000000000011",
        "parent_order_id": "6920000000000000010",
        "product_id": 3600000000000000001,
        "product_id_str": "3600000000000000001",
        "sku_id": 1700000000001,
        "out_sku_id": "",
        "code": "GZ-YAK-500G",
        "product_name": "甘孜牦牛肉干 500g",
        "item_num": 2,
        "origin_amount": 5990,
        "sum_amount": 11980,
        "goods_price": 6990,
        "pay_amount": 10980,
        "post_amount": 0,
        "order_status": 3,
        "create_time": T0,
        "pay_time": T0 + 120,
        "update_time": T0 + 3600,
        "author_id": 52000000001,
        "author_name": "县长带货直播间",
        "room_id": 7213769126039785821,
        "room_id_str": "7213769126039785821",
        "theme_type": "1",
        "c_biz": 2,
        "after_sale_info": {"after_sale_status": 0, "after_sale_type": 0, "refund_status": 0},
    }
    line.update(changes)
    return line


def shop_order(**changes: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "order_id": "6920000000000000010",
        "shop_id": 149889153,
        "order_status": 3,
        "order_status_desc": "已发货",
        "create_time": T0,
        "update_time": T0 + 3600,
        "pay_time": T0 + 120,
        "finish_time": 0,
        "order_amount": 12780,
        "pay_amount": 11780,
        "post_amount": 800,
        "promotion_amount": 1000,
        "promotion_shop_amount": 1000,
        "doudian_open_id": "fake_buyer_ab120000042",
        "sku_order_list": [sku_line()],
    }
    order.update(changes)
    return order


def aftersale(**info_changes: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "aftersale_id": "7100000000000000001",
        "aftersale_type": 0,
        "aftersale_status": 12,
        "related_id": "6920000000000000011",
        "apply_time": T0 + 7200,
        "create_time": T0 + 7200,
        "update_time": T0 + 90000,
        "refund_amount": 5490,
        "aftersale_num": 1,
        "refund_status": 3,
    }
    info.update(info_changes)
    return {
        "aftersale_info": info,
        "order_info": {
            "shop_order_id": "6920000000000000010",
            "related_order_info": [{"sku_order_id": "6920000000000000011", "pay_amount": 10980}],
        },
        "text_part": {"reason_text": "商品破损"},
    }


def settle_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "settle_time": "2024-06-20 10:00:00",
        "request_no": "50000000000000001",
        "shop_order_id": "6920000000000000010",
        "order_id": "6920000000000000011",
        "trade_type": 0,
        "total_income": 11780,
        "platform_service_fee": 549,
        "commission": 2196,
        "other_sharing_amount": 71,
        "colonel_service_fee": 0,
        "channel_promotion_fee": 0,
        "good_learn_channel_fee": 0,
        "total_outcome": 2816,
        "settle_amount": 8964,
    }
    row.update(changes)
    return row


# -- tables and classification ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "pay_time", "expected"),
    [
        (1, 0, OrderStatus.PENDING_PAYMENT),
        (105, T0, OrderStatus.PAID),
        (2, T0, OrderStatus.PAID),
        (101, T0, OrderStatus.PART_SHIPPED),
        (3, T0, OrderStatus.SHIPPED),
        (5, T0, OrderStatus.COMPLETED),
        (4, 0, OrderStatus.CANCELLED),  # cancelled before payment
        (4, T0, OrderStatus.CLOSED),  # closed after payment (refunded)
    ],
)
def test_order_status_table(code: int, pay_time: int, expected: OrderStatus) -> None:
    assert dy.order_status({"order_status": code, "pay_time": pay_time}) is expected


def test_unknown_order_status_is_an_error() -> None:
    with pytest.raises(ValueError, match="order_status"):
        dy.order_status({"order_status": 77})


@pytest.mark.parametrize(
    ("after_sale_status", "line_status", "expected"),
    [
        (0, 3, LineRefundState.NONE),
        (6, 3, LineRefundState.IN_PROGRESS),
        (7, 3, LineRefundState.IN_PROGRESS),
        (11, 3, LineRefundState.IN_PROGRESS),
        (12, 3, LineRefundState.PARTIAL),
        (12, 4, LineRefundState.FULL),  # the sku order closed: everything went back
        (27, 3, LineRefundState.NONE),
        (28, 3, LineRefundState.NONE),
    ],
)
def test_line_refund_state_table(after_sale_status: int, line_status: int, expected: LineRefundState) -> None:
    raw = sku_line(order_status=line_status, after_sale_info={"after_sale_status": after_sale_status})
    assert dy.line_refund_state(raw) is expected
    assert dy.line_refund_state({"order_status": 3}) is LineRefundState.NONE


def test_refund_status_table_covers_the_documented_states() -> None:
    assert dy.REFUND_STATUS[6] is RefundStatus.REQUESTED
    assert dy.REFUND_STATUS[7] is RefundStatus.AWAITING_RETURN
    assert dy.REFUND_STATUS[11] is RefundStatus.AWAITING_CONFIRM
    assert dy.REFUND_STATUS[12] is RefundStatus.SUCCEEDED
    assert dy.REFUND_STATUS[27] is RefundStatus.REFUSED and dy.REFUND_STATUS[29] is RefundStatus.REFUSED
    assert dy.REFUND_STATUS[28] is RefundStatus.CLOSED and dy.REFUND_STATUS[51] is RefundStatus.CLOSED
    documented = {0, 3, 6, 7, 8, 11, 12, 13, 14, 27, 28, 29, 51, 53}
    assert documented <= set(dy.REFUND_STATUS) and documented <= set(dy.LINE_REFUND_STATE)


def envelope(code: int, sub_code: str = "", msg: str = "x", sub_msg: str = "") -> dict[str, Any]:
    return {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg, "log_id": "1"}


@pytest.mark.parametrize(
    ("body", "error_class", "token_expired"),
    [
        (envelope(40003, "isv.signature-invalid"), ErrorClass.AUTH, False),
        (envelope(40003, "isv.timestamp-invalid"), ErrorClass.AUTH, False),
        (envelope(40003, "isv.access-token-expired"), ErrorClass.AUTH, True),
        (envelope(40003, "isv.access-token-no-existed"), ErrorClass.AUTH, True),
        (envelope(40001, "isv.access-token-missing"), ErrorClass.AUTH, True),
        (envelope(40001, "isv.signature-missing"), ErrorClass.AUTH, False),
        (envelope(30001, "dop.authorization-no-existed"), ErrorClass.AUTH, False),
        (envelope(40003, "isv.parameter-format-invalid"), ErrorClass.BAD_REQUEST, False),
        (envelope(40004, "isv.parameter-invalid:20008"), ErrorClass.BAD_REQUEST, False),
        (envelope(40004, "isv.parameter-invalid:20022"), ErrorClass.BAD_REQUEST, False),
        (envelope(50002, "isv.business-failed:12000"), ErrorClass.BAD_REQUEST, False),
        (envelope(20000, "isp.service-error:20005"), ErrorClass.TRANSIENT, False),
        (envelope(20001), ErrorClass.TRANSIENT, False),
        (envelope(60000, "isv.app-api-rate-limit"), ErrorClass.RATE_LIMIT, False),
        (envelope(12345), ErrorClass.BAD_REQUEST, False),  # unknown: our problem, never looped
        ("<html>502</html>", ErrorClass.TRANSIENT, False),
        ({"data": {}}, ErrorClass.TRANSIENT, False),
    ],
)
def test_error_classification(body: Any, error_class: ErrorClass, token_expired: bool) -> None:
    resolution = dy.classify_body(body)
    assert resolution is not None
    assert resolution.error_class is error_class
    assert resolution.token_expired is token_expired


def test_success_envelopes_new_and_legacy() -> None:
    assert dy.classify_body(envelope(10000)) is None
    assert dy.classify_body({"err_no": 0, "message": "success", "data": {}}) is None
    legacy_error = dy.classify_body({"err_no": 40003, "message": "x"})
    assert legacy_error is not None and legacy_error.error_class is ErrorClass.BAD_REQUEST


def test_rate_limit_ban_hint_is_read() -> None:
    resolution = dy.classify_body(envelope(60000, "isv.app-api-rate-limit", "触发限流", "请2秒后重试"))
    assert resolution is not None and resolution.retry_after == 2.0
    no_hint = dy.classify_body(envelope(60000, "", "触发限流"))
    assert no_hint is not None and no_hint.retry_after is None


# -- parsers ----------------------------------------------------------------------------------


def test_parse_order_normalises_money_time_buyer_and_attribution() -> None:
    raw = shop_order()
    record = dy.parse_order(raw, hash_key=b"test-key")
    assert record.platform_order_id == "6920000000000000010"
    assert record.status is OrderStatus.SHIPPED and record.platform_status == "3"
    assert record.paid_fen == 11780 and record.post_fee_fen == 800 and record.discount_fen == 1000
    assert record.created_at == datetime.fromtimestamp(T0, UTC) and record.created_at.tzinfo is not None
    assert record.paid_at == datetime.fromtimestamp(T0 + 120, UTC)
    assert record.modified_at == datetime.fromtimestamp(T0 + 3600, UTC)
    assert record.buyer_ref == buyer_ref("douyin", "fake_buyer_ab120000042", b"test-key")
    assert "fake_buyer" not in (record.buyer_ref or "")
    assert record.room_id == "7213769126039785821" and record.author_id == "52000000001"
    (line,) = record.lines
    assert line.platform_line_id == "6920000000000000011"
    assert line.platform_item_id == "3600000000000000001" and line.platform_sku_id == "1700000000001"
    assert line.quantity == 2 and line.unit_price_fen == 5990 and line.paid_fen == 10980
    assert line.outer_sku_id == "GZ-YAK-500G" and line.title == "甘孜牦牛肉干 500g"
    assert line.room_id == "7213769126039785821" and line.author_id == "52000000001"
    assert record.raw is raw and line.raw is raw["sku_order_list"][0]


def test_parse_order_without_live_attribution_and_unpaid() -> None:
    line = sku_line(room_id=0, room_id_str="", author_id=0, author_name="", theme_type="0")
    record = dy.parse_order(shop_order(order_status=1, pay_time=0, sku_order_list=[line]))
    assert record.status is OrderStatus.PENDING_PAYMENT and record.paid_at is None
    assert record.room_id is None and record.author_id is None
    assert record.lines[0].room_id is None and record.lines[0].author_id is None


@pytest.mark.parametrize(
    "change",
    [
        {"pay_amount": "117.80"},  # yuan text where fen belongs
        {"pay_amount": 117.8},  # float money
        {"update_time": None},
        {"sku_order_list": []},
        {"sku_order_list": None},
        {"order_id": ""},
        {"order_status": 99},
        {"sku_order_list": [sku_line(parent_order_id="1")]},
        {"sku_order_list": [sku_line(item_num="many")]},
        {"sku_order_list": [sku_line(pay_amount=None)]},
    ],
)
def test_parse_order_refuses_malformed_payloads(change: dict[str, Any]) -> None:
    raw = {k: v for k, v in shop_order(**change).items() if v is not None or k == "sku_order_list"}
    with pytest.raises((ValueError, TypeError)):
        dy.parse_order(raw)


def test_parse_refund() -> None:
    record = dy.parse_refund(aftersale())
    assert record.platform_refund_id == "7100000000000000001"
    assert record.platform_order_id == "6920000000000000010"
    assert record.platform_line_id == "6920000000000000011"
    assert record.status is RefundStatus.SUCCEEDED and record.platform_status == "12"
    assert record.amount_fen == 5490 and record.quantity == 1 and record.with_return
    assert record.created_at == datetime.fromtimestamp(T0 + 7200, UTC)
    assert record.modified_at == datetime.fromtimestamp(T0 + 90000, UTC)
    assert record.reason == "商品破损"
    amount_only = dy.parse_refund(aftersale(aftersale_type=2, aftersale_num=0, aftersale_status=6))
    assert amount_only.quantity is None and not amount_only.with_return
    assert amount_only.status is RefundStatus.REQUESTED
    for bad in ({"refund_amount": "54.90"}, {"aftersale_status": 999}, {"update_time": 0}, {"aftersale_id": None}):
        with pytest.raises(ValueError):
            dy.parse_refund(aftersale(**bad))


def test_parse_product_with_skus() -> None:
    raw: dict[str, Any] = {
        "product": {
            "product_id": 3600000000000000001,
            "product_id_str": "3600000000000000001",
            "name": "甘孜牦牛肉干",
            "status": 0,
            "check_status": 3,
            "outer_product_id": "GZ-YAK",
            "update_time": T0,
        },
        "skus": [
            {
                "id": 1700000000001,
                "product_id": 3600000000000000001,
                "code": "GZ-YAK-500G",
                "price": 5990,
                "stock_num": 12,
                "spec_detail_name1": "500g",
            },
            {
                "id": 1700000000002,
                "product_id": 3600000000000000001,
                "code": "GZ-YAK-250G",
                "price": 3290,
                "stock_num": 30,
                "spec_detail_name1": "250g",
            },
        ],
    }
    record = dy.parse_product(raw)
    assert isinstance(record, ProductRecord)
    assert record.platform_item_id == "3600000000000000001" and record.on_sale and record.outer_id == "GZ-YAK"
    assert record.price_fen == 3290 and record.stock == 42
    assert [s.outer_id for s in record.skus] == ["GZ-YAK-500G", "GZ-YAK-250G"]
    assert record.skus[0].spec == "500g" and record.modified_at == datetime.fromtimestamp(T0, UTC)
    offline = copy.deepcopy(raw)
    offline["product"]["status"] = 1
    assert not dy.parse_product(offline).on_sale
    foreign = copy.deepcopy(raw)
    foreign["skus"][0]["product_id"] = 1
    with pytest.raises(ValueError, match="belongs"):
        dy.parse_product(foreign)
    with pytest.raises(ValueError, match="no SKUs"):
        dy.parse_product({**raw, "skus": []})


def test_parse_settlement_lines_add_up_to_the_payout() -> None:
    lines = dy.parse_settlement(settle_row())
    by_kind = {line.platform_bill_id.split(":")[1]: line for line in lines}
    assert by_kind["total_income"].kind is SettlementKind.SALE and by_kind["total_income"].amount_fen == 11780
    assert by_kind["platform_service_fee"].kind is SettlementKind.PLATFORM_FEE
    assert by_kind["platform_service_fee"].amount_fen == -549
    assert by_kind["commission"].kind is SettlementKind.HOST_COMMISSION and by_kind["commission"].amount_fen == -2196
    assert by_kind["other_sharing_amount"].amount_fen == -71
    assert by_kind["other_sharing_amount"].kind is SettlementKind.PAYMENT_FEE  # 其他分成: the payment fee
    assert SettlementKind.OTHER not in {line.kind for line in lines}  # a clean row: every column mapped
    assert sum(line.amount_fen for line in lines) == 8964
    assert "colonel_service_fee" not in by_kind  # zero columns make no lines
    assert lines[0].settled_at == datetime(2024, 6, 20, 2, 0, tzinfo=UTC)  # Beijing 10:00
    assert lines[0].platform_order_id == "6920000000000000010"
    assert lines[0].platform_line_id == "6920000000000000011"
    assert len({line.platform_bill_id for line in lines}) == len(lines)


def test_parse_settlement_refund_rows_and_bad_rows() -> None:
    (refund,) = dy.parse_settlement(settle_row(trade_type=1, settle_amount=-5490, total_income=-5490))
    assert refund.kind is SettlementKind.REFUND and refund.amount_fen == -5490
    (positive,) = dy.parse_settlement(settle_row(trade_type=3, settle_amount=5490))
    assert positive.amount_fen == -5490  # a refund always takes from the payout
    with pytest.raises(ValueError, match="add up"):
        dy.parse_settlement(settle_row(settle_amount=9000))
    with pytest.raises(ValueError):
        dy.parse_settlement(settle_row(settle_time="20/06/2024"))
    with pytest.raises(ValueError):
        dy.parse_settlement(settle_row(commission=21.96))


def test_parse_live_session() -> None:
    raw: dict[str, Any] = {
        "room": {
            "room_id": 7213769126039785821,
            "room_id_str": "7213769126039785821",
            "author_id": 52000000001,
            "author_nickname": "县长带货直播间",
            "title": "6月14日 甘孜好物助农专场",
            "start_time": T0,
            "end_time": T0 + 7200,
            "update_time": T0 + 7200,
            "watch_cnt": 5000,
            "watch_ucnt": 3500,
            "max_online_ucnt": 800,
            "total_watch_duration": 900000,
        },
        "minute_list": [
            {"minute": T0, "online_ucnt": 10, "watch_cnt": 3, "new_pay_ucnt": 0, "pay_amt": 0},
            {"minute": T0 + 60, "online_ucnt": 50, "watch_cnt": 9, "new_pay_ucnt": 1, "pay_amt": 5990},
        ],
        "explain_list": [
            {"product_id": 3600000000000000001, "sku_id": 1700000000001, "start_time": T0, "end_time": T0 + 600}
        ],
    }
    record = dy.parse_live_session(raw)
    assert isinstance(record, LiveSessionRecord)
    assert record.room_id == "7213769126039785821" and record.author_id == "52000000001"
    assert record.host_name == "县长带货直播间" and record.ended_at == datetime.fromtimestamp(T0 + 7200, UTC)
    assert (record.views, record.unique_viewers, record.peak_online) == (5000, 3500, 800)
    assert [m.gmv_fen for m in record.minutes] == [0, 5990] and record.minutes[1].new_buyers == 1
    assert record.explanations[0].platform_item_id == "3600000000000000001"
    assert record.explanations[0].platform_sku_id == "1700000000001"
    live = copy.deepcopy(raw)
    live["room"]["end_time"] = 0
    assert dy.parse_live_session(live).ended_at is None


def test_page_order_reads_backwards_then_page_zero_again() -> None:
    assert dy.page_order(0, 100) == []
    assert dy.page_order(100, 100) == []
    assert dy.page_order(101, 100) == [1, 0]
    assert dy.page_order(350, 100) == [3, 2, 1, 0]
    assert dy.page_order(80_000, 100)[0] == 499  # never past page x size = 50,000


def test_window_seconds_are_inclusive_whole_seconds() -> None:
    start = datetime(2024, 6, 15, 0, 0, 0, tzinfo=UTC)
    assert dy.window_seconds(start, start + timedelta(hours=1)) == (1718409600, 1718413199)
    assert dy.window_seconds(start + timedelta(microseconds=1), start + timedelta(seconds=2)) == (
        1718409601,
        1718409601,
    )


# -- the connector against its fake -----------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[Running]:
    async with fake_server("douyin", seed=21, orders=300, days=10, clock=FakeClock(frozen_at=FROZEN)) as running:
        yield running


def make_connector(
    fake: Running, session: aiohttp.ClientSession, *, tokens: bool = True, **overrides: Any
) -> dy.DouyinConnector:
    creds = fake.credentials
    config = ShopConfig(
        platform=PlatformKind.DOUYIN,
        base_url=fake.base_url,
        app_key=creds.app_key,
        app_secret=overrides.pop("app_secret", creds.app_secret),
        shop_id=creds.shop_id,
        access_token=creds.access_token if tokens else None,
        refresh_token=creds.refresh_token if tokens else None,
        token_expires_at=overrides.pop("token_expires_at", None),
    )
    warp = VirtualTime()  # the rate limiter's waits are honoured and counted, not spent
    kwargs: dict[str, Any] = {
        "session": session,
        "retry": RetryPolicy(max_attempts=6, base_delay=0.001, max_delay=0.01),
        "timeout": 1.0,
        "clock": fake.clock.now,
        "limiter": RateLimiter(clock=warp.clock, sleep=warp.sleep),
    }
    kwargs.update(overrides)
    return dy.DouyinConnector(config, **kwargs)


async def test_a_shop_without_tokens_creates_one_first(fake: Running, session: aiohttp.ClientSession) -> None:
    seen: list[str | None] = []

    async def on_tokens(tokens: Any) -> None:
        seen.append(tokens.access_token)

    connector = make_connector(fake, session, tokens=False, on_tokens=on_tokens)
    now = fake.clock.now()
    records = await collect(connector.orders(now - timedelta(days=1), now))
    assert records and not any(isinstance(r, Quarantined) for r in records)
    assert connector.stats.calls["token.create"] == 1 and connector.stats.token_refreshes == 1
    assert seen == [connector.tokens.access_token] and fake.fake.tokens.is_valid(seen[0])
    assert connector.tokens.expires_at == now + timedelta(days=7)


async def test_token_is_refreshed_before_it_expires(fake: Running, session: aiohttp.ClientSession) -> None:
    now = fake.clock.now()
    connector = make_connector(fake, session, token_expires_at=now + timedelta(minutes=3))
    await collect(connector.orders(now - timedelta(hours=6), now))
    assert connector.stats.calls["token.refresh"] == 1
    assert connector.stats.calls.get("token.create", 0) == 0
    assert connector.tokens.access_token != fake.credentials.access_token
    assert not fake.fake.tokens.is_valid(fake.credentials.access_token)  # retired by the refresh
    assert connector.tokens.expires_at == now + timedelta(days=7)


async def test_a_refused_refresh_token_falls_back_to_token_create(
    fake: Running, session: aiohttp.ClientSession
) -> None:
    fake.fake.tokens.refresh(fake.credentials.refresh_token)  # someone else used it
    connector = make_connector(fake, session)
    now = fake.clock.now()
    await collect(connector.orders(now - timedelta(hours=6), now))
    assert connector.stats.calls["token.refresh"] == 1 and connector.stats.calls["token.create"] == 1
    assert fake.fake.tokens.is_valid(connector.tokens.access_token)


async def test_wrong_secret_is_fatal_without_retries(fake: Running, session: aiohttp.ClientSession) -> None:
    connector = make_connector(fake, session, app_secret="wrong-secret-not-real")
    now = fake.clock.now()
    with pytest.raises(AuthError) as caught:
        await collect(connector.orders(now - timedelta(hours=6), now))
    assert caught.value.sub_code == "isv.signature-invalid" and caught.value.code == 40003
    assert connector.stats.requests == 1 and not connector.stats.retries
    assert connector.stats.errors[ErrorClass.AUTH] == 1


async def test_rate_limit_ban_is_honoured(fake: Running, session: aiohttp.ClientSession) -> None:
    douyin = fake.fake
    assert isinstance(douyin, FakeDouyin)
    douyin.ban_hint_seconds = 3
    fake.fake.faults.profile = FaultProfile(rate_limit=1.0, max_consecutive=2)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    connector = make_connector(fake, session, sleep=sleep)
    now = fake.clock.now()
    records = await collect(connector.orders(now - timedelta(hours=6), now))
    assert records
    assert connector.stats.retries[ErrorClass.RATE_LIMIT] == 2
    assert connector.bucket.bans >= 1  # every caller of this app key pauses
    assert waits == [3.0, 3.0]  # the ban hint "请3秒后重试", not the millisecond backoff


async def test_timeouts_are_retried(fake: Running, session: aiohttp.ClientSession) -> None:
    fake.fake.faults.profile = FaultProfile(hang=1.0, hang_seconds=0.6, max_consecutive=1)
    connector = make_connector(fake, session, timeout=0.2)
    now = fake.clock.now()
    records = await collect(connector.orders(now - timedelta(hours=6), now))
    assert records
    assert connector.stats.retries[ErrorClass.TRANSIENT] >= 1


async def test_orders_beyond_the_90_day_lookback_are_not_asked_for(
    fake: Running, session: aiohttp.ClientSession
) -> None:
    connector = make_connector(fake, session)
    now = fake.clock.now()
    records = await collect(connector.orders(now - timedelta(days=120), now))
    assert len(records) == len(fake.world.orders_modified(now - timedelta(days=120), now))
    assert not connector.stats.errors


async def test_a_window_over_the_offset_cap_is_split(
    fake: Running, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dy.tables, "OFFSET_CAP", 20)  # as if a day held more than 50,000 orders
    connector = make_connector(fake, session)
    now = fake.clock.now()
    start = now - timedelta(days=4)
    records = await collect(connector.orders(start, now))
    ids = [r.platform_order_id for r in records if not isinstance(r, Quarantined)]
    assert set(ids) == {o.order_id for o in fake.world.orders_modified(start, now)}
    assert connector.stats.calls["order.searchList"] > len(connector.stats.windows)  # halves were read


async def test_order_detail(fake: Running, session: aiohttp.ClientSession) -> None:
    connector = make_connector(fake, session)
    now = fake.clock.now()
    canonical = fake.world.orders_created(now - timedelta(days=3), now)[0]
    record = await connector.order_detail(canonical.order_id)
    assert record.platform_order_id == canonical.order_id and record.paid_fen == canonical.paid_fen
    assert [line.platform_line_id for line in record.lines] == [line.line_id for line in canonical.lines]
    with pytest.raises(RecordError):  # "订单不存在": that id is skippable, the stream is not dead
        await connector.order_detail("1")


async def test_products_and_stock_push(fake: Running, session: aiohttp.ClientSession) -> None:
    connector = make_connector(fake, session)
    products = await collect(connector.products())
    items = fake.world.products()
    assert all(isinstance(p, ProductRecord) for p in products)
    assert {p.platform_item_id for p in products if isinstance(p, ProductRecord)} == {i.item_id for i in items}
    item = next(i for i in items if len(i.skus) > 1)
    result = await connector.push_stock(item.item_id, item.skus[1].sku_id, 77, idempotency_key="stock-1")
    assert result.stock == 77 and result.platform_sku_id == item.skus[1].sku_id
    assert fake.world.item(item.item_id).skus[1].stock == 77  # type: ignore[union-attr]
    again = await connector.push_stock(item.item_id, item.skus[1].sku_id, 77, idempotency_key="stock-1")
    assert again == result  # a full update is idempotent
    with pytest.raises(BadRequestError):
        await connector.push_stock(item.item_id, None, 5, idempotency_key="stock-2")
    with pytest.raises(BadRequestError):
        await connector.push_stock("GZ-YAK", None, 5, idempotency_key="stock-4")
    with pytest.raises(BadRequestError):
        await connector.push_stock(item.item_id, item.skus[0].sku_id, -1, idempotency_key="stock-5")
    single = next((i for i in items if len(i.skus) == 1), None)
    if single is not None:
        pushed = await connector.push_stock(single.item_id, None, 3, idempotency_key="stock-3")
        assert pushed.platform_sku_id == single.skus[0].sku_id


async def test_settlements_equal_the_world(fake: Running, session: aiohttp.ClientSession) -> None:
    connector = make_connector(fake, session)
    now = fake.clock.now()
    start = now - timedelta(days=9)
    lines = await collect(connector.settlements(start, now))
    assert lines and all(isinstance(line, SettlementLineRecord) for line in lines)
    world = fake.world.settlements(start, now)
    assert sum(line.amount_fen for line in lines if isinstance(line, SettlementLineRecord)) == sum(
        line.amount_fen for line in world
    )
    kinds = {line.kind for line in lines if isinstance(line, SettlementLineRecord)}
    assert {SettlementKind.SALE, SettlementKind.PLATFORM_FEE} <= kinds
    assert len({line.platform_bill_id for line in lines if isinstance(line, SettlementLineRecord)}) == len(lines)
    assert max(w.end - w.start for w in connector.stats.windows) <= timedelta(days=7)


async def test_live_sessions_stream(fake: Running, session: aiohttp.ClientSession) -> None:
    connector = make_connector(fake, session)
    now = fake.clock.now()
    start = now - timedelta(days=9)
    sessions = await collect(connector.live_sessions(start, now))
    world = fake.world.live_sessions(start, now)
    assert [s.room_id for s in sessions if isinstance(s, LiveSessionRecord)] == [w.room_id for w in world]
    first = sessions[0]
    assert isinstance(first, LiveSessionRecord)
    assert sum(m.gmv_fen for m in first.minutes) == world[0].gmv_fen
    assert len(first.explanations) == len(world[0].explanations)
    assert first.peak_online == world[0].peak_online and first.author_id == world[0].author_id


async def test_streams_are_declared() -> None:
    assert dy.DouyinConnector.streams == frozenset(SyncStream)
    assert dy.DouyinConnector.token_refresh


async def test_a_window_whose_total_keeps_growing_raises_window_unstable(session: aiohttp.ClientSession) -> None:
    """Issue 12.2: Douyin never checked its window: records entering it while we paged (the
    ``total`` growing) pushed unread ones onto pages already read, and the window was taken
    as read. Now it is paged again and, never settling, raises ``WindowUnstable``."""

    class Growing(FakeDouyin):
        calls = 0

        def _order_search(self, world: Any, params: dict[str, Any]) -> dict[str, Any]:
            answer = super()._order_search(world, params)
            Growing.calls += 1
            answer["total"] += Growing.calls
            return answer

    async with fake_server(Growing, seed=21, orders=2500, days=10, clock=FakeClock(frozen_at=FROZEN)) as running:
        connector = make_connector(running, session, sleep=VirtualTime().sleep)
        start = FROZEN - timedelta(days=2)
        with pytest.raises(WindowUnstable, match="total kept growing"):
            async for _ in connector.orders(start, start + timedelta(days=1)):
                pass
        assert connector.stats.unstable_windows == connector.unstable_retries + 1
        # every pass re-read the window: page 0, the rest backwards, page 0 again
        assert Growing.calls > (dy.UNSTABLE_WINDOW.rescans + 1) * (connector.unstable_retries + 1)


async def test_a_window_whose_total_only_shrinks_is_read_once(session: aiohttp.ClientSession) -> None:
    """Records leaving the window while it is paged backwards cost duplicates, never gaps: no rescan."""
    clock = FakeClock(frozen_at=FROZEN)
    async with fake_server("douyin", seed=21, orders=2500, days=10, clock=clock) as running:
        running.fake.faults.profile = FaultProfile(modify_during_paging=1.0)
        connector = make_connector(running, session)
        start = FROZEN - timedelta(days=2)
        [item async for item in connector.orders(start, start + timedelta(days=1))]
        assert running.fake.faults.stats["modify_during_paging"] > 0
        assert connector.stats.unstable_windows == 0


async def test_a_window_that_holds_still_yields_each_record_once(session: aiohttp.ClientSession) -> None:
    """Page 0 is read again at the end of a pass; what it repeats unchanged is not yielded again."""
    async with fake_server("douyin", seed=21, orders=2500, days=10, clock=FakeClock(frozen_at=FROZEN)) as running:
        connector = make_connector(running, session)
        start = FROZEN - timedelta(days=2)
        got = [item async for item in connector.orders(start, start + timedelta(days=1))]
        assert connector.stats.pages > 2  # page 0, the last back to 1, page 0 again
        ids = [item.platform_order_id for item in got if not isinstance(item, Quarantined)]
        assert len(ids) == len(got)
        assert len(ids) > dy.tables.ORDER_PAGE_SIZE
        assert len(ids) == len(set(ids))


def test_a_walk_marks_a_record_by_a_digest_of_its_content() -> None:
    """The mark a walk keeps per yielded record: 16 bytes whatever the record's size, equal for
    the same content in another key order, different for any other content."""
    order = {"order_id": "1", "update_time": 5, "sku_order_list": [{"order_id": "11", "item_num": 1}] * 40}
    reordered = dict(reversed(list(order.items())))
    assert content_key(order) == content_key(reordered)
    assert len(content_key(order)) == 16
    assert content_key({**order, "update_time": 6}) != content_key(order)
    assert content_key({**order, "sku_order_list": [{"order_id": "11", "item_num": 2}]}) != content_key(order)
