"""Kuaishou connector: pure normalisation, status tables and error classification on sample
payloads shaped as PLATFORMS.md §4 describes them (plus our [I] choices), then the connector
against the fake (the contract suite, token refresh, stock push, streams)."""

from __future__ import annotations

import time
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
from bangfu.records import LiveSessionRecord, OrderRecord, ProductRecord, SettlementLineRecord
from connectors.base import Request, ShopConfig
from connectors.errors import AuthError, BadRequestError, TransientError
from connectors.fakes.clock import FakeClock
from connectors.fakes.faults import FaultProfile
from connectors.fakes.kuaishou import FakeKuaishou
from connectors.fakes.server import Running, fake_server
from connectors.kuaishou import (
    ERRORS,
    ORDER_STATUS,
    QPS_BAN_SECONDS,
    REFUND_STATUS,
    KuaishouConnector,
    classify_body,
    line_refund_state,
    param_json,
    parse_bill,
    parse_item,
    parse_live_stream,
    parse_max_qps,
    parse_order,
    parse_refund,
)
from connectors.ratelimit import RateLimiter
from tests.connectors.contract import CHAOS_EVERY_KIND, CONTRACT_RETRY, ContractTests, VirtualTime
from tests.connectors.harvest import harvest

HASH_KEY = b"test-only-hash-key-not-a-secret"
T0 = 1_700_000_000_000  # ms


def ms(offset_s: int) -> int:
    return T0 + offset_s * 1000


def at(offset_s: int) -> datetime:
    return datetime.fromtimestamp((T0 + offset_s * 1000) / 1000, UTC)


def single_order(**base: Any) -> dict[str, Any]:
    """A one-item order as the public fixtures show it (no orderItemInfoList)."""
    order_base = {
        "oid": 2321300034950000,
        "status": 30,
        "createTime": ms(0),
        "updateTime": ms(300),
        "payTime": ms(60),
        "totalFee": 3990,
        "expressFee": 500,
        "discountFee": 0,
        "buyerOpenId": "f18759ac87a28ea514bf5724a5df5751",
        "buyerNick": "fake_nick",
        "cpsType": 1,
    }
    order_base.update(base)
    return {
        "orderBaseInfo": order_base,
        "orderItemInfo": {
            "itemId": 21122311903819,
            "skuId": 1000000000001,
            "relSkuId": 0,
            "itemTitle": "高原土豆 5斤",
            "skuDesc": "5斤装",
            "skuNick": "GZ-TD-5J",
            "num": 1,
            "price": 3490,
            "originalPrice": 3990,
        },
        "orderRefundList": [],
    }


def multi_order() -> dict[str, Any]:
    lines = [
        {
            "orderItemId": 7001,
            "itemId": 111,
            "skuId": 1111,
            "itemTitle": "牦牛肉干",
            "skuNick": "GZ-NRG-250",
            "num": 2,
            "price": 5000,
            "originalPrice": 5900,
            "discountFee": 600,
            "liveStreamId": "7000000000000000123",
            "distributorId": "12345678901",
        },
        {
            "orderItemId": 7002,
            "itemId": 222,
            "skuId": 2222,
            "itemTitle": "青稞饼",
            "skuNick": "GZ-QKB-10",
            "num": 1,
            "price": 2000,
            "originalPrice": 2000,
            "discountFee": 200,
            "liveStreamId": "",
            "distributorId": "",
        },
    ]
    return {
        "orderBaseInfo": {
            "oid": 1234567800000001,
            "status": 80,
            "createTime": ms(0),
            "updateTime": ms(9000),
            "payTime": ms(120),
            "totalFee": 12000 + 1000 - 800,
            "expressFee": 1000,
            "discountFee": 800,
            "buyerOpenId": "buyer-1",
            "cpsType": 2,
        },
        "orderItemInfo": lines[0],
        "orderItemInfoList": lines,
        "orderRefundList": [
            {"refundId": 99, "orderItemId": 7001, "refundStatus": 60, "refundFee": 9400},
            {"refundId": 98, "orderItemId": 7002, "refundStatus": 10, "refundFee": 1800},
        ],
        "orderCpsInfo": {
            "distributorId": "12345678901",
            "distributorName": "县长带货直播间",
            "liveStreamId": "7000000000000000123",
        },
    }


