"""Enterprise-driven households: computed amounts to the fen, ``bangfu drives import`` (all or
nothing, errors naming file, row and column, idempotent), links to cooperative members by the
identity-number hash, and the distinct counts across the two lines."""

from __future__ import annotations

import csv
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bangfu.drives import amounts, combined_households, order_purchase_fen, split_dividend
from bangfu.importing import ImportRejected, import_file
from bangfu.importing.drives import import_drives
from bangfu.models import DividendPool, DriveEntry, DriveHousehold, Household
from bangfu.privacy import id_number_hash
from bangfu.queries.drives import enterprise, lines_of, overview
from bangfu.reports.base import parse_period
from bangfu.scope import Scope
from tests.conftest import EXAMPLES

OYA = "91513328PN9LJMTE9F"  # 甘孜哦呀食品有限公司 in examples/cooperatives.csv
GRAIN = "915133284TDUH8NDBK"  # 甘孜高原粮油有限公司
COOP = "93513328AY4CL12THE"  # a cooperative
MEMBER_ID = "513328195508020001"  # its member M00001, 格桑措


def test_order_purchase_is_kg_times_price_rounded_half_up() -> None:
    assert order_purchase_fen(120_500, 240) == 28_920  # 120.5 kg x ¥2.40 = ¥289.20
    assert order_purchase_fen(333_333, 1_999) == 666_333  # 666,332.667 fen -> 666,333
    assert order_purchase_fen(1, 500) == 1  # half a fen rounds up
    assert order_purchase_fen(1, 499) == 0
    with pytest.raises(ValueError):
        order_purchase_fen(-1, 100)


def test_dividends_split_by_largest_remainder_to_the_fen() -> None:
    assert split_dividend(100_000, {"a": 1, "b": 1, "c": 1}) == {"a": 33_334, "b": 33_333, "c": 33_333}
    parts = split_dividend(1_000_001, {"a": 3, "b": 5, "c": 11})
    assert sum(parts.values()) == 1_000_001
    assert parts == {"a": 157_895, "b": 263_158, "c": 578_948}
    with pytest.raises(ValueError):
        split_dividend(100, {"a": 0, "b": 1})


def test_combined_count_takes_a_family_on_both_lines_once() -> None:
    members = {1: 500, 2: 300, 3: -20}  # household 3 is below zero: not driven
    enterprise = {("h", "2"): 1_000, ("x", "abc"): 700, ("d", "9"): 0}
    assert combined_households(members, enterprise) == 3  # 1, 2 (both lines), abc


async def _base(sessions: async_sessionmaker[AsyncSession]) -> None:
    await import_file(sessions, "cooperatives", EXAMPLES / "cooperatives.csv")
    await import_file(sessions, "households", EXAMPLES / "households.csv")


async def _counts(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int, int]:
    async with sessions() as session:
        return (
            int(await session.scalar(select(func.count()).select_from(DriveHousehold)) or 0),
            int(await session.scalar(select(func.count()).select_from(DriveEntry)) or 0),
            int(await session.scalar(select(func.count()).select_from(DividendPool)) or 0),
        )


async def test_example_imports_computes_links_and_is_idempotent(sessions: async_sessionmaker[AsyncSession]) -> None:
    await _base(sessions)
    first = await import_drives(sessions, EXAMPLES / "drives.csv")
    assert (first.households, first.entries.created, first.pools, first.linked) == (7, 9, 1, 1)
    again = await import_drives(sessions, EXAMPLES / "drives.csv")
    assert (again.households, again.entries.created, again.entries.updated, again.entries.unchanged) == (0, 0, 0, 9)
    assert again.linked == 0
    async with sessions() as session:
        stored = {
            (ref, str(mode), month): (fen, computed)
            for ref, mode, month, fen, computed in await session.execute(
                select(
                    DriveHousehold.household_ref,
                    DriveEntry.mode,
                    DriveEntry.month,
                    DriveEntry.amount_fen,
                    DriveEntry.computed,
                ).join(DriveHousehold, DriveHousehold.id == DriveEntry.drive_household_id)
            )
        }
        member = await session.scalar(select(Household.id).where(Household.id_number_hash == id_number_hash(MEMBER_ID)))
        linked = await session.scalar(select(DriveHousehold.household_id).where(DriveHousehold.household_ref == "H001"))
        stored_hashes = list(await session.scalars(select(DriveHousehold.id_number_hash)))
    assert stored[("H001", "order_purchase", "2026-03")] == (28_920, True)
    assert stored[("H002", "order_purchase", "2026-03")] == (666_333, True)
    assert stored[("H002", "order_purchase", "2026-04")] == (150_000, False)  # declared
    assert stored[("H001", "employment", "2026-03")] == (320_000, False)
    # The ¥1,000 pool over three single shares: the first remainder takes the leftover fen.
    dividends = [stored[(ref, "dividend", "2026-03")][0] for ref in ("G01", "G02", "G03")]
    assert dividends == [33_334, 33_333, 33_333] and sum(dividends) == 100_000
    assert linked == member is not None
    assert MEMBER_ID not in " ".join(h or "" for h in stored_hashes)  # only the keyed hash

    period = parse_period("2026", now=datetime.now(UTC))
    async with sessions() as session:
        conn = await session.connection()
        o = await overview(conn, Scope.admin(), period)
        # 泽仁拉姆 is on two enterprises' books with one identity number: one family.
        assert o.lines.enterprise.households == 6
        assert o.lines.enterprise.income == 28_920 + 320_000 + 666_333 + 150_000 + 280_000 + 100_000 + 135_000
        assert o.members_linked == 1
        # A member household with ledger income: 格桑措 is on both lines, counted once in the total.
        ls = lines_of({int(member or 0): 5_000, 999_999: 100}, await amounts(conn, None))
        assert (ls.cooperative.households, ls.enterprise.households, ls.combined, ls.both) == (2, 6, 7, 1)
        oya = next(e for e in o.enterprises if e.name.startswith("甘孜哦呀"))
        detail = await enterprise(conn, Scope.admin(), oya.id, period)
        assert detail is not None
        assert all(set(h.name[1:]) == {"*"} for h in detail.households)  # masked
        assert {h.ref: h.member for h in detail.households} == {"H001": True, "H002": False, "H003": False}


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


