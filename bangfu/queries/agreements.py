"""Procurement agreements for the console, the CLI and the task ledger, each read through a Scope.

Who sees an agreement: the county, those of its region's units or suppliers; a unit, its own; a
cooperative, those its supplier signed; the admin, all (:func:`visible`). Execution is computed
here, by :func:`bangfu.agreements.execute` over the unit's orders, and nowhere else: the list,
the agreement's page, the unit's link, the county's card, the alerts and the task ledger's metric
(:func:`agreement_progress`) all read the same figure.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu import unit_purchases
from bangfu.agreements import (
    AT_RISK,
    TOLERANCE,
    Cover,
    Execution,
    LineFact,
    OrderFact,
    Schedule,
    execute,
    expected_fen,
    judge,
    schedule,
)
from bangfu.clock import SHANGHAI
from bangfu.models import (
    Agreement,
    AgreementItem,
    Order,
    Product,
    PurchasingUnit,
    Sku,
    Supplier,
)
from bangfu.reports.base import local_midnight, ratio
from bangfu.scope import Scope


def visible(scope: Scope) -> ColumnElement[bool]:
    """Agreements the user may see: of a unit or a supplier in their scope."""
    return or_(scope.units(Agreement.unit_id), scope.suppliers(Agreement.supplier_id))


def sees_agreements(scope: Scope) -> bool:
    return scope.sees_units or scope.sees_suppliers


@dataclass(frozen=True)
class CoverItem:
    kind: str  # sku | product | category
    label: str
    unit_price_fen: int | None


@dataclass(frozen=True)
class AgreementProgress:
    """One agreement as of a day: the task ledger's metric and the pages' row."""

    id: int
    number: str
    title: str | None
    unit_id: int
    unit: str
    unit_code: str
    supplier_id: int
    supplier: str
    starts_on: date
    ends_on: date
    status: str
    as_of: date
    target_fen: int
    executed_fen: int
    expected_fen: int  # the straight line's value at ``as_of``
    quantity_target: int | None
    quantity: int
    discount_bp: int | None
    elapsed_share: Decimal
    state: str  # bangfu.agreements.STATES
    items: tuple[CoverItem, ...]
    execution: Execution = field(repr=False, compare=False)
    schedule: Schedule = field(repr=False, compare=False)

    @property
    def rate(self) -> Decimal | None:
        return ratio(self.executed_fen, self.target_fen)

    @property
    def gap_fen(self) -> int:
        """How far below the straight line (positive: behind it)."""
        return self.expected_fen - self.executed_fen

    @property
    def at_risk(self) -> bool:
        return self.status == "active" and self.state in AT_RISK


def _local_day(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


async def _cover(conn: AsyncConnection, agreement_id: int, supplier_id: int) -> tuple[Cover, tuple[CoverItem, ...]]:
    rows = (
        await conn.execute(
            select(
                AgreementItem.sku_id,
                AgreementItem.product_id,
                AgreementItem.category,
                AgreementItem.unit_price_fen,
                Sku.sku_code,
                Sku.spec,
                Product.name,
            )
            .outerjoin(Sku, Sku.id == AgreementItem.sku_id)
            .outerjoin(Product, Product.id == func.coalesce(AgreementItem.product_id, Sku.product_id))
            .where(AgreementItem.agreement_id == agreement_id)
            .order_by(AgreementItem.id)
        )
    ).all()
    skus, products, categories = set(), set(), set()
    items = []
    for r in rows:
        if r.sku_id is not None:
            skus.add(int(r.sku_id))
            items.append(CoverItem("sku", f"{r.name} {r.spec}（{r.sku_code}）", r.unit_price_fen))
        elif r.product_id is not None:
            products.add(int(r.product_id))
            items.append(CoverItem("product", str(r.name), r.unit_price_fen))
        else:
            categories.add(str(r.category))
            items.append(CoverItem("category", str(r.category), r.unit_price_fen))
    cover = Cover(supplier_id, frozenset(skus), frozenset(products), frozenset(categories))
    return cover, tuple(items)


async def unit_orders(
    conn: AsyncConnection, unit_id: int, start: datetime, end: datetime
) -> tuple[list[OrderFact], list[LineFact]]:
    """The unit's orders paid in [start, end) with their lines and succeeded refunds: the reserved
    share's attribution (``orders.purchasing_unit_id`` and the payment time)."""
    return await unit_purchases.load(
        conn, and_(Order.purchasing_unit_id == unit_id, Order.paid_at >= start, Order.paid_at < end)
    )


