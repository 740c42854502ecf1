"""Taobao/Tmall (TOP) policy as data: statuses, the error table and how a body is classified,
the API method names. PLATFORMS.md §1."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bangfu.enums import ErrorClass, LineRefundState, OrderStatus, RefundStatus, SettlementKind
from connectors.errors import ErrorResolution, lookup, parse_ban_hint
from connectors.paging import UnstableWindow

PLATFORM = "taobao"
# Tmall buyers are Taobao accounts: one buyer_ref namespace for both, so a buyer who buys in a
# Taobao shop and a Tmall shop of the same programme is one buyer.
BUYER_NAMESPACE = "taobao"

# -- statuses: policy as data ------------------------------------------------------------------

TRADE_STATUS: Mapping[str, OrderStatus] = {
    "TRADE_NO_CREATE_PAY": OrderStatus.PENDING_PAYMENT,
    "WAIT_BUYER_PAY": OrderStatus.PENDING_PAYMENT,
    "PAY_PENDING": OrderStatus.PENDING_PAYMENT,  # foreign-card payment being confirmed
    "WAIT_PRE_AUTH_CONFIRM": OrderStatus.PENDING_PAYMENT,  # [I] pre-authorised, not yet paid
    "WAIT_SELLER_SEND_GOODS": OrderStatus.PAID,
    "PAID_FORBID_CONSIGN": OrderStatus.PAID,
    "SELLER_CONSIGNED_PART": OrderStatus.PART_SHIPPED,
    "WAIT_BUYER_CONFIRM_GOODS": OrderStatus.SHIPPED,
    "TRADE_BUYER_SIGNED": OrderStatus.DELIVERED,
    "TRADE_FINISHED": OrderStatus.COMPLETED,
    "TRADE_CLOSED": OrderStatus.CLOSED,  # closed after payment (refunded)
    "TRADE_CLOSED_BY_TAOBAO": OrderStatus.CANCELLED,  # closed before payment
}

REFUND_STATUS: Mapping[str, RefundStatus] = {
    "WAIT_SELLER_AGREE": RefundStatus.REQUESTED,
    "WAIT_BUYER_RETURN_GOODS": RefundStatus.AWAITING_RETURN,
    "WAIT_SELLER_CONFIRM_GOODS": RefundStatus.AWAITING_CONFIRM,
    "SELLER_REFUSE_BUYER": RefundStatus.REFUSED,
    "SUCCESS": RefundStatus.SUCCEEDED,
    "CLOSED": RefundStatus.CLOSED,
    # Exchange flows [I]: the seller still has to act, no money has moved yet.
    "WAIT_BUYER_CONFIRM_EXCHANGE_SELLER_SEND_GOODS": RefundStatus.AWAITING_CONFIRM,
    "WAIT_SELLER_CONSIGN_GOODS": RefundStatus.AWAITING_CONFIRM,
    "EXCHANGE_TRANSFORM_TO_REFUND": RefundStatus.REQUESTED,
}

# Sub-order refund_status -> the line's refund state. SUCCESS is FULL when the sub-order itself
# is closed (everything refunded) and PARTIAL otherwise [I]: TOP puts no refunded amount on the
# sub-order, but closes it when the whole payment went back.
LINE_REFUND_STATE: Mapping[str, LineRefundState] = {
    "NO_REFUND": LineRefundState.NONE,
    "CLOSED": LineRefundState.NONE,  # the refund was withdrawn: no money moved
    "WAIT_SELLER_AGREE": LineRefundState.IN_PROGRESS,
    "WAIT_BUYER_RETURN_GOODS": LineRefundState.IN_PROGRESS,
    "WAIT_SELLER_CONFIRM_GOODS": LineRefundState.IN_PROGRESS,
    "SELLER_REFUSE_BUYER": LineRefundState.IN_PROGRESS,
    "SUCCESS": LineRefundState.PARTIAL,
}

# bill.bills.get ``account_id`` (the seller's 科目) -> settlement kind. [I] Real account ids come
# from taobao.bill.accounts.get per seller; these are the ids our fake serves, and unknown ids
# fall back to OTHER (kept with their raw payload, never dropped).
BILL_ACCOUNTS: Mapping[str, SettlementKind] = {
    "1001": SettlementKind.SALE,  # 交易收款
    "1002": SettlementKind.REFUND,  # 交易退款
    "2001": SettlementKind.PLATFORM_FEE,  # 技术服务费 / 天猫佣金
    "2002": SettlementKind.HOST_COMMISSION,  # 淘宝客佣金
    "2003": SettlementKind.PAYMENT_FEE,  # 支付宝/信用卡支付服务费
    "2004": SettlementKind.LOGISTICS,
    "3001": SettlementKind.SUBSIDY,  # 营销补贴
}

# -- errors: policy as data --------------------------------------------------------------------

_AUTH = ErrorResolution(ErrorClass.AUTH)
_BAD = ErrorResolution(ErrorClass.BAD_REQUEST)
_LIMIT = ErrorResolution(ErrorClass.RATE_LIMIT, message="App Call Limited")
TRANSIENT = ErrorResolution(ErrorClass.TRANSIENT)

ERRORS: Mapping[str | int, ErrorResolution] = {
    # Flow control, all code 7; the ban hint ("This ban will last for N more seconds") is read
    # by ``classify``. The daily app quota has no hint: the base backs off and, when retries
    # run out, sync records a rate-limit failure and tries again on its next run.
    7: _LIMIT,
    "accesscontrol.limited-by-app-access-count": _LIMIT,
    "accesscontrol.limited-by-api-access-count": _LIMIT,
    "accesscontrol.limited-by-app-api-access-count": _LIMIT,
    "accesscontrol.limited-by-dynamic-access-count": _LIMIT,
    "accesscontrol.*": _LIMIT,
    # "超时请求过多，请将查询时间间隔缩短,3分钟后再查询": a throttle with a Chinese hint.
    "isv.trade-service-rejection": _LIMIT,
    # Platform-side failures: retry.
    "isp.*": TRANSIENT,
    10: TRANSIENT,  # Service Currently Unavailable
    15: TRANSIENT,  # Remote Service Error (isv.* sub_codes below override)
    520: TRANSIENT,
    # Authorisation: fatal. TOP sessions are long-lived seller tokens granted out of band; this
    # connector has no refresh endpoint (the session param is simply sent), so an invalid
    # session stops the shop and alerts.
    11: _AUTH,  # Insufficient ISV Permissions
    12: _AUTH,  # Insufficient User Permissions
    13: _AUTH,  # Insufficient Partner Permissions
    24: _AUTH,  # Missing Signature
    25: _AUTH,  # Invalid Signature
    26: _AUTH,  # Missing Session
    27: _AUTH,  # Invalid Session (sub_code invalid-sessionkey)
    "invalid-sessionkey": _AUTH,
    28: _AUTH,  # Missing App Key
    29: _AUTH,  # Invalid App Key
    30: _AUTH,  # Missing Timestamp
    31: _AUTH,  # Invalid Timestamp: our clock is off by more than 10 min; an operator must act
    # Our bugs: never retried.
    21: _BAD,  # Missing Method
    22: _BAD,  # Invalid Method
    23: _BAD,  # Invalid Format
    32: _BAD,
    33: _BAD,
    34: _BAD,
    40: _BAD,  # Missing Required Arguments
    41: _BAD,  # Invalid Arguments (e.g. a window wider than the API allows)
    43: _BAD,
    47: _BAD,
    "isv.*": _BAD,
    # logistics.offline.send refusals [I B-codes]: that order cannot ship as asked (B04 already
    # shipped: connectors.shipping checks the tracking number it has).
    "isv.logistics-offline-service-error:*": ErrorResolution(ErrorClass.BAD_RECORD),
}
#: the "already shipped" refusal of logistics.offline.send
ALREADY_SHIPPED = "isv.logistics-offline-service-error:B04"
SHIP_METHOD = "taobao.logistics.offline.send"


def classify_body(body: Any) -> ErrorResolution | None:
    """The resolution for a TOP JSON body; ``None`` when it is not an ``error_response``."""
    if not isinstance(body, Mapping) or "error_response" not in body:
        return None
    err = body["error_response"]
    if not isinstance(err, Mapping):
        return TRANSIENT.with_details(code="error_response", message="garbled error_response")
    code = err.get("code")
    sub_code = err.get("sub_code") or None
    msg = str(err.get("msg") or "")
    sub_msg = str(err.get("sub_msg") or "")
    text = f"{msg}: {sub_msg}" if sub_msg else msg
    row = lookup(ERRORS, code, sub_code, default=_BAD)
    assert row is not None
    hint = parse_ban_hint(sub_msg) if row.error_class is ErrorClass.RATE_LIMIT else None
    return row.with_details(
        code=code if isinstance(code, int | str) else "error_response",
        sub_code=str(sub_code) if sub_code else None,
        message=text,
        retry_after=hint,
    )


# -- API methods -------------------------------------------------------------------------------

ORDERS_METHOD = "taobao.trades.sold.increment.get"
ORDER_DETAIL_METHOD = "taobao.trade.fullinfo.get"
REFUNDS_METHOD = "taobao.refunds.receive.get"
REFUND_DETAIL_METHOD = "taobao.refund.get"
ONSALE_METHOD = "taobao.items.onsale.get"
INVENTORY_METHOD = "taobao.items.inventory.get"
STOCK_METHOD = "taobao.item.quantity.update"
#: price writes: one SKU of an item (price in yuan, 2 decimals), or an item without SKUs
SKU_PRICE_METHOD = "taobao.item.sku.price.update"
ITEM_PRICE_METHOD = "taobao.item.price.update"
BILLS_METHOD = "taobao.bill.bills.get"
BILL_DETAIL_METHOD = "taobao.bill.bill.get"
GATEWAY_PATH = "/router/rest"

SIGN_METHODS = frozenset({"md5", "hmac", "hmac-sha256"})
#: How many times a window is scanned again when records entered it while we paged.
#: scan a window again while records keep entering it, at most this often
UNSTABLE_WINDOW = UnstableWindow(rescans=2)
