"""Fake Kuaishou 快手小店 open platform (PLATFORMS.md §4), rendering a :class:`FakeWorld`.

Gateway, as a conforming client sees it:

* ``/<method with . -> />`` with ``appkey, method, version=1, param (JSON text), access_token,
  timestamp (ms), signMethod (MD5 | HMAC_SHA256), sign``; reads GET (all in the query), writes
  POST ``application/x-www-form-urlencoded`` with ``param`` in the body (the query may carry it
  too). The sign is verified exactly: sorted ``k=v`` of the seven signed params joined with
  ``&`` plus ``&signSecret=``; MD5 lowercase hex, HMAC-SHA256 Base64.
* answers ``{"result": 1, "code", "msg", "error_msg", "sub_code", "sub_msg", "requestId",
  "data"}``; an error has ``result`` ≠ 1 and no ``data``, always HTTP 200.
* OAuth: GET ``/oauth2/access_token`` (``grant_type=code``), POST ``/oauth2/refresh_token``
  (``grant_type=refresh_token``; GET is tolerated, as some public clients send it). Access
  tokens live 48 h, refresh tokens 180 days; a refresh retires the old pair.

[I] choices (the connector in ``connectors/kuaishou.py`` documents the same):

* error codes: the OAuth family 1002001xx for app and token errors (documented: every token
  error of an authorised API is ``access_denied``), 802001 bad sign, 802002 timestamp more than
  10 minutes off, 802003 unknown signMethod, 802004 unknown method, 802005 QPS limit (with the
  documented ``Exceed qps limit, KEY [...], MAX_QPS [300.0]`` text), 802006 daily quota; business
  codes from the official table (300003/300004/300005/300019/300011) and 2001 for a bad
  parameter (seen in a public client's log);
* windows take inclusive ms bounds; orders by update time (``queryType=2``) or create time (1),
  ≤ 7 days and within 90 days; refunds by update time, ≤ 1 day; bills and live sessions ≤ 7 days;
* cursors are ``<time ms>_<id>`` of the last row served (the documented shape) and the last
  page answers ``nomore``; orders sort by time desc (``sort=1``, default) or asc (``sort=2``);
* an order of several items carries ``orderItemInfoList`` (each with ``orderItemId``,
  ``discountFee`` and its live attribution ``liveStreamId``/``distributorId``) and the first item
  in ``orderItemInfo``; ``orderBaseInfo.cpsType`` is 2 for distributed (live) orders with
  ``orderCpsInfo {distributorId, distributorName, liveStreamId}``;
* settlement bills: one row per bill line with a ``billType``; live sessions modelled on Douyin
  电商罗盘 session review (``open.live.stream.list`` / ``open.live.stream.detail``);
* ids that can pass 2**53 (item-order lines, bills, live streams, distributors) are strings.
"""

from __future__ import annotations

import json
import time
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any, ClassVar

from aiohttp import web

from bangfu.enums import OrderStatus, RefundStatus, SettlementKind
from connectors.fakes.protocol import kuaishou as protocol
from connectors.fakes.server import FakePlatform, Record, json_response
from connectors.fakes.shipping import KUAISHOU_CARRIERS, known_code, valid_tracking
from connectors.fakes.world import (
    FakeItem,
    FakeLiveSession,
    FakeOrder,
    FakeOrderLine,
    FakeRefund,
    FakeSettlementLine,
    FakeWorld,
    ShipError,
    StockError,
)

TIMESTAMP_WINDOW = timedelta(minutes=10)  # [I]
MAX_QPS = 300.0

ORDER_WINDOW = timedelta(days=7)
REFUND_WINDOW = timedelta(days=1)
BILL_WINDOW = timedelta(days=7)
LIVE_WINDOW = timedelta(days=7)
LOOKBACK = timedelta(days=90)
ORDER_PAGE_MAX = 50
REFUND_PAGE_MAX = 100
ITEM_PAGE_MAX = 100
BILL_PAGE_MAX = 100
LIVE_PAGE_MAX = 20

