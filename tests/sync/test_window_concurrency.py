"""Windows read concurrently (sync.windows) and streams run concurrently (SyncEngine), with the
cursor rules of one-after-another reads: rows handed over and committed in window order, the
cursor only over a contiguous prefix of windows read whole, the bounds on windows in flight,
slots per app key and the connector's request rate kept."""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

import sync.engine as engine_module
from bangfu.enums import SyncStream
from bangfu.models import Order, SyncCursor, SyncRun
from bangfu.records import OrderRecord, Quarantined
from bangfu.secrets import SecretStore
from bangfu.store import session_factory
from connectors.base import Request
from connectors.douyin import DouyinConnector
from connectors.errors import AuthError, TransientError, WindowUnstable
from connectors.fakes.clock import FakeClock
from connectors.fakes.server import Running, fake_server
from connectors.ratelimit import RateLimit, RateLimiter
from connectors.retry import RetryPolicy
from sync.engine import STARTS_AFTER, STREAM_ORDER, StreamOutcome, SyncEngine, SyncPolicy
from sync.shops import register, shop_config, specs_from_fakes
from sync.windows import Chunk, WindowReader, window_concurrency

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05)
T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _days(count: int) -> list[tuple[datetime, datetime]]:
    return [(T0 + i * DAY, T0 + (i + 1) * DAY) for i in range(count)]


class Probe:
    """A synthetic ``fetch``: per window a number of records and a delay before each page of
    ``page`` records, or an error; counts the fetches running at once."""

    def __init__(self, *, records: int = 3, page: int = 10) -> None:
        self.records: dict[int, int] = {}
        self.delays: dict[int, float] = {}
        self.errors: dict[int, BaseException] = {}
        self.after: dict[int, int] = {}  # window -> records yielded before its error
        self.default_records = records
        self.page = page
        self.running = 0
        self.max_running = 0
        self.started: list[int] = []

    @staticmethod
    def number(start: datetime) -> int:
        return int((start - T0) / DAY) + 1

    async def fetch(self, start: datetime, end: datetime) -> AsyncIterator[tuple[int, int]]:
        number = self.number(start)
        self.started.append(number)
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            count = self.records.get(number, self.default_records)
            error = self.errors.get(number)
            for i in range(count):
                if error is not None and i == self.after.get(number, 0):
                    raise error
                if i % self.page == 0:
                    await asyncio.sleep(self.delays.get(number, 0.001))
                yield number, i
            if error is not None:
                raise error
        finally:
            self.running -= 1


async def _drain(reader: WindowReader, *, pause: float = 0.0) -> list[Chunk]:
    chunks: list[Chunk] = []
    try:
        async for chunk in reader.chunks():
            chunks.append(chunk)
            if pause:
                await asyncio.sleep(pause)
    finally:
        await reader.close()
    return chunks


def _items(chunks: list[Chunk]) -> list[Any]:
    return [item for chunk in chunks for item in chunk.items]


# --------------------------------------------------------------------------- the reader


def test_the_window_concurrency_keeps_the_rate_busy_within_the_cap() -> None:
    # Douyin's 50/s: 13 requests in flight at a quarter second each, capped by the policy.
    assert window_concurrency(RateLimit(per_second=50, burst=25), 8) == 8
    assert window_concurrency(RateLimit(per_second=20, burst=1), 8) == 5
    assert window_concurrency(RateLimit(per_second=2, burst=10), 8) == 1
    assert window_concurrency(RateLimit(per_second=1_000_000, burst=1_000), 3) == 3
    with pytest.raises(ValueError):
        window_concurrency(RateLimit(per_second=50), 0)


async def test_records_come_back_in_window_order_while_later_windows_finish_first() -> None:
    probe = Probe(records=25, page=5)
    for number in range(1, 13):
        probe.delays[number] = 0.002 * (13 - number)  # the later the window, the faster it reads
    reader = WindowReader(_days(12), probe.fetch, limit=4, buffer=1000)
    chunks = await _drain(reader)
    assert _items(chunks) == [(n, i) for n in range(1, 13) for i in range(25)]
    assert [c.window.number for c in chunks if c.last] == list(range(1, 13))
    assert all(c.window.error is None for c in chunks)
    # Four windows were read at once, never more.
    assert probe.max_running == 4 and reader.max_reading == 4 and reader.max_pending == 4


