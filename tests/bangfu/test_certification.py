"""消费帮扶产品认定: the official list's import, the certified-at-sale rule, the expiry alerts."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bangfu.certification import KIND, certified_spans, in_force, run_expiry_alerts
from bangfu.enums import CertificationStatus
from bangfu.importing import ImportRejected, import_file
from bangfu.importing.certificates import import_certificates
from bangfu.importing.rows import credit_code_check_char
from bangfu.models import Alert, Certification, Product, Supplier, SupplierCertification
from bangfu.queries import board, county
from bangfu.queries.certification import monthly_sales
from bangfu.reports.base import Period, local_midnight
from bangfu.reports.sales_ledger import sales_ledger
from bangfu.scope import Scope
from tests.conftest import EXAMPLES
from tests.workers.reports_seed import add_order, add_refund, at, base, new_id

HEADER = [
    "认定类型",
    "产品编码",
    "产品名称",
    "统一社会信用代码",
    "经营主体名称",
    "认定编号",
    "认定机构",
    "认定批次",
    "有效期起",
    "有效期止",
    "状态",
]


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([HEADER, *rows])
    return path


async def _catalogue(sessions: async_sessionmaker[AsyncSession]) -> None:
    for kind in ("cooperatives", "products"):
        await import_file(sessions, kind, EXAMPLES / f"{kind}.csv")


async def _certs(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[object, ...]]:
    async with sessions() as session:
        rows = await session.execute(
            select(Certification.product_id, Certification.number, Certification.batch, Certification.status).order_by(
                Certification.id
            )
        )
        out: list[tuple[object, ...]] = [tuple(r) for r in rows]
        entities = await session.execute(
            select(SupplierCertification.supplier_id, SupplierCertification.number, SupplierCertification.status)
        )
        return out + [tuple(r) for r in entities]


async def test_the_official_list_imports_once_and_again_changes_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _catalogue(sessions)
    first = await import_certificates(sessions, EXAMPLES / "certificates.csv")
    # 0001, 0002: the product import's certificates, now with their batch; 0003 (by name): revoked;
    # 0004: new; two supplier certificates (one found by name).
    assert (first.created, first.updated, first.unchanged) == (3, 3, 0)
    before = await _certs(sessions)
    again = await import_certificates(sessions, EXAMPLES / "certificates.csv")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 6)
    assert await _certs(sessions) == before
    async with sessions() as session:
        revoked = await session.scalar(
            select(Certification.status)
            .join(Product, Product.id == Certification.product_id)
            .where(Product.spu_code == "GZ-SPU-0003")
        )
        assert revoked == CertificationStatus.REVOKED
        one = select(func.count()).select_from(Certification).join(Product, Product.id == Certification.product_id)
        assert await session.scalar(one.where(Product.spu_code == "GZ-SPU-0001")) == 1
        assert await session.scalar(select(func.count()).select_from(SupplierCertification)) == 2


async def test_bad_rows_name_file_row_and_field_and_nothing_is_written(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await _catalogue(sessions)
    before = await _certs(sessions)
    known = "93513328AY4CL12THE"
    unknown = "93513328000000000" + credit_code_check_char("93513328000000000")
    path = _write(
        tmp_path / "bad.csv",
        [
            ["产品", "GZ-SPU-0001", "", known, "", "N-1", "局", "", "2026-01-01", "2026-12-31", ""],  # good
            ["产品", "", "不存在的产品", known, "", "N-2", "局", "", "2026-01-01", "2026-12-31", ""],
            ["产品", "GZ-SPU-0001", "", unknown, "", "N-3", "局", "", "2026-01-01", "2026-12-31", ""],
            ["产品", "GZ-SPU-0001", "", known, "", "川帮认〔2025〕0002号", "局", "", "2026-01-01", "2026-12-31", ""],
            ["产品", "GZ-SPU-0001", "", known, "", "N-5", "局", "", "2026-13-01", "2026-12-31", ""],
            ["产品", "GZ-SPU-0001", "", known, "", "N-6", "局", "", "2026-05-01", "2026-04-30", ""],
            ["产品", "GZ-SPU-0002", "", known, "", "N-7", "局", "", "2026-01-01", "2026-12-31", ""],
            ["经营主体", "", "", "", "没有这个主体", "S-1", "局", "", "2026-01-01", "2026-12-31", "作废"],
        ],
    )
    with pytest.raises(ImportRejected) as caught:
        await import_certificates(sessions, path)
    lines = str(caught.value).splitlines()
    assert all(line.startswith(f"{path}:") for line in lines)
    fields = {(e.row, e.field) for e in caught.value.errors}
    assert (3, "产品名称") in fields and (4, "统一社会信用代码") in fields and (5, "认定编号") in fields
    assert (6, "有效期起") in fields and (7, "有效期止") in fields and (8, "产品编码") in fields
    assert (9, "状态") in fields
    assert not any(e.row == 2 for e in caught.value.errors)
    assert await _certs(sessions) == before  # all or nothing


async def test_create_missing_adds_the_product_under_its_supplier(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await _catalogue(sessions)
    row = [
        "产品",
        "",
        "甘孜野生菌礼盒",
        "93513328AY4CL12THE",
        "",
        "川帮认〔2026〕0519号",
        "局",
        "",
        "2026-01-01",
        "2027-12-31",
        "",
    ]
    path = _write(tmp_path / "new.csv", [row])
    with pytest.raises(ImportRejected, match="--create-missing"):
        await import_certificates(sessions, path)
    result = await import_certificates(sessions, path, create_missing=True)
    assert result.created == 1
    again = await import_certificates(sessions, path, create_missing=True)  # now it matches by name
    assert (again.created, again.unchanged) == (0, 1)
    async with sessions() as session:
        product = await session.scalar(select(Product).where(Product.name == "甘孜野生菌礼盒"))
        assert product is not None and product.spu_code == "C-川帮认〔2026〕0519号"
        supplier = await session.scalar(select(Supplier.credit_code).where(Supplier.id == product.supplier_id))
        assert supplier == "93513328AY4CL12THE"


# -- the rule: certified on the day of sale -----------------------------------------------------

YEAR = Period(local_midnight(date(2026, 1, 1)), local_midnight(date(2027, 1, 1)), "2026")


async def test_certified_at_sale_on_both_backends(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        ids = await base(conn)
        shop, sku, product = ids["shop"], ids["sku"], ids["product"]
        for number, start, end, status in (
            ("C-1", date(2026, 3, 10), date(2026, 3, 20), CertificationStatus.VALID),
            ("C-2", date(2026, 1, 1), date(2026, 1, 31), CertificationStatus.EXPIRED),  # still covers January
            ("C-3", date(2026, 5, 1), date(2026, 5, 31), CertificationStatus.REVOKED),  # covers nothing
            # A renewal overlapping C-1: a day two certificates cover counts once.
            ("C-4", date(2026, 3, 12), date(2026, 3, 20), CertificationStatus.VALID),
        ):
            await new_id(
                conn,
                Certification,
                product_id=product,
                body="县乡村振兴局",
                number=number,
                valid_from=start,
                valid_to=end,
                status=status,
            )
        # Asia/Shanghai days: 16:00 UTC is the next local day.
        await add_order(conn, shop, "before", at("2026-03-09T15:59"), [1000], sku=sku)  # 3-09: day before
        await add_order(conn, shop, "first", at("2026-03-09T16:00"), [2000], sku=sku)  # 3-10: first day
        _, last = await add_order(conn, shop, "last", at("2026-03-20T15:59"), [4000], sku=sku)  # 3-20: last day
        await add_order(conn, shop, "after", at("2026-03-20T16:00"), [8000], sku=sku)  # 3-21: day after
        await add_order(conn, shop, "expired", at("2026-01-15T04:00"), [16000], sku=sku)
        await add_order(conn, shop, "revoked", at("2026-05-10T04:00"), [32000], sku=sku)
        await add_order(conn, shop, "unmapped", at("2026-03-15T04:00"), [64000])  # no SKU: no product
        await add_refund(conn, shop, "last", last[0], 500, at("2026-04-02T04:00"))  # follows its sale
    certified, uncertified = 2000 + 4000 + 16000, 1000 + 8000 + 32000 + 64000
    async with engine.connect() as conn:
        ledger = await sales_ledger(conn, YEAR)
        yes = [r for r in ledger.rows if r["certified"] == "是"]
        no = [r for r in ledger.rows if r["certified"] == "否"]
        assert sum(r["gross"] for r in yes) == certified and sum(r["gross"] for r in no) == uncertified
        assert sum(r["refunds"] for r in yes) == 500 and sum(r["refunds"] for r in no) == 0
        march = {
            c: sum(r["gross"] for r in ledger.rows if r["month"] == "2026-03" and r["certified"] == c) for c in "是否"
        }
        assert march == {"是": 2000 + 4000, "否": 1000 + 8000 + 64000}

        admin = Scope.admin()
        pivot = await county.product_pivot(conn, admin, YEAR)
        assert (pivot.certified.gross, pivot.certified.refunds) == (certified, 500)
        assert pivot.uncertified.gross == uncertified
        assert pivot.certified.months["2026-03"] == 6000 and pivot.certified.months["2026-04"] == -500
        assert pivot.certified.net + pivot.uncertified.net == pivot.totals.net
        sales = await county._sales(conn, admin, YEAR)
        assert (sales.certified_gross, sales.certified_refunds, sales.uncertified_gross) == (
            certified,
            500,
            uncertified,
        )
        tally = await board.tally(conn, admin, YEAR)
        assert (tally.certified_fen, tally.uncertified_fen) == (certified, uncertified)
        months, yes_m, no_m = await monthly_sales(conn, admin, YEAR)
        assert sum(yes_m) == certified - 500 and sum(no_m) == uncertified and len(months) == 12


async def test_certified_spans_are_disjoint_and_cover_the_rules_days(engine: AsyncEngine) -> None:
    """certified_spans (the county overview's sales join it): per product, disjoint spans covering
    exactly the days in_force says some certificate covers: overlapping, nested, touching,
    same-start, revoked and inverted (ending before they start) certificates."""
    d = date(2026, 3, 1)
    layouts: list[list[tuple[int, int, CertificationStatus]]] = [
        [(0, 10, VALID), (5, 20, VALID), (30, 35, VALID), (35, 38, EXPIRED)],  # overlapping, by one day
        [(0, 30, VALID), (5, 10, EXPIRED), (12, 14, VALID)],  # nested
        [(0, 9, VALID), (10, 19, VALID), (25, 25, EXPIRED)],  # touching, a single day
        [(3, 8, VALID), (3, 5, VALID), (3, 12, REVOKED), (20, 10, VALID)],  # same start, revoked, inverted
        [(8, 2, VALID), (8, 9, VALID), (1, 3, VALID)],  # inverted first, out of insertion order
        [(0, 40, REVOKED)],  # nothing
    ]
    async with engine.begin() as conn:
        ids = await base(conn)
        certificates: dict[int, list[tuple[CertificationStatus, date, date]]] = {}
        for n, layout in enumerate(layouts):
            product = await new_id(
                conn, Product, spu_code=f"S{n}", name=f"产品{n}", category="c", supplier_id=ids["supplier"]
            )
            certificates[product] = []
            for m, (start, end, status) in enumerate(layout):
                first, last = d + timedelta(days=start), d + timedelta(days=end)
                await new_id(
                    conn,
                    Certification,
                    product_id=product,
                    body="县乡村振兴局",
                    number=f"S-{n}-{m}",
                    valid_from=first,
                    valid_to=last,
                    status=status,
                )
                certificates[product].append((status, first, last))
    async with engine.connect() as conn:
        spans = certified_spans()
        found: dict[int, list[tuple[date, date]]] = {p: [] for p in certificates}
        for product, first, last in await conn.execute(select(spans.c.product_id, spans.c.first_day, spans.c.last_day)):
            if int(product) in found:
                found[int(product)].append((_date(first), _date(last)))
    for product, held in certificates.items():
        for offset in range(-2, 45):
            day = d + timedelta(days=offset)
            covering = [s for s in found[product] if s[0] <= day <= s[1]]
            assert len(covering) <= 1, (product, day, found[product])
            assert bool(covering) == any(in_force(st, a, b, day) for st, a, b in held), (product, day, found[product])


def _date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


VALID, EXPIRED, REVOKED = CertificationStatus.VALID, CertificationStatus.EXPIRED, CertificationStatus.REVOKED


# -- expiry alerts ------------------------------------------------------------------------------

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 2026-12-07 in Asia/Shanghai


async def _open(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            str(s): int(i)
            for i, s in await conn.execute(
                select(Alert.id, Alert.subject).where(Alert.kind == KIND, Alert.resolved_at.is_(None))
            )
        }


async def test_expiry_alerts_at_60_and_30_days_once_each(engine: AsyncEngine) -> None:
    today = date(2026, 12, 7)
    async with engine.begin() as conn:
        ids = await base(conn)
        products = [ids["product"]] + [
            await new_id(conn, Product, spu_code=f"X{n}", name=f"产品{n}", category="c", supplier_id=ids["supplier"])
            for n in range(3)
        ]
        certs = {}
        for product, (name, days) in zip(
            products, (("in50", 50), ("in20", 20), ("in100", 100), ("ended", -5)), strict=True
        ):
            certs[name] = await new_id(
                conn,
                Certification,
                product_id=product,
                body="局",
                number=name,
                valid_from=date(2025, 1, 1),
                valid_to=today + timedelta(days=days),
                status=CertificationStatus.VALID,
            )
        entity = await new_id(
            conn,
            SupplierCertification,
            supplier_id=ids["supplier"],
            body="局",
            number="E-1",
            valid_from=date(2025, 1, 1),
            valid_to=today + timedelta(days=25),
            status=CertificationStatus.VALID,
        )
        # Ten days earlier: the ended one had 5 days left, the entity's 35.
        earlier = await run_expiry_alerts(conn, now=NOW - timedelta(days=10))
        assert (earlier.opened, earlier.expired) == (6, 0)
        first = await run_expiry_alerts(conn, now=NOW)
        # An imported certificate that had already ended raises nothing new.
        stale = await new_id(
            conn,
            Certification,
            product_id=products[2],
            body="局",
            number="stale",
            valid_from=date(2023, 1, 1),
            valid_to=date(2024, 12, 31),
            status=CertificationStatus.EXPIRED,
        )
        assert (await run_expiry_alerts(conn, now=NOW)).opened == 0
    expected = {
        f"product:{certs['in50']}:60",
        f"product:{certs['in20']}:60",
        f"product:{certs['in20']}:30",
        f"product:{certs['ended']}:60",  # raised before its end, open after it until renewed
        f"product:{certs['ended']}:30",
        f"supplier:{entity}:60",
        f"supplier:{entity}:30",
    }
    opened = await _open(engine)
    assert set(opened) == expected and (first.opened, first.resolved, first.expired) == (1, 0, 1)
    assert stale not in {int(k.split(":")[1]) for k in opened}
    async with engine.begin() as conn:
        again = await run_expiry_alerts(conn, now=NOW)
        assert (again.opened, again.resolved, again.expired) == (0, 0, 0)
        status = await conn.scalar(select(Certification.status).where(Certification.id == certs["ended"]))
        assert status == CertificationStatus.EXPIRED
    assert await _open(engine) == opened
    # Renewed (a re-import moved its end), the 20-day certificate's two alerts are resolved; a new
    # certificate of the ended product resolves its alerts too; a revoked one has none.
    async with engine.begin() as conn:
        await conn.execute(
            update(Certification).where(Certification.id == certs["in20"]).values(valid_to=today + timedelta(days=400))
        )
        await new_id(
            conn,
            Certification,
            product_id=products[3],
            body="局",
            number="renewal",
            valid_from=today - timedelta(days=4),
            valid_to=today + timedelta(days=730),
            status=CertificationStatus.VALID,
        )
        await conn.execute(
            update(Certification).where(Certification.id == certs["in50"]).values(status=CertificationStatus.REVOKED)
        )
        renewed = await run_expiry_alerts(conn, now=NOW)
    assert renewed.resolved == 5 and set(await _open(engine)) == {f"supplier:{entity}:60", f"supplier:{entity}:30"}
    # Put back, the same alert row reopens: one alert per certificate and threshold, ever.
    async with engine.begin() as conn:
        await conn.execute(
            update(Certification).where(Certification.id == certs["in20"]).values(valid_to=today + timedelta(days=20))
        )
        await run_expiry_alerts(conn, now=NOW)
        total = await conn.scalar(
            select(func.count()).select_from(Alert).where(Alert.subject == f"product:{certs['in20']}:30")
        )
    assert total == 1 and opened[f"product:{certs['in20']}:30"] == (await _open(engine))[f"product:{certs['in20']}:30"]


def test_the_cli_imports_all_or_nothing_and_runs_the_alerts(db_url: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bangfu.cli.app import app

    runner = CliRunner()
    for kind in ("cooperatives", "products"):
        assert runner.invoke(app, ["import", kind, str(EXAMPLES / f"{kind}.csv"), "--db", db_url]).exit_code == 0
    done = runner.invoke(app, ["certificates", "import", str(EXAMPLES / "certificates.csv"), "--db", db_url])
    assert done.exit_code == 0 and "新增 3 条，更新 3 条" in done.output, done.output
    bad = _write(
        tmp_path / "bad.csv",
        [["产品", "", "没有", "93513328AY4CL12THE", "", "X", "局", "", "2026-01-01", "2026-12-31", ""]],
    )
    refused = runner.invoke(app, ["certificates", "import", str(bad), "--db", db_url])
    assert refused.exit_code != 0 and f"{bad}:2:产品名称:" in refused.output
    alerts = runner.invoke(app, ["certificates", "alerts", "--json", "--db", db_url])
    assert alerts.exit_code == 0 and '"checked":' in alerts.output
