"""Self-built mall stock: the admin stock form (full sets; a delta is the base's read-then-set)
and the stock it shows."""

from __future__ import annotations

from typing import ClassVar

from bangfu.records import StockPushResult
from connectors.errors import BadRequestError, TransientError
from connectors.selfmall.html import HtmlPage, csrf_of
from connectors.selfmall.pages import MallPaging
from connectors.selfmall.tables import PLATFORM


class MallStock(MallPaging):
    """Stock writes and reads through the admin stock form."""

    async def push_stock(
        self,
        platform_item_id: str,
        platform_sku_id: str | None,
        quantity: int,
        *,
        idempotency_key: str,
    ) -> StockPushResult:
        """Set a SKU's stock through the admin stock form (GET the form, POST it with the
        session's CSRF token). A full update: repeating it is harmless, so the mall needs no
        idempotency key and ``idempotency_key`` is not sent."""
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise BadRequestError(PLATFORM, "bad_quantity", f"stock must be an int >= 0: {quantity!r}")
        sku = platform_sku_id or ""
        form = await self.page(
            "stock.form", "/admin/stock", expect="stock", params={"item_id": platform_item_id, "sku_id": sku}
        )
        self._csrf = csrf_of(form) or self._csrf
        if not self._csrf:
            raise TransientError(PLATFORM, "no_csrf", "stock form without a CSRF token")
        result = await self.call(
            "stock.update",
            method="POST",
            path="/admin/stock",
            data={"csrf_token": self._csrf, "item_id": platform_item_id, "sku_id": sku, "quantity": quantity},
        )
        if not isinstance(result, HtmlPage) or result.page_name != "stock":
            raise TransientError(PLATFORM, "unexpected_page", "stock update did not answer the stock page")
        if result.soup.select_one('[data-result="ok"]') is None:
            raise TransientError(PLATFORM, "not_confirmed", "stock update not confirmed")
        output = result.soup.select_one('output[data-field="stock"]')
        text = output.get_text(strip=True) if output is not None else ""
        if not text.isdigit():
            raise TransientError(PLATFORM, "not_confirmed", f"stock after update unreadable: {text!r}")
        return StockPushResult(platform_item_id, platform_sku_id, int(text))

    #: The mall sets stock only in full, so a delta is read-then-set (``Connector._stock_delta``):
    #: a sale between the read and the set is overwritten (one round trip of exposure).
    cheap_stock_read: ClassVar[bool] = True  # the stock form of one SKU

    async def read_stock(self, platform_item_id: str, platform_sku_id: str | None) -> tuple[str | None, int]:
        """The current stock the admin stock form shows for an item/SKU."""
        form = await self.page(
            "stock.form",
            "/admin/stock",
            expect="stock",
            params={"item_id": platform_item_id, "sku_id": platform_sku_id or ""},
        )
        output = form.soup.select_one('output[data-field="stock"]')
        text = output.get_text(strip=True) if output is not None else ""
        if not text.isdigit():
            raise BadRequestError(PLATFORM, "stock", f"no stock shown for {platform_item_id}/{platform_sku_id}")
        sku_id = output.get("data-sku-id") if output is not None else None
        return (str(sku_id) if sku_id else platform_sku_id), int(text)
