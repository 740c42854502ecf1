"""Kuaishou calls and writes: :meth:`KuaishouStock.api` (reads GET, writes POST with ``param``
in the form body), writes sent exactly once, and the stock and price writes.

Kuaishou takes stock only as increments and has no idempotency key, so a blindly resent write
could apply twice: a write here runs under a single-attempt retry policy for its own task
(``_SEND_ONCE``), and :meth:`KuaishouStock.push_stock` reads before and after it.
:class:`~connectors.kuaishou.connector.KuaishouConnector` adds the request hooks and streams.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, ClassVar

from bangfu.enums import Carrier
from bangfu.records import StockPushResult
from connectors.base import Connector, PricePushResult
from connectors.errors import BadRequestError, RecordError, RetriableError
from connectors.kuaishou.parse import numeric_param, parse_item
from connectors.kuaishou.sign import api_path, param_json
from connectors.kuaishou.tables import ALREADY_SHIPPED, PLATFORM, SHIP_METHOD
from connectors.retry import RetryPolicy

_SEND_ONCE: ContextVar[bool] = ContextVar("kuaishou_send_once", default=False)
_ONE_ATTEMPT = RetryPolicy(max_attempts=1, base_delay=0.0, max_delay=0.0, jitter=False)


class KuaishouStock(Connector):
    """The Kuaishou call and its writes (the connector's base class)."""

    async def api(
        self, method: str, business: Mapping[str, Any] | None = None, *, post: bool = False
    ) -> Mapping[str, Any]:
        """One Kuaishou API call; returns ``data`` (an object, ``{}`` when absent)."""
        text = param_json(business or {})
        if post:
            data = await self.call(method, method="POST", path=api_path(method), data={"param": text})
        else:
            data = await self.call(method, method="GET", path=api_path(method), params={"param": text})
        assert isinstance(data, Mapping)  # unwrap() guarantees it
        return data

    # ------------------------------------------------------------------ stock and price
    async def _sku_stock(self, item_id: str, sku_id: str | None) -> tuple[str, int]:
        data = await self.api("open.item.get", {"kwaiItemId": numeric_param(item_id, "item id")})
        product = parse_item(data)
        if not product.skus:
            raise BadRequestError(PLATFORM, "no_sku", f"item {item_id} has no SKUs")
        if sku_id is None:
            if len(product.skus) != 1:
                raise BadRequestError(PLATFORM, "sku_required", f"item {item_id} has several SKUs")
            return product.skus[0].platform_sku_id, product.skus[0].stock
        for sku in product.skus:
            if sku.platform_sku_id == sku_id:
                return sku_id, sku.stock
        raise BadRequestError(PLATFORM, "unknown_sku", f"item {item_id} has no SKU {sku_id}")

    async def push_stock(
        self,
        platform_item_id: str,
        platform_sku_id: str | None,
        quantity: int,
        *,
        idempotency_key: str,
    ) -> StockPushResult:
        """Set the SKU's stock to ``quantity``.

        Kuaishou only takes increments (``skuChangeStock`` + ``changeType``) and has no
        idempotency key, so a blindly resent push could apply twice. Each round reads the
        current stock, pushes the difference once (no automatic resend) and, if that push
        failed transiently, reads again before deciding: a push that did land is then seen
        and not repeated. Kuaishou takes no idempotency key, so ``idempotency_key`` is not
        sent; the read-compare-push round is what makes a replay harmless.
        """
        if quantity < 0:
            raise BadRequestError(PLATFORM, "bad_quantity", f"stock cannot be negative: {quantity}")
        last: RetriableError | None = None
        for round_no in range(1, self.retry.max_attempts + 1):
            sku_id, current = await self._sku_stock(platform_item_id, platform_sku_id)
            if current == quantity:
                return StockPushResult(platform_item_id, sku_id, current)
            delta = quantity - current
            business = {
                "kwaiItemId": numeric_param(platform_item_id, "item id"),
                "skuId": numeric_param(sku_id, "sku id"),
                "skuChangeStock": abs(delta),
                "changeType": 1 if delta > 0 else 2,
            }
            try:
                await self._call_once("open.item.sku.stock.update", business)
            except RetriableError as exc:
                last = exc
                self.stats.retries[exc.error_class] += 1
                await self._sleep(self.retry.delay_for(exc, round_no, self._rng))
                continue
            _, after = await self._sku_stock(platform_item_id, sku_id)
            return StockPushResult(platform_item_id, sku_id, after)
        assert last is not None  # max_attempts >= 1 and every failed round sets it
        raise last

    cheap_stock_read: ClassVar[bool] = True  # open.item.get of one item

    async def read_stock(self, platform_item_id: str, platform_sku_id: str | None) -> tuple[str | None, int]:
        """A SKU's stock from ``open.item.get``."""
        return await self._sku_stock(platform_item_id, platform_sku_id)

    async def _stock_delta(
        self, platform_item_id: str, platform_sku_id: str | None, delta: int, idempotency_key: str
    ) -> StockPushResult:
        """``open.item.sku.stock.update`` with ``changeType`` 1 (add) or 2 (reduce; Kuaishou
        refuses a result below zero). No idempotency key exists, so the write is sent exactly
        once: a lost answer is ``StockPushUncertain``, a rate-limit refusal is waited out and
        resent. The stock after is read back (``open.item.get``): it includes any sale made
        since, which is what the platform holds."""
        sku_id = platform_sku_id or (await self._sku_stock(platform_item_id, None))[0]
        business = {
            "kwaiItemId": numeric_param(platform_item_id, "item id"),
            "skuId": numeric_param(sku_id, "sku id"),
            "skuChangeStock": abs(delta),
            "changeType": 1 if delta > 0 else 2,
        }
        await self._send_once(lambda: self._call_once("open.item.sku.stock.update", business))
        return await self._stock_after(platform_item_id, sku_id)

    async def _price_write(self, platform_item_id: str, platform_sku_id: str | None, price_fen: int) -> PricePushResult:
        """``open.item.sku.price.update`` (``kwaiItemId``, ``skuId``, ``price`` in fen), a POST
        like every Kuaishou write. A price is absolute, so the request loop may resend it.
        Without a SKU id the item must have one SKU (read with ``open.item.get``)."""
        sku_id = platform_sku_id or (await self._sku_stock(platform_item_id, None))[0]
        business = {
            "kwaiItemId": numeric_param(platform_item_id, "item id"),
            "skuId": numeric_param(sku_id, "sku id"),
            "price": price_fen,
        }
        await self.api("open.item.sku.price.update", business, post=True)
        return PricePushResult(platform_item_id, sku_id, price_fen)

    # ------------------------------------------------------------------ shipments
    #: ``expressCode`` [I numbers; open.express.... lists them]
    carrier_codes: ClassVar[Mapping[Carrier, str | int]] = {
        Carrier.SF: 4,
        Carrier.ZTO: 2,
        Carrier.YTO: 6,
        Carrier.STO: 1,
        Carrier.YUNDA: 3,
        Carrier.EMS: 5,
        Carrier.POSTB: 7,
        Carrier.JD: 8,
    }
    already_shipped_codes: ClassVar[frozenset[str]] = frozenset({ALREADY_SHIPPED})
    tracking_keys: ClassVar[frozenset[str]] = frozenset({"expressNo"})  # orderLogisticsInfo[]

    async def _ship(self, platform_order_id: str, carrier_code: str | int, tracking_no: str) -> None:
        """``open.seller.order.goods.deliver`` (a POST like every Kuaishou write): ``orderId``,
        ``expressCode``, ``expressNo``; success is ``result`` 1 (the request loop checks it)."""
        if not platform_order_id.isdigit():
            raise RecordError(PLATFORM, "order", f"Kuaishou order ids are numeric: {platform_order_id!r}")
        business = {"orderId": int(platform_order_id), "expressCode": int(carrier_code), "expressNo": tracking_no}
        await self.api(SHIP_METHOD, business, post=True)

    async def _call_once(self, method: str, business: Mapping[str, Any]) -> Any:
        """A POST sent exactly once: transport and retriable errors are raised, not retried."""
        token = _SEND_ONCE.set(True)
        try:
            return await self.api(method, business, post=True)
        finally:
            _SEND_ONCE.reset(token)

    # The base request loop retries with ``self.retry``; a write that must not be resent sets
    # ``_SEND_ONCE`` for its own task, which swaps in a single-attempt policy for that task only.
    @property
    def retry(self) -> RetryPolicy:
        return _ONE_ATTEMPT if _SEND_ONCE.get() else self._retry_policy

    @retry.setter
    def retry(self, value: RetryPolicy) -> None:
        self._retry_policy = value
