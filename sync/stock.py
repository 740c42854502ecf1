"""Stock: one truth per SKU, shared out to the shops that list it, pushed as deltas, no oversell.

Definitions (all per SKU; the numbers are read in one SQL statement, so from one snapshot):

* **Truth** = ``Σ supply_lots.remaining`` − *units sold and not yet drawn from a lot*. A unit is
  sold when its order line belongs to the SKU (``order_lines.sku_id``, or, where the line has
  none, a listing of the SKU with the line's shop/item/SKU ids), its order has been paid and is
  not ``pending_payment``/``cancelled``/``closed``, and the order was paid at or after the SKU's
  *count time*: the ``created_at`` of its earliest supply lot (when the hub first learned what
  the lots hold; sales before that are taken to be reflected in ``remaining`` already) less
  :attr:`StockPolicy.count_margin` (platform times have one-second resolution and their own
  clocks: a sale near the count is rather counted twice than missed). *Not yet drawn* means
  less what ``lot_allocations`` already drew for that line (net of returns); until lot
  allocation runs, that is every sold unit since the count. Truth is never below 0.

* A **listing** (our SKU on one shop, ``listings.sku_id``) is *taken over* by its first push:
  the hub reads the platform's stock ``p0``, records a ``stock_pushes`` row with delta 0 and
  ``allocated_after = p0`` whose ``created_at`` is the read time plus
  :attr:`StockPolicy.takeover_margin`; the listing's sales count from that moment (orders
  created strictly later: a sale in the read's own second is not counted, the safe side).

* ``listings.allocated_stock`` (**G**) is an *upper bound of every unit the listing may ever
  sell since takeover*, sold or still on the platform. An increase adds to G in the same
  transaction that records its pending push (before it is sent); a decrease is subtracted in
  that transaction too, but until its push is confirmed (``done``) it is added back
  (*unconfirmed*), so G never undercounts. A decrease the platform could only take in part
  (it had already sold more than the hub knew) is clamped at zero stock and G keeps the part
  not taken.

* **Believed platform stock** ``b = G + unconfirmed − sold since takeover`` (never below 0).
  Real stock ``p = G − sold`` ≤ ``b``, because the hub knows at most the sales there were.

**The invariant**: after every push ``Σ b ≤ truth`` over all taken-over listings of the SKU.
Then ``Σ G = Σ b + Σ sold-known-since-takeover ≤ lots``, and as no platform can sell more than
it was given, the units sold across every channel never exceed the lots, however the sales
interleave with syncs and pushes. Sales the hub has not synced yet are in neither truth nor b,
which is why the deltas (not absolute quantities) are what make this hold.

**A push pass** per SKU, under a per-SKU lock (PostgreSQL advisory transaction lock; on SQLite
the single writer lock taken by the first statement) held only while planning and recording:

1. failed pushes are sent again with the same key (a platform that deduplicates makes a replay
   a no-op; elsewhere a *failed* push is one the platform refused, so nothing was applied);
   interrupted ``pending`` ones too where the platform deduplicates, else they become
   ``uncertain``;
2. listings not yet taken over are taken over (their stock is read at the start of the pass,
   one batch per shop);
3. allocation (:func:`bangfu.channel_shares.allocate` over rules and reservations active now, then an
   even split between a shop's listings) gives each listing a target; ``delta = target − b``;
4. decreases are recorded (pending, key ``bf:stock:<listing>:<n>``) and sent first;
5. then, from a fresh snapshot, increases are recorded and sent, capped so ``Σ b ≤ truth``.

Push statuses: ``pending`` → ``done`` | ``failed`` (refused, or unanswered where the platform
deduplicates: retried with the same key) | ``uncertain`` (sent to a platform without
idempotency keys and the answer was lost: it may have applied, so it is never resent; an
increase counts as applied, a decrease as not, so the error is always on the side of selling
less). Listings of inactive shops, and of shops without an API endpoint, keep their believed
stock in the sum but are not pushed. A shop that fails with a transport error is skipped for
the rest of the pass (its listings are ``failed``, retried next pass).

**Settling** (:meth:`StockPusher.settle`, ``bangfu stock settle``, the console's button): an
``uncertain`` push is settled by reading the listing's stock back from the platform. The
verdict (``done``: applied, or ``not_applied``) is the explanation of the read-back that needs
the fewest sales the hub has not synced yet (:func:`explain_read_back`), recorded with who,
when, the stock read and the expectations. The accounting does not rest on the verdict: the
listing is *re-based* like a takeover (a ``delta 0`` row, G = the stock read back, its sales
counted from the read), which is exact because nothing else of the listing is unconfirmed then
(a pending or failed push makes the settlement wait) and the stock read is what the platform
can still sell. Re-basing lowers b to the real stock (a stock raised outside the hub is taken
back by the next pass), so the invariant holds. A push pass follows for the settled SKUs, which
makes good a push that did not apply.

**The one weaker spot**: platforms that only take absolute quantities (JD, the self-built
mall) apply a delta by read-then-set. A sale between the read and the set is overwritten, so
the platform may sell that unit again: an oversell of at most the sales made within one round
trip (see ``Connector.push_stock_delta``). Taobao, Douyin, Kuaishou and Youzan take increments
and refuse to go below zero, so they have no such window.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bangfu.clock import Clock, utcnow
from bangfu.models import Shop
from bangfu.secrets import SecretStore, redact, secret_values
from bangfu.stock_truth import (
    APPLIED,
    COUNT_MARGIN,
    DONE,
    FAILED,
    LISTINGS,
    NOT_APPLIED,
    PENDING,
    PUSHES,
    SETTLE_AT_ONCE,
    SKUS,
    SOLD_STATUSES,
    UNCERTAIN,
    WAITING,
    ListingStock,
    SkuStock,
    explain_read_back,
    load_stock,
    lock_skus,
    plan_targets,
    shares_for,
)
from connectors.base import Connector, StockDeltaResult, StockPushUncertain
from connectors.errors import PlatformError, RetriableError
from sync.factory import ConnectorFactory

__all__ = [
    "SOLD_STATUSES",
    "ListingStock",
    "PushLine",
    "SettleLine",
    "SettleReport",
    "SkuStock",
    "StockPolicy",
    "StockPusher",
    "explain_read_back",
    "load_stock",
    "plan_targets",
    "shares_for",
]


@dataclass(frozen=True, slots=True)
class StockPolicy:
    #: sales within this long after a takeover read are not counted against the listing
    #: (platform and hub clocks may differ); the choice errs on the safe side (fewer units)
    takeover_margin: timedelta = timedelta(seconds=1)
    #: sales paid this long before a SKU's count time still count as sold (see the module doc)
    count_margin: timedelta = COUNT_MARGIN
    #: a pending push older than this was interrupted (the process died while sending it)
    stale_pending: timedelta = timedelta(minutes=10)
    #: an uncertain push younger than this is not settled yet: a request whose answer was lost
    #: may still be on its way and land after the read-back
    settle_after: timedelta = timedelta(minutes=1)

    def __post_init__(self) -> None:
        if (
            self.takeover_margin < timedelta(0)
            or self.count_margin < timedelta(0)
            or self.settle_after < timedelta(0)
            or self.stale_pending <= timedelta(0)
        ):
            raise ValueError("margins must not be negative and stale_pending must be positive")


@dataclass(slots=True)
class PushLine:
    """One listing's part of a push pass (what ``bangfu stock push`` prints)."""

    sku_id: int
    sku_code: str
    truth: int
    shop_id: int
    listing_id: int
    target: int  # its allocation
    believed: int  # before the push
    delta: int = 0  # asked for
    applied: int = 0  # taken by the platform
    stock_after: int | None = None  # the platform's stock after the push
    status: str = "unchanged"  # unchanged|planned|done|failed|uncertain|skipped|capped
    error: str | None = None


