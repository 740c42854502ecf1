"""A deterministic assisted county, like Ganzi county in seed 000.

``build_scenario(seed)`` makes the rows people would import (cooperatives, households,
products, lots, purchasing units) plus what the hub sets up itself (shops on every platform,
hosts, income-split policies). ``load_scenario`` loads it through the same validated loaders
as ``bangfu import``, so the demo exercises the real path. ``export_examples`` writes the
rows as import files.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bangfu.demo.catalog import SUPPLIER_COUNT, default_catalog
from bangfu.enums import ChannelType, HostKind, PlatformKind, SupplierKind
from bangfu.importing.loaders import LOADERS, LoadResult
from bangfu.importing.rows import (
    CATEGORIES,
    CERT_STATUSES,
    SUPPLIER_KINDS,
    UNIT_TYPES,
    CooperativeRow,
    HouseholdRow,
    ImportRow,
    LotRow,
    ProductRow,
    UnitRow,
    credit_code_check_char,
)
from bangfu.models import Cooperative, Host, Region, Shop, SplitPolicy, Supplier
from bangfu.money import fen_to_yuan_str

COUNTY_CODE = "513328"
COUNTY_NAME = "甘孜县"
BUYER_DISTRICT_CODE = "510112"
BUYER_DISTRICT_NAME = "龙泉驿区"
SCENARIO_YEAR = 2026

_TOWNS = ("呷拉乡", "斯俄乡", "来马镇", "拖坝乡", "生康乡", "查龙乡", "色西底乡", "南多乡", "仁果乡", "庭卡乡")
_VILLAGE_SUFFIX = ("一村", "二村", "三村", "四村")
_GIVEN = (
    "泽仁",
    "扎西",
    "卓玛",
    "格桑",
    "洛绒",
    "尼玛",
    "次仁",
    "央金",
    "多吉",
    "拉姆",
    "降措",
    "呷绒",
    "益西",
    "四郎",
)
_SUFFIX = ("", "措", "旺姆", "翁姆", "曲珍", "彭措", "志玛", "拥忠", "邓珠", "泽仁")
_COOP_THEMES = (
    "青稞种植",
    "牦牛养殖",
    "中药材种植",
    "野生菌采集",
    "藏香猪养殖",
    "蔬菜种植",
    "乳制品加工",
    "高原水果",
    "藏茶加工",
    "粮油加工",
)
_ENTERPRISES = (
    "甘孜哦呀食品有限公司",
    "甘孜县牦牛肉加工有限公司",
    "甘孜雪域药业有限公司",
    "甘孜高原粮油有限公司",
    "康巴菌业有限公司",
    "甘孜县乳业有限公司",
    "格萨尔茶业有限公司",
)
_EVALUATIONS = ("品质稳定，建议主推", "高原特色，适合礼品", "复购率高", "需加强包装")
_GRADES = ("A", "A", "A", "B", "B", "C")
# Who inspects the lots (the traceability page): the prefecture's and the county's test centres.
_INSPECTORS = ("甘孜州农产品质量安全检验检测中心", "县农产品质量安全检测站")

SHOPS: tuple[tuple[PlatformKind, ChannelType, str, str], ...] = (
    (PlatformKind.TAOBAO, ChannelType.ECOMMERCE, "甘孜好物淘宝店", "tb-ganzi-001"),
    (PlatformKind.TMALL, ChannelType.ECOMMERCE, "甘孜特产天猫旗舰店", "tm-ganzi-001"),
    (PlatformKind.JD, ChannelType.ECOMMERCE, "甘孜农特京东旗舰店", "jd-ganzi-001"),
    (PlatformKind.DOUYIN, ChannelType.LIVE, "甘孜县长直播间（抖音）", "dy-ganzi-001"),
    (PlatformKind.KUAISHOU, ChannelType.LIVE, "雪域好物快手小店", "ks-ganzi-001"),
    (PlatformKind.YOUZAN, ChannelType.ECOMMERCE, "龙泉驿帮扶甘孜有赞商城", "yz-ganzi-001"),
    (PlatformKind.SELFMALL, ChannelType.SELFMALL, "龙泉驿区帮扶甘孜县农特产品营销宣传平台", "self-ganzi-001"),
)

HOSTS: tuple[tuple[str, HostKind, str, str, int], ...] = (
    ("甘孜县副县长 泽仁", HostKind.OFFICIAL, "douyin", "dy-author-1001", 0),
    ("雪域阿佳 卓玛", HostKind.INFLUENCER, "douyin", "dy-author-2002", 2000),
    ("高原扎西", HostKind.INFLUENCER, "kuaishou", "ks-author-3003", 1500),
    ("驻村第一书记 格桑", HostKind.OFFICIAL, "kuaishou", "ks-author-4004", 0),
    ("工作队主播 小李", HostKind.STAFF, "selfmall", "self-host-5005", 0),
)


@dataclass
class Scenario:
    seed: int
    cooperatives: list[CooperativeRow] = field(default_factory=list)
    households: list[HouseholdRow] = field(default_factory=list)
    products: list[ProductRow] = field(default_factory=list)
    lots: list[LotRow] = field(default_factory=list)
    units: list[UnitRow] = field(default_factory=list)

    def rows(self, kind: str) -> list[ImportRow]:
        rows: list[ImportRow] = getattr(self, kind)
        return rows


def credit_code(rng: random.Random, prefix: str) -> str:
    """A well-formed unified social credit code: prefix (2) + county (6) + org code (9) + check."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = prefix + COUNTY_CODE + "".join(rng.choice(alphabet) for _ in range(9))
    return body + credit_code_check_char(body)


