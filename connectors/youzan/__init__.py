"""Youzan (有赞云) connector, PLATFORMS.md §5.

Youzan signs nothing: every call is ``POST /api/{api}/{version}?access_token=TOKEN`` with a JSON
body, and the gateway checks only the token (:mod:`connectors.youzan.sign`). The token comes
from ``POST /auth/token`` (silent authorisation for a self-use app, ``refresh_token`` for a tool
app) and is refreshed before it expires and once when the gateway says it is expired or unknown.

Envelopes: v4 APIs answer ``{"success", "code": 200, "message", "data", "trace_id"}``; v3 APIs
``{"response": ...}`` or ``{"error_response": {"code", "msg"}}``; the gateway refuses with HTTP 200
``{"gw_err_resp": {"err_code", "err_msg", "trace_id"}}``.

The package: ``tables`` (APIs, status and error tables, envelope reading), ``parse`` (record
parsers, pure), ``sign`` (tokens and URLs), ``pages`` (paging), ``stock`` (stock and price writes)
and ``connector`` (:class:`YouzanConnector`: the base request loop plus Youzan's hooks).

Endpoints used:

=========================================  =========  =======================================
API                                        version    for
=========================================  =========  =======================================
``youzan.trades.sold.get``                 4.0.4      orders by ``start_update``/``end_update``
``youzan.trade.get``                       4.0.2      one order (quarantine re-fetch)
``youzan.trade.refund.search``             3.0.1      refunds by ``update_time_start/_end`` (s)
``youzan.trade.refund.get``                3.0.1      one refund
``youzan.items.onsale.get``                3.0.0      items on sale (paged)
``youzan.items.inventory.get``             3.0.0      items in the warehouse (off sale)
``youzan.item.get``                        3.0.0      one item with its SKUs
``youzan.item.quantity.update``            3.0.0      stock push (full update)
``youzan.trade.settlement.bill.search``    1.0.0      settlement lines [I]: §5 names no bill
                                                      API; name, params and fields are ours
=========================================  =========  =======================================
"""

from connectors.youzan import connector, pages, parse, sign, stock, tables
from connectors.youzan.connector import YouzanConnector
from connectors.youzan.pages import order_key, refund_key, second_bounds, window_is_empty
from connectors.youzan.parse import (
    line_refund_states,
    order_status,
    parse_bill,
    parse_item,
    parse_order,
    parse_order_line,
    parse_refund,
    parse_sku,
    post_fee_shares,
)
from connectors.youzan.tables import (
    BILL_TYPE,
    ERRORS,
    MAX_PAGE_NO,
    MAX_PAGE_SIZE,
    ORDER_REFUND_STATE_ALL_LINES,
    ORDER_STATUS,
    PLATFORM,
    REFUND_MAX_DEPTH,
    REFUND_ORDER_STATE,
    REFUND_REASON,
    REFUND_STATUS,
    UNSTABLE_WINDOW,
    classify_body,
    unwrap_body,
)

__all__ = [
    "BILL_TYPE",
    "ERRORS",
    "MAX_PAGE_NO",
    "MAX_PAGE_SIZE",
    "ORDER_REFUND_STATE_ALL_LINES",
    "ORDER_STATUS",
    "PLATFORM",
    "REFUND_MAX_DEPTH",
    "REFUND_ORDER_STATE",
    "REFUND_REASON",
    "REFUND_STATUS",
    "UNSTABLE_WINDOW",
    "YouzanConnector",
    "classify_body",
    "connector",
    "line_refund_states",
    "order_key",
    "order_status",
    "pages",
    "parse",
    "parse_bill",
    "parse_item",
    "parse_order",
    "parse_order_line",
    "parse_refund",
    "parse_sku",
    "post_fee_shares",
    "refund_key",
    "second_bounds",
    "sign",
    "stock",
    "tables",
    "unwrap_body",
    "window_is_empty",
]
