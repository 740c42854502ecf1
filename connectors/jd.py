"""JD JOS (京东宙斯, POP merchant) connector, PLATFORMS.md §2.

Pure parts first (tables, envelope helpers, record parsers: no I/O, tested on sample payloads),
then :class:`JdConnector`, which is the base request loop plus the JOS hooks.

Transport: every call is a POST to ``/routerjson`` with all parameters in the query string, as
the official Python SDK sends them. System params ``method, app_key, access_token, timestamp,
v=2.0, format=json, 360buy_param_json`` (the business params as one JSON string) and ``sign``
(:mod:`connectors.signing.jd`). Success comes back under ``<method with _>_responce`` (JD's own
spelling) with ``code == "0"``; gateway failures under ``error_response``; business failures as
``apiResult.success == false`` inside the result.

Endpoints used (``[I]`` where PLATFORMS.md has no source; the fake serves the same shapes):

=================================  ===========================================================
``jingdong.pop.order.search``      orders by modified time (``dateType=0``), page from 1,
                                   ``orderTotal``, page_size <= 100, window <= 1 month;
                                   ``optional_fields`` (required) = :data:`ORDER_FIELDS`
``jingdong.pop.order.get``         one order (``orderDetailInfo.orderInfo``), the same
                                   ``optional_fields``
``jingdong.asc.query.list``        after-sales services by ``updateTimeBegin/End``
``jingdong.asc.query.view``        one after-sales service [I: envelope]
``jingdong.ware.read.searchWare4Valid``  wares, ``page{data,totalItem}``
``jingdong.sku.read.searchSkuList``      SKUs of up to 20 wares [I: batch size]
``jingdong.stock.write.updateSkuStock``  full stock of one SKU
``jingdong.pop.bill.detail.query``  settlement bill lines [I: no source names a POP bill API]
``/oauth2/refresh_token``          token refresh (``open-oauth.jd.com``)
=================================  ===========================================================
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from bangfu.enums import (
    ErrorClass,
    OrderStatus,
    PlatformKind,
    RefundStatus,
    SettlementKind,
    SyncStream,
)
from bangfu.money import MoneyError, fen_to_yuan_str, split_largest_remainder, yuan_to_fen
from bangfu.records import (
    OrderLineRecord,
    OrderRecord,
    ProductRecord,
    Raw,
    RefundRecord,
    SettlementLineRecord,
    SkuRecord,
    StockPushResult,
)
from connectors import fields
from connectors.base import Connector, PricePushResult, Request, ShopConfig
from connectors.buyers import buyer_ref
from connectors.errors import (
    AuthError,
    BadRequestError,
    ErrorResolution,
    TransientError,
    lookup,
    parse_ban_hint,
)
from connectors.paging import NumberedPage, RestartAndHalve, UnstableWindow, WindowPages
from connectors.ratelimit import RateLimit
from connectors.signing import jd as jd_signing
from connectors.windows import (
    SHANGHAI,
    from_epoch_ms,
    split_windows,
    to_local_str,
)

PLATFORM = "jd"
GATEWAY_PATH = "/routerjson"
REFRESH_PATH = "/oauth2/refresh_token"
API_VERSION = "2.0"
#: JD's "no such time" (unpaid, unfinished), PLATFORMS.md §2.3.
ZERO_TIME = "0001-01-01 00:00:00"
#: Modified-time order search only sees the last 3 months (created-time search: 2 years).
MODIFIED_LOOKBACK = timedelta(days=90)
#: Windows starting earlier than this (a little inside the 3 months, for clock skew) are
#: searched by created time instead: over a whole history the union is the same orders.
MODIFIED_LOOKBACK_SAFE = timedelta(days=89)
#: Created-time order search sees two years.
CREATED_LOOKBACK = timedelta(days=730)
#: [I] "abort and restart the window if orderTotal changes mid-scan": scans of a window before
#: it is cut in halves, how deep it is cut, and restarts of a window that cannot be cut.
SCANS_BEFORE_SPLIT = 2
MAX_SPLIT_DEPTH = 3
MAX_WINDOW_RESTARTS = 5
#: the unstable-window policy of order paging, as data (see connectors.paging.RestartAndHalve)
UNSTABLE_WINDOW = UnstableWindow(rescans=MAX_WINDOW_RESTARTS, split_after=SCANS_BEFORE_SPLIT, max_depth=MAX_SPLIT_DEPTH)
#: [I] wares per searchSkuList call (the SDK takes a CSV of ware ids).
SKU_BATCH = 20

# -- statuses: policy as data ------------------------------------------------------------------

ORDER_STATE: Mapping[str, OrderStatus] = {
    # [I] JD documents no unpaid state for POP search; the fake shows unpaid orders as WAIT_PAY.
    "WAIT_PAY": OrderStatus.PENDING_PAYMENT,
    "WAIT_SELLER_STOCK_OUT": OrderStatus.PAID,
    "WAIT_SELLER_DELIVERY": OrderStatus.PAID,  # overseas: waiting for domestic shipping
    "WAIT_SEND_CODE": OrderStatus.PAID,  # LOC: code not sent yet
    "POP_ORDER_PAUSE": OrderStatus.PAID,
    "PAUSE": OrderStatus.PAID,
    "LOCKED": OrderStatus.PAID,  # locked while an after-sale/cancellation is decided
    "SEND_TO_DISTRIBUTION_CENER": OrderStatus.SHIPPED,  # LBP/SOPL (JD's spelling)
    "DISTRIBUTION_CENTER_RECEIVED": OrderStatus.SHIPPED,
    "WAIT_GOODS_RECEIVE_CONFIRM": OrderStatus.SHIPPED,
    "RECEIPTS_CONFIRM": OrderStatus.DELIVERED,
    "FINISHED_L": OrderStatus.COMPLETED,
    # TRADE_CANCELED is CANCELLED before payment and CLOSED after it: see order_status().
    "TRADE_CANCELED": OrderStatus.CANCELLED,
}
ALL_ORDER_STATES = ",".join(ORDER_STATE)

# asc serviceStatus -> hub refund status. [I] codes as JD's after-sales console shows them;
# "完成" is a refund that went through, "审核关闭" the seller's refusal, "取消" a withdrawal.
SERVICE_STATUS: Mapping[int, RefundStatus] = {
    10001: RefundStatus.REQUESTED,  # 待审核
    10002: RefundStatus.REQUESTED,  # 待客户反馈
    10004: RefundStatus.REFUSED,  # 审核关闭
    10005: RefundStatus.AWAITING_RETURN,  # 待收货
    10006: RefundStatus.AWAITING_CONFIRM,  # 待处理
    10007: RefundStatus.AWAITING_CONFIRM,  # 待用户确认
    10009: RefundStatus.CLOSED,  # 取消
    10010: RefundStatus.SUCCEEDED,  # 完成
}
# asc customerExpect: 10 = 退货 (return goods), 11 = 仅退款 (refund only) [V*: public code].
CUSTOMER_EXPECT_RETURN = 10

# [I] fee types of jingdong.pop.bill.detail.query; unknown types fall back to OTHER.
FEE_TYPE: Mapping[str, SettlementKind] = {
    "1001": SettlementKind.SALE,  # 货款
    "1002": SettlementKind.REFUND,  # 退款
    "2001": SettlementKind.PLATFORM_FEE,  # 平台使用费/佣金
    "2002": SettlementKind.HOST_COMMISSION,  # 推广佣金
    "2003": SettlementKind.PAYMENT_FEE,  # 支付手续费
    "3001": SettlementKind.LOGISTICS,  # 运费
    "4001": SettlementKind.SUBSIDY,  # 平台补贴
}
WARE_ON_SALE = 8  # wareStatus 8 = 上架

# -- errors: policy as data --------------------------------------------------------------------

_AUTH = ErrorResolution(ErrorClass.AUTH)
_BAD = ErrorResolution(ErrorClass.BAD_REQUEST)
_TRANSIENT = ErrorResolution(ErrorClass.TRANSIENT)

#: Gateway ``error_response.code`` [V:S9 for 2, 4/5, 7/8, 11/12, 14/15; the rest I].
ERRORS: Mapping[str | int, ErrorResolution] = {
    "1": ErrorResolution(ErrorClass.TRANSIENT, message="Service unavailable"),
    "2": ErrorResolution(ErrorClass.RATE_LIMIT, message="App Call Limited"),
    "3": ErrorResolution(ErrorClass.AUTH, message="Request forbidden"),
    "4": ErrorResolution(ErrorClass.BAD_REQUEST, message="Missing version"),
    "5": ErrorResolution(ErrorClass.BAD_REQUEST, message="Unsupported version"),
    "6": ErrorResolution(ErrorClass.BAD_REQUEST, message="Invalid version"),
    # A stale timestamp means our clock is off: retrying with the same clock cannot help.
    "7": ErrorResolution(ErrorClass.BAD_REQUEST, message="Missing timestamp"),
    "8": ErrorResolution(ErrorClass.BAD_REQUEST, message="Invalid timestamp"),
    "9": ErrorResolution(ErrorClass.AUTH, message="Missing app_key"),  # [I]
    "10": ErrorResolution(ErrorClass.AUTH, message="Invalid app_key"),  # [I]
    "11": ErrorResolution(ErrorClass.AUTH, message="Missing signature"),
    "12": ErrorResolution(ErrorClass.AUTH, message="Invalid signature"),
    "13": ErrorResolution(ErrorClass.BAD_REQUEST, message="Invalid 360buy_param_json"),  # [I]
    "14": ErrorResolution(ErrorClass.BAD_REQUEST, message="Missing method"),
    "15": ErrorResolution(ErrorClass.BAD_REQUEST, message="Invalid method"),
    "18": ErrorResolution(ErrorClass.AUTH, message="Missing access_token"),  # [I]
    # [I] "around 19": invalid or expired token; the base refreshes once and resends.
    "19": ErrorResolution(ErrorClass.AUTH, message="Invalid access_token", token_expired=True),
    "66": ErrorResolution(ErrorClass.TRANSIENT, message="Backend service timeout"),  # [I]
    "67": ErrorResolution(ErrorClass.TRANSIENT, message="Backend service unavailable"),  # [I]
}

#: Business failures: ``apiResult.numberCode`` (or the result's ``resultCode``) [I codes].
BUSINESS_ERRORS: Mapping[str | int, ErrorResolution] = {
    "10100001": _TRANSIENT,  # 系统繁忙
    "10100021": _BAD,  # 参数错误
    "10100041": _BAD,  # 查询时间跨度超过限制 (window too wide)
    "10100042": _BAD,  # 超出可查询的时间范围 (modified search older than 3 months)
    "10100051": ErrorResolution(ErrorClass.BAD_RECORD, message="订单不存在"),
    "20100001": _BAD,  # 商品/SKU不存在
    "30100001": ErrorResolution(ErrorClass.BAD_RECORD, message="服务单不存在"),
}

#: OAuth endpoint errors (``{"code": n, "msg": ...}``) [I codes]: all fatal.
OAUTH_ERRORS: Mapping[str | int, ErrorResolution] = {
    400: _BAD,  # unsupported grant_type: our bug
    401: _AUTH,  # invalid app_key / app_secret
    402: _AUTH,  # invalid or used authorization code
    403: _AUTH,  # invalid or expired refresh_token
}

_UNKNOWN_ENVELOPE = ErrorResolution(ErrorClass.TRANSIENT, message="unexpected JOS envelope")


def response_key(method: str) -> str:
    """``jingdong.pop.order.search`` -> ``jingdong_pop_order_search_responce`` (sic)."""
    return method.replace(".", "_") + "_responce"


def find_responce(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``*_responce`` object of a body, whatever the method."""
    for key, value in body.items():
        if key.endswith("_responce") and isinstance(value, Mapping):
            return value
    return None


