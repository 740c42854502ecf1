"""The county office (县域帮扶) pages: households driven and income, sales, campaign groups, the
purchasing units' ranking with roll-up, households below the monitoring line, the product pivot;
and their JSON API under ``/api/v1/county``.

Only the county role (its region and below) and the admin (everything) see these; for anyone else
every route is a 404. Each view reads the scope, parses its parameters (a bad one is a 400 naming
it), calls one function of :mod:`bangfu.queries.county` and renders, exports or answers JSON from
the same data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bangfu.certification import local_today
from bangfu.clock import SHANGHAI, utcnow
from bangfu.enums import UserRole
from bangfu.i18n import MESSAGES, t
from bangfu.money import format_yuan
from bangfu.queries import certification as qcert
from bangfu.queries import county as qc
from bangfu.queries import drives as qd
from bangfu.queries import unsold as qu
from bangfu.queries.agreements import agreements_card
from bangfu.queries.planting import county_card as planting_card
from bangfu.queries.tasks import county_card
from bangfu.reports.base import Column, Period, Report
from bangfu.reports.households import wan_yuan
from bangfu.scope import Scope
from bangfu.tasks.progress import today
from bangfu.unsold import load_rule
from web.api import error_responses, json_ok
from web.errors import BadParam
from web.export import FORMATS, export_response
from web.keys import ENGINE, scope_of
from web.paging import choice_param, cursor_window, id_param, int_param, next_cursor, page_window
from web.paging import period_param as _period_param
from web.render import NAV, NavItem, render

MESSAGES.update(
    {
        "web.county.menu": {"zh": "县域总览", "en": "County"},
        "web.county.tab.overview": {"zh": "带农增收", "en": "Households driven"},
        "web.county.tab.units": {"zh": "采购单位排名", "en": "Unit ranking"},
        "web.county.tab.monitoring": {"zh": "监测线以下农户", "en": "Below the monitoring line"},
        "web.county.tab.products": {"zh": "产品月度销售", "en": "Products by month"},
        "web.county.title": {"zh": "县域帮扶总览 {period}", "en": "County overview {period}"},
        "web.county.scope_all": {"zh": "全部地区", "en": "All regions"},
        "web.county.scope_region": {"zh": "本地区及下辖", "en": "Your region and below"},
        "web.county.headline": {
            "zh": "带动 {n} 户、增收 {wan} 万元",
            "en": "{n} households driven, income {wan} × 10k yuan",
        },
        "web.county.headline_def": {
            "zh": "户数：期间内净收入大于 0 的不同农户（同一农户只计一次，所以各月户数相加不等于全年）；"
            "增收：期间内全部农户的净收入之和，净收入为负的农户（退款多于入账）也计入，所以各月增收相加等于全年。"
            "收入为账本记入农户的二次返利、帮扶奖励、售出后收回的保底价与盈余返还，已扣退款。",
            "en": "Households: distinct households with net income above 0 in the period (each counted once, so "
            "monthly counts do not add up to the year's). Income: the net of every household in the period, "
            "including households whose net is negative (refunds above credits), so monthly incomes add up to "
            "the year's. Income is what the ledger credited to households: rebates, priority bonuses, the "
            "guaranteed price recovered from sales and surplus returns, net of refunds.",
        },
        "web.county.negative_note": {
            "zh": "净收入为负的农户：{n} 户（已计入增收，未计入户数）",
            "en": "Households with negative net: {n} (in the income, not in the count)",
        },
        "web.county.households": {"zh": "带动户数", "en": "Households driven"},
        "web.county.income": {"zh": "增收", "en": "Income"},
        "web.county.per_household": {"zh": "户均增收", "en": "Per household"},
        "web.county.negative": {"zh": "净收入为负户数", "en": "Negative households"},
        "web.county.members": {"zh": "合作社 {c} 家，成员户 {h} 户", "en": "{c} cooperatives, {h} member households"},
        "web.county.monthly": {"zh": "逐月带农增收", "en": "By month"},
        "web.county.monthly_note": {
            "zh": "各月增收相加 = 全期增收（含负数月份）；各月户数不能相加。",
            "en": "Monthly incomes add up to the period's (negative months included); monthly counts do not.",
        },
        "web.county.months_sum": {"zh": "各月合计", "en": "Sum of months"},
        "web.county.period_total": {"zh": "全期（户数去重）", "en": "Period (distinct households)"},
        "web.county.month": {"zh": "月份", "en": "Month"},
        "web.county.by_category": {"zh": "按农户类别", "en": "By household category"},
        "web.county.category": {"zh": "类别", "en": "Category"},
        "web.county.by_cooperative": {"zh": "按合作社", "en": "By cooperative"},
        "web.county.cooperative": {"zh": "合作社", "en": "Cooperative"},
        "web.county.by_channel": {"zh": "按渠道（农户收入来自哪个渠道的销售）", "en": "By channel of the sale"},
        "web.county.channel": {"zh": "渠道", "en": "Channel"},
        "web.county.by_product": {"zh": "按产品", "en": "By product"},
        "web.county.product": {"zh": "产品", "en": "Product"},
        "web.county.groups_note": {
            "zh": "同一农户可在多个分组中出现，各分组户数相加可大于合计；增收相加等于合计。",
            "en": "A household may appear in several groups, so the counts may add up to more than the total; "
            "incomes add up to it.",
        },
        "web.county.sales": {"zh": "销售额（与销售台账一致）", "en": "Sales (as the sales ledger)"},
        "web.county.sales_def": {
            "zh": "销售额 = 期间内付款订单的商品行实付金额（销售台账“毛额”）；退款按退款成功月份计；"
            "净额 = 销售额 − 退款。`bangfu stats` 统计的是订单实付（含运费及订单级调整），差异如下逐项列出。",
            "en": "Sales = the paid amount of the order lines of orders paid in the period (the sales ledger's "
            "gross); refunds in the month they succeeded; net = sales − refunds. `bangfu stats` sums the "
            "orders' paid amount (shipping and order-level adjustments included); what separates them is "
            "listed line by line.",
        },
        "web.county.orders_paid": {
            "zh": "订单实付（已付款状态，bangfu stats 口径）",
            "en": "Orders paid (bangfu stats)",
        },
        "web.county.paid_time_only": {
            "zh": "加：有付款时间但非已付款状态的订单",
            "en": "plus: orders with a paid time, not a paid status",
        },
        "web.county.shipping": {"zh": "减：运费", "en": "less: shipping"},
        "web.county.adjustments": {
            "zh": "减：订单级优惠及其他调整",
            "en": "less: order-level discounts and adjustments",
        },
        "web.county.gross": {"zh": "销售额（销售台账毛额）", "en": "Sales (ledger gross)"},
        "web.county.refunds": {"zh": "减：退款", "en": "less: refunds"},
        "web.county.net": {"zh": "净销售额", "en": "Net sales"},
        "web.county.orders": {"zh": "订单数", "en": "Orders"},
        "web.county.sales_by_channel": {"zh": "销售额按渠道", "en": "Sales by channel"},
        "web.county.campaigns": {
            "zh": "五进/七进：按单位类型的采购",
            "en": "五进/七进 campaigns: purchases by unit kind",
        },
        "web.county.campaigns_def": {
            "zh": "期间内付款、带采购单位的订单（本地区店铺的订单与本地区单位的订单），按单位类型归入活动分组；"
            "执行额 = 销售当天认定有效产品的实付 − 其成功退款（预留份额口径，未认定产品与运费不计）。"
            "单位类型与分组可用 `bangfu county kinds` / `groups` 维护。",
            "en": "Orders paid in the period that carry a purchasing unit (your region's shops' orders and your "
            "region's units' orders), grouped by the unit's kind; executed = what was paid for products certified on "
            "the day of sale, net of their succeeded refunds (as the reserved share: uncertified products and "
            "shipping do not count). Edit kinds and groups with `bangfu county kinds` / `groups`.",
        },
        "web.county.group": {"zh": "活动分组", "en": "Campaign group"},
        "web.county.kinds": {"zh": "包含单位类型", "en": "Unit kinds"},
        "web.county.units": {"zh": "单位数", "en": "Units"},
        "web.county.executed": {"zh": "执行额（认定产品）", "en": "Executed (certified)"},
        "web.county.purchases": {"zh": "采购合计", "en": "All purchases"},
        "web.county.more_rows": {
            "zh": "显示前 {shown} 行，共 {total} 行；全部请导出。",
            "en": "Showing the first {shown} of {total} rows; export for all.",
        },
        "web.county.empty": {"zh": "本期没有数据。", "en": "Nothing in this period."},
        "web.county.export": {"zh": "导出", "en": "Export"},
        "web.county.period": {"zh": "期间", "en": "Period"},
        "web.county.period_hint": {"zh": "年 2026 或 月 2026-10", "en": "year 2026 or month 2026-10"},
        "web.county.from": {"zh": "起始日", "en": "From"},
        "web.county.to": {"zh": "截止日", "en": "To"},
        "web.county.show": {"zh": "查看", "en": "Show"},
        "web.county.this_year": {"zh": "本年", "en": "This year"},
        "web.county.this_month": {"zh": "本月", "en": "This month"},
        "web.county.year": {"zh": "年度", "en": "Year"},
        "web.county.total": {"zh": "合计", "en": "Total"},
        # units
        "web.county.units_title": {"zh": "{year} 年采购单位预留份额排名", "en": "Purchasing units ranked, {year}"},
        "web.county.sort": {"zh": "排名依据", "en": "Rank by"},
        "web.county.sort.amount": {"zh": "执行金额", "en": "Amount"},
        "web.county.sort.orders": {"zh": "订单数", "en": "Orders"},
        "web.county.sort.participation": {"zh": "职工参与度", "en": "Staff participation"},
        "web.county.sort.rate": {"zh": "完成率", "en": "Rate"},
        "web.county.view": {"zh": "口径", "en": "View"},
        "web.county.view.rollup": {"zh": "汇总下属单位", "en": "Rolled up"},
        "web.county.view.units": {"zh": "逐个单位", "en": "Each unit"},
        "web.county.rank": {"zh": "排名", "en": "Rank"},
        "web.county.unit": {"zh": "单位", "en": "Unit"},
        "web.county.kind": {"zh": "类型", "en": "Kind"},
        "web.county.parent": {"zh": "上级单位", "en": "Parent"},
        "web.county.subunits": {"zh": "下属单位", "en": "Sub-units"},
        "web.county.staff": {"zh": "职工数", "en": "Staff"},
        "web.county.target": {"zh": "年度目标", "en": "Target"},
        "web.county.rate": {"zh": "完成率", "en": "Rate"},
        "web.county.buyers": {"zh": "下单人数", "en": "Buyers"},
        "web.county.participation": {"zh": "参与度", "en": "Participation"},
        "web.county.basis": {"zh": "参与度口径", "en": "Basis"},
        "web.county.basis.buyers": {"zh": "下单人数/职工数", "en": "buyers / staff"},
        "web.county.basis.orders": {"zh": "每百名职工订单数", "en": "orders per 100 staff"},
        "web.county.participation_def": {
            "zh": "参与度：单位全年订单都带有下单人标识时 = 不同下单人数 ÷ 职工数（百分比）；"
            "否则 = 订单数 × 100 ÷ 职工数（每百名职工订单数）。按参与度排名时前一种口径的单位在前。"
            "执行额、目标与完成率同预留份额报表（销售当天认定有效产品的实付 − 其成功退款）；"
            "采购合计含未认定产品与运费。"
            "“汇总下属单位”把上级单位（如教育局）与其下全部单位（各学校）的目标、执行额、订单、下单人与职工合计后排名。"
            "排名仅供参考。",
            "en": "Participation: when every order of the unit in the year names its buyer, distinct buyers ÷ "
            "staff (a percentage); otherwise orders × 100 ÷ staff (orders per 100 staff). Ranked by "
            "participation, units of the first kind come first. Executed, target and rate are the reserved-"
            "share report's (paid for products certified on the day of sale, net of their refunds); all purchases "
            "include uncertified products and shipping. 'Rolled up' adds every unit under a parent (an "
            "education bureau's schools) to the parent's target, executed, orders, buyers and staff. The "
            "ranking is advisory.",
        },
        "web.county.no_units": {
            "zh": "您的地区内没有采购单位。",
            "en": "There are no purchasing units in your region.",
        },
        "web.county.chart_top": {"zh": "前 {n} 名", "en": "Top {n}"},
        # monitoring
        "web.county.monitoring_title": {
            "zh": "{year} 年预计收入低于监测线的农户",
            "en": "Households below the monitoring line, {year}",
        },
        "web.county.monitoring_def": {
            "zh": "预计年收入 = 1 月 1 日至 {cutoff} 经本平台记入农户的净收入 × {year_days} ÷ {days}"
            "（按天数折算全年）；"
            "人均 = 预计年收入 ÷ 家庭人口；低于所在县（或其上级地区）该年度监测线的列出，人均最低的在前。"
            "本平台只知道经平台销售的收入，农户的其他收入未计入：此表用于排查走访，不作认定依据。",
            "en": "Projected yearly income = the household's net income through the hub from 1 January to "
            "{cutoff} × {year_days} ÷ {days} (scaled to the year by days); per person = projected ÷ "
            "household members; listed when below the line of the county (or the nearest region above it) "
            "for the year, lowest first. The hub knows only income from sales through it: use the list to "
            "check on households, not to decide on them.",
        },
        "web.county.monitoring_none": {
            "zh": "该年度尚无可计入的天数。",
            "en": "No day of that year has been counted yet.",
        },
        "web.county.lines": {"zh": "监测线（元/人·年）", "en": "Monitoring line (yuan per person per year)"},
        "web.county.line_default": {
            "zh": "默认值（2021 年国家防止返贫监测基线 6000 元/人·年），"
            "可用 `bangfu county monitoring-line set` 设定本地区标准",
            "en": "default (the 2021 national baseline, 6,000 yuan per person per year); set your region's with "
            "`bangfu county monitoring-line set`",
        },
        "web.county.below": {
            "zh": "低于监测线：{n} 户 / 共 {total} 户",
            "en": "Below the line: {n} of {total} households",
        },
        "web.county.no_income": {
            "zh": "其中 {n} 户本年度尚无经平台的收入。",
            "en": "{n} of them have had no income through the hub this year.",
        },
        "web.county.member_no": {"zh": "成员编号", "en": "Member no."},
        "web.county.name": {"zh": "户主", "en": "Head"},
        "web.county.village": {"zh": "村", "en": "Village"},
        "web.county.people": {"zh": "人口", "en": "Members"},
        "web.county.ytd": {"zh": "年内净收入", "en": "Income so far"},
        "web.county.projected": {"zh": "预计年收入", "en": "Projected"},
        "web.county.per_person": {"zh": "人均", "en": "Per person"},
        "web.county.line": {"zh": "监测线", "en": "Line"},
        "web.county.gap": {"zh": "差额/人", "en": "Gap per person"},
        "web.county.prev": {"zh": "上一页", "en": "Previous"},
        "web.county.next": {"zh": "下一页", "en": "Next"},
        "web.county.page": {"zh": "第 {page} 页，共 {total} 条", "en": "Page {page} of {total} rows"},
        # products
        "web.county.products_title": {"zh": "产品月度销售 {period}", "en": "Products by month {period}"},
        "web.county.products_def": {
            "zh": "每月净销售额 = 当月付款订单的商品行实付 − 当月成功的退款（销售台账口径）；合计行等于销售台账。",
            "en": "Net sales per month = paid amount of lines of orders paid that month − refunds that "
            "succeeded that month (as the sales ledger); the total row equals the ledger's.",
        },
        "web.county.supplier": {"zh": "经营主体", "en": "Supplier"},
        "web.county.amount_unit": {"zh": "金额单位：元", "en": "amounts in yuan"},
    }
)

routes = web.RouteTableDef()
OVERVIEW_TABLES = ("monthly", "category", "cooperative", "channel", "product", "sales", "campaigns")
VIEWS = ("rollup", "units")


def _sees(scope: Scope) -> bool:
    return scope.role in (UserRole.ADMIN, UserRole.COUNTY)


def _nav(scope: Scope) -> list[NavItem]:
    return [NavItem("/county", t("web.county.menu"))] if _sees(scope) else []


NAV.insert(0, _nav)


def _scope(request: web.Request) -> Scope:
    scope = scope_of(request)
    if not _sees(scope):
        raise web.HTTPNotFound()
    return scope


def _now() -> datetime:
    return utcnow().astimezone(SHANGHAI)


def _period(request: web.Request) -> Period:
    """``period`` (year or month) or ``from``/``to``; default this year. 400 for anything else."""
    try:
        period = _period_param(request, default=str(_now().year))
    except (ValueError, OverflowError):
        raise BadParam("period", "not a date this calendar holds") from None
    if not (period.first_day.year >= 2000 and period.last_day.year <= 2100):
        raise BadParam("period", "years 2000 to 2100")
    return period


def _year(request: web.Request) -> int:
    return int_param(request, "year", _now().year, lo=2000, hi=2100)


def _format(request: web.Request) -> str | None:
    fmt = request.query.get("format")
    if not fmt:
        return None
    if fmt not in FORMATS:
        raise BadParam("format", "xlsx or csv")
    return fmt


def _period_query(period: Period) -> str:
    label = period.label
    if len(label) in (4, 7) and "~" not in label:
        return urlencode({"period": label})
    return urlencode({"from": period.first_day.isoformat(), "to": period.last_day.isoformat()})


def _subtitle(scope: Scope, label: str) -> str:
    where = t("web.county.scope_all") if scope.role == UserRole.ADMIN else t("web.county.scope_region")
    return f"{where} · {label} · {t('web.county.amount_unit')}"


def _base(request: web.Request, scope: Scope, tab: str) -> dict[str, Any]:
    now = _now()
    return {
        "tab": tab,
        "scope_label": t("web.county.scope_all") if scope.role == UserRole.ADMIN else t("web.county.scope_region"),
        "this_year": f"{now.year:04d}",
        "this_month": f"{now.year:04d}-{now.month:02d}",
        "q_period": request.query.get("period", ""),
        "q_from": request.query.get("from", ""),
        "q_to": request.query.get("to", ""),
    }


# -- the overview -------------------------------------------------------------------------------


def _driven_report(name: str, title: str, head: str, rows: list[qc.DrivenRow], total: qc.DrivenRow | None) -> Report:
    columns = [
        Column("label", head),
        Column("households", t("web.county.households"), "int"),
        Column("income", t("web.county.income"), "money"),
        Column("per_household", t("web.county.per_household"), "money"),
        Column("negative", t("web.county.negative"), "int"),
    ]

    def cells(r: qc.DrivenRow) -> dict[str, Any]:
        f = r.figures
        return {
            "label": r.label,
            "households": f.households,
            "income": f.income,
            "per_household": f.per_household,
            "negative": f.negative,
        }

    report = Report(name, title, columns, [cells(r) for r in rows], cells(total) if total else None)
    report.summary = [t("web.county.headline_def")]
    return report


def _overview_report(o: qc.Overview, table: str) -> Report:
    title = t("web.county.title", period=o.period.label)
    total = qc.DrivenRow("", t("web.county.period_total"), o.total)
    match table:
        case "monthly":
            return _driven_report(
                "county-monthly", f"{title} · {t('web.county.monthly')}", t("web.county.month"), o.monthly, total
            )
        case "category":
            return _driven_report(
                "county-category",
                f"{title} · {t('web.county.by_category')}",
                t("web.county.category"),
                o.by_category,
                total,
            )
        case "cooperative":
            return _driven_report(
                "county-cooperative",
                f"{title} · {t('web.county.by_cooperative')}",
                t("web.county.cooperative"),
                o.by_cooperative,
                total,
            )
        case "channel":
            return _driven_report(
                "county-channel",
                f"{title} · {t('web.county.by_channel')}",
                t("web.county.channel"),
                o.by_channel,
                total,
            )
        case "product":
            return _driven_report(
                "county-product",
                f"{title} · {t('web.county.by_product')}",
                t("web.county.product"),
                o.by_product,
                total,
            )
        case "sales":
            s = o.sales
            lines = [
                ("orders_paid", t("web.county.orders_paid"), s.orders_paid),
                ("paid_time_only", t("web.county.paid_time_only"), s.paid_time_only),
                ("shipping", t("web.county.shipping"), -s.shipping),
                ("adjustments", t("web.county.adjustments"), -s.order_adjustments),
                ("gross", t("web.county.gross"), s.gross),
                ("refunds", t("web.county.refunds"), -s.refunds),
                ("net", t("web.county.net"), s.net),
            ]
            rows = [{"line": label, "amount": fen} for _, label, fen in lines]
            rows += [
                {
                    "line": t("cert.line.certified"),
                    "amount": s.certified_gross,
                    "refunds": s.certified_refunds,
                    "net": s.certified_net,
                },
                {
                    "line": t("cert.line.uncertified"),
                    "amount": s.uncertified_gross,
                    "refunds": s.uncertified_refunds,
                    "net": s.uncertified_net,
                },
            ]
            rows += [
                {
                    "line": f"{t('web.county.sales_by_channel')}: {r.label}",
                    "amount": r.gross,
                    "refunds": r.refunds,
                    "net": r.net,
                }
                for r in s.by_channel
            ]
            report = Report(
                "county-sales",
                f"{title} · {t('web.county.sales')}",
                [
                    Column("line", t("web.county.sales")),
                    Column("amount", t("web.county.gross"), "money"),
                    Column("refunds", t("web.county.refunds"), "money"),
                    Column("net", t("web.county.net"), "money"),
                ],
                rows,
            )
            report.summary = [t("web.county.sales_def")]
            return report
    rows = [
        {"group": c.label, "kinds": "、".join(c.kinds), "units": c.units, "orders": c.orders, "executed": c.executed}
        for c in o.campaigns
    ]
    return Report(
        "county-campaigns",
        f"{title} · {t('web.county.campaigns')}",
        [
            Column("group", t("web.county.group")),
            Column("kinds", t("web.county.kinds")),
            Column("units", t("web.county.units"), "int"),
            Column("orders", t("web.county.orders"), "int"),
            Column("executed", t("web.county.executed"), "money"),
        ],
        rows,
        {
            "group": t("web.county.total"),
            "units": sum(c.units for c in o.campaigns),
            "orders": sum(c.orders for c in o.campaigns),
            "executed": sum(c.executed for c in o.campaigns),
        },
        [t("web.county.campaigns_def")],
    )


@routes.get("/county")
async def overview_page(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    period = _period(request)
    fmt = _format(request)
    table = choice_param(request, "table", OVERVIEW_TABLES, "monthly")
    async with request.app[ENGINE].connect() as conn:
        o = await qc.overview(conn, scope, period)
        tasks_card = await county_card(conn, scope, period.year, today())
        cert_card = None if fmt else await qcert.card(conn, scope, local_today())
        agreements = None if fmt else await agreements_card(conn, scope)
        planting = None if fmt else await planting_card(conn, scope, _now().date())
    if fmt:
        report = _overview_report(o, table)
        return export_response(report, fmt, report.title, _subtitle(scope, period.label))
    chart = {
        "months": [r.key for r in o.monthly],
        "income": [r.figures.income / 100 for r in o.monthly],
        "households": [r.figures.households for r in o.monthly],
        "income_label": t("web.county.income"),
        "households_label": t("web.county.households"),
        "categories": [{"name": r.label, "value": r.figures.income / 100} for r in o.by_category],
        "campaigns": {"labels": [c.label for c in o.campaigns], "values": [c.executed / 100 for c in o.campaigns]},
        "executed_label": t("web.county.executed"),
    }
    context = _base(request, scope, "overview") | {
        "o": o,
        "period": period,
        "pq": _period_query(period),
        "wan_total": wan_yuan(o.total.income),
        "drive_lines": qd.line_rows(o.lines) if o.lines else [],
        "drive_wan": wan_yuan(o.lines.enterprise.income) if o.lines else "",
        "months_income": sum(r.figures.income for r in o.monthly),
        "chart": chart,
        "title": t("web.county.title", period=period.label),
        "tasks_card": tasks_card,
        "cert_card": cert_card,
        "agreements": agreements,
        "planting": planting,
    }
    return render(request, "console/county/overview.html", context)


@routes.get("/api/v1/county/overview")
async def overview_api(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    period = _period(request)
    async with request.app[ENGINE].connect() as conn:
        o = await qc.overview(conn, scope, period)
    return web.json_response(qc.overview_json(o))


# -- units --------------------------------------------------------------------------------------


def _ranking_params(request: web.Request) -> tuple[int, str, bool]:
    year = _year(request)
    sort = choice_param(request, "sort", qc.UNIT_SORTS, "amount")
    view = choice_param(request, "view", VIEWS, "rollup")
    return year, sort, view == "rollup"


def _ranking_report(r: qc.UnitRanking) -> Report:
    def basis(u: qc.UnitFigures) -> str:
        return t(f"web.county.basis.{u.basis}") if u.basis else ""

    def cells(u: qc.UnitFigures) -> dict[str, Any]:
        return {
            "rank": u.rank,
            "code": u.code,
            "unit": u.name,
            "kind": u.kind,
            "parent": u.parent or "",
            "subunits": u.subunits,
            "staff": u.staff,
            "target": u.target,
            "executed": u.executed,
            "rate": u.rate,
            "purchases": u.purchases,
            "orders": u.orders,
            "buyers": u.buyers,
            "participation": u.participation,
            "basis": basis(u),
        }

    totals = cells(r.totals) | {"rank": t("web.county.total"), "participation": None, "basis": ""}
    title = t("web.county.units_title", year=r.year)
    return Report(
        "county-units",
        f"{title} · {t('web.county.sort.' + r.sort)} · {t('web.county.view.' + ('rollup' if r.rollup else 'units'))}",
        [
            Column("rank", t("web.county.rank"), "int"),
            Column("code", t("report.col.code")),
            Column("unit", t("web.county.unit")),
            Column("kind", t("web.county.kind")),
            Column("parent", t("web.county.parent")),
            Column("subunits", t("web.county.subunits"), "int"),
            Column("staff", t("web.county.staff"), "int"),
            Column("target", t("web.county.target"), "money"),
            Column("executed", t("web.county.executed"), "money"),
            Column("rate", t("web.county.rate"), "ratio"),
            Column("purchases", t("web.county.purchases"), "money"),
            Column("orders", t("web.county.orders"), "int"),
            Column("buyers", t("web.county.buyers"), "int"),
            Column("participation", t("web.county.participation"), "decimal"),
            Column("basis", t("web.county.basis")),
        ],
        [cells(u) for u in r.rows],
        totals,
        [t("web.county.participation_def")],
    )


@routes.get("/county/units")
async def units_page(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    year, sort, rollup = _ranking_params(request)
    fmt = _format(request)
    async with request.app[ENGINE].connect() as conn:
        ranking = await qc.unit_ranking(conn, scope, year, sort, rollup)
    if fmt:
        report = _ranking_report(ranking)
        return export_response(report, fmt, t("web.county.units_title", year=year), _subtitle(scope, str(year)))
    top = ranking.rows[:15]

    def value(u: qc.UnitFigures) -> float:
        match sort:
            case "orders":
                return float(u.orders)
            case "participation":
                p = u.participation
                return 0.0 if p is None else float(p * 100 if u.basis == "buyers" else p)
            case "rate":
                return 0.0 if u.rate is None else float(u.rate * 100)
        return u.executed / 100

    chart = {
        "labels": [u.name for u in reversed(top)],
        "values": [value(u) for u in reversed(top)],
        "label": t("web.county.sort." + sort),
        "money": sort == "amount",
        "percent": sort == "rate",
    }
    context = _base(request, scope, "units") | {
        "r": ranking,
        "year": year,
        "sort": sort,
        "view": "rollup" if rollup else "units",
        "sorts": qc.UNIT_SORTS,
        "views": VIEWS,
        "chart": chart,
        "top_n": len(top),
        "qs": urlencode({"year": year, "sort": sort, "view": "rollup" if rollup else "units"}),
    }
    return render(request, "console/county/units.html", context)


@routes.get("/api/v1/county/units")
async def units_api(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    year, sort, rollup = _ranking_params(request)
    async with request.app[ENGINE].connect() as conn:
        ranking = await qc.unit_ranking(conn, scope, year, sort, rollup)
    return web.json_response(qc.ranking_json(ranking))


# -- below the monitoring line ------------------------------------------------------------------


def _monitoring_report(m: qc.Monitoring) -> Report:
    return Report(
        "county-monitoring",
        t("web.county.monitoring_title", year=m.year),
        [
            Column("cooperative", t("web.county.cooperative")),
            Column("member_no", t("web.county.member_no")),
            Column("name", t("web.county.name")),
            Column("category", t("web.county.category")),
            Column("village", t("web.county.village")),
            Column("members", t("web.county.people"), "int"),
            Column("income", t("web.county.ytd"), "money"),
            Column("projected", t("web.county.projected"), "money"),
            Column("per_person", t("web.county.per_person"), "money"),
            Column("line", t("web.county.line"), "money"),
            Column("gap", t("web.county.gap"), "money"),
        ],
        [
            {
                "cooperative": r.cooperative,
                "member_no": r.member_no,
                "name": r.name,
                "category": r.category,
                "village": r.village,
                "members": r.members,
                "income": r.income,
                "projected": r.projected,
                "per_person": r.per_person,
                "line": r.line,
                "gap": r.gap,
            }
            for r in m.rows
        ],
        None,
        [_monitoring_definition(m)],
    )


def _monitoring_definition(m: qc.Monitoring) -> str:
    return t("web.county.monitoring_def", cutoff=m.cutoff.isoformat(), year_days=m.year_days, days=m.elapsed_days)


@routes.get("/county/monitoring")
async def monitoring_page(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    year = _year(request)
    fmt = _format(request)
    window = page_window(request, 50)
    async with request.app[ENGINE].connect() as conn:
        m = await qc.below_monitoring_line(conn, scope, year)
    if fmt:
        return export_response(
            _monitoring_report(m), fmt, t("web.county.monitoring_title", year=year), _subtitle(scope, str(year))
        )
    context = _base(request, scope, "monitoring") | {
        "m": m,
        "year": year,
        "rows": m.rows[window.offset : window.offset + window.limit],
        "window": window,
        "definition": _monitoring_definition(m),
    }
    return render(request, "console/county/monitoring.html", context)


@routes.get("/api/v1/county/monitoring")
async def monitoring_api(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    year = _year(request)
    fingerprint = f"monitoring:{year}"
    window = cursor_window(request, fingerprint)
    async with request.app[ENGINE].connect() as conn:
        m = await qc.below_monitoring_line(conn, scope, year)
    rows = m.rows[window.offset : window.offset + window.limit]
    data = qc.monitoring_json(m, rows) | {"next_cursor": next_cursor(window, len(m.rows), fingerprint)}
    return web.json_response(data)


# -- product x month ----------------------------------------------------------------------------


def _pivot_report(p: qc.Pivot) -> Report:
    def cells(r: qc.PivotRow) -> dict[str, Any]:
        return (
            {"product": r.product, "supplier": r.supplier}
            | {f"m:{m}": r.months.get(m, 0) for m in p.months}
            | {"gross": r.gross, "refunds": r.refunds, "net": r.net}
        )

    return Report(
        "county-products",
        t("web.county.products_title", period=p.period.label),
        [Column("product", t("web.county.product")), Column("supplier", t("web.county.supplier"))]
        + [Column(f"m:{m}", m, "money") for m in p.months]
        + [
            Column("gross", t("web.county.gross"), "money"),
            Column("refunds", t("web.county.refunds"), "money"),
            Column("net", t("web.county.net"), "money"),
        ],
        [cells(r) for r in p.rows] + [cells(p.certified), cells(p.uncertified)],
        cells(p.totals),
        [t("web.county.products_def")],
    )


@routes.get("/county/products")
async def products_page(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    period = _period(request)
    fmt = _format(request)
    async with request.app[ENGINE].connect() as conn:
        p = await qc.product_pivot(conn, scope, period)
    if fmt:
        return export_response(
            _pivot_report(p), fmt, t("web.county.products_title", period=period.label), _subtitle(scope, period.label)
        )
    context = _base(request, scope, "products") | {"p": p, "period": period, "pq": _period_query(period)}
    return render(request, "console/county/products.html", context)


@routes.get("/api/v1/county/products")
async def products_api(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    period = _period(request)
    async with request.app[ENGINE].connect() as conn:
        p = await qc.product_pivot(conn, scope, period)
    return web.json_response(qc.pivot_json(p))


# -- unsold (滞销) early warning ------------------------------------------------------------------

MESSAGES.update(
    {
        "web.county.tab.unsold": {"zh": "滞销预警", "en": "Unsold stock"},
        "web.unsold.title": {"zh": "滞销预警", "en": "Unsold stock alerts"},
        "web.unsold.coop_title": {"zh": "{name} · 滞销预警", "en": "{name} · unsold stock alerts"},
        "web.unsold.count": {
            "zh": "{n} 个批次需要处理：临期 {at_risk} 个，已过保质期 {expired} 个；预计剩余货值 {value}",
            "en": "{n} lots to act on: {at_risk} at risk, {expired} past shelf life; value left about {value}",
        },
        "web.unsold.lot": {"zh": "批次", "en": "Lot"},
        "web.unsold.received": {"zh": "收购日", "en": "Received"},
        "web.unsold.since": {"zh": "预警开启", "en": "Alert since"},
        "web.unsold.channels": {"zh": "可承接渠道", "en": "Channels that could take it"},
        "web.unsold.no_channels": {"zh": "近期没有渠道卖过本规格或同品类", "en": "No channel sold it lately"},
        "web.unsold.clear": {
            "zh": "按近期速度约 {n} 天卖完（含更早批次）",
            "en": "about {n} days to sell at the recent rate",
        },
        "web.unsold.no_sales": {"zh": "近 {n} 天没有销量", "en": "no sales in {n} days"},
    }
)


def _unsold_context(alerts: list[qu.UnsoldAlert]) -> dict[str, Any]:
    at_risk = sum(1 for a in alerts if a.status == "at_risk")
    return {
        "alerts": alerts,
        "rule": qu.rule_lines(load_rule()),
        "channel_text": qu.channel_text,
        "count_line": t(
            "web.unsold.count",
            n=len(alerts),
            at_risk=at_risk,
            expired=len(alerts) - at_risk,
            value=format_yuan(sum(int(a.detail["value_fen"]) for a in alerts)),
        ),
    }


@routes.get("/county/unsold")
async def unsold_page(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    async with request.app[ENGINE].connect() as conn:
        alerts = await qu.unsold_alerts(conn, scope)
    context = _base(request, scope, "unsold") | _unsold_context(alerts) | {"title": t("web.unsold.title")}
    return render(request, "console/county/unsold.html", context)


@routes.get("/api/v1/county/unsold")
async def unsold_api(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    async with request.app[ENGINE].connect() as conn:
        alerts = await qu.unsold_alerts(conn, scope)
    return web.json_response({"rule": qu.rule_json(load_rule()), "items": [qu.alert_json(a) for a in alerts]})


@routes.get("/cooperatives/{id}/unsold")
async def cooperative_unsold_page(request: web.Request) -> web.StreamResponse:
    """A cooperative's own unsold lots (the cooperative; the county and the admin over it)."""
    scope = scope_of(request)
    coop_id = id_param(request)
    async with request.app[ENGINE].connect() as conn:
        found = await qu.cooperative_unsold(conn, scope, coop_id)
    if found is None:
        raise web.HTTPNotFound()
    name, alerts = found
    context = _unsold_context(alerts) | {
        "tab": None,
        "title": t("web.unsold.coop_title", name=name),
        "scope_label": name,
    }
    return render(request, "console/county/unsold.html", context)


