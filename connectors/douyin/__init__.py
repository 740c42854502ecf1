"""Douyin 抖店 open platform connector, PLATFORMS.md §3.

The package: ``tables`` (status and error tables, the envelope classifier), ``parse`` and ``live``
(record parsers: pure, tested on sample payloads shaped like PLATFORMS.md), ``sign`` (request
signing and push verification), ``pages`` (paging), ``stock`` (stock and price writes) and
``connector`` (:class:`DouyinConnector`: the base request loop plus Douyin's hooks).

Transport: every method is ``POST /<method with . -> />`` with the system params in the query
string (``app_key, method, timestamp, v=2, sign_method=hmac-sha256, sign, access_token``) and
``param_json`` as the body, signed exactly as sent (:mod:`connectors.douyin.sign`).

Streams and endpoints:

* orders: ``order.searchList`` by ``update_time`` window (``order_by=update_time``), pages
  from 0, ``total``; ``page x size <= 50,000`` (a window holding more is split in halves);
  only the last 90 days are served (older window parts are not asked for: the base clamps
  to ``stream_lookback``). Detail: ``order.orderDetail``.
* refunds: ``afterSale.List`` by ``update_start_time/update_end_time`` with
  ``order_by=["update_time asc"]``, pages from 0; detail: the same list filtered by
  ``aftersale_id`` (same shape).
* products: ``product.listV2`` (pages from 1, ``page x size <= 10,000``) + ``sku.list`` per
  product; stock: ``sku.syncStock`` (full update).
* settlements: ``order.getSettleBillDetailV3`` with its ``start_index``/``next_start_time``
  cursor, ``is_end = 1`` at the end.
* live sessions [I]: see :data:`LIVE_SESSION_LIST`.

Paging under change: a record whose ``update_time`` changes while we page leaves the window and
shifts the records behind it one place forward, so walking pages 0, 1, 2... can skip one. The
connector reads page 0 (which gives ``total``), then the remaining pages from the last to the
first, then page 0 again: removals then only cause repeats (a record yielded before exactly as
it is now is held back; anything else is merged by id downstream), never gaps, and records
modified into the window are newer than the window start and are seen by the next incremental
run (sync overlaps its windows). Records *entering* the window while we page (``total`` grew:
late indexing, or a window reaching into "now") push others onto pages already read, so then the
window is paged again, without yielding a record twice, up to :data:`UNSTABLE_WINDOW`
``.rescans`` times; a window that still does not settle raises
:class:`~connectors.errors.WindowUnstable` (the base reads it again, then sync keeps its cursor
before it). A shrinking total is the harmless case above.
"""

from connectors.douyin import connector, live, pages, parse, sign, stock, tables
from connectors.douyin.connector import DouyinConnector
from connectors.douyin.live import parse_live_session
from connectors.douyin.pages import page_order, window_seconds
from connectors.douyin.parse import (
    line_refund_state,
    order_status,
    parse_order,
    parse_order_line,
    parse_product,
    parse_refund,
    parse_settlement,
    parse_sku,
)
from connectors.douyin.tables import (
    CLOSED_AFTER_PAYMENT,
    ERRORS,
    LINE_REFUND_STATE,
    LIVE_SESSION_DETAIL,
    LIVE_SESSION_LIST,
    LOOKBACK,
    OFFSET_CAP,
    ORDER_PAGE_SIZE,
    ORDER_STATUS,
    PLATFORM,
    REFUND_STATUS,
    SETTLE_COST_COLUMNS,
    SETTLE_TRADE_TYPE,
    UNSTABLE_WINDOW,
    classify_body,
    envelope_code,
)

__all__ = [
    "CLOSED_AFTER_PAYMENT",
    "ERRORS",
    "LINE_REFUND_STATE",
    "LIVE_SESSION_DETAIL",
    "LIVE_SESSION_LIST",
    "LOOKBACK",
    "OFFSET_CAP",
    "ORDER_PAGE_SIZE",
    "ORDER_STATUS",
    "PLATFORM",
    "REFUND_STATUS",
    "SETTLE_COST_COLUMNS",
    "SETTLE_TRADE_TYPE",
    "UNSTABLE_WINDOW",
    "DouyinConnector",
    "classify_body",
    "connector",
    "envelope_code",
    "line_refund_state",
    "live",
    "order_status",
    "page_order",
    "pages",
    "parse",
    "parse_live_session",
    "parse_order",
    "parse_order_line",
    "parse_product",
    "parse_refund",
    "parse_settlement",
    "parse_sku",
    "sign",
    "stock",
    "tables",
    "window_seconds",
]
