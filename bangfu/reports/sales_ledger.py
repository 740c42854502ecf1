"""消费帮扶销售台账 (sales ledger) by month x channel type x supplier, certified or not.

Gross = paid amount of order lines, in the month the order was paid (Asia/Shanghai); refunds =
succeeded refunds, in the month they succeeded (``refunds.modified_at``: a refund never edits a
closed month); net = gross - refunds. Certified or not is the hub's one rule,
:func:`bangfu.certification.certified_at_sale`: the product had a certificate covering the day
the order was paid; a refund is certified when the sale it reverses was. Lines without a mapped
SKU have no supplier and are shown as unmapped (and uncertified).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.certification import certified_at_sale
from bangfu.enums import RefundStatus
from bangfu.i18n import t
from bangfu.models import Cooperative, Order, OrderLine, Product, Refund, Region, Shop, Sku, Supplier
from bangfu.money import format_yuan
from bangfu.reports.base import Period, Report, column, local_day, totals_of

Key = tuple[str, str, int | None, bool]  # month, channel type, supplier id, certified


async def sales_ledger(
    conn: AsyncConnection, period: Period, *, shop_id: int | None = None, cooperative_id: int | None = None
) -> Report:
    gross_day = local_day(conn, Order.paid_at)
    gross_lines = (
        select(
            gross_day.label("day"),
            Shop.channel_type.label("channel"),
            Sku.product_id.label("product_id"),
            certified_at_sale(conn, Sku.product_id, Order.paid_at).label("certified"),
            OrderLine.paid_fen.label("amount"),
        )
        .select_from(OrderLine)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Shop, Shop.id == OrderLine.shop_id)
        .outerjoin(Sku, Sku.id == OrderLine.sku_id)
        .where(Order.paid_at >= period.start, Order.paid_at < period.end)
    )
    refund_day = local_day(conn, Refund.modified_at)
    refund_lines = (
        select(
            refund_day.label("day"),
            Shop.channel_type.label("channel"),
            Sku.product_id.label("product_id"),
            certified_at_sale(conn, Sku.product_id, Order.paid_at).label("certified"),
            Refund.amount_fen.label("amount"),
        )
        .select_from(Refund)
        .join(Shop, Shop.id == Refund.shop_id)
        .outerjoin(OrderLine, OrderLine.id == Refund.order_line_id)
        .outerjoin(Order, Order.id == OrderLine.order_id)
        .outerjoin(Sku, Sku.id == OrderLine.sku_id)
        .where(
            Refund.status == RefundStatus.SUCCEEDED,
            Refund.modified_at >= period.start,
            Refund.modified_at < period.end,
        )
    )
    if shop_id is not None:
        gross_lines = gross_lines.where(Shop.id == shop_id)
        refund_lines = refund_lines.where(Shop.id == shop_id)
    results = []
    for lines in (gross_lines, refund_lines):
        sub = lines.subquery()
        results.append(
            (
                await conn.execute(
                    select(
                        sub.c.day, sub.c.channel, sub.c.product_id, sub.c.certified, func.sum(sub.c.amount)
                    ).group_by(sub.c.day, sub.c.channel, sub.c.product_id, sub.c.certified)
                )
            ).all()
        )
    gross, refunds = results
    product_ids = {r[2] for r in [*gross, *refunds] if r[2] is not None}
    products = {
        row.id: row
        for row in await conn.execute(
            select(Product.id, Product.supplier_id, Supplier.name, Supplier.county_id)
            .join(Supplier, Supplier.id == Product.supplier_id)
            .where(Product.id.in_(list(product_ids)))
        )
    }
    counties = {
        rid: name
        for rid, name in await conn.execute(
            select(Region.id, Region.name).where(Region.id.in_([p.county_id for p in products.values()]))
        )
    }
    if cooperative_id is not None:
        supplier = await conn.scalar(select(Cooperative.supplier_id).where(Cooperative.id == cooperative_id))
        keep = {pid for pid, p in products.items() if p.supplier_id == supplier}
    else:
        keep = None

    cells: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for index, rows in enumerate((gross, refunds)):
        for day_text, channel_type, product_id, certified_flag, amount in rows:
            if keep is not None and product_id not in keep:
                continue
            certified = bool(certified_flag)
            product = products.get(product_id) if product_id is not None else None
            key = (
                str(day_text)[:7],
                str(getattr(channel_type, "value", channel_type)),
                product.supplier_id if product else None,
                certified,
            )
            cells[key][index] += int(amount)
    out: list[dict[str, Any]] = []
    names = {p.supplier_id: (p.name, counties.get(p.county_id, "-")) for p in products.values()}
    for month, channel, supplier_id, certified in sorted(cells, key=lambda k: (k[0], k[1], k[2] or 0, not k[3])):
        g, r = cells[(month, channel, supplier_id, certified)]
        name, county = (
            names.get(supplier_id, (t("report.unmapped"), "-")) if supplier_id else (t("report.unmapped"), "-")
        )
        out.append(
            {
                "month": month,
                "channel": t(f"report.channel.{channel}"),
                "county": county,
                "supplier": name,
                "certified": t("yes") if certified else t("no"),
                "gross": g,
                "refunds": r,
                "net": g - r,
            }
        )
    columns = [
        column("month"),
        column("channel"),
        column("county"),
        column("supplier"),
        column("certified"),
        column("gross", "money"),
        column("refunds", "money"),
        column("net", "money"),
    ]
    totals: dict[str, Any] = {"month": t("report.total")} | totals_of(out, ["gross", "refunds", "net"])
    certified_net = sum(g - r for key, (g, r) in cells.items() if key[3])
    summary = [
        t(
            "cert.ledger_summary",
            certified=format_yuan(certified_net),
            uncertified=format_yuan(int(totals["net"]) - certified_net),
        )
    ]
    return Report("sales-ledger", t("report.title.sales-ledger", period=period.label), columns, out, totals, summary)
