"""Youzan (有赞云) connector, PLATFORMS.md §5.

Youzan signs nothing: every call is ``POST /api/{api}/{version}?access_token=TOKEN`` with a JSON
body, and the gateway checks only the token (``connectors.signing.youzan``). The token comes
from ``POST /auth/token`` (silent authorisation for a self-use app, ``refresh_token`` for a tool
app) and is refreshed before it expires and once when the gateway says it is expired or unknown.

Envelopes: v4 APIs answer ``{"success", "code": 200, "message", "data", "trace_id"}``; v3 APIs
``{"response": ...}`` or ``{"error_response": {"code", "msg"}}``; the gateway refuses with HTTP 200
``{"gw_err_resp": {"err_code", "err_msg", "trace_id"}}``.

Pure parts first (tables, envelope reading, record parsers), then :class:`YouzanConnector`.

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

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from bangfu.enums import (
    ErrorClass,
    LineRefundState,
    OrderStatus,
    PlatformKind,
    RefundStatus,
    SettlementKind,
    SyncStream,
)
from bangfu.money import split_largest_remainder
from bangfu.records import (
    OrderLineRecord,
    OrderRecord,
    ProductRecord,
    Raw,
    RefundRecord,
    SettlementLineRecord,
    SkuRecord,
    StockPushResult,
)
from connectors import fields
from connectors.base import Connector, PricePushResult, Request, StockPushUncertain
from connectors.buyers import buyer_ref
from connectors.errors import (
    AuthError,
    BadRequestError,
    ErrorResolution,
    TransientError,
    lookup,
    parse_ban_hint,
)
from connectors.paging import NumberedPage, PageNumberUntilStable, UnstableWindow
from connectors.ratelimit import RateLimit
from connectors.signing.youzan import (
    TOKEN_PATH,
    AuthorizeType,
    TokenRequestError,
    TokenResponseError,
    api_path,
    parse_token_response,
    token_request_body,
)
from connectors.windows import inclusive_end, parse_local, to_epoch_s, to_local_str

PLATFORM = "youzan"

TRADES_SOLD_GET = ("youzan.trades.sold.get", "4.0.4")
TRADE_GET = ("youzan.trade.get", "4.0.2")
REFUND_SEARCH = ("youzan.trade.refund.search", "3.0.1")
REFUND_GET = ("youzan.trade.refund.get", "3.0.1")
ITEMS_ONSALE_GET = ("youzan.items.onsale.get", "3.0.0")
ITEMS_INVENTORY_GET = ("youzan.items.inventory.get", "3.0.0")
ITEM_GET = ("youzan.item.get", "3.0.0")
ITEM_QUANTITY_UPDATE = ("youzan.item.quantity.update", "3.0.0")
# [I] the price write: PLATFORMS.md names no Youzan price API; SKU price in fen like item.get's
ITEM_SKU_UPDATE = ("youzan.item.sku.update", "3.0.0")
# [I] PLATFORMS.md §5 lists no settlement/bill API for Youzan. We use this name and shape
# (settle-time window in Beijing time, page_no/page_size, signed yuan amounts); the fake
# serves the same.
SETTLEMENT_SEARCH = ("youzan.trade.settlement.bill.search", "1.0.0")
TOKEN_OP = "auth.token"

MAX_PAGE_SIZE = 100  # trades.sold.get and refund.search: page_size <= 100
MAX_PAGE_NO = 100  # trades.sold.get: page_no <= 100, so <= 10,000 orders per window
REFUND_MAX_DEPTH = 3000  # refund.search: page_no * page_size <= 3000 ("超过ES搜索最大深度")
ITEMS_PAGE_SIZE = 100  # items.onsale.get: page_size < 200 and page_no * page_size < 4000
#: re-page a window whose total_results moved while we paged it, at most this often
UNSTABLE_WINDOW = UnstableWindow(rescans=4)

# -- statuses: policy as data ------------------------------------------------------------------

# order_info.status [V:S16]. TRADE_CLOSED is both "closed before payment" and "closed after a
# full refund": :func:`order_status` splits it by whether the order was ever paid.
ORDER_STATUS: Mapping[str, OrderStatus] = {
    "WAIT_BUYER_PAY": OrderStatus.PENDING_PAYMENT,
    "TRADE_PAID": OrderStatus.PAID,  # transient, becomes one of the next two
    "WAIT_CONFIRM": OrderStatus.PAID,  # waiting for the group to form / the shop to accept
    "WAIT_SELLER_SEND_GOODS": OrderStatus.PAID,
    "WAIT_BUYER_CONFIRM_GOODS": OrderStatus.SHIPPED,
    "TRADE_SUCCESS": OrderStatus.COMPLETED,
    "TRADE_CLOSED": OrderStatus.CLOSED,
}

# refund.search / refund.get ``status``.
REFUND_STATUS: Mapping[str, RefundStatus] = {
    "WAIT_SELLER_AGREE": RefundStatus.REQUESTED,
    "WAIT_BUYER_RETURN_GOODS": RefundStatus.AWAITING_RETURN,
    "WAIT_SELLER_CONFIRM_GOODS": RefundStatus.AWAITING_CONFIRM,
    "SELLER_REFUSE_BUYER": RefundStatus.REFUSED,
    "SELLER_REFUSE_BUYER_RETURN_GOODS": RefundStatus.REFUSED,
    "CLOSED": RefundStatus.CLOSED,
    "SUCCESS": RefundStatus.SUCCEEDED,
}

# trade.get ``refund_order[].refund_state`` (a different integer set from refund.search's
# strings). 1/10/20/30/40 are documented; [I] 50 closed, 60 succeeded (the doc's table is cut).
REFUND_ORDER_STATE: Mapping[int, RefundStatus] = {
    1: RefundStatus.REQUESTED,
    10: RefundStatus.REFUSED,
    20: RefundStatus.AWAITING_RETURN,
    30: RefundStatus.AWAITING_CONFIRM,
    40: RefundStatus.REFUSED,
    50: RefundStatus.CLOSED,
    60: RefundStatus.SUCCEEDED,
}

# order_info.refund_state (order level) [V:S16]: 0 none, 1 partial refunding, 2 partial
# refunded, 11 full refunding, 12 full refunded. Only the full states say which lines (all).
ORDER_REFUND_STATE_ALL_LINES: Mapping[int, LineRefundState] = {
    11: LineRefundState.IN_PROGRESS,
    12: LineRefundState.FULL,
}

# refund ``reason`` is an integer enum on Youzan. [I] the codes and texts our fake uses; an
# unknown code is kept as its number.
REFUND_REASON: Mapping[int, str] = {
    11: "质量问题",
    12: "拍错/多拍/不想要",
    13: "商品破损",
    14: "未按约定时间发货",
    15: "其他",
}

# [I] settlement ``biz_type`` of our assumed bill API.
BILL_TYPE: Mapping[str, SettlementKind] = {
    "SALE": SettlementKind.SALE,
    "REFUND": SettlementKind.REFUND,
    "PLATFORM_FEE": SettlementKind.PLATFORM_FEE,
    "COMMISSION": SettlementKind.HOST_COMMISSION,
    "PAY_FEE": SettlementKind.PAYMENT_FEE,
    "LOGISTICS": SettlementKind.LOGISTICS,
    "SUBSIDY": SettlementKind.SUBSIDY,
}

# -- errors: policy as data --------------------------------------------------------------------

_AUTH = ErrorResolution(ErrorClass.AUTH)
# 4201/4202/4203: the documented advice is "refresh the token once and retry once, then stop".
_TOKEN = ErrorResolution(ErrorClass.AUTH, token_expired=True)
_BAD = ErrorResolution(ErrorClass.BAD_REQUEST)
_LIMIT = ErrorResolution(ErrorClass.RATE_LIMIT, message="请求太频繁")
_TRANSIENT = ErrorResolution(ErrorClass.TRANSIENT)

ERRORS: Mapping[str | int, ErrorResolution] = {
    # Gateway (gw_err_resp.err_code), HTTP 200.
    4001: _BAD,  # 非法请求地址 (path is not /api/{name}/{version})
    4004: _BAD,  # 非法的Content (body is not JSON)
    4005: _BAD,  # 非法的API (unknown name or version)
    4007: _BAD,  # 非法的请求姿势 (method / content type; also the IP allow-list: an operator fix)
    4009: _BAD,
    4010: _BAD,
    4101: _LIMIT,  # 请求太频繁 [I: the code is from the docs' rate-limit page, no hint given]
    4201: _TOKEN,  # 非法的请求凭证 (no token, or the authorisation was revoked)
    4202: _TOKEN,  # 请求凭证过期
    4203: _TOKEN,  # 请求凭证不存在 / "Token 不存在"
    4204: _AUTH,  # 无权限访问 (the API's capability pack is not granted)
    5001: _BAD,  # 系统异常: in practice a parameter of the wrong type
    5002: _BAD,
    5003: _TRANSIENT,  # plugin failure on the platform side
    # Other throttle shapes the docs list (business layer).
    500100004: _LIMIT,
    123000042: _LIMIT,
    141500203: _LIMIT,
    # /auth/token ({success: false, code}): all need an operator.
    1000: _AUTH,  # client_secret wrong (or not a JSON body)
    1004: _AUTH,  # authorisation expired (subscription ended)
    1005: _AUTH,  # bad or used authorisation code
    1103: _AUTH,  # unknown client / no authorisation / app mismatch
    1105: _AUTH,  # wrong authorize_type for the app type
    # Business errors.
    5000: _BAD,  # e.g. "trade not found", "每页最多显示100条数据"
    106000001: _TRANSIENT,  # request timed out, retry
    106100118: _TRANSIENT,
    106000003: _BAD,  # end time more than 7 days in the future
    106000004: _BAD,
    106100110: _BAD,
    -100: _TRANSIENT,
}


def _resolve(code: Any, message: str) -> ErrorResolution:
    row = lookup(ERRORS, code if isinstance(code, int | str) else None, default=_BAD)
    assert row is not None
    hint = parse_ban_hint(message) if row.error_class is ErrorClass.RATE_LIMIT else None
    return row.with_details(code=code if isinstance(code, int | str) else "unknown", message=message, retry_after=hint)


def classify_body(body: Any) -> ErrorResolution | None:
    """The resolution for a decoded Youzan body, ``None`` when it is a success."""
    if not isinstance(body, Mapping):
        return _TRANSIENT.with_details(code="garbled", message="body is not a JSON object")
    gateway = body.get("gw_err_resp")
    if gateway is not None:
        if not isinstance(gateway, Mapping):
            return _TRANSIENT.with_details(code="gw_err_resp", message="garbled gw_err_resp")
        return _resolve(gateway.get("err_code"), str(gateway.get("err_msg") or ""))
    legacy = body.get("error_response")
    if legacy is not None:
        if not isinstance(legacy, Mapping):
            return _TRANSIENT.with_details(code="error_response", message="garbled error_response")
        return _resolve(legacy.get("code"), str(legacy.get("msg") or ""))
    if "response" in body and "success" not in body:
        return None  # v3 success envelope
    code = body.get("code")
    if body.get("success") is True and code in (200, "200"):
        return None
    return _resolve(code if code is not None else "no_code", str(body.get("message") or ""))


def unwrap_body(body: Mapping[str, Any]) -> Any:
    """The payload of a success envelope (v4 ``data``, v3 ``response``)."""
    if "data" in body:
        return body["data"]
    return body.get("response")


# -- field helpers -----------------------------------------------------------------------------


def _obj(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if not isinstance(value, Mapping):
        raise ValueError(f"{key!r} is not an object: {type(value).__name__}")
    return value


#: a plain ``123.45`` yuan string: converted with integer arithmetic (exact, like ``yuan_to_fen``,
#: which parses with Decimal and takes the other shapes); at most 13 integer digits stays in range.


def _time(raw: Mapping[str, Any], key: str) -> datetime:
    return parse_local(fields.required(raw, key))


def _opt_time(raw: Mapping[str, Any], key: str) -> datetime | None:
    value = raw.get(key)
    return parse_local(value) if value not in (None, "") else None


def _bool(raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def _list(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{key!r} is not a list: {type(value).__name__}")
    return value


# -- record parsers (pure) ---------------------------------------------------------------------


def order_status(status: str, paid: bool) -> OrderStatus:
    """``order_info.status`` -> hub status; TRADE_CLOSED splits on whether it was paid."""
    try:
        mapped = ORDER_STATUS[status]
    except KeyError:
        raise ValueError(f"unknown order status {status!r}") from None
    if mapped is OrderStatus.CLOSED and not paid:
        return OrderStatus.CANCELLED
    return mapped


_LINE_STATE_RANK: Mapping[LineRefundState, int] = {
    LineRefundState.NONE: 0,
    LineRefundState.PARTIAL: 1,
    LineRefundState.IN_PROGRESS: 2,
    LineRefundState.FULL: 3,
}


def line_refund_states(raw: Mapping[str, Any], payments: Mapping[str, int]) -> dict[str, LineRefundState]:
    """Per-line refund state (oid -> state) from trade.get's ``refund_order[]``.

    ``payments`` is each line's paid fen: a succeeded refund covering its lines' whole payment
    makes them FULL, less makes them PARTIAL. A line with several refunds keeps the strongest
    state (FULL > IN_PROGRESS > PARTIAL > NONE).
    """
    out: dict[str, LineRefundState] = {}
    for entry in _list(raw, "refund_order"):
        if not isinstance(entry, Mapping):
            raise ValueError("refund_order entry is not an object")
        code = fields.integer(entry, "refund_state")
        status = REFUND_ORDER_STATE.get(code)
        if status is None:
            raise ValueError(f"unknown refund_order.refund_state {code!r}")
        oids = [str(oid) for oid in _list(entry, "oids")]
        if status is RefundStatus.SUCCEEDED:
            covered = sum(payments.get(oid, 0) for oid in oids)
            state = LineRefundState.FULL if fields.yuan(entry, "refund_fee", 0) >= covered else LineRefundState.PARTIAL
        elif status in (RefundStatus.CLOSED, RefundStatus.REFUSED):
            state = LineRefundState.NONE
        else:
            state = LineRefundState.IN_PROGRESS
        for oid in oids:
            current = out.get(oid, LineRefundState.NONE)
            if _LINE_STATE_RANK[state] > _LINE_STATE_RANK[current]:
                out[oid] = state
    return out


def post_fee_shares(entries: Sequence[Mapping[str, Any]], post_fee: int) -> dict[str, int]:
    """Each line's share of the post fee inside its ``orders[].payment`` (oid -> fen).

    Σ orders.payment = pay_info.payment, which includes the post fee (PLATFORMS.md §5), so the
    lines' payments carry the post fee between them. [I] How Youzan spreads it is not
    documented; we take largest-remainder shares in proportion to each line's ``total_fee``
    (what the fake does too). Whatever the real rule, the lines' goods amounts still add up to
    ``payment - post_fee`` exactly; only a fen may move between lines.
    """
    oids = [str(entry.get("oid")) for entry in entries]
    if not post_fee:
        return dict.fromkeys(oids, 0)
    weights = {
        oid: fields.yuan(entry, "total_fee")
        if entry.get("total_fee") not in (None, "")
        else fields.yuan(entry, "payment")
        for oid, entry in zip(oids, entries, strict=True)
    }
    if sum(weights.values()) <= 0:
        return split_largest_remainder(post_fee, dict.fromkeys(oids, 0), leftover_to=oids[0])
    return split_largest_remainder(post_fee, weights)


def parse_order_line(
    raw: Mapping[str, Any], refund_state: LineRefundState = LineRefundState.NONE, post_fee_share: int = 0
) -> OrderLineRecord:
    """One ``orders[]`` entry. ``payment`` is what the buyer paid for the line after every
    discount, plus its share of the post fee; ``paid_fen`` is the goods part only (the hub keeps
    the post fee on the order)."""
    unit_key = "discount_price" if raw.get("discount_price") not in (None, "") else "price"
    paid = fields.yuan(raw, "payment") - post_fee_share
    if paid < 0:
        raise ValueError(f"line {raw.get('oid')!r}: payment is less than its post-fee share")
    return OrderLineRecord(
        platform_line_id=fields.text_id(raw, "oid"),
        platform_item_id=fields.text_id(raw, "item_id"),
        quantity=fields.integer(raw, "num"),
        unit_price_fen=fields.yuan(raw, unit_key),
        paid_fen=paid,
        title=str(raw.get("title") or ""),
        platform_sku_id=fields.opt_text_id(raw, "sku_id"),
        outer_sku_id=str(raw.get("outer_sku_id") or raw.get("outer_item_id") or "") or None,
        refund_state=refund_state,
        raw=raw,
    )


def parse_order(raw: Mapping[str, Any], *, hash_key: bytes | None = None) -> OrderRecord:
    """A ``{"full_order_info": {...}}`` (trades.sold.get entry, or trade.get ``data`` with its
    ``refund_order[]``) -> :class:`OrderRecord`."""
    info = _obj(raw, "full_order_info")
    order_info = _obj(info, "order_info")
    pay_info = _obj(info, "pay_info")
    status_text = str(fields.required(order_info, "status"))
    paid_at = _opt_time(order_info, "pay_time")
    tags = order_info.get("order_tags")
    tagged_paid = isinstance(tags, Mapping) and _bool(tags, "is_payed")
    status = order_status(status_text, paid_at is not None or tagged_paid)

    entries = _list(info, "orders")
    if not entries:
        raise ValueError("order has no lines (orders[] is empty)")
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise ValueError("orders[] entry is not an object")
    post_fee = fields.yuan(pay_info, "post_fee", 0)
    shares = post_fee_shares(entries, post_fee)
    goods = {str(e.get("oid")): fields.yuan(e, "payment") - shares[str(e.get("oid"))] for e in entries}
    per_line = line_refund_states(raw, goods)
    # Without refund_order[] (list results), only the order-level full states name the lines.
    order_level = LineRefundState.NONE
    if order_info.get("refund_state") not in (None, ""):
        order_level = ORDER_REFUND_STATE_ALL_LINES.get(fields.integer(order_info, "refund_state"), LineRefundState.NONE)
    lines = tuple(
        parse_order_line(e, per_line.get(str(e.get("oid")), order_level), shares[str(e.get("oid"))]) for e in entries
    )

    total = fields.yuan(pay_info, "total_fee", 0)
    payment = fields.yuan(pay_info, "payment")
    # pay_info.payment = total_fee - (order + item discounts) + adjust_fee + post_fee (FAQ 29773)
    discount = max(0, total + post_fee - payment) if total else 0
    buyer = info.get("buyer_info")
    open_id = buyer.get("yz_open_id") if isinstance(buyer, Mapping) else None
    return OrderRecord(
        platform_order_id=fields.text_id(order_info, "tid"),
        status=status,
        platform_status=status_text,
        created_at=_time(order_info, "created"),
        modified_at=_time(order_info, "update_time"),
        paid_fen=payment if status.is_paid else 0,
        lines=lines,
        paid_at=paid_at,
        post_fee_fen=post_fee,
        discount_fen=discount,
        buyer_ref=buyer_ref(PLATFORM, str(open_id), hash_key) if open_id else None,
        raw=raw,
    )


def parse_refund(raw: Mapping[str, Any]) -> RefundRecord:
    """A refund from refund.search ``refunds[]`` or refund.get ``data``."""
    status_text = str(fields.required(raw, "status"))
    status = REFUND_STATUS.get(status_text)
    if status is None:
        raise ValueError(f"unknown refund status {status_text!r}")
    reason = raw.get("reason")
    reason_text: str | None
    if isinstance(reason, int) and not isinstance(reason, bool):
        reason_text = REFUND_REASON.get(reason, str(reason))
    else:
        reason_text = str(reason) if reason not in (None, "") else None
    num = raw.get("num")
    return RefundRecord(
        platform_refund_id=fields.text_id(raw, "refund_id"),
        platform_order_id=fields.text_id(raw, "tid"),
        status=status,
        platform_status=status_text,
        amount_fen=fields.yuan(raw, "refund_fee"),
        created_at=_time(raw, "created"),
        modified_at=_time(raw, "modified"),
        platform_line_id=fields.opt_text_id(raw, "oid"),
        quantity=fields.integer(raw, "num") if num not in (None, "") else None,
        with_return=_bool(raw, "return_goods"),
        reason=reason_text,
        raw=raw,
    )


def parse_sku(raw: Mapping[str, Any]) -> SkuRecord:
    spec = raw.get("properties_name_json") or raw.get("properties_name")
    return SkuRecord(
        platform_sku_id=fields.text_id(raw, "sku_id"),
        price_fen=fields.fen(raw, "price"),
        stock=fields.integer(raw, "quantity"),
        outer_id=str(raw["item_no"]) if raw.get("item_no") else None,
        spec=str(spec) if spec else None,
        modified_at=_opt_time(raw, "modified"),
        raw=raw,
    )


def parse_item(raw: Mapping[str, Any]) -> ProductRecord:
    """item.get ``data.item`` (with ``skus``) -> :class:`ProductRecord`. Prices are fen."""
    modified = _opt_time(raw, "update_time") or _time(raw, "created")
    return ProductRecord(
        platform_item_id=fields.text_id(raw, "item_id"),
        title=str(fields.required(raw, "title")),
        on_sale=_bool(raw, "is_listing"),
        price_fen=fields.fen(raw, "price"),
        stock=fields.integer(raw, "quantity"),
        modified_at=modified,
        outer_id=str(raw["item_no"]) if raw.get("item_no") else None,
        skus=tuple(parse_sku(sku) for sku in _list(raw, "skus") if isinstance(sku, Mapping)),
        raw=raw,
    )


def parse_bill(raw: Mapping[str, Any]) -> SettlementLineRecord:
    """[I] One line of our assumed bill API: ``amount`` is a signed yuan string."""
    return SettlementLineRecord(
        platform_bill_id=fields.text_id(raw, "bill_no"),
        kind=BILL_TYPE.get(str(raw.get("biz_type")), SettlementKind.OTHER),
        amount_fen=fields.yuan(raw, "amount"),
        settled_at=_time(raw, "settle_time"),
        platform_order_id=fields.opt_text_id(raw, "tid"),
        platform_line_id=fields.opt_text_id(raw, "oid"),
        raw=raw,
    )


# -- the connector -----------------------------------------------------------------------------


class YouzanConnector(Connector):
    """Youzan shop: ``app_key``/``app_secret`` are the app's client_id/client_secret and
    ``shop_id`` is the kdt_id. ``extra["app_type"]`` is ``"self_use"`` (default: silent
    authorisation) or ``"tool"`` (refresh with the stored refresh_token)."""

    platform: ClassVar[PlatformKind] = PlatformKind.YOUZAN
    # start/end_update must come in pairs spanning at most 3 months (docs). One-day windows keep
    # a normal shop's window within a page or two; a window past 10,000 orders (100 pages of
    # 100) is split in halves by _paged_window.
    window_max: ClassVar[timedelta] = timedelta(days=90)
    window_advised: ClassVar[timedelta] = timedelta(days=1)
    page_size: ClassVar[int] = MAX_PAGE_SIZE
    # [I] the docs publish no QPS for trade APIs (suggested per-shop QPS for item APIs is 30-300,
    # quantity.update 30); 50/s per app with a burst of 20 stays inside the read figures, and
    # push_stock is rare.
    rate: ClassVar[RateLimit] = RateLimit(per_second=50.0, burst=20)
    streams: ClassVar[frozenset[SyncStream]] = frozenset(
        {SyncStream.ORDERS, SyncStream.REFUNDS, SyncStream.PRODUCTS, SyncStream.SETTLEMENTS}
    )
    stream_windows: ClassVar[Mapping[SyncStream, timedelta]] = {
        SyncStream.REFUNDS: timedelta(days=1),
        SyncStream.SETTLEMENTS: timedelta(days=1),
    }
    id_paths: ClassVar[Mapping[SyncStream, str]] = {
        SyncStream.ORDERS: "full_order_info.order_info.tid",
        SyncStream.REFUNDS: "refund_id",
        SyncStream.PRODUCTS: "item_id",
    }
    token_refresh: ClassVar[bool] = True
    refresh_margin: ClassVar[timedelta] = timedelta(minutes=30)  # tokens live 7 days

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.tokens.access_token:
            # No token yet: make the base fetch one before the first call.
            self.tokens.expires_at = datetime(1970, 1, 1, tzinfo=UTC)

    # ------------------------------------------------------------------ request hooks
    def prepare(self, request: Request) -> Request:
        if request.authenticated:
            if not self.tokens.access_token:
                raise AuthError(PLATFORM, "no_token", "no access token", token_expired=True)
            request.params["access_token"] = self.tokens.access_token
        return request

    def classify(self, http_status: int, body: Any) -> ErrorResolution | None:
        resolution = super().classify(http_status, body)
        if resolution is not None:
            return resolution
        return classify_body(body)

    def unwrap(self, request: Request, body: Any) -> Any:
        if not request.authenticated:
            return body  # /auth/token: parse_token_response reads the whole envelope
        return unwrap_body(body)

    async def api(self, name_version: tuple[str, str], body: Mapping[str, Any]) -> Any:
        """One business call; returns the envelope's payload."""
        name, version = name_version
        return await self.call(name, path=api_path(name, version), json=dict(body))

    # ------------------------------------------------------------------ tokens
    async def refresh_token(self) -> None:
        cfg = self.config
        try:
            if cfg.extra.get("app_type", "self_use") == "tool":
                if not self.tokens.refresh_token:
                    raise AuthError(PLATFORM, "no_refresh_token", "tool app without a refresh_token")
                body = token_request_body(
                    AuthorizeType.REFRESH_TOKEN,
                    cfg.app_key,
                    cfg.app_secret,
                    refresh_token=self.tokens.refresh_token,
                )
            else:
                body = token_request_body(
                    AuthorizeType.SILENT,
                    cfg.app_key,
                    cfg.app_secret,
                    grant_id=cfg.shop_id,
                    # With a token in hand we refresh because it expires or was refused: mint a
                    # new one. Without one, ask for the current token (refresh=false).
                    refresh=bool(self.tokens.access_token),
                )
        except TokenRequestError as exc:
            raise AuthError(PLATFORM, "token_request", str(exc)) from exc
        answer = await self.call(TOKEN_OP, path=TOKEN_PATH, json=body, authenticated=False)
        try:
            token = parse_token_response(answer)
        except TokenResponseError as exc:
            raise AuthError(PLATFORM, exc.code, exc.message) from exc
        self.set_tokens(token.access_token, token.refresh_token, token.expires_at)

    # ------------------------------------------------------------------ parse hooks
    def parse_order(self, raw: Raw) -> OrderRecord:
        return parse_order(raw)

    def parse_refund(self, raw: Raw) -> RefundRecord:
        return parse_refund(raw)

    def parse_product(self, raw: Raw) -> ProductRecord:
        return parse_item(raw)

    def parse_settlement(self, raw: Raw) -> Sequence[SettlementLineRecord]:
        return (parse_bill(raw),)

    # ------------------------------------------------------------------ orders
    def _orders_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        first, last = second_bounds(start, end)
        return self._paged_window(
            TRADES_SOLD_GET,
            {"start_update": to_local_str(first), "end_update": to_local_str(last)},
            list_key="full_order_info_list",
            total_key="total_results",
            key=_order_key,
            max_items=MAX_PAGE_SIZE * MAX_PAGE_NO,
            start=start,
            end=end,
            split=self._orders_window,
        )

    async def _order_detail_raw(self, platform_order_id: str) -> Raw:
        data = await self.api(TRADE_GET, {"tid": platform_order_id})
        if not isinstance(data, Mapping) or not isinstance(data.get("full_order_info"), Mapping):
            raise TransientError(PLATFORM, "garbled", "trade.get answered without full_order_info")
        return data

    # ------------------------------------------------------------------ refunds
    def _refunds_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        # refund.search takes epoch seconds; [I] both ends inclusive like the trade APIs.
        first, last = second_bounds(start, end)
        return self._paged_window(
            REFUND_SEARCH,
            {"update_time_start": to_epoch_s(first), "update_time_end": to_epoch_s(last)},
            list_key="refunds",
            total_key="total",
            key=_refund_key,
            max_items=REFUND_MAX_DEPTH,
            start=start,
            end=end,
            split=self._refunds_window,
        )

    async def _refund_detail_raw(self, platform_refund_id: str) -> Raw:
        data = await self.api(REFUND_GET, {"refund_id": platform_refund_id})
        if not isinstance(data, Mapping):
            raise TransientError(PLATFORM, "garbled", "refund.get answered without data")
        return data

    # ------------------------------------------------------------------ settlements
    def _settlements_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        first, last = second_bounds(start, end)
        return self._paged_window(
            SETTLEMENT_SEARCH,
            {"start_time": to_local_str(first), "end_time": to_local_str(last)},
            list_key="bills",
            total_key="total",
            key=lambda raw: (str(raw.get("bill_no")), ""),
            max_items=MAX_PAGE_SIZE * MAX_PAGE_NO,
            start=start,
            end=end,
            split=self._settlements_window,
        )

    # ------------------------------------------------------------------ shared window paging
    async def _paged_window(
        self,
        api: tuple[str, str],
        window: Mapping[str, Any],
        *,
        list_key: str,
        total_key: str,
        key: Callable[[Mapping[str, Any]], tuple[str, str]],
        max_items: int,
        start: datetime,
        end: datetime,
        split: Callable[[datetime, datetime], AsyncIterator[Raw]],
    ) -> AsyncIterator[Raw]:
        """Page through one window by ``page_no`` with ``total`` accounting.

        Youzan pages by number over a live result set: a record modified while we page leaves
        the window or moves to its end, shifting the rest by one, so a record can slip between
        two pages. A pass is trusted only if the total stayed put and we saw as many distinct
        ids as it says; otherwise the window is paged again (up to ``UNSTABLE_WINDOW.rescans`` times, then
        :class:`WindowUnstable`), and what was already yielded (same id, same modified time)
        is not yielded twice. A window
        holding more than the API can page through is split in halves.
        """
        if window_is_empty(start, end):
            return  # no whole second in [start, end): nothing to ask for

        async def fetch(page_no: int) -> NumberedPage:
            data = await self.api(api, {**window, "page_no": page_no, "page_size": MAX_PAGE_SIZE})
            if not isinstance(data, Mapping):
                raise TransientError(PLATFORM, "garbled", f"{api[0]} answered without data")
            items = _list(data, list_key)
            total = data.get(total_key)
            if isinstance(total, bool) or not isinstance(total, int):
                raise TransientError(PLATFORM, "garbled", f"{api[0]} {total_key} is {total!r}")
            self.stats.pages += 1
            done = page_no * MAX_PAGE_SIZE
            return NumberedPage(
                items,
                total,
                more=bool(items) and done < total and done < max_items,
                oversized=total > max_items and end - start > timedelta(seconds=2),
            )

        async def halves() -> AsyncIterator[Raw]:
            middle = start + (end - start) / 2
            async for raw in split(start, middle):
                yield raw
            async for raw in split(middle, end):
                yield raw

        paging = PageNumberUntilStable(UNSTABLE_WINDOW, key, platform=PLATFORM, cap=max_items)
        async for raw in paging.walk(fetch, what=f"{api[0]}: total_results", start=start, end=end, split=halves):
            yield raw

    # ------------------------------------------------------------------ products and stock
    async def _products_pages(self) -> AsyncIterator[Raw]:
        for api in (ITEMS_ONSALE_GET, ITEMS_INVENTORY_GET):
            page_no = 1
            while True:
                data = await self.api(api, {"page_no": page_no, "page_size": ITEMS_PAGE_SIZE})
                if not isinstance(data, Mapping):
                    raise TransientError(PLATFORM, "garbled", f"{api[0]} answered without data")
                items = _list(data, "items")
                count = data.get("count")
                if isinstance(count, bool) or not isinstance(count, int):
                    raise TransientError(PLATFORM, "garbled", f"{api[0]} count is {count!r}")
                self.stats.pages += 1
                for entry in items:
                    item_id = entry.get("item_id") if isinstance(entry, Mapping) else None
                    if item_id in (None, ""):
                        yield entry if isinstance(entry, Mapping) else {"value": entry}
                        continue
                    detail = await self.api(ITEM_GET, {"item_id": item_id})
                    item = detail.get("item") if isinstance(detail, Mapping) else None
                    yield item if isinstance(item, Mapping) else entry
                if not items or page_no * ITEMS_PAGE_SIZE >= count:
                    break
                page_no += 1

    async def push_stock(
        self,
        platform_item_id: str,
        platform_sku_id: str | None,
        quantity: int,
        *,
        idempotency_key: str,
    ) -> StockPushResult:
        """Full stock update of one SKU (``type`` 0). A full update is idempotent by nature, so
        ``idempotency_key`` needs no platform field (Youzan has none for this API)."""
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise BadRequestError(PLATFORM, "bad_quantity", f"stock must be an int >= 0: {quantity!r}")
        body: dict[str, Any] = {"item_id": _numeric(platform_item_id), "quantity": quantity, "type": 0}
        if platform_sku_id:
            body["sku_id"] = _numeric(platform_sku_id)
        data = await self.api(ITEM_QUANTITY_UPDATE, body)
        if not (isinstance(data, Mapping) and _bool(data, "is_success")):
            raise TransientError(PLATFORM, "not_confirmed", f"quantity.update did not confirm: {data!r}")
        return StockPushResult(platform_item_id, platform_sku_id, quantity)

    async def _price_write(self, platform_item_id: str, platform_sku_id: str | None, price_fen: int) -> PricePushResult:
        """``youzan.item.sku.update`` with ``price`` in fen (``sku_id`` left out for an item
        without specs). Youzan answers ``is_success`` only, so the price set is the one sent;
        an answer without it is not taken as done."""
        body: dict[str, Any] = {"item_id": _numeric(platform_item_id), "price": price_fen}
        if platform_sku_id:
            body["sku_id"] = _numeric(platform_sku_id)
        data = await self.api(ITEM_SKU_UPDATE, body)
        if not (isinstance(data, Mapping) and _bool(data, "is_success")):
            raise TransientError(PLATFORM, "not_confirmed", f"item.sku.update did not confirm: {data!r}"[:300])
        return PricePushResult(platform_item_id, platform_sku_id, price_fen)

    cheap_stock_read: ClassVar[bool] = True  # youzan.item.get of one item

    async def read_stock(self, platform_item_id: str, platform_sku_id: str | None) -> tuple[str | None, int]:
        """An item's or SKU's ``quantity`` from ``youzan.item.get``."""
        data = await self.api(ITEM_GET, {"item_id": _numeric(platform_item_id)})
        raw = data.get("item") if isinstance(data, Mapping) else None
        if not isinstance(raw, Mapping):
            raise TransientError(PLATFORM, "garbled", f"item.get answered without an item for {platform_item_id}")
        product = parse_item(raw)
        if not product.skus and not platform_sku_id:
            return None, product.stock
        for sku in product.skus:
            if platform_sku_id in (None, sku.platform_sku_id) and (platform_sku_id or len(product.skus) == 1):
                return sku.platform_sku_id, sku.stock
        raise BadRequestError(PLATFORM, "stock", f"item {platform_item_id}: no single SKU {platform_sku_id!r}")

    async def _stock_delta(
        self, platform_item_id: str, platform_sku_id: str | None, delta: int, idempotency_key: str
    ) -> StockPushResult:
        """``youzan.item.quantity.update`` with ``type`` 1 (incremental; a result below zero is
        refused). Youzan has no idempotency field, so the write is sent exactly once: a lost
        answer is ``StockPushUncertain``, a rate-limit refusal is waited out and resent. The
        stock after is read back with ``youzan.item.get``."""
        body: dict[str, Any] = {"item_id": _numeric(platform_item_id), "quantity": delta, "type": 1}
        if platform_sku_id:
            body["sku_id"] = _numeric(platform_sku_id)
        name, version = ITEM_QUANTITY_UPDATE
        data = await self._send_once(lambda: self.call_once(name, path=api_path(name, version), json=body))
        if not (isinstance(data, Mapping) and _bool(data, "is_success")):
            raise StockPushUncertain(PLATFORM, "not_confirmed", f"quantity.update did not confirm: {data!r}")
        return await self._stock_after(platform_item_id, platform_sku_id or None)


