"""TOP connector: pure parts (status tables, error classification, envelope, record parsers),
the contract suite, and connector behaviour against the fake gateway (paging walk, dense
windows, products, stock push, bills, signing options, error handling, Tmall)."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import AsyncIterator, Callable
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
from bangfu.money import MoneyError
from bangfu.privacy import buyer_ref
from bangfu.records import OrderRecord, ProductRecord, Quarantined, SettlementLineRecord
from connectors.base import ShopConfig
from connectors.errors import AuthError, BadRequestError
from connectors.fakes.clock import FakeClock
from connectors.fakes.faults import FaultProfile
from connectors.fakes.server import Running, fake_server
from connectors.ratelimit import RateLimiter
from connectors.registry import connector_class
from connectors.taobao import (
    BILL_FIELDS,
    ERRORS,
    ITEM_FIELD_KEYS,
    ITEM_FIELDS,
    LINE_REFUND_STATE,
    REFUND_FIELDS,
    REFUND_STATUS,
    TRADE_FIELDS,
    TRADE_STATUS,
    TaobaoConnector,
    TopPage,
    classify_body,
    nested_list,
    parse_bill,
    parse_item,
    parse_refund,
    parse_trade,
    response_key,
    window_bounds,
)
from tests.connectors.contract import CONTRACT_RETRY, ContractTests, VirtualTime, collect
from tests.connectors.fieldcheck import OnlyListed
from tests.connectors.harvest import harvest

KEY = b"test-hash-key-not-real"

TRADE: dict[str, Any] = {
    "tid": 462503790690334,
    "tid_str": "462503790690334",
    "status": "WAIT_SELLER_SEND_GOODS",
    "type": "fixed",
    "created": "2024-05-01 08:00:00",
    "modified": "2024-05-01 08:05:30",
    "pay_time": "2024-05-01 08:01:00",
    "payment": "108.00",
    "total_fee": "100.00",
    "post_fee": "10.00",
    "discount_fee": "2.00",
    "buyer_nick": "t***1",
    "buyer_open_uid": "AAH7x-fake-open-uid",
    "seller_nick": "bangfu-shop",
    "orders": {
        "order": [
            {
                "oid": 462503790690335,
                "oid_str": "462503790690335",
                "num_iid": 600000001,
                "sku_id": "5000001",
                "outer_iid": "YAK-01",
                "outer_sku_id": "YAK-01-500G",
                "title": "牦牛肉 500g",
                "num": 2,
                "price": "30.00",
                "total_fee": "60.00",
                "payment": "58.00",
                "divide_order_fee": "58.00",
                "status": "WAIT_SELLER_SEND_GOODS",
                "refund_status": "NO_REFUND",
            },
            {
                "oid": 462503790690336,
                "num_iid": 600000002,
                "title": "青稞面 1kg",
                "num": 1,
                "price": "40.00",
                "total_fee": "40.00",
                "payment": "40.00",
                "status": "WAIT_SELLER_SEND_GOODS",
                "refund_status": "SUCCESS",
            },
        ]
    },
}


def test_trade_status_table_covers_the_documented_enum() -> None:
    documented = {
        "TRADE_NO_CREATE_PAY", "WAIT_BUYER_PAY", "SELLER_CONSIGNED_PART", "WAIT_SELLER_SEND_GOODS",
        "WAIT_BUYER_CONFIRM_GOODS", "TRADE_BUYER_SIGNED", "TRADE_FINISHED", "TRADE_CLOSED",
        "TRADE_CLOSED_BY_TAOBAO", "PAY_PENDING", "WAIT_PRE_AUTH_CONFIRM", "PAID_FORBID_CONSIGN",
    }  # fmt: skip
    assert set(TRADE_STATUS) == documented
    assert TRADE_STATUS["TRADE_CLOSED_BY_TAOBAO"] is OrderStatus.CANCELLED
    assert TRADE_STATUS["TRADE_CLOSED"] is OrderStatus.CLOSED
    assert TRADE_STATUS["TRADE_FINISHED"] is OrderStatus.COMPLETED
    assert not TRADE_STATUS["WAIT_BUYER_PAY"].is_paid
    assert TRADE_STATUS["WAIT_SELLER_SEND_GOODS"].is_paid


def test_refund_status_tables() -> None:
    for status in ("WAIT_SELLER_AGREE", "WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS",
                   "SELLER_REFUSE_BUYER", "CLOSED", "SUCCESS"):  # fmt: skip
        assert status in REFUND_STATUS and status in LINE_REFUND_STATE
    assert REFUND_STATUS["SUCCESS"] is RefundStatus.SUCCEEDED
    assert REFUND_STATUS["CLOSED"] is RefundStatus.CLOSED
    assert REFUND_STATUS["SELLER_REFUSE_BUYER"] is RefundStatus.REFUSED
    assert LINE_REFUND_STATE["NO_REFUND"] is LineRefundState.NONE


def test_parse_trade() -> None:
    order = parse_trade(TRADE, hash_key=KEY)
    assert order.platform_order_id == "462503790690334"
    assert order.status is OrderStatus.PAID
    assert order.platform_status == "WAIT_SELLER_SEND_GOODS"
    assert order.created_at == datetime(2024, 5, 1, 0, 0, tzinfo=UTC)
    assert order.modified_at == datetime(2024, 5, 1, 0, 5, 30, tzinfo=UTC)
    assert order.paid_at == datetime(2024, 5, 1, 0, 1, tzinfo=UTC)
    assert (order.paid_fen, order.post_fee_fen, order.discount_fen) == (10800, 1000, 200)
    assert order.buyer_ref == buyer_ref("taobao", "AAH7x-fake-open-uid", KEY)
    assert "AAH7x" not in (order.buyer_ref or "")
    assert order.raw is TRADE
    first, second = order.lines
    assert first.platform_line_id == "462503790690335"
    assert first.platform_item_id == "600000001"
    assert (first.quantity, first.unit_price_fen, first.paid_fen) == (2, 3000, 5800)
    assert first.platform_sku_id == "5000001" and first.outer_sku_id == "YAK-01-500G"
    assert first.refund_state is LineRefundState.NONE
    assert second.platform_line_id == "462503790690336"
    assert second.paid_fen == 4000 and second.platform_sku_id is None
    assert second.refund_state is LineRefundState.PARTIAL


def test_parse_trade_unpaid_closed_and_fully_refunded_line() -> None:
    unpaid = {**TRADE, "status": "WAIT_BUYER_PAY", "pay_time": None}
    record = parse_trade(unpaid, hash_key=KEY)
    assert record.status is OrderStatus.PENDING_PAYMENT and not record.status.is_paid
    assert record.paid_fen == 10800  # the amount due, as TOP reports it
    assert record.paid_at is None
    closed = copy.deepcopy(TRADE)
    closed["status"] = "TRADE_CLOSED"
    closed["orders"]["order"][1]["status"] = "TRADE_CLOSED"
    record = parse_trade(closed, hash_key=KEY)
    assert record.status is OrderStatus.CLOSED and record.paid_fen == 10800
    assert record.lines[1].refund_state is LineRefundState.FULL
    nick_only = {k: v for k, v in TRADE.items() if k != "buyer_open_uid"}
    assert parse_trade(nick_only, hash_key=KEY).buyer_ref == buyer_ref("taobao", "t***1", KEY)


def test_parse_trade_single_sub_order_object_is_accepted() -> None:
    single = copy.deepcopy(TRADE)
    single["orders"] = {"order": TRADE["orders"]["order"][0]}
    assert len(parse_trade(single, hash_key=KEY).lines) == 1


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"status": "SOMETHING_NEW"}, ValueError),
        ({"payment": 108.0}, ValueError),
        ({"payment": "108.001"}, MoneyError),
        ({"modified": "2024/05/01 08:05"}, ValueError),
        ({"tid": None, "tid_str": None}, ValueError),
        ({"tid": "12ab", "tid_str": None}, ValueError),
        ({"orders": {}}, ValueError),
    ],
)
def test_parse_trade_rejects_malformed(change: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_trade({**TRADE, **change}, hash_key=KEY)


REFUND: dict[str, Any] = {
    "refund_id": "91234567890",
    "tid": 462503790690334,
    "oid": 462503790690336,
    "title": "青稞面 1kg",
    "buyer_nick": "t***1",
    "total_fee": "40.00",
    "payment": "40.00",
    "refund_fee": "15.50",
    "status": "WAIT_BUYER_RETURN_GOODS",
    "created": "2024-05-02 10:00:00",
    "modified": "2024-05-02 11:30:00",
    "good_status": "BUYER_RECEIVED",
    "has_good_return": True,
    "refund_phase": "aftersale",
    "reason": "质量问题",
    "num": 1,
}


def test_parse_refund() -> None:
    refund = parse_refund(REFUND)
    assert refund.platform_refund_id == "91234567890"
    assert refund.platform_order_id == "462503790690334"
    assert refund.platform_line_id == "462503790690336"
    assert refund.status is RefundStatus.AWAITING_RETURN
    assert refund.amount_fen == 1550 and refund.quantity == 1 and refund.with_return
    assert refund.created_at == datetime(2024, 5, 2, 2, 0, tzinfo=UTC)
    assert refund.reason == "质量问题"
    plain = parse_refund({**REFUND, "has_good_return": "false", "num": None, "oid": None})
    assert not plain.with_return and plain.quantity is None and plain.platform_line_id is None
    with pytest.raises(ValueError):
        parse_refund({**REFUND, "refund_fee": None})


ITEM: dict[str, Any] = {
    "num_iid": 600000001,
    "title": "牦牛肉 500g",
    "approve_status": "onsale",
    "num": 120,
    "price": "30.00",
    "outer_id": "YAK-01",
    "modified": "2024-04-30 09:00:00",
    "skus": {
        "sku": [
            {"sku_id": 5000001, "quantity": 70, "price": "30.00", "outer_id": "YAK-01-500G",
             "properties_name": "1627207:28341:规格:500g", "modified": "2024-04-30 09:00:00"},
            {"sku_id": 5000002, "quantity": 50, "price": "55.00", "outer_id": "YAK-01-1KG"},
        ]
    },
}  # fmt: skip


def test_parse_item_with_skus() -> None:
    product = parse_item(ITEM)
    assert product.platform_item_id == "600000001" and product.on_sale
    assert (product.price_fen, product.stock, product.outer_id) == (3000, 120, "YAK-01")
    assert product.modified_at == datetime(2024, 4, 30, 1, 0, tzinfo=UTC)
    a, b = product.skus
    assert (a.platform_sku_id, a.price_fen, a.stock, a.outer_id) == ("5000001", 3000, 70, "YAK-01-500G")
    assert a.spec == "1627207:28341:规格:500g"
    assert b.price_fen == 5500 and b.modified_at is None
    bare = parse_item({**ITEM, "skus": {}, "approve_status": "instock"})
    assert bare.skus == () and not bare.on_sale


BILL: dict[str, Any] = {
    "bid": 880000001,
    "account_id": 2001,
    "trade_id": 462503790690334,
    "order_id": 462503790690335,
    "num_iid": 600000001,
    "amount": -348,
    "total_amount": 10800,
    "status": 1,
    "biz_time": "2024-05-10 12:00:00",
    "pay_time": "2024-05-10 12:00:05",
    "book_time": "2024-05-10 12:00:01",
}


def test_parse_bill_amount_in_fen() -> None:
    line = parse_bill(BILL)
    assert line.platform_bill_id == "880000001"
    assert line.kind is SettlementKind.PLATFORM_FEE and line.amount_fen == -348
    assert line.settled_at == datetime(2024, 5, 10, 4, 0, 5, tzinfo=UTC)
    assert (line.platform_order_id, line.platform_line_id) == ("462503790690334", "462503790690335")
    assert parse_bill({**BILL, "account_id": 1001, "amount": 5800}).kind is SettlementKind.SALE
    assert parse_bill({**BILL, "account_id": 999999}).kind is SettlementKind.OTHER
    unpaid = parse_bill({**BILL, "pay_time": None})
    assert unpaid.settled_at == datetime(2024, 5, 10, 4, 0, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_bill({**BILL, "amount": "3.48"})
    with pytest.raises(ValueError):
        parse_bill({**BILL, "amount": 3.48})


#: (parser, the ``fields`` it is sent with, as the keys they come back under, sample payloads)
FIELD_CASES: dict[str, tuple[Callable[[Any], Any], frozenset[str], list[dict[str, Any]]]] = {
    "trade": (
        lambda raw: parse_trade(raw, hash_key=KEY),
        frozenset(TRADE_FIELDS),
        [
            TRADE,
            {**TRADE, "status": "WAIT_BUYER_PAY", "pay_time": None, "tid_str": None},
            {k: v for k, v in TRADE.items() if k not in ("buyer_open_uid", "post_fee", "discount_fee")},
        ],
    ),
    "refund": (parse_refund, frozenset(REFUND_FIELDS), [REFUND, {**REFUND, "num": None, "oid": None}]),
    "item": (
        parse_item,
        frozenset(ITEM_FIELD_KEYS.get(name, name) for name in ITEM_FIELDS),
        [ITEM, {**ITEM, "skus": {}, "approve_status": "instock", "outer_id": None}],
    ),
    "bill": (parse_bill, frozenset(BILL_FIELDS), [BILL, {**BILL, "pay_time": None, "order_id": None}]),
}


@pytest.mark.parametrize("case", FIELD_CASES)
def test_parsers_read_only_the_fields_they_ask_for(case: str) -> None:
    """TOP returns only the fields a request names: every field a parser reads must be in the
    list the connector sends (``orders`` and ``skus`` come back whole, so nested keys are free)."""
    parse, listed, samples = FIELD_CASES[case]
    for sample in samples:
        payload = OnlyListed(sample, listed)
        record = parse(payload)
        assert payload.unlisted_reads() == set(), f"{case}: read but not asked for"
        assert record == parse(sample)  # the listed fields are all the parser needs


@pytest.mark.parametrize("case", FIELD_CASES)
def test_the_field_check_catches_a_field_missing_from_a_list(case: str) -> None:
    parse, listed, samples = FIELD_CASES[case]
    probe = OnlyListed(samples[0], listed)
    parse(probe)
    assert probe.read & listed
    for dropped in probe.read & listed:
        payload = OnlyListed(samples[0], listed - {dropped})
        with contextlib.suppress(KeyError, ValueError, MoneyError):
            parse(payload)  # a required field: the parser fails outright
        assert dropped in payload.unlisted_reads(), (case, dropped)


def test_connector_record_keys_are_asked_for() -> None:
    """Ids and the paging dedup keys (id, modified) are read from raw records too."""
    paths = TaobaoConnector.id_paths
    assert {paths[SyncStream.ORDERS], "modified"} <= set(TRADE_FIELDS)
    assert {paths[SyncStream.REFUNDS], "modified"} <= set(REFUND_FIELDS)
    assert {paths[SyncStream.PRODUCTS], "modified"} <= set(ITEM_FIELDS)
    assert paths[SyncStream.SETTLEMENTS] in BILL_FIELDS
    assert len(BILL_FIELDS) <= 20  # bill.bills.get: "最大列表长度:20"


def test_response_key_and_nested_lists() -> None:
    assert response_key("taobao.trades.sold.increment.get") == "trades_sold_increment_get_response"
    assert response_key("taobao.bill.bills.get") == "bill_bills_get_response"
    assert nested_list({"trades": {"trade": [{"tid": 1}]}}, "trades", "trade") == [{"tid": 1}]
    assert nested_list({"trades": {}}, "trades", "trade") == []
    assert nested_list({"total_results": 0}, "trades", "trade") == []
    assert nested_list({"trades": None}, "trades", "trade") == []
    assert nested_list({"trades": {"trade": {"tid": 2}}}, "trades", "trade") == [{"tid": 2}]
    with pytest.raises(ValueError):
        nested_list({"trades": {"trade": "x"}}, "trades", "trade")
    with pytest.raises(ValueError):
        nested_list({"trades": "x"}, "trades", "trade")


def _err(code: int, sub_code: str | None = None, sub_msg: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "msg": "m", "request_id": "r"}
    if sub_code:
        body["sub_code"] = sub_code
    if sub_msg:
        body["sub_msg"] = sub_msg
    return {"error_response": body}


@pytest.mark.parametrize(
    ("body", "error_class", "retry_after"),
    [
        (_err(7, "accesscontrol.limited-by-api-access-count", "This ban will last for 12 more seconds"),
         ErrorClass.RATE_LIMIT, 13.0),
        (_err(7, "accesscontrol.limited-by-app-api-access-count", "This ban will last for 1 more seconds"),
         ErrorClass.RATE_LIMIT, 2.0),
        (_err(7, "accesscontrol.limited-by-app-access-count", "daily quota"), ErrorClass.RATE_LIMIT, None),
        (_err(7, "accesscontrol.limited-by-dynamic-access-count"), ErrorClass.RATE_LIMIT, None),
        (_err(15, "isv.trade-service-rejection", "超时请求过多，请将查询时间间隔缩短,3分钟后再查询"),
         ErrorClass.RATE_LIMIT, 181.0),
        (_err(15, "isp.top-remote-connection-timeout"), ErrorClass.TRANSIENT, None),
        (_err(520, "isp.remote-service-timeout"), ErrorClass.TRANSIENT, None),
        (_err(15), ErrorClass.TRANSIENT, None),
        (_err(15, "isv.item-not-exist"), ErrorClass.BAD_REQUEST, None),
        (_err(25), ErrorClass.AUTH, None),
        (_err(26), ErrorClass.AUTH, None),
        (_err(27, "invalid-sessionkey"), ErrorClass.AUTH, None),
        (_err(28), ErrorClass.AUTH, None),
        (_err(29), ErrorClass.AUTH, None),
        (_err(31), ErrorClass.AUTH, None),
        (_err(11), ErrorClass.AUTH, None),
        (_err(40), ErrorClass.BAD_REQUEST, None),
        (_err(41, "isv.invalid-parameter"), ErrorClass.BAD_REQUEST, None),
        (_err(9999), ErrorClass.BAD_REQUEST, None),
    ],
)  # fmt: skip
def test_classify_error_bodies(body: dict[str, Any], error_class: ErrorClass, retry_after: float | None) -> None:
    resolution = classify_body(body)
    assert resolution is not None
    assert resolution.error_class is error_class
    assert resolution.retry_after == retry_after
    assert resolution.code == body["error_response"]["code"]


def test_classify_success_and_garbled() -> None:
    assert classify_body({"trades_sold_increment_get_response": {"total_results": 0}}) is None
    garbled = classify_body({"error_response": "oops"})
    assert garbled is not None and garbled.error_class is ErrorClass.TRANSIENT
    assert not any(row.token_expired for row in ERRORS.values())


# -- the contract suite (against the fake TOP gateway) -----------------------------------------


class TestTaobaoContract(ContractTests):
    platform = "taobao"
    # Three days of history: 3 one-day order windows; the dense world (paging and chaos
    # tests) holds 2.2 pages per window, 330 orders.
    days = 3
    orders = 150


# -- connector behaviour against the fake --------------------------------------------------------

FROZEN_AT = datetime(2024, 6, 15, 4, 0, tzinfo=UTC)


def test_window_bounds_are_whole_inclusive_seconds() -> None:
    start = datetime(2024, 6, 15, 0, 0, tzinfo=UTC)
    assert window_bounds(start, start + timedelta(days=1)) == ("2024-06-15 08:00:00", "2024-06-16 07:59:59")
    fractional = start + timedelta(microseconds=300_000)
    assert window_bounds(fractional, fractional + timedelta(minutes=30)) == (
        "2024-06-15 08:00:01",
        "2024-06-15 08:30:00",
    )
    assert window_bounds(fractional, fractional + timedelta(microseconds=500_000)) is None
    # adjacent windows share no second and leave none out
    a = window_bounds(fractional, fractional + timedelta(minutes=30))
    b = window_bounds(fractional + timedelta(minutes=30), fractional + timedelta(hours=1))
    assert a is not None and b is not None and b[0] == "2024-06-15 08:30:01"


def test_registry_serves_taobao_and_tmall() -> None:
    assert connector_class(PlatformKind.TAOBAO) is TaobaoConnector
    assert connector_class(PlatformKind.TMALL) is TaobaoConnector
    assert TaobaoConnector.window_max == timedelta(days=1)
    assert TaobaoConnector.window_advised == timedelta(minutes=30)
    assert TaobaoConnector.page_size <= 100


@pytest.fixture
async def fake() -> AsyncIterator[Running]:
    async with fake_server("taobao", seed=9, orders=400, days=5, clock=FakeClock(frozen_at=FROZEN_AT)) as running:
        yield running


def config_for(fake: Running, **changes: Any) -> ShopConfig:
    creds = fake.credentials
    config = ShopConfig(
        platform=PlatformKind.TAOBAO,
        base_url=fake.base_url,
        app_key=creds.app_key,
        app_secret=creds.app_secret,
        shop_id=creds.shop_id,
        access_token=creds.access_token,
    )
    return dataclasses.replace(config, **changes)


def connect(
    fake: Running, http: aiohttp.ClientSession, config: ShopConfig | None = None, **kwargs: Any
) -> tuple[TaobaoConnector, VirtualTime]:
    warp = VirtualTime()
    settings: dict[str, Any] = {
        "session": http,
        "retry": CONTRACT_RETRY,
        "timeout": 1.5,
        "clock": fake.clock.now,
        "limiter": RateLimiter(clock=warp.clock, sleep=warp.sleep),
        "sleep": warp.sleep,
    }
    settings.update(kwargs)
    return TaobaoConnector(config or config_for(fake), **settings), warp


class PageLog(TaobaoConnector):
    """Records the page numbers the walk asks for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[tuple[str, int]] = []

    async def _page(self, method: str, business: Any, page_no: int, page_size: int, outer: str, inner: str) -> TopPage:
        self.asked.append((method, page_no))
        return await super()._page(method, business, page_no, page_size, outer, inner)


