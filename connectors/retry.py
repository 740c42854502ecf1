"""Retry with exponential backoff and full jitter.

Only :class:`~connectors.errors.RetriableError` is retried. Network failures from aiohttp
(``ClientError`` and its ``ServerDisconnectedError``, ``ClientPayloadError``,
``ClientConnectionError``...) and timeouts are first converted to
:class:`~connectors.errors.TransientError` by :func:`as_platform_error`; everything else
propagates at once. A :class:`~connectors.errors.RateLimitError` waits at least the platform's
ban hint: ``max(retry_after, backoff)``. When attempts run out the last error propagates.

Backoff (AWS "full jitter")::

    delay(attempt) = uniform(0, min(max_delay, base_delay * 2 ** (attempt - 1)))

``attempt`` counts from 1 (the first retry waits up to ``base_delay``). Sleep and the random
source are injectable, so tests are deterministic and instant.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import aiohttp

from connectors.errors import (
    BadRequestError,
    PlatformError,
    RateLimitError,
    RetriableError,
    TransientError,
)

__all__ = [
    "NETWORK_ERRORS",
    "RetryPolicy",
    "as_platform_error",
]

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]

#: Exceptions from the transport that mean "try again".
NETWORK_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, asyncio.TimeoutError)


class Uniform(Protocol):
    """The part of :class:`random.Random` the policy uses."""

    def uniform(self, a: float, b: float) -> float: ...


def as_platform_error(exc: BaseException, platform: str) -> PlatformError | None:
    """The platform error a transport exception stands for, or ``None`` if it is not one.

    An invalid URL is our bug (:class:`BadRequestError`); every other aiohttp client error and
    every timeout is transient.
    """
    if isinstance(exc, PlatformError):
        return exc
    if isinstance(exc, aiohttp.InvalidURL):
        return BadRequestError(platform, "invalid_url", f"invalid URL: {exc}")
    if isinstance(exc, asyncio.TimeoutError):
        return TransientError(platform, "timeout", "request timed out")
    if isinstance(exc, aiohttp.ClientError):
        detail = str(exc) or type(exc).__name__
        return TransientError(platform, type(exc).__name__, detail)
    return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times to try (first attempt included) and how long to wait between tries."""

    max_attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 10.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ValueError(f"max_attempts must be an int, got {self.max_attempts!r}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        for name in ("base_delay", "max_delay"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.max_delay < self.base_delay:
            raise ValueError("max_delay must be >= base_delay")

    def backoff(self, attempt: int, rng: Uniform | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError("attempt counts from 1")
        exponent = min(attempt - 1, 62)  # 2**62 * base is far past any cap
        cap = min(self.max_delay, self.base_delay * 2.0**exponent)
        if not self.jitter:
            return cap
        return (rng or random).uniform(0.0, cap)

    def delay_for(self, error: RetriableError, attempt: int, rng: Uniform | None = None) -> float:
        """Backoff for ``error``; a rate limit with a ban hint waits at least the hint."""
        delay = self.backoff(attempt, rng)
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            delay = max(delay, error.retry_after)
        return delay

    async def run(
        self,
        attempt_fn: Callable[[int], Awaitable[T]],
        *,
        platform: str = "",
        sleep: Sleep = asyncio.sleep,
        rng: Uniform | None = None,
        on_retry: Callable[[RetriableError, int, float], None] | None = None,
    ) -> T:
        """Call ``attempt_fn(attempt)`` until it returns, retrying retriable errors.

        ``on_retry(error, attempt, delay)`` is called before each wait (for counters and ban
        propagation). Non-retriable errors propagate at once; when attempts run out the last
        retriable error propagates.
        """
        attempt = 1
        while True:
            try:
                return await attempt_fn(attempt)
            except RetriableError as exc:
                error: RetriableError = exc
            except NETWORK_ERRORS as exc:
                converted = as_platform_error(exc, platform)
                if not isinstance(converted, RetriableError):
                    if converted is None:
                        raise
                    raise converted from exc
                error = converted
                error.__cause__ = exc
            if attempt >= self.max_attempts:
                raise error
            delay = self.delay_for(error, attempt, rng)
            if on_retry is not None:
                on_retry(error, attempt, delay)
            await sleep(delay)
            attempt += 1
