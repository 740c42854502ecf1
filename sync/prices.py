"""Price push: the price an operator set for a SKU on a shop (``channel_prices``), sent to every
listing of that SKU on that shop through the platform's price API (``Connector.push_price``).

Like stock pushes, every price sent is a ``price_pushes`` row recorded ``pending`` (in its own
transaction, before the call) under the key ``bf:price:<listing>:<price fen>:<n>`` and then
finished:

* ``done``: the platform took it; ``listings.price_fen`` becomes the platform's price.
* ``failed``: the platform refused it (a bad request, an unknown item, auth): ``error`` holds
  the class and the platform's message; sent again on the next pass (nothing was applied).
* ``uncertain``: no answer after the request loop's retries (timeouts, 5xx, rate limits): it
  may have applied. A price is absolute, so the next pass simply sends it again; unlike a
  stock delta, a price cannot apply twice.

**Idempotent**: a listing is pushed only when its target differs from what is known to be on
the platform: not when its latest push has that price and is ``done``, nor (never pushed) when
the product sync already shows that price. So running a pass twice sends nothing the second
time. Only active shops with an API endpoint are pushed; listings of other shops are reported
``skipped``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.clock import Clock, utcnow
from bangfu.models import ChannelPrice, Listing, PricePush, Shop, Sku
from bangfu.secrets import SecretStore
from connectors.base import Connector, PricePushResult
from connectors.errors import PlatformError, RetriableError
from sync.factory import ConnectorFactory

__all__ = ["PriceLine", "PricePusher", "price_key"]

PRICES: Table = ChannelPrice.__table__  # type: ignore[assignment]
PUSHES: Table = PricePush.__table__  # type: ignore[assignment]
LISTINGS: Table = Listing.__table__  # type: ignore[assignment]
SHOPS: Table = Shop.__table__  # type: ignore[assignment]
SKUS: Table = Sku.__table__  # type: ignore[assignment]
PENDING, DONE, FAILED, UNCERTAIN = "pending", "done", "failed", "uncertain"


def price_key(listing_id: int, price_fen: int, seq: int) -> str:
    return f"bf:price:{listing_id}:{price_fen}:{seq}"


@dataclass(slots=True)
class PriceLine:
    """One listing's part of a pass (what ``bangfu prices push`` prints)."""

    listing_id: int
    shop_id: int
    sku_code: str
    platform_item_id: str
    platform_sku_id: str
    price_fen: int  # the target
    before_fen: int | None  # the price the hub knew on the platform
    status: str = "unchanged"  # unchanged | done | failed | uncertain | skipped
    error: str | None = None