ORDER_CODES: Mapping[OrderStatus, int] = {
    OrderStatus.PENDING_PAYMENT: 10,
    OrderStatus.CANCELLED: 80,  # 交易关闭 without payment
    OrderStatus.PAID: 30,
    OrderStatus.PART_SHIPPED: 40,  # Kuaishou has no partial shipment: the order shows shipped
    OrderStatus.SHIPPED: 40,
    OrderStatus.DELIVERED: 50,
    OrderStatus.COMPLETED: 70,
    OrderStatus.CLOSED: 80,
}
#: orderViewStatus filter -> business status codes (1 = all) [I]
VIEW_STATUS: Mapping[int, frozenset[int] | None] = {
    1: None,
    2: frozenset({10}),
    3: frozenset({30}),
    4: frozenset({40}),
    5: frozenset({50}),
    6: frozenset({70}),
    7: frozenset({80}),
}
REFUND_CODES: Mapping[RefundStatus, int] = {
    RefundStatus.REQUESTED: 10,
    RefundStatus.AWAITING_RETURN: 30,
    RefundStatus.AWAITING_CONFIRM: 11,
    RefundStatus.REFUSED: 12,
    RefundStatus.SUCCEEDED: 60,
    RefundStatus.CLOSED: 70,
}
REFUND_WAITING = frozenset({10, 11, 20, 30, 40, 50})  # type=8: refunds waiting for the seller
BILL_CODES: Mapping[SettlementKind, int] = {
    SettlementKind.SALE: 1,
    SettlementKind.PLATFORM_FEE: 2,
    SettlementKind.HOST_COMMISSION: 3,
    SettlementKind.PAYMENT_FEE: 4,
    SettlementKind.REFUND: 5,
    SettlementKind.LOGISTICS: 6,
    SettlementKind.SUBSIDY: 7,
    SettlementKind.OTHER: 99,
}
WRITE_METHODS = frozenset(
    {"open.item.sku.stock.update", "open.item.sku.price.update", "open.seller.order.goods.deliver"}
)
#: [I] open.seller.order.goods.deliver refusals (``result``)
ALREADY_SHIPPED = 803001
NOT_SHIPPABLE = 803002
NO_SUCH_EXPRESS = 803003
BAD_EXPRESS_NO = 803004
NO_SUCH_ORDER = 803005


class KsError(Exception):
    """An error answer: ``result`` code, message, and the OAuth ``error`` name if any."""

    def __init__(self, result: int, message: str, error: str = "", sub_code: str = "") -> None:
        super().__init__(message)
        self.result = result
        self.message = message
        self.error = error
        self.sub_code = sub_code


def _bad_param(message: str) -> KsError:
    return KsError(2001, message, sub_code="2001")


def ms(moment: datetime | None) -> int:
    """Aware datetime -> epoch ms; ``None`` -> 0 (Kuaishou's "not yet")."""
    if moment is None:
        return 0
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def _int_param(business: Mapping[str, Any], key: str, default: int | None = None) -> int:
    value = business.get(key)
    if value is None or value == "":
        if default is None:
            raise KsError(100200100, f"缺少必要的请求参数: {key}", "invalid_request")
        return default
    if isinstance(value, bool):
        raise _bad_param(f"{key}无效")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise _bad_param(f"{key}无效")


def _cursor_key(text: str) -> tuple[int, str]:
    head, sep, tail = text.partition("_")
    if not sep or not head.isdigit() or not tail:
        raise _bad_param("cursor无效")
    return int(head), tail


def _after(rows: Sequence[tuple[int, str, Any]], cursor: str, descending: bool) -> int:
    """Index of the first row after ``cursor`` in the served order."""
    if not cursor:
        return 0
    key = _cursor_key(cursor)
    for position, (when, ident, _) in enumerate(rows):
        mine = (when, _pad(ident))
        theirs = (key[0], _pad(key[1]))
        if (mine < theirs) if descending else (mine > theirs):
            return position
    return len(rows)


def _after_sorted(keys: Sequence[tuple[int, str]], cursor: str, descending: bool) -> int:
    """``_after`` over rows whose ascending sort keys are ``keys``."""
    if not cursor:
        return 0
    when, ident = _cursor_key(cursor)
    theirs = (when, _pad(ident))
    if descending:
        return len(keys) - bisect_left(keys, theirs)
    return bisect_right(keys, theirs)


#: a list record's key among the pre-rendered ones (frozen mode)
_order_key: Callable[[FakeOrder], str] = attrgetter("order_id")
_refund_key: Callable[[FakeRefund], str] = attrgetter("refund_id")


def _pad(ident: str) -> str:
    return ident.rjust(24, "0")  # numeric ids compare as numbers


