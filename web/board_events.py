"""The board's live figures: change notices in, one computation per burst, pushed to every client.

One :class:`BoardHub` per application. It hears the change notices of :mod:`bangfu.notify`
(PostgreSQL: ``LISTEN`` on a connection of its own, reconnecting when it drops; SQLite: the
in-process bus) and keeps one :class:`BoardFeed` per board (the whole programme, or a region).
A notice marks every feed stale; a feed with clients recomputes at once unless it computed
less than :data:`MIN_INTERVAL` ago, so a burst of commits costs a few computations a second,
whatever the number of commits or clients: the figures are computed once per feed, serialised
once, and the same text is sent to every connected client. A feed also refreshes every
:data:`REFRESH_SECONDS` while it has clients (a new day; commits no notice announced, such as
another process's on SQLite, or the workers' attributions).

The hub is started on the first board request, so an application that never serves the board
holds no listening connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.notify import CHANNEL, Notice, bus_key, subscribe_local

log = logging.getLogger("bangfu.web.board")

MIN_INTERVAL = 0.25  # seconds between two computations of one feed (at most 4 a second)
REFRESH_SECONDS = 30.0  # a feed with clients recomputes at least this often
RECONNECT_SECONDS = 1.0  # after the listening connection drops

Compute = Callable[[], Awaitable[dict[str, Any]]]


@dataclass
class Snapshot:
    version: int
    text: str  # the JSON sent to every client
    data: dict[str, Any]


@dataclass
class BoardFeed:
    """One board's figures: computed on demand, shared by every client of that board."""

    compute: Compute
    version: int = 0
    snapshot: Snapshot | None = None
    stale: bool = True
    clients: int = 0
    computations: int = 0
    latest: Notice | None = None  # the newest notice heard
    closed: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _task: asyncio.Task[None] | None = None
    _computed_at: float = 0.0

    def notify(self, notice: Notice | None) -> None:
        if notice is not None and (self.latest is None or notice.at >= self.latest.at):
            self.latest = notice
        self.stale = True
        self._wake.set()

    async def current(self) -> Snapshot:
        """Fresh figures: the shared snapshot, recomputed first when a notice came since."""
        if self.snapshot is None or self.stale:
            await self._refresh()
        assert self.snapshot is not None
        return self.snapshot

    async def _refresh(self) -> None:
        async with self._lock:  # callers arriving meanwhile share this computation
            if self.snapshot is not None and not self.stale:
                return
            self.stale = False
            covered = self.latest
            try:
                data = await self.compute()
            except Exception:
                self.stale = True
                raise
            finally:
                self._computed_at = time.monotonic()
            self.computations += 1
            data["notice"] = None if covered is None else {"seq": covered.seq, "at": covered.at, "pid": covered.pid}
            self.version += 1
            data["version"] = self.version
            self.snapshot = Snapshot(self.version, orjson.dumps(data).decode(), data)
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    async def next_after(self, version: int) -> Snapshot | None:
        """The first snapshot newer than ``version`` (waits for it); None once the feed closed."""
        while not self.closed and (self.snapshot is None or self.snapshot.version <= version):
            await self._changed.wait()
        return None if self.closed else self.snapshot

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="board-feed")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), REFRESH_SECONDS)
            self._wake.clear()
            if self.clients <= 0:
                continue  # nobody watching: the next page or client computes when it comes
            if not self.stale and time.monotonic() - self._computed_at < REFRESH_SECONDS:
                continue
            self.stale = True
            wait = MIN_INTERVAL - (time.monotonic() - self._computed_at)
            if wait > 0:
                await asyncio.sleep(wait)  # notices meanwhile fold into this computation
            try:
                await self._refresh()
            except Exception:
                log.exception("board figures not computed")
                await asyncio.sleep(RECONNECT_SECONDS)

    async def close(self) -> None:
        self.closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        # Wake every client: they see the hub closing and end their streams.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


class BoardHub:
    """The feeds of one application and the channel that tells them about commits."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.feeds: dict[str, BoardFeed] = {}
        self.closed = False
        self.notices = 0
        self._started = False
        self._unsubscribe: Callable[[], None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    @property
    def channel(self) -> str:
        return "postgresql" if self.engine.dialect.name == "postgresql" else "in-process"

    async def feed(self, key: str, compute: Compute) -> BoardFeed:
        """The feed of board ``key`` (created with ``compute`` the first time)."""
        await self.start()
        found = self.feeds.get(key)
        if found is None:
            found = self.feeds[key] = BoardFeed(compute)
            found.start()
        return found

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        if self.channel == "postgresql":
            self._listener = asyncio.create_task(self._listen(), name="board-listen")
            # The first board waits for the listener (briefly), so no commit after it is missed.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._listening.wait(), 5)
        else:
            self._unsubscribe = subscribe_local(bus_key(self.engine), self._heard)
            self._listening.set()

    def _heard(self, notice: Notice | None) -> None:
        self.notices += 1
        for feed in self.feeds.values():
            feed.notify(notice)

    def _on_pg_notice(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._heard(Notice.parse(payload))

    async def _listen(self) -> None:
        """LISTEN on a connection of our own; on a drop, reconnect and refresh every board
        (notices sent while disconnected are lost)."""
        dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self.closed:
            conn: Any = None
            try:
                conn = await asyncpg.connect(dsn)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_pg_notice)
                self._listening.set()
                self._heard(None)  # whatever committed while nobody listened
                await lost.wait()
                log.warning("board: the LISTEN connection dropped; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("board: cannot LISTEN on %s; retrying", CHANNEL, exc_info=True)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))
            await asyncio.sleep(RECONNECT_SECONDS)

    async def close(self) -> None:
        self.closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        for feed in self.feeds.values():
            await feed.close()
