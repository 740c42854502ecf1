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

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu import unit_purchases
from bangfu.clock import SHANGHAI
from bangfu.models import PurchasingUnit, UnitTarget
from bangfu.reports.base import Period, local_midnight
from bangfu.reports.reserved import reserved_share, year_facts
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
    # One read of the year's unit purchases serves the report (rate, rank) and this unit's own
    # figures, chart and order list.
    facts = await year_facts(conn, year)
    report = await reserved_share(conn, year_period(year), facts=facts)
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
    own = [order for order in facts[0] if order.unit_id == unit_id]
    own_ids = {order.id for order in own}
    split = unit_purchases.parts(own, (ln for ln in facts[1] if ln.order_id in own_ids))
    by_month: dict[str, int] = defaultdict(int)  # the 帮扶 part, by local payment month
    for order in own:
        by_month[_month_of(order.paid_at)] += split[order.id].certified_fen
    monthly = [(m, by_month.get(m, 0)) for m in period.months()]
    newest_first = sorted(own, key=lambda o: (o.paid_at, o.id), reverse=True)
    orders = [
        UnitOrder(o.id, o.ref, o.shop, o.paid_at, o.paid_fen, o.refunded_fen, split[o.id].certified_fen)
        for o in newest_first[offset : offset + limit]
    ]
    return UnitProgress(row, year, ranked, monthly, orders, len(own))


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