async def test_walk_goes_last_page_first_and_rereads_page_one(fake: Running, session: aiohttp.ClientSession) -> None:
    fake.fake.faults.profile = FaultProfile(modify_during_paging=1.0)  # touch an order on every page > 1
    connector = PageLog(
        config_for(fake), session=session, retry=CONTRACT_RETRY, timeout=1.5, clock=fake.clock.now,
        limiter=RateLimiter(),
    )  # fmt: skip
    now = fake.clock.now()
    start = now - timedelta(days=1)
    expected = {o.order_id for o in fake.world.orders_modified(start, now)}
    assert len(expected) > 2 * connector.page_size  # 3+ pages
    records = await collect(connector.orders(start, now))
    pages = [page for method, page in connector.asked if method == "taobao.trades.sold.increment.get"]
    last = -(-len(expected) // connector.page_size)
    assert pages == [1, *range(last, 1, -1), 1]
    got = {r.platform_order_id for r in records if isinstance(r, OrderRecord)}
    # Orders touched while we paged moved out of the window (to "now"); none other was skipped.
    touched = {o.order_id for o in fake.world.orders_modified(now, now + timedelta(seconds=1))}
    assert touched and expected - touched <= got
    assert len(got) == len(records)  # no duplicates although pages shifted under us


async def test_forward_paging_would_have_missed_orders(fake: Running, session: aiohttp.ClientSession) -> None:
    """The reason for the walk: paging 1 -> N while records leave the window skips records."""
    fake.fake.faults.profile = FaultProfile(modify_during_paging=1.0)
    connector, _ = connect(fake, session)
    now = fake.clock.now()
    start = now - timedelta(days=1)
    expected = {o.order_id for o in fake.world.orders_modified(start, now)}
    bounds = window_bounds(start, now)
    assert bounds is not None
    query = {"fields": "tid,modified", "start_modified": bounds[0], "end_modified": bounds[1]}
    seen: set[str] = set()
    page_no = 1
    while True:
        page = await connector._page("taobao.trades.sold.increment.get", query, page_no, 50, "trades", "trade")
        seen.update(str(t["tid"]) for t in page.items)
        if page_no * 50 >= page.total:
            break
        page_no += 1
    touched = {o.order_id for o in fake.world.orders_modified(now, now + timedelta(seconds=1))}
    assert expected - touched - seen, "forward paging skipped nothing: the test lost its point"


class SmallSlices(TaobaoConnector):
    dense_window_records = 100


async def test_dense_windows_are_sliced(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(frozen_at=FROZEN_AT)
    async with fake_server("taobao", seed=4, orders=300, days=1, clock=clock) as fake:
        warp = VirtualTime()
        connector = SmallSlices(
            config_for(fake), session=session, retry=CONTRACT_RETRY, timeout=1.5, clock=fake.clock.now,
            limiter=RateLimiter(clock=warp.clock, sleep=warp.sleep), sleep=warp.sleep,
        )  # fmt: skip
        result = await harvest(connector, fake.world.anchor - timedelta(days=1, hours=1))
        truth = fake.fake.truth()["shops"][fake.credentials.shop_id]
        assert result.totals() == truth
        # the busy day was read in 30-minute slices (48 of them plus the probe), not 6 pages deep
        assert connector.stats.calls["taobao.trades.sold.increment.get"] > 48


async def test_products_with_skus(fake: Running, session: aiohttp.ClientSession) -> None:
    connector, _ = connect(fake, session)
    products = await collect(connector.products())
    assert all(isinstance(p, ProductRecord) for p in products)
    world = {item.item_id: item for item in fake.world.products()}
    assert {p.platform_item_id for p in products if isinstance(p, ProductRecord)} == set(world)
    for product in products:
        assert isinstance(product, ProductRecord)
        item = world[product.platform_item_id]
        assert product.on_sale == item.on_sale and product.stock == item.stock
        assert product.outer_id == item.spu_code
        assert {(s.platform_sku_id, s.stock, s.price_fen, s.outer_id) for s in product.skus} == {
            (s.sku_id, s.stock, s.price_fen, s.sku_code) for s in item.skus
        }


async def test_products_recover_malformed_items_on_the_next_read(fake: Running, session: aiohttp.ClientSession) -> None:
    fake.fake.faults.profile = FaultProfile(malformed=0.3)
    connector, _ = connect(fake, session)
    first = await collect(connector.products())
    bad = {q.platform_id for q in first if isinstance(q, Quarantined)}
    assert bad and all(q.raw for q in first if isinstance(q, Quarantined))
    again = await collect(connector.products())  # malformed data is transient
    assert bad <= {p.platform_item_id for p in again if isinstance(p, ProductRecord)}


async def test_push_stock(fake: Running, session: aiohttp.ClientSession) -> None:
    connector, _ = connect(fake, session)
    item = next(i for i in fake.world.products() if len(i.skus) > 1)
    sku = item.skus[-1]
    result = await connector.push_stock(item.item_id, sku.sku_id, 33, idempotency_key="push-1")
    assert (result.platform_item_id, result.platform_sku_id, result.stock) == (item.item_id, sku.sku_id, 33)
    again = await connector.push_stock(item.item_id, sku.sku_id, 33, idempotency_key="push-1")
    assert again.stock == 33
    fresh = fake.world.item(item.item_id)
    assert fresh is not None and fresh.skus[-1].stock == 33
    single = next((i for i in fake.world.products() if len(i.skus) == 1), None)
    if single is not None:
        whole = await connector.push_stock(single.item_id, None, 5, idempotency_key="push-2")
        assert whole.stock == 5
    with pytest.raises(BadRequestError):
        await connector.push_stock(item.item_id, None, 1, idempotency_key="push-3")  # sku_id required
    with pytest.raises(BadRequestError):
        await connector.push_stock(item.item_id, sku.sku_id, -1, idempotency_key="push-4")
    assert not connector.stats.retries


async def test_settlements_under_chaos_equal_the_world_bills(session: aiohttp.ClientSession) -> None:
    profile = FaultProfile.CHAOS.with_delays(slow_seconds=0.02, hang_seconds=1.0)
    async with fake_server(
        "taobao", seed=6, orders=200, days=10, faults=profile, clock=FakeClock(frozen_at=FROZEN_AT)
    ) as fake:
        connector, _ = connect(fake, session, timeout=0.5)
        start, end = fake.world.anchor - timedelta(days=11), fake.clock.now()
        items = await collect(connector.settlements(start, end))
        lines = {i.platform_bill_id: i for i in items if isinstance(i, SettlementLineRecord)}
        world = fake.world.settlements(start, end)
        assert set(lines) == {line.bill_id for line in world}
        assert sum(line.amount_fen for line in lines.values()) == sum(line.amount_fen for line in world)
        kinds = {line.bill_id: line.kind for line in world}
        assert all(lines[bid].kind is kind for bid, kind in kinds.items())
        assert sum(connector.stats.retries.values()) > 0
        assert connector.stats.recovered == connector.stats.quarantined


@pytest.mark.parametrize("sign_method", ["md5", "hmac", "hmac-sha256"])
async def test_every_sign_method_is_accepted(fake: Running, session: aiohttp.ClientSession, sign_method: str) -> None:
    connector, _ = connect(fake, session, config_for(fake, extra={"sign_method": sign_method}))
    order = fake.world.orders_created(FROZEN_AT - timedelta(days=1), FROZEN_AT)[0]
    record = await connector.order_detail(order.order_id)
    assert record.lines and not connector.stats.errors


def test_unknown_sign_method_is_refused(fake: Running) -> None:
    with pytest.raises(ValueError):
        TaobaoConnector(config_for(fake, extra={"sign_method": "sha1"}))


async def test_ban_hint_pauses_the_app_key(fake: Running, session: aiohttp.ClientSession) -> None:
    fake.fake.faults.profile = FaultProfile(rate_limit=1.0, max_consecutive=2)
    connector, warp = connect(fake, session)
    now = fake.clock.now()
    await collect(connector.orders(now - timedelta(hours=2), now))
    assert connector.stats.retries[ErrorClass.RATE_LIMIT] >= 2
    assert connector.bucket.bans >= 1
    assert warp.slept >= 2 * 2.0  # "ban will last for 1 more seconds" -> sleep 1 + 1 s, twice


async def test_window_too_wide_is_a_bad_request_not_retried(fake: Running, session: aiohttp.ClientSession) -> None:
    connector, _ = connect(fake, session)
    with pytest.raises(BadRequestError) as caught:
        await connector.top(
            "taobao.trades.sold.increment.get",
            {"fields": "tid", "start_modified": "2024-06-13 10:00:00", "end_modified": "2024-06-14 10:00:01"},
        )
    assert caught.value.code == 41 and not connector.stats.retries


@pytest.mark.parametrize(
    ("changes", "clock_skew", "code"),
    [
        ({"access_token": "fake-revoked-session"}, timedelta(0), 27),
        ({"access_token": None}, timedelta(0), 26),
        ({"app_key": "fake-other-app"}, timedelta(0), 29),
        ({}, timedelta(minutes=11), 31),
    ],
)
async def test_gateway_auth_errors_are_fatal(
    fake: Running, session: aiohttp.ClientSession, changes: dict[str, Any], clock_skew: timedelta, code: int
) -> None:
    connector, _ = connect(fake, session, config_for(fake, **changes), clock=lambda: fake.clock.now() + clock_skew)
    now = fake.clock.now()
    with pytest.raises(AuthError) as caught:
        await collect(connector.orders(now - timedelta(hours=1), now))
    assert caught.value.code == code and connector.stats.requests == 1


async def test_a_tmall_shop_uses_the_same_connector(fake: Running, session: aiohttp.ClientSession) -> None:
    config = config_for(fake, platform=PlatformKind.TMALL)
    connector, _ = connect(fake, session, config)
    result = await harvest(connector, fake.world.anchor - timedelta(days=5, hours=1))
    assert result.totals() == fake.fake.truth()["shops"][fake.credentials.shop_id]
    assert connector.platform_name == "tmall"
    assert SyncStream.LIVE_SESSIONS not in connector.streams
