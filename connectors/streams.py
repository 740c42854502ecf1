"""The streams driver: windows (look-back, split, unstable re-reads), paging, quarantine and
the PIPL scrub, the public streams and the per-stream hooks a platform overrides."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from bangfu.enums import SyncStream
from bangfu.records import (
    LiveSessionRecord,
    OrderRecord,
    ProductRecord,
    Quarantined,
    Raw,
    RefundRecord,
    SettlementLineRecord,
)
from bangfu.scrub import scrubber
from connectors.errors import (
    BadRequestError,
    FatalError,
    PlatformError,
    RecordError,
    RetriableError,
    TransientError,
    UnsupportedStream,
    WindowUnstable,
)
from connectors.request_loop import RequestLoop
from connectors.values import Page, WindowLog
from connectors.windows import ensure_utc, split_windows

R = TypeVar("R")


def _dig(raw: Any, path: str) -> Any:
    value = raw
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


class StreamDriver(RequestLoop):
    """Runs a platform's per-window fetches and parsers as the public streams."""

    #: dotted path of the platform id in a raw record, per stream (for quarantine)
    id_paths: ClassVar[Mapping[SyncStream, str]] = {}

    # ------------------------------------------------------------------ paging and quarantine
    async def paginate(
        self, fetch: Callable[[Any], Awaitable[Page]], first: Any, *, max_pages: int = 100_000
    ) -> AsyncIterator[Raw]:
        """Yield every item of every page, fetching ``fetch(token)`` until ``next is None``.

        A token seen twice would loop forever: that is refused as a transient error (the
        platform's paging state is inconsistent; the window is retried by sync).
        """
        token = first
        seen: set[str] = set()
        for _ in range(max_pages):
            page = await fetch(token)
            self.stats.pages += 1
            for item in page.items:
                yield item
            if page.next is None:
                return
            key = repr(page.next)
            if key in seen or page.next == token:
                raise TransientError(self.platform_name, "paging_loop", f"page token repeated: {key}")
            seen.add(key)
            token = page.next
        raise BadRequestError(self.platform_name, "paging_limit", f"more than {max_pages} pages")

    def record_id(self, stream: SyncStream, raw: Any) -> str | None:
        """The platform id of a raw record (from ``id_paths``), or ``None`` if unknown."""
        path = self.id_paths.get(stream)
        if path is None:
            return None
        value = _dig(raw, path)
        if value is None or isinstance(value, Mapping | list):
            return None
        text = str(value).strip()
        return text or None

    def scrub_raw(self, stream: SyncStream, raw: Raw) -> Raw:
        """``raw`` without its personal fields (PIPL; the table is ``bangfu.scrub.PERSONAL_FIELDS``):
        buyer ids hashed, names, phones and addresses dropped. Applied to every record and
        quarantined payload this class yields, after parsing (which needs the buyer id)."""
        scrub = self._scrubbers.get(stream)
        if scrub is None:
            scrub = self._scrubbers[stream] = scrubber(self.config.platform, stream)
        return scrub(raw)

    def scrubbed(self, stream: SyncStream, record: R) -> R:
        """``record`` with its ``raw`` scrubbed (the same object when nothing changed).

        A record comes here straight from its parser, which builds a fresh one per call that no
        one else holds yet, so a changed ``raw`` is set on it in place instead of copying the
        record (``dataclasses.replace`` ran ``__init__`` and its checks again, per record)."""
        raw = getattr(record, "raw", None)
        if type(raw) is not dict and not isinstance(raw, Mapping):
            return record
        clean = self.scrub_raw(stream, raw)
        if clean is not raw:
            record.raw = clean  # type: ignore[attr-defined]  # every record type has raw
        return record

    def parse_guarded(self, stream: SyncStream, raw: Raw, parse: Callable[[Raw], Iterable[R]]) -> list[R]:
        """``parse(raw)``'s records, scrubbed: the synchronous part of :meth:`guard`, which
        quarantines what it raises (fatal and retriable platform errors excepted).

        What :meth:`scrubbed` does, inline: this runs once per record of every page."""
        records = parse(raw)
        scrub = self._scrubbers.get(stream)
        if scrub is None:
            scrub = self._scrubbers[stream] = scrubber(self.config.platform, stream)
        out: list[R] = []
        for record in records:
            payload = getattr(record, "raw", None)
            if type(payload) is dict or isinstance(payload, Mapping):
                clean = scrub(payload)
                if clean is not payload:
                    record.raw = clean  # type: ignore[attr-defined]  # every record type has raw
            out.append(record)
        return out

    async def guard(
        self,
        stream: SyncStream,
        raw: Raw,
        parse: Callable[[Raw], Iterable[R]],
        *,
        detail: Callable[[str], Awaitable[Raw]] | None = None,
    ) -> AsyncIterator[R | Quarantined]:
        """Parse one raw record; on failure yield ``Quarantined`` and try ``detail`` once.

        Any exception from ``parse`` quarantines the record (parse functions are pure; a bug
        in one shows up as quarantined records with the error, not a dead stream), except
        fatal and retriable platform errors, which propagate. A failed recovery is left
        quarantined: sync re-fetches it on a later run. Records and quarantined payloads come
        out with their personal fields scrubbed (:meth:`scrub_raw`).
        """
        try:
            results = self.parse_guarded(stream, raw, parse)
        except (FatalError, RetriableError):
            raise
        except Exception as exc:  # noqa: BLE001  # any record that does not parse is quarantined, not fatal
            async for item in self._quarantine(stream, raw, exc, parse, detail):
                yield item
            return
        for record in results:
            yield record

    async def _quarantine(
        self,
        stream: SyncStream,
        raw: Raw,
        exc: Exception,
        parse: Callable[[Raw], Iterable[R]],
        detail: Callable[[str], Awaitable[Raw]] | None,
    ) -> AsyncIterator[R | Quarantined]:
        """``raw`` quarantined with ``exc``, then the record ``detail`` gives, if it parses."""
        platform_id = self.record_id(stream, raw)
        self.stats.quarantined += 1
        kept = self.scrub_raw(stream, raw) if isinstance(raw, Mapping) else {"value": raw}
        yield Quarantined(stream, platform_id, _describe(exc), kept)
        if platform_id is None or detail is None:
            return
        try:
            fresh = await detail(platform_id)
            recovered = self.parse_guarded(stream, fresh, parse)
        except UnsupportedStream:
            return  # no detail API: the record stays quarantined
        except FatalError:
            raise
        except Exception:  # noqa: BLE001  # still bad or still failing: stays quarantined, sync retries
            return
        self.stats.recovered += 1
        for record in recovered:
            yield record

    async def _windowed(
        self,
        stream: SyncStream,
        start: datetime,
        end: datetime,
        fetch_window: Callable[[datetime, datetime], AsyncIterator[Raw]],
        parse: Callable[[Raw], Iterable[R]],
        detail: Callable[[str], Awaitable[Raw]] | None,
    ) -> AsyncIterator[R | Quarantined]:
        self._require(stream)
        floor = self.earliest_start(stream)
        if floor is not None and ensure_utc(start, "start") < floor:
            start = floor  # older records are out of the platform's reach: asking is refused
            self.stats.clamped[stream] += 1
        for window_start, window_end in split_windows(start, end, self.window_for(stream)):
            self.stats.windows.append(WindowLog(stream, window_start, window_end))
            for attempt in range(1, self.unstable_retries + 2):
                try:
                    async for raw in fetch_window(window_start, window_end):
                        # guard() inlined: no async generator per record on the path of good ones
                        try:
                            results = self.parse_guarded(stream, raw, parse)
                        except (FatalError, RetriableError):
                            raise
                        except Exception as exc:  # noqa: BLE001  # quarantined, as guard() does
                            async for item in self._quarantine(stream, raw, exc, parse, detail):
                                yield item
                            continue
                        for record in results:
                            yield record
                    break
                except WindowUnstable as exc:
                    # Read it again after a pause (what was yielded is yielded again: upserts
                    # are idempotent); still moving, it propagates and the window stays unread.
                    self.stats.unstable_windows += 1
                    if attempt > self.unstable_retries:
                        raise
                    await self._sleep(self.retry.delay_for(exc, attempt, self._rng))

    # ------------------------------------------------------------------ public streams
    def orders(self, start: datetime, end: datetime) -> AsyncIterator[OrderRecord | Quarantined]:
        """Orders modified in ``[start, end)``, window by window, page by page (the window
        driver's generator itself: no generator of its own to pass each record through)."""
        return self._windowed(
            SyncStream.ORDERS,
            start,
            end,
            self._orders_window,
            lambda raw: (self.parse_order(raw),),
            self._order_detail_raw,
        )

    async def order_detail(self, platform_order_id: str) -> OrderRecord:
        """One order by id; a record that does not parse raises :class:`RecordError`."""
        raw = await self._order_detail_raw(platform_order_id)
        try:
            return self.scrubbed(SyncStream.ORDERS, self.parse_order(raw))
        except PlatformError:
            raise
        except Exception as exc:
            raise RecordError(self.platform_name, "bad_record", _describe(exc)) from exc

    async def refund_detail(self, platform_refund_id: str) -> RefundRecord:
        """One refund by id; a record that does not parse raises :class:`RecordError`."""
        raw = await self._refund_detail_raw(platform_refund_id)
        try:
            return self.scrubbed(SyncStream.REFUNDS, self.parse_refund(raw))
        except PlatformError:
            raise
        except Exception as exc:
            raise RecordError(self.platform_name, "bad_record", _describe(exc)) from exc

    def refunds(self, start: datetime, end: datetime) -> AsyncIterator[RefundRecord | Quarantined]:
        """Refunds / after-sales modified in ``[start, end)``."""
        return self._windowed(
            SyncStream.REFUNDS,
            start,
            end,
            self._refunds_window,
            lambda raw: (self.parse_refund(raw),),
            self._refund_detail_raw,
        )

    async def products(self) -> AsyncIterator[ProductRecord | Quarantined]:
        """Every product (with SKUs) of the shop."""
        self._require(SyncStream.PRODUCTS)
        async for raw in self._products_pages():
            async for item in self.guard(SyncStream.PRODUCTS, raw, lambda r: (self.parse_product(r),)):
                yield item

    async def settlements(self, start: datetime, end: datetime) -> AsyncIterator[SettlementLineRecord | Quarantined]:
        """Settlement-bill lines settled in ``[start, end)``."""
        async for item in self._windowed(
            SyncStream.SETTLEMENTS, start, end, self._settlements_window, self.parse_settlement, None
        ):
            yield item

    async def live_sessions(self, start: datetime, end: datetime) -> AsyncIterator[LiveSessionRecord | Quarantined]:
        """Live sessions started (or modified) in ``[start, end)``, with minutes and explanations."""
        async for item in self._windowed(
            SyncStream.LIVE_SESSIONS,
            start,
            end,
            self._live_sessions_window,
            lambda raw: (self.parse_live_session(raw),),
            None,
        ):
            yield item

    # ------------------------------------------------------------------ hooks: per stream
    def _orders_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        raise self._unsupported(SyncStream.ORDERS.value)

    async def _order_detail_raw(self, platform_order_id: str) -> Raw:
        raise self._unsupported("order_detail")

    def _refunds_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        raise self._unsupported(SyncStream.REFUNDS.value)

    async def _refund_detail_raw(self, platform_refund_id: str) -> Raw:
        raise self._unsupported("refund_detail")

    def _products_pages(self) -> AsyncIterator[Raw]:
        raise self._unsupported(SyncStream.PRODUCTS.value)

    def _settlements_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        raise self._unsupported(SyncStream.SETTLEMENTS.value)

    def _live_sessions_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        raise self._unsupported(SyncStream.LIVE_SESSIONS.value)

    def parse_order(self, raw: Raw) -> OrderRecord:
        raise self._unsupported("parse_order")

    def parse_refund(self, raw: Raw) -> RefundRecord:
        raise self._unsupported("parse_refund")

    def parse_product(self, raw: Raw) -> ProductRecord:
        raise self._unsupported("parse_product")

    def parse_settlement(self, raw: Raw) -> Sequence[SettlementLineRecord]:
        raise self._unsupported("parse_settlement")

    def parse_live_session(self, raw: Raw) -> LiveSessionRecord:
        raise self._unsupported("parse_live_session")


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
