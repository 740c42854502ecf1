"""The demo county's offline channels: a canteen vending machine and a consumption-assistance counter.

Seeds 001 and 003 describe both: smart vending machines of the county's products in the buyer
district's canteens, and counters (专柜/专区) selling them. Each is an offline shop
(:mod:`bangfu.offline`), and its sales come the way they do in life: the machine's export as a
CSV with Chinese headers, the counter's till export as an XLSX with English headers, imported by
``bangfu import sales``'s own path (:func:`bangfu.importing.import_file`). The files are
written per calendar day from the seed and the day alone, so running the demo again (even on a
later day, over an overlapping window) finds the same receipts and changes nothing.
"""

from __future__ import annotations

import csv
import random
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from bangfu.clock import SHANGHAI
from bangfu.demo.catalog import default_catalog
from bangfu.demo.scenario import COUNTY_CODE
from bangfu.enums import PlatformKind
from bangfu.i18n import MESSAGES, t
from bangfu.importing import import_file
from bangfu.money import fen_to_yuan_str, format_yuan, parse_yuan
from bangfu.offline import add_offline_shop
from bangfu.store import open_store

MESSAGES.update(
    {
        "demo.offline": {
            "zh": "线下渠道：{vending}（售货机，CSV）导入 {vending_receipts} 张小票 {vending_amount}；"
            "{counter}（专柜，XLSX）导入 {counter_receipts} 张小票 {counter_amount}，"
            "其中采购单位 {unit_receipts} 张",
            "en": "Offline channels: {vending} (vending machine, CSV) {vending_receipts} receipts {vending_amount}; "
            "{counter} (counter, XLSX) {counter_receipts} receipts {counter_amount}, "
            "{unit_receipts} of them by purchasing units",
        },
    }
)

VENDING_NAME, VENDING_CODE = "龙泉驿区第一小学食堂帮扶产品售货机", "VM-LQY-0001"
COUNTER_NAME, COUNTER_CODE = "龙泉驿区大面街道消费帮扶专柜", "ZG-LQY-0001"
# Headers as the machine's and the till's exports spell them.
VENDING_HEADER = ["小票号", "销售时间", "商品编码", "商品名称", "数量", "单价", "优惠", "金额", "支付方式"]
COUNTER_HEADER = [
    "receipt_no",
    "sold_at",
    "barcode",
    "quantity",
    "unit_price",
    "discount",
    "amount",
    "payment",
    "unit_code",
]
# Small packs a vending machine holds; the counter sells the whole shelf but the priciest.
_VENDING_CATEGORIES = ("休闲食品", "乳制品", "茶饮")
_VENDING_MAX_FEN = 4_000
_COUNTER_MAX_FEN = 30_000
_COUNTER_UNITS = ("U-UNION-001", "U-GOV-002", "U-HC-001")


@dataclass(frozen=True)
class OfflineSales:
    """One offline shop's seeded sales."""

    shop_id: int
    name: str
    receipts: int
    amount_fen: int
    unit_receipts: int = 0


def _day_rng(seed: int, kind: str, day: date) -> random.Random:
    return random.Random(f"{seed}:{kind}:{day.isoformat()}")


def _days(end: date, days: int) -> list[date]:
    return [end - timedelta(days=n) for n in range(days, 0, -1)]  # up to yesterday


def vending_rows(seed: int, end: date, days: int) -> list[list[str]]:
    """A machine's export: a few receipts of one to two snacks a school day, paid by card or phone."""
    stock = [s for s in default_catalog() if s.category in _VENDING_CATEGORIES and s.price_fen <= _VENDING_MAX_FEN]
    rows: list[list[str]] = []
    for day in _days(end, days):
        rng = _day_rng(seed, "vending", day)
        for n in range(rng.randint(3, 7)):
            at = datetime.combine(day, time(11, 20)) + timedelta(minutes=rng.randrange(0, 7 * 60, 3))
            receipt = f"{VENDING_CODE}-{day:%Y%m%d}-{n + 1:03d}"
            payment = rng.choice(("微信", "支付宝", "饭卡"))
            for sku in rng.sample(stock, k=rng.choice((1, 1, 2))):
                quantity = rng.choice((1, 1, 1, 2))
                discount = 100 if rng.random() < 0.1 else 0
                amount = quantity * sku.price_fen - discount
                rows.append(
                    [
                        receipt,
                        f"{at:%Y-%m-%d %H:%M:%S}",
                        sku.sku_code,
                        sku.title,
                        str(quantity),
                        fen_to_yuan_str(sku.price_fen),
                        fen_to_yuan_str(discount),
                        fen_to_yuan_str(amount),
                        payment,
                    ]
                )
    return rows


