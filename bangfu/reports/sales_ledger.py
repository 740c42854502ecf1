"""消费帮扶销售台账 (sales ledger) by month x channel type x supplier, certified or not.

Gross = paid amount of order lines, in the month the order was paid (Asia/Shanghai); refunds =
succeeded refunds, in the month they succeeded (``refunds.modified_at``: a refund never edits a
closed month); net = gross - refunds. Certified or not is the hub's one rule,
:func:`bangfu.certification.certified_at_sale`: the product had a certificate covering the day
the order was paid; a refund is certified when the sale it reverses was. Lines without a mapped
SKU have no supplier and are shown as unmapped (and uncertified).

Read from the sales per day (:mod:`bangfu.sales_days`: per paid day, shop and SKU; refunds per
refund day, shop, SKU and sale day), exact whatever is marked, not from every line and refund.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu import sales_days
from bangfu.certification import with_certified
from bangfu.i18n import t
from bangfu.models import Cooperative, Product, Region, Supplier
from bangfu.money import format_yuan
from bangfu.reports.base import Period, Report, column, totals_of

Key = tuple[str, str, int | None, bool]  # month, channel type, supplier id, certified


async def sales_ledger(
    conn: AsyncConnection,
    period: Period,
    *,
    shop_id: int | None = None,
    cooperative_id: int | None = None,
    stored: bool = True,
) -> Report:
    # From the sales per day (bangfu.sales_days, ``stored``), not every line and refund of the period.
    # The certificate looked up per (day, channel, product) group (certification.with_certified),
    # as the county overview and the product pivot do: one rule, one way of applying it.
    marked = await sales_days.read_marked_days(conn, period, stored=stored)
    sold = sales_days.gross_rows(conn, period, stored=stored, marked_days=marked)
    gross_lines = select(
        sold.c.day.label("day"),
        sold.c.channel.label("channel"),
        sold.c.product_id.label("product_id"),
        func.sum(sold.c.fen).label("amount"),
    ).group_by(sold.c.day, sold.c.channel, sold.c.product_id)
    refunded = sales_days.refund_rows(conn, period, stored=stored, marked_days=marked)
    refund_lines = select(
        refunded.c.day.label("day"),
        refunded.c.channel.label("channel"),
        refunded.c.product_id.label("product_id"),
        refunded.c.sale_day.label("sale_day"),
        func.sum(refunded.c.fen).label("amount"),
    ).group_by(refunded.c.day, refunded.c.channel, refunded.c.product_id, refunded.c.sale_day)
    if shop_id is not None:
        gross_lines = gross_lines.where(sold.c.shop_id == shop_id)
        refund_lines = refund_lines.where(refunded.c.shop_id == shop_id)
    results = []
    # A refund is certified when the sale it reverses was: its sale day decides.
    for lines, day in ((gross_lines, "day"), (refund_lines, "sale_day")):
        sub = with_certified(lines.subquery(), day=day)
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