@dataclass(slots=True)
class SettleLine:
    """One uncertain push and what settling it found (what ``bangfu stock settle`` prints)."""

    push_id: int
    sku_id: int
    sku_code: str
    shop_id: int
    listing_id: int
    delta: int
    created_at: datetime
    verdict: str  # applied | not_applied (settled) | waiting | failed (still uncertain)
    read_back: int | None = None  # the platform's stock as read back
    expected_applied: int | None = None  # what the platform would hold had the push applied
    expected_not_applied: int | None = None  # ... had it not
    note: str | None = None  # how the verdict was reached, or why there is none
    error_class: str | None = None  # a platform error's class (connectors.errors), when the read failed

    @property
    def settled(self) -> bool:
        return self.verdict in (APPLIED, NOT_APPLIED)


@dataclass(slots=True)
class SettleReport:
    """A settle run: one line per uncertain push looked at, and the push pass that followed."""

    lines: list[SettleLine]
    pushed: list[PushLine]

    @property
    def unsettled(self) -> list[SettleLine]:
        return [line for line in self.lines if not line.settled]


def _settle_note(line: SettleLine, unsynced: int) -> str:
    verdict = "applied" if line.verdict == APPLIED else "not applied"
    note = (
        f"{verdict}: read back {line.read_back}; expected {line.expected_applied} had it applied, "
        f"{line.expected_not_applied} had it not"
    )
    if unsynced > 0:
        note += f"; {unsynced} unit(s) sold and not synced yet would account for the rest"
    elif unsynced < 0:
        note += f"; the platform holds {-unsynced} more than the hub gave it: changed outside the hub"
    return note


# --------------------------------------------------------------------------- pushing


@dataclass(slots=True)
class _Push:
    push_id: int
    key: str
    listing: ListingStock
    delta: int


