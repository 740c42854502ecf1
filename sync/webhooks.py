"""Platform pushes (webhooks): verified, stored once, answered, then followed by a pull of the order.

Routes (``add_webhook_routes``; ``build_app`` is an app with them plus a periodic sweep):

* ``POST /webhooks/douyin``: 抖店消息推送. The body is a JSON array of ``{"tag", "msg_id", "data"}``
  where ``data`` is a JSON string holding ``shop_id``, ``p_id`` (the shop order) and the event's
  fields (op.jinritemai.com/docs/message-docs/30/*; tags as in the public SDK zsmhub/doudian-sdk
  ``message/``). Verified with :func:`connectors.signing.douyin.verify_push` (headers ``app-id``,
  ``event-sign``, ``sign-method``) over the raw bytes before anything is parsed. Douyin wants
  ``{"code": 0, "msg": "success"}`` and redelivers anything else, so that answer is given only
  once the events are committed.
* ``POST /webhooks/taobao``: a TOP message-service (TMC)-like HTTP push [I: TMC itself delivers
  over a long-lived channel; the same messages are POSTed here]. Headers ``x-top-appkey`` and
  ``x-top-sign`` = base64(HMAC-SHA256(app secret, raw body)) [I]; body ``{"messages": [{"id",
  "topic", "user_id", "user_nick", "pub_time", "content"}]}`` where ``content`` is a JSON string
  with ``tid``, ``status``, ``modified``... (see connectors/fakes/push.py, which sends them).
  Taobao and Tmall shops share it. Answer ``{"success": true}`` [I].

``GET /webhooks`` answers ``{"ok": true}`` (a health check, open to anyone: it tells nothing about
the events; operators count them with ``bangfu webhooks status``, i.e. :func:`event_counts`).

A push whose signature does not verify (or whose app key no registered shop uses) is refused
with HTTP 401 in the platform's error shape and nothing is stored. A signed body that does not
parse is answered 400; if the store cannot be written the answer is 503, so the platform redelivers.

Each message is stored once in ``webhook_events`` (unique platform + event key: Douyin
``msg_id``, TMC message ``id``); a replay hits the unique key, is acknowledged and ignored. The
shop is found among the registered shops by (platform, app key, platform shop id) through their
stored credentials. Messages about orders and after-sales are then followed by
:meth:`SyncEngine.refresh_orders` for the named orders, and after-sale messages by
:meth:`SyncEngine.refresh_refunds` for the refund they name (Douyin ``aftersale_id``, Taobao
``refund_id``; a platform without a refund detail call waits for the refunds stream), in a
background task after the answer (a burst is coalesced into one pull per shop). The pull
fetches the *current* state and the never-backwards upserts keep whatever is newer, so a
duplicated, out-of-order or missed push costs nothing: the periodic sync still runs and covers
whatever no push announced.

Event statuses: ``received`` -> ``processing`` (claimed: ``processed_at`` is the claim time)
-> ``done`` | ``failed`` (``error`` says why; retried by :func:`process_pending`, which the sweep
calls); ``ignored`` (nothing to pull: not about an order, or no registered shop); ``abandoned``
(failed for longer than the give-up age: the periodic sync has covered it since). A claim is an
``UPDATE ... WHERE status IN (...)``, so the live worker and a sweep never process one event
twice; a claim left behind by a crashed process is taken over once stale.

The messages themselves (parsing, keys, the TMC signature) are pure values in
:mod:`sync.webhook_messages`, re-exported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import traceback
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import orjson
from aiohttp import web
from sqlalchemy import ColumnElement, Table, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.clock import Clock
from bangfu.enums import PlatformKind, SyncStream
from bangfu.errors import UserError
from bangfu.models import QuarantinedRecord, Shop, WebhookEvent
from bangfu.secrets import SecretStore
from connectors.signing import douyin as douyin_signing
from sync.engine import SyncEngine
from sync.webhook_messages import TMC_APP_KEY_HEADER
from sync.webhook_messages import IncomingEvent as IncomingEvent
from sync.webhook_messages import parse_douyin as parse_douyin
from sync.webhook_messages import parse_taobao as parse_taobao
from sync.webhook_messages import tmc_sign as tmc_sign
from sync.webhook_messages import verify_tmc as verify_tmc

log = logging.getLogger(__name__)

EVENTS: Table = WebhookEvent.__table__  # type: ignore[assignment]

MAX_BODY = 2 * 1024 * 1024
CLAIM_CHUNK = 500
# Bind parameters per statement: asyncpg refuses more than 32,767 (a protocol limit); SQLite's
# default since 3.32 is 32,766. Inserts are batched under this.
MAX_BIND_PARAMS = 32_000
STALE_AFTER = timedelta(minutes=10)  # a claim older than this was lost (its process died)

DOUYIN_OK: Final[Mapping[str, Any]] = {"code": 0, "msg": "success"}
TAOBAO_OK: Final[Mapping[str, Any]] = {"success": True}

# Which registered shops answer a route: Taobao and Tmall share the TOP message service.
FAMILIES: Mapping[str, frozenset[PlatformKind]] = {
    "douyin": frozenset({PlatformKind.DOUYIN}),
    "taobao": frozenset({PlatformKind.TAOBAO, PlatformKind.TMALL}),
}


class EventStatus(StrEnum):
    RECEIVED = "received"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    IGNORED = "ignored"
    ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class SweepPolicy:
    """When :func:`process_pending` takes an event up again."""

    grace: timedelta = timedelta(seconds=30)  # a fresh event is the live worker's first
    retry_after: timedelta = timedelta(minutes=1)  # since the last failed attempt
    stale_after: timedelta = STALE_AFTER
    give_up_after: timedelta = timedelta(days=3)  # since received: the periodic sync has it
    limit: int = 500  # events per sweep

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("limit must be positive")
        if min(self.grace, self.retry_after, self.stale_after) < timedelta(0) or self.give_up_after <= timedelta(0):
            raise ValueError("sweep ages must not be negative; give_up_after must be positive")


@dataclass(slots=True)
class ProcessSummary:
    claimed: int = 0
    done: int = 0
    failed: int = 0
    abandoned: int = 0
    pulls: int = 0  # follow-up pulls (one per shop per batch: its orders, then its refunds)

    def add(self, other: ProcessSummary) -> None:
        self.claimed += other.claimed
        self.done += other.done
        self.failed += other.failed
        self.abandoned += other.abandoned
        self.pulls += other.pulls


# --------------------------------------------------------------------------- errors in logs

_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
ERROR_TEXT_MAX = 200


def describe_error(exc: BaseException) -> str:
    """``Class: message`` for logs and the event's ``error``, with no statement, parameter or
    quoted value in it: a SQLAlchemy error's text holds the whole statement and every bound
    parameter (each message's payload), and a driver's message may quote a value. What is left
    is the driver's own first line, quoted values replaced by ``'…'``, cut at 200 characters."""
    orig = getattr(exc, "orig", None) if isinstance(exc, SQLAlchemyError) else None
    source = orig if isinstance(orig, BaseException) else exc
    lines = str(source).strip().splitlines()
    first = lines[0] if lines else ""
    if first.startswith("(") and ")" in first:  # "(sqlite3.IntegrityError) ..." as SQLAlchemy prefixes it
        first = first[first.index(")") + 1 :].strip()
    first = _QUOTED.sub("'…'", first.split("[SQL:")[0].split("[parameters:")[0]).strip()
    if len(first) > ERROR_TEXT_MAX:
        first = first[: ERROR_TEXT_MAX - 1] + "…"
    name = exc.__class__.__name__
    if source is not exc:
        name = f"{name} ({source.__class__.__name__})"
    return f"{name}: {first}" if first else name


def _frames(exc: BaseException) -> str:
    """Where ``exc`` was raised (file, line, function, source line), without its message."""
    return "".join(traceback.format_tb(exc.__traceback__)).rstrip()


# --------------------------------------------------------------------------- shops


@dataclass(slots=True)
class _Directory:
    secrets: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (family, app key) -> secrets
    shops: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (family, app key, shop id) -> id
    loaded_at: float = float("-inf")


class ShopDirectory:
    """Registered, active shops by (family, app key, platform shop id), with their app secrets.

    Credentials come from the secret store (never the database). The lookup is cached for
    ``ttl`` seconds and reloaded early on a miss (at most every ``miss_reload`` seconds), so a
    shop registered while the receiver runs is found within seconds.
    """

    def __init__(
        self, engine: AsyncEngine, secrets: SecretStore, *, ttl: float = 60.0, miss_reload: float = 2.0
    ) -> None:
        self.engine = engine
        self.secret_store = secrets
        self.ttl = ttl
        self.miss_reload = miss_reload
        self._current = _Directory()
        self._lock = asyncio.Lock()

    async def _load(self) -> _Directory:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(Shop.id, Shop.platform, Shop.platform_shop_id, Shop.credentials_ref).where(
                        Shop.active.is_(True), Shop.credentials_ref.is_not(None)
                    )
                )
            ).all()
        loaded = _Directory(loaded_at=time.monotonic())
        for shop_id, platform, platform_shop_id, ref in rows:
            family = next((name for name, kinds in FAMILIES.items() if platform in kinds), None)
            if family is None or ref is None:
                continue
            try:
                stored = self.secret_store.get(ref)
            except UserError:
                continue  # registered without credentials here: its pushes cannot be verified
            app_key, secret = stored.get("app_key"), stored.get("app_secret")
            if not app_key or not secret:
                continue
            loaded.secrets.setdefault((family, app_key), set()).add(secret)
            loaded.shops[(family, app_key, stored.get("shop_id") or platform_shop_id)] = shop_id
        return loaded

    async def _directory(self, *, missed: bool = False) -> _Directory:
        age = time.monotonic() - self._current.loaded_at
        if age > self.ttl or (missed and age > self.miss_reload):
            async with self._lock:
                age = time.monotonic() - self._current.loaded_at
                if age > self.ttl or (missed and age > self.miss_reload):
                    self._current = await self._load()
        return self._current

    async def secrets_for(self, family: str, app_key: str) -> set[str]:
        found = (await self._directory()).secrets.get((family, app_key))
        if found is None:
            found = (await self._directory(missed=True)).secrets.get((family, app_key))
        return set(found or ())

    async def shop_id(self, family: str, app_key: str, platform_shop_id: str | None) -> int | None:
        """Our shop id; without a platform shop id, the app's only shop if it has just one."""
        directory = await self._directory()
        for attempt in (False, True):
            if attempt:
                directory = await self._directory(missed=True)
            if platform_shop_id is not None:
                found = directory.shops.get((family, app_key, platform_shop_id))
                if found is not None:
                    return found
            else:
                ids = [i for (fam, key, _), i in directory.shops.items() if fam == family and key == app_key]
                if len(ids) == 1:
                    return ids[0]
        return None


