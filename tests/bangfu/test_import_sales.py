"""``bangfu import sales``: offline shops' files, all or nothing, idempotent, into the pipeline."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from bangfu.cli.app import app
from bangfu.enums import ChannelType, OrderStatus, PlatformKind
from bangfu.errors import UserError
from bangfu.importing import ImportRejected, import_file, parse_rows
from bangfu.importing.rows import SalesRow, gs1_check_digit
from bangfu.models import Order, OrderLine, PurchasingUnit, Shop, Sku
from bangfu.money import parse_yuan
from bangfu.offline import add_offline_shop
from bangfu.store import make_engine, session_factory
from tests.conftest import EXAMPLES

VENDING_CSV = EXAMPLES / "sales.csv"  # a canteen vending machine's export, Chinese headers, UTF-8 with BOM
COUNTER_XLSX = EXAMPLES / "xlsx" / "sales_en.xlsx"  # a counter's till export, English headers, barcodes
HEADER = ["小票号", "销售时间", "商品编码", "条码", "数量", "单价", "优惠", "金额", "支付方式", "采购单位"]


def _table(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _write(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


async def _catalogue(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """The example catalogue and units, a vending machine, a counter and a platform shop."""
    for kind in ("cooperatives", "products", "units"):
        await import_file(sessions, kind, EXAMPLES / f"{kind}.csv")
    async with sessions() as session, session.begin():
        vending, _ = await add_offline_shop(session, PlatformKind.VENDING, "食堂售货机", code="VM-1", county="513328")
        counter, _ = await add_offline_shop(session, PlatformKind.COUNTER, "帮扶专柜", code="ZG-1")
        online = Shop(
            name="抖音店",
            platform=PlatformKind.DOUYIN,
            channel_type=ChannelType.LIVE,
            platform_shop_id="dy",
            settings={},
        )
        session.add(online)
        await session.flush()
        return {"vending": vending.id, "counter": counter.id, "online": online.id}


async def _stored(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[Any, ...]]:
    async with sessions() as session:
        orders = await session.execute(
            select(Order.shop_id, Order.platform_order_id, Order.paid_fen, Order.paid_at, Order.content_hash).order_by(
                Order.id
            )
        )
        lines = await session.execute(
            select(
                OrderLine.platform_line_id, OrderLine.sku_id, OrderLine.quantity, OrderLine.paid_fen, OrderLine.version
            ).order_by(OrderLine.id)
        )
        return [tuple(r) for r in orders] + [tuple(r) for r in lines]


async def test_the_example_files_load_and_loading_them_again_changes_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    shops = await _catalogue(sessions)
    header, rows = _table(VENDING_CSV)
    receipts = {r[0] for r in rows}
    vending = await import_file(sessions, "sales", VENDING_CSV, shop_id=shops["vending"])
    assert (vending.created, vending.updated, vending.unchanged) == (len(receipts), 0, 0)
    counter = await import_file(sessions, "sales", COUNTER_XLSX, shop_id=shops["counter"])
    assert counter.created > 0 and counter.updated == 0
    before = await _stored(sessions)
    again = await import_file(sessions, "sales", VENDING_CSV, shop_id=shops["vending"])
    assert (again.created, again.updated, again.unchanged) == (0, 0, len(receipts))
    await import_file(sessions, "sales", COUNTER_XLSX, shop_id=shops["counter"])
    assert await _stored(sessions) == before

    async with sessions() as session:
        # one order per receipt; every line found its SKU (by code for the machine, barcode for the counter)
        orders = list(await session.scalars(select(Order).where(Order.shop_id == shops["vending"])))
        assert {o.platform_order_id for o in orders} == receipts
        assert all(o.status == OrderStatus.COMPLETED and o.paid_at == o.created_at for o in orders)
        amount = header.index("金额")
        assert sum(o.paid_fen for o in orders) == sum(parse_yuan(r[amount]) for r in rows)
        unmatched = await session.scalar(select(func.count()).select_from(OrderLine).where(OrderLine.sku_id.is_(None)))
        assert unmatched == 0
        # the counter's staff-welfare purchases count to their purchasing unit
        by_unit = await session.execute(
            select(PurchasingUnit.code, func.count())
            .join(Order, Order.purchasing_unit_id == PurchasingUnit.id)
            .where(Order.shop_id == shops["counter"])
            .group_by(PurchasingUnit.code)
        )
        units = dict(by_unit.all())
        assert units and set(units) <= {"U-UNION-001", "U-GOV-002", "U-HC-001"}


async def test_an_overlapping_file_adds_only_the_receipts_it_does_not_share(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    shops = await _catalogue(sessions)
    header, rows = _table(VENDING_CSV)
    receipts = sorted({r[0] for r in rows})
    first_half = [r for r in rows if r[0] in receipts[:10]]
    overlap = [r for r in rows if r[0] in receipts[5:15]]
    await import_file(sessions, "sales", _write(tmp_path / "a.csv", header, first_half), shop_id=shops["vending"])
    result = await import_file(sessions, "sales", _write(tmp_path / "b.csv", header, overlap), shop_id=shops["vending"])
    assert (result.created, result.updated, result.unchanged) == (5, 0, 5)
    # a receipt that comes again with another amount is refused, naming its first row
    changed = [list(r) for r in overlap]
    changed[0][header.index("单价")] = "1.00"
    changed[0][header.index("金额")] = "1.00"
    changed[0][header.index("数量")] = "1"
    changed[0][header.index("优惠")] = "0"
    before = await _stored(sessions)
    with pytest.raises(ImportRejected) as rejected:
        await import_file(sessions, "sales", _write(tmp_path / "c.csv", header, changed), shop_id=shops["vending"])
    assert [str(e) for e in rejected.value.errors] == [
        f"{tmp_path / 'c.csv'}:2:小票号: receipt {changed[0][0]} is stored already with another time, products or "
        "amounts; an import never changes a stored sale"
    ]
    assert await _stored(sessions) == before


async def test_a_bad_file_names_every_error_and_stores_nothing(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    shops = await _catalogue(sessions)
    async with sessions() as session:
        sku = await session.scalar(select(Sku).where(Sku.sku_code == "GZ-SPU-0033-01"))
        other = await session.scalar(select(Sku).where(Sku.sku_code == "GZ-SPU-0035-02"))
        assert sku is not None and other is not None and sku.barcode and other.barcode
    code, barcode, price = sku.sku_code, str(sku.barcode), "15.80"
    unknown = "697532899999" + gs1_check_digit("697532899999")  # a well-formed barcode of no SKU
    rows = [
        ["R1", "2026-11-20 12:00:00", code, "", "2", price, "0", "31.60", "微信", ""],  # 2: good
        ["R2", "2026-11-20 12:01:00", code, "", "2", "15.805", "0", "", "微信", ""],  # 3: three decimals
        ["R3", "2026-11-20 12:02:00", code, "", "-1", price, "0", "", "微信", ""],  # 4: negative quantity
        ["R4", "2026-11-20 12:03:00", code, "", "2", price, "0", "30.00", "微信", ""],  # 5: amount off
        ["R5", "2026-11-20 12:04:00", code, "", "1", price, "16.00", "", "微信", ""],  # 6: discount above gross
        ["R6", "2026-11-20 12:05:00", "NO-SUCH-SKU", "", "1", price, "0", "", "微信", ""],  # 7: unknown code
        ["R7", "2026-11-20 12:06:00", "", unknown, "1", price, "0", "", "微信", ""],  # 8: unknown barcode
        ["R8", "2026-11-20 12:07:00", code, str(other.barcode), "1", price, "0", "", "微信", ""],  # 9: disagree
        ["R9", "2026-11-20 12:08:00", "", "6975328000641", "1", price, "0", "", "微信", ""],  # 10: check digit
        ["R10", "2026-11-20 12:09:00", code, "", "1", price, "0", "", "微信", "U-NOPE"],  # 11: unknown unit
        ["R11", "2026-11-20 12:10:00", code, "", "1", price, "0", "", "微信", ""],  # 12
        ["R11", "2026-11-20 12:11:00", "", barcode, "1", price, "0", "", "微信", ""],  # 13: time, same product
        ["R12", "2099-01-01 12:00:00", code, "", "1", price, "-1", "", "微信", ""],  # 14: future, negative
        ["R13", "2026-11-20 12:12:00", "", "", "1", price, "0", "", "微信", ""],  # 15: no product
    ]
    path = _write(tmp_path / "bad.csv", HEADER, rows)
    with pytest.raises(ImportRejected) as rejected:
        await import_file(sessions, "sales", path, shop_id=shops["vending"])
    lines = [str(e).removeprefix(f"{path}:") for e in rejected.value.errors]
    expected_starts = [
        "3:单价: '15.805' is not an amount in yuan with at most two decimals",
        "4:数量: '-1' is not a whole number",
        "5:金额: 30.00 is not quantity x unit price - discount = 2 x 15.80 - 0.00 = 31.60",
        "6:优惠: 16.00 is more than quantity x unit price (15.80)",
        "10:条码: barcode 6975328000641: the check digit should be 0",
        "14:销售时间: 2099-01-01 12:00 is in the future",
        "14:优惠: '-1' is negative",
        "15:商品编码: give the SKU code or the barcode of the product",
        "7:商品编码: no SKU with code NO-SUCH-SKU",
        f"8:条码: no SKU with barcode {unknown}",
        f"9:条码: {other.barcode} is the barcode of SKU GZ-SPU-0035-02, not of {code}",
        "11:采购单位: no purchasing unit U-NOPE",
        "13:销售时间: differs from row 12 of the same receipt R11",
        "13:条码: the same product as row 12 of receipt R11: one line per product",
    ]
    assert len(lines) == len(expected_starts), lines
    for line, start in zip(lines, expected_starts, strict=True):
        assert line.startswith(start), (line, start)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == 0
        assert await session.scalar(select(func.count()).select_from(OrderLine)) == 0


async def test_the_shop_must_be_an_offline_one(sessions: async_sessionmaker[AsyncSession]) -> None:
    shops = await _catalogue(sessions)
    with pytest.raises(UserError, match="从平台接口同步，不接受导入销售"):
        await import_file(sessions, "sales", VENDING_CSV, shop_id=shops["online"])
    with pytest.raises(UserError, match="没有编号为 999 的店铺"):
        await import_file(sessions, "sales", VENDING_CSV, shop_id=999)
    with pytest.raises(UserError, match="--shop 编号"):
        await import_file(sessions, "sales", VENDING_CSV)
    with pytest.raises(UserError, match="--shop 只用于 bangfu import sales"):
        await import_file(sessions, "units", EXAMPLES / "units.csv", shop_id=shops["vending"])


def test_gbk_csv_and_english_xlsx_read_as_the_utf8_csv(tmp_path: Path) -> None:
    header, rows = _table(VENDING_CSV)
    gbk = _write(tmp_path / "gbk.csv", header, rows, encoding="gbk")
    utf8 = parse_rows("sales", VENDING_CSV)
    assert utf8.errors == [] and parse_rows("sales", gbk).rows == utf8.rows
    english = parse_rows("sales", COUNTER_XLSX)
    assert english.errors == [] and english.rows
    row = english.rows[0][1]
    assert isinstance(row, SalesRow) and row.barcode and row.sku_code is None and row.sold_at.tzinfo is not None


def test_columns_the_file_lacks_are_named_in_its_language(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "cols.csv", ["小票号", "销售时间", "商品名称", "数量"], [["R1", "2026-11-20 12:00", "酸奶", "1"]]
    )
    errors = [str(e).removeprefix(f"{path}:") for e in parse_rows("sales", path).errors]
    assert errors == [
        "1:单价: missing column (also accepted: unit_price / 单价(元) / 单价（元）)",
        "1:商品编码 / 条码: missing column: one of these is needed",
    ]


def test_cli_imports_runs_the_pipeline_and_exits_nonzero_on_errors(tmp_path: Path) -> None:
    """Through the CLI on SQLite: exit 0 and the pipeline's line; a bad file exit 2, one line per
    error and nothing stored; a platform shop refused."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    runner = CliRunner()
    for kind in ("cooperatives", "products"):
        assert runner.invoke(app, ["import", kind, str(EXAMPLES / f"{kind}.csv"), "--db", url]).exit_code == 0
    added = runner.invoke(
        app, ["--lang", "en", "shops", "add", "--channel", "vending", "--name", "售货机", "--db", url]
    )
    assert added.exit_code == 0, added.output
    assert "added shop #1 (vending)" in added.output and "bangfu import sales" in added.output
    ok = runner.invoke(app, ["--lang", "en", "import", "sales", str(VENDING_CSV), "--shop", "1", "--db", url])
    assert ok.exit_code == 0, ok.output
    assert "25 new, 0 updated, 0 unchanged" in ok.output and "accounting pipeline run" in ok.output
    header, rows = _table(VENDING_CSV)
    bad = _write(tmp_path / "bad.csv", header, [[*rows[0][:5], "1.234", *rows[0][6:]], ["X", *rows[1][1:]]])
    refused = runner.invoke(app, ["--lang", "en", "import", "sales", str(bad), "--shop", "1", "--db", url])
    assert refused.exit_code == 2
    assert f"{bad}:2:单价: '1.234' is not an amount in yuan with at most two decimals" in refused.output
    assert "nothing was imported" in refused.output
    no_shop = runner.invoke(app, ["--lang", "en", "import", "sales", str(VENDING_CSV), "--db", url])
    assert no_shop.exit_code == 2 and "--shop ID" in no_shop.output

    async def count() -> int:
        engine = make_engine(url)
        try:
            async with session_factory(engine)() as session:
                return int(await session.scalar(select(func.count()).select_from(Order)) or 0)
        finally:
            await engine.dispose()

    assert asyncio.run(count()) == 25


