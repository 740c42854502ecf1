"""Checkpointed incremental pulls: every (shop, stream) from its cursor to now, window by window.

For a windowed stream the range ``[watermark - overlap, now - lag)`` is split into windows no
wider than the connector allows. Records are written in batches (one statement per table per
batch); the last batch of a window is written in the same transaction that moves the cursor to
the window's end, so a crash anywhere loses nothing and redoes at most the windows since the
last commit (consecutive small windows share one commit: see ``SyncPolicy.flush_seconds``).
Upserts are idempotent, so redoing is harmless. A full re-scan starts from the look-back floor but never
moves a cursor backwards.

Windows are read several at once (:mod:`sync.windows`: bounded per stream and per platform app
key, under the connector's rate limiter) and handed over in window order, so the rules above
hold as if they were read one after another; a window that fails stops the windows after it,
and those before it are still committed (the cursor moves over them) before the error
propagates. A shop's streams run concurrently too, each once the streams it needs have ended
(``STARTS_AFTER``).

Each pull is recorded as a sync run (windows, rows new/changed/unchanged, duplicates,
quarantined, errors by class, lag). Shops sync concurrently and independently: one shop's
failure is recorded and never stops the others. An auth failure raises an alert for people, and
so does a (shop, stream) whose last ``SyncPolicy.alert_after`` runs all failed (kind
``sync.failing``, subject the stream; resolved by the stream's next successful run).

A window that never settles (:class:`~connectors.errors.WindowUnstable`, after the connector's
rescans and the base's re-read) does not count as read: the cursor stays before it, the later
windows are still read and stored, and the run ends failed with the platform's message, so the
next run starts again from that window.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bangfu.clock import Clock, utcnow
from bangfu.enums import ErrorClass, PlatformKind, SyncStream
from bangfu.errors import UserError
from bangfu.i18n import t
from bangfu.models import Alert, QuarantinedRecord, Shop, SyncCursor, SyncRun
from bangfu.notify import orders_changed, orders_changed_in
from bangfu.records import Quarantined
from bangfu.secrets import SecretStore, redact, secret_values
from bangfu.upsert import (
    PageResult,
    quarantine,
    resolve_quarantine,
    upsert_live_sessions,
    upsert_orders,
    upsert_products,
    upsert_refunds,
    upsert_settlements,
)
from connectors.base import Connector
from connectors.errors import AuthError, PlatformError, RecordError, UnsupportedStream, WindowUnstable
from connectors.windows import split_windows
from sync.errors import SyncError
from sync.factory import ConnectorFactory
from sync.windows import WindowReader, WindowSlots, window_concurrency

Progress = Callable[["StreamOutcome"], None]

# Orders before refunds (so refunds find their lines), settlements after both.
STREAM_ORDER = (
    SyncStream.PRODUCTS,
    SyncStream.ORDERS,
    SyncStream.REFUNDS,
    SyncStream.LIVE_SESSIONS,
    SyncStream.SETTLEMENTS,
)
# A shop's streams run concurrently, each once the streams named here have ended (where they
# run at all): orders after products (order lines map their SKUs through the listings products
# write), refunds after orders (they link to the order lines), settlements after both. Products
# and live sessions need nothing, so they run from the start.
STARTS_AFTER: Mapping[SyncStream, tuple[SyncStream, ...]] = MappingProxyType(
    {
        SyncStream.ORDERS: (SyncStream.PRODUCTS,),
        SyncStream.REFUNDS: (SyncStream.ORDERS,),
        SyncStream.SETTLEMENTS: (SyncStream.ORDERS, SyncStream.REFUNDS),
    }
)
WINDOWED = frozenset(STREAM_ORDER) - {SyncStream.PRODUCTS}
FATAL_CLASSES = frozenset({ErrorClass.AUTH.value, ErrorClass.BAD_REQUEST.value})


@dataclass(frozen=True, slots=True)
class SyncPolicy:
    overlap: timedelta = timedelta(minutes=10)  # re-read this much before the watermark
    lag: timedelta = timedelta(minutes=1)  # stay this far behind now (platform indexing delay)
    batch_size: int = 1000
    lookback: timedelta = timedelta(days=90)  # how far back a first or full sync reaches
    # Windows are committed together (rows and cursor in one transaction) until the batch is
    # full or this long has passed since the last commit, so sparse windows cost no commit each.
    flush_seconds: float = 2.0
    # A (shop, stream) whose last this many runs all failed raises a ``sync.failing`` alert.
    alert_after: int = 3
    # Windows read at once per stream and per platform app key, at most (the connector's rate
    # may allow fewer: sync.windows.window_concurrency). 1 reads one window after another.
    max_windows_in_flight: int = 8

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be positive")
        if self.alert_after < 1:
            raise ValueError("alert_after must be at least 1")
        if self.max_windows_in_flight < 1:
            raise ValueError("max_windows_in_flight must be at least 1")
        if self.flush_seconds < 0:
            raise ValueError("flush_seconds must not be negative")
        if self.overlap < timedelta(0) or self.lag < timedelta(0) or self.lookback <= timedelta(0):
            raise ValueError("overlap and lag must not be negative; lookback must be positive")


@dataclass(slots=True)
class StreamOutcome:
    shop_id: int
    stream: SyncStream
    windows_total: int = 0
    windows_done: int = 0
    rows: PageResult = field(default_factory=PageResult)
    errors: Counter[str] = field(default_factory=Counter)
    message: str | None = None
    lag_seconds: int | None = None
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


class SyncEngine:
    """Pulls shops' streams into the store. One instance per process; shares one DB engine."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        secrets: SecretStore | None = None,
        policy: SyncPolicy = SyncPolicy(),
        clock: Clock = utcnow,
        connector_factory: Callable[[Shop], Connector] | None = None,
        connector_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.engine = engine
        self.secrets = secrets or SecretStore()
        self.policy = policy
        self.clock = clock
        self._make_connector = ConnectorFactory(
            self.secrets, override=connector_factory, connector_kwargs=connector_kwargs
        )
        # SQLite has one writer at a time: queue our own writers instead of waiting on locks.
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        # (shop, stream) pairs that may have open quarantine entries: only their writes look for
        # entries to resolve (the lookup costs a statement per batch for nothing otherwise).
        self._open_quarantine: set[tuple[int, SyncStream]] = set()
        # shop id -> (credentials ref, latest connector): whose secrets and tokens to redact
        self._credentials: dict[int, tuple[str | None, Connector | None]] = {}
        # Windows being read at once per platform app key, over all its shops and streams.
        self._window_slots = WindowSlots()
        # Streams run concurrently: one shop's ``sync.auth`` alert is looked up and opened at a time.
        self._alert_lock = asyncio.Lock()

    # ------------------------------------------------------------------ public
    async def shops(self, shop_ids: Sequence[int] | None = None) -> list[Shop]:
        """The shops to sync: those named (an unknown id is an error), or every active shop with an
        endpoint. Offline shops (no API: their sales are imported) are never among them."""
        async with self.engine.connect() as conn:
            query = select(Shop).where(Shop.active.is_(True), Shop.base_url.is_not(None)).order_by(Shop.id)
            if shop_ids:
                query = select(Shop).where(Shop.id.in_(shop_ids)).order_by(Shop.id)
            rows = await conn.execute(query)
            shops = [Shop(**row._mapping) for row in rows]
        if shop_ids and len(shops) != len(set(shop_ids)):
            missing = sorted(set(shop_ids) - {s.id for s in shops})
            raise SyncError(f"no shop with id {', '.join(map(str, missing))}")
        return [shop for shop in shops if not PlatformKind(shop.platform).is_offline]

    async def sync_all(
        self,
        shop_ids: Sequence[int] | None = None,
        *,
        streams: Sequence[SyncStream] | None = None,
        full: bool = False,
        until_caught_up: bool = False,
        max_passes: int = 20,
        progress: Progress | None = None,
    ) -> dict[int, list[StreamOutcome]]:
        """Sync shops concurrently.

        With ``until_caught_up``, passes repeat (each from the cursors, so cheaply) until a pass
        has no failures and stores nothing new or changed: the hub has converged on the platform.
        """
        shops = await self.shops(shop_ids)
        results: dict[int, list[StreamOutcome]] = {}
        pending = list(shops)
        for attempt in range(max_passes if until_caught_up else 1):
            outcomes = await asyncio.gather(
                *(
                    self.sync_shop(shop, streams=streams, full=full and attempt == 0, progress=progress)
                    for shop in pending
                )
            )
            # Fatal errors (auth, a request we got wrong) do not heal by retrying; a shop goes
            # round again while this pass still stored something new or hit a retriable error.
            again = [
                shop
                for shop, shop_outcomes in zip(pending, outcomes, strict=True)
                if not any(FATAL_CLASSES & set(o.errors) for o in shop_outcomes)
                and any(not o.ok or o.rows.new or o.rows.changed for o in shop_outcomes)
            ]
            for shop, shop_outcomes in zip(pending, outcomes, strict=True):
                results[shop.id] = _merge_passes(results.get(shop.id, []), shop_outcomes)
            pending = again
            if not pending:
                break
        return results

    async def sync_shop(
        self,
        shop: Shop,
        *,
        streams: Sequence[SyncStream] | None = None,
        full: bool = False,
        progress: Progress | None = None,
    ) -> list[StreamOutcome]:
        if PlatformKind(shop.platform).is_offline:
            return []  # no API to pull from: its sales are imported
        try:
            connector = self._connector(shop)
        except Exception as exc:  # noqa: BLE001  # a shop that cannot even be configured is recorded, not fatal
            outcome = StreamOutcome(
                shop.id,
                SyncStream.ORDERS,
                errors=Counter({ErrorClass.AUTH.value: 1}),
                message=f"cannot configure the connector: {exc}",
            )
            await self._record_failure_run(outcome)
            await self._watch_failures(shop, outcome.stream, outcome)
            return [outcome]
        async with connector:
            wanted = [stream for stream in streams or STREAM_ORDER if stream in connector.streams]
            return await self._sync_streams(shop, connector, wanted, full=full, progress=progress)

    async def sync_stream(
        self,
        shop: Shop,
        stream: SyncStream,
        connector: Connector,
        *,
        full: bool = False,
        progress: Progress | None = None,
    ) -> StreamOutcome:
        outcome = StreamOutcome(shop.id, stream)
        run_id = await self._start_run(shop.id, stream)
        try:
            await self._check_open_quarantine(shop.id, stream)
            if stream in (SyncStream.ORDERS, SyncStream.REFUNDS):
                await self._retry_quarantined(shop, stream, connector, outcome)
            if stream in WINDOWED:
                await self._pull_windows(shop, stream, connector, outcome, run_id, full=full, progress=progress)
            else:
                await self._pull_products(shop, connector, outcome, run_id, progress=progress)
        except UnsupportedStream:
            outcome.skipped = True
        except PlatformError as exc:
            outcome.errors[exc.error_class.value] += 1
            outcome.message = f"{exc.__class__.__name__}: {exc}"
            if isinstance(exc, AuthError):
                await self._alert(shop, "sync.auth", f"{shop.name}: {exc}")
        except Exception as exc:
            outcome.errors["internal"] += 1
            outcome.message = f"{exc.__class__.__name__}: {exc}"
            await self._finish_run(run_id, outcome)
            await self._watch_failures(shop, stream, outcome)
            raise
        await self._finish_run(run_id, outcome)
        await self._watch_failures(shop, stream, outcome)
        return outcome

    async def refresh_orders(self, shop: Shop, platform_order_ids: Sequence[str]) -> StreamOutcome:
        """Fetch the named orders by id and store them (a webhook's follow-up pull).

        Idempotent and never backwards like every other write; a missed or out-of-order push
        therefore costs nothing, and the periodic sweep still runs.
        """
        outcome = StreamOutcome(shop.id, SyncStream.ORDERS)
        async with self._connector(shop) as connector:
            records: list[Any] = []
            held: list[Quarantined] = []
            for platform_order_id in dict.fromkeys(platform_order_ids):
                try:
                    records.append(await connector.order_detail(platform_order_id))
                except RecordError as exc:
                    held.append(Quarantined(SyncStream.ORDERS, platform_order_id, str(exc)))
            await self._write(shop, SyncStream.ORDERS, records, held, outcome, resolve=True)
        return outcome

    async def refresh_refunds(self, shop: Shop, platform_refund_ids: Sequence[str]) -> StreamOutcome:
        """Fetch the named refunds (after-sales) by id and store them (a webhook's follow-up pull).

        A platform whose connector has no refund detail call (Taobao's) is skipped: its refunds
        come with the periodic refunds stream, as they did before the push.
        """
        outcome = StreamOutcome(shop.id, SyncStream.REFUNDS)
        async with self._connector(shop) as connector:
            records: list[Any] = []
            held: list[Quarantined] = []
            for platform_refund_id in dict.fromkeys(platform_refund_ids):
                try:
                    records.append(await connector.refund_detail(platform_refund_id))
                except RecordError as exc:
                    held.append(Quarantined(SyncStream.REFUNDS, platform_refund_id, str(exc)))
                except UnsupportedStream:
                    outcome.skipped = True
                    return outcome
            await self._write(shop, SyncStream.REFUNDS, records, held, outcome, resolve=True)
        return outcome

    async def refetch(self, shop: Shop, stream: SyncStream, platform_id: str) -> StreamOutcome:
        """Fetch one order or refund again by id (an operator's re-fetch of a quarantined record)
        and store it like any synced record, closing its open quarantine entries.

        The platform's error propagates and nothing is written: :class:`RecordError` when the
        record still does not parse, :class:`UnsupportedStream` for a stream (or a platform)
        without a fetch by id.
        """
        if stream not in (SyncStream.ORDERS, SyncStream.REFUNDS):
            raise UnsupportedStream(shop.platform.value, f"fetching one {stream.value} record by id")
        outcome = StreamOutcome(shop.id, stream)
        async with self._connector(shop) as connector:
            if stream is SyncStream.ORDERS:
                record: Any = await connector.order_detail(platform_id)
            else:
                record = await connector.refund_detail(platform_id)
            await self._write(shop, stream, [record], [], outcome, resolve=True)
        return outcome

    def redacted(self, shop_id: int, text: str) -> str:
        """``text`` with the shop's secrets and anything credential-shaped replaced (see ``_redact``)."""
        return self._redact(shop_id, text)

    # ------------------------------------------------------------------ streams
    async def _sync_streams(
        self,
        shop: Shop,
        connector: Connector,
        streams: Sequence[SyncStream],
        *,
        full: bool,
        progress: Progress | None,
    ) -> list[StreamOutcome]:
        """The shop's ``streams`` concurrently, each once the streams it needs (``STARTS_AFTER``)
        have ended. After a stream failed on the shop's credentials (or with an internal error)
        no other stream starts: the shop is stopped until someone fixes them; streams already
        running end on their own. Outcomes in the order of ``streams``, none for a stream that
        did not start; an internal error propagates once the running streams have ended."""
        ended = {stream: asyncio.Event() for stream in streams}
        stopped = False

        async def run(stream: SyncStream) -> StreamOutcome | None:
            nonlocal stopped
            try:
                for needed in STARTS_AFTER.get(stream, ()):
                    if needed in ended:
                        await ended[needed].wait()
                if stopped:
                    return None
                outcome = await self.sync_stream(shop, stream, connector, full=full, progress=progress)
                if ErrorClass.AUTH.value in outcome.errors:
                    stopped = True
                return outcome
            except BaseException:
                stopped = True
                raise
            finally:
                ended[stream].set()

        results = await asyncio.gather(*(run(stream) for stream in streams), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [result for result in results if isinstance(result, StreamOutcome)]

    async def _pull_windows(
        self,
        shop: Shop,
        stream: SyncStream,
        connector: Connector,
        outcome: StreamOutcome,
        run_id: int,
        *,
        full: bool,
        progress: Progress | None,
    ) -> None:
        now = self.clock()
        end = now - self.policy.lag
        watermark = await self._watermark(shop.id, stream)
        floor = now - self.policy.lookback
        start = floor if (full or watermark is None) else max(floor, watermark - self.policy.overlap)
        if start >= end:
            outcome.lag_seconds = int((now - (watermark or end)).total_seconds())
            return
        windows = split_windows(start, end, connector.window_for(stream))
        outcome.windows_total = len(windows)
        # Several windows are read at once (sync.windows); their records come back in window
        # order, so everything below sees them as if read one after another.
        limit = window_concurrency(connector.bucket.rate, self.policy.max_windows_in_flight)
        reader = WindowReader(
            windows,
            self._fetcher(stream, connector),
            limit=limit,
            buffer=self.policy.batch_size,
            slots=self._window_slots.get(connector.platform.value, connector.config.app_key, limit),
        )
        batch: list[Any] = []
        held: list[Quarantined] = []
        # Windows read whole whose rows are not all committed yet, and the cursor they reach.
        finished = 0
        mark: datetime | None = None
        flushed_at = time.monotonic()
        # The first window that never settled: the cursor stays before it (later ones are read).
        unstable: WindowUnstable | None = None
        # One write in flight while the next batch is read; writes commit in order, each
        # awaited before the next starts, so a cursor never commits ahead of earlier rows.
        writing: asyncio.Task[None] | None = None

        async def write(
            records: list[Any], quarantined: list[Quarantined], cursor: datetime | None, windows_done: int
        ) -> None:
            await self._write(
                shop, stream, records, quarantined, outcome, cursor=cursor, run_id=run_id if cursor else None
            )
            if cursor is not None:
                outcome.windows_done += windows_done
                outcome.lag_seconds = int((self.clock() - cursor).total_seconds())
                if progress:
                    progress(outcome)

        async def flush() -> None:
            nonlocal batch, held, finished, mark, flushed_at, writing
            if writing is not None:
                await writing
            writing = asyncio.create_task(write(batch, held, mark, finished))
            batch, held, finished, mark = [], [], 0, None
            flushed_at = time.monotonic()

        try:
            async for chunk in reader.chunks():
                for record in chunk.items:
                    if isinstance(record, Quarantined):
                        held.append(record)
                    else:
                        batch.append(record)
                        if len(batch) >= self.policy.batch_size:
                            await flush()  # moves the cursor over the windows before this one, if any
                if not chunk.last:
                    continue
                failure = chunk.window.error
                if isinstance(failure, WindowUnstable):
                    unstable = unstable or failure  # what it yielded is still stored
                elif failure is not None:
                    # The rows read so far commit, with the cursor over the windows before this
                    # one (all read whole: the reader hands windows over in order); the windows
                    # after it were stopped. The read's error is the one that propagates.
                    await flush()
                    raise failure
                if unstable is None:
                    mark = chunk.window.end if watermark is None else max(watermark, chunk.window.end)
                    watermark = mark
                finished += 1
                # Small windows share a transaction: the cursor moves with the last of their rows.
                if chunk.window.number == len(windows) or time.monotonic() - flushed_at >= self.policy.flush_seconds:
                    await flush()
            if writing is not None:
                await writing
            if unstable is not None:
                raise unstable
        finally:
            await reader.close()
            # On a failed read, the write in flight still commits; the read's error propagates.
            if writing is not None and not writing.done():
                with contextlib.suppress(Exception):
                    await writing

    async def _pull_products(
        self, shop: Shop, connector: Connector, outcome: StreamOutcome, run_id: int, *, progress: Progress | None
    ) -> None:
        started = self.clock()
        outcome.windows_total = 1
        batch: list[Any] = []
        held: list[Quarantined] = []
        async for record in connector.products():
            if isinstance(record, Quarantined):
                held.append(record)
            else:
                batch.append(record)
            if len(batch) >= self.policy.batch_size:
                await self._write(shop, SyncStream.PRODUCTS, batch, held, outcome)
                batch, held = [], []
        await self._write(shop, SyncStream.PRODUCTS, batch, held, outcome, cursor=started, run_id=run_id)
        outcome.windows_done = 1
        outcome.lag_seconds = 0
        if progress:
            progress(outcome)

    async def _retry_quarantined(
        self, shop: Shop, stream: SyncStream, connector: Connector, outcome: StreamOutcome
    ) -> None:
        """Records quarantined earlier and never seen whole since: fetch each by id once more."""
        async with self.engine.connect() as conn:
            ids: list[str] = sorted(
                set(
                    await conn.scalars(
                        select(QuarantinedRecord.platform_id).where(
                            QuarantinedRecord.shop_id == shop.id,
                            QuarantinedRecord.stream == stream,
                            QuarantinedRecord.resolved_at.is_(None),
                            QuarantinedRecord.platform_id.is_not(None),
                        )
                    )
                )
            )
        recovered: list[Any] = []
        for platform_id in ids:
            try:
                if stream is SyncStream.ORDERS:
                    recovered.append(await connector.order_detail(platform_id))
                else:
                    recovered.append(await connector.refund_detail(platform_id))
            except RecordError:
                continue  # still malformed: stays in quarantine for an operator
            except AuthError:
                raise
            except PlatformError as exc:
                # Gone or unreachable right now: the entry stays open and is tried again next
                # run; it must never hold up the stream's own pull.
                outcome.message = f"quarantined {platform_id} not re-read: {exc}"
                continue
        if recovered:
            await self._write(shop, stream, recovered, [], outcome)

    def _fetcher(self, stream: SyncStream, connector: Connector) -> Callable[[datetime, datetime], AsyncIterator[Any]]:
        return {
            SyncStream.ORDERS: connector.orders,
            SyncStream.REFUNDS: connector.refunds,
            SyncStream.SETTLEMENTS: connector.settlements,
            SyncStream.LIVE_SESSIONS: connector.live_sessions,
        }[stream]

    # ------------------------------------------------------------------ writes
    async def _write(
        self,
        shop: Shop,
        stream: SyncStream,
        records: Sequence[Any],
        held: Sequence[Quarantined],
        outcome: StreamOutcome,
        *,
        cursor: datetime | None = None,
        run_id: int | None = None,
        resolve: bool | None = None,
    ) -> None:
        """One transaction: the batch's rows, its quarantined records and, if given, the cursor.

        ``resolve``: close quarantine entries of the records written (``None``: where some may
        be open for this shop and stream).
        """
        if not records and not held and cursor is None:
            return
        now = self.clock()
        if resolve is None:
            resolve = (shop.id, stream) in self._open_quarantine
        if self._write_lock is not None:
            async with self._write_lock:
                await self._write_tx(shop, stream, records, held, outcome, cursor, run_id, now, resolve)
        else:
            await self._write_tx(shop, stream, records, held, outcome, cursor, run_id, now, resolve)

    async def _write_tx(
        self,
        shop: Shop,
        stream: SyncStream,
        records: Sequence[Any],
        held: Sequence[Quarantined],
        outcome: StreamOutcome,
        cursor: datetime | None,
        run_id: int | None,
        now: datetime,
        resolve: bool,
    ) -> None:
        async with self.engine.begin() as conn:
            page = await self._upsert(conn, shop, stream, records, now)
            refused = [*held, *page.held]  # the connector's bad records and those the store refused
            if refused:  # their errors may quote the platform
                known = self._known_secrets(shop.id)
                refused = [dataclasses.replace(q, error=redact(q.error, known)) for q in refused]
            page.quarantined = await quarantine(conn, shop.id, refused, now=now)
            if refused:
                self._open_quarantine.add((shop.id, stream))
            if records and (resolve or refused):
                # A record quarantined earlier that has now arrived whole closes its entry.
                stored = [_record_id(stream, r) for r in records]
                kept_back = {q.platform_id for q in page.held}
                await resolve_quarantine(conn, shop.id, stream, [i for i in stored if i not in kept_back], now)
            if cursor is not None:
                await self._set_cursor(conn, shop.id, stream, cursor, now)
            outcome.rows.add(page)
            if run_id is not None:
                await conn.execute(update(SyncRun).where(SyncRun.id == run_id).values(**_run_values(outcome)))
            sales = page.new + page.changed if stream in (SyncStream.ORDERS, SyncStream.REFUNDS) else 0
            # Tell the board: on PostgreSQL with this transaction (delivered as it commits).
            told = sales > 0 and await orders_changed_in(conn, orders=sales) is not None
        if sales and not told:
            await orders_changed(self.engine, orders=sales)  # committed: tell the board

    async def _upsert(
        self, conn: AsyncConnection, shop: Shop, stream: SyncStream, records: Sequence[Any], now: datetime
    ) -> PageResult:
        if not records:
            return PageResult()
        if stream is SyncStream.ORDERS:
            return await upsert_orders(conn, shop.id, records, now=now)
        if stream is SyncStream.REFUNDS:
            return await upsert_refunds(conn, shop.id, records, now=now)
        if stream is SyncStream.SETTLEMENTS:
            return await upsert_settlements(conn, shop.id, records, now=now)
        if stream is SyncStream.LIVE_SESSIONS:
            return await upsert_live_sessions(conn, shop.id, shop.platform.value, records, now=now)
        return await upsert_products(conn, shop.id, records, now=now)

    async def _check_open_quarantine(self, shop_id: int, stream: SyncStream) -> None:
        async with self.engine.connect() as conn:
            found = await conn.scalar(
                select(QuarantinedRecord.id)
                .where(
                    QuarantinedRecord.shop_id == shop_id,
                    QuarantinedRecord.stream == stream,
                    QuarantinedRecord.resolved_at.is_(None),
                )
                .limit(1)
            )
        if found is None:
            self._open_quarantine.discard((shop_id, stream))
        else:
            self._open_quarantine.add((shop_id, stream))

    async def _watermark(self, shop_id: int, stream: SyncStream) -> datetime | None:
        async with self.engine.connect() as conn:
            value: datetime | None = await conn.scalar(
                select(SyncCursor.watermark).where(SyncCursor.shop_id == shop_id, SyncCursor.stream == stream)
            )
        return value

    async def _set_cursor(
        self, conn: AsyncConnection, shop_id: int, stream: SyncStream, watermark: datetime, now: datetime
    ) -> None:
        from bangfu.upsert import _insert

        table: Table = SyncCursor.__table__  # type: ignore[assignment]
        stmt = _insert(conn, table).values(shop_id=shop_id, stream=stream.value, watermark=watermark, updated_at=now)
        # Never backwards: a slower concurrent pull cannot rewind what another stored.
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.shop_id, table.c.stream],
            set_={"watermark": stmt.excluded.watermark, "updated_at": stmt.excluded.updated_at},
            where=(table.c.watermark.is_(None)) | (stmt.excluded.watermark > table.c.watermark),
        )
        await conn.execute(stmt)

    # ------------------------------------------------------------------ bookkeeping
    def _connector(self, shop: Shop) -> Connector:
        self._credentials[shop.id] = (shop.credentials_ref, None)
        connector = self._make_connector(shop)
        self._credentials[shop.id] = (shop.credentials_ref, connector)
        return connector

    def _redact(self, shop_id: int, text: str) -> str:
        """``text`` safe to store: the shop's own secrets and tokens (stored, configured and
        refreshed ones) and anything credential-shaped replaced by ``***``. Every message this
        engine stores (sync runs, alerts, quarantine errors) goes through here, since platform
        error text is stored as the platform wrote it and some gateways echo the request."""
        return redact(text, self._known_secrets(shop_id))

    def _known_secrets(self, shop_id: int) -> list[str | None]:
        ref, connector = self._credentials.get(shop_id, (None, None))
        known: list[str | None] = []
        if ref:
            with contextlib.suppress(UserError):
                known += secret_values(self.secrets.get(ref))
        if connector is not None:
            config, tokens = connector.config, connector.tokens
            known += [config.app_secret, config.access_token, config.refresh_token, *config.extra.values()]
            known += [tokens.access_token, tokens.refresh_token]
        return known

    async def _start_run(self, shop_id: int, stream: SyncStream) -> int:
        async with self.engine.begin() as conn:
            # A run still "running" here was cut off (killed, crashed): its rows and cursor
            # stand as far as they were committed; say so instead of leaving it running.
            await conn.execute(
                update(SyncRun)
                .where(SyncRun.shop_id == shop_id, SyncRun.stream == stream, SyncRun.outcome == "running")
                .values(outcome="interrupted", finished_at=self.clock())
            )
            result = await conn.execute(
                _table(SyncRun)
                .insert()
                .values(shop_id=shop_id, stream=stream.value, started_at=self.clock(), errors={}, outcome="running")
                .returning(_table(SyncRun).c.id)
            )
            return int(result.scalar_one())

    async def _finish_run(self, run_id: int, outcome: StreamOutcome) -> None:
        if outcome.message is not None:
            outcome.message = self._redact(outcome.shop_id, outcome.message)  # also what the CLI prints
        values = _run_values(outcome)
        values.update(
            finished_at=self.clock(),
            outcome="skipped" if outcome.skipped else ("ok" if outcome.ok else "failed"),
            message=outcome.message,
        )
        async with self.engine.begin() as conn:
            await conn.execute(update(SyncRun).where(SyncRun.id == run_id).values(**values))

    async def _record_failure_run(self, outcome: StreamOutcome) -> None:
        run_id = await self._start_run(outcome.shop_id, outcome.stream)
        await self._finish_run(run_id, outcome)

    async def _watch_failures(self, shop: Shop, stream: SyncStream, outcome: StreamOutcome) -> None:
        """Open (or refresh) a ``sync.failing`` alert when the stream's last
        ``policy.alert_after`` runs all failed; a successful run resolves it."""
        if outcome.skipped:
            return
        kind, subject = "sync.failing", stream.value
        async with self.engine.begin() as conn:
            open_alert = await conn.scalar(
                select(Alert.id).where(
                    Alert.shop_id == shop.id, Alert.kind == kind, Alert.subject == subject, Alert.resolved_at.is_(None)
                )
            )
            if outcome.ok:
                if open_alert is not None:
                    await conn.execute(update(Alert).where(Alert.id == open_alert).values(resolved_at=self.clock()))
                return
            recent = list(
                await conn.scalars(
                    select(SyncRun.outcome)
                    .where(
                        SyncRun.shop_id == shop.id,
                        SyncRun.stream == stream,
                        SyncRun.outcome.in_(("ok", "failed")),
                    )
                    .order_by(SyncRun.id.desc())
                    .limit(self.policy.alert_after)
                )
            )
            if len(recent) < self.policy.alert_after or any(o != "failed" for o in recent):
                return
            message = self._redact(
                shop.id,
                t(
                    "alert.sync_failing",
                    shop=shop.name,
                    stream=stream.value,
                    runs=len(recent),
                    error=", ".join(sorted(outcome.errors)),
                    message=outcome.message or "-",
                ),
            )[:2000]
            if open_alert is not None:
                await conn.execute(update(Alert).where(Alert.id == open_alert).values(message=message))
                return
            await conn.execute(
                _table(Alert)
                .insert()
                .values(
                    kind=kind,
                    severity="error",
                    shop_id=shop.id,
                    subject=subject,
                    message=message,
                    created_at=self.clock(),
                )
            )

    async def _alert(self, shop: Shop, kind: str, message: str) -> None:
        message = self._redact(shop.id, message)
        async with self._alert_lock, self.engine.begin() as conn:
            open_alert = await conn.scalar(
                select(Alert.id).where(Alert.shop_id == shop.id, Alert.kind == kind, Alert.resolved_at.is_(None))
            )
            if open_alert is None:
                await conn.execute(
                    _table(Alert)
                    .insert()
                    .values(
                        kind=kind, severity="error", shop_id=shop.id, message=message[:2000], created_at=self.clock()
                    )
                )


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _merge_passes(earlier: list[StreamOutcome], latest: list[StreamOutcome]) -> list[StreamOutcome]:
    """One outcome per stream over all passes: rows and windows add up; errors are the last pass's."""
    before = {o.stream: o for o in earlier}
    merged: list[StreamOutcome] = []
    for outcome in latest:
        previous = before.get(outcome.stream)
        if previous is None:
            merged.append(outcome)
            continue
        rows = PageResult()
        rows.add(previous.rows)
        rows.add(outcome.rows)
        merged.append(
            StreamOutcome(
                outcome.shop_id,
                outcome.stream,
                windows_total=previous.windows_total + outcome.windows_total,
                windows_done=previous.windows_done + outcome.windows_done,
                rows=rows,
                errors=outcome.errors,
                message=outcome.message,
                lag_seconds=outcome.lag_seconds,
                skipped=outcome.skipped,
            )
        )
    return merged


def _run_values(outcome: StreamOutcome) -> dict[str, Any]:
    return {
        "windows_done": outcome.windows_done,
        "rows_new": outcome.rows.new,
        "rows_changed": outcome.rows.changed,
        "rows_unchanged": outcome.rows.unchanged,
        "duplicates_suppressed": outcome.rows.duplicates,
        "quarantined": outcome.rows.quarantined,
        "errors": dict(outcome.errors),
        "lag_seconds": outcome.lag_seconds,
    }


def _record_id(stream: SyncStream, record: Any) -> str:
    if stream is SyncStream.ORDERS:
        return str(record.platform_order_id)
    if stream is SyncStream.REFUNDS:
        return str(record.platform_refund_id)
    if stream is SyncStream.SETTLEMENTS:
        return str(record.platform_bill_id)
    if stream is SyncStream.LIVE_SESSIONS:
        return str(record.room_id)
    return str(record.platform_item_id)
