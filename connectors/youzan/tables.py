"""Youzan's APIs, status and error tables (policy as data) and the envelope reading: pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bangfu.enums import (
    ErrorClass,
    LineRefundState,
    OrderStatus,
    RefundStatus,
    SettlementKind,
)
from connectors.errors import (
    ErrorResolution,
    lookup,
    parse_ban_hint,
)
from connectors.paging import UnstableWindow

PLATFORM = "youzan"

TRADES_SOLD_GET = ("youzan.trades.sold.get", "4.0.4")
TRADE_GET = ("youzan.trade.get", "4.0.2")
REFUND_SEARCH = ("youzan.trade.refund.search", "3.0.1")
REFUND_GET = ("youzan.trade.refund.get", "3.0.1")
ITEMS_ONSALE_GET = ("youzan.items.onsale.get", "3.0.0")
ITEMS_INVENTORY_GET = ("youzan.items.inventory.get", "3.0.0")
ITEM_GET = ("youzan.item.get", "3.0.0")
ITEM_QUANTITY_UPDATE = ("youzan.item.quantity.update", "3.0.0")
# [I] the price write: PLATFORMS.md names no Youzan price API; SKU price in fen like item.get's
ITEM_SKU_UPDATE = ("youzan.item.sku.update", "3.0.0")
# [I] PLATFORMS.md §5 lists no settlement/bill API for Youzan. We use this name and shape
# (settle-time window in Beijing time, page_no/page_size, signed yuan amounts); the fake
# serves the same.
SETTLEMENT_SEARCH = ("youzan.trade.settlement.bill.search", "1.0.0")
TOKEN_OP = "auth.token"

MAX_PAGE_SIZE = 100  # trades.sold.get and refund.search: page_size <= 100
MAX_PAGE_NO = 100  # trades.sold.get: page_no <= 100, so <= 10,000 orders per window
REFUND_MAX_DEPTH = 3000  # refund.search: page_no * page_size <= 3000 ("超过ES搜索最大深度")
ITEMS_PAGE_SIZE = 100  # items.onsale.get: page_size < 200 and page_no * page_size < 4000
#: re-page a window whose total_results moved while we paged it, at most this often
UNSTABLE_WINDOW = UnstableWindow(rescans=4)

# -- statuses: policy as data ------------------------------------------------------------------

# order_info.status [V:S16]. TRADE_CLOSED is both "closed before payment" and "closed after a
# full refund": :func:`order_status` splits it by whether the order was ever paid.
ORDER_STATUS: Mapping[str, OrderStatus] = {
    "WAIT_BUYER_PAY": OrderStatus.PENDING_PAYMENT,
    "TRADE_PAID": OrderStatus.PAID,  # transient, becomes one of the next two
    "WAIT_CONFIRM": OrderStatus.PAID,  # waiting for the group to form / the shop to accept
    "WAIT_SELLER_SEND_GOODS": OrderStatus.PAID,
    "WAIT_BUYER_CONFIRM_GOODS": OrderStatus.SHIPPED,
    "TRADE_SUCCESS": OrderStatus.COMPLETED,
    "TRADE_CLOSED": OrderStatus.CLOSED,
}

# refund.search / refund.get ``status``.
REFUND_STATUS: Mapping[str, RefundStatus] = {
    "WAIT_SELLER_AGREE": RefundStatus.REQUESTED,
    "WAIT_BUYER_RETURN_GOODS": RefundStatus.AWAITING_RETURN,
    "WAIT_SELLER_CONFIRM_GOODS": RefundStatus.AWAITING_CONFIRM,
    "SELLER_REFUSE_BUYER": RefundStatus.REFUSED,
    "SELLER_REFUSE_BUYER_RETURN_GOODS": RefundStatus.REFUSED,
    "CLOSED": RefundStatus.CLOSED,
    "SUCCESS": RefundStatus.SUCCEEDED,
}

# trade.get ``refund_order[].refund_state`` (a different integer set from refund.search's
# strings). 1/10/20/30/40 are documented; [I] 50 closed, 60 succeeded (the doc's table is cut).
REFUND_ORDER_STATE: Mapping[int, RefundStatus] = {
    1: RefundStatus.REQUESTED,
    10: RefundStatus.REFUSED,
    20: RefundStatus.AWAITING_RETURN,
    30: RefundStatus.AWAITING_CONFIRM,
    40: RefundStatus.REFUSED,
    50: RefundStatus.CLOSED,
    60: RefundStatus.SUCCEEDED,
}

# order_info.refund_state (order level) [V:S16]: 0 none, 1 partial refunding, 2 partial
# refunded, 11 full refunding, 12 full refunded. Only the full states say which lines (all).
ORDER_REFUND_STATE_ALL_LINES: Mapping[int, LineRefundState] = {
    11: LineRefundState.IN_PROGRESS,
    12: LineRefundState.FULL,
}

# refund ``reason`` is an integer enum on Youzan. [I] the codes and texts our fake uses; an
# unknown code is kept as its number.
REFUND_REASON: Mapping[int, str] = {
    11: "质量问题",
    12: "拍错/多拍/不想要",
    13: "商品破损",
    14: "未按约定时间发货",
    15: "其他",
}

# [I] settlement ``biz_type`` of our assumed bill API.
BILL_TYPE: Mapping[str, SettlementKind] = {
    "SALE": SettlementKind.SALE,
    "REFUND": SettlementKind.REFUND,
    "PLATFORM_FEE": SettlementKind.PLATFORM_FEE,
    "COMMISSION": SettlementKind.HOST_COMMISSION,
    "PAY_FEE": SettlementKind.PAYMENT_FEE,
    "LOGISTICS": SettlementKind.LOGISTICS,
    "SUBSIDY": SettlementKind.SUBSIDY,
}

# -- errors: policy as data --------------------------------------------------------------------

_AUTH = ErrorResolution(ErrorClass.AUTH)
# 4201/4202/4203: the documented advice is "refresh the token once and retry once, then stop".
_TOKEN = ErrorResolution(ErrorClass.AUTH, token_expired=True)
_BAD = ErrorResolution(ErrorClass.BAD_REQUEST)
_LIMIT = ErrorResolution(ErrorClass.RATE_LIMIT, message="请求太频繁")
_TRANSIENT = ErrorResolution(ErrorClass.TRANSIENT)

ERRORS: Mapping[str | int, ErrorResolution] = {
    # Gateway (gw_err_resp.err_code), HTTP 200.
    4001: _BAD,  # 非法请求地址 (path is not /api/{name}/{version})
    4004: _BAD,  # 非法的Content (body is not JSON)
    4005: _BAD,  # 非法的API (unknown name or version)
    4007: _BAD,  # 非法的请求姿势 (method / content type; also the IP allow-list: an operator fix)
    4009: _BAD,
    4010: _BAD,
    4101: _LIMIT,  # 请求太频繁 [I: the code is from the docs' rate-limit page, no hint given]
    4201: _TOKEN,  # 非法的请求凭证 (no token, or the authorisation was revoked)
    4202: _TOKEN,  # 请求凭证过期
    4203: _TOKEN,  # 请求凭证不存在 / "Token 不存在"
    4204: _AUTH,  # 无权限访问 (the API's capability pack is not granted)
    5001: _BAD,  # 系统异常: in practice a parameter of the wrong type
    5002: _BAD,
    5003: _TRANSIENT,  # plugin failure on the platform side
    # Other throttle shapes the docs list (business layer).
    500100004: _LIMIT,
    123000042: _LIMIT,
    141500203: _LIMIT,
    # /auth/token ({success: false, code}): all need an operator.
    1000: _AUTH,  # client_secret wrong (or not a JSON body)
    1004: _AUTH,  # authorisation expired (subscription ended)
    1005: _AUTH,  # bad or used authorisation code
    1103: _AUTH,  # unknown client / no authorisation / app mismatch
    1105: _AUTH,  # wrong authorize_type for the app type
    # Business errors.
    5000: _BAD,  # e.g. "trade not found", "每页最多显示100条数据"
    106000001: _TRANSIENT,  # request timed out, retry
    106100118: _TRANSIENT,
    106000003: _BAD,  # end time more than 7 days in the future
    106000004: _BAD,
    106100110: _BAD,
    -100: _TRANSIENT,
    # logistics.online.confirm refusals [I codes]: that order cannot ship as asked.
    101305001: ErrorResolution(ErrorClass.BAD_RECORD, message="订单已发货"),
    101305002: ErrorResolution(ErrorClass.BAD_RECORD, message="订单已退款或已关闭"),
    101305003: ErrorResolution(ErrorClass.BAD_RECORD, message="物流公司不存在"),
    101305004: ErrorResolution(ErrorClass.BAD_RECORD, message="运单号格式不正确"),
    101305005: ErrorResolution(ErrorClass.BAD_RECORD, message="订单不存在"),
}
ALREADY_SHIPPED = "101305001"
LOGISTICS_CONFIRM = ("youzan.logistics.online.confirm", "3.0.0")


def _resolve(code: Any, message: str) -> ErrorResolution:
    row = lookup(ERRORS, code if isinstance(code, int | str) else None, default=_BAD)
    assert row is not None
    hint = parse_ban_hint(message) if row.error_class is ErrorClass.RATE_LIMIT else None
    return row.with_details(code=code if isinstance(code, int | str) else "unknown", message=message, retry_after=hint)


def classify_body(body: Any) -> ErrorResolution | None:
    """The resolution for a decoded Youzan body, ``None`` when it is a success."""
    if not isinstance(body, Mapping):
        return _TRANSIENT.with_details(code="garbled", message="body is not a JSON object")
    gateway = body.get("gw_err_resp")
    if gateway is not None:
        if not isinstance(gateway, Mapping):
            return _TRANSIENT.with_details(code="gw_err_resp", message="garbled gw_err_resp")
        return _resolve(gateway.get("err_code"), str(gateway.get("err_msg") or ""))
    legacy = body.get("error_response")
    if legacy is not None:
        if not isinstance(legacy, Mapping):
            return _TRANSIENT.with_details(code="error_response", message="garbled error_response")
        return _resolve(legacy.get("code"), str(legacy.get("msg") or ""))
    if "response" in body and "success" not in body:
        return None  # v3 success envelope
    code = body.get("code")
    if body.get("success") is True and code in (200, "200"):
        return None
    return _resolve(code if code is not None else "no_code", str(body.get("message") or ""))


def unwrap_body(body: Mapping[str, Any]) -> Any:
    """The payload of a success envelope (v4 ``data``, v3 ``response``)."""
    if "data" in body:
        return body["data"]
    return body.get("response")
