"""Reading a stream's windows concurrently and handing their records over in window order.

The engine's cursor rules need a stream's records window by window, in order: rows are written
and committed in window order, and the cursor only moves over a contiguous prefix of windows
read whole (see :mod:`sync.engine`). Against a platform that answers in tens of milliseconds,
reading one window after another leaves the platform's allowance mostly unused, so
:class:`WindowReader` reads several windows at once and hands each over, whole and in order, to
the one consumer that writes them.

Three bounds hold at any time:

* per stream, at most ``limit`` windows are started and not yet handed over; the window being
  handed over (the head) keeps at most ``buffer`` records the consumer has not taken, and the
  windows after it at most ``buffer`` between them (then they stop reading until the consumer
  takes records): memory stays bounded by ``2 x buffer`` records plus a page per window;
* per platform app key, at most ``limit`` windows are being read at once over every stream and
  shop of that key (a :class:`WindowSlots` semaphore; a window waiting for its records to be
  taken gives its slot back);
* per request, the connector's rate limiter (:mod:`connectors.ratelimit`), unchanged: however
  many windows are in flight, requests leave at the platform's rate and a ban pauses them all.

``limit`` comes from :func:`window_concurrency`: as many windows as keep the platform's rate
busy while an answer takes :data:`ANSWER_SECONDS` (requests in flight = rate x time per
request), never more than the sync policy's cap. The rate's burst plays no part: it says how
many requests may leave at once, not how many may be waiting for an answer.

A window whose read fails stops the reading after it: windows after it are cancelled and none is
started, while windows before it finish and are handed over first, so the consumer can commit
them (and move the cursor over them) before it raises the failed window's error. A window that
never settles (:class:`~connectors.errors.WindowUnstable`) is not a failure here: its records
and error are handed over in their turn and the windows after it are read on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.errors import WindowUnstable
from connectors.ratelimit import RateLimit

__all__ = [
    "ANSWER_SECONDS",
    "Chunk",
    "Window",
    "WindowReader",
    "WindowSlots",
    "window_concurrency",
]

#: The time one request is planned to take (answer, transfer, the hub's parsing between pages),
#: for sizing how many windows keep the platform's rate busy. Slower answers leave the rate
#: partly unused; faster ones only queue in the rate limiter.
ANSWER_SECONDS = 0.25

Fetch = Callable[[datetime, datetime], AsyncIterator[Any]]


def window_concurrency(rate: RateLimit, cap: int) -> int:
    """Windows to read at once for a connector whose requests are limited to ``rate``, at most ``cap``."""
    if cap < 1:
        raise ValueError(f"cap must be at least 1, got {cap}")
    return max(1, min(cap, math.ceil(rate.per_second * ANSWER_SECONDS)))


class WindowSlots:
    """Semaphores per ``(platform, app_key)``: windows being read at once over all streams and
    shops of one app key. Kept per event loop (a semaphore belongs to the loop it waits in); the
    first size asked for a key wins in that loop, as the first rate does for a rate bucket."""

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], asyncio.Semaphore]]
        self._by_loop = weakref.WeakKeyDictionary()

    def get(self, platform: str, app_key: str, size: int) -> asyncio.Semaphore:
        slots = self._by_loop.setdefault(asyncio.get_running_loop(), {})
        key = (platform, app_key)
        found = slots.get(key)
        if found is None:
            found = slots[key] = asyncio.Semaphore(size)
        return found


@dataclass(eq=False, slots=True)
class Window:
    """One window's read: records not yet handed over, and how it ended."""

    number: int  # 1-based, in window order
    start: datetime
    end: datetime
    items: list[Any] = field(default_factory=list)
    done: bool = False
    error: BaseException | None = None  # a failure, or WindowUnstable; None when read whole
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # items to take, or done
    task: asyncio.Task[None] | None = None
    holding: bool = False  # holds a slot: reading (not waiting for its records to be taken)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Records of ``window`` in the order read; ``last``: the window's read has ended (see
    ``window.error``) and this is its final chunk."""

    window: Window
    items: list[Any]
    last: bool


class WindowReader:
    """Read ``windows`` with ``fetch``, up to ``limit`` at once; :meth:`chunks` in window order.

    Always :meth:`close` it (it cancels whatever is still reading).
    """

    def __init__(
        self,
        windows: Sequence[tuple[datetime, datetime]],
        fetch: Fetch,
        *,
        limit: int,
        buffer: int,
        slots: asyncio.Semaphore | None = None,
    ) -> None:
        if limit < 1 or buffer < 1:
            raise ValueError("limit and buffer must be at least 1")
        self.windows = [Window(number, start, end) for number, (start, end) in enumerate(windows, start=1)]
        self.limit = limit
        self.buffer = buffer
        self._fetch = fetch
        self._slots = slots
        self._room = asyncio.Semaphore(limit)  # windows started and not yet handed over
        self._head = 1  # the window being handed over
        self._took = asyncio.Event()  # the consumer took records or moved on to the next window
        self.held = 0  # records read and not yet taken, over all windows
        self._failed: int | None = None  # the first window (by number) whose read failed
        self._launcher: asyncio.Task[None] | None = None
        # Observed, for tests and benches.
        self.reading = 0  # windows holding a slot (reading) now
        self.max_reading = 0
        self.pending = 0  # windows started and not yet handed over
        self.max_pending = 0

    # ------------------------------------------------------------------ the consumer's side
    async def chunks(self) -> AsyncIterator[Chunk]:
        """Each window's records in window order, as they arrive; a window's last chunk has
        ``last`` set. Stops after the first failed window (its error is on the chunk)."""
        if self._launcher is None:
            self._launcher = asyncio.create_task(self._launch())
        for window in self.windows:
            self._head = window.number
            self._took.set()
            while True:
                await window.ready.wait()
                items, window.items = window.items, []
                window.ready.clear()
                self.held -= len(items)
                self._took.set()
                last = window.done
                yield Chunk(window, items, last)
                if last:
                    break
            self.pending -= 1
            self._room.release()
            if window.error is not None and not isinstance(window.error, WindowUnstable):
                return

    async def close(self) -> None:
        """Cancel the launcher and every window still reading, and wait for them."""
        tasks = [t for t in (self._launcher, *(w.task for w in self.windows)) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ------------------------------------------------------------------ the readers' side
    async def _launch(self) -> None:
        for window in self.windows:
            await self._room.acquire()
            if self._stopped_before(window):
                return
            if self._slots is not None:
                await self._slots.acquire()
            self._hold(window, True)
            if self._stopped_before(window):  # a window failed while we waited for the slot
                self._hold(window, False)
                return
            self.pending += 1
            self.max_pending = max(self.max_pending, self.pending)
            window.task = asyncio.create_task(self._read(window))
            # The read gives its slot back as it ends; a task cancelled before it ran, here.
            window.task.add_done_callback(functools.partial(self._ended, window))

    def _ended(self, window: Window, task: asyncio.Task[None]) -> None:
        self._hold(window, False)

    def _stopped_before(self, window: Window) -> bool:
        return self._failed is not None and window.number > self._failed

    async def _read(self, window: Window) -> None:
        records = self._fetch(window.start, window.end)
        try:
            try:
                async for record in records:
                    window.items.append(record)
                    self.held += 1
                    window.ready.set()
                    if self._full(window):
                        # Give the slot back until the consumer has taken enough records.
                        self._hold(window, False)
                        while self._full(window):
                            self._took.clear()
                            await self._took.wait()
                        if self._slots is not None:
                            await self._slots.acquire()
                        self._hold(window, True)
            finally:
                close = getattr(records, "aclose", None)  # a generator left early (cancelled) closes now
                if close is not None:
                    await close()
        except WindowUnstable as exc:
            window.error = exc  # handed over in its turn; the windows after it read on
        except Exception as exc:  # noqa: BLE001  # any failure is the consumer's to raise, in window order
            window.error = exc
            self._fail(window)
        except asyncio.CancelledError as exc:
            window.error = exc  # stopped, not read whole: never counts as read
            raise
        finally:
            self._hold(window, False)
            window.done = True
            window.ready.set()

    def _full(self, window: Window) -> bool:
        """The head stops at ``buffer`` records of its own, the windows after it at ``buffer``
        records held in all (the head's count with them: it is taken first)."""
        if window.number == self._head:
            return len(window.items) >= self.buffer
        return self.held >= self.buffer

    def _fail(self, window: Window) -> None:
        """Stop reading after ``window``: no window after it starts, those reading are cancelled."""
        if self._failed is not None and self._failed <= window.number:
            return
        self._failed = window.number
        for later in self.windows[window.number :]:
            if later.task is not None and not later.task.done():
                later.task.cancel()

    def _hold(self, window: Window, holding: bool) -> None:
        """Take (``True``) or give back a window's slot; counts the windows reading."""
        if window.holding == holding:
            return
        window.holding = holding
        if holding:
            self.reading += 1
            self.max_reading = max(self.max_reading, self.reading)
        else:
            self.reading -= 1
            if self._slots is not None:
                self._slots.release()
