"""A supply lot (收购批次) added by hand in the console, for a SKU whose paid lines wait for stock.

A lot added here is exactly an imported one: the form's fields become :class:`~bangfu.importing.rows.LotRow`
rows (one per delivering household, as a ``bangfu import lots`` file has them) and go through the
same validation and the same loader (:func:`~bangfu.importing.loaders.load_lots`), in one
transaction; any error names the form field and nothing is written. Only a new lot code is
accepted here (changing a lot is an import's job). The lot's insert queues the SKU's undrawn
lines for allocation (the ``line_changes`` triggers); the view then queues the pipeline task.

Who may add a lot for a SKU (and see a lot afterwards):

- the admin: any SKU;
- an operator: a SKU their shops sold (an order line of one of their shops; every shop when the
  operator has none named): they see its lines waiting;
- a cooperative: a SKU of its own products (the product's supplier is the cooperative), received
  by itself from its own member households. DOMAIN.md defines a supply lot as the delivery of
  produce into stock by households, with quantity, grade and guaranteed price; the cooperative
  is the receiving party (收购主体) that pays the guaranteed price at delivery and keeps its
  members' transaction records (art. 43), so it is the one who knows the lot first-hand;
- nobody else (None: the web answers 404).

Figures after the lot (lines filled from it, money no longer waiting, lines still waiting) count
the lines the user may see: an operator's shops; every line for the admin and for the
cooperative (the sales of its own product).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, case, exists, false, func, literal, select, true
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bangfu.enums import UserRole
from bangfu.importing.loaders import load_lots
from bangfu.importing.rows import LotRow
from bangfu.models import (
    Cooperative,
    Household,
    LineAccounting,
    LotAllocation,
    LotContribution,
    Order,
    OrderLine,
    Product,
    Sku,
    Supplier,
    SupplyLot,
    order_is_paid,
)
from bangfu.scope import Scope

MAX_ROWS = 20  # delivering households on one form
GRADES = ("A", "B", "C", "D", "E", "特", "一", "二", "三")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # as bangfu.importing refuses them
WAITING_LOTS = "waiting_lots"
# LotRow field -> the form field it came from ({i}: the household row)
_FORM_FIELD = {
    "lot_code": "lot_code",
    "sku_code": "sku",
    "receiver_code": "receiver",
    "received_on": "received_on",
    "member_no": "member_no_{i}",
    "quantity": "quantity_{i}",
    "grade": "grade_{i}",
    "guaranteed_price": "price_{i}",
}
LOT_EXTRA_FIELDS = ("harvested_on", "inspection_agency", "inspected_on", "inspection_result")  # optional


def adds_lots(scope: Scope) -> bool:
    return scope.role in (UserRole.ADMIN, UserRole.OPERATOR, UserRole.COOPERATIVE)


def _sku_visible(scope: Scope) -> ColumnElement[bool]:
    """SKUs (``Sku.id``) the user may add lots for; the query joins ``Product`` on the SKU."""
    match scope.role:
        case UserRole.ADMIN:
            return true()
        case UserRole.OPERATOR:
            return exists().where(OrderLine.sku_id == Sku.id, scope.shops(OrderLine.shop_id))
        case UserRole.COOPERATIVE:
            own = select(Cooperative.supplier_id).where(Cooperative.id == scope.cooperative_id)
            return Product.supplier_id.in_(own.scalar_subquery())
    return false()


def _lines_visible(scope: Scope) -> ColumnElement[bool]:
    return scope.shops(OrderLine.shop_id) if scope.role == UserRole.OPERATOR else true()


@dataclass(frozen=True)
class LotSku:
    id: int
    code: str
    spec: str
    product_name: str
    supplier_code: str  # the receiver the form suggests: the product's supplier
    supplier_name: str
    waiting_lines: int
    waiting_units: int
    waiting_fen: int
    oldest_paid_at: datetime | None


@dataclass(frozen=True)
class Receiver:
    code: str  # unified social credit code, as an import file names it
    name: str
    cooperative: bool


@dataclass(frozen=True)
class Member:
    member_no: str
    name: str  # as the user may see it (masked but for the household's own cooperative)


@dataclass(frozen=True)
class LotFormData:
    sku: LotSku
    receivers: list[Receiver]
    members: list[Member]  # of the suggested receiver, when it is a cooperative
    fixed_receiver: bool  # a cooperative receives its own lots only


def _waiting_where(scope: Scope) -> Any:
    drawn = exists().where(LotAllocation.order_line_id == OrderLine.id, LotAllocation.quantity > 0)
    return and_(
        LineAccounting.status == WAITING_LOTS,
        order_is_paid(),
        ~drawn,
        _lines_visible(scope),
    )


async def _waiting(conn: AsyncConnection, scope: Scope, sku_ids: list[int]) -> dict[int, tuple[int, int, int, Any]]:
    if not sku_ids:
        return {}
    rows = await conn.execute(
        select(
            OrderLine.sku_id,
            func.count(OrderLine.id),
            func.sum(OrderLine.quantity),
            func.sum(OrderLine.paid_fen),
            func.min(Order.paid_at),
        )
        .select_from(LineAccounting)
        .join(OrderLine, OrderLine.id == LineAccounting.order_line_id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(_waiting_where(scope), OrderLine.sku_id.in_(sku_ids))
        .group_by(OrderLine.sku_id)
    )
    return {int(r[0] or 0): (int(r[1]), int(r[2] or 0), int(r[3] or 0), r[4]) for r in rows}


def _aware(value: datetime | None) -> datetime | None:
    from datetime import UTC

    return value if value is None or value.tzinfo is not None else value.replace(tzinfo=UTC)


async def lot_skus(conn: AsyncConnection, scope: Scope, *, sku_id: int | None = None) -> list[LotSku]:
    """SKUs the user may add lots for (or the one ``sku_id``), those with waiting money first."""
    if not adds_lots(scope):
        return []
    query = (
        select(Sku.id, Sku.sku_code, Sku.spec, Product.name, Supplier.credit_code, Supplier.name.label("supplier"))
        .join(Product, Product.id == Sku.product_id)
        .join(Supplier, Supplier.id == Product.supplier_id)
        .where(_sku_visible(scope), Sku.id == sku_id if sku_id is not None else literal(True))
    )
    rows = (await conn.execute(query)).all()
    waiting = await _waiting(conn, scope, [int(r.id) for r in rows])
    out = []
    for r in rows:
        lines, units, fen, oldest = waiting.get(int(r.id), (0, 0, 0, None))
        out.append(
            LotSku(
                int(r.id),
                str(r.sku_code),
                str(r.spec),
                str(r.name),
                str(r.credit_code),
                str(r.supplier),
                lines,
                units,
                fen,
                _aware(oldest),
            )
        )
    return sorted(out, key=lambda s: (-s.waiting_fen, s.code))


async def lot_form(conn: AsyncConnection, scope: Scope, sku_id: int) -> LotFormData | None:
    """What the form for a lot of ``sku_id`` offers; None: the SKU is not the user's to stock."""
    found = await lot_skus(conn, scope, sku_id=sku_id)
    if not found:
        return None
    sku = found[0]
    query = select(Supplier.credit_code, Supplier.name, Cooperative.id.label("coop")).outerjoin(
        Cooperative, Cooperative.supplier_id == Supplier.id
    )
    if scope.role == UserRole.COOPERATIVE:
        query = query.where(Cooperative.id == scope.cooperative_id)
    receivers = [
        Receiver(str(r.credit_code), str(r.name), r.coop is not None)
        for r in await conn.execute(query.order_by(Supplier.name, Supplier.id))
    ]
    receivers.sort(key=lambda r: r.code != sku.supplier_code)  # the product's supplier first
    members: list[Member] = []
    coop_id = await conn.scalar(
        select(Cooperative.id)
        .join(Supplier, Supplier.id == Cooperative.supplier_id)
        .where(Supplier.credit_code == (receivers[0].code if receivers else sku.supplier_code))
    )
    if coop_id is not None:
        members = [
            Member(str(h.member_no), scope.household_name(str(h.head_name), int(coop_id)))
            for h in await conn.execute(
                select(Household.member_no, Household.head_name)
                .where(Household.cooperative_id == coop_id)
                .order_by(Household.member_no)
            )
        ]
    return LotFormData(sku, receivers, members, scope.role == UserRole.COOPERATIVE)