# -- orders --------------------------------------------------------------------------------------


def test_single_item_order_normalises_to_fen_utc_and_hashed_buyer() -> None:
    record = parse_order(single_order(), hash_key=HASH_KEY)
    assert record.platform_order_id == "2321300034950000"
    assert record.status is OrderStatus.PAID and record.platform_status == "30"
    assert record.created_at == at(0) and record.modified_at == at(300) and record.paid_at == at(60)
    assert record.created_at.tzinfo is not None
    assert record.paid_fen == 3990 and record.post_fee_fen == 500 and record.discount_fen == 0
    assert record.buyer_ref == buyer_ref("kuaishou", "f18759ac87a28ea514bf5724a5df5751", HASH_KEY)
    assert "f18759ac87a28ea514bf5724a5df5751" not in repr(record)
    (line,) = record.lines
    # one item, no orderItemId: the order id is the line id, and the line paid what the buyer
    # paid minus postage
    assert line.platform_line_id == "2321300034950000"
    assert line.platform_item_id == "21122311903819" and line.platform_sku_id == "1000000000001"
    assert line.outer_sku_id == "GZ-TD-5J" and line.quantity == 1
    assert line.unit_price_fen == 3490 and line.paid_fen == 3490
    assert line.refund_state is LineRefundState.NONE and line.room_id is None
    assert record.raw["orderBaseInfo"]["oid"] == 2321300034950000


def test_multi_item_order_lines_refunds_and_live_attribution() -> None:
    record = parse_order(multi_order(), hash_key=HASH_KEY)
    assert record.status is OrderStatus.CLOSED  # 交易关闭 after payment
    assert record.status.is_paid and record.paid_fen == 12200
    first, second = record.lines
    assert (first.platform_line_id, first.paid_fen, first.quantity) == ("7001", 9400, 2)
    assert first.refund_state is LineRefundState.FULL
    assert first.room_id == "7000000000000000123" and first.author_id == "12345678901"
    assert (second.platform_line_id, second.paid_fen) == ("7002", 1800)
    assert second.refund_state is LineRefundState.IN_PROGRESS
    assert second.room_id is None and second.author_id is None
    assert record.room_id == "7000000000000000123" and record.author_id == "12345678901"
    assert sum(line.paid_fen for line in record.lines) + record.post_fee_fen == record.paid_fen


def test_closed_before_payment_is_cancelled() -> None:
    record = parse_order(single_order(status=80, payTime=0))
    assert record.status is OrderStatus.CANCELLED and not record.status.is_paid
    assert record.paid_at is None
    # the amount is the order's amount; only paid statuses count it as money received
    assert record.paid_fen == 3990


def test_pending_payment_is_not_paid() -> None:
    record = parse_order(single_order(status=10, payTime=0))
    assert record.status is OrderStatus.PENDING_PAYMENT and not record.status.is_paid


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (10, OrderStatus.PENDING_PAYMENT),
        (30, OrderStatus.PAID),
        (40, OrderStatus.SHIPPED),
        (50, OrderStatus.DELIVERED),
        (70, OrderStatus.COMPLETED),
        (80, OrderStatus.CLOSED),
    ],
)
def test_order_status_table(code: int, expected: OrderStatus) -> None:
    assert ORDER_STATUS[code] is expected
    assert parse_order(single_order(status=code)).status is expected


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: o["orderBaseInfo"].update(status=99), "unknown order status"),
        (lambda o: o["orderBaseInfo"].update(totalFee="39.90"), "totalFee"),
        (lambda o: o["orderBaseInfo"].update(totalFee=39.9), "totalFee"),
        (lambda o: o["orderBaseInfo"].pop("oid"), "oid"),
        (lambda o: o["orderBaseInfo"].update(updateTime=0), "updateTime"),
        (lambda o: o.pop("orderItemInfo"), "orderItemInfo"),
        (lambda o: o["orderItemInfo"].update(num=0), "num"),
        (lambda o: o["orderRefundList"].append({"refundStatus": 5, "refundFee": 1}), "refundStatus"),
    ],
)
def test_malformed_orders_raise(mutate: Any, message: str) -> None:
    order = single_order()
    mutate(order)
    with pytest.raises(ValueError, match=message):
        parse_order(order)


