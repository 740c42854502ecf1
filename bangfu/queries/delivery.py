"""Delivery batches as the console shows them (``/delivery``): the list, one batch with its orders,
their lines and shipment status, the packing list (per SKU totals) and the delivery note (per
order lines), and both as reports for XLSX.

Who sees what: the admin and operators every batch (an operator with named shops, the batches
holding an order of one of them); a purchasing unit's staff (``unit`` role) their unit's
batches; anyone else none (the pages answer 404, as for a batch outside the scope).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, exists, false, func, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import Carrier, LineRefundState, OrderStatus, ShipmentState, UserRole
from bangfu.i18n import MESSAGES, t
from bangfu.models import (
    DeliveryBatch,
    DeliveryBatchOrder,
    Order,
    OrderLine,
    Product,
    PurchasingUnit,
    Shipment,
    Shop,
    Sku,
)
from bangfu.queries.operator import operates
from bangfu.reports.base import Column, Report
from bangfu.scope import Scope

__all__ = [
    "BatchDetail",
    "BatchRow",
    "batch_detail",
    "batches",
    "delivery_note_report",
    "packing_report",
    "sees_delivery",
]

MESSAGES.update(
    {
        "delivery.col.sku": {"zh": "SKU编码", "en": "SKU code"},
        "delivery.col.product": {"zh": "商品", "en": "Product"},
        "delivery.col.spec": {"zh": "规格", "en": "Spec"},
        "delivery.col.unit": {"zh": "单位", "en": "Unit"},
        "delivery.col.quantity": {"zh": "数量", "en": "Quantity"},
        "delivery.col.amount": {"zh": "金额(元)", "en": "Amount (yuan)"},
        "delivery.col.orders": {"zh": "订单数", "en": "Orders"},
        "delivery.col.order": {"zh": "订单号", "en": "Order"},
        "delivery.col.shop": {"zh": "下单渠道", "en": "Channel"},
        "delivery.col.shipment": {"zh": "发货", "en": "Shipment"},
        "delivery.packing.title": {"zh": "配货单（拣货汇总）", "en": "Packing list"},
        "delivery.note.title": {"zh": "送货单", "en": "Delivery note"},
        "delivery.subtitle": {
            "zh": "{unit}（{code}）· 配送日期 {date} · 批次 #{id}",
            "en": "{unit} ({code}) · delivery date {date} · batch #{id}",
        },
        "delivery.address": {"zh": "送货地址：{address}", "en": "Deliver to: {address}"},
        "delivery.no_address": {"zh": "（未登记送货地址）", "en": "(no delivery address on file)"},
        "delivery.total": {"zh": "合计", "en": "Total"},
        "delivery.sign.sender": {
            "zh": "送货人签字：____________    日期：__________",
            "en": "Delivered by (signature): ____________    Date: __________",
        },
        "delivery.sign.receiver": {
            "zh": "收货单位签收（盖章）：____________    日期：__________",
            "en": "Received by (signature / stamp): ____________    Date: __________",
        },
        "delivery.ship.none": {"zh": "未发货", "en": "not shipped"},
        "delivery.ship.platform": {"zh": "平台已发货", "en": "shipped on the platform"},
    }
)


def sees_delivery(scope: Scope) -> bool:
    return operates(scope) or (scope.role == UserRole.UNIT and scope.unit_id is not None)


def _batch_scope(scope: Scope) -> ColumnElement[bool]:
    if scope.role == UserRole.ADMIN or (scope.role == UserRole.OPERATOR and scope.shop_ids is None):
        return true()
    if scope.role == UserRole.OPERATOR:
        assert scope.shop_ids is not None
        return exists(
            select(DeliveryBatchOrder.id)
            .join(Order, Order.id == DeliveryBatchOrder.order_id)
            .where(DeliveryBatchOrder.batch_id == DeliveryBatch.id, Order.shop_id.in_(sorted(scope.shop_ids)))
        )
    if scope.role == UserRole.UNIT and scope.unit_id is not None:
        return DeliveryBatch.unit_id == scope.unit_id
    return false()


@dataclass(frozen=True)
class BatchRow:
    id: int
    unit_id: int
    unit_name: str
    unit_code: str
    delivery_date: date
    status: str
    orders: int
    quantity: int
    amount_fen: int
    shipped: int  # orders with a shipment or shipped on their platform
    pushed: int  # of which pushed to their platform


def _live_lines() -> ColumnElement[bool]:
    return OrderLine.refund_state != LineRefundState.FULL


async def batches(conn: AsyncConnection, scope: Scope, *, offset: int = 0, limit: int = 50) -> list[BatchRow] | None:
    """The batches in scope, latest delivery date first; None for a user who sees none."""
    if not sees_delivery(scope):
        return None
    shipped_order = Order.status.in_([OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED])
    per_order = (
        select(
            DeliveryBatchOrder.batch_id,
            func.count(DeliveryBatchOrder.order_id).label("orders"),
        )
        .group_by(DeliveryBatchOrder.batch_id)
        .subquery()
    )
    shipped = (
        select(DeliveryBatchOrder.batch_id, func.count().label("n"))
        .join(Order, Order.id == DeliveryBatchOrder.order_id)
        .outerjoin(Shipment, Shipment.order_id == Order.id)
        .where((Shipment.id.is_not(None)) | shipped_order)
        .group_by(DeliveryBatchOrder.batch_id)
        .subquery()
    )
    pushed = select(Shipment.order_id.label("order_id")).where(Shipment.push_state == ShipmentState.PUSHED).subquery()
    pushed_n = (
        select(DeliveryBatchOrder.batch_id, func.count().label("n"))
        .join(pushed, pushed.c.order_id == DeliveryBatchOrder.order_id)
        .group_by(DeliveryBatchOrder.batch_id)
        .subquery()
    )
    goods = (
        select(
            DeliveryBatchOrder.batch_id,
            func.coalesce(func.sum(OrderLine.quantity), 0).label("quantity"),
            func.coalesce(func.sum(OrderLine.paid_fen), 0).label("amount"),
        )
        .join(OrderLine, OrderLine.order_id == DeliveryBatchOrder.order_id)
        .where(_live_lines())
        .group_by(DeliveryBatchOrder.batch_id)
        .subquery()
    )
    query = (
        select(
            DeliveryBatch.id,
            DeliveryBatch.unit_id,
            PurchasingUnit.name,
            PurchasingUnit.code,
            DeliveryBatch.delivery_date,
            DeliveryBatch.status,
            func.coalesce(per_order.c.orders, 0).label("orders"),
            func.coalesce(goods.c.quantity, 0).label("quantity"),
            func.coalesce(goods.c.amount, 0).label("amount"),
            func.coalesce(shipped.c.n, 0).label("shipped"),
            func.coalesce(pushed_n.c.n, 0).label("pushed"),
        )
        .join(PurchasingUnit, PurchasingUnit.id == DeliveryBatch.unit_id)
        .outerjoin(per_order, per_order.c.batch_id == DeliveryBatch.id)
        .outerjoin(goods, goods.c.batch_id == DeliveryBatch.id)
        .outerjoin(shipped, shipped.c.batch_id == DeliveryBatch.id)
        .outerjoin(pushed_n, pushed_n.c.batch_id == DeliveryBatch.id)
        .where(_batch_scope(scope))
        .order_by(DeliveryBatch.delivery_date.desc(), PurchasingUnit.code, DeliveryBatch.id)
        .offset(offset)
        .limit(limit)
    )
    return [
        BatchRow(
            r.id,
            r.unit_id,
            r.name,
            r.code,
            r.delivery_date,
            r.status,
            int(r.orders),
            int(r.quantity),
            int(r.amount),
            int(r.shipped),
            int(r.pushed),
        )
        for r in await conn.execute(query)
    ]


@dataclass(frozen=True)
class LineRow:
    sku_code: str
    title: str
    spec: str
    unit: str
    quantity: int
    paid_fen: int


@dataclass(frozen=True)
class OrderRow:
    id: int
    platform_order_id: str
    shop_name: str
    paid_at: datetime | None
    status: OrderStatus
    paid_fen: int
    carrier: Carrier | None
    tracking_no: str | None
    push_state: ShipmentState | None
    push_error: str | None
    lines: list[LineRow]

    @property
    def shipment_label(self) -> str:
        if self.carrier is not None:
            return f"{self.carrier.label} {self.tracking_no}"
        if self.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED):
            return t("delivery.ship.platform")
        return t("delivery.ship.none")

    @property
    def needs_shipment(self) -> bool:
        return self.carrier is None and self.status in (OrderStatus.PAID, OrderStatus.PART_SHIPPED)


@dataclass(frozen=True)
class PackRow:
    sku_code: str
    product: str
    spec: str
    unit: str
    quantity: int
    amount_fen: int
    orders: int


@dataclass(frozen=True)
class BatchDetail:
    id: int
    unit_id: int
    unit_name: str
    unit_code: str
    address: str | None
    delivery_date: date
    status: str
    shipped_at: datetime | None
    orders: list[OrderRow]
    packing: list[PackRow]

    @property
    def quantity(self) -> int:
        return sum(p.quantity for p in self.packing)

    @property
    def amount_fen(self) -> int:
        return sum(p.amount_fen for p in self.packing)

    @property
    def to_ship(self) -> list[OrderRow]:
        return [o for o in self.orders if o.needs_shipment]

    @property
    def subtitle(self) -> str:
        return t(
            "delivery.subtitle",
            unit=self.unit_name,
            code=self.unit_code,
            date=self.delivery_date.isoformat(),
            id=self.id,
        )


async def batch_detail(conn: AsyncConnection, scope: Scope, batch_id: int) -> BatchDetail | None:
    """One batch in scope (None: none such, or outside the scope)."""
    if not sees_delivery(scope):
        return None
    head = (
        await conn.execute(
            select(
                DeliveryBatch.id,
                DeliveryBatch.unit_id,
                DeliveryBatch.address,
                DeliveryBatch.delivery_date,
                DeliveryBatch.status,
                DeliveryBatch.shipped_at,
                PurchasingUnit.name,
                PurchasingUnit.code,
            )
            .join(PurchasingUnit, PurchasingUnit.id == DeliveryBatch.unit_id)
            .where(DeliveryBatch.id == batch_id, _batch_scope(scope))
        )
    ).first()
    if head is None:
        return None
    order_rows = (
        await conn.execute(
            select(
                Order.id,
                Order.platform_order_id,
                Shop.name,
                Order.paid_at,
                Order.status,
                Order.paid_fen,
                Shipment.carrier,
                Shipment.tracking_no,
                Shipment.push_state,
                Shipment.last_error,
            )
            .join(DeliveryBatchOrder, DeliveryBatchOrder.order_id == Order.id)
            .join(Shop, Shop.id == Order.shop_id)
            .outerjoin(Shipment, Shipment.order_id == Order.id)
            .where(DeliveryBatchOrder.batch_id == batch_id)
            .order_by(Order.paid_at, Order.id)
        )
    ).all()
    sku_code = func.coalesce(
        Sku.sku_code, OrderLine.outer_sku_id, OrderLine.platform_sku_id, OrderLine.platform_item_id
    )
    line_rows = (
        await conn.execute(
            select(
                OrderLine.order_id,
                sku_code.label("sku_code"),
                func.coalesce(Product.name, OrderLine.title).label("title"),
                func.coalesce(Sku.spec, "").label("spec"),
                func.coalesce(Sku.unit, "").label("unit"),
                OrderLine.quantity,
                OrderLine.paid_fen,
            )
            .join(DeliveryBatchOrder, DeliveryBatchOrder.order_id == OrderLine.order_id)
            .outerjoin(Sku, Sku.id == OrderLine.sku_id)
            .outerjoin(Product, Product.id == Sku.product_id)
            .where(and_(DeliveryBatchOrder.batch_id == batch_id, _live_lines()))
            .order_by(OrderLine.order_id, OrderLine.id)
        )
    ).all()
    lines: dict[int, list[LineRow]] = {}
    packing: dict[str, list[int | str]] = {}
    for r in line_rows:
        lines.setdefault(r.order_id, []).append(
            LineRow(str(r.sku_code), str(r.title), str(r.spec), str(r.unit), int(r.quantity), int(r.paid_fen))
        )
        pack = packing.setdefault(str(r.sku_code), [str(r.title), str(r.spec), str(r.unit), 0, 0, 0])
        pack[3] = int(pack[3]) + int(r.quantity)
        pack[4] = int(pack[4]) + int(r.paid_fen)
    for code in packing:
        packing[code][5] = len({r.order_id for r in line_rows if str(r.sku_code) == code})
    orders = [
        OrderRow(
            id=r.id,
            platform_order_id=r.platform_order_id,
            shop_name=r.name,
            paid_at=r.paid_at,
            status=OrderStatus(r.status),
            paid_fen=r.paid_fen,
            carrier=Carrier(r.carrier) if r.carrier else None,
            tracking_no=r.tracking_no,
            push_state=ShipmentState(r.push_state) if r.push_state else None,
            push_error=r.last_error,
            lines=lines.get(r.id, []),
        )
        for r in order_rows
    ]
    return BatchDetail(
        id=head.id,
        unit_id=head.unit_id,
        unit_name=head.name,
        unit_code=head.code,
        address=head.address,
        delivery_date=head.delivery_date,
        status=head.status,
        shipped_at=head.shipped_at,
        orders=orders,
        packing=[
            PackRow(code, str(v[0]), str(v[1]), str(v[2]), int(v[3]), int(v[4]), int(v[5]))
            for code, v in sorted(packing.items())
        ],
    )


def _address_line(batch: BatchDetail) -> str:
    return t("delivery.address", address=batch.address or t("delivery.no_address"))


def packing_report(batch: BatchDetail) -> Report:
    """The packing list: one row per SKU with the batch's totals."""
    columns = [
        Column("sku", t("delivery.col.sku")),
        Column("product", t("delivery.col.product")),
        Column("spec", t("delivery.col.spec")),
        Column("unit", t("delivery.col.unit")),
        Column("quantity", t("delivery.col.quantity"), "int"),
        Column("orders", t("delivery.col.orders"), "int"),
        Column("amount", t("delivery.col.amount"), "money"),
    ]
    rows = [
        {"sku": p.sku_code, "product": p.product, "spec": p.spec, "unit": p.unit, "quantity": p.quantity,
         "orders": p.orders, "amount": p.amount_fen}
        for p in batch.packing
    ]  # fmt: skip
    totals = {"sku": t("delivery.total"), "quantity": batch.quantity, "orders": len(batch.orders),
              "amount": batch.amount_fen}  # fmt: skip
    return Report("packing", t("delivery.packing.title"), columns, rows, totals, [_address_line(batch)])


def delivery_note_report(batch: BatchDetail) -> Report:
    """The delivery note: each order's lines, the unit's address and the signature lines."""
    columns = [
        Column("order", t("delivery.col.order")),
        Column("shop", t("delivery.col.shop")),
        Column("sku", t("delivery.col.sku")),
        Column("product", t("delivery.col.product")),
        Column("spec", t("delivery.col.spec")),
        Column("quantity", t("delivery.col.quantity"), "int"),
        Column("amount", t("delivery.col.amount"), "money"),
        Column("shipment", t("delivery.col.shipment")),
    ]
    rows = [
        {"order": o.platform_order_id, "shop": o.shop_name, "sku": line.sku_code, "product": line.title,
         "spec": line.spec, "quantity": line.quantity, "amount": line.paid_fen, "shipment": o.shipment_label}
        for o in batch.orders
        for line in o.lines
    ]  # fmt: skip
    totals = {"order": t("delivery.total"), "quantity": batch.quantity, "amount": batch.amount_fen}
    summary = [_address_line(batch), "", t("delivery.sign.sender"), t("delivery.sign.receiver")]
    return Report("delivery_note", t("delivery.note.title"), columns, rows, totals, summary)
