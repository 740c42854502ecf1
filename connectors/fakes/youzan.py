"""Fake Youzan (有赞云) gateway, PLATFORMS.md §5 and §8, rendering :class:`FakeWorld` shops.

What a client of the real gateway meets here:

* ``POST /auth/token`` (JSON only) with ``authorize_type`` ``silent`` (``client_id``,
  ``client_secret``, ``grant_id`` = kdt_id, ``refresh``) or ``refresh_token``. Answers
  ``{"success": true, "code": 200, "data": {"access_token", "expires" (epoch ms),
  "refresh_token", "scope", "authority_id"}, "message": null}``; refusals use the same shape
  with ``success: false`` and codes 1000 (secret or content type), 1004 (refresh token spent or
  expired [I]), 1103 (unknown client, no authorisation), 1105 (authorisation code on a
  self-use app). ``refresh: true`` mints a new token and retires the old one at once (the docs
  contradict each other on a one-hour grace; we take the strict reading [I]); ``refresh:
  false`` returns the current token while it is valid.
* ``/api/{name}/{version}?access_token=...`` with the gateway's own checks, in the order the
  public probes showed: path (4001) and API (4005) before content type (4007), body (4004) and
  token (4201 missing, 4203 unknown, 4202 expired). A token in a header or in the body is not a
  token. Gateway refusals are HTTP 200 ``{"gw_err_resp": {"err_code", "err_msg", "trace_id"}}``;
  business errors ``{"code", "success": false, "message", "data": null, "trace_id"}``; success
  ``{"code": 200, "success": true, "message": "successful", "data", "trace_id"}``.
* Rate limit: ``gw_err_resp`` 4101 "请求太频繁" with no ban hint [I: the docs name the code but
  give no complete answer and no hint].

APIs served (see :data:`APIS`): trades.sold.get 4.0.4 (``start_update``/``end_update`` or
``start_created``/``end_created``, inclusive, span <= 3 months, ``page_no`` <= 100,
``page_size`` <= 100, sorted by the time filtered on, ascending [I]), trade.get 4.0.2,
trade.refund.search 3.0.1 (epoch-second windows, ``page_no`` <= 100, ``page_no * page_size``
<= 3000), trade.refund.get 3.0.1, items.onsale.get / items.inventory.get / item.get 3.0.0
(prices in fen), item.quantity.update 3.0.0, and our assumed settlement API
trade.settlement.bill.search 1.0.0 [I] (settle-time window <= 31 days), and
logistics.online.confirm 3.0.0 (ships the order in the world).

Order money is yuan strings; ``orders[].payment`` includes the line's share of the post fee so
that Σ orders.payment = pay_info.payment, as the docs' worked example has it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any, ClassVar

from aiohttp import web

from bangfu.enums import LineRefundState, OrderStatus, RefundStatus, SettlementKind
from bangfu.money import fen_to_yuan_str, split_largest_remainder
from connectors.fakes.server import FakeCredentials, FakePlatform, IssuedToken, Record, beijing_text, json_response
from connectors.fakes.shipping import YOUZAN_CARRIERS, known_code, valid_tracking
from connectors.fakes.world import (
    SHANGHAI,
    FakeItem,
    FakeOrder,
    FakeRefund,
    FakeSettlementLine,
    FakeWorld,
    ShipError,
    StockError,
)

LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_ORDER_SPAN = timedelta(days=92)  # "跨度 ≤ 3 个月" [I: 92 days covers any three months]
MAX_BILL_SPAN = timedelta(days=31)  # [I] our assumed bill API
MAX_PAGE_SIZE = 100
MAX_PAGE_NO = 100
REFUND_MAX_DEPTH = 3000
DEFAULT_LOOKBACK = timedelta(days=90)  # no time filter: the last three months [I]

ORDER_STATUS: Mapping[OrderStatus, str] = {
    OrderStatus.PENDING_PAYMENT: "WAIT_BUYER_PAY",
    OrderStatus.CANCELLED: "TRADE_CLOSED",
    OrderStatus.PAID: "WAIT_SELLER_SEND_GOODS",
    OrderStatus.PART_SHIPPED: "WAIT_SELLER_SEND_GOODS",  # Youzan has no part-shipped state
    OrderStatus.SHIPPED: "WAIT_BUYER_CONFIRM_GOODS",
    OrderStatus.DELIVERED: "WAIT_BUYER_CONFIRM_GOODS",
    OrderStatus.COMPLETED: "TRADE_SUCCESS",
    OrderStatus.CLOSED: "TRADE_CLOSED",
}
STATUS_STR: Mapping[str, str] = {
    "WAIT_BUYER_PAY": "待付款",
    "WAIT_SELLER_SEND_GOODS": "待发货",
    "WAIT_BUYER_CONFIRM_GOODS": "已发货",
    "TRADE_SUCCESS": "已完成",
    "TRADE_CLOSED": "已关闭",
}
REFUND_STATUS: Mapping[RefundStatus, str] = {
    RefundStatus.REQUESTED: "WAIT_SELLER_AGREE",
    RefundStatus.AWAITING_RETURN: "WAIT_BUYER_RETURN_GOODS",
    RefundStatus.AWAITING_CONFIRM: "WAIT_SELLER_CONFIRM_GOODS",
    RefundStatus.REFUSED: "SELLER_REFUSE_BUYER",
    RefundStatus.SUCCEEDED: "SUCCESS",
    RefundStatus.CLOSED: "CLOSED",
}
# trade.get refund_order[].refund_state; [I] 50 closed and 60 succeeded.
REFUND_ORDER_STATE: Mapping[RefundStatus, int] = {
    RefundStatus.REQUESTED: 1,
    RefundStatus.REFUSED: 10,
    RefundStatus.AWAITING_RETURN: 20,
    RefundStatus.AWAITING_CONFIRM: 30,
    RefundStatus.CLOSED: 50,
    RefundStatus.SUCCEEDED: 60,
}
# [I] refund reason codes (Youzan uses an integer enum).
REFUND_REASON_CODE: Mapping[str, int] = {
    "质量问题": 11,
    "不想要了": 12,
    "拍错了/多拍了": 12,
    "商品破损": 13,
    "未按约定时间发货": 14,
}
BILL_TYPE: Mapping[SettlementKind, str] = {
    SettlementKind.SALE: "SALE",
    SettlementKind.REFUND: "REFUND",
    SettlementKind.PLATFORM_FEE: "PLATFORM_FEE",
    SettlementKind.HOST_COMMISSION: "COMMISSION",
    SettlementKind.PAYMENT_FEE: "PAY_FEE",
    SettlementKind.LOGISTICS: "LOGISTICS",
    SettlementKind.SUBSIDY: "SUBSIDY",
    SettlementKind.OTHER: "OTHER",
}

_JSON = "application/json"


def _json(data: Any) -> web.Response:
    """A JSON answer with Chinese text as UTF-8 (as the real gateway sends it), not escapes."""
    return json_response(data)


_ACCEPTED_CONTENT = (_JSON, "application/x-www-form-urlencoded", "multipart/form-data")


class BizError(Exception):
    """A business-layer refusal: ``{"code", "success": false, "message"}``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class GatewayError(Exception):
    """A gateway refusal: ``{"gw_err_resp": {"err_code", "err_msg"}}``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- rendering (pure) ----------------------------------------------------------------------------


def local(dt: datetime | None) -> str:
    """Beijing-time text, ``""`` for no time (Youzan's empty time fields)."""
    return beijing_text(dt) if dt is not None else ""


def parse_local_param(value: Any, name: str) -> datetime:
    """A ``yyyy-MM-dd HH:mm:ss`` parameter; anything else is the gateway's 5001 (FAQ 33694)."""
    if not isinstance(value, str):
        raise GatewayError(5001, f"系统异常: {name} 类型错误")
    try:
        naive = datetime.strptime(value.strip(), LOCAL_FORMAT)
    except ValueError:
        raise GatewayError(5001, f"系统异常: {name} 格式错误") from None
    return naive.replace(tzinfo=SHANGHAI).astimezone(UTC)


def tid_of(order_id: str) -> str:
    """Youzan order numbers start with ``E``."""
    return f"E{order_id}"


def order_id_of(tid: str) -> str | None:
    return tid[1:] if tid.startswith("E") and tid[1:].isdigit() else None


def open_id(buyer_id: str) -> str:
    """A stable fake ``yz_open_id`` for a world buyer."""
    return "yz" + hashlib.sha256(f"youzan-open-id:{buyer_id}".encode()).hexdigest()[:22]


def order_refund_state(order: FakeOrder) -> int:
    """Order-level ``refund_state``: 0 none, 1/2 partial refunding/refunded, 11/12 full."""
    states = [line.refund_state for line in order.lines]
    if LineRefundState.IN_PROGRESS in states:
        full = len(order.lines) == 1 and any(r.amount_fen >= r.line_paid_fen for r in order.refunds)
        return 11 if full else 1
    if all(state is LineRefundState.FULL for state in states):
        return 12
    if any(state in (LineRefundState.FULL, LineRefundState.PARTIAL) for state in states):
        return 2
    return 0


def render_order(order: FakeOrder, kdt_id: str) -> Record:
    """A ``full_order_info`` object (trades.sold.get 4.0.4 / trade.get 4.0.2)."""
    status = ORDER_STATUS[order.status]
    # [I] the post fee is spread over the lines' payments in proportion to their total_fee.
    weights = {line.line_id: line.total_fen for line in order.lines}
    if not order.post_fee_fen:
        post_shares = dict.fromkeys(weights, 0)
    elif sum(weights.values()) > 0:
        post_shares = split_largest_remainder(order.post_fee_fen, weights)
    else:
        post_shares = split_largest_remainder(
            order.post_fee_fen, dict.fromkeys(weights, 0), leftover_to=order.lines[0].line_id
        )
    original_total = sum(line.price_fen * line.quantity for line in order.lines)
    closed = order.status in (OrderStatus.CANCELLED, OrderStatus.CLOSED)
    return {
        "order_info": {
            "tid": tid_of(order.order_id),
            "status": status,
            "status_str": STATUS_STR[status],
            "type": 0,
            "created": local(order.created_at),
            "update_time": local(order.modified_at),
            "pay_time": local(order.paid_at),
            "consign_time": local(order.shipped_at),
            "success_time": local(order.finished_at),
            "expired_time": local(order.created_at + timedelta(minutes=30)),
            "pay_type": "WEIXIN_DAIXIAO" if order.is_paid else "",
            "pay_type_str": "微信支付" if order.is_paid else "",
            "close_type": (1 if order.status is OrderStatus.CANCELLED else 2) if closed else 0,
            "express_type": 0,
            "refund_state": order_refund_state(order),
            "order_tags": {
                "is_payed": order.is_paid,
                "is_refund": bool(order.refunds),
                "is_secured_transactions": order.is_paid,
            },
            "node_kdt_id": int(kdt_id),
        },
        "source_info": {
            "is_offline_order": False,
            "order_mark": "wx_shop",
            "source": {"platform": "wx", "wx_entrance": "direct_buy"},
        },
        "buyer_info": {"yz_open_id": open_id(order.buyer_id), "buyer_phone": ""},
        "pay_info": {
            "total_fee": fen_to_yuan_str(original_total),
            "post_fee": fen_to_yuan_str(order.post_fee_fen),
            "payment": fen_to_yuan_str(order.paid_fen),
            "real_payment": fen_to_yuan_str(order.paid_fen if order.is_paid else 0),
            "deduction_pay": 0,  # fen, as on the real API (gift/stored-value cards)
            "transaction": [],
            "outer_transactions": [],
        },
        "remark_info": {"buyer_message": "", "trade_memo": "", "star": 0},
        "orders": [
            {
                "oid": line.line_id,
                "item_id": int(line.item_id),
                "sku_id": int(line.sku_id),
                "outer_item_id": line.spu_code,
                "outer_sku_id": line.sku_code,
                "title": line.title,
                "num": line.quantity,
                "price": fen_to_yuan_str(line.price_fen),
                "discount_price": fen_to_yuan_str(line.unit_price_fen),
                "total_fee": fen_to_yuan_str(line.total_fen),
                "payment": fen_to_yuan_str(line.paid_fen + post_shares[line.line_id]),
                "sku_properties_name": json.dumps([{"k": "规格", "v": line.spec}], ensure_ascii=False),
                "item_type": 0,
                "is_present": False,
            }
            for line in order.lines
        ],
    }


def render_trade_detail(order: FakeOrder, kdt_id: str) -> Record:
    """trade.get 4.0.2 ``data``: the order plus refunds, deliveries and promotions."""
    line_total = sum(line.total_fen for line in order.lines)
    original_total = sum(line.price_fen * line.quantity for line in order.lines)
    deliveries: list[Record] = []
    if order.shipped_at is not None:
        deliveries.append(
            {
                "express_state": 1,
                "express_type": 1,
                "oids": [{"oid": line.line_id} for line in order.lines],
                "dists": [{"express_info": {"express_id": order.logistics_company, "express_no": order.tracking_no}}],
            }
        )
    return {
        "full_order_info": render_order(order, kdt_id),
        "refund_order": [
            {
                "refund_id": refund.refund_id,
                "refund_type": 2 if refund.with_return else 1,
                "refund_state": REFUND_ORDER_STATE[refund.status],
                "refund_fee": fen_to_yuan_str(refund.amount_fen),
                "refund_time": local(refund.created_at),
                "oids": [refund.line_id],
            }
            for refund in order.refunds
        ],
        "delivery_order": deliveries,
        "order_promotion": {
            "item_discount_fee": fen_to_yuan_str(original_total - line_total),
            "order_discount_fee": fen_to_yuan_str(order.discount_fen),
            "adjust_fee": "0.00",
            "item": [],
            "order": [],
        },
    }


def render_refund(refund: FakeRefund, kdt_id: str) -> Record:
    """refund.search ``refunds[]`` / refund.get ``data``."""
    return {
        "refund_id": refund.refund_id,
        "tid": tid_of(refund.order_id),
        "oid": refund.line_id,
        "kdt_id": int(kdt_id),
        "status": REFUND_STATUS[refund.status],
        "refund_fee": fen_to_yuan_str(refund.amount_fen),
        "created": local(refund.created_at),
        "modified": local(refund.modified_at),
        "return_goods": refund.with_return,
        "demand": 2 if refund.with_return else 1,
        "reason": REFUND_REASON_CODE.get(refund.reason, 15),
        "num": refund.quantity,  # [I] refunded units; null for an amount-only refund
        "refund_type": "BUYER_APPLY_REFUND",
        "version": int(refund.modified_at.timestamp() * 1000),
        "refund_success_time": local(refund.resolved_at) if refund.status is RefundStatus.SUCCEEDED else "",
    }


def render_item_summary(item: FakeItem) -> Record:
    """items.onsale.get / items.inventory.get ``items[]`` (price in fen)."""
    return {
        "item_id": int(item.item_id),
        "alias": f"fake{int(item.item_id):x}",
        "title": item.title,
        "price": item.price_fen,
        "quantity": item.stock,
        "item_no": item.spu_code,
        "item_type": 0,
        "post_type": 1,
        "post_fee": 0,
        "created_time": local(item.created_at),
        "update_time": local(item.modified_at),
        "detail_url": f"https://shop.example.invalid/v2/goods/fake{int(item.item_id):x}",
    }


def render_item(item: FakeItem, kdt_id: str) -> Record:
    """item.get 3.0.0 ``data.item`` with its SKUs (prices in fen)."""
    summary = render_item_summary(item)
    return {
        "item_id": summary["item_id"],
        "kdt_id": int(kdt_id),
        "alias": summary["alias"],
        "title": item.title,
        "price": item.price_fen,
        "quantity": item.stock,
        "item_no": item.spu_code,
        "is_listing": item.on_sale,
        "is_lock": False,
        "item_type": 0,
        "created": local(item.created_at),
        "update_time": local(item.modified_at),  # [I] item.get lists no update time; we add one
        "skus": [
            {
                "item_id": summary["item_id"],
                "sku_id": int(sku.sku_id),
                "price": sku.price_fen,
                "quantity": sku.stock,
                "item_no": sku.sku_code,
                "properties_name_json": json.dumps([{"k": "规格", "v": sku.spec}], ensure_ascii=False),
                "with_hold_quantity": 0,
                "created": local(item.created_at),
                "modified": local(sku.modified_at),
            }
            for sku in item.skus
        ],
    }


def render_bill(line: FakeSettlementLine) -> Record:
    """[I] one line of our assumed settlement API; ``amount`` is signed yuan."""
    return {
        "bill_no": line.bill_id,
        "tid": tid_of(line.order_id),
        "oid": line.line_id or "",
        "item_id": int(line.item_id) if line.item_id else 0,
        "biz_type": BILL_TYPE[line.kind],
        "amount": fen_to_yuan_str(line.amount_fen),
        "fee_rate_bp": line.rate_bp,
        "settle_time": local(line.settled_at),
        "refund_id": line.refund_id or "",
    }


#: a list record's key among the pre-rendered ones (frozen mode)
_order_key: Callable[[FakeOrder], str] = attrgetter("order_id")
_refund_key: Callable[[FakeRefund], str] = attrgetter("refund_id")


def _corrupt_order(record: Record) -> Record:
    record["full_order_info"]["pay_info"]["payment"] = "12.3.4"
    return record


def _corrupt_refund(record: Record) -> Record:
    record["refund_fee"] = "NaN元"
    return record


def _corrupt_item(record: Record) -> Record:
    record.pop("title", None)
    return record


# -- the fake ------------------------------------------------------------------------------------

Handler = Callable[[FakeWorld, str, dict[str, Any]], Awaitable[Record]]


class FakeYouzan(FakePlatform):
    platform: ClassVar[str] = "youzan"
    access_token_ttl: ClassVar[timedelta] = timedelta(days=7)
    refresh_token_ttl: ClassVar[timedelta] = timedelta(days=28)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._trace = 0
        current = self.tokens.current
        assert current is not None
        self._shop_token: dict[str, IssuedToken] = {self.world.shop_id: current}
        self._token_shop: dict[str, str] = {current.access_token: self.world.shop_id}
        self.apis: dict[tuple[str, str], Handler] = {
            ("youzan.trades.sold.get", "4.0.4"): self._trades_sold_get,
            ("youzan.trade.get", "4.0.2"): self._trade_get,
            ("youzan.trade.refund.search", "3.0.1"): self._refund_search,
            ("youzan.trade.refund.get", "3.0.1"): self._refund_get,
            ("youzan.items.onsale.get", "3.0.0"): self._items_onsale,
            ("youzan.items.inventory.get", "3.0.0"): self._items_inventory,
            ("youzan.item.get", "3.0.0"): self._item_get,
            ("youzan.item.quantity.update", "3.0.0"): self._quantity_update,
            ("youzan.item.sku.update", "3.0.0"): self._sku_price_update,
            ("youzan.logistics.online.confirm", "3.0.0"): self._online_confirm,
            ("youzan.trade.settlement.bill.search", "1.0.0"): self._bill_search,
        }

    @classmethod
    def public_order_id(cls, order_id: str) -> str:
        return tid_of(order_id)

    @classmethod
    def default_credentials(cls, shop_id: str) -> FakeCredentials:
        return FakeCredentials(
            app_key="fake-youzan-client-id",
            app_secret="fake-secret-not-real",
            shop_id=shop_id,
            access_token="fake-youzan-access-token",
            refresh_token="fake-youzan-refresh-token",
        )

    def credential_fields(self) -> dict[str, str]:
        creds = self.credentials
        return {
            "client_id": creds.app_key,
            "client_secret": creds.app_secret,
            "kdt_id": creds.shop_id,
            "access_token": creds.access_token,
            "refresh_token": creds.refresh_token,
        }

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/auth/token", self._token)
        app.router.add_route("*", "/api/{tail:.*}", self._gateway)

    # ----------------------------------------------------------------- envelopes

    def _trace_id(self) -> str:
        self._trace += 1
        return f"yz7-fake-{self._trace:08d}"

    def gateway_error(self, code: int, message: str) -> web.Response:
        return _json({"gw_err_resp": {"trace_id": self._trace_id(), "err_msg": message, "err_code": code}})

    def rate_limit_response(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/auth/token":
            return _json({"success": False, "code": 4101, "data": None, "message": "请求太频繁"})
        return self.gateway_error(4101, "请求太频繁")

    def _token_error(self, code: int, message: str) -> web.Response:
        return _json({"success": False, "code": code, "data": None, "message": message})

    # ----------------------------------------------------------------- /auth/token

    async def _token(self, request: web.Request) -> web.Response:
        if request.content_type != _JSON:
            return self._token_error(
                1000,
                f"Content type '{request.headers.get('Content-Type', '')}' not supported,"
                "Please use 'application/json;charset=UTF-8'",
            )
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._token_error(1000, "请求体不是合法的 JSON")
        if not isinstance(body, dict):
            return self._token_error(1000, "请求体不是合法的 JSON")
        creds = self.credentials
        if body.get("client_id") != creds.app_key:
            return self._token_error(1103, "Client 不存在")
        if body.get("client_secret") != creds.app_secret:
            return self._token_error(1000, "应用信息错误")
        kind = body.get("authorize_type")
        if kind == "silent":
            shop_id = str(body.get("grant_id") or "")
            if shop_id not in self.shops:
                return self._token_error(1103, "授权关系不存在")
            refresh = body.get("refresh", False)
            if isinstance(refresh, str):
                refresh = refresh.strip().lower() == "true"
            token = self._silent(shop_id, bool(refresh))
        elif kind == "refresh_token":
            found = self._by_refresh(str(body.get("refresh_token") or ""))
            if found is None:
                return self._token_error(1004, "授权关系已过期")
            shop_id, old = found
            fresh = self.tokens.refresh(old.refresh_token)
            if fresh is None:
                return self._token_error(1004, "授权关系已过期")
            token = self._bind(shop_id, fresh, old)
        elif kind == "authorization_code":
            return self._token_error(1105, "不支持的应用类型")
        else:
            return self._token_error(1000, "authorize_type 错误")
        return _json(
            {
                "success": True,
                "code": 200,
                "data": {
                    "access_token": token.access_token,
                    "expires": int(token.expires_at.timestamp() * 1000),
                    "refresh_token": token.refresh_token,
                    "scope": "trade item refund bill",
                    "authority_id": shop_id,
                },
                "message": None,
            }
        )

    def _silent(self, shop_id: str, refresh: bool) -> IssuedToken:
        current = self._shop_token.get(shop_id)
        if current is not None and not refresh and self.tokens.is_valid(current.access_token):
            return current
        fresh = self.tokens.refresh(current.refresh_token) if current is not None else None
        if fresh is None:
            fresh = self.tokens.issue()
        return self._bind(shop_id, fresh, current)

    def _bind(self, shop_id: str, fresh: IssuedToken, old: IssuedToken | None) -> IssuedToken:
        if old is not None:
            self._token_shop.pop(old.access_token, None)
        self._shop_token[shop_id] = fresh
        self._token_shop[fresh.access_token] = shop_id
        return fresh

    def _by_refresh(self, refresh_token: str) -> tuple[str, IssuedToken] | None:
        for shop_id, token in self._shop_token.items():
            if refresh_token and token.refresh_token == refresh_token:
                return shop_id, token
        return None

    # ----------------------------------------------------------------- /api gateway

    async def _gateway(self, request: web.Request) -> web.Response:
        try:
            shop_id, name, version, params = await self._admit(request)
        except GatewayError as exc:
            return self.gateway_error(exc.code, exc.message)
        world = self.shops[shop_id]
        try:
            data = await self.apis[(name, version)](world, shop_id, params)
        except GatewayError as exc:
            return self.gateway_error(exc.code, exc.message)
        except BizError as exc:
            return _json(
                {
                    "trace_id": self._trace_id(),
                    "code": exc.code,
                    "success": False,
                    "message": exc.message,
                    "data": None,
                }
            )
        return _json(
            {
                "trace_id": self._trace_id(),
                "code": 200,
                "success": True,
                "message": "successful",
                "data": data,
            }
        )

    async def _admit(self, request: web.Request) -> tuple[str, str, str, dict[str, Any]]:
        """The gateway's checks, in the order the public probes observed."""
        parts = request.match_info["tail"].split("/")
        if len(parts) != 2 or not all(parts):
            raise GatewayError(4001, "非法请求地址")
        name, version = parts
        if (name, version) not in self.apis:
            raise GatewayError(4005, "非法的API")
        params: dict[str, Any]
        if request.method == "GET":
            params = {k: v for k, v in request.query.items() if k != "access_token"}
        elif request.method == "POST":
            if request.content_type not in _ACCEPTED_CONTENT:
                raise GatewayError(4007, f"非法的请求姿势，httpMethod:POST, contentType:{request.content_type}")
            if request.content_type == _JSON:
                raw = await request.read()
                try:
                    decoded = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    raise GatewayError(4004, "非法的Content") from None
                if not isinstance(decoded, dict):
                    raise GatewayError(4004, "非法的Content")
                params = decoded
            else:
                form = await request.post()
                params = {k: v for k, v in form.items() if isinstance(v, str)}
        else:
            raise GatewayError(4007, f"非法的请求姿势，httpMethod:{request.method}")
        token = request.query.get("access_token")
        if not token:
            raise GatewayError(4201, "非法的请求凭证")
        state = self.tokens.check(token)
        if state == "unknown" or token not in self._token_shop:
            raise GatewayError(4203, "Token 不存在")
        if state == "expired":
            raise GatewayError(4202, "请求凭证过期")
        return self._token_shop[token], name, version, params

    # ----------------------------------------------------------------- parameter helpers

    @staticmethod
    def _int_param(params: Mapping[str, Any], name: str, default: int) -> int:
        value = params.get(name, default)
        if isinstance(value, bool):
            raise GatewayError(5001, f"系统异常: {name} 类型错误")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise GatewayError(5001, f"系统异常: {name} 类型错误")

    def _paging(self, params: Mapping[str, Any], default_size: int = 20) -> tuple[int, int]:
        page_no = self._int_param(params, "page_no", 1)
        page_size = self._int_param(params, "page_size", default_size)
        if page_size > MAX_PAGE_SIZE:
            raise BizError(5000, "每页最多显示100条数据")
        if page_no < 1 or page_size < 1:
            raise BizError(5000, "page_no 和 page_size 必须大于 0")
        if page_no > MAX_PAGE_NO:
            raise BizError(5000, "查询页数超过100")
        return page_no, page_size

    def _local_window(
        self, params: Mapping[str, Any], start_key: str, end_key: str, span: timedelta
    ) -> tuple[datetime, datetime] | None:
        """An inclusive ``[start, end]`` window as a half-open ``[start, end + 1 s)``; an
        unpaired bound makes the condition void, as the docs say."""
        if params.get(start_key) in (None, "") or params.get(end_key) in (None, ""):
            return None
        start = parse_local_param(params[start_key], start_key)
        end = parse_local_param(params[end_key], end_key)
        return self._checked_window(start, end, span)

    @staticmethod
    def _checked_window(start: datetime, end: datetime, span: timedelta) -> tuple[datetime, datetime]:
        if start > end:
            raise BizError(5000, "开始时间不能大于结束时间")
        if end - start > span:
            raise BizError(5000, f"时间跨度不能超过{span.days}天")
        return start, end + timedelta(seconds=1)

    # ----------------------------------------------------------------- trades

    async def _trades_sold_get(self, world: FakeWorld, shop_id: str, params: dict[str, Any]) -> Record:
        page_no, page_size = self._paging(params)
        updated = self._local_window(params, "start_update", "end_update", MAX_ORDER_SPAN)
        created = self._local_window(params, "start_created", "end_created", MAX_ORDER_SPAN)
        if updated is not None:
            orders = self.orders_modified(world, *updated)
        elif created is not None:
            orders = self.orders_created(world, *created)
        else:
            now = world.now()
            orders = self.orders_created(world, now - DEFAULT_LOOKBACK, now + timedelta(seconds=1))
        status = params.get("status")
        if status not in (None, ""):
            orders = [order for order in orders if ORDER_STATUS[order.status] == status]
        page = self.page_slice(orders, page_no, page_size)
        rendered = self._orders_out(world, shop_id, page)
        if updated is not None:
            self.touch_during_paging(world, [order.order_id for order in orders], page_no)
        return {"full_order_info_list": rendered, "total_results": len(orders)}

    def _orders_out(self, world: FakeWorld, shop_id: str, orders: Sequence[FakeOrder]) -> list[Any]:
        """The trade list's records (pre-rendered in frozen mode)."""
        return self.frozen_records(
            world,
            ("order", shop_id),
            orders,
            _order_key,
            lambda order: self.maybe_malform(
                f"order:{order.order_id}", {"full_order_info": render_order(order, shop_id)}, _corrupt_order
            ),
            source="orders",
        )

    def _refunds_out(self, world: FakeWorld, shop_id: str, refunds: Sequence[FakeRefund]) -> list[Any]:
        """The refund search's records (pre-rendered in frozen mode)."""
        return self.frozen_records(
            world,
            ("refund", shop_id),
            refunds,
            _refund_key,
            lambda refund: self.maybe_malform(
                f"refund:{refund.refund_id}", render_refund(refund, shop_id), _corrupt_refund
            ),
            source="refunds",
        )

    def prerender_world(self, world: FakeWorld) -> int:
        self._orders_out(world, world.shop_id, [])
        self._refunds_out(world, world.shop_id, [])
        return self.frozen_count(world, ("order", world.shop_id), ("refund", world.shop_id))

    async def _trade_get(self, world: FakeWorld, shop_id: str, params: dict[str, Any]) -> Record:
        tid = params.get("tid")
        if not isinstance(tid, str) or not tid:
            raise BizError(106000004, "订单号非法")
        order_id = order_id_of(tid)
        order = world.order(order_id) if order_id is not None else None
        if order is None:
            raise BizError(5000, "trade not found")
        detail = render_trade_detail(order, shop_id)
        wrapped = self.maybe_malform(
            f"order:{order.order_id}", {"full_order_info": detail["full_order_info"]}, _corrupt_order
        )
        detail["full_order_info"] = wrapped["full_order_info"]
        return detail

    # ----------------------------------------------------------------- refunds

    async def _refund_search(self, world: FakeWorld, shop_id: str, params: dict[str, Any]) -> Record:
        page_no, page_size = self._paging(params)
        if page_no * page_size > REFUND_MAX_DEPTH:
            raise BizError(5000, "超过ES搜索最大深度")
        window: tuple[datetime, datetime] | None = None
        if params.get("update_time_start") not in (None, "") and params.get("update_time_end") not in (
            None,
            "",
        ):
            start = datetime.fromtimestamp(self._int_param(params, "update_time_start", 0), UTC)
            end = datetime.fromtimestamp(self._int_param(params, "update_time_end", 0), UTC)
            window = self._checked_window(start, end, MAX_ORDER_SPAN)
        if window is None:
            now = world.now()
            window = (now - DEFAULT_LOOKBACK, now + timedelta(seconds=1))
        refunds = self.refunds_modified(world, *window)
        tid = params.get("tid")
        if isinstance(tid, str) and tid:
            refunds = [r for r in refunds if tid_of(r.order_id) == tid]
        page = self.page_slice(refunds, page_no, page_size)
        rendered = self._refunds_out(world, shop_id, page)
        return {"refunds": rendered, "total": len(refunds)}

    async def _refund_get(self, world: FakeWorld, shop_id: str, params: dict[str, Any]) -> Record:
        refund_id = params.get("refund_id")
        if not isinstance(refund_id, str) or not refund_id.isdigit():
            raise BizError(103010052, "退款 ID 不合法")
        refund = world.refund(refund_id)
        if refund is None:
            raise BizError(103011024, "退款记录不存在")
        return self.maybe_malform(f"refund:{refund_id}", render_refund(refund, shop_id), _corrupt_refund)

    # ----------------------------------------------------------------- items and stock

    async def _items_onsale(self, world: FakeWorld, shop_id: str, params: dict[str, Any]) -> Record:
        return self._items(world, params, on_sale=True)

    async def _items_inventory(self, world: FakeWorld, shop_id: str, params: dict[str, Any]) -> Record:
        return self._items(world, params, on_sale=False)

    def _items(self, world: FakeWorld, params: Mapping[str, Any], *, on_sale: bool) -> Record:
        page_no = self._int_param(params, "page_no", 1)
        page_size = self._int_param(params, "page_size", 40)
        if not 1 <= page_no <= MAX_PAGE_NO or not 1 <= page_size < 200 or page_no * page_size >= 4000:
            raise BizError(5000, "分页参数错误")
        items = [item for item in world.products() if item.on_sale is on_sale]
        page = self.page_slice(items, page_no, page_size)
        return {"count": len(items), "items": [render_item_summary(item) for item in page]}

    async def _item_get(self, world: FakeWorld, shop_id: str, params: dict[str, Any]) -> Record:
        item_id = str(params.get("item_id") or "")
        item = world.item(item_id) if item_id.isdigit() else None
        if item is None:
            raise BizError(122001001, "商品不存在")
        return {"item": self.maybe_malform(f"item:{item_id}", render_item(item, shop_id), _corrupt_item)}

    async def _quantity_update(self, world: FakeWorld, shop_id: str, params: dict[str, Any]) -> Record:
        item_id = str(params.get("item_id") or "")
        if not item_id.isdigit():
            raise BizError(5000, "item_id 不能为空")
        if world.item(item_id) is None:
            raise BizError(123005001, "商品不存在")
        sku_raw = params.get("sku_id")
        sku_id = str(sku_raw) if sku_raw not in (None, "", 0, "0") else None
        quantity = self._int_param(params, "quantity", -1)
        kind = self._int_param(params, "type", 0)
        try:
            if kind == 0:
                if quantity < 0:
                    raise BizError(5000, "库存不能小于0")
                world.set_stock(item_id, sku_id, quantity)
            elif kind == 1:
                world.adjust_stock(item_id, sku_id, quantity)
            else:
                raise BizError(5000, "type 只能为 0 或 1")
        except StockError as exc:
            text = str(exc)
            if "SKUs" in text or "unknown SKU" in text:
                raise BizError(123004002, "SKU 不存在") from None
            raise BizError(5000, text) from None
        return {"is_success": True}

    async def _sku_price_update(self, world: FakeWorld, shop_id: str, params: dict[str, Any]) -> Record:
        """youzan.item.sku.update 3.0.0 [I], the price part: ``item_id``, ``sku_id`` (absent for
        an item without specs) and ``price`` in fen, > 0."""
        item_id = str(params.get("item_id") or "")
        if not item_id.isdigit():
            raise BizError(5000, "item_id 不能为空")
        if world.item(item_id) is None:
            raise BizError(123005001, "商品不存在")
        sku_raw = params.get("sku_id")
        sku_id = str(sku_raw) if sku_raw not in (None, "", 0, "0") else None
        price = self._int_param(params, "price", -1)
        if not 0 < price <= 100_000_000 * 100:
            raise BizError(5000, "price 必须大于0，单位分")
        try:
            world.set_price(item_id, sku_id, price)
        except StockError:
            raise BizError(123004002, "SKU 不存在") from None
        return {"is_success": True}

    # ----------------------------------------------------------------- shipping

    async def _online_confirm(self, world: FakeWorld, shop_id: str, params: dict[str, Any]) -> Record:
        """youzan.logistics.online.confirm 3.0.0 (订单发货): ``tid``, ``out_stype`` (Youzan's
        express company id) and ``out_sid`` (the tracking number); ships the order in the world.
        Refusals [I codes]: 101305001 already shipped, 101305002 refunded or closed, 101305003
        unknown company, 101305004 bad tracking number, 101305005 no such order."""
        tid = params.get("tid")
        if not isinstance(tid, str) or not tid:
            raise BizError(106000004, "订单号非法")
        out_stype = str(params.get("out_stype") or "").strip()
        out_sid = str(params.get("out_sid") or "").strip()
        if not out_stype or not out_sid:
            raise BizError(5000, "out_stype 和 out_sid 不能为空")
        if not known_code(YOUZAN_CARRIERS, out_stype):
            raise BizError(101305003, f"物流公司{out_stype}不存在")
        if not valid_tracking(out_sid):
            raise BizError(101305004, f"运单号{out_sid}格式不正确")
        order_id = order_id_of(tid)
        try:
            if order_id is None:
                raise ShipError("not_found", f"trade {tid} not found")
            world.ship(order_id, out_stype, out_sid)
        except ShipError as exc:
            if exc.reason == "not_found":
                raise BizError(101305005, "订单不存在") from None
            if exc.reason == "shipped":
                raise BizError(101305001, "订单已发货，不能重复发货") from None
            raise BizError(101305002, f"订单已退款或已关闭，不能发货: {exc}") from None
        return {"is_success": True}

    # ----------------------------------------------------------------- settlement [I]

    async def _bill_search(self, world: FakeWorld, shop_id: str, params: dict[str, Any]) -> Record:
        page_no, page_size = self._paging(params)
        window = self._local_window(params, "start_time", "end_time", MAX_BILL_SPAN)
        if window is None:
            raise BizError(5000, "start_time 和 end_time 必须成对传入")
        lines = world.settlements(*window)
        page = self.page_slice(lines, page_no, page_size)
        return {"total": len(lines), "bills": [render_bill(line) for line in page]}


__all__ = [
    "ORDER_STATUS",
    "REFUND_STATUS",
    "BizError",
    "FakeYouzan",
    "GatewayError",
    "render_bill",
    "render_item",
    "render_order",
    "render_refund",
    "render_trade_detail",
]
