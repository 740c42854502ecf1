"""JD JOS stock and price writes: full SKU stock sets (a delta is the base's read-then-set),
SKU stock reads, SKU prices."""

from __future__ import annotations

from typing import ClassVar

from bangfu.money import fen_to_yuan_str
from bangfu.records import StockPushResult
from connectors import fields
from connectors.base import PricePushResult
from connectors.errors import BadRequestError, TransientError
from connectors.jd.pages import JosPaging
from connectors.jd.tables import PLATFORM


class JosStock(JosPaging):
    """Stock and price writes on JOS (below the streams of :class:`connectors.jd.JdConnector`)."""

    async def push_stock(
        self,
        platform_item_id: str,
        platform_sku_id: str | None,
        quantity: int,
        *,
        idempotency_key: str,
    ) -> StockPushResult:
        """Set one SKU's stock (JD's update is a full set, so a replay is harmless and the
        idempotency key needs no platform support). A ware's only SKU is looked up when no
        SKU id is given."""
        if quantity < 0:
            raise BadRequestError(PLATFORM, "stock", f"stock cannot be negative: {quantity}")
        sku_id = platform_sku_id
        if sku_id is None:
            skus = (await self._skus_of([platform_item_id])).get(platform_item_id, [])
            if len(skus) != 1:
                raise BadRequestError(PLATFORM, "stock", f"ware {platform_item_id} has {len(skus)} SKUs: give a sku id")
            sku_id = str(skus[0].get("skuId"))
        await self.gateway("jingdong.stock.write.updateSkuStock", {"skuId": sku_id, "stockNum": str(quantity)})
        return StockPushResult(platform_item_id, sku_id, quantity)

    #: JD sets stock only in full, so a delta is read-then-set (``Connector._stock_delta``):
    #: a sale between the read and the set is overwritten (one round trip of exposure).
    cheap_stock_read: ClassVar[bool] = True  # searchSkuList of one ware

    async def read_stock(self, platform_item_id: str, platform_sku_id: str | None) -> tuple[str | None, int]:
        """A SKU's ``stockNum`` from ``jingdong.sku.read.searchSkuList`` of its ware."""
        skus = (await self._skus_of([platform_item_id])).get(platform_item_id, [])
        if platform_sku_id is None and len(skus) != 1:
            raise BadRequestError(PLATFORM, "stock", f"ware {platform_item_id} has {len(skus)} SKUs: give a sku id")
        for sku in skus:
            sku_id = str(sku.get("skuId"))
            if platform_sku_id in (None, sku_id):
                return sku_id, fields.integer(sku, "stockNum")
        raise BadRequestError(PLATFORM, "stock", f"ware {platform_item_id} has no SKU {platform_sku_id}")

    # ------------------------------------------------------------------ price push
    async def _price_write(self, platform_item_id: str, platform_sku_id: str | None, price_fen: int) -> PricePushResult:
        """``jingdong.price.write.updateSkuJdPrice`` (``skuId``, ``jdPrice`` in yuan): JD's price
        is per SKU, so a ware's only SKU is looked up when no SKU id is given. A business
        failure (``apiResult.success=false``) is classified by the request loop; an answer
        that does not say ``success`` is not taken as done."""
        sku_id = platform_sku_id
        if sku_id is None:
            skus = (await self._skus_of([platform_item_id])).get(platform_item_id, [])
            if len(skus) != 1:
                raise BadRequestError(PLATFORM, "price", f"ware {platform_item_id} has {len(skus)} SKUs: give a sku id")
            sku_id = str(skus[0].get("skuId"))
        if not sku_id.isdigit():
            raise BadRequestError(PLATFORM, "price", f"JD sku ids are numeric, got {sku_id!r}")
        answer = await self.gateway(
            "jingdong.price.write.updateSkuJdPrice", {"skuId": sku_id, "jdPrice": fen_to_yuan_str(price_fen)}
        )
        if answer.get("success") is not True:
            raise TransientError(PLATFORM, "not_confirmed", f"updateSkuJdPrice did not confirm: {dict(answer)!r}"[:300])
        return PricePushResult(platform_item_id, sku_id, price_fen)