def setup(app: web.Application) -> None:
    app.add_routes(routes)


# -- OpenAPI ------------------------------------------------------------------------------------

_INT = {"type": "integer"}
_FEN = {"type": "integer", "description": "fen"}
_FEN_OR_NULL = {"type": ["integer", "null"], "description": "fen"}
_DEC_OR_NULL = {"type": ["string", "null"], "description": "a decimal as a string"}
_PERIOD_PARAMS = [
    {
        "name": "period",
        "in": "query",
        "required": False,
        "description": "A year (2026) or a month (2026-10), Asia/Shanghai; default this year",
        "schema": {"type": "string"},
    },
    {"name": "from", "in": "query", "required": False, "schema": {"type": "string", "format": "date"}},
    {"name": "to", "in": "query", "required": False, "schema": {"type": "string", "format": "date"}},
]
_YEAR_PARAM = {
    "name": "year",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 2000, "maximum": 2100},
}
_PERIOD_OBJ = {
    "type": "object",
    "required": ["label", "from", "to"],
    "properties": {
        "label": {"type": "string"},
        "from": {"type": "string", "format": "date"},
        "to": {"type": "string", "format": "date"},
    },
}
_DRIVEN = {
    "type": "object",
    "required": ["key", "label", "households", "income_fen", "per_household_fen", "negative_households"],
    "properties": {
        "key": {"type": "string"},
        "label": {"type": "string"},
        "households": _INT,
        "income_fen": _FEN,
        "per_household_fen": _FEN_OR_NULL,
        "negative_households": _INT,
    },
}
_UNIT_PROPS: dict[str, Any] = {
    "id": _INT,
    "code": {"type": "string"},
    "name": {"type": "string"},
    "kind": {"type": "string"},
    "parent_id": {"type": ["integer", "null"]},
    "subunits": _INT,
    "rank": {"type": ["integer", "null"]},
    "staff": {"type": ["integer", "null"]},
    "target_fen": _FEN_OR_NULL,
    "executed_fen": _FEN,
    "rate": _DEC_OR_NULL,
    "purchases_fen": _FEN,
    "orders": _INT,
    "buyers": _INT,
    "orders_without_buyer": _INT,
    "participation": _DEC_OR_NULL,
    "participation_basis": {"type": ["string", "null"], "enum": ["buyers", "orders", None]},
}
_PIVOT_ROW = {
    "type": "object",
    "required": ["product_id", "product", "supplier", "months", "gross_fen", "refunds_fen", "net_fen"],
    "properties": {
        "product_id": {"type": ["integer", "null"]},
        "product": {"type": "string"},
        "supplier": {"type": "string"},
        "months": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["month", "net_fen"],
                "properties": {"month": {"type": "string"}, "net_fen": _FEN},
            },
        },
        "gross_fen": _FEN,
        "refunds_fen": _FEN,
        "net_fen": _FEN,
    },
}
_UNSOLD_CHANNEL = {
    "type": "object",
    "required": ["kind", "id", "name", "sku_units", "category_units", "days", "reason"],
    "properties": {
        "kind": {"type": "string", "enum": list(qu.CHANNEL_KINDS)},
        "id": _INT,
        "name": {"type": "string"},
        "sku_units": {"type": "integer", "description": "units of this SKU sold or bought in the last `days` days"},
        "category_units": {"type": "integer", "description": "units of the product category, same days"},
        "days": _INT,
        "reason": {"type": "string"},
    },
}
_UNSOLD_ITEM_PROPS: dict[str, Any] = {
    "id": _INT,
    "severity": {"type": "string", "enum": ["warning", "error"]},
    "status": {"type": "string", "enum": ["at_risk", "expired"]},
    "since": {"type": "string", "format": "date-time"},
    "message": {"type": "string"},
    "lot_id": _INT,
    "lot": {"type": "string"},
    "sku": {"type": "string"},
    "product": {"type": "string"},
    "category": {"type": "string"},
    "owner": {"type": "string"},
    "cooperative_id": {"type": ["integer", "null"]},
    "received_on": {"type": "string", "format": "date"},
    "shelf_days": _INT,
    "expires_on": {"type": "string", "format": "date"},
    "days_left": {"type": "integer", "description": "negative: days past the end of shelf life"},
    "quantity": _INT,
    "remaining": _INT,
    "ahead": {"type": "integer", "description": "units of the SKU's older lots still in stock"},
    "sold_in_window": _INT,
    "window_days": _INT,
    "left_at_end": _INT,
    "days_to_clear": {"type": ["integer", "null"]},
    "value_fen": _FEN,
    "channels": {"type": "array", "items": _UNSOLD_CHANNEL},
}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "CountyUnsold": {
        "type": "object",
        "required": ["rule", "items"],
        "properties": {
            "rule": {
                "type": "object",
                "required": ["parameters", "explanation"],
                "properties": {
                    "parameters": {"type": "object"},
                    "explanation": {"type": "array", "items": {"type": "string"}},
                },
            },
            "items": {
                "type": "array",
                "items": {"type": "object", "required": list(_UNSOLD_ITEM_PROPS), "properties": _UNSOLD_ITEM_PROPS},
            },
        },
    },
    "CountyOverview": {
        "type": "object",
        "required": ["period", "households_driven", "income_fen", "monthly", "by_category", "sales", "campaigns"],
        "properties": {
            "period": _PERIOD_OBJ,
            "households_driven": {"type": "integer", "description": "distinct households with net income > 0"},
            "income_fen": {"type": "integer", "description": "net of every household, negatives included"},
            "per_household_fen": _FEN_OR_NULL,
            "negative_households": _INT,
            "cooperatives": _INT,
            "member_households": _INT,
            "monthly": {"type": "array", "items": _DRIVEN},
            "by_category": {"type": "array", "items": _DRIVEN},
            "by_cooperative": {"type": "array", "items": _DRIVEN},
            "by_channel": {"type": "array", "items": _DRIVEN},
            "by_product": {"type": "array", "items": _DRIVEN},
            "lines": {
                "type": ["object", "null"],
                "description": "the cooperative members' line, the enterprise-driven line and the distinct "
                "families both reach (a family on both lines counted once)",
            },
            "sales": {
                "type": "object",
                "required": [
                    "orders",
                    "orders_paid_fen",
                    "shipping_fen",
                    "order_adjustments_fen",
                    "gross_fen",
                    "refunds_fen",
                    "net_fen",
                ],
                "properties": {
                    "orders": _INT,
                    "orders_paid_fen": _FEN,
                    "paid_time_only_fen": _FEN,
                    "shipping_fen": _FEN,
                    "order_adjustments_fen": _FEN,
                    "gross_fen": _FEN,
                    "refunds_fen": _FEN,
                    "net_fen": _FEN,
                    "certified_gross_fen": _FEN,
                    "certified_refunds_fen": _FEN,
                    "certified_net_fen": _FEN,
                    "uncertified_net_fen": _FEN,
                    "by_channel": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["key", "label", "gross_fen", "refunds_fen", "net_fen"],
                            "properties": {
                                "key": {"type": "string"},
                                "label": {"type": "string"},
                                "gross_fen": _FEN,
                                "refunds_fen": _FEN,
                                "net_fen": _FEN,
                                "certified_net_fen": _FEN,
                                "uncertified_net_fen": _FEN,
                            },
                        },
                    },
                },
            },
            "campaigns": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["code", "label", "kinds", "units", "orders", "executed_fen"],
                    "properties": {
                        "code": {"type": "string"},
                        "label": {"type": "string"},
                        "kinds": {"type": "array", "items": {"type": "string"}},
                        "units": _INT,
                        "orders": _INT,
                        "executed_fen": _FEN,
                    },
                },
            },
        },
    },
    "CountyUnits": {
        "type": "object",
        "required": ["year", "sort", "rollup", "items", "totals"],
        "properties": {
            "year": _INT,
            "sort": {"type": "string", "enum": list(qc.UNIT_SORTS)},
            "rollup": {"type": "boolean"},
            "items": {
                "type": "array",
                "items": {"type": "object", "required": list(_UNIT_PROPS), "properties": _UNIT_PROPS},
            },
            "totals": {
                "type": "object",
                "properties": {
                    k: v for k, v in _UNIT_PROPS.items() if k not in ("id", "code", "kind", "parent_id", "rank")
                },
            },
        },
    },
    "CountyMonitoring": {
        "type": "object",
        "required": [
            "year",
            "cutoff",
            "elapsed_days",
            "year_days",
            "households_checked",
            "below",
            "lines",
            "items",
            "next_cursor",
        ],
        "properties": {
            "year": _INT,
            "cutoff": {"type": "string", "format": "date"},
            "elapsed_days": _INT,
            "year_days": _INT,
            "households_checked": _INT,
            "below": _INT,
            "lines": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["region", "line_fen", "default"],
                    "properties": {"region": {"type": "string"}, "line_fen": _FEN, "default": {"type": "boolean"}},
                },
            },
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["household_id", "cooperative", "member_no", "name", "per_person_fen", "line_fen"],
                    "properties": {
                        "household_id": _INT,
                        "cooperative": {"type": "string"},
                        "member_no": {"type": "string"},
                        "name": {"type": "string", "description": "masked unless the household's own cooperative"},
                        "category": {"type": "string"},
                        "village": {"type": "string"},
                        "members": _INT,
                        "income_fen": _FEN,
                        "projected_fen": _FEN,
                        "per_person_fen": _FEN,
                        "line_fen": _FEN,
                        "gap_fen": _FEN,
                    },
                },
            },
            "next_cursor": {"type": ["string", "null"]},
        },
    },
    "CountyProducts": {
        "type": "object",
        "required": ["period", "months", "items", "totals"],
        "properties": {
            "period": _PERIOD_OBJ,
            "months": {"type": "array", "items": {"type": "string"}},
            "items": {"type": "array", "items": _PIVOT_ROW},
            "totals": _PIVOT_ROW,
            "certified": _PIVOT_ROW,
            "uncertified": _PIVOT_ROW,
        },
    },
}


