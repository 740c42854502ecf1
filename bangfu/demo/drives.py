"""The demo county's enterprise-driven households (企业带动农户, seed 000).

The seven enterprises of the scenario drive households the ways seed 000 describes: the 哦呀
food company buys purple sweet potatoes and highland barley on order and employs villagers, the
yak-meat plant buys yaks, the pharmaceutical company leases land for medicinal herbs, the grain
and oil company and the dairy pay dividends on the households' shares, and so on. About a
quarter of the households are also members of a cooperative (the same identity number), so the
county's combined count shows a family on both lines once; one family works for two enterprises.

The enterprises' records arrive as they would in life, as a file with Chinese headers imported by
``bangfu drives import``'s own path (:func:`bangfu.importing.drives.import_drives`): every month
from January of this year to this month. The file is drawn from the seed alone, so running the
demo again imports the same rows and changes nothing.
"""

from __future__ import annotations

import csv
import random
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bangfu.clock import SHANGHAI, utcnow
from bangfu.demo.scenario import COUNTY_CODE, build_scenario
from bangfu.enums import SupplierKind
from bangfu.i18n import MESSAGES, t
from bangfu.importing.drives import import_drives
from bangfu.models import DriveHousehold
from bangfu.money import fen_to_yuan_str, format_yuan
from bangfu.queries.drives import lines
from bangfu.reports.base import Period, local_midnight
from bangfu.scope import Scope
from bangfu.store import open_store

MESSAGES.update(
    {
        "demo.drives": {
            "zh": "企业带动：{enterprises} 家企业带动农户 {households} 户（其中 {members} 户也是合作社成员），"
            "本年企业带动 {driven} 户 {amount}；与合作社成员合计不重复 {combined} 户",
            "en": "Enterprise-driven: {enterprises} enterprises drive {households} households ({members} also "
            "cooperative members); this year {driven} households {amount}; {combined} distinct with the members",
        },
    }
)

HEADER = ["企业信用代码", "农户编号", "户主姓名", "农户类别", "村", "身份证号", "带动方式", "月份",
          "金额", "收购数量(公斤)", "收购单价(元/公斤)", "股数", "分红总额"]  # fmt: skip
_CATEGORY_ZH = {"lifted": "脱贫户", "monitored": "监测户", "ordinary": "一般农户"}

# Per enterprise (in the scenario's order): the modes, and for an order purchase the produce's
# price per kg (fen) and the kg a household delivers in a month (low, high).
PLANS: tuple[tuple[tuple[str, ...], int, tuple[int, int]], ...] = (
    (("订单收购", "务工"), 240, (300, 1500)),  # 甘孜哦呀食品: purple sweet potato, barley
    (("订单收购", "务工"), 3800, (40, 180)),  # 牦牛肉加工: yak
    (("土地流转", "订单收购"), 6000, (5, 30)),  # 雪域药业: herbs
    (("订单收购", "入股分红"), 320, (200, 900)),  # 高原粮油: highland barley
    (("订单收购",), 8000, (2, 20)),  # 康巴菌业: wild mushrooms
    (("务工", "入股分红"), 0, (0, 0)),  # 乳业
    (("土地流转", "务工"), 0, (0, 0)),  # 格萨尔茶业
)
HOUSEHOLDS_PER_ENTERPRISE = 8
DIVIDEND_MONTHS = (3, 6, 9, 12)
_GIVEN = ("扎西", "卓玛", "次仁", "央金", "格桑", "德吉", "洛桑", "曲珍", "达瓦", "拉姆", "益西", "四郎")
_VILLAGES = ("甘孜镇", "呷拉乡", "色西底乡", "南多乡", "生康乡", "查龙乡")


@dataclass(frozen=True)
class DrivesSeed:
    enterprises: int
    households: int
    members: int
    driven: int
    amount_fen: int
    combined: int


def _id_number(born: date, seq: int) -> str:
    body = f"{COUNTY_CODE}{born:%Y%m%d}{seq % 1000:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]


def _months(today: date) -> list[str]:
    return [f"{today.year:04d}-{m:02d}" for m in range(1, today.month + 1)]


