"""Unsold-stock alerts: opened once per lot, refreshed, resolved when the lot sells through."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update

from bangfu.models import Alert, Product, Sku, SupplyLot
from bangfu.store import make_engine
from tests.workers.reports_seed import add_lot, add_order, at, base, new_id
from workers.alerts import detect_unsold, lot_of

NOW = at("2026-10-31T04:00")


async def _alerts(conn: object) -> list[tuple[int | None, str, bool]]:
    rows = await conn.execute(select(Alert.subject, Alert.severity, Alert.resolved_at).where(Alert.kind == "unsold"))  # type: ignore[attr-defined]
    return sorted((lot_of(m), s, r is not None) for m, s, r in rows)


async def test_open_refresh_resolve(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            ids = await base(conn)
            slow = await add_lot(conn, ids["sku"], ids["supplier"], date(2026, 10, 1), 100, 90)
            await new_id(
                conn,
                Product,
                spu_code="PF",
                name="鲜奶",
                category="dairy",
                supplier_id=ids["supplier"],
                perishable=True,
            )
            fresh_product = await conn.scalar(select(Product.id).where(Product.spu_code == "PF"))
            fresh_sku = await new_id(
                conn, Sku, sku_code="MILK", product_id=fresh_product, spec="1L", unit="瓶", retail_price_fen=1000
            )
            milk = await add_lot(conn, fresh_sku, ids["supplier"], date(2026, 10, 26), 50, 50)
            # Non-perishable and only 5 days old: too new to judge.
            young_sku = await new_id(
                conn, Sku, sku_code="YOUNG", product_id=ids["product"], spec="1kg", unit="袋", retail_price_fen=1000
            )
            await add_lot(conn, young_sku, ids["supplier"], date(2026, 10, 26), 50, 50)
            # A SKU that sells well: 60 sold in the window against 40 left.
            good_sku = await new_id(
                conn, Sku, sku_code="GOOD", product_id=ids["product"], spec="2kg", unit="袋", retail_price_fen=1000
            )
            await add_lot(conn, good_sku, ids["supplier"], date(2026, 10, 1), 100, 40)
            await add_order(conn, ids["shop"], "O1", at("2026-10-25T04:00"), [6000], sku=good_sku, quantity=60)
            # The slow SKU sold 5 units in the window: 5 / (5 + 90) < 20%.
            await add_order(conn, ids["shop"], "O2", at("2026-10-20T04:00"), [500], sku=ids["sku"], quantity=5)

            assert await detect_unsold(conn, now=NOW) == 2
            assert await _alerts(conn) == sorted([(slow, "warning", False), (milk, "error", False)])
            assert await detect_unsold(conn, now=NOW) == 2  # idempotent
            assert len(await _alerts(conn)) == 2

            # Refresh: the stock changed, the same alert says so.
            await conn.execute(update(SupplyLot).where(SupplyLot.id == slow).values(remaining=80))
            assert await detect_unsold(conn, now=NOW) == 2
            message = await conn.scalar(select(Alert.message).where(Alert.subject == f"lot:{slow}"))
            assert message is not None and "80" in message
            assert len(await _alerts(conn)) == 2

            # Sold through: resolved, and not reopened.
            await conn.execute(update(SupplyLot).where(SupplyLot.id == slow).values(remaining=0))
            assert await detect_unsold(conn, now=NOW) == 1
            assert await _alerts(conn) == sorted([(slow, "warning", True), (milk, "error", False)])
            assert await detect_unsold(conn, now=NOW) == 1
            assert len(await _alerts(conn)) == 2
    finally:
        await engine.dispose()
