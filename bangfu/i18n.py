"""UI text: Simplified Chinese by default, English with ``BANGFU_LANG=en`` (or ``--lang en``)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Literal

from bangfu.settings import get_settings

Lang = Literal["zh", "en"]

_override: ContextVar[Lang | None] = ContextVar("bangfu_lang", default=None)

MESSAGES: dict[str, dict[Lang, str]] = {
    "summary.title": {"zh": "场景概览：{county}", "en": "Scenario summary: {county}"},
    "summary.item": {"zh": "项目", "en": "Item"},
    "summary.count": {"zh": "数量", "en": "Count"},
    "summary.detail": {"zh": "说明", "en": "Detail"},
    "entity.regions": {"zh": "行政区划", "en": "Regions"},
    "entity.suppliers": {"zh": "经营主体（企业与合作社）", "en": "Suppliers (enterprises and cooperatives)"},
    "entity.cooperatives": {"zh": "合作社", "en": "Cooperatives"},
    "entity.households": {"zh": "成员农户", "en": "Member households"},
    "entity.products": {"zh": "产品（SPU）", "en": "Products (SPU)"},
    "entity.skus": {"zh": "规格（SKU）", "en": "SKUs"},
    "entity.certified": {"zh": "认定在有效期内的产品", "en": "Products with a valid certificate"},
    "entity.lots": {"zh": "收购批次", "en": "Supply lots"},
    "entity.units": {"zh": "采购单位", "en": "Purchasing units"},
    "entity.shops": {"zh": "店铺/渠道", "en": "Shops and channels"},
    "entity.hosts": {"zh": "主播", "en": "Hosts"},
    "entity.policies": {"zh": "收益分配方案", "en": "Income-split policies"},
    "detail.households": {
        "zh": "脱贫户 {lifted}，监测户 {monitored}，一般农户 {ordinary}",
        "en": "lifted {lifted}, monitored {monitored}, ordinary {ordinary}",
    },
    "detail.lots": {"zh": "库存合计 {units} 件", "en": "{units} units in stock"},
    "detail.units": {
        "zh": "含学校 {schools} 所，年度预留份额 {target}",
        "en": "{schools} schools; reserved share this year {target}",
    },
    "detail.shops": {"zh": "平台：{platforms}", "en": "platforms: {platforms}"},
    "import.ok": {
        "zh": "{file}：{kind} 导入完成，新增 {created}，更新 {updated}，未变 {unchanged}",
        "en": "{file}: {kind} imported: {created} new, {updated} updated, {unchanged} unchanged",
    },
    "import.rejected": {
        "zh": "{file}：有 {count} 处错误，整个文件未导入：",
        "en": "{file}: {count} error(s); nothing was imported:",
    },
    "db.upgraded": {"zh": "数据库已升级到 {revision}（{url}）", "en": "database at {revision} ({url})"},
    "demo.db": {"zh": "演示数据库：{url}", "en": "demo database: {url}"},
    "demo.loading": {"zh": "生成并载入场景", "en": "Building and loading the scenario"},
    "error.prefix": {"zh": "错误", "en": "error"},
}


def current_lang() -> Lang:
    return _override.get() or get_settings().lang


def set_lang(lang: Lang) -> None:
    _override.set(lang)


def t(key: str, **values: object) -> str:
    """The message ``key`` in the current language, formatted with ``values``."""
    entry = MESSAGES[key]
    return entry[current_lang()].format(**values)
