"""Shipment push: orders the county ships (platform orders too) are marked shipped on their
platform with the carrier and tracking number (``Connector.ship``).

A shipment is recorded once per order (:meth:`ShipmentPusher.add`: the CLI, the console, a
delivery batch marked shipped) as a ``shipments`` row. Orders of a shop with a ship API (the
platform shops with an endpoint) start ``pending``; others (the county's own mall, offline
shops) are ``local``: nothing to tell. A pass (:meth:`ShipmentPusher.push`) takes every due
pending shipment (``next_attempt_at`` empty or past), claims it (a conditional update, so two
passes never push one shipment at once), calls the platform and records the outcome:

* done (or the platform already had this tracking number: ``already_on_platform``): ``pushed``;
* rate limit / transient (after the request loop's own retries): still ``pending``, one more
  attempt, ``next_attempt_at`` backed off exponentially (at least the platform's ban hint);
  after ``max_attempts`` it is ``failed``;
* bad record (the order is refunded or closed, the platform refuses the carrier or tracking
  number, another tracking number is already on the platform: ``conflict``): ``failed`` with
  the platform's message;
* auth: ``failed``, an alert ``shipments.auth`` for the shop, and the shop is stopped: its
  other shipments are not tried, in this pass or later ones, until the alert is resolved (an
  operator's retry of the shipment resolves it).

**Idempotent**: a pushed shipment is never sent again; re-recording the same tracking number
for an order changes nothing; a shipment whose answer was lost is pushed again, and the
platform's "already shipped" with the same tracking number is a success (see
:mod:`connectors.shipping`). A new tracking number for an order already pushed is refused.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bangfu.clock import Clock, utcnow
from bangfu.enums import Carrier, ErrorClass, ShipmentState
from bangfu.models import Alert, Order, Shipment, Shop
from bangfu.secrets import SecretStore
from bangfu.shipments import SHIP_PLATFORMS, ShipmentError, record_shipment
from connectors.base import Connector, ShipConflict, ShipResult
from connectors.errors import AuthError, PlatformError, RateLimitError, RetriableError
from sync.factory import ConnectorFactory

__all__ = [
    "AUTH_ALERT",
    "SHIP_PLATFORMS",
    "ShipmentError",
    "ShipmentLine",
    "ShipmentPusher",
    "backoff",
]

SHIPMENTS: Table = Shipment.__table__  # type: ignore[assignment]
ORDERS: Table = Order.__table__  # type: ignore[assignment]
SHOPS: Table = Shop.__table__  # type: ignore[assignment]
ALERTS: Table = Alert.__table__  # type: ignore[assignment]

AUTH_ALERT = "shipments.auth"
#: a claimed shipment is not taken by another pass for this long (a crashed pass's claim lapses)
CLAIM = timedelta(minutes=10)


def backoff(attempts: int, *, base: float = 60.0, cap: float = 6 * 3600.0, retry_after: float | None = None) -> float:
    """Seconds before attempt ``attempts + 1``: ``base * 2**(attempts-1)`` capped, with up to
    10% jitter, and never sooner than the platform's ban hint."""
    delay: float = min(cap, base * 2.0 ** max(0, attempts - 1))
    delay *= 1.0 + random.random() * 0.1  # jitter, not a secret
    return max(delay, retry_after or 0.0)


@dataclass(slots=True)
class ShipmentLine:
    """One shipment's part of a pass (what ``bangfu shipments push`` prints)."""

    shipment_id: int
    shop_id: int
    platform_order_id: str
    carrier: str
    tracking_no: str
    status: str = "pending"  # pushed | pending (retry later) | failed | skipped
    error: str | None = None


