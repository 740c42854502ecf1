"""Taobao/Tmall (TOP) stock and price writes: item.seller.get reads, item.quantity.update
full sets and deltas, the SKU/item price APIs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from bangfu.enums import Carrier
from bangfu.money import fen_to_yuan_str
from bangfu.records import StockPushResult
from connectors import fields
from connectors.base import PricePushResult
from connectors.errors import BadRequestError, RecordError, TransientError
from connectors.taobao.pages import TopPaging
from connectors.taobao.parse import STOCK_READ_FIELDS, STOCK_READ_METHOD, nested_list
from connectors.taobao.tables import (
    ALREADY_SHIPPED,
    GATEWAY_PATH,
    ITEM_PRICE_METHOD,
    SHIP_METHOD,
    SKU_PRICE_METHOD,
    STOCK_METHOD,
)


class TopStock(TopPaging):
    """Stock, price and shipment writes on TOP (below the streams of :class:`TaobaoConnector`)."""

    cheap_stock_read: ClassVar[bool] = True  # item.seller.get of one item
    #: TOP ``company_code`` (taobao.logistics.companies.get): the hub's codes are TOP's
    carrier_codes: ClassVar[Mapping[Carrier, str | int]] = {c: c.value for c in Carrier}
    already_shipped_codes: ClassVar[frozenset[str]] = frozenset({ALREADY_SHIPPED})
    tracking_keys: ClassVar[frozenset[str]] = frozenset({"invoice_no"})  # sub-orders' 运单号

    async def _ship(self, platform_order_id: str, carrier_code: str | int, tracking_no: str) -> None:
        """``taobao.logistics.offline.send`` (自己联系物流): ``tid``, ``out_sid``, ``company_code``;
        the answer's ``shipping.is_success`` must be true."""
        if not platform_order_id.isdigit():
            raise RecordError(self.platform_name, "order", f"TOP trade ids are numeric: {platform_order_id!r}")
        business = {"tid": platform_order_id, "out_sid": tracking_no, "company_code": str(carrier_code)}
        body = await self.top(SHIP_METHOD, business)
        shipping = body.get("shipping")
        if not isinstance(shipping, Mapping) or shipping.get("is_success") not in (True, "true"):
            raise TransientError(
                self.platform_name, "envelope", f"logistics.offline.send did not confirm: {dict(body)!r}"[:300]
            )

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
