"""Shipment writes: tell the platform an order has shipped, with its carrier and tracking number.

:meth:`ShipWrites.ship` checks the tracking number and maps the hub's carrier to the
platform's code (``carrier_codes``) before anything is sent: a tracking number that cannot be
right, or a carrier the platform has no code for, is a :class:`RecordError` (that shipment is
wrong; nothing was sent). Then the platform's ship API (:meth:`ShipWrites._ship`, one per
platform) is called through the request loop, which retries rate limits and transient errors.

**Idempotent.** Platforms refuse to ship an order twice ("already shipped": the codes in
``already_shipped_codes``). On that refusal the order's detail is read and the tracking numbers
it carries (:meth:`ShipWrites._shipped_tracking`) are compared with ours: the same number is a
success (``ShipResult.already``: an earlier push whose answer was lost, or a second push of the
same shipment), another number is a :class:`ShipConflict` naming both, never silently accepted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from bangfu.enums import Carrier
from connectors.errors import RecordError
from connectors.stock import StockWrites

__all__ = ["TRACKING_NO", "ShipConflict", "ShipResult", "ShipWrites", "find_strings"]

#: what every platform takes as a tracking number: 8-30 letters and digits
TRACKING_NO = re.compile(r"[A-Za-z0-9]{8,30}")


@dataclass(frozen=True, slots=True)
class ShipResult:
    """A shipment the platform holds: ``already`` when it had it before this call."""

    platform_order_id: str
    carrier: Carrier
    tracking_no: str
    already: bool = False


class ShipConflict(RecordError):
    """The platform has the order shipped with another tracking number than ours."""

    def __init__(self, platform: str, code: str | int | None, message: str, platform_tracking: tuple[str, ...]) -> None:
        super().__init__(platform, code, message)
        self.platform_tracking = platform_tracking


def find_strings(value: Any, keys: frozenset[str]) -> list[str]:
    """Every non-empty string (or number) under one of ``keys`` anywhere in a decoded body."""
    found: list[str] = []
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            for key, child in node.items():
                if key in keys and isinstance(child, str | int) and not isinstance(child, bool) and str(child):
                    found.append(str(child))
                elif isinstance(child, Mapping | list | tuple):
                    stack.append(child)
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return found


class ShipWrites(StockWrites):
    """``ship`` and the per-platform hooks ``_ship`` and ``_shipped_tracking``."""

    #: the hub's carrier -> the platform's carrier code
    carrier_codes: ClassVar[Mapping[Carrier, str | int]] = {}
    #: the error codes / sub_codes of the platform's "already shipped" refusal
    already_shipped_codes: ClassVar[frozenset[str]] = frozenset()
    #: where the order detail carries tracking numbers (``find_strings`` keys)
    tracking_keys: ClassVar[frozenset[str]] = frozenset()

    async def ship(self, platform_order_id: str, carrier: Carrier | str, tracking_no: str) -> ShipResult:
        """Mark the order shipped on the platform (see the module doc)."""
        try:
            known = Carrier(carrier)
        except ValueError:
            raise RecordError(self.platform_name, "carrier", f"unknown carrier {carrier!r}") from None
        code = self.carrier_codes.get(known)
        if code is None:
            raise RecordError(self.platform_name, "carrier", f"{self.platform_name} has no code for carrier {known}")
        tracking = tracking_no.strip()
        if TRACKING_NO.fullmatch(tracking) is None:
            raise RecordError(
                self.platform_name, "tracking", f"tracking number must be 8-30 letters/digits: {tracking!r}"
            )
        if not platform_order_id.strip():
            raise RecordError(self.platform_name, "order", "no order id")
        try:
            await self._ship(platform_order_id, code, tracking)
        except RecordError as refused:
            if not self._is_already_shipped(refused):
                raise
            theirs = tuple(dict.fromkeys(await self._shipped_tracking(platform_order_id)))
            if tracking in theirs:
                return ShipResult(platform_order_id, known, tracking, already=True)
            shown = ", ".join(theirs) or "unknown"
            raise ShipConflict(
                self.platform_name,
                refused.code,
                f"already shipped with tracking {shown}, not {tracking}: {refused.message}",
                theirs,
            ) from refused
        return ShipResult(platform_order_id, known, tracking)

    def _is_already_shipped(self, error: RecordError) -> bool:
        codes = {str(error.code), str(error.sub_code)}
        return bool(codes & self.already_shipped_codes)

    async def _ship(self, platform_order_id: str, carrier_code: str | int, tracking_no: str) -> None:
        """The platform's ship API (one call through the request loop; overridden per platform)."""
        raise self._unsupported("ship")

    async def _shipped_tracking(self, platform_order_id: str) -> Iterable[str]:
        """The tracking numbers the platform's order detail shows (default: ``tracking_keys``)."""
        raw = await self._order_detail_raw(platform_order_id)
        return find_strings(raw, self.tracking_keys)
