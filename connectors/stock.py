"""Stock writes: full sets, deltas (clamped decreases, read-then-set by default) and stock reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from bangfu.records import Quarantined, StockPushResult
from connectors.errors import BadRequestError, PlatformError, RecordError, RetriableError, UnsupportedStream
from connectors.streams import StreamDriver
from connectors.values import StockDeltaResult, StockPushUncertain


class StockWrites(StreamDriver):
    """The platform's stock as the hub writes and reads it (platforms override the hooks)."""

    #: the platform applies a stock delta once per idempotency key (a resend is a no-op)
    stock_delta_idempotent: ClassVar[bool] = False
    #: ``read_stock`` is one cheap call (an item API), not a walk of every product
    cheap_stock_read: ClassVar[bool] = False

    async def push_stock(
        self,
        platform_item_id: str,
        platform_sku_id: str | None,
        quantity: int,
        *,
        idempotency_key: str,
    ) -> StockPushResult:
        """Set the platform's stock of an item/SKU to ``quantity`` (full update)."""
        raise self._unsupported("push_stock")

    async def push_stock_delta(
        self,
        platform_item_id: str,
        platform_sku_id: str | None,
        delta: int,
        *,
        idempotency_key: str,
    ) -> StockDeltaResult:
        """Add ``delta`` (negative: take away) to the platform's stock of an item/SKU.

        Uses the platform's incremental API where it has one (:meth:`_stock_delta`); the base
        default reads the stock and sets it, which races with a sale made between the read
        and the set (that unit goes back on sale): one round trip of exposure, documented
        per platform. Where the platform deduplicates by key (``stock_delta_idempotent``) the
        key is sent and a resend is a no-op; elsewhere a write is sent once, and a lost
        answer raises :class:`StockPushUncertain` (never send that push again).

        A decrease never drives the stock below zero: when the platform refuses it because
        it has sold more than the hub knew, the current stock is read and only that is taken
        (``applied``; ``requested`` is what was asked). Other refusals propagate unchanged.
        """
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise BadRequestError(self.platform_name, "stock", f"delta must be an int, got {delta!r}")
        if delta == 0:
            sku_id, stock = await self.read_stock(platform_item_id, platform_sku_id)
            return StockDeltaResult(platform_item_id, sku_id, stock, 0, 0)
        try:
            result = await self._stock_delta(platform_item_id, platform_sku_id, delta, idempotency_key)
        except UnsupportedStream:
            raise
        except (BadRequestError, RecordError) as refused:
            if delta > 0:
                raise
            return await self._clamp_decrease(platform_item_id, platform_sku_id, delta, idempotency_key, refused)
        return StockDeltaResult(result.platform_item_id, result.platform_sku_id, result.stock, delta, delta)

    async def _clamp_decrease(
        self, item_id: str, sku_id: str | None, delta: int, key: str, refused: PlatformError
    ) -> StockDeltaResult:
        """A refused decrease: take what the platform still has, re-reading if it sells meanwhile."""
        for round_no in range(1, self.retry.max_attempts + 1):
            resolved, current = await self.read_stock(item_id, sku_id)
            if current >= -delta:
                raise refused  # the stock was there: refused for another reason
            if current == 0:
                return StockDeltaResult(item_id, resolved, 0, delta, 0)
            try:
                result = await self._stock_delta(item_id, resolved, -current, f"{key}:c{round_no}")
            except UnsupportedStream:
                raise
            except (BadRequestError, RecordError):
                continue  # sold again between the read and the write: read again
            return StockDeltaResult(item_id, result.platform_sku_id, result.stock, delta, -current)
        raise refused

    async def read_stock(self, platform_item_id: str, platform_sku_id: str | None) -> tuple[str | None, int]:
        """The platform's current stock of an item/SKU and the SKU id it resolved to.

        Default: walk :meth:`products` (every item; platforms with an item API override).
        Without ``platform_sku_id`` the item must have at most one SKU.
        """
        async for product in self.products():
            if isinstance(product, Quarantined) or product.platform_item_id != platform_item_id:
                continue
            if not product.skus and not platform_sku_id:
                return None, product.stock
            if platform_sku_id is None and len(product.skus) == 1:
                return product.skus[0].platform_sku_id, product.skus[0].stock
            if platform_sku_id is None:
                raise BadRequestError(self.platform_name, "stock", f"item {platform_item_id} has several SKUs")
            for sku in product.skus:
                if sku.platform_sku_id == platform_sku_id:
                    return sku.platform_sku_id, sku.stock
            raise BadRequestError(self.platform_name, "stock", f"item {platform_item_id} has no SKU {platform_sku_id}")
        raise BadRequestError(self.platform_name, "stock", f"no item {platform_item_id}")

    async def read_stocks(
        self, wanted: Sequence[tuple[str, str | None]]
    ) -> dict[tuple[str, str | None], int | PlatformError]:
        """The stock of several items/SKUs: one :meth:`read_stock` each where that is cheap
        (``cheap_stock_read``), else a single walk of :meth:`products`. A pair that cannot be
        read maps to the error; an error of the walk itself propagates."""
        out: dict[tuple[str, str | None], int | PlatformError] = {}
        if self.cheap_stock_read or len(wanted) == 1:
            for pair in dict.fromkeys(wanted):
                try:
                    out[pair] = (await self.read_stock(*pair))[1]
                except (BadRequestError, RecordError) as exc:
                    out[pair] = exc
            return out
        items = {item for item, _ in wanted}
        found: dict[tuple[str, str | None], int] = {}
        async for product in self.products():
            if isinstance(product, Quarantined) or product.platform_item_id not in items:
                continue
            found[(product.platform_item_id, None)] = product.stock if len(product.skus) <= 1 else -1
            for sku in product.skus:
                found[(product.platform_item_id, sku.platform_sku_id)] = sku.stock
                if len(product.skus) == 1:
                    found[(product.platform_item_id, None)] = sku.stock
        for pair in wanted:
            stock = found.get(pair, -1)
            out[pair] = stock if stock >= 0 else BadRequestError(self.platform_name, "stock", f"cannot read {pair}")
        return out

    async def _stock_after(self, platform_item_id: str, platform_sku_id: str | None) -> StockPushResult:
        """Read the stock back after a confirmed write; ``-1`` if that read fails (the write
        stands: failing the push now would invite a second, duplicate write)."""
        try:
            sku_id, stock = await self.read_stock(platform_item_id, platform_sku_id)
        except PlatformError:
            return StockPushResult(platform_item_id, platform_sku_id, -1)
        return StockPushResult(platform_item_id, sku_id, stock)

    async def _stock_delta(
        self, platform_item_id: str, platform_sku_id: str | None, delta: int, idempotency_key: str
    ) -> StockPushResult:
        """Apply ``delta`` with the platform's API (one attempt of :meth:`push_stock_delta`).

        Default, for platforms with only a full update: read the stock, then set it. A result
        below zero is refused (like the incremental APIs); a set whose answer is lost becomes
        :class:`StockPushUncertain` (a second read-then-set could apply the delta twice).
        """
        sku_id, current = await self.read_stock(platform_item_id, platform_sku_id)
        if current + delta < 0:
            raise BadRequestError(self.platform_name, "stock_short", f"stock {current} {delta:+d} would go below zero")
        try:
            return await self.push_stock(platform_item_id, sku_id, current + delta, idempotency_key=idempotency_key)
        except RetriableError as exc:
            raise StockPushUncertain(
                self.platform_name, exc.code, f"set not confirmed, may have applied: {exc}"
            ) from exc
