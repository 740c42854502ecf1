"""Douyin 抖店 open platform connector, PLATFORMS.md §3.

Pure parts first (status and error tables, envelope helpers, record parsers: no I/O, tested on
sample payloads shaped like PLATFORMS.md), then :class:`DouyinConnector`, which is the base
request loop plus Douyin's hooks.

Transport: every method is ``POST /<method with . -> />`` with the system params in the query
string (``app_key, method, timestamp, v=2, sign_method=hmac-sha256, sign, access_token``) and
``param_json`` as the body, signed exactly as sent (:mod:`connectors.signing.douyin`).

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
first, then page 0 again: removals then only cause duplicates (merged by id downstream), never
gaps, and records modified into the window are newer than the window start and are seen by the
next incremental run (sync overlaps its windows). Records *entering* the window while we page
(``total`` grew: late indexing, or a window reaching into "now") push others onto pages already
read, so then the window is paged again, without yielding a record twice, up to
:data:`UNSTABLE_WINDOW` ``.rescans`` times; a window that still does not settle raises
:class:`~connectors.errors.WindowUnstable` (the base reads it again, then sync keeps its cursor
before it). A shrinking total is the harmless case above.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar

import orjson

from bangfu.enums import (
    ErrorClass,
    LineRefundState,
    OrderStatus,
    PlatformKind,
    RefundStatus,
    SettlementKind,
    SyncStream,
)
from bangfu.records import (
    ExplanationRecord,
    LiveMinuteRecord,
    LiveSessionRecord,
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
from connectors.base import Connector, PricePushResult, Request, ShopConfig
from connectors.buyers import buyer_ref
from connectors.errors import (
    AuthError,
    BadRequestError,
    ErrorResolution,
    RecordError,
    TransientError,
    UnsupportedStream,
    lookup,
    parse_ban_hint,
)
from connectors.paging import ReverseWalk, TotalPage, UnstableWindow
from connectors.ratelimit import RateLimit
from connectors.signing import douyin as signing
from connectors.windows import ensure_utc, from_epoch_s, parse_local, to_epoch_s, to_local_str

PLATFORM = PlatformKind.DOUYIN.value

#: success code of the envelope; ``data.code`` of the settle bill API on success
SUCCESS = 10000
SETTLE_OK = "100000"

ORDER_PAGE_SIZE = 100  # order.searchList / afterSale.List: size <= 100
OFFSET_CAP = 50_000  # page x size <= 50,000 (isv.parameter-invalid:20013)
LOOKBACK = timedelta(days=90)  # order.searchList serves the last 90 days only (…:20022)
#: re-page a window whose total grew while we paged it, at most this often
UNSTABLE_WINDOW = UnstableWindow(rescans=4)
PRODUCT_PAGE_SIZE = 100  # product.listV2: size 1-100, page from 1, page x size <= 10,000
PRODUCT_CAP = 10_000
SETTLE_PAGE_SIZE = 100

# -- statuses: policy as data ------------------------------------------------------------------

#: shop order ``order_status``. 4 (已取消) covers both "cancelled before payment" and "closed
#: after payment" (fully refunded): :func:`order_status` tells them apart by ``pay_time``.
ORDER_STATUS: Mapping[int, OrderStatus] = MappingProxyType(
    {
        1: OrderStatus.PENDING_PAYMENT,  # 待支付
        105: OrderStatus.PAID,  # 已支付 (before the order enters 备货中)
        2: OrderStatus.PAID,  # 备货中 (to ship)
        101: OrderStatus.PART_SHIPPED,  # 部分发货
        3: OrderStatus.SHIPPED,  # 已发货
        4: OrderStatus.CANCELLED,  # 已取消
        5: OrderStatus.COMPLETED,  # 已完成
    }
)
CLOSED_AFTER_PAYMENT = OrderStatus.CLOSED  # order_status 4 with a pay_time

#: after-sale status (``aftersale_info.aftersale_status`` and ``after_sale_info``).
REFUND_STATUS: Mapping[int, RefundStatus] = MappingProxyType(
    {
        0: RefundStatus.REQUESTED,  # 售后初始化
        6: RefundStatus.REQUESTED,  # 待商家同意
        7: RefundStatus.AWAITING_RETURN,  # 待买家退货
        8: RefundStatus.AWAITING_CONFIRM,  # 待商家发货 (exchange / re-send)
        11: RefundStatus.AWAITING_CONFIRM,  # 待商家二次同意 (goods returned)
        3: RefundStatus.AWAITING_CONFIRM,  # 换货待买家收货
        13: RefundStatus.AWAITING_CONFIRM,  # 换货/补寄待买家收货
        12: RefundStatus.SUCCEEDED,  # 售后成功
        14: RefundStatus.SUCCEEDED,  # 换货成功 (no money: refund_amount 0)
        53: RefundStatus.SUCCEEDED,  # 逆向交易完成
        27: RefundStatus.REFUSED,  # 商家一次拒绝
        29: RefundStatus.REFUSED,  # 商家二次拒绝 (after the return)
        28: RefundStatus.CLOSED,  # 售后失败 (incl. withdrawn by the buyer)
        51: RefundStatus.CLOSED,  # 取消成功
    }
)

#: a sku order's ``after_sale_info.after_sale_status`` -> the line's refund state. A succeeded
#: refund is PARTIAL unless the sku order itself is closed (order_status 4): then all of it went
#: back, FULL [I: the list shows no refunded amount per line].
LINE_REFUND_STATE: Mapping[int, LineRefundState] = MappingProxyType(
    {
        0: LineRefundState.NONE,
        6: LineRefundState.IN_PROGRESS,
        7: LineRefundState.IN_PROGRESS,
        8: LineRefundState.IN_PROGRESS,
        11: LineRefundState.IN_PROGRESS,
        12: LineRefundState.PARTIAL,
        53: LineRefundState.PARTIAL,
        3: LineRefundState.NONE,  # exchanges move no money
        13: LineRefundState.NONE,
        14: LineRefundState.NONE,
        27: LineRefundState.NONE,  # refused: nothing refunded
        28: LineRefundState.NONE,
        29: LineRefundState.NONE,
        51: LineRefundState.NONE,
    }
)
LINE_CLOSED = 4  # sku order_status of a line closed by a full refund

#: ``aftersale_type`` values whose goods come back to the seller.
WITH_RETURN_TYPES: frozenset[int] = frozenset({0, 3})  # 退货退款, 换货

#: settle bill columns (fen, positive numbers meaning costs) -> the payout line they make.
#: ``total_income`` is the sale; every cost column is one negative line; the lines of a row sum
#: to its ``settle_amount`` (checked: a row that does not is quarantined). Every cost column maps
#: to a fee type the ledger folds in and the reconciliation expects (``workers/reconcile.py``),
#: so a clean bill leaves no ``other`` line:
#:
#: * ``other_sharing_amount`` (其他分成) [I]: Douyin's bill has no payment-fee column; the
#:   payment channel's cost is withheld here (the fake bills its payment fee in it), so it is
#:   the payment fee. Left as ``other`` it was never expected and flagged nearly every order.
#: * ``good_learn_channel_fee`` (渠道分成), ``colonel_service_fee`` (团长服务费),
#:   ``channel_promotion_fee`` (直播间站外推广) [I]: withheld by the platform for a channel, a
#:   distribution colonel or off-site promotion, none of them the hub's own host: platform fees
#:   (as ``host_commission`` they would be credited to the attributed host's payable).
SETTLE_COST_COLUMNS: Mapping[str, SettlementKind] = MappingProxyType(
    {
        "platform_service_fee": SettlementKind.PLATFORM_FEE,  # 平台服务费
        "commission": SettlementKind.HOST_COMMISSION,  # 达人佣金
        "good_learn_channel_fee": SettlementKind.PLATFORM_FEE,  # 渠道分成
        "colonel_service_fee": SettlementKind.PLATFORM_FEE,  # 团长服务费
        "channel_promotion_fee": SettlementKind.PLATFORM_FEE,  # 直播间站外推广
        "other_sharing_amount": SettlementKind.PAYMENT_FEE,  # 其他分成
    }
)
#: settle row ``trade_type``: 0 settled sale; 1/3 refund after settlement; 2 deposit refund.
SETTLE_TRADE_TYPE: Mapping[int, SettlementKind | None] = MappingProxyType(
    {0: None, 1: SettlementKind.REFUND, 3: SettlementKind.REFUND, 2: SettlementKind.OTHER}
)

# -- errors: policy as data --------------------------------------------------------------------

_AUTH = ErrorResolution(ErrorClass.AUTH)
_TOKEN = ErrorResolution(ErrorClass.AUTH, token_expired=True)
_BAD = ErrorResolution(ErrorClass.BAD_REQUEST)
_LIMIT = ErrorResolution(ErrorClass.RATE_LIMIT, message="触发限流")
_TRANSIENT = ErrorResolution(ErrorClass.TRANSIENT)

ERRORS: Mapping[str | int, ErrorResolution] = MappingProxyType(
    {
        # Rate limit: 60000 whatever the sub_code; the ban hint is read from sub_msg/msg.
        60000: _LIMIT,
        # Platform trouble: the doc says retry 3-5 times within 30 s.
        20000: _TRANSIENT,
        20001: _TRANSIENT,  # timeout
        "isp.*": _TRANSIENT,
        # Tokens: a missing/expired/unknown token is cured by creating or refreshing it once.
        "isv.access-token-missing": _TOKEN,
        "isv.access-token-expired": _TOKEN,
        "isv.access-token-no-existed": _TOKEN,
        # Authentication and authorisation: fatal (an operator must act).
        "isv.signature-missing": _AUTH,
        "isv.signature-invalid": _AUTH,
        "isv.timestamp-invalid": _AUTH,  # our clock is off
        "isv.app-key-invalid": _AUTH,
        "isv.app-key-missing": _AUTH,
        "isv.refresh-token-expired": _AUTH,
        "isv.refresh-token-no-existed": _AUTH,
        "dop.*": _AUTH,  # authorisation gone (dop.authorization-no-existed), token creation
        30001: _AUTH,  # no permission
        30002: _AUTH,  # IP not whitelisted
        50001: _AUTH,  # token generation failed
        # Our bugs: never retried.
        40001: _BAD,
        40003: _BAD,  # isv.parameter-format-invalid and other platform params
        40004: _BAD,  # isv.parameter-invalid:<n> (window beyond 90 days, size > 100, ...)
        50002: _BAD,  # isv.business-failed:<n>
        10001: _BAD,  # partial failure
        70000: _BAD,  # API offline
        90000: _BAD,
    }
)


def envelope_code(body: Mapping[str, Any]) -> int | None:
    """The envelope's code: ``code`` (new style) or ``err_no`` (legacy, 0 = success)."""
    code = body.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code)
    err_no = body.get("err_no")
    if isinstance(err_no, int) and not isinstance(err_no, bool):
        return SUCCESS if err_no == 0 else err_no
    return None


