"""Fake JD JOS gateway (京东宙斯 ``/routerjson``) and OAuth endpoints, PLATFORMS.md §2.

What a conforming client of the real API sees:

* ``GET|POST /routerjson`` with the system params in the query string and/or a form body
  (the official SDK POSTs a query string). Checked in the gateway's order: ``method`` (14
  missing, 15 unknown), ``v`` (4 missing, 5 not 2.0), ``app_key`` (9/10 [I]), ``timestamp``
  (7 missing, 8 unparseable or more than 6 minutes off), ``sign`` (11 missing, 12 wrong:
  UPPER(MD5(secret + sorted key+value + secret)) over every sent param including
  ``360buy_param_json``, md5 only), ``access_token`` (18 missing, 19 unknown or expired [I]),
  ``360buy_param_json`` (13 not a JSON object [I]). Failures answer HTTP 200
  ``{"error_response": {"code", "zh_desc", "en_desc"}}``.
* Success under ``<method with _>_responce`` (sic) with ``code: "0"``; business failures as
  ``apiResult.success=false`` + ``numberCode``/``chineseErrCode`` (orders, bills),
  ``success=false`` + ``resultCode``/``resultMessage`` (after-sales, stock) [I codes, the same
  the connector's tables name]; ``pop.order.shipment`` (ships the order in the world) as
  ``sopjosshipment_result.success=false`` + ``errorCode``/``errorMessage`` [I].
* ``pop.order.search`` and ``pop.order.get`` require ``optional_fields`` ("需返回的字段列表。
  必填，不填或者为空则请求被拒绝"): a missing or empty list is a parameter error (``10100021``),
  and an ``orderInfo`` carries only the fields asked for, so a client that forgets a field it
  reads finds out. ``dateType`` 1 searches by creation time, 0 and any other number ("其它数字
  同0") by modification time; a non-number is a parameter error.
* ``GET|POST /oauth2/access_token`` (authorization code) and ``/oauth2/refresh_token``:
  ``{"access_token", "refresh_token", "expires_in", ...}`` or ``{"code": 40x, "msg"}`` [I].

Data is rendered from the :class:`~connectors.fakes.world.FakeWorld` of the token's shop:
money as yuan strings, times as Beijing ``yyyy-MM-dd HH:mm:ss`` (orders, bills) or epoch
milliseconds (after-sales, wares, SKUs), unfinished/unpaid times as ``0001-01-01 00:00:00``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any, ClassVar

from aiohttp import web

from bangfu.enums import LineRefundState, OrderStatus, RefundStatus, SettlementKind
from bangfu.money import MoneyError, fen_to_yuan_str, parse_yuan
from connectors.fakes.protocol import jd as protocol
from connectors.fakes.protocol.jd import BEIJING, epoch_ms, parse_timestamp
from connectors.fakes.server import (
    FakeCredentials,
    FakePlatform,
    Record,
    beijing_text,
    json_response,
    missing,
    replaced,
)
from connectors.fakes.shipping import JD_CARRIERS, known_code, valid_tracking
from connectors.fakes.world import FakeItem, FakeOrder, FakeRefund, FakeSettlementLine, FakeWorld, ShipError

ZERO_TIME = "0001-01-01 00:00:00"
API_VERSION = "2.0"
TIMESTAMP_TOLERANCE = timedelta(minutes=6)  # [V:S9]
ORDER_WINDOW_MAX = timedelta(days=31)  # "1 month" [V*]
ASC_WINDOW_MAX = timedelta(days=31)  # [I]
BILL_WINDOW_MAX = timedelta(days=31)  # [I]
MODIFIED_LOOKBACK = timedelta(days=90)  # modified search: 3 months [V*]
CREATED_LOOKBACK = timedelta(days=730)  # created search: 2 years [V*]
PAGE_SIZE_MAX = 100
SKU_WARES_MAX = 20  # [I] ware ids per searchSkuList call

# (code, zh_desc, en_desc) of the gateway errors [V:S9 for 2, 4/5, 7/8, 11/12, 14/15; rest I].
GATEWAY_ERRORS: Mapping[str, tuple[str, str]] = {
    "1": ("服务不可用", "Service unavailable"),
    "2": ("开发者调用频率超过限制", "App Call Limited"),
    "4": ("缺少版本参数", "Missing version"),
    "5": ("不支持的版本号", "Unsupported version"),
    "7": ("缺少时间戳参数", "Missing timestamp"),
    "8": ("非法的时间戳参数", "Invalid timestamp"),
    "9": ("缺少app_key参数", "Missing app_key"),
    "10": ("无效的app_key", "Invalid app_key"),
    "11": ("缺少签名参数", "Missing signature"),
    "12": ("无效签名", "Invalid signature"),
    "13": ("360buy_param_json格式错误", "Invalid 360buy_param_json"),
    "14": ("缺少方法名参数", "Missing method"),
    "15": ("不存在的方法名", "Invalid method"),
    "18": ("缺少access_token参数", "Missing access_token"),
    "19": ("token已过期或者不存在，请重新授权访问", "Invalid access_token"),
}

# Business failure numberCodes / resultCodes [I], as in connectors.jd.BUSINESS_ERRORS.
BAD_PARAM = "10100021"
WINDOW_TOO_WIDE = "10100041"
OUT_OF_RANGE = "10100042"
NO_SUCH_ORDER = "10100051"
NO_SUCH_SKU = "20100001"
NO_SUCH_SERVICE = "30100001"
# [I] jingdong.pop.order.shipment refusals (sopjosshipment_result.errorCode)
ALREADY_SHIPPED = "10400001"
NOT_SHIPPABLE = "10400002"
NO_SUCH_CARRIER = "10400003"
BAD_WAYBILL = "10400004"

# Hub order status -> JD orderState (a paid order with an after-sale under way is LOCKED).
JD_STATE: Mapping[OrderStatus, tuple[str, str]] = {
    OrderStatus.PENDING_PAYMENT: ("WAIT_PAY", "等待付款"),  # [I] no documented unpaid state
    OrderStatus.CANCELLED: ("TRADE_CANCELED", "取消"),
    OrderStatus.PAID: ("WAIT_SELLER_STOCK_OUT", "等待出库"),
    OrderStatus.PART_SHIPPED: ("WAIT_SELLER_STOCK_OUT", "等待出库"),
    OrderStatus.SHIPPED: ("WAIT_GOODS_RECEIVE_CONFIRM", "等待确认收货"),
    OrderStatus.DELIVERED: ("RECEIPTS_CONFIRM", "收款确认"),
    OrderStatus.COMPLETED: ("FINISHED_L", "完成"),
    OrderStatus.CLOSED: ("TRADE_CANCELED", "取消"),
}
LOCKED = ("LOCKED", "已锁定")
KNOWN_STATES = frozenset(
    {state for state, _ in JD_STATE.values()}
    | {
        "LOCKED",
        "WAIT_SELLER_DELIVERY",
        "POP_ORDER_PAUSE",
        "PAUSE",
        "WAIT_SEND_CODE",
        "SEND_TO_DISTRIBUTION_CENER",
        "DISTRIBUTION_CENTER_RECEIVED",
    }
)

# Hub refund status -> asc serviceStatus [I codes, as connectors.jd.SERVICE_STATUS].
SERVICE_STATUS: Mapping[RefundStatus, tuple[int, str]] = {
    RefundStatus.REQUESTED: (10001, "待审核"),
    RefundStatus.AWAITING_RETURN: (10005, "待收货"),
    RefundStatus.AWAITING_CONFIRM: (10006, "待处理"),
    RefundStatus.REFUSED: (10004, "审核关闭"),
    RefundStatus.SUCCEEDED: (10010, "完成"),
    RefundStatus.CLOSED: (10009, "取消"),
}

# Hub settlement kind -> [I] bill feeType.
FEE_TYPE: Mapping[SettlementKind, tuple[str, str]] = {
    SettlementKind.SALE: ("1001", "货款"),
    SettlementKind.REFUND: ("1002", "退款"),
    SettlementKind.PLATFORM_FEE: ("2001", "平台使用费"),
    SettlementKind.HOST_COMMISSION: ("2002", "推广佣金"),
    SettlementKind.PAYMENT_FEE: ("2003", "支付手续费"),
    SettlementKind.LOGISTICS: ("3001", "运费"),
    SettlementKind.SUBSIDY: ("4001", "平台补贴"),
    SettlementKind.OTHER: ("9001", "其他"),
}


class GatewayError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class BusinessError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


def local(at: datetime | None) -> str:
    """Beijing ``yyyy-MM-dd HH:mm:ss``, or JD's zero time for "not yet"."""
    return ZERO_TIME if at is None else beijing_text(at)


