"""Reserved-share execution (预留份额执行) by purchasing unit: target, executed, rate, ranking.

Of the orders carrying the unit (``orders.purchasing_unit_id``) paid in the year
(Asia/Shanghai), net of their succeeded refunds (:mod:`bangfu.unit_purchases`):

- executed = the 帮扶 part: lines of products certified on the sale's day
  (:func:`bangfu.certification.certified_at_sale`), the one rule every 帮扶 figure follows;
- uncertified = the other lines; order level = shipping and order-level adjustments;
- purchases = all three, the orders' paid amount net of refunds (what the report gave as
  executed before the rule applied to it).

Units rank by rate on the executed part (units without a target after them, by executed
amount); the ranking is advisory (DOMAIN.md report 5).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu import unit_purchases
from bangfu.agreements import LineFact, OrderFact
from bangfu.i18n import MESSAGES, t
from bangfu.models import Order, PurchasingUnit, UnitTarget
from bangfu.reports.base import Period, Report, column, local_midnight, ratio, totals_of

MESSAGES.update(
    {
        "report.col.executed_certified": {"zh": "已执行（帮扶：认定产品）", "en": "Executed (certified products)"},
        "report.col.uncertified": {"zh": "未认定产品", "en": "Uncertified products"},
        "report.col.order_level": {"zh": "运费及订单级调整", "en": "Shipping and order-level"},
        "report.col.purchases": {"zh": "采购合计（扣除退款）", "en": "All purchases (net of refunds)"},
    }
)


async def year_facts(conn: AsyncConnection, year: int) -> tuple[list[OrderFact], list[LineFact]]:
    """Every unit's orders paid in ``year`` (Asia/Shanghai) with their lines: the report's input."""
    start = local_midnight(date(year, 1, 1))
    end = local_midnight(date(year + 1, 1, 1))
    in_year = and_(Order.paid_at >= start, Order.paid_at < end, Order.purchasing_unit_id.is_not(None))
    return await unit_purchases.load(conn, in_year)


async def reserved_share(
    conn: AsyncConnection, period: Period, *, facts: tuple[list[OrderFact], list[LineFact]] | None = None
) -> Report:
    """The report for ``period``'s year; ``facts`` are :func:`year_facts` of that year when the
    caller has already read them (the unit's page uses them for its own figures too)."""
    year = period.year
    if facts is None:
        facts = await year_facts(conn, year)
    bought = unit_purchases.tally(*facts)
    targets = {
        int(unit): int(target)
        for unit, target in await conn.execute(
            select(UnitTarget.unit_id, UnitTarget.target_fen).where(UnitTarget.year == year)
        )
    }
    wanted = {unit for unit in bought if unit is not None} | set(targets)
    units = (
        await conn.execute(
            select(PurchasingUnit).where(PurchasingUnit.id.in_(list(wanted))).order_by(PurchasingUnit.code)
        )
    ).all()
    rows: list[dict[str, Any]] = []
    for unit in units:
        part = bought.get(unit.id) or unit_purchases.Purchases()
        executed = part.certified_fen
        target = targets.get(unit.id)
        rows.append(
            {
                "code": unit.code,
                "unit": unit.name,
                "unit_type": t(f"report.unit_type.{unit.unit_type.value}"),
                "target": target,
                "executed": executed,
                "rate": ratio(executed, target) if target else None,
                "uncertified": part.uncertified_fen,
                "order_level": part.order_level_fen,
                "purchases": part.net_fen,
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
        column("executed", "money", "report.col.executed_certified"),
        column("rate", "ratio"),
        column("uncertified", "money"),
        column("order_level", "money"),
        column("purchases", "money"),
    ]
    totals: dict[str, Any] = {"rank": t("report.total")} | totals_of(
        rows, ["target", "executed", "uncertified", "order_level", "purchases"]
    )
    totals["rate"] = ratio(totals["executed"], totals["target"])
    return Report("reserved-share", t("report.title.reserved-share", year=year), columns, rows, totals)
