"""JD JOS policy as data: constants, statuses, the error tables and how an envelope is
classified. PLATFORMS.md §2."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from bangfu.enums import ErrorClass, OrderStatus, RefundStatus, SettlementKind
from connectors.errors import ErrorResolution, lookup, parse_ban_hint
from connectors.paging import UnstableWindow

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
    # pop.order.shipment refusals [I codes]: that order cannot ship as asked.
    "10400001": ErrorResolution(ErrorClass.BAD_RECORD, message="订单已出库"),  # already shipped
    "10400002": ErrorResolution(ErrorClass.BAD_RECORD, message="订单状态不允许出库"),
    "10400003": ErrorResolution(ErrorClass.BAD_RECORD, message="物流公司不存在"),
    "10400004": ErrorResolution(ErrorClass.BAD_RECORD, message="运单号格式错误"),
}
ALREADY_SHIPPED = "10400001"
SHIP_METHOD = "jingdong.pop.order.shipment"

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