# --------------------------------------------------------------------------- storing


def _insert(engine: AsyncEngine, table: Table) -> Any:
    return postgresql.insert(table) if engine.dialect.name == "postgresql" else sqlite.insert(table)


def batch_rows(columns: int, limit: int = MAX_BIND_PARAMS) -> int:
    """Rows of ``columns`` values each that one statement can bind under ``limit`` parameters."""
    if columns < 1:
        raise ValueError("columns must be positive")
    return max(1, limit // columns)


async def store_events(
    engine: AsyncEngine,
    platform: str,
    rows: Sequence[tuple[IncomingEvent, int | None, str | None]],
    now: datetime,
) -> list[int]:
    """Insert the events not seen before (in one transaction, committed); return those to process.

    ``rows`` holds each event with its shop id (or None) and, for an event with nothing to pull,
    why (it is stored as ``ignored``). A replay conflicts on (platform, event key) and is skipped.
    The rows go in batches small enough for the driver's bind-parameter limit (asyncpg: 32,767
    per statement), so a push of any size the body limit lets in can be stored.
    """
    values: dict[str, dict[str, Any]] = {}
    for event, shop_id, ignored in rows:
        values.setdefault(
            event.event_key,
            {
                "platform": platform,
                "event_key": event.event_key,
                "kind": event.kind,
                "shop_id": shop_id,
                "platform_order_id": event.platform_order_id,
                "platform_refund_id": event.platform_refund_id,
                "payload": event.payload,
                "received_at": now,
                "processed_at": now if ignored else None,
                "status": EventStatus.IGNORED.value if ignored else EventStatus.RECEIVED.value,
                "error": ignored,
            },
        )
    if not values:
        return []
    pending = list(values.values())
    size = batch_rows(len(pending[0]))
    new: list[int] = []
    async with engine.begin() as conn:
        for start in range(0, len(pending), size):
            stmt = _insert(engine, EVENTS).values(pending[start : start + size])
            stmt = stmt.on_conflict_do_nothing(index_elements=[EVENTS.c.platform, EVENTS.c.event_key]).returning(
                EVENTS.c.id, EVENTS.c.status
            )
            result = await conn.execute(stmt)
            new.extend(int(row.id) for row in result if row.status == EventStatus.RECEIVED.value)
    return sorted(new)


# --------------------------------------------------------------------------- processing


def _claimable(now: datetime, stale_after: timedelta) -> ColumnElement[bool]:
    return or_(
        EVENTS.c.status.in_((EventStatus.RECEIVED.value, EventStatus.FAILED.value)),
        and_(EVENTS.c.status == EventStatus.PROCESSING.value, EVENTS.c.processed_at < now - stale_after),
    )


async def _claim(
    engine: AsyncEngine, event_ids: Sequence[int], now: datetime, stale_after: timedelta
) -> list[tuple[int, int | None, str | None, str | None]]:
    claimed: list[tuple[int, int | None, str | None, str | None]] = []
    ids = sorted(set(event_ids))
    for start in range(0, len(ids), CLAIM_CHUNK):
        chunk = ids[start : start + CLAIM_CHUNK]
        stmt = (
            update(EVENTS)
            .where(EVENTS.c.id.in_(chunk), _claimable(now, stale_after))
            .values(status=EventStatus.PROCESSING.value, processed_at=now)
            .returning(EVENTS.c.id, EVENTS.c.shop_id, EVENTS.c.platform_order_id, EVENTS.c.platform_refund_id)
        )
        async with engine.begin() as conn:
            claimed.extend(
                (int(r.id), r.shop_id, r.platform_order_id, r.platform_refund_id) for r in await conn.execute(stmt)
            )
    return claimed


async def _finish(
    engine: AsyncEngine, event_ids: Sequence[int], status: EventStatus, now: datetime, error: str | None = None
) -> None:
    if not event_ids:
        return
    async with engine.begin() as conn:
        await conn.execute(
            update(EVENTS)
            .where(EVENTS.c.id.in_(list(event_ids)), EVENTS.c.status == EventStatus.PROCESSING.value)
            .values(status=status.value, processed_at=now, error=error)
        )


async def _still_quarantined(engine: AsyncEngine, shop_id: int, stream: SyncStream, ids: Sequence[str]) -> set[str]:
    async with engine.connect() as conn:
        found = await conn.scalars(
            select(QuarantinedRecord.platform_id).where(
                QuarantinedRecord.shop_id == shop_id,
                QuarantinedRecord.stream == stream,
                QuarantinedRecord.resolved_at.is_(None),
                QuarantinedRecord.platform_id.in_(list(ids)),
            )
        )
        return {value for value in found if value is not None}


async def _process_shop(
    engine: AsyncEngine, sync: SyncEngine, shop: Shop, events: Sequence[tuple[int, str, str | None]], clock: Clock
) -> ProcessSummary:
    summary = ProcessSummary(pulls=1)
    order_ids = list(dict.fromkeys(order_id for _, order_id, _ in events))
    refund_ids = list(dict.fromkeys(refund_id for _, _, refund_id in events if refund_id is not None))
    ids = [event_id for event_id, _, _ in events]
    try:
        outcome = await sync.refresh_orders(shop, order_ids)
        refunds = await sync.refresh_refunds(shop, refund_ids) if refund_ids else None
    except Exception as exc:  # noqa: BLE001  # any failure leaves the events for the sweep, never kills the worker
        error = describe_error(exc)
        log.warning("webhook follow-up pull of %d events for shop %s failed: %s", len(ids), shop.id, error)
        await _finish(engine, ids, EventStatus.FAILED, clock(), error)
        summary.failed = len(ids)
        return summary
    held = (
        await _still_quarantined(engine, shop.id, SyncStream.ORDERS, order_ids) if outcome.rows.quarantined else set()
    )
    if refunds is not None and refunds.rows.quarantined:
        held_refunds = await _still_quarantined(engine, shop.id, SyncStream.REFUNDS, refund_ids)
    else:
        held_refunds = set()
    failed = [event_id for event_id, order_id, refund_id in events if order_id in held or refund_id in held_refunds]
    done = sorted(set(ids) - set(failed))
    now = clock()
    await _finish(engine, done, EventStatus.DONE, now)
    await _finish(engine, failed, EventStatus.FAILED, now, "the order or its refund did not parse and is quarantined")
    summary.done, summary.failed = len(done), len(failed)
    return summary


async def process_events(
    engine: AsyncEngine,
    sync: SyncEngine,
    event_ids: Sequence[int],
    *,
    clock: Clock | None = None,
    stale_after: timedelta = STALE_AFTER,
) -> ProcessSummary:
    """Claim these events and pull their orders, then the refunds after-sale messages name: one
    ``refresh_orders`` (and ``refresh_refunds``) per shop, shops concurrently."""
    clock = clock or sync.clock
    summary = ProcessSummary()
    claimed = await _claim(engine, event_ids, clock(), stale_after)
    summary.claimed = len(claimed)
    by_shop: dict[int, list[tuple[int, str, str | None]]] = {}
    orphans: list[int] = []
    for event_id, shop_id, order_id, refund_id in claimed:
        if shop_id is None or order_id is None:
            orphans.append(event_id)  # stored as ignored, so only a hand-edited row gets here
        else:
            by_shop.setdefault(shop_id, []).append((event_id, order_id, refund_id))
    await _finish(engine, orphans, EventStatus.IGNORED, clock(), "no shop or order to pull")
    if not by_shop:
        return summary
    shops = {shop.id: shop for shop in await sync.shops(sorted(by_shop))}
    results = await asyncio.gather(
        *(_process_shop(engine, sync, shops[shop_id], events, clock) for shop_id, events in by_shop.items())
    )
    for result in results:
        summary.add(result)
    return summary


async def process_pending(
    engine: AsyncEngine,
    sync: SyncEngine,
    *,
    policy: SweepPolicy = SweepPolicy(),
    clock: Clock | None = None,
) -> ProcessSummary:
    """One sweep: give up on events too old to matter, then retry failed, lost and late ones."""
    clock = clock or sync.clock
    now = clock()
    async with engine.begin() as conn:
        gave_up = await conn.execute(
            update(EVENTS)
            .where(
                EVENTS.c.status.in_(
                    (EventStatus.RECEIVED.value, EventStatus.FAILED.value, EventStatus.PROCESSING.value)
                ),
                EVENTS.c.received_at < now - policy.give_up_after,
            )
            .values(status=EventStatus.ABANDONED.value, processed_at=now)
        )
        due = or_(
            and_(EVENTS.c.status == EventStatus.RECEIVED.value, EVENTS.c.received_at <= now - policy.grace),
            and_(EVENTS.c.status == EventStatus.FAILED.value, EVENTS.c.processed_at <= now - policy.retry_after),
            and_(EVENTS.c.status == EventStatus.PROCESSING.value, EVENTS.c.processed_at < now - policy.stale_after),
        )
        ids = list(await conn.scalars(select(EVENTS.c.id).where(due).order_by(EVENTS.c.id).limit(policy.limit)))
    summary = await process_events(engine, sync, ids, clock=clock, stale_after=policy.stale_after)
    summary.abandoned = gave_up.rowcount or 0
    return summary


async def event_counts(engine: AsyncEngine) -> dict[str, int]:
    """Events by status (``bangfu webhooks status``; never served over HTTP)."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(EVENTS.c.status, func.count()).group_by(EVENTS.c.status))
        return {str(status): int(count) for status, count in rows}


# --------------------------------------------------------------------------- the receiver


def _compact(value: Any) -> str:
    return orjson.dumps(value).decode()


class WebhookReceiver:
    """The HTTP handlers and the background worker that follows stored events up.

    Handlers store and answer; the worker takes the stored event ids, waits ``debounce``
    seconds so a burst is coalesced into one pull per shop, and processes them. ``idle()``
    waits until everything handed to the worker is processed; ``close()`` lets the worker
    finish what it has and stops it (the app calls it on shutdown).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        sync: SyncEngine,
        *,
        directory: ShopDirectory | None = None,
        clock: Clock | None = None,
        debounce: float = 0.05,
    ) -> None:
        self.engine = engine
        self.sync = sync
        self.directory = directory or ShopDirectory(engine, sync.secrets)
        self.clock = clock or sync.clock
        self.debounce = debounce
        self.processed = ProcessSummary()
        self._pending: set[int] = set()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._worker: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------- handlers
    async def douyin(self, request: web.Request) -> web.Response:
        def refuse(status: int, message: str) -> web.Response:
            return web.json_response({"code": 1, "msg": message}, status=status)

        body = await request.read()
        app_key = request.headers.get(douyin_signing.PUSH_APP_ID_HEADER, "").strip()
        secrets = await self.directory.secrets_for("douyin", app_key) if app_key else set()
        if not any(douyin_signing.verify_push(request.headers, body, app_key=app_key, secret=s) for s in secrets):
            return refuse(401, "invalid event-sign")
        try:
            events = parse_douyin(body)
        except ValueError as exc:
            return refuse(400, f"bad message body: {exc}")
        if not await self._accept("douyin", app_key, events):
            return refuse(503, "fail")  # not stored: Douyin redelivers
        return web.json_response(dict(DOUYIN_OK), dumps=_compact)  # byte-for-byte {"code":0,"msg":"success"}

    async def taobao(self, request: web.Request) -> web.Response:
        def refuse(status: int, code: int, message: str) -> web.Response:
            return web.json_response({"error_response": {"code": code, "msg": message}}, status=status)

        body = await request.read()
        app_key = request.headers.get(TMC_APP_KEY_HEADER, "").strip()
        secrets = await self.directory.secrets_for("taobao", app_key) if app_key else set()
        if not any(verify_tmc(request.headers, body, app_key=app_key, secret=s) for s in secrets):
            return refuse(401, 25, "Invalid signature")  # TOP's code for a bad sign
        try:
            events = parse_taobao(body)
        except ValueError as exc:
            return refuse(400, 41, f"Invalid arguments: {exc}")
        if not await self._accept("taobao", app_key, events):
            return refuse(503, 15, "Remote service error")
        return web.json_response(dict(TAOBAO_OK), dumps=_compact)

    async def status(self, request: web.Request) -> web.Response:
        """Health only: the receiver is up. No counts: this answer needs no authentication."""
        return web.json_response({"ok": True})

    async def _accept(self, family: str, app_key: str, events: Sequence[IncomingEvent]) -> bool:
        """Resolve shops, store durably, hand new events to the worker; False if storing failed."""
        rows: list[tuple[IncomingEvent, int | None, str | None]] = []
        for event in events:
            shop_id = await self.directory.shop_id(family, app_key, event.platform_shop_id)
            ignored = None
            if event.platform_order_id is None:
                ignored = "not about an order"
            elif shop_id is None:
                ignored = f"no registered shop {event.platform_shop_id} for app {app_key}"
            rows.append((event, shop_id, ignored))
        try:
            new_ids = await store_events(self.engine, family, rows, self.clock())
        except (SQLAlchemyError, OSError) as exc:
            # Never the exception itself: its text holds every message of the push.
            log.error("cannot store a %s push of %d messages: %s", family, len(rows), describe_error(exc))
            return False
        self.enqueue(new_ids)
        return True

    # ----------------------------------------------------------------- the worker
    def enqueue(self, event_ids: Sequence[int]) -> None:
        """Hand stored events to the worker (started on first use)."""
        if not event_ids or self._closing:
            return  # once closing, the sweep picks them up
        self._pending.update(event_ids)
        self._idle.clear()
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run(), name="bangfu-webhook-worker")

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self.debounce > 0 and not self._closing:
                await asyncio.sleep(self.debounce)
            ids = sorted(self._pending)
            self._pending.clear()
            if ids:
                try:
                    self.processed.add(await process_events(self.engine, self.sync, ids, clock=self.clock))
                except Exception as exc:  # noqa: BLE001  # the events stay claimable; the sweep retries them
                    log.error(
                        "processing %d webhook events failed: %s\n%s", len(ids), describe_error(exc), _frames(exc)
                    )
            if not self._pending:
                self._idle.set()
                if self._closing:
                    return

    async def idle(self) -> None:
        """Wait until every event handed to the worker has been processed."""
        await self._idle.wait()

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._worker is not None:
            await self._worker

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.close()