def _id_number(rng: random.Random, born: date, seq: int) -> str:
    """A resident identity number of the right shape and check digit (GB 11643), fake person."""
    body = f"{COUNTY_CODE}{born:%Y%m%d}{seq % 1000:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    return body + check


def build_scenario(seed: int = 7, households: int = 3000) -> Scenario:
    rng = random.Random(seed)
    sc = Scenario(seed=seed)

    # 17 suppliers: cooperatives first (they have members), then the enterprises of seed 000.
    coop_count = SUPPLIER_COUNT - len(_ENTERPRISES)
    supplier_codes: list[str] = []
    for index in range(SUPPLIER_COUNT):
        is_coop = index < coop_count
        town = _TOWNS[index % len(_TOWNS)]
        code = credit_code(rng, "93" if is_coop else "91")
        supplier_codes.append(code)
        name = (
            f"甘孜县{town}{_COOP_THEMES[index % len(_COOP_THEMES)]}专业合作社"
            if is_coop
            else _ENTERPRISES[index - coop_count]
        )
        sc.cooperatives.append(
            CooperativeRow(
                credit_code=code,
                name=name,
                kind=SupplierKind.COOPERATIVE if is_coop else SupplierKind.ENTERPRISE,
                county_code=COUNTY_CODE,
                county_name=COUNTY_NAME,
                village_collective=f"{town}{_VILLAGE_SUFFIX[0]}村集体经济组织" if is_coop else None,
                registered_on=date(2012 + index % 10, 1 + index % 12, 1 + index % 27),
                contact_name=rng.choice(_GIVEN) + rng.choice(_SUFFIX),
                contact_phone=f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
            )
        )

    # Households spread over the cooperatives; about a third lifted out of poverty (脱贫户).
    members_by_coop: dict[str, list[str]] = {code: [] for code in supplier_codes[:coop_count]}
    for number in range(households):
        coop_index = min(int(rng.paretovariate(1.2)) - 1, coop_count - 1) if number >= coop_count else number
        coop_code = supplier_codes[coop_index]
        member_no = f"M{len(members_by_coop[coop_code]) + 1:05d}"
        members_by_coop[coop_code].append(member_no)
        roll = rng.random()
        category = "lifted" if roll < 0.34 else "monitored" if roll < 0.40 else "ordinary"
        town = _TOWNS[(coop_index + rng.randrange(3)) % len(_TOWNS)]
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 50))
        sc.households.append(
            HouseholdRow.model_validate(
                {
                    "cooperative_code": coop_code,
                    "member_no": member_no,
                    "head_name": rng.choice(_GIVEN) + rng.choice(_SUFFIX),
                    "category": category,
                    "village": town + rng.choice(_VILLAGE_SUFFIX),
                    "id_number": _id_number(rng, born, number),
                    "phone": f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
                    "members": rng.randint(1, 7),
                    "joined_on": date(2016, 1, 1) + timedelta(days=rng.randrange(3000)),
                    "capital": rng.choice((0, 50000, 100000, 200000, 500000)),
                    "reserve_share": rng.randrange(0, 30000),
                    "subsidy_share": rng.choice((0, 0, 20000, 50000)),
                }
            )
        )

    # Products: the catalogue of seed 000, each made by one of the 17 suppliers.
    certified_from = date(SCENARIO_YEAR - 1, 6, 1)
    for sku in default_catalog():
        number = int(sku.spu_code[-4:])
        cert: dict[str, Any] = {}
        if sku.certified:
            expired = number % 29 == 0
            cert = {
                "cert_body": "四川省乡村振兴局",
                "cert_number": f"川帮认〔{SCENARIO_YEAR - 1}〕{number:04d}号",
                "cert_valid_from": certified_from - timedelta(days=730) if expired else certified_from,
                "cert_valid_to": (
                    certified_from - timedelta(days=1) if expired else certified_from + timedelta(days=729)
                ),
                "cert_status": "expired" if expired else "valid",
            }
        sc.products.append(
            ProductRow.model_validate(
                {
                    "spu_code": sku.spu_code,
                    "name": sku.title,
                    "category": sku.category,
                    "supplier_code": supplier_codes[sku.supplier_index],
                    "sku_code": sku.sku_code,
                    "spec": sku.spec,
                    "unit": sku.unit,
                    "barcode": sku.barcode,
                    "retail_price": sku.price_fen,
                    "promo_price": sku.promo_price_fen,
                    "selling_points": sku.selling_points,
                    "selection_evaluation": _EVALUATIONS[int(sku.spu_code[-4:]) % len(_EVALUATIONS)],
                    "perishable": sku.category in ("肉类", "菌类", "乳制品", "蔬果"),
                    **cert,
                }
            )
        )

    # Supply lots: cooperatives' lots list the households who delivered; enterprises' do not.
    lot_number = 0
    for sku in default_catalog():
        receiver = supplier_codes[sku.supplier_index]
        members = members_by_coop.get(receiver)
        for _ in range(rng.randint(1, 3)):
            lot_number += 1
            lot_code = f"LOT-{SCENARIO_YEAR}-{lot_number:05d}"
            received = date(SCENARIO_YEAR, 1, 5) + timedelta(days=rng.randrange(300))
            guaranteed = sku.price_fen * rng.randint(35, 55) // 100
            # Harvest and inspection (the traceability page), drawn from the lot number and not
            # from rng, so the rest of the world is the same as before they were added.
            traced: dict[str, Any] = {"harvested_on": received - timedelta(days=1 + lot_number % 6)}
            if lot_number % 4:
                traced |= {
                    "inspection_agency": _INSPECTORS[lot_number % len(_INSPECTORS)],
                    "inspected_on": received,
                    "inspection_result": "合格",
                }
            if members:
                for member_no in rng.sample(members, k=min(len(members), rng.randint(3, 12))):
                    sc.lots.append(
                        LotRow(
                            lot_code=lot_code,
                            sku_code=sku.sku_code,
                            receiver_code=receiver,
                            received_on=received,
                            member_no=member_no,
                            quantity=rng.randint(5, 60),
                            grade=rng.choice(_GRADES),
                            guaranteed_price=guaranteed,
                            **traced,
                        )
                    )
            else:
                sc.lots.append(
                    LotRow(
                        lot_code=lot_code,
                        sku_code=sku.sku_code,
                        receiver_code=receiver,
                        received_on=received,
                        quantity=rng.randint(100, 800),
                        guaranteed_price=0,
                        **traced,
                    )
                )

    # Purchasing units of the Longquanyi district (seed 000), 66 schools among them.
    def unit(code: str, name: str, unit_type: str, staff: int, target_yuan: int, parent: str | None = None) -> None:
        sc.units.append(
            UnitRow.model_validate(
                {
                    "code": code,
                    "name": name,
                    "unit_type": unit_type,
                    "region_code": BUYER_DISTRICT_CODE,
                    "region_name": BUYER_DISTRICT_NAME,
                    "parent_code": parent,
                    "staff_count": staff,
                    "year": SCENARIO_YEAR,
                    "target": target_yuan * 100,
                    "canteen_budget": target_yuan * 100 * 10 // 3,
                }
            )
        )

    unit("U-HC-001", "龙泉驿区仁爱社区卫生服务中心", "hospital", 120, 60000)
    unit("U-GOV-001", "龙泉驿区市场监督管理局", "government", 180, 80000)
    unit("U-GOV-002", "龙泉驿区大面街道办事处", "government", 160, 70000)
    unit("U-GOV-003", "龙泉驿区洛带镇人民政府", "government", 140, 60000)
    unit("U-GOV-004", "成都市龙泉驿生态环境局", "government", 150, 50000)
    unit("U-UNION-001", "龙泉驿区总工会", "union", 60, 120000)
    unit("U-EDU-000", "龙泉驿区教育局", "government", 90, 40000)
    for school in range(1, 67):
        kind = "小学" if school <= 40 else "中学" if school <= 62 else "职业学校"
        unit(
            f"U-EDU-{school:03d}",
            f"龙泉驿区第{school}{kind}",
            "school",
            rng.randint(40, 220),
            rng.randint(8, 40) * 1000,
            parent="U-EDU-000",
        )
    return sc


