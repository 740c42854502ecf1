"""Youzan stock and price writes: ``youzan.item.quantity.update`` (full, ``type`` 0, or
incremental, ``type`` 1), ``youzan.item.sku.update`` and the ``youzan.item.get`` read. Each takes
the connector's ``api`` call; the incremental write, sent exactly once, stays on the connector."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bangfu.records import StockPushResult
from connectors.base import PricePushResult
from connectors.errors import BadRequestError, TransientError
from connectors.youzan.pages import Call
from connectors.youzan.parse import bool_field, parse_item
from connectors.youzan.tables import ITEM_GET, ITEM_QUANTITY_UPDATE, ITEM_SKU_UPDATE, PLATFORM


def _numeric(value: str) -> int | str:
    """Youzan ids are longs in JSON; send an int when the id is numeric."""
    return int(value) if value.isdigit() else value


def quantity_body(platform_item_id: str, platform_sku_id: str | None, quantity: int, kind: int) -> dict[str, Any]:
    """A ``youzan.item.quantity.update`` body: ``type`` 0 sets ``quantity``, 1 adds it."""
    body: dict[str, Any] = {"item_id": _numeric(platform_item_id), "quantity": quantity, "type": kind}
    if platform_sku_id:
        body["sku_id"] = _numeric(platform_sku_id)
    return body


def confirmed(data: Any) -> bool:
    """Youzan's write answers carry ``is_success`` only."""
    return isinstance(data, Mapping) and bool_field(data, "is_success")


async def push_full(call: Call, platform_item_id: str, platform_sku_id: str | None, quantity: int) -> StockPushResult:
    """Full stock update of one SKU (``type`` 0). A full update is idempotent by nature, so
    no idempotency key is needed (Youzan has none for this API)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise BadRequestError(PLATFORM, "bad_quantity", f"stock must be an int >= 0: {quantity!r}")
    data = await call(ITEM_QUANTITY_UPDATE, quantity_body(platform_item_id, platform_sku_id, quantity, 0))
    if not confirmed(data):
        raise TransientError(PLATFORM, "not_confirmed", f"quantity.update did not confirm: {data!r}")
    return StockPushResult(platform_item_id, platform_sku_id, quantity)


async def write_price(
    call: Call, platform_item_id: str, platform_sku_id: str | None, price_fen: int
) -> PricePushResult:
    """``youzan.item.sku.update`` with ``price`` in fen (``sku_id`` left out for an item
    without specs). Youzan answers ``is_success`` only, so the price set is the one sent;
    an answer without it is not taken as done."""
    body: dict[str, Any] = {"item_id": _numeric(platform_item_id), "price": price_fen}
    if platform_sku_id:
        body["sku_id"] = _numeric(platform_sku_id)
    data = await call(ITEM_SKU_UPDATE, body)
    if not confirmed(data):
        raise TransientError(PLATFORM, "not_confirmed", f"item.sku.update did not confirm: {data!r}"[:300])
    return PricePushResult(platform_item_id, platform_sku_id, price_fen)


async def read(call: Call, platform_item_id: str, platform_sku_id: str | None) -> tuple[str | None, int]:
    """An item's or SKU's ``quantity`` from ``youzan.item.get``."""
    data = await call(ITEM_GET, {"item_id": _numeric(platform_item_id)})
    raw = data.get("item") if isinstance(data, Mapping) else None
    if not isinstance(raw, Mapping):
        raise TransientError(PLATFORM, "garbled", f"item.get answered without an item for {platform_item_id}")
    product = parse_item(raw)
    if not product.skus and not platform_sku_id:
        return None, product.stock
    for sku in product.skus:
        if platform_sku_id in (None, sku.platform_sku_id) and (platform_sku_id or len(product.skus) == 1):
            return sku.platform_sku_id, sku.stock
    raise BadRequestError(PLATFORM, "stock", f"item {platform_item_id}: no single SKU {platform_sku_id!r}")