def test_line_refund_state_rules() -> None:
    assert line_refund_state(100, []) is LineRefundState.NONE
    assert line_refund_state(100, [{"refundStatus": 70, "refundFee": 100}]) is LineRefundState.NONE
    assert line_refund_state(100, [{"refundStatus": 12, "refundFee": 100}]) is LineRefundState.NONE
    assert line_refund_state(100, [{"refundStatus": 30}]) is LineRefundState.IN_PROGRESS
    assert line_refund_state(100, [{"refundStatus": 60, "refundFee": 40}]) is LineRefundState.PARTIAL
    assert line_refund_state(100, [{"refundStatus": 60, "refundFee": 100}]) is LineRefundState.FULL


# -- refunds -------------------------------------------------------------------------------------


def refund(**fields: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "refundId": 5000000000000001,
        "oid": 2321300034950000,
        "orderItemId": 7001,
        "itemId": 111,
        "skuId": 1111,
        "status": 60,
        "refundFee": 2500,
        "handlingWay": 10,
        "refundReasonDesc": "质量问题",
        "num": 1,
        "createTime": ms(0),
        "updateTime": ms(86400),
        "endTime": ms(86400),
    }
    raw.update(fields)
    return raw


def test_refund_normalises() -> None:
    record = parse_refund(refund())
    assert record.platform_refund_id == "5000000000000001"
    assert record.platform_order_id == "2321300034950000" and record.platform_line_id == "7001"
    assert record.status is RefundStatus.SUCCEEDED and record.platform_status == "60"
    assert record.amount_fen == 2500 and record.quantity == 1 and not record.with_return
    assert record.created_at == at(0) and record.modified_at == at(86400)
    assert record.reason == "质量问题"


def test_refund_with_return_amount_only_and_exchange() -> None:
    assert parse_refund(refund(handlingWay=1)).with_return
    assert parse_refund(refund(num=None)).quantity is None
    exchange = parse_refund(refund(handlingWay=3, refundFee=2500))
    assert exchange.amount_fen == 0 and exchange.with_return  # an exchange never moves money


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (10, RefundStatus.REQUESTED),
        (11, RefundStatus.AWAITING_CONFIRM),
        (12, RefundStatus.REFUSED),
        (20, RefundStatus.REQUESTED),
        (30, RefundStatus.AWAITING_RETURN),
        (40, RefundStatus.AWAITING_CONFIRM),
        (50, RefundStatus.AWAITING_CONFIRM),
        (60, RefundStatus.SUCCEEDED),
        (70, RefundStatus.CLOSED),
    ],
)
def test_refund_status_table(code: int, expected: RefundStatus) -> None:
    assert REFUND_STATUS[code] is expected
    assert parse_refund(refund(status=code)).status is expected


def test_bad_refunds_raise() -> None:
    with pytest.raises(ValueError, match="refund status"):
        parse_refund(refund(status=61))
    with pytest.raises(ValueError, match="handlingWay"):
        parse_refund(refund(handlingWay=2))
    with pytest.raises(ValueError, match="refundFee"):
        parse_refund(refund(refundFee="25.00"))


# -- products ------------------------------------------------------------------------------------


def item(**fields: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "kwaiItemId": 123456789012,
        "itemCode": "GZ-NRG",
        "title": "牦牛肉干",
        "price": 4900,
        "auditStatus": 2,
        "onOfflineStatus": 1,
        "createTime": ms(-86400),
        "updateTime": ms(0),
        "skuInfos": [
            {
                "kwaiSkuId": 1234567890123,
                "skuNick": "GZ-NRG-250",
                "specification": "250g",
                "skuSalePrice": 4900,
                "skuStock": 30,
                "updateTime": ms(0),
            },
            {
                "kwaiSkuId": 1234567890124,
                "skuNick": "GZ-NRG-500",
                "specification": "500g",
                "skuSalePrice": 8900,
                "skuStock": 12,
                "updateTime": ms(-10),
            },
        ],
    }
    raw.update(fields)
    return raw


