"""The self-built mall connector: stream specs, parse hooks and the per-window list reads; the
login session is in :mod:`connectors.selfmall.session`, paging in :mod:`connectors.selfmall.pages`,
stock in :mod:`connectors.selfmall.stock`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import ClassVar

from bangfu.enums import PlatformKind, SyncStream
from bangfu.records import LiveSessionRecord, OrderRecord, ProductRecord, Raw, RefundRecord, SettlementLineRecord
from connectors.errors import TransientError
from connectors.ratelimit import RateLimit
from connectors.selfmall.pages import order_ident, refund_ident
from connectors.selfmall.parse import parse_bill, parse_broadcast, parse_order, parse_product, parse_refund
from connectors.selfmall.scrape import extract_bill, extract_broadcast, extract_order, extract_refund
from connectors.selfmall.stock import MallStock
from connectors.selfmall.tables import PER_PAGE, PLATFORM


class SelfmallConnector(MallStock):
    """A self-built mall: ``base_url`` is the mall, ``app_key``/``app_secret`` the operator's
    username/password (``extra["username"]``/``extra["password"]`` override them), ``shop_id``
    the mall's shop id (for the public catalogue)."""

    platform: ClassVar[PlatformKind] = PlatformKind.SELFMALL
    # [I] the mall's filters refuse more than 31 days; one day keeps a window to a page or two.
    window_max: ClassVar[timedelta] = timedelta(days=31)
    window_advised: ClassVar[timedelta] = timedelta(days=1)
    page_size: ClassVar[int] = PER_PAGE
    # [I] a small self-hosted site: be gentle.
    rate: ClassVar[RateLimit] = RateLimit(per_second=30.0, burst=10)
    streams: ClassVar[frozenset[SyncStream]] = frozenset(
        {SyncStream.ORDERS, SyncStream.REFUNDS, SyncStream.PRODUCTS, SyncStream.SETTLEMENTS, SyncStream.LIVE_SESSIONS}
    )
    # [I] a handful of broadcasts a week: one page per week-wide window.
    stream_windows: ClassVar[Mapping[SyncStream, timedelta]] = MappingProxyType(
        {SyncStream.LIVE_SESSIONS: timedelta(days=7)}
    )
    id_paths: ClassVar[Mapping[SyncStream, str]] = {
        SyncStream.ORDERS: "order_id",
        SyncStream.REFUNDS: "refund_id",
        SyncStream.PRODUCTS: "item_id",
        SyncStream.LIVE_SESSIONS: "broadcast_id",
    }
    token_refresh: ClassVar[bool] = True  # the "token" is the login session

    # ------------------------------------------------------------------ parse hooks
    def parse_order(self, raw: Raw) -> OrderRecord:
        return parse_order(raw)

    def parse_refund(self, raw: Raw) -> RefundRecord:
        return parse_refund(raw)

    def parse_product(self, raw: Raw) -> ProductRecord:
        return parse_product(raw)

    def parse_settlement(self, raw: Raw) -> Sequence[SettlementLineRecord]:
        return (parse_bill(raw),)

    def parse_live_session(self, raw: Raw) -> LiveSessionRecord:
        return parse_broadcast(raw)

    # ------------------------------------------------------------------ windows
    def _orders_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        return self._list_window(
            "orders.list",
            "/admin/orders",
            "orders",
            "updated_from",
            "updated_to",
            start,
            end,
            marker="data-order-id",
            extract=extract_order,
            ident=order_ident,
        )

    async def _order_detail_raw(self, platform_order_id: str) -> Raw:
        page = await self.page("orders.detail", f"/admin/orders/{platform_order_id}", expect="order")
        card = page.soup.select_one("article[data-order-id]")
        if card is None:
            raise TransientError(PLATFORM, "garbled", "order page without its order card")
        return extract_order(card)

    def _refunds_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        return self._list_window(
            "refunds.list",
            "/admin/refunds",
            "refunds",
            "updated_from",
            "updated_to",
            start,
            end,
            marker="data-refund-id",
            extract=extract_refund,
            ident=refund_ident,
        )

    async def _refund_detail_raw(self, platform_refund_id: str) -> Raw:
        page = await self.page("refunds.detail", f"/admin/refunds/{platform_refund_id}", expect="refund")
        row = page.soup.select_one("tr[data-refund-id]")
        if row is None:
            raise TransientError(PLATFORM, "garbled", "refund page without its refund row")
        return extract_refund(row)

    def _settlements_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        return self._list_window(
            "settlements.list",
            "/admin/settlements",
            "settlements",
            "settled_from",
            "settled_to",
            start,
            end,
            marker="data-bill-id",
            extract=extract_bill,
            ident=lambda raw: (str(raw.get("bill_id")), ""),
        )

    def _live_sessions_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        """The mall's live broadcasts (WeChat Channels lives promoting a campaign link / QR code)
        updated in the window: the end once ended, the last minute of stats while live."""
        return self._list_window(
            "lives.list",
            "/admin/lives",
            "lives",
            "updated_from",
            "updated_to",
            start,
            end,
            marker="data-broadcast-id",
            extract=extract_broadcast,
            ident=lambda raw: (str(raw.get("broadcast_id")), str(raw.get("updated_at"))),
        )
