"""The stock truth's undrawn units, read through ``line_stock`` (migration 0042), equal
the definition computed from the raw rows (every sold line since the count, less the sum of its
``lot_allocations``) after every kind of change: sales, draws (the pipeline's and partial ones),
returns, cancellations, refunds, SKU remaps, quantity changes, new lots, and draw rows changed
or removed; and ``line_stock.unsold`` (migration 0043), which leaves lines of cancelled and closed
orders out of the indexes, is set exactly on those lines (never on a sold one) through
cancellations, closes, ``cancelled -> paid``, lines inserted for an order already cancelled and
lines moved between orders."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bangfu.enums import ChannelType, LineRefundState, OrderStatus, PlatformKind, SupplierKind
from bangfu.models import (
    LineStock,
    Listing,
    LotAllocation,
    Order,
    OrderLine,
    Product,
    Region,
    Shop,
    Sku,
    Supplier,
    SupplyLot,
)
from bangfu.stock_truth import COUNT_MARGIN, SOLD_STATUSES, load_stock
from workers.lot_draws import allocate_lines

UNSOLD = (OrderStatus.CANCELLED, OrderStatus.CLOSED)


async def _by_definition(conn: AsyncConnection, skus: list[int]) -> dict[int, int]:
    """Undrawn units per SKU from the raw rows, in Python (the definition in ``sync/stock.py``)."""
    first: dict[int, datetime] = {}
    for lot_sku, created in await conn.execute(select(SupplyLot.sku_id, SupplyLot.created_at)):
        first[lot_sku] = min(first.get(lot_sku, created), created)
    listings = {
        (shop, item, platform_sku): sku
        for shop, item, platform_sku, sku in await conn.execute(
            select(Listing.shop_id, Listing.platform_item_id, Listing.platform_sku_id, Listing.sku_id)
        )
    }
    drawn: dict[int, int] = defaultdict(int)
    for line_id, units in await conn.execute(select(LotAllocation.order_line_id, LotAllocation.quantity)):
        drawn[line_id] += units
    out = dict.fromkeys(skus, 0)
    rows = await conn.execute(
        select(
            OrderLine.id,
            OrderLine.sku_id,
            OrderLine.shop_id,
            OrderLine.platform_item_id,
            OrderLine.platform_sku_id,
            OrderLine.quantity,
            Order.status,
            Order.paid_at,
        ).join(Order, Order.id == OrderLine.order_id)
    )
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for line_id, line_sku, shop_id, item, platform_sku, quantity, status, paid_at in rows:
        sku_id = line_sku if line_sku is not None else listings.get((shop_id, item, platform_sku or ""))
        if sku_id not in out or paid_at is None or status not in SOLD_STATUSES:
            continue
        since = first[sku_id] - COUNT_MARGIN if sku_id in first else epoch
        if paid_at >= since:
            out[sku_id] += quantity - drawn[line_id]
    return out


async def _check(engine: AsyncEngine, skus: list[int]) -> dict[int, int]:
    async with engine.connect() as conn:
        stock = await load_stock(conn, skus)
        expected = await _by_definition(conn, skus)
        # The mirror itself: one row per line, its SKU, shop, item and quantity, and the sum of
        # its draws.
        drawn: dict[int, int] = defaultdict(int)
        for line_id, units in await conn.execute(select(LotAllocation.order_line_id, LotAllocation.quantity)):
            drawn[line_id] += units
        lines = {
            row[0]: (*row[1:], drawn[row[0]])
            for row in await conn.execute(
                select(
                    OrderLine.id, OrderLine.sku_id, OrderLine.shop_id, OrderLine.platform_item_id, OrderLine.quantity
                )
            )
        }
        kept = {
            row[0]: tuple(row[1:])
            for row in await conn.execute(
                select(
                    LineStock.order_line_id,
                    LineStock.sku_id,
                    LineStock.shop_id,
                    LineStock.platform_item_id,
                    LineStock.quantity,
                    LineStock.drawn_units,
                )
            )
        }
        # The flag: exactly the lines of cancelled or closed orders, so never a sold line.
        flags = (
            await conn.execute(
                select(LineStock.unsold, Order.status)
                .join(OrderLine, OrderLine.id == LineStock.order_line_id)
                .join(Order, Order.id == OrderLine.order_id)
            )
        ).all()
    assert kept == lines
    assert len(flags) == len(lines)
    for unsold, status in flags:
        assert bool(unsold) == (status in UNSOLD), (unsold, status)
        assert not (unsold and status in SOLD_STATUSES)
    assert {sku: s.undrawn for sku, s in stock.items()} == expected
    return expected


async def test_undrawn_through_drawn_units_equals_the_definition(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        county = await conn.scalar(
            insert(Region).values(code="513300", name="甘孜州", level="county", assisted=True).returning(Region.id)
        )
        supplier = await conn.scalar(
            insert(Supplier)
            .values(credit_code="91513300TEST00009X", name="测试社", kind=SupplierKind.COOPERATIVE, county_id=county)
            .returning(Supplier.id)
        )
        skus: list[int] = []
        for n in range(3):
            product = await conn.scalar(
                insert(Product)
                .values(spu_code=f"SPU-{n}", name=f"p{n}", category="test", supplier_id=supplier)
                .returning(Product.id)
            )
            skus.append(
                await _scalar_in(
                    conn,
                    insert(Sku)
                    .values(sku_code=f"SKU-{n}", product_id=product, spec="1", unit="袋", retail_price_fen=100)
                    .returning(Sku.id),
                )
            )
        x, y, z = skus

        async def lot(sku: int, code: str, remaining: int, created: datetime) -> None:
            await conn.execute(
                insert(SupplyLot).values(
                    lot_code=code,
                    sku_id=sku,
                    supplier_id=supplier,
                    received_on=date(2024, 1, 1),
                    quantity=remaining,
                    remaining=remaining,
                    created_at=created,
                    updated_at=created,
                )
            )

        await lot(x, "LOT-X", 100, now - timedelta(hours=1))
        await lot(y, "LOT-Y", 4, now - timedelta(hours=1))
        shop = await conn.scalar(
            insert(Shop)
            .values(
                name="t",
                platform=PlatformKind.TAOBAO,
                channel_type=ChannelType.ECOMMERCE,
                platform_shop_id="1",
                settings={},
            )
            .returning(Shop.id)
        )
        for sku, platform_sku in ((x, "22"), (y, "33"), (z, "44")):
            await conn.execute(
                insert(Listing).values(
                    shop_id=shop,
                    sku_id=sku,
                    platform_item_id="11",
                    platform_sku_id=platform_sku,
                    allocated_stock=0,
                    created_at=now,
                    updated_at=now,
                )
            )
    # (status, paid how long ago, quantity, line sku_id, platform sku id)
    sales = [
        (OrderStatus.PAID, timedelta(minutes=5), 3, x, "22"),
        (OrderStatus.SHIPPED, timedelta(minutes=4), 2, x, "22"),
        (OrderStatus.COMPLETED, timedelta(minutes=3), 5, x, "22"),
        (OrderStatus.PAID, timedelta(minutes=2), 2, None, "22"),  # unmapped, the listing maps it to X
        (OrderStatus.PENDING_PAYMENT, None, 7, x, "22"),
        (OrderStatus.PAID, timedelta(hours=3), 8, x, "22"),  # before the count
        (OrderStatus.PAID, timedelta(minutes=5), 3, y, "33"),
        (OrderStatus.PAID, timedelta(minutes=4), 3, y, "33"),  # short of stock: waits
        (OrderStatus.PAID, timedelta(minutes=5), 6, z, "44"),  # a SKU without lots yet
    ]
    lines: list[int] = []
    async with engine.begin() as conn:
        for n, (status, ago, quantity, line_sku, platform_sku) in enumerate(sales):
            order = await conn.scalar(
                insert(Order)
                .values(
                    shop_id=shop,
                    platform_order_id=f"o{n}",
                    status=status,
                    status_rank=status.rank,
                    platform_status=status.value,
                    created_at=now - (ago or timedelta(0)),
                    paid_at=None if ago is None else now - ago,
                    modified_at=now,
                    paid_fen=100 * quantity,
                )
                .returning(Order.id)
            )
            lines.append(
                await _scalar_in(
                    conn,
                    insert(OrderLine)
                    .values(
                        order_id=order,
                        shop_id=shop,
                        platform_line_id=f"l{n}",
                        sku_id=line_sku,
                        platform_item_id="11",
                        platform_sku_id=platform_sku,
                        title="t",
                        quantity=quantity,
                        unit_price_fen=100,
                        paid_fen=100 * quantity,
                        refund_state=LineRefundState.NONE,
                    )
                    .returning(OrderLine.id),
                )
            )
    assert await _check(engine, skus) == {x: 3 + 2 + 5 + 2, y: 6, z: 6}

    async with engine.begin() as conn:  # the pipeline draws what the lots cover
        await allocate_lines(conn)
    assert await _check(engine, skus) == {x: 2, y: 3, z: 6}

    lot_x = await _scalar(engine, select(SupplyLot.id).where(SupplyLot.lot_code == "LOT-X"))
    lot_y = await _scalar(engine, select(SupplyLot.id).where(SupplyLot.lot_code == "LOT-Y"))
    async with engine.begin() as conn:  # a partial draw, a return, in one statement
        await conn.execute(
            insert(LotAllocation),
            [
                {"source_key": "part", "order_line_id": lines[7], "lot_id": lot_y, "quantity": 1, "created_at": now},
                {"source_key": "back", "order_line_id": lines[0], "lot_id": lot_x, "quantity": -2, "created_at": now},
            ],
        )
    assert await _check(engine, skus) == {x: 2 + 2, y: 2, z: 6}

    async with engine.begin() as conn:  # paid at last; cancelled; closed after a refund
        await _status(conn, lines[4], OrderStatus.PAID, now)
        await _status(conn, lines[1], OrderStatus.CANCELLED, now)
        await _status(conn, lines[6], OrderStatus.CLOSED, now)
    assert await _check(engine, skus) == {x: 2 + 2 + 7, y: 2, z: 6}

    async with engine.begin() as conn:  # SKU remaps, to another SKU and to none; a quantity change
        await conn.execute(update(OrderLine).where(OrderLine.id == lines[2]).values(sku_id=y))
        await conn.execute(update(OrderLine).where(OrderLine.id == lines[3]).values(sku_id=x))
        await conn.execute(update(OrderLine).where(OrderLine.id == lines[0]).values(sku_id=None, quantity=4))
        await conn.execute(update(OrderLine).where(OrderLine.id == lines[8]).values(sku_id=z, quantity=5))
    assert await _check(engine, skus) == {x: 3 + 2 + 7, y: 2, z: 5}

    async with engine.begin() as conn:  # Z's first lot; an earlier lot for X brings an old sale in
        await lot(z, "LOT-Z", 10, now - timedelta(minutes=10))
        await lot(x, "LOT-X0", 10, now - timedelta(hours=4))
        await allocate_lines(conn)
    assert await _check(engine, skus) == {x: 3, y: 2, z: 0}

    async with engine.begin() as conn:  # draw rows changed and removed (not the pipeline's way)
        await conn.execute(update(LotAllocation).where(LotAllocation.source_key == "part").values(quantity=2))
        await conn.execute(delete(LotAllocation).where(LotAllocation.source_key == "back"))
        await conn.execute(
            update(LotAllocation).where(LotAllocation.order_line_id == lines[5]).values(order_line_id=lines[3])
        )
    assert await _check(engine, skus) == {x: 1 - 8 + 8, y: 1, z: 0}

    async with engine.begin() as conn:  # a line removed (its draws moved away above)
        await conn.execute(delete(OrderLine).where(OrderLine.id == lines[5]))
    assert await _check(engine, skus) == {x: 1 - 8, y: 1, z: 0}

    async with engine.begin() as conn:  # a closed order's draws returned; a cancelled order paid after all
        await conn.execute(
            insert(LotAllocation).values(
                source_key="closed-back", order_line_id=lines[6], lot_id=lot_y, quantity=-3, created_at=now
            )
        )
        await _status(conn, lines[1], OrderStatus.PAID, now)  # its draws are still there: adds 0
    assert await _check(engine, skus) == {x: 1 - 8, y: 1, z: 0}

    assert shop is not None
    async with engine.begin() as conn:  # lines of orders already cancelled or closed; a timeout
        timed_out = await _order(conn, shop, "late", OrderStatus.CANCELLED, None, now)
        closed = await _order(conn, shop, "shut", OrderStatus.CLOSED, now, now)
        unpaid = await _order(conn, shop, "wait", OrderStatus.PENDING_PAYMENT, None, now)
        late = await _line(conn, timed_out, shop, "late", x, 5)
        shut = await _line(conn, closed, shop, "shut", None, 4)  # unmapped: X's listing
        await _line(conn, unpaid, shop, "wait", y, 1)
    assert await _check(engine, skus) == {x: 1 - 8, y: 1, z: 0}
    async with engine.begin() as conn:
        await _status(conn, late, OrderStatus.CLOSED, now)  # within the set: no change
        await _status(conn, await _line(conn, unpaid, shop, "wait2", x, 2), OrderStatus.CANCELLED, now)
    assert await _check(engine, skus) == {x: 1 - 8, y: 1, z: 0}

    async with engine.begin() as conn:  # the late payment lands (rank 10 -> 20); a line moves orders
        await _status(conn, late, OrderStatus.PAID, now)
        await conn.execute(
            update(OrderLine).where(OrderLine.id == shut).values(order_id=await _order_of(conn, lines[4]))
        )
    assert await _check(engine, skus) == {x: 1 - 8 + 5 + 4, y: 1, z: 0}
    async with engine.begin() as conn:
        await conn.execute(update(OrderLine).where(OrderLine.id == shut).values(order_id=closed))
    assert await _check(engine, skus) == {x: 1 - 8 + 5, y: 1, z: 0}


async def _order(
    conn: AsyncConnection, shop: int, key: str, status: OrderStatus, paid_at: datetime | None, now: datetime
) -> int:
    return await _scalar_in(
        conn,
        insert(Order)
        .values(
            shop_id=shop,
            platform_order_id=key,
            status=status,
            status_rank=status.rank,
            platform_status=status.value,
            created_at=now,
            paid_at=paid_at,
            modified_at=now,
            paid_fen=100,
        )
        .returning(Order.id),
    )


async def _line(conn: AsyncConnection, order: int, shop: int, key: str, sku: int | None, quantity: int) -> int:
    return await _scalar_in(
        conn,
        insert(OrderLine)
        .values(
            order_id=order,
            shop_id=shop,
            platform_line_id=key,
            sku_id=sku,
            platform_item_id="11",
            platform_sku_id="22" if sku is None else None,
            title="t",
            quantity=quantity,
            unit_price_fen=100,
            paid_fen=100 * quantity,
            refund_state=LineRefundState.NONE,
        )
        .returning(OrderLine.id),
    )


async def _order_of(conn: AsyncConnection, line_id: int) -> int:
    return await _scalar_in(conn, select(OrderLine.order_id).where(OrderLine.id == line_id))


async def _scalar(engine: AsyncEngine, query: object) -> int:
    async with engine.connect() as conn:
        value = await conn.scalar(query)  # type: ignore[call-overload]
    assert value is not None
    return int(value)


async def _scalar_in(conn: AsyncConnection, query: Any) -> int:
    value = await conn.scalar(query)
    assert value is not None
    return int(value)


async def _status(conn: AsyncConnection, line_id: int, status: OrderStatus, now: datetime) -> None:
    order = select(OrderLine.order_id).where(OrderLine.id == line_id).scalar_subquery()
    paid = {"paid_at": now} if status == OrderStatus.PAID else {}
    await conn.execute(
        update(Order)
        .where(Order.id == order)
        .values(status=status, status_rank=status.rank, platform_status=status.value, **paid)
    )