def test_imported_sales_reach_the_household_ledger_and_the_county_channels(db_url: str) -> None:
    """``bangfu import sales`` runs the pipeline (Celery eager): the machine's sales are attributed,
    drawn from lots and posted, so households earn from them and the county's figures carry the
    vending channel, with its label, in the sales by channel and in households driven by channel."""
    from bangfu.demo.scenario import build_scenario, load_scenario
    from bangfu.ledger import balances
    from bangfu.queries.county import overview
    from bangfu.reports.base import month_period
    from bangfu.scope import Scope

    async def setup() -> int:
        engine = make_engine(db_url)
        try:
            sessions = session_factory(engine)
            await load_scenario(sessions, build_scenario(7, households=60))
            async with sessions() as session, session.begin():
                shop, _ = await add_offline_shop(session, PlatformKind.VENDING, "食堂售货机", county="513328")
                return shop.id
        finally:
            await engine.dispose()

    shop_id = asyncio.run(setup())
    result = CliRunner().invoke(
        app, ["--lang", "en", "import", "sales", str(VENDING_CSV), "--shop", str(shop_id), "--db", db_url]
    )
    assert result.exit_code == 0, result.output
    assert "accounting pipeline run" in result.output

    async def figures() -> Any:
        engine = make_engine(db_url)
        try:
            async with engine.connect() as conn:
                return await overview(conn, Scope.admin(), month_period("2026-11")), await balances(conn)
        finally:
            await engine.dispose()

    seen, ledger = asyncio.run(figures())
    # A vending machine is on no platform: its sales carry the policy's payment-fee and logistics
    # estimates (the scenario's 60 and 800 bp), never a platform fee.
    assert ledger.get(f"fees:shop:{shop_id}:platform_fee", 0) == 0
    assert ledger[f"fees:shop:{shop_id}:payment_fee"] < 0 and ledger[f"fees:shop:{shop_id}:logistics"] < 0
    header, rows = _table(VENDING_CSV)
    total = sum(parse_yuan(r[header.index("金额")]) for r in rows)
    sales = {r.key: r for r in seen.sales.by_channel}
    assert sales["vending"].gross == total and sales["vending"].label == "Vending machines"  # the CLI ran in English
    driven = {r.key: r for r in seen.by_channel}
    assert driven["vending"].figures.households > 0 and driven["vending"].figures.income > 0
    assert driven["vending"].label == "Vending machines"