def test_item_with_skus() -> None:
    product = parse_item(item())
    assert product.platform_item_id == "123456789012" and product.outer_id == "GZ-NRG"
    assert product.on_sale and product.price_fen == 4900 and product.stock == 42
    assert product.modified_at == at(0)
    assert [s.platform_sku_id for s in product.skus] == ["1234567890123", "1234567890124"]
    assert product.skus[1].price_fen == 8900 and product.skus[1].outer_id == "GZ-NRG-500"
    assert product.skus[1].spec == "500g" and product.skus[1].modified_at == at(-10)
    assert not parse_item(item(onOfflineStatus=0)).on_sale


def test_bad_item_raises() -> None:
    with pytest.raises(ValueError, match="title"):
        parse_item(item(title=""))


# -- settlement bills ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bill_type", "kind"),
    [
        (1, SettlementKind.SALE),
        (2, SettlementKind.PLATFORM_FEE),
        (3, SettlementKind.HOST_COMMISSION),
        (4, SettlementKind.PAYMENT_FEE),
        (5, SettlementKind.REFUND),
        (42, SettlementKind.OTHER),
    ],
)
def test_bill_rows(bill_type: int, kind: SettlementKind) -> None:
    raw = {
        "billId": "81234567890000003",
        "billType": bill_type,
        "amount": -470,
        "settlementTime": ms(172800),
        "oid": 2321300034950000,
        "orderItemId": 7001,
    }
    (line,) = parse_bill(raw)
    assert line.kind is kind and line.amount_fen == -470 and line.settled_at == at(172800)
    assert line.platform_bill_id == "81234567890000003"
    assert line.platform_order_id == "2321300034950000" and line.platform_line_id == "7001"


def test_bill_amount_must_be_integer_fen() -> None:
    with pytest.raises(ValueError, match="amount"):
        parse_bill({"billId": "1", "billType": 1, "amount": "4.70", "settlementTime": ms(0)})


# -- live sessions -------------------------------------------------------------------------------


def test_live_stream_with_minutes_and_explanations() -> None:
    raw = {
        "liveStreamId": "7000000000000000123",
        "authorId": "12345678901",
        "authorName": "县长带货直播间",
        "title": "助农专场",
        "startTime": ms(0),
        "endTime": ms(7200),
        "updateTime": ms(7200),
        "watchCount": 5000,
        "watchUserCount": 3500,
        "maxOnlineCount": 900,
        "totalWatchDuration": 360000,
        "minuteList": [
            {"minuteTime": ms(0), "onlineCount": 100, "enterCount": 20, "newBuyerCount": 1, "payAmount": 3990},
            {"minuteTime": ms(60), "onlineCount": 180, "enterCount": 31, "newBuyerCount": 0, "payAmount": 0},
        ],
        "explainList": [{"kwaiItemId": 111, "skuId": 1111, "beginTime": ms(30), "endTime": ms(630)}],
    }
    session = parse_live_stream(raw)
    assert session.room_id == "7000000000000000123" and session.author_id == "12345678901"
    assert session.host_name == "县长带货直播间" and session.ended_at == at(7200)
    assert (session.views, session.unique_viewers, session.peak_online) == (5000, 3500, 900)
    assert session.total_watch_seconds == 360000
    assert [m.gmv_fen for m in session.minutes] == [3990, 0]
    assert session.minutes[1].minute_at == at(60) and session.minutes[0].new_buyers == 1
    (explained,) = session.explanations
    assert explained.platform_item_id == "111" and explained.platform_sku_id == "1111"
    assert (explained.started_at, explained.ended_at) == (at(30), at(630))
    still_live = parse_live_stream({**raw, "endTime": 0})
    assert still_live.ended_at is None