def second_bounds(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole seconds of ``[start, end)`` as Youzan's inclusive ``[first, last]`` bounds.

    Youzan times have one-second resolution and its ranges include both ends [I: the docs do
    not say; inclusive is the common reading and never loses a record]. ``first`` is ``start``
    rounded up, ``last`` is ``end`` rounded up minus one second, so adjacent windows never share
    a second. An empty result (``first > last``) is checked with :func:`window_is_empty`.
    """
    return _ceil_second(start), inclusive_end(_ceil_second(end))


def window_is_empty(start: datetime, end: datetime) -> bool:
    first, last = second_bounds(start, end)
    return first > last


def _ceil_second(value: datetime) -> datetime:
    whole = value.replace(microsecond=0)
    return whole if whole == value else whole + timedelta(seconds=1)


def _numeric(value: str) -> int | str:
    """Youzan ids are longs in JSON; send an int when the id is numeric."""
    return int(value) if value.isdigit() else value


def _order_key(raw: Mapping[str, Any]) -> tuple[str, str]:
    info = raw.get("full_order_info")
    order_info = info.get("order_info") if isinstance(info, Mapping) else None
    if not isinstance(order_info, Mapping):
        return (repr(raw)[:200], "")
    return (str(order_info.get("tid")), str(order_info.get("update_time")))


def _refund_key(raw: Mapping[str, Any]) -> tuple[str, str]:
    return (str(raw.get("refund_id")), str(raw.get("modified")))


__all__ = [
    "BILL_TYPE",
    "ERRORS",
    "ORDER_STATUS",
    "REFUND_ORDER_STATE",
    "REFUND_REASON",
    "REFUND_STATUS",
    "YouzanConnector",
    "classify_body",
    "order_status",
    "parse_bill",
    "parse_item",
    "parse_order",
    "parse_order_line",
    "parse_refund",
    "parse_sku",
    "post_fee_shares",
    "second_bounds",
    "unwrap_body",
    "window_is_empty",
]
