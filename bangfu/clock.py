"""Time, in one place: the programmes' time zone, the current instant and the clock type.

- :data:`SHANGHAI` is the programmes' local time (Asia/Shanghai, UTC+8 without daylight saving
  since 1991): report periods, policy dates, "today" on the board and in the importers. Stored
  times are UTC; they are converted to this zone only to pick a local date or to show them.
- :func:`utcnow` is the current instant, aware and in UTC: the default of every :data:`Clock`.
- :data:`Clock` is what a component that reads the time takes (``clock=``), so a test can hand
  it a fixed or advancing time instead of patching ``datetime``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

__all__ = ["SHANGHAI", "Clock", "utcnow"]

SHANGHAI = ZoneInfo("Asia/Shanghai")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)
