"""The JD JOS connector: stream specs, the JOS request hooks, token refresh and the per-window
fetches; paging is in :mod:`connectors.jd.pages`, stock and prices in :mod:`connectors.jd.stock`,
parsing in :mod:`connectors.jd.parse`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from bangfu.enums import PlatformKind, SyncStream
from bangfu.records import OrderRecord, ProductRecord, Raw, RefundRecord, SettlementLineRecord
from connectors.base import Request
from connectors.errors import AuthError, ErrorResolution, TransientError
from connectors.jd import sign as jd_signing
from connectors.jd.pages import second_bounds
from connectors.jd.parse import ORDER_FIELDS, decode_body, parse_bill, parse_order, parse_refund, parse_ware
from connectors.jd.sign import sdk_timestamp
from connectors.jd.stock import JosStock
from connectors.jd.tables import (
    ALL_ORDER_STATES,
    API_VERSION,
    CREATED_LOOKBACK,
    PLATFORM,
    REFRESH_PATH,
    SKU_BATCH,
    classify_body,
    response_key,
)
from connectors.ratelimit import RateLimit


class JdConnector(JosStock):
    """JD POP shop: orders, after-sales, wares/SKUs, stock, settlement bills; OAuth refresh."""

    platform: ClassVar[PlatformKind] = PlatformKind.JD
    window_max: ClassVar[timedelta] = timedelta(days=31)  # "1 month" [V*]
    window_advised: ClassVar[timedelta] = timedelta(hours=1)  # [I] PLATFORMS.md §7
    page_size: ClassVar[int] = 100
    # [I] JOS meters calls per app and API (the limits are set per app in the console); 40/s
    # sustained with a burst of 20 is what we assume a production app is granted.
    rate: ClassVar[RateLimit] = RateLimit(per_second=40, burst=20)
    streams: ClassVar[frozenset[SyncStream]] = frozenset(
        {SyncStream.ORDERS, SyncStream.REFUNDS, SyncStream.PRODUCTS, SyncStream.SETTLEMENTS}
    )
    stream_windows: ClassVar[Mapping[SyncStream, timedelta]] = {
        # Coarse windows, probed: a sparse day is one or two pages instead of 24 one-hour
        # windows; a dense one is sliced into advised hours (see ``_orders_window``).
        SyncStream.ORDERS: timedelta(days=1),
        SyncStream.REFUNDS: timedelta(hours=6),  # [I] after-sales are sparse
        SyncStream.SETTLEMENTS: timedelta(days=1),
    }
    # Windows older than the modified-time search's 3 months go by created time (see
    # ``_order_pages``), which reaches 2 years back [V*:S8].
    stream_lookback: ClassVar[Mapping[SyncStream, timedelta]] = {SyncStream.ORDERS: CREATED_LOOKBACK}
    id_paths: ClassVar[Mapping[SyncStream, str]] = {
        SyncStream.ORDERS: "orderId",
        SyncStream.REFUNDS: "serviceId",
        SyncStream.PRODUCTS: "wareId",
        SyncStream.SETTLEMENTS: "billId",
    }
    token_refresh: ClassVar[bool] = True
    # "Refresh within 24 h of expiry" [V*:S8].
    refresh_margin: ClassVar[timedelta] = timedelta(hours=24)

    @property
    def oauth_base_url(self) -> str:
        """``open-oauth.jd.com`` for the real platform; the fake serves both on one host."""
        return self.config.extra.get("oauth_base_url") or self.config.base_url

    def sign(self, params: dict[str, str]) -> dict[str, str]:
        params["sign"] = jd_signing.sign(params, self.config.app_secret)
        return params

    def prepare(self, request: Request) -> Request:
        """Add the JOS system params (fresh timestamp, current token) and sign them."""
        if not request.op.startswith("jingdong."):
            return request  # OAuth endpoints take plain parameters
        params = {
            "method": request.op,
            "app_key": self.config.app_key,
            "timestamp": sdk_timestamp(self.clock()),
            "v": API_VERSION,
            "format": "json",
            **request.params,
        }
        token = self.tokens.access_token
        if token:
            params["access_token"] = token
        request.params = self.sign(params)
        return request

    def decode(self, status: int, content_type: str, raw: bytes) -> Any:
        if not raw:
            return None
        try:
            return decode_body(raw)
        except (ValueError, UnicodeDecodeError):
            return raw.decode("utf-8", errors="replace")

    def classify(self, http_status: int, body: Any) -> ErrorResolution | None:
        base = super().classify(http_status, body)
        if base is not None:
            return base
        return classify_body(body)

    def unwrap(self, request: Request, body: Any) -> Any:
        if not request.op.startswith("jingdong."):
            return body
        value = body.get(response_key(request.op)) if isinstance(body, Mapping) else None
        if not isinstance(value, Mapping):
            raise TransientError(PLATFORM, "envelope", f"no {response_key(request.op)} in the answer")
        return value

    # ------------------------------------------------------------------ tokens
    async def refresh_token(self) -> None:
        refresh = self.tokens.refresh_token
        if not refresh:
            raise AuthError(PLATFORM, "19", "access token expired and no refresh_token to renew it")
        body = await self.call(
            "oauth2.refresh_token",
            method="GET",
            path=REFRESH_PATH,
            base_url=self.oauth_base_url,
            params={
                "app_key": self.config.app_key,
                "app_secret": self.config.app_secret,
                "grant_type": "refresh_token",
                "refresh_token": refresh,
            },
            authenticated=False,
        )
        try:
            access = str(body["access_token"])
            expires_in = int(body["expires_in"])
        except (KeyError, TypeError, ValueError) as exc:
            raise TransientError(PLATFORM, "oauth", f"unexpected token answer: {exc}") from exc
        new_refresh = body.get("refresh_token")
        self.set_tokens(
            access,
            str(new_refresh) if new_refresh else None,
            self.clock() + timedelta(seconds=expires_in),
        )

    # ------------------------------------------------------------------ orders
    def parse_order(self, raw: Raw) -> OrderRecord:
        return parse_order(raw)

    async def _order_detail_raw(self, platform_order_id: str) -> Raw:
        body = await self.gateway(
            "jingdong.pop.order.get",
            {
                "order_id": platform_order_id,
                "order_state": ALL_ORDER_STATES,
                "optional_fields": ",".join(ORDER_FIELDS),
            },
        )
        info = body.get("orderDetailInfo")
        order = info.get("orderInfo") if isinstance(info, Mapping) else None
        if not isinstance(order, Mapping):
            raise TransientError(PLATFORM, "envelope", "no orderDetailInfo.orderInfo")
        return order

    # ------------------------------------------------------------------ after-sales
    def parse_refund(self, raw: Raw) -> RefundRecord:
        return parse_refund(raw)

    def _asc_operator(self) -> dict[str, str]:
        operator = self.config.extra.get("operate_pin", "bangfu-hub")
        return {"buId": self.config.shop_id, "operatePin": operator, "operateNick": operator}

    async def _refunds_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        bounds = second_bounds(start, end)
        if bounds is None:
            return
        query = {
            **self._asc_operator(),
            "updateTimeBegin": bounds[0],
            "updateTimeEnd": bounds[1],
            "pageSize": str(self.page_size),
        }
        pages = self.numbered_pages(
            "jingdong.asc.query.list",
            query,
            page_param="pageNumber",
            result="pageResult",
            items="data",
            total="totalCount",
        )
        async for items in pages:
            self.stats.pages += 1
            for raw in items:
                yield raw

    async def _refund_detail_raw(self, platform_refund_id: str) -> Raw:
        body = await self.gateway("jingdong.asc.query.view", {**self._asc_operator(), "serviceId": platform_refund_id})
        result = body.get("result")
        data = result.get("data") if isinstance(result, Mapping) else None
        if not isinstance(data, Mapping):
            raise TransientError(PLATFORM, "envelope", "no result.data")
        return data

    # ------------------------------------------------------------------ wares and SKUs
    def parse_product(self, raw: Raw) -> ProductRecord:
        return parse_ware(raw)

    async def _products_pages(self) -> AsyncIterator[Raw]:
        pages = self.numbered_pages(
            "jingdong.ware.read.searchWare4Valid",
            {"pageSize": str(self.page_size)},
            page_param="pageNo",
            result="page",
            items="data",
            total="totalItem",
        )
        async for listed in pages:
            wares = [w for w in listed if isinstance(w, Mapping)]
            self.stats.pages += 1
            for offset in range(0, len(wares), SKU_BATCH):
                batch = wares[offset : offset + SKU_BATCH]
                skus = await self._skus_of([str(w.get("wareId")) for w in batch])
                for ware in batch:
                    yield {**ware, "skus": skus.get(str(ware.get("wareId")), [])}

    # ------------------------------------------------------------------ settlement bills
    def parse_settlement(self, raw: Raw) -> Sequence[SettlementLineRecord]:
        return (parse_bill(raw),)

    async def _settlements_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        bounds = second_bounds(start, end)
        if bounds is None:
            return
        query = {
            "startTime": bounds[0],
            "endTime": bounds[1],
            "pageSize": str(self.page_size),
        }
        pages = self.numbered_pages(
            "jingdong.pop.bill.detail.query",
            query,
            page_param="pageNo",
            result="billResult",
            items="billDetailList",
            total="totalCount",
        )
        async for items in pages:
            self.stats.pages += 1
            for raw in items:
                yield raw
