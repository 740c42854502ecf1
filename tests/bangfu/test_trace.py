"""Traceability and campaign codes (bangfu.trace): how they are drawn, that every lot and every
session gets one (new ones by the columns' defaults, stored ones by migration 0027), and the
campaign code's lookup the mall calls (bangfu.queries.trace.session_for_campaign)."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import column, insert, select, table
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.models import LiveSession, Product, Region, Sku, Supplier, SupplyLot
from bangfu.queries.trace import session_for_campaign
from bangfu.records import LiveSessionRecord
from bangfu.store import make_engine, upgrade
from bangfu.trace import (
    TRACE_CODE,
    campaign_url,
    is_campaign_code,
    is_trace_code,
    new_campaign_code,
    new_trace_code,
    trace_last_day,
    trace_url,
)
from bangfu.upsert import upsert_live_sessions
from tests.bangfu.test_upsert import NOW, T0, _shop


async def _insert(conn: AsyncConnection, model: Any, **values: Any) -> int:
    table_ = model.__table__
    return int((await conn.execute(insert(table_).values(**values).returning(table_.c.id))).scalar_one())


def test_trace_codes_carry_128_random_bits_and_do_not_repeat() -> None:
    codes = [new_trace_code() for _ in range(5000)]
    assert len(set(codes)) == len(codes)
    for code in codes[:200]:
        assert TRACE_CODE.fullmatch(code) and is_trace_code(code)
        assert len(base64.urlsafe_b64decode(code + "==")) * 8 >= 128  # >= 96 bits asked
    # Every position takes many values: nothing fixed, no counter underneath.
    assert all(len({c[i] for c in codes}) > 40 for i in range(21))
    assert not is_trace_code(codes[0][:-1]) and not is_trace_code(codes[0] + "A") and not is_trace_code("../" * 8)


def test_campaign_codes_are_unique_and_fit_the_link() -> None:
    codes = [new_campaign_code() for _ in range(5000)]
    assert len(set(codes)) == len(codes)
    assert all(c.startswith("LS") and len(c) == 18 and is_campaign_code(c) for c in codes)
    assert campaign_url("https://hub.example/", codes[0]) == f"https://hub.example/mall/?c={codes[0]}"
    assert campaign_url("https://hub.example", "a b&c") == "https://hub.example/mall/?c=a%20b%26c"
    assert trace_url("https://hub.example/", "abc") == "https://hub.example/t/abc"
    assert not is_campaign_code("") and not is_campaign_code("x" * 65) and not is_campaign_code("-x")


def test_a_trace_page_lasts_the_shelf_life_and_the_grace() -> None:
    assert trace_last_day(date(2026, 1, 1), 365, 180) == date(2026, 1, 1) + timedelta(days=545)
    assert trace_last_day(date(2026, 1, 1), 1, 0) == date(2026, 1, 2)


async def test_migration_gives_stored_lots_and_sessions_their_codes(empty_db_url: str) -> None:
    """Lots and sessions stored before 0027: each lot gets its own traceability code; a session
    keeps its campaign code, takes the one its raw payload carries, or gets a new one."""
    engine = make_engine(empty_db_url)
    try:
        await upgrade(engine, "0026")
        async with engine.begin() as conn:
            # Tables 0027 leaves alone through the models; the two it changes as they were.
            region = await _insert(conn, Region, code="513328", name="甘孜县", level="county")
            supplier = await _insert(
                conn, Supplier, credit_code="93513328AY4CL12THE", name="合作社", kind="cooperative", county_id=region
            )
            product = await _insert(conn, Product, spu_code="P1", name="牦牛肉", category="肉类", supplier_id=supplier)
            sku = await _insert(
                conn, Sku, sku_code="SKU1", product_id=product, spec="500g", unit="袋", retail_price_fen=9900
            )
            old_lots = table(
                "supply_lots",
                *(column(c) for c in ("lot_code", "sku_id", "supplier_id", "received_on", "quantity", "remaining")),
                column("created_at"),
                column("updated_at"),
            )
            await conn.execute(
                insert(old_lots),
                [
                    {
                        "lot_code": f"LOT-{i}",
                        "sku_id": sku,
                        "supplier_id": supplier,
                        "received_on": date(2026, 10, i),
                        "quantity": 10,
                        "remaining": 10,
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for i in range(1, 4)
                ],
            )
            shop = await _shop(conn)
            await conn.execute(
                insert(LiveSession.__table__),  # type: ignore[arg-type]
                [
                    {"shop_id": shop, "room_id": room, "campaign_code": code, "raw": raw, "started_at": NOW}
                    for room, code, raw in (
                        ("R1", "SPRING", {}),
                        ("R2", None, {"campaign_code": "AUTUMN"}),
                        ("R3", None, {"campaign_code": "SPRING"}),  # another session's code: not taken
                        ("R4", None, {}),
                    )
                ],
            )
        await upgrade(engine)
        async with engine.connect() as conn:
            codes = list(await conn.scalars(select(SupplyLot.trace_code).order_by(SupplyLot.id)))
            sessions = dict((await conn.execute(select(LiveSession.room_id, LiveSession.campaign_code))).all())
            found = await session_for_campaign(conn, "AUTUMN")
            r2 = await conn.scalar(select(LiveSession.id).where(LiveSession.room_id == "R2"))
    finally:
        await engine.dispose()
    assert len(codes) == 3 and len(set(codes)) == 3 and all(is_trace_code(c) for c in codes)
    assert sessions["R1"] == "SPRING" and sessions["R2"] == "AUTUMN"
    r3, r4 = str(sessions["R3"]), str(sessions["R4"])
    assert r3.startswith("LS") and r4.startswith("LS") and r3 != r4
    assert found == r2


async def test_new_sessions_get_a_campaign_code_that_a_later_sync_keeps(db_url: str) -> None:
    engine = make_engine(db_url)
    record = LiveSessionRecord(room_id="D1", author_id="host", started_at=T0, modified_at=T0 + timedelta(hours=1))
    try:
        async with engine.begin() as conn:
            shop = await _shop(conn)
            await upsert_live_sessions(conn, shop, "douyin", [record], now=NOW)
        async with engine.connect() as conn:
            code = await conn.scalar(select(LiveSession.campaign_code))
            session_id = await conn.scalar(select(LiveSession.id))
        assert code is not None and code.startswith("LS")
        later = LiveSessionRecord(
            room_id="D1", author_id="host", started_at=T0, modified_at=T0 + timedelta(hours=2), views=50
        )
        async with engine.begin() as conn:
            assert (await upsert_live_sessions(conn, shop, "douyin", [later], now=NOW)).changed == 1
        async with engine.connect() as conn:
            assert await conn.scalar(select(LiveSession.views)) == 50
            assert await conn.scalar(select(LiveSession.campaign_code)) == code
            assert await session_for_campaign(conn, code) == session_id
            assert await session_for_campaign(conn, code.upper()) is None
            assert await session_for_campaign(conn, "LSnosuchcode") is None
            assert await session_for_campaign(conn, "") is None
            assert await session_for_campaign(conn, "x" * 300) is None
    finally:
        await engine.dispose()


def test_now_is_aware() -> None:  # the fixtures' clock the tests above share
    assert NOW.tzinfo is UTC and isinstance(NOW, datetime)
