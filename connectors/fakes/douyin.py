"""Fake Douyin 抖店 open platform (PLATFORMS.md §3), rendering a :class:`FakeWorld`.

Gateway, as a conforming client sees it:

* ``/<method with . -> />`` (``order.searchList`` at ``/order/searchList``). The SDK style is a
  POST whose query string carries ``app_key, method, timestamp, v=2, sign_method, sign,
  access_token`` and whose body is ``param_json``; the legacy style is a GET with ``param_json``
  in the query string and a ``yyyy-MM-dd HH:mm:ss`` Beijing timestamp. Both are accepted; a
  non-empty body wins over a query ``param_json``.
* the sign is verified over the ``param_json`` string exactly as received (never re-serialised)
  with the request's ``sign_method``: ``hmac-sha256`` or ``md5`` (the legacy default when the
  param is absent). ``access_token`` is not signed; the token endpoints take none.
* answers are HTTP 200 ``{"code": 10000, "msg": "success", "sub_code": "", "sub_msg": "",
  "log_id", "data"}`` plus the legacy ``err_no``/``message`` keys (0/"success" on success).
  Errors use the documented base codes and sub_codes: 40001 missing params
  (``isv.signature-missing``, ``isv.access-token-missing``...), 40003 platform params
  (``isv.signature-invalid``, ``isv.timestamp-invalid``, ``isv.access-token-expired``,
  ``isv.access-token-no-existed``, ``isv.parameter-format-invalid``), 40004 business params
  (``isv.parameter-invalid:<n>``: 20008 size > 100, 20022 beyond the last 90 days, 20013
  page x size > 50,000, 20011 no start time, 20012 more than one combine_status, 10035 page < 0),
  50002 business failures (``isv.business-failed:<n>``; ``order.logisticsAdd`` [I numbers]:
  30030 already shipped, 30031 refunded or closed, 30032 unknown company, 30033 bad tracking
  number, 30034 no such order), 60000 rate limit.
* tokens: ``token.create`` (``authorization_self`` + ``shop_id``, or ``authorization_code`` +
  ``code``) and ``token.refresh`` (``refresh_token``); access tokens live 7 days, refresh
  tokens 14 days, a refresh retires the old pair.

[I] choices (``connectors/douyin.py`` documents the same):

* the timestamp may be off by at most 10 minutes; app-key, method/path and version mismatches
  answer 40003 with ``isv.app-key-invalid``, ``isv.method-invalid``, ``isv.version-invalid``;
* the rate-limit answer is ``60000 触发限流`` with sub_code ``isv.app-api-rate-limit`` and a ban
  hint in ``sub_msg`` (``请N秒后重试``, N = :attr:`FakeDouyin.ban_hint_seconds`);
* order lists filter ``[start, end]`` inclusively in whole seconds and sort by ``order_by`` then
  id, descending unless ``order_asc``; a sku order fully refunded shows ``order_status`` 4;
  ``after_sale_info`` of a line without after-sale is all zeros;
* ``afterSale.List`` also answers by ``aftersale_id`` or ``order_id`` without a time filter;
  ``aftersale_num`` is 0 for an amount-only refund; without a window it covers 180 days;
* settle bill: one row per sku order and settle time; the order's post fee and its payment fee
  (``other_sharing_amount``, Douyin has no payment-fee column) sit on its first line's row; a
  refund after settlement is a ``trade_type`` 1 row with a negative ``settle_amount``; spans
  over 7 days are refused (the doc recommends <= 7); the cursor ``start_index`` counts the rows
  already served at ``next_start_time`` (same second);
* ``sku.syncStock`` with ``incremental=true`` adds ``stock_num`` (may be negative) and needs an
  ``idempotent_id``: a replay of the same id is a no-op success, the same id with other values
  is refused;
* live sessions (no public shop-side API): ``live.sessionList`` / ``live.sessionDetail``,
  modelled on the 电商罗盘 session review (see ``connectors/douyin.py``), windows <= 31 days.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any, ClassVar

from aiohttp import web

from bangfu.enums import LineRefundState, OrderStatus, RefundStatus, SettlementKind
from connectors.fakes.protocol import douyin as protocol
from connectors.fakes.protocol.douyin import parse_timestamp
from connectors.fakes.push import DOUYIN_PUSH, PushSender
from connectors.fakes.server import FakePlatform, Record, json_response
from connectors.fakes.shipping import DOUYIN_CARRIERS, known_code, valid_tracking
from connectors.fakes.world import (
    SHANGHAI,
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
LOOKBACK = timedelta(days=90)
AFTERSALE_DEFAULT = timedelta(days=180)
SETTLE_SPAN = timedelta(days=7)  # [I] hard here, "recommended" in the doc
LIVE_SPAN = timedelta(days=31)  # [I]
PAGE_MAX = 100
OFFSET_CAP = 50_000
PRODUCT_CAP = 10_000
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"

ORDER_CODES: Mapping[OrderStatus, int] = {
    OrderStatus.PENDING_PAYMENT: 1,
    OrderStatus.CANCELLED: 4,
    OrderStatus.PAID: 2,
    OrderStatus.PART_SHIPPED: 101,
    OrderStatus.SHIPPED: 3,
    OrderStatus.DELIVERED: 3,  # Douyin shows delivered orders as shipped until confirmed
    OrderStatus.COMPLETED: 5,
    OrderStatus.CLOSED: 4,
}
ORDER_DESC: Mapping[int, str] = {
    1: "待支付",
    105: "已支付",
    2: "备货中",
    101: "部分发货",
    3: "已发货",
    4: "已取消",
    5: "已完成",
}
AFTERSALE_CODES: Mapping[RefundStatus, int] = {
    RefundStatus.REQUESTED: 6,
    RefundStatus.AWAITING_RETURN: 7,
    RefundStatus.AWAITING_CONFIRM: 11,
    RefundStatus.SUCCEEDED: 12,
    RefundStatus.CLOSED: 28,
    RefundStatus.REFUSED: 27,  # 29 once the goods came back (see _aftersale_status)
}
AFTERSALE_DESC: Mapping[int, str] = {
    0: "售后初始化",
    6: "待商家同意",
    7: "待买家退货",
    11: "待商家二次同意",
    12: "售后成功",
    27: "商家一次拒绝",
    28: "售后失败",
    29: "商家二次拒绝",
}
REFUND_STATUS_CODES: Mapping[RefundStatus, int] = {
    RefundStatus.REQUESTED: 1,
    RefundStatus.AWAITING_RETURN: 1,
    RefundStatus.AWAITING_CONFIRM: 1,
    RefundStatus.SUCCEEDED: 3,
    RefundStatus.REFUSED: 4,
    RefundStatus.CLOSED: 1,  # the doc: a withdrawn after-sale keeps refund_status 1
}
AFTERSALE_TYPE_DESC: Mapping[int, str] = {0: "退货退款", 1: "已发货仅退款", 2: "未发货仅退款"}

#: every method the fake serves -> whether it needs an access token
TOKEN_METHODS = frozenset({"token.create", "token.refresh"})


class DyError(Exception):
    """An error answer: base code, message, sub_code and sub_msg."""

    def __init__(self, code: int, msg: str, sub_code: str = "", sub_msg: str = "") -> None:
        super().__init__(f"{code} {sub_code} {sub_msg or msg}")
        self.code = code
        self.msg = msg
        self.sub_code = sub_code
        self.sub_msg = sub_msg


def _missing(name: str, sub_code: str) -> DyError:
    return DyError(40001, "缺少必选参数", sub_code, f"缺少参数{name}")


def _invalid(number: int, sub_msg: str) -> DyError:
    return DyError(40004, "非法的参数", f"isv.parameter-invalid:{number}", sub_msg)


def _business(number: int, sub_msg: str) -> DyError:
    return DyError(50002, "业务处理失败", f"isv.business-failed:{number}", sub_msg)


def epoch(moment: datetime | None) -> int:
    """Aware datetime -> unix seconds; ``None`` -> 0 (Douyin's "not yet")."""
    return int(moment.timestamp()) if moment is not None else 0


def from_epoch(value: int) -> datetime:
    return datetime.fromtimestamp(value, SHANGHAI)


def local_text(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime(LOCAL_FORMAT)


def _int(params: Mapping[str, Any], key: str, default: int | None, error: DyError) -> int:
    value = params.get(key)
    if value is None or value == "":
        if default is None:
            raise error
        return default
    if isinstance(value, bool):
        raise error
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise error


def _bool(params: Mapping[str, Any], key: str) -> bool:
    value = params.get(key)
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


#: a list record's key among the pre-rendered ones (frozen mode)
_order_key: Callable[[FakeOrder], str] = attrgetter("order_id")
_refund_key: Callable[[FakeRefund], str] = attrgetter("refund_id")


def _id_text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


class FakeDouyin(FakePlatform):
    platform: ClassVar[str] = "douyin"
    access_token_ttl: ClassVar[timedelta] = timedelta(days=7)
    refresh_token_ttl: ClassVar[timedelta] = timedelta(days=14)
    methods: ClassVar[tuple[str, ...]] = (
        "token.create",
        "token.refresh",
        "order.searchList",
        "order.orderDetail",
        "afterSale.List",
        "product.listV2",
        "sku.list",
        "sku.syncStock",
        "sku.editPrice",
        "order.logisticsAdd",
        "order.getSettleBillDetailV3",
        "live.sessionList",
        "live.sessionDetail",
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ban_hint_seconds: float = 1.0
        self.requests_by_method: dict[str, int] = {}
        self._token_shop: dict[str, str] = {self.credentials.access_token: self.world.shop_id}
        self._refresh_shop: dict[str, str] = {self.credentials.refresh_token: self.world.shop_id}
        # Every other shop has its own token pair (the token says which shop is calling).
        default_pair = self.tokens.current
        for shop_id in list(self.shops)[1:]:
            access, refresh = f"fake-douyin-access-token-{shop_id}", f"fake-douyin-refresh-token-{shop_id}"
            self.tokens.register(access, refresh)
            self._token_shop[access] = shop_id
            self._refresh_shop[refresh] = shop_id
        self.tokens.current = default_pair
        self._idempotent: dict[str, tuple[str, str, int]] = {}
        self._log_serial = 0
        self._host_names: dict[str, str] = {}  # room id -> host (a session is costly to build)

    # ----------------------------------------------------------------- hooks

    def credential_fields(self) -> dict[str, str]:
        """The first shop's credentials, and each other shop's tokens as ``<name>:<shop id>``."""
        fields = super().credential_fields()
        for access, shop_id in self._token_shop.items():
            if shop_id != self.credentials.shop_id and access == f"fake-douyin-access-token-{shop_id}":
                fields[f"access_token:{shop_id}"] = access
                fields[f"refresh_token:{shop_id}"] = f"fake-douyin-refresh-token-{shop_id}"
        return fields

    def rate_limit_response(self, request: web.Request) -> web.StreamResponse:
        seconds = self.ban_hint_seconds
        text = f"{seconds:g}"
        return self._error(
            DyError(60000, "触发限流", "isv.app-api-rate-limit", f"当前应用调用频率超限，请{text}秒后重试")
        )

    def add_routes(self, app: web.Application) -> None:
        for method in self.methods:
            app.router.add_route("*", "/" + method.replace(".", "/"), self._gateway)
        # Message push (消息推送) to registered targets: /_fake/webhooks, /_fake/push (see fakes/push.py).
        self.pusher = PushSender(self, DOUYIN_PUSH)
        self.pusher.install(app)

    # ----------------------------------------------------------------- envelopes

    def _log_id(self) -> str:
        self._log_serial += 1
        return f"{self.clock.now().astimezone(SHANGHAI):%Y%m%d%H%M%S}0F{self._log_serial:014X}"

    def _ok(self, data: Any) -> web.Response:
        return json_response(
            {
                "code": 10000,
                "msg": "success",
                "sub_code": "",
                "sub_msg": "",
                "log_id": self._log_id(),
                "data": data,
                "err_no": 0,
                "message": "success",
            }
        )

    def _error(self, error: DyError) -> web.Response:
        return web.json_response(
            {
                "code": error.code,
                "msg": error.msg,
                "sub_code": error.sub_code,
                "sub_msg": error.sub_msg,
                "log_id": self._log_id(),
                "err_no": error.code,
                "message": error.sub_msg or error.msg,
            },
            dumps=lambda value: json.dumps(value, ensure_ascii=False, separators=(",", ":")),
        )

    # ----------------------------------------------------------------- the gateway

    async def _gateway(self, request: web.Request) -> web.Response:
        try:
            method, params, world = await self._authenticate(request)
            self.requests_by_method[method] = self.requests_by_method.get(method, 0) + 1
            handler = self._handlers()[method]
            return self._ok(handler(world, params))
        except DyError as exc:
            return self._error(exc)

    async def _authenticate(self, request: web.Request) -> tuple[str, dict[str, Any], FakeWorld]:
        if request.method not in ("GET", "POST"):
            raise DyError(40003, "平台参数不合法", "isv.http-method-invalid", f"不支持{request.method}")
        query = request.query
        body = (await request.read()).decode("utf-8", errors="replace")
        for name, sub in (
            ("app_key", "isv.app-key-missing"),
            ("method", "isv.method-missing"),
            ("timestamp", "isv.timestamp-missing"),
            ("v", "isv.version-missing"),
        ):
            if not query.get(name):
                raise _missing(name, sub)
        method = query["method"]
        if request.path != "/" + method.replace(".", "/"):
            raise DyError(40003, "平台参数不合法", "isv.method-invalid", f"method {method}与路径不符")
        if query["app_key"] != self.credentials.app_key:
            raise DyError(40003, "平台参数不合法", "isv.app-key-invalid", "app_key不存在")
        if query["v"] != protocol.API_VERSION:
            raise DyError(40003, "平台参数不合法", "isv.version-invalid", "v只支持2")
        sent = parse_timestamp(query["timestamp"])
        if sent is None or abs(sent - self.clock.wall_now()) > TIMESTAMP_WINDOW:
            raise DyError(40003, "平台参数不合法", "isv.timestamp-invalid", "timestamp已过期或格式错误")
        param_json = body if body.strip() else query.get("param_json", "")
        if not param_json:
            param_json = "{}" if request.method == "POST" else ""
        if not param_json:
            raise _missing("param_json", "isv.param-json-missing")
        sign = query.get("sign", "")
        if not sign:
            raise _missing("sign", "isv.signature-missing")
        sign_method = query.get("sign_method", "") or "md5"
        if sign_method not in protocol.SIGN_METHODS:
            raise DyError(40003, "平台参数不合法", "isv.signature-invalid", f"不支持的sign_method {sign_method}")
        creds = self.credentials
        if not protocol.verify(
            sign,
            secret=creds.app_secret,
            app_key=creds.app_key,
            method=method,
            param_json=param_json,
            timestamp=query["timestamp"],
            how=sign_method,
        ):
            raise DyError(40003, "平台参数不合法", "isv.signature-invalid", "签名校验失败")
        try:
            params = json.loads(param_json)
        except ValueError:
            params = None
        if not isinstance(params, dict):
            raise DyError(
                40003,
                "平台参数不合法",
                "isv.parameter-format-invalid",
                "业务参数json解析失败，所有参数需为string类型",
            )
        if method in TOKEN_METHODS:
            return method, params, self.world
        token = query.get("access_token", "")
        if not token:
            raise _missing("access_token", "isv.access-token-missing")
        state = self.tokens.check(token)
        if state == "unknown":
            raise DyError(40003, "平台参数不合法", "isv.access-token-no-existed", "access_token不存在")
        if state == "expired":
            raise DyError(40003, "平台参数不合法", "isv.access-token-expired", "access_token已过期")
        world = self.world_for(self._token_shop.get(token))
        if world is None:
            raise DyError(30001, "无权限", "dop.authorization-no-existed", "店铺未授权")
        return method, params, world

    def _handlers(self) -> dict[str, Callable[[FakeWorld, dict[str, Any]], Any]]:
        return {
            "token.create": self._token_create,
            "token.refresh": self._token_refresh,
            "order.searchList": self._order_search,
            "order.orderDetail": self._order_detail,
            "afterSale.List": self._aftersale_list,
            "product.listV2": self._product_list,
            "sku.list": self._sku_list,
            "sku.syncStock": self._sku_sync_stock,
            "sku.editPrice": self._sku_edit_price,
            "order.logisticsAdd": self._logistics_add,
            "order.getSettleBillDetailV3": self._settle_bill,
            "live.sessionList": self._live_list,
            "live.sessionDetail": self._live_detail,
        }

    # ----------------------------------------------------------------- tokens

    def _token_data(self, token: Any, shop_id: str) -> dict[str, Any]:
        world = self.shops[shop_id]
        self._token_shop[token.access_token] = shop_id
        self._refresh_shop[token.refresh_token] = shop_id
        return {
            "access_token": token.access_token,
            "expires_in": token.expires_in(self.clock.now()),
            "refresh_token": token.refresh_token,
            "scope": "SCOPE",
            "shop_id": world.shop_id,
            "shop_name": f"帮扶好物抖店{world.shop_id[-4:]}",
            "authority_id": world.shop_id,
            "auth_subject_type": "MiniShop",
        }

    def _token_create(self, world: FakeWorld, params: dict[str, Any]) -> dict[str, Any]:
        grant = str(params.get("grant_type") or "")
        if grant == "authorization_self":
            shop_id = _id_text(params.get("shop_id"))
            if not shop_id:
                raise _missing("shop_id", "isv.shop-id-missing")
            if shop_id not in self.shops:
                raise DyError(30001, "无权限", "dop.authorization-no-existed", "店铺未授权该应用")
        elif grant == "authorization_code":
            code = _id_text(params.get("code"))
            # [I] Codes come from the merchant's authorisation page: the fake accepts
            # fake-douyin-code-<shop_id> for the shops it serves.
            shop_id = code.removeprefix("fake-douyin-code-")
            if not code.startswith("fake-douyin-code-") or shop_id not in self.shops:
                raise DyError(50001, "token生成失败", "dop.token-generate-failed:code-invalid", "code无效")
        else:
            raise DyError(40003, "平台参数不合法", "isv.parameter-format-invalid", "grant_type不合法")
        return self._token_data(self.tokens.issue(), shop_id)

    def _token_refresh(self, world: FakeWorld, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("grant_type") != "refresh_token":
            raise DyError(40003, "平台参数不合法", "isv.parameter-format-invalid", "grant_type不合法")
        old = _id_text(params.get("refresh_token"))
        if not old:
            raise _missing("refresh_token", "isv.refresh-token-missing")
        issued = self.tokens.refresh(old)
        if issued is None:
            raise DyError(40003, "平台参数不合法", "isv.refresh-token-no-existed", "refresh_token无效或已使用")
        return self._token_data(issued, self._refresh_shop.pop(old, self.world.shop_id))

    # ----------------------------------------------------------------- orders

    def _page_params(self, params: Mapping[str, Any], *, first: int, cap: int) -> tuple[int, int]:
        size = _int(params, "size", None, _invalid(20008, "单次查询订单数超过限制"))
        if not 1 <= size <= PAGE_MAX:
            raise _invalid(20008, "单页最大支持100，size设置需要 <= 100")
        page = _int(params, "page", None, _invalid(10035, "查询页数从0开始，需要输入大于等于0的数"))
        if page < first:
            raise _invalid(10035, f"查询页数从{first}开始")
        if (page - first + 1) * size > cap:
            raise _invalid(20013, f"翻页查询最多支持查询到{cap}条，需要缩短查询时间范围")
        return page, size

    def _window(
        self, params: Mapping[str, Any], start_key: str, end_key: str, error: DyError
    ) -> tuple[datetime, datetime] | None:
        """An inclusive [start, end] of whole seconds as a half-open [start, end + 1 s)."""
        if params.get(start_key) in (None, "", 0):
            return None
        start = _int(params, start_key, None, error)
        end = _int(params, end_key, epoch(self.clock.now()), error)
        return from_epoch(start), from_epoch(end + 1)

    def _order_search(self, world: FakeWorld, params: dict[str, Any]) -> dict[str, Any]:
        page, size = self._page_params(params, first=0, cap=OFFSET_CAP)
        bad_time = _invalid(20011, "订单查询开始时间不能为空")
        by_update = self._window(params, "update_time_start", "update_time_end", bad_time)
        by_create = self._window(params, "create_time_start", "create_time_end", bad_time)
        if by_update is None and by_create is None:
            raise bad_time
        oldest = self.clock.now() - LOOKBACK
        for window in (by_update, by_create):
            if window is not None and window[0] < oldest:
                raise _invalid(20022, "订单查询只支持查询最近90天内的数据")
        combine = params.get("combine_status") or []
        if not isinstance(combine, list):
            raise DyError(40003, "平台参数不合法", "isv.parameter-format-invalid", "combine_status需为list")
        if len(combine) > 1:
            raise _invalid(20012, "订单查询状态条件超过限制，只支持1个元素")
        wanted: set[int] | None = None
        if combine and isinstance(combine[0], Mapping) and combine[0].get("order_status"):
            wanted = {int(code) for code in str(combine[0]["order_status"]).split(",") if code.strip().isdigit()}
        field = "update_time" if params.get("order_by") == "update_time" else "create_time"
        ascending = _bool(params, "order_asc")

        def window_orders() -> tuple[list[FakeOrder], list[str]]:
            # The whole window, filtered and sorted: built once while a client pages through it.
            if by_update is not None:
                orders = self.orders_modified(world, *by_update)
                if by_create is not None:
                    orders = [o for o in orders if by_create[0] <= o.created_at < by_create[1]]
            else:
                assert by_create is not None
                orders = self.orders_created(world, *by_create)
            if wanted is not None:
                orders = [o for o in orders if ORDER_CODES[o.status] in wanted]

            def sort_key(order: FakeOrder) -> tuple[int, int]:
                moment = order.modified_at if field == "update_time" else order.created_at
                return epoch(moment), int(order.order_id)

            orders.sort(key=sort_key, reverse=not ascending)
            return orders, [o.order_id for o in orders]

        query = ("orders", by_update, by_create, None if wanted is None else frozenset(wanted), field, ascending)
        orders, ids = self.memo(world, query, window_orders)
        served = self.page_slice(orders, page, size, first_page=0)
        self.touch_during_paging(world, ids, page, first_page=0)
        return {
            "page": page,
            "size": size,
            "total": len(orders),
            "shop_order_list": self._orders_out(world, served),
        }

    def _orders_out(self, world: FakeWorld, orders: Sequence[FakeOrder]) -> list[Any]:
        """The orders as list records (pre-rendered in frozen mode)."""
        return self.frozen_records(world, "order", orders, _order_key, self._order_out, source="orders")

    def _refunds_out(self, world: FakeWorld, refunds: Sequence[FakeRefund]) -> list[Any]:
        """The refunds as list records (pre-rendered in frozen mode)."""
        return self.frozen_records(
            world, "refund", refunds, _refund_key, lambda refund: self._refund_out(world, refund), source="refunds"
        )

    def prerender_world(self, world: FakeWorld) -> int:
        self._orders_out(world, [])
        self._refunds_out(world, [])
        return self.frozen_count(world, "order", "refund")

    def _order_detail(self, world: FakeWorld, params: dict[str, Any]) -> dict[str, Any]:
        order_id = _id_text(params.get("shop_order_id"))
        if not order_id:
            raise _missing("shop_order_id", "isv.shop-order-id-missing")
        order = world.order(order_id)
        if order is None:
            raise _business(20005, "订单不存在")
        return {"shop_order_detail": self._orders_out(world, [order])[0]}

    def _order_out(self, order: FakeOrder) -> Record:
        record = self._render_order(order)
        return self.maybe_malform(f"order:{order.order_id}", record, self._corrupt_order)

    def _corrupt_order(self, record: Record) -> Record:
        choice = self.faults.randint(0, 3)
        if choice == 0:
            record["pay_amount"] = f"{record['pay_amount'] / 100:.2f}"  # yuan text, not fen
        elif choice == 1:
            record.pop("update_time", None)
        elif choice == 2:
            record["sku_order_list"] = None
        else:
            record["sku_order_list"][0]["item_num"] = "many"
        return record

    def _render_order(self, order: FakeOrder) -> Record:
        code = ORDER_CODES[order.status]
        shipped = order.shipped_at is not None
        lines = [self._render_line(order, line, code) for line in order.lines]
        record: Record = {
            "order_id": order.order_id,
            "shop_id": int(order.shop_id),
            "order_status": code,
            "order_status_desc": ORDER_DESC[code],
            "main_status": code,
            "main_status_desc": ORDER_DESC[code],
            "order_level": 2,
            "order_type": 0,
            "order_type_desc": "普通订单",
            "create_time": epoch(order.created_at),
            "update_time": epoch(order.modified_at),
            "pay_time": epoch(order.paid_at),
            "ship_time": epoch(order.shipped_at),
            "finish_time": epoch(order.finished_at),
            "order_expire_time": epoch(order.created_at) + 1800 if order.paid_at is None else 0,
            "cancel_reason": "超时未支付" if order.cancelled_at is not None else "",
            "order_amount": order.total_fen + order.post_fee_fen,
            "pay_amount": order.paid_fen,
            "post_amount": order.post_fee_fen,
            "post_insurance_amount": 0,
            "modify_amount": 0,
            "modify_post_amount": 0,
            "promotion_amount": order.discount_fen,
            "promotion_shop_amount": order.discount_fen,
            "promotion_platform_amount": 0,
            "promotion_talent_amount": 0,
            "promotion_pay_amount": 0,
            "shop_cost_amount": order.discount_fen,
            "platform_cost_amount": 0,
            "pay_type": 1 if int(order.order_id) % 2 else 2,
            "b_type": 2,
            "b_type_desc": "抖音",
            "sub_b_type": 1,
            "sub_b_type_desc": "app内-原生",
            "buyer_words": "",
            "seller_words": "",
            "seller_remark_stars": 0,
            "doudian_open_id": order.buyer_id,
            "encrypt_post_receiver": f"#{order.buyer_nick}#fake-encrypted#",
            "encrypt_post_tel": "#1380000****#fake-encrypted#",
            "post_addr": {
                "province": {"name": "四川省", "id": "51"},
                "city": {"name": "甘孜藏族自治州", "id": "5133"},
                "town": {"name": "康定市", "id": "513301"},
                "street": {"name": "炉城镇", "id": "513301001"},
                "encrypt_detail": "#fake-encrypted-address#",
            },
            "logistics_info": [
                {
                    "tracking_no": order.tracking_no,
                    "company": order.logistics_company,
                    "company_name": order.logistics_company,
                    "ship_time": epoch(order.shipped_at),
                    "delivery_id": f"{order.order_id}01",
                    "product_info": [
                        {
                            "sku_order_id": line.line_id,
                            "product_id": int(line.item_id),
                            "product_id_str": line.item_id,
                            "product_name": line.title,
                            "price": line.unit_price_fen,
                            "outer_sku_id": line.sku_code,
                            "sku_id": int(line.sku_id),
                            "product_count": line.quantity,
                        }
                        for line in order.lines
                    ],
                }
            ]
            if shipped
            else [],
            "sku_order_list": lines,
        }
        return record

    def _render_line(self, order: FakeOrder, line: FakeOrderLine, order_code: int) -> Record:
        refund = next((r for r in order.refunds if r.refund_id == line.refund_id), None)
        live = line.room_id is not None
        line_code = 4 if line.refund_state is LineRefundState.FULL else order_code
        return {
            "order_id": line.line_id,
            "parent_order_id": order.order_id,
            "order_level": 3,
            "product_id": int(line.item_id),
            "product_id_str": line.item_id,
            "sku_id": int(line.sku_id),
            "out_sku_id": "",
            "out_product_id": line.spu_code,
            "code": line.sku_code,
            "product_name": line.title,
            "spec": [{"name": "规格", "value": line.spec}],
            "item_num": line.quantity,
            "goods_price": line.price_fen,
            "origin_amount": line.unit_price_fen,
            "sum_amount": line.total_fen,
            "order_amount": line.total_fen,
            "pay_amount": line.paid_fen,
            "post_amount": 0,
            "promotion_amount": line.discount_fen,
            "promotion_shop_amount": line.discount_fen,
            "shop_cost_amount": line.discount_fen,
            "platform_cost_amount": 0,
            "author_cost_amount": 0,
            "only_platform_cost_amount": 0,
            "order_status": line_code,
            "order_status_desc": ORDER_DESC[line_code],
            "trade_type": 0,
            "trade_type_desc": "普通",
            "create_time": epoch(order.created_at),
            "pay_time": epoch(order.paid_at),
            "update_time": epoch(order.modified_at),
            "finish_time": epoch(order.finished_at),
            "author_id": int(line.author_id) if line.author_id else 0,
            "author_name": self._host_name(order, line) if live else "",
            "room_id": int(line.room_id) if line.room_id else 0,
            "room_id_str": line.room_id or "",
            "theme_type": "1" if live else "0",
            "theme_type_desc": "直播间" if live else "其他",
            "content_id": line.room_id or "0",
            "video_id": "",
            "c_biz": 2 if live else 8,
            "c_biz_desc": "精选联盟" if live else "小店自卖",
            "send_pay": 0,
            "after_sale_info": self._line_after_sale(order, refund),
        }

    def _host_name(self, order: FakeOrder, line: FakeOrderLine) -> str:
        if line.room_id is None:
            return ""
        cached = self._host_names.get(line.room_id)
        if cached is None:
            world = self.world_for(order.shop_id)
            found = world.live_session(line.room_id) if world is not None else None
            cached = found.host_name if found is not None else ""
            self._host_names[line.room_id] = cached
        return cached

    @staticmethod
    def _aftersale_status(refund: FakeRefund) -> int:
        if refund.status is RefundStatus.REFUSED and refund.with_return:
            return 29
        return AFTERSALE_CODES[refund.status]

    @staticmethod
    def _aftersale_type(refund: FakeRefund, order_shipped: bool) -> int:
        if refund.with_return:
            return 0
        return 1 if order_shipped else 2

    def _line_after_sale(self, order: FakeOrder, refund: FakeRefund | None) -> Record:
        if refund is None:
            return {"after_sale_status": 0, "after_sale_type": 0, "refund_status": 0}
        return {
            "after_sale_status": self._aftersale_status(refund),
            "after_sale_type": self._aftersale_type(refund, order.shipped_at is not None),
            "refund_status": REFUND_STATUS_CODES[refund.status],
        }

    # ----------------------------------------------------------------- after-sales

    def _aftersale_list(self, world: FakeWorld, params: dict[str, Any]) -> dict[str, Any]:
        page, size = self._page_params(params, first=0, cap=OFFSET_CAP)
        bad = _invalid(11000, "参数错误")
        refunds: list[FakeRefund]
        if params.get("aftersale_id"):
            found = world.refund(_id_text(params["aftersale_id"]))
            refunds = [found] if found is not None else []
        elif params.get("order_id"):
            order = world.order(_id_text(params["order_id"]))
            refunds = list(order.refunds) if order is not None else []
        else:
            by_update = self._window(params, "update_start_time", "update_end_time", bad)
            by_apply = self._window(params, "start_time", "end_time", bad)
            now = self.clock.now()
            if by_update is None and by_apply is None:
                by_update = (now - AFTERSALE_DEFAULT, now + timedelta(seconds=1))
            if by_update is not None:
                refunds = self.refunds_modified(world, *by_update)
            else:
                assert by_apply is not None
                refunds = self.refunds_modified(world, by_apply[0], now + timedelta(seconds=1))
            if by_apply is not None:
                refunds = [r for r in refunds if by_apply[0] <= r.created_at < by_apply[1]]
        field, ascending = "apply_time", False
        order_by = params.get("order_by") or []
        if isinstance(order_by, list) and order_by:
            name, _, direction = str(order_by[0]).partition(" ")
            field = name if name in ("apply_time", "update_time") else field
            ascending = direction.strip().lower() == "asc"

        def sort_key(refund: FakeRefund) -> tuple[int, int]:
            moment = refund.modified_at if field == "update_time" else refund.created_at
            return epoch(moment), int(refund.refund_id)

        refunds.sort(key=sort_key, reverse=not ascending)
        served = self.page_slice(refunds, page, size, first_page=0)
        return {
            "items": self._refunds_out(world, served),
            "has_more": (page + 1) * size < len(refunds),
            "total": len(refunds),
            "page": page,
            "size": size,
        }

    def _refund_out(self, world: FakeWorld, refund: FakeRefund) -> Record:
        record = self._render_refund(world, refund)
        return self.maybe_malform(f"refund:{refund.refund_id}", record, self._corrupt_refund)

    def _corrupt_refund(self, record: Record) -> Record:
        info = record["aftersale_info"]
        choice = self.faults.randint(0, 2)
        if choice == 0:
            info["refund_amount"] = str(info["refund_amount"] / 100)  # yuan text, not fen
        elif choice == 1:
            info.pop("update_time", None)
        else:
            info["aftersale_status"] = 999
        return record

    def _render_refund(self, world: FakeWorld, refund: FakeRefund) -> Record:
        order = world.order(refund.order_id)
        line = next((ln for ln in order.lines if ln.line_id == refund.line_id), None) if order else None
        shipped = order is not None and order.shipped_at is not None
        status = self._aftersale_status(refund)
        kind = self._aftersale_type(refund, shipped)
        return {
            "aftersale_info": {
                "aftersale_id": refund.refund_id,
                "aftersale_order_type": 1,
                "aftersale_type": kind,
                "aftersale_status": status,
                "related_id": refund.line_id,
                "apply_time": epoch(refund.created_at),
                "create_time": epoch(refund.created_at),
                "update_time": epoch(refund.modified_at),
                "status_deadline": epoch(refund.modified_at) + 2 * 86400 if refund.resolved_at is None else 0,
                "refund_amount": refund.amount_fen,
                "refund_post_amount": 0,
                "aftersale_num": refund.quantity or 0,
                "part_type": 0 if refund.amount_fen >= refund.line_paid_fen else 1,
                "aftersale_refund_type": 0,
                "refund_type": 2,
                "arbitrate_status": 0,
                "refund_status": REFUND_STATUS_CODES[refund.status],
                "got_pkg": 1 if shipped else 0,
                "return_logistics_code": f"SF{refund.refund_id[-10:]}" if refund.with_return else "",
                "remark": "",
            },
            "order_info": {
                "shop_order_id": refund.order_id,
                "related_order_info": [
                    {
                        "sku_order_id": refund.line_id,
                        "order_status": 3 if shipped else 2,
                        "pay_amount": refund.line_paid_fen,
                        "post_amount": 0,
                        "item_num": line.quantity if line is not None else 0,
                        "create_time": epoch(order.created_at) if order is not None else 0,
                        "product_name": line.title if line is not None else "",
                        "product_id": int(refund.item_id),
                        "shop_sku_code": refund.sku_code,
                        "aftersale_pay_amount": refund.amount_fen,
                        "aftersale_post_amount": 0,
                        "aftersale_item_num": refund.quantity or 0,
                        "price": line.unit_price_fen if line is not None else 0,
                    }
                ],
                "order_flag": 0,
            },
            "text_part": {
                "aftersale_status_text": AFTERSALE_DESC.get(status, ""),
                "aftersale_type_text": AFTERSALE_TYPE_DESC.get(kind, ""),
                "reason_text": refund.reason,
            },
            "seller_logs": [],
        }

    # ----------------------------------------------------------------- products and stock

    def _product_list(self, world: FakeWorld, params: dict[str, Any]) -> dict[str, Any]:
        bad = _invalid(10001, "参数错误")
        size = _int(params, "size", 10, bad)
        page = _int(params, "page", 1, bad)
        if not 1 <= size <= PAGE_MAX or not 1 <= page <= PAGE_MAX:
            raise _invalid(10001, "page需在1~100，size需在1~100")
        if page * size > PRODUCT_CAP:
            raise _invalid(10001, "page*size最大不能超过1万条")
        items = world.products()
        if params.get("status") not in (None, ""):
            status = _int(params, "status", None, bad)
            items = [item for item in items if (0 if item.on_sale else 1) == status]
        if params.get("check_status") not in (None, ""):
            wanted = _int(params, "check_status", None, bad)
            items = [item for item in items if wanted == 3]
        lo = params.get("update_start_time")
        hi = params.get("update_end_time")
        if lo not in (None, "", 0) or hi not in (None, "", 0):
            low = _int(params, "update_start_time", 0, bad)
            high = _int(params, "update_end_time", 2**62, bad)
            items = [item for item in items if low < epoch(item.modified_at) < high]  # exclusive
        served = items[(page - 1) * size : page * size]
        return {
            "data": [self._render_product(item) for item in served],
            "total": len(items),
            "page": page,
            "size": size,
        }

    @staticmethod
    def _render_product(item: FakeItem) -> Record:
        return {
            "product_id": int(item.item_id),
            "product_id_str": item.item_id,
            "name": item.title,
            "status": 0 if item.on_sale else 1,
            "check_status": 3,
            "product_type": 0,
            "outer_product_id": item.spu_code,
            "out_product_id": 0,
            "create_time": epoch(item.created_at),
            "update_time": epoch(item.modified_at),
            "img": f"https://fake-img.example.invalid/{item.item_id}.jpg",
            "market_price": max(sku.price_fen for sku in item.skus),
            "discount_price": item.price_fen,
            "category_detail": {"first_cid": 20000, "first_cname": item.category},
            "is_package_product": False,
        }

    def _find_item(self, world: FakeWorld, params: Mapping[str, Any]) -> FakeItem:
        product_id = _id_text(params.get("product_id"))
        outer = _id_text(params.get("out_product_id") or params.get("outer_product_id"))
        if not product_id and not outer:
            raise _missing("product_id", "isv.product-id-missing")
        for item in world.products():
            if item.item_id == product_id or (outer and item.spu_code == outer):
                return item
        raise _business(10002, "商品不存在")

    def _sku_list(self, world: FakeWorld, params: dict[str, Any]) -> list[Record]:
        item = self._find_item(world, params)
        return [
            {
                "id": int(sku.sku_id),
                "product_id": int(item.item_id),
                "product_id_str": item.item_id,
                "out_sku_id": 0,
                "code": sku.sku_code,
                "spec_detail_name1": sku.spec,
                "spec_detail_name2": "",
                "spec_detail_name3": "",
                "price": sku.promo_price_fen if sku.promo_price_fen is not None else sku.price_fen,
                "settlement_price": 0,
                "create_time": epoch(item.created_at),
                "sku_type": 0,
                "stock_num": sku.stock,
                "prehold_stock_num": 0,
                "prom_stock_num": 0,
                "normal_stock_num": sku.stock,
                "channel_stock_num": 0,
            }
            for sku in item.skus
        ]

    def _sku_sync_stock(self, world: FakeWorld, params: dict[str, Any]) -> dict[str, Any]:
        item = self._find_item(world, params)
        sku_id = _id_text(params.get("sku_id"))
        code = _id_text(params.get("code") or params.get("out_sku_id"))
        sku = next(
            (s for s in item.skus if (sku_id and s.sku_id == sku_id) or (not sku_id and code and s.sku_code == code)),
            None,
        )
        if sku is None:
            if sku_id or code:
                raise _business(10003, "sku不存在")
            raise _missing("sku_id", "isv.sku-id-missing")
        bad = _invalid(10004, "stock_num不合法")
        stock_num = _int(params, "stock_num", None, bad)
        try:
            if _bool(params, "incremental"):
                idempotent = _id_text(params.get("idempotent_id"))
                if not idempotent:
                    raise _invalid(10005, "incremental=true时idempotent_id必填")
                seen = self._idempotent.get(idempotent)
                request = (item.item_id, sku.sku_id, stock_num)
                if seen is not None:
                    if seen != request:
                        raise _business(10006, "idempotent_id已用于其他库存变更")
                    return {}
                world.adjust_stock(item.item_id, sku.sku_id, stock_num)
                self._idempotent[idempotent] = request
            else:
                if stock_num < 0:
                    raise bad
                world.set_stock(item.item_id, sku.sku_id, stock_num)
        except StockError as exc:
            raise _business(10007, f"库存更新失败: {exc}") from None
        return {}

    def _logistics_add(self, world: FakeWorld, params: dict[str, Any]) -> dict[str, Any]:
        """order.logisticsAdd (订单发货): ``order_id``, ``company_code`` (pinyin carrier code) and
        ``logistics_code`` (the tracking number); ships the order in the world."""
        order_id = _id_text(params.get("order_id"))
        if not order_id:
            raise _missing("order_id", "isv.order-id-missing")
        company = _id_text(params.get("company_code"))
        if not company:
            raise _missing("company_code", "isv.company-code-missing")
        tracking = _id_text(params.get("logistics_code"))
        if not tracking:
            raise _missing("logistics_code", "isv.logistics-code-missing")
        if not known_code(DOUYIN_CARRIERS, company):
            raise _business(30032, f"物流公司{company}不存在")
        if not valid_tracking(tracking):
            raise _business(30033, f"运单号{tracking}不合法")
        try:
            world.ship(order_id, company, tracking)
        except ShipError as exc:
            if exc.reason == "not_found":
                raise _business(30034, "订单不存在") from None
            if exc.reason == "shipped":
                raise _business(30030, "订单已发货，请勿重复发货") from None
            raise _business(30031, f"订单已退款或已关闭，不能发货: {exc}") from None
        return {}

    def _sku_edit_price(self, world: FakeWorld, params: dict[str, Any]) -> dict[str, Any]:
        """sku.editPrice: ``product_id`` (or ``out_product_id``), ``sku_id`` (or ``code``) and
        ``price`` in fen (integer, > 0)."""
        item = self._find_item(world, params)
        sku_id = _id_text(params.get("sku_id"))
        code = _id_text(params.get("code") or params.get("out_sku_id"))
        sku = next(
            (s for s in item.skus if (sku_id and s.sku_id == sku_id) or (not sku_id and code and s.sku_code == code)),
            None,
        )
        if sku is None:
            if sku_id or code:
                raise _business(10003, "sku不存在")
            raise _missing("sku_id", "isv.sku-id-missing")
        bad = _invalid(10008, "price不合法，单位为分且须大于0")
        price = _int(params, "price", None, bad)
        if not 0 < price <= 100_000_000 * 100:
            raise bad
        world.set_price(item.item_id, sku.sku_id, price)
        return {}

    # ----------------------------------------------------------------- settlement bills

    def _settle_bill(self, world: FakeWorld, params: dict[str, Any]) -> dict[str, Any]:
        bad = _invalid(10001, "参数错误")
        size = _int(params, "size", None, bad)
        if not 1 <= size <= PAGE_MAX:
            raise _invalid(10001, "size支持范围1~100")
        time_type = _int(params, "time_type", 0, bad)
        start_text = _id_text(params.get("start_time"))
        end_text = _id_text(params.get("end_time"))
        order_filter = {part for part in _id_text(params.get("order_id")).split(",") if part}
        now = self.clock.now()
        if start_text or end_text or not order_filter:
            start = parse_timestamp(start_text) if start_text and not start_text.isdigit() else None
            end = parse_timestamp(end_text) if end_text and not end_text.isdigit() else None
            if start is None or end is None:
                raise _invalid(10001, "start_time/end_time格式为yyyy-MM-dd HH:mm:ss")
            if end - start > SETTLE_SPAN:
                raise _invalid(10001, "查询时间跨度不能超过7天")
        else:
            start, end = now - timedelta(days=90), now
        rows = self._settle_rows(world, start, end, time_type)
        if order_filter:
            rows = [row for row in rows if row["order_id"] in order_filter]
        key = "settle_time" if time_type == 0 else "order_time"
        skip = _int(params, "start_index", 0, bad)
        # Rows from start_time on, skipping start_index rows of that very second (the cursor).
        first = next((k for k, row in enumerate(rows) if row[key] >= local_text(start)), len(rows))
        position = first + skip
        served = rows[position : position + size]
        after = position + len(served)
        data: dict[str, Any] = {
            "code": "100000",
            "code_msg": "success",
            "data": served,
            "size": size,
            "data_size": len(served),
            "is_end": 1 if after >= len(rows) else 0,
            "next_start_index": "",
            "next_start_time": "",
        }
        if after < len(rows):
            nxt = rows[after]
            same = sum(1 for row in rows[:after] if row[key] == nxt[key])
            data["next_start_index"] = str(same)
            data["next_start_time"] = nxt[key]
        return data

    def _settle_rows(self, world: FakeWorld, start: datetime, end: datetime, time_type: int) -> list[Record]:
        """Bill rows with settle time (0) or order time (1) in [start, end] (whole seconds)."""
        stop = end + timedelta(seconds=1)
        until = stop if time_type == 0 else self.clock.now() + timedelta(seconds=1)
        lines = world.settlements(start, until)
        groups: dict[tuple[str, datetime, str], list[FakeSettlementLine]] = {}
        orders: dict[str, FakeOrder | None] = {}
        for line in lines:
            if line.order_id not in orders:
                orders[line.order_id] = world.order(line.order_id)
            order = orders[line.order_id]
            if order is None:
                continue
            if time_type == 1 and not start <= order.created_at < stop:
                continue
            if line.kind is SettlementKind.REFUND:
                key = (line.order_id, line.settled_at, f"refund:{line.bill_id}")
            else:
                line_id = line.line_id or order.lines[0].line_id
                key = (line.order_id, line.settled_at, line_id)
            groups.setdefault(key, []).append(line)
        rows = [self._render_settle_row(orders[key[0]], key, group) for key, group in groups.items()]
        time_key = "settle_time" if time_type == 0 else "order_time"
        rows.sort(key=lambda row: (row[time_key], row["request_no"]))
        return rows

    def _render_settle_row(
        self, order: FakeOrder | None, key: tuple[str, datetime, str], group: Sequence[FakeSettlementLine]
    ) -> Record:
        assert order is not None
        order_id, settled_at, tag = key
        refund = tag.startswith("refund:")
        first = group[0]
        line_id = first.line_id or order.lines[0].line_id
        line = next((ln for ln in order.lines if ln.line_id == line_id), order.lines[0])
        amounts: dict[SettlementKind, int] = {}
        for item in group:
            amounts[item.kind] = amounts.get(item.kind, 0) + item.amount_fen
        sale_row = next((item for item in group if item.kind is SettlementKind.SALE and item.line_id), None)
        request_no = (sale_row or first).bill_id
        post = sum(item.amount_fen for item in group if item.kind is SettlementKind.SALE and item.line_id is None)
        row: Record = {
            "settle_time": local_text(settled_at),
            "request_no": request_no,
            "shop_order_id": order_id,
            "order_id": line_id,
            "product_id": line.item_id,
            "goods_count": line.quantity,
            "order_time": local_text(order.created_at),
            "order_type": "普通订单",
            "pay_type_desc": "聚合账户",
            "flow_type_desc": "精选联盟" if line.room_id else "小店自卖",
            "is_contains_refund_before_settle": 0,
            "remark": "",
            "packing_amount": 0,
            "zt_pay_promotion": 0,
            "zr_pay_promotion": 0,
            "platform_coupon": 0,
            "author_coupon": 0,
            "good_learn_channel_fee": 0,
            "colonel_service_fee": 0,
            "channel_promotion_fee": 0,
        }
        if refund:
            amount = amounts.get(SettlementKind.REFUND, 0)
            row.update(
                trade_type=1,
                remark="结算后退款-原路退回",
                settle_amount=amount,
                total_amount=0,
                total_goods_amount=0,
                post_amount=0,
                shop_coupon=0,
                refund_before_settle=0,
                real_pay_amount=0,
                total_income=amount,
                platform_service_fee=0,
                commission=0,
                other_sharing_amount=0,
                total_outcome=0,
            )
            return row
        income = amounts.get(SettlementKind.SALE, 0)
        fee = -amounts.get(SettlementKind.PLATFORM_FEE, 0)
        commission = -amounts.get(SettlementKind.HOST_COMMISSION, 0)
        other = -amounts.get(SettlementKind.PAYMENT_FEE, 0)
        outcome = fee + commission + other
        row.update(
            trade_type=0,
            settle_amount=income - outcome,
            total_amount=income,
            total_goods_amount=line.total_fen,
            post_amount=post,
            shop_coupon=line.discount_fen,
            refund_before_settle=0,
            real_pay_amount=income,
            total_income=income,
            platform_service_fee=fee,
            commission=commission,
            other_sharing_amount=other,
            total_outcome=outcome,
        )
        return row

    # ----------------------------------------------------------------- live sessions [I]

    def _live_list(self, world: FakeWorld, params: dict[str, Any]) -> dict[str, Any]:
        page, size = self._page_params(params, first=0, cap=OFFSET_CAP)
        window = self._window(params, "start_time", "end_time", _invalid(10001, "start_time必填"))
        if window is None:
            raise _invalid(10001, "start_time必填")
        if window[1] - window[0] > LIVE_SPAN + timedelta(seconds=1):
            raise _invalid(10001, "查询时间跨度不能超过31天")
        sessions = world.live_sessions(*window)
        served = self.page_slice(sessions, page, size, first_page=0)
        return {
            "page": page,
            "size": size,
            "total": len(sessions),
            "room_list": [self._render_room(session) for session in served],
        }

    def _live_detail(self, world: FakeWorld, params: dict[str, Any]) -> dict[str, Any]:
        room_id = _id_text(params.get("room_id"))
        if not room_id:
            raise _missing("room_id", "isv.room-id-missing")
        session = world.live_session(room_id)
        if session is None:
            raise _business(10008, "直播间不存在")
        return {
            "room": self._render_room(session),
            "minute_list": [
                {
                    "minute": epoch(m.minute_at),
                    "online_ucnt": m.online,
                    "watch_cnt": m.views,
                    "new_pay_ucnt": m.new_buyers,
                    "pay_order_cnt": m.orders,
                    "pay_amt": m.gmv_fen,
                }
                for m in session.minutes
            ],
            "explain_list": [
                {
                    "product_id": int(e.item_id),
                    "product_id_str": e.item_id,
                    "sku_id": int(e.sku_id),
                    "start_time": epoch(e.started_at),
                    "end_time": epoch(e.ended_at),
                }
                for e in session.explanations
            ],
        }

    @staticmethod
    def _render_room(session: FakeLiveSession) -> Record:
        return {
            "room_id": int(session.room_id),
            "room_id_str": session.room_id,
            "author_id": int(session.author_id),
            "author_nickname": session.host_name,
            "title": session.title,
            "start_time": epoch(session.started_at),
            "end_time": epoch(session.ended_at),
            "live_status": 4 if session.ended_at is not None else 2,
            "update_time": epoch(session.modified_at),
            "watch_cnt": session.views,
            "watch_ucnt": session.unique_viewers,
            "max_online_ucnt": session.peak_online,
            "total_watch_duration": session.total_watch_seconds,
            "avg_watch_duration": session.total_watch_seconds // max(1, session.unique_viewers),
            "pay_amt": session.gmv_fen,
            "pay_order_cnt": session.orders,
            "gpm": math.floor(session.gmv_fen * 1000 / session.views) if session.views else 0,
        }


__all__ = ["FakeDouyin", "parse_timestamp"]
