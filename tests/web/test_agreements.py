"""Procurement agreements: import (good, bad, again), execution on both back ends, the
behind-schedule alert, the pages per role, the export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, insert, select, update

from bangfu.agreements.alerts import KIND, run_agreement_alerts
from bangfu.agreements.importing import import_agreements
from bangfu.enums import CertificationStatus, OrderStatus, RefundStatus, UserRole
from bangfu.importing import ImportRejected
from bangfu.models import (
    Agreement,
    Alert,
    Certification,
    Order,
    OrderLine,
    Product,
    PurchasingUnit,
    Refund,
    Shop,
    Sku,
    Supplier,
    User,
)
from bangfu.queries.agreements import agreement_progress
from bangfu.scope import Scope
from bangfu.store import make_engine, open_store, session_factory
from tests.web.conftest import World, api_token, login

HEADER = [
    "协议编号",
    "采购单位",
    "供应商",
    "开始日期",
    "结束日期",
    "目标金额(元)",
    "协议产品",
    "协议品类",
    "约定单价",
    "折扣(%)",
]


def _write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def _at(day: str, hour: int = 12) -> datetime:
    """Noon of a local (Asia/Shanghai) day, in UTC."""
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00+08:00").astimezone(UTC)


async def test_import_execute_and_alert(world_copy: World, tmp_path: Path) -> None:
    engine = make_engine(world_copy.url)
    try:
        async with engine.connect() as conn:
            unit = (
                await conn.execute(
                    select(PurchasingUnit.id, PurchasingUnit.code, PurchasingUnit.name).where(
                        PurchasingUnit.code == "U-EDU-005"
                    )
                )
            ).one()
            other_unit = await conn.scalar(select(PurchasingUnit.id).where(PurchasingUnit.code == "U-EDU-004"))
            supplier = (
                await conn.execute(select(Supplier.id, Supplier.credit_code).where(Supplier.name.like("%牦牛养殖%")))
            ).one()
            products = (
                await conn.execute(
                    select(Product.id, Product.spu_code, Product.category, Sku.id.label("sku"), Sku.sku_code)
                    .join(Sku, Sku.product_id == Product.id)
                    .where(Product.supplier_id == supplier.id)
                    .order_by(Product.spu_code, Sku.sku_code)
                )
            ).all()
            elsewhere = (
                await conn.execute(
                    select(Sku.id).join(Product, Product.id == Sku.product_id).where(Product.supplier_id != supplier.id)
                )
            ).first()
            shop = await conn.scalar(select(Shop.id).order_by(Shop.id))
        covered = products[0]
        uncovered = next(p for p in products if p.id != covered.id)  # a product of the supplier not listed
        assert elsewhere is not None and shop is not None and other_unit is not None

        # -- a file with bad rows is rejected whole, each problem named by file, row and field --------
        bad = _write_csv(
            tmp_path / "bad.csv",
            [
                ["A-1", "没有这个单位", supplier.credit_code, "2026-03-01", "2026-08-31", "1000", "", "", "", ""],
                ["A-2", unit.code, "没有这个供应商", "2026-03-01", "2026-08-31", "1000", "", "", "", ""],
                ["A-3", unit.code, supplier.credit_code, "2026-09-01", "2026-08-31", "1000", "", "", "", ""],
                ["A-4", unit.code, supplier.credit_code, "2026-03-01", "2026-08-31", "1000", "NO-SUCH", "", "", ""],
                ["A-5", unit.code, supplier.credit_code, "2026-03-01", "2026-08-31", "1000", "", "", "", "120"],
                ["A-6", unit.code, supplier.credit_code, "2026-03-01", "2026-08-31", "0", "", "", "", ""],
            ],
        )
        async with open_store(world_copy.url) as sessions:
            with pytest.raises(ImportRejected) as rejected:
                await import_agreements(sessions, bad)
        said = str(rejected.value)
        for expected in (
            f"{bad}:2:采购单位:",
            f"{bad}:3:供应商:",
            f"{bad}:4:结束日期:",
            f"{bad}:5:协议产品:",
            f"{bad}:6:折扣(%):",
            f"{bad}:7:目标金额(元):",
        ):
            assert expected in said, said
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(Agreement)) == 6  # the demo's, untouched

        # -- a good file, then the same file again: nothing changes -------------------------------
        good = _write_csv(
            tmp_path / "good.csv",
            [
                [
                    "T-001",
                    unit.name,
                    supplier.credit_code,
                    "2026-03-01",
                    "2026-08-31",
                    "1,000.00",
                    covered.spu_code,
                    "",
                    f"{covered.spu_code}=12.50",
                    "5%",
                ]
            ],
        )
        async with open_store(world_copy.url) as sessions:
            first = await import_agreements(sessions, good)
            again = await import_agreements(sessions, good)
        assert (first.created, first.updated, first.unchanged) == (1, 0, 0)
        assert (again.created, again.updated, again.unchanged) == (0, 0, 1)

        # -- certification: the covered product certified in April only, the others not at all -------
        async with engine.begin() as conn:
            elsewhere_product = await conn.scalar(select(Sku.product_id).where(Sku.id == elsewhere.id))
            others = [uncovered.id, elsewhere_product]
            await conn.execute(
                update(Certification)
                .where(Certification.product_id.in_(others))
                .values(status=CertificationStatus.REVOKED)
            )
            await conn.execute(
                update(Certification)
                .where(Certification.product_id == covered.id)
                .values(valid_from=date(2026, 4, 1), valid_to=date(2026, 4, 30), status=CertificationStatus.EXPIRED)
            )
            if not await conn.scalar(select(func.count()).where(Certification.product_id == covered.id)):
                await conn.execute(
                    insert(Certification).values(
                        product_id=covered.id,
                        body="县乡村振兴局",
                        number="T-CERT-APRIL",
                        valid_from=date(2026, 4, 1),
                        valid_to=date(2026, 4, 30),
                        status=CertificationStatus.EXPIRED,
                    )
                )

        # -- orders: what counts and what does not --------------------------------------------------
        def order(no: str, unit_id: int, day: str, paid: int) -> Order:
            return Order(
                shop_id=shop,
                platform_order_id=f"AGREE-{no}",
                status=OrderStatus.COMPLETED,
                status_rank=OrderStatus.COMPLETED.rank,
                platform_status="completed",
                created_at=_at(day, 11),
                paid_at=_at(day),
                modified_at=_at(day),
                paid_fen=paid,
                purchasing_unit_id=unit_id,
            )

        def line(o: Order, no: str, sku: int, paid: int) -> OrderLine:
            return OrderLine(
                order=o,
                shop_id=shop,
                platform_line_id=f"AGREE-{no}",
                sku_id=sku,
                platform_item_id="item",
                quantity=2,
                unit_price_fen=paid // 2,
                paid_fen=paid,
            )

        def refund(o: Order, no: str, amount: int, ln: OrderLine | None, status: RefundStatus) -> Refund:
            return Refund(
                shop_id=shop,
                platform_refund_id=f"AGREE-{no}",
                platform_order_id=o.platform_order_id,
                platform_line_id=None if ln is None else ln.platform_line_id,
                status=status,
                status_rank=status.rank,
                platform_status=str(status),
                amount_fen=amount,
                created_at=o.paid_at,
                modified_at=o.paid_at,
            )

        async with session_factory(engine)() as session, session.begin():
            o1 = order("1", unit.id, "2026-04-10", 16_000)  # 10,000 covered + 5,000 other + 1,000 shipping
            l1 = line(o1, "1a", covered.sku, 10_000)
            l2 = line(o1, "1b", elsewhere.id, 5_000)
            o2 = order("2", unit.id, "2026-09-05", 7_000)  # after the period
            o3 = order("3", int(other_unit), "2026-04-10", 7_000)  # another unit
            o4 = order("4", unit.id, "2026-05-02", 4_000)  # the supplier's product the agreement leaves out
            o5 = order("5", unit.id, "2026-02-28", 3_000)  # the day before the period (local time)
            session.add_all([o1, o2, o3, o4, o5, l1, l2])
            session.add_all(
                [
                    line(o2, "2", covered.sku, 7_000),
                    line(o3, "3", covered.sku, 7_000),
                    line(o4, "4", uncovered.sku, 4_000),
                    line(o5, "5", covered.sku, 3_000),
                ]
            )
            await session.flush()
            session.add_all(
                [
                    refund(o1, "r1", 2_000, l1, RefundStatus.SUCCEEDED),  # the covered line's own refund
                    refund(o1, "r2", 3_000, None, RefundStatus.SUCCEEDED),  # the whole order's: 2,000 to l1
                    refund(o1, "r3", 9_000, l1, RefundStatus.REFUSED),  # refused: nothing moved
                ]
            )
        async with engine.connect() as conn:
            agreement_id = await conn.scalar(select(Agreement.id).where(Agreement.number == "T-001"))
            assert agreement_id is not None
            p = await agreement_progress(conn, Scope.admin(), agreement_id, date(2026, 6, 30))
            assert p is not None
            assert p.executed_fen == 10_000 - 2_000 - 2_000
            e = p.execution
            assert e.unit_net_fen == 16_000 - 5_000 + 4_000
            assert e.other_lines_fen == (5_000 - 1_000) + 4_000 and e.order_level_fen == 1_000
            assert e.unit_net_fen == e.executed_fen + e.other_lines_fen + e.order_level_fen
            # Of what counts, the 帮扶 part: the covered line was sold while its product was certified
            # (April); the unit's reserved-share part of the same days is that line alone.
            assert e.certified_fen == 6_000 and e.unit_certified_fen == 6_000
            assert [c.order.ref for c in e.lines] == ["AGREE-1"]
            assert p.elapsed_share == Decimal("0.6630") and p.state == "behind"  # 122 of 184 days
            # As of the period's first days nothing was due yet; out of scope it is not found.
            early = await agreement_progress(conn, Scope.admin(), agreement_id, date(2026, 3, 5))
            assert early is not None and early.executed_fen == 0 and early.state == "on_track"
            unit_scope = Scope(UserRole.UNIT, unit_id=int(other_unit))
            assert await agreement_progress(conn, unit_scope, agreement_id, date(2026, 6, 30)) is None

        # -- the behind-schedule alert: opened once, a second run changes nothing, met resolves it ----
        now = _at("2026-06-30")
        async with engine.begin() as conn:
            opened = await run_agreement_alerts(conn, today=date(2026, 6, 30), now=now)
        async with engine.begin() as conn:
            second = await run_agreement_alerts(conn, today=date(2026, 6, 30), now=now)
        assert opened.opened >= 1 and (second.opened, second.refreshed, second.resolved) == (0, 0, 0)
        subject = f"agreement:{agreement_id}"
        async with engine.connect() as conn:
            rows = (await conn.execute(select(Alert.severity, Alert.message).where(Alert.subject == subject))).all()
        assert len(rows) == 1 and rows[0].severity == "warning" and "T-001" in rows[0].message
        met = _write_csv(
            tmp_path / "met.csv",
            [["T-001", unit.code, supplier.credit_code, "2026-03-01", "2026-08-31", "60.00", "", "", "", ""]],
        )
        async with open_store(world_copy.url) as sessions:
            assert (await import_agreements(sessions, met)).updated == 1
        async with engine.begin() as conn:
            third = await run_agreement_alerts(conn, today=date(2026, 6, 30), now=now)
        assert third.resolved == 1
        async with engine.connect() as conn:
            still_open = await conn.scalar(
                select(func.count()).where(Alert.kind == KIND, Alert.subject == subject, Alert.resolved_at.is_(None))
            )
        assert still_open == 0
    finally:
        await engine.dispose()


async def _numbers(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return {n: int(i) for n, i in await conn.execute(select(Agreement.number, Agreement.id))}
    finally:
        await engine.dispose()


async def test_pages_by_role(world: World, client: TestClient, tmp_path: Path) -> None:  # type: ignore[type-arg]
    ids = await _numbers(world.url)
    assert set(ids) == {"XY-GH-001", "XY-GH-002", "XY-JD-001", "XY-YY-001", "XY-JG-001", "XY-XX-001"}
    await login(client, "county")
    page = await (await client.get("/agreements")).text()
    assert 'data-at-risk="XY-JD-001"' in page and all(f'data-agreement="{n}"' in page for n in ids)
    overview = await (await client.get("/county")).text()
    assert 'data-agreements="6"' in overview and f'href="/agreements/{ids["XY-JD-001"]}"' in overview
    import re

    executed = {m[0]: int(m[1]) for m in re.findall(r'data-agreement="([^"]+)" data-executed="(-?\d+)"', page)}
    export = await client.get("/agreements?format=xlsx")
    assert export.status == 200
    sheet = load_workbook(io.BytesIO(await export.read())).active
    assert sheet is not None and "采购协议" in str(sheet["A1"].value)
    numbers = [str(c.value) for c in sheet["A"] if c.value in ids]
    assert sorted(numbers) == sorted(ids)
    csv_text = (await (await client.get("/agreements?format=csv")).read()).decode("utf-8-sig")
    assert "XY-JD-001" in csv_text and "协议编号" in csv_text
    assert (await client.get("/agreements?format=pdf")).status == 400
    assert (await client.get("/agreements?as_of=2026-13-01")).status == 400

    # The unit: its own two agreements, the same figures as the county's, nothing else.
    client.session.cookie_jar.clear()
    await login(client, "unit")
    mine = await (await client.get("/agreements")).text()
    assert 'data-agreement="XY-GH-001"' in mine and 'data-agreement="XY-JD-001"' not in mine
    own = await client.get(f"/agreements/{ids['XY-GH-001']}")
    assert own.status == 200 and f'data-executed="{executed["XY-GH-001"]}"' in await own.text()
    assert (await client.get(f"/agreements/{ids['XY-JD-001']}")).status == 404
    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            unit_id = await conn.scalar(select(User.unit_id).where(User.name == "unit"))
    finally:
        await engine.dispose()
    assert f'href="/agreements?unit={unit_id}"' in await (await client.get(f"/units/{unit_id}")).text()
    token = await api_token(world.url, "unit")
    data = await (
        await client.get(f"/api/v1/agreements/{ids['XY-GH-001']}", headers={"Authorization": f"Bearer {token}"})
    ).json()
    assert data["executed_fen"] == executed["XY-GH-001"] and data["state"] == "ahead"

    # The cooperative: the agreement its supplier signed only.
    client.session.cookie_jar.clear()
    await login(client, "coop")
    theirs = await (await client.get("/agreements")).text()
    assert 'data-agreement="XY-JG-001"' in theirs and 'data-agreement="XY-GH-001"' not in theirs
    assert (await client.get(f"/agreements/{ids['XY-JG-001']}")).status == 200
    assert (await client.get(f"/agreements/{ids['XY-GH-001']}")).status == 404
    for name in ("operator", "host"):
        client.session.cookie_jar.clear()
        await login(client, name)
        assert (await client.get("/agreements")).status == 404
        assert (await client.get(f"/agreements/{ids['XY-GH-001']}")).status == 404


def test_xlsx_with_english_headers_imports(sqlite_world: World, tmp_path: Path) -> None:
    """The example file, and an XLSX file with English headers, through the command: created,
    then unchanged."""
    import shutil

    from typer.testing import CliRunner

    from bangfu.cli.app import app

    db = tmp_path / "w.db"
    shutil.copyfile(sqlite_world.url.removeprefix("sqlite+aiosqlite:///"), db)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["number", "unit", "supplier", "starts_on", "ends_on", "target", "categories", "status"])
    sheet.append(["EN-1", "U-GOV-003", "格萨尔茶业有限公司", "2026-01-01", "2026-12-31", "20000", "菌类", "active"])
    path = tmp_path / "agreements.xlsx"
    book.save(path)
    runner = CliRunner()
    url = f"sqlite+aiosqlite:///{db}"
    example = Path(__file__).resolve().parents[2] / "examples" / "agreements.csv"
    loaded = runner.invoke(app, ["agreements", "import", str(example), "--db", url])
    assert loaded.exit_code == 0 and "新增 4，更新 0，未变 0" in loaded.output, loaded.output
    first = runner.invoke(app, ["agreements", "import", str(path), "--db", url])
    assert first.exit_code == 0 and "新增 1，更新 0，未变 0" in first.output, first.output
    second = runner.invoke(app, ["agreements", "import", str(path), "--db", url])
    assert second.exit_code == 0 and "新增 0，更新 0，未变 1" in second.output, second.output
    listed = runner.invoke(app, ["agreements", "list", "--json", "--as-of", "2026-06-30", "--db", url])
    assert listed.exit_code == 0 and '"EN-1"' in listed.output
    alerts = [runner.invoke(app, ["agreements", "alerts", "--json", "--db", url]) for _ in range(2)]
    assert all(r.exit_code == 0 for r in alerts) and '"opened":0' in alerts[1].output.replace(" ", "")