async def test_windows_of_one_app_key_share_its_slots_over_streams() -> None:
    probe = Probe(records=20, page=5)
    slots = asyncio.Semaphore(3)
    readers = [WindowReader(_days(8), probe.fetch, limit=3, buffer=1000, slots=slots) for _ in range(2)]
    both = await asyncio.gather(*(_drain(r) for r in readers))
    for chunks in both:
        assert _items(chunks) == [(n, i) for n in range(1, 9) for i in range(20)]
    assert probe.max_running == 3  # two streams of one key: three windows at once in all
    assert slots._value == 3  # every slot given back


async def test_a_window_whose_records_wait_to_be_taken_holds_a_bounded_buffer_and_no_slot() -> None:
    """Stream A's consumer is busy (its writes wait); its windows stop at ``buffer`` records
    and give their slots back, so stream B of the same app key still reads to the end."""
    probe = Probe(records=40, page=4)
    slots = asyncio.Semaphore(2)
    a = WindowReader(_days(4), probe.fetch, limit=2, buffer=6, slots=slots)
    b = WindowReader(_days(4), probe.fetch, limit=2, buffer=1000, slots=slots)
    a_chunks = a.chunks()
    first = await anext(a_chunks)  # A started; now it is not consumed for a while
    b_items = _items(await asyncio.wait_for(_drain(b), timeout=10))
    assert b_items == [(n, i) for n in range(1, 5) for i in range(40)]
    held = sum(len(w.items) for w in a.windows)
    # The head's buffer, and as much again for the windows after it (one record over at most,
    # each: a window stops right after the record that fills it).
    assert held == a.held and held <= 2 * a.buffer + a.limit, held
    assert a.reading == 0  # A's windows wait with their buffers full, holding no slot
    rest: list[Chunk] = [first]
    try:
        async for chunk in a_chunks:
            rest.append(chunk)
    finally:
        await a.close()
    assert _items(rest) == [(n, i) for n in range(1, 5) for i in range(40)]
    assert slots._value == 2


async def test_an_error_in_a_later_window_hands_over_the_earlier_ones_and_stops_the_rest() -> None:
    """Window 3 fails at once while window 2 is still being read: windows 1 and 2 come out
    whole, then window 3 with its error; nothing after it is handed over, and what was still
    reading is cancelled."""
    probe = Probe(records=10, page=2)
    probe.delays[2] = 0.05
    probe.errors[3] = TransientError("douyin", "boom", "window 3 failed")
    probe.after[3] = 4
    reader = WindowReader(_days(8), probe.fetch, limit=3, buffer=1000)
    chunks = await _drain(reader)
    assert [c.window.number for c in chunks if c.last] == [1, 2, 3]
    assert _items(chunks)[:20] == [(n, i) for n in (1, 2) for i in range(10)]
    assert _items(chunks)[20:] == [(3, i) for i in range(4)]  # what it read before failing
    assert chunks[-1].last and isinstance(chunks[-1].window.error, TransientError)
    assert max(probe.started) <= 3 + reader.limit - 1
    assert probe.running == 0 and all(w.task is None or w.task.done() for w in reader.windows)


async def test_an_unstable_window_is_handed_over_with_its_error_and_the_later_ones_still_read() -> None:
    probe = Probe(records=5, page=5)
    probe.errors[2] = WindowUnstable("youzan", "total kept moving")
    probe.after[2] = 5
    chunks = await _drain(WindowReader(_days(5), probe.fetch, limit=2, buffer=1000))
    assert _items(chunks) == [(n, i) for n in range(1, 6) for i in range(5)]
    errors = {c.window.number: c.window.error for c in chunks if c.last}
    assert isinstance(errors.pop(2), WindowUnstable) and set(errors.values()) == {None}


# --------------------------------------------------------------------------- the engine


class _Recorded(DouyinConnector):
    """Douyin with the send time of every request recorded (after the rate limiter) and
    injected trouble for chosen order windows."""

    sent: ClassVar[list[float]] = []
    slow: ClassVar[dict[datetime, float]] = {}
    failing: ClassVar[set[datetime]] = set()

    def prepare(self, request: Request) -> Request:
        _Recorded.sent.append(time.monotonic())
        return super().prepare(request)

    async def orders(self, start: datetime, end: datetime) -> AsyncIterator[OrderRecord | Quarantined]:
        if start in _Recorded.failing:
            raise TransientError("douyin", "injected", f"window {start} failed")
        async for record in super().orders(start, end):
            yield record
        if start in _Recorded.slow:
            await asyncio.sleep(_Recorded.slow[start])