def yuan(amount_fen: int) -> str:
    return fen_to_yuan_str(amount_fen)


def parse_query_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise BusinessError(BAD_PARAM, f"{name}格式错误")
    try:
        naive = datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise BusinessError(BAD_PARAM, f"{name}格式错误") from None
    return naive.replace(tzinfo=BEIJING).astimezone(UTC)


def page_args(params: Mapping[str, Any], page_key: str, size_key: str, default_size: int) -> tuple[int, int]:
    """Page (from 1) and size (1..100) as numbers or digit strings; else a parameter error."""
    page = _positive(params.get(page_key, 1), page_key)
    size = _positive(params.get(size_key, default_size), size_key)
    if size > PAGE_SIZE_MAX:
        raise BusinessError(BAD_PARAM, f"{size_key}不能超过{PAGE_SIZE_MAX}")
    return page, size


def _positive(value: Any, name: str) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise BusinessError(BAD_PARAM, f"{name}参数错误")
    return int(text)


def optional_fields(params: Mapping[str, Any]) -> frozenset[str]:
    """The ``optional_fields`` CSV of ``pop.order.search``/``pop.order.get``: "需返回的字段列表。
    必填，不填或者为空则请求被拒绝" (required; a missing or empty list is refused)."""
    value = params.get("optional_fields")
    fields = frozenset(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else None
    if not fields:
        raise BusinessError(BAD_PARAM, "optional_fields不能为空")
    return fields


#: a list record's key among the pre-rendered ones (frozen mode)
_order_key: Callable[[FakeOrder], str] = attrgetter("order_id")
_refund_key: Callable[[FakeRefund], str] = attrgetter("refund_id")


def select(record: Record, fields: frozenset[str]) -> Record:
    """Only the asked-for top-level fields (nested objects such as ``itemInfoList`` whole);
    names JD does not know are ignored [I]."""
    return {key: value for key, value in record.items() if key in fields}


def date_type(value: Any) -> str:
    """``dateType``: 1 searches by creation time; 0, a missing value and any other number
    ("其它数字同0") by modification time. A value that is not an integer is a parameter error."""
    if value is None or value == "":
        return "0"
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"[+-]?\d+", text):
        raise BusinessError(BAD_PARAM, "dateType参数错误")
    return "1" if int(text) == 1 else "0"