def counter_rows(seed: int, end: date, days: int) -> list[list[str]]:
    """A counter's till export: lines by barcode; a unit's staff-welfare purchase now and then."""
    shelf = [s for s in default_catalog() if s.barcode and s.price_fen <= _COUNTER_MAX_FEN]
    rows: list[list[str]] = []
    for day in _days(end, days):
        rng = _day_rng(seed, "counter", day)
        for n in range(rng.randint(1, 4)):
            at = datetime.combine(day, time(9, 30)) + timedelta(minutes=rng.randrange(0, 9 * 60))
            receipt = f"{COUNTER_CODE}-{day:%Y%m%d}-{n + 1:03d}"
            unit = rng.choice(_COUNTER_UNITS) if rng.random() < 0.2 else ""
            payment = "对公转账" if unit else rng.choice(("微信", "支付宝", "现金", "银行卡"))
            for sku in rng.sample(shelf, k=rng.randint(1, 3)):
                quantity = rng.randint(5, 20) if unit else rng.randint(1, 3)
                price = sku.promo_price_fen or sku.price_fen
                gross = quantity * price
                discount = gross % 100 if rng.random() < 0.3 else 0  # 抹零: the fen dropped at the till
                rows.append(
                    [
                        receipt,
                        f"{at:%Y-%m-%d %H:%M}",
                        str(sku.barcode),
                        str(quantity),
                        fen_to_yuan_str(price),
                        fen_to_yuan_str(discount),
                        fen_to_yuan_str(gross - discount),
                        payment,
                        unit,
                    ]
                )
    return rows


def write_csv(path: Path, header: list[str], rows: list[list[str]], *, encoding: str = "utf-8-sig") -> Path:
    """As Excel saves "CSV UTF-8" (with a BOM), or ``gb18030`` as Excel on Chinese Windows saves CSV."""
    with path.open("w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    """Numbers as numbers and times as times, as a till's export holds them."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "sales"
    sheet.append(header)
    for row in rows:
        cells: list[object] = []
        for name, value in zip(header, row, strict=True):
            if name == "sold_at":
                cells.append(datetime.fromisoformat(value))
            elif name == "quantity":
                cells.append(int(value))
            elif name in ("unit_price", "discount", "amount"):
                cells.append(float(value))
            else:
                cells.append(value or None)
        sheet.append(cells)
    workbook.save(path)
    return path


def _receipts(rows: list[list[str]]) -> int:
    return len({row[0] for row in rows})


def _amount(rows: list[list[str]], header: list[str]) -> int:
    column = header.index("金额" if "金额" in header else "amount")
    return sum(parse_yuan(row[column]) for row in rows)


async def seed_offline(url: str, seed: int, days: int, *, today: date | None = None) -> list[OfflineSales]:
    """Add the vending machine and the counter to the county and import their sales files."""
    end = today or datetime.now(SHANGHAI).date()
    vending = vending_rows(seed, end, days)
    counter = counter_rows(seed, end, days)
    async with open_store(url) as sessions:
        async with sessions() as session, session.begin():
            machine, _ = await add_offline_shop(
                session, PlatformKind.VENDING, VENDING_NAME, code=VENDING_CODE, county=COUNTY_CODE, replace=True
            )
            till, _ = await add_offline_shop(
                session, PlatformKind.COUNTER, COUNTER_NAME, code=COUNTER_CODE, county=COUNTY_CODE, replace=True
            )
            ids = (machine.id, till.id)
        with tempfile.TemporaryDirectory(prefix="bangfu-offline-") as folder:
            vending_path = write_csv(Path(folder) / "vending.csv", VENDING_HEADER, vending)
            counter_path = write_xlsx(Path(folder) / "counter.xlsx", COUNTER_HEADER, counter)
            await import_file(sessions, "sales", vending_path, shop_id=ids[0])
            await import_file(sessions, "sales", counter_path, shop_id=ids[1])
    unit_receipts = len({row[0] for row in counter if row[-1]})
    return [
        OfflineSales(ids[0], VENDING_NAME, _receipts(vending), _amount(vending, VENDING_HEADER)),
        OfflineSales(ids[1], COUNTER_NAME, _receipts(counter), _amount(counter, COUNTER_HEADER), unit_receipts),
    ]


async def seed_and_describe(url: str, seed: int, days: int) -> str:
    """:func:`seed_offline`, then the line the demo prints about it."""
    vending, counter = await seed_offline(url, seed, days)
    return t(
        "demo.offline",
        vending=vending.name,
        vending_receipts=vending.receipts,
        vending_amount=format_yuan(vending.amount_fen),
        counter=counter.name,
        counter_receipts=counter.receipts,
        counter_amount=format_yuan(counter.amount_fen),
        unit_receipts=counter.unit_receipts,
    )