async def test_the_products_import_keeps_one_sku_per_barcode(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await import_file(sessions, "cooperatives", EXAMPLES / "cooperatives.csv")
    header, rows = _table(EXAMPLES / "products.csv")
    rows = [list(r) for r in rows[:4]]
    at = header.index("条码")
    await import_file(sessions, "products", _write(tmp_path / "p.csv", header, rows))
    bad = [list(r) for r in rows]
    bad[0][at] = rows[0][at][:-1] + str((int(rows[0][at][-1]) + 1) % 10)  # a wrong check digit
    bad[1][at] = rows[2][at]  # SKU 2 takes SKU 3's barcode, which SKU 3 keeps in the file
    bad[3][at] = rows[2][at]  # ... and so does SKU 4
    before = await _stored_skus(sessions)
    with pytest.raises(ImportRejected) as rejected:
        await import_file(sessions, "products", _write(tmp_path / "bad.csv", header, bad))
    name = tmp_path / "bad.csv"
    assert [str(e) for e in rejected.value.errors] == [
        f"{name}:2:条码: barcode {bad[0][at]}: the check digit should be {rows[0][at][-1]}",
        f"{name}:4:条码: {rows[2][at]} is also the barcode of row 3",
        f"{name}:5:条码: {rows[2][at]} is also the barcode of row 3",
    ]
    only_stored = [list(r) for r in rows[:2]]
    only_stored[1][at] = rows[2][at]  # held by a SKU stored before, which this file does not mention
    with pytest.raises(ImportRejected) as rejected:
        await import_file(sessions, "products", _write(tmp_path / "taken.csv", header, only_stored))
    holder = rows[2][header.index("SKU编码")]
    assert [str(e) for e in rejected.value.errors] == [
        f"{tmp_path / 'taken.csv'}:3:条码: {rows[2][at]} is already the barcode of SKU {holder}"
    ]
    assert await _stored_skus(sessions) == before


async def _stored_skus(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str | None]]:
    async with sessions() as session:
        return [(c, b) for c, b in await session.execute(select(Sku.sku_code, Sku.barcode).order_by(Sku.sku_code))]