def _op(op_id: str, summary: str, schema: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "operationId": op_id,
            "tags": ["county"],
            "parameters": params,
            "responses": json_ok({"$ref": f"#/components/schemas/{schema}"}) | error_responses(400, 401, 404),
        }
    }


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/county/overview": _op(
        "countyOverview",
        "Households driven and income (by month, category, cooperative, channel, product), sales and campaign groups",
        "CountyOverview",
        _PERIOD_PARAMS,
    ),
    "/api/v1/county/units": _op(
        "countyUnits",
        "Purchasing units ranked by amount, orders, staff participation or rate, rolled up or each",
        "CountyUnits",
        [
            _YEAR_PARAM,
            {
                "name": "sort",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": list(qc.UNIT_SORTS)},
            },
            {"name": "view", "in": "query", "required": False, "schema": {"type": "string", "enum": list(VIEWS)}},
        ],
    ),
    "/api/v1/county/monitoring": _op(
        "countyMonitoring",
        "Member households whose projected yearly income per person is below the monitoring line",
        "CountyMonitoring",
        [
            _YEAR_PARAM,
            {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": 200},
            },
        ],
    ),
    "/api/v1/county/products": _op(
        "countyProducts", "Net sales per product and month", "CountyProducts", _PERIOD_PARAMS
    ),
    "/api/v1/county/unsold": _op(
        "countyUnsold",
        "Open unsold (滞销) alerts on the region's lots, with the rule, the figures and the channels",
        "CountyUnsold",
        [],
    ),
}
