"""Sales files of channels without an API (``bangfu import sales FILE --shop ID``).

A counter's till (专柜/专区), a canteen's vending machine, a community store, a fair, canteen or
union purchasing, the 832 platform: each is a shop of an offline kind
(:data:`bangfu.enums.OFFLINE_CHANNELS`), and its sales come as a POS or export file. Each
receipt becomes one order (key: the shop and the receipt number), its rows the order's lines,
written by the sync's own upsert (:func:`bangfu.upsert.upsert_orders`): the line queue's
triggers see them, and attribution, lot draws, the ledger, the reports and the board take them
like any platform's order.

The importer's rules hold (:mod:`bangfu.importing`): every problem of the file in one report,
nothing written unless the whole file is good, and importing a file again, or a file that
overlaps one imported before, changes nothing. A receipt already stored must come again as it
was stored (the same time, products, quantities and amounts): an import never changes a stored
sale, so a file that disagrees with the store is rejected, naming the receipt's first row.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bangfu.enums import OrderStatus, PlatformKind
from bangfu.errors import UserError
from bangfu.i18n import t
from bangfu.importing.loaders import LoadResult, NumberedRows, RowError
from bangfu.importing.rows import SalesRow
from bangfu.models import Order, Product, PurchasingUnit, Shop, Sku
from bangfu.notify import orders_changed_in
from bangfu.records import OrderLineRecord, OrderRecord
from bangfu.upsert_rules import order_hash


class Member(NamedTuple):
    """A row of a receipt with the SKU it names."""

    number: int
    row: SalesRow
    sku_id: int
    sku_code: str
    title: str


#: ``orders.platform_status`` of an imported sale: handed over at the till, nothing to ship.
IMPORTED_STATUS = "imported"


async def sales_shop(session: AsyncSession, shop_id: int) -> Shop:
    """The shop a sales file is for: it must exist and be of an offline kind."""
    shop = await session.get(Shop, shop_id)
    if shop is None:
        raise UserError(t("import.sales.no_shop", id=shop_id))
    if not PlatformKind(shop.platform).is_offline:
        raise UserError(t("import.sales.online_shop", id=shop_id, name=shop.name, platform=shop.platform.value))
    return shop


def line_id(receipt_no: str, sku_id: int) -> str:
    """A line's key within the shop: its receipt and its SKU (a receipt lists a product once)."""
    return f"{receipt_no}:{sku_id}"


async def load_sales(
    session: AsyncSession, rows: NumberedRows[SalesRow], *, partial: bool = False, shop_id: int | None = None
) -> LoadResult:
    from bangfu.upsert import upsert_orders

    if shop_id is None:
        raise UserError(t("import.sales.shop_needed"))
    shop = await sales_shop(session, shop_id)
    result = LoadResult()
    errors = result.errors
    codes = {r.sku_code for _, r in rows if r.sku_code}
    barcodes = {r.barcode for _, r in rows if r.barcode}
    found = (
        await session.execute(
            select(Sku.id, Sku.sku_code, Sku.barcode, Sku.spec, Product.name)
            .join(Product, Product.id == Sku.product_id)
            .where(Sku.sku_code.in_(sorted(codes)) | Sku.barcode.in_(sorted(barcodes)))
        )
    ).all()
    by_code = {row.sku_code: row for row in found}
    by_barcode = {row.barcode: row for row in found if row.barcode}
    unit_codes = {r.unit_code for _, r in rows if r.unit_code}
    units = set(await session.scalars(select(PurchasingUnit.code).where(PurchasingUnit.code.in_(sorted(unit_codes)))))

    receipts: dict[str, list[Member]] = defaultdict(list)
    for number, row in rows:
        sku = None
        if row.sku_code is not None:
            sku = by_code.get(row.sku_code)
            if sku is None:
                errors.append(RowError(number, "sku_code", f"no SKU with code {row.sku_code}"))
                continue
        if row.barcode is not None:
            marked = by_barcode.get(row.barcode)
            if marked is None:
                errors.append(RowError(number, "barcode", f"no SKU with barcode {row.barcode}"))
                continue
            if sku is not None and marked.id != sku.id:
                errors.append(
                    RowError(
                        number,
                        "barcode",
                        f"{row.barcode} is the barcode of SKU {marked.sku_code}, not of {sku.sku_code}",
                    )
                )
                continue
            sku = marked
        assert sku is not None  # the row model wants a SKU code or a barcode
        if row.unit_code is not None and row.unit_code not in units:
            errors.append(RowError(number, "unit_code", f"no purchasing unit {row.unit_code}"))
        receipts[row.receipt_no].append(Member(number, row, int(sku.id), str(sku.sku_code), f"{sku.name} {sku.spec}"))

    records: dict[str, tuple[int, OrderRecord]] = {}
    for receipt_no, members in receipts.items():
        first_no, first = members[0].number, members[0].row
        seen: dict[int, int] = {}
        for number, row, sku_id, _, _ in members:
            for name in SalesRow.RECEIPT_FIELDS:
                if getattr(row, name) != getattr(first, name):
                    errors.append(
                        RowError(number, name, f"differs from row {first_no} of the same receipt {receipt_no}")
                    )
            if sku_id in seen:
                column = "sku_code" if row.sku_code is not None else "barcode"
                reason = f"the same product as row {seen[sku_id]} of receipt {receipt_no}: one line per product"
                errors.append(RowError(number, column, reason))
            seen.setdefault(sku_id, number)
        records[receipt_no] = (first_no, _order(receipt_no, members))
    if errors or partial:  # with rows missing, a receipt's lines are not all there: store nothing
        return result

    stored = dict(
        (
            await session.execute(
                select(Order.platform_order_id, Order.content_hash).where(
                    Order.shop_id == shop.id, Order.platform_order_id.in_(sorted(records))
                )
            )
        ).all()
    )
    for receipt_no, (first_no, record) in records.items():
        digest = stored.get(receipt_no)
        if digest is not None and digest != order_hash(record):
            reason = (
                f"receipt {receipt_no} is stored already with another time, products or amounts; "
                "an import never changes a stored sale"
            )
            errors.append(RowError(first_no, "receipt_no", reason))
    if errors:
        errors.sort(key=lambda e: e.row)
        return result

    conn = await session.connection()
    page = await upsert_orders(conn, shop.id, [record for _, record in records.values()], now=datetime.now(UTC))
    result.created, result.updated, result.unchanged = page.new, page.changed, page.unchanged
    if page.new or page.changed:
        await orders_changed_in(conn, orders=page.new + page.changed)
    return result


def _order(receipt_no: str, members: list[Member]) -> OrderRecord:
    first = members[0].row
    lines = tuple(
        OrderLineRecord(
            platform_line_id=line_id(receipt_no, m.sku_id),
            platform_item_id=m.sku_code,
            quantity=m.row.quantity,
            unit_price_fen=m.row.unit_price,
            paid_fen=m.row.paid,
            title=m.row.title or m.title,
            outer_sku_id=m.sku_code,  # the upsert takes the line's SKU by its code
        )
        for m in members
    )
    return OrderRecord(
        platform_order_id=receipt_no,
        status=OrderStatus.COMPLETED,
        platform_status=IMPORTED_STATUS,
        created_at=first.sold_at,
        modified_at=first.sold_at,
        paid_at=first.sold_at,
        paid_fen=sum(line.paid_fen for line in lines),
        discount_fen=sum(m.row.discount for m in members),
        lines=lines,
        purchasing_unit_code=first.unit_code,
        raw={"source": "import", "payment": first.payment, "rows": [m.number for m in members]},
    )