class ShipmentPusher:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        secrets: SecretStore | None = None,
        clock: Clock = utcnow,
        connector_factory: Callable[[Shop], Connector] | None = None,
        connector_kwargs: dict[str, Any] | None = None,
        max_attempts: int = 8,
        base_delay: float = 60.0,
    ) -> None:
        self.engine = engine
        self.secrets = secrets or SecretStore()
        self.clock = clock
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self._connector = ConnectorFactory(self.secrets, override=connector_factory, connector_kwargs=connector_kwargs)

    # ------------------------------------------------------------------ recording

    async def add(
        self,
        order_id: int,
        carrier: Carrier | str,
        tracking_no: str,
        *,
        recorded_by: int | None = None,
        via: str = "cli",
        conn: AsyncConnection | None = None,
    ) -> int:
        """Record the order's shipment (:func:`bangfu.shipments.record_shipment`); its id."""
        if conn is None:
            async with self.engine.begin() as own:
                return await record_shipment(
                    own, order_id, carrier, tracking_no, now=self.clock(), recorded_by=recorded_by, via=via
                )
        return await record_shipment(
            conn, order_id, carrier, tracking_no, now=self.clock(), recorded_by=recorded_by, via=via
        )

    async def resolve_order(
        self, platform_order_id: str, shop_id: int | None = None, *, conn: AsyncConnection | None = None
    ) -> int:
        """The hub id of the order a platform id names (``shop_id`` when it is in several shops)."""
        query = select(ORDERS.c.id).where(ORDERS.c.platform_order_id == platform_order_id.strip())
        if shop_id is not None:
            query = query.where(ORDERS.c.shop_id == shop_id)
        if conn is None:
            async with self.engine.connect() as own:
                ids = list((await own.execute(query.limit(2))).scalars())
        else:
            ids = list((await conn.execute(query.limit(2))).scalars())
        if not ids:
            raise ShipmentError(f"no order {platform_order_id}" + (f" in shop {shop_id}" if shop_id else ""))
        if len(ids) > 1:
            raise ShipmentError(f"order {platform_order_id} is in several shops: give the shop")
        return int(ids[0])

    async def add_by_platform_id(
        self,
        platform_order_id: str,
        carrier: Carrier | str,
        tracking_no: str,
        *,
        shop_id: int | None = None,
        recorded_by: int | None = None,
        via: str = "cli",
    ) -> int:
        """:meth:`add` for an order named by its platform id."""
        order_id = await self.resolve_order(platform_order_id, shop_id)
        return await self.add(order_id, carrier, tracking_no, recorded_by=recorded_by, via=via)

    async def retry(self, shipment_id: int, *, shop_ids: Sequence[int] | None = None) -> bool:
        """An operator's retry: a failed (or waiting) shipment is due now again, with a fresh
        attempt count; an auth failure also resolves the shop's ``shipments.auth`` alert (the
        operator says the credentials are fixed). False for a shipment out of ``shop_ids`` or
        not retryable (pushed, local)."""
        now = self.clock()
        async with self.engine.begin() as conn:
            query = select(SHIPMENTS).where(SHIPMENTS.c.id == shipment_id)
            if shop_ids is not None:
                query = query.where(SHIPMENTS.c.shop_id.in_(list(shop_ids)))
            row = (await conn.execute(query)).first()
            if row is None or row.push_state not in (ShipmentState.FAILED, ShipmentState.PENDING):
                return False
            await conn.execute(
                update(SHIPMENTS)
                .where(SHIPMENTS.c.id == shipment_id)
                .values(push_state=ShipmentState.PENDING, attempts=0, next_attempt_at=None)
            )
            if row.last_error_class == ErrorClass.AUTH.value:
                await conn.execute(
                    update(ALERTS)
                    .where(ALERTS.c.shop_id == row.shop_id, ALERTS.c.kind == AUTH_ALERT, ALERTS.c.resolved_at.is_(None))
                    .values(resolved_at=now)
                )
        return True

    # ------------------------------------------------------------------ pushing

    async def push(self, shop_ids: Sequence[int] | None = None, *, limit: int = 500) -> list[ShipmentLine]:
        """One pass over the due pending shipments (see the module doc)."""
        now = self.clock()
        lines = await self._due(now, shop_ids, limit)
        stopped = await self._stopped_shops()
        connectors: dict[int, Connector] = {}
        shops: dict[int, Shop] = {}
        try:
            for line in lines:
                if line.shop_id in stopped:
                    line.status, line.error = "skipped", "shop stopped: an auth error is open"
                    continue
                if not await self._claim(line.shipment_id):
                    line.status, line.error = "skipped", "taken by another pass"
                    continue
                shop = shops.get(line.shop_id) or shops.setdefault(line.shop_id, await self._shop(line.shop_id))
                result: ShipResult | PlatformError
                try:
                    connector = connectors.get(shop.id) or connectors.setdefault(shop.id, self._connector(shop))
                    result = await connector.ship(line.platform_order_id, line.carrier, line.tracking_no)
                except PlatformError as exc:
                    result = exc
                except Exception as exc:  # noqa: BLE001  # a bug: retried later, kept visible
                    result = RetriableError(shop.platform.value, "internal", f"{type(exc).__name__}: {exc}")
                await self._finish(line, result)
                if isinstance(result, AuthError):
                    stopped.add(line.shop_id)
                    await self._alert(shop, f"{shop.name}: shipments stopped: {result}")
        finally:
            for connector in connectors.values():
                await connector.aclose()
        return lines

    async def _due(self, now: datetime, shop_ids: Sequence[int] | None, limit: int) -> list[ShipmentLine]:
        query = (
            select(
                SHIPMENTS.c.id,
                SHIPMENTS.c.shop_id,
                SHIPMENTS.c.carrier,
                SHIPMENTS.c.tracking_no,
                ORDERS.c.platform_order_id,
            )
            .join(ORDERS, ORDERS.c.id == SHIPMENTS.c.order_id)
            .join(SHOPS, SHOPS.c.id == SHIPMENTS.c.shop_id)
            .where(
                SHIPMENTS.c.push_state == ShipmentState.PENDING,
                or_(SHIPMENTS.c.next_attempt_at.is_(None), SHIPMENTS.c.next_attempt_at <= now),
                SHOPS.c.active.is_(True),
                SHOPS.c.base_url.is_not(None),
            )
            .order_by(SHIPMENTS.c.shop_id, SHIPMENTS.c.id)
            .limit(limit)
        )
        if shop_ids is not None:
            query = query.where(SHIPMENTS.c.shop_id.in_(list(shop_ids)))
        async with self.engine.connect() as conn:
            return [
                ShipmentLine(row.id, row.shop_id, row.platform_order_id, Carrier(row.carrier).value, row.tracking_no)
                for row in await conn.execute(query)
            ]

    async def _claim(self, shipment_id: int) -> bool:
        now = self.clock()
        async with self.engine.begin() as conn:
            claimed = await conn.execute(
                update(SHIPMENTS)
                .where(
                    SHIPMENTS.c.id == shipment_id,
                    SHIPMENTS.c.push_state == ShipmentState.PENDING,
                    or_(SHIPMENTS.c.next_attempt_at.is_(None), SHIPMENTS.c.next_attempt_at <= now),
                )
                .values(next_attempt_at=now + CLAIM)
            )
            return bool(claimed.rowcount)

    async def _finish(self, line: ShipmentLine, result: ShipResult | PlatformError) -> None:
        now = self.clock()
        async with self.engine.connect() as conn:
            query = select(SHIPMENTS.c.attempts).where(SHIPMENTS.c.id == line.shipment_id)
            attempts = int(await conn.scalar(query) or 0) + 1  # this one counts, whatever came of it
        values: dict[str, Any] = {"attempts": attempts}
        if isinstance(result, ShipResult):
            line.status = "pushed"
            values.update(
                push_state=ShipmentState.PUSHED,
                pushed_at=now,
                already_on_platform=result.already,
                last_error_class=None,
                last_error=None,
                next_attempt_at=None,
            )
        else:
            error_class = "conflict" if isinstance(result, ShipConflict) else result.error_class.value
            line.error = f"{error_class}: {result}"[:2000]
            values.update(last_error_class=error_class, last_error=str(result)[:2000])
            if isinstance(result, RetriableError) and attempts < self.max_attempts:
                hint = result.retry_after if isinstance(result, RateLimitError) else None
                delay = backoff(attempts, base=self.base_delay, retry_after=hint)
                line.status = "pending"
                values.update(push_state=ShipmentState.PENDING, next_attempt_at=now + timedelta(seconds=delay))
            else:
                line.status = "failed"
                values.update(push_state=ShipmentState.FAILED, next_attempt_at=None)
        async with self.engine.begin() as conn:
            await conn.execute(update(SHIPMENTS).where(SHIPMENTS.c.id == line.shipment_id).values(**values))

    async def _stopped_shops(self) -> set[int]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(ALERTS.c.shop_id).where(
                    and_(ALERTS.c.kind == AUTH_ALERT, ALERTS.c.resolved_at.is_(None), ALERTS.c.shop_id.is_not(None))
                )
            )
            return {int(shop_id) for shop_id in rows.scalars()}

    async def _shop(self, shop_id: int) -> Shop:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(Shop).where(Shop.id == shop_id))).one()
            return Shop(**row._mapping)

    async def _alert(self, shop: Shop, message: str) -> None:
        async with self.engine.begin() as conn:
            open_alert = await conn.scalar(
                select(ALERTS.c.id).where(
                    ALERTS.c.shop_id == shop.id, ALERTS.c.kind == AUTH_ALERT, ALERTS.c.resolved_at.is_(None)
                )
            )
            if open_alert is None:
                await conn.execute(
                    ALERTS.insert().values(
                        kind=AUTH_ALERT,
                        severity="error",
                        shop_id=shop.id,
                        message=message[:2000],
                        created_at=self.clock(),
                    )
                )
