"""Purchasing units (采购单位): reserved-share progress, monthly execution, the unit's orders.

Executed and rate are the ``reserved-share`` report's own figures (the same function), so the
unit's page and the county's report cannot disagree; the rank is among every unit with a target
that year, as the report ranks them. Executed is the 帮扶 part of the unit's purchases (lines of
products certified on the sale's day); the uncertified lines and the orders' shipping and
order-level adjustments are shown on their own lines, and the three add up to the purchases
(:mod:`bangfu.unit_purchases`). The monthly chart and each order's 帮扶 part come from the same
facts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu import unit_purchases
from bangfu.clock import SHANGHAI
from bangfu.enums import RefundStatus
from bangfu.models import Order, PurchasingUnit, Refund, Shop, UnitTarget
from bangfu.reports.base import Period, local_midnight
from bangfu.reports.reserved import reserved_share
from bangfu.scope import Scope


@dataclass(frozen=True)
class UnitRow:
    id: int
    code: str
    name: str
    unit_type: str
    target_fen: int | None
    executed_fen: int
    rate: Decimal | None
    rank: int | None
    uncertified_fen: int = 0  # lines of products not certified on the sale's day, net
    order_level_fen: int = 0  # shipping and order-level adjustments, net
    purchases_fen: int = 0  # executed + uncertified + order level: every purchase, net of refunds


@dataclass(frozen=True)
class UnitOrder:
    order_id: int
    platform_order_id: str
    shop: str
    paid_at: datetime | None
    paid_fen: int
    refunded_fen: int
    certified_fen: int  # its 帮扶 part, net (what it adds to executed)


@dataclass(frozen=True)
class UnitProgress:
    unit: UnitRow
    year: int
    ranked_units: int
    monthly: list[tuple[str, int]]  # (YYYY-MM, executed fen) for each month of the year
    orders: list[UnitOrder]
    orders_total: int


def _month_of(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m")


def year_period(year: int) -> Period:
    from datetime import date

    return Period(local_midnight(date(year, 1, 1)), local_midnight(date(year + 1, 1, 1)), str(year))


async def units_overview(conn: AsyncConnection, scope: Scope, year: int) -> list[UnitRow]:
    """Every unit in scope with its target, execution, rate and rank (the report's rows)."""
    report = await reserved_share(conn, year_period(year))
    visible = {
        code: (int(uid), str(utype))
        for uid, code, utype in await conn.execute(
            select(PurchasingUnit.id, PurchasingUnit.code, PurchasingUnit.unit_type).where(
                scope.units(PurchasingUnit.id)
            )
        )
    }
    return [
        UnitRow(
            id=visible[row["code"]][0],
            code=row["code"],
            name=row["unit"],
            unit_type=row["unit_type"],
            target_fen=row["target"],
            executed_fen=int(row["executed"]),
            rate=row["rate"],
            rank=row["rank"],
            uncertified_fen=int(row["uncertified"]),
            order_level_fen=int(row["order_level"]),
            purchases_fen=int(row["purchases"]),
        )
        for row in report.rows
        if row["code"] in visible
    ]


async def unit_progress(
    conn: AsyncConnection, scope: Scope, unit_id: int, year: int, *, offset: int = 0, limit: int = 50
) -> UnitProgress | None:
    """One unit's year: None when the unit does not exist or is outside the scope."""
    unit = (
        await conn.execute(
            select(PurchasingUnit.id, PurchasingUnit.code).where(
                PurchasingUnit.id == unit_id, scope.units(PurchasingUnit.id)
            )
        )
    ).first()
    if unit is None:
        return None
    report = await reserved_share(conn, year_period(year))
    ranked = sum(1 for r in report.rows if r["rank"] is not None)
    found = next((r for r in report.rows if r["code"] == unit.code), None)
    target = await conn.scalar(
        select(UnitTarget.target_fen).where(UnitTarget.unit_id == unit_id, UnitTarget.year == year)
    )
    name, utype = (
        await conn.execute(select(PurchasingUnit.name, PurchasingUnit.unit_type).where(PurchasingUnit.id == unit_id))
    ).one()
    from bangfu.i18n import t

    row = UnitRow(
        id=unit_id,
        code=unit.code,
        name=found["unit"] if found else name,
        unit_type=found["unit_type"] if found else t(f"report.unit_type.{utype.value}"),
        target_fen=found["target"] if found else target,
        executed_fen=int(found["executed"]) if found else 0,
        rate=found["rate"] if found else None,
        rank=found["rank"] if found else None,
        uncertified_fen=int(found["uncertified"]) if found else 0,
        order_level_fen=int(found["order_level"]) if found else 0,
        purchases_fen=int(found["purchases"]) if found else 0,
    )
    period = year_period(year)
    in_year = and_(Order.purchasing_unit_id == unit_id, Order.paid_at >= period.start, Order.paid_at < period.end)
    refund_join = (Refund.shop_id == Order.shop_id) & (Refund.platform_order_id == Order.platform_order_id)
    facts = await unit_purchases.load(conn, in_year)
    split = unit_purchases.parts(*facts)
    by_month: dict[str, int] = defaultdict(int)  # the 帮扶 part, by local payment month
    for order in facts[0]:
        by_month[_month_of(order.paid_at)] += split[order.id].certified_fen
    monthly = [(m, by_month.get(m, 0)) for m in period.months()]
    total = len(facts[0])
    refunds = (
        select(func.coalesce(func.sum(Refund.amount_fen), 0))
        .where(refund_join, Refund.status == RefundStatus.SUCCEEDED)
        .correlate(Order)
        .scalar_subquery()
    )
    orders = [
        UnitOrder(int(oid), str(pid), str(shop), paid_at, int(paid), int(refunded or 0), split[int(oid)].certified_fen)
        for oid, pid, shop, paid_at, paid, refunded in await conn.execute(
            select(Order.id, Order.platform_order_id, Shop.name, Order.paid_at, Order.paid_fen, refunds)
            .join(Shop, Shop.id == Order.shop_id)
            .where(in_year)
            .order_by(Order.paid_at.desc(), Order.id.desc())
            .offset(offset)
            .limit(limit)
        )
    ]
    return UnitProgress(row, year, ranked, monthly, orders, total)


def as_json(progress: UnitProgress) -> dict[str, Any]:
    u = progress.unit
    return {
        "id": u.id,
        "code": u.code,
        "name": u.name,
        "unit_type": u.unit_type,
        "year": progress.year,
        "target_fen": u.target_fen,
        "executed_fen": u.executed_fen,
        "uncertified_fen": u.uncertified_fen,
        "order_level_fen": u.order_level_fen,
        "purchases_fen": u.purchases_fen,
        "rate": None if u.rate is None else str(u.rate),
        "rank": u.rank,
        "ranked_units": progress.ranked_units,
        "monthly": [{"month": m, "executed_fen": fen} for m, fen in progress.monthly],
    }
