"""The assisted county's product catalogue, as in seed 000 (Ganzi county, ~130 products).

Deterministic: the same list every time, so the scenario, the fake platforms (whose SKU
outer ids are these SKU codes) and the tests all talk about the same products.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from bangfu.importing.rows import gs1_check_digit

# A GS1 China company prefix for the county's brand (690-699 are China's): EAN-13 barcodes are
# this, a five-digit item number and the check digit.
BARCODE_PREFIX = "6975328"


@dataclass(frozen=True, slots=True)
class CatalogSku:
    sku_code: str
    spu_code: str
    title: str  # product name
    spec: str  # 规格, e.g. "500g/袋"
    category: str
    unit: str
    price_fen: int  # 零售价
    promo_price_fen: int | None  # 促销活动价
    selling_points: str
    supplier_index: int  # which of the county's 17 suppliers makes it (0-based)
    certified: bool  # has a 消费帮扶产品认定 certificate
    barcode: str | None = None  # EAN-13 on the pack (the county's GS1 company prefix + a running number)


# (category, base names, specs with retail price in fen, unit, selling point)
_FAMILIES: tuple[tuple[str, tuple[str, ...], tuple[tuple[str, int], ...], str, str], ...] = (
    (
        "中药材",
        ("冬虫夏草", "藏贝母", "藏红花", "川贝母", "红景天", "黄芪", "党参", "羌活"),
        (("5g/盒", 38800), ("10g/盒", 74800), ("50g/袋", 26800)),
        "盒",
        "高原道地药材，产地直采",
    ),
    (
        "粮油",
        ("高原籼米", "青稞米", "黑青稞", "紫皮薯粉", "苦荞米", "菜籽油"),
        (("2.5kg/袋", 4990), ("5kg/袋", 8990), ("1L/瓶", 5980)),
        "袋",
        "海拔3000米以上种植，无农药",
    ),
    (
        "休闲食品",
        ("青稞饼干", "青稞麦片", "酥油饼", "牦牛奶片", "青稞挂面", "糌粑"),
        (("300g/盒", 2680), ("500g/袋", 3580), ("1kg/箱", 5980)),
        "盒",
        "非遗工艺，手工制作",
    ),
    (
        "肉类",
        ("牦牛肉干", "风干牦牛肉", "牦牛肉", "藏香猪腊肉", "藏系羊肉", "牦牛肉酱"),
        (("250g/袋", 6800), ("500g/袋", 12800), ("1kg/箱", 23800)),
        "袋",
        "天然放养，草原生态",
    ),
    (
        "菌类",
        ("獐子菌", "松茸", "羊肚菌", "牛肝菌", "鸡枞菌", "虎掌菌"),
        (("100g/罐", 8800), ("250g/盒", 19800), ("500g/袋", 36800)),
        "罐",
        "野生采摘，当日冷链",
    ),
    (
        "乳制品",
        ("牦牛酸奶", "牦牛奶粉", "曲拉", "酥油", "牦牛奶酪"),
        (("200g/杯", 1280), ("400g/罐", 9800), ("500g/块", 6800)),
        "件",
        "高原牧场鲜奶",
    ),
    (
        "茶饮",
        ("藏茶", "沙棘汁", "玛咖茶", "格桑花茶", "青稞酒"),
        (("250g/饼", 12800), ("500ml/瓶", 2980), ("100g/罐", 4580)),
        "件",
        "高原特色饮品",
    ),
    (
        "蔬果",
        ("高原土豆", "高原萝卜", "苹果", "花椒", "核桃"),
        (("5kg/箱", 3990), ("2.5kg/箱", 4990), ("500g/袋", 6800)),
        "箱",
        "错季上市，新鲜直发",
    ),
)

SUPPLIER_COUNT = 17
PRODUCT_COUNT = 130


@lru_cache(maxsize=1)
def default_catalog() -> tuple[CatalogSku, ...]:
    """About 130 products (SPU), each with one to three SKUs, in a fixed order."""
    skus: list[CatalogSku] = []
    spu_number = 0
    # Walk the families round-robin, adding a grade word when a base name comes round again,
    # until the county's 130 products are listed.
    grades = ("", "特级", "精选", "礼盒装")
    round_no = 0
    while spu_number < PRODUCT_COUNT:
        for family_index, (category, names, specs, unit, point) in enumerate(_FAMILIES):
            for name_index, base in enumerate(names):
                if spu_number >= PRODUCT_COUNT:
                    break
                grade = grades[round_no % len(grades)]
                title = f"甘孜{grade}{base}"
                spu_number += 1
                spu_code = f"GZ-SPU-{spu_number:04d}"
                spec_count = 1 + (spu_number * 7 + name_index) % 3
                for spec_index in range(spec_count):
                    spec, base_price = specs[(name_index + spec_index) % len(specs)]
                    price = base_price + round_no * 1000 + (spu_number % 5) * 100
                    promo = price * 9 // 10 // 10 * 10 if (spu_number + spec_index) % 3 == 0 else None
                    skus.append(
                        CatalogSku(
                            sku_code=f"{spu_code}-{spec_index + 1:02d}",
                            spu_code=spu_code,
                            title=title,
                            spec=spec,
                            category=category,
                            unit=unit,
                            price_fen=price,
                            promo_price_fen=promo,
                            selling_points=point,
                            supplier_index=(family_index * 3 + name_index) % SUPPLIER_COUNT,
                            certified=(spu_number % 4) != 0,
                            barcode=_ean13(len(skus) + 1),
                        )
                    )
        round_no += 1
    return tuple(skus)


def _ean13(item: int) -> str:
    body = f"{BARCODE_PREFIX}{item:05d}"
    return body + gs1_check_digit(body)
