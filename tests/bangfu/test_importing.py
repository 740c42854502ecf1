"""`bangfu import`: all or nothing, idempotent, errors that name file, row and field."""

from __future__ import annotations

import csv
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bangfu.importing import KINDS, ImportRejected, import_file, parse_rows
from bangfu.models import (
    Base,
    ExplanationWindow,
    Host,
    Household,
    LiveMinuteStat,
    LiveSession,
    LotContribution,
    MemberAccount,
    PurchasingUnit,
    Shop,
    Sku,
    Supplier,
    SupplyLot,
    UnitTarget,
)
from tests.conftest import EXAMPLES

ORDER = ("cooperatives", "households", "products", "lots", "units")


async def _snapshot(sessions: async_sessionmaker[AsyncSession]) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, ignoring bookkeeping timestamps."""
    out: dict[str, list[tuple[object, ...]]] = {}
    async with sessions() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if c.name not in ("created_at", "updated_at")]
            rows = await session.execute(select(*columns).order_by(*table.primary_key.columns))
            out[table.name] = [tuple(r) for r in rows]
    return out


async def _import_examples(sessions: async_sessionmaker[AsyncSession]) -> dict[str, tuple[int, int, int]]:
    counts = {}
    for kind in ORDER:
        result = await import_file(sessions, kind, EXAMPLES / f"{kind}.csv")
        counts[kind] = (result.created, result.updated, result.unchanged)
    return counts


async def test_examples_import_and_importing_twice_changes_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    first = await _import_examples(sessions)
    assert all(created > 0 and updated == 0 for created, updated, _ in first.values())
    before = await _snapshot(sessions)
    second = await _import_examples(sessions)
    assert all(created == 0 and updated == 0 and unchanged > 0 for created, updated, unchanged in second.values())
    assert await _snapshot(sessions) == before
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Supplier)) == 17
        assert await session.scalar(select(func.count()).select_from(Household)) == 60
        assert await session.scalar(select(func.count()).select_from(MemberAccount)) == 60
        assert await session.scalar(select(func.count()).select_from(Sku)) == 260
        assert await session.scalar(select(func.count()).select_from(PurchasingUnit)) == 73
        assert await session.scalar(select(func.count()).select_from(UnitTarget)) == 73
        lot_total = await session.scalar(
            select(func.sum(SupplyLot.quantity)).where(SupplyLot.cooperative_id.is_not(None))
        )
        contributed = await session.scalar(select(func.sum(LotContribution.quantity)))
        assert lot_total == contributed  # a cooperative's lot is exactly what its members delivered
        # identity numbers never stored in clear; phones masked
        household = await session.scalar(select(Household).limit(1))
        assert household is not None and household.id_number_hash and len(household.id_number_hash) == 64
        assert household.phone_masked and "****" in household.phone_masked


async def test_english_xlsx_files_match_the_chinese_csv(sessions: async_sessionmaker[AsyncSession]) -> None:
    await _import_examples(sessions)
    before = await _snapshot(sessions)
    for kind in ("units", "households"):
        result = await import_file(sessions, kind, EXAMPLES / "xlsx" / f"{kind}_en.xlsx")
        assert result.created == 0 and result.updated == 0
    assert await _snapshot(sessions) == before


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _example_rows(kind: str) -> tuple[list[str], list[list[str]]]:
    with (EXAMPLES / f"{kind}.csv").open(encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    return table[0], table[1:]


async def test_a_bad_row_rejects_the_whole_file_and_names_row_and_field(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await import_file(sessions, "cooperatives", EXAMPLES / "cooperatives.csv")
    header, rows = _example_rows("households")
    rows = [list(r) for r in rows[:10]]
    rows[3][header.index("农户类别")] = "富裕户"  # row 5 in the file
    rows[6][header.index("出资额")] = "12.345"  # row 8
    rows[8][header.index("合作社信用代码")] = "93513328AY4CL12THX"  # row 10: bad check character
    path = _write(tmp_path / "households.csv", header, rows)
    before = await _snapshot(sessions)
    with pytest.raises(ImportRejected) as caught:
        await import_file(sessions, "households", path)
    lines = str(caught.value).splitlines()
    assert lines[0].startswith(f"{path}:5:农户类别: '富裕户' is not one of")
    assert lines[1] == f"{path}:8:出资额: '12.345' is not an amount in yuan with at most two decimals"
    assert lines[2].startswith(f"{path}:10:合作社信用代码: unified social credit code check character should be")
    assert len(lines) == 3
    assert await _snapshot(sessions) == before


async def test_reference_errors_are_found_before_anything_is_written(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await import_file(sessions, "cooperatives", EXAMPLES / "cooperatives.csv")
    header, rows = _example_rows("households")
    # A valid-looking cooperative code that is not in the store, on the last row only:
    # the rows before it are fine and must not be written either.
    from bangfu.importing.rows import credit_code_check_char

    unknown = "93513328YYYYYYYYY"
    unknown += credit_code_check_char(unknown)
    rows = [list(r) for r in rows]
    rows[-1][header.index("合作社信用代码")] = unknown
    path = _write(tmp_path / "h.csv", header, rows)
    before = await _snapshot(sessions)
    with pytest.raises(ImportRejected) as caught:
        await import_file(sessions, "households", path)
    assert str(caught.value) == f"{path}:{len(rows) + 1}:合作社信用代码: no cooperative with credit code {unknown}"
    assert await _snapshot(sessions) == before


async def test_a_lot_cannot_shrink_below_what_was_sold(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await _import_examples(sessions)
    async with sessions() as session, session.begin():
        lot = await session.scalar(select(SupplyLot).where(SupplyLot.lot_code == "LOT-2026-00001"))
        assert lot is not None
        lot.remaining = 0  # everything sold
    header, rows = _example_rows("lots")
    lot_rows = [list(r) for r in rows if r[0] == "LOT-2026-00001"]
    lot_rows[0][header.index("数量")] = "1"
    path = _write(tmp_path / "lots.csv", header, lot_rows)
    with pytest.raises(ImportRejected, match=r"lots\.csv:2:数量: lot LOT-2026-00001 already sold"):
        await import_file(sessions, "lots", path)


@pytest.mark.parametrize(
    ("kind", "header", "row", "expected"),
    [
        (
            "units",
            ["单位编码", "单位名称", "单位类型", "年度"],
            ["U1", "单位", "机关", "1999"],
            ":2:年度: Input should be greater than or equal to 2015",
        ),
        (
            "units",
            ["code", "name", "unit_type", "target"],
            ["U1", "Unit", "school", "100"],
            ":2:year: a reserved-share target needs its year",
        ),
        ("products", ["产品编码"], ["P1"], ":1:产品名称: missing column (also accepted: name / 品名)"),
        (
            "units",
            ["单位编码", "单位名称", "单位类型", "颜色"],
            ["U1", "单位", "机关", "红"],
            ":1:颜色: unknown column for units",
        ),
        (
            "units",
            ["单位编码", "单位名称", "单位类型"],
            ["U1", "", "机关"],
            ":2:单位名称: String should have at least 1 character",
        ),
    ],
)
def test_row_checks(tmp_path: Path, kind: str, header: list[str], row: list[str], expected: str) -> None:
    path = _write(tmp_path / f"{kind}.csv", header, [row])
    parsed = parse_rows(kind, path)
    assert next(str(e) for e in parsed.errors) == f"{path}{expected}"


def test_duplicate_keys_in_one_file_are_errors(tmp_path: Path) -> None:
    header, rows = _example_rows("units")
    path = _write(tmp_path / "units.csv", header, [rows[0], rows[1], rows[0]])
    parsed = parse_rows("units", path)
    assert [str(e) for e in parsed.errors] == [f"{path}:4:单位编码: duplicate of row 2"]


def test_gb18030_csv_from_excel_is_read(tmp_path: Path) -> None:
    header, rows = _example_rows("units")
    path = tmp_path / "units.csv"
    with path.open("w", newline="", encoding="gb18030") as fh:
        csv.writer(fh).writerows([header, *rows[:3]])
    parsed = parse_rows("units", path)
    assert parsed.errors == [] and len(parsed.rows) == 3


def test_every_kind_has_an_example() -> None:
    assert set(KINDS) == {*ORDER, "sessions"}
    for kind in KINDS:
        assert parse_rows(kind, EXAMPLES / f"{kind}.csv").errors == []


def test_unreadable_files_are_user_errors(tmp_path: Path) -> None:
    from bangfu.errors import UserError

    with pytest.raises(UserError, match="no such file"):
        parse_rows("units", tmp_path / "missing.csv")
    bogus = tmp_path / "units.xlsx"
    shutil.copyfile(EXAMPLES / "units.csv", bogus)
    with pytest.raises(UserError, match="not a readable XLSX"):
        parse_rows("units", bogus)
    with pytest.raises(UserError, match="unsupported file type"):
        parse_rows("units", tmp_path / "x.json") if (tmp_path / "x.json").write_text("{}") else None


async def _scenario_shops(sessions: async_sessionmaker[AsyncSession]) -> None:
    from bangfu.scenario import SHOPS

    async with sessions() as session, session.begin():
        for platform, channel, name, shop_id in SHOPS:
            session.add(Shop(name=name, platform=platform, channel_type=channel, platform_shop_id=shop_id, settings={}))


async def test_live_session_exports_import_like_api_sessions(sessions: async_sessionmaker[AsyncSession]) -> None:
    await _scenario_shops(sessions)
    first = await import_file(sessions, "sessions", EXAMPLES / "sessions.csv")
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    before = await _snapshot(sessions)
    again = await import_file(sessions, "sessions", EXAMPLES / "sessions.csv")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert await _snapshot(sessions) == before
    async with sessions() as session:
        live = await session.scalar(select(LiveSession).where(LiveSession.room_id == "7301234567890123456"))
        assert live is not None
        assert live.started_at == datetime(2026, 4, 19, 11, 0, tzinfo=UTC)  # 19:00 Beijing time
        assert (live.views, live.unique_viewers, live.peak_online) == (27043, 18028, 1541)
        minutes = await session.scalar(
            select(func.count()).select_from(LiveMinuteStat).where(LiveMinuteStat.session_id == live.id)
        )
        windows = await session.scalar(
            select(func.count()).select_from(ExplanationWindow).where(ExplanationWindow.session_id == live.id)
        )
        host = await session.scalar(select(Host.name).where(Host.author_id == "dy-author-1001"))
    assert (minutes, windows, host) == (90, 3, "甘孜县副县长 泽仁")


async def test_a_session_export_for_an_unknown_shop_or_with_disagreeing_rows_is_refused(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await _scenario_shops(sessions)
    header, rows = _example_rows("sessions")
    rows = [list(r) for r in rows[:5]]
    rows[1][header.index("店铺ID")] = "dy-nowhere"  # row 3
    rows[3][header.index("观看次数")] = "1"  # row 5: the session's own column disagrees with row 2
    path = _write(tmp_path / "sessions.csv", header, rows)
    before = await _snapshot(sessions)
    with pytest.raises(ImportRejected) as caught:
        await import_file(sessions, "sessions", path)
    assert str(caught.value).splitlines() == [  # every problem at once, not the first only
        f"{path}:3:店铺ID: no douyin shop with id dy-nowhere",
        f"{path}:5:观看次数: differs from row 2 of the same session 7301234567890123456",
    ]
    assert await _snapshot(sessions) == before


async def test_a_session_export_with_a_campaign_code_stores_it(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """Self-mall sessions name the link / QR campaign code their orders carry (活动码)."""
    await _scenario_shops(sessions)
    header = ["平台", "店铺ID", "场次ID", "主播ID", "主播", "直播标题", "开播时间", "下播时间", "观看次数", "活动码"]
    row = ["selfmall", "self-ganzi-001", "wx-live-0001", "self-host-5005", "工作队主播 小李", "帮扶专场"]
    path = _write(
        tmp_path / "sessions.csv",
        header,
        [[*row, "2026-04-20 20:00:00", "2026-04-20 21:30:00", "900", "CMP-0A1B-001"]],
    )
    first = await import_file(sessions, "sessions", path)
    assert (first.created, first.updated, first.unchanged) == (1, 0, 0)
    again = await import_file(sessions, "sessions", path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    async with sessions() as session:
        live = await session.scalar(select(LiveSession).where(LiveSession.room_id == "wx-live-0001"))
        assert live is not None and live.campaign_code == "CMP-0A1B-001"
        assert live.started_at == datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
    # English headers
    english = ["platform", "shop_id", "room_id", "author_id", "started_at", "campaign_code"]
    path = _write(
        tmp_path / "sessions_en.csv",
        english,
        [["selfmall", "self-ganzi-001", "wx-live-0002", "self-host-5005", "2026-04-27 20:00:00", "CMP-0A1B-002"]],
    )
    assert (await import_file(sessions, "sessions", path)).created == 1
    # a newer record without a code (as an API without codes sends) updates the session, keeps the code
    from bangfu.records import LiveSessionRecord
    from sync.upsert import upsert_live_sessions

    newer = LiveSessionRecord(
        room_id="wx-live-0001",
        author_id="self-host-5005",
        started_at=datetime(2026, 4, 20, 12, 0, tzinfo=UTC),
        modified_at=datetime(2026, 4, 21, tzinfo=UTC),
        views=1000,
    )
    async with sessions() as session, session.begin():
        shop_id = await session.scalar(select(Shop.id).where(Shop.platform_shop_id == "self-ganzi-001"))
        assert shop_id is not None
        page = await upsert_live_sessions(
            await session.connection(), shop_id, "selfmall", [newer], now=newer.modified_at
        )
        assert page.changed == 1
    async with sessions() as session:
        stored = (
            await session.execute(
                select(LiveSession.views, LiveSession.campaign_code).where(LiveSession.room_id == "wx-live-0001")
            )
        ).one()
        assert tuple(stored) == (1000, "CMP-0A1B-001")
    # one code names one session: in the file, and against what is stored
    clash = _write(
        tmp_path / "clash.csv",
        header,
        [
            [*row[:2], "wx-live-0003", *row[3:], "2026-05-04 20:00:00", "", "", "CMP-0A1B-001"],
            [*row[:2], "wx-live-0004", *row[3:], "2026-05-11 20:00:00", "", "", "CMP-0A1B-009"],
            [*row[:2], "wx-live-0005", *row[3:], "2026-05-18 20:00:00", "", "", "CMP-0A1B-009"],
        ],
    )
    before = await _snapshot(sessions)
    with pytest.raises(ImportRejected) as caught:
        await import_file(sessions, "sessions", clash)
    assert str(caught.value).splitlines() == [
        f"{clash}:4:活动码: CMP-0A1B-009 is also the code of session wx-live-0004 (row 3)",
        f"{clash}:2:活动码: CMP-0A1B-001 is already the code of session wx-live-0001",
    ]
    assert await _snapshot(sessions) == before
