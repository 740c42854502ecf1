"""Douyin stock and price writes: ``sku.list`` reads, ``sku.syncStock`` (full or incremental with
``idempotent_id``) and ``sku.editPrice``. Each takes the connector's ``api`` call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bangfu.records import StockPushResult
from connectors import fields
from connectors.base import PricePushResult
from connectors.douyin.pages import Call
from connectors.douyin.parse import list_field
from connectors.douyin.tables import PLATFORM
from connectors.errors import BadRequestError


def _numeric(what: str, *ids: str | None) -> None:
    for value in ids:
        if value is not None and not value.isdigit():
            raise BadRequestError(PLATFORM, what, f"Douyin ids are numeric, got {value!r}")


async def skus(call: Call, product_id: str) -> list[Any]:
    """A product's SKUs (``sku.list``)."""
    data = await call("sku.list", {"product_id": product_id})
    if isinstance(data, list):
        return data
    return list_field(data, "data") if isinstance(data, Mapping) else []


async def push_full(call: Call, platform_item_id: str, platform_sku_id: str | None, quantity: int) -> StockPushResult:
    """``sku.syncStock`` as a full update (``incremental=false``).

    Douyin's ``idempotent_id`` belongs to incremental updates only; a full update is
    idempotent by itself (resending the same quantity leaves the same stock), so the key is
    not sent. Without a SKU id the product must have exactly one SKU.
    """
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise BadRequestError(PLATFORM, "stock", f"stock must be an int >= 0, got {quantity!r}")
    _numeric("stock", platform_item_id, platform_sku_id)
    sku_id = platform_sku_id
    if sku_id is None:
        found = await skus(call, platform_item_id)
        if len(found) != 1:
            raise BadRequestError(PLATFORM, "stock", f"product {platform_item_id} has {len(found)} SKUs: give a sku id")
        sku_id = fields.numeric_id(found[0], "id", twin=True)
    await call(
        "sku.syncStock",
        {"product_id": int(platform_item_id), "sku_id": int(sku_id), "stock_num": quantity, "incremental": False},
    )
    return StockPushResult(platform_item_id, sku_id, quantity)


async def read(call: Call, platform_item_id: str, platform_sku_id: str | None) -> tuple[str | None, int]:
    """A SKU's ``stock_num`` from ``sku.list`` (without a SKU id the product must have one)."""
    found = [s for s in await skus(call, platform_item_id) if isinstance(s, Mapping)]
    if platform_sku_id is None and len(found) != 1:
        raise BadRequestError(PLATFORM, "stock", f"product {platform_item_id} has {len(found)} SKUs: give a sku id")
    for sku in found:
        sku_id = fields.numeric_id(sku, "id", twin=True)
        if platform_sku_id is None or sku_id == platform_sku_id:
            return sku_id, fields.integer(sku, "stock_num", 0)
    raise BadRequestError(PLATFORM, "stock", f"product {platform_item_id} has no SKU {platform_sku_id}")


async def push_delta(
    call: Call, platform_item_id: str, platform_sku_id: str | None, delta: int, idempotency_key: str
) -> str:
    """``sku.syncStock`` with ``incremental=true``, ``stock_num`` = the delta and
    ``idempotent_id`` = our key: Douyin applies one id once, so the request loop's resends
    and a later retry of the same push are no-ops. A result below zero is refused. The
    answer carries no stock: returns the SKU id for the caller to read it back."""
    _numeric("stock", platform_item_id or None, platform_sku_id or None)
    sku_id = platform_sku_id or (await read(call, platform_item_id, None))[0]
    assert sku_id is not None
    await call(
        "sku.syncStock",
        {
            "product_id": int(platform_item_id),
            "sku_id": int(sku_id),
            "stock_num": delta,
            "incremental": True,
            "idempotent_id": idempotency_key,
        },
    )
    return sku_id


async def write_price(
    call: Call, platform_item_id: str, platform_sku_id: str | None, price_fen: int
) -> PricePushResult:
    """``sku.editPrice`` (``product_id``, ``sku_id``, ``price`` in fen). Without a SKU id
    the product must have exactly one SKU (looked up with ``sku.list``). The answer carries
    no price, so the price set is the one sent."""
    _numeric("price", platform_item_id, platform_sku_id)
    sku_id = platform_sku_id or (await read(call, platform_item_id, None))[0]
    assert sku_id is not None
    await call("sku.editPrice", {"product_id": int(platform_item_id), "sku_id": int(sku_id), "price": price_fen})
    return PricePushResult(platform_item_id, sku_id, price_fen)
