"""Open unsold-stock alerts (see ``workers/alerts.py``) with their lot, SKU, stock and idle days."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.i18n import t
from bangfu.models import Alert, Order, OrderLine, Product, Sku, SupplyLot
from bangfu.reports.base import SHANGHAI, Report, column
from workers.alerts import KIND, lot_of


async def unsold(conn: AsyncConnection, *, now: datetime) -> Report:
    alerts = (
        await conn.execute(
            select(Alert.id, Alert.subject, Alert.message, Alert.created_at, Alert.severity)
            .where(Alert.kind == KIND, Alert.resolved_at.is_(None))
            .order_by(Alert.id)
        )
    ).all()
    by_lot = {lid: alert for alert in alerts if (lid := lot_of(alert.subject)) is not None}
    lots = {
        row.id: row
        for row in await conn.execute(
            select(SupplyLot.id, SupplyLot.lot_code, SupplyLot.sku_id, SupplyLot.remaining, SupplyLot.received_on)
            .add_columns(Sku.sku_code, Product.name.label("product"), Product.perishable)
            .join(Sku, Sku.id == SupplyLot.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .where(SupplyLot.id.in_(list(by_lot)))
        )
    }
    sku_ids = sorted({lot.sku_id for lot in lots.values()})
    last_sale = {
        int(sku): value
        for sku, value in await conn.execute(
            select(OrderLine.sku_id, func.max(Order.paid_at))
            .join(Order, Order.id == OrderLine.order_id)
            .where(OrderLine.sku_id.in_(sku_ids), Order.paid_at.is_not(None))
            .group_by(OrderLine.sku_id)
        )
        if value is not None and sku is not None
    }
    today = now.astimezone(SHANGHAI).date()
    rows: list[dict[str, Any]] = []
    for lot_id, alert in sorted(by_lot.items()):
        if lot_id not in lots:
            continue
        lot = lots[lot_id]
        last = last_sale.get(lot.sku_id)
        rows.append(
            {
                "lot": lot.lot_code,
                "sku": lot.sku_code,
                "product": lot.product,
                "perishable": t("yes") if lot.perishable else t("no"),
                "remaining": lot.remaining,
                "received_on": lot.received_on.isoformat(),
                "last_sale": last.astimezone(SHANGHAI).date().isoformat() if last else None,
                "idle_days": (today - (last.astimezone(SHANGHAI).date() if last else lot.received_on)).days,
                "alert_since": alert.created_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
            }
        )
    columns = [
        column("lot"),
        column("sku"),
        column("product"),
        column("perishable"),
        column("remaining", "int"),
        column("received_on"),
        column("last_sale"),
        column("idle_days", "int"),
        column("alert_since"),
    ]
    totals = {"lot": t("report.total"), "remaining": sum(r["remaining"] for r in rows)}
    return Report("unsold", t("report.title.unsold"), columns, rows, totals)
