"""The demo county's certified catalogue: the official list in, as a county would receive it.

The scenario's products arrive with their certificates (three products in four certified, a few
long expired; the fourth never certified). This writes the county's list in the style of the
published catalogue (seed 004: 认定编号, 认定机构, 认定批次, 有效期, and the suppliers' own
经营主体认定) as a CSV with Chinese headers and imports it with ``bangfu certificates import``'s
code, relative to the demo's today:

- two product certificates end within 30 days and two within 60 (the expiry alerts fire);
- one ended ten days ago and was not renewed (its last days' sales are uncertified);
- every supplier gets an entity certificate; one ends within 30 days, one within 60.

Then the expiry run opens the alerts. Running it again changes nothing.
"""

from __future__ import annotations

import csv
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bangfu.certification import local_today, run_expiry_alerts
from bangfu.clock import utcnow
from bangfu.enums import CertificationStatus
from bangfu.i18n import MESSAGES, t
from bangfu.importing.certificates import import_certificates
from bangfu.models import Certification, Product, Supplier
from bangfu.store import make_engine, open_store

MESSAGES.update(
    {
        "demo.certificates": {
            "zh": "认定目录：导入 {products} 项产品认定、{suppliers} 项经营主体认定；30 天内到期 {d30} 项，"
            "60 天内到期 {d60} 项，已过期未续 {expired} 项；到期预警 {alerts} 条",
            "en": "Certified catalogue: {products} product and {suppliers} supplier certificates imported; "
            "{d30} end within 30 days, {d60} within 60, {expired} ended unrenewed; {alerts} expiry alerts",
        }
    }
)

BODY = "四川省乡村振兴局"
HEADERS = [
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
]
ENDS_30 = (20, 28)  # days from today
ENDS_60 = (45, 55)
ENDED = -10
RENEWED_FOR = 365  # every other certificate in force ends at least this many days from today


@dataclass(frozen=True)
class CertSeed:
    products: int
    suppliers: int
    d30: int
    d60: int
    expired: int
    alerts: int


def official_list(
    products: list[tuple[str, str, str, str, str, date, date]],
    suppliers: list[tuple[str, str]],
    today: date,
) -> list[list[str]]:
    """The list's rows: products ``(spu, name, credit code, supplier, number, from, to)`` as
    certified in the store, with the demo's near-expiry changes; then the suppliers."""
    rows: list[list[str]] = []
    # The scenario's certificates run two years from a fixed date (the expired ones end before
    # it starts): the list renews every one still valid to a year past today, so the demo's
    # near-expiry counts are the ones below whatever day the demo is built on.
    in_force = [p for p in products if p[5] <= today and (p[6] - p[5]).days >= 700]
    renewed = today + timedelta(days=RENEWED_FOR)
    changed = {p[0]: today + timedelta(days=d) for p, d in zip(in_force, (*ENDS_30, *ENDS_60, ENDED), strict=False)}
    changed |= {p[0]: max(p[6], renewed) for p in in_force if p[0] not in changed}
    for spu, name, code, supplier, number, start, end in products:
        end = changed.get(spu, end)
        batch = f"{start.year}年第{1 if start.month <= 6 else 2}批"
        rows.append(["产品", spu, name, code, supplier, number, BODY, batch, start.isoformat(), end.isoformat()])
    start = date(today.year - 1, 6, 1)
    for index, (code, supplier) in enumerate(suppliers, start=1):
        end = max(start + timedelta(days=729), today + timedelta(days=RENEWED_FOR))
        if index == 1:
            end = today + timedelta(days=25)
        elif index == 2:
            end = today + timedelta(days=50)
        number = f"川帮主认〔{start.year}〕{index:03d}号"
        rows.append(
            [
                "经营主体",
                "",
                "",
                code,
                supplier,
                number,
                BODY,
                f"{start.year}年第1批",
                start.isoformat(),
                end.isoformat(),
            ]
        )
    return rows


async def seed_certificates(url: str, *, now: datetime | None = None) -> CertSeed:
    now = now or utcnow()
    today = local_today(now)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            products = [
                (str(spu), str(name), str(code), str(supplier), str(number), start, end)
                for spu, name, code, supplier, number, start, end in await conn.execute(
                    select(
                        Product.spu_code,
                        Product.name,
                        Supplier.credit_code,
                        Supplier.name,
                        Certification.number,
                        Certification.valid_from,
                        Certification.valid_to,
                    )
                    .join(Product, Product.id == Certification.product_id)
                    .join(Supplier, Supplier.id == Product.supplier_id)
                    .where(Certification.status != CertificationStatus.REVOKED)
                    .order_by(Product.spu_code, Certification.number)
                )
            ]
            suppliers = [
                (str(c), str(n))
                for c, n in await conn.execute(
                    select(Supplier.credit_code, Supplier.name).order_by(Supplier.credit_code)
                )
            ]
        rows = official_list(products, suppliers, today)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "消费帮扶认定目录.csv"
            with path.open("w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(HEADERS)
                writer.writerows(rows)
            async with open_store(url) as sessions:
                await import_certificates(sessions, path)
        async with engine.begin() as conn:
            run = await run_expiry_alerts(conn, now=now)
    finally:
        await engine.dispose()
    ends = [date.fromisoformat(r[9]) for r in rows]
    return CertSeed(
        products=len(products),
        suppliers=len(suppliers),
        d30=sum(1 for e in ends if 0 <= (e - today).days <= 30),
        d60=sum(1 for e in ends if 0 <= (e - today).days <= 60),
        expired=sum(1 for e in ends if (e - today).days == ENDED),
        alerts=run.open,
    )


async def seed_and_describe(url: str) -> str:
    """:func:`seed_certificates`, then the line the demo prints about it."""
    return t("demo.certificates", **vars(await seed_certificates(url)))