async def test_a_bad_file_writes_nothing_and_names_each_problem(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await _base(sessions)
    header = ["enterprise_code", "household_ref", "head_name", "category", "village", "id_number", "mode", "month",
              "amount", "quantity_kg", "price", "shares", "pool"]  # fmt: skip
    good = [OYA, "H1", "扎西", "lifted", "一村", "", "employment", "2026-02", "1000", "", "", "", ""]
    path = _write(
        tmp_path / "bad.csv",
        [
            header,
            good,
            [COOP, "H2", "卓玛", "lifted", "一村", "", "employment", "2026-02", "10", "", "", "", ""],
            [OYA, "H3", "卓玛", "lifted", "一村", "", "dividend", "2026-02", "10", "", "", "1", "50"],
            [OYA, "H4", "卓玛", "lifted", "一村", "", "order_purchase", "2026-02", "", "12.5", "", "", ""],
            [OYA, "H5", "卓玛", "lifted", "一村", "", "order_purchase", "2026-02", "30.01", "12.5", "2.40", "", ""],
            [GRAIN, "G1", "卓玛", "lifted", "一村", "", "dividend", "2026-02", "", "", "", "1", "50"],
            [GRAIN, "G2", "卓玛", "lifted", "一村", "", "dividend", "2026-02", "", "", "", "2", "60"],
            [OYA, "H1", "扎西", "ordinary", "一村", "", "land_lease", "2026-02", "1", "", "", "", ""],
            [OYA, "H6", "扎西", "lifted", "一村", "", "employment", "2099-01", "1", "", "", "", ""],
            [OYA, "H7", "扎西", "lifted", "一村", "", "farming", "2026-01", "1", "", "", "", ""],
        ],
    )
    with pytest.raises(ImportRejected) as caught:
        await import_drives(sessions, path)
    lines = str(caught.value).splitlines()
    name = str(path)
    expected = [
        f"{name}:3:enterprise_code: {COOP} is a cooperative, not an enterprise",
        f"{name}:4:amount: leave blank for dividend (computed from the pool and the shares)",
        f"{name}:5:price: an order purchase gives both kg and price per kg (or the amount alone)",
        f"{name}:6:amount: 30.01 is not kg x price = 12.5 x 2.40 = 30.00",
        f"{name}:8:pool: 60.00 differs from row 7's pool 50.00 for the same enterprise and month",
        f"{name}:9:category: differs from row 2 of the same household",
        f"{name}:10:month: 2099-01 is in the future",
    ]
    for line in expected:
        assert line in lines, (line, lines)
    assert any(line.startswith(f"{name}:11:mode: 'farming' is not one of") for line in lines)
    assert await _counts(sessions) == (0, 0, 0)  # nothing written

    # The good row alone goes in; a dividend pool imported again with fewer households is replaced.
    await import_drives(sessions, _write(tmp_path / "good.csv", [header, good]))
    pool = [header,
            [GRAIN, "G1", "卓玛", "lifted", "一村", "", "dividend", "2026-02", "", "", "", "1", "0.05"],
            [GRAIN, "G2", "拉姆", "lifted", "一村", "", "dividend", "2026-02", "", "", "", "2", "0.05"]]  # fmt: skip
    await import_drives(sessions, _write(tmp_path / "pool.csv", pool))
    assert await _counts(sessions) == (3, 3, 1)
    await import_drives(sessions, _write(tmp_path / "pool2.csv", pool[:2]))
    async with sessions() as session:
        dividends = list(await session.scalars(select(DriveEntry.amount_fen).where(DriveEntry.mode == "dividend")))
    assert dividends == [5]  # G2's share is gone, G1 holds the whole pool


async def test_the_example_as_xlsx_with_english_headers(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    from openpyxl import Workbook

    await _base(sessions)
    english = ["enterprise_code", "household_ref", "head_name", "category", "village", "id_number", "mode", "month",
               "amount", "quantity_kg", "price", "shares", "pool"]  # fmt: skip
    with (EXAMPLES / "drives.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(english)
    for row in rows:
        sheet.append(row)
    workbook.save(tmp_path / "drives.xlsx")
    loaded = await import_drives(sessions, tmp_path / "drives.xlsx")
    assert (loaded.households, loaded.entries.created) == (7, 9)
    shutil.copyfile(EXAMPLES / "drives.csv", tmp_path / "again.csv")
    again = await import_drives(sessions, tmp_path / "again.csv")  # the same rows, Chinese headers
    assert again.entries.unchanged == 9