def business_failure(responce: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(code, message)`` when a ``code == "0"`` answer still reports failure, else None.

    Looks at the result objects one level down: ``apiResult.success == false`` (orders) or
    ``success == false`` with ``resultCode``/``errorCode`` (after-sales, bills), and at a
    top-level ``success == false`` (stock update).
    """
    containers: list[Mapping[str, Any]] = [responce]
    containers.extend(value for value in responce.values() if isinstance(value, Mapping))
    for container in containers:
        api_result = container.get("apiResult")
        if isinstance(api_result, Mapping) and api_result.get("success") is False:
            code = api_result.get("numberCode") or api_result.get("englishErrCode") or "unknown"
            message = api_result.get("chineseErrCode") or api_result.get("englishErrCode") or ""
            return str(code), str(message)
        if container.get("success") is False:
            code = container.get("resultCode") or container.get("errorCode") or "unknown"
            message = container.get("resultMessage") or container.get("errorMessage") or ""
            return str(code), str(message)
    return None


def classify_body(body: Any) -> ErrorResolution | None:
    """What a 2xx JOS body means: ``None`` for success, else the table's resolution."""
    if not isinstance(body, Mapping):
        return _UNKNOWN_ENVELOPE
    error = body.get("error_response")
    if isinstance(error, Mapping):
        code = str(error.get("code", "")).strip()
        message = str(error.get("zh_desc") or error.get("en_desc") or "")
        row = lookup(ERRORS, code, default=_BAD) or _BAD
        hint = parse_ban_hint(message) if row.error_class is ErrorClass.RATE_LIMIT else None
        return row.with_details(code=code, message=message, retry_after=hint)
    responce = find_responce(body)
    if responce is None:
        if "access_token" in body:
            return None  # OAuth token answer
        if "code" in body:
            code = body["code"]
            row = lookup(OAUTH_ERRORS, code, default=_AUTH) or _AUTH
            return row.with_details(code=code, message=str(body.get("msg") or ""))
        return _UNKNOWN_ENVELOPE
    code = str(responce.get("code", "0")).strip()
    if code != "0":
        row = lookup(ERRORS, code) or lookup(BUSINESS_ERRORS, code, default=_BAD) or _BAD
        message = str(responce.get("zh_desc") or responce.get("error_description") or "")
        return row.with_details(code=code, message=message)
    failure = business_failure(responce)
    if failure is not None:
        number, message = failure
        row = lookup(BUSINESS_ERRORS, number, default=_BAD) or _BAD
        return row.with_details(code=number, message=message)
    return None


# -- field helpers -----------------------------------------------------------------------------


#: a plain ``123.45`` yuan string: converted with integer arithmetic (exact, like ``yuan_to_fen``,
#: which parses with Decimal and takes the other shapes); at most 13 integer digits stays in range.


def fen(value: Any) -> int:
    """A JD money value (yuan string, or a JSON number kept as text/Decimal) in fen."""
    if isinstance(value, bool) or value is None:
        raise MoneyError(f"not a yuan amount: {value!r}")
    if isinstance(value, int | str | Decimal):
        return yuan_to_fen(value)
    raise MoneyError(f"not a yuan amount: {value!r}")


_LOCAL_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d+)?")