# -- adding a lot ---------------------------------------------------------------------------------
@dataclass
class LotRejected(Exception):
    """The form has errors (form field -> message); nothing was written."""

    errors: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)


def _form_field(field_name: str, row: int) -> str:
    return _FORM_FIELD.get(field_name, field_name).format(i=row)


def parse_lot_form(form: dict[str, str], sku: LotSku, receiver_fixed: str | None) -> list[tuple[int, LotRow]]:
    """The form's household rows as import rows (numbered by their form row); raises
    :class:`LotRejected` naming every wrong field."""
    rejected = LotRejected()
    for name, value in form.items():
        control = _CONTROL.search(value)
        if control:
            rejected.add(name, f"a control character (U+{ord(control.group()):04X}) is not allowed")
    receiver = form.get("receiver", "").strip()
    if receiver_fixed is not None:
        if receiver and receiver != receiver_fixed:
            rejected.add("receiver", "a cooperative adds lots it received itself only")
        receiver = receiver_fixed
    shared = {
        "lot_code": form.get("lot_code", ""),
        "sku_code": sku.code,
        "receiver_code": receiver,
        "received_on": form.get("received_on", ""),
    }
    for name in LOT_EXTRA_FIELDS:  # harvest date and inspection: the lot's, given once
        text = form.get(name, "").strip()
        if text:
            shared[name] = text
    rows: list[tuple[int, LotRow]] = []
    given = [
        i
        for i in range(1, MAX_ROWS + 1)
        if any(form.get(f"{p}_{i}", "").strip() for p in ("member_no", "quantity", "price"))
    ]
    if not given:
        rejected.add("quantity_1", "enter at least one delivery (a quantity)")
    seen: dict[str, int] = {}
    for i in given:
        values = dict(shared)
        for source, target in (("member_no", "member_no"), ("quantity", "quantity"), ("grade", "grade")):
            text = form.get(f"{source}_{i}", "").strip()
            if text:
                values[target] = text
        price = form.get(f"price_{i}", "").strip()
        if price:
            values["guaranteed_price"] = price
        if "quantity" not in values:
            rejected.add(f"quantity_{i}", "the quantity delivered is required")
            continue
        try:
            row = LotRow.model_validate(values)
        except ValidationError as exc:
            for problem in exc.errors():
                loc = problem["loc"]
                head = problem["msg"].removeprefix("Value error, ").split(":", 1)[0]
                name = str(loc[0]) if loc else head if head in LotRow.model_fields else "lot_code"
                message = problem["msg"].removeprefix("Value error, ").removeprefix(f"{name}: ")
                rejected.add(_form_field(name, i), message)
            continue
        if row.member_no is not None:
            if row.member_no in seen:
                rejected.add(f"member_no_{i}", f"same member as row {seen[row.member_no]}")
                continue
            seen[row.member_no] = i
        rows.append((i, row))
    if rejected.errors:
        raise rejected
    return rows