_HEAD = (
    Agreement.id,
    Agreement.number,
    Agreement.title,
    Agreement.unit_id,
    PurchasingUnit.name.label("unit"),
    PurchasingUnit.code.label("unit_code"),
    Agreement.supplier_id,
    Supplier.name.label("supplier"),
    Agreement.starts_on,
    Agreement.ends_on,
    Agreement.status,
    Agreement.target_fen,
    Agreement.quantity,
    Agreement.discount_bp,
)


def _heads() -> Any:
    return (
        select(*_HEAD)
        .join(PurchasingUnit, PurchasingUnit.id == Agreement.unit_id)
        .join(Supplier, Supplier.id == Agreement.supplier_id)
    )


async def _progress(conn: AsyncConnection, head: Any, as_of: date) -> AgreementProgress:
    cover, items = await _cover(conn, int(head.id), int(head.supplier_id))
    sched = schedule(head.starts_on, head.ends_on, as_of)
    if sched.started:
        last = min(head.ends_on, as_of)
        orders, lines = await unit_orders(
            conn, int(head.unit_id), local_midnight(head.starts_on), local_midnight(last + timedelta(days=1))
        )
    else:
        orders, lines = [], []
    ex = execute(cover, orders, lines, _local_day)
    target = int(head.target_fen)
    return AgreementProgress(
        id=int(head.id),
        number=head.number,
        title=head.title,
        unit_id=int(head.unit_id),
        unit=head.unit,
        unit_code=head.unit_code,
        supplier_id=int(head.supplier_id),
        supplier=head.supplier,
        starts_on=head.starts_on,
        ends_on=head.ends_on,
        status=head.status,
        as_of=as_of,
        target_fen=target,
        executed_fen=ex.executed_fen,
        expected_fen=expected_fen(target, sched),
        quantity_target=head.quantity,
        quantity=ex.quantity,
        discount_bp=head.discount_bp,
        elapsed_share=sched.elapsed_share,
        state=judge(ex.executed_fen, target, sched),
        items=items,
        execution=ex,
        schedule=sched,
    )


async def agreement_progress(
    conn: AsyncConnection, scope: Scope, agreement_id: int, as_of: date
) -> AgreementProgress | None:
    """One agreement as of ``as_of`` (a local date; orders paid after it do not count yet):
    target, executed, expected, elapsed share, rate and state. None when the agreement does not
    exist or is outside the scope. The task ledger binds its metric to this."""
    head = (await conn.execute(_heads().where(Agreement.id == agreement_id, visible(scope)))).first()
    if head is None:
        return None
    return await _progress(conn, head, as_of)


@dataclass(frozen=True)
class UnitSummary:
    unit_id: int
    unit: str
    agreements: int
    target_fen: int
    executed_fen: int
    expected_fen: int
    at_risk: int

    @property
    def rate(self) -> Decimal | None:
        return ratio(self.executed_fen, self.target_fen)


@dataclass(frozen=True)
class Overview:
    as_of: date
    rows: list[AgreementProgress]
    by_unit: list[UnitSummary]

    @property
    def at_risk(self) -> list[AgreementProgress]:
        return sorted((r for r in self.rows if r.at_risk), key=lambda r: (-r.gap_fen, r.number))

    @property
    def target_fen(self) -> int:
        return sum(r.target_fen for r in self.rows)

    @property
    def executed_fen(self) -> int:
        return sum(r.executed_fen for r in self.rows)

    @property
    def rate(self) -> Decimal | None:
        return ratio(self.executed_fen, self.target_fen)

    @property
    def units(self) -> int:
        return len({r.unit_id for r in self.rows})

    @property
    def suppliers(self) -> int:
        return len({r.supplier_id for r in self.rows})


