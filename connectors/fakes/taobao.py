"""Fake TOP gateway (Taobao/Tmall Open Platform), PLATFORMS.md §1 and §8.

One route, ``/router/rest`` (POST form or GET query; system params may sit in the query and
business params in the body, as the official SDK sends them). The gateway checks, in order:
``method`` (21), ``app_key`` (28/29), ``v`` (32/34), ``format`` (23), ``sign_method`` / ``sign``
presence (24), ``timestamp`` (30/31: ``yyyy-MM-dd HH:mm:ss`` GMT+8 or epoch ms, within ±10 min
of the fake clock), the signature (25, md5 / hmac / hmac-sha256, uppercase hex), the method
(22), the seller ``session`` (26/27), then the API itself
(40 missing / 41 invalid arguments, 15 ``isv.*`` business errors). Errors are HTTP 200
``{"error_response": {code, msg, sub_code, sub_msg, request_id}}``.

APIs: trades.sold.increment.get (modified DESC, span <= 1 day, inclusive ends), trades.sold.get,
trade.fullinfo.get, refunds.receive.get, refund.get, items.onsale.get / items.inventory.get
(with ``skus``), item.quantity.update (type 1 full / 2 incremental, never below 0),
bill.bills.get (<= 1 day unless trade_id/order_id; ``amount`` in fen [I]), bill.bill.get,
logistics.offline.send (ships the order in the world).
Every one of them but item.quantity.update requires ``fields`` (40 ``isv.missing-parameter:fields``
when missing or empty) and answers with only the fields named (``orders`` / ``sku`` bring the
sub-orders / SKUs back whole).
Server-error faults are answered half the time as TOP does, HTTP 200 with code 15/520 and an
``isp.*`` sub_code, and otherwise with a gateway 5xx page. Only ``format=json``
is served (the real default is XML; asking for it here is answered with code 23).

The ``session`` identifies the seller: shop 0 uses the credentials' access token, further shops
``fake-taobao-session-<shop_id>``. TOP sessions are granted out of band, so there is no token
endpoint; an unknown session is code 27 ``invalid-sessionkey``, an expired one code 27
``session-expired`` [I].
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from aiohttp import web

from bangfu.enums import LineRefundState, OrderStatus, RefundStatus, SettlementKind
from bangfu.money import MoneyError, fen_to_yuan_str, parse_yuan
from connectors.fakes.faults import FaultInjector
from connectors.fakes.protocol import taobao as protocol
from connectors.fakes.push import TAOBAO_PUSH, PushSender
from connectors.fakes.server import (
    FakeCredentials,
    FakePlatform,
    Record,
    beijing_text,
    json_response,
    missing,
    replaced,
)
from connectors.fakes.shipping import TAOBAO_CARRIERS, known_code, valid_tracking
from connectors.fakes.world import (
    FakeItem,
    FakeOrder,
    FakeOrderLine,
    FakeRefund,
    FakeSettlementLine,
    FakeWorld,
    ShipError,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
TIMESTAMP_TOLERANCE = timedelta(minutes=10)
INCREMENT_SPAN_MAX = timedelta(days=1)
BILL_SPAN_MAX = timedelta(days=1)
LOOK_BACK = timedelta(days=90)  # "data covers 3 months only"
SELLER_NICK = "帮扶旗舰店"

# canonical -> TOP (the fake's own tables; the connector has the reverse ones)
TRADE_STATUS: Mapping[OrderStatus, str] = {
    OrderStatus.PENDING_PAYMENT: "WAIT_BUYER_PAY",
    OrderStatus.CANCELLED: "TRADE_CLOSED_BY_TAOBAO",
    OrderStatus.PAID: "WAIT_SELLER_SEND_GOODS",
    OrderStatus.PART_SHIPPED: "SELLER_CONSIGNED_PART",
    OrderStatus.SHIPPED: "WAIT_BUYER_CONFIRM_GOODS",
    OrderStatus.DELIVERED: "TRADE_BUYER_SIGNED",
    OrderStatus.COMPLETED: "TRADE_FINISHED",
    OrderStatus.CLOSED: "TRADE_CLOSED",
}
STATUS_GROUPS: Mapping[str, frozenset[str]] = {
    "ALL_WAIT_PAY": frozenset({"WAIT_BUYER_PAY", "TRADE_NO_CREATE_PAY", "PAY_PENDING"}),
    "ALL_CLOSED": frozenset({"TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO"}),
}
REFUND_STATUS: Mapping[RefundStatus, str] = {
    RefundStatus.REQUESTED: "WAIT_SELLER_AGREE",
    RefundStatus.AWAITING_RETURN: "WAIT_BUYER_RETURN_GOODS",
    RefundStatus.AWAITING_CONFIRM: "WAIT_SELLER_CONFIRM_GOODS",
    RefundStatus.REFUSED: "SELLER_REFUSE_BUYER",
    RefundStatus.SUCCEEDED: "SUCCESS",
    RefundStatus.CLOSED: "CLOSED",
}
# [I] the seller's bill accounts (科目) as bill.bills.get reports them in ``account_id``.
BILL_ACCOUNT: Mapping[SettlementKind, int] = {
    SettlementKind.SALE: 1001,
    SettlementKind.REFUND: 1002,
    SettlementKind.PLATFORM_FEE: 2001,
    SettlementKind.HOST_COMMISSION: 2002,
    SettlementKind.PAYMENT_FEE: 2003,
    SettlementKind.LOGISTICS: 2004,
    SettlementKind.SUBSIDY: 3001,
    SettlementKind.OTHER: 9001,
}

DEFAULT_TRADE_FIELDS = "tid,status,modified"
KNOWN_METHODS = frozenset(
    {
        "taobao.trades.sold.increment.get",
        "taobao.trades.sold.get",
        "taobao.trade.fullinfo.get",
        "taobao.refunds.receive.get",
        "taobao.refund.get",
        "taobao.items.onsale.get",
        "taobao.items.inventory.get",
        "taobao.item.seller.get",
        "taobao.item.quantity.update",
        "taobao.item.sku.price.update",
        "taobao.item.price.update",
        "taobao.bill.bills.get",
        "taobao.bill.bill.get",
        "taobao.logistics.offline.send",
    }
)

RATE_LIMIT_SUB_CODES = (
    "accesscontrol.limited-by-api-access-count",
    "accesscontrol.limited-by-app-api-access-count",
)

#: service errors TOP answers with HTTP 200 (None: an HTML 5xx from the gateway instead)
ISP_ERRORS: tuple[tuple[int, str, str] | None, ...] = (
    (15, "isp.top-remote-connection-timeout", "调用后端服务连接超时"),
    (520, "isp.remote-service-timeout", "后端服务超时"),
    None,
    None,
)

_request_ids = itertools.count(1)


def _merge_params(request: web.Request, body: bytes) -> dict[str, str]:
    """Query and form body together (first value wins; the SDK splits system/business params)."""
    params: dict[str, str] = {}
    if body and request.content_type == "application/x-www-form-urlencoded":
        charset = request.charset or "utf-8"
        for key, value in parse_qsl(body.decode(charset, "replace"), keep_blank_values=True):
            params.setdefault(key, value)
    for key, value in request.query.items():
        params.setdefault(key, value)
    return params


class TopError(Exception):
    """An ``error_response`` to send back."""

    def __init__(self, code: int, msg: str, sub_code: str | None = None, sub_msg: str | None = None) -> None:
        super().__init__(code, msg, sub_code, sub_msg)
        self.code = code
        self.msg = msg
        self.sub_code = sub_code
        self.sub_msg = sub_msg

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.sub_code:
            err["sub_code"] = self.sub_code
        if self.sub_msg:
            err["sub_msg"] = self.sub_msg
        err["request_id"] = _request_id()
        return {"error_response": err}


#: a list record's key among the pre-rendered ones (frozen mode)
_order_key: Callable[[FakeOrder], str] = attrgetter("order_id")
_refund_key: Callable[[FakeRefund], str] = attrgetter("refund_id")


def _request_id() -> str:
    return f"fake{next(_request_ids):010x}"


def _missing(name: str) -> TopError:
    return TopError(40, "Missing required arguments", f"isv.missing-parameter:{name}", f"缺少必选参数:{name}")


def _invalid(name: str, detail: str = "") -> TopError:
    return TopError(41, "Invalid arguments", f"isv.invalid-parameter:{name}", detail or f"参数{name}无效")


def _logistics_error(code: str, detail: str) -> TopError:
    return TopError(15, "Remote service error", f"isv.logistics-offline-service-error:{code}", detail)


# --------------------------------------------------------------------------- formatting


def top_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return beijing_text(value)


def parse_top_time(text: str) -> datetime:
    """``yyyy-MM-dd HH:mm:ss`` Beijing time -> aware UTC (ValueError when malformed)."""
    return datetime.strptime(text.strip(), TIME_FORMAT).replace(tzinfo=SHANGHAI).astimezone(UTC)


def yuan(fen: int) -> str:
    return fen_to_yuan_str(fen)


def _field_set(text: str | None) -> frozenset[str]:
    return frozenset(part.strip() for part in (text or "").split(",") if part.strip())


def _select(record: Record, wanted: frozenset[str]) -> Record:
    """Keep the requested, non-null fields (TOP returns only what ``fields`` names)."""
    return {key: value for key, value in record.items() if value is not None and key in wanted}


# --------------------------------------------------------------------------- rendering


def _line_refund(order: FakeOrder, line: FakeOrderLine) -> FakeRefund | None:
    if line.refund_id is None:
        return None
    return next((r for r in order.refunds if r.refund_id == line.refund_id), None)


def render_sub_order(order: FakeOrder, line: FakeOrderLine, trade_status: str) -> Record:
    refund = _line_refund(order, line)
    refund_status = REFUND_STATUS[refund.status] if refund is not None else "NO_REFUND"
    # TOP closes a sub-order whose whole payment went back.
    status = "TRADE_CLOSED" if line.refund_state is LineRefundState.FULL else trade_status
    promo_fen = (line.price_fen - line.unit_price_fen) * line.quantity
    return {
        "oid": int(line.line_id),
        "oid_str": line.line_id,
        "num_iid": int(line.item_id),
        "sku_id": line.sku_id,
        "outer_iid": line.spu_code,
        "outer_sku_id": line.sku_code,
        "title": line.title,
        "sku_properties_name": f"规格:{line.spec}",
        "num": line.quantity,
        "price": yuan(line.price_fen),
        "total_fee": yuan(line.total_fen),
        "discount_fee": yuan(promo_fen),
        "adjust_fee": "0.00",
        "part_mjz_discount": yuan(line.discount_fen),
        "payment": yuan(line.paid_fen),
        "divide_order_fee": yuan(line.paid_fen),
        "status": status,
        "refund_status": refund_status,
        "refund_id": int(refund.refund_id) if refund is not None else None,
        "consign_time": top_time(order.shipped_at),
        "end_time": top_time(order.finished_at),
        "logistics_company": order.logistics_company,
        "invoice_no": order.tracking_no,
        "order_from": "WAP",
        "is_oversold": False,
    }


def render_trade(order: FakeOrder, wanted: frozenset[str]) -> Record:
    status = TRADE_STATUS[order.status]
    end = order.finished_at or order.closed_at or order.cancelled_at
    trade: Record = {
        "tid": int(order.order_id),
        "tid_str": order.order_id,
        "status": status,
        "type": "fixed",
        "created": top_time(order.created_at),
        "modified": top_time(order.modified_at),
        "pay_time": top_time(order.paid_at),
        "consign_time": top_time(order.shipped_at),
        "end_time": top_time(end),
        "payment": yuan(order.paid_fen),
        "total_fee": yuan(order.total_fen),
        "post_fee": yuan(order.post_fee_fen),
        "discount_fee": yuan(order.discount_fen),
        "adjust_fee": "0.00",
        "received_payment": yuan(order.paid_fen) if order.finished_at is not None else "0.00",
        "commission_fee": "0.00",
        "num": sum(line.quantity for line in order.lines),
        "num_iid": int(order.lines[0].item_id),
        "buyer_nick": order.buyer_nick,
        "buyer_open_uid": order.buyer_id,
        "seller_nick": SELLER_NICK + order.shop_id,
        "receiver_name": "*",
        "receiver_mobile": "***********",
        "receiver_state": "四川省",
        "receiver_city": "*",
        "trade_from": "WAP,TAOBAO",
        "seller_flag": 0,
        "alipay_no": f"2024{order.order_id}" if order.paid_at is not None else None,
    }
    out = _select(trade, wanted)
    order_fields = frozenset(w.removeprefix("orders.") for w in wanted if w.startswith("orders."))
    if "orders" in wanted or order_fields:
        subs = [render_sub_order(order, line, status) for line in order.lines]
        if order_fields:
            subs = [_select(sub, order_fields) for sub in subs]
        else:
            subs = [{k: v for k, v in sub.items() if v is not None} for sub in subs]
        out["orders"] = {"order": subs}
    return out


def render_refund(refund: FakeRefund, order: FakeOrder | None, wanted: frozenset[str]) -> Record:
    if refund.with_return:
        returned = refund.status in (RefundStatus.AWAITING_CONFIRM, RefundStatus.SUCCEEDED)
        good_status = "BUYER_RETURNED_GOODS" if returned else "BUYER_RECEIVED"
    else:
        good_status = "BUYER_NOT_RECEIVED"
    line = next((ln for ln in order.lines if ln.line_id == refund.line_id), None) if order else None
    record: Record = {
        "refund_id": refund.refund_id,
        "tid": int(refund.order_id),
        "oid": int(refund.line_id),
        "title": line.title if line is not None else None,
        "buyer_nick": order.buyer_nick if order is not None else None,
        "total_fee": yuan(line.total_fen) if line is not None else None,
        "payment": yuan(refund.line_paid_fen),
        "refund_fee": yuan(refund.amount_fen),
        "status": REFUND_STATUS[refund.status],
        "created": top_time(refund.created_at),
        "modified": top_time(refund.modified_at),
        "good_status": good_status,
        "has_good_return": refund.with_return,
        "reason": refund.reason,
        "desc": refund.reason,
        "num": refund.quantity,
        "outer_id": refund.sku_code,
        "sku": f"{refund.sku_id}|{line.spec}" if line is not None else refund.sku_id,
        "order_status": TRADE_STATUS[order.status] if order is not None else None,
        "refund_phase": "aftersale" if refund.with_return else "onsale",
        "refund_version": int(refund.modified_at.timestamp() * 1000),
    }
    return _select(record, wanted)


def render_item(item: FakeItem, wanted: frozenset[str]) -> Record:
    record: Record = {
        "num_iid": int(item.item_id),
        "title": item.title,
        "nick": SELLER_NICK,
        "type": "fixed",
        "cid": 50000000 + sum(item.category.encode()) % 10000,
        "approve_status": "onsale" if item.on_sale else "instock",
        "num": item.stock,
        "price": yuan(item.price_fen),
        "outer_id": item.spu_code,
        "modified": top_time(item.modified_at),
        "list_time": top_time(item.created_at),
        "delist_time": top_time(item.created_at + timedelta(days=7)) if item.on_sale else None,
        "pic_url": f"https://img.example.invalid/{item.item_id}.jpg",
        "props": "20000:3275069",
    }
    out = _select(record, wanted)
    if wanted & {"sku", "skus"} or any(w.startswith(("sku.", "skus.")) for w in wanted):
        out["skus"] = {
            "sku": [
                {
                    "sku_id": int(sku.sku_id),
                    "num_iid": int(item.item_id),
                    "quantity": sku.stock,
                    "price": yuan(sku.price_fen),
                    "outer_id": sku.sku_code,
                    "properties": f"1627207:{int(sku.sku_id) % 100000}",
                    "properties_name": f"1627207:{int(sku.sku_id) % 100000}:规格:{sku.spec}",
                    "with_hold_quantity": 0,
                    "modified": top_time(sku.modified_at),
                    "status": "normal",
                }
                for sku in item.skus
            ]
        }
    return out


def render_bill(line: FakeSettlementLine, order: FakeOrder | None, wanted: frozenset[str]) -> Record:
    # [I] biz_time: the trade's completion (refund lines: its resolution); the bill is paid a day
    # later (the world settles one day after), which is pay_time and book_time.
    record: Record = {
        "bid": int(line.bill_id),
        "account_id": BILL_ACCOUNT[line.kind],
        "trade_id": int(line.order_id),
        "order_id": int(line.line_id) if line.line_id is not None else None,
        "num_iid": int(line.item_id) if line.item_id is not None else None,
        "amount": line.amount_fen,
        "total_amount": order.paid_fen if order is not None else None,
        "status": 1,
        "biz_time": top_time(line.settled_at - timedelta(days=1)),
        "pay_time": top_time(line.settled_at),
        "book_time": top_time(line.settled_at),
        "alipay_id": 2088000000000000 + int(line.order_id) % 10**12,
        "alipay_outno": f"T200P{line.order_id}",
        "alipay_notice": f"帮扶账单 {line.kind.value}",
        "obj_alipay_id": 2088000000000001,
        "memo": line.kind.value,
    }
    return _select(record, wanted)


# --------------------------------------------------------------------------- the fake


class FakeTaobao(FakePlatform):
    platform: ClassVar[str] = "taobao"
    #: the N of "This ban will last for N more seconds" in code 7 answers
    ban_seconds: ClassVar[int] = 1

    def __init__(
        self,
        *,
        shops: Sequence[FakeWorld],
        faults: FaultInjector | None = None,
        latency_ms: int = 0,
        credentials: FakeCredentials | None = None,
        frozen: bool = False,
    ) -> None:
        super().__init__(shops=shops, faults=faults, latency_ms=latency_ms, credentials=credentials, frozen=frozen)
        self.sessions: dict[str, str] = {self.credentials.access_token: self.world.shop_id}
        for shop_id in list(self.shops)[1:]:
            token = f"fake-taobao-session-{shop_id}"
            self.sessions[token] = shop_id
            self.tokens.register(token, f"fake-taobao-refresh-{shop_id}")
        self._routes: dict[str, Callable[[FakeWorld, Mapping[str, str]], Record]] = {
            "taobao.trades.sold.increment.get": self._trades_increment,
            "taobao.trades.sold.get": self._trades_sold,
            "taobao.trade.fullinfo.get": self._trade_fullinfo,
            "taobao.refunds.receive.get": self._refunds_receive,
            "taobao.refund.get": self._refund_get,
            "taobao.items.onsale.get": self._items_onsale,
            "taobao.items.inventory.get": self._items_inventory,
            "taobao.item.seller.get": self._item_seller_get,
            "taobao.item.quantity.update": self._quantity_update,
            "taobao.item.sku.price.update": self._sku_price_update,
            "taobao.item.price.update": self._item_price_update,
            "taobao.bill.bills.get": self._bills,
            "taobao.bill.bill.get": self._bill_get,
            "taobao.logistics.offline.send": self._offline_send,
        }

    # ----------------------------------------------------------------- hooks

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("POST", "/router/rest", self._gateway)
        app.router.add_route("GET", "/router/rest", self._gateway)
        # TMC-like message push to registered targets: /_fake/webhooks, /_fake/push (see fakes/push.py).
        self.pusher = PushSender(self, TAOBAO_PUSH)
        self.pusher.install(app)

    def rate_limit_response(self, request: web.Request) -> web.StreamResponse:
        """Code 7 with TOP's ban hint (per-API or per-app-per-API flow control)."""
        sub_code = self.faults.choice(RATE_LIMIT_SUB_CODES)
        return web.json_response(
            TopError(7, "App Call Limited", sub_code, f"This ban will last for {self.ban_seconds} more seconds").body()
        )

    def server_error_response(self, request: web.Request) -> web.StreamResponse:
        """TOP's own service errors (HTTP 200, ``isp.*``) half the time, else a gateway 5xx page."""
        choice = self.faults.choice(ISP_ERRORS)
        if choice is None:
            return super().server_error_response(request)
        code, sub_code, sub_msg = choice
        return web.json_response(TopError(code, "Remote service error", sub_code, sub_msg).body())

    def credential_fields(self) -> dict[str, str]:
        creds = self.credentials
        fields = {
            "app_key": creds.app_key,
            "app_secret": creds.app_secret,
            "session": creds.access_token,
            "shop_id": creds.shop_id,
        }
        for token, shop_id in self.sessions.items():
            if shop_id != creds.shop_id:
                fields[f"session:{shop_id}"] = token
        return fields

    # ----------------------------------------------------------------- the gateway

    async def _gateway(self, request: web.Request) -> web.Response:
        params = _merge_params(request, await request.read())
        try:
            world = self._authenticate(params)
            handler = self._routes[params["method"]]
            body = handler(world, params)
        except TopError as err:
            return json_response(err.body())
        body["request_id"] = _request_id()
        key = params["method"].removeprefix("taobao.").replace(".", "_") + "_response"
        return json_response({key: body})

    def _authenticate(self, params: Mapping[str, str]) -> FakeWorld:
        method = params.get("method", "")
        if not method:
            raise TopError(21, "Missing method")
        app_key = params.get("app_key", "")
        if not app_key:
            raise TopError(28, "Missing app key")
        if app_key != self.credentials.app_key:
            raise TopError(29, "Invalid app key")
        version = params.get("v", "")
        if not version:
            raise TopError(32, "Missing version")
        if version != "2.0":
            raise TopError(34, "Unsupported version", sub_msg=f"v={version}")
        if params.get("format", "xml") != "json":
            raise TopError(23, "Invalid format", sub_msg="this fake gateway answers format=json only")
        sign_method = params.get("sign_method", "md5")
        if sign_method not in protocol.SIGN_METHODS:
            raise TopError(25, "Invalid signature", sub_msg=f"unsupported sign_method {sign_method}")
        if not params.get("sign"):
            raise TopError(24, "Missing signature")
        stamp = params.get("timestamp", "")
        if not stamp:
            raise TopError(30, "Missing timestamp")
        try:
            sent_at = protocol.parse_timestamp(stamp)
        except (ValueError, OverflowError, OSError):
            raise TopError(31, "Invalid timestamp", sub_msg=f"unparsable timestamp {stamp!r}") from None
        if abs(sent_at - self.clock.wall_now()) > TIMESTAMP_TOLERANCE:
            raise TopError(31, "Invalid timestamp", sub_msg="timestamp is more than 10 minutes off")
        if not protocol.verify(params, self.credentials.app_secret):
            raise TopError(25, "Invalid signature")
        if method not in KNOWN_METHODS:
            raise TopError(22, "Invalid method")
        session = params.get("session", "")
        if not session:
            raise TopError(26, "Missing session")
        state = self.tokens.check(session)
        shop_id = self.sessions.get(session)
        if state == "expired":
            raise TopError(27, "Invalid session", "session-expired", "SessionKey已过期")
        if state != "valid" or shop_id is None:
            raise TopError(27, "Invalid session", "invalid-sessionkey", "SessionKey非法")
        world = self.shops.get(shop_id)
        assert world is not None
        return world

    # ----------------------------------------------------------------- argument helpers

    @staticmethod
    def _time_arg(params: Mapping[str, str], name: str, *, required: bool) -> datetime | None:
        text = params.get(name, "")
        if not text:
            if required:
                raise _missing(name)
            return None
        try:
            return parse_top_time(text)
        except ValueError:
            raise _invalid(name, f"{name} must be yyyy-MM-dd HH:mm:ss") from None

    @staticmethod
    def _int_arg(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
        text = params.get(name, "")
        if not text:
            return default
        if not text.strip().lstrip("-").isdigit():
            raise _invalid(name, f"{name} must be an integer")
        value = int(text)
        if not low <= value <= high:
            raise _invalid(name, f"{name} must be within [{low}, {high}]")
        return value

    @staticmethod
    def _fields(params: Mapping[str, str]) -> frozenset[str]:
        """``fields``: required by every read API served here (40 when missing or empty); the
        answer carries only the fields it names."""
        wanted = _field_set(params.get("fields"))
        if not wanted:
            raise _missing("fields")
        return wanted

    def _window(
        self, params: Mapping[str, str], start_name: str, end_name: str, span_max: timedelta | None
    ) -> tuple[datetime, datetime]:
        start = self._time_arg(params, start_name, required=True)
        end = self._time_arg(params, end_name, required=True)
        assert start is not None and end is not None
        if end < start:
            raise _invalid(end_name, f"{end_name} must not be earlier than {start_name}")
        if span_max is not None and end - start > span_max:
            raise _invalid(
                f"{start_name},{end_name}", f"the span of {start_name} and {end_name} must be within one day"
            )
        if start < self.clock.now() - LOOK_BACK:
            raise _invalid(start_name, f"{start_name} must be within the last three months")
        return start, end

    def _paged(
        self,
        params: Mapping[str, str],
        records: Sequence[Any],
        render: Callable[[Any], Record],
        outer: str,
        inner: str,
        *,
        page_max: int,
        default_size: int = 40,
        touch_ids: Sequence[str] = (),
        world: FakeWorld | None = None,
        malform: Callable[[Any], tuple[str, Callable[[Record], Record]]] | None = None,
        frozen: tuple[FakeWorld, Hashable, Literal["orders", "refunds"], Callable[[Any], Hashable]] | None = None,
    ) -> Record:
        """A page of ``records``; ``frozen`` = (world, kind, source, key) for
        :meth:`~connectors.fakes.server.FakePlatform.frozen_records` (records pre-rendered)."""
        page_no = self._int_arg(params, "page_no", 1, 1, 1_000_000)
        page_size = self._int_arg(params, "page_size", default_size, 1, page_max)
        use_has_next = params.get("use_has_next", "false").lower() == "true"
        page = self.page_slice(records, page_no, page_size)
        if world is not None:
            self.touch_during_paging(world, touch_ids, page_no)

        def out(record: Any) -> Record:
            rendered = render(record)
            if malform is not None:
                key, corrupt = malform(record)
                rendered = self.maybe_malform(key, rendered, corrupt)
            return rendered

        if frozen is not None:
            home, kind, source, record_key = frozen
            rendered = self.frozen_records(home, kind, page, record_key, out, source=source)
        else:
            rendered = [out(record) for record in page]
        body: Record = {"has_next": page_no * page_size < len(records)}
        if not use_has_next:
            body["total_results"] = len(records)
        if rendered:
            body[outer] = {inner: rendered}
        elif records:
            body[outer] = {}  # past the last page: an empty wrapper; no records at all: no key
        return body

    # ----------------------------------------------------------------- trades

    @staticmethod
    def _status_filter(params: Mapping[str, str]) -> Callable[[FakeOrder], bool]:
        wanted = params.get("status", "")
        if not wanted:
            return lambda order: True
        group = STATUS_GROUPS.get(wanted, frozenset({wanted}))
        if not group <= set(TRADE_STATUS.values()) | {"TRADE_NO_CREATE_PAY", "PAY_PENDING"}:
            raise _invalid("status")
        return lambda order: TRADE_STATUS[order.status] in group

    def _trades_increment(self, world: FakeWorld, params: Mapping[str, str]) -> Record:
        wanted = self._fields(params)
        start, end = self._window(params, "start_modified", "end_modified", INCREMENT_SPAN_MAX)
        keep = self._status_filter(params)
        # Inclusive ends at second resolution; newest modification first (DESC).
        found = [o for o in self.orders_modified(world, start, end + timedelta(seconds=1)) if keep(o)]
        found.sort(key=lambda o: (o.modified_at, int(o.order_id)), reverse=True)
        return self._paged(
            params,
            found,
            lambda order: render_trade(order, wanted),
            "trades",
            "trade",
            page_max=100,
            touch_ids=[o.order_id for o in found],
            world=world,
            malform=lambda order: (f"trade:{order.order_id}", replaced(payment="12.3.4")),
            frozen=(world, ("trade", wanted), "orders", _order_key),
        )

    def _trades_sold(self, world: FakeWorld, params: Mapping[str, str]) -> Record:
        wanted = self._fields(params)
        now = self.clock.now()
        start = self._time_arg(params, "start_created", required=False) or now - LOOK_BACK
        end = self._time_arg(params, "end_created", required=False) or now
        if end < start:
            raise _invalid("end_created", "end_created must not be earlier than start_created")
        keep = self._status_filter(params)
        found = [o for o in self.orders_created(world, start, end + timedelta(seconds=1)) if keep(o)]
        found.sort(key=lambda o: (o.created_at, int(o.order_id)), reverse=True)
        return self._paged(
            params,
            found,
            lambda order: render_trade(order, wanted),
            "trades",
            "trade",
            page_max=100,
            frozen=(world, ("trade", wanted), "orders", _order_key),
        )

    def _trade_fullinfo(self, world: FakeWorld, params: Mapping[str, str]) -> Record:
        wanted = self._fields(params)
        tid = params.get("tid", "")
        if not tid:
            raise _missing("tid")
        if not tid.isdigit():
            raise _invalid("tid")
        order = world.order(tid)
        if order is None:
            raise TopError(15, "Remote service error", "isv.trade-not-exist", f"交易{tid}不存在")
        return {"trade": render_trade(order, wanted)}

    # ----------------------------------------------------------------- refunds

    def _refunds_receive(self, world: FakeWorld, params: Mapping[str, str]) -> Record:
        wanted = self._fields(params)
        now = self.clock.now()
        start = self._time_arg(params, "start_modified", required=False) or now - LOOK_BACK
        end = self._time_arg(params, "end_modified", required=False) or now
        if end < start:
            raise _invalid("end_modified", "end_modified must not be earlier than start_modified")
        status = params.get("status", "")
        if status and status not in REFUND_STATUS.values():
            raise _invalid("status")
        found = [
            r
            for r in self.refunds_modified(world, start, end + timedelta(seconds=1))
            if not status or REFUND_STATUS[r.status] == status
        ]
        # [I] refunds.receive.get is sorted like the trade increment API: modified DESC.
        found.sort(key=lambda r: (r.modified_at, int(r.refund_id)), reverse=True)
        return self._paged(
            params,
            found,
            lambda refund: render_refund(refund, world.order(refund.order_id), wanted),
            "refunds",
            "refund",
            page_max=100,
            malform=lambda refund: (f"refund:{refund.refund_id}", missing("refund_fee")),
            frozen=(world, ("refund", wanted), "refunds", _refund_key),
        )

    def _refund_get(self, world: FakeWorld, params: Mapping[str, str]) -> Record:
        wanted = self._fields(params)
        refund_id = params.get("refund_id", "")
        if not refund_id:
            raise _missing("refund_id")
        refund = world.refund(refund_id) if refund_id.isdigit() else None
        if refund is None:
            raise TopError(15, "Remote service error", "isv.refund-not-exist", f"退款{refund_id}不存在")
        return {"refund": render_refund(refund, world.order(refund.order_id), wanted)}

    # ----------------------------------------------------------------- items and stock

    def _items(self, world: FakeWorld, params: Mapping[str, str], on_sale: bool) -> Record:
        wanted = self._fields(params)
        page_no = self._int_arg(params, "page_no", 1, 1, 1_000_000)
        page_size = self._int_arg(params, "page_size", 40, 1, 200)
        if page_no * page_size > 20_000:
            raise _invalid("page_no", "page_no * page_size must not exceed 20000")
        start = self._time_arg(params, "start_modified", required=False)
        end = self._time_arg(params, "end_modified", required=False)
        items = [
            item
            for item in world.products()
            if item.on_sale == on_sale
            and (start is None or item.modified_at >= start)
            and (end is None or item.modified_at < end + timedelta(seconds=1))
        ]
        order_by = params.get("order_by", "list_time:desc")
        field_name, _, direction = order_by.partition(":")
        sort_keys: dict[str, Callable[[FakeItem], Any]] = {
            "list_time": lambda item: (item.created_at, int(item.item_id)),
            "modified": lambda item: (item.modified_at, int(item.item_id)),
            "num": lambda item: (item.stock, int(item.item_id)),
        }
        if field_name not in sort_keys or direction not in ("asc", "desc"):
            raise _invalid("order_by")
        items.sort(key=sort_keys[field_name], reverse=direction == "desc")
        return self._paged(
            params,
            items,
            lambda item: render_item(item, wanted),
            "items",
            "item",
            page_max=200,
            malform=lambda item: (f"item:{item.item_id}", missing("num")),
        )

    def _items_onsale(self, world: FakeWorld, params: Mapping[str, str]) -> Record:
        return self._items(world, params, on_sale=True)

    def _items_inventory(self, world: FakeWorld, params: Mapping[str, str]) -> Record:
        return self._items(world, params, on_sale=False)

    def _item_seller_get(self, world: FakeWorld, params: Mapping[str, str]) -> Record:
        """One item as its seller sees it (on sale or in the warehouse), with the ``fields``
        asked for: ``num`` is its stock, ``skus.sku[].quantity`` each SKU's."""
        wanted = self._fields(params)
        num_iid = params.get("num_iid", "")
        if not num_iid:
            raise _missing("num_iid")
        item = world.item(num_iid) if num_iid.isdigit() else None
        if item is None:
            raise TopError(15, "Remote service error", "isv.item-not-exist", f"商品{num_iid}不存在")
        return {"item": render_item(item, wanted)}

    def _quantity_update(self, world: FakeWorld, params: Mapping[str, str]) -> Record:
        num_iid = params.get("num_iid", "")
        if not num_iid:
            raise _missing("num_iid")
        if not params.get("quantity"):
            raise _missing("quantity")
        quantity = self._int_arg(params, "quantity", 0, -999_999, 999_999)
        update_type = self._int_arg(params, "type", 1, 1, 2)
        if update_type == 1 and quantity < 0:
            raise _invalid("quantity", "a full update needs quantity >= 0")
        item = world.item(num_iid) if num_iid.isdigit() else None
        if item is None:
            raise TopError(15, "Remote service error", "isv.item-not-exist", f"商品{num_iid}不存在")
        sku_id = params.get("sku_id") or None
        outer_id = params.get("outer_id") or None
        if sku_id is None and outer_id is not None:
            sku_id = next((s.sku_id for s in item.skus if s.sku_code == outer_id), None)
            if sku_id is None:
                raise TopError(15, "Remote service error", "isv.sku-not-exist", f"outer_id {outer_id} 不存在")
        if sku_id is None and len(item.skus) > 1:
            raise _missing("sku_id")
        if sku_id is not None and all(s.sku_id != sku_id for s in item.skus):
            raise TopError(15, "Remote service error", "isv.sku-not-exist", f"SKU {sku_id} 不存在")
        target = sku_id if sku_id is not None else item.skus[0].sku_id
        current = next(s.stock for s in item.skus if s.sku_id == target)
        new = quantity if update_type == 1 else current + quantity
        if new < 0:
            raise TopError(
                15,
                "Remote service error",
                "isv.item-quantity-item-update-service-error",
                f"库存不足: {current} {quantity:+d} < 0",
            )
        world.set_stock(item.item_id, target, new)
        fresh = world.item(item.item_id)
        assert fresh is not None
        return {
            "item": {
                "num_iid": int(fresh.item_id),
                "num": fresh.stock,
                "modified": top_time(self.clock.now()),
                "skus": {
                    "sku": [
                        {"sku_id": int(s.sku_id), "quantity": s.stock, "modified": top_time(s.modified_at)}
                        for s in fresh.skus
                        if s.sku_id == target
                    ]
                },
            }
        }

    # ----------------------------------------------------------------- prices

    @staticmethod
    def _price_arg(params: Mapping[str, str]) -> int:
        """``price``: yuan with at most 2 decimals, 0.01 to 100,000,000 (TOP's range)."""
        text = params.get("price", "")
        if not text:
            raise _missing("price")
        try:
            fen = parse_yuan(text, max_fen=100_000_000 * 100)
        except MoneyError:
            raise _invalid("price", f"价格格式错误:{text}") from None
        if fen <= 0:
            raise _invalid("price", "价格必须大于0")
        return fen

    def _priced_item(self, world: FakeWorld, params: Mapping[str, str]) -> FakeItem:
        num_iid = params.get("num_iid", "")
        if not num_iid:
            raise _missing("num_iid")
        item = world.item(num_iid) if num_iid.isdigit() else None
        if item is None:
            raise TopError(15, "Remote service error", "isv.item-not-exist", f"商品{num_iid}不存在")
        return item

    def _sku_price_update(self, world: FakeWorld, params: Mapping[str, str]) -> Record:
        """taobao.item.sku.price.update: the SKU by ``sku_id`` or merchant ``outer_id``; answers
        the SKU's ``num_iid`` and ``modified`` only, as TOP does."""
        item = self._priced_item(world, params)
        price = self._price_arg(params)
        sku_id = params.get("sku_id") or None
        outer_id = params.get("outer_id") or None
        if sku_id is None and outer_id is not None:
            sku_id = next((s.sku_id for s in item.skus if s.sku_code == outer_id), None)
        if sku_id is None:
            raise _missing("sku_id")
        if all(s.sku_id != sku_id for s in item.skus):
            raise TopError(15, "Remote service error", "isv.sku-not-exist", f"SKU {sku_id} 不存在")
        world.set_price(item.item_id, sku_id, price)
        return {"sku": {"sku_id": int(sku_id), "num_iid": int(item.item_id), "modified": top_time(self.clock.now())}}

    def _item_price_update(self, world: FakeWorld, params: Mapping[str, str]) -> Record:
        """taobao.item.price.update: an item without SKU choice (one SKU here)."""
        item = self._priced_item(world, params)
        price = self._price_arg(params)
        if len(item.skus) != 1:
            raise _invalid("num_iid", f"商品{item.item_id}有{len(item.skus)}个SKU,请用taobao.item.sku.price.update")
        world.set_price(item.item_id, item.skus[0].sku_id, price)
        return {"item": {"num_iid": int(item.item_id), "modified": top_time(self.clock.now())}}

    # ----------------------------------------------------------------- shipping

    def _offline_send(self, world: FakeWorld, params: Mapping[str, str]) -> Record:
        """taobao.logistics.offline.send (自己联系物流发货): ``tid``, ``out_sid`` (the tracking
        number) and ``company_code``; answers ``shipping.is_success``. Refusals are code 15 with
        ``isv.logistics-offline-service-error:<B..>`` sub_codes [I codes]: B02 no such trade, B04 already
        shipped, B27 refunded or closed, B01 unknown company, B60 bad tracking number."""
        tid = params.get("tid", "")
        if not tid:
            raise _missing("tid")
        out_sid = params.get("out_sid", "")
        if not out_sid:
            raise _missing("out_sid")
        company = params.get("company_code", "")
        if not company:
            raise _missing("company_code")
        if not known_code(TAOBAO_CARRIERS, company):
            raise _logistics_error("B01", f"物流公司编码{company}不存在")
        if not valid_tracking(out_sid):
            raise _logistics_error("B60", f"运单号{out_sid}不符合{company}的运单号规则")
        if not tid.isdigit():
            raise _logistics_error("B02", f"交易{tid}不存在")
        try:
            world.ship(tid, company, out_sid)
        except ShipError as exc:
            if exc.reason == "not_found":
                raise _logistics_error("B02", f"交易{tid}不存在") from None
            if exc.reason == "shipped":
                raise _logistics_error("B04", "订单已发货,不能重复发货") from None
            raise _logistics_error("B27", f"订单状态不允许发货(退款或已关闭): {exc}") from None
        return {"shipping": {"is_success": True}}

    # ----------------------------------------------------------------- bills

    def _bills(self, world: FakeWorld, params: Mapping[str, str]) -> Record:
        wanted = self._fields(params)
        trade_id = params.get("trade_id") or None
        order_id = params.get("order_id") or None
        span = None if (trade_id or order_id) else BILL_SPAN_MAX
        start, end = self._window(params, "start_time", "end_time", span)
        time_type = self._int_arg(params, "time_type", 2, 1, 2)
        # The world indexes bills by settlement (pay) time; biz time is one day earlier.
        shift = timedelta(days=1) if time_type == 1 else timedelta(0)
        lines = [
            line
            for line in world.settlements(start + shift, end + shift + timedelta(seconds=1))
            if (trade_id is None or line.order_id == trade_id) and (order_id is None or line.line_id == order_id)
        ]
        orders: dict[str, FakeOrder | None] = {}

        def render(line: FakeSettlementLine) -> Record:
            if line.order_id not in orders:
                orders[line.order_id] = world.order(line.order_id)
            return render_bill(line, orders[line.order_id], wanted)

        return self._paged(
            params,
            lines,
            render,
            "bills",
            "bill",
            page_max=100,
            malform=lambda line: (f"bill:{line.bill_id}", replaced(amount="N/A")),
        )

    def _bill_get(self, world: FakeWorld, params: Mapping[str, str]) -> Record:
        """One bill by ``bid`` (a linear scan of the shop's bills: only recoveries call it)."""
        wanted = self._fields(params)
        bid = params.get("bid", "")
        if not bid:
            raise _missing("bid")
        since = world.anchor - timedelta(days=world.days + 1)
        for line in world.settlements(since, self.clock.now() + timedelta(seconds=1)):
            if line.bill_id == bid:
                return {"bill": render_bill(line, world.order(line.order_id), wanted)}
        raise TopError(15, "Remote service error", "isv.bill-not-exist", f"账单{bid}不存在")
