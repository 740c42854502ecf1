"""Kuaishou 快手小店 open-platform connector, PLATFORMS.md §4.

The package: ``tables`` (status and error tables, the envelope classifier), ``parse`` and ``live``
(record parsers: pure, tested on sample payloads), ``sign`` (request signing, the ``param`` text),
``pages`` (cursor paging), ``stock`` (the call, writes sent once, stock and price) and
``connector`` (:class:`KuaishouConnector`: the base request loop plus Kuaishou's hooks).

Transport: ``https://openapi.kwaixiaodian.com/<method with . -> />``; system params ``appkey,
method, version=1, param (JSON text), access_token, timestamp (ms), signMethod, sign`` in the
query; reads are GET, writes POST form-encoded with ``param`` in the body. Signing lives in
:mod:`connectors.kuaishou.sign`. Envelope ``{"result": 1, "data": ...}``; any other
``result`` is an error (codes in :data:`ERRORS`). Money is integer fen, times epoch ms.

Choices where PLATFORMS.md marks a fact [I] (the fake in ``connectors/fakes/kuaishou.py`` serves
the same shapes):

* gateway error codes other than the OAuth family (1002001xx) and the quota code 802006 are
  ours (802001 bad sign, 802002 stale timestamp, 802005 QPS limit...); rate limits are also
  recognised by their documented message text ("Exceed qps limit", "Exceed quota limit");
* a QPS rejection carries no ban length, only ``MAX_QPS [n]``: QPS is metered per second, so
  we pause the (platform, app) bucket for one second;
* a Kuaishou order carries one item (``orderItemInfo``); orders of several items carry every
  item in ``orderItemInfoList`` (each with ``orderItemId``, its own ``discountFee`` and live
  attribution) and the first one in ``orderItemInfo``;
* live attribution: ``orderBaseInfo.cpsType`` (1 normal, 2 distribution), ``orderCpsInfo
  {distributorId, distributorName, liveStreamId}``, and per item ``liveStreamId`` /
  ``distributorId``; the distributor (达人/主播) id is the hub's ``author_id``;
* order windows are on update time (``queryType=2``) with an inclusive ``endTime``, so we send
  ``end - 1 ms`` for our half-open windows; refunds (≤ 1 day), settlement bills and live
  sessions (≤ 7 days) use the same convention;
* settlement bills (``open.funds.financial.bill.batch.detail``) come one row per bill line with
  a ``billType``; live sessions (no public shop API) are modelled on Douyin 电商罗盘 session
  review: ``open.live.stream.list`` + ``open.live.stream.detail`` (per-minute trend and product
  explanation windows);
* stock updates are incremental (``skuChangeStock`` + ``changeType`` 1 add / 2 reduce), so
  :meth:`KuaishouConnector.push_stock` reads the current stock and pushes the difference, and
  never resends a push blindly (see there).
"""

from connectors.kuaishou import connector, live, pages, parse, sign, stock, tables
from connectors.kuaishou.connector import KuaishouConnector
from connectors.kuaishou.live import parse_live_stream
from connectors.kuaishou.pages import NOMORE
from connectors.kuaishou.parse import (
    line_refund_state,
    order_items,
    parse_bill,
    parse_item,
    parse_order,
    parse_refund,
    parse_sku,
)
from connectors.kuaishou.sign import api_path, param_json
from connectors.kuaishou.tables import (
    BILL_TYPES,
    CLOSED_STATUS,
    CLOSED_UNPAID,
    ERRORS,
    HANDLING_EXCHANGE,
    HANDLING_REFUND_ONLY,
    HANDLING_RETURN_REFUND,
    HANDLING_WAYS,
    ITEM_ONLINE,
    ORDER_STATUS,
    PLATFORM,
    QPS_BAN_SECONDS,
    REFUND_STATUS,
    classify_body,
    parse_max_qps,
)

__all__ = [
    "BILL_TYPES",
    "CLOSED_STATUS",
    "CLOSED_UNPAID",
    "ERRORS",
    "HANDLING_EXCHANGE",
    "HANDLING_REFUND_ONLY",
    "HANDLING_RETURN_REFUND",
    "HANDLING_WAYS",
    "ITEM_ONLINE",
    "NOMORE",
    "ORDER_STATUS",
    "PLATFORM",
    "QPS_BAN_SECONDS",
    "REFUND_STATUS",
    "KuaishouConnector",
    "api_path",
    "classify_body",
    "connector",
    "line_refund_state",
    "live",
    "order_items",
    "pages",
    "param_json",
    "parse",
    "parse_bill",
    "parse_item",
    "parse_live_stream",
    "parse_max_qps",
    "parse_order",
    "parse_refund",
    "parse_sku",
    "sign",
    "stock",
    "tables",
]
