"""The Youzan connector: the base request loop plus Youzan's hooks (``prepare`` adds the token,
``classify`` and ``unwrap`` read the three envelopes), tokens, and its streams, each a call into
:mod:`connectors.youzan.pages` or :mod:`connectors.youzan.stock`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from bangfu.enums import Carrier, PlatformKind, SyncStream
from bangfu.records import OrderRecord, ProductRecord, Raw, RefundRecord, SettlementLineRecord, StockPushResult
from connectors.base import Connector, PricePushResult, Request, StockPushUncertain
from connectors.errors import AuthError, ErrorResolution, TransientError
from connectors.ratelimit import RateLimit
from connectors.windows import to_epoch_s, to_local_str
from connectors.youzan import pages, stock
from connectors.youzan.pages import order_key, refund_key, second_bounds
from connectors.youzan.parse import parse_bill, parse_item, parse_order, parse_refund
from connectors.youzan.sign import (
    TOKEN_PATH,
    AuthorizeType,
    TokenRequestError,
    TokenResponseError,
    api_path,
    parse_token_response,
    token_request_body,
)
from connectors.youzan.tables import (
    ALREADY_SHIPPED,
    ITEM_QUANTITY_UPDATE,
    LOGISTICS_CONFIRM,
    MAX_PAGE_NO,
    MAX_PAGE_SIZE,
    PLATFORM,
    REFUND_GET,
    REFUND_MAX_DEPTH,
    REFUND_SEARCH,
    SETTLEMENT_SEARCH,
    TOKEN_OP,
    TRADE_GET,
    TRADES_SOLD_GET,
    classify_body,
    unwrap_body,
)


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
        return self._paged(
            TRADES_SOLD_GET,
            {"start_update": to_local_str(first), "end_update": to_local_str(last)},
            list_key="full_order_info_list",
            total_key="total_results",
            key=order_key,
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
        return self._paged(
            REFUND_SEARCH,
            {"update_time_start": to_epoch_s(first), "update_time_end": to_epoch_s(last)},
            list_key="refunds",
            total_key="total",
            key=refund_key,
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
        return self._paged(
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

    def _paged(self, api: tuple[str, str], window: Mapping[str, Any], **how: Any) -> AsyncIterator[Raw]:
        """One window paged by :func:`connectors.youzan.pages.paged_window`."""
        return pages.paged_window(self.api, self.stats, api, window, **how)

    # ------------------------------------------------------------------ products and stock
    def _products_pages(self) -> AsyncIterator[Raw]:
        return pages.item_pages(self.api, self.stats)

    async def push_stock(
        self, platform_item_id: str, platform_sku_id: str | None, quantity: int, *, idempotency_key: str
    ) -> StockPushResult:
        """Full stock update of one SKU (:func:`connectors.youzan.stock.push_full`)."""
        return await stock.push_full(self.api, platform_item_id, platform_sku_id, quantity)

    async def _price_write(self, platform_item_id: str, platform_sku_id: str | None, price_fen: int) -> PricePushResult:
        return await stock.write_price(self.api, platform_item_id, platform_sku_id, price_fen)

    # ------------------------------------------------------------------ shipments
    #: ``out_stype`` (Youzan's express company id) [I numbers]
    carrier_codes: ClassVar[Mapping[Carrier, str | int]] = {
        Carrier.SF: 7,
        Carrier.ZTO: 3,
        Carrier.YTO: 2,
        Carrier.STO: 1,
        Carrier.YUNDA: 4,
        Carrier.EMS: 11,
        Carrier.POSTB: 12,
        Carrier.JD: 138,
    }
    already_shipped_codes: ClassVar[frozenset[str]] = frozenset({ALREADY_SHIPPED})
    tracking_keys: ClassVar[frozenset[str]] = frozenset({"express_no"})  # delivery_order[].dists[]

    async def _ship(self, platform_order_id: str, carrier_code: str | int, tracking_no: str) -> None:
        """``youzan.logistics.online.confirm`` 3.0.0: ``tid``, ``out_stype``, ``out_sid``; the
        answer's ``is_success`` must be true."""
        data = await self.api(
            LOGISTICS_CONFIRM, {"tid": platform_order_id, "out_stype": str(carrier_code), "out_sid": tracking_no}
        )
        if not isinstance(data, Mapping) or data.get("is_success") not in (True, "true"):
            raise TransientError(PLATFORM, "not_confirmed", f"logistics.online.confirm did not confirm: {data!r}"[:300])

    cheap_stock_read: ClassVar[bool] = True  # youzan.item.get of one item

    async def read_stock(self, platform_item_id: str, platform_sku_id: str | None) -> tuple[str | None, int]:
        return await stock.read(self.api, platform_item_id, platform_sku_id)

    async def _stock_delta(
        self, platform_item_id: str, platform_sku_id: str | None, delta: int, idempotency_key: str
    ) -> StockPushResult:
        """``youzan.item.quantity.update`` with ``type`` 1 (incremental; a result below zero is
        refused). Youzan has no idempotency field, so the write is sent exactly once: a lost
        answer is ``StockPushUncertain``, a rate-limit refusal is waited out and resent. The
        stock after is read back with ``youzan.item.get``."""
        body = stock.quantity_body(platform_item_id, platform_sku_id, delta, 1)
        name, version = ITEM_QUANTITY_UPDATE
        data = await self._send_once(lambda: self.call_once(name, path=api_path(name, version), json=body))
        if not stock.confirmed(data):
            raise StockPushUncertain(PLATFORM, "not_confirmed", f"quantity.update did not confirm: {data!r}")
        return await self._stock_after(platform_item_id, platform_sku_id or None)