def classify_body(body: Any) -> ErrorResolution | None:
    """The resolution for a Douyin JSON body; ``None`` on ``code: 10000``."""
    if not isinstance(body, Mapping):
        return _TRANSIENT.with_details(code="envelope", message=f"unexpected body: {str(body)[:200]}")
    code = envelope_code(body)
    if code is None:
        return _TRANSIENT.with_details(code="envelope", message="no code in the envelope")
    if code == SUCCESS:
        return None
    sub_code = str(body.get("sub_code") or "") or None
    msg = str(body.get("msg") or body.get("message") or "")
    sub_msg = str(body.get("sub_msg") or "")
    text = f"{msg}: {sub_msg}" if sub_msg else msg
    row = lookup(ERRORS, code, sub_code, default=_BAD)
    assert row is not None
    hint = None
    if row.error_class is ErrorClass.RATE_LIMIT:
        # [I] "请N秒后重试": Douyin meters per-second QPS, so N itself is the wait (no pad).
        hint = parse_ban_hint(sub_msg, pad=0.0) or parse_ban_hint(msg, pad=0.0)
    return row.with_details(code=code, sub_code=sub_code, message=text or str(code), retry_after=hint)


# -- field helpers -----------------------------------------------------------------------------


def _time(raw: Mapping[str, Any], key: str) -> datetime:
    """A unix-seconds field to aware UTC."""
    value = fields.integer(raw, key)
    if value <= 0:
        raise ValueError(f"{key!r} is not a time: {value!r}")
    return from_epoch_s(value)


