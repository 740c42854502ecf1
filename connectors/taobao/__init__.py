"""Taobao/Tmall Open Platform (TOP) connector, PLATFORMS.md §1 (Tmall shops use the same API).

``tables`` (policy as data), ``parse`` (pure raw -> record), ``sign`` (TOP signing), ``pages``
(the gateway call and its paging), ``stock`` (stock and price writes) and ``connector``
(:class:`TaobaoConnector`: stream specs and TOP's request hooks). The names below are the
package's public surface (``connectors.taobao:TaobaoConnector`` in the registry).
"""

from connectors.taobao.connector import TaobaoConnector
from connectors.taobao.pages import TopPage, window_bounds
from connectors.taobao.parse import (
    BILL_FIELDS,
    ITEM_FIELD_KEYS,
    ITEM_FIELDS,
    REFUND_FIELDS,
    STOCK_READ_FIELDS,
    STOCK_READ_METHOD,
    TRADE_FIELDS,
    nested_list,
    parse_bill,
    parse_item,
    parse_order_line,
    parse_refund,
    parse_sku,
    parse_trade,
    response_key,
)
from connectors.taobao.tables import (
    BILL_ACCOUNTS,
    BUYER_NAMESPACE,
    ERRORS,
    LINE_REFUND_STATE,
    PLATFORM,
    REFUND_STATUS,
    TRADE_STATUS,
    UNSTABLE_WINDOW,
    classify_body,
)

__all__ = [
    "BILL_ACCOUNTS",
    "BILL_FIELDS",
    "BUYER_NAMESPACE",
    "ERRORS",
    "ITEM_FIELDS",
    "ITEM_FIELD_KEYS",
    "LINE_REFUND_STATE",
    "PLATFORM",
    "REFUND_FIELDS",
    "REFUND_STATUS",
    "STOCK_READ_FIELDS",
    "STOCK_READ_METHOD",
    "TRADE_FIELDS",
    "TRADE_STATUS",
    "UNSTABLE_WINDOW",
    "TaobaoConnector",
    "TopPage",
    "classify_body",
    "nested_list",
    "parse_bill",
    "parse_item",
    "parse_order_line",
    "parse_refund",
    "parse_sku",
    "parse_trade",
    "response_key",
    "window_bounds",
]
