"""Traceability and campaign codes (bangfu.trace): how they are drawn, that every lot and every
session gets one (new ones by the columns' defaults, stored ones by migration 0027), and the
campaign code's lookup the mall calls (bangfu.queries.trace.session_for_campaign)."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import column, insert, select, table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from bangfu.importing import ImportRejected, import_file
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


# -- harvest and inspection through the import (the console's lot form goes the same way) ---------


async def test_lots_import_their_harvest_and_inspection_and_each_gets_a_trace_code(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    from tests.bangfu.test_importing import _example_rows, _import_examples, _write

    await _import_examples(sessions)
    async with sessions() as session:
        lots = (await session.execute(select(SupplyLot.lot_code, SupplyLot.trace_code))).all()
        first = await session.scalar(select(SupplyLot).where(SupplyLot.lot_code == "LOT-2026-00001"))
    assert len(lots) > 100 and len({code for _, code in lots}) == len(lots)
    assert first is not None and first.inspection_agency == "县农产品质量安全检测站"
    assert first.harvested_on == date(2026, 4, 12) and first.inspection_result == "合格"
    code = first.trace_code

    header, rows = _example_rows("lots")
    mine = [list(r) for r in rows if r[0] == "LOT-2026-00001"]
    at = {name: header.index(name) for name in ("采收日期", "检测机构", "检测日期", "检测结果")}
    for row in mine[1:]:  # given on the first row only: the lot's all the same
        for i in at.values():
            row[i] = ""
    mine[0][at["检测结果"]] = "合格（农残快检）"
    await import_file(sessions, "lots", _write(tmp_path / "lots.csv", header, mine))
    async with sessions() as session:
        again = await session.scalar(select(SupplyLot).where(SupplyLot.lot_code == "LOT-2026-00001"))
    assert again is not None and again.trace_code == code  # an update keeps the code
    assert again.inspection_result == "合格（农残快检）" and again.harvested_on == date(2026, 4, 12)

    # A file without those columns keeps what is stored.
    keep = [i for i, name in enumerate(header) if name not in at]
    await import_file(
        sessions,
        "lots",
        _write(tmp_path / "plain.csv", [header[i] for i in keep], [[r[i] for i in keep] for r in mine]),
    )
    async with sessions() as session:
        kept = await session.scalar(select(SupplyLot.inspection_result).where(SupplyLot.lot_code == "LOT-2026-00001"))
    assert kept == "合格（农残快检）"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"采收日期": "2026-04-20"}, ":2:采收日期: the harvest cannot come after the delivery"),
        ({"检测机构": ""}, ":2:检测机构: name who inspected the lot"),
        ({"检测日期": "2099-01-01"}, ":2:检测日期: 2099-01-01 is in the future"),
        ({"检测机构": "某" * 129}, ":2:检测机构: String should have at most 128 characters"),
    ],
)
def test_bad_harvest_or_inspection_is_named(changes: dict[str, str], expected: str, tmp_path: Path) -> None:
    from bangfu.importing import parse_rows
    from tests.bangfu.test_importing import _example_rows, _write

    header, rows = _example_rows("lots")
    row = list(rows[0])
    for name, value in changes.items():
        row[header.index(name)] = value
    path = _write(tmp_path / "lots.csv", header, [row])
    errors = [str(e) for e in parse_rows("lots", path).errors]
    assert len(errors) == 1 and errors[0].startswith(f"{path}{expected}"), errors


async def test_rows_of_a_lot_cannot_disagree_on_its_inspection(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    from tests.bangfu.test_importing import _example_rows, _import_examples, _write

    await _import_examples(sessions)
    header, rows = _example_rows("lots")
    mine = [list(r) for r in rows if r[0] == "LOT-2026-00001"]
    mine[1][header.index("检测结果")] = "不合格"
    with pytest.raises(ImportRejected, match=r"lots\.csv:3:检测结果: differs from row 2 of the same lot"):
        await import_file(sessions, "lots", _write(tmp_path / "lots.csv", header, mine))


def test_the_lot_forms_harvest_and_inspection_are_the_imports(tmp_path: Path) -> None:
    from bangfu.importing import parse_rows
    from bangfu.queries.lots import LotRejected, LotSku, parse_lot_form

    sku = LotSku(1, "SKU-QK-500", "500g", "青稞面", "93513328MA6XXXXX0", "合作社", 0, 0, 0, None)
    code = "93513328MA62T4X5XH"
    form = {
        "lot_code": "L-1", "receiver": code, "received_on": "2026-11-30", "harvested_on": "2026-11-28",
        "inspection_agency": "县农检站", "inspected_on": "2026-11-30", "inspection_result": "合格",
        "member_no_1": "M001", "quantity_1": "12", "grade_1": "B",
    }  # fmt: skip
    csv = tmp_path / "lots.csv"
    csv.write_text(
        "批次号,SKU编码,收购主体信用代码,收购日期,成员编号,数量,等级,采收日期,检测机构,检测日期,检测结果\n"
        f"L-1,SKU-QK-500,{code},2026-11-30,M001,12,B,2026-11-28,县农检站,2026-11-30,合格\n",
        encoding="utf-8",
    )
    parsed = parse_rows("lots", csv)
    assert not parsed.errors
    assert parse_lot_form(form, sku, None) == [(1, parsed.rows[0][1])]
    with pytest.raises(LotRejected) as rejected:
        parse_lot_form(form | {"harvested_on": "2026-12-01"}, sku, None)
    assert set(rejected.value.errors) == {"harvested_on"}
    assert rejected.value.errors["harvested_on"].startswith("the harvest cannot come after the delivery")
    with pytest.raises(LotRejected) as rejected:
        parse_lot_form(form | {"inspection_agency": " "}, sku, None)
    assert set(rejected.value.errors) == {"inspection_agency"}
