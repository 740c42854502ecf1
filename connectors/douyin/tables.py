"""Douyin's status and error tables (policy as data) and the envelope classifier: pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from bangfu.enums import (
    ErrorClass,
    LineRefundState,
    OrderStatus,
    PlatformKind,
    RefundStatus,
    SettlementKind,
)
from connectors.errors import (
    ErrorResolution,
    lookup,
    parse_ban_hint,
)
from connectors.paging import UnstableWindow

PLATFORM = PlatformKind.DOUYIN.value

#: success code of the envelope; ``data.code`` of the settle bill API on success
SUCCESS = 10000
SETTLE_OK = "100000"

ORDER_PAGE_SIZE = 100  # order.searchList / afterSale.List: size <= 100
OFFSET_CAP = 50_000  # page x size <= 50,000 (isv.parameter-invalid:20013)
LOOKBACK = timedelta(days=90)  # order.searchList serves the last 90 days only (…:20022)
#: re-page a window whose total grew while we paged it, at most this often
UNSTABLE_WINDOW = UnstableWindow(rescans=4)
PRODUCT_PAGE_SIZE = 100  # product.listV2: size 1-100, page from 1, page x size <= 10,000
PRODUCT_CAP = 10_000
SETTLE_PAGE_SIZE = 100

# -- statuses: policy as data ------------------------------------------------------------------

#: shop order ``order_status``. 4 (已取消) covers both "cancelled before payment" and "closed
#: after payment" (fully refunded): :func:`order_status` tells them apart by ``pay_time``.
ORDER_STATUS: Mapping[int, OrderStatus] = MappingProxyType(
    {
        1: OrderStatus.PENDING_PAYMENT,  # 待支付
        105: OrderStatus.PAID,  # 已支付 (before the order enters 备货中)
        2: OrderStatus.PAID,  # 备货中 (to ship)
        101: OrderStatus.PART_SHIPPED,  # 部分发货
        3: OrderStatus.SHIPPED,  # 已发货
        4: OrderStatus.CANCELLED,  # 已取消
        5: OrderStatus.COMPLETED,  # 已完成
    }
)
CLOSED_AFTER_PAYMENT = OrderStatus.CLOSED  # order_status 4 with a pay_time

#: after-sale status (``aftersale_info.aftersale_status`` and ``after_sale_info``).
REFUND_STATUS: Mapping[int, RefundStatus] = MappingProxyType(
    {
        0: RefundStatus.REQUESTED,  # 售后初始化
        6: RefundStatus.REQUESTED,  # 待商家同意
        7: RefundStatus.AWAITING_RETURN,  # 待买家退货
        8: RefundStatus.AWAITING_CONFIRM,  # 待商家发货 (exchange / re-send)
        11: RefundStatus.AWAITING_CONFIRM,  # 待商家二次同意 (goods returned)
        3: RefundStatus.AWAITING_CONFIRM,  # 换货待买家收货
        13: RefundStatus.AWAITING_CONFIRM,  # 换货/补寄待买家收货
        12: RefundStatus.SUCCEEDED,  # 售后成功
        14: RefundStatus.SUCCEEDED,  # 换货成功 (no money: refund_amount 0)
        53: RefundStatus.SUCCEEDED,  # 逆向交易完成
        27: RefundStatus.REFUSED,  # 商家一次拒绝
        29: RefundStatus.REFUSED,  # 商家二次拒绝 (after the return)
        28: RefundStatus.CLOSED,  # 售后失败 (incl. withdrawn by the buyer)
        51: RefundStatus.CLOSED,  # 取消成功
    }
)

#: a sku order's ``after_sale_info.after_sale_status`` -> the line's refund state. A succeeded
#: refund is PARTIAL unless the sku order itself is closed (order_status 4): then all of it went
#: back, FULL [I: the list shows no refunded amount per line].
LINE_REFUND_STATE: Mapping[int, LineRefundState] = MappingProxyType(
    {
        0: LineRefundState.NONE,
        6: LineRefundState.IN_PROGRESS,
        7: LineRefundState.IN_PROGRESS,
        8: LineRefundState.IN_PROGRESS,
        11: LineRefundState.IN_PROGRESS,
        12: LineRefundState.PARTIAL,
        53: LineRefundState.PARTIAL,
        3: LineRefundState.NONE,  # exchanges move no money
        13: LineRefundState.NONE,
        14: LineRefundState.NONE,
        27: LineRefundState.NONE,  # refused: nothing refunded
        28: LineRefundState.NONE,
        29: LineRefundState.NONE,
        51: LineRefundState.NONE,
    }
)
LINE_CLOSED = 4  # sku order_status of a line closed by a full refund

#: ``aftersale_type`` values whose goods come back to the seller.
WITH_RETURN_TYPES: frozenset[int] = frozenset({0, 3})  # 退货退款, 换货

#: settle bill columns (fen, positive numbers meaning costs) -> the payout line they make.
#: ``total_income`` is the sale; every cost column is one negative line; the lines of a row sum
#: to its ``settle_amount`` (checked: a row that does not is quarantined). Every cost column maps
#: to a fee type the ledger folds in and the reconciliation expects (``workers/reconcile.py``),
#: so a clean bill leaves no ``other`` line:
#:
#: * ``other_sharing_amount`` (其他分成) [I]: Douyin's bill has no payment-fee column; the
#:   payment channel's cost is withheld here (the fake bills its payment fee in it), so it is
#:   the payment fee. Left as ``other`` it was never expected and flagged nearly every order.
#: * ``good_learn_channel_fee`` (渠道分成), ``colonel_service_fee`` (团长服务费),
#:   ``channel_promotion_fee`` (直播间站外推广) [I]: withheld by the platform for a channel, a
#:   distribution colonel or off-site promotion, none of them the hub's own host: platform fees
#:   (as ``host_commission`` they would be credited to the attributed host's payable).
SETTLE_COST_COLUMNS: Mapping[str, SettlementKind] = MappingProxyType(
    {
        "platform_service_fee": SettlementKind.PLATFORM_FEE,  # 平台服务费
        "commission": SettlementKind.HOST_COMMISSION,  # 达人佣金
        "good_learn_channel_fee": SettlementKind.PLATFORM_FEE,  # 渠道分成
        "colonel_service_fee": SettlementKind.PLATFORM_FEE,  # 团长服务费
        "channel_promotion_fee": SettlementKind.PLATFORM_FEE,  # 直播间站外推广
        "other_sharing_amount": SettlementKind.PAYMENT_FEE,  # 其他分成
    }
)
#: settle row ``trade_type``: 0 settled sale; 1/3 refund after settlement; 2 deposit refund.
SETTLE_TRADE_TYPE: Mapping[int, SettlementKind | None] = MappingProxyType(
    {0: None, 1: SettlementKind.REFUND, 3: SettlementKind.REFUND, 2: SettlementKind.OTHER}
)

# -- errors: policy as data --------------------------------------------------------------------

_AUTH = ErrorResolution(ErrorClass.AUTH)
_TOKEN = ErrorResolution(ErrorClass.AUTH, token_expired=True)
_BAD = ErrorResolution(ErrorClass.BAD_REQUEST)
_LIMIT = ErrorResolution(ErrorClass.RATE_LIMIT, message="触发限流")
_TRANSIENT = ErrorResolution(ErrorClass.TRANSIENT)

ERRORS: Mapping[str | int, ErrorResolution] = MappingProxyType(
    {
        # Rate limit: 60000 whatever the sub_code; the ban hint is read from sub_msg/msg.
        60000: _LIMIT,
        # Platform trouble: the doc says retry 3-5 times within 30 s.
        20000: _TRANSIENT,
        20001: _TRANSIENT,  # timeout
        "isp.*": _TRANSIENT,
        # Tokens: a missing/expired/unknown token is cured by creating or refreshing it once.
        "isv.access-token-missing": _TOKEN,
        "isv.access-token-expired": _TOKEN,
        "isv.access-token-no-existed": _TOKEN,
        # Authentication and authorisation: fatal (an operator must act).
        "isv.signature-missing": _AUTH,
        "isv.signature-invalid": _AUTH,
        "isv.timestamp-invalid": _AUTH,  # our clock is off
        "isv.app-key-invalid": _AUTH,
        "isv.app-key-missing": _AUTH,
        "isv.refresh-token-expired": _AUTH,
        "isv.refresh-token-no-existed": _AUTH,
        "dop.*": _AUTH,  # authorisation gone (dop.authorization-no-existed), token creation
        30001: _AUTH,  # no permission
        30002: _AUTH,  # IP not whitelisted
        50001: _AUTH,  # token generation failed
        # Our bugs: never retried.
        40001: _BAD,
        40003: _BAD,  # isv.parameter-format-invalid and other platform params
        40004: _BAD,  # isv.parameter-invalid:<n> (window beyond 90 days, size > 100, ...)
        50002: _BAD,  # isv.business-failed:<n>
        # order.logisticsAdd refusals [I numbers]: that order cannot ship as asked.
        "isv.business-failed:30030": ErrorResolution(ErrorClass.BAD_RECORD, message="订单已发货"),
        "isv.business-failed:30031": ErrorResolution(ErrorClass.BAD_RECORD, message="订单已退款或已关闭"),
        "isv.business-failed:30032": ErrorResolution(ErrorClass.BAD_RECORD, message="物流公司不存在"),
        "isv.business-failed:30033": ErrorResolution(ErrorClass.BAD_RECORD, message="运单号不合法"),
        "isv.business-failed:30034": ErrorResolution(ErrorClass.BAD_RECORD, message="订单不存在"),
        10001: _BAD,  # partial failure
        70000: _BAD,  # API offline
        90000: _BAD,
    }
)


def envelope_code(body: Mapping[str, Any]) -> int | None:
    """The envelope's code: ``code`` (new style) or ``err_no`` (legacy, 0 = success)."""
    code = body.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code)
    err_no = body.get("err_no")
    if isinstance(err_no, int) and not isinstance(err_no, bool):
        return SUCCESS if err_no == 0 else err_no
    return None


