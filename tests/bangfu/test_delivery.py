"""Delivery batches (bangfu/delivery.py): paid unit orders of any shop go into their unit's batch
for their delivery date (16:00 Beijing cut-off), once; unpaid, cancelled and non-unit orders stay
out; marking a batch shipped records a shipment per order (pending for a platform shop, local for
the county's own mall) and needs every tracking number; a shipped batch takes no more orders; the
packing list sums per SKU and the delivery note carries the address and signature lines.
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.delivery import DeliveryError, assign_batches, delivery_date_for, mark_batch_shipped
from bangfu.enums import ChannelType, OrderStatus, PlatformKind, ShipmentState, SupplierKind, UnitType, UserRole
from bangfu.models import (
    DeliveryBatch,
    DeliveryBatchOrder,
    Order,
    OrderLine,
    Product,
    PurchasingUnit,
    Region,
    Shipment,
    Shop,
    Sku,
    Supplier,
)
from bangfu.queries.delivery import batch_detail, batches, delivery_note_report, packing_report
from bangfu.scope import Scope
from bangfu.store import session_factory

NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)  # 12:00 in Beijing


def test_delivery_date_cut_off() -> None:
    assert delivery_date_for(datetime(2026, 12, 6, 7, 59, tzinfo=UTC)) == date(2026, 12, 7)  # 15:59 Beijing
    assert delivery_date_for(datetime(2026, 12, 6, 8, 0, tzinfo=UTC)) == date(2026, 12, 8)  # 16:00
    assert delivery_date_for(datetime(2026, 12, 5, 17, 0, tzinfo=UTC)) == date(2026, 12, 7)  # 01:00 on the 6th


async def _world(engine: AsyncEngine) -> dict[str, int]:
    async with session_factory(engine)() as session, session.begin():
        county = Region(code="513300", name="甘孜县", level="county", assisted=True)
        session.add(county)
        await session.flush()
        supplier = Supplier(
            credit_code="91513300TEST0001X", name="社", kind=SupplierKind.COOPERATIVE, county_id=county.id
        )
        session.add(supplier)
        await session.flush()
        product = Product(spu_code="SPU-1", name="牦牛肉干", category="肉干", supplier_id=supplier.id)
        session.add(product)
        await session.flush()
        beef = Sku(sku_code="GZ-BEEF", product_id=product.id, spec="250g", unit="袋", retail_price_fen=5000)
        tea = Sku(sku_code="GZ-TEA", product_id=product.id, spec="100g", unit="盒", retail_price_fen=3000)
        mall = Shop(
            name="县自营商城", platform=PlatformKind.SELFMALL, channel_type=ChannelType.SELFMALL,
            platform_shop_id="mall", settings={},
        )  # fmt: skip
        taobao = Shop(
            name="淘宝店", platform=PlatformKind.TAOBAO, channel_type=ChannelType.ECOMMERCE,
            platform_shop_id="tb", base_url="http://127.0.0.1:9", settings={},
        )  # fmt: skip
        school = PurchasingUnit(
            code="U-SCH-001", name="县第一中学食堂", unit_type=UnitType.SCHOOL, delivery_address="县城中学路1号"
        )
        hospital = PurchasingUnit(code="U-HOSP-001", name="县人民医院", unit_type=UnitType.HOSPITAL)
        counter = Shop(
            name="县城专柜", platform=PlatformKind.COUNTER, channel_type=ChannelType.COUNTER,
            platform_shop_id="counter", settings={},
        )  # fmt: skip
        session.add_all([beef, tea, mall, taobao, counter, school, hospital])
        await session.flush()
        ids = {"beef": beef.id, "tea": tea.id, "mall": mall.id, "taobao": taobao.id, "counter": counter.id}
        ids |= {"school": school.id, "hospital": hospital.id}

        def order(name: str, shop: int, unit: int | None, paid: datetime | None, status: OrderStatus) -> Order:
            made = Order(
                shop_id=shop, platform_order_id=name, status=status, status_rank=status.rank, platform_status="x",
                created_at=NOW - timedelta(days=1), paid_at=paid, modified_at=NOW, paid_fen=0,
                purchasing_unit_id=unit,
            )  # fmt: skip
            session.add(made)
            return made

        morning = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)  # 09:00 Beijing: delivered on the 7th
        evening = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)  # 18:00 Beijing: delivered on the 8th
        orders = {
            "m1": order("M1", mall.id, school.id, morning, OrderStatus.PAID),
            "m2": order("M2", mall.id, school.id, morning + timedelta(hours=1), OrderStatus.PAID),
            "t1": order("T1", taobao.id, school.id, morning, OrderStatus.PAID),
            "m3": order("M3", mall.id, school.id, evening, OrderStatus.PAID),
            "h1": order("H1", mall.id, hospital.id, morning, OrderStatus.PAID),
            "unpaid": order("M4", mall.id, school.id, None, OrderStatus.PENDING_PAYMENT),
            "cancelled": order("M5", mall.id, school.id, None, OrderStatus.CANCELLED),
            "person": order("M6", mall.id, None, morning, OrderStatus.PAID),
            # a unit's staff bought at the counter: handed over there, never delivered
            "at_counter": order("C1", counter.id, school.id, morning, OrderStatus.COMPLETED),
        }
        await session.flush()
        for key, (sku, quantity, paid) in {
            "m1": (beef, 2, 10000), "m2": (beef, 1, 5000), "t1": (tea, 3, 9000), "m3": (tea, 1, 3000),
            "h1": (beef, 4, 20000),
        }.items():  # fmt: skip
            session.add(
                OrderLine(
                    order_id=orders[key].id,
                    shop_id=orders[key].shop_id,
                    platform_line_id=f"{key}-1",
                    sku_id=sku.id,
                    platform_item_id="1",
                    title="line",
                    quantity=quantity,
                    unit_price_fen=paid // quantity,
                    paid_fen=paid,
                )
            )
        session.add(
            OrderLine(
                order_id=orders["m1"].id,
                shop_id=mall.id,
                platform_line_id="m1-2",
                sku_id=tea.id,
                platform_item_id="1",
                title="line",
                quantity=1,
                unit_price_fen=3000,
                paid_fen=3000,
            )
        )
        return ids | {k: o.id for k, o in orders.items()}


async def _batch_of(engine: AsyncEngine) -> dict[int, tuple[int, date]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(DeliveryBatchOrder.order_id, DeliveryBatch.unit_id, DeliveryBatch.delivery_date).join(
                DeliveryBatch, DeliveryBatch.id == DeliveryBatchOrder.batch_id
            )
        )
        return {int(r[0]): (int(r[1]), r[2]) for r in rows}


async def test_batches_ship_and_print(engine: AsyncEngine) -> None:
    ids = await _world(engine)
    async with engine.begin() as conn:
        done = await assign_batches(conn, now=NOW)
    assert (done.batches_created, done.orders_added) == (3, 5)
    placed = await _batch_of(engine)
    seventh, eighth = date(2026, 12, 7), date(2026, 12, 8)
    assert placed == {
        ids["m1"]: (ids["school"], seventh),
        ids["m2"]: (ids["school"], seventh),
        ids["t1"]: (ids["school"], seventh),
        ids["m3"]: (ids["school"], eighth),
        ids["h1"]: (ids["hospital"], seventh),
    }
    async with engine.begin() as conn:
        again = await assign_batches(conn, now=NOW)
    assert (again.batches_created, again.orders_added) == (0, 0)

    admin = Scope.admin()
    async with engine.connect() as conn:
        listed = await batches(conn, admin)
        assert listed is not None
        school_batch = next(b for b in listed if b.unit_id == ids["school"] and b.delivery_date == seventh)
        assert (school_batch.orders, school_batch.quantity, school_batch.amount_fen) == (3, 7, 27000)
        detail = await batch_detail(conn, admin, school_batch.id)
    assert detail is not None and detail.address == "县城中学路1号"
    assert [(p.sku_code, p.quantity, p.amount_fen, p.orders) for p in detail.packing] == [
        ("GZ-BEEF", 3, 15000, 2),
        ("GZ-TEA", 4, 12000, 2),
    ]
    packing = packing_report(detail)
    assert packing.totals == {"sku": "合计", "quantity": 7, "orders": 3, "amount": 27000}
    note = delivery_note_report(detail)
    assert [row["order"] for row in note.rows] == ["M1", "M1", "T1", "M2"]  # by payment time
    assert note.summary[0] == "送货地址：县城中学路1号" and "收货单位签收" in note.summary[-1]

    # Shipping: every order needs its tracking number; all or nothing.
    tracking = {ids["m1"]: "SF1000000001", ids["m2"]: "SF1000000002"}
    with pytest.raises(DeliveryError, match="T1: no tracking number"):
        async with engine.begin() as conn:
            await mark_batch_shipped(conn, school_batch.id, "SF", tracking, now=NOW)
    async with engine.connect() as conn:
        assert await conn.scalar(select(Shipment.id)) is None
    with pytest.raises(DeliveryError, match="no delivery batch"):
        async with engine.begin() as conn:
            await mark_batch_shipped(conn, school_batch.id, "SF", tracking, now=NOW, unit_ids=[ids["hospital"]])
    tracking[ids["t1"]] = "SF1000000003"
    async with engine.begin() as conn:
        made = await mark_batch_shipped(conn, school_batch.id, "sf", tracking, now=NOW, by=None)
    assert len(made) == 3
    async with engine.connect() as conn:
        shipments = {
            r.order_id: (r.tracking_no, ShipmentState(r.push_state), r.recorded_via)
            for r in await conn.execute(select(Shipment))
        }
        status = await conn.scalar(select(DeliveryBatch.status).where(DeliveryBatch.id == school_batch.id))
    assert shipments == {
        ids["m1"]: ("SF1000000001", ShipmentState.LOCAL, "batch"),
        ids["m2"]: ("SF1000000002", ShipmentState.LOCAL, "batch"),
        ids["t1"]: ("SF1000000003", ShipmentState.PENDING, "batch"),  # the platform is told
    }
    assert status == "shipped"
    with pytest.raises(DeliveryError, match="shipped already"):
        async with engine.begin() as conn:
            await mark_batch_shipped(conn, school_batch.id, "SF", tracking, now=NOW)

    # A unit sees its own batches only.
    unit = Scope(UserRole.UNIT, unit_id=ids["hospital"])
    async with engine.connect() as conn:
        mine = await batches(conn, unit)
        assert mine is not None and {b.unit_id for b in mine} == {ids["hospital"]}
        assert await batch_detail(conn, unit, school_batch.id) is None
        assert await batches(conn, Scope(UserRole.HOST)) is None
        detail = await batch_detail(conn, admin, school_batch.id)
    assert detail is not None and [o.shipment_label for o in detail.orders] == [
        "顺丰速运 SF1000000001",
        "顺丰速运 SF1000000003",
        "顺丰速运 SF1000000002",
    ]
