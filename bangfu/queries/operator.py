"""The e-commerce operator's console (运营): sync health, quarantined records, lines waiting for stock.

One computation per figure, shared by ``/operator``, its JSON and ``bangfu sync status`` (the CLI
calls :func:`sync_health` with the admin's scope), so the console and the terminal never disagree.

- Sync health, per (shop, stream): the cursor (``sync_cursors.watermark``), the lag (now minus
  the cursor), the latest run (``sync_runs``, highest id: windows, new, changed, duplicates,
  quarantined, errors by class and the platform's message, already redacted by the engine), and
  per shop the open alerts and the open quarantine count.
- Quarantine: records that could not be normalised, with their raw payload (scrubbed of personal
  data when stored). An operator marks one handled: ``resolved_at`` and ``resolved_by`` are set,
  and the engine no longer re-reads it. One resolved by a later sync has no ``resolved_by``.
- Waiting for stock: paid lines whose posting status is ``waiting_lots`` and which drew from no
  lot yet, by SKU. Enterprise sales: paid lines of products of enterprise (non-cooperative)
  suppliers; their whole net is credited to the supplier payable ``supplier:<id>``, unsplit.

Only the admin (every shop) and operators (their named shops, or every shop when none is named)
see any of it; for everyone else each function returns None (the web answers 404).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import SupplierKind, SyncStream, UserRole
from bangfu.models import (
    Alert,
    LedgerAccount,
    LineAccounting,
    LotAllocation,
    Order,
    OrderLine,
    Posting,
    Product,
    QuarantinedRecord,
    QuarantineRefetch,
    Shop,
    Sku,
    Supplier,
    SyncCursor,
    SyncRun,
    User,
    is_on_a_platform,
    order_is_paid,
)
from bangfu.models import Journal as JournalRow
from bangfu.scope import Scope

# Streams whose records a connector fetches one at a time by id (order_detail, refund_detail).
REFETCH_STREAMS = frozenset({SyncStream.ORDERS.value, SyncStream.REFUNDS.value})
WAITING_LOTS = "waiting_lots"  # workers.posting.WAITING_LOTS (core cannot import workers)
_STREAM_ORDER = {s: i for i, s in enumerate(SyncStream)}


def operates(scope: Scope) -> bool:
    """Whether the user runs shops at all (the admin and operators)."""
    return scope.role in (UserRole.ADMIN, UserRole.OPERATOR)


def human_lag(seconds: int | None) -> str | None:
    """``45s``, ``12m`` or ``3h``, as ``bangfu sync status`` has always shown it."""
    if seconds is None:
        return None
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


# -- sync health ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSummary:
    id: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str  # ok | failed | running
    windows_done: int
    rows_new: int
    rows_changed: int
    rows_unchanged: int
    duplicates: int
    quarantined: int
    errors: dict[str, int]  # by error class
    message: str | None  # the platform's message, redacted by the engine


@dataclass(frozen=True)
class StreamHealth:
    stream: str
    watermark: datetime | None
    lag_seconds: int | None  # now - watermark
    run: RunSummary | None

    @property
    def lag(self) -> str | None:
        return human_lag(self.lag_seconds)

    @property
    def failed(self) -> bool:
        return self.run is not None and self.run.outcome == "failed"


@dataclass(frozen=True)
class AlertItem:
    id: int
    kind: str
    severity: str
    subject: str | None
    message: str
    created_at: datetime


@dataclass(frozen=True)
class ShopHealth:
    id: int
    name: str
    platform: str
    active: bool
    streams: list[StreamHealth] = field(default_factory=list)
    alerts: list[AlertItem] = field(default_factory=list)
    open_quarantine: int = 0
    # Pulled from a platform's API: False for offline shops (their sales are imported) and the
    # county's own mall (its orders are written by the mall): nothing to sync.
    synced: bool = True

    @property
    def running(self) -> bool:
        return any(s.run is not None and s.run.outcome == "running" for s in self.streams)

    @property
    def failing(self) -> bool:
        return any(s.failed for s in self.streams)


@dataclass(frozen=True)
class SyncHealth:
    shops: list[ShopHealth]
    other_alerts: list[AlertItem]  # open alerts about no shop (the admin only)


def _run(r: Any) -> RunSummary:
    return RunSummary(
        id=int(r.id),
        started_at=r.started_at,
        finished_at=r.finished_at,
        outcome=str(r.outcome),
        windows_done=int(r.windows_done or 0),
        rows_new=int(r.rows_new or 0),
        rows_changed=int(r.rows_changed or 0),
        rows_unchanged=int(r.rows_unchanged or 0),
        duplicates=int(r.duplicates_suppressed or 0),
        quarantined=int(r.quarantined or 0),
        errors={str(k): int(v) for k, v in sorted((r.errors or {}).items())},
        message=r.message,
    )


def _alert(a: Any) -> AlertItem:
    return AlertItem(int(a.id), str(a.kind), str(a.severity), a.subject, str(a.message), a.created_at)


def _aware(value: datetime | None) -> datetime | None:
    from datetime import UTC

    return value if value is None or value.tzinfo is not None else value.replace(tzinfo=UTC)


async def sync_health(
    conn: AsyncConnection, scope: Scope, now: datetime, *, shop_id: int | None = None
) -> SyncHealth | None:
    """Sync health of the shops in scope (or of one shop: None when it is not in scope)."""
    if not operates(scope):
        return None
    shop_where = and_(scope.shops(Shop.id), Shop.id == shop_id if shop_id is not None else literal(True))
    shops = (
        await conn.execute(select(Shop.id, Shop.name, Shop.platform, Shop.active, Shop.base_url).where(shop_where))
    ).all()
    if shop_id is not None and not shops:
        return None
    ids = sorted(int(s.id) for s in shops)
    cursors = {
        (int(r.shop_id), SyncStream(r.stream)): _aware(r.watermark)
        for r in await conn.execute(
            select(SyncCursor.shop_id, SyncCursor.stream, SyncCursor.watermark).where(SyncCursor.shop_id.in_(ids))
        )
    }
    latest = (
        select(func.max(SyncRun.id).label("id"))
        .where(SyncRun.shop_id.in_(ids))
        .group_by(SyncRun.shop_id, SyncRun.stream)
        .subquery()
    )
    runs = {
        (int(r.shop_id), SyncStream(r.stream)): r
        for r in await conn.execute(select(SyncRun).join(latest, latest.c.id == SyncRun.id))
    }
    alerts: dict[int | None, list[AlertItem]] = {}
    alert_where: ColumnElement[bool] = Alert.resolved_at.is_(None)
    alert_where = and_(alert_where, Alert.shop_id.in_(ids) if scope.role != UserRole.ADMIN else literal(True))
    if shop_id is not None:
        alert_where = and_(alert_where, Alert.shop_id == shop_id)
    for a in await conn.execute(select(Alert).where(alert_where).order_by(Alert.created_at.desc(), Alert.id.desc())):
        alerts.setdefault(None if a.shop_id is None else int(a.shop_id), []).append(_alert(a))
    open_q = {
        int(s): int(n)
        for s, n in await conn.execute(
            select(QuarantinedRecord.shop_id, func.count())
            .where(QuarantinedRecord.shop_id.in_(ids), QuarantinedRecord.resolved_at.is_(None))
            .group_by(QuarantinedRecord.shop_id)
        )
    }
    out: list[ShopHealth] = []
    for s in sorted(shops, key=lambda s: int(s.id)):
        sid = int(s.id)
        keys = sorted({k for k in (*cursors, *runs) if k[0] == sid}, key=lambda k: _STREAM_ORDER[k[1]])
        streams = []
        for key in keys:
            watermark = cursors.get(key)
            lag = int((now - watermark).total_seconds()) if watermark is not None else None
            run = runs.get(key)
            streams.append(StreamHealth(key[1].value, watermark, lag, _run(run) if run is not None else None))
        platform = s.platform.value if hasattr(s.platform, "value") else str(s.platform)
        synced = is_on_a_platform(platform, s.base_url)
        out.append(
            ShopHealth(
                sid, str(s.name), platform, bool(s.active), streams, alerts.get(sid, []), open_q.get(sid, 0), synced
            )
        )
    return SyncHealth(out, alerts.get(None, []) if shop_id is None else [])


def health_as_json(health: SyncHealth) -> dict[str, Any]:
    def run(r: RunSummary | None) -> dict[str, Any] | None:
        if r is None:
            return None
        return {
            "id": r.id,
            "started_at": r.started_at.isoformat() if r.started_at else None,
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            "outcome": r.outcome,
            "windows_done": r.windows_done,
            "rows_new": r.rows_new,
            "rows_changed": r.rows_changed,
            "rows_unchanged": r.rows_unchanged,
            "duplicates": r.duplicates,
            "quarantined": r.quarantined,
            "errors": r.errors,
            "message": r.message,
        }

    def alert(a: AlertItem) -> dict[str, Any]:
        return {
            "id": a.id,
            "kind": a.kind,
            "severity": a.severity,
            "subject": a.subject,
            "message": a.message,
            "created_at": _iso(a.created_at),
        }

    return {
        "items": [
            {
                "id": s.id,
                "name": s.name,
                "platform": s.platform,
                "active": s.active,
                "open_quarantine": s.open_quarantine,
                "synced": s.synced,
                "alerts": [alert(a) for a in s.alerts],
                "streams": [
                    {
                        "stream": st.stream,
                        "cursor": _iso(st.watermark),
                        "lag_seconds": st.lag_seconds,
                        "last_run": run(st.run),
                    }
                    for st in s.streams
                ],
            }
            for s in health.shops
        ],
        "other_alerts": [alert(a) for a in health.other_alerts],
    }


def _iso(value: datetime | None) -> str | None:
    value = _aware(value)
    return value.isoformat() if value is not None else None


async def shop_in_scope(conn: AsyncConnection, scope: Scope, shop_id: int) -> bool:
    """Whether the user operates the shop (an active one or not)."""
    if not operates(scope):
        return False
    return await conn.scalar(select(Shop.id).where(Shop.id == shop_id, scope.shops(Shop.id))) is not None


# -- quarantine -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuarantineItem:
    id: int
    shop_id: int
    shop_name: str
    stream: str
    platform_id: str | None
    error: str
    raw_json: str  # pretty JSON of the stored (scrubbed) payload
    seen_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None  # the operator who marked it handled; None: cleared by a sync
    refetch: RefetchStatus | None = None  # the latest re-fetch asked for, if any

    @property
    def refetchable(self) -> bool:
        """Whether the platform can be asked for this record again by id (orders and refunds)."""
        return self.platform_id is not None and self.stream in REFETCH_STREAMS

    @property
    def handled_by_refetch(self) -> bool:
        return self.resolved_at is not None and self.refetch is not None and self.refetch.outcome == "stored"


@dataclass(frozen=True)
class RefetchStatus:
    """One re-fetch of a quarantined record: who asked, when, and what came of it."""

    id: int
    quarantined_id: int
    requested_by: str | None  # None: asked for from the command line
    requested_at: datetime
    finished_at: datetime | None
    outcome: str  # queued | stored | failed
    error_class: str | None
    message: str | None  # the platform's message, redacted


@dataclass(frozen=True)
class QuarantinePage:
    items: list[QuarantineItem]
    total: int
    open_total: int


async def quarantine_page(
    conn: AsyncConnection,
    scope: Scope,
    *,
    shop_id: int | None = None,
    include_resolved: bool = False,
    offset: int = 0,
    limit: int = 20,
) -> QuarantinePage | None:
    """Quarantined records of the shops in scope, newest first (None: not an operator, or a
    shop outside the scope)."""
    if not operates(scope):
        return None
    if shop_id is not None and not await shop_in_scope(conn, scope, shop_id):
        return None
    where = and_(
        scope.shops(QuarantinedRecord.shop_id),
        QuarantinedRecord.shop_id == shop_id if shop_id is not None else literal(True),
    )
    open_total = int(
        await conn.scalar(
            select(func.count()).select_from(QuarantinedRecord).where(where, QuarantinedRecord.resolved_at.is_(None))
        )
        or 0
    )
    if not include_resolved:
        where = and_(where, QuarantinedRecord.resolved_at.is_(None))
    total = int(await conn.scalar(select(func.count()).select_from(QuarantinedRecord).where(where)) or 0)
    rows = await conn.execute(
        select(QuarantinedRecord, Shop.name.label("shop_name"), User.name.label("by"))
        .join(Shop, Shop.id == QuarantinedRecord.shop_id)
        .outerjoin(User, User.id == QuarantinedRecord.resolved_by)
        .where(where)
        .order_by(QuarantinedRecord.seen_at.desc(), QuarantinedRecord.id.desc())
        .offset(offset)
        .limit(limit)
    )
    found = rows.all()
    refetches = await _latest_refetches(conn, [int(r.id) for r in found])
    items = [
        QuarantineItem(
            id=int(r.id),
            shop_id=int(r.shop_id),
            shop_name=str(r.shop_name),
            stream=SyncStream(r.stream).value,
            platform_id=r.platform_id,
            error=str(r.error),
            raw_json=json.dumps(r.raw, ensure_ascii=False, indent=2, sort_keys=True, default=str),
            seen_at=r.seen_at,
            resolved_at=r.resolved_at,
            resolved_by=r.by,
            refetch=refetches.get(int(r.id)),
        )
        for r in found
    ]
    return QuarantinePage(items, total, open_total)


async def mark_handled(conn: AsyncConnection, scope: Scope, record_id: int, user_id: int, now: datetime) -> bool | None:
    """Mark an open quarantined record handled by ``user_id`` (in the caller's transaction).
    None: no such record in scope; False: it was resolved already (nothing changes)."""
    if not operates(scope):
        return None
    found = (
        await conn.execute(
            select(QuarantinedRecord.id, QuarantinedRecord.resolved_at).where(
                QuarantinedRecord.id == record_id, scope.shops(QuarantinedRecord.shop_id)
            )
        )
    ).first()
    if found is None:
        return None
    if found.resolved_at is not None:
        return False
    done = await conn.execute(
        update(QuarantinedRecord)
        .where(QuarantinedRecord.id == record_id, QuarantinedRecord.resolved_at.is_(None))
        .values(resolved_at=now, resolved_by=user_id)
    )
    return bool(done.rowcount)


# -- re-fetch of a quarantined record -------------------------------------------------------------
def _refetch_query() -> Any:
    return select(QuarantineRefetch, User.name.label("by")).outerjoin(User, User.id == QuarantineRefetch.requested_by)


def _refetch_status(r: Any) -> RefetchStatus:
    return RefetchStatus(
        id=int(r.id),
        quarantined_id=int(r.quarantined_id),
        requested_by=r.by,
        requested_at=r.requested_at,
        finished_at=r.finished_at,
        outcome=str(r.outcome),
        error_class=r.error_class,
        message=r.message,
    )


async def _latest_refetches(conn: AsyncConnection, record_ids: list[int]) -> dict[int, RefetchStatus]:
    if not record_ids:
        return {}
    latest = (
        select(func.max(QuarantineRefetch.id))
        .where(QuarantineRefetch.quarantined_id.in_(record_ids))
        .group_by(QuarantineRefetch.quarantined_id)
    )
    rows = await conn.execute(_refetch_query().where(QuarantineRefetch.id.in_(latest)))
    return {int(r.quarantined_id): _refetch_status(r) for r in rows}


async def request_refetch(
    conn: AsyncConnection, scope: Scope, record_id: int, user_id: int | None, now: datetime
) -> int | str | None:
    """Write a ``queued`` re-fetch of a quarantined record (in the caller's transaction) and return
    its id; the caller queues the task that runs it. None: no such record in scope; ``resolved``:
    the record is handled already; ``unsupported``: its stream has no fetch by id, or the record
    has no platform id (a record too broken to name itself)."""
    if not operates(scope):
        return None
    found = (
        await conn.execute(
            select(QuarantinedRecord.stream, QuarantinedRecord.platform_id, QuarantinedRecord.resolved_at).where(
                QuarantinedRecord.id == record_id, scope.shops(QuarantinedRecord.shop_id)
            )
        )
    ).first()
    if found is None:
        return None
    if found.resolved_at is not None:
        return "resolved"
    if found.platform_id is None or SyncStream(found.stream).value not in REFETCH_STREAMS:
        return "unsupported"
    result = await conn.execute(
        insert(QuarantineRefetch)
        .values(quarantined_id=record_id, requested_by=user_id, requested_at=now, outcome="queued")
        .returning(QuarantineRefetch.id)
    )
    return int(result.scalar_one())


async def refetch_status(conn: AsyncConnection, scope: Scope, refetch_id: int) -> RefetchStatus | None:
    """A re-fetch of a record in scope (None otherwise)."""
    if not operates(scope):
        return None
    row = (
        await conn.execute(
            _refetch_query()
            .join(QuarantinedRecord, QuarantinedRecord.id == QuarantineRefetch.quarantined_id)
            .where(QuarantineRefetch.id == refetch_id, scope.shops(QuarantinedRecord.shop_id))
        )
    ).first()
    return _refetch_status(row) if row is not None else None


# -- lines waiting for stock; enterprise sales -----------------------------------------------------
@dataclass(frozen=True)
class WaitingSku:
    sku_id: int
    sku_code: str
    spec: str
    product_id: int
    product_name: str
    supplier_name: str
    lines: int
    units: int
    paid_fen: int
    oldest_paid_at: datetime | None


@dataclass(frozen=True)
class EnterpriseSales:
    supplier_id: int
    supplier_name: str
    account_code: str  # the supplier payable the net is credited to
    lines: int
    paid_fen: int
    credited_fen: int  # net credited to the payable (after fees, less refunds)
    unposted_lines: int  # paid lines not posted yet (or failed)


@dataclass(frozen=True)
class Waiting:
    skus: list[WaitingSku]
    enterprises: list[EnterpriseSales]

    @property
    def lines(self) -> int:
        return sum(s.lines for s in self.skus)

    @property
    def paid_fen(self) -> int:
        return sum(s.paid_fen for s in self.skus)


async def waiting_for_stock(conn: AsyncConnection, scope: Scope) -> Waiting | None:
    if not operates(scope):
        return None
    drawn = exists().where(LotAllocation.order_line_id == OrderLine.id, LotAllocation.quantity > 0)
    skus = [
        WaitingSku(
            sku_id=int(r.sku_id),
            sku_code=str(r.sku_code),
            spec=str(r.spec),
            product_id=int(r.product_id),
            product_name=str(r.product_name),
            supplier_name=str(r.supplier_name),
            lines=int(r.lines),
            units=int(r.units or 0),
            paid_fen=int(r.paid or 0),
            oldest_paid_at=_aware(r.oldest),
        )
        for r in await conn.execute(
            select(
                Sku.id.label("sku_id"),
                Sku.sku_code,
                Sku.spec,
                Product.id.label("product_id"),
                Product.name.label("product_name"),
                Supplier.name.label("supplier_name"),
                func.count(OrderLine.id).label("lines"),
                func.sum(OrderLine.quantity).label("units"),
                func.sum(OrderLine.paid_fen).label("paid"),
                func.min(Order.paid_at).label("oldest"),
            )
            .select_from(LineAccounting)
            .join(OrderLine, OrderLine.id == LineAccounting.order_line_id)
            .join(Order, Order.id == OrderLine.order_id)
            .join(Sku, Sku.id == OrderLine.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .join(Supplier, Supplier.id == Product.supplier_id)
            .where(LineAccounting.status == WAITING_LOTS, order_is_paid(), ~drawn, scope.shops(OrderLine.shop_id))
            .group_by(Sku.id, Sku.sku_code, Sku.spec, Product.id, Product.name, Supplier.name)
            .order_by(func.min(Order.paid_at), Sku.id)
        )
    ]
    return Waiting(skus, await _enterprise_sales(conn, scope))


async def _enterprise_sales(conn: AsyncConnection, scope: Scope) -> list[EnterpriseSales]:
    # The enterprise suppliers' SKUs first, then their lines by SKU: named by value, the SKUs let
    # the planner see how many lines each has (a join to the suppliers' kind made it expect a
    # share of every line and read all of them and all of line_accounting, to find few or none).
    skus = {
        int(sku): (int(supplier), str(name))
        for sku, supplier, name in await conn.execute(
            select(Sku.id, Supplier.id, Supplier.name)
            .join(Product, Product.id == Sku.product_id)
            .join(Supplier, Supplier.id == Product.supplier_id)
            .where(Supplier.kind == SupplierKind.ENTERPRISE)
        )
    }
    if not skus:
        return []
    # Posted: looked up per line (by its key), not joined (the join hashed every line's status).
    posted = exists().where(
        LineAccounting.order_line_id == OrderLine.id, LineAccounting.status.in_(("not_split", "posted"))
    )
    lines: dict[int, list[Any]] = {}
    for sku, n, paid, unposted in await conn.execute(
        select(
            OrderLine.sku_id,
            func.count(OrderLine.id),
            func.sum(OrderLine.paid_fen),
            func.sum(case((posted, 0), else_=1)),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(OrderLine.sku_id.in_(sorted(skus)), order_is_paid(), scope.shops(OrderLine.shop_id))
        .group_by(OrderLine.sku_id)
    ):
        supplier, name = skus[int(sku)]
        entry = lines.setdefault(supplier, [name, 0, 0, 0])
        entry[1] += int(n)
        entry[2] += int(paid or 0)
        entry[3] += int(unposted or 0)
    # What the ledger credited each supplier payable, from the journals of the shops in scope
    # (journal source events are ``order-line:<shop>:<line>:...``).
    journal_where: Any = literal(True)
    if scope.shop_ids is not None and scope.role == UserRole.OPERATOR:
        journal_where = or_(*(JournalRow.source_event.like(f"order-line:{sid}:%") for sid in sorted(scope.shop_ids)))
    credited = {
        int(r.owner_id): -int(r.amount or 0)
        for r in await conn.execute(
            select(LedgerAccount.owner_id, func.sum(Posting.amount_fen).label("amount"))
            .select_from(Posting)
            .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
            .join(JournalRow, JournalRow.id == Posting.journal_id)
            .where(
                LedgerAccount.owner_type == "supplier",
                journal_where,
            )
            .group_by(LedgerAccount.owner_id)
        )
        if r.owner_id is not None
    }
    out = [
        EnterpriseSales(
            supplier_id=sid,
            supplier_name=name,
            account_code=f"supplier:{sid}",
            lines=n,
            paid_fen=paid,
            credited_fen=credited.get(sid, 0),
            unposted_lines=unposted,
        )
        for sid, (name, n, paid, unposted) in lines.items()
    ]
    return sorted(out, key=lambda e: (-e.paid_fen, e.supplier_id))


def waiting_as_json(waiting: Waiting) -> dict[str, Any]:
    return {
        "items": [
            {
                "sku_id": s.sku_id,
                "sku_code": s.sku_code,
                "spec": s.spec,
                "product_id": s.product_id,
                "product_name": s.product_name,
                "supplier_name": s.supplier_name,
                "lines": s.lines,
                "units": s.units,
                "paid_fen": s.paid_fen,
                "oldest_paid_at": _iso(s.oldest_paid_at),
            }
            for s in waiting.skus
        ],
        "enterprise_sales": [
            {
                "supplier_id": e.supplier_id,
                "supplier_name": e.supplier_name,
                "account_code": e.account_code,
                "lines": e.lines,
                "paid_fen": e.paid_fen,
                "credited_fen": e.credited_fen,
                "unposted_lines": e.unposted_lines,
            }
            for e in waiting.enterprises
        ],
    }
