"""Pull a shop's whole order and refund history the way sync does, and total it.

:func:`harvest` is the acceptance check of every connector against its fake platform: it walks
``orders`` and ``refunds`` over ``[start, end)`` (the connector splits the range into windows
no wider than its advised window), keeps one record per platform id (the newest ``modified``
wins, ties go to the later lifecycle status, as sync's upsert does), counts the duplicates it
suppressed, and collects what was quarantined. Records can change while we page (the fakes do
it on purpose), so it then runs catch-up passes over ``[previous end - overlap, now + 1 s)``
until a pass brings nothing new, exactly as sync's next incremental runs would. A window that
yielded a quarantined record nobody recovered (no detail API, or the detail failed too) is
read once more, as sync's re-fetch of quarantined records would.

``HarvestResult.totals()`` has the shape of one shop in the fake's ``GET /_fake/truth``::

    {"orders": int, "order_lines": int, "refunds": int, "paid_fen": int, "refunded_fen": int}
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bangfu.enums import RefundStatus, SyncStream
from bangfu.records import OrderRecord, Quarantined, RefundRecord
from connectors.base import Connector, WindowLog
from connectors.windows import ensure_utc

__all__ = ["HarvestResult", "harvest"]

TOTAL_KEYS = ("orders", "order_lines", "refunds", "paid_fen", "refunded_fen")


@dataclass
class HarvestResult:
    orders: dict[str, OrderRecord] = field(default_factory=dict)
    refunds: dict[str, RefundRecord] = field(default_factory=dict)
    quarantined: list[Quarantined] = field(default_factory=list)
    duplicates: int = 0  # records seen again (same id) and merged away
    passes: int = 0  # main pass + catch-up passes
    ranges: list[tuple[datetime, datetime]] = field(default_factory=list)
    reread: list[WindowLog] = field(default_factory=list)  # windows read again for quarantine
    _sources: list[WindowLog | None] = field(default_factory=list, repr=False)

    def totals(self) -> dict[str, int]:
        """The same shape as one shop in the fake's ``/_fake/truth``."""
        return {
            "orders": len(self.orders),
            "order_lines": sum(len(order.lines) for order in self.orders.values()),
            "refunds": len(self.refunds),
            "paid_fen": sum(o.paid_fen for o in self.orders.values() if o.status.is_paid),
            "refunded_fen": sum(r.amount_fen for r in self.refunds.values() if r.status is RefundStatus.SUCCEEDED),
        }

    def unresolved(self) -> list[Quarantined]:
        """Quarantined records never recovered (no good copy of the same id was seen)."""
        out: list[Quarantined] = []
        for item in self.quarantined:
            known = self.orders if item.stream is SyncStream.ORDERS else self.refunds
            if item.platform_id is None or item.platform_id not in known:
                out.append(item)
        return out

    def _keep_order(self, record: OrderRecord) -> bool:
        current = self.orders.get(record.platform_order_id)
        if current is not None:
            self.duplicates += 1
            if (record.modified_at, record.status.rank) < (current.modified_at, current.status.rank):
                return False
            if record == current:
                return False
        self.orders[record.platform_order_id] = record
        return True

    def _keep_refund(self, record: RefundRecord) -> bool:
        current = self.refunds.get(record.platform_refund_id)
        if current is not None:
            self.duplicates += 1
            if (record.modified_at, record.status.rank) < (current.modified_at, current.status.rank):
                return False
            if record == current:
                return False
        self.refunds[record.platform_refund_id] = record
        return True


async def harvest(
    connector: Connector,
    start: datetime,
    end: datetime | None = None,
    *,
    overlap: timedelta = timedelta(minutes=10),
    catch_up: int = 5,
) -> HarvestResult:
    """Pull orders and refunds in ``[start, end)`` (``end`` defaults to the connector's now),
    then up to ``catch_up`` catch-up passes until one brings no new or changed record."""
    start = ensure_utc(start, "start")
    end = ensure_utc(end, "end") if end is not None else connector.clock()
    result = HarvestResult()
    changed = await _pass(connector, result, start, end)
    for _ in range(catch_up):
        if not changed:
            break
        next_end = max(connector.clock(), end) + timedelta(seconds=1)
        changed = await _pass(connector, result, max(start, end - overlap), next_end)
        end = next_end
    await _reread_quarantined(connector, result)
    return result


async def _pass(connector: Connector, result: HarvestResult, start: datetime, end: datetime) -> int:
    result.passes += 1
    result.ranges.append((start, end))
    changed = await _read(connector, result, SyncStream.ORDERS, start, end)
    if SyncStream.REFUNDS in connector.streams:
        changed += await _read(connector, result, SyncStream.REFUNDS, start, end)
    return changed


async def _read(connector: Connector, result: HarvestResult, stream: SyncStream, start: datetime, end: datetime) -> int:
    changed = 0
    if stream is SyncStream.ORDERS:
        orders: AsyncIterator[OrderRecord | Quarantined] = connector.orders(start, end)
        async for order in orders:
            if isinstance(order, Quarantined):
                _quarantine(connector, result, order)
            elif result._keep_order(order):
                changed += 1
    else:
        refunds: AsyncIterator[RefundRecord | Quarantined] = connector.refunds(start, end)
        async for refund in refunds:
            if isinstance(refund, Quarantined):
                _quarantine(connector, result, refund)
            elif result._keep_refund(refund):
                changed += 1
    return changed


def _quarantine(connector: Connector, result: HarvestResult, item: Quarantined) -> None:
    windows = connector.stats.windows
    source = windows[-1] if windows and windows[-1].stream is item.stream else None
    result.quarantined.append(item)
    result._sources.append(source)


async def _reread_quarantined(connector: Connector, result: HarvestResult) -> None:
    """Read each window that left a quarantined record unresolved once more."""
    unresolved = {id(item) for item in result.unresolved()}
    todo: list[WindowLog] = []
    for item, source in zip(result.quarantined, result._sources, strict=True):
        if id(item) in unresolved and source is not None and source not in todo:
            todo.append(source)
    for window in todo:
        result.reread.append(window)
        await _read(connector, result, window.stream, window.start, window.end)