SCENARIO_STEPS = ("cooperatives", "households", "products", "lots", "units", "setup")


async def load_scenario(
    sessions: async_sessionmaker[AsyncSession],
    scenario: Scenario,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, LoadResult]:
    """Load the scenario through the import loaders, then shops, hosts and policies; idempotent.

    ``on_step`` is called after each of :data:`SCENARIO_STEPS`, for progress bars.
    """
    results: dict[str, LoadResult] = {}
    async with sessions() as session, session.begin():
        for kind in SCENARIO_STEPS[:-1]:
            numbered = list(enumerate(scenario.rows(kind), start=2))
            result: LoadResult = await LOADERS[kind](session, numbered)
            if result.errors:
                raise RuntimeError(f"scenario {kind} rejected: {result.errors[:3]}")
            results[kind] = result
            if on_step:
                on_step(kind)
        await _load_setup(session)
        if on_step:
            on_step("setup")
    return results


async def _load_setup(session: AsyncSession) -> None:
    county = await session.scalar(select(Region).where(Region.code == COUNTY_CODE))
    # Matched by name: connecting a shop to its platform later replaces its platform shop id.
    shops = {(s.platform, s.name) for s in await session.scalars(select(Shop))}
    for platform, channel, name, shop_id in SHOPS:
        if (platform, name) not in shops:
            session.add(
                Shop(
                    name=name,
                    platform=platform,
                    channel_type=channel,
                    platform_shop_id=shop_id,
                    county_id=county.id if county else None,
                    settings={},
                )
            )
    hosts = {(h.platform, h.author_id) for h in await session.scalars(select(Host))}
    for name, kind, host_platform, author_id, commission in HOSTS:
        if (host_platform, author_id) not in hosts:
            session.add(
                Host(name=name, kind=kind, platform=host_platform, author_id=author_id, commission_bp=commission)
            )
    with_policy = set(await session.scalars(select(SplitPolicy.cooperative_id)))
    coops = await session.execute(
        select(Cooperative.id, Supplier.credit_code)
        .join(Supplier, Supplier.id == Cooperative.supplier_id)
        .order_by(Supplier.credit_code)
    )
    for index, (coop_id, _code) in enumerate(coops):
        if coop_id in with_policy:
            continue
        patronage = 6000 + (index % 5) * 500
        session.add(
            SplitPolicy(
                cooperative_id=coop_id,
                version=1,
                effective_from=date(SCENARIO_YEAR, 1, 1),
                patronage_return_bp=patronage,
                note="scenario default policy",
                rules={
                    "retention_bp": 800,
                    "collective_bp": 500,
                    "priority_bonus_bp": 300,
                    "priority_categories": ["lifted", "monitored"],
                    "basis": "quantity",
                    "grade_coefficients": {"A": 100, "B": 90, "C": 80, "D": 70, "E": 60},
                    "estimates_bp": {"platform_fee": 500, "payment_fee": 60, "logistics": 800},
                    "leftover_to": "cooperative",
                    "patronage_return_bp": patronage,
                },
            )
        )