def jd_time(value: Any) -> datetime | None:
    """JD's Beijing ``yyyy-MM-dd HH:mm:ss`` (an optional ``.0`` fraction is dropped) to UTC;
    ``None`` for JD's ``0001-01-01 00:00:00`` "no such time" and for empty values."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a JD time: {value!r}")
    match = _LOCAL_TIME.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not a JD time: {value!r}")
    if value.startswith("0001-01-01"):
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


def _time(raw: Mapping[str, Any], key: str) -> datetime:
    value = jd_time(fields.required(raw, key))
    if value is None:
        raise ValueError(f"{key} is JD's empty time")
    return value


def _ms(raw: Mapping[str, Any], key: str) -> datetime:
    return from_epoch_ms(fields.required(raw, key))


def line_id(order_id: str, sku_id: str) -> str:
    """[I] JD order items carry no line id: ``<orderId>-<skuId>`` names one (a SKU appearing
    twice in one order gets ``-2``, ``-3``... on its later lines)."""
    return f"{order_id}-{sku_id}"


def _buyer(raw: Mapping[str, Any]) -> str | None:
    pin = raw.get("pin")
    if not isinstance(pin, str) or not pin.strip():
        return None
    return buyer_ref(PLATFORM, pin.strip())


# -- record parsers ----------------------------------------------------------------------------


def order_status(state: str, paid_at: datetime | None) -> OrderStatus:
    """The hub status of a JD ``orderState``; ``TRADE_CANCELED`` after payment is CLOSED."""
    try:
        status = ORDER_STATE[state]
    except KeyError:
        raise ValueError(f"unknown orderState {state!r}") from None
    if status is OrderStatus.CANCELLED and paid_at is not None:
        return OrderStatus.CLOSED
    return status


#: The ``optional_fields`` of ``pop.order.search`` and ``pop.order.get``: exactly the
#: ``orderInfo`` fields :func:`parse_order` reads (JD refuses the call when the list is missing
#: or empty, and returns only the fields asked for). ``itemInfoList`` comes back whole.
#: Kept beside the parser so the two cannot drift: ``tests/connectors/test_jd.py`` fails when
#: the parser reads a field that is not listed here.
ORDER_FIELDS: tuple[str, ...] = (
    "orderId",
    "orderState",
    "orderStartTime",
    "modified",
    "paymentConfirmTime",
    "orderPayment",
    "freightPrice",
    "sellerDiscount",
    "pin",
    "itemInfoList",
)


def parse_order(raw: Mapping[str, Any]) -> OrderRecord:
    """One ``orderInfo`` (search list item or ``pop.order.get``) as an :class:`OrderRecord`.

    ``orderPayment`` is what the buyer pays (goods - discounts + freight); line paid amounts
    are the line totals less their share of ``sellerDiscount``, split by line total with
    largest remainders [I: JD puts no per-line paid amount on itemInfoList].
    """
    order_id = fields.text_id(raw, "orderId")
    state = str(fields.required(raw, "orderState"))
    paid_at = jd_time(raw.get("paymentConfirmTime"))
    items = raw.get("itemInfoList")
    if not isinstance(items, list) or not items:
        raise ValueError("itemInfoList is missing or empty")
    totals: dict[int, int] = {}
    parsed: list[tuple[str, str, int, int, Mapping[str, Any]]] = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ValueError(f"itemInfoList[{index}] is not an object")
        sku_id = fields.text_id(item, "skuId")
        ware_id = fields.text_id(item, "wareId")
        quantity = fields.integer(item, "itemTotal")
        unit = fields.yuan(item, "jdPrice")
        if quantity <= 0 or unit < 0:
            raise ValueError(f"itemInfoList[{index}]: quantity {quantity}, price {unit}")
        totals[index] = unit * quantity
        parsed.append((sku_id, ware_id, quantity, unit, item))
    discount = fields.yuan(raw, "sellerDiscount", 0)
    if discount < 0 or discount > sum(totals.values()):
        raise ValueError(f"sellerDiscount {discount} does not fit the items")
    shares = split_largest_remainder(discount, totals) if discount else dict.fromkeys(totals, 0)
    lines: list[OrderLineRecord] = []
    used: dict[str, int] = {}
    for index, (sku_id, ware_id, quantity, unit, item) in enumerate(parsed):
        used[sku_id] = used.get(sku_id, 0) + 1
        suffix = "" if used[sku_id] == 1 else f"-{used[sku_id]}"
        outer = item.get("outerSkuId")
        lines.append(
            OrderLineRecord(
                platform_line_id=line_id(order_id, sku_id) + suffix,
                platform_item_id=ware_id,
                quantity=quantity,
                unit_price_fen=unit,
                paid_fen=totals[index] - shares[index],
                title=str(item.get("skuName") or ""),
                platform_sku_id=sku_id,
                outer_sku_id=str(outer) if outer not in (None, "") else None,
                raw=item,
            )
        )
    return OrderRecord(
        platform_order_id=order_id,
        status=order_status(state, paid_at),
        platform_status=state,
        created_at=_time(raw, "orderStartTime"),
        modified_at=_time(raw, "modified"),
        paid_fen=fields.yuan(raw, "orderPayment"),
        lines=tuple(lines),
        paid_at=paid_at,
        post_fee_fen=fields.yuan(raw, "freightPrice", 0),
        discount_fen=discount,
        buyer_ref=_buyer(raw),
        raw=raw,
    )


def parse_refund(raw: Mapping[str, Any]) -> RefundRecord:
    """One after-sales service (``asc.query.list`` item) as a :class:`RefundRecord`.

    ``refundAmount`` is [I]: the asc list documents ``actualPayPrice`` (what the buyer paid
    for the SKU) but no refund amount; the fake serves the refund amount under this name.
    """
    order_id = fields.text_id(raw, "orderId")
    status_code = fields.integer(raw, "serviceStatus")
    try:
        status = SERVICE_STATUS[status_code]
    except KeyError:
        raise ValueError(f"unknown serviceStatus {status_code}") from None
    sku = raw.get("skuId")
    count = raw.get("serviceCount")
    reason = raw.get("questionDesc") or raw.get("customerExpectName")
    return RefundRecord(
        platform_refund_id=fields.text_id(raw, "serviceId"),
        platform_order_id=order_id,
        status=status,
        platform_status=str(raw.get("serviceStatusName") or status_code),
        amount_fen=fields.yuan(raw, "refundAmount"),
        created_at=_ms(raw, "applyTime"),
        modified_at=_ms(raw, "updateDate"),
        platform_line_id=line_id(order_id, str(sku)) if sku not in (None, "") else None,
        quantity=fields.integer(raw, "serviceCount") if count not in (None, "") else None,
        with_return=raw.get("customerExpect") in (CUSTOMER_EXPECT_RETURN, str(CUSTOMER_EXPECT_RETURN)),
        reason=str(reason) if reason else None,
        raw=raw,
    )


def _sku_spec(raw: Mapping[str, Any]) -> str | None:
    attrs = raw.get("saleAttrs")
    if isinstance(attrs, list):
        names: list[str] = []
        for attr in attrs:
            values = attr.get("attrValueAlias") if isinstance(attr, Mapping) else None
            if isinstance(values, list):
                names.extend(str(v) for v in values if v)
        if names:
            return " ".join(names)
    name = raw.get("skuName")
    return str(name) if name else None


def parse_sku(raw: Mapping[str, Any]) -> SkuRecord:
    modified = raw.get("modified")
    outer = raw.get("outerId")
    return SkuRecord(
        platform_sku_id=fields.text_id(raw, "skuId"),
        price_fen=fields.yuan(raw, "jdPrice"),
        stock=fields.integer(raw, "stockNum"),
        outer_id=str(outer) if outer not in (None, "") else None,
        spec=_sku_spec(raw),
        modified_at=from_epoch_ms(modified) if modified not in (None, "") else None,
        raw=raw,
    )


def parse_ware(raw: Mapping[str, Any]) -> ProductRecord:
    """A ware with its SKUs under ``skus`` (the connector joins searchSkuList into it)."""
    skus_raw = raw.get("skus", [])
    if not isinstance(skus_raw, list):
        raise ValueError("skus is not a list")
    skus = tuple(parse_sku(sku) for sku in skus_raw if isinstance(sku, Mapping))
    outer = raw.get("outerId")
    return ProductRecord(
        platform_item_id=fields.text_id(raw, "wareId"),
        title=str(fields.required(raw, "title")),
        on_sale=fields.integer(raw, "wareStatus") == WARE_ON_SALE,
        price_fen=fields.yuan(raw, "jdPrice"),
        stock=fields.integer(raw, "stockNum"),
        modified_at=_ms(raw, "modified"),
        outer_id=str(outer) if outer not in (None, "") else None,
        skus=skus,
        raw=raw,
    )


def parse_bill(raw: Mapping[str, Any]) -> SettlementLineRecord:
    """One [I] ``billDetailList`` row: signed yuan ``amount`` (+ adds to the payout)."""
    fee_type = str(fields.required(raw, "feeType"))
    order_id = raw.get("orderId")
    sku = raw.get("skuId")
    order = str(order_id) if order_id not in (None, "") else None
    return SettlementLineRecord(
        platform_bill_id=fields.text_id(raw, "billId"),
        kind=FEE_TYPE.get(fee_type, SettlementKind.OTHER),
        amount_fen=fields.yuan(raw, "amount"),
        settled_at=_time(raw, "settleTime"),
        platform_order_id=order,
        platform_line_id=line_id(order, str(sku)) if order and sku not in (None, "") else None,
        raw=raw,
    )


def second_bounds(start: datetime, end: datetime) -> tuple[str, str] | None:
    """``[start, end)`` as JD's inclusive ``yyyy-MM-dd HH:mm:ss`` pair, or None when no whole
    second falls inside (JD times have one-second resolution, so such a window is empty).

    The first second is ``ceil(start)`` and the last ``ceil(end) - 1 s``: adjacent windows
    never both claim a second and a window with sub-second edges loses none.
    """
    first = _ceil_second(start)
    last = _ceil_second(end) - timedelta(seconds=1)
    if last < first:
        return None
    return to_local_str(first), to_local_str(last)


def _ceil_second(at: datetime) -> datetime:
    floor = at.replace(microsecond=0)
    return floor if floor == at else floor + timedelta(seconds=1)


def decode_body(raw: bytes) -> Any:
    """JSON with JSON numbers that have a fraction kept as their exact text (never float)."""
    return json.loads(raw, parse_float=str)


def sdk_timestamp(at: datetime) -> str:
    """The official SDK's ``%Y-%m-%d %H:%M:%S.000%z`` in Beijing time (millis kept)."""
    local = at.astimezone(SHANGHAI)
    return f"{local:%Y-%m-%d %H:%M:%S}.{local.microsecond // 1000:03d}{local:%z}"


