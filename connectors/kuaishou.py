"""Kuaishou 快手小店 open-platform connector, PLATFORMS.md §4.

Pure parts first (tables, envelope classification, record parsers: no I/O, tested on sample
payloads), then :class:`KuaishouConnector`, which is the base request loop plus Kuaishou's hooks.

Transport: ``https://openapi.kwaixiaodian.com/<method with . -> />``; system params ``appkey,
method, version=1, param (JSON text), access_token, timestamp (ms), signMethod, sign`` in the
query; reads are GET, writes POST form-encoded with ``param`` in the body. Signing lives in
:mod:`connectors.signing.kuaishou`. Envelope ``{"result": 1, "data": ...}``; any other
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

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextvars import ContextVar
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
from connectors.base import Connector, Page, PricePushResult, Request
from connectors.buyers import buyer_ref
from connectors.errors import (
    AuthError,
    BadRequestError,
    ErrorResolution,
    RetriableError,
    TransientError,
    lookup,
)
from connectors.ratelimit import RateLimit
from connectors.retry import RetryPolicy
from connectors.signing.kuaishou import SignMethod, sign
from connectors.windows import from_epoch_ms, to_epoch_ms

PLATFORM = "kuaishou"
_SEND_ONCE: ContextVar[bool] = ContextVar("kuaishou_send_once", default=False)
_ONE_ATTEMPT = RetryPolicy(max_attempts=1, base_delay=0.0, max_delay=0.0, jitter=False)
NOMORE = "nomore"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)  # the cursor value that ends every Kuaishou cursor list

# -- statuses: policy as data ------------------------------------------------------------------

ORDER_STATUS: Mapping[int, OrderStatus] = {
    10: OrderStatus.PENDING_PAYMENT,  # 待付款
    30: OrderStatus.PAID,  # 已付款
    40: OrderStatus.SHIPPED,  # 已发货
    50: OrderStatus.DELIVERED,  # 已签收
    70: OrderStatus.COMPLETED,  # 交易成功
    80: OrderStatus.CLOSED,  # 交易关闭 (after payment: refunded)
}
#: 交易关闭 before payment (``payTime`` 0): the order never went anywhere.
CLOSED_UNPAID = OrderStatus.CANCELLED
CLOSED_STATUS = 80

REFUND_STATUS: Mapping[int, RefundStatus] = {
    10: RefundStatus.REQUESTED,  # [I] 买家申请退款，待商家处理
    11: RefundStatus.AWAITING_CONFIRM,  # [I] 买家已退货，待商家确认收货
    12: RefundStatus.REFUSED,  # [I] 商家拒绝退款
    20: RefundStatus.REQUESTED,  # [I] 平台介入中
    30: RefundStatus.AWAITING_RETURN,  # [I] 商家同意退货，待买家退货
    40: RefundStatus.AWAITING_CONFIRM,  # [I] 商家已收货，待退款
    50: RefundStatus.AWAITING_CONFIRM,  # [I] 退款执行中 (no money moved yet)
    60: RefundStatus.SUCCEEDED,  # 退款成功
    70: RefundStatus.CLOSED,  # 退款关闭
}

HANDLING_RETURN_REFUND = 1  # 退货退款
HANDLING_REFUND_ONLY = 10  # 仅退款
HANDLING_EXCHANGE = 3  # 换货: never money, never counted as a refund amount
HANDLING_WAYS = frozenset({HANDLING_RETURN_REFUND, HANDLING_REFUND_ONLY, HANDLING_EXCHANGE})

#: settlement ``billType`` -> kind [I]; unknown types are kept as OTHER with their raw payload.
BILL_TYPES: Mapping[int, SettlementKind] = {
    1: SettlementKind.SALE,  # 货款
    2: SettlementKind.PLATFORM_FEE,  # 平台技术服务费
    3: SettlementKind.HOST_COMMISSION,  # 达人佣金 (分销)
    4: SettlementKind.PAYMENT_FEE,  # 支付通道费
    5: SettlementKind.REFUND,  # 售后退款
    6: SettlementKind.LOGISTICS,  # 运费
    7: SettlementKind.SUBSIDY,  # 平台补贴
}

ITEM_ONLINE = 1  # onOfflineStatus: 1 on sale, 0 off shelf

# -- errors: policy as data --------------------------------------------------------------------

_AUTH = ErrorResolution(ErrorClass.AUTH)
_TOKEN = ErrorResolution(ErrorClass.AUTH, token_expired=True)
_BAD = ErrorResolution(ErrorClass.BAD_REQUEST)
_TRANSIENT = ErrorResolution(ErrorClass.TRANSIENT)
#: QPS is metered per second: one second's pause is the ban the message implies [I].
QPS_BAN_SECONDS = 1.0
_QPS = ErrorResolution(ErrorClass.RATE_LIMIT, retry_after=QPS_BAN_SECONDS, message="Exceed qps limit")
# The daily quota has no hint worth sleeping on (it resets at midnight): the base backs off, and
# when retries run out sync records a rate-limit failure and tries again on its next run.
_QUOTA = ErrorResolution(ErrorClass.RATE_LIMIT, message="Exceed quota limit")

ERRORS: Mapping[str | int, ErrorResolution] = {
    # OAuth family [V:S13 APP授权说明]: "any token error on authorised APIs returns access_denied".
    100200100: _BAD,  # invalid_request: a required parameter is missing
    100200101: _AUTH,  # unauthorized_client: unknown app key / app disabled
    100200102: _TOKEN,  # access_denied: token invalid, expired or revoked: refresh once
    100200103: _BAD,  # unsupported_response_type
    100200104: _BAD,  # unsupported_grant_type
    100200105: _AUTH,  # invalid_grant: bad or used authorisation code
    100200106: _AUTH,  # invalid_scope: the user did not grant this permission
    100200107: _AUTH,  # invalid_openid
    100200500: _TRANSIENT,  # server_error
    # Gateway [I] except 802006 (seen in public client code as the daily quota code).
    802000: _TRANSIENT,  # 系统繁忙
    802001: _AUTH,  # 签名校验失败
    802002: _AUTH,  # timestamp outside the window: our clock is off, an operator must act
    802003: _BAD,  # unsupported signMethod
    802004: _BAD,  # unknown method
    802005: _QPS,
    802006: _QUOTA,
    # Business [V:S13 返回码说明]: our windows are wrong, a bug on our side.
    300003: _BAD,  # ENDTIME MUST AFTER BEGINTIME
    300004: _BAD,  # SEARCH TIME RANGE EXPAND 7 DAYS
    300005: _BAD,  # CAN NOT SEARCH BEFORE 90 DAYS
    300019: _BAD,  # SEARCH TIME RANGE EXPAND LIMIT
    2001: _BAD,  # 参数无效 (e.g. "endTime无效", seen in a public client's log)
}

_QPS_TEXT = re.compile(r"exceed\s+qps\s+limit", re.IGNORECASE)
_QUOTA_TEXT = re.compile(r"exceed\s+quota\s+limit", re.IGNORECASE)


def _code(value: Any) -> int | str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text:
        return None
    return int(text) if text.lstrip("-").isdigit() else text


def classify_body(body: Any) -> ErrorResolution | None:
    """The resolution for a decoded Kuaishou body; ``None`` when ``result`` is 1."""
    if not isinstance(body, Mapping):
        return _TRANSIENT.with_details(code="garbled", message="response is not a JSON object")
    result = _code(body.get("result"))
    if result == 1:
        return None
    if result is None:
        return _TRANSIENT.with_details(code="garbled", message="response has no result")
    sub_code = str(body.get("sub_code") or body.get("subCode") or "") or None
    texts = [
        str(body.get(key) or "")
        for key in ("error_msg", "errorMsg", "sub_msg", "subMsg", "msg", "error")
        if body.get(key)
    ]
    message = " | ".join(dict.fromkeys(texts)) or f"result {result}"
    if _QPS_TEXT.search(message):
        row: ErrorResolution = _QPS
    elif _QUOTA_TEXT.search(message):
        row = _QUOTA
    else:
        found = lookup(ERRORS, result, sub_code, default=None)
        if found is None and body.get("code") not in (None, ""):
            found = lookup(ERRORS, _code(body.get("code")))
        row = found or _BAD
    return row.with_details(code=result, sub_code=sub_code, message=message)


def parse_max_qps(text: str) -> float | None:
    """``... MAX_QPS [300.0]`` -> 300.0 (the app's allowance for that API), else ``None``."""
    match = re.search(r"MAX_QPS\s*\[\s*(\d+(?:\.\d+)?)\s*\]", text)
    return float(match.group(1)) if match else None


# -- field helpers -----------------------------------------------------------------------------


def _opt_text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value in (None, ""):
        return None
    return str(value)


def _ms(raw: Mapping[str, Any], key: str) -> datetime:
    value = fields.integer(raw, key)
    if value <= 0:
        raise ValueError(f"{key!r} is not a time: {value!r}")
    return from_epoch_ms(value)


def _opt_ms(raw: Mapping[str, Any], key: str) -> datetime | None:
    """An epoch-ms time; Kuaishou sends 0 (or nothing) for "not yet"."""
    if raw.get(key) in (None, "", 0, "0"):
        return None
    return _ms(raw, key)


def _obj(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if not isinstance(value, Mapping):
        raise ValueError(f"{key!r} is not an object: {type(value).__name__}")
    return value


def _list(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{key!r} is not a list: {type(value).__name__}")
    return value


# -- record parsers (pure) ---------------------------------------------------------------------


def order_items(raw: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The order's items: ``orderItemInfoList`` when present, else the single ``orderItemInfo``."""
    items = _list(raw, "orderItemInfoList")
    if not items:
        items = [_obj(raw, "orderItemInfo")]
    for item in items:
        if not isinstance(item, Mapping):
            raise ValueError(f"order item is not an object: {type(item).__name__}")
    return items


def line_refund_state(line_paid_fen: int, refunds: Sequence[Mapping[str, Any]]) -> LineRefundState:
    """A line's refund state from the refunds that name it (``orderRefundList`` entries).

    Succeeded refunds give PARTIAL or FULL by amount; open ones IN_PROGRESS; closed and refused
    ones leave the line as it was.
    """
    refunded = 0
    open_refund = False
    for refund in refunds:
        status = REFUND_STATUS.get(fields.integer(refund, "refundStatus"))
        if status is None:
            raise ValueError(f"unknown refundStatus {refund.get('refundStatus')!r}")
        if status is RefundStatus.SUCCEEDED:
            refunded += fields.fen(refund, "refundFee", 0)
        elif status not in (RefundStatus.CLOSED, RefundStatus.REFUSED):
            open_refund = True
    if refunded:
        return LineRefundState.FULL if refunded >= line_paid_fen else LineRefundState.PARTIAL
    return LineRefundState.IN_PROGRESS if open_refund else LineRefundState.NONE


def parse_order(raw: Mapping[str, Any], *, hash_key: bytes | None = None) -> OrderRecord:
    """An order from ``open.order.cursor.list`` / ``open.order.detail`` -> :class:`OrderRecord`."""
    base = _obj(raw, "orderBaseInfo")
    oid = fields.numeric_id(base, "oid")
    code = fields.integer(base, "status")
    paid_at = _opt_ms(base, "payTime")
    if code == CLOSED_STATUS and paid_at is None:
        status = CLOSED_UNPAID
    else:
        try:
            status = ORDER_STATUS[code]
        except KeyError:
            raise ValueError(f"unknown order status {code!r}") from None
    items = order_items(raw)
    refunds = [r for r in _list(raw, "orderRefundList") if isinstance(r, Mapping)]
    total_fee = fields.fen(base, "totalFee")
    express_fee = fields.fen(base, "expressFee", 0)
    single = len(items) == 1
    lines: list[OrderLineRecord] = []
    for item in items:
        line_id = fields.opt_numeric_id(item, "orderItemId") or oid
        num = fields.integer(item, "num")
        if num <= 0:
            raise ValueError(f"item num must be positive, got {num}")
        price = fields.fen(item, "price")
        if item.get("discountFee") not in (None, "") or not single:
            paid = price * num - fields.fen(item, "discountFee", 0)
        else:
            paid = total_fee - express_fee  # one item: what the buyer paid for it
        if paid < 0:
            raise ValueError(f"item {line_id} paid amount is negative: {paid}")
        mine = [r for r in refunds if single or str(r.get("orderItemId") or "") in ("", line_id)]
        lines.append(
            OrderLineRecord(
                platform_line_id=line_id,
                platform_item_id=fields.numeric_id(item, "itemId"),
                quantity=num,
                unit_price_fen=price,
                paid_fen=paid,
                title=str(item.get("itemTitle") or ""),
                platform_sku_id=fields.opt_numeric_id(item, "skuId"),
                outer_sku_id=_opt_text(item, "skuNick"),
                refund_state=line_refund_state(paid, mine),
                room_id=_opt_text(item, "liveStreamId"),
                author_id=_opt_text(item, "distributorId"),
                raw=item,
            )
        )
    cps = raw.get("orderCpsInfo")
    cps = cps if isinstance(cps, Mapping) else {}
    room = _opt_text(cps, "liveStreamId") or next((ln.room_id for ln in lines if ln.room_id), None)
    author = _opt_text(cps, "distributorId") or next((ln.author_id for ln in lines if ln.author_id), None)
    buyer = base.get("buyerOpenId")
    return OrderRecord(
        platform_order_id=oid,
        status=status,
        platform_status=str(code),
        created_at=_ms(base, "createTime"),
        modified_at=_ms(base, "updateTime"),
        # totalFee is the order's amount whether or not it has been paid yet (``status``
        # says which); totals over paid orders filter on ``status.is_paid``.
        paid_fen=total_fee,
        lines=tuple(lines),
        paid_at=paid_at,
        post_fee_fen=express_fee,
        discount_fen=fields.fen(base, "discountFee", 0),
        buyer_ref=buyer_ref(PLATFORM, str(buyer), hash_key) if buyer not in (None, "") else None,
        room_id=room,
        author_id=author,
        raw=raw,
    )


def parse_refund(raw: Mapping[str, Any]) -> RefundRecord:
    """A refund from ``open.seller.order.refund.pcursor.list`` / ``.detail``."""
    code = fields.integer(raw, "status")
    try:
        status = REFUND_STATUS[code]
    except KeyError:
        raise ValueError(f"unknown refund status {code!r}") from None
    handling = fields.integer(raw, "handlingWay")
    if handling not in HANDLING_WAYS:
        raise ValueError(f"unknown handlingWay {handling!r}")
    exchange = handling == HANDLING_EXCHANGE
    num = raw.get("num")
    return RefundRecord(
        platform_refund_id=fields.numeric_id(raw, "refundId"),
        platform_order_id=fields.numeric_id(raw, "oid"),
        status=status,
        platform_status=str(code),
        # An exchange moves goods, never money: its amount is 0 whatever refundFee says.
        amount_fen=0 if exchange else fields.fen(raw, "refundFee"),
        created_at=_ms(raw, "createTime"),
        modified_at=_ms(raw, "updateTime"),
        platform_line_id=fields.opt_numeric_id(raw, "orderItemId"),
        quantity=fields.integer(raw, "num") if num not in (None, "", 0) else None,
        with_return=handling in (HANDLING_RETURN_REFUND, HANDLING_EXCHANGE),
        reason=_opt_text(raw, "refundReasonDesc") or ("换货" if exchange else None),
        raw=raw,
    )


def parse_sku(raw: Mapping[str, Any]) -> SkuRecord:
    return SkuRecord(
        platform_sku_id=fields.numeric_id(raw, "kwaiSkuId"),
        price_fen=fields.fen(raw, "skuSalePrice"),
        stock=fields.integer(raw, "skuStock"),
        outer_id=_opt_text(raw, "skuNick"),
        spec=_opt_text(raw, "specification"),
        modified_at=_opt_ms(raw, "updateTime"),
        raw=raw,
    )


def parse_item(raw: Mapping[str, Any]) -> ProductRecord:
    """An item from ``open.item.list.get`` / ``open.item.get`` (with ``skuInfos``)."""
    skus = tuple(parse_sku(sku) for sku in _list(raw, "skuInfos"))
    return ProductRecord(
        platform_item_id=fields.numeric_id(raw, "kwaiItemId"),
        title=str(fields.required(raw, "title")),
        on_sale=fields.integer(raw, "onOfflineStatus", 0) == ITEM_ONLINE,
        price_fen=fields.fen(raw, "price"),
        stock=sum(sku.stock for sku in skus) if skus else fields.integer(raw, "stock", 0),
        modified_at=_ms(raw, "updateTime"),
        outer_id=_opt_text(raw, "itemCode"),
        skus=skus,
        raw=raw,
    )


def parse_bill(raw: Mapping[str, Any]) -> list[SettlementLineRecord]:
    """A settlement-bill row -> one :class:`SettlementLineRecord` (signed fen)."""
    amount = fields.integer(raw, "amount")
    return [
        SettlementLineRecord(
            platform_bill_id=fields.numeric_id(raw, "billId"),
            kind=BILL_TYPES.get(fields.integer(raw, "billType"), SettlementKind.OTHER),
            amount_fen=amount,
            settled_at=_ms(raw, "settlementTime"),
            platform_order_id=fields.opt_numeric_id(raw, "oid"),
            platform_line_id=fields.opt_numeric_id(raw, "orderItemId"),
            raw=raw,
        )
    ]


def parse_live_stream(raw: Mapping[str, Any]) -> LiveSessionRecord:
    """A live session (``open.live.stream.list`` row merged with its ``.detail``) [I]."""
    minutes = tuple(
        LiveMinuteRecord(
            minute_at=_ms(m, "minuteTime"),
            online=fields.integer(m, "onlineCount", 0),
            views=fields.integer(m, "enterCount", 0),
            new_buyers=fields.integer(m, "newBuyerCount", 0),
            gmv_fen=fields.fen(m, "payAmount", 0),
        )
        for m in _list(raw, "minuteList")
    )
    explanations = tuple(
        ExplanationRecord(
            platform_item_id=fields.numeric_id(e, "kwaiItemId"),
            started_at=_ms(e, "beginTime"),
            ended_at=_ms(e, "endTime"),
            platform_sku_id=fields.opt_numeric_id(e, "skuId"),
        )
        for e in _list(raw, "explainList")
    )
    return LiveSessionRecord(
        room_id=fields.numeric_id(raw, "liveStreamId"),
        author_id=fields.numeric_id(raw, "authorId"),
        started_at=_ms(raw, "startTime"),
        modified_at=_ms(raw, "updateTime"),
        host_name=str(raw.get("authorName") or ""),
        title=str(raw.get("title") or ""),
        ended_at=_opt_ms(raw, "endTime"),
        views=fields.integer(raw, "watchCount", 0),
        unique_viewers=fields.integer(raw, "watchUserCount", 0),
        peak_online=fields.integer(raw, "maxOnlineCount", 0),
        total_watch_seconds=fields.integer(raw, "totalWatchDuration", 0),
        minutes=minutes,
        explanations=explanations,
        raw=raw,
    )


def _numeric(value: str, what: str) -> int:
    """A platform id we send back as the Long Kuaishou expects; anything else is our bug."""
    text = str(value).strip()
    if not text.isdigit():
        raise BadRequestError(PLATFORM, "bad_id", f"{what} is not numeric: {value!r}")
    return int(text)


def param_json(business: Mapping[str, Any]) -> str:
    """The ``param`` text: compact JSON, key order as given (it is signed exactly as sent)."""
    return json.dumps(business, ensure_ascii=False, separators=(",", ":"))


def api_path(method: str) -> str:
    """``open.order.cursor.list`` -> ``/open/order/cursor/list``."""
    return "/" + method.replace(".", "/")


# -- the connector ------------------------------------------------------------------------------


class KuaishouConnector(Connector):
    """Kuaishou 快手小店: cursor lists, ms times, fen, OAuth tokens refreshed before expiry.

    ``ShopConfig.extra``: ``sign_secret`` (required: the signSecret is not the OAuth
    appSecret) and optionally ``sign_method`` (``HMAC_SHA256``, the documented recommendation,
    or ``MD5``).
    """

    platform: ClassVar[PlatformKind] = PlatformKind.KUAISHOU
    window_max: ClassVar[timedelta] = timedelta(days=7)
    # [I] Cursor paging is stable (the cursor is the last row's time and id, not an offset)
    # and has no page-depth limit, so the widest allowed window costs the fewest calls.
    window_advised: ClassVar[timedelta] = timedelta(days=7)
    page_size: ClassVar[int] = 50
    # open.order.cursor.list allows 300 QPS per app, item writes 100 per app: stay under both.
    rate: ClassVar[RateLimit] = RateLimit(per_second=100.0, burst=20)
    streams: ClassVar[frozenset[SyncStream]] = frozenset(SyncStream)
    stream_windows: ClassVar[Mapping[SyncStream, timedelta]] = {
        SyncStream.REFUNDS: timedelta(days=1),
        SyncStream.SETTLEMENTS: timedelta(days=7),
        SyncStream.LIVE_SESSIONS: timedelta(days=7),
    }
    stream_window_max: ClassVar[Mapping[SyncStream, timedelta]] = {SyncStream.REFUNDS: timedelta(days=1)}
    # 300005 "只能查询最近90天内的订单" for orders [V:S13] and refunds (within 90 days [V*:S8]);
    # [I] the funds bills and live lists are held to the same 90 days (the fake refuses older).
    stream_lookback: ClassVar[Mapping[SyncStream, timedelta]] = dict.fromkeys(
        (SyncStream.ORDERS, SyncStream.REFUNDS, SyncStream.SETTLEMENTS, SyncStream.LIVE_SESSIONS),
        timedelta(days=90),
    )
    id_paths: ClassVar[Mapping[SyncStream, str]] = {
        SyncStream.ORDERS: "orderBaseInfo.oid",
        SyncStream.REFUNDS: "refundId",
        SyncStream.PRODUCTS: "kwaiItemId",
        SyncStream.SETTLEMENTS: "billId",
        SyncStream.LIVE_SESSIONS: "liveStreamId",
    }
    token_refresh: ClassVar[bool] = True
    refund_page_size: ClassVar[int] = 100
    item_page_size: ClassVar[int] = 50
    bill_page_size: ClassVar[int] = 100
    live_page_size: ClassVar[int] = 20

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        secret = self.config.extra.get("sign_secret")
        if not secret:
            raise ValueError("kuaishou needs ShopConfig.extra['sign_secret'] (the app's signSecret)")
        self._sign_secret = secret
        self._sign_method = SignMethod(self.config.extra.get("sign_method") or SignMethod.HMAC_SHA256)

    # ------------------------------------------------------------------ request hooks
    def prepare(self, request: Request) -> Request:
        if request.op.startswith("oauth2."):
            return request  # token endpoints: app_id + app_secret, no signature
        carrier = request.data if request.data is not None else request.params
        system = {
            "appkey": self.config.app_key,
            "method": request.op,
            "version": "1",
            "param": carrier.get("param", "{}"),
            "timestamp": str(to_epoch_ms(self.clock())),
            "signMethod": self._sign_method.value,
        }
        if request.authenticated and self.tokens.access_token:
            system["access_token"] = self.tokens.access_token
        system["sign"] = sign(system, self._sign_secret, self._sign_method)
        if request.data is not None:
            request.data = {"param": system["param"]}
            request.params = {k: v for k, v in system.items() if k != "param"}
        else:
            request.params = system
        return request

    def classify(self, http_status: int, body: Any) -> ErrorResolution | None:
        row = super().classify(http_status, body)
        if row is not None:
            return row
        return classify_body(body)

    def unwrap(self, request: Request, body: Any) -> Any:
        """``data`` of a success envelope (``{}`` when absent); a ``data`` that is not an
        object is a garbled answer, retried like one."""
        if request.op.startswith("oauth2."):
            return body
        data = body.get("data") if isinstance(body, Mapping) else None
        if data is None:
            return {}
        if not isinstance(data, Mapping):
            raise TransientError(PLATFORM, "garbled", f"data is not an object: {type(data).__name__}")
        return data

    async def api(
        self, method: str, business: Mapping[str, Any] | None = None, *, post: bool = False
    ) -> Mapping[str, Any]:
        """One Kuaishou API call; returns ``data`` (an object, ``{}`` when absent)."""
        text = param_json(business or {})
        if post:
            data = await self.call(method, method="POST", path=api_path(method), data={"param": text})
        else:
            data = await self.call(method, method="GET", path=api_path(method), params={"param": text})
        assert isinstance(data, Mapping)  # unwrap() guarantees it
        return data

    # ------------------------------------------------------------------ tokens
    async def refresh_token(self) -> None:
        """POST ``/oauth2/refresh_token``; the old refresh token dies within 5 minutes."""
        refresh = self.tokens.refresh_token
        if not refresh:
            raise AuthError(PLATFORM, "no_refresh_token", "access token expiring and no refresh token")
        body = await self.call(
            "oauth2.refresh_token",
            method="POST",
            path="/oauth2/refresh_token",
            data={
                "app_id": self.config.app_key,
                "app_secret": self.config.app_secret,
                "grant_type": "refresh_token",
                "refresh_token": refresh,
            },
            authenticated=False,
        )
        self._store_tokens(body)

    async def create_token(self, code: str) -> None:
        """GET ``/oauth2/access_token`` with the authorisation code (valid 2 minutes, once)."""
        body = await self.call(
            "oauth2.access_token",
            method="GET",
            path="/oauth2/access_token",
            params={
                "app_id": self.config.app_key,
                "app_secret": self.config.app_secret,
                "grant_type": "code",
                "code": code,
            },
            authenticated=False,
        )
        self._store_tokens(body)

    def _store_tokens(self, body: Any) -> None:
        if not isinstance(body, Mapping) or not body.get("access_token"):
            raise AuthError(PLATFORM, "token", f"token response without access_token: {body!r}")
        expires_in = body.get("expires_in")
        seconds = int(expires_in) if isinstance(expires_in, int | str) and str(expires_in).isdigit() else 0
        self.set_tokens(
            str(body["access_token"]),
            str(body["refresh_token"]) if body.get("refresh_token") else None,
            self.clock() + timedelta(seconds=seconds) if seconds else None,
        )

    # ------------------------------------------------------------------ paging helper
    async def _cursor_pages(
        self, method: str, business: Mapping[str, Any], list_key: str, cursor_key: str
    ) -> AsyncIterator[Raw]:
        async def fetch(cursor: str) -> Page:
            data = await self.api(method, {**business, cursor_key: cursor})
            items = _list(data, list_key)
            nxt = data.get(cursor_key)
            if nxt in (None, "", NOMORE) or not items:
                return Page(items, None)
            return Page(items, str(nxt))

        async for raw in self.paginate(fetch, ""):
            yield raw

    @staticmethod
    def _window(start: datetime, end: datetime) -> tuple[int, int] | None:
        """Our half-open window as Kuaishou's inclusive ms bounds; ``None`` when it holds no
        whole millisecond (nothing to ask for)."""
        begin = -(-(start - _EPOCH) // _MS)  # ceil: the first ms instant >= start
        stop = -(-(end - _EPOCH) // _MS) - 1  # the last ms instant < end
        return (begin, stop) if stop >= begin else None

    # ------------------------------------------------------------------ streams
    async def _orders_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        bounds = self._window(start, end)
        if bounds is None:
            return
        begin, stop = bounds
        business = {
            "orderViewStatus": 1,
            "pageSize": self.page_size,
            "queryType": 2,
            "beginTime": begin,
            "endTime": stop,
            "sort": 1,
        }
        async for raw in self._cursor_pages("open.order.cursor.list", business, "orderList", "cursor"):
            yield raw

    async def _order_detail_raw(self, platform_order_id: str) -> Raw:
        return await self.api("open.order.detail", {"oid": _numeric(platform_order_id, "order id")})

    async def _refunds_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        bounds = self._window(start, end)
        if bounds is None:
            return
        begin, stop = bounds
        business = {
            "beginTime": begin,
            "endTime": stop,
            "type": 9,  # all refunds
            "pageSize": self.refund_page_size,
            "currentPage": 1,
        }
        async for raw in self._cursor_pages(
            "open.seller.order.refund.pcursor.list", business, "refundOrderInfoList", "pcursor"
        ):
            yield raw

    async def _refund_detail_raw(self, platform_refund_id: str) -> Raw:
        business = {"refundId": _numeric(platform_refund_id, "refund id")}
        return await self.api("open.seller.order.refund.detail", business)

    async def _products_pages(self) -> AsyncIterator[Raw]:
        async def fetch(page_no: int) -> Page:
            data = await self.api("open.item.list.get", {"pageNumber": page_no, "pageSize": self.item_page_size})
            items = _list(data, "items")
            total_pages = fields.integer(data, "totalPage", 0)
            return Page(items, page_no + 1 if page_no < total_pages and items else None)

        async for raw in self.paginate(fetch, 1):
            yield raw

    async def _settlements_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        bounds = self._window(start, end)
        if bounds is None:
            return
        begin, stop = bounds
        business = {
            "settlementStartTime": begin,
            "settlementEndTime": stop,
            "pageSize": self.bill_page_size,
        }
        async for raw in self._cursor_pages("open.funds.financial.bill.batch.detail", business, "billList", "cursor"):
            yield raw

    async def _live_sessions_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        bounds = self._window(start, end)
        if bounds is None:
            return
        begin, stop = bounds
        business = {"beginTime": begin, "endTime": stop, "pageSize": self.live_page_size}
        async for row in self._cursor_pages("open.live.stream.list", business, "liveStreamList", "pcursor"):
            if not isinstance(row, Mapping) or row.get("liveStreamId") in (None, ""):
                yield row  # guard() quarantines it
                continue
            detail = await self.api("open.live.stream.detail", {"liveStreamId": str(row["liveStreamId"])})
            yield {**row, **detail}

    # ------------------------------------------------------------------ parsers
    def parse_order(self, raw: Raw) -> OrderRecord:
        return parse_order(raw)

    def parse_refund(self, raw: Raw) -> RefundRecord:
        return parse_refund(raw)

    def parse_product(self, raw: Raw) -> ProductRecord:
        return parse_item(raw)

    def parse_settlement(self, raw: Raw) -> Sequence[SettlementLineRecord]:
        return parse_bill(raw)

    def parse_live_session(self, raw: Raw) -> LiveSessionRecord:
        return parse_live_stream(raw)

    # ------------------------------------------------------------------ stock
    async def _sku_stock(self, item_id: str, sku_id: str | None) -> tuple[str, int]:
        data = await self.api("open.item.get", {"kwaiItemId": _numeric(item_id, "item id")})
        product = parse_item(data)
        if not product.skus:
            raise BadRequestError(PLATFORM, "no_sku", f"item {item_id} has no SKUs")
        if sku_id is None:
            if len(product.skus) != 1:
                raise BadRequestError(PLATFORM, "sku_required", f"item {item_id} has several SKUs")
            return product.skus[0].platform_sku_id, product.skus[0].stock
        for sku in product.skus:
            if sku.platform_sku_id == sku_id:
                return sku_id, sku.stock
        raise BadRequestError(PLATFORM, "unknown_sku", f"item {item_id} has no SKU {sku_id}")

    async def push_stock(
        self,
        platform_item_id: str,
        platform_sku_id: str | None,
        quantity: int,
        *,
        idempotency_key: str,
    ) -> StockPushResult:
        """Set the SKU's stock to ``quantity``.

        Kuaishou only takes increments (``skuChangeStock`` + ``changeType``) and has no
        idempotency key, so a blindly resent push could apply twice. Each round reads the
        current stock, pushes the difference once (no automatic resend) and, if that push
        failed transiently, reads again before deciding: a push that did land is then seen
        and not repeated. Kuaishou takes no idempotency key, so ``idempotency_key`` is not
        sent; the read-compare-push round is what makes a replay harmless.
        """
        if quantity < 0:
            raise BadRequestError(PLATFORM, "bad_quantity", f"stock cannot be negative: {quantity}")
        last: RetriableError | None = None
        for round_no in range(1, self.retry.max_attempts + 1):
            sku_id, current = await self._sku_stock(platform_item_id, platform_sku_id)
            if current == quantity:
                return StockPushResult(platform_item_id, sku_id, current)
            delta = quantity - current
            business = {
                "kwaiItemId": _numeric(platform_item_id, "item id"),
                "skuId": _numeric(sku_id, "sku id"),
                "skuChangeStock": abs(delta),
                "changeType": 1 if delta > 0 else 2,
            }
            try:
                await self._call_once("open.item.sku.stock.update", business)
            except RetriableError as exc:
                last = exc
                self.stats.retries[exc.error_class] += 1
                await self._sleep(self.retry.delay_for(exc, round_no, self._rng))
                continue
            _, after = await self._sku_stock(platform_item_id, sku_id)
            return StockPushResult(platform_item_id, sku_id, after)
        assert last is not None  # max_attempts >= 1 and every failed round sets it
        raise last

    cheap_stock_read: ClassVar[bool] = True  # open.item.get of one item

    async def read_stock(self, platform_item_id: str, platform_sku_id: str | None) -> tuple[str | None, int]:
        """A SKU's stock from ``open.item.get``."""
        return await self._sku_stock(platform_item_id, platform_sku_id)

    async def _stock_delta(
        self, platform_item_id: str, platform_sku_id: str | None, delta: int, idempotency_key: str
    ) -> StockPushResult:
        """``open.item.sku.stock.update`` with ``changeType`` 1 (add) or 2 (reduce; Kuaishou
        refuses a result below zero). No idempotency key exists, so the write is sent exactly
        once: a lost answer is ``StockPushUncertain``, a rate-limit refusal is waited out and
        resent. The stock after is read back (``open.item.get``): it includes any sale made
        since, which is what the platform holds."""
        sku_id = platform_sku_id or (await self._sku_stock(platform_item_id, None))[0]
        business = {
            "kwaiItemId": _numeric(platform_item_id, "item id"),
            "skuId": _numeric(sku_id, "sku id"),
            "skuChangeStock": abs(delta),
            "changeType": 1 if delta > 0 else 2,
        }
        await self._send_once(lambda: self._call_once("open.item.sku.stock.update", business))
        return await self._stock_after(platform_item_id, sku_id)

    async def _price_write(self, platform_item_id: str, platform_sku_id: str | None, price_fen: int) -> PricePushResult:
        """``open.item.sku.price.update`` (``kwaiItemId``, ``skuId``, ``price`` in fen), a POST
        like every Kuaishou write. A price is absolute, so the request loop may resend it.
        Without a SKU id the item must have one SKU (read with ``open.item.get``)."""
        sku_id = platform_sku_id or (await self._sku_stock(platform_item_id, None))[0]
        business = {
            "kwaiItemId": _numeric(platform_item_id, "item id"),
            "skuId": _numeric(sku_id, "sku id"),
            "price": price_fen,
        }
        await self.api("open.item.sku.price.update", business, post=True)
        return PricePushResult(platform_item_id, sku_id, price_fen)

    async def _call_once(self, method: str, business: Mapping[str, Any]) -> Any:
        """A POST sent exactly once: transport and retriable errors are raised, not retried."""
        token = _SEND_ONCE.set(True)
        try:
            return await self.api(method, business, post=True)
        finally:
            _SEND_ONCE.reset(token)

    # The base request loop retries with ``self.retry``; a write that must not be resent sets
    # ``_SEND_ONCE`` for its own task, which swaps in a single-attempt policy for that task only.
    @property
    def retry(self) -> RetryPolicy:
        return _ONE_ATTEMPT if _SEND_ONCE.get() else self._retry_policy

    @retry.setter
    def retry(self, value: RetryPolicy) -> None:
        self._retry_policy = value


__all__ = [
    "BILL_TYPES",
    "ERRORS",
    "ORDER_STATUS",
    "REFUND_STATUS",
    "KuaishouConnector",
    "classify_body",
    "parse_bill",
    "parse_item",
    "parse_live_stream",
    "parse_order",
    "parse_refund",
]
