"""Self-built mall policy as data: constants, display words -> hub values, page error codes."""

from __future__ import annotations

from collections.abc import Mapping

from bangfu.enums import ErrorClass, LineRefundState, OrderStatus, RefundStatus, SettlementKind
from connectors.errors import ErrorResolution
from connectors.paging import UnstableWindow

PLATFORM = "selfmall"
SESSION_COOKIE = "mall_session"
PER_PAGE = 100  # admin lists: per_page <= 100
CATALOGUE_PER_PAGE = 50
#: re-page a window whose total moved while we paged it, at most this often
UNSTABLE_WINDOW = UnstableWindow(rescans=4)
REDIRECTS = frozenset({301, 302, 303, 307, 308})

# -- display words -> hub values: policy as data -----------------------------------------------------

ORDER_STATUS: Mapping[str, OrderStatus] = {
    "待付款": OrderStatus.PENDING_PAYMENT,
    "已取消": OrderStatus.CANCELLED,
    "待发货": OrderStatus.PAID,
    "部分发货": OrderStatus.PART_SHIPPED,
    "已发货": OrderStatus.SHIPPED,
    "已签收": OrderStatus.DELIVERED,
    "已完成": OrderStatus.COMPLETED,
    "已关闭": OrderStatus.CLOSED,  # closed after payment: fully refunded
}
LINE_REFUND: Mapping[str, LineRefundState] = {
    "无": LineRefundState.NONE,
    "": LineRefundState.NONE,
    "退款中": LineRefundState.IN_PROGRESS,
    "部分退款": LineRefundState.PARTIAL,
    "已退款": LineRefundState.FULL,
}
REFUND_STATUS: Mapping[str, RefundStatus] = {
    "待商家处理": RefundStatus.REQUESTED,
    "待买家退货": RefundStatus.AWAITING_RETURN,
    "待商家收货": RefundStatus.AWAITING_CONFIRM,
    "商家已拒绝": RefundStatus.REFUSED,
    "退款成功": RefundStatus.SUCCEEDED,
    "已撤销": RefundStatus.CLOSED,
}
SETTLEMENT_KIND: Mapping[str, SettlementKind] = {
    "货款收入": SettlementKind.SALE,
    "退款支出": SettlementKind.REFUND,
    "平台服务费": SettlementKind.PLATFORM_FEE,
    "主播佣金": SettlementKind.HOST_COMMISSION,
    "支付手续费": SettlementKind.PAYMENT_FEE,
    "物流费": SettlementKind.LOGISTICS,
    "补贴": SettlementKind.SUBSIDY,
}
SHELF: Mapping[str, bool] = {"在售": True, "已下架": False}
YES_NO: Mapping[str, bool] = {"是": True, "否": False}

# -- errors: policy as data ----------------------------------------------------------------------------

SESSION_ERROR = ErrorResolution(ErrorClass.AUTH, token_expired=True, message="session expired: log in again")
CSRF_ERROR = ErrorResolution(ErrorClass.AUTH, token_expired=True, message="CSRF token refused: log in again")
LIMIT = ErrorResolution(ErrorClass.RATE_LIMIT, message="HTTP 429: rate limited")
TRANSIENT = ErrorResolution(ErrorClass.TRANSIENT)
BAD = ErrorResolution(ErrorClass.BAD_REQUEST)
AUTH = ErrorResolution(ErrorClass.AUTH)

#: ``data-error`` codes of error pages (4xx) -> what to do.
PAGE_ERRORS: Mapping[str, ErrorResolution] = {
    "csrf": CSRF_ERROR,
    "bad_credentials": AUTH,
    "rate_limited": LIMIT,
    "bad_time": BAD,
    "window_too_wide": BAD,
    "bad_param": BAD,
    "bad_quantity": BAD,
    "unknown_sku": BAD,
    "not_found": BAD,
}