def export_examples(
    scenario: Scenario, directory: Path, *, chinese_headers: bool = True, fmt: str = "csv"
) -> list[Path]:
    """Write each kind as ``<kind>.csv`` or ``.xlsx`` with Chinese (or English) headers; money in yuan."""
    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"unknown format {fmt!r}")
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for kind in ("cooperatives", "households", "products", "lots", "units"):
        rows = scenario.rows(kind)
        model = type(rows[0])
        fields = list(model.HEADERS)
        headers = [model.HEADERS[f][1] if chinese_headers else model.HEADERS[f][0] for f in fields]
        table = [[_cell(f, getattr(row, f), chinese_headers) for f in fields] for row in rows]
        path = directory / f"{kind}.{fmt}"
        if fmt == "csv":
            with path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(headers)
                writer.writerows(table)
        else:
            from openpyxl import Workbook

            workbook = Workbook()
            sheet = workbook.active
            assert sheet is not None
            sheet.title = kind
            sheet.append(headers)
            for line in table:
                sheet.append(line)
            workbook.save(path)
        paths.append(path)
    return paths


_MONEY_FIELDS = {
    "capital",
    "reserve_share",
    "subsidy_share",
    "retail_price",
    "promo_price",
    "guaranteed_price",
    "target",
    "canteen_budget",
}


def _cell(field_name: str, value: Any, chinese: bool) -> str:
    if value is None:
        return ""
    if field_name in _MONEY_FIELDS:
        return fen_to_yuan_str(int(value))
    if isinstance(value, bool):
        return ("是" if value else "否") if chinese else ("yes" if value else "no")
    if isinstance(value, Enum):
        return _CHINESE_WORDS.get(value, str(value.value)) if chinese else str(value.value)
    return str(value)


def _first_chinese(table: dict[str, Any]) -> dict[Any, str]:
    words: dict[Any, str] = {}
    for word, member in table.items():
        if not word.isascii():
            words.setdefault(member, word)
    return words


_CHINESE_WORDS: dict[Any, str] = {
    **_first_chinese(SUPPLIER_KINDS),
    **_first_chinese(CATEGORIES),
    **_first_chinese(UNIT_TYPES),
    **_first_chinese(CERT_STATUSES),
}
