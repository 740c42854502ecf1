"""The fake platforms' notion of "now".

``FakeClock`` follows real time by default, shifted by whatever tests advanced it by; once
frozen it stands still until advanced again (or unfrozen). Every fake world and server reads
the same clock, so ``POST /_fake/clock {"advance_seconds": N}`` moves all shops at once.

Public interface (stable)::

    clock = FakeClock()                 # real time
    clock = FakeClock(frozen_at=dt)     # frozen at an aware datetime
    clock.now() -> datetime             # aware UTC
    clock.freeze(at: datetime | None = None) -> datetime   # None: freeze at the current now()
    clock.unfreeze() -> None            # follow real time again, keeping the current offset
    clock.advance(seconds: float) -> datetime              # returns the new now()
    clock.frozen -> bool

Single-threaded asyncio code is the target: every method is a short non-awaiting critical
section, so calls from one event loop never interleave. A lock makes calls from other threads
(e.g. a test thread poking a server thread) safe as well.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


def _aware_utc(value: datetime, name: str) -> datetime:
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")
    return value.astimezone(UTC)


class FakeClock:
    """A settable clock: real time plus an offset, or frozen at an instant."""

    def __init__(self, *, frozen_at: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen: datetime | None = None
        self._frozen_real = self._real()  # when the clock was frozen, in real time
        if frozen_at is not None:
            self._frozen = _aware_utc(frozen_at, "frozen_at")

    @staticmethod
    def _real() -> datetime:
        return datetime.now(UTC)

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def now(self) -> datetime:
        """The current fake time, aware UTC."""
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return self._real() + self._offset

    def wall_now(self) -> datetime:
        """The gateway's clock: keeps running while the data is frozen.

        A frozen clock stops the shops' data from changing, but a real gateway still checks
        request timestamps against a running clock; a long sync against frozen fakes must not
        start failing its timestamp check after ten minutes.
        """
        with self._lock:
            if self._frozen is not None:
                return self._frozen + (self._real() - self._frozen_real)
            return self._real() + self._offset

    def freeze(self, at: datetime | None = None) -> datetime:
        """Stop the clock at ``at`` (default: the current fake now) and return that instant."""
        with self._lock:
            if at is None:
                at = self._frozen if self._frozen is not None else self._real() + self._offset
            self._frozen = _aware_utc(at, "at")
            self._frozen_real = self._real()
            return self._frozen

    def unfreeze(self) -> None:
        """Follow real time again, continuing from the frozen instant."""
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - self._real()
                self._frozen = None

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward (or back, with a negative value); returns the new now."""
        step = timedelta(seconds=seconds)
        with self._lock:
            if self._frozen is not None:
                self._frozen = self._frozen + step
                return self._frozen
            self._offset += step
            return self._real() + self._offset