class PricePusher:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        secrets: SecretStore | None = None,
        clock: Clock = utcnow,
        connector_factory: Callable[[Shop], Connector] | None = None,
        connector_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.engine = engine
        self.secrets = secrets or SecretStore()
        self.clock = clock
        self._connector = ConnectorFactory(self.secrets, override=connector_factory, connector_kwargs=connector_kwargs)

    async def plan(self, shop_ids: Sequence[int] | None = None) -> list[PriceLine]:
        """Every listing with a channel price, and whether it needs a push (no call, no write)."""
        latest = (
            select(PUSHES.c.listing_id, func.max(PUSHES.c.id).label("push_id")).group_by(PUSHES.c.listing_id).subquery()
        )
        last = PUSHES.alias("last")
        query = (
            select(
                LISTINGS.c.id,
                LISTINGS.c.shop_id,
                LISTINGS.c.platform_item_id,
                LISTINGS.c.platform_sku_id,
                LISTINGS.c.price_fen.label("listed"),
                SKUS.c.sku_code,
                PRICES.c.price_fen,
                last.c.price_fen.label("last_price"),
                last.c.status.label("last_status"),
            )
            .join_from(
                PRICES, LISTINGS, (LISTINGS.c.sku_id == PRICES.c.sku_id) & (LISTINGS.c.shop_id == PRICES.c.shop_id)
            )
            .join(SKUS, SKUS.c.id == PRICES.c.sku_id)
            .outerjoin(latest, latest.c.listing_id == LISTINGS.c.id)
            .outerjoin(last, last.c.id == latest.c.push_id)
            .order_by(LISTINGS.c.shop_id, LISTINGS.c.id)
        )
        if shop_ids is not None:
            query = query.where(PRICES.c.shop_id.in_(list(shop_ids)))
        lines: list[PriceLine] = []
        async with self.engine.connect() as conn:
            for row in await conn.execute(query):
                line = PriceLine(
                    row.id,
                    row.shop_id,
                    row.sku_code,
                    row.platform_item_id,
                    row.platform_sku_id,
                    row.price_fen,
                    row.listed,
                )
                if row.last_status is None:
                    needed = row.listed != row.price_fen
                else:
                    needed = not (row.last_price == row.price_fen and row.last_status == DONE)
                line.status = "planned" if needed else "unchanged"
                lines.append(line)
        return lines

    async def push(self, shop_ids: Sequence[int] | None = None) -> list[PriceLine]:
        """One pass: record and send every needed price (see the module doc)."""
        lines = await self.plan(shop_ids)
        shops = await self._pushable_shops()
        connectors: dict[int, Connector] = {}
        try:
            for line in lines:
                if line.status != "planned":
                    continue
                shop = shops.get(line.shop_id)
                if shop is None:
                    line.status, line.error = "skipped", "shop inactive or without an API endpoint"
                    continue
                push_id, key = await self._record(line)
                try:
                    connector = connectors.get(shop.id) or connectors.setdefault(shop.id, self._connector(shop))
                    result: PricePushResult | PlatformError = await connector.push_price(
                        line.platform_item_id, line.platform_sku_id or None, line.price_fen, idempotency_key=key
                    )
                except PlatformError as exc:
                    result = exc
                except Exception as exc:  # noqa: BLE001  # a bug after the write may have been sent: recorded
                    result = RetriableError(shop.platform.value, "internal", f"{type(exc).__name__}: {exc}")
                await self._finish(push_id, line, result)
        finally:
            for connector in connectors.values():
                await connector.aclose()
        return lines

    async def _record(self, line: PriceLine) -> tuple[int, str]:
        async with self.engine.begin() as conn:
            seq = await conn.scalar(select(func.count()).where(PUSHES.c.listing_id == line.listing_id))
            key = price_key(line.listing_id, line.price_fen, int(seq or 0))
            push_id = (
                await conn.execute(
                    PUSHES.insert()
                    .values(
                        idempotency_key=key,
                        shop_id=line.shop_id,
                        listing_id=line.listing_id,
                        price_fen=line.price_fen,
                        price_before_fen=line.before_fen,
                        status=PENDING,
                        created_at=self.clock(),
                    )
                    .returning(PUSHES.c.id)
                )
            ).scalar_one()
        return int(push_id), key

    async def _finish(self, push_id: int, line: PriceLine, result: PricePushResult | PlatformError) -> None:
        now = self.clock()
        async with self.engine.begin() as conn:
            if isinstance(result, PricePushResult):
                await conn.execute(
                    update(PUSHES)
                    .where(PUSHES.c.id == push_id)
                    .values(status=DONE, platform_price_fen=result.price_fen, done_at=now, error=None)
                )
                await conn.execute(
                    update(LISTINGS).where(LISTINGS.c.id == line.listing_id).values(price_fen=result.price_fen)
                )
                line.status = DONE
                return
            line.status = UNCERTAIN if isinstance(result, RetriableError) else FAILED
            line.error = f"{result.error_class.value}: {result}"[:2000]
            await conn.execute(
                update(PUSHES).where(PUSHES.c.id == push_id).values(status=line.status, error=line.error, done_at=now)
            )

    async def _pushable_shops(self) -> dict[int, Shop]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(Shop).where(Shop.active.is_(True), Shop.base_url.is_not(None)))
            return {row.id: Shop(**row._mapping) for row in rows}