def _opt_time(raw: Mapping[str, Any], key: str) -> datetime | None:
    """Optional unix seconds; Douyin sends 0 for "not yet"."""
    value = raw.get(key)
    if value in (None, "", 0, "0"):
        return None
    return _time(raw, key)


def _enum(table: Mapping[int, Any], raw: Mapping[str, Any], key: str) -> Any:
    value = fields.integer(raw, key)
    try:
        return table[value]
    except KeyError:
        raise ValueError(f"unknown {key} {value!r}") from None


def _list(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{key!r} is not a list: {type(value).__name__}")
    return value


def _obj(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{key!r} is not an object: {type(value).__name__}")
    return value


# -- record parsers (pure) ---------------------------------------------------------------------


def order_status(raw: Mapping[str, Any]) -> OrderStatus:
    """The hub status of a shop order (4 = cancelled, or closed when it had been paid)."""
    status: OrderStatus = _enum(ORDER_STATUS, raw, "order_status")
    if status is OrderStatus.CANCELLED and _opt_time(raw, "pay_time") is not None:
        return CLOSED_AFTER_PAYMENT
    return status


def line_refund_state(raw: Mapping[str, Any]) -> LineRefundState:
    """A sku order's refund state from ``after_sale_info`` (missing = no after-sale)."""
    info = _obj(raw, "after_sale_info")
    if not info:
        return LineRefundState.NONE
    if info.get("after_sale_status") in (None, ""):
        return LineRefundState.NONE
    state: LineRefundState = _enum(LINE_REFUND_STATE, info, "after_sale_status")
    if state is LineRefundState.PARTIAL and fields.integer(raw, "order_status", 0) == LINE_CLOSED:
        return LineRefundState.FULL
    return state


def parse_order_line(raw: Mapping[str, Any]) -> OrderLineRecord:
    """One ``sku_order_list[]`` item: the line and its live attribution."""
    code = raw.get("code") or raw.get("out_sku_id")
    return OrderLineRecord(
        platform_line_id=fields.numeric_id(raw, "order_id", twin=True),
        platform_item_id=fields.numeric_id(raw, "product_id", twin=True),
        quantity=fields.integer(raw, "item_num"),
        unit_price_fen=fields.fen(raw, "origin_amount"),
        paid_fen=fields.fen(raw, "pay_amount"),
        title=str(raw.get("product_name") or ""),
        platform_sku_id=fields.opt_numeric_id(raw, "sku_id", twin=True),
        outer_sku_id=str(code) if code not in (None, "", 0, "0") else None,
        refund_state=line_refund_state(raw),
        room_id=fields.opt_numeric_id(raw, "room_id", twin=True),
        author_id=fields.opt_numeric_id(raw, "author_id", twin=True),
        raw=raw,
    )


def parse_order(raw: Mapping[str, Any], *, hash_key: bytes | None = None) -> OrderRecord:
    """A ``shop_order_list[]`` item or a ``shop_order_detail`` -> :class:`OrderRecord`."""
    lines = tuple(parse_order_line(line) for line in _list(raw, "sku_order_list"))
    if not lines:
        raise ValueError("shop order has no sku orders")
    order_id = fields.numeric_id(raw, "order_id", twin=True)
    for line in lines:
        parent = line.raw.get("parent_order_id")
        if parent not in (None, "") and str(parent) != order_id:
            raise ValueError(f"sku order {line.platform_line_id} belongs to {parent}, not {order_id}")
    live = next((line for line in lines if line.room_id is not None), None)
    buyer = raw.get("doudian_open_id") or raw.get("open_id")
    return OrderRecord(
        platform_order_id=order_id,
        status=order_status(raw),
        platform_status=str(fields.integer(raw, "order_status")),
        created_at=_time(raw, "create_time"),
        modified_at=_time(raw, "update_time"),
        paid_fen=fields.fen(raw, "pay_amount"),
        lines=lines,
        paid_at=_opt_time(raw, "pay_time"),
        post_fee_fen=fields.fen(raw, "post_amount", 0),
        discount_fen=fields.fen(raw, "promotion_amount", 0),
        buyer_ref=buyer_ref(PLATFORM, str(buyer), hash_key) if buyer else None,
        room_id=live.room_id if live is not None else None,
        author_id=live.author_id if live is not None else None,
        raw=raw,
    )


def parse_refund(raw: Mapping[str, Any]) -> RefundRecord:
    """An ``afterSale.List`` item (``aftersale_info`` + ``order_info`` + ``text_part``)."""
    info = _obj(raw, "aftersale_info")
    order = _obj(raw, "order_info")
    if not info or not order:
        raise ValueError("after-sale item without aftersale_info/order_info")
    related = _list(order, "related_order_info")
    line_id = (
        fields.opt_numeric_id(related[0], "sku_order_id", twin=True)
        if related and isinstance(related[0], Mapping)
        else None
    )
    if line_id is None:
        line_id = fields.opt_numeric_id(info, "related_id", twin=True)
    count = fields.integer(info, "aftersale_num", 0)
    reason = str(_obj(raw, "text_part").get("reason_text") or "") or None
    return RefundRecord(
        platform_refund_id=fields.numeric_id(info, "aftersale_id", twin=True),
        platform_order_id=fields.numeric_id(order, "shop_order_id", twin=True),
        status=_enum(REFUND_STATUS, info, "aftersale_status"),
        platform_status=str(fields.integer(info, "aftersale_status")),
        amount_fen=fields.fen(info, "refund_amount"),
        created_at=_time(info, "apply_time") if info.get("apply_time") else _time(info, "create_time"),
        modified_at=_time(info, "update_time"),
        platform_line_id=line_id,
        quantity=count if count > 0 else None,
        with_return=fields.integer(info, "aftersale_type") in WITH_RETURN_TYPES,
        reason=reason,
        raw=raw,
    )


def parse_sku(raw: Mapping[str, Any]) -> SkuRecord:
    """A ``sku.list`` item."""
    specs = [str(raw.get(f"spec_detail_name{k}") or "") for k in (1, 2, 3)]
    code = raw.get("code")
    return SkuRecord(
        platform_sku_id=fields.numeric_id(raw, "id", twin=True),
        price_fen=fields.fen(raw, "price"),
        stock=fields.integer(raw, "stock_num"),
        outer_id=str(code) if code else (str(raw["out_sku_id"]) if raw.get("out_sku_id") else None),
        spec=" ".join(s for s in specs if s) or None,
        modified_at=None,
        raw=raw,
    )


def parse_product(raw: Mapping[str, Any]) -> ProductRecord:
    """``{"product": <product.listV2 item>, "skus": [<sku.list items>]}`` -> ProductRecord.

    On sale means online (``status`` 0) and approved (``check_status`` 3). The item price is the
    lowest SKU price, its stock the SKUs' sum (``discount_price`` is deprecated).
    """
    product = _obj(raw, "product")
    skus = tuple(parse_sku(sku) for sku in _list(raw, "skus"))
    if not product:
        raise ValueError("no product")
    if not skus:
        raise ValueError("product has no SKUs")
    product_id = fields.numeric_id(product, "product_id", twin=True)
    for sku in skus:
        owner = sku.raw.get("product_id_str") or sku.raw.get("product_id")
        if owner not in (None, "") and str(owner) != product_id:
            raise ValueError(f"sku {sku.platform_sku_id} belongs to product {owner}, not {product_id}")
    outer = product.get("outer_product_id") or product.get("out_product_id")
    return ProductRecord(
        platform_item_id=product_id,
        title=str(fields.required(product, "name")),
        on_sale=fields.integer(product, "status") == 0 and fields.integer(product, "check_status", 3) == 3,
        price_fen=min(sku.price_fen for sku in skus),
        stock=sum(sku.stock for sku in skus),
        modified_at=_time(product, "update_time"),
        outer_id=str(outer) if outer not in (None, "", 0, "0") else None,
        skus=skus,
        raw=raw,
    )


def parse_settlement(raw: Mapping[str, Any]) -> list[SettlementLineRecord]:
    """One ``getSettleBillDetailV3`` row -> its payout lines (sale, fees; or a refund).

    A settled row (``trade_type`` 0) gives ``total_income`` as the sale and one negative line
    per cost column; the lines must add up to ``settle_amount``. A refund row gives one REFUND
    line of ``settle_amount`` (negative). Line ids are ``<request_no>:<column>``.
    """
    request_no = fields.numeric_id(raw, "request_no", twin=True)
    settled_at = parse_local(fields.required(raw, "settle_time"))
    kind = _enum(SETTLE_TRADE_TYPE, raw, "trade_type")
    settle_amount = fields.fen(raw, "settle_amount", signed=True)
    order_id = fields.opt_numeric_id(raw, "shop_order_id", twin=True)
    line_id = fields.opt_numeric_id(raw, "order_id", twin=True)

    def line(column: str, line_kind: SettlementKind, amount: int) -> SettlementLineRecord:
        return SettlementLineRecord(
            platform_bill_id=f"{request_no}:{column}",
            kind=line_kind,
            amount_fen=amount,
            settled_at=settled_at,
            platform_order_id=order_id,
            platform_line_id=line_id,
            raw=raw,
        )

    if kind is not None:
        amount = settle_amount if settle_amount <= 0 or kind is not SettlementKind.REFUND else -settle_amount
        return [line("settle_amount", kind, amount)]
    out = [line("total_income", SettlementKind.SALE, fields.fen(raw, "total_income", signed=True))]
    for column, cost_kind in SETTLE_COST_COLUMNS.items():
        cost = fields.fen(raw, column, 0, signed=True)
        if cost:
            out.append(line(column, cost_kind, -abs(cost)))
    total = sum(item.amount_fen for item in out)
    if total != settle_amount:
        raise ValueError(f"bill {request_no}: lines add up to {total}, settle_amount is {settle_amount}")
    return out


# -- live sessions [I] ---------------------------------------------------------------------------
#
# PLATFORMS.md found no public shop-side API for live-room data. This stream is modelled on the
# session review (直播复盘) of Douyin 电商罗盘 and marked [I] throughout: a session list by start
# time and a per-session detail with the minute timeline and product explanation windows.
#
#   live.sessionList  {start_time, end_time (unix s, session start, inclusive), page (from 0),
#                      size (<= 100)} -> {total, page, size, room_list[]}
#       room_list[]: room_id/room_id_str, author_id, author_nickname, title, start_time,
#                    end_time (0 while live), live_status (2 live, 4 ended), update_time,
#                    watch_cnt (PV), watch_ucnt (UV), max_online_ucnt (PCU),
#                    total_watch_duration (s), pay_amt (GMV fen), pay_order_cnt
#   live.sessionDetail {room_id} -> {room{...as above}, minute_list[], explain_list[]}
#       minute_list[]: minute (unix s), online_ucnt, watch_cnt, new_pay_ucnt, pay_amt (fen)
#       explain_list[]: product_id, sku_id, start_time, end_time (unix s)

LIVE_SESSION_LIST = "live.sessionList"  # [I]
LIVE_SESSION_DETAIL = "live.sessionDetail"  # [I]


def parse_live_session(raw: Mapping[str, Any]) -> LiveSessionRecord:
    """A ``live.sessionDetail`` answer [I] -> :class:`LiveSessionRecord`."""
    room = _obj(raw, "room")
    if not room:
        raise ValueError("live session without room")
    minutes = tuple(
        LiveMinuteRecord(
            minute_at=_time(m, "minute"),
            online=fields.integer(m, "online_ucnt", 0),
            views=fields.integer(m, "watch_cnt", 0),
            new_buyers=fields.integer(m, "new_pay_ucnt", 0),
            gmv_fen=fields.fen(m, "pay_amt", 0),
        )
        for m in _list(raw, "minute_list")
    )
    explanations = tuple(
        ExplanationRecord(
            platform_item_id=fields.numeric_id(e, "product_id", twin=True),
            started_at=_time(e, "start_time"),
            ended_at=_time(e, "end_time"),
            platform_sku_id=fields.opt_numeric_id(e, "sku_id", twin=True),
        )
        for e in _list(raw, "explain_list")
    )
    return LiveSessionRecord(
        room_id=fields.numeric_id(room, "room_id", twin=True),
        author_id=fields.numeric_id(room, "author_id", twin=True),
        started_at=_time(room, "start_time"),
        modified_at=_time(room, "update_time"),
        host_name=str(room.get("author_nickname") or ""),
        title=str(room.get("title") or ""),
        ended_at=_opt_time(room, "end_time"),
        views=fields.integer(room, "watch_cnt", 0),
        unique_viewers=fields.integer(room, "watch_ucnt", 0),
        peak_online=fields.integer(room, "max_online_ucnt", 0),
        total_watch_seconds=fields.integer(room, "total_watch_duration", 0),
        minutes=minutes,
        explanations=explanations,
        raw=raw,
    )


# -- paging helpers (pure) -------------------------------------------------------------------------


def page_order(total: int, size: int) -> list[int]:
    """Pages to read after page 0: the last first, down to 1, then 0 again (see module doc).

    Only pages whose offset stays within the platform's ``page x size <= 50,000`` cap.
    """
    pages = max(1, math.ceil(total / size))
    last = min(pages, OFFSET_CAP // size) - 1
    if last <= 0:
        return []
    return [*range(last, 0, -1), 0]


def window_seconds(start: datetime, end: datetime) -> tuple[int, int]:
    """``[start, end)`` as the inclusive whole seconds Douyin filters take: ``(lo, hi)``."""
    lo = math.ceil(ensure_utc(start).timestamp())
    hi = math.ceil(ensure_utc(end).timestamp()) - 1
    return lo, hi


# -- the connector ---------------------------------------------------------------------------------


class DouyinConnector(Connector):
    """抖店 open platform: signed POSTs, tokens, page-from-0 lists, settle bill cursor."""

    platform: ClassVar[PlatformKind] = PlatformKind.DOUYIN
    # No hard window width for order.searchList: the limits are the 90-day look-back and
    # page x size <= 50,000 (a fuller window is split in halves). [I] One-day windows keep a
    # 60-day backfill to about a hundred requests per stream; incremental runs are narrower
    # anyway ([watermark - overlap, now - lag)).
    window_max: ClassVar[timedelta] = LOOKBACK
    window_advised: ClassVar[timedelta] = timedelta(days=1)
    stream_windows: ClassVar[Mapping[SyncStream, timedelta]] = MappingProxyType(
        {SyncStream.SETTLEMENTS: timedelta(days=1), SyncStream.LIVE_SESSIONS: timedelta(days=7)}
    )
    # getSettleBillDetailV3: "span <= 7 days recommended"; the fake refuses more [I].
    stream_window_max: ClassVar[Mapping[SyncStream, timedelta]] = MappingProxyType(
        {SyncStream.SETTLEMENTS: timedelta(days=7), SyncStream.LIVE_SESSIONS: timedelta(days=31)}
    )
    stream_lookback: ClassVar[Mapping[SyncStream, timedelta]] = MappingProxyType({SyncStream.ORDERS: LOOKBACK})
    page_size: ClassVar[int] = ORDER_PAGE_SIZE
    # [I] Douyin meters calls per app; 50 requests/s with a burst of 25 stays under the
    # default per-app allowance. A 60000 answer bans the key for the hinted time.
    rate: ClassVar[RateLimit] = RateLimit(per_second=50, burst=25)
    streams: ClassVar[frozenset[SyncStream]] = frozenset(
        {
            SyncStream.ORDERS,
            SyncStream.REFUNDS,
            SyncStream.PRODUCTS,
            SyncStream.SETTLEMENTS,
            SyncStream.LIVE_SESSIONS,
        }
    )
    id_paths: ClassVar[Mapping[SyncStream, str]] = MappingProxyType(
        {
            SyncStream.ORDERS: "order_id",
            SyncStream.REFUNDS: "aftersale_info.aftersale_id",
            SyncStream.PRODUCTS: "product.product_id",
            SyncStream.SETTLEMENTS: "request_no",
            SyncStream.LIVE_SESSIONS: "room.room_id_str",
        }
    )
    token_refresh: ClassVar[bool] = True
    sign_method: ClassVar[signing.SignMethod] = signing.SignMethod.HMAC_SHA256
    #: ``sku.syncStock`` incremental updates carry ``idempotent_id``: one id applies once
    stock_delta_idempotent: ClassVar[bool] = True
    cheap_stock_read: ClassVar[bool] = True  # sku.list of one product

    def __init__(self, config: ShopConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        if not self.tokens.access_token:
            # No token yet counts as an expired one: the base creates it (refresh_token) before
            # the first authenticated call, under its refresh lock, and reports it (on_tokens).
            self.tokens.expires_at = from_epoch_s(0)

    # ------------------------------------------------------------------ request hooks
    async def api(self, method: str, params: Mapping[str, Any] | None = None, *, authenticated: bool = True) -> Any:
        """Call one Douyin method; returns the envelope's ``data``."""
        return await self.call(
            method,
            path="/" + method.replace(".", "/"),
            json=dict(params or {}),
            authenticated=authenticated,
        )

    def prepare(self, request: Request) -> Request:
        """System params in the query string, ``param_json`` as the exact body, signed."""
        param_json = signing.param_json(request.json if isinstance(request.json, Mapping) else {})
        timestamp = str(to_epoch_s(self.clock()))
        params = {
            "app_key": self.config.app_key,
            "method": request.op,
            "timestamp": timestamp,
            "v": signing.API_VERSION,
            "sign_method": self.sign_method.value,
        }
        params["sign"] = signing.sign(
            app_key=self.config.app_key,
            secret=self.config.app_secret,
            method=request.op,
            param_json=param_json,
            timestamp=timestamp,
            sign_method=self.sign_method,
        )
        if request.authenticated and self.tokens.access_token:
            params["access_token"] = self.tokens.access_token
        request.params = params
        request.json = None
        request.content = param_json.encode("utf-8")
        request.headers["Content-Type"] = "application/json"
        request.headers["x-open-no-old-err-code"] = "1"
        return request

    def classify(self, http_status: int, body: Any) -> ErrorResolution | None:
        if http_status >= 400 or not isinstance(body, Mapping):
            return super().classify(http_status, body)
        return classify_body(body)

    def unwrap(self, request: Request, body: Any) -> Any:
        return body.get("data") if isinstance(body, Mapping) else None

    # ------------------------------------------------------------------ tokens
    async def refresh_token(self) -> None:
        """Refresh with the refresh token; a self-use app without one (or whose refresh token
        was refused) creates a new token for its shop (``grant_type=authorization_self``)."""
        data: Any = None
        if self.tokens.refresh_token:
            try:
                data = await self.api(
                    "token.refresh",
                    {"grant_type": "refresh_token", "refresh_token": self.tokens.refresh_token},
                    authenticated=False,
                )
            except AuthError:
                data = None
            except BadRequestError:
                data = None
        if data is None:
            data = await self.api(
                "token.create",
                {"code": "", "grant_type": "authorization_self", "shop_id": self.config.shop_id},
                authenticated=False,
            )
        if not isinstance(data, Mapping) or not data.get("access_token"):
            raise AuthError(PLATFORM, "token", "token answer without access_token")
        expires_in = fields.integer(data, "expires_in", 0)
        self.set_tokens(
            str(data["access_token"]),
            str(data.get("refresh_token") or "") or None,
            self.clock() + timedelta(seconds=expires_in) if expires_in > 0 else None,
        )

    # ------------------------------------------------------------------ parsers
    def parse_order(self, raw: Raw) -> OrderRecord:
        return parse_order(raw)

    def parse_refund(self, raw: Raw) -> RefundRecord:
        return parse_refund(raw)

    def parse_product(self, raw: Raw) -> ProductRecord:
        return parse_product(raw)

    def parse_settlement(self, raw: Raw) -> Sequence[SettlementLineRecord]:
        return parse_settlement(raw)

    def parse_live_session(self, raw: Raw) -> LiveSessionRecord:
        return parse_live_session(raw)

    # ------------------------------------------------------------------ paging
    async def _offset_pages(
        self,
        method: str,
        params: Mapping[str, Any],
        list_key: str,
        start: datetime,
        end: datetime,
        bounds: Callable[[int, int], Mapping[str, Any]],
    ) -> AsyncIterator[Raw]:
        """A page-from-0 list over ``[start, end)``: page 0, then last..1, then 0 again.

        A window with more than 50,000 records is split in halves (the cap makes the rest
        unreachable). A pass over which ``total`` grew is repeated (see the module doc);
        what was yielded (same id, same ``update_time``) is not yielded again.
        """
        lo, hi = window_seconds(start, end)
        if hi < lo:
            return
        size = self.page_size

        async def fetch(page: int) -> TotalPage:
            data = await self.api(method, {**params, **bounds(lo, hi), "page": page, "size": size})
            if not isinstance(data, Mapping):
                raise TransientError(PLATFORM, "envelope", f"{method}: data is not an object")
            items = _list(data, list_key)
            total = fields.integer(data, "total", len(items))
            self.stats.pages += 1
            return TotalPage(items, total)

        async def halves() -> AsyncIterator[Raw]:
            middle = start + (end - start) / 2
            async for item in self._offset_pages(method, params, list_key, start, middle, bounds):
                yield item
            async for item in self._offset_pages(method, params, list_key, middle, end, bounds):
                yield item

        paging = ReverseWalk(
            UNSTABLE_WINDOW,
            lambda item: orjson.dumps(item, option=orjson.OPT_SORT_KEYS),
            platform=PLATFORM,
            pages_after=lambda total: page_order(total, size),
            settled="every_page",
            skip_seen_in_first_pass=False,
            wrap_non_objects=False,
        )
        async for item in paging.walk(
            fetch,
            first_page=0,
            unstable=lambda totals: f"{method}: total kept growing in [{start}, {end}): {totals}",
            oversized=lambda head: head.total > OFFSET_CAP and hi > lo,
            split=halves,
        ):
            yield item

    async def _orders_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        async for raw in self._offset_pages(
            "order.searchList",
            {"order_by": "update_time", "order_asc": True},
            "shop_order_list",
            start,
            end,
            lambda lo, hi: {"update_time_start": lo, "update_time_end": hi},
        ):
            yield raw

    async def _order_detail_raw(self, platform_order_id: str) -> Raw:
        try:
            data = await self.api("order.orderDetail", {"shop_order_id": platform_order_id})
        except BadRequestError as exc:
            if isinstance(exc, UnsupportedStream):
                raise
            # "订单不存在" (50002) for one id: that record is skippable, not the whole stream.
            raise RecordError(PLATFORM, exc.code, exc.message, exc.sub_code) from exc
        detail = _obj(data, "shop_order_detail") if isinstance(data, Mapping) else {}
        if not detail:
            raise TransientError(PLATFORM, "envelope", "order.orderDetail without shop_order_detail")
        return detail

    async def _refunds_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        async for raw in self._offset_pages(
            "afterSale.List",
            {"order_by": ["update_time asc"]},
            "items",
            start,
            end,
            lambda lo, hi: {"update_start_time": lo, "update_end_time": hi},
        ):
            yield raw

    async def _refund_detail_raw(self, platform_refund_id: str) -> Raw:
        data = await self.api("afterSale.List", {"aftersale_id": platform_refund_id, "page": 0, "size": 1})
        items = _list(data, "items") if isinstance(data, Mapping) else []
        if not items:
            raise RecordError(PLATFORM, "not_found", f"after-sale {platform_refund_id} not found")
        item: Raw = items[0]
        return item

    async def _products_pages(self) -> AsyncIterator[Raw]:
        page = 1
        while page * PRODUCT_PAGE_SIZE <= PRODUCT_CAP:
            data = await self.api("product.listV2", {"page": page, "size": PRODUCT_PAGE_SIZE})
            items = _list(data, "data") if isinstance(data, Mapping) else []
            self.stats.pages += 1
            for product in items:
                product_id = (
                    fields.opt_numeric_id(product, "product_id", twin=True) if isinstance(product, Mapping) else None
                )
                skus = await self._skus(product_id) if product_id else []
                yield {"product": product, "skus": skus}
            total = fields.integer(data, "total", 0) if isinstance(data, Mapping) else 0
            if not items or page * PRODUCT_PAGE_SIZE >= total:
                return
            page += 1

    async def _skus(self, product_id: str) -> list[Any]:
        data = await self.api("sku.list", {"product_id": product_id})
        if isinstance(data, list):
            return data
        return _list(data, "data") if isinstance(data, Mapping) else []

    async def push_stock(
        self,
        platform_item_id: str,
        platform_sku_id: str | None,
        quantity: int,
        *,
        idempotency_key: str,
    ) -> StockPushResult:
        """``sku.syncStock`` as a full update (``incremental=false``).

        Douyin's ``idempotent_id`` belongs to incremental updates only; a full update is
        idempotent by itself (resending the same quantity leaves the same stock), so the key is
        not sent. Without a SKU id the product must have exactly one SKU.
        """
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise BadRequestError(PLATFORM, "stock", f"stock must be an int >= 0, got {quantity!r}")
        for value in (platform_item_id, platform_sku_id):
            if value is not None and not value.isdigit():
                raise BadRequestError(PLATFORM, "stock", f"Douyin ids are numeric, got {value!r}")
        sku_id = platform_sku_id
        if sku_id is None:
            skus = await self._skus(platform_item_id)
            if len(skus) != 1:
                raise BadRequestError(
                    PLATFORM, "stock", f"product {platform_item_id} has {len(skus)} SKUs: give a sku id"
                )
            sku_id = fields.numeric_id(skus[0], "id", twin=True)
        await self.api(
            "sku.syncStock",
            {
                "product_id": int(platform_item_id),
                "sku_id": int(sku_id),
                "stock_num": quantity,
                "incremental": False,
            },
        )
        return StockPushResult(platform_item_id, sku_id, quantity)

    async def read_stock(self, platform_item_id: str, platform_sku_id: str | None) -> tuple[str | None, int]:
        """A SKU's ``stock_num`` from ``sku.list`` (without a SKU id the product must have one)."""
        skus = [s for s in await self._skus(platform_item_id) if isinstance(s, Mapping)]
        if platform_sku_id is None and len(skus) != 1:
            raise BadRequestError(PLATFORM, "stock", f"product {platform_item_id} has {len(skus)} SKUs: give a sku id")
        for sku in skus:
            sku_id = fields.numeric_id(sku, "id", twin=True)
            if platform_sku_id is None or sku_id == platform_sku_id:
                return sku_id, fields.integer(sku, "stock_num", 0)
        raise BadRequestError(PLATFORM, "stock", f"product {platform_item_id} has no SKU {platform_sku_id}")

    async def _stock_delta(
        self, platform_item_id: str, platform_sku_id: str | None, delta: int, idempotency_key: str
    ) -> StockPushResult:
        """``sku.syncStock`` with ``incremental=true``, ``stock_num`` = the delta and
        ``idempotent_id`` = our key: Douyin applies one id once, so the request loop's resends
        and a later retry of the same push are no-ops. A result below zero is refused. The
        answer carries no stock, so it is read back (``sku.list``)."""
        for value in (platform_item_id, platform_sku_id):
            if value and not value.isdigit():
                raise BadRequestError(PLATFORM, "stock", f"Douyin ids are numeric, got {value!r}")
        sku_id = platform_sku_id or (await self.read_stock(platform_item_id, None))[0]
        assert sku_id is not None
        await self.api(
            "sku.syncStock",
            {
                "product_id": int(platform_item_id),
                "sku_id": int(sku_id),
                "stock_num": delta,
                "incremental": True,
                "idempotent_id": idempotency_key,
            },
        )
        return await self._stock_after(platform_item_id, sku_id)

    async def _price_write(self, platform_item_id: str, platform_sku_id: str | None, price_fen: int) -> PricePushResult:
        """``sku.editPrice`` (``product_id``, ``sku_id``, ``price`` in fen). Without a SKU id
        the product must have exactly one SKU (looked up with ``sku.list``). The answer carries
        no price, so the price set is the one sent."""
        for value in (platform_item_id, platform_sku_id):
            if value is not None and not value.isdigit():
                raise BadRequestError(PLATFORM, "price", f"Douyin ids are numeric, got {value!r}")
        sku_id = platform_sku_id or (await self.read_stock(platform_item_id, None))[0]
        assert sku_id is not None
        business = {"product_id": int(platform_item_id), "sku_id": int(sku_id), "price": price_fen}
        await self.api("sku.editPrice", business)
        return PricePushResult(platform_item_id, sku_id, price_fen)

    async def _settlements_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        lo, hi = window_seconds(start, end)
        if hi < lo:
            return
        end_text = to_local_str(from_epoch_s(hi))
        params: dict[str, Any] = {
            "start_time": to_local_str(from_epoch_s(lo)),
            "end_time": end_text,
            "time_type": "0",
            "size": SETTLE_PAGE_SIZE,
        }
        seen: set[tuple[str, str]] = set()
        while True:
            data = await self.api("order.getSettleBillDetailV3", params)
            if not isinstance(data, Mapping):
                raise TransientError(PLATFORM, "envelope", "settle bill: data is not an object")
            if str(data.get("code", SETTLE_OK)) != SETTLE_OK:
                raise BadRequestError(PLATFORM, str(data.get("code")), str(data.get("code_msg") or "settle bill"))
            self.stats.pages += 1
            for row in _list(data, "data"):
                yield row
            if fields.integer(data, "is_end", 1) == 1:
                return
            cursor = (str(data.get("next_start_index") or ""), str(data.get("next_start_time") or ""))
            if cursor in seen or not cursor[1]:
                raise TransientError(PLATFORM, "paging_loop", f"settle bill cursor repeated: {cursor}")
            seen.add(cursor)
            params = {**params, "start_index": cursor[0], "start_time": cursor[1]}

    async def _live_sessions_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        async for room in self._offset_pages(
            LIVE_SESSION_LIST,
            {},
            "room_list",
            start,
            end,
            lambda lo, hi: {"start_time": lo, "end_time": hi},
        ):
            room_id = fields.opt_numeric_id(room, "room_id", twin=True) if isinstance(room, Mapping) else None
            if room_id is None:
                yield {"room": room}
                continue
            detail = await self.api(LIVE_SESSION_DETAIL, {"room_id": room_id})
            yield detail if isinstance(detail, Mapping) else {"room": room}


__all__ = [
    "CLOSED_AFTER_PAYMENT",
    "ERRORS",
    "LINE_REFUND_STATE",
    "ORDER_STATUS",
    "REFUND_STATUS",
    "SETTLE_COST_COLUMNS",
    "DouyinConnector",
    "classify_body",
    "envelope_code",
    "line_refund_state",
    "order_status",
    "page_order",
    "parse_live_session",
    "parse_order",
    "parse_order_line",
    "parse_product",
    "parse_refund",
    "parse_settlement",
    "parse_sku",
    "window_seconds",
]