def window(params: Mapping[str, Any], begin_key: str, end_key: str, limit: timedelta) -> tuple[datetime, datetime]:
    """``[begin, end]`` with an inclusive end (JD's convention), at most ``limit`` wide."""
    begin = parse_query_time(params.get(begin_key), begin_key)
    end = parse_query_time(params.get(end_key), end_key)
    if end < begin:
        raise BusinessError(BAD_PARAM, f"{end_key}不能早于{begin_key}")
    if end - begin > limit:
        raise BusinessError(WINDOW_TOO_WIDE, f"查询时间跨度不能超过{limit.days}天")
    return begin, end


def _ok_api_result() -> dict[str, Any]:
    return {"success": True, "englishErrCode": "success", "chineseErrCode": "成功", "numberCode": 10100000}


def _failed_api_result(code: str, message: str) -> dict[str, Any]:
    return {"success": False, "englishErrCode": "failure", "chineseErrCode": message, "numberCode": int(code)}


class FakeJd(FakePlatform):
    """JD JOS as a conforming client sees it (see the module docstring)."""

    platform: ClassVar[str] = "jd"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ban_hint_seconds: int | None = None
        self._touches = 0
        self._window_cache: dict[tuple[str, datetime, datetime, str, int, int, int], list[FakeOrder]] = {}
        self._codes: set[str] = {self.auth_code}
        self._code_serial = 0
        # JOS has no shop parameter: the access token says which vender is calling. The first
        # shop keeps the default pair; every other shop gets its own.
        first = self.world.shop_id
        self._token_shop: dict[str, str] = {self.credentials.access_token: first}
        self._refresh_shop: dict[str, str] = {self.credentials.refresh_token: first}
        default_pair = self.tokens.current
        for shop_id in list(self.shops)[1:]:
            access, refresh = f"fake-jd-access-token-{shop_id}", f"fake-jd-refresh-token-{shop_id}"
            self.tokens.register(access, refresh)
            self._token_shop[access] = shop_id
            self._refresh_shop[refresh] = shop_id
        self.tokens.current = default_pair
        self._methods: dict[str, Callable[[FakeWorld, Mapping[str, Any]], dict[str, Any]]] = {
            "jingdong.pop.order.search": self._order_search,
            "jingdong.pop.order.get": self._order_get,
            "jingdong.asc.query.list": self._asc_list,
            "jingdong.asc.query.view": self._asc_view,
            "jingdong.ware.read.searchWare4Valid": self._ware_search,
            "jingdong.sku.read.searchSkuList": self._sku_search,
            "jingdong.stock.write.updateSkuStock": self._stock_update,
            "jingdong.price.write.updateSkuJdPrice": self._price_update,
            "jingdong.pop.bill.detail.query": self._bill_detail,
            "jingdong.vender.shop.query": self._shop_query,
            "jingdong.pop.order.shipment": self._order_shipment,
        }

    # ----------------------------------------------------------------- hooks

    @classmethod
    def default_credentials(cls, shop_id: str) -> FakeCredentials:
        return FakeCredentials(
            app_key="fake-jd-app-key",
            app_secret="fake-secret-not-real",
            shop_id=shop_id,
            access_token="fake-jd-access-token",
            refresh_token="fake-jd-refresh-token",
        )

    @property
    def auth_code(self) -> str:
        """The authorisation code ``to_login`` would have handed out (single use)."""
        return "fake-jd-auth-code"

    def new_auth_code(self) -> str:
        """Another single-use authorisation code (tests of the code exchange)."""
        self._code_serial += 1
        code = f"fake-jd-auth-code-{self._code_serial:04d}"
        self._codes.add(code)
        return code

    def credential_fields(self) -> dict[str, str]:
        creds = self.credentials
        return {
            "app_key": creds.app_key,
            "app_secret": creds.app_secret,
            "access_token": creds.access_token,
            "refresh_token": creds.refresh_token,
            "shop_id": creds.shop_id,  # JD's vender_id
            # informational (":" keeps it out of a shop's config): a code for /oauth2/access_token
            "oauth:code": self.auth_code,
            # each other shop's tokens, as "<name>:<shop id>"
            **{
                f"{name}:{shop_id}": f"fake-jd-{name.replace('_', '-')}-{shop_id}"
                for shop_id in list(self.shops)[1:]
                for name in ("access_token", "refresh_token")
            },
        }

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/routerjson", self._gateway)
        app.router.add_route("*", "/oauth2/access_token", self._oauth_access_token)
        app.router.add_route("*", "/oauth2/refresh_token", self._oauth_refresh_token)

    def rate_limit_response(self, request: web.Request) -> web.StreamResponse:
        """Flow control: code 2 "App Call Limited".

        [I] No source shows JOS naming a wait (PLATFORMS.md §7 lists ban hints for TOP, Douyin
        and Kuaishou only), so by default there is none and clients back off on their own. Set
        ``ban_hint_seconds`` to have the message ask for a wait ("请N秒后重试").
        """
        if self.ban_hint_seconds is None:
            return self._error("2")
        zh, en = GATEWAY_ERRORS["2"]
        zh = f"{zh}，请{self.ban_hint_seconds}秒后重试"
        return _json({"error_response": {"code": "2", "zh_desc": zh, "en_desc": en}})

    # ----------------------------------------------------------------- envelopes

    @staticmethod
    def _error(code: str) -> web.Response:
        zh, en = GATEWAY_ERRORS[code]
        return _json({"error_response": {"code": code, "zh_desc": zh, "en_desc": en}})

    @staticmethod
    async def _params(request: web.Request) -> dict[str, str]:
        params = {k: v for k, v in request.query.items()}
        if request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        return params

    # ----------------------------------------------------------------- the gateway

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "POST"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
        params = await self._params(request)
        try:
            handler = self._check_system_params(params)
            business = self._business(params)
        except GatewayError as exc:
            return self._error(exc.code)
        method = params["method"]
        key = method.replace(".", "_") + "_responce"
        world = self.shops[self._token_shop.get(params.get("access_token", ""), self.world.shop_id)]
        try:
            payload = handler(world, business)
        except BusinessError as exc:
            payload = self._business_failure(method, exc)
        return _json({key: {"code": "0", **payload}})

    def _check_system_params(
        self, params: Mapping[str, str]
    ) -> Callable[[FakeWorld, Mapping[str, Any]], dict[str, Any]]:
        method = params.get("method", "")
        if not method:
            raise GatewayError("14")
        handler = self._methods.get(method)
        if handler is None:
            raise GatewayError("15")
        version = params.get("v", "")
        if not version:
            raise GatewayError("4")
        if version != API_VERSION:
            raise GatewayError("5")
        app_key = params.get("app_key", "")
        if not app_key:
            raise GatewayError("9")
        if app_key != self.credentials.app_key:
            raise GatewayError("10")
        stamp = params.get("timestamp", "")
        if not stamp:
            raise GatewayError("7")
        sent_at = parse_timestamp(stamp)
        if sent_at is None or abs(sent_at - self.clock.wall_now()) > TIMESTAMP_TOLERANCE:
            raise GatewayError("8")
        if not params.get("sign"):
            raise GatewayError("11")
        if not protocol.verify(params, self.credentials.app_secret):
            raise GatewayError("12")
        token = params.get("access_token", "")
        if not token:
            raise GatewayError("18")
        if not self.tokens.is_valid(token):
            raise GatewayError("19")
        return handler

    @staticmethod
    def _business(params: Mapping[str, str]) -> dict[str, Any]:
        text = params.get("360buy_param_json", "")
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            raise GatewayError("13") from None
        if not isinstance(value, dict):
            raise GatewayError("13")
        return value

    @staticmethod
    def _business_failure(method: str, exc: BusinessError) -> dict[str, Any]:
        """Each API family reports a business failure in its own container."""
        if method == "jingdong.pop.order.search":
            return {"searchorderinfo_result": {"apiResult": _failed_api_result(exc.code, exc.message)}}
        if method == "jingdong.pop.order.get":
            return {"orderDetailInfo": {"apiResult": _failed_api_result(exc.code, exc.message)}}
        if method == "jingdong.pop.bill.detail.query":
            return {"billResult": {"apiResult": _failed_api_result(exc.code, exc.message)}}
        if method == "jingdong.pop.order.shipment":
            return {"sopjosshipment_result": {"success": False, "errorCode": exc.code, "errorMessage": exc.message}}
        failed = {"success": False, "resultCode": exc.code, "resultMessage": exc.message}
        if method == "jingdong.asc.query.list":
            return {"pageResult": failed}
        if method == "jingdong.asc.query.view":
            return {"result": failed}
        return failed

    # ----------------------------------------------------------------- orders

    def _order_state(self, order: FakeOrder) -> tuple[str, str]:
        if order.status is OrderStatus.PAID and any(
            line.refund_state is LineRefundState.IN_PROGRESS for line in order.lines
        ):
            return LOCKED
        return JD_STATE[order.status]

    def render_order(self, order: FakeOrder) -> Record:
        state, remark = self._order_state(order)
        ended = order.finished_at or order.closed_at or order.cancelled_at
        record: Record = {
            "orderId": order.order_id,
            "venderId": order.shop_id,
            "orderType": "22",  # SOP
            "payType": "4-在线支付",
            "orderTotalPrice": yuan(order.total_fen),
            "orderSellerPrice": yuan(order.total_fen - order.discount_fen),
            "orderPayment": yuan(order.paid_fen),
            "freightPrice": yuan(order.post_fee_fen),
            "sellerDiscount": yuan(order.discount_fen),
            "balanceUsed": "0.00",
            "orderState": state,
            "orderStateRemark": remark,
            "orderStartTime": local(order.created_at),
            "orderEndTime": local(ended),
            "paymentConfirmTime": local(order.paid_at),
            "modified": local(order.modified_at),
            "pin": order.buyer_id,
            # TDE-encrypted on the real platform: the fake only ever shows masked values.
            "consigneeInfo": {
                "fullname": "*" * 3,
                "mobile": "138****0000",
                "telephone": "",
                "fullAddress": "四川省甘孜藏族自治州康定市***",
                "province": "四川",
                "city": "甘孜藏族自治州",
                "county": "康定市",
            },
            "itemInfoList": [
                {
                    "skuId": line.sku_id,
                    "outerSkuId": line.sku_code,
                    "skuName": f"{line.title} {line.spec}".strip(),
                    "wareId": line.item_id,
                    "jdPrice": yuan(line.unit_price_fen),
                    "itemTotal": str(line.quantity),
                    "productNo": line.spu_code,
                    "giftPoint": "0",
                    "newStoreId": "0",
                }
                for line in order.lines
            ],
            "couponDetailList": (
                [
                    {
                        "orderId": order.order_id,
                        "skuId": None,
                        "couponType": "20-套装优惠",
                        "couponPrice": yuan(order.discount_fen),
                    }
                ]
                if order.discount_fen
                else []
            ),
            "orderRemark": "",
            "venderRemark": "",
            "waybill": order.tracking_no or "",
            "logisticsId": order.logistics_company or "",
            "orderSource": "移动端订单",
            "storeOrder": "",
            "parentOrderId": "0",
        }
        return record

    @staticmethod
    def _order_corruptor(order_id: str) -> Callable[[Record], Record]:
        choice = int(order_id) % 3
        if choice == 0:
            return missing("orderPayment")
        if choice == 1:
            return replaced(orderPayment="12.3.4")
        return missing("itemInfoList")

    def _order_search(self, world: FakeWorld, params: Mapping[str, Any]) -> dict[str, Any]:
        wrapped = params.get("paramOrderJSFQuery")  # the 2026-08 doc's container [V*]
        query: Mapping[str, Any] = wrapped if isinstance(wrapped, Mapping) else params
        fields = optional_fields(query)
        begin, end = window(query, "start_date", "end_date", ORDER_WINDOW_MAX)
        page, size = page_args(query, "page", "page_size", PAGE_SIZE_MAX)
        by = date_type(query.get("dateType"))
        now = world.now()
        lookback = MODIFIED_LOOKBACK if by == "0" else CREATED_LOOKBACK
        if begin < now - lookback:
            raise BusinessError(OUT_OF_RANGE, f"只能查询{lookback.days}天内的订单")
        states_text = str(query.get("order_state") or "")
        states = {s.strip() for s in states_text.split(",") if s.strip()}
        if not states or not states <= KNOWN_STATES:
            raise BusinessError(BAD_PARAM, "order_state参数错误")
        stop = end + timedelta(seconds=1)  # end_date is inclusive
        found = self._window_orders(world, begin, stop, by)
        orders = [order for order in found if self._order_state(order)[0] in states]
        if str(query.get("sortType", "")) == "1":
            orders.reverse()
        total = len(orders)
        rows = self.page_slice(orders, page, size)
        if self.touch_during_paging(world, [order.order_id for order in orders], page) is not None:
            self._touches += 1
        rendered = self.frozen_records(
            world,
            ("order", fields),
            rows,
            _order_key,
            lambda order: select(
                self.maybe_malform(
                    f"order:{order.order_id}", self.render_order(order), self._order_corruptor(order.order_id)
                ),
                fields,
            ),
            source="orders",
        )
        return {
            "searchorderinfo_result": {
                "apiResult": _ok_api_result(),
                "orderInfoList": rendered,
                "orderTotal": total,
            }
        }

    def _window_orders(self, world: FakeWorld, begin: datetime, stop: datetime, date_type: str) -> list[FakeOrder]:
        """The window's orders, cached while nothing can have changed them: the world is a
        pure function of its clock, the touches (which only this fake makes) and the orders
        placed by buyers (``/_fake/buy``), so paging through one window does not rebuild
        every order for every page."""
        now = int(world.now().timestamp())
        key = (world.shop_id, begin, stop, date_type, now, self._touches, world.placed_count)
        cached = self._window_cache.get(key)
        if cached is None:
            cached = world.orders_modified(begin, stop) if date_type == "0" else world.orders_created(begin, stop)
            if len(self._window_cache) >= max(8, self.window_cache_size):
                self._window_cache.pop(next(iter(self._window_cache)))
            self._window_cache[key] = cached
        return cached

    def _order_get(self, world: FakeWorld, params: Mapping[str, Any]) -> dict[str, Any]:
        order_id = str(params.get("order_id") or "").strip()
        if not order_id.isdigit():
            raise BusinessError(BAD_PARAM, "order_id参数错误")
        fields = optional_fields(params)
        order = world.order(order_id)
        if order is None:
            raise BusinessError(NO_SUCH_ORDER, "订单不存在")
        info = select(self.render_order(order), fields)
        return {"orderDetailInfo": {"apiResult": _ok_api_result(), "orderInfo": info}}

    # ----------------------------------------------------------------- after-sales

    def _check_bu(self, world: FakeWorld, params: Mapping[str, Any]) -> None:
        if str(params.get("buId") or "") != world.shop_id:
            raise BusinessError(BAD_PARAM, "buId参数错误")

    def render_refund(self, world: FakeWorld, refund: FakeRefund) -> Record:
        code, name = SERVICE_STATUS[refund.status]
        order = world.order(refund.order_id)
        title = (
            next((line.title for line in order.lines if line.line_id == refund.line_id), refund.sku_code)
            if order is not None
            else refund.sku_code
        )
        expect, expect_name = (10, "退货") if refund.with_return else (11, "仅退款")
        return {
            "serviceId": int(refund.refund_id),
            "applyId": int(refund.refund_id),
            "orderId": int(refund.order_id),
            "orderType": 22,
            "skuId": int(refund.sku_id),
            "wareName": title,
            "serviceStatus": code,
            "serviceStatusName": name,
            "customerExpect": expect,
            "customerExpectName": expect_name,
            "customerPin": order.buyer_id if order is not None else "",
            "serviceCount": refund.quantity if refund.quantity is not None else 1,
            "actualPayPrice": yuan(refund.line_paid_fen),
            "refundAmount": yuan(refund.amount_fen),  # [I] see connectors.jd.parse_refund
            "questionDesc": refund.reason,
            "applyTime": epoch_ms(refund.created_at),
            "updateDate": epoch_ms(refund.modified_at),
        }

    @staticmethod
    def _refund_corruptor(refund_id: str) -> Callable[[Record], Record]:
        return missing("refundAmount") if int(refund_id) % 2 else replaced(serviceStatus="??")

    def _asc_list(self, world: FakeWorld, params: Mapping[str, Any]) -> dict[str, Any]:
        self._check_bu(world, params)
        begin, end = window(params, "updateTimeBegin", "updateTimeEnd", ASC_WINDOW_MAX)
        page, size = page_args(params, "pageNumber", "pageSize", 10)
        refunds = self.refunds_modified(world, begin, end + timedelta(seconds=1))
        rows = self.page_slice(refunds, page, size)
        data = self._refunds_out(world, rows)
        return {
            "pageResult": {
                "success": True,
                "resultCode": "0",
                "resultMessage": "",
                "totalCount": len(refunds),
                "pageNumber": page,
                "pageSize": size,
                "data": data,
            }
        }

    def _refunds_out(self, world: FakeWorld, refunds: Sequence[FakeRefund]) -> list[Any]:
        """The after-sale list's records (pre-rendered in frozen mode)."""
        return self.frozen_records(
            world,
            "refund",
            refunds,
            _refund_key,
            lambda refund: self.maybe_malform(
                f"refund:{refund.refund_id}",
                self.render_refund(world, refund),
                self._refund_corruptor(refund.refund_id),
            ),
            source="refunds",
        )

    def prerender_world(self, world: FakeWorld) -> int:
        # Orders are rendered with the optional_fields a client asks for: on its first request.
        self._refunds_out(world, [])
        return self.frozen_count(world, "refund")

    def _asc_view(self, world: FakeWorld, params: Mapping[str, Any]) -> dict[str, Any]:
        self._check_bu(world, params)
        service_id = str(params.get("serviceId") or "").strip()
        refund = world.refund(service_id) if service_id.isdigit() else None
        if refund is None:
            raise BusinessError(NO_SUCH_SERVICE, "服务单不存在")
        return {"result": {"success": True, "resultCode": "0", "data": self.render_refund(world, refund)}}

    # ----------------------------------------------------------------- wares, SKUs, stock

    @staticmethod
    def render_ware(item: FakeItem) -> Record:
        return {
            "wareId": int(item.item_id),
            "title": item.title,
            "wareStatus": 8 if item.on_sale else 2,
            "jdPrice": yuan(item.price_fen),
            "outerId": item.spu_code,
            "itemNum": item.spu_code,
            "stockNum": item.stock,
            "categoryId": 12218,  # 生鲜
            "created": epoch_ms(item.created_at),
            "modified": epoch_ms(item.modified_at),
        }

    @staticmethod
    def render_skus(item: FakeItem) -> list[Record]:
        return [
            {
                "skuId": int(sku.sku_id),
                "wareId": int(item.item_id),
                "skuName": f"{item.title} {sku.spec}".strip(),
                "jdPrice": yuan(sku.price_fen),
                "outerId": sku.sku_code,
                "stockNum": sku.stock,
                "status": 1 if item.on_sale else 2,
                "saleAttrs": [{"attrId": "1000", "attrValues": ["1"], "attrValueAlias": [sku.spec]}],
                "modified": epoch_ms(sku.modified_at),
            }
            for sku in item.skus
        ]

    @staticmethod
    def _csv_ids(value: Any, name: str) -> list[str]:
        ids = [part.strip() for part in str(value or "").split(",") if part.strip()]
        if not all(part.isdigit() for part in ids):
            raise BusinessError(BAD_PARAM, f"{name}参数错误")
        return ids

    def _ware_search(self, world: FakeWorld, params: Mapping[str, Any]) -> dict[str, Any]:
        page, size = page_args(params, "pageNo", "pageSize", 20)
        items = world.products()
        statuses = self._csv_ids(params.get("wareStatusValue"), "wareStatusValue")
        if statuses:
            items = [item for item in items if str(8 if item.on_sale else 2) in statuses]
        ware_ids = set(self._csv_ids(params.get("wareId"), "wareId"))
        if ware_ids:
            items = [item for item in items if item.item_id in ware_ids]
        rows = self.page_slice(items, page, size)
        return {
            "page": {
                "data": [self.render_ware(item) for item in rows],
                "totalItem": len(items),
                "pageNo": page,
                "pageSize": size,
            }
        }

    def _sku_search(self, world: FakeWorld, params: Mapping[str, Any]) -> dict[str, Any]:
        ware_ids = self._csv_ids(params.get("wareId"), "wareId")
        sku_ids = set(self._csv_ids(params.get("skuId"), "skuId"))
        if not ware_ids and not sku_ids:
            raise BusinessError(BAD_PARAM, "wareId和skuId不能同时为空")
        if len(ware_ids) > SKU_WARES_MAX:
            raise BusinessError(BAD_PARAM, f"wareId最多{SKU_WARES_MAX}个")
        page, size = page_args(params, "pageNo", "pageSize", 20)
        skus: list[Record] = []
        wanted = set(ware_ids)
        for item in world.products():
            if wanted and item.item_id not in wanted:
                continue
            skus.extend(sku for sku in self.render_skus(item) if not sku_ids or str(sku["skuId"]) in sku_ids)
        rows = self.page_slice(skus, page, size)
        return {"page": {"data": rows, "totalItem": len(skus), "pageNo": page, "pageSize": size}}

    def _stock_update(self, world: FakeWorld, params: Mapping[str, Any]) -> dict[str, Any]:
        sku_id = str(params.get("skuId") or "").strip()
        stock_text = str(params.get("stockNum", "")).strip()
        if not stock_text.isdigit():
            raise BusinessError(BAD_PARAM, "stockNum参数错误")
        for item in world.products():
            if any(sku.sku_id == sku_id for sku in item.skus):
                world.set_stock(item.item_id, sku_id, int(stock_text))
                return {"success": True}
        raise BusinessError(NO_SUCH_SKU, "SKU不存在")

    def _price_update(self, world: FakeWorld, params: Mapping[str, Any]) -> dict[str, Any]:
        """jingdong.price.write.updateSkuJdPrice [I]: ``skuId`` and ``jdPrice`` (yuan, 2 decimals)."""
        sku_id = str(params.get("skuId") or "").strip()
        text = str(params.get("jdPrice", "")).strip()
        if not sku_id:
            raise BusinessError(BAD_PARAM, "skuId不能为空")
        try:
            price = parse_yuan(text, max_fen=100_000_000 * 100)
        except MoneyError:
            raise BusinessError(BAD_PARAM, f"jdPrice参数错误:{text}") from None
        if price <= 0:
            raise BusinessError(BAD_PARAM, "jdPrice必须大于0")
        for item in world.products():
            if any(sku.sku_id == sku_id for sku in item.skus):
                world.set_price(item.item_id, sku_id, price)
                return {"success": True}
        raise BusinessError(NO_SUCH_SKU, "SKU不存在")

    # ----------------------------------------------------------------- shipping

    def _order_shipment(self, world: FakeWorld, params: Mapping[str, Any]) -> dict[str, Any]:
        """jingdong.pop.order.shipment (SOP 出库): ``orderId``, ``logiCoprId`` (JD's carrier id)
        and ``logiNo`` (the tracking number); answers ``sopjosshipment_result.success``. A
        refusal is ``success: false`` with an ``errorCode`` [I codes]: 10400001 already shipped,
        10400002 not shippable (cancelled, refunding, locked), 10400003 unknown carrier,
        10400004 bad tracking number, 10100051 no such order."""
        order_id = str(params.get("orderId") or "").strip()
        carrier = str(params.get("logiCoprId") or "").strip()
        waybill = str(params.get("logiNo") or "").strip()
        if not order_id or not carrier or not waybill:
            raise BusinessError(BAD_PARAM, "orderId、logiCoprId、logiNo不能为空")
        if not known_code(JD_CARRIERS, carrier):
            raise BusinessError(NO_SUCH_CARRIER, f"物流公司{carrier}不存在")
        if not valid_tracking(waybill):
            raise BusinessError(BAD_WAYBILL, f"运单号{waybill}格式错误")
        try:
            world.ship(order_id, carrier, waybill)
        except ShipError as exc:
            if exc.reason == "not_found":
                raise BusinessError(NO_SUCH_ORDER, "订单不存在") from None
            if exc.reason == "shipped":
                raise BusinessError(ALREADY_SHIPPED, "订单已出库") from None
            raise BusinessError(NOT_SHIPPABLE, f"订单当前状态不允许出库: {exc}") from None
        return {"sopjosshipment_result": {"success": True, "errorCode": "", "errorMessage": ""}}

    # ----------------------------------------------------------------- settlement bills [I]

    @staticmethod
    def render_bill(line: FakeSettlementLine) -> Record:
        fee_type, fee_name = FEE_TYPE[line.kind]
        return {
            "billId": line.bill_id,
            "orderId": line.order_id,
            "skuId": line.sku_id or "",
            "wareId": line.item_id or "",
            "feeType": fee_type,
            "feeTypeName": fee_name,
            "amount": yuan(line.amount_fen),
            "rate": f"{line.rate_bp / 100:.2f}%" if line.rate_bp is not None else "",
            "settleTime": local(line.settled_at),
            "refundId": line.refund_id or "",
        }

    def _bill_detail(self, world: FakeWorld, params: Mapping[str, Any]) -> dict[str, Any]:
        begin, end = window(params, "startTime", "endTime", BILL_WINDOW_MAX)
        page, size = page_args(params, "pageNo", "pageSize", 20)
        lines = world.settlements(begin, end + timedelta(seconds=1))
        rows = self.page_slice(lines, page, size)
        return {
            "billResult": {
                "apiResult": _ok_api_result(),
                "totalCount": len(lines),
                "billDetailList": [self.render_bill(line) for line in rows],
            }
        }

    def _shop_query(self, world: FakeWorld, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "shop_jos_result": {
                "vender_id": world.shop_id,
                "shop_id": world.shop_id,
                "shop_name": "甘孜消费帮扶京东专营店",
            }
        }

    # ----------------------------------------------------------------- OAuth [I envelopes]

    def _token_answer(self, access: str, refresh: str, expires_in: int) -> web.Response:
        return _json(
            {
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": expires_in,
                "scope": "snsapi_base",
                "token_type": "bearer",
                "open_id": f"fake-jd-open-{self.world.shop_id}",
                "uid": self.world.shop_id,
                "time": epoch_ms(self.clock.now()),
                "code": 0,
            }
        )

    async def _oauth_params(self, request: web.Request) -> dict[str, str] | web.Response:
        if request.method not in ("GET", "POST"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
        params = await self._params(request)
        if params.get("app_key") != self.credentials.app_key or params.get("app_secret") != self.credentials.app_secret:
            return _json({"code": 401, "msg": "app_key或app_secret错误"})
        return params

    async def _oauth_access_token(self, request: web.Request) -> web.StreamResponse:
        params = await self._oauth_params(request)
        if isinstance(params, web.Response):
            return params
        if params.get("grant_type") != "authorization_code":
            return _json({"code": 400, "msg": "grant_type错误"})
        code = params.get("code", "")
        if code not in self._codes:
            return _json({"code": 402, "msg": "code无效或已使用"})
        self._codes.discard(code)
        issued = self.tokens.issue()
        return self._token_answer(issued.access_token, issued.refresh_token, issued.expires_in(self.clock.now()))

    async def _oauth_refresh_token(self, request: web.Request) -> web.StreamResponse:
        params = await self._oauth_params(request)
        if isinstance(params, web.Response):
            return params
        if params.get("grant_type") != "refresh_token":
            return _json({"code": 400, "msg": "grant_type错误"})
        old = params.get("refresh_token", "")
        issued = self.tokens.refresh(old)
        if issued is None:
            return _json({"code": 403, "msg": "refresh_token无效或已过期"})
        shop_id = self._refresh_shop.pop(old, self.world.shop_id)
        self._token_shop[issued.access_token] = shop_id
        self._refresh_shop[issued.refresh_token] = shop_id
        return self._token_answer(issued.access_token, issued.refresh_token, issued.expires_in(self.clock.now()))


def _json(payload: Mapping[str, Any]) -> web.Response:
    return json_response(payload)


__all__ = ["FakeJd", "parse_timestamp"]