# -- envelope and errors -------------------------------------------------------------------------


def test_success_envelope() -> None:
    assert classify_body({"result": 1, "msg": "success", "data": {}}) is None
    assert classify_body({"result": "1", "data": {}}) is None


@pytest.mark.parametrize(
    ("body", "error_class", "token_expired"),
    [
        ({"result": 100200102, "error": "access_denied", "error_msg": "invalid access_token"}, ErrorClass.AUTH, True),
        ({"result": 100200101, "error": "unauthorized_client", "error_msg": "app not exist"}, ErrorClass.AUTH, False),
        ({"result": 802001, "error_msg": "签名校验失败"}, ErrorClass.AUTH, False),
        ({"result": 802002, "error_msg": "timestamp invalid"}, ErrorClass.AUTH, False),
        (
            {"result": 300004, "code": "300004", "error_msg": "SEARCH TIME RANGE EXPAND 7 DAYS"},
            ErrorClass.BAD_REQUEST,
            False,
        ),
        ({"result": 300019, "error_msg": "SEARCH TIME RANGE EXPAND LIMIT"}, ErrorClass.BAD_REQUEST, False),
        (
            {"result": 2001, "subCode": "2001", "subMsg": "endTime无效", "msg": "业务处理失败"},
            ErrorClass.BAD_REQUEST,
            False,
        ),
        ({"result": 802000, "error_msg": "系统繁忙"}, ErrorClass.TRANSIENT, False),
        ({"result": 100200500, "error": "server_error"}, ErrorClass.TRANSIENT, False),
        ({"result": 123456, "error_msg": "something new"}, ErrorClass.BAD_REQUEST, False),
        ({"msg": "no result field"}, ErrorClass.TRANSIENT, False),
        ([1, 2], ErrorClass.TRANSIENT, False),
    ],
)
def test_error_classification(body: Any, error_class: ErrorClass, token_expired: bool) -> None:
    row = classify_body(body)
    assert row is not None and row.error_class is error_class
    assert row.token_expired is token_expired


def test_rate_limits_are_recognised_by_their_documented_text() -> None:
    qps = {
        "result": 802005,
        "error_msg": "Exceed qps limit, KEY [apiId:open.order.cursor.list;appkey:ks123], MAX_QPS [300.0]",
    }
    row = classify_body(qps)
    assert row is not None and row.error_class is ErrorClass.RATE_LIMIT and row.retry_after == 1.0
    # whatever the code, the message decides
    row = classify_body({**qps, "result": 17})
    assert row is not None and row.error_class is ErrorClass.RATE_LIMIT
    quota = {"result": 802006, "sub_code": "802006", "error_msg": "Exceed quota limit, KEY [appkey:ks123]"}
    row = classify_body(quota)
    assert row is not None and row.error_class is ErrorClass.RATE_LIMIT and row.retry_after is None
    test_user = {"result": 5, "error_msg": "[1017] exceed quota limit,[apiId:x;primaryUserId:3649418105]"}
    row = classify_body(test_user)
    assert row is not None and row.error_class is ErrorClass.RATE_LIMIT
    assert parse_max_qps(str(qps["error_msg"])) == 300.0 and parse_max_qps("nothing") is None


def test_error_table_has_no_success_code() -> None:
    assert 1 not in ERRORS and "1" not in ERRORS


def test_param_json_is_compact_and_keeps_order() -> None:
    text = param_json({"pageSize": 50, "cursor": "", "title": "土豆"})
    assert text == '{"pageSize":50,"cursor":"","title":"土豆"}'


# -- the contract suite against the fake --------------------------------------------------------


class TestKuaishouContract(ContractTests):
    platform = "kuaishou"


# -- the connector against the fake: the other streams, tokens, stock, bans -----------------------

FROZEN = datetime(2024, 6, 15, 4, 0, tzinfo=UTC)


@pytest.fixture
async def fake() -> AsyncIterator[Running]:
    async with fake_server("kuaishou", seed=3, orders=200, days=15, clock=FakeClock(frozen_at=FROZEN)) as running:
        yield running