@pytest.fixture
def recorded() -> Iterator[type[_Recorded]]:
    _Recorded.sent, _Recorded.slow, _Recorded.failing = [], {}, set()
    yield _Recorded


async def _register(engine: AsyncEngine, fake: Running, tmp_path: Path) -> SecretStore:
    lines = tmp_path / "fakes.jsonl"
    lines.write_text(orjson.dumps(fake.describe()).decode() + "\n")
    secrets = SecretStore(tmp_path / "secrets.json")
    async with session_factory(engine)() as session, session.begin():
        await register(session, specs_from_fakes(lines), secrets)
    return secrets


class _Readers:
    """Every WindowReader the engine makes, to read their observed bounds."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.made: list[WindowReader] = []
        made = self.made

        class Reader(WindowReader):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                made.append(self)

        monkeypatch.setattr(engine_module, "WindowReader", Reader)


def _peak(times: list[float], span: float) -> int:
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + span) - i for i, t in enumerate(ordered)), default=0)


async def test_windows_are_read_at_once_within_the_bound_and_the_rate(
    engine: AsyncEngine, tmp_path: Path, recorded: type[_Recorded], monkeypatch: pytest.MonkeyPatch
) -> None:
    readers = _Readers(monkeypatch)
    clock = FakeClock()
    async with fake_server("douyin", seed=6, orders=1200, days=8, clock=clock, latency_ms=20) as fake:
        now = clock.freeze(clock.now())
        secrets = await _register(engine, fake, tmp_path)
        rate = RateLimit(per_second=20, burst=1)  # requests at least 50 ms apart
        sync = SyncEngine(
            engine,
            secrets=secrets,
            policy=SyncPolicy(lag=timedelta(0), lookback=timedelta(days=9), batch_size=100, max_windows_in_flight=3),
            clock=lambda: now,
            connector_factory=lambda shop: recorded(
                replace(shop_config(shop, secrets), rate_limit=rate),
                retry=FAST_RETRY,
                limiter=RateLimiter(),
                clock=lambda: now,
            ),
        )
        results = await sync.sync_all(streams=[SyncStream.ORDERS, SyncStream.REFUNDS, SyncStream.SETTLEMENTS])
        truth = fake.world.truth()
    outcomes = [o for outs in results.values() for o in outs]
    assert [o.stream for o in outcomes] == [SyncStream.ORDERS, SyncStream.REFUNDS, SyncStream.SETTLEMENTS]
    assert all(o.ok for o in outcomes), outcomes
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Order)) == truth["orders"]
    # Several windows at once (the latency makes it worth it), never more than the bound...
    assert readers.made and max(r.max_reading for r in readers.made) == 3
    assert all(r.max_pending <= 3 for r in readers.made)
    # ... and the requests never faster than the rate: 50 ms apart on average over any ten of
    # them, at most 20 in any second (plus the one the bucket lets through at once). Requests the
    # event loop wakes late (a busy machine, a batch being written) land closer together than
    # the bucket granted them: 200 ms of such slack over ten requests, and three over a second,
    # are allowed. Without the bucket, three windows send as fast as answers come, ten requests
    # in well under 200 ms and far more than 25 a second (this test then fails).
    sent = sorted(recorded.sent)
    assert len(sent) > 30
    assert _peak(sent, 1.0) <= 25
    assert all(b - a >= 9 * 0.05 - 0.2 for a, b in zip(sent, sent[9:], strict=False))


async def test_an_error_in_a_later_window_while_an_earlier_is_in_flight_keeps_the_cursor_after_the_earlier(
    engine: AsyncEngine, tmp_path: Path, recorded: type[_Recorded]
) -> None:
    """Window 3 of the orders is still being read when window 4 fails: window 3 is finished
    and committed, the cursor moves to its end (not beyond), the run fails with window 4's
    error, and no order of a later window is stored."""
    clock = FakeClock()
    async with fake_server("douyin", seed=6, orders=300, days=6, clock=clock) as fake:
        now = clock.freeze(clock.now())
        secrets = await _register(engine, fake, tmp_path)
        start = now - timedelta(days=6)
        windows = [(start + i * DAY, start + (i + 1) * DAY) for i in range(6)]
        recorded.slow[windows[2][0]] = 0.5
        recorded.failing.add(windows[3][0])
        sync = SyncEngine(
            engine,
            secrets=secrets,
            policy=SyncPolicy(lag=timedelta(0), lookback=timedelta(days=6), batch_size=50, max_windows_in_flight=4),
            clock=lambda: now,
            connector_factory=lambda shop: recorded(
                shop_config(shop, secrets), retry=FAST_RETRY, limiter=RateLimiter(), clock=lambda: now
            ),
        )
        results = await sync.sync_all(streams=[SyncStream.ORDERS])
        in_window_3 = {o.order_id for o in fake.world.orders_modified(windows[2][0], windows[2][1])}
    (outcome,) = next(iter(results.values()))
    assert outcome.errors == {"transient": 1} and "injected" in (outcome.message or "")
    assert outcome.windows_done == 3
    async with engine.connect() as conn:
        cursor = await conn.scalar(select(SyncCursor.watermark).where(SyncCursor.stream == SyncStream.ORDERS))
        stored = list(await conn.execute(select(Order.platform_order_id, Order.modified_at)))
        run = (await conn.execute(select(SyncRun.outcome).order_by(SyncRun.id.desc()))).scalar()
    assert cursor is not None and cursor.replace(tzinfo=UTC) == windows[2][1]
    assert run == "failed"
    assert in_window_3 and in_window_3 <= {order_id for order_id, _ in stored}
    # Windows 5 and 6 were stopped: nothing after window 3 was stored.
    assert all(modified.replace(tzinfo=UTC) < windows[3][0] + timedelta(seconds=1) for _, modified in stored)


class _Timed(SyncEngine):
    """Records when each stream's run started and ended."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spans: dict[SyncStream, tuple[float, float]] = {}

    async def sync_stream(self, shop: Any, stream: SyncStream, connector: Any, **kwargs: Any) -> StreamOutcome:
        started = time.monotonic()
        try:
            return await super().sync_stream(shop, stream, connector, **kwargs)
        finally:
            self.spans[stream] = (started, time.monotonic())