async def agreements_overview(
    conn: AsyncConnection,
    scope: Scope,
    as_of: date,
    *,
    unit_id: int | None = None,
    supplier_id: int | None = None,
) -> Overview:
    """Every agreement the user sees (of one unit or supplier if named), with its progress."""
    query = _heads().where(visible(scope))
    if unit_id is not None:
        query = query.where(Agreement.unit_id == unit_id)
    if supplier_id is not None:
        query = query.where(Agreement.supplier_id == supplier_id)
    heads = (await conn.execute(query.order_by(PurchasingUnit.code, Agreement.number))).all()
    rows = [await _progress(conn, h, as_of) for h in heads]
    grouped: dict[int, list[AgreementProgress]] = defaultdict(list)
    for r in rows:
        grouped[r.unit_id].append(r)
    by_unit = [
        UnitSummary(
            uid,
            rs[0].unit,
            len(rs),
            sum(r.target_fen for r in rs),
            sum(r.executed_fen for r in rs),
            sum(r.expected_fen for r in rs),
            sum(1 for r in rs if r.at_risk),
        )
        for uid, rs in grouped.items()
    ]
    by_unit.sort(key=lambda u: (-(u.rate or 0), u.unit))
    return Overview(as_of, rows, by_unit)


async def unit_in_scope(conn: AsyncConnection, scope: Scope, unit_id: int) -> str | None:
    """The unit's name when the user may see its agreements, else None."""
    return await conn.scalar(
        select(PurchasingUnit.name).where(PurchasingUnit.id == unit_id, scope.units(PurchasingUnit.id))
    )


def cumulative(p: AgreementProgress) -> dict[str, list[Any]]:
    """The chart: per day of the period, cumulative executed (up to ``as_of``) and the straight
    line of the target (yuan, for ECharts)."""
    days: list[str] = []
    executed: list[float | None] = []
    target: list[float] = []
    running = 0
    day = p.starts_on
    total_days = p.schedule.days
    index = 0
    while day <= p.ends_on:
        index += 1
        days.append(day.isoformat())
        target.append(round(p.target_fen * index / total_days / 100, 2))
        if day <= p.as_of:
            running += p.execution.daily.get(day, 0)
            executed.append(running / 100)
        else:
            executed.append(None)
        day += timedelta(days=1)
    return {"days": days, "executed": executed, "target": target}


def as_json(p: AgreementProgress) -> dict[str, Any]:
    return {
        "id": p.id,
        "number": p.number,
        "title": p.title,
        "unit": {"id": p.unit_id, "code": p.unit_code, "name": p.unit},
        "supplier": {"id": p.supplier_id, "name": p.supplier},
        "starts_on": p.starts_on.isoformat(),
        "ends_on": p.ends_on.isoformat(),
        "status": p.status,
        "as_of": p.as_of.isoformat(),
        "target_fen": p.target_fen,
        "executed_fen": p.executed_fen,
        "expected_fen": p.expected_fen,
        "elapsed_share": str(p.elapsed_share),
        "rate": None if p.rate is None else str(p.rate),
        "state": p.state,
        "at_risk": p.at_risk,
        "tolerance": str(TOLERANCE),
    }


async def agreements_card(conn: AsyncConnection, scope: Scope, as_of: date | None = None) -> Overview:
    """The county overview's card: every agreement the user sees, as of today (Asia/Shanghai)."""
    from bangfu import clock

    day = as_of or clock.utcnow().astimezone(SHANGHAI).date()
    return await agreements_overview(conn, scope, day)