async def add_lot(session: AsyncSession, scope: Scope, sku: LotSku, form: dict[str, str]) -> int:
    """Store the lot of the form in the caller's transaction (as ``bangfu import lots`` would)
    and return its id; raises :class:`LotRejected` (the caller rolls back)."""
    fixed: str | None = None
    if scope.role == UserRole.COOPERATIVE:
        fixed = await session.scalar(
            select(Supplier.credit_code)
            .join(Cooperative, Cooperative.supplier_id == Supplier.id)
            .where(Cooperative.id == scope.cooperative_id)
        )
        if fixed is None:
            raise LotRejected({"receiver": "the cooperative is not found"})
    rows = parse_lot_form(form, sku, fixed)
    code = rows[0][1].lot_code
    if await session.scalar(select(SupplyLot.id).where(SupplyLot.lot_code == code)) is not None:
        raise LotRejected({"lot_code": f"lot {code} exists already; a lot is added once (change one by import)"})
    result = await load_lots(session, rows)
    if result.errors:
        rejected = LotRejected()
        for error in result.errors:
            rejected.add(_form_field(error.field, error.row), error.reason)
        raise rejected
    await session.flush()
    lot_id = await session.scalar(select(SupplyLot.id).where(SupplyLot.lot_code == code))
    assert lot_id is not None
    return int(lot_id)


