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
    "import.bad_encoding": {
        "zh": "不是 UTF-8 或 GB18030 编码的中文文本（可能是 Big5 或 Shift-JIS）；"
        "请在 Excel 中另存为“CSV UTF-8”后再导入",
        "en": "not UTF-8 or GB18030 Chinese text (Big5 or Shift-JIS?); "
        'save it from Excel as "CSV UTF-8" and import that',
    },
    "import.too_big": {
        "zh": "文件 {size} 字节，超过导入上限 {cap} 字节；请拆分后导入",
        "en": "the file is {size} bytes, over the import limit of {cap} bytes; split it",
    },
    "import.too_big_unpacked": {
        "zh": "XLSX 解压后共 {size} 字节，超过上限 {cap} 字节；未读取（请拆分，或另存为 CSV）",
        "en": "the XLSX unpacks to {size} bytes, over the limit of {cap} bytes; not read (split it or save as CSV)",
    },
    "import.too_many_rows": {
        "zh": "超过导入上限 {cap} 行数据；请拆分后导入",
        "en": "more than {cap} data rows, the import limit; split the file",
    },
    "import.too_many_columns": {
        "zh": "超过导入上限 {cap} 列",
        "en": "more than {cap} columns, the import limit",
    },
    "import.database_refused": {
        "zh": "数据库拒绝写入，整个文件未导入：{error}",
        "en": "the database refused the data; nothing was imported: {error}",
    },
    "import.no_shop": {
        "zh": "没有 {platform} 店铺 {shop_id}（共 {rows} 行，自第 {first} 行起）：请先接入该店铺，"
        "如 bangfu shops add {platform} --shop-id {shop_id} --name 名称 --base-url 接口地址 --app-key KEY"
        "（凭据等其余选项见 bangfu shops add --help），再导入",
        "en": "no {platform} shop {shop_id} ({rows} rows from row {first}): connect the shop first, e.g. "
        "bangfu shops add {platform} --shop-id {shop_id} --name NAME --base-url URL --app-key KEY "
        "(the secret and other options: bangfu shops add --help), then import again",
    },
    "import.broken_xlsx": {
        "zh": "XLSX 文件已损坏，无法读取此行（XML 错误：{error}）",
        "en": "the XLSX is broken at this row (XML error: {error})",
    },
    "import.sales.shop_needed": {
        "zh": "导入销售需要指明线下店铺：--shop 编号（bangfu shops list 可查）",
        "en": "a sales import needs its offline shop: --shop ID (see bangfu shops list)",
    },
    "import.shop_only_for_sales": {
        "zh": "--shop 只用于 bangfu import sales",
        "en": "--shop is only for bangfu import sales",
    },
    "import.sales.no_shop": {
        "zh": "没有编号为 {id} 的店铺；先用 bangfu shops add --channel vending --name 名称 建立线下店铺",
        "en": "no shop {id}; add the offline shop first: bangfu shops add --channel vending --name NAME",
    },
    "import.sales.online_shop": {
        "zh": "店铺 #{id}（{platform}）{name} 从平台接口同步，不接受导入销售；线下渠道（专柜、售货机、社区店、"
        "展销会、食堂、工会、832 平台）各建一个线下店铺：bangfu shops add --channel vending --name 名称",
        "en": "shop #{id} ({platform}) {name} is synced from its platform's API and takes no imported sales; "
        "give each offline channel (counter, vending, community, fair, canteen, union, 832) a shop of its own: "
        "bangfu shops add --channel vending --name NAME",
    },
    "import.sales.accounted": {
        "zh": "核算流水线已处理（归因、批次分摊、记账）：新记销售凭证 {posted} 笔，分摊批次 {allocated} 行",
        "en": "accounting pipeline run (attribution, lot draws, ledger): {posted} sale journals posted, "
        "{allocated} lines drawn from lots",
    },
    "import.sales.queued": {
        "zh": "已排入核算队列（accounting），由 worker 归因、分摊批次、记账",
        "en": "queued for the accounting workers (attribution, lot draws, ledger)",
    },
    "db.upgraded": {"zh": "数据库已升级到 {revision}（{url}）", "en": "database at {revision} ({url})"},
    "db.granted": {
        "zh": "已为角色 {role} 设置应用权限：{tables} 张表（{url}）；账本表只可插入与查询",
        "en": "application privileges set for role {role}: {tables} tables ({url}); "
        "ledger tables insert and select only",
    },
    "db.grant_sqlite": {
        "zh": "SQLite 没有数据库角色与权限，bangfu db grant 不适用；账本仍由触发器与哈希链保护",
        "en": "SQLite has no database roles or privileges: bangfu db grant does not apply; "
        "the ledger is still guarded by triggers and its hash chain",
    },
    "db.grant_not_current": {
        "zh": "{url} 的表结构不是最新版本：请先以所有者身份运行 bangfu db upgrade，再授权",
        "en": "the schema of {url} is not current: run bangfu db upgrade as the owner first, then grant",
    },
    "demo.accounting": {"zh": "归属直播、扣减批次、分账入账", "en": "Attributing, drawing on lots, posting"},
    "demo.accounted": {
        "zh": "入账完成：{posted} 行销售、{refunds_posted} 笔退款；{waiting_lots} 行等待批次库存",
        "en": "Posted {posted} sale lines and {refunds_posted} refunds; {waiting_lots} lines wait for lot stock",
    },
    "demo.period": {"zh": "近 {days} 天", "en": "last {days} days"},
    "demo.top_sessions": {"zh": "直播场次 GMV 前五", "en": "Top sessions by GMV"},
    "demo.top_households": {"zh": "农户收入前十", "en": "Top households by income"},
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
    "shops.secret_on_command_line": {
        "zh": "不接受 --app-secret：命令行参数会出现在进程列表（ps）里。请用 --app-secret-stdin 从标准输入传入"
        "（如 printf '%s' \"$SECRET\" | bangfu shops add ... --app-secret-stdin），或省略它，在终端里输入",
        "en": "--app-secret is refused: command-line arguments show in the process list (ps). Pipe the secret "
        "with --app-secret-stdin (printf '%s' \"$SECRET\" | bangfu shops add ... --app-secret-stdin), "
        "or leave it out to be asked for it on the terminal",
    },
    "shops.secret_prompt": {"zh": "App 密钥（输入不回显）", "en": "App secret (not echoed)"},
    "shops.secret_missing": {
        "zh": "没有 App 密钥：标准输入不是终端，请加 --app-secret-stdin 从标准输入传入",
        "en": "no app secret: stdin is not a terminal; pipe the secret with --app-secret-stdin",
    },
    "shops.secret_empty": {"zh": "App 密钥为空", "en": "the app secret is empty"},
    "shops.exists": {
        "zh": "店铺 #{id}（{platform} {shop_id}）已存在；要替换它的接口地址和凭据，请加 --replace",
        "en": "shop #{id} ({platform} {shop_id}) exists already; add --replace to replace its endpoint and credentials",
    },
    "shops.bad_base_url": {
        "zh": "接口地址 {url} 无效：需要 http:// 或 https:// 开头并带主机名，如 https://gw.api.taobao.com/router/rest",
        "en": "base URL {url} is not valid: it needs http:// or https:// and a host, "
        "e.g. https://gw.api.taobao.com/router/rest",
    },
    "shops.platform_needed": {
        "zh": "请给出平台（taobao、tmall、jd、douyin、kuaishou、youzan、selfmall），"
        "线下店铺则用 --channel 给出类型（counter、vending、community、fair、canteen、union、832）",
        "en": "name the platform (taobao, tmall, jd, douyin, kuaishou, youzan, selfmall), or for an offline "
        "shop its kind with --channel (counter, vending, community, fair, canteen, union, 832)",
    },
    "shops.offline_channel": {
        "zh": "{kind} 店铺的渠道类型就是 {kind}",
        "en": "a {kind} shop's channel type is {kind}",
    },
    "shops.offline_no_api": {
        "zh": "线下店铺没有平台接口和凭据，不接受 {options}；其销售用 bangfu import sales 导入",
        "en": "an offline shop has no API nor credentials: {options} not accepted; its sales come in by "
        "bangfu import sales",
    },
    "shops.county_offline_only": {
        "zh": "--county 只用于线下店铺",
        "en": "--county is for offline shops",
    },
    "shops.api_options": {
        "zh": "平台店铺需要 {options}",
        "en": "a platform shop needs {options}",
    },
    "shops.offline_next": {
        "zh": "线下店铺不做同步；导入销售：bangfu import sales 文件.csv --shop {id}",
        "en": "offline shops are not synced; import their sales: bangfu import sales FILE.csv --shop {id}",
    },
    "sync.offline_skipped": {
        "zh": "跳过 {count} 个线下店铺（不同步，销售用 bangfu import sales 导入）：{names}",
        "en": "skipped {count} offline shop(s) (not synced; their sales come in by bangfu import sales): {names}",
    },
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
    "policy.state": {"zh": "状态", "en": "State"},
    "policy.state_withdrawn": {"zh": "已撤回（{at}）", "en": "withdrawn ({at})"},
    "policy.too_far": {
        "zh": "生效日期 {date} 太远：最晚只能是 {horizon}（今天起两年内；日期写错了吗？）",
        "en": "the effective date {date} is too far ahead: {horizon} at the latest (two years from today; a typo?)",
    },
    "policy.household_floor": {
        "zh": "retention_bp（合作社留存 {retention}）+ collective_bp（村集体 {collective}）之后，"
        "成员农户每笔销售只得到扣费后净额的 {households}；本平台要求至少 {floor}"
        "（依《农民专业合作社法》（2017）第 44 条“按交易量返还不低于 60%”的原则制定的平台规则）",
        "en": "retention_bp ({retention} to the cooperative) + collective_bp ({collective} to the village) leave "
        "member households {households} of each sale's net after fees; the hub requires at least {floor} "
        "(its rule after the principle of the Farmers' Professional Cooperatives Law (2017) art. 44: "
        "at least 60% returned to members by transaction volume)",
    },
    "policy.no_version": {"zh": "没有第 {version} 版分配方案", "en": "there is no policy version {version}"},
    "policy.already_withdrawn": {
        "zh": "第 {version} 版已于 {at} 撤回",
        "en": "version {version} was withdrawn on {at}",
    },
    "policy.in_force": {
        "zh": "第 {version} 版自 {date} 起生效（今天 {today}），已经适用过，不能撤回；请新增一个版本",
        "en": "version {version} applies from {date} (today is {today}): a version in force or past is never "
        "withdrawn; add a new version instead",
    },
    "policy.withdrawn": {
        "zh": "已撤回 {name} 的第 {version} 版分配方案（原定 {date} 生效），记录已保留",
        "en": "{name}: policy version {version} (due from {date}) withdrawn; the record is kept",
    },
    "worker.needs_redis": {
        "zh": "worker 需要 Redis：请设置 BANGFU_REDIS_URL（嵌入式默认配置在进程内直接执行任务，无需 worker）",
        "en": "a worker needs Redis: set BANGFU_REDIS_URL (the embedded default runs tasks in-process)",
    },
    "worker.unknown_queue": {
        "zh": "未知队列：{queues}（可用：{known}）",
        "en": "unknown queue: {queues} (known: {known})",
    },
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
    "sync.failed_stream": {
        "zh": "同步失败 · {shop} · {stream}（{error}）：{message}",
        "en": "sync failed · {shop} · {stream} ({error}): {message}",
    },
    "sync.step_failed": {"zh": "{step} 步骤失败，下一轮重试：", "en": "{step} step failed, retried next pass:"},
    "webhooks.serving": {
        "zh": "平台推送接收服务已启动：{url}（抖店 {url}/webhooks/douyin，淘宝 {url}/webhooks/taobao；"
        "每 {interval} 秒补处理一次未完成的推送；Ctrl-C 停止）",
        "en": "Receiving platform pushes at {url} (Douyin {url}/webhooks/douyin, Taobao {url}/webhooks/taobao; "
        "pending pushes retried every {interval} s; Ctrl-C stops)",
    },
    "webhooks.stopped": {"zh": "平台推送接收服务已停止", "en": "Stopped receiving platform pushes"},
    "webhooks.status_title": {"zh": "平台推送事件（按状态）", "en": "Platform push events by status"},
    "webhooks.status": {"zh": "状态", "en": "Status"},
    "webhooks.count": {"zh": "数量", "en": "Count"},
    "webhooks.none": {"zh": "还没有收到任何平台推送", "en": "no platform push has been received yet"},
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
    # -- reports and reconciliation (bangfu/reports, workers/reconcile.py, workers/alerts.py)
    "report.total": {"zh": "合计", "en": "Total"},
    "report.unmapped": {"zh": "（未关联规格）", "en": "(no SKU mapped)"},
    "report.bad_period": {"zh": "期间格式应为 YYYY-MM 或 YYYY：{value}", "en": "a period is YYYY-MM or YYYY: {value}"},
    "report.period_conflict": {
        "zh": "--period 与 --from/--to 只能选一种",
        "en": "use --period or --from/--to, not both",
    },
    "report.bad_date": {"zh": "日期格式应为 YYYY-MM-DD：{value}", "en": "dates are YYYY-MM-DD: {value}"},
    "report.bad_range": {
        "zh": "结束日期 {end} 早于开始日期 {start}",
        "en": "the end {end} is before the start {start}",
    },
    "report.no_session": {"zh": "没有编号为 {id} 的直播场次", "en": "no live session with id {id}"},
    "report.unknown": {"zh": "未知报表：{name}（可用：{known}）", "en": "unknown report: {name} (known: {known})"},
    "report.xlsx_needs_out": {"zh": "XLSX 需要用 --out 指定文件", "en": "XLSX needs a file: give --out"},
    "report.written": {"zh": "已写入 {file}（{rows} 行）", "en": "wrote {file} ({rows} rows)"},
    "report.driven_line": {
        "zh": "带动 {households} 户、增收 {wan} 万元",
        "en": "{households} households driven, income up {wan} × 10k yuan",
    },
    "report.title.session-review": {"zh": "直播复盘 {period}", "en": "Live session review {period}"},
    "report.title.session-products": {
        "zh": "直播场次 #{id}（{room}）商品明细",
        "en": "Session #{id} ({room}) by product",
    },
    "report.title.household-income": {"zh": "农户收入明细 {period}", "en": "Household income {period}"},
    "report.title.households-driven": {"zh": "带农增收表 {period}", "en": "Households driven {period}"},
    "report.title.member-accounts": {"zh": "合作社成员账户 {year} 年", "en": "Cooperative member accounts {year}"},
    "report.title.reserved-share": {"zh": "预留份额执行情况 {year} 年", "en": "Reserved-share execution {year}"},
    "report.title.unsold": {"zh": "滞销预警（未解除）", "en": "Unsold stock alerts (open)"},
    "report.title.sales-ledger": {
        "zh": "消费帮扶销售台账 {period}",
        "en": "Consumption-assistance sales ledger {period}",
    },
    "report.category.lifted": {"zh": "脱贫户", "en": "Lifted out of poverty"},
    "report.category.monitored": {"zh": "监测户", "en": "Monitored"},
    "report.category.ordinary": {"zh": "一般农户", "en": "Ordinary"},
    "report.unit_type.government": {"zh": "机关", "en": "Government"},
    "report.unit_type.hospital": {"zh": "医院", "en": "Hospital"},
    "report.unit_type.school": {"zh": "学校", "en": "School"},
    "report.unit_type.union": {"zh": "工会", "en": "Union"},
    "report.unit_type.company": {"zh": "企业", "en": "Company"},
    "report.unit_type.canteen": {"zh": "食堂", "en": "Canteen"},
    "report.unit_type.other": {"zh": "其他", "en": "Other"},
    "report.channel.ecommerce": {"zh": "电商", "en": "E-commerce"},
    "report.channel.live": {"zh": "直播", "en": "Live"},
    "report.channel.selfmall": {"zh": "自建商城", "en": "Own mall"},
    "report.channel.832": {"zh": "832平台", "en": "832 platform"},
    "report.channel.canteen": {"zh": "食堂采购", "en": "Canteen"},
    "report.channel.union": {"zh": "工会采购", "en": "Union"},
    "report.channel.counter": {"zh": "专柜/专区", "en": "Counters"},
    "report.channel.vending": {"zh": "智能售货机", "en": "Vending machines"},
    "report.channel.community": {"zh": "社区店", "en": "Community stores"},
    "report.channel.fair": {"zh": "展销会", "en": "Fairs"},
    "report.col.session": {"zh": "场次", "en": "Session"},
    "report.col.title": {"zh": "标题", "en": "Title"},
    "report.col.room": {"zh": "直播间", "en": "Room"},
    "report.col.host": {"zh": "主播", "en": "Host"},
    "report.col.start": {"zh": "开播时间", "en": "Start"},
    "report.col.duration_min": {"zh": "时长(分钟)", "en": "Minutes"},
    "report.col.gmv": {"zh": "成交金额(GMV)", "en": "GMV"},
    "report.col.orders": {"zh": "订单数", "en": "Orders"},
    "report.col.buyers": {"zh": "买家数", "en": "Buyers"},
    "report.col.units": {"zh": "件数", "en": "Units"},
    "report.col.refunds": {"zh": "退款金额", "en": "Refunds"},
    "report.col.refund_rate": {"zh": "退款率", "en": "Refund rate"},
    "report.col.views": {"zh": "观看次数", "en": "Views"},
    "report.col.gpm": {"zh": "千次观看成交(GPM)", "en": "GPM"},
    "report.col.conversion": {"zh": "转化率", "en": "Conversion"},
    "report.col.uv_value": {"zh": "UV价值", "en": "UV value"},
    "report.col.pcu": {"zh": "最高在线(PCU)", "en": "PCU"},
    "report.col.acu": {"zh": "平均在线(ACU)", "en": "ACU"},
    "report.col.avg_watch_s": {"zh": "人均观看(秒)", "en": "Avg watch (s)"},
    "report.col.ad_spend": {"zh": "投流花费", "en": "Ad spend"},
    "report.col.roi": {"zh": "投产比(ROI)", "en": "ROI"},
    "report.col.net_households": {"zh": "农户净收益", "en": "Net to households"},
    "report.col.orders_exact": {"zh": "确定归属订单", "en": "Exact orders"},
    "report.col.orders_inferred": {"zh": "推断归属订单", "en": "Inferred orders"},
    "report.col.product": {"zh": "商品", "en": "Product"},
    "report.col.share": {"zh": "占比", "en": "Share"},
    "report.col.household": {"zh": "农户编号", "en": "Household"},
    "report.col.member_no": {"zh": "成员编号", "en": "Member no."},
    "report.col.name": {"zh": "户主", "en": "Head"},
    "report.col.category": {"zh": "类别", "en": "Category"},
    "report.col.cooperative": {"zh": "合作社", "en": "Cooperative"},
    "report.col.village": {"zh": "村", "en": "Village"},
    "report.col.income": {"zh": "收入", "en": "Income"},
    "report.col.households": {"zh": "户数", "en": "Households"},
    "report.col.per_household": {"zh": "户均增收", "en": "Per household"},
    "report.col.capital": {"zh": "出资额", "en": "Capital"},
    "report.col.reserve_share": {"zh": "公积金份额", "en": "Reserve share"},
    "report.col.subsidy_share": {"zh": "补助量化份额", "en": "Subsidy share"},
    "report.col.volume": {"zh": "年度交易量(额)", "en": "Transaction volume"},
    "report.col.surplus_returned": {"zh": "盈余返还", "en": "Surplus returned"},
    "report.col.rank": {"zh": "排名", "en": "Rank"},
    "report.col.code": {"zh": "单位代码", "en": "Code"},
    "report.col.unit": {"zh": "采购单位", "en": "Purchasing unit"},
    "report.col.unit_type": {"zh": "单位类型", "en": "Type"},
    "report.col.target": {"zh": "预留份额目标", "en": "Target"},
    "report.col.executed": {"zh": "已执行", "en": "Executed"},
    "report.col.rate": {"zh": "完成率", "en": "Rate"},
    "report.col.lot": {"zh": "批次", "en": "Lot"},
    "report.col.sku": {"zh": "规格", "en": "SKU"},
    "report.col.perishable": {"zh": "生鲜", "en": "Perishable"},
    "report.col.remaining": {"zh": "剩余", "en": "Remaining"},
    "report.col.received_on": {"zh": "入库日期", "en": "Received"},
    "report.col.last_sale": {"zh": "最近销售", "en": "Last sale"},
    "report.col.idle_days": {"zh": "未售天数", "en": "Days idle"},
    "report.col.alert_since": {"zh": "预警时间", "en": "Alert since"},
    "report.col.month": {"zh": "月份", "en": "Month"},
    "report.col.channel": {"zh": "渠道类型", "en": "Channel"},
    "report.col.county": {"zh": "县区", "en": "County"},
    "report.col.supplier": {"zh": "经营主体", "en": "Supplier"},
    "report.col.certified": {"zh": "已认定", "en": "Certified"},
    "report.col.gross": {"zh": "销售额", "en": "Gross"},
    "report.col.net": {"zh": "净销售额", "en": "Net"},
    "alert.sync_failing": {
        "zh": "{shop}：{stream} 已连续 {runs} 次同步失败（{error}）：{message}",
        "en": "{shop}: {stream} failed {runs} runs in a row ({error}): {message}",
    },
    "alert.unsold": {
        "zh": "批次 {lot}（{sku}）剩余 {remaining} 件，近 {days} 天售出 {sold} 件，已 {idle} 天未售出",
        "en": "lot {lot} ({sku}): {remaining} left, {sold} sold in {days} days, {idle} days without a sale",
    },
    "reconcile.title": {
        "zh": "对账异常：店铺 #{shop} {period}",
        "en": "Reconciliation exceptions: shop #{shop} {period}",
    },
    "reconcile.order": {"zh": "平台订单号", "en": "Order"},
    "reconcile.kind": {"zh": "结果", "en": "Finding"},
    "reconcile.expected": {"zh": "应结算", "en": "Expected"},
    "reconcile.actual": {"zh": "实结算", "en": "Actual"},
    "reconcile.differences": {"zh": "差异（实结-应结）", "en": "Differences (actual - expected)"},
    "reconcile.kind.matched": {"zh": "一致", "en": "matched"},
    "reconcile.kind.amount_differs": {"zh": "金额不符", "en": "amount differs"},
    "reconcile.kind.payout_missing": {"zh": "未回款", "en": "payout missing"},
    "reconcile.kind.unknown_order": {"zh": "未知订单回款", "en": "unknown order"},
    "reconcile.kind.pending": {"zh": "待结算", "en": "pending"},
    "reconcile.type.sale": {"zh": "货款", "en": "sale"},
    "reconcile.type.refund": {"zh": "退款", "en": "refund"},
    "reconcile.type.platform_fee": {"zh": "平台服务费", "en": "platform fee"},
    "reconcile.type.host_commission": {"zh": "达人佣金", "en": "host commission"},
    "reconcile.type.payment_fee": {"zh": "支付手续费", "en": "payment fee"},
    "reconcile.type.logistics": {"zh": "物流费", "en": "logistics"},
    "reconcile.type.subsidy": {"zh": "平台补贴", "en": "subsidy"},
    "reconcile.type.other": {"zh": "其他", "en": "other"},
    "reconcile.summary": {
        "zh": "一致 {matched}，金额不符 {amount_differs}，未回款 {payout_missing}，"
        "未知订单 {unknown_order}，待结算 {pending}",
        "en": "matched {matched}, differs {amount_differs}, missing {payout_missing}, "
        "unknown {unknown_order}, pending {pending}",
    },
    "verify.title": {"zh": "账本校验", "en": "Ledger verification"},
    "verify.check": {"zh": "检查项", "en": "Check"},
    "verify.result": {"zh": "结果", "en": "Result"},
    "verify.count": {"zh": "问题数", "en": "Problems"},
    "verify.details": {"zh": "说明", "en": "Details"},
    "verify.ok": {"zh": "通过", "en": "ok"},
    "verify.head": {"zh": "账本链头（可交外部留存）：{digest}", "en": "Ledger chain head (keep it outside): {digest}"},
    "verify.check.journal_chain": {
        "zh": "凭证哈希链完整（内容、分录与前一凭证）",
        "en": "Journal hash chain intact (content, legs, previous)",
    },
    "verify.check.adjustments_recorded": {
        "zh": "手工调整凭证与其登记一致",
        "en": "Adjustments move what their records say",
    },
    "ledger.chain_broken": {
        "zh": "账本哈希链已断，不给出链头：\n{details}",
        "en": "the ledger's hash chain is broken; no head is given:\n{details}",
    },
    "ledger.adjusted": {
        "zh": "已记手工调整 {source}：{amount}，借 {src}，贷 {dst}；链头 {head}",
        "en": "adjustment {source} posted: {amount}, debit {src}, credit {dst}; chain head {head}",
    },
    "verify.failed": {"zh": "未通过", "en": "failed"},
    "verify.check.journals_balanced": {"zh": "每张凭证借贷平衡且至少两条分录", "en": "Every journal balanced, 2+ legs"},
    "verify.check.ledger_total_zero": {"zh": "全部分录合计为零", "en": "All postings sum to zero"},
    "verify.check.source_events_unique": {"zh": "来源事件不重复记账", "en": "No source event posted twice"},
    "verify.check.lines_match_state": {
        "zh": "订单行账务 = 应记状态 ×（1 − 已退比例）",
        "en": "Line ledger = desired state x (1 - refunded)",
    },
    "verify.check.lines_match_inputs": {"zh": "已记订单行与当前输入一致", "en": "Posted lines match their inputs"},
    "verify.check.lot_remaining": {"zh": "批次余量 = 数量 − 已分配", "en": "Lot remaining = quantity - allocated"},
    "verify.check.no_negative_remaining": {"zh": "批次余量不为负", "en": "No negative lot remaining"},
    "verify.check.refunds_within_paid": {"zh": "退款不超过实付", "en": "Refunds within paid"},
    "verify.check.due_lines_queued": {
        "zh": "待处理订单行都在变更队列中",
        "en": "Every due line is in the change queue",
    },
    "verify.check.cooperative_facts_match_ledger": {
        "zh": "合作社看板汇总表与账簿一致",
        "en": "The cooperative pages' line facts equal the ledger",
    },
    "verify.check.household_income_matches_ledger": {
        "zh": "农户每日收入汇总表与账簿一致",
        "en": "The households' daily income equals the ledger",
    },
    "verify.check.household_monthly_income_matches_ledger": {
        "zh": "农户每月收入汇总表与账簿一致",
        "en": "The households' monthly income equals the ledger",
    },
    "verify.check.household_volumes_match_ledger": {
        "zh": "合作社成员交易量汇总表与账簿一致",
        "en": "The households' volumes with their cooperatives equal the ledger",
    },
    "verify.check.household_line_days_match_ledger": {
        "zh": "农户对账单汇总表与账簿一致",
        "en": "The household statements' line days equal the ledger",
    },
    "verify.check.household_line_day_skus_match_lines": {
        "zh": "农户对账单汇总表的商品规格与订单行一致",
        "en": "The household statements' line days keep their lines' SKUs",
    },
    "verify.check.foreign_retention_matches_ledger": {
        "zh": "合作社跨社留存汇总表与账簿一致",
        "en": "Other cooperatives' retention in the surplus equals the ledger",
    },
    "surplus.title": {
        "zh": "合作社 #{cooperative} {year} 年盈余分配",
        "en": "Cooperative #{cooperative} surplus {year}",
    },
    "surplus.member": {"zh": "成员编号", "en": "Member"},
    "surplus.volume": {"zh": "交易量", "en": "Volume"},
    "surplus.patronage": {"zh": "按交易量返还", "en": "Patronage"},
    "surplus.shares": {"zh": "按股份返还", "en": "By shares"},
    "surplus.total": {"zh": "合计", "en": "Total"},
    "surplus.summary": {
        "zh": "可分配盈余 {distributable}：按交易量返还 {patronage}（{bp}%），按出资、公积金份额与补助量化 {shares}；"
        "非成员交易 {non_member} 单独核算（第四十一条）",
        "en": "distributable {distributable}: patronage {patronage} ({bp}%), by capital/reserve/subsidy {shares}; "
        "non-member transactions {non_member} accounted separately (art. 41)",
    },
    "surplus.dry_run": {
        "zh": "试算：未记账。分配方案须于成员大会召开十五日前置备（第四十条）",
        "en": "dry run: nothing posted. File the plan 15 days before the general meeting (art. 40)",
    },
    "surplus.err.none": {
        "zh": "合作社 #{cooperative} {year} 年没有可分配盈余（留存 {fen} 分）",
        "en": "cooperative {cooperative} has no distributable surplus for {year} ({fen} fen retained)",
    },
    "surplus.err.no_volume": {
        "zh": "合作社 #{cooperative} {year} 年没有成员与其交易，按交易量返还（第四十四条）无从计算",
        "en": "cooperative {cooperative}: no member household traded with it in {year}; "
        "the patronage return (art. 44) has no base",
    },
    "surplus.err.no_cooperative": {
        "zh": "没有编号为 {cooperative} 的合作社",
        "en": "no cooperative with id {cooperative}",
    },
    "surplus.err.no_policy": {
        "zh": "合作社 #{cooperative} {year} 年没有生效的收益分配方案",
        "en": "cooperative {cooperative} has no split policy in force in {year}",
    },
    "surplus.err.done": {
        "zh": "合作社 #{cooperative} {year} 年盈余已于 {day} 分配，每年只分配一次",
        "en": "the {year} surplus of cooperative {cooperative} was already distributed on {day}; "
        "it is distributed once",
    },
    "surplus.posted": {"zh": "已记账：盈余分配凭证已生成", "en": "posted: the surplus journal is in the ledger"},
    "report.currency_note": {"zh": "金额单位：元", "en": "Amounts in yuan (元)"},
    "users.password_short": {"zh": "密码至少 {n} 个字符", "en": "the password needs at least {n} characters"},
    "users.scope_not_for_role": {
        "zh": "角色 {role} 不能带 {options}",
        "en": "role {role} takes no {options}",
    },
    "users.scope_missing": {"zh": "角色 {role} 须指定 {option}", "en": "role {role} needs {option}"},
    "users.no_cooperative": {"zh": "没有信用代码为 {code} 的合作社", "en": "no cooperative with credit code {code}"},
    "users.no_host": {"zh": "没有编号为 {id} 的主播", "en": "no host with id {id}"},
    "users.no_region": {"zh": "没有区划代码为 {code} 的地区", "en": "no region with code {code}"},
    "users.no_unit": {"zh": "没有编号为 {id} 的采购单位", "en": "no purchasing unit with id {id}"},
    "users.no_shop": {"zh": "没有编号为 {id} 的店铺", "en": "no shop with id {id}"},
    "users.bad_name": {
        "zh": "用户名“{name}”无效（1–64 个字符，不含空格）",
        "en": "bad user name '{name}' (1-64 characters, no spaces)",
    },
    "users.exists": {"zh": "用户 {name} 已存在", "en": "user {name} already exists"},
    "users.unknown": {"zh": "没有用户 {name}", "en": "no user {name}"},
    "users.disabled": {"zh": "用户 {name} 已停用", "en": "user {name} is disabled"},
    "users.need_password_stdin": {
        "zh": "请用 --password-stdin 从标准输入提供密码",
        "en": "give the password on standard input with --password-stdin",
    },
    "users.added": {"zh": "已添加用户 {name}（{role}）", "en": "user {name} added ({role})"},
    "users.password_set": {
        "zh": "已为 {name} 设置新密码，其已登录的会话均已退出",
        "en": "new password set for {name}; their sessions ended",
    },
    "users.disabled_done": {
        "zh": "已停用 {name}：会话退出，令牌作废",
        "en": "{name} disabled: sessions ended, tokens revoked",
    },
    "users.enabled": {"zh": "已启用 {name}", "en": "{name} enabled"},
    "users.disabled_mark": {"zh": "已停用", "en": "disabled"},
    "users.title": {"zh": "控制台用户", "en": "Console users"},
    "users.col.name": {"zh": "用户名", "en": "Name"},
    "users.col.role": {"zh": "角色", "en": "Role"},
    "users.col.scope": {"zh": "范围", "en": "Scope"},
    "users.col.state": {"zh": "状态", "en": "State"},
}


def current_lang() -> Lang:
    return _override.get() or get_settings().lang


def set_lang(lang: Lang) -> None:
    _override.set(lang)


def t(key: str, **values: object) -> str:
    """The message ``key`` in the current language, formatted with ``values``."""
    text = MESSAGES[key][current_lang()]
    if not values and "{" not in text and "}" not in text:
        return text  # what format() would return, without its call (a page asks for hundreds)
    return text.format(**values)