def param_json(business: Mapping[str, Any]) -> str:
    """The ``360buy_param_json`` text: compact, keys sorted, UTF-8 kept (signed as sent)."""
    return json.dumps(business, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


# -- the connector -----------------------------------------------------------------------------


class JdConnector(Connector):
    """JD POP shop: orders, after-sales, wares/SKUs, stock, settlement bills; OAuth refresh."""

    platform: ClassVar[PlatformKind] = PlatformKind.JD
    window_max: ClassVar[timedelta] = timedelta(days=31)  # "1 month" [V*]
    window_advised: ClassVar[timedelta] = timedelta(hours=1)  # [I] PLATFORMS.md §7
    page_size: ClassVar[int] = 100
    # [I] JOS meters calls per app and API (the limits are set per app in the console); 40/s
    # sustained with a burst of 20 is what we assume a production app is granted.
    rate: ClassVar[RateLimit] = RateLimit(per_second=40, burst=20)
    streams: ClassVar[frozenset[SyncStream]] = frozenset(
        {SyncStream.ORDERS, SyncStream.REFUNDS, SyncStream.PRODUCTS, SyncStream.SETTLEMENTS}
    )
    #: an orders window holding more than this is re-read in ``window_advised`` slices
    dense_window_records: ClassVar[int] = 500
    stream_windows: ClassVar[Mapping[SyncStream, timedelta]] = {
        # Coarse windows, probed: a sparse day is one or two pages instead of 24 one-hour
        # windows; a dense one is sliced into advised hours (see ``_orders_window``).
        SyncStream.ORDERS: timedelta(days=1),
        SyncStream.REFUNDS: timedelta(hours=6),  # [I] after-sales are sparse
        SyncStream.SETTLEMENTS: timedelta(days=1),
    }
    # Windows older than the modified-time search's 3 months go by created time (see
    # ``_order_pages``), which reaches 2 years back [V*:S8].
    stream_lookback: ClassVar[Mapping[SyncStream, timedelta]] = {SyncStream.ORDERS: CREATED_LOOKBACK}
    id_paths: ClassVar[Mapping[SyncStream, str]] = {
        SyncStream.ORDERS: "orderId",
        SyncStream.REFUNDS: "serviceId",
        SyncStream.PRODUCTS: "wareId",
        SyncStream.SETTLEMENTS: "billId",
    }
    token_refresh: ClassVar[bool] = True
    # "Refresh within 24 h of expiry" [V*:S8].
    refresh_margin: ClassVar[timedelta] = timedelta(hours=24)

    def __init__(self, config: ShopConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.aborted_scans = 0  # window scans aborted because orderTotal changed mid-scan

    # ------------------------------------------------------------------ request hooks
    @property
    def oauth_base_url(self) -> str:
        """``open-oauth.jd.com`` for the real platform; the fake serves both on one host."""
        return self.config.extra.get("oauth_base_url") or self.config.base_url

    def sign(self, params: dict[str, str]) -> dict[str, str]:
        params["sign"] = jd_signing.sign(params, self.config.app_secret)
        return params

    def prepare(self, request: Request) -> Request:
        """Add the JOS system params (fresh timestamp, current token) and sign them."""
        if not request.op.startswith("jingdong."):
            return request  # OAuth endpoints take plain parameters
        params = {
            "method": request.op,
            "app_key": self.config.app_key,
            "timestamp": sdk_timestamp(self.clock()),
            "v": API_VERSION,
            "format": "json",
            **request.params,
        }
        token = self.tokens.access_token
        if token:
            params["access_token"] = token
        request.params = self.sign(params)
        return request

    def decode(self, status: int, content_type: str, raw: bytes) -> Any:
        if not raw:
            return None
        try:
            return decode_body(raw)
        except (ValueError, UnicodeDecodeError):
            return raw.decode("utf-8", errors="replace")

    def classify(self, http_status: int, body: Any) -> ErrorResolution | None:
        base = super().classify(http_status, body)
        if base is not None:
            return base
        return classify_body(body)

    def unwrap(self, request: Request, body: Any) -> Any:
        if not request.op.startswith("jingdong."):
            return body
        value = body.get(response_key(request.op)) if isinstance(body, Mapping) else None
        if not isinstance(value, Mapping):
            raise TransientError(PLATFORM, "envelope", f"no {response_key(request.op)} in the answer")
        return value

    async def gateway(self, method: str, business: Mapping[str, Any]) -> Mapping[str, Any]:
        """One signed routerjson call; returns the ``*_responce`` object."""
        result: Mapping[str, Any] = await self.call(
            method, method="POST", path=GATEWAY_PATH, params={"360buy_param_json": param_json(business)}
        )
        return result

    # ------------------------------------------------------------------ tokens
    async def refresh_token(self) -> None:
        refresh = self.tokens.refresh_token
        if not refresh:
            raise AuthError(PLATFORM, "19", "access token expired and no refresh_token to renew it")
        body = await self.call(
            "oauth2.refresh_token",
            method="GET",
            path=REFRESH_PATH,
            base_url=self.oauth_base_url,
            params={
                "app_key": self.config.app_key,
                "app_secret": self.config.app_secret,
                "grant_type": "refresh_token",
                "refresh_token": refresh,
            },
            authenticated=False,
        )
        try:
            access = str(body["access_token"])
            expires_in = int(body["expires_in"])
        except (KeyError, TypeError, ValueError) as exc:
            raise TransientError(PLATFORM, "oauth", f"unexpected token answer: {exc}") from exc
        new_refresh = body.get("refresh_token")
        self.set_tokens(
            access,
            str(new_refresh) if new_refresh else None,
            self.clock() + timedelta(seconds=expires_in),
        )

    # ------------------------------------------------------------------ orders
    def parse_order(self, raw: Raw) -> OrderRecord:
        return parse_order(raw)

    async def _orders_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        """Orders of one window, page from 1 while ``page * page_size < orderTotal``.

        [I] If ``orderTotal`` changes between pages, an order entered or left the window while
        we paged (JD sorts by the window's time field, so later pages shifted and one could be
        skipped): the scan is aborted and the window restarted from page 1. A window that stays
        unstable for ``SCANS_BEFORE_SPLIT`` scans is cut in halves (fewer pages, less time for
        the ground to move), down to ``MAX_SPLIT_DEPTH``; a half that still will not hold after
        ``MAX_WINDOW_RESTARTS`` restarts fails the window with :class:`WindowUnstable`.
        Orders already yielded in this window with the same ``modified`` are not yielded again.

        A window that reaches "now" cannot see an order touched while paging leave it (it moves
        to the end instead, and orderTotal stays): sync holds its ranges a lag behind now.

        Windows are coarse (a day) and probed: when the first page's ``orderTotal`` exceeds
        ``dense_window_records`` and the window is wider than ``window_advised``, it is read as
        advised slices instead (nothing of the probe is yielded), so sparse days cost a page or
        two and dense ones keep the short scans the abort-and-restart rule needs.
        """
        paging = RestartAndHalve(
            UNSTABLE_WINDOW,
            lambda raw: (str(raw.get("orderId")), str(raw.get("modified"))),
            platform=PLATFORM,
            pages=self._order_pages,
            middle=lambda low, high: _ceil_second(low + (high - low) / 2),
            what="orderTotal",
            on_abort=self._count_abort,
        )

        def dense(low: datetime, high: datetime, page: NumberedPage) -> list[tuple[datetime, datetime]] | None:
            if page.total > self.dense_window_records and high - low > self.window_advised:
                return list(split_windows(low, high, self.window_advised))
            return None

        async for raw in paging.walk(start, end, slices=dense):
            yield raw

    def _count_abort(self) -> None:
        self.aborted_scans += 1

    def _order_pages(self, start: datetime, end: datetime) -> WindowPages | None:
        """The fetch of ``jingdong.pop.order.search`` pages over ``[start, end)``."""
        bounds = second_bounds(start, end)
        if bounds is None:
            return None
        # Modified-time search only sees 3 months: older windows go by created time.
        by_created = start < self.clock() - MODIFIED_LOOKBACK_SAFE
        query = {
            "start_date": bounds[0],
            "end_date": bounds[1],  # JD's end_date is inclusive
            "order_state": ALL_ORDER_STATES,
            "page_size": str(self.page_size),
            "dateType": "1" if by_created else "0",
            "optional_fields": ",".join(ORDER_FIELDS),
        }

        async def fetch(page: int) -> NumberedPage:
            body = await self.gateway("jingdong.pop.order.search", {**query, "page": str(page)})
            result = body.get("searchorderinfo_result")
            if not isinstance(result, Mapping):
                raise TransientError(PLATFORM, "envelope", "no searchorderinfo_result")
            total = int(result.get("orderTotal") or 0)
            items = result.get("orderInfoList") or []
            self.stats.pages += 1
            return NumberedPage(items, total, more=bool(items) and page * self.page_size < total)

        return fetch

    async def _order_detail_raw(self, platform_order_id: str) -> Raw:
        body = await self.gateway(
            "jingdong.pop.order.get",
            {
                "order_id": platform_order_id,
                "order_state": ALL_ORDER_STATES,
                "optional_fields": ",".join(ORDER_FIELDS),
            },
        )
        info = body.get("orderDetailInfo")
        order = info.get("orderInfo") if isinstance(info, Mapping) else None
        if not isinstance(order, Mapping):
            raise TransientError(PLATFORM, "envelope", "no orderDetailInfo.orderInfo")
        return order

    # ------------------------------------------------------------------ after-sales
    def parse_refund(self, raw: Raw) -> RefundRecord:
        return parse_refund(raw)

    def _asc_operator(self) -> dict[str, str]:
        operator = self.config.extra.get("operate_pin", "bangfu-hub")
        return {"buId": self.config.shop_id, "operatePin": operator, "operateNick": operator}

    async def _refunds_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        bounds = second_bounds(start, end)
        if bounds is None:
            return
        query = {
            **self._asc_operator(),
            "updateTimeBegin": bounds[0],
            "updateTimeEnd": bounds[1],
            "pageSize": str(self.page_size),
        }
        page = 1
        while True:
            body = await self.gateway("jingdong.asc.query.list", {**query, "pageNumber": str(page)})
            result = body.get("pageResult")
            if not isinstance(result, Mapping):
                raise TransientError(PLATFORM, "envelope", "no pageResult")
            total = int(result.get("totalCount") or 0)
            items = result.get("data") or []
            self.stats.pages += 1
            for raw in items:
                yield raw
            if not items or page * self.page_size >= total:
                return
            page += 1

    async def _refund_detail_raw(self, platform_refund_id: str) -> Raw:
        body = await self.gateway("jingdong.asc.query.view", {**self._asc_operator(), "serviceId": platform_refund_id})
        result = body.get("result")
        data = result.get("data") if isinstance(result, Mapping) else None
        if not isinstance(data, Mapping):
            raise TransientError(PLATFORM, "envelope", "no result.data")
        return data

    # ------------------------------------------------------------------ wares and SKUs
    def parse_product(self, raw: Raw) -> ProductRecord:
        return parse_ware(raw)

    async def _skus_of(self, ware_ids: Sequence[str]) -> dict[str, list[Mapping[str, Any]]]:
        out: dict[str, list[Mapping[str, Any]]] = {ware: [] for ware in ware_ids}
        page = 1
        while True:
            body = await self.gateway(
                "jingdong.sku.read.searchSkuList",
                {"wareId": ",".join(ware_ids), "pageNo": str(page), "pageSize": str(self.page_size)},
            )
            result = body.get("page")
            if not isinstance(result, Mapping):
                raise TransientError(PLATFORM, "envelope", "no page")
            items = result.get("data") or []
            for sku in items:
                if isinstance(sku, Mapping):
                    out.setdefault(str(sku.get("wareId")), []).append(sku)
            total = int(result.get("totalItem") or 0)
            if not items or page * self.page_size >= total:
                return out
            page += 1

    async def _products_pages(self) -> AsyncIterator[Raw]:
        page = 1
        while True:
            body = await self.gateway(
                "jingdong.ware.read.searchWare4Valid", {"pageNo": str(page), "pageSize": str(self.page_size)}
            )
            result = body.get("page")
            if not isinstance(result, Mapping):
                raise TransientError(PLATFORM, "envelope", "no page")
            wares = [w for w in (result.get("data") or []) if isinstance(w, Mapping)]
            self.stats.pages += 1
            for offset in range(0, len(wares), SKU_BATCH):
                batch = wares[offset : offset + SKU_BATCH]
                skus = await self._skus_of([str(w.get("wareId")) for w in batch])
                for ware in batch:
                    yield {**ware, "skus": skus.get(str(ware.get("wareId")), [])}
            total = int(result.get("totalItem") or 0)
            if not wares or page * self.page_size >= total:
                return
            page += 1

    async def push_stock(
        self,
        platform_item_id: str,
        platform_sku_id: str | None,
        quantity: int,
        *,
        idempotency_key: str,
    ) -> StockPushResult:
        """Set one SKU's stock (JD's update is a full set, so a replay is harmless and the
        idempotency key needs no platform support). A ware's only SKU is looked up when no
        SKU id is given."""
        if quantity < 0:
            raise BadRequestError(PLATFORM, "stock", f"stock cannot be negative: {quantity}")
        sku_id = platform_sku_id
        if sku_id is None:
            skus = (await self._skus_of([platform_item_id])).get(platform_item_id, [])
            if len(skus) != 1:
                raise BadRequestError(PLATFORM, "stock", f"ware {platform_item_id} has {len(skus)} SKUs: give a sku id")
            sku_id = str(skus[0].get("skuId"))
        await self.gateway("jingdong.stock.write.updateSkuStock", {"skuId": sku_id, "stockNum": str(quantity)})
        return StockPushResult(platform_item_id, sku_id, quantity)

    #: JD sets stock only in full, so a delta is read-then-set (``Connector._stock_delta``):
    #: a sale between the read and the set is overwritten (one round trip of exposure).
    cheap_stock_read: ClassVar[bool] = True  # searchSkuList of one ware

    async def read_stock(self, platform_item_id: str, platform_sku_id: str | None) -> tuple[str | None, int]:
        """A SKU's ``stockNum`` from ``jingdong.sku.read.searchSkuList`` of its ware."""
        skus = (await self._skus_of([platform_item_id])).get(platform_item_id, [])
        if platform_sku_id is None and len(skus) != 1:
            raise BadRequestError(PLATFORM, "stock", f"ware {platform_item_id} has {len(skus)} SKUs: give a sku id")
        for sku in skus:
            sku_id = str(sku.get("skuId"))
            if platform_sku_id in (None, sku_id):
                return sku_id, fields.integer(sku, "stockNum")
        raise BadRequestError(PLATFORM, "stock", f"ware {platform_item_id} has no SKU {platform_sku_id}")

    # ------------------------------------------------------------------ price push
    async def _price_write(self, platform_item_id: str, platform_sku_id: str | None, price_fen: int) -> PricePushResult:
        """``jingdong.price.write.updateSkuJdPrice`` (``skuId``, ``jdPrice`` in yuan): JD's price
        is per SKU, so a ware's only SKU is looked up when no SKU id is given. A business
        failure (``apiResult.success=false``) is classified by the request loop; an answer
        that does not say ``success`` is not taken as done."""
        sku_id = platform_sku_id
        if sku_id is None:
            skus = (await self._skus_of([platform_item_id])).get(platform_item_id, [])
            if len(skus) != 1:
                raise BadRequestError(PLATFORM, "price", f"ware {platform_item_id} has {len(skus)} SKUs: give a sku id")
            sku_id = str(skus[0].get("skuId"))
        if not sku_id.isdigit():
            raise BadRequestError(PLATFORM, "price", f"JD sku ids are numeric, got {sku_id!r}")
        answer = await self.gateway(
            "jingdong.price.write.updateSkuJdPrice", {"skuId": sku_id, "jdPrice": fen_to_yuan_str(price_fen)}
        )
        if answer.get("success") is not True:
            raise TransientError(PLATFORM, "not_confirmed", f"updateSkuJdPrice did not confirm: {dict(answer)!r}"[:300])
        return PricePushResult(platform_item_id, sku_id, price_fen)

    # ------------------------------------------------------------------ settlement bills
    def parse_settlement(self, raw: Raw) -> Sequence[SettlementLineRecord]:
        return (parse_bill(raw),)

    async def _settlements_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        bounds = second_bounds(start, end)
        if bounds is None:
            return
        query = {
            "startTime": bounds[0],
            "endTime": bounds[1],
            "pageSize": str(self.page_size),
        }
        page = 1
        while True:
            body = await self.gateway("jingdong.pop.bill.detail.query", {**query, "pageNo": str(page)})
            result = body.get("billResult")
            if not isinstance(result, Mapping):
                raise TransientError(PLATFORM, "envelope", "no billResult")
            items = result.get("billDetailList") or []
            self.stats.pages += 1
            for raw in items:
                yield raw
            total = int(result.get("totalCount") or 0)
            if not items or page * self.page_size >= total:
                return
            page += 1


__all__ = [
    "ALL_ORDER_STATES",
    "BUSINESS_ERRORS",
    "ERRORS",
    "FEE_TYPE",
    "MAX_SPLIT_DEPTH",
    "MAX_WINDOW_RESTARTS",
    "OAUTH_ERRORS",
    "ORDER_FIELDS",
    "ORDER_STATE",
    "SCANS_BEFORE_SPLIT",
    "SERVICE_STATUS",
    "JdConnector",
    "classify_body",
    "decode_body",
    "fen",
    "jd_time",
    "line_id",
    "order_status",
    "param_json",
    "parse_bill",
    "parse_order",
    "parse_refund",
    "parse_sku",
    "parse_ware",
    "sdk_timestamp",
    "second_bounds",
]
