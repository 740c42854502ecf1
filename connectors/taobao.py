"""Taobao/Tmall Open Platform (TOP) connector, PLATFORMS.md §1 (Tmall shops use the same API).

Pure parts first (tables, envelope helpers, record parsers: no I/O, tested on sample payloads),
then :class:`TaobaoConnector`, which is the base request loop plus TOP's hooks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
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
from bangfu.money import fen_to_yuan_str
from bangfu.records import (
    OrderLineRecord,
    OrderRecord,
    ProductRecord,
    Quarantined,
    Raw,
    RefundRecord,
    SettlementLineRecord,
    SkuRecord,
    StockPushResult,
)
from connectors import fields
from connectors.base import Connector, PricePushResult, Request, ShopConfig
from connectors.buyers import buyer_ref
from connectors.errors import (
    BadRequestError,
    ErrorResolution,
    TransientError,
    lookup,
    parse_ban_hint,
)
from connectors.paging import ReverseWalk, TotalPage, UnstableWindow
from connectors.ratelimit import RateLimit
from connectors.signing import taobao as top_signing
from connectors.signing.taobao import SignMethod
from connectors.windows import parse_local, split_windows, to_local_str

PLATFORM = "taobao"
# Tmall buyers are Taobao accounts: one buyer_ref namespace for both, so a buyer who buys in a
# Taobao shop and a Tmall shop of the same programme is one buyer.
BUYER_NAMESPACE = "taobao"

# -- statuses: policy as data ------------------------------------------------------------------

TRADE_STATUS: Mapping[str, OrderStatus] = {
    "TRADE_NO_CREATE_PAY": OrderStatus.PENDING_PAYMENT,
    "WAIT_BUYER_PAY": OrderStatus.PENDING_PAYMENT,
    "PAY_PENDING": OrderStatus.PENDING_PAYMENT,  # foreign-card payment being confirmed
    "WAIT_PRE_AUTH_CONFIRM": OrderStatus.PENDING_PAYMENT,  # [I] pre-authorised, not yet paid
    "WAIT_SELLER_SEND_GOODS": OrderStatus.PAID,
    "PAID_FORBID_CONSIGN": OrderStatus.PAID,
    "SELLER_CONSIGNED_PART": OrderStatus.PART_SHIPPED,
    "WAIT_BUYER_CONFIRM_GOODS": OrderStatus.SHIPPED,
    "TRADE_BUYER_SIGNED": OrderStatus.DELIVERED,
    "TRADE_FINISHED": OrderStatus.COMPLETED,
    "TRADE_CLOSED": OrderStatus.CLOSED,  # closed after payment (refunded)
    "TRADE_CLOSED_BY_TAOBAO": OrderStatus.CANCELLED,  # closed before payment
}

REFUND_STATUS: Mapping[str, RefundStatus] = {
    "WAIT_SELLER_AGREE": RefundStatus.REQUESTED,
    "WAIT_BUYER_RETURN_GOODS": RefundStatus.AWAITING_RETURN,
    "WAIT_SELLER_CONFIRM_GOODS": RefundStatus.AWAITING_CONFIRM,
    "SELLER_REFUSE_BUYER": RefundStatus.REFUSED,
    "SUCCESS": RefundStatus.SUCCEEDED,
    "CLOSED": RefundStatus.CLOSED,
    # Exchange flows [I]: the seller still has to act, no money has moved yet.
    "WAIT_BUYER_CONFIRM_EXCHANGE_SELLER_SEND_GOODS": RefundStatus.AWAITING_CONFIRM,
    "WAIT_SELLER_CONSIGN_GOODS": RefundStatus.AWAITING_CONFIRM,
    "EXCHANGE_TRANSFORM_TO_REFUND": RefundStatus.REQUESTED,
}

# Sub-order refund_status -> the line's refund state. SUCCESS is FULL when the sub-order itself
# is closed (everything refunded) and PARTIAL otherwise [I]: TOP puts no refunded amount on the
# sub-order, but closes it when the whole payment went back.
LINE_REFUND_STATE: Mapping[str, LineRefundState] = {
    "NO_REFUND": LineRefundState.NONE,
    "CLOSED": LineRefundState.NONE,  # the refund was withdrawn: no money moved
    "WAIT_SELLER_AGREE": LineRefundState.IN_PROGRESS,
    "WAIT_BUYER_RETURN_GOODS": LineRefundState.IN_PROGRESS,
    "WAIT_SELLER_CONFIRM_GOODS": LineRefundState.IN_PROGRESS,
    "SELLER_REFUSE_BUYER": LineRefundState.IN_PROGRESS,
    "SUCCESS": LineRefundState.PARTIAL,
}

# bill.bills.get ``account_id`` (the seller's 科目) -> settlement kind. [I] Real account ids come
# from taobao.bill.accounts.get per seller; these are the ids our fake serves, and unknown ids
# fall back to OTHER (kept with their raw payload, never dropped).
BILL_ACCOUNTS: Mapping[str, SettlementKind] = {
    "1001": SettlementKind.SALE,  # 交易收款
    "1002": SettlementKind.REFUND,  # 交易退款
    "2001": SettlementKind.PLATFORM_FEE,  # 技术服务费 / 天猫佣金
    "2002": SettlementKind.HOST_COMMISSION,  # 淘宝客佣金
    "2003": SettlementKind.PAYMENT_FEE,  # 支付宝/信用卡支付服务费
    "2004": SettlementKind.LOGISTICS,
    "3001": SettlementKind.SUBSIDY,  # 营销补贴
}

# -- errors: policy as data --------------------------------------------------------------------

_AUTH = ErrorResolution(ErrorClass.AUTH)
_BAD = ErrorResolution(ErrorClass.BAD_REQUEST)
_LIMIT = ErrorResolution(ErrorClass.RATE_LIMIT, message="App Call Limited")
_TRANSIENT = ErrorResolution(ErrorClass.TRANSIENT)

ERRORS: Mapping[str | int, ErrorResolution] = {
    # Flow control, all code 7; the ban hint ("This ban will last for N more seconds") is read
    # by ``classify``. The daily app quota has no hint: the base backs off and, when retries
    # run out, sync records a rate-limit failure and tries again on its next run.
    7: _LIMIT,
    "accesscontrol.limited-by-app-access-count": _LIMIT,
    "accesscontrol.limited-by-api-access-count": _LIMIT,
    "accesscontrol.limited-by-app-api-access-count": _LIMIT,
    "accesscontrol.limited-by-dynamic-access-count": _LIMIT,
    "accesscontrol.*": _LIMIT,
    # "超时请求过多，请将查询时间间隔缩短,3分钟后再查询": a throttle with a Chinese hint.
    "isv.trade-service-rejection": _LIMIT,
    # Platform-side failures: retry.
    "isp.*": _TRANSIENT,
    10: _TRANSIENT,  # Service Currently Unavailable
    15: _TRANSIENT,  # Remote Service Error (isv.* sub_codes below override)
    520: _TRANSIENT,
    # Authorisation: fatal. TOP sessions are long-lived seller tokens granted out of band; this
    # connector has no refresh endpoint (the session param is simply sent), so an invalid
    # session stops the shop and alerts.
    11: _AUTH,  # Insufficient ISV Permissions
    12: _AUTH,  # Insufficient User Permissions
    13: _AUTH,  # Insufficient Partner Permissions
    24: _AUTH,  # Missing Signature
    25: _AUTH,  # Invalid Signature
    26: _AUTH,  # Missing Session
    27: _AUTH,  # Invalid Session (sub_code invalid-sessionkey)
    "invalid-sessionkey": _AUTH,
    28: _AUTH,  # Missing App Key
    29: _AUTH,  # Invalid App Key
    30: _AUTH,  # Missing Timestamp
    31: _AUTH,  # Invalid Timestamp: our clock is off by more than 10 min; an operator must act
    # Our bugs: never retried.
    21: _BAD,  # Missing Method
    22: _BAD,  # Invalid Method
    23: _BAD,  # Invalid Format
    32: _BAD,
    33: _BAD,
    34: _BAD,
    40: _BAD,  # Missing Required Arguments
    41: _BAD,  # Invalid Arguments (e.g. a window wider than the API allows)
    43: _BAD,
    47: _BAD,
    "isv.*": _BAD,
}


def classify_body(body: Any) -> ErrorResolution | None:
    """The resolution for a TOP JSON body; ``None`` when it is not an ``error_response``."""
    if not isinstance(body, Mapping) or "error_response" not in body:
        return None
    err = body["error_response"]
    if not isinstance(err, Mapping):
        return _TRANSIENT.with_details(code="error_response", message="garbled error_response")
    code = err.get("code")
    sub_code = err.get("sub_code") or None
    msg = str(err.get("msg") or "")
    sub_msg = str(err.get("sub_msg") or "")
    text = f"{msg}: {sub_msg}" if sub_msg else msg
    row = lookup(ERRORS, code, sub_code, default=_BAD)
    assert row is not None
    hint = parse_ban_hint(sub_msg) if row.error_class is ErrorClass.RATE_LIMIT else None
    return row.with_details(
        code=code if isinstance(code, int | str) else "error_response",
        sub_code=str(sub_code) if sub_code else None,
        message=text,
        retry_after=hint,
    )


# -- envelope ------------------------------------------------------------------------------------


def response_key(method: str) -> str:
    """``taobao.trades.sold.increment.get`` -> ``trades_sold_increment_get_response``."""
    return method.removeprefix("taobao.").replace(".", "_") + "_response"


def nested_list(container: Mapping[str, Any], outer: str, inner: str) -> list[Any]:
    """``{"trades": {"trade": [...]}}`` -> the list. ``{}``, ``null`` or a missing key -> ``[]``.

    A lone object where a list belongs (XML-to-JSON of a one-element list) is wrapped.
    """
    wrapper = container.get(outer)
    if not wrapper:
        return []
    if not isinstance(wrapper, Mapping):
        raise ValueError(f"{outer!r} is not an object: {type(wrapper).__name__}")
    items = wrapper.get(inner)
    if items is None:
        return []
    if isinstance(items, Mapping):
        return [items]
    if not isinstance(items, list):
        raise ValueError(f"{outer}.{inner} is not a list: {type(items).__name__}")
    return items


# -- field helpers -----------------------------------------------------------------------------

#: a plain ``123.45`` yuan string: converted with integer arithmetic (exact, like ``yuan_to_fen``,
#: which parses with Decimal and takes the other shapes); at most 13 integer digits stays in range.


def _time(raw: Mapping[str, Any], key: str) -> Any:
    return parse_local(fields.required(raw, key))


def _opt_time(raw: Mapping[str, Any], key: str) -> Any:
    value = raw.get(key)
    return parse_local(value) if value not in (None, "") else None


def _bool(raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key)
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _enum(table: Mapping[str, Any], raw: Mapping[str, Any], key: str) -> Any:
    value = fields.required(raw, key)
    try:
        return table[value]
    except (KeyError, TypeError):
        raise ValueError(f"unknown {key} {value!r}") from None


# -- record parsers (pure) ---------------------------------------------------------------------


def parse_order_line(raw: Mapping[str, Any]) -> OrderLineRecord:
    """One sub-order (``orders.order[]``) of a trade."""
    refund_state = LINE_REFUND_STATE.get(str(raw.get("refund_status") or "NO_REFUND"))
    if refund_state is None:
        raise ValueError(f"unknown refund_status {raw.get('refund_status')!r}")
    if refund_state is LineRefundState.PARTIAL and raw.get("status") == "TRADE_CLOSED":
        refund_state = LineRefundState.FULL
    # divide_order_fee is the payment after shop-level discounts were spread over the lines;
    # payment is the sub-order's own paid amount. They are equal without shop discounts.
    paid_key = "divide_order_fee" if raw.get("divide_order_fee") not in (None, "") else "payment"
    return OrderLineRecord(
        platform_line_id=fields.numeric_id(raw, "oid", twin=True),
        platform_item_id=fields.numeric_id(raw, "num_iid"),
        quantity=fields.integer(raw, "num"),
        unit_price_fen=fields.yuan(raw, "price"),
        paid_fen=fields.yuan(raw, paid_key),
        title=str(raw.get("title") or ""),
        platform_sku_id=str(raw["sku_id"]) if raw.get("sku_id") not in (None, "") else None,
        outer_sku_id=str(raw.get("outer_sku_id") or raw.get("outer_iid") or "") or None,
        refund_state=refund_state,
        raw=raw,
    )


#: The ``fields`` of trades.sold.increment.get and trade.fullinfo.get (TOP requires the list and
#: returns only the fields it names). ``orders`` brings the sub-orders back whole, so
#: :func:`parse_order_line` needs no list of its own. Every trade field :func:`parse_trade` reads
#: is listed (``tests/connectors/test_taobao.py`` fails otherwise); the others are kept for the
#: stored raw payload.
TRADE_FIELDS: tuple[str, ...] = (
    "tid", "tid_str", "status", "type", "created", "modified", "pay_time", "consign_time", "end_time",
    "payment", "total_fee", "post_fee", "discount_fee", "adjust_fee", "received_payment",
    "num", "num_iid", "buyer_nick", "buyer_open_uid", "seller_nick", "trade_from", "orders",
)  # fmt: skip


def parse_trade(raw: Mapping[str, Any], *, hash_key: bytes | None = None) -> OrderRecord:
    """A ``trade`` from trades.sold.increment.get or trade.fullinfo.get -> :class:`OrderRecord`."""
    status = _enum(TRADE_STATUS, raw, "status")
    lines = tuple(parse_order_line(line) for line in nested_list(raw, "orders", "order"))
    if not lines:
        raise ValueError("trade has no sub-orders")
    buyer = raw.get("buyer_open_uid") or raw.get("buyer_nick")
    return OrderRecord(
        platform_order_id=fields.numeric_id(raw, "tid", twin=True),
        status=status,
        platform_status=str(raw["status"]),
        created_at=_time(raw, "created"),
        modified_at=_time(raw, "modified"),
        # TOP's payment is what the buyer pays, already before payment; status says if he did.
        paid_fen=fields.yuan(raw, "payment"),
        lines=lines,
        paid_at=_opt_time(raw, "pay_time"),
        post_fee_fen=fields.yuan(raw, "post_fee", 0),
        discount_fen=fields.yuan(raw, "discount_fee", 0),
        buyer_ref=buyer_ref(BUYER_NAMESPACE, str(buyer), hash_key) if buyer else None,
        raw=raw,
    )


#: The ``fields`` of refunds.receive.get and refund.get: every field :func:`parse_refund` reads
#: (checked by a test), plus a few kept for the stored raw payload.
REFUND_FIELDS: tuple[str, ...] = (
    "refund_id", "tid", "oid", "title", "buyer_nick", "total_fee", "status", "created", "refund_fee",
    "good_status", "has_good_return", "payment", "reason", "desc", "modified", "order_status",
    "refund_phase", "num", "outer_id", "sku",
)  # fmt: skip


def parse_refund(raw: Mapping[str, Any]) -> RefundRecord:
    """A ``refund`` from refunds.receive.get -> :class:`RefundRecord`."""
    num = raw.get("num")
    return RefundRecord(
        platform_refund_id=fields.numeric_id(raw, "refund_id"),
        platform_order_id=fields.numeric_id(raw, "tid"),
        status=_enum(REFUND_STATUS, raw, "status"),
        platform_status=str(raw["status"]),
        amount_fen=fields.yuan(raw, "refund_fee"),
        created_at=_time(raw, "created"),
        modified_at=_time(raw, "modified"),
        platform_line_id=fields.opt_numeric_id(raw, "oid"),
        quantity=fields.integer(raw, "num") if num not in (None, "") else None,
        with_return=_bool(raw, "has_good_return"),
        reason=str(raw["reason"]) if raw.get("reason") else None,
        raw=raw,
    )


def parse_sku(raw: Mapping[str, Any]) -> SkuRecord:
    return SkuRecord(
        platform_sku_id=fields.numeric_id(raw, "sku_id"),
        price_fen=fields.yuan(raw, "price"),
        stock=fields.integer(raw, "quantity"),
        outer_id=str(raw["outer_id"]) if raw.get("outer_id") else None,
        spec=str(raw.get("properties_name") or raw.get("properties") or "") or None,
        modified_at=_opt_time(raw, "modified"),
        raw=raw,
    )


#: The ``fields`` of items.onsale.get and items.inventory.get: every field :func:`parse_item`
#: reads (checked by a test); ``sku`` brings the SKUs back whole under ``skus``.
ITEM_FIELDS: tuple[str, ...] = (
    "num_iid", "title", "approve_status", "num", "price", "outer_id", "modified", "list_time",
    "delist_time", "cid", "sku",
)  # fmt: skip
#: Requested field -> the key it comes back under, where the two differ.
ITEM_FIELD_KEYS: Mapping[str, str] = {"sku": "skus"}
#: The stock of one item: ``taobao.item.seller.get`` (the seller's view of an item, its ``num``
#: and each SKU's ``quantity``), with the fields the read needs.
STOCK_READ_METHOD = "taobao.item.seller.get"
STOCK_READ_FIELDS: tuple[str, ...] = ("num_iid", "num", "modified", "sku")


def parse_item(raw: Mapping[str, Any]) -> ProductRecord:
    """An ``item`` from items.onsale.get (with ``skus``) -> :class:`ProductRecord`."""
    return ProductRecord(
        platform_item_id=fields.numeric_id(raw, "num_iid"),
        title=str(fields.required(raw, "title")),
        on_sale=raw.get("approve_status", "onsale") == "onsale",
        price_fen=fields.yuan(raw, "price"),
        stock=fields.integer(raw, "num"),
        modified_at=_time(raw, "modified"),
        outer_id=str(raw["outer_id"]) if raw.get("outer_id") else None,
        skus=tuple(parse_sku(sku) for sku in nested_list(raw, "skus", "sku")),
        raw=raw,
    )


#: The ``fields`` of bill.bills.get and bill.bill.get (TOP requires the list; at most 20 names):
#: every field :func:`parse_bill` reads (checked by a test), plus a few for the raw payload.
BILL_FIELDS: tuple[str, ...] = (
    "bid", "account_id", "trade_id", "order_id", "num_iid", "amount", "total_amount", "status",
    "biz_time", "pay_time", "book_time",
)  # fmt: skip


def parse_bill(raw: Mapping[str, Any]) -> SettlementLineRecord:
    """A ``bill`` from bill.bills.get -> :class:`SettlementLineRecord`.

    [I] ``amount`` is taken as integer fen (PLATFORMS.md: the unit is not stated, int64 makes
    fen the plausible reading), signed as the payout sees it: negative for refunds and fees.
    """
    amount = raw.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int | str):
        raise ValueError(f"bill amount is not an integer: {amount!r}")
    settled = _opt_time(raw, "pay_time") or _opt_time(raw, "book_time") or _time(raw, "biz_time")
    return SettlementLineRecord(
        platform_bill_id=fields.numeric_id(raw, "bid"),
        kind=BILL_ACCOUNTS.get(str(raw.get("account_id")), SettlementKind.OTHER),
        amount_fen=fields.integer(raw, "amount"),
        settled_at=settled,
        platform_order_id=fields.opt_numeric_id(raw, "trade_id"),
        platform_line_id=fields.opt_numeric_id(raw, "order_id"),
        raw=raw,
    )


# -- the connector -------------------------------------------------------------------------------

ORDERS_METHOD = "taobao.trades.sold.increment.get"
ORDER_DETAIL_METHOD = "taobao.trade.fullinfo.get"
REFUNDS_METHOD = "taobao.refunds.receive.get"
REFUND_DETAIL_METHOD = "taobao.refund.get"
ONSALE_METHOD = "taobao.items.onsale.get"
INVENTORY_METHOD = "taobao.items.inventory.get"
STOCK_METHOD = "taobao.item.quantity.update"
#: price writes: one SKU of an item (price in yuan, 2 decimals), or an item without SKUs
SKU_PRICE_METHOD = "taobao.item.sku.price.update"
ITEM_PRICE_METHOD = "taobao.item.price.update"
BILLS_METHOD = "taobao.bill.bills.get"
BILL_DETAIL_METHOD = "taobao.bill.bill.get"
GATEWAY_PATH = "/router/rest"

SIGN_METHODS = frozenset({"md5", "hmac", "hmac-sha256"})
#: How many times a window is scanned again when records entered it while we paged.
#: scan a window again while records keep entering it, at most this often
UNSTABLE_WINDOW = UnstableWindow(rescans=2)


def _ceil_second(at: datetime) -> datetime:
    floor = at.replace(microsecond=0)
    return floor if floor == at else floor + timedelta(seconds=1)


def window_bounds(start: datetime, end: datetime) -> tuple[str, str] | None:
    """``[start, end)`` as TOP's inclusive, second-resolution start/end texts.

    TOP times are whole seconds, so the record times in ``[start, end)`` are exactly the seconds
    ``[ceil(start), ceil(end) - 1 s]``: adjacent windows neither overlap nor leave a gap, and
    the inclusive span never exceeds ``end - start`` (a 1-day window stays within the 1-day
    limit). ``None`` when no whole second lies in the window (nothing to ask for).
    """
    low = _ceil_second(start)
    high = _ceil_second(end) - timedelta(seconds=1)
    if high < low:
        return None
    return to_local_str(low), to_local_str(high)


@dataclass(frozen=True, slots=True)
class TopPage:
    items: list[Any]
    total: int


def _record_key(*fields: str) -> Callable[[Mapping[str, Any]], tuple[str, ...]]:
    return lambda raw: tuple(str(raw.get(name)) for name in fields)


class TaobaoConnector(Connector):
    """A Taobao or Tmall shop on TOP: orders, refunds, items/SKUs, stock push, bills.

    Signing: every call carries ``method, app_key, session, timestamp (GMT+8), format=json,
    v=2.0, sign_method`` in the query string and the business params in the form body (as the
    official SDK does); ``sign`` covers both. ``sign_method`` is ``hmac-sha256`` unless the shop
    config says otherwise (``extra["sign_method"]``: md5 | hmac | hmac-sha256).

    Tokens: the seller's ``session`` is granted out of band (TOP's OAuth) and sent as is. This
    connector calls no token endpoint; an invalid or expired session (code 26/27) is an
    :class:`~connectors.errors.AuthError` that stops the shop and alerts.

    Paging under DESC ordering: ``trades.sold.increment.get`` returns a window newest-first.
    A record modified while we page leaves the window (its new ``modified`` is past our window
    end) and every record after it moves up one place, so walking pages 1 -> N would skip
    one record per change. We walk **last page -> first** (PLATFORMS.md §1.4, the doc's own
    advice): a record leaving the window then moves a record we already read onto the next
    page we read (a harmless duplicate, dropped here by ``(id, modified)``), never one we have
    not read yet past us. Records that moved up onto page 1 meanwhile are picked up by reading
    page 1 again at the end. If the total grew, records *entered* the window (it reached into
    "now", or the platform indexed late) and pushed others down past pages already read, so
    the window is scanned again (at most ``UNSTABLE_WINDOW.rescans`` times, then ``WindowUnstable``: the
    base reads it again, then sync keeps its cursor before the window and retries it next
    run). The same walk serves refunds, items and bills.

    Windows: the base cuts ranges into windows of up to the 1-day hard limit; a window whose
    ``total_results`` exceeds ``dense_window_records`` is re-read in 30-minute slices, the
    width the TOP doc advises, so busy days never page deep while quiet backfills cost one
    call per day.
    """

    platform: ClassVar[PlatformKind] = PlatformKind.TAOBAO
    window_max: ClassVar[timedelta] = timedelta(days=1)
    window_advised: ClassVar[timedelta] = timedelta(minutes=30)
    page_size: ClassVar[int] = 50  # 1-100; the doc advises 40-50
    item_page_size: ClassVar[int] = 100  # items.onsale.get allows up to 200
    #: a window holding more records than this is re-read in ``window_advised`` slices
    dense_window_records: ClassVar[int] = 500
    # [I] TOP meters per app and API (code 7 sub_codes); an online app is granted thousands of
    # calls a minute per API. 50/s sustained, burst 50, per (platform, app_key) stays below that
    # while the ban hint ("This ban will last for N more seconds") pauses the whole app key.
    rate: ClassVar[RateLimit] = RateLimit(per_second=50, burst=50)
    streams: ClassVar[frozenset[SyncStream]] = frozenset(
        {SyncStream.ORDERS, SyncStream.REFUNDS, SyncStream.PRODUCTS, SyncStream.SETTLEMENTS}
    )
    # The base cuts coarse windows at the hard limit; dense ones are sliced (see the class doc).
    stream_windows: ClassVar[Mapping[SyncStream, timedelta]] = {
        SyncStream.ORDERS: timedelta(days=1),
        SyncStream.REFUNDS: timedelta(days=1),
        SyncStream.SETTLEMENTS: timedelta(days=1),  # bill.bills.get: <= 1 day
    }
    # trades.sold.increment.get "data covers 3 months only" [V:S1]; bill.bills.get answers
    # "start_time must be within the last three months" (code 41) [I]. Three calendar months
    # are never less than 89 days. refunds.receive.get states no limit.
    stream_lookback: ClassVar[Mapping[SyncStream, timedelta]] = {
        SyncStream.ORDERS: timedelta(days=89),
        SyncStream.SETTLEMENTS: timedelta(days=89),
    }
    id_paths: ClassVar[Mapping[SyncStream, str]] = {
        SyncStream.ORDERS: "tid",
        SyncStream.REFUNDS: "refund_id",
        SyncStream.PRODUCTS: "num_iid",
        SyncStream.SETTLEMENTS: "bid",
    }

    def __init__(self, config: ShopConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        method = config.extra.get("sign_method", SignMethod.HMAC_SHA256.value)
        if method not in SIGN_METHODS:
            raise ValueError(f"unknown TOP sign_method {method!r}; expected one of {sorted(SIGN_METHODS)}")
        self.sign_method = SignMethod(method)

    # ------------------------------------------------------------------ request hooks
    def sign(self, params: dict[str, str]) -> dict[str, str]:
        params["sign"] = top_signing.sign(params, self.config.app_secret, self.sign_method)
        return params

    def prepare(self, request: Request) -> Request:
        """System params (fresh timestamp, session) in the query, signed with the body."""
        system = {
            "method": request.op,
            "app_key": self.config.app_key,
            "timestamp": to_local_str(self.clock()),
            "format": "json",
            "v": "2.0",
            "sign_method": self.sign_method.value,
        }
        if request.authenticated and self.tokens.access_token:
            system["session"] = self.tokens.access_token
        signed = self.sign({**(request.data or {}), **request.params, **system})
        request.params = {**request.params, **system, "sign": signed["sign"]}
        return request

    def classify(self, http_status: int, body: Any) -> ErrorResolution | None:
        base = super().classify(http_status, body)
        if base is not None:
            return base
        if not isinstance(body, Mapping):
            return _TRANSIENT.with_details(code=http_status, message="response is not a JSON object")
        return classify_body(body)

    def unwrap(self, request: Request, body: Any) -> Any:
        key = response_key(request.op)
        value = body.get(key) if isinstance(body, Mapping) else None
        if not isinstance(value, Mapping):
            raise TransientError(self.platform_name, "envelope", f"no {key} in the answer")
        return value

    async def top(self, method: str, business: Mapping[str, Any]) -> Mapping[str, Any]:
        """One signed TOP call; returns the ``<method>_response`` object."""
        result: Mapping[str, Any] = await self.call(method, path=GATEWAY_PATH, data=business)
        return result

    # ------------------------------------------------------------------ paging
    async def _page(
        self, method: str, business: Mapping[str, Any], page_no: int, page_size: int, outer: str, inner: str
    ) -> TopPage:
        body = await self.top(method, {**business, "page_no": page_no, "page_size": page_size})
        self.stats.pages += 1
        try:
            items = nested_list(body, outer, inner)
        except ValueError as exc:
            raise TransientError(self.platform_name, "envelope", str(exc)) from exc
        total = body.get("total_results")
        if isinstance(total, bool) or not isinstance(total, int | str) or not str(total).isdigit():
            if items or body.get("has_next"):
                raise TransientError(self.platform_name, "envelope", f"no total_results from {method}")
            total = 0  # an empty window may omit the count
        return TopPage(items, int(total))

    async def walk(
        self,
        method: str,
        business: Mapping[str, Any],
        outer: str,
        inner: str,
        key: Callable[[Mapping[str, Any]], tuple[str, ...]],
        *,
        page_size: int | None = None,
        first: TopPage | None = None,
    ) -> AsyncIterator[Raw]:
        """Every record of one query, walking pages last -> first (see the class doc)."""
        size = page_size or self.page_size
        business = {**business, "use_has_next": "false"}  # we need total_results

        async def fetch(page_no: int) -> TotalPage:
            page = await self._page(method, business, page_no, size, outer, inner)
            return TotalPage(page.items, page.total)

        def pages_after(total: int) -> list[int]:
            last = -(-total // size)
            return [*range(last, 1, -1), 1] if last > 1 else []

        def unstable(totals: list[int]) -> str:
            bounds = " .. ".join(str(v) for k, v in business.items() if k.startswith(("start_", "end_")))
            return f"{method}: records kept entering the window [{bounds}]"

        paging = ReverseWalk(
            UNSTABLE_WINDOW,
            key,
            platform=self.platform_name,
            pages_after=pages_after,
            settled="first_page_again",
            skip_seen_in_first_pass=True,
            wrap_non_objects=True,
        )
        head = TotalPage(first.items, first.total) if first is not None else None
        async for raw in paging.walk(fetch, first_page=1, unstable=unstable, first=head):
            yield raw

    async def _windowed_walk(
        self,
        method: str,
        business: Mapping[str, Any],
        start: datetime,
        end: datetime,
        names: tuple[str, str],
        outer: str,
        inner: str,
        key: Callable[[Mapping[str, Any]], tuple[str, ...]],
        *,
        slice_dense: bool = True,
    ) -> AsyncIterator[Raw]:
        """One coarse window; sliced into ``window_advised`` pieces when it is dense."""
        bounds = window_bounds(start, end)
        if bounds is None:
            return
        low, high = bounds
        query = {**business, names[0]: low, names[1]: high}
        probe = await self._page(method, {**query, "use_has_next": "false"}, 1, self.page_size, outer, inner)
        if slice_dense and probe.total > self.dense_window_records and end - start > self.window_advised:
            for piece_start, piece_end in split_windows(start, end, self.window_advised):
                async for raw in self._windowed_walk(
                    method, business, piece_start, piece_end, names, outer, inner, key, slice_dense=False
                ):
                    yield raw
            return
        async for raw in self.walk(method, query, outer, inner, key, first=probe):
            yield raw

    # ------------------------------------------------------------------ orders
    def parse_order(self, raw: Raw) -> OrderRecord:
        return parse_trade(raw)

    async def _orders_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        async for raw in self._windowed_walk(
            ORDERS_METHOD,
            {"fields": ",".join(TRADE_FIELDS)},
            start,
            end,
            ("start_modified", "end_modified"),
            "trades",
            "trade",
            _record_key("tid", "modified"),
        ):
            yield raw

    async def _order_detail_raw(self, platform_order_id: str) -> Raw:
        body = await self.top(ORDER_DETAIL_METHOD, {"fields": ",".join(TRADE_FIELDS), "tid": platform_order_id})
        trade = body.get("trade")
        if not isinstance(trade, Mapping):
            raise TransientError(self.platform_name, "envelope", "no trade in trade.fullinfo.get")
        return trade

    # ------------------------------------------------------------------ refunds
    def parse_refund(self, raw: Raw) -> RefundRecord:
        return parse_refund(raw)

    async def _refunds_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        async for raw in self._windowed_walk(
            REFUNDS_METHOD,
            {"fields": ",".join(REFUND_FIELDS)},
            start,
            end,
            ("start_modified", "end_modified"),
            "refunds",
            "refund",
            _record_key("refund_id", "modified"),
        ):
            yield raw

    async def _refund_detail_raw(self, platform_refund_id: str) -> Raw:
        business = {"fields": ",".join(REFUND_FIELDS), "refund_id": platform_refund_id}
        body = await self.top(REFUND_DETAIL_METHOD, business)
        refund = body.get("refund")
        if not isinstance(refund, Mapping):
            raise TransientError(self.platform_name, "envelope", "no refund in refund.get")
        return refund

    # ------------------------------------------------------------------ products and stock
    def parse_product(self, raw: Raw) -> ProductRecord:
        return parse_item(raw)

    async def _products_pages(self) -> AsyncIterator[Raw]:
        """On-sale items, then those in the warehouse (instock), each with its SKUs."""
        for method in (ONSALE_METHOD, INVENTORY_METHOD):
            # modified:desc so an item changed while we page moves to the top (see walk()).
            async for raw in self.walk(
                method,
                {"fields": ",".join(ITEM_FIELDS), "order_by": "modified:desc"},
                "items",
                "item",
                _record_key("num_iid", "modified"),
                page_size=self.item_page_size,
            ):
                yield raw

    cheap_stock_read: ClassVar[bool] = True  # item.seller.get of one item

    async def read_stock(self, platform_item_id: str, platform_sku_id: str | None) -> tuple[str | None, int]:
        """The stock of one item (``num``) or of one of its SKUs (``quantity``), read with
        ``taobao.item.seller.get``. Without ``platform_sku_id`` the item must have at most one
        SKU. An unknown item or SKU is a :class:`BadRequestError`; an answer without the item
        or with an unreadable count is transient."""
        if not platform_item_id.isdigit():
            raise BadRequestError(self.platform_name, "stock", f"no item {platform_item_id}: TOP ids are numeric")
        business = {"fields": ",".join(STOCK_READ_FIELDS), "num_iid": platform_item_id}
        body = await self.top(STOCK_READ_METHOD, business)
        item = body.get("item")
        if not isinstance(item, Mapping):
            raise TransientError(self.platform_name, "envelope", "no item in item.seller.get")
        try:
            skus = nested_list(item, "skus", "sku")
            if not skus and not platform_sku_id:
                return None, fields.integer(item, "num")
            if platform_sku_id is None and len(skus) == 1:
                return fields.numeric_id(skus[0], "sku_id"), fields.integer(skus[0], "quantity")
            if platform_sku_id is None:
                raise BadRequestError(self.platform_name, "stock", f"item {platform_item_id} has several SKUs")
            for sku in skus:
                if fields.numeric_id(sku, "sku_id") == platform_sku_id:
                    return platform_sku_id, fields.integer(sku, "quantity")
        except (KeyError, TypeError, ValueError) as exc:
            raise TransientError(self.platform_name, "envelope", f"unexpected item.seller.get answer: {exc}") from exc
        raise BadRequestError(self.platform_name, "stock", f"item {platform_item_id} has no SKU {platform_sku_id}")

    async def push_stock(
        self,
        platform_item_id: str,
        platform_sku_id: str | None,
        quantity: int,
        *,
        idempotency_key: str,
    ) -> StockPushResult:
        """Full stock update (``type=1``) of an item or one of its SKUs.

        TOP takes no idempotency key; a full update is idempotent by itself (sending the same
        quantity twice leaves the same stock), so ``idempotency_key`` is not sent.
        """
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise BadRequestError(self.platform_name, "quantity", f"stock must be an int >= 0: {quantity!r}")
        business: dict[str, Any] = {"num_iid": platform_item_id, "quantity": quantity, "type": 1}
        if platform_sku_id is not None:
            business["sku_id"] = platform_sku_id
        body = await self.top(STOCK_METHOD, business)
        return self._stock_answer(body, platform_item_id, platform_sku_id)

    def _stock_answer(self, body: Mapping[str, Any], item_id: str, sku_id: str | None) -> StockPushResult:
        """The stock after an ``item.quantity.update`` (the item's ``num`` or the SKU's ``quantity``)."""
        item = body.get("item")
        if not isinstance(item, Mapping):
            raise TransientError(self.platform_name, "envelope", "no item in item.quantity.update")
        try:
            if sku_id is None:
                stock = fields.integer(item, "num")
            else:
                sku = next(s for s in nested_list(item, "skus", "sku") if fields.numeric_id(s, "sku_id") == sku_id)
                stock = fields.integer(sku, "quantity")
        except (StopIteration, ValueError) as exc:
            raise TransientError(self.platform_name, "envelope", f"unexpected stock answer: {exc}") from exc
        return StockPushResult(item_id, sku_id, stock)

    async def _stock_delta(
        self, platform_item_id: str, platform_sku_id: str | None, delta: int, idempotency_key: str
    ) -> StockPushResult:
        """Incremental update (``type=2``, ``quantity`` may be negative; TOP refuses a result
        below zero). TOP takes no idempotency key, so the write is sent exactly once: a lost
        answer is :class:`~connectors.base.StockPushUncertain`, a flow-control refusal is
        waited out and resent (see ``Connector._send_once``). The stock is read (``read_stock``)
        only when a decrease is clamped.
        """
        business: dict[str, Any] = {"num_iid": platform_item_id, "quantity": delta, "type": 2}
        if platform_sku_id:
            business["sku_id"] = platform_sku_id

        async def send() -> Mapping[str, Any]:
            answer: Mapping[str, Any] = await self.call_once(STOCK_METHOD, path=GATEWAY_PATH, data=business)
            return answer

        body = await self._send_once(send)
        try:
            return self._stock_answer(body, platform_item_id, platform_sku_id or None)
        except TransientError:  # applied, but the answer is odd: never fail (and so resend) it
            return StockPushResult(platform_item_id, platform_sku_id or None, -1)

    # ------------------------------------------------------------------ price push
    async def _price_write(self, platform_item_id: str, platform_sku_id: str | None, price_fen: int) -> PricePushResult:
        """``taobao.item.sku.price.update`` (``num_iid``, ``sku_id``, ``price`` in yuan) for a
        SKU, ``taobao.item.price.update`` for an item without SKUs. TOP answers with the SKU's
        (or item's) ``modified`` only, not the price, so the price set is the one sent."""
        if not platform_item_id.isdigit() or (platform_sku_id is not None and not platform_sku_id.isdigit()):
            ids = f"{platform_item_id}/{platform_sku_id}"
            raise BadRequestError(self.platform_name, "price", f"TOP ids are numeric: {ids}")
        business: dict[str, Any] = {"num_iid": platform_item_id, "price": fen_to_yuan_str(price_fen)}
        if platform_sku_id is not None:
            business["sku_id"] = platform_sku_id
            body = await self.top(SKU_PRICE_METHOD, business)
            answered = body.get("sku")
        else:
            body = await self.top(ITEM_PRICE_METHOD, business)
            answered = body.get("item")
        if not isinstance(answered, Mapping) or str(answered.get("num_iid", "")) != platform_item_id:
            raise TransientError(self.platform_name, "envelope", f"unexpected price answer: {dict(body)!r}"[:300])
        return PricePushResult(platform_item_id, platform_sku_id, price_fen)

    # ------------------------------------------------------------------ settlements
    def parse_settlement(self, raw: Raw) -> Sequence[SettlementLineRecord]:
        return (parse_bill(raw),)

    async def settlements(self, start: datetime, end: datetime) -> AsyncIterator[SettlementLineRecord | Quarantined]:
        """Bill lines paid in ``[start, end)``; a malformed bill is re-read by ``bid`` once."""
        async for item in self._windowed(
            SyncStream.SETTLEMENTS,
            start,
            end,
            self._settlements_window,
            self.parse_settlement,
            self._bill_detail_raw,
        ):
            yield item

    async def _bill_detail_raw(self, bid: str) -> Raw:
        body = await self.top(BILL_DETAIL_METHOD, {"fields": ",".join(BILL_FIELDS), "bid": bid})
        bill = body.get("bill")
        if not isinstance(bill, Mapping):
            raise TransientError(self.platform_name, "envelope", "no bill in bill.bill.get")
        return bill

    async def _settlements_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        # time_type 2: by pay time, which is when the line settled.
        async for raw in self._windowed_walk(
            BILLS_METHOD,
            {"fields": ",".join(BILL_FIELDS), "time_type": 2},
            start,
            end,
            ("start_time", "end_time"),
            "bills",
            "bill",
            _record_key("bid"),
        ):
            yield raw
