"""connectors.ratelimit: token bucket arithmetic (fake time) and concurrency (real time)."""

from __future__ import annotations

import asyncio
import time

import pytest

from connectors.ratelimit import RateLimit, RateLimiter, TokenBucket, default_limiter


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def bucket(per_second: float, burst: int, fake: FakeTime) -> TokenBucket:
    return TokenBucket(RateLimit(per_second, burst), clock=fake.clock, sleep=fake.sleep)


@pytest.mark.parametrize(
    ("per_second", "burst"),
    [(0, 1), (-1, 1), (float("inf"), 1), (float("nan"), 1), (1, 0), (1, True), (1, 1.5)],
)
def test_rate_limit_validates(per_second: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimit(per_second, burst)


def test_rate_limit_is_frozen_value() -> None:
    rate = RateLimit(10, 5)
    assert rate == RateLimit(10.0, 5)
    assert rate.interval == pytest.approx(0.1)
    with pytest.raises(AttributeError):
        rate.burst = 3  # type: ignore[misc]


async def test_burst_then_sustained_rate() -> None:
    fake = FakeTime()
    b = bucket(10, 3, fake)
    for _ in range(3):
        await b.acquire()
    assert fake.sleeps == []  # the burst goes at once
    await b.acquire()
    assert fake.sleeps == [pytest.approx(0.1)]
    for _ in range(5):
        await b.acquire()
    assert fake.now - 100.0 == pytest.approx(0.6)  # 6 requests after the burst, 0.1 s apart
    assert b.acquired == 9


async def test_idle_time_refills_up_to_burst_only() -> None:
    fake = FakeTime()
    b = bucket(2, 2, fake)
    await b.acquire()
    await b.acquire()
    fake.now += 60  # a long idle period does not bank more than `burst` requests
    await b.acquire()
    await b.acquire()
    assert fake.sleeps == []
    await b.acquire()
    assert fake.sleeps == [pytest.approx(0.5)]


async def test_ban_pauses_then_resumes_at_rate() -> None:
    fake = FakeTime()
    b = bucket(5, 5, fake)
    await b.acquire()
    b.ban(3.0)
    assert b.banned_for() == pytest.approx(3.0)
    await b.acquire()
    assert fake.now == pytest.approx(103.0)
    assert b.banned_for() == 0.0
    assert b.bans == 1


async def test_shorter_ban_does_not_shorten_a_longer_one() -> None:
    fake = FakeTime()
    b = bucket(5, 1, fake)
    b.ban(5.0)
    b.ban(1.0)
    b.ban(0)  # ignored
    b.ban(float("nan"))  # ignored
    await b.acquire()
    assert fake.now == pytest.approx(105.0)
    assert b.bans == 1


async def test_concurrent_callers_are_spaced_by_the_rate() -> None:
    b = TokenBucket(RateLimit(per_second=50, burst=1))
    started = time.monotonic()
    stamps: list[float] = []

    async def worker() -> None:
        await b.acquire()
        stamps.append(time.monotonic() - started)

    await asyncio.gather(*(worker() for _ in range(6)))
    stamps.sort()
    assert stamps[-1] >= 5 * 0.02 - 0.005  # six requests at 50/s need >= 100 ms
    assert stamps[-1] < 1.0


async def test_ban_reaches_callers_already_waiting() -> None:
    b = TokenBucket(RateLimit(per_second=20, burst=1))
    await b.acquire()  # the next slot is 50 ms away
    started = time.monotonic()
    waiter = asyncio.create_task(b.acquire())
    await asyncio.sleep(0.01)  # the waiter has reserved its slot and is sleeping
    b.ban(0.25)
    await waiter
    assert time.monotonic() - started >= 0.24


def test_registry_shares_buckets_per_platform_and_app_key() -> None:
    registry = RateLimiter()
    rate = RateLimit(10, 2)
    first = registry.get("taobao", "app-1", rate)
    assert registry.get("taobao", "app-1", rate) is first
    assert registry.get("taobao", "app-2", rate) is not first
    assert registry.get("jd", "app-1", rate) is not first
    assert len(registry) == 3
    registry.clear()
    assert len(registry) == 0
    assert registry.get("taobao", "app-1", rate) is not first


async def test_registry_rate_change_keeps_the_ban() -> None:
    fake = FakeTime()
    registry = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    registry.ban("douyin", "k", RateLimit(10, 1), 2.0)
    replaced = registry.get("douyin", "k", RateLimit(20, 1))
    assert replaced.rate == RateLimit(20, 1)
    await registry.acquire("douyin", "k", RateLimit(20, 1))
    assert fake.now == pytest.approx(102.0)


def test_default_limiter_is_process_wide() -> None:
    assert default_limiter() is default_limiter()
