"""One shared :class:`aiohttp.ClientSession` per event loop, timeouts, orjson.

aiohttp wants one long-lived session (it owns the connection pool); a session belongs to the
event loop it was created in. :func:`get_session` returns the running loop's session, creating
it on first use; :func:`close_session` closes it (call it at shutdown; tests do it after each
test). Connectors may also be handed a session of their own, which they never close.

Every request carries an explicit :class:`aiohttp.ClientTimeout` (:func:`request_timeout`):
``total`` bounds the whole exchange and ``sock_read`` cuts a server that stops sending, so a
hanging platform costs at most the timeout, never a stuck worker.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import aiohttp
import orjson

__all__ = [
    "DEFAULT_TIMEOUT",
    "POOL_LIMIT",
    "POOL_LIMIT_PER_HOST",
    "close_all_sessions",
    "close_session",
    "decode_json",
    "encode_json",
    "get_session",
    "new_session",
    "request_timeout",
]

DEFAULT_TIMEOUT = 20.0
POOL_LIMIT = 100
POOL_LIMIT_PER_HOST = 32
USER_AGENT = "bangfu-hub/0.1 (+aiohttp)"

_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = weakref.WeakKeyDictionary()


def request_timeout(seconds: float = DEFAULT_TIMEOUT) -> aiohttp.ClientTimeout:
    """The timeout for one request: ``total`` and ``sock_read`` both ``seconds``."""
    if not seconds > 0:
        raise ValueError(f"timeout must be > 0, got {seconds!r}")
    return aiohttp.ClientTimeout(total=seconds, sock_read=seconds, sock_connect=min(seconds, 10.0))


def encode_json(value: Any) -> str:
    """Compact JSON text (orjson); aiohttp's ``json_serialize``."""
    return orjson.dumps(value).decode()


def decode_json(data: bytes | str) -> Any:
    """Parse JSON with orjson; raises ``orjson.JSONDecodeError`` (a ``ValueError``)."""
    return orjson.loads(data)


def new_session(
    *, limit: int = POOL_LIMIT, limit_per_host: int = POOL_LIMIT_PER_HOST, timeout: float = DEFAULT_TIMEOUT
) -> aiohttp.ClientSession:
    """A fresh session with our pool limits and defaults (the caller closes it)."""
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit_per_host, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=request_timeout(timeout),
        json_serialize=encode_json,
        headers={"User-Agent": USER_AGENT},
        raise_for_status=False,
    )


def get_session() -> aiohttp.ClientSession:
    """The running event loop's shared session (created on first use, or if closed)."""
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        session = new_session()
        _sessions[loop] = session
    return session


async def close_session() -> None:
    """Close the running loop's shared session, if any."""
    loop = asyncio.get_running_loop()
    session = _sessions.pop(loop, None)
    if session is not None and not session.closed:
        await session.close()


async def close_all_sessions() -> None:
    """Close the running loop's session and forget sessions of loops that are gone."""
    await close_session()
    for loop in list(_sessions):
        if loop.is_closed():
            _sessions.pop(loop, None)
