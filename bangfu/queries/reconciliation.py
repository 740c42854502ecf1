"""Reconciliation exceptions for the operator console: list, detail, accept / resolve / reopen.

A reconcile run (``workers/reconcile.py``) stores a verdict per order and opens an exception for
each flagged one; here people work through them. Transitions (each appends a
``reconciliation_events`` row with who, when and why, and the verdict seen):

| action  | from                      | to        | reason          |
|---------|---------------------------|-----------|-----------------|
| accept  | open, reopened            | accepted  | required        |
| resolve | open, reopened, accepted  | resolved  | optional note   |
| reopen  | accepted, resolved        | reopened  | optional        |

The admin sees every shop's exceptions, an operator those of their shops; for everyone else,
and for an exception outside the scope, each function returns None (the web answers 404).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import SettlementKind, UserRole
from bangfu.models import (
    ReconciliationEvent,
    ReconciliationException,
    ReconciliationResult,
    SettlementLine,
    Shop,
    User,
)
from bangfu.scope import Scope

STATES = ("open", "accepted", "resolved", "reopened")
VERDICTS = ("matched", "pending", "amount_differs", "payout_missing", "unknown_order")
TYPES = tuple(kind.value for kind in SettlementKind)  # sale, refund, each fee type, subsidy, other
ACTIONS = {"accept": "accepted", "resolve": "resolved", "reopen": "reopened"}
FROM = {
    "accept": ("open", "reopened"),
    "resolve": ("open", "reopened", "accepted"),
    "reopen": ("accepted", "resolved"),
}
REASON_MAX = 500


class TransitionError(ValueError):
    """An action the exception's state does not allow, or a missing or too long reason."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code  # state | reason_missing | reason_long


def operates(scope: Scope) -> bool:
    return scope.role in (UserRole.ADMIN, UserRole.OPERATOR)


@dataclass(frozen=True)
class ExceptionItem:
    id: int
    shop_id: int
    shop_name: str
    platform_order_id: str
    state: str
    kind: str  # the verdict the state was reached on
    period: str | None
    verdict: str | None  # the latest verdict
    expected_fen: int | None
    actual_fen: int | None
    differences: dict[str, int]
    reason: str | None
    updated_at: datetime
    updated_by: str | None  # None: a reconcile run


@dataclass(frozen=True)
class ExceptionPage:
    items: list[ExceptionItem]
    total: int
    counts: dict[str, int]  # by state, under the shop and fee type filters


@dataclass(frozen=True)
class TypeRow:
    type: str
    expected_fen: int
    actual_fen: int
    difference_fen: int
    flagged: bool


@dataclass(frozen=True)
class BillLine:
    bill_id: str
    kind: str
    amount_fen: int
    settled_at: datetime
    line_id: str | None


@dataclass(frozen=True)
class Event:
    action: str
    state: str
    who: str | None
    reason: str | None
    kind: str
    differences: dict[str, int]
    at: datetime


@dataclass(frozen=True)
class ExceptionDetail:
    item: ExceptionItem
    fee_basis: str | None
    types: list[TypeRow]
    bill: list[BillLine]
    history: list[Event]

    @property
    def allowed(self) -> list[str]:
        return [action for action, sources in FROM.items() if self.item.state in sources]


def _scoped(scope: Scope) -> ColumnElement[bool]:
    return scope.shops(ReconciliationException.shop_id)


def _diffs(raw: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in (raw or {}).items()}


def _base_query() -> Any:
    updater = User.__table__.alias("updater")
    return (
        select(
            ReconciliationException.id,
            ReconciliationException.shop_id,
            Shop.name.label("shop_name"),
            ReconciliationException.platform_order_id,
            ReconciliationException.state,
            ReconciliationException.kind,
            ReconciliationException.differences,
            ReconciliationException.reason,
            ReconciliationException.updated_at,
            updater.c.name.label("updated_by"),
            ReconciliationResult.period,
            ReconciliationResult.kind.label("verdict"),
            ReconciliationResult.expected_fen,
            ReconciliationResult.actual_fen,
            ReconciliationResult.differences.label("verdict_differences"),
            ReconciliationResult.fee_basis,
            ReconciliationResult.expected_by_type,
            ReconciliationResult.actual_by_type,
        )
        .select_from(ReconciliationException)
        .join(Shop, Shop.id == ReconciliationException.shop_id)
        .outerjoin(updater, updater.c.id == ReconciliationException.updated_by)
        .outerjoin(
            ReconciliationResult,
            and_(
                ReconciliationResult.shop_id == ReconciliationException.shop_id,
                ReconciliationResult.platform_order_id == ReconciliationException.platform_order_id,
            ),
        )
    )