# -- a lot, and what it filled -------------------------------------------------------------------
@dataclass(frozen=True)
class LotOutcome:
    id: int
    code: str
    sku: LotSku
    receiver_name: str
    received_on: date
    quantity: int
    remaining: int
    households: int
    guaranteed_fen: int  # guaranteed prices paid at delivery, quantity x price, summed
    filled_lines: int  # lines (in scope) that drew from this lot
    filled_units: int  # units they drew from it
    filled_fen: int  # their paid money: no longer waiting
    posted_lines: int  # of those, lines the ledger has posted


async def lot_outcome(conn: AsyncConnection, scope: Scope, lot_id: int) -> LotOutcome | None:
    if not adds_lots(scope):
        return None
    lot = (
        await conn.execute(
            select(SupplyLot, Supplier.name.label("receiver"))
            .join(Sku, Sku.id == SupplyLot.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .join(Supplier, Supplier.id == SupplyLot.supplier_id)
            .where(SupplyLot.id == lot_id, _sku_visible(scope))
        )
    ).first()
    if lot is None:
        return None
    (sku,) = await lot_skus(conn, scope, sku_id=int(lot.sku_id))
    households, guaranteed = (
        await conn.execute(
            select(func.count(), func.sum(LotContribution.quantity * LotContribution.guaranteed_price_fen)).where(
                LotContribution.lot_id == lot_id
            )
        )
    ).one()
    drew = (
        select(
            LotAllocation.order_line_id.label("line_id"),
            func.sum(LotAllocation.quantity).label("units"),
        )
        .where(LotAllocation.lot_id == lot_id, LotAllocation.quantity > 0)
        .group_by(LotAllocation.order_line_id)
        .subquery()
    )
    filled = (
        await conn.execute(
            select(
                func.count(OrderLine.id),
                func.sum(drew.c.units),
                func.sum(OrderLine.paid_fen),
                func.sum(case((LineAccounting.status.in_(("posted", "not_split")), 1), else_=0)),
            )
            .select_from(drew)
            .join(OrderLine, OrderLine.id == drew.c.line_id)
            .outerjoin(LineAccounting, LineAccounting.order_line_id == OrderLine.id)
            .where(_lines_visible(scope))
        )
    ).one()
    return LotOutcome(
        id=int(lot.id),
        code=str(lot.lot_code),
        sku=sku,
        receiver_name=str(lot.receiver),
        received_on=lot.received_on,
        quantity=int(lot.quantity),
        remaining=int(lot.remaining),
        households=int(households or 0),
        guaranteed_fen=int(guaranteed or 0),
        filled_lines=int(filled[0] or 0),
        filled_units=int(filled[1] or 0),
        filled_fen=int(filled[2] or 0),
        posted_lines=int(filled[3] or 0),
    )


__all__ = [
    "GRADES",
    "MAX_ROWS",
    "LotFormData",
    "LotOutcome",
    "LotRejected",
    "LotSku",
    "add_lot",
    "adds_lots",
    "lot_form",
    "lot_outcome",
    "lot_skus",
    "parse_lot_form",
]
