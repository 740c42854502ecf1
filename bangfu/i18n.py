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
    "demo.fakes": {
        "zh": "启动 {count} 个模拟平台（本机回环），接入店铺并同步",
        "en": "Starting {count} fake platforms on loopback, connecting the shops and syncing",
    },
    "yes": {"zh": "是", "en": "yes"},
    "no": {"zh": "否", "en": "no"},
    "shops.added": {"zh": "已添加店铺 #{id}（{platform}）：{name}", "en": "added shop #{id} ({platform}): {name}"},
    "shops.updated": {"zh": "已更新店铺 #{id}（{platform}）：{name}", "en": "updated shop #{id} ({platform}): {name}"},
    "shops.title": {"zh": "店铺", "en": "Shops"},
    "shops.id": {"zh": "编号", "en": "ID"},
    "shops.platform": {"zh": "平台", "en": "Platform"},
    "shops.name": {"zh": "名称", "en": "Name"},
    "shops.channel": {"zh": "渠道类型", "en": "Channel"},
    "shops.endpoint": {"zh": "接口地址", "en": "Endpoint"},
    "shops.credentials": {"zh": "已配置凭据", "en": "Credentials"},
    "sync.no_shops": {
        "zh": "没有可同步的店铺：先用 bangfu shops add 或 add-from-fakes 接入店铺",
        "en": "no shops to sync: connect one with bangfu shops add or add-from-fakes",
    },
    "policy.no_cooperative": {
        "zh": "找不到合作社：{ref}（请给出编号、统一社会信用代码或全称）",
        "en": "no cooperative matches {ref} (give its id, credit code or full name)",
    },
    "policy.bad_json": {"zh": "不是有效的 JSON 分配方案", "en": "not a valid JSON policy"},
    "policy.not_object": {"zh": "顶层必须是对象", "en": "the top level must be an object"},
    "policy.not_future": {
        "zh": "生效日期 {date} 必须晚于今天（{today}）：已入账的分配不会被改写",
        "en": "the effective date {date} must be after today ({today}): posted splits are never rewritten",
    },
    "policy.not_after_latest": {
        "zh": "生效日期 {date} 必须晚于最新版本的生效日期 {latest}",
        "en": "the effective date {date} must be after the latest version's ({latest})",
    },
    "policy.added": {
        "zh": "已为 {name} 新增第 {version} 版分配方案，自 {date} 起生效",
        "en": "{name}: policy version {version} added, in force from {date}",
    },
    "policy.none": {"zh": "还没有任何分配方案", "en": "there are no split policies yet"},
    "policy.title": {"zh": "收益分配方案", "en": "Income-split policies"},
    "policy.cooperative": {"zh": "合作社", "en": "Cooperative"},
    "policy.version": {"zh": "版本", "en": "Version"},
    "policy.from": {"zh": "生效日期", "en": "From"},
    "policy.retention": {"zh": "合作社留存", "en": "Retention"},
    "policy.collective": {"zh": "村集体", "en": "Collective"},
    "policy.bonus": {"zh": "脱贫户/监测户优先奖励", "en": "Priority bonus"},
    "policy.patronage": {"zh": "按交易量返还", "en": "Patronage return"},
    "worker.needs_redis": {
        "zh": "worker 需要 Redis：请设置 BANGFU_REDIS_URL（嵌入式默认配置在进程内直接执行任务，无需 worker）",
        "en": "a worker needs Redis: set BANGFU_REDIS_URL (the embedded default runs tasks in-process, no worker needed)",
    },
    "worker.unknown_queue": {"zh": "未知队列：{queues}（可用：{known}）", "en": "unknown queue: {queues} (known: {known})"},
    "worker.failed": {"zh": "worker 启动失败：{error}", "en": "the worker could not start: {error}"},
    "sync.summary": {"zh": "同步结果", "en": "Sync results"},
    "sync.status": {"zh": "同步状态", "en": "Sync status"},
    "sync.shop": {"zh": "店铺", "en": "Shop"},
    "sync.stream": {"zh": "数据流", "en": "Stream"},
    "sync.windows": {"zh": "时间窗", "en": "Windows"},
    "sync.new": {"zh": "新增", "en": "New"},
    "sync.changed": {"zh": "更新", "en": "Changed"},
    "sync.unchanged": {"zh": "未变", "en": "Unchanged"},
    "sync.duplicates": {"zh": "去重", "en": "Duplicates"},
    "sync.quarantined": {"zh": "隔离", "en": "Quarantined"},
    "sync.errors": {"zh": "错误", "en": "Errors"},
    "sync.cursor": {"zh": "游标", "en": "Cursor"},
    "sync.lag": {"zh": "延迟", "en": "Lag"},
    "sync.last_run": {"zh": "上次完成", "en": "Last run"},
    "sync.outcome": {"zh": "结果", "en": "Outcome"},
    "sync.alert": {"zh": "告警：", "en": "Alert:"},
    "sync.step_failed": {"zh": "{step} 步骤失败，下一轮重试：", "en": "{step} step failed, retried next pass:"},
    "webhooks.serving": {
        "zh": "平台推送接收服务已启动：{url}（抖店 {url}/webhooks/douyin，淘宝 {url}/webhooks/taobao；"
        "每 {interval} 秒补处理一次未完成的推送；Ctrl-C 停止）",
        "en": "Receiving platform pushes at {url} (Douyin {url}/webhooks/douyin, Taobao {url}/webhooks/taobao; "
        "pending pushes retried every {interval} s; Ctrl-C stops)",
    },
    "webhooks.stopped": {"zh": "平台推送接收服务已停止", "en": "Stopped receiving platform pushes"},
    "stats.title": {"zh": "店铺数据汇总", "en": "Store totals per shop"},
    "stats.orders": {"zh": "订单", "en": "Orders"},
    "stats.lines": {"zh": "订单行", "en": "Order lines"},
    "stats.refunds": {"zh": "退款", "en": "Refunds"},
    "stats.paid": {"zh": "实付金额", "en": "Paid"},
    "stats.refunded": {"zh": "已退金额", "en": "Refunded"},
    "stock.no_sku": {"zh": "没有编码为 {code} 的规格（SKU）", "en": "no SKU with code {code}"},
    "stock.no_shop": {"zh": "没有编号为 {id} 的店铺", "en": "no shop with id {id}"},
    "stock.rules": {"zh": "库存分配规则", "en": "Stock allocation rules"},
    "stock.reservations": {"zh": "库存预留（未结束）", "en": "Stock reservations (not ended)"},
    "stock.reserved": {"zh": "已预留 #{id}：{sku} × {quantity}", "en": "reserved #{id}: {sku} × {quantity}"},
    "stock.plan": {"zh": "库存分配计划（未推送）", "en": "Stock plan (nothing pushed)"},
    "stock.pushed": {"zh": "库存推送结果", "en": "Stock pushed"},
    "stock.nothing": {"zh": "没有已关联规格的商品，无需推送", "en": "no listing is mapped to a SKU: nothing to push"},
    "stock.id": {"zh": "编号", "en": "ID"},
    "stock.shop": {"zh": "店铺", "en": "Shop"},
    "stock.sku": {"zh": "规格", "en": "SKU"},
    "stock.default": {"zh": "（默认）", "en": "(default)"},
    "stock.share": {"zh": "份额", "en": "Share"},
    "stock.floor": {"zh": "保底", "en": "Floor"},
    "stock.priority": {"zh": "优先级", "en": "Priority"},
    "stock.quantity": {"zh": "数量", "en": "Units"},
    "stock.from": {"zh": "开始", "en": "From"},
    "stock.to": {"zh": "结束", "en": "To"},
    "stock.note": {"zh": "说明", "en": "Note"},
    "stock.truth": {"zh": "可售总量", "en": "Truth"},
    "stock.allocation": {"zh": "分配", "en": "Allocation"},
    "stock.believed": {"zh": "平台现有", "en": "Held"},
    "stock.delta": {"zh": "增减", "en": "Delta"},
    "stock.applied": {"zh": "实际增减", "en": "Applied"},
    "stock.after": {"zh": "平台库存", "en": "Platform stock"},
    "stock.result": {"zh": "结果", "en": "Result"},
    "stock.status.unchanged": {"zh": "无需变更", "en": "unchanged"},
    "stock.status.planned": {"zh": "待推送", "en": "planned"},
    "stock.status.done": {"zh": "已推送", "en": "done"},
    "stock.status.failed": {"zh": "失败（下次重试）", "en": "failed (retried next time)"},
    "stock.status.uncertain": {"zh": "结果未知（不重发）", "en": "uncertain (never resent)"},
    "stock.status.skipped": {"zh": "跳过（上次推送未完成）", "en": "skipped (an earlier push is unfinished)"},
    "stock.status.capped": {"zh": "已推送（部分暂缓）", "en": "done (part held back)"},
}


def current_lang() -> Lang:
    return _override.get() or get_settings().lang


def set_lang(lang: Lang) -> None:
    _override.set(lang)


def t(key: str, **values: object) -> str:
    """The message ``key`` in the current language, formatted with ``values``."""
    entry = MESSAGES[key]
    return entry[current_lang()].format(**values)
