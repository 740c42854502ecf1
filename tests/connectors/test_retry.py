"""connectors.retry: backoff arithmetic, what is retried, transport error conversion."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from connectors.errors import (
    AuthError,
    BadRequestError,
    RateLimitError,
    RecordError,
    RetriableError,
    TransientError,
)
from connectors.retry import RetryPolicy, as_platform_error


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": True},
        {"base_delay": -0.1},
        {"max_delay": float("inf")},
        {"base_delay": 2.0, "max_delay": 1.0},
    ],
)
def test_policy_validates(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_defaults() -> None:
    assert RetryPolicy() == RetryPolicy(max_attempts=6, base_delay=0.2, max_delay=10.0, jitter=True)


def test_backoff_without_jitter_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.2, max_delay=1.0, jitter=False)
    assert [policy.backoff(n) for n in range(1, 6)] == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0])
    assert policy.backoff(500) == 1.0
    with pytest.raises(ValueError):
        policy.backoff(0)


def test_full_jitter_is_uniform_below_the_cap_and_seeded() -> None:
    policy = RetryPolicy(base_delay=0.2, max_delay=10.0)
    first = [policy.backoff(n, random.Random(7)) for n in range(1, 10)]
    again = [policy.backoff(n, random.Random(7)) for n in range(1, 10)]
    assert first == again
    rng = random.Random(1)
    samples = [policy.backoff(3, rng) for _ in range(2000)]
    assert all(0.0 <= s <= 0.8 for s in samples)
    assert min(samples) < 0.05 and max(samples) > 0.75  # full range, not "cap +- a bit"


def test_rate_limit_waits_at_least_the_hint() -> None:
    policy = RetryPolicy(base_delay=0.2, max_delay=10.0, jitter=False)
    hinted = RateLimitError("taobao", 7, "App Call Limited", retry_after=2.0)
    assert policy.delay_for(hinted, 1) == 2.0
    assert policy.delay_for(hinted, 6) == 6.4  # backoff beyond the hint wins
    plain = RateLimitError("douyin", 60000, "limited")
    assert policy.delay_for(plain, 1) == pytest.approx(0.2)


async def test_run_retries_retriable_until_success() -> None:
    sleeps = Sleeps()
    seen: list[tuple[str, int]] = []
    outcomes: list[Exception | None] = [
        TransientError("jd", 500, "boom"),
        RateLimitError("jd", 2, "limited", retry_after=1.5),
        None,
    ]

    async def attempt(n: int) -> str:
        outcome = outcomes[n - 1]
        if outcome is not None:
            raise outcome
        return f"ok on {n}"

    policy = RetryPolicy(base_delay=0.1, max_delay=1.0, jitter=False)
    result = await policy.run(
        attempt,
        sleep=sleeps,
        on_retry=lambda error, n, delay: seen.append((type(error).__name__, n)),
    )
    assert result == "ok on 3"
    assert sleeps.delays == pytest.approx([0.1, 1.5])
    assert seen == [("TransientError", 1), ("RateLimitError", 2)]


@pytest.mark.parametrize(
    "error",
    [
        AuthError("kuaishou", 401, "bad sign"),
        BadRequestError("taobao", 41, "Invalid Arguments"),
        RecordError("douyin", "bad", "bad record"),
        ValueError("a bug"),
    ],
)
async def test_run_does_not_retry_other_errors(error: Exception) -> None:
    sleeps = Sleeps()
    calls = 0

    async def attempt(n: int) -> None:
        nonlocal calls
        calls += 1
        raise error

    with pytest.raises(type(error)):
        await RetryPolicy().run(attempt, sleep=sleeps)
    assert calls == 1
    assert sleeps.delays == []


async def test_run_gives_up_with_the_last_error() -> None:
    sleeps = Sleeps()

    async def attempt(n: int) -> None:
        raise TransientError("youzan", 500 + n, f"attempt {n}")

    with pytest.raises(TransientError) as info:
        await RetryPolicy(max_attempts=4, jitter=False).run(attempt, sleep=sleeps)
    assert info.value.code == 504
    assert len(sleeps.delays) == 3


@pytest.mark.parametrize(
    "exc",
    [
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientPayloadError("truncated"),
        aiohttp.ClientConnectionError("refused"),
        TimeoutError(),
    ],
)
async def test_transport_errors_become_transient_and_are_retried(exc: BaseException) -> None:
    sleeps = Sleeps()
    calls = 0

    async def attempt(n: int) -> str:
        nonlocal calls
        calls += 1
        if n < 3:
            raise exc
        return "done"

    assert await RetryPolicy(jitter=False).run(attempt, platform="jd", sleep=sleeps) == "done"
    assert calls == 3

    async def always(n: int) -> str:
        raise exc

    with pytest.raises(TransientError) as info:
        await RetryPolicy(max_attempts=2).run(always, platform="jd", sleep=sleeps)
    assert info.value.platform == "jd"
    assert info.value.__cause__ is exc


def test_as_platform_error() -> None:
    assert isinstance(as_platform_error(TimeoutError(), "x"), TransientError)
    assert isinstance(as_platform_error(aiohttp.InvalidURL("nope"), "x"), BadRequestError)
    assert as_platform_error(ValueError("x"), "x") is None
    same = RateLimitError("x", 1, "m")
    assert as_platform_error(same, "x") is same


async def test_invalid_url_is_not_retried() -> None:
    sleeps = Sleeps()

    async def attempt(n: int) -> None:
        raise aiohttp.InvalidURL("http://")

    with pytest.raises(BadRequestError):
        await RetryPolicy().run(attempt, sleep=sleeps)
    assert sleeps.delays == []


@pytest.fixture
async def flaky_server() -> AsyncIterator[tuple[str, list[int]]]:
    """Drops the connection on the first two requests, then answers."""
    hits: list[int] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        hits.append(1)
        if len(hits) <= 2:
            assert request.transport is not None
            request.transport.close()
            await asyncio.sleep(0)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/x", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/x", hits
    finally:
        await runner.cleanup()


async def test_real_dropped_connections_are_retried(
    flaky_server: tuple[str, list[int]], session: aiohttp.ClientSession
) -> None:
    url, hits = flaky_server
    retried: list[RetriableError] = []

    async def attempt(n: int) -> object:
        async with session.post(url) as response:  # POST: aiohttp never resends it itself
            return await response.json()

    policy = RetryPolicy(base_delay=0.001, max_delay=0.01)
    body = await policy.run(attempt, platform="selfmall", on_retry=lambda e, n, d: retried.append(e))
    assert body == {"ok": True}
    assert len(hits) == 3
    assert [type(e) for e in retried] == [TransientError, TransientError]