async def test_a_shops_streams_run_at_once_each_after_the_streams_it_needs(engine: AsyncEngine, tmp_path: Path) -> None:
    clock = FakeClock()
    async with fake_server("douyin", seed=6, orders=120, days=3, clock=clock, latency_ms=10) as fake:
        now = clock.freeze(clock.now())
        secrets = await _register(engine, fake, tmp_path)
        sync = _Timed(
            engine,
            secrets=secrets,
            policy=SyncPolicy(lag=timedelta(0), lookback=timedelta(days=4)),
            clock=lambda: now,
            connector_kwargs={"retry": FAST_RETRY, "clock": lambda: now, "limiter": RateLimiter()},
        )
        results = await sync.sync_all()
    outcomes = next(iter(results.values()))
    assert [o.stream for o in outcomes] == list(STREAM_ORDER) and all(o.ok for o in outcomes)
    spans = sync.spans
    for stream, needs in STARTS_AFTER.items():
        for needed in needs:
            assert spans[stream][0] >= spans[needed][1], (stream, needed)
    # Live sessions need nothing: they ran while products did.
    assert spans[SyncStream.LIVE_SESSIONS][0] < spans[SyncStream.PRODUCTS][1]


class _NoProducts(DouyinConnector):
    """Credentials refused as soon as the products stream asks (a revoked app, say)."""

    async def products(self) -> AsyncIterator[Any]:
        raise AuthError("douyin", "isv.access-token-no-existed", "access_token不存在")
        yield  # an async generator


async def test_an_auth_failure_stops_the_streams_that_have_not_started(engine: AsyncEngine, tmp_path: Path) -> None:
    clock = FakeClock()
    async with fake_server("douyin", seed=6, orders=40, days=2, clock=clock) as fake:
        now = clock.freeze(clock.now())
        secrets = await _register(engine, fake, tmp_path)
        sync = _Timed(
            engine,
            secrets=secrets,
            policy=SyncPolicy(lag=timedelta(0), lookback=timedelta(days=3)),
            clock=lambda: now,
            connector_factory=lambda shop: _NoProducts(
                shop_config(shop, secrets), retry=FAST_RETRY, limiter=RateLimiter(), clock=lambda: now
            ),
        )
        results = await sync.sync_all()
    outcomes = {o.stream: o for o in next(iter(results.values()))}
    # Products failed on the credentials; orders (and what comes after them) never started;
    # live sessions, which needed nothing, had started with products and ran on.
    assert set(outcomes) == {SyncStream.PRODUCTS, SyncStream.LIVE_SESSIONS}
    assert outcomes[SyncStream.PRODUCTS].errors == {"auth": 1}
    assert set(sync.spans) == {SyncStream.PRODUCTS, SyncStream.LIVE_SESSIONS}
