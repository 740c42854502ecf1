"""JD JOS stock and price writes: full SKU stock sets (a delta is the base's read-then-set),
SKU stock reads, SKU prices."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

from bangfu.enums import Carrier
from bangfu.money import fen_to_yuan_str
from bangfu.records import StockPushResult
from connectors import fields
from connectors.base import PricePushResult
from connectors.errors import BadRequestError, RecordError, TransientError
from connectors.jd.pages import JosPaging
from connectors.jd.tables import ALL_ORDER_STATES, ALREADY_SHIPPED, PLATFORM, SHIP_METHOD
from connectors.shipping import find_strings


class JosStock(JosPaging):
    """Stock, price and shipment writes on JOS (below the streams of :class:`connectors.jd.JdConnector`)."""

    #: JOS ``logiCoprId`` [I numbers; jingdong.foreign.order.logistics.get lists a vender's]
    carrier_codes: ClassVar[Mapping[Carrier, str | int]] = {
        Carrier.SF: "467",
        Carrier.ZTO: "463",
        Carrier.YTO: "2171",
        Carrier.STO: "470",
        Carrier.YUNDA: "1327",
        Carrier.EMS: "465",
        Carrier.POSTB: "2170",
        Carrier.JD: "1274",
    }
    already_shipped_codes: ClassVar[frozenset[str]] = frozenset({ALREADY_SHIPPED})
    tracking_keys: ClassVar[frozenset[str]] = frozenset({"waybill"})

    async def _shipped_tracking(self, platform_order_id: str) -> Iterable[str]:
        """The order's ``waybill`` (asked for by name: ``optional_fields`` returns only those)."""
        body = await self.gateway(
            "jingdong.pop.order.get",
            {"order_id": platform_order_id, "order_state": ALL_ORDER_STATES, "optional_fields": "orderId,waybill"},
        )
        waybills = find_strings(body.get("orderDetailInfo"), self.tracking_keys)
        return [part for text in waybills for part in text.split(",") if part]

    async def _ship(self, platform_order_id: str, carrier_code: str | int, tracking_no: str) -> None:
        """``jingdong.pop.order.shipment`` (SOP 出库): ``orderId``, ``logiCoprId``, ``logiNo``; a
        refusal (``sopjosshipment_result.success=false``) is classified by the request loop."""
        if not platform_order_id.isdigit():
            raise RecordError(PLATFORM, "order", f"JD order ids are numeric: {platform_order_id!r}")
        answer = await self.gateway(
            SHIP_METHOD, {"orderId": platform_order_id, "logiCoprId": str(carrier_code), "logiNo": tracking_no}
        )
        result = answer.get("sopjosshipment_result")
        if not isinstance(result, Mapping) or result.get("success") is not True:
            raise TransientError(
                PLATFORM, "not_confirmed", f"pop.order.shipment did not confirm: {dict(answer)!r}"[:300]
            )

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
