"""`bangfu import`: all or nothing, idempotent, errors that name file, row and field."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

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
    assert set(KINDS) == {*ORDER, "sessions", "listings", "sales", "certificates"}
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
    from bangfu.demo.scenario import SHOPS

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
    lines = str(caught.value).splitlines()  # every problem at once, not the first only
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:3:店铺ID: 没有 douyin 店铺 dy-nowhere（共 1 行，自第 3 行起）")
    assert lines[1] == f"{path}:5:观看次数: differs from row 2 of the same session 7301234567890123456"
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
    from bangfu.upsert import upsert_live_sessions

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


# --- issue 12: hardening --------------------------------------------------------------------


def _cli_import(kind: str, path: Path, db: str, *more: str) -> subprocess.CompletedProcess[str]:
    """``bangfu import`` as a user runs it (in-process: the process itself is tests/bangfu/test_cli.py's);
    every mistake must be a line on stderr and exit 2."""
    from tests.bangfu.test_cli import bangfu_in_process

    return bangfu_in_process(*more, "import", kind, str(path), "--db", db)


def _assert_refused(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert not re.search(r"\b(INSERT|UPDATE|SELECT)\b|\[SQL|parameters:", result.stderr), result.stderr
    for line in expected:
        assert line in result.stderr, result.stderr


def _units(tmp_path: Path, *rows: list[str], name: str = "units.csv") -> Path:
    return _write(tmp_path / name, ["单位编码", "单位名称", "单位类型", "职工人数"], [list(r) for r in rows])


@pytest.mark.parametrize(
    ("case", "cell", "expected"),
    [
        ("a 200k-character field (_csv.Error)", ("name", "长" * 200_000), ":2:单位名称: "),
        ("text longer than the column (128)", ("name", "长" * 129), ":2:单位名称: String should have at most 128"),
        ("a NUL byte (PostgreSQL refuses it)", ("name", "单位\x00一"), ":2:单位名称: a control character"),
        ("an integer beyond the INTEGER column", ("staff", "3000000000"), ":2:职工人数: Input should be less than"),
    ],
)
def test_bad_cells_are_lines_not_tracebacks_or_sql(
    db_url: str, tmp_path: Path, case: str, cell: tuple[str, str], expected: str
) -> None:
    """Issue 12 item 10: each of these printed a traceback (with the SQL parameters on PostgreSQL)
    or was stored silently on SQLite."""
    row = {"code": "U1", "name": "单位一", "type": "机关", "staff": "12"}
    row[cell[0]] = cell[1]
    path = _units(tmp_path, list(row.values()))
    _assert_refused(_cli_import("units", path, db_url), f"{path}{expected}")


def test_a_file_name_with_rich_markup_and_a_row_100_are_printed_as_they_are(tmp_path: Path) -> None:
    """Issue 12 items 10 and 11: ``[/x].csv`` crashed rich's markup parser (a traceback), and
    ``units.csv:100:单位类型`` printed as ``units.csv💯单位类型``."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    rows = [[f"U{n}", f"单位{n}", "机关", ""] for n in range(2, 101)]
    rows[-1][2] = "银行"  # row 100
    folder = tmp_path / "[bold]" / "["
    folder.mkdir(parents=True)
    path = _units(folder, *rows, name="x] :100:.csv")
    assert "[bold]/[/x] :100:.csv" in str(path)
    result = _cli_import("units", path, db)
    _assert_refused(result, f"{path}:100:单位类型: '银行' is not one of", f"{path}：有 1 处错误")
    assert "💯" not in result.stderr
    good = _units(folder, ["U1", "单位", "机关", ""], name="x] :100: ok.csv")
    done = _cli_import("units", good, db)
    assert done.returncode == 0 and f"{good}：units 导入完成" in done.stdout and "💯" not in done.stdout


def test_a_broken_xlsx_sheet_is_a_line_not_a_traceback(tmp_path: Path) -> None:
    """Issue 12 item 10: malformed sheet XML raised an XML parser traceback."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["code", "name", "unit_type"])
    sheet.append(["U1", "Unit", "school"])
    good = tmp_path / "good.xlsx"
    workbook.save(good)
    broken = tmp_path / "units.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</row>", b"</rowx>", 1)
            dst.writestr(info, data)
    db = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    _assert_refused(_cli_import("units", broken, db), f"{broken}:", "XML")


async def test_reference_errors_come_in_the_same_pass_as_row_errors(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """Issue 12 item 10: an unknown cooperative was reported only after the syntax errors were
    fixed, so a file took two rounds."""
    await import_file(sessions, "cooperatives", EXAMPLES / "cooperatives.csv")
    from bangfu.importing.rows import credit_code_check_char

    unknown = "93513328YYYYYYYYY"
    unknown += credit_code_check_char(unknown)
    header, rows = _example_rows("households")
    rows = [list(r) for r in rows[:3]]
    rows[0][header.index("农户类别")] = "富裕户"  # row 2: syntax
    rows[2][header.index("合作社信用代码")] = unknown  # row 4: reference
    path = _write(tmp_path / "households.csv", header, rows)
    with pytest.raises(ImportRejected) as caught:
        await import_file(sessions, "households", path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:2:农户类别: '富裕户' is not one of")
    assert lines[1] == f"{path}:4:合作社信用代码: no cooperative with credit code {unknown}"


async def test_sessions_for_shops_not_yet_connected_say_so_once_per_shop(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Issue 12 (also): ``bangfu import sessions examples/sessions.csv`` on a fresh database printed
    180 "no douyin shop" lines, one per row; now one line per missing shop, saying how to add it."""
    from bangfu.i18n import set_lang

    set_lang("en")
    with pytest.raises(ImportRejected) as caught:
        await import_file(sessions, "sessions", EXAMPLES / "sessions.csv")
    lines = str(caught.value).splitlines()
    assert len(lines) == 2, lines
    path = EXAMPLES / "sessions.csv"
    assert lines[0].startswith(f"{path}:2:店铺ID: ")
    for line, (platform, shop_id, rows) in zip(
        lines, [("douyin", "dy-ganzi-001", 90), ("kuaishou", "ks-ganzi-001", 90)], strict=True
    ):
        assert f"{platform} shop {shop_id}" in line and f"{rows} rows" in line
        assert f"bangfu shops add {platform}" in line and f"--shop-id {shop_id}" in line


async def _household_state(sessions: async_sessionmaker[AsyncSession]) -> dict[str, tuple[object, ...]]:
    async with sessions() as session:
        rows = await session.execute(
            select(
                Household.member_no,
                Household.cooperative_id,
                Household.id_number_hash,
                Household.phone_masked,
                Household.joined_on,
                Household.members,
                MemberAccount.capital_fen,
                MemberAccount.reserve_share_fen,
                MemberAccount.subsidy_share_fen,
            ).join(MemberAccount, MemberAccount.household_id == Household.id)
        )
        return {f"{r[1]}/{r[0]}": tuple(r[2:]) for r in rows}


async def test_reimporting_with_blank_or_missing_optional_columns_keeps_what_is_stored(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """Issue 12 item 4: re-importing households with blank or missing optional columns cleared
    the ID hash, phone and join date and reset capital and reserve to 0."""
    await _import_examples(sessions)
    before = await _household_state(sessions)
    assert all(state[0] and state[1] and state[2] for state in before.values())
    assert sum(1 for state in before.values() if state[4] and state[5]) > 30  # capital and reserve
    header, rows = _example_rows("households")
    required = ["合作社信用代码", "成员编号", "户主姓名", "农户类别", "村"]
    only_required = [[row[header.index(h)] for h in required] for row in rows]
    result = await import_file(sessions, "households", _write(tmp_path / "short.csv", required, only_required))
    assert (result.updated, result.unchanged) == (0, 60)
    blanks = [[cell if h in required else "" for h, cell in zip(header, row, strict=True)] for row in rows]
    result = await import_file(sessions, "households", _write(tmp_path / "blank.csv", header, blanks))
    assert (result.updated, result.unchanged) == (0, 60)
    assert await _household_state(sessions) == before


async def test_an_explicit_clear_marker_empties_a_field(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """Issue 12 item 4: clearing needs ``<清空>`` (or ``<clear>``); on a required field it is an error."""
    await _import_examples(sessions)
    before = await _household_state(sessions)
    header, rows = _example_rows("households")
    first = list(rows[0])
    for column in ("身份证号", "电话", "入社日期"):
        first[header.index(column)] = "<清空>"
    first[header.index("出资额")] = "<CLEAR>"
    result = await import_file(sessions, "households", _write(tmp_path / "clear.csv", header, [first]))
    assert result.updated == 1
    after = await _household_state(sessions)
    key = next(k for k in after if k.endswith("/" + first[1]) and after[k] != before[k])
    assert after[key][:3] == (None, None, None) and after[key][4] == 0
    assert after[key][3] == before[key][3] and after[key][5:] == before[key][5:]
    assert {k: v for k, v in after.items() if k != key} == {k: v for k, v in before.items() if k != key}
    second = list(rows[1])
    second[header.index("户主姓名")] = "<清空>"
    with pytest.raises(ImportRejected, match=r":2:户主姓名: a required column cannot be cleared"):
        await import_file(sessions, "households", _write(tmp_path / "bad.csv", header, [second]))


def test_import_help_documents_the_clear_marker() -> None:
    from tests.bangfu.test_cli import bangfu_in_process

    result = bangfu_in_process("import", "--help")
    assert result.returncode == 0 and "<清空>" in result.stdout and "<clear>" in result.stdout


def _limits(**caps: int) -> Any:
    from dataclasses import replace

    from bangfu.importing.reader import LIMITS

    return replace(LIMITS, **caps)


def _xlsx(path: Path, rows: Sequence[Sequence[object]], patch: Callable[[bytes], bytes] | None = None) -> Path:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    plain = path.with_suffix(".plain.xlsx")
    workbook.save(plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if patch is not None and info.filename == "xl/worksheets/sheet1.xml":
                data = patch(data)
            dst.writestr(info.filename, data)
    return path


def _memory_capped(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI under a 1.5 GB address-space cap and a 60 s timeout, as a small server would run it."""
    import os
    import resource
    import sys

    from tests.conftest import REPO_ROOT

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20, 1536 * 2**20))

    return subprocess.run(
        [sys.executable, "-m", "bangfu", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "160"},
        cwd=REPO_ROOT,
        timeout=60,
        preexec_fn=cap,
        check=False,
    )


@pytest.mark.slow
def test_an_xlsx_declaring_a_sheet_of_a_billion_cells_is_read_as_what_it_holds(tmp_path: Path) -> None:
    """Issue 12 item 7: a 5 KB workbook declaring ``A1:XFD1048576`` exhausted memory."""
    units = [["code", "name", "unit_type"], ["U1", "Unit", "school"]]
    path = _xlsx(
        tmp_path / "units.xlsx",
        units,
        lambda data: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', data),
    )
    assert path.stat().st_size < 10_000
    db = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    result = _memory_capped("import", "units", str(path), "--db", db)
    assert result.returncode == 0, result.stderr[-2000:]
    far = _xlsx(tmp_path / "far.xlsx", [[*units[0], *([None] * 300), "x"], units[1]])
    _assert_refused(_memory_capped("import", "units", str(far), "--db", db), f"{far}:1:", "200")


def test_an_xlsx_zip_bomb_is_refused_before_openpyxl_opens_it(tmp_path: Path) -> None:
    """Issue 12 item 7: a 575 KB workbook unpacking to a 196 MB sheet ran for minutes at 700 MB.
    Here: a sheet padded to just over a lowered cap on the unpacked size."""
    units = [["code", "name", "unit_type"], ["U1", "Unit", "school"]]
    path = _xlsx(
        tmp_path / "units.xlsx", units, lambda data: data.replace(b"<sheetData>", b" " * 300_000 + b"<sheetData>")
    )
    assert path.stat().st_size < 20_000
    assert parse_rows("units", path, limits=_limits(unpacked_bytes=10**6)).errors == []
    from bangfu.errors import UserError

    with pytest.raises(UserError, match=rf"{re.escape(str(path))}: .*3\d\d,\d\d\d.*250,000"):
        parse_rows("units", path, limits=_limits(unpacked_bytes=250_000))
    with pytest.raises(UserError, match=rf"{re.escape(str(path))}: .*1,000"):
        parse_rows("units", path, limits=_limits(file_bytes=1_000))


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_rows_and_columns_beyond_the_caps_are_refused(tmp_path: Path, suffix: str) -> None:
    """Issue 12 item 7: caps on rows and columns, naming the file and the cap."""
    from bangfu.errors import UserError

    header = ["code", "name", "unit_type"]
    rows = [[f"U{n}", f"Unit {n}", "school"] for n in range(10)]
    path = tmp_path / f"units{suffix}"
    if suffix == ".csv":
        _write(path, header, rows)
    else:
        _xlsx(path, [header, *rows])
    assert len(parse_rows("units", path, limits=_limits(rows=10)).rows) == 10
    with pytest.raises(UserError, match=rf"{re.escape(str(path))}:11:-: .*\b9\b"):
        parse_rows("units", path, limits=_limits(rows=9))
    with pytest.raises(UserError, match=rf"{re.escape(str(path))}:1:-: .*\b2\b"):
        parse_rows("units", path, limits=_limits(columns=2))


def test_cells_beyond_the_header_are_refused_not_dropped(tmp_path: Path) -> None:
    """Issue 12 item 9: a row with more cells than the header lost the extra cells silently."""
    path = _write(
        tmp_path / "units.csv",
        ["单位编码", "单位名称", "单位类型"],
        [["U1", "单位", "机关", "红"], ["U2", "单位二", "机关", ""]],
    )
    assert [str(e) for e in parse_rows("units", path).errors] == [
        f"{path}:2:column D: a value in a column without a header"
    ]


@pytest.mark.parametrize("encoding", ["big5", "shift_jis", "utf-16"])
def test_csv_in_other_encodings_is_refused_not_read_as_gb18030_garbage(tmp_path: Path, encoding: str) -> None:
    """Issue 12 item 9: Big5 or Shift-JIS files decoded as GB18030 imported mojibake."""
    from bangfu.errors import UserError

    text = "code,name,unit_type\nU1,甘孜縣衛生健康局醫院,hospital\nU2,東京都立病院です,hospital\n"
    path = tmp_path / "units.csv"
    path.write_bytes(text.encode(encoding, errors="replace"))
    with pytest.raises(UserError, match=rf"{re.escape(str(path))}: .*UTF-8.*GB18030"):
        parse_rows("units", path)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1,50", "is not an amount in yuan"),
        ("1,0,0,0", "is not an amount in yuan"),
        ("1e3", "is not an amount in yuan"),
        ("1_000", "is not an amount in yuan"),
        ("１２３", "is not an amount in yuan"),
        (".5", "is not an amount in yuan"),
        ("-5", "is negative"),
        ("12.345", "is not an amount in yuan with at most two decimals"),
        ("9,999,999,999,999", "is above"),
        ("NaN", "is not an amount in yuan"),
    ],
)
def test_lax_money_is_refused(tmp_path: Path, value: str, reason: str) -> None:
    """Issue 12 item 9: ``1,50`` was read as ¥150.00; ``1,0,0,0``, ``1e3``, ``1_000``, full-width
    digits and a capital of 9,999,999,999,999 yuan were accepted."""
    header, rows = _example_rows("households")
    row = list(rows[0])
    row[header.index("出资额")] = value
    path = _write(tmp_path / "households.csv", header, [row])
    errors = [str(e) for e in parse_rows("households", path).errors]
    assert len(errors) == 1 and errors[0].startswith(f"{path}:2:出资额: {value!r} {reason}"), errors


@pytest.mark.parametrize("value", ["1,234,567.89", "1234567.8", "0", "0.05", "5000"])
def test_strict_money_still_reads_what_people_write(tmp_path: Path, value: str) -> None:
    header, rows = _example_rows("households")
    row = list(rows[0])
    row[header.index("出资额")] = value
    path = _write(tmp_path / "households.csv", header, [row])
    parsed = parse_rows("households", path)
    assert parsed.errors == []
    from bangfu.money import parse_yuan

    assert cast(Any, parsed.rows[0][1]).capital == parse_yuan(value)


@pytest.mark.parametrize("value", ["1_000", "１２", "1e3", "-1", "12.0"])
def test_lax_counts_are_refused(tmp_path: Path, value: str) -> None:
    """Issue 12 item 9: counts took ``1_000`` (Python's int syntax) silently."""
    path = _units(tmp_path, ["U1", "单位", "机关", value])
    errors = [str(e) for e in parse_rows("units", path).errors]
    assert len(errors) == 1 and errors[0].startswith(f"{path}:2:职工人数: {value!r} is not a whole number"), errors


def test_a_lot_received_in_2099_is_refused(tmp_path: Path) -> None:
    """Issue 12 item 9: a lot dated 2099 was accepted."""
    header, rows = _example_rows("lots")
    row = list(rows[0])
    row[header.index("收购日期")] = "2099-04-14"
    path = _write(tmp_path / "lots.csv", header, [row])
    errors = [str(e) for e in parse_rows("lots", path).errors]
    assert len(errors) == 1 and errors[0].startswith(f"{path}:2:收购日期: 2099-04-14 is in the future"), errors


async def test_duplicate_identity_numbers_are_refused_in_the_file_and_against_the_store(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """Issue 12 item 9: two households with one identity number were accepted (PIPL: the error
    names the rows, never the number)."""
    await _import_examples(sessions)
    before = await _snapshot(sessions)
    header, rows = _example_rows("households")
    id_col, member_col = header.index("身份证号"), header.index("成员编号")
    new = [list(rows[0]), list(rows[0]), list(rows[0])]
    new[0][member_col], new[1][member_col], new[2][member_col] = "N1", "N2", "N3"
    new[1][id_col] = new[2][id_col] = "110101199001010011"
    path = _write(tmp_path / "households.csv", header, new)
    with pytest.raises(ImportRejected) as caught:
        await import_file(sessions, "households", path)
    lines = str(caught.value).splitlines()
    assert lines == [
        f"{path}:2:身份证号: the same identity number as member {rows[0][member_col]} of cooperative {rows[0][0]}",
        f"{path}:4:身份证号: the same identity number as row 3",
    ]
    assert rows[0][id_col] not in str(caught.value)
    assert await _snapshot(sessions) == before