RECEIVER: Final = web.AppKey("bangfu_webhook_receiver", WebhookReceiver)


def add_webhook_routes(
    app: web.Application,
    engine: AsyncEngine,
    sync: SyncEngine,
    *,
    directory: ShopDirectory | None = None,
    debounce: float = 0.05,
) -> WebhookReceiver:
    """Add ``POST /webhooks/douyin``, ``POST /webhooks/taobao`` and ``GET /webhooks`` to ``app``.

    The receiver is kept as ``app[RECEIVER]``; its worker is awaited when the app shuts down.
    """
    receiver = WebhookReceiver(engine, sync, directory=directory, debounce=debounce)
    app[RECEIVER] = receiver
    app.router.add_post("/webhooks/douyin", receiver.douyin)
    app.router.add_post("/webhooks/taobao", receiver.taobao)
    app.router.add_get("/webhooks", receiver.status)
    app.on_shutdown.append(receiver._on_shutdown)
    return receiver


async def sweep_forever(
    engine: AsyncEngine,
    sync: SyncEngine,
    stop: asyncio.Event,
    *,
    interval: float,
    policy: SweepPolicy = SweepPolicy(),
) -> None:
    """Run :func:`process_pending` every ``interval`` seconds until ``stop`` is set."""
    while not stop.is_set():
        try:
            summary = await process_pending(engine, sync, policy=policy)
            if summary.claimed or summary.abandoned:
                log.info("webhook sweep: %s", summary)
        except Exception as exc:  # noqa: BLE001  # a failed sweep is logged and tried again next interval
            log.error("webhook sweep failed: %s\n%s", describe_error(exc), _frames(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def build_app(
    engine: AsyncEngine,
    sync: SyncEngine,
    *,
    sweep_interval: float | None = 60.0,
    sweep_policy: SweepPolicy = SweepPolicy(),
    directory: ShopDirectory | None = None,
) -> web.Application:
    """The webhook receiver as an app, with a periodic sweep of pending events (None: no sweep)."""
    app = web.Application(client_max_size=MAX_BODY)
    add_webhook_routes(app, engine, sync, directory=directory)
    if sweep_interval is not None:
        if sweep_interval <= 0:
            raise ValueError("sweep_interval must be positive")

        async def sweeping(app: web.Application) -> AsyncIterator[None]:
            stop = asyncio.Event()
            task = asyncio.create_task(
                sweep_forever(engine, sync, stop, interval=sweep_interval, policy=sweep_policy),
                name="bangfu-webhook-sweep",
            )
            yield
            stop.set()
            await task

        app.cleanup_ctx.append(sweeping)
    return app