def build_rows(seed: int, households: int, today: date) -> list[list[str]]:
    """The file's rows, from the seed, the scenario's size and today's month alone."""
    scenario = build_scenario(seed, households=households)
    enterprises = [c.credit_code for c in scenario.cooperatives if c.kind == SupplierKind.ENTERPRISE]
    # Members who delivered to lots: their families have ledger income, so they are on both lines.
    delivered: dict[tuple[str, str], int] = {}
    for lot in scenario.lots:
        if lot.member_no:
            key = (lot.receiver_code, lot.member_no)
            delivered[key] = delivered.get(key, 0) + 1
    members = sorted(
        (h for h in scenario.households if h.id_number and (h.cooperative_code, h.member_no) in delivered),
        key=lambda h: (-delivered[(h.cooperative_code, h.member_no)], h.cooperative_code, h.member_no),
    )[:60]
    rng = random.Random(seed * 7919 + 17)
    taken = {h.id_number for h in members}
    shared: tuple[str, str, str, str] | None = None  # a family two enterprises employ
    shared_given = False
    rows: list[list[str]] = []
    months = _months(today)
    for index, code in enumerate(enterprises):
        modes, price, (low, high) = PLANS[index % len(PLANS)]
        people: list[tuple[str, str, str, str]] = []
        for number in range(HOUSEHOLDS_PER_ENTERPRISE):
            if number % 4 == 0 and members:  # a cooperative member's family
                m = members[(rng.randrange(len(members)) + number) % len(members)]
                if all(p[3] != m.id_number for p in people):
                    people.append((m.head_name, m.category.value, m.village, m.id_number or ""))
                    continue
            if number == 1 and shared is not None and not shared_given and "务工" in modes:
                people.append(shared)
                shared_given = True
                continue
            seq = 500 + index * 40 + number
            id_number = _id_number(date(1960, 1, 1) + timedelta(days=rng.randrange(365 * 40)), seq)
            while id_number in taken:
                seq += 1
                id_number = _id_number(date(1960, 1, 1) + timedelta(days=rng.randrange(365 * 40)), seq)
            taken.add(id_number)
            roll = rng.random()
            category = "lifted" if roll < 0.45 else "monitored" if roll < 0.55 else "ordinary"
            person = (rng.choice(_GIVEN) + rng.choice(("", "措", "旺姆", "泽仁")), category,
                      rng.choice(_VILLAGES) + rng.choice(("一村", "二村", "三村")), id_number)  # fmt: skip
            if shared is None and "务工" in modes:
                shared = person
            people.append(person)
        for number, (name, category, village, id_number) in enumerate(people):
            ref = f"H{index + 1:02d}{number + 1:03d}"
            head = [code, ref, name, _CATEGORY_ZH[category], village, id_number]
            for mode in modes:
                # Each household takes part in one or both of its enterprise's modes.
                if len(modes) > 1 and (number + modes.index(mode)) % 3 == 0:
                    continue
                for month in months:
                    cells = ["", "", "", "", ""]
                    if mode == "订单收购":
                        if rng.random() < 0.45:
                            continue
                        kg = rng.randint(low * 10, high * 10)
                        cells[1], cells[2] = f"{kg // 10}.{kg % 10}", fen_to_yuan_str(price)
                    elif mode == "务工":
                        if rng.random() < 0.3:
                            continue
                        cells[0] = fen_to_yuan_str(rng.randrange(1800, 4200) * 100)
                    elif mode == "土地流转":
                        if int(month[5:]) not in (1, 7):  # rent twice a year
                            continue
                        cells[0] = fen_to_yuan_str(rng.randrange(3, 12) * 45_000)
                    else:
                        if int(month[5:]) not in DIVIDEND_MONTHS:
                            continue
                        cells[3] = str(1 + (number * 7 + index) % 5)
                        cells[4] = fen_to_yuan_str(20_000_00 + index * 1_333_33 + int(month[5:]) * 1_001)
                    rows.append([*head, mode, month, *cells])
    return rows


async def seed_drives(url: str, seed: int, households: int) -> DrivesSeed:
    now = utcnow()
    today = now.astimezone(SHANGHAI).date()
    rows = build_rows(seed, households, today)
    with tempfile.TemporaryDirectory(prefix="bangfu-drives-") as folder:
        path = Path(folder) / "企业带动农户.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            writer.writerows(rows)
        async with open_store(url) as sessions:
            await import_drives(sessions, path)
            async with sessions() as session:
                conn = await session.connection()
                on_books = (
                    await conn.execute(
                        select(
                            func.count(DriveHousehold.id),
                            func.count(DriveHousehold.household_id),
                            func.count(func.distinct(DriveHousehold.enterprise_id)),
                        )
                    )
                ).one()
                year = Period(local_midnight(date(today.year, 1, 1)), local_midnight(date(today.year + 1, 1, 1)),
                              str(today.year))  # fmt: skip
                ls = await lines(conn, Scope.admin(), year)
    return DrivesSeed(
        enterprises=int(on_books[2]),
        households=int(on_books[0]),
        members=int(on_books[1]),
        driven=ls.enterprise.households,
        amount_fen=ls.enterprise.income,
        combined=ls.combined,
    )


async def seed_and_describe(url: str, seed: int, households: int) -> str:
    """:func:`seed_drives`, then the line the demo prints about it."""
    s = await seed_drives(url, seed, households)
    return t(
        "demo.drives",
        enterprises=s.enterprises,
        households=s.households,
        members=s.members,
        driven=s.driven,
        amount=format_yuan(s.amount_fen),
        combined=s.combined,
    )