def _item(row: Any) -> ExceptionItem:
    # The latest verdict's differences while it is still flagged; else those the state was reached on.
    differences = row.verdict_differences if row.verdict_differences is not None else row.differences
    return ExceptionItem(
        id=row.id,
        shop_id=row.shop_id,
        shop_name=row.shop_name,
        platform_order_id=row.platform_order_id,
        state=row.state,
        kind=row.kind,
        period=row.period,
        verdict=row.verdict,
        expected_fen=row.expected_fen,
        actual_fen=row.actual_fen,
        differences=_diffs(differences),
        reason=row.reason,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


async def exceptions_page(
    conn: AsyncConnection,
    scope: Scope,
    *,
    shop_id: int | None = None,
    state: str | None = None,
    fee_type: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> ExceptionPage | None:
    """Exceptions in scope, newest change first; None for a role that runs no shops or a shop
    outside the scope. ``state`` / ``fee_type`` must be one of STATES / TYPES (or None)."""
    if not operates(scope):
        return None
    if (
        shop_id is not None
        and await conn.scalar(select(Shop.id).where(Shop.id == shop_id, scope.shops(Shop.id))) is None
    ):
        return None
    where = and_(
        _scoped(scope),
        ReconciliationException.shop_id == shop_id if shop_id is not None else true(),
        # as_string: JSON_EXTRACT on SQLite (NULL for a missing key; the plain index operator
        # JSON_QUOTEs it into the string "null"), ->> on PostgreSQL.
        ReconciliationException.differences[fee_type].as_string().is_not(None) if fee_type else true(),
    )
    counts = dict.fromkeys(STATES, 0)
    for name, n in await conn.execute(
        select(ReconciliationException.state, func.count()).where(where).group_by(ReconciliationException.state)
    ):
        counts[name] = int(n)
    where = and_(where, ReconciliationException.state == state if state else true())
    total = int(await conn.scalar(select(func.count()).select_from(ReconciliationException).where(where)) or 0)
    rows = await conn.execute(
        _base_query()
        .where(where)
        .order_by(ReconciliationException.updated_at.desc(), ReconciliationException.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return ExceptionPage([_item(r) for r in rows], total, counts)


async def exception_detail(conn: AsyncConnection, scope: Scope, exception_id: int) -> ExceptionDetail | None:
    """One exception with its verdict by type, the order's bill lines and its history."""
    if not operates(scope):
        return None
    row = (await conn.execute(_base_query().where(ReconciliationException.id == exception_id, _scoped(scope)))).first()
    if row is None:
        return None
    expected, actual = _diffs(row.expected_by_type), _diffs(row.actual_by_type)
    flagged = _diffs(row.verdict_differences)
    types = [
        TypeRow(
            name,
            expected.get(name, 0),
            actual.get(name, 0),
            actual.get(name, 0) - expected.get(name, 0),
            name in flagged,
        )
        for name in TYPES
        if name in expected or name in actual or name in flagged
    ]
    bill = [
        BillLine(
            r.platform_bill_id,
            str(r.kind.value if hasattr(r.kind, "value") else r.kind),
            int(r.amount_fen),
            r.settled_at,
            r.platform_line_id,
        )
        for r in await conn.execute(
            select(
                SettlementLine.platform_bill_id,
                SettlementLine.kind,
                SettlementLine.amount_fen,
                SettlementLine.settled_at,
                SettlementLine.platform_line_id,
            )
            .where(SettlementLine.shop_id == row.shop_id, SettlementLine.platform_order_id == row.platform_order_id)
            .order_by(SettlementLine.settled_at, SettlementLine.id)
        )
    ]
    history = [
        Event(e.action, e.state, e.name, e.reason, e.kind, _diffs(e.differences), e.at)
        for e in await conn.execute(
            select(
                ReconciliationEvent.action,
                ReconciliationEvent.state,
                User.name,
                ReconciliationEvent.reason,
                ReconciliationEvent.kind,
                ReconciliationEvent.differences,
                ReconciliationEvent.at,
            )
            .outerjoin(User, User.id == ReconciliationEvent.user_id)
            .where(ReconciliationEvent.exception_id == exception_id)
            .order_by(ReconciliationEvent.id)
        )
    ]
    return ExceptionDetail(_item(row), row.fee_basis, types, bill, history)


async def act(
    conn: AsyncConnection,
    scope: Scope,
    exception_id: int,
    action: str,
    user_id: int,
    reason: str | None,
    now: datetime,
) -> str | None:
    """Accept, resolve or reopen an exception in the caller's transaction; returns the new state,
    None when there is no such exception in scope. :class:`TransitionError` when the state does
    not allow it or the reason is missing (accept) or longer than REASON_MAX characters."""
    if action not in ACTIONS:
        raise TransitionError("state")
    if not operates(scope):
        return None
    row = (
        await conn.execute(
            select(ReconciliationException.state, ReconciliationException.kind, ReconciliationException.differences)
            .where(ReconciliationException.id == exception_id, _scoped(scope))
            .with_for_update()
        )
    ).first()
    if row is None:
        return None
    text = (reason or "").strip() or None
    if text is not None and len(text) > REASON_MAX:
        raise TransitionError("reason_long")
    if action == "accept" and text is None:
        raise TransitionError("reason_missing")
    if row.state not in FROM[action]:
        raise TransitionError("state")
    state = ACTIONS[action]
    await conn.execute(
        update(ReconciliationException)
        .where(ReconciliationException.id == exception_id)
        .values(state=state, reason=text, updated_at=now, updated_by=user_id)
    )
    await conn.execute(
        insert(ReconciliationEvent).values(
            exception_id=exception_id,
            action={"accept": "accepted", "resolve": "resolved", "reopen": "reopened"}[action],
            state=state,
            user_id=user_id,
            reason=text,
            kind=row.kind,
            differences=row.differences,
            at=now,
        )
    )
    return state


@dataclass(frozen=True)
class VerdictRow:
    """How many orders of a shop's month got each verdict in the latest runs."""

    shop_id: int
    shop_name: str
    period: str
    counts: dict[str, int]  # by VERDICTS, zeros included

    @property
    def orders(self) -> int:
        return sum(self.counts.values())


async def verdict_summary(conn: AsyncConnection, scope: Scope, shop_id: int | None = None) -> list[VerdictRow]:
    """Verdicts by shop and month (newest month first within a shop) for the shops in scope,
    or the one shop; empty for a role that runs no shops."""
    if not operates(scope):
        return []
    rows: dict[tuple[int, str], VerdictRow] = {}
    for shop, name, period, kind, n in await conn.execute(
        select(
            ReconciliationResult.shop_id,
            Shop.name,
            ReconciliationResult.period,
            ReconciliationResult.kind,
            func.count(),
        )
        .join(Shop, Shop.id == ReconciliationResult.shop_id)
        .where(
            scope.shops(ReconciliationResult.shop_id),
            ReconciliationResult.shop_id == shop_id if shop_id is not None else true(),
        )
        .group_by(ReconciliationResult.shop_id, Shop.name, ReconciliationResult.period, ReconciliationResult.kind)
    ):
        row = rows.setdefault((int(shop), str(period)), VerdictRow(int(shop), str(name), str(period), {}))
        row.counts[str(kind)] = row.counts.get(str(kind), 0) + int(n)
    out = []
    for (shop, period), row in sorted(rows.items(), key=lambda item: (item[0][0], _desc(item[0][1]))):
        out.append(VerdictRow(shop, row.shop_name, period, {k: row.counts.get(k, 0) for k in VERDICTS}))
    return out


def _desc(period: str) -> tuple[int, ...]:
    return tuple(-int(part) for part in period.split("-") if part.isdigit())


def verdicts_as_json(rows: list[VerdictRow]) -> list[dict[str, Any]]:
    return [
        {"shop_id": r.shop_id, "shop_name": r.shop_name, "period": r.period, "orders": r.orders, "counts": r.counts}
        for r in rows
    ]


async def shops_in_scope(conn: AsyncConnection, scope: Scope) -> list[tuple[int, str]]:
    return [
        (int(i), str(n))
        for i, n in await conn.execute(select(Shop.id, Shop.name).where(scope.shops(Shop.id)).order_by(Shop.id))
    ]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def item_as_json(item: ExceptionItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "shop_id": item.shop_id,
        "shop_name": item.shop_name,
        "platform_order_id": item.platform_order_id,
        "state": item.state,
        "kind": item.kind,
        "period": item.period,
        "verdict": item.verdict,
        "expected_fen": item.expected_fen,
        "actual_fen": item.actual_fen,
        "differences": item.differences,
        "reason": item.reason,
        "updated_at": _iso(item.updated_at),
        "updated_by": item.updated_by,
    }


def page_as_json(page: ExceptionPage) -> dict[str, Any]:
    return {"items": [item_as_json(i) for i in page.items], "total": page.total, "counts": page.counts}


def detail_as_json(detail: ExceptionDetail) -> dict[str, Any]:
    return {
        **item_as_json(detail.item),
        "fee_basis": detail.fee_basis,
        "types": [
            {
                "type": r.type,
                "expected_fen": r.expected_fen,
                "actual_fen": r.actual_fen,
                "difference_fen": r.difference_fen,
                "flagged": r.flagged,
            }
            for r in detail.types
        ],
        "bill": [
            {
                "bill_id": b.bill_id,
                "kind": b.kind,
                "amount_fen": b.amount_fen,
                "settled_at": _iso(b.settled_at),
                "line_id": b.line_id,
            }
            for b in detail.bill
        ],
        "history": [
            {
                "action": e.action,
                "state": e.state,
                "who": e.who,
                "reason": e.reason,
                "kind": e.kind,
                "differences": e.differences,
                "at": _iso(e.at),
            }
            for e in detail.history
        ],
        "allowed": detail.allowed,
    }
