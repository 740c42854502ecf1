"""Async token buckets per (platform, app_key), shared by every connector in the process.

Platforms meter calls per app key (TOP, Kuaishou: per app and API; Douyin: per app), so every
shop connected through one app key draws from one bucket. :class:`RateLimit` is the policy
(frozen, per connector class); :class:`TokenBucket` the state; :class:`RateLimiter` the registry.

The bucket is a GCRA ("virtual scheduling") bucket: each :meth:`TokenBucket.acquire` reserves
the next free slot synchronously and then sleeps until it, so it needs no lock and is fair
(first come, first served). :meth:`TokenBucket.ban` pauses every caller of the key until the
platform's ban is over: callers already waiting re-check the ban when they wake.

Buckets hold no asyncio objects, so one registry serves any number of event loops (tests start
a loop per test). Clock and sleep are injectable for deterministic tests.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = [
    "RateLimit",
    "RateLimiter",
    "TokenBucket",
    "default_limiter",
]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``per_second`` sustained requests per second, ``burst`` requests allowed at once."""

    per_second: float
    burst: int = 1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.per_second) and self.per_second > 0):
            raise ValueError(f"per_second must be a finite number > 0, got {self.per_second!r}")
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise ValueError(f"burst must be an int >= 1, got {self.burst!r}")

    @property
    def interval(self) -> float:
        """Seconds between two requests at the sustained rate."""
        return 1.0 / self.per_second


class TokenBucket:
    """One key's bucket. Use :meth:`acquire` before every request."""

    def __init__(self, rate: RateLimit, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._interval = rate.interval
        self._tolerance = (rate.burst - 1) * self._interval
        self._tat = -math.inf  # theoretical arrival time of the next request
        self._banned_until = -math.inf
        self.acquired = 0
        self.waited = 0.0  # total seconds callers slept in acquire (for stats and tests)
        self.bans = 0

    @property
    def banned_until(self) -> float:
        return self._banned_until

    def banned_for(self) -> float:
        """Seconds left on the current ban (0 when not banned)."""
        return max(0.0, self._banned_until - self._clock())

    async def acquire(self) -> None:
        """Wait for a slot (and for any ban to end), then return."""
        while True:
            now = self._clock()
            if now < self._banned_until:
                wait = self._banned_until - now
                self.waited += wait
                await self._sleep(wait)
                continue
            tat = max(self._tat, now)
            wait = tat - self._tolerance - now
            self._tat = tat + self._interval
            if wait > 0:
                self.waited += wait
                await self._sleep(wait)
                if self._banned_until > self._clock():
                    continue  # a ban arrived while we waited: queue again behind it
            self.acquired += 1
            return

    def ban(self, seconds: float) -> None:
        """Pause every caller of this key for ``seconds`` from now (a longer ban wins)."""
        if not math.isfinite(seconds) or seconds <= 0:
            return
        until = self._clock() + seconds
        if until > self._banned_until:
            self._banned_until = until
            self.bans += 1
        # After the ban the bucket starts at the sustained rate, not with a stale burst debt.
        self._tat = max(self._tat, self._banned_until)


class RateLimiter:
    """Registry of buckets keyed by ``(platform, app_key)``.

    ``get`` returns the same bucket for the same key; the first caller's :class:`RateLimit`
    wins (all connectors of one platform share their class's rate anyway). A different rate
    for an existing key replaces the policy, keeping the ban.
    """

    def __init__(self, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def get(self, platform: str, app_key: str, rate: RateLimit) -> TokenBucket:
        key = (str(platform), app_key)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(rate, clock=self._clock, sleep=self._sleep)
            self._buckets[key] = bucket
        elif bucket.rate != rate:
            replacement = TokenBucket(rate, clock=self._clock, sleep=self._sleep)
            replacement._banned_until = bucket._banned_until
            replacement._tat = bucket._tat
            self._buckets[key] = replacement
            bucket = replacement
        return bucket

    async def acquire(self, platform: str, app_key: str, rate: RateLimit) -> None:
        await self.get(platform, app_key, rate).acquire()

    def ban(self, platform: str, app_key: str, rate: RateLimit, seconds: float) -> None:
        self.get(platform, app_key, rate).ban(seconds)

    def clear(self) -> None:
        """Forget every bucket (tests)."""
        self._buckets.clear()

    def __len__(self) -> int:
        return len(self._buckets)


_DEFAULT = RateLimiter()


def default_limiter() -> RateLimiter:
    """The process-wide registry connectors use unless given another."""
    return _DEFAULT
