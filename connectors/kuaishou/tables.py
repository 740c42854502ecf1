"""Kuaishou's status and error tables (policy as data) and the envelope classifier: pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bangfu.enums import (
    ErrorClass,
    OrderStatus,
    RefundStatus,
    SettlementKind,
)
from connectors.errors import (
    ErrorResolution,
    lookup,
)

PLATFORM = "kuaishou"

# -- statuses: policy as data ------------------------------------------------------------------

ORDER_STATUS: Mapping[int, OrderStatus] = {
    10: OrderStatus.PENDING_PAYMENT,  # 待付款
    30: OrderStatus.PAID,  # 已付款
    40: OrderStatus.SHIPPED,  # 已发货
    50: OrderStatus.DELIVERED,  # 已签收
    70: OrderStatus.COMPLETED,  # 交易成功
    80: OrderStatus.CLOSED,  # 交易关闭 (after payment: refunded)
}
#: 交易关闭 before payment (``payTime`` 0): the order never went anywhere.
CLOSED_UNPAID = OrderStatus.CANCELLED
CLOSED_STATUS = 80

REFUND_STATUS: Mapping[int, RefundStatus] = {
    10: RefundStatus.REQUESTED,  # [I] 买家申请退款，待商家处理
    11: RefundStatus.AWAITING_CONFIRM,  # [I] 买家已退货，待商家确认收货
    12: RefundStatus.REFUSED,  # [I] 商家拒绝退款
    20: RefundStatus.REQUESTED,  # [I] 平台介入中
    30: RefundStatus.AWAITING_RETURN,  # [I] 商家同意退货，待买家退货
    40: RefundStatus.AWAITING_CONFIRM,  # [I] 商家已收货，待退款
    50: RefundStatus.AWAITING_CONFIRM,  # [I] 退款执行中 (no money moved yet)
    60: RefundStatus.SUCCEEDED,  # 退款成功
    70: RefundStatus.CLOSED,  # 退款关闭
}

HANDLING_RETURN_REFUND = 1  # 退货退款
HANDLING_REFUND_ONLY = 10  # 仅退款
HANDLING_EXCHANGE = 3  # 换货: never money, never counted as a refund amount
HANDLING_WAYS = frozenset({HANDLING_RETURN_REFUND, HANDLING_REFUND_ONLY, HANDLING_EXCHANGE})

#: settlement ``billType`` -> kind [I]; unknown types are kept as OTHER with their raw payload.
BILL_TYPES: Mapping[int, SettlementKind] = {
    1: SettlementKind.SALE,  # 货款
    2: SettlementKind.PLATFORM_FEE,  # 平台技术服务费
    3: SettlementKind.HOST_COMMISSION,  # 达人佣金 (分销)
    4: SettlementKind.PAYMENT_FEE,  # 支付通道费
    5: SettlementKind.REFUND,  # 售后退款
    6: SettlementKind.LOGISTICS,  # 运费
    7: SettlementKind.SUBSIDY,  # 平台补贴
}

ITEM_ONLINE = 1  # onOfflineStatus: 1 on sale, 0 off shelf

# -- errors: policy as data --------------------------------------------------------------------

_AUTH = ErrorResolution(ErrorClass.AUTH)
_TOKEN = ErrorResolution(ErrorClass.AUTH, token_expired=True)
_BAD = ErrorResolution(ErrorClass.BAD_REQUEST)
_TRANSIENT = ErrorResolution(ErrorClass.TRANSIENT)
#: QPS is metered per second: one second's pause is the ban the message implies [I].
QPS_BAN_SECONDS = 1.0
_QPS = ErrorResolution(ErrorClass.RATE_LIMIT, retry_after=QPS_BAN_SECONDS, message="Exceed qps limit")
# The daily quota has no hint worth sleeping on (it resets at midnight): the base backs off, and
# when retries run out sync records a rate-limit failure and tries again on its next run.
_QUOTA = ErrorResolution(ErrorClass.RATE_LIMIT, message="Exceed quota limit")

ERRORS: Mapping[str | int, ErrorResolution] = {
    # OAuth family [V:S13 APP授权说明]: "any token error on authorised APIs returns access_denied".
    100200100: _BAD,  # invalid_request: a required parameter is missing
    100200101: _AUTH,  # unauthorized_client: unknown app key / app disabled
    100200102: _TOKEN,  # access_denied: token invalid, expired or revoked: refresh once
    100200103: _BAD,  # unsupported_response_type
    100200104: _BAD,  # unsupported_grant_type
    100200105: _AUTH,  # invalid_grant: bad or used authorisation code
    100200106: _AUTH,  # invalid_scope: the user did not grant this permission
    100200107: _AUTH,  # invalid_openid
    100200500: _TRANSIENT,  # server_error
    # Gateway [I] except 802006 (seen in public client code as the daily quota code).
    802000: _TRANSIENT,  # 系统繁忙
    802001: _AUTH,  # 签名校验失败
    802002: _AUTH,  # timestamp outside the window: our clock is off, an operator must act
    802003: _BAD,  # unsupported signMethod
    802004: _BAD,  # unknown method
    802005: _QPS,
    802006: _QUOTA,
    # Business [V:S13 返回码说明]: our windows are wrong, a bug on our side.
    300003: _BAD,  # ENDTIME MUST AFTER BEGINTIME
    300004: _BAD,  # SEARCH TIME RANGE EXPAND 7 DAYS
    300005: _BAD,  # CAN NOT SEARCH BEFORE 90 DAYS
    300019: _BAD,  # SEARCH TIME RANGE EXPAND LIMIT
    2001: _BAD,  # 参数无效 (e.g. "endTime无效", seen in a public client's log)
    # open.seller.order.goods.deliver refusals [I codes]: that order cannot ship as asked.
    803001: ErrorResolution(ErrorClass.BAD_RECORD, message="订单已发货"),
    803002: ErrorResolution(ErrorClass.BAD_RECORD, message="订单状态不允许发货"),
    803003: ErrorResolution(ErrorClass.BAD_RECORD, message="快递公司编码不存在"),
    803004: ErrorResolution(ErrorClass.BAD_RECORD, message="快递单号格式错误"),
    803005: ErrorResolution(ErrorClass.BAD_RECORD, message="订单不存在"),
}
ALREADY_SHIPPED = "803001"
SHIP_METHOD = "open.seller.order.goods.deliver"

_QPS_TEXT = re.compile(r"exceed\s+qps\s+limit", re.IGNORECASE)
_QUOTA_TEXT = re.compile(r"exceed\s+quota\s+limit", re.IGNORECASE)


def _code(value: Any) -> int | str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text:
        return None
    return int(text) if text.lstrip("-").isdigit() else text


def classify_body(body: Any) -> ErrorResolution | None:
    """The resolution for a decoded Kuaishou body; ``None`` when ``result`` is 1."""
    if not isinstance(body, Mapping):
        return _TRANSIENT.with_details(code="garbled", message="response is not a JSON object")
    result = _code(body.get("result"))
    if result == 1:
        return None
    if result is None:
        return _TRANSIENT.with_details(code="garbled", message="response has no result")
    sub_code = str(body.get("sub_code") or body.get("subCode") or "") or None
    texts = [
        str(body.get(key) or "")
        for key in ("error_msg", "errorMsg", "sub_msg", "subMsg", "msg", "error")
        if body.get(key)
    ]
    message = " | ".join(dict.fromkeys(texts)) or f"result {result}"
    if _QPS_TEXT.search(message):
        row: ErrorResolution = _QPS
    elif _QUOTA_TEXT.search(message):
        row = _QUOTA
    else:
        found = lookup(ERRORS, result, sub_code, default=None)
        if found is None and body.get("code") not in (None, ""):
            found = lookup(ERRORS, _code(body.get("code")))
        row = found or _BAD
    return row.with_details(code=result, sub_code=sub_code, message=message)


def parse_max_qps(text: str) -> float | None:
    """``... MAX_QPS [300.0]`` -> 300.0 (the app's allowance for that API), else ``None``."""
    match = re.search(r"MAX_QPS\s*\[\s*(\d+(?:\.\d+)?)\s*\]", text)
    return float(match.group(1)) if match else None
