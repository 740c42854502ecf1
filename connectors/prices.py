"""Price writes: refuse bad prices before anything is sent, then the platform's price API."""

from __future__ import annotations

from connectors.core import ConnectorCore
from connectors.errors import BadRequestError
from connectors.values import MAX_PRICE_FEN, PricePushResult


class PriceWrites(ConnectorCore):
    """``push_price`` and the per-platform ``_price_write`` hook."""

    async def push_price(
        self,
        platform_item_id: str,
        platform_sku_id: str | None,
        price_fen: int,
        *,
        idempotency_key: str,
    ) -> PricePushResult:
        """Set the platform's price of an item/SKU to ``price_fen`` (integer fen) with the
        platform's price API (:meth:`_price_write`).

        A price write is absolute: sending the same price again leaves the same price, so a
        resend (the request loop's retries, a later pass after a lost answer) can never apply
        twice; no platform here takes a key for it, so ``idempotency_key`` is not sent (the
        hub's own ledger of pushes, ``price_pushes``, is what keeps one price from being
        pushed twice). Bad prices are refused before anything is sent.
        """
        if isinstance(price_fen, bool) or not isinstance(price_fen, int):
            raise BadRequestError(self.platform_name, "price", f"price must be an int of fen, got {price_fen!r}")
        if not 0 < price_fen <= MAX_PRICE_FEN:
            raise BadRequestError(self.platform_name, "price", f"price must be 1..{MAX_PRICE_FEN} fen, got {price_fen}")
        return await self._price_write(platform_item_id, platform_sku_id or None, price_fen)

    async def _price_write(self, platform_item_id: str, platform_sku_id: str | None, price_fen: int) -> PricePushResult:
        """One platform's price API (overridden per platform)."""
        raise self._unsupported("push_price")