def classify_body(body: Any) -> ErrorResolution | None:
    """The resolution for a Douyin JSON body; ``None`` on ``code: 10000``."""
    if not isinstance(body, Mapping):
        return _TRANSIENT.with_details(code="envelope", message=f"unexpected body: {str(body)[:200]}")
    code = envelope_code(body)
    if code is None:
        return _TRANSIENT.with_details(code="envelope", message="no code in the envelope")
    if code == SUCCESS:
        return None
    sub_code = str(body.get("sub_code") or "") or None
    msg = str(body.get("msg") or body.get("message") or "")
    sub_msg = str(body.get("sub_msg") or "")
    text = f"{msg}: {sub_msg}" if sub_msg else msg
    row = lookup(ERRORS, code, sub_code, default=_BAD)
    assert row is not None
    hint = None
    if row.error_class is ErrorClass.RATE_LIMIT:
        # [I] "请N秒后重试": Douyin meters per-second QPS, so N itself is the wait (no pad).
        hint = parse_ban_hint(sub_msg, pad=0.0) or parse_ban_hint(msg, pad=0.0)
    return row.with_details(code=code, sub_code=sub_code, message=text or str(code), retry_after=hint)


# -- field helpers -----------------------------------------------------------------------------


# live sessions [I]: see connectors.douyin.live
LIVE_SESSION_LIST = "live.sessionList"  # [I]
LIVE_SESSION_DETAIL = "live.sessionDetail"  # [I]
