"""The Taobao/Tmall (TOP) connector: stream specs, TOP's request hooks and the per-window
fetches; paging is in :mod:`connectors.taobao.pages`, stock and prices in
:mod:`connectors.taobao.stock`, parsing in :mod:`connectors.taobao.parse`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from bangfu.enums import PlatformKind, SyncStream
from bangfu.records import OrderRecord, ProductRecord, Quarantined, Raw, RefundRecord, SettlementLineRecord
from connectors.base import Request, ShopConfig
from connectors.errors import ErrorResolution, TransientError
from connectors.ratelimit import RateLimit
from connectors.taobao import sign as top_signing
from connectors.taobao.pages import record_key
from connectors.taobao.parse import (
    BILL_FIELDS,
    ITEM_FIELDS,
    REFUND_FIELDS,
    TRADE_FIELDS,
    parse_bill,
    parse_item,
    parse_refund,
    parse_trade,
    response_key,
)
from connectors.taobao.sign import SignMethod
from connectors.taobao.stock import TopStock
from connectors.taobao.tables import (
    BILL_DETAIL_METHOD,
    BILLS_METHOD,
    INVENTORY_METHOD,
    ONSALE_METHOD,
    ORDER_DETAIL_METHOD,
    ORDERS_METHOD,
    REFUND_DETAIL_METHOD,
    REFUNDS_METHOD,
    SIGN_METHODS,
    TRANSIENT,
    classify_body,
)
from connectors.windows import to_local_str


class TaobaoConnector(TopStock):
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
            return TRANSIENT.with_details(code=http_status, message="response is not a JSON object")
        return classify_body(body)

    def unwrap(self, request: Request, body: Any) -> Any:
        key = response_key(request.op)
        value = body.get(key) if isinstance(body, Mapping) else None
        if not isinstance(value, Mapping):
            raise TransientError(self.platform_name, "envelope", f"no {key} in the answer")
        return value

    # ------------------------------------------------------------------ orders
    def parse_order(self, raw: Raw) -> OrderRecord:
        return parse_trade(raw)

    def _orders_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        return self._windowed_walk(
            ORDERS_METHOD,
            {"fields": ",".join(TRADE_FIELDS)},
            start,
            end,
            ("start_modified", "end_modified"),
            "trades",
            "trade",
            record_key("tid", "modified"),
        )

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
            record_key("refund_id", "modified"),
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
                record_key("num_iid", "modified"),
                page_size=self.item_page_size,
            ):
                yield raw

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
            record_key("bid"),
        ):
            yield raw
