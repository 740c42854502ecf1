"""Reserved-share execution (预留份额执行) by purchasing unit: target, executed, rate, ranking.

Executed = paid amount minus succeeded refunds of the orders carrying the unit
(``orders.purchasing_unit_id``) paid in the year (Asia/Shanghai). Units rank by rate (units
without a target after them, by executed amount); the ranking is advisory (DOMAIN.md report 5).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import RefundStatus
from bangfu.i18n import t
from bangfu.models import Order, PurchasingUnit, Refund, UnitTarget
from bangfu.reports.base import Period, Report, column, local_midnight, ratio, totals_of


async def reserved_share(conn: AsyncConnection, period: Period) -> Report:
    year = period.year
    start = local_midnight(period.first_day.replace(month=1, day=1))
    end = local_midnight(period.first_day.replace(year=year + 1, month=1, day=1))
    in_year = (Order.paid_at >= start, Order.paid_at < end, Order.purchasing_unit_id.is_not(None))
    paid = {
        int(unit): int(total)
        for unit, total in await conn.execute(
            select(Order.purchasing_unit_id, func.sum(Order.paid_fen))
            .where(*in_year)
            .group_by(Order.purchasing_unit_id)
        )
        if unit is not None
    }
    refunded = {
        int(unit): int(total)
        for unit, total in await conn.execute(
            select(Order.purchasing_unit_id, func.sum(Refund.amount_fen))
            .join(
                Refund,
                (Refund.shop_id == Order.shop_id) & (Refund.platform_order_id == Order.platform_order_id),
            )
            .where(*in_year, Refund.status == RefundStatus.SUCCEEDED)
            .group_by(Order.purchasing_unit_id)
        )
        if unit is not None
    }
    targets = {
        int(unit): int(target)
        for unit, target in await conn.execute(
            select(UnitTarget.unit_id, UnitTarget.target_fen).where(UnitTarget.year == year)
        )
    }
    wanted = set(paid) | set(targets)
    units = (
        await conn.execute(
            select(PurchasingUnit).where(PurchasingUnit.id.in_(list(wanted))).order_by(PurchasingUnit.code)
        )
    ).all()
    rows: list[dict[str, Any]] = []
    for unit in units:
        executed = paid.get(unit.id, 0) - refunded.get(unit.id, 0)
        target = targets.get(unit.id)
        rows.append(
            {
                "code": unit.code,
                "unit": unit.name,
                "unit_type": t(f"report.unit_type.{unit.unit_type.value}"),
                "target": target,
                "executed": executed,
                "rate": ratio(executed, target) if target else None,
            }
        )
    rows.sort(key=lambda r: (r["rate"] is None, -(r["rate"] or 0), -r["executed"], r["code"]))
    rank = 0
    previous: Any = object()
    for index, row in enumerate(rows, start=1):
        if row["rate"] is None:
            row["rank"] = None
            continue
        if row["rate"] != previous:
            rank, previous = index, row["rate"]
        row["rank"] = rank
    columns = [
        column("rank", "int"),
        column("code"),
        column("unit"),
        column("unit_type"),
        column("target", "money"),
        column("executed", "money"),
        column("rate", "ratio"),
    ]
    totals: dict[str, Any] = {"rank": t("report.total")} | totals_of(rows, ["target", "executed"])
    totals["rate"] = ratio(totals["executed"], totals["target"])
    return Report("reserved-share", t("report.title.reserved-share", year=year), columns, rows, totals)