class StockPusher:
    """Shares each SKU's truth out to its listings and pushes the deltas (see the module doc)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        secrets: SecretStore | None = None,
        policy: StockPolicy = StockPolicy(),
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
        self._pass_lock = asyncio.Lock()

    # ------------------------------------------------------------------ public
    async def skus_in_scope(self, shop_ids: Sequence[int] | None = None) -> list[int]:
        """SKUs listed (mapped) by the shops, or by any shop."""
        query = select(LISTINGS.c.sku_id).distinct().where(LISTINGS.c.sku_id.is_not(None))
        if shop_ids:
            query = query.where(LISTINGS.c.shop_id.in_(list(shop_ids)))
        async with self.engine.connect() as conn:
            return sorted(int(sku_id) for sku_id in await conn.scalars(query))

    async def truth(self, sku_ids: Sequence[int] | None = None) -> dict[int, SkuStock]:
        """The current numbers per SKU (every SKU with a listing when ``sku_ids`` is None)."""
        ids = list(sku_ids) if sku_ids is not None else await self.skus_in_scope()
        async with self.engine.connect() as conn:
            return await load_stock(conn, ids, count_margin=self.policy.count_margin)

    async def push(
        self,
        shop_ids: Sequence[int] | None = None,
        *,
        sku_ids: Sequence[int] | None = None,
        dry_run: bool = False,
    ) -> list[PushLine]:
        """One pass over the SKUs the shops list (all shops when ``shop_ids`` is None).

        Only listings of ``shop_ids`` are pushed, but every listing of a SKU counts toward its
        truth. Only active shops with an API endpoint are pushed. ``dry_run`` plans from the
        store without a read, a write or a platform call (a listing not taken over yet shows
        its last synced platform stock as held).
        """
        ids = list(sku_ids) if sku_ids is not None else await self.skus_in_scope(shop_ids)
        scope = set(shop_ids) if shop_ids else None
        if dry_run:
            return await self._dry_run(ids, scope)
        async with self._pass_lock:
            run = _Pass(scope, await self._shops())
            try:
                await self._takeover_reads(run, ids)
                lines: list[PushLine] = []
                for sku_id in ids:
                    lines.extend(await self._push_sku(run, sku_id))
                return lines
            finally:
                for connector in run.connectors.values():
                    await connector.aclose()

    async def settle(
        self,
        shop_ids: Sequence[int] | None = None,
        *,
        by: str,
        push_ids: Sequence[int] | None = None,
        repush: bool = True,
    ) -> SettleReport:
        """Settle the ``uncertain`` pushes of the shops (all shops when ``shop_ids`` is None; only
        ``push_ids`` when given) by reading each listing's stock back from the platform.

        Per listing: its uncertain pushes are judged applied or not by
        :func:`explain_read_back`, marked ``done`` or ``not_applied`` with ``by``, the time, the
        stock read and how; and the listing is re-based on what the platform holds: G becomes
        the stock read back and its sales count from the read (a ``delta 0`` row, as at the
        takeover), so the accounting is exact whatever the verdict. A listing with a pending or
        failed push, or an uncertain one younger than :attr:`StockPolicy.settle_after`, waits
        (its request may still land); one whose read fails keeps its pushes uncertain, with the
        platform's error and its class. Running it again settles nothing twice. With ``repush``
        the settled SKUs are then pushed to those shops (a push that did not apply is made good).
        """
        async with self._pass_lock:
            run = _Pass(set(shop_ids) if shop_ids else None, await self._shops())
            try:
                lines = await self._settle(run, by, push_ids)
            finally:
                for connector in run.connectors.values():
                    await connector.aclose()
        settled = [line for line in lines if line.settled]
        pushed: list[PushLine] = []
        if repush and settled:
            shops = sorted({line.shop_id for line in settled})
            pushed = await self.push(shops, sku_ids=sorted({line.sku_id for line in settled}))
        return SettleReport(lines, pushed)

    async def uncertain(self, shop_ids: Sequence[int] | None = None) -> list[int]:
        """Ids of the pushes still ``uncertain`` (of the shops, or of every shop)."""
        query = select(PUSHES.c.id).where(PUSHES.c.status == UNCERTAIN).order_by(PUSHES.c.id)
        if shop_ids:
            query = query.where(PUSHES.c.shop_id.in_(list(shop_ids)))
        async with self.engine.connect() as conn:
            return [int(i) for i in await conn.scalars(query)]

    async def _settle(self, run: _Pass, by: str, push_ids: Sequence[int] | None) -> list[SettleLine]:
        query = (
            select(
                PUSHES.c.id,
                PUSHES.c.delta,
                PUSHES.c.created_at,
                LISTINGS.c.id.label("listing_id"),
                LISTINGS.c.shop_id,
                LISTINGS.c.sku_id,
                LISTINGS.c.platform_item_id,
                LISTINGS.c.platform_sku_id,
                SKUS.c.sku_code,
            )
            .join_from(PUSHES, LISTINGS, LISTINGS.c.id == PUSHES.c.listing_id)
            .join(SKUS, SKUS.c.id == LISTINGS.c.sku_id)
            .where(PUSHES.c.status == UNCERTAIN)
            .order_by(LISTINGS.c.id, PUSHES.c.id)
        )
        if run.scope is not None:
            query = query.where(PUSHES.c.shop_id.in_(sorted(run.scope)))
        if push_ids is not None:  # their listings: a listing's uncertain pushes are settled together
            query = query.where(
                LISTINGS.c.id.in_(select(PUSHES.c.listing_id).where(PUSHES.c.id.in_(list(push_ids))).scalar_subquery())
            )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        by_listing: dict[int, list[Any]] = defaultdict(list)
        for row in rows:
            by_listing[row.listing_id].append(row)
        out: list[SettleLine] = []
        for listing_rows in by_listing.values():
            lines = await self._settle_listing(run, by, listing_rows)
            unsettled = [line for line in lines if not line.settled]
            if unsettled:  # the attempt is kept on the push (it stays uncertain), for the console
                when = self.clock().strftime("%Y-%m-%d %H:%M:%S UTC")
                async with self.engine.begin() as conn:
                    for line in unsettled:
                        cls = f" [{line.error_class}]" if line.error_class else ""
                        note = f"{when}, {by}: {line.verdict}{cls}: {line.note}"[:2000]
                        await conn.execute(
                            update(PUSHES)
                            .where(PUSHES.c.id == line.push_id, PUSHES.c.status == UNCERTAIN)
                            .values(settle_note=note)
                        )
            out.extend(lines)
        return out

    async def _settle_listing(self, run: _Pass, by: str, rows: list[Any]) -> list[SettleLine]:
        first = rows[0]
        lines = [
            SettleLine(r.id, r.sku_id, r.sku_code, r.shop_id, r.listing_id, r.delta, r.created_at, WAITING)
            for r in rows
        ]

        def unsettled(verdict: str, note: str, error_class: str | None = None) -> list[SettleLine]:
            for line in lines:
                line.verdict, line.note, line.error_class = verdict, note, error_class
            return lines

        if len(rows) > SETTLE_AT_ONCE:
            return unsettled(
                FAILED,
                f"{len(rows)} uncertain pushes on one listing are more than one read-back can tell apart "
                f"({SETTLE_AT_ONCE} at most): they stay uncertain, counted on the safe side",
            )
        shop = run.shops.get(first.shop_id)
        if shop is None:
            return unsettled(FAILED, "the shop is inactive or has no API endpoint: its stock cannot be read back")
        young = self.clock() - self.policy.settle_after
        if any(r.created_at > young for r in rows):
            wait = int(self.policy.settle_after.total_seconds())
            return unsettled(WAITING, f"sent less than {wait} s ago: its request may still land; settle it later")
        listing_id = first.listing_id
        async with self.engine.connect() as conn:
            blocking = (
                await conn.execute(
                    select(PUSHES.c.id, PUSHES.c.status)
                    .where(PUSHES.c.listing_id == listing_id, PUSHES.c.status.in_((PENDING, FAILED)))
                    .order_by(PUSHES.c.id)
                )
            ).first()
            last = await conn.scalar(select(func.max(PUSHES.c.id)).where(PUSHES.c.listing_id == listing_id))
        if blocking is not None:
            return unsettled(
                WAITING,
                f"push #{blocking.id} of this listing is {blocking.status}: "
                "the next stock push finishes it; settle after that",
            )
        try:
            connector = run.connector(shop, self._make_connector)
            _, stock = await connector.read_stock(first.platform_item_id, first.platform_sku_id or None)
        except PlatformError as exc:
            return unsettled(FAILED, self._redact(shop, f"{type(exc).__name__}: {exc}"), exc.error_class.value)
        except Exception as exc:  # noqa: BLE001  # cannot connect (credentials, configuration), a bug: recorded
            why = f"cannot read the platform's stock: {type(exc).__name__}: {exc}"
            return unsettled(FAILED, self._redact(shop, why))
        read_at = self.clock()

        async with self.engine.begin() as conn:
            await self._lock(conn, first.sku_id)
            now_last = await conn.scalar(select(func.max(PUSHES.c.id)).where(PUSHES.c.listing_id == listing_id))
            still = set(
                await conn.scalars(
                    select(PUSHES.c.id).where(PUSHES.c.listing_id == listing_id, PUSHES.c.status == UNCERTAIN)
                )
            )
            if now_last != last or still != {r.id for r in rows}:
                return unsettled(WAITING, "the listing was pushed or settled while its stock was read; settle again")
            sku = (await load_stock(conn, [first.sku_id], count_margin=self.policy.count_margin))[first.sku_id]
            listing = next(x for x in sku.listings if x.listing_id == listing_id)
            deltas = [int(r.delta) for r in rows]
            applied, unsynced = explain_read_back(deltas, listing.allocated, listing.sold, stock)
            base = listing.allocated - listing.sold - sum(d for d, a in zip(deltas, applied, strict=True) if not a)
            for line, delta, was in zip(lines, deltas, applied, strict=True):
                line.verdict = APPLIED if was else NOT_APPLIED
                line.read_back = stock
                line.expected_applied = base + (0 if was else delta)
                line.expected_not_applied = base - (delta if was else 0)
                line.note = _settle_note(line, unsynced)
                await conn.execute(
                    update(PUSHES)
                    .where(PUSHES.c.id == line.push_id)
                    .values(
                        status=DONE if was else NOT_APPLIED,
                        done_at=read_at if was else None,
                        settled_at=read_at,
                        settled_by=by,
                        settled_stock=stock,
                        settle_note=line.note,
                    )
                )
            seq = await conn.scalar(select(func.count()).where(PUSHES.c.listing_id == listing_id))
            await conn.execute(
                PUSHES.insert().values(
                    idempotency_key=f"bf:stock:{listing_id}:{int(seq or 0)}",
                    shop_id=first.shop_id,
                    listing_id=listing_id,
                    allocated_before=listing.allocated,
                    allocated_after=stock,
                    delta=0,
                    platform_stock_after=stock,
                    status=DONE,
                    created_at=read_at + self.policy.takeover_margin,
                    done_at=read_at,
                    settled_at=read_at,
                    settled_by=by,
                    settled_stock=stock,
                    settle_note="re-based on the stock read back while settling push "
                    + ", ".join(f"#{line.push_id}" for line in lines),
                )
            )
            await conn.execute(update(LISTINGS).where(LISTINGS.c.id == listing_id).values(allocated_stock=stock))
        return lines

    def _redact(self, shop: Shop, text: str) -> str:
        """A platform's message safe to store and show: the shop's secrets and anything
        credential-shaped replaced (some gateways echo the request)."""
        known: list[str] = []
        if shop.credentials_ref:
            with contextlib.suppress(Exception):
                known = secret_values(self.secrets.get(shop.credentials_ref))
        return redact(text, known)[:2000]

    # ------------------------------------------------------------------ one SKU
    async def _push_sku(self, run: _Pass, sku_id: int) -> list[PushLine]:
        failing = await self._retry_unfinished(run, sku_id)
        lines: dict[int, PushLine] = {}

        # Phase 1, one transaction under the SKU lock: takeovers, the plan, and the decreases
        # (or, when nothing has to come back from any listing, the increases straight away).
        async with self.engine.begin() as conn:
            await self._lock(conn, sku_id)
            sku = (await load_stock(conn, [sku_id], count_margin=self.policy.count_margin)).get(sku_id)
            if sku is None:
                return []
            reads: dict[int, tuple[int, datetime]] = {}
            for listing in sku.listings:
                if listing.taken_over or not run.pushable(listing):
                    continue
                read = run.reads.get(listing.listing_id)
                if isinstance(read, tuple):
                    reads[listing.listing_id] = read
                    continue
                failing.add(listing.listing_id)
                line = PushLine(sku_id, sku.sku_code, sku.truth, listing.shop_id, listing.listing_id, 0, 0)
                line.status = FAILED
                line.error = read or run.down.get(listing.shop_id) or "not read: the shop failed earlier in this pass"
                lines[listing.listing_id] = line
            await self._record_takeovers(conn, reads)
            sku, targets = await self._plan(conn, sku_id)
            self._report(lines, sku, targets, run.pushable, failing)
            decreases = [
                (x, targets[x.listing_id] - x.believed)
                for x in sku.listings
                if run.pushable(x) and x.listing_id not in failing and targets[x.listing_id] < x.believed
            ]
            if decreases:
                pushes = await self._record(conn, decreases)
            else:
                pushes = await self._record(conn, self._increases(sku, targets, run.pushable, failing, lines))
        await self._send_all(run, pushes, lines)
        if not decreases:
            return [lines[k] for k in sorted(lines)]

        # Phase 2: the decreases are settled (done, clamped or failed); plan again from a fresh
        # snapshot and give out only what the listings do not hold.
        async with self.engine.begin() as conn:
            await self._lock(conn, sku_id)
            sku, targets = await self._plan(conn, sku_id)
            self._report(lines, sku, targets, run.pushable, failing, keep_pushed=True)
            pushes = await self._record(conn, self._increases(sku, targets, run.pushable, failing, lines))
        await self._send_all(run, pushes, lines)
        return [lines[k] for k in sorted(lines)]

    async def _plan(self, conn: AsyncConnection, sku_id: int) -> tuple[SkuStock, dict[int, int]]:
        sku = (await load_stock(conn, [sku_id], count_margin=self.policy.count_margin))[sku_id]
        active = {x.shop_id for x in sku.listings if x.shop_active}
        shares = await shares_for(conn, sku_id, active, self.clock())
        return sku, plan_targets(sku, shares)

    def _report(
        self,
        lines: dict[int, PushLine],
        sku: SkuStock,
        targets: dict[int, int],
        in_scope: Callable[[ListingStock], bool],
        failing: set[int],
        *,
        keep_pushed: bool = False,
    ) -> None:
        for listing in sku.listings:
            if not in_scope(listing):
                continue
            line = lines.get(listing.listing_id)
            if line is not None and ((keep_pushed and line.status != "unchanged") or line.status == FAILED):
                line.truth, line.target = sku.truth, targets[listing.listing_id]
                continue
            lines[listing.listing_id] = PushLine(
                sku.sku_id,
                sku.sku_code,
                sku.truth,
                listing.shop_id,
                listing.listing_id,
                targets[listing.listing_id],
                listing.believed,
                status="skipped" if listing.listing_id in failing else "unchanged",
            )

    def _increases(
        self,
        sku: SkuStock,
        targets: dict[int, int],
        in_scope: Callable[[ListingStock], bool],
        failing: set[int],
        lines: dict[int, PushLine],
    ) -> list[tuple[ListingStock, int]]:
        """Positive deltas, capped so the listings never hold more than the truth in sum."""
        headroom = sku.truth - sku.held
        out: list[tuple[ListingStock, int]] = []
        for listing in sku.listings:
            want = targets[listing.listing_id] - listing.believed
            if want <= 0 or not in_scope(listing) or listing.listing_id in failing:
                continue
            grant = min(want, max(0, headroom))
            headroom -= grant
            if grant < want:
                lines[listing.listing_id].status = "capped"
                lines[listing.listing_id].error = f"{want - grant} unit(s) held back: other listings hold them"
            if grant:
                out.append((listing, grant))
        return out

    # ------------------------------------------------------------------ recording
    async def _lock(self, conn: AsyncConnection, sku_id: int) -> None:
        """Serialise planning per SKU across processes until the transaction ends (the mall's
        checkouts take the same lock: :func:`bangfu.stock_truth.lock_skus`)."""
        await lock_skus(conn, [sku_id])

    async def _record_takeovers(self, conn: AsyncConnection, reads: dict[int, tuple[int, datetime]]) -> None:
        for listing_id, (stock, read_at) in reads.items():
            taken = await conn.scalar(select(func.count()).where(PUSHES.c.listing_id == listing_id))
            if taken:
                continue  # another pass took it over meanwhile
            row = (
                await conn.execute(
                    select(LISTINGS.c.shop_id, LISTINGS.c.allocated_stock).where(LISTINGS.c.id == listing_id)
                )
            ).one()
            await conn.execute(
                PUSHES.insert().values(
                    idempotency_key=f"bf:stock:{listing_id}:0",
                    shop_id=row.shop_id,
                    listing_id=listing_id,
                    allocated_before=row.allocated_stock,
                    allocated_after=stock,
                    delta=0,
                    platform_stock_after=stock,
                    status=DONE,
                    created_at=read_at + self.policy.takeover_margin,
                    done_at=read_at,
                )
            )
            await conn.execute(update(LISTINGS).where(LISTINGS.c.id == listing_id).values(allocated_stock=stock))

    async def _record(self, conn: AsyncConnection, deltas: Sequence[tuple[ListingStock, int]]) -> list[_Push]:
        """Pending rows and G moved by the deltas, in the caller's transaction."""
        out: list[_Push] = []
        now = self.clock()
        for listing, delta in deltas:
            seq = await conn.scalar(select(func.count()).where(PUSHES.c.listing_id == listing.listing_id))
            key = f"bf:stock:{listing.listing_id}:{int(seq or 0)}"
            push_id = (
                await conn.execute(
                    PUSHES.insert()
                    .values(
                        idempotency_key=key,
                        shop_id=listing.shop_id,
                        listing_id=listing.listing_id,
                        allocated_before=listing.allocated,
                        allocated_after=listing.allocated + delta,
                        delta=delta,
                        status=PENDING,
                        created_at=now,
                    )
                    .returning(PUSHES.c.id)
                )
            ).scalar_one()
            moved = await conn.execute(
                update(LISTINGS)
                .where(LISTINGS.c.id == listing.listing_id, LISTINGS.c.allocated_stock == listing.allocated)
                .values(allocated_stock=listing.allocated + delta)
            )
            if moved.rowcount != 1:  # cannot happen under the SKU lock; refuse rather than guess
                raise RuntimeError(f"listing {listing.listing_id} changed while its push was recorded")
            out.append(_Push(int(push_id), key, listing, delta))
        return out

    async def _finish(self, push: _Push, result: StockDeltaResult | PlatformError) -> tuple[str, str | None]:
        """Mark a push done/failed/uncertain; a clamped decrease gives G back what was not taken."""
        now = self.clock()
        async with self.engine.begin() as conn:
            if isinstance(result, StockDeltaResult):
                values: dict[str, Any] = {
                    "status": DONE,
                    "platform_stock_after": result.stock if result.stock >= 0 else None,
                    "done_at": now,
                    "error": None,
                }
                if result.applied != push.delta:
                    values["allocated_after"] = PUSHES.c.allocated_before + result.applied
                    await conn.execute(
                        update(LISTINGS)
                        .where(LISTINGS.c.id == push.listing.listing_id)
                        .values(allocated_stock=LISTINGS.c.allocated_stock + (result.applied - push.delta))
                    )
                await conn.execute(update(PUSHES).where(PUSHES.c.id == push.push_id).values(**values))
                return DONE, None
            status = UNCERTAIN if isinstance(result, StockPushUncertain) else FAILED
            error = f"{type(result).__name__}: {result}"[:2000]
            await conn.execute(update(PUSHES).where(PUSHES.c.id == push.push_id).values(status=status, error=error))
            return status, error

    # ------------------------------------------------------------------ platform calls
    async def _send_all(self, run: _Pass, pushes: Sequence[_Push], lines: dict[int, PushLine]) -> None:
        async def one(push: _Push) -> None:
            result = await self._send(run, push)
            status, error = await self._finish(push, result)
            line = lines[push.listing.listing_id]
            line.delta += push.delta
            line.status = status if line.status in ("unchanged", "done", "capped") else line.status
            line.error = error or line.error
            if isinstance(result, StockDeltaResult):
                line.applied += result.applied
                line.stock_after = result.stock if result.stock >= 0 else None

        await asyncio.gather(*(one(push) for push in pushes))

    async def _send(self, run: _Pass, push: _Push) -> StockDeltaResult | PlatformError:
        listing = push.listing
        shop = run.shops[listing.shop_id]
        if listing.shop_id in run.down:  # it failed earlier in this pass: do not wait on it again
            return PlatformError(shop.platform.value, "shop_down", run.down[listing.shop_id])
        try:
            connector = run.connector(shop, self._make_connector)
        except Exception as exc:  # noqa: BLE001  # nothing was sent: a plain failure, retried next pass
            run.down[shop.id] = f"cannot connect: {type(exc).__name__}: {exc}"
            return PlatformError(shop.platform.value, "connector", run.down[shop.id])
        try:
            return await connector.push_stock_delta(
                listing.platform_item_id, listing.platform_sku_id or None, push.delta, idempotency_key=push.key
            )
        except (RetriableError, StockPushUncertain) as exc:
            run.down[shop.id] = f"{type(exc).__name__}: {exc}"
            return exc
        except PlatformError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001  # a bug after the write may have been sent: never resend it
            return StockPushUncertain(shop.platform.value, "internal", f"{type(exc).__name__}: {exc}")

    async def _takeover_reads(self, run: _Pass, sku_ids: Sequence[int]) -> None:
        """Read the platform stock of every pushable listing not taken over yet: one batch per
        shop (a single product walk where the platform has no cheap item read)."""
        query = (
            select(LISTINGS.c.id, LISTINGS.c.shop_id, LISTINGS.c.platform_item_id, LISTINGS.c.platform_sku_id)
            .where(
                LISTINGS.c.sku_id.in_(list(sku_ids)),
                LISTINGS.c.shop_id.in_(list(run.shops)),
                ~exists().where(PUSHES.c.listing_id == LISTINGS.c.id),
            )
            .order_by(LISTINGS.c.id)
        )
        async with self.engine.connect() as conn:
            rows = [r for r in (await conn.execute(query)).all() if run.scope is None or r.shop_id in run.scope]
        by_shop: dict[int, list[Any]] = defaultdict(list)
        for row in rows:
            by_shop[row.shop_id].append(row)

        async def one(shop_id: int, wanted: list[Any]) -> None:
            pairs = [(r.platform_item_id, r.platform_sku_id or None) for r in wanted]
            try:
                connector = run.connector(run.shops[shop_id], self._make_connector)
                stocks = await connector.read_stocks(pairs)
            except Exception as exc:  # noqa: BLE001  # one shop that cannot be read never stops the others
                run.down[shop_id] = f"cannot read the platform's stock: {type(exc).__name__}: {exc}"
                return
            read_at = self.clock()
            for row, pair in zip(wanted, pairs, strict=True):
                stock = stocks[pair]
                run.reads[row.id] = (
                    (stock, read_at)
                    if isinstance(stock, int)
                    else f"cannot read the platform's stock: {type(stock).__name__}: {stock}"
                )

        await asyncio.gather(*(one(shop_id, wanted) for shop_id, wanted in by_shop.items()))

    async def _retry_unfinished(self, run: _Pass, sku_id: int) -> set[int]:
        """Send failed pushes (and interrupted pending ones where the platform deduplicates)
        again under the same key; returns the listings whose retry failed again."""
        stale = self.clock() - self.policy.stale_pending
        query = (
            select(
                PUSHES.c.id.label("push_id"),
                PUSHES.c.idempotency_key,
                PUSHES.c.delta,
                PUSHES.c.status,
                LISTINGS.c.id.label("listing_id"),
                LISTINGS.c.shop_id,
                LISTINGS.c.platform_item_id,
                LISTINGS.c.platform_sku_id,
                LISTINGS.c.allocated_stock,
                LISTINGS.c.platform_stock,
            )
            .join_from(PUSHES, LISTINGS, LISTINGS.c.id == PUSHES.c.listing_id)
            .where(
                LISTINGS.c.sku_id == sku_id,
                or_(PUSHES.c.status == FAILED, and_(PUSHES.c.status == PENDING, PUSHES.c.created_at < stale)),
            )
            .order_by(PUSHES.c.id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        failing: set[int] = set()
        for row in rows:
            shop = run.shops.get(row.shop_id)
            if shop is None or (run.scope is not None and row.shop_id not in run.scope):
                continue
            listing = ListingStock(
                row.listing_id,
                row.shop_id,
                row.platform_item_id,
                row.platform_sku_id,
                row.allocated_stock,
                unconfirmed=0,
                sold=0,
                taken_over=True,
                shop_active=True,
                platform_stock=row.platform_stock,
            )
            push = _Push(row.push_id, row.idempotency_key, listing, row.delta)
            if row.status == PENDING:
                try:
                    idempotent = run.connector(shop, self._make_connector).stock_delta_idempotent
                except Exception:  # noqa: BLE001  # no connector: cannot tell, so the push is uncertain
                    idempotent = False
                if not idempotent:
                    interrupted = StockPushUncertain(shop.platform.value, "interrupted", "sent or not: unknown")
                    await self._finish(push, interrupted)
                    continue
            status, _ = await self._finish(push, await self._send(run, push))
            if status != DONE:
                failing.add(listing.listing_id)
        return failing

    # ------------------------------------------------------------------ dry run
    async def _dry_run(self, sku_ids: Sequence[int], scope: set[int] | None) -> list[PushLine]:
        lines: list[PushLine] = []
        async with self.engine.connect() as conn:
            skus = await load_stock(conn, sku_ids, count_margin=self.policy.count_margin)
            for sku_id in sku_ids:
                sku = skus.get(sku_id)
                if sku is None:
                    continue
                for listing in sku.listings:
                    if not listing.taken_over and listing.platform_stock is not None:
                        listing.allocated, listing.taken_over = listing.platform_stock, True
                active = {x.shop_id for x in sku.listings if x.shop_active}
                targets = plan_targets(sku, await shares_for(conn, sku_id, active, self.clock()))
                for listing in sku.listings:
                    if not listing.shop_active or (scope is not None and listing.shop_id not in scope):
                        continue
                    delta = targets[listing.listing_id] - listing.believed
                    lines.append(
                        PushLine(
                            sku.sku_id,
                            sku.sku_code,
                            sku.truth,
                            listing.shop_id,
                            listing.listing_id,
                            targets[listing.listing_id],
                            listing.believed,
                            delta=delta,
                            status="planned" if delta else "unchanged",
                        )
                    )
        return lines

    # ------------------------------------------------------------------ connectors
    async def _shops(self) -> dict[int, Shop]:
        """Shops that can be pushed: active, with an API endpoint."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(Shop).where(Shop.active.is_(True), Shop.base_url.is_not(None)))
            return {row.id: Shop(**row._mapping) for row in rows}


@dataclass(slots=True)
class _Pass:
    """What one push pass keeps: the shops, their connectors, takeover reads, shops that failed."""

    scope: set[int] | None
    shops: dict[int, Shop]
    connectors: dict[int, Connector] = field(default_factory=dict)
    reads: dict[int, tuple[int, datetime] | str] = field(default_factory=dict)  # listing -> read or error
    down: dict[int, str] = field(default_factory=dict)  # shop -> why it is skipped for the rest

    def pushable(self, listing: ListingStock) -> bool:
        return (
            listing.shop_active
            and listing.shop_id in self.shops
            and (self.scope is None or listing.shop_id in self.scope)
        )

    def connector(self, shop: Shop, make: Callable[[Shop], Connector]) -> Connector:
        connector = self.connectors.get(shop.id)
        if connector is None:
            connector = self.connectors[shop.id] = make(shop)
        return connector