class FakeKuaishou(FakePlatform):
    platform: ClassVar[str] = "kuaishou"
    access_token_ttl: ClassVar[timedelta] = timedelta(seconds=172800)
    refresh_token_ttl: ClassVar[timedelta] = timedelta(days=180)
    sign_secret: ClassVar[str] = "fake-kuaishou-sign-secret-not-real"
    #: [I] QPS is metered per second, so after a rejection the rest of that second is refused
    #: too. Off by default (0): the contract suite runs clients on virtual time, which a
    #: wall-clock block cannot follow; tests of ban handling switch it on.
    qps_block_seconds: float = 0.0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._codes_used: set[str] = set()
        self._host_names: dict[str, str] = {}
        self.requests_by_method: dict[str, int] = {}
        self._blocked: dict[tuple[str, str], float] = {}  # (appkey, method) -> monotonic end
        # Kuaishou has no shop id parameter: the access token says which shop is calling.
        first = self.world.shop_id
        self._token_shop: dict[str, str] = {self.credentials.access_token: first}
        self._refresh_shop: dict[str, str] = {self.credentials.refresh_token: first}
        default_pair = self.tokens.current
        for shop_id in list(self.shops)[1:]:
            access, refresh = f"fake-kuaishou-access-token-{shop_id}", f"fake-kuaishou-refresh-token-{shop_id}"
            self.tokens.register(access, refresh)
            self._token_shop[access] = shop_id
            self._refresh_shop[refresh] = shop_id
        self.tokens.current = default_pair

    # ----------------------------------------------------------------- hooks

    def credential_fields(self) -> dict[str, str]:
        fields = {**super().credential_fields(), "sign_secret": self.sign_secret}
        for access, shop_id in self._token_shop.items():
            if shop_id != self.credentials.shop_id and access.endswith(shop_id):
                fields[f"access_token:{shop_id}"] = access
                fields[f"refresh_token:{shop_id}"] = access.replace("-access-token-", "-refresh-token-")
        return fields

    def rate_limit_response(self, request: web.Request) -> web.StreamResponse:
        """802005 with the documented text; the app is then held off that API for the rest of
        the metering second (``qps_block_seconds``), so a client that does not wait is refused
        again."""
        method = request.query.get("method") or request.path.strip("/").replace("/", ".")
        appkey = request.query.get("appkey") or self.credentials.app_key
        if self.qps_block_seconds > 0:
            self._blocked[(appkey, method)] = time.monotonic() + self.qps_block_seconds
        return self._error_response(self._qps_error(appkey, method))

    @staticmethod
    def _qps_error(appkey: str, method: str) -> KsError:
        text = f"Exceed qps limit, KEY [apiId:{method};appkey:{appkey}], MAX_QPS [{MAX_QPS}]"
        return KsError(802005, text, sub_code="802005")

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/oauth2/access_token", self._access_token)
        app.router.add_route("*", "/oauth2/refresh_token", self._refresh_token)
        app.router.add_route("*", "/open/{tail:.+}", self._gateway)

    # ----------------------------------------------------------------- envelopes

    @staticmethod
    def _request_id() -> str:
        return uuid.uuid4().hex

    def _ok(self, data: Any) -> web.Response:
        return json_response(
            {
                "result": 1,
                "code": "0",
                "msg": "success",
                "error_msg": "",
                "sub_code": "",
                "sub_msg": "",
                "requestId": self._request_id(),
                "data": data,
            }
        )

    def _error_response(self, error: KsError) -> web.Response:
        body: dict[str, Any] = {
            "result": error.result,
            "code": str(error.result),
            "msg": "业务处理失败" if error.sub_code else error.message,
            "error_msg": error.message,
            "sub_code": error.sub_code,
            "sub_msg": error.message if error.sub_code else "",
            "requestId": self._request_id(),
        }
        if error.error:
            body["error"] = error.error
        return web.json_response(body)

    # ----------------------------------------------------------------- OAuth

    def _check_app(self, params: Mapping[str, str]) -> None:
        if not params.get("app_id") or not params.get("app_secret"):
            raise KsError(100200100, "缺少必要的请求参数: app_id/app_secret", "invalid_request")
        creds = self.credentials
        if params["app_id"] != creds.app_key or params["app_secret"] != creds.app_secret:
            raise KsError(100200101, "app 非法", "unauthorized_client")

    def _token_body(self, token: Any, *, with_open_id: bool) -> dict[str, Any]:
        now = self.clock.now()
        body = {
            "result": 1,
            "access_token": token.access_token,
            "expires_in": token.expires_in(now),
            "refresh_token": token.refresh_token,
            "refresh_token_expires_in": max(0, int((token.refresh_expires_at - now).total_seconds())),
            "scopes": ["merchant_order", "merchant_item", "merchant_refund", "merchant_funds"],
        }
        if with_open_id:
            body["open_id"] = f"fake-open-id-{self.world.shop_id}"
        return body

    async def _access_token(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        try:
            self._check_app(params)
            if params.get("grant_type") != "code":
                raise KsError(100200104, "grant_type 错误", "unsupported_grant_type")
            code = params.get("code") or ""
            # [I] Codes come from the browser authorisation page; the fake accepts any
            # ``fake-kuaishou-code-*`` once (a code is single-use and valid 2 minutes).
            if not code.startswith("fake-kuaishou-code-") or code in self._codes_used:
                raise KsError(100200105, "code 错误", "invalid_grant")
            self._codes_used.add(code)
            token = self.tokens.issue()
            # [I] the authorising user is the first shop's owner
            self._token_shop[token.access_token] = self.world.shop_id
            self._refresh_shop[token.refresh_token] = self.world.shop_id
            return web.json_response(self._token_body(token, with_open_id=True))
        except KsError as exc:
            return self._error_response(exc)

    async def _refresh_token(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        try:
            self._check_app(params)
            if params.get("grant_type") != "refresh_token":
                raise KsError(100200104, "grant_type 错误", "unsupported_grant_type")
            old = params.get("refresh_token") or ""
            token = self.tokens.refresh(old)
            if token is None:
                raise KsError(100200102, "invalid refresh_token", "access_denied")
            shop_id = self._refresh_shop.pop(old, self.world.shop_id)
            self._token_shop[token.access_token] = shop_id
            self._refresh_shop[token.refresh_token] = shop_id
            return web.json_response(self._token_body(token, with_open_id=False))
        except KsError as exc:
            return self._error_response(exc)

    # ----------------------------------------------------------------- the gateway

    async def _gateway(self, request: web.Request) -> web.Response:
        try:
            method, business, appkey, world = await self._authenticate(request)
            if self._blocked.get((appkey, method), 0.0) > time.monotonic():
                raise self._qps_error(appkey, method)
            handler = self._handlers().get(method)
            if handler is None:
                raise KsError(802004, f"api not found: {method}")
            if method in WRITE_METHODS and request.method != "POST":
                raise KsError(100200100, f"{method} must be called with POST", "invalid_request")
            self.requests_by_method[method] = self.requests_by_method.get(method, 0) + 1
            return self._ok(handler(world, business))
        except KsError as exc:
            return self._error_response(exc)

    async def _authenticate(self, request: web.Request) -> tuple[str, dict[str, Any], str, FakeWorld]:
        """Check the gateway rules; (method, business params, appkey, the token's shop)."""
        params: dict[str, str] = dict(request.query)
        if request.method == "POST":
            if request.content_type != "application/x-www-form-urlencoded":
                raise KsError(100200100, "Content-Type 仅支持 application/x-www-form-urlencoded", "invalid_request")
            params.update({k: str(v) for k, v in (await request.post()).items()})
        elif request.method != "GET":
            raise KsError(100200100, f"unsupported HTTP method {request.method}", "invalid_request")
        for name in ("appkey", "method", "sign", "timestamp"):
            if not params.get(name):
                raise KsError(100200100, f"缺少必要的请求参数: {name}", "invalid_request")
        method = params["method"]
        if request.path != "/" + method.replace(".", "/"):
            raise KsError(802004, f"path {request.path} does not match method {method}")
        if params["appkey"] != self.credentials.app_key:
            raise KsError(100200101, "app 非法: appkey 不存在", "unauthorized_client")
        if (params.get("signMethod") or "MD5") not in protocol.SIGN_METHODS:
            raise KsError(802003, f"signMethod 不支持: {params.get('signMethod')}")
        stamp = params["timestamp"]
        sent_at = protocol.parse_timestamp(stamp)
        if sent_at is None:
            raise KsError(802002, f"timestamp 无效: {stamp}")
        if abs(sent_at - self.clock.wall_now()) > TIMESTAMP_WINDOW:
            raise KsError(802002, "timestamp 已过期, 请检查本地时间")
        if not protocol.verify(params, self.sign_secret):
            raise KsError(802001, "签名校验失败")
        token = params.get("access_token")
        state = self.tokens.check(token)
        if state == "unknown":
            raise KsError(100200102, "invalid access_token", "access_denied")
        if state == "expired":
            raise KsError(100200102, "access_token expired", "access_denied")
        if params.get("version", "1") != "1":
            raise KsError(100200100, "version 仅支持 1", "invalid_request")
        try:
            business = json.loads(params.get("param") or "{}")
        except ValueError:
            raise _bad_param("param 不是合法的 JSON") from None
        if not isinstance(business, dict):
            raise _bad_param("param 必须是 JSON 对象")
        world = self.shops[self._token_shop.get(token or "", self.world.shop_id)]
        return method, business, params["appkey"], world

    def _handlers(self) -> Mapping[str, Callable[[FakeWorld, dict[str, Any]], Any]]:
        return {
            "open.order.cursor.list": self._order_list,
            "open.order.detail": self._order_detail,
            "open.seller.order.refund.pcursor.list": self._refund_list,
            "open.seller.order.refund.detail": self._refund_detail,
            "open.shop.info.get": self._shop_info,
            "open.item.list.get": self._item_list,
            "open.item.get": self._item_get,
            "open.item.sku.stock.update": self._stock_update,
            "open.item.sku.price.update": self._price_update,
            "open.seller.order.goods.deliver": self._goods_deliver,
            "open.funds.financial.bill.batch.detail": self._bills,
            "open.live.stream.list": self._live_list,
            "open.live.stream.detail": self._live_detail,
        }

    # ----------------------------------------------------------------- windows and paging

    def _window(
        self, business: Mapping[str, Any], width: timedelta, *, begin: str = "beginTime", end: str = "endTime"
    ) -> tuple[datetime, datetime]:
        """Inclusive ms bounds -> half-open ``[start, stop)``, with the platform's checks."""
        lo = _int_param(business, begin)
        hi = _int_param(business, end)
        if hi < lo:
            raise KsError(300003, "结束时间要晚于开始时间", sub_code="300003")
        if hi - lo > width // timedelta(milliseconds=1):
            if width > timedelta(days=1):
                raise KsError(300004, "查询范围不能大于7天", sub_code="300004")
            raise KsError(300019, "时间范围超限", sub_code="300019")
        if from_ms(lo) < self.clock.now() - LOOKBACK:
            raise KsError(300005, "只能查询最近90天内的订单", sub_code="300005")
        return from_ms(lo), from_ms(hi + 1)

    @staticmethod
    def _page_size(business: Mapping[str, Any], default: int, maximum: int) -> int:
        size = _int_param(business, "pageSize", default)
        if not 1 <= size <= maximum:
            raise _bad_param(f"pageSize 取值范围 1-{maximum}")
        return size

    def _cursor_page(
        self,
        rows: Sequence[tuple[int, str, Any]],
        cursor: str,
        size: int,
        *,
        descending: bool = False,
        keys: Sequence[tuple[int, str]] | None = None,
    ) -> tuple[list[Any], str]:
        """Rows after ``cursor`` (a page of ``size``) and the next cursor or ``nomore``.

        ``keys``: the rows' ``(time, padded id)`` in ascending order, to find the cursor by
        bisection instead of a scan (a seven-day window holds tens of thousands of rows).

        With ``duplicate_on_page`` a later page repeats the row the cursor points at.
        """
        start = _after(rows, cursor, descending) if keys is None else _after_sorted(keys, cursor, descending)
        chosen = list(rows[start : start + size])
        nxt = "nomore" if start + size >= len(rows) else f"{chosen[-1][0]}_{chosen[-1][1]}"
        items = [row[2] for row in chosen]
        if cursor and start > 0 and items and self.faults.should_duplicate():
            items.insert(0, rows[start - 1][2])
        return items, nxt

    # ----------------------------------------------------------------- orders

    def _order_list(self, world: FakeWorld, business: dict[str, Any]) -> dict[str, Any]:
        start, stop = self._window(business, ORDER_WINDOW)
        size = self._page_size(business, 10, ORDER_PAGE_MAX)
        query_type = _int_param(business, "queryType", 1)
        if query_type not in (1, 2):
            raise _bad_param("queryType无效")
        view = _int_param(business, "orderViewStatus", 1)
        if view not in VIEW_STATUS:
            raise _bad_param("orderViewStatus无效")
        sort = _int_param(business, "sort", 1)
        if sort not in (1, 2):
            raise _bad_param("sort无效")
        cps = _int_param(business, "cpsType", 0)
        cursor = str(business.get("cursor") or "")
        if cursor == "nomore":
            raise _bad_param("cursor无效")
        descending = sort == 1

        def window_rows() -> tuple[list[tuple[int, str, FakeOrder]], list[tuple[int, str]], list[str]]:
            # The whole window's rows, sorted: built once while a client pages through it.
            orders = (
                self.orders_modified(world, start, stop) if query_type == 2 else self.orders_created(world, start, stop)
            )
            wanted = VIEW_STATUS[view]
            rows: list[tuple[int, str, FakeOrder]] = []
            for order in orders:
                if wanted is not None and ORDER_CODES[order.status] not in wanted:
                    continue
                if cps and (2 if order.author_id else 1) != cps:
                    continue
                moment = order.modified_at if query_type == 2 else order.created_at
                rows.append((ms(moment), order.order_id, order))
            rows.sort(key=lambda row: (row[0], _pad(row[1])), reverse=descending)
            keys = [(row[0], _pad(row[1])) for row in rows]
            if descending:
                keys.reverse()
            return rows, keys, [row[1] for row in rows]

        rows, keys, ids = self.memo(world, ("orders", start, stop, query_type, view, cps, sort), window_rows)
        page, nxt = self._cursor_page(rows, cursor, size, descending=descending, keys=keys)
        rendered = self._orders_out(world, page)
        self.touch_during_paging(world, ids, 2 if cursor else 1)
        return {
            "orderList": rendered,
            "cursor": nxt,
            "pageSize": size,
            "beginTime": business["beginTime"],
            "endTime": business["endTime"],
        }

    def _orders_out(self, world: FakeWorld, orders: Sequence[FakeOrder]) -> list[Any]:
        """The order list's records (pre-rendered in frozen mode)."""
        return self.frozen_records(
            world,
            "order",
            orders,
            _order_key,
            lambda order: self._malformed_order(self.render_order(order)),
            source="orders",
        )

    def _refunds_out(self, world: FakeWorld, refunds: Sequence[FakeRefund]) -> list[Any]:
        """The refund list's records (pre-rendered in frozen mode)."""
        return self.frozen_records(
            world,
            "refund",
            refunds,
            _refund_key,
            lambda refund: self._malformed_refund(self.render_refund(refund)),
            source="refunds",
        )

    def prerender_world(self, world: FakeWorld) -> int:
        self._orders_out(world, [])
        self._refunds_out(world, [])
        return self.frozen_count(world, "order", "refund")

    def _order_detail(self, world: FakeWorld, business: dict[str, Any]) -> Record:
        oid = _int_param(business, "oid")
        order = world.order(str(oid))
        if order is None:
            raise _bad_param(f"订单不存在: {oid}")
        return self._malformed_order(self.render_order(order))

    def _malformed_order(self, record: Record) -> Record:
        oid = record["orderBaseInfo"]["oid"]

        def corrupt(copy: Record) -> Record:
            base = copy["orderBaseInfo"]
            if oid % 2:
                base["totalFee"] = "39.9.0"  # not integer fen
            else:
                copy.pop("orderItemInfo", None)
                copy.pop("orderItemInfoList", None)
            return copy

        return self.maybe_malform(f"order:{oid}", record, corrupt)

    def _host_name(self, world: FakeWorld, room_id: str) -> str:
        name = self._host_names.get(room_id)
        if name is None:
            session = world.live_session(room_id)
            name = session.host_name if session is not None else ""
            self._host_names[room_id] = name
        return name

    def render_line(self, line: FakeOrderLine) -> Record:
        return {
            "orderItemId": line.line_id,
            "itemId": int(line.item_id),
            "skuId": int(line.sku_id),
            "relItemId": 0,
            "relSkuId": 0,
            "itemTitle": line.title,
            "skuDesc": line.spec,
            "skuNick": line.sku_code,
            "num": line.quantity,
            "price": line.unit_price_fen,
            "originalPrice": line.price_fen,
            "discountFee": line.discount_fen,
            "itemPicUrl": "",
            "liveStreamId": line.room_id or "",
            "distributorId": line.author_id or "",
        }

    def render_order(self, order: FakeOrder) -> Record:
        world = self.world_for(order.shop_id) or self.world
        lines = [self.render_line(line) for line in order.lines]
        record: Record = {
            "orderBaseInfo": {
                "oid": int(order.order_id),
                "status": ORDER_CODES[order.status],
                "createTime": ms(order.created_at),
                "updateTime": ms(order.modified_at),
                "payTime": ms(order.paid_at),
                "sendTime": ms(order.shipped_at),
                "recvTime": ms(order.finished_at),
                "totalFee": order.paid_fen,
                "expressFee": order.post_fee_fen,
                "discountFee": order.discount_fen,
                "buyerOpenId": order.buyer_id,
                "buyerNick": order.buyer_nick,
                "sellerOpenId": f"fake-seller-{order.shop_id}",
                "remark": "",
                "cpsType": 2 if order.author_id else 1,
            },
            "orderItemInfo": lines[0],
            "orderRefundList": [
                {
                    "refundId": int(refund.refund_id),
                    "orderItemId": refund.line_id,
                    "refundStatus": REFUND_CODES[refund.status],
                    "refundFee": refund.amount_fen,
                    "handlingWay": 1 if refund.with_return else 10,
                }
                for refund in order.refunds
            ],
            "orderLogisticsInfo": (
                [{"expressNo": order.tracking_no, "expressCode": order.logistics_company}] if order.tracking_no else []
            ),
        }
        if len(lines) > 1:
            record["orderItemInfoList"] = lines
        if order.author_id:
            record["orderCpsInfo"] = {
                "distributorId": order.author_id,
                "distributorName": self._host_name(world, order.room_id) if order.room_id else "",
                "liveStreamId": order.room_id or "",
            }
        return record

    # ----------------------------------------------------------------- refunds

    def render_refund(self, refund: FakeRefund) -> Record:
        return {
            "refundId": int(refund.refund_id),
            "oid": int(refund.order_id),
            "orderItemId": refund.line_id,
            "itemId": int(refund.item_id),
            "skuId": int(refund.sku_id),
            "skuNick": refund.sku_code,
            "status": REFUND_CODES[refund.status],
            "refundFee": refund.amount_fen,
            "handlingWay": 1 if refund.with_return else 10,
            "refundReasonDesc": refund.reason,
            "num": refund.quantity or 0,
            "createTime": ms(refund.created_at),
            "updateTime": ms(refund.modified_at),
            "endTime": ms(refund.resolved_at),
            "payAmount": refund.line_paid_fen,
        }

    def _malformed_refund(self, record: Record) -> Record:
        def corrupt(copy: Record) -> Record:
            copy["refundFee"] = "12.3.4"
            return copy

        return self.maybe_malform(f"refund:{record['refundId']}", record, corrupt)

    def _refund_list(self, world: FakeWorld, business: dict[str, Any]) -> dict[str, Any]:
        start, stop = self._window(business, REFUND_WINDOW)
        size = self._page_size(business, 10, REFUND_PAGE_MAX)
        kind = _int_param(business, "type", 9)
        if kind not in (8, 9):
            raise KsError(300002, "退款单状态错误", sub_code="300002")
        cursor = str(business.get("pcursor") or "")
        if cursor == "nomore":
            raise _bad_param("pcursor无效")
        rows = [
            (ms(refund.modified_at), refund.refund_id, refund)
            for refund in self.refunds_modified(world, start, stop)
            if kind == 9 or REFUND_CODES[refund.status] in REFUND_WAITING
        ]
        page, nxt = self._cursor_page(rows, cursor, size)
        return {
            "refundOrderInfoList": self._refunds_out(world, page),
            "pcursor": nxt,
        }

    def _refund_detail(self, world: FakeWorld, business: dict[str, Any]) -> Record:
        refund_id = _int_param(business, "refundId")
        refund = world.refund(str(refund_id))
        if refund is None:
            raise KsError(300011, "退款单不存在", sub_code="300011")
        return self._malformed_refund(self.render_refund(refund))

    # ----------------------------------------------------------------- shop and items

    def _shop_info(self, world: FakeWorld, business: dict[str, Any]) -> dict[str, Any]:
        return {"shopName": f"帮扶好物快手小店 {world.shop_id}", "shopType": 1}

    @staticmethod
    def render_item(item: FakeItem) -> Record:
        return {
            "kwaiItemId": int(item.item_id),
            "relItemId": 0,
            "itemCode": item.spu_code,
            "title": item.title,
            "categoryName": item.category,
            "price": item.price_fen,
            "auditStatus": 2,
            "onOfflineStatus": 1 if item.on_sale else 0,
            "createTime": ms(item.created_at),
            "updateTime": ms(item.modified_at),
            "skuInfos": [
                {
                    "kwaiSkuId": int(sku.sku_id),
                    "relSkuId": 0,
                    "skuNick": sku.sku_code,
                    "specification": sku.spec,
                    "skuSalePrice": sku.price_fen,
                    "skuStock": sku.stock,
                    "updateTime": ms(sku.modified_at),
                }
                for sku in item.skus
            ],
        }

    def _item_list(self, world: FakeWorld, business: dict[str, Any]) -> dict[str, Any]:
        number = _int_param(business, "pageNumber", 1)
        size = self._page_size(business, 20, ITEM_PAGE_MAX)
        if number < 1:
            raise _bad_param("pageNumber无效")
        items = world.products()
        status = business.get("onOfflineStatus")
        if status not in (None, ""):
            wanted = _int_param(business, "onOfflineStatus")
            items = [item for item in items if (1 if item.on_sale else 0) == wanted]
        total_pages = (len(items) + size - 1) // size
        chosen = items[(number - 1) * size : number * size]
        return {
            "totalItemCount": len(items),
            "totalPage": total_pages,
            "currentPageNumber": number,
            "pageSize": size,
            "items": [self.render_item(item) for item in chosen],
        }

    def _item_get(self, world: FakeWorld, business: dict[str, Any]) -> Record:
        item_id = _int_param(business, "kwaiItemId")
        item = world.item(str(item_id))
        if item is None:
            raise _bad_param(f"商品不存在: {item_id}")
        return self.render_item(item)

    def _stock_update(self, world: FakeWorld, business: dict[str, Any]) -> dict[str, Any]:
        item_id = _int_param(business, "kwaiItemId")
        sku_id = _int_param(business, "skuId")
        change = _int_param(business, "skuChangeStock")
        change_type = _int_param(business, "changeType", 1)
        if not 0 < change < 9999999:
            raise _bad_param("skuChangeStock 取值范围 (0, 9999999)")
        if change_type not in (1, 2):
            raise _bad_param("changeType无效")
        try:
            world.adjust_stock(str(item_id), str(sku_id), change if change_type == 1 else -change)
        except StockError as exc:
            raise _bad_param(f"当前库存不足或商品不存在: {exc}") from None
        return {}

    def _price_update(self, world: FakeWorld, business: dict[str, Any]) -> dict[str, Any]:
        """open.item.sku.price.update [I]: ``kwaiItemId``, ``skuId`` and ``price`` in fen (> 0)."""
        item_id = _int_param(business, "kwaiItemId")
        sku_id = _int_param(business, "skuId")
        price = _int_param(business, "price")
        if not 0 < price <= 100_000_000 * 100:
            raise _bad_param("price 取值范围 (0, 10000000000]，单位分")
        try:
            world.set_price(str(item_id), str(sku_id), price)
        except StockError as exc:
            raise _bad_param(f"商品或SKU不存在: {exc}") from None
        return {}

    # ----------------------------------------------------------------- shipping

    def _goods_deliver(self, world: FakeWorld, business: dict[str, Any]) -> dict[str, Any]:
        """open.seller.order.goods.deliver (订单发货, POST): ``orderId``, ``expressCode`` (Kuaishou's
        carrier number) and ``expressNo``; ships the order in the world. Refusals [I codes]:
        803001 already shipped, 803002 refunded or closed, 803003 unknown carrier, 803004 bad
        tracking number, 803005 no such order."""
        order_id = _int_param(business, "orderId")
        express_code = _int_param(business, "expressCode")
        express_no = str(business.get("expressNo") or "").strip()
        if not express_no:
            raise _bad_param("expressNo 不能为空")
        if not known_code(KUAISHOU_CARRIERS, str(express_code)):
            raise KsError(NO_SUCH_EXPRESS, f"快递公司编码{express_code}不存在", sub_code=str(NO_SUCH_EXPRESS))
        if not valid_tracking(express_no):
            raise KsError(BAD_EXPRESS_NO, f"快递单号{express_no}格式错误", sub_code=str(BAD_EXPRESS_NO))
        try:
            world.ship(str(order_id), str(express_code), express_no)
        except ShipError as exc:
            if exc.reason == "not_found":
                raise KsError(NO_SUCH_ORDER, f"订单不存在: {order_id}", sub_code=str(NO_SUCH_ORDER)) from None
            if exc.reason == "shipped":
                raise KsError(ALREADY_SHIPPED, "订单已发货，不能重复发货", sub_code=str(ALREADY_SHIPPED)) from None
            refused = f"订单状态不允许发货(退款中或已关闭): {exc}"
            raise KsError(NOT_SHIPPABLE, refused, sub_code=str(NOT_SHIPPABLE)) from None
        return {}

    # ----------------------------------------------------------------- funds

    @staticmethod
    def render_bill(line: FakeSettlementLine) -> Record:
        return {
            "billId": line.bill_id,
            "billType": BILL_CODES[line.kind],
            "amount": line.amount_fen,
            "settlementTime": ms(line.settled_at),
            "oid": int(line.order_id),
            "orderItemId": line.line_id or "",
            "kwaiItemId": int(line.item_id) if line.item_id else 0,
            "skuId": int(line.sku_id) if line.sku_id else 0,
            "rate": line.rate_bp or 0,
            "liveStreamId": line.room_id or "",
            "refundId": int(line.refund_id) if line.refund_id else 0,
        }

    def _bills(self, world: FakeWorld, business: dict[str, Any]) -> dict[str, Any]:
        start, stop = self._window(business, BILL_WINDOW, begin="settlementStartTime", end="settlementEndTime")
        size = self._page_size(business, 20, BILL_PAGE_MAX)
        cursor = str(business.get("cursor") or "")
        if cursor == "nomore":
            raise _bad_param("cursor无效")
        rows = [(ms(line.settled_at), line.bill_id, line) for line in world.settlements(start, stop)]
        page, nxt = self._cursor_page(rows, cursor, size)
        return {"billList": [self.render_bill(line) for line in page], "cursor": nxt}

    # ----------------------------------------------------------------- live sessions [I]

    @staticmethod
    def render_live_summary(session: FakeLiveSession) -> Record:
        return {
            "liveStreamId": session.room_id,
            "authorId": session.author_id,
            "authorName": session.host_name,
            "title": session.title,
            "startTime": ms(session.started_at),
            "endTime": ms(session.ended_at),
            "updateTime": ms(session.modified_at),
            "watchCount": session.views,
            "watchUserCount": session.unique_viewers,
            "maxOnlineCount": session.peak_online,
            "totalWatchDuration": session.total_watch_seconds,
            "payAmount": session.gmv_fen,
            "payOrderCount": session.orders,
        }

    def _live_list(self, world: FakeWorld, business: dict[str, Any]) -> dict[str, Any]:
        start, stop = self._window(business, LIVE_WINDOW)
        size = self._page_size(business, 10, LIVE_PAGE_MAX)
        cursor = str(business.get("pcursor") or "")
        if cursor == "nomore":
            raise _bad_param("pcursor无效")
        rows = [(ms(s.started_at), s.room_id, s) for s in world.live_sessions(start, stop)]
        page, nxt = self._cursor_page(rows, cursor, size)
        return {"liveStreamList": [self.render_live_summary(s) for s in page], "pcursor": nxt}

    def _live_detail(self, world: FakeWorld, business: dict[str, Any]) -> dict[str, Any]:
        room_id = str(business.get("liveStreamId") or "")
        session = world.live_session(room_id) if room_id.isdigit() else None
        if session is None:
            raise _bad_param(f"直播不存在: {room_id}")
        return {
            "liveStreamId": session.room_id,
            "minuteList": [
                {
                    "minuteTime": ms(minute.minute_at),
                    "onlineCount": minute.online,
                    "enterCount": minute.views,
                    "newBuyerCount": minute.new_buyers,
                    "payOrderCount": minute.orders,
                    "payAmount": minute.gmv_fen,
                }
                for minute in session.minutes
            ],
            "explainList": [
                {
                    "kwaiItemId": int(explained.item_id),
                    "skuId": int(explained.sku_id),
                    "skuNick": explained.sku_code,
                    "beginTime": ms(explained.started_at),
                    "endTime": ms(explained.ended_at),
                }
                for explained in session.explanations
            ],
        }
