"""JD JOS (京东宙斯, POP merchant) connector, PLATFORMS.md §2.

``tables`` (policy as data, the envelope), ``parse`` (pure raw -> record), ``sign`` (JOS signing and
the signed system-param formats), ``pages`` (the routerjson call and its paging), ``stock`` (stock
and price writes), ``connector`` (:class:`JdConnector`: stream specs, request hooks, token refresh).

Transport: every call is a POST to ``/routerjson`` with all parameters in the query string, as
the official Python SDK sends them. System params ``method, app_key, access_token, timestamp,
v=2.0, format=json, 360buy_param_json`` (the business params as one JSON string) and ``sign``
(:mod:`connectors.jd.sign`). Success comes back under ``<method with _>_responce`` (JD's own
spelling) with ``code == "0"``; gateway failures under ``error_response``; business failures as
``apiResult.success == false`` inside the result.

Endpoints used (``[I]`` where PLATFORMS.md has no source; the fake serves the same shapes):

=================================  ===========================================================
``jingdong.pop.order.search``      orders by modified time (``dateType=0``), page from 1,
                                   ``orderTotal``, page_size <= 100, window <= 1 month;
                                   ``optional_fields`` (required) = :data:`ORDER_FIELDS`
``jingdong.pop.order.get``         one order (``orderDetailInfo.orderInfo``), the same
                                   ``optional_fields``
``jingdong.asc.query.list``        after-sales services by ``updateTimeBegin/End``
``jingdong.asc.query.view``        one after-sales service [I: envelope]
``jingdong.ware.read.searchWare4Valid``  wares, ``page{data,totalItem}``
``jingdong.sku.read.searchSkuList``      SKUs of up to 20 wares [I: batch size]
``jingdong.stock.write.updateSkuStock``  full stock of one SKU
``jingdong.pop.bill.detail.query``  settlement bill lines [I: no source names a POP bill API]
``/oauth2/refresh_token``          token refresh (``open-oauth.jd.com``)
=================================  ===========================================================
"""

from connectors.jd.connector import JdConnector
from connectors.jd.pages import second_bounds
from connectors.jd.parse import (
    ORDER_FIELDS,
    decode_body,
    fen,
    jd_time,
    line_id,
    order_status,
    parse_bill,
    parse_order,
    parse_refund,
    parse_sku,
    parse_ware,
)
from connectors.jd.sign import param_json, sdk_timestamp
from connectors.jd.tables import (
    ALL_ORDER_STATES,
    BUSINESS_ERRORS,
    ERRORS,
    FEE_TYPE,
    MAX_SPLIT_DEPTH,
    MAX_WINDOW_RESTARTS,
    OAUTH_ERRORS,
    ORDER_STATE,
    SCANS_BEFORE_SPLIT,
    SERVICE_STATUS,
    classify_body,
)

__all__ = [
    "ALL_ORDER_STATES",
    "BUSINESS_ERRORS",
    "ERRORS",
    "FEE_TYPE",
    "MAX_SPLIT_DEPTH",
    "MAX_WINDOW_RESTARTS",
    "OAUTH_ERRORS",
    "ORDER_FIELDS",
    "ORDER_STATE",
    "SCANS_BEFORE_SPLIT",
    "SERVICE_STATUS",
    "JdConnector",
    "classify_body",
    "decode_body",
    "fen",
    "jd_time",
    "line_id",
    "order_status",
    "param_json",
    "parse_bill",
    "parse_order",
    "parse_refund",
    "parse_sku",
    "parse_ware",
    "sdk_timestamp",
    "second_bounds",
]
