"""Shared fixtures for connector tests.

* every test gets the process's shared aiohttp session closed after it (no unclosed-session
  warnings, which ``filterwarnings = error`` would turn into failures);
* ``session``: a session of the test's own, closed after the test;
* ``patient_session``: the same, waiting up to 30 s a request, for tests that inject no hang
  (on a loaded machine one page took longer than 1.5 s, and a resend is not what they test);
* ``fast_retry``: the default attempt count with millisecond backoff;
* ``client_timeout``: 1.5 s, so the fakes' ``hang`` faults (3 s) are cut by the client;
* ``limiter``: a fresh rate-limit registry, so one test's bans never slow another;
* ``connector_kwargs``: the above bundled for ``connector_for(config, **connector_kwargs)``.

The buyer hash key is pinned to an obviously fake value so tests never touch the user's data
directory.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from connectors.http import close_session, new_session
from connectors.ratelimit import RateLimiter
from connectors.retry import RetryPolicy

os.environ.setdefault("BANGFU_HASH_KEY", "test-only-hash-key-not-a-secret")

CLIENT_TIMEOUT = 1.5
PATIENT_CLIENT_TIMEOUT = 30.0
FAST_RETRY = RetryPolicy(max_attempts=6, base_delay=0.005, max_delay=0.05, jitter=True)


@pytest.fixture(autouse=True)
async def _close_shared_session() -> AsyncIterator[None]:
    yield
    await close_session()


async def _own_session(wait_s: float) -> AsyncIterator[aiohttp.ClientSession]:
    client = new_session(timeout=wait_s)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async for client in _own_session(CLIENT_TIMEOUT):
        yield client


@pytest.fixture
async def patient_session() -> AsyncIterator[aiohttp.ClientSession]:
    async for client in _own_session(PATIENT_CLIENT_TIMEOUT):
        yield client


@pytest.fixture
def fast_retry() -> RetryPolicy:
    return FAST_RETRY


@pytest.fixture
def client_timeout() -> float:
    return CLIENT_TIMEOUT


@pytest.fixture
def limiter() -> RateLimiter:
    return RateLimiter()


@pytest.fixture
def connector_kwargs(
    session: aiohttp.ClientSession, fast_retry: RetryPolicy, client_timeout: float, limiter: RateLimiter
) -> dict[str, Any]:
    """Constructor keywords for a fast, isolated connector (add ``clock=`` for fake time)."""
    return {"session": session, "retry": fast_retry, "timeout": client_timeout, "limiter": limiter}