def _kuaishou(fake: Running) -> FakeKuaishou:
    assert isinstance(fake.fake, FakeKuaishou)
    return fake.fake


def config_for(fake: Running, **changes: Any) -> ShopConfig:
    creds = fake.credentials
    fields: dict[str, Any] = {
        "platform": PlatformKind.KUAISHOU,
        "base_url": fake.base_url,
        "app_key": creds.app_key,
        "app_secret": creds.app_secret,
        "shop_id": creds.shop_id,
        "access_token": creds.access_token,
        "refresh_token": creds.refresh_token,
        "extra": {"sign_secret": fake.fake.credential_fields()["sign_secret"]},
    }
    fields.update(changes)
    return ShopConfig(**fields)


def connect(fake: Running, connector_kwargs: dict[str, Any], **changes: Any) -> KuaishouConnector:
    return KuaishouConnector(config_for(fake, **changes), clock=fake.clock.now, **connector_kwargs)


async def collect_all(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


def test_windows_per_stream() -> None:
    assert KuaishouConnector.window_max == timedelta(days=7)
    assert KuaishouConnector.page_size == 50
    cls = KuaishouConnector
    refunds = min(cls.stream_windows[SyncStream.REFUNDS], cls.stream_window_max[SyncStream.REFUNDS])
    assert refunds == timedelta(days=1)


def test_sign_secret_is_required() -> None:
    config = ShopConfig(
        platform=PlatformKind.KUAISHOU,
        base_url="http://127.0.0.1:9",
        app_key="fake-kuaishou-app",
        app_secret="fake-secret-not-real",
        shop_id="1",
    )
    with pytest.raises(ValueError, match="sign_secret"):
        KuaishouConnector(config)


@pytest.mark.parametrize("sign_method", ["MD5", "HMAC_SHA256"])
async def test_both_sign_methods_pass_the_gateway(
    fake: Running, connector_kwargs: dict[str, Any], sign_method: str
) -> None:
    extra = {"sign_secret": fake.fake.credential_fields()["sign_secret"], "sign_method": sign_method}
    connector = connect(fake, connector_kwargs, extra=extra)
    now = fake.clock.now()
    orders = await collect_all(connector.orders(now - timedelta(days=2), now))
    assert orders and all(isinstance(o, OrderRecord) for o in orders)
    assert not connector.stats.errors


async def test_products_match_the_world(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs)
    connector.item_page_size = 7  # type: ignore[misc]
    products = await collect_all(connector.products())
    world = {item.item_id: item for item in fake.world.products()}
    assert len(products) == len(world) > 0
    for product in products:
        assert isinstance(product, ProductRecord)
        item = world[product.platform_item_id]
        assert product.outer_id == item.spu_code and product.stock == item.stock
        assert product.on_sale == item.on_sale and product.price_fen == item.price_fen
        assert [s.outer_id for s in product.skus] == [s.sku_code for s in item.skus]
    assert connector.stats.pages == -(-len(world) // 7)  # walked page by page to totalPage


async def test_push_stock_sets_the_absolute_quantity(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs)
    item = next(i for i in fake.world.products() if len(i.skus) > 1)
    sku = item.skus[1]
    up = await connector.push_stock(item.item_id, sku.sku_id, sku.stock + 25, idempotency_key="k1")
    assert up.stock == sku.stock + 25 and up.platform_sku_id == sku.sku_id
    down = await connector.push_stock(item.item_id, sku.sku_id, 3, idempotency_key="k2")
    assert down.stock == 3
    assert fake.world.item(item.item_id).skus[1].stock == 3  # type: ignore[union-attr]
    writes = _kuaishou(fake).requests_by_method["open.item.sku.stock.update"]
    same = await connector.push_stock(item.item_id, sku.sku_id, 3, idempotency_key="k3")
    assert same.stock == 3
    assert _kuaishou(fake).requests_by_method["open.item.sku.stock.update"] == writes  # nothing to push
    with pytest.raises(BadRequestError):
        await connector.push_stock(item.item_id, None, 1, idempotency_key="k4")  # several SKUs
    with pytest.raises(BadRequestError):
        await connector.push_stock(item.item_id, sku.sku_id, -1, idempotency_key="k5")


async def test_a_failed_stock_push_is_read_back_not_resent_blindly(
    fake: Running, connector_kwargs: dict[str, Any]
) -> None:
    connector = connect(fake, connector_kwargs)
    item = fake.world.products()[0]
    sku = item.skus[0]
    # every request fails twice before one gets through (the injector's cap); a failed write
    # never reached the handler, so exactly one write must land
    fake.fake.faults.profile = FaultProfile(server_error=1.0, max_consecutive=2)
    result = await connector.push_stock(item.item_id, sku.sku_id, sku.stock + 7, idempotency_key="k")
    assert result.stock == sku.stock + 7
    assert fake.world.item(item.item_id).skus[0].stock == sku.stock + 7  # type: ignore[union-attr]
    assert _kuaishou(fake).requests_by_method["open.item.sku.stock.update"] == 1
    assert connector.stats.retries[ErrorClass.TRANSIENT] > 0


async def test_settlements_equal_the_world_bills(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs)
    now = fake.clock.now()
    start = now - timedelta(days=16)
    lines = await collect_all(connector.settlements(start, now))
    world = fake.world.settlements(start, now)
    assert all(isinstance(line, SettlementLineRecord) for line in lines)
    assert len(lines) == len(world) > 0
    assert sum(line.amount_fen for line in lines) == sum(w.amount_fen for w in world)
    by_id = {w.bill_id: w for w in world}
    for line in lines:
        canonical = by_id[line.platform_bill_id]
        assert line.kind is canonical.kind and line.platform_order_id == canonical.order_id
        assert line.settled_at == canonical.settled_at


async def test_live_sessions_with_minutes_and_explanations(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs)
    now = fake.clock.now()
    start = now - timedelta(days=16)
    sessions = await collect_all(connector.live_sessions(start, now))
    world = {s.room_id: s for s in fake.world.live_sessions(start, now)}
    assert len(sessions) == len(world) > 0
    for session in sessions:
        assert isinstance(session, LiveSessionRecord)
        canonical = world[session.room_id]
        assert session.author_id == canonical.author_id and session.host_name == canonical.host_name
        assert session.started_at == canonical.started_at and session.ended_at == canonical.ended_at
        assert session.views == canonical.views and session.peak_online == canonical.peak_online
        assert len(session.minutes) == len(canonical.minutes)
        assert sum(m.gmv_fen for m in session.minutes) == canonical.gmv_fen
        assert [e.platform_item_id for e in session.explanations] == [e.item_id for e in canonical.explanations]
    # orders attributed to a room name a session the stream returned
    orders = [o for o in await collect_all(connector.orders(start, now)) if isinstance(o, OrderRecord)]
    rooms = {line.room_id for o in orders for line in o.lines if line.room_id}
    assert rooms and rooms <= set(world)


async def test_token_is_refreshed_before_it_expires(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    seen: list[str | None] = []

    async def on_tokens(tokens: Any) -> None:
        seen.append(tokens.access_token)

    connector = KuaishouConnector(
        config_for(fake, token_expires_at=fake.clock.now() + timedelta(minutes=2)),
        clock=fake.clock.now,
        on_tokens=on_tokens,
        **connector_kwargs,
    )
    now = fake.clock.now()
    await collect_all(connector.orders(now - timedelta(days=1), now))
    assert connector.stats.token_refreshes == 1 and seen == [connector.tokens.access_token]
    assert connector.tokens.access_token != fake.credentials.access_token
    assert fake.fake.tokens.is_valid(connector.tokens.access_token)
    assert connector.tokens.expires_at == now + timedelta(seconds=172800)
    # the old refresh token was retired by the platform; the connector holds the new one
    assert connector.tokens.refresh_token != fake.credentials.refresh_token


async def test_authorisation_code_exchange(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs, access_token=None, refresh_token=None)
    await connector.create_token("fake-kuaishou-code-abc")
    assert fake.fake.tokens.is_valid(connector.tokens.access_token)
    now = fake.clock.now()
    assert await collect_all(connector.orders(now - timedelta(hours=12), now)) is not None
    with pytest.raises(AuthError):
        await connector.create_token("fake-kuaishou-code-abc")  # a code works once
    assert not connector.stats.retries


async def test_the_qps_ban_is_honoured(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    # The fake refuses the app on that API for 0.3 s after a QPS rejection: a client retrying
    # on its backoff alone (5-50 ms) would exhaust its attempts inside that time.
    _kuaishou(fake).qps_block_seconds = 0.3
    fake.fake.faults.profile = FaultProfile(rate_limit=1.0, max_consecutive=1)
    connector = connect(fake, connector_kwargs)
    started = time.monotonic()
    detail = await connector.order_detail(fake.world.orders_created(FROZEN - timedelta(days=3), FROZEN)[0].order_id)
    assert isinstance(detail, OrderRecord)
    assert time.monotonic() - started >= 0.3
    assert connector.stats.retries[ErrorClass.RATE_LIMIT] == 1
    assert connector.bucket.bans == 1


async def test_wrong_sign_secret_is_fatal_at_once(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs, extra={"sign_secret": "wrong-sign-secret-not-real"})
    with pytest.raises(AuthError) as caught:
        await connector.order_detail("1")
    assert caught.value.code == 802001 and connector.stats.requests == 1


async def test_chaos_over_three_weeks_of_history_equals_the_truth(session: aiohttp.ClientSession) -> None:
    """The contract's chaos run on a bigger shop: several order windows with many pages, 22
    one-day refund windows, every fault kind; bans and backoff on virtual time."""
    profile = CHAOS_EVERY_KIND
    async with fake_server(
        "kuaishou", seed=23, orders=900, days=21, faults=profile, clock=FakeClock(frozen_at=FROZEN)
    ) as fake:
        warp = VirtualTime()
        connector = KuaishouConnector(
            config_for(fake),
            session=session,
            retry=CONTRACT_RETRY,
            timeout=0.5,
            clock=fake.clock.now,
            limiter=RateLimiter(clock=warp.clock, sleep=warp.sleep),
            sleep=warp.sleep,
        )
        # The world opens live sessions from days + 1 before its anchor (evening sessions of
        # the first day): start the history two days earlier so their orders are included.
        result = await harvest(connector, fake.world.anchor - timedelta(days=23))
        truth = fake.fake.truth()["shops"][fake.credentials.shop_id]
        assert result.totals() == truth
        assert len(result.orders) == truth["orders"] and len(result.refunds) == truth["refunds"]
        assert result.unresolved() == []
        stats = fake.fake.faults.stats
        for kind in ("rate_limit", "server_error", "drop", "hang", "malformed"):
            assert stats[kind] > 0, f"no {kind} fault happened: {dict(stats)}"
        assert connector.stats.retries[ErrorClass.RATE_LIMIT] > 0 and warp.slept >= QPS_BAN_SECONDS
        assert connector.stats.recovered > 0 and not connector.stats.errors
        # live attribution survives: every attributed line names a session of the world
        rooms = {s.room_id for s in fake.world.live_sessions(FROZEN - timedelta(days=22), FROZEN)}
        attributed = {line.room_id for o in result.orders.values() for line in o.lines if line.room_id}
        assert attributed and attributed <= rooms


async def test_garbled_data_is_transient_and_ids_must_be_numeric(
    fake: Running, connector_kwargs: dict[str, Any]
) -> None:
    connector = connect(fake, connector_kwargs)
    request = Request(op="open.order.detail", method="GET", url=fake.base_url)
    with pytest.raises(TransientError):
        connector.unwrap(request, {"result": 1, "data": [1, 2]})
    assert connector.unwrap(request, {"result": 1}) == {}
    with pytest.raises(BadRequestError):
        await connector.order_detail("12ab")
    assert connector.stats.requests == 0
