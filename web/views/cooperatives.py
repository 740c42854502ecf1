"""Cooperative pages (收益分配): income dashboard, households, statements, drill-down to the ledger,
member accounts, the surplus preview and policies; and their JSON API.

Every view reads the scope, parses its parameters, calls one query function of
``bangfu.queries`` and renders (or exports, or answers JSON). Something outside the scope is a
404, like something that does not exist.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bangfu.enums import ChannelType, UserRole
from bangfu.i18n import MESSAGES, current_lang, t
from bangfu.queries import cooperatives as qc
from bangfu.queries import households as qh
from bangfu.queries import ledger as ql
from bangfu.reports.base import SHANGHAI, Column, Period, Report, parse_period
from bangfu.scope import Scope
from web.api import error_responses, json_ok
from web.errors import BadParam
from web.export import FORMATS, export_response
from web.keys import ENGINE, scope_of
from web.paging import (
    choice_param,
    cursor_window,
    id_param,
    int_param,
    next_cursor,
    page_window,
    sort_param,
)
from web.paging import period_param as _period_param
from web.render import NAV, NavItem, render

MESSAGES.update(
    {
        # menu and page titles
        "web.coop.menu.list": {"zh": "合作社", "en": "Cooperatives"},
        "web.coop.menu.dashboard": {"zh": "收益概览", "en": "Income"},
        "web.coop.menu.households": {"zh": "农户", "en": "Households"},
        "web.coop.menu.members": {"zh": "成员账户", "en": "Member accounts"},
        "web.coop.menu.surplus": {"zh": "盈余分配", "en": "Surplus"},
        "web.coop.list_title": {"zh": "合作社收益 {period}", "en": "Cooperatives' income {period}"},
        "web.coop.dashboard_title": {"zh": "{name} 收益概览 {period}", "en": "{name}: income {period}"},
        "web.coop.households_title": {"zh": "{name} 农户收入 {period}", "en": "{name}: household income {period}"},
        "web.coop.statement_title": {
            "zh": "农户收益对账单 {member_no} {period}",
            "en": "Household statement {member_no} {period}",
        },
        "web.coop.journals_title": {
            "zh": "农户 {member_no} 的记账凭证 {period}",
            "en": "Journals of household {member_no} {period}",
        },
        "web.coop.journal_title": {"zh": "记账凭证 #{id}", "en": "Journal #{id}"},
        "web.coop.line_title": {"zh": "订单行 #{id}", "en": "Order line #{id}"},
        "web.coop.members_title": {"zh": "{name} 成员账户 {year} 年", "en": "{name}: member accounts {year}"},
        "web.coop.surplus_title": {"zh": "{name} {year} 年盈余分配预览", "en": "{name}: {year} surplus preview"},
        "web.coop.policy_title": {"zh": "收益分配方案 第 {version} 版", "en": "Split policy, version {version}"},
        # period filter
        "web.coop.period": {"zh": "期间", "en": "Period"},
        "web.coop.period_hint": {"zh": "月 2026-10 或 年 2026", "en": "month 2026-10 or year 2026"},
        "web.coop.from": {"zh": "起始日", "en": "From"},
        "web.coop.to": {"zh": "截止日", "en": "To"},
        "web.coop.show": {"zh": "查看", "en": "Show"},
        "web.coop.this_month": {"zh": "本月", "en": "This month"},
        "web.coop.last_month": {"zh": "上月", "en": "Last month"},
        "web.coop.this_year": {"zh": "本年", "en": "This year"},
        "web.coop.search": {"zh": "搜索", "en": "Search"},
        "web.coop.search_hint": {"zh": "姓名、成员编号或村", "en": "name, member no. or village"},
        "web.coop.search_hint_masked": {"zh": "成员编号或村", "en": "member no. or village"},
        "web.coop.year": {"zh": "年度", "en": "Year"},
        # figures
        "web.coop.sales": {"zh": "销售额", "en": "Sales"},
        "web.coop.refunds": {"zh": "退款", "en": "Refunds"},
        "web.coop.fees": {"zh": "费用", "en": "Fees"},
        "web.coop.net": {"zh": "净收入", "en": "Net"},
        "web.coop.retention": {"zh": "合作社留存", "en": "Cooperative retention"},
        "web.coop.collective": {"zh": "村集体分成", "en": "Village collective"},
        "web.coop.bonus_pool": {"zh": "帮扶奖励", "en": "Priority bonus"},
        "web.coop.paid_households": {"zh": "农户收入", "en": "Paid to households"},
        "web.coop.households_share": {"zh": "销售分给农户", "en": "Households' share of sales"},
        "web.coop.reached": {"zh": "带动农户", "en": "Households reached"},
        "web.coop.reached_unit": {"zh": "{n} 户", "en": "{n}"},
        "web.coop.reached_note": {
            "zh": "收入大于 0 的不同农户数；各月户数不能相加",
            "en": "distinct households with income > 0; monthly counts do not add up",
        },
        "web.coop.lines": {"zh": "订单行", "en": "Lines"},
        "web.coop.guaranteed": {"zh": "保底收购价", "en": "Guaranteed price"},
        "web.coop.rebate": {"zh": "二次返利", "en": "Rebate"},
        "web.coop.bonus": {"zh": "帮扶奖励", "en": "Bonus"},
        "web.coop.refunds_reversed": {"zh": "退款冲回", "en": "Refunds reversed"},
        "web.coop.surplus_returned": {"zh": "盈余返还", "en": "Surplus returned"},
        "web.coop.income": {"zh": "收入合计", "en": "Income"},
        "web.coop.platform_fee": {"zh": "平台服务费", "en": "Platform fee"},
        "web.coop.payment_fee": {"zh": "支付手续费", "en": "Payment fee"},
        "web.coop.logistics": {"zh": "物流包装费", "en": "Logistics and packing"},
        "web.coop.commission": {"zh": "主播佣金", "en": "Host commission"},
        "web.coop.other": {"zh": "其他", "en": "Other"},
        "web.coop.total": {"zh": "合计", "en": "Total"},
        "web.coop.waterfall": {"zh": "从销售到农户", "en": "From sales to households"},
        "web.coop.waterfall_note": {
            "zh": "本社批次售出订单行的全部凭证分录按科目汇总："
            "销售额 − 退款 − 费用 = 净收入 = 留存 + 村集体 + 分给农户。",
            "en": "Every leg of the journals of lines sold from this cooperative's lots, by account: "
            "sales − refunds − fees = net = retention + collective + households.",
        },
        "web.coop.reconcile": {"zh": "与农户收入报表的差异", "en": "What separates it from household income"},
        "web.coop.to_non_members": {
            "zh": "减：分给非本社成员（第41条单独核算）",
            "en": "less: to non-members (art. 41)",
        },
        "web.coop.from_other": {
            "zh": "加：成员在其他合作社批次中的收入",
            "en": "plus: members' income from other cooperatives' lots",
        },
        "web.coop.plus_surplus": {"zh": "加：年终盈余返还", "en": "plus: year-end surplus returned"},
        "web.coop.equals_report": {
            "zh": "= 农户收入（与“农户收入明细”报表一致）",
            "en": "= paid to households (the household-income report)",
        },
        "web.coop.trend": {"zh": "逐月趋势", "en": "Monthly trend"},
        "web.coop.by_product": {"zh": "按商品", "en": "By product"},
        "web.coop.by_lot": {"zh": "按收购批次", "en": "By supply lot"},
        "web.coop.by_lot_note": {
            "zh": "每个订单行按各批次扣减件数分摊（最大余额法），合计与上表一致。",
            "en": "Each line is apportioned over its lots by units drawn (largest remainder); totals match.",
        },
        "web.coop.by_channel": {"zh": "按渠道", "en": "By channel"},
        "web.coop.by_session": {"zh": "按直播场次", "en": "By live session"},
        "web.coop.no_session": {"zh": "非直播（未归属场次）", "en": "Not from a live session"},
        "web.coop.no_lot": {"zh": "未关联批次", "en": "No lot"},
        "web.coop.item": {"zh": "项目", "en": "Item"},
        "web.coop.amount": {"zh": "金额", "en": "Amount"},
        "web.coop.name": {"zh": "名称", "en": "Name"},
        "web.coop.detail": {"zh": "说明", "en": "Detail"},
        "web.coop.empty": {"zh": "本期暂无数据。", "en": "Nothing in this period."},
        "web.coop.export": {"zh": "导出", "en": "Export"},
        "web.coop.print": {"zh": "打印", "en": "Print"},
        "web.coop.prev": {"zh": "上一页", "en": "Previous"},
        "web.coop.next": {"zh": "下一页", "en": "Next"},
        "web.coop.page": {"zh": "第 {page} 页，共 {total} 条", "en": "Page {page}, {total} rows"},
        "web.coop.county": {"zh": "县区", "en": "County"},
        "web.coop.members_count": {"zh": "成员户数", "en": "Members"},
        "web.coop.amount_unit": {"zh": "金额单位：元", "en": "Amounts in yuan"},
        # households
        "web.coop.member_no": {"zh": "成员编号", "en": "Member no."},
        "web.coop.head": {"zh": "户主", "en": "Head"},
        "web.coop.category": {"zh": "类别", "en": "Category"},
        "web.coop.village": {"zh": "村", "en": "Village"},
        "web.coop.people": {"zh": "家庭人口", "en": "People"},
        "web.coop.joined": {"zh": "入社日期", "en": "Joined"},
        "web.coop.cooperative": {"zh": "合作社", "en": "Cooperative"},
        "web.coop.matched": {"zh": "符合条件 {n} 户，收入合计 {amount}", "en": "{n} households, income {amount}"},
        "web.coop.masked_note": {
            "zh": "户主姓名仅对本合作社完整显示；身份证号不显示。",
            "en": "Names are shown in full only to their own cooperative; ID numbers are never shown.",
        },
        "web.coop.month": {"zh": "月份", "en": "Month"},
        "web.coop.product": {"zh": "商品", "en": "Product"},
        "web.coop.surplus_row": {"zh": "年终盈余返还", "en": "Year-end surplus"},
        "web.coop.journals": {"zh": "凭证", "en": "Journals"},
        "web.coop.journals_link": {"zh": "查看凭证", "en": "Journals"},
        "web.coop.statement": {"zh": "对账单", "en": "Statement"},
        "web.coop.statement_note": {
            "zh": "收入 = 保底收购价 + 二次返利 + 帮扶奖励 + 退款冲回（负数）+ 盈余返还；"
            "按凭证发生时间（北京时间）归月。",
            "en": "Income = guaranteed price + rebate + bonus + refunds reversed (negative) + surplus; "
            "by the journal's date (Beijing time).",
        },
        "web.coop.by_month": {"zh": "按月", "en": "By month"},
        # journals and lines
        "web.coop.kind": {"zh": "类型", "en": "Kind"},
        "web.coop.kind.sale": {"zh": "销售", "en": "Sale"},
        "web.coop.kind.refund": {"zh": "退款冲回", "en": "Refund"},
        "web.coop.kind.true_up": {"zh": "调整（账单到达等）", "en": "True-up"},
        "web.coop.kind.surplus": {"zh": "盈余返还", "en": "Surplus"},
        "web.coop.kind.settlement": {"zh": "结算", "en": "Settlement"},
        "web.coop.kind.adjustment": {"zh": "调整", "en": "Adjustment"},
        "web.coop.occurred": {"zh": "发生时间", "en": "Occurred"},
        "web.coop.posted": {"zh": "入账时间", "en": "Posted"},
        "web.coop.source": {"zh": "来源事件", "en": "Source event"},
        "web.coop.memo": {"zh": "摘要", "en": "Memo"},
        "web.coop.account": {"zh": "科目", "en": "Account"},
        "web.coop.owner": {"zh": "对象", "en": "Whose"},
        "web.coop.debit": {"zh": "借方", "en": "Debit"},
        "web.coop.credit": {"zh": "贷方", "en": "Credit"},
        "web.coop.household_amount": {"zh": "本户金额", "en": "This household"},
        "web.coop.balanced": {"zh": "借贷平衡", "en": "Balanced"},
        "web.coop.order_line": {"zh": "订单行", "en": "Order line"},
        "web.coop.order": {"zh": "订单号", "en": "Order"},
        "web.coop.shop": {"zh": "店铺", "en": "Shop"},
        "web.coop.platform": {"zh": "平台", "en": "Platform"},
        "web.coop.channel": {"zh": "渠道类型", "en": "Channel"},
        "web.coop.status": {"zh": "状态", "en": "Status"},
        "web.coop.paid_at": {"zh": "付款时间", "en": "Paid at"},
        "web.coop.title": {"zh": "商品标题", "en": "Title"},
        "web.coop.sku": {"zh": "规格", "en": "SKU"},
        "web.coop.quantity": {"zh": "数量", "en": "Quantity"},
        "web.coop.unit_price": {"zh": "单价", "en": "Unit price"},
        "web.coop.paid": {"zh": "实付", "en": "Paid"},
        "web.coop.refund_state": {"zh": "退款状态", "en": "Refund state"},
        "web.coop.posting_status": {"zh": "入账状态", "en": "Posting"},
        "web.coop.session": {"zh": "直播场次", "en": "Live session"},
        "web.coop.host": {"zh": "主播", "en": "Host"},
        "web.coop.confidence": {"zh": "归属依据", "en": "Attribution"},
        "web.coop.confidence.exact": {"zh": "确定", "en": "exact"},
        "web.coop.confidence.link": {"zh": "专属链接", "en": "link"},
        "web.coop.confidence.inferred": {"zh": "推断", "en": "inferred"},
        "web.coop.confidence.none": {"zh": "无", "en": "none"},
        "web.coop.policy": {"zh": "分配方案", "en": "Split policy"},
        "web.coop.policy_version": {"zh": "第 {version} 版", "en": "version {version}"},
        "web.coop.policy_in_force": {
            "zh": "按付款日（北京时间）当天有效的方案版本分账",
            "en": "split under the version in force on the payment day (Beijing time)",
        },
        "web.coop.lot_draws": {"zh": "扣减批次", "en": "Lots drawn"},
        "web.coop.lot": {"zh": "批次", "en": "Lot"},
        "web.coop.received": {"zh": "入库日期", "en": "Received"},
        "web.coop.units": {"zh": "扣减件数", "en": "Units drawn"},
        "web.coop.returned": {"zh": "退回件数", "en": "Units returned"},
        "web.coop.delivered": {"zh": "交售数量", "en": "Delivered"},
        "web.coop.grade": {"zh": "等级", "en": "Grade"},
        "web.coop.guaranteed_price": {"zh": "保底价/件", "en": "Guaranteed / unit"},
        "web.coop.refund_list": {"zh": "退款", "en": "Refunds"},
        "web.coop.refund_id": {"zh": "退款单号", "en": "Refund"},
        "web.coop.line_journals": {"zh": "本行凭证", "en": "This line's journals"},
        "web.coop.receivable_leg": {"zh": "平台应收", "en": "Receivable"},
        "web.coop.none": {"zh": "无", "en": "None"},
        # account roles (labels for ledger accounts; the codes are never shown)
        "web.coop.account.receivable": {"zh": "平台应收", "en": "Platform receivable"},
        "web.coop.account.platform_fee": {"zh": "平台服务费", "en": "Platform fee"},
        "web.coop.account.payment_fee": {"zh": "支付手续费", "en": "Payment fee"},
        "web.coop.account.logistics": {"zh": "物流包装费", "en": "Logistics and packing"},
        "web.coop.account.fee": {"zh": "其他费用", "en": "Other fee"},
        "web.coop.account.commission": {"zh": "应付主播佣金", "en": "Host commission payable"},
        "web.coop.account.retention": {"zh": "合作社留存", "en": "Cooperative retention"},
        "web.coop.account.collective": {"zh": "村集体分成", "en": "Village collective share"},
        "web.coop.account.guaranteed": {"zh": "保底收购价（收回预付）", "en": "Guaranteed price (advance recovered)"},
        "web.coop.account.rebate": {"zh": "农户二次返利", "en": "Household rebate"},
        "web.coop.account.bonus": {"zh": "农户帮扶奖励", "en": "Household priority bonus"},
        "web.coop.account.supplier": {"zh": "应付经营主体", "en": "Supplier payable"},
        "web.coop.account.other": {"zh": "其他科目", "en": "Other account"},
        # member accounts and surplus
        "web.coop.members_note": {
            "zh": "《农民专业合作社法》第43条：成员账户记载出资额、公积金份额、补助量化份额与交易量（额）；"
            "交易量取本年度销售入账（不含帮扶奖励）。",
            "en": "Art. 43: each member account records capital, reserve share, subsidy share and "
            "transaction volume (this year's sales credited, bonus excluded).",
        },
        "web.coop.capital": {"zh": "出资额", "en": "Capital"},
        "web.coop.reserve_share": {"zh": "公积金份额", "en": "Reserve share"},
        "web.coop.subsidy_share": {"zh": "补助量化份额", "en": "Subsidy share"},
        "web.coop.volume": {"zh": "交易量（额）", "en": "Transaction volume"},
        "web.coop.patronage": {"zh": "按交易量返还", "en": "By transaction volume"},
        "web.coop.by_shares": {"zh": "按出资与份额返还", "en": "By capital and shares"},
        "web.coop.distributable": {"zh": "可分配盈余", "en": "Distributable surplus"},
        "web.coop.patronage_ratio": {"zh": "按交易量返还比例", "en": "Returned by volume"},
        "web.coop.non_member_volume": {"zh": "非成员交易额（单独核算）", "en": "Non-member volume (separate)"},
        "web.coop.surplus_note": {
            "zh": "只读预览，不会入账。第44条：可分配盈余按交易量返还不低于60%，"
            "其余按出资额、公积金份额和补助量化份额分配；第40条：分配方案须在成员大会召开15日前置备。",
            "en": "Read-only preview, nothing is posted. Art. 44: at least 60% returned by transaction volume, "
            "the rest by capital, reserve and subsidy shares; art. 40: the plan is on file 15 days before "
            "the general meeting.",
        },
        "web.coop.surplus_done": {
            "zh": "{year} 年盈余已于 {date} 分配入账，以下为已入账方案。",
            "en": "The {year} surplus was distributed on {date}; this is the plan posted.",
        },
        "web.coop.surplus_error": {"zh": "暂不能分配：{reason}", "en": "Cannot distribute: {reason}"},
        "web.coop.shares_basis_volume": {
            "zh": "成员均无出资与份额，其余部分也按交易量分配。",
            "en": "No member has capital or shares, so the rest also goes by volume.",
        },
        "web.coop.effective_from": {"zh": "生效日期", "en": "Effective from"},
        "web.coop.note": {"zh": "备注", "en": "Note"},
        "web.coop.rule.retention_bp": {"zh": "合作社留存比例", "en": "Cooperative retention"},
        "web.coop.rule.collective_bp": {"zh": "村集体分成比例", "en": "Village collective share"},
        "web.coop.rule.priority_bonus_bp": {"zh": "脱贫户/监测户帮扶奖励比例", "en": "Priority bonus"},
        "web.coop.rule.patronage_return_bp": {"zh": "盈余按交易量返还比例", "en": "Surplus returned by volume"},
        "web.coop.rule.priority_categories": {"zh": "享受奖励的农户类别", "en": "Bonus goes to"},
        "web.coop.rule.basis": {"zh": "分配依据", "en": "Split basis"},
        "web.coop.rule.leftover_to": {"zh": "尾差归属", "en": "Leftover fen go to"},
        "web.coop.rule.grade_coefficients": {"zh": "等级系数", "en": "Grade coefficients"},
        "web.coop.rule.estimates_bp": {"zh": "账单到达前的费用预估", "en": "Fee estimates before the bill"},
        "web.coop.rule.allow_negative_rebate": {"zh": "允许负返利", "en": "Negative rebate allowed"},
        "web.coop.basis.quantity": {"zh": "交售数量", "en": "quantity"},
        "web.coop.basis.weight": {"zh": "交售重量", "en": "weight"},
        "web.coop.basis.value": {"zh": "保底价值", "en": "guaranteed value"},
        "web.coop.leftover.cooperative": {"zh": "合作社", "en": "the cooperative"},
        "web.coop.leftover.collective": {"zh": "村集体", "en": "the village collective"},
        "web.coop.yes": {"zh": "是", "en": "yes"},
        "web.coop.no": {"zh": "否", "en": "no"},
        "web.coop.versions": {"zh": "全部版本", "en": "All versions"},
        "web.coop.read_only": {"zh": "只读", "en": "read only"},
        # Every channel type, named as the reports name it (offline channels included).
        **{f"web.coop.channel.{c.value}": MESSAGES[f"report.channel.{c.value}"] for c in ChannelType},
    }
)

PERIOD_PARAMS = ("period", "from", "to")
DASHBOARD_TABLES = ("summary", "product", "lot", "channel", "session", "month")


# -- menu ---------------------------------------------------------------------------------------


def _nav(scope: Scope) -> list[NavItem]:
    if scope.role == UserRole.COOPERATIVE and scope.cooperative_id is not None:
        base = f"/cooperatives/{scope.cooperative_id}"
        return [
            NavItem(base, t("web.coop.menu.dashboard")),
            NavItem(f"{base}/households", t("web.coop.menu.households")),
            NavItem(f"{base}/members", t("web.coop.menu.members")),
            NavItem(f"{base}/surplus", t("web.coop.menu.surplus")),
        ]
    if scope.role in (UserRole.ADMIN, UserRole.COUNTY):
        return [NavItem("/cooperatives", t("web.coop.menu.list"))]
    return []


NAV.append(_nav)
routes = web.RouteTableDef()


# -- helpers ------------------------------------------------------------------------------------


def period_query(period: Period) -> str:
    """The query string that names ``period`` again (links keep the period)."""
    label = period.label
    if len(label) in (4, 7) and "~" not in label:
        return urlencode({"period": label})
    return urlencode({"from": period.first_day.isoformat(), "to": period.last_day.isoformat()})


def period_param(request: web.Request) -> Period:
    """``web.paging.period_param``, also refusing years a calendar cannot hold (400, never 500)."""
    try:
        period = _period_param(request)
    except (ValueError, OverflowError):
        raise BadParam("period", "not a date this calendar holds") from None
    if not (period.first_day.year >= 2000 and period.last_day.year <= 2100):
        raise BadParam("period", "years 2000 to 2100")
    return period


def _format(request: web.Request) -> str | None:
    fmt = request.query.get("format")
    if fmt is None or fmt == "":
        return None
    if fmt not in FORMATS:
        raise BadParam("format", "xlsx or csv")
    return fmt


def _this_year() -> int:
    return datetime.now(UTC).astimezone(SHANGHAI).year


def _quick_periods() -> dict[str, str]:
    now = datetime.now(UTC).astimezone(SHANGHAI)
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return {
        "this_month": f"{now.year:04d}-{now.month:02d}",
        "last_month": f"{year:04d}-{month:02d}",
        "this_year": f"{now.year:04d}",
    }


def _period_context(request: web.Request, period: Period) -> dict[str, Any]:
    return {
        "period": period,
        "pq": period_query(period),
        "quick": _quick_periods(),
        "q_period": request.query.get("period", ""),
        "q_from": request.query.get("from", ""),
        "q_to": request.query.get("to", ""),
    }


def _subtitle(unit: str, period_label: str) -> str:
    return f"{unit} · {t('web.coop.period')}：{period_label} · {t('web.coop.amount_unit')}"


def _conn(request: web.Request) -> Any:
    return request.app[ENGINE].connect()


def _fen(figures: qc.Figures) -> dict[str, int]:
    out = {f"{k}_fen": v for k, v in figures.money().items()}
    out["lines"] = figures.lines
    return out


FIGURE_COLUMNS = (
    ("sales", "web.coop.sales"),
    ("refunds", "web.coop.refunds"),
    ("fees", "web.coop.fees"),
    ("net", "web.coop.net"),
    ("retention", "web.coop.retention"),
    ("collective", "web.coop.collective"),
    ("households", "web.coop.households_share"),
)


def _breakdown_report(name: str, title: str, rows: list[qc.Breakdown], totals: qc.Figures, label: str) -> Report:
    columns = [Column("label", t(label)), Column("detail", t("web.coop.detail"))]
    columns += [Column(key, t(msg), "money") for key, msg in FIGURE_COLUMNS]
    data = [
        {"label": r.label, "detail": r.detail} | {k: getattr(r.figures, k) for k, _ in FIGURE_COLUMNS} for r in rows
    ]
    total_row: dict[str, Any] = {"label": t("web.coop.total"), "detail": ""}
    total_row |= {k: getattr(totals, k) for k, _ in FIGURE_COLUMNS}
    return Report(name, title, columns, data, total_row)


def _label_rows(d: qc.Dashboard) -> None:
    """Give the rows without a name (no session, no lot) their words in the page's language."""
    for r in d.by_session:
        if r.key == "s-":
            r.label = t("web.coop.no_session")
    for r in d.by_lot:
        if r.key == "lot-":
            r.label = t("web.coop.no_lot")
    for r in d.by_channel:
        r.detail = t(f"web.coop.channel.{r.detail}") if f"web.coop.channel.{r.detail}" in MESSAGES else r.detail


def _waterfall(d: qc.Dashboard) -> list[tuple[str, int, str]]:
    """(label, fen, style) rows of the waterfall: style '' for a part, 'total' for a result."""
    f = d.totals
    return [
        (t("web.coop.sales"), f.sales, ""),
        (t("web.coop.refunds"), -f.refunds, ""),
        (t("web.coop.platform_fee"), -f.platform_fee, ""),
        (t("web.coop.payment_fee"), -f.payment_fee, ""),
        (t("web.coop.logistics"), -f.logistics, ""),
        (t("web.coop.commission"), -f.commission, ""),
        (t("web.coop.net"), f.net, "total"),
        (t("web.coop.retention"), f.retention, ""),
        (t("web.coop.collective"), f.collective, ""),
        (t("web.coop.guaranteed"), f.guaranteed, ""),
        (t("web.coop.rebate"), f.rebate, ""),
        (t("web.coop.bonus"), f.bonus, ""),
        (t("web.coop.households_share"), f.households, "total"),
    ]


def _dashboard_export(d: qc.Dashboard, table: str, fmt: str) -> web.Response:
    name = d.cooperative.name
    title = t("web.coop.dashboard_title", name=name, period=d.period.label)
    subtitle = _subtitle(name, d.period.label)
    if table == "summary":
        report = Report(
            "summary",
            title,
            [Column("item", t("web.coop.item")), Column("amount", t("web.coop.amount"), "money")],
            [{"item": label, "amount": fen} for label, fen, _ in _waterfall(d)]
            + [
                {"item": t("web.coop.paid_households"), "amount": d.paid_to_households},
            ],
        )
    elif table == "month":
        rows = [qc.Breakdown(month, month, fig) for month, fig in d.trend]
        report = _breakdown_report("month", title, rows, qc.figures_sum(r.figures for r in rows), "web.coop.month")
    else:
        rows, label = {
            "product": (d.by_product, "web.coop.product"),
            "lot": (d.by_lot, "web.coop.lot"),
            "channel": (d.by_channel, "web.coop.shop"),
            "session": (d.by_session, "web.coop.session"),
        }[table]
        report = _breakdown_report(table, title, rows, d.totals, label)
    return export_response(
        report, fmt, f"{title} {t('web.coop.by_' + table) if table in DASHBOARD_TABLES[1:5] else ''}".strip(), subtitle
    )


# -- pages --------------------------------------------------------------------------------------


@routes.get("/cooperatives")
async def list_page(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    if scope.role == UserRole.COOPERATIVE and scope.cooperative_id is not None:
        raise web.HTTPFound(f"/cooperatives/{scope.cooperative_id}")
    if not scope.sees_cooperatives:
        raise web.HTTPNotFound()
    period = period_param(request)
    fmt = _format(request)
    async with _conn(request) as conn:
        rows = await qc.list_cooperatives(conn, scope, period)
    title = t("web.coop.list_title", period=period.label)
    if fmt:
        report = Report(
            "cooperatives",
            title,
            [
                Column("name", t("web.coop.cooperative")),
                Column("county", t("web.coop.county")),
                Column("members", t("web.coop.members_count"), "int"),
                Column("sales", t("web.coop.sales"), "money"),
                Column("net", t("web.coop.net"), "money"),
                Column("paid", t("web.coop.paid_households"), "money"),
                Column("reached", t("web.coop.reached"), "int"),
            ],
            [
                {
                    "name": r.cooperative.name,
                    "county": r.cooperative.county,
                    "members": r.cooperative.households,
                    "sales": r.figures.sales,
                    "net": r.figures.net,
                    "paid": r.paid_to_households,
                    "reached": r.households_reached,
                }
                for r in rows
            ],
            {
                "name": t("web.coop.total"),
                "members": sum(r.cooperative.households for r in rows),
                "sales": sum(r.figures.sales for r in rows),
                "net": sum(r.figures.net for r in rows),
                "paid": sum(r.paid_to_households for r in rows),
                "reached": sum(r.households_reached for r in rows),
            },
        )
        return export_response(report, fmt, title, _subtitle(t("web.coop.menu.list"), period.label))
    totals = qc.figures_sum(r.figures for r in rows)
    context = {
        "rows": rows,
        "totals": totals,
        "paid_total": sum(r.paid_to_households for r in rows),
        "reached_total": sum(r.households_reached for r in rows),
        "title": title,
    }
    return render(request, "console/cooperatives/list.html", context | _period_context(request, period))


@routes.get("/cooperatives/{id}")
async def dashboard_page(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    coop_id = id_param(request)
    period = period_param(request)
    fmt = _format(request)
    table = choice_param(request, "table", DASHBOARD_TABLES, "summary")
    async with _conn(request) as conn:
        d = await qc.dashboard(conn, scope, coop_id, period)
    if d is None:
        raise web.HTTPNotFound()
    _label_rows(d)
    if fmt:
        return _dashboard_export(d, table, fmt)
    chart = {
        "zh": current_lang() == "zh",
        "months": [m for m, _ in d.trend],
        "series": [
            {"name": t("web.coop.sales"), "data": [round(f.sales / 100, 2) for _, f in d.trend]},
            {"name": t("web.coop.net"), "data": [round(f.net / 100, 2) for _, f in d.trend]},
            {"name": t("web.coop.households_share"), "data": [round(f.households / 100, 2) for _, f in d.trend]},
        ],
    }
    context = {
        "d": d,
        "coop": d.cooperative,
        "waterfall": _waterfall(d),
        "chart": chart,
        "title": t("web.coop.dashboard_title", name=d.cooperative.name, period=period.label),
        "tab": "dashboard",
    }
    return render(request, "console/cooperatives/dashboard.html", context | _period_context(request, period))


def _households_report(page: qh.HouseholdPage, title: str) -> Report:
    columns = [
        Column("member_no", t("web.coop.member_no")),
        Column("name", t("web.coop.head")),
        Column("category", t("web.coop.category")),
        Column("village", t("web.coop.village")),
        Column("income", t("web.coop.income"), "money"),
    ]
    rows = [
        {
            "member_no": r.member_no,
            "name": r.name,
            "category": r.category_label,
            "village": r.village,
            "income": r.income_fen,
        }
        for r in page.rows
    ]
    return Report(
        "households", title, columns, rows, {"member_no": t("web.coop.total"), "income": page.matched_income_fen}
    )


@routes.get("/cooperatives/{id}/households")
async def households_page(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    coop_id = id_param(request)
    period = period_param(request)
    fmt = _format(request)
    sort, desc = sort_param(request, qh.SORTS, "member_no")
    q = request.query.get("q", "")[:64]
    window = page_window(request, 50)
    offset, limit = (0, 10**9) if fmt else (window.offset, window.limit)
    async with _conn(request) as conn:
        page = await qh.households(
            conn, scope, coop_id, period, q=q, sort=sort, descending=desc, offset=offset, limit=limit
        )
    if page is None:
        raise web.HTTPNotFound()
    title = t("web.coop.households_title", name=page.cooperative.name, period=period.label)
    if fmt:
        return export_response(
            _households_report(page, title), fmt, title, _subtitle(page.cooperative.name, period.label)
        )
    context = {
        "page": page,
        "coop": page.cooperative,
        "title": title,
        "tab": "households",
        "q": q,
        "sort": sort,
        "desc": desc,
        "window": window,
        "sort_qs": lambda key: urlencode(
            {"q": q, "sort": ("-" if key == sort and not desc else "") + key} | dict(_pairs(period))
        ),
        "page_qs": lambda n: urlencode(
            {"q": q, "sort": ("-" if desc else "") + sort, "page": n, "size": window.limit} | dict(_pairs(period))
        ),
    }
    return render(request, "console/cooperatives/households.html", context | _period_context(request, period))


def _pairs(period: Period) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(period_query(period))


def _statement_report(s: qh.Statement, title: str) -> Report:
    columns = [
        Column("month", t("web.coop.month")),
        Column("product", t("web.coop.product")),
        Column("guaranteed", t("web.coop.guaranteed"), "money"),
        Column("rebate", t("web.coop.rebate"), "money"),
        Column("bonus", t("web.coop.bonus"), "money"),
        Column("refunds", t("web.coop.refunds_reversed"), "money"),
        Column("surplus", t("web.coop.surplus_returned"), "money"),
        Column("income", t("web.coop.income"), "money"),
    ]

    def cells(legs: qh.Legs) -> dict[str, int]:
        return {
            "guaranteed": legs.guaranteed,
            "rebate": legs.rebate,
            "bonus": legs.bonus,
            "refunds": legs.refunds,
            "surplus": legs.surplus,
            "income": legs.income,
        }

    rows = [{"month": r.month, "product": r.product or t("web.coop.surplus_row")} | cells(r.legs) for r in s.rows]
    return Report("statement", title, columns, rows, {"month": t("web.coop.total")} | cells(s.totals))


@routes.get("/households/{id}")
async def statement_page(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    household_id = id_param(request)
    period = period_param(request)
    fmt = _format(request)
    async with _conn(request) as conn:
        s = await qh.statement(conn, scope, household_id, period)
    if s is None:
        raise web.HTTPNotFound()
    title = t("web.coop.statement_title", member_no=s.household.member_no, period=period.label)
    if fmt:
        unit = f"{s.household.cooperative} {s.household.member_no} {s.household.name}"
        return export_response(_statement_report(s, title), fmt, title, _subtitle(unit, period.label))
    context = {"s": s, "title": title, "coop_id": s.household.cooperative_id}
    return render(request, "console/cooperatives/statement.html", context | _period_context(request, period))


@routes.get("/households/{id}/journals")
async def household_journals_page(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    household_id = id_param(request)
    period = period_param(request)
    fmt = _format(request)
    window = page_window(request, 50)
    offset, limit = (0, 10**9) if fmt else (window.offset, window.limit)
    async with _conn(request) as conn:
        jp = await qh.household_journals(conn, scope, household_id, period, offset=offset, limit=limit)
    if jp is None:
        raise web.HTTPNotFound()
    title = t("web.coop.journals_title", member_no=jp.household.member_no, period=period.label)
    if fmt:
        report = Report(
            "journals",
            title,
            [
                Column("journal", t("web.coop.journals"), "int"),
                Column("kind", t("web.coop.kind")),
                Column("occurred", t("web.coop.occurred")),
                Column("product", t("web.coop.product")),
                Column("amount", t("web.coop.household_amount"), "money"),
            ],
            [
                {
                    "journal": j.journal_id,
                    "kind": t(f"web.coop.kind.{j.kind}"),
                    "occurred": j.occurred_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
                    "product": j.product,
                    "amount": j.legs.income,
                }
                for j in jp.rows
            ],
            {"journal": t("web.coop.total"), "amount": jp.totals.income},
        )
        unit = f"{jp.household.cooperative} {jp.household.member_no}"
        return export_response(report, fmt, title, _subtitle(unit, period.label))
    context = {
        "jp": jp,
        "title": title,
        "window": window,
        "page_qs": lambda n: urlencode({"page": n, "size": window.limit} | dict(_pairs(period))),
    }
    return render(request, "console/cooperatives/journals.html", context | _period_context(request, period))


def _journal_report(j: ql.JournalView, title: str) -> Report:
    return Report(
        "journal",
        title,
        [
            Column("account", t("web.coop.account")),
            Column("owner", t("web.coop.owner")),
            Column("debit", t("web.coop.debit"), "money"),
            Column("credit", t("web.coop.credit"), "money"),
        ],
        [
            {
                "account": t(f"web.coop.account.{p.account.role}"),
                "owner": p.account.owner,
                "debit": p.debit_fen or None,
                "credit": p.credit_fen or None,
            }
            for p in j.postings
        ],
        {"account": t("web.coop.total"), "debit": j.debits_fen, "credit": j.credits_fen},
    )


@routes.get("/journals/{id}")
async def journal_page(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    journal_id = id_param(request)
    fmt = _format(request)
    async with _conn(request) as conn:
        j = await ql.journal(conn, scope, journal_id)
    if j is None:
        raise web.HTTPNotFound()
    title = t("web.coop.journal_title", id=j.id)
    if fmt:
        day = j.occurred_at.astimezone(SHANGHAI).strftime("%Y-%m-%d")
        return export_response(_journal_report(j, title), fmt, title, _subtitle(t(f"web.coop.kind.{j.kind}"), day))
    return render(request, "console/cooperatives/journal.html", {"j": j, "title": title})


@routes.get("/order-lines/{id}")
async def order_line_page(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    line_id = id_param(request)
    fmt = _format(request)
    async with _conn(request) as conn:
        line = await ql.order_line(conn, scope, line_id)
    if line is None:
        raise web.HTTPNotFound()
    title = t("web.coop.line_title", id=line.id)
    if fmt:
        rows = [
            {
                "lot": d.lot_code,
                "member_no": c.member_no,
                "name": c.name,
                "category": c.category,
                "delivered": c.quantity,
                "grade": c.grade,
                "price": c.guaranteed_price_fen,
            }
            for d in line.draws
            for c in d.contributors
        ]
        report = Report(
            "lot-draws",
            title,
            [
                Column("lot", t("web.coop.lot")),
                Column("member_no", t("web.coop.member_no")),
                Column("name", t("web.coop.head")),
                Column("category", t("web.coop.category")),
                Column("delivered", t("web.coop.delivered"), "int"),
                Column("grade", t("web.coop.grade")),
                Column("price", t("web.coop.guaranteed_price"), "money"),
            ],
            rows,
        )
        return export_response(report, fmt, title, _subtitle(line.cooperative or line.shop, line.platform_order_id))
    return render(request, "console/cooperatives/order_line.html", {"line": line, "title": title})


# The members and surplus pages list a cooperative's households a page at a time (their totals
# are over all of them); the XLSX and CSV exports hold every row.
MEMBERS_PER_PAGE = 100
# The surplus plan's money columns: (export key, SurplusMember field, heading).
_SURPLUS_MONEY = (
    ("volume", "volume_fen", "web.coop.volume"),
    ("capital", "capital_fen", "web.coop.capital"),
    ("reserve", "reserve_share_fen", "web.coop.reserve_share"),
    ("subsidy", "subsidy_share_fen", "web.coop.subsidy_share"),
    ("patronage", "patronage_fen", "web.coop.patronage"),
    ("shares", "share_fen", "web.coop.by_shares"),
    ("total", "total_fen", "web.coop.total"),
)


def _member_list(
    request: web.Request, coop: qc.CooperativeRef, tab: str, year: int, rows: Sequence[Any]
) -> dict[str, Any]:
    """The context the two paged lists of a year's members (members, surplus) share: the page's
    rows of ``rows``, the window and the query string of page ``n``."""
    window = page_window(request, MEMBERS_PER_PAGE)
    return {
        "coop": coop,
        "tab": tab,
        "year": year,
        "rows": rows[window.offset : window.offset + window.limit],
        "window": window,
        "page_qs": lambda n: urlencode({"year": year, "page": n, "size": window.limit}),
    }


@routes.get("/cooperatives/{id}/members")
async def members_page(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    coop_id = id_param(request)
    year = int_param(request, "year", _this_year(), lo=2000, hi=2100)
    fmt = _format(request)
    period = parse_period(str(year), now=datetime.now(UTC))
    async with _conn(request) as conn:
        m = await qc.members(conn, scope, coop_id, period)
    if m is None:
        raise web.HTTPNotFound()
    title = t("web.coop.members_title", name=m.cooperative.name, year=year)
    if fmt:
        return export_response(m.report, fmt, title, _subtitle(m.cooperative.name, str(year)))
    context = {"m": m, "title": title} | _member_list(request, m.cooperative, "members", year, m.report.rows)
    return render(request, "console/cooperatives/members.html", context)


@routes.get("/cooperatives/{id}/surplus")
async def surplus_page(request: web.Request) -> web.StreamResponse:
    from workers.surplus import compute_surplus

    scope = scope_of(request)
    coop_id = id_param(request)
    year = int_param(request, "year", _this_year(), lo=2000, hi=2100)
    fmt = _format(request)
    async with _conn(request) as conn:
        s = await qc.surplus_preview(conn, scope, coop_id, year, compute_surplus)
    if s is None:
        raise web.HTTPNotFound()
    title = t("web.coop.surplus_title", name=s.cooperative.name, year=year)
    totals = s.totals()
    if fmt:
        columns = [
            Column("member_no", t("web.coop.member_no")),
            Column("name", t("web.coop.head")),
            Column("category", t("web.coop.category")),
            *(Column(key, t(label), "money") for key, _field, label in _SURPLUS_MONEY),
        ]
        rows: list[dict[str, Any]] = [
            {"member_no": r.member_no, "name": r.name, "category": r.category}
            | {key: getattr(r, name) for key, name, _label in _SURPLUS_MONEY}
            for r in s.members
        ]
        summed: dict[str, Any] = {"member_no": t("web.coop.total")} | {
            key: totals[name] for key, name, _label in _SURPLUS_MONEY
        }
        report = Report("surplus", title, columns, rows, summed)
        return export_response(report, fmt, title, _subtitle(s.cooperative.name, str(year)))
    context = {"s": s, "title": title, "totals": totals} | _member_list(
        request, s.cooperative, "surplus", year, s.members
    )
    return render(request, "console/cooperatives/surplus.html", context)


@routes.get("/cooperatives/{id}/policies/{version}")
async def policy_page(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    coop_id = id_param(request)
    version = id_param(request, "version")
    if version > 10**6:
        raise web.HTTPNotFound()
    async with _conn(request) as conn:
        pv = await qc.policy(conn, scope, coop_id, version)
    if pv is None:
        raise web.HTTPNotFound()
    title = t("web.coop.policy_title", version=version)
    context = {"pv": pv, "coop": pv.cooperative, "title": title, "rules": _rules(pv.policy.rules)}
    return render(request, "console/cooperatives/policy.html", context)


def _bp(value: Any) -> str:
    return f"{int(value) / 100:.2f}%" if isinstance(value, int) else str(value)


def _rules(rules: dict[str, Any]) -> list[tuple[str, str]]:
    """The policy document as (label, value) lines in the page's language."""
    from bangfu.reports.households import category_label

    out: list[tuple[str, str]] = []
    for key in ("retention_bp", "collective_bp", "priority_bonus_bp", "patronage_return_bp"):
        if key in rules:
            out.append((t(f"web.coop.rule.{key}"), _bp(rules[key])))
    if "priority_categories" in rules:
        cats = "、".join(category_label(c) for c in rules["priority_categories"])
        out.append((t("web.coop.rule.priority_categories"), cats))
    if "basis" in rules:
        out.append((t("web.coop.rule.basis"), t(f"web.coop.basis.{rules['basis']}")))
    if "grade_coefficients" in rules:
        grades = ", ".join(f"{g}: {c}%" for g, c in dict(rules["grade_coefficients"]).items())
        out.append((t("web.coop.rule.grade_coefficients"), grades))
    if "estimates_bp" in rules:
        est = dict(rules["estimates_bp"])
        text = ", ".join(f"{t('web.coop.' + k)} {_bp(v)}" for k, v in est.items() if f"web.coop.{k}" in MESSAGES)
        out.append((t("web.coop.rule.estimates_bp"), text))
    if "leftover_to" in rules:
        out.append((t("web.coop.rule.leftover_to"), t(f"web.coop.leftover.{rules['leftover_to']}")))
    if "allow_negative_rebate" in rules:
        flag = "web.coop.yes" if rules["allow_negative_rebate"] else "web.coop.no"
        out.append((t("web.coop.rule.allow_negative_rebate"), t(flag)))
    return out


# -- JSON API -----------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _period_json(period: Period) -> dict[str, Any]:
    return {
        "label": period.label,
        "first_day": period.first_day.isoformat(),
        "last_day": period.last_day.isoformat(),
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
    }


def _coop_json(ref: qc.CooperativeRef) -> dict[str, Any]:
    return {"id": ref.id, "name": ref.name, "county": ref.county, "households": ref.households}


def _breakdown_json(rows: list[qc.Breakdown]) -> list[dict[str, Any]]:
    return [{"key": r.key, "label": r.label, "detail": r.detail} | _fen(r.figures) for r in rows]


@routes.get("/api/v1/cooperatives")
async def api_list(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    period = period_param(request)
    window = cursor_window(request, _fingerprint("list", period_query(period)))
    async with _conn(request) as conn:
        rows = await qc.list_cooperatives(conn, scope, period) if scope.sees_cooperatives else []
    items = [
        {
            "cooperative": _coop_json(r.cooperative),
            "figures": _fen(r.figures),
            "paid_to_households_fen": r.paid_to_households,
            "households_reached": r.households_reached,
        }
        for r in rows[window.offset : window.offset + window.limit]
    ]
    cursor = next_cursor(window, len(rows), _fingerprint("list", period_query(period)))
    return web.json_response({"period": _period_json(period), "items": items, "next_cursor": cursor})


@routes.get("/api/v1/cooperatives/{id}/income")
async def api_income(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    coop_id = id_param(request)
    period = period_param(request)
    async with _conn(request) as conn:
        d = await qc.dashboard(conn, scope, coop_id, period)
    if d is None:
        raise web.HTTPNotFound()
    _label_rows(d)
    r = d.reconciliation
    return web.json_response(
        {
            "cooperative": _coop_json(d.cooperative),
            "period": _period_json(period),
            "totals": _fen(d.totals),
            "paid_to_households_fen": d.paid_to_households,
            "households_reached": d.households_reached,
            "reconciliation": {
                "households_share_fen": r.households_share,
                "to_non_members_fen": r.to_non_members,
                "from_other_cooperatives_fen": r.from_other_cooperatives,
                "surplus_returned_fen": r.surplus_returned,
                "paid_to_households_fen": r.paid_to_households,
            },
            "by_product": _breakdown_json(d.by_product),
            "by_lot": _breakdown_json(d.by_lot),
            "by_channel": _breakdown_json(d.by_channel),
            "by_session": _breakdown_json(d.by_session),
            "trend": [{"month": m} | _fen(f) for m, f in d.trend],
            "policy_versions": d.policy_versions,
        }
    )


def _fingerprint(*parts: str) -> str:
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]


@routes.get("/api/v1/cooperatives/{id}/households")
async def api_households(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    coop_id = id_param(request)
    period = period_param(request)
    sort, desc = sort_param(request, qh.SORTS, "member_no")
    q = request.query.get("q", "")[:64]
    fingerprint = _fingerprint("households", str(coop_id), period_query(period), q, sort, str(desc))
    window = cursor_window(request, fingerprint)
    async with _conn(request) as conn:
        page = await qh.households(
            conn, scope, coop_id, period, q=q, sort=sort, descending=desc, offset=window.offset, limit=window.limit
        )
    if page is None:
        raise web.HTTPNotFound()
    items = [
        {
            "id": r.id,
            "member_no": r.member_no,
            "name": r.name,
            "category": r.category,
            "village": r.village,
            "income_fen": r.income_fen,
            "months": [{"month": m, "income_fen": v} for m, v in sorted(r.months.items())],
        }
        for r in page.rows
    ]
    return web.json_response(
        {
            "period": _period_json(period),
            "matched": page.matched,
            "matched_income_fen": page.matched_income_fen,
            "total_income_fen": page.total_income_fen,
            "items": items,
            "next_cursor": next_cursor(window, page.matched, fingerprint),
        }
    )


def _legs_json(legs: qh.Legs) -> dict[str, int]:
    return legs.as_dict()


@routes.get("/api/v1/households/{id}/statement")
async def api_statement(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    household_id = id_param(request)
    period = period_param(request)
    async with _conn(request) as conn:
        s = await qh.statement(conn, scope, household_id, period)
    if s is None:
        raise web.HTTPNotFound()
    h = s.household
    return web.json_response(
        {
            "household": {
                "id": h.id,
                "cooperative_id": h.cooperative_id,
                "member_no": h.member_no,
                "name": h.name,
                "category": h.category,
                "village": h.village,
            },
            "period": _period_json(period),
            "rows": [
                {"month": r.month, "product": r.product or None, "journals": r.journals} | _legs_json(r.legs)
                for r in s.rows
            ],
            "months": [{"month": m} | _legs_json(legs) for m, legs in s.months],
            "totals": _legs_json(s.totals),
        }
    )


@routes.get("/api/v1/journals/{id}")
async def api_journal(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    journal_id = id_param(request)
    async with _conn(request) as conn:
        j = await ql.journal(conn, scope, journal_id)
    if j is None:
        raise web.HTTPNotFound()
    return web.json_response(
        {
            "id": j.id,
            "uid": j.uid,
            "kind": j.kind,
            "source_event": j.source_event,
            "occurred_at": _iso(j.occurred_at),
            "posted_at": _iso(j.posted_at),
            "memo": j.memo,
            "order_line_id": j.line_id if j.line_visible else None,
            "postings": [
                {
                    "account_role": p.account.role,
                    "account_label": t(f"web.coop.account.{p.account.role}"),
                    "owner_type": p.account.owner_kind or None,
                    "owner_id": p.account.owner_id,
                    "owner": p.account.owner,
                    "amount_fen": p.amount_fen,
                }
                for p in j.postings
            ],
            "debits_fen": j.debits_fen,
            "credits_fen": j.credits_fen,
        }
    )


@routes.get("/api/v1/order-lines/{id}")
async def api_order_line(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    line_id = id_param(request)
    async with _conn(request) as conn:
        line = await ql.order_line(conn, scope, line_id)
    if line is None:
        raise web.HTTPNotFound()
    return web.json_response(
        {
            "id": line.id,
            "order_id": line.order_id,
            "platform_order_id": line.platform_order_id,
            "shop": line.shop,
            "platform": line.platform,
            "channel": line.channel,
            "paid_at": _iso(line.paid_at),
            "title": line.title,
            "product": line.product,
            "quantity": line.quantity,
            "unit_price_fen": line.unit_price_fen,
            "paid_fen": line.paid_fen,
            "refund_state": line.refund_state,
            "session": None
            if line.session_id is None
            else {"id": line.session_id, "name": line.session, "host": line.host, "confidence": line.confidence},
            "cooperative_id": line.cooperative_id,
            "policy_version": line.policy_version,
            "lots": [
                {
                    "lot_id": d.lot_id,
                    "lot_code": d.lot_code,
                    "units": d.units,
                    "returned": d.returned,
                    "households": [
                        {
                            "household_id": c.household_id if c.visible else None,
                            "member_no": c.member_no,
                            "name": c.name,
                            "delivered": c.quantity,
                            "grade": c.grade,
                            "guaranteed_price_fen": c.guaranteed_price_fen,
                        }
                        for c in d.contributors
                    ],
                }
                for d in line.draws
            ],
            "refunds": [
                {"id": r.id, "amount_fen": r.amount_fen, "status": r.status, "occurred_at": _iso(r.occurred_at)}
                for r in line.refunds
            ],
            "journals": [
                {"id": j.id, "kind": j.kind, "occurred_at": _iso(j.occurred_at), "receivable_fen": j.receivable_fen}
                for j in line.journals
            ],
        }
    )


# -- OpenAPI ------------------------------------------------------------------------------------

_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_PERIOD = [
    {
        "name": "period",
        "in": "query",
        "required": False,
        "description": "A month (2026-10) or a year (2026), Asia/Shanghai; default this month",
        "schema": {"type": "string"},
    },
    {"name": "from", "in": "query", "required": False, "schema": {"type": "string", "format": "date"}},
    {"name": "to", "in": "query", "required": False, "schema": {"type": "string", "format": "date"}},
]
_CURSOR = [
    {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
    {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
]
_FEN = {"type": "integer"}
_FIGURES: dict[str, Any] = {
    "type": "object",
    "required": [f"{k}_fen" for k in (*qc.MONEY_FIELDS, "fees", "net", "households")] + ["lines"],
    "properties": {f"{k}_fen": _FEN for k in (*qc.MONEY_FIELDS, "fees", "net", "households")}
    | {"lines": {"type": "integer", "minimum": 0}},
}
_PERIOD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["label", "first_day", "last_day", "start", "end"],
    "properties": {
        "label": {"type": "string"},
        "first_day": {"type": "string", "format": "date"},
        "last_day": {"type": "string", "format": "date"},
        "start": {"type": "string", "format": "date-time"},
        "end": {"type": "string", "format": "date-time"},
    },
}
_COOP: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "county", "households"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "county": {"type": "string"},
        "households": {"type": "integer"},
    },
}
_BREAKDOWN: dict[str, Any] = {
    "type": "array",
    "items": {
        "allOf": [
            {"$ref": "#/components/schemas/CoopFigures"},
            {
                "type": "object",
                "required": ["key", "label", "detail"],
                "properties": {"key": {"type": "string"}, "label": {"type": "string"}, "detail": {"type": "string"}},
            },
        ]
    },
}
_LEGS: dict[str, Any] = {
    "type": "object",
    "required": ["guaranteed_fen", "rebate_fen", "bonus_fen", "refunds_fen", "surplus_fen", "income_fen"],
    "properties": {
        k: _FEN for k in ("guaranteed_fen", "rebate_fen", "bonus_fen", "refunds_fen", "surplus_fen", "income_fen")
    },
}
_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_INT = {"type": ["integer", "null"]}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "CoopFigures": _FIGURES,
    "CoopPeriod": _PERIOD_SCHEMA,
    "CooperativeRef": _COOP,
    "CooperativeList": {
        "type": "object",
        "required": ["period", "items", "next_cursor"],
        "properties": {
            "period": {"$ref": "#/components/schemas/CoopPeriod"},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["cooperative", "figures", "paid_to_households_fen", "households_reached"],
                    "properties": {
                        "cooperative": {"$ref": "#/components/schemas/CooperativeRef"},
                        "figures": {"$ref": "#/components/schemas/CoopFigures"},
                        "paid_to_households_fen": _FEN,
                        "households_reached": {"type": "integer", "minimum": 0},
                    },
                },
            },
            "next_cursor": _NULLABLE_STR,
        },
    },
    "CooperativeIncome": {
        "type": "object",
        "required": [
            "cooperative",
            "period",
            "totals",
            "paid_to_households_fen",
            "households_reached",
            "reconciliation",
            "by_product",
            "by_lot",
            "by_channel",
            "by_session",
            "trend",
            "policy_versions",
        ],
        "properties": {
            "cooperative": {"$ref": "#/components/schemas/CooperativeRef"},
            "period": {"$ref": "#/components/schemas/CoopPeriod"},
            "totals": {"$ref": "#/components/schemas/CoopFigures"},
            "paid_to_households_fen": _FEN,
            "households_reached": {"type": "integer", "minimum": 0},
            "reconciliation": {
                "type": "object",
                "required": [
                    "households_share_fen",
                    "to_non_members_fen",
                    "from_other_cooperatives_fen",
                    "surplus_returned_fen",
                    "paid_to_households_fen",
                ],
                "properties": {
                    k: _FEN
                    for k in (
                        "households_share_fen",
                        "to_non_members_fen",
                        "from_other_cooperatives_fen",
                        "surplus_returned_fen",
                        "paid_to_households_fen",
                    )
                },
            },
            "by_product": _BREAKDOWN,
            "by_lot": _BREAKDOWN,
            "by_channel": _BREAKDOWN,
            "by_session": _BREAKDOWN,
            "trend": {
                "type": "array",
                "items": {
                    "allOf": [
                        {"$ref": "#/components/schemas/CoopFigures"},
                        {"type": "object", "required": ["month"], "properties": {"month": {"type": "string"}}},
                    ]
                },
            },
            "policy_versions": {"type": "array", "items": {"type": "integer"}},
        },
    },
    "HouseholdList": {
        "type": "object",
        "required": ["period", "matched", "matched_income_fen", "total_income_fen", "items", "next_cursor"],
        "properties": {
            "period": {"$ref": "#/components/schemas/CoopPeriod"},
            "matched": {"type": "integer", "minimum": 0},
            "matched_income_fen": _FEN,
            "total_income_fen": _FEN,
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "member_no", "name", "category", "village", "income_fen", "months"],
                    "properties": {
                        "id": {"type": "integer"},
                        "member_no": {"type": "string"},
                        "name": {"type": "string"},
                        "category": {"type": "string", "enum": ["lifted", "monitored", "ordinary"]},
                        "village": {"type": "string"},
                        "income_fen": _FEN,
                        "months": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["month", "income_fen"],
                                "properties": {"month": {"type": "string"}, "income_fen": _FEN},
                            },
                        },
                    },
                },
            },
            "next_cursor": _NULLABLE_STR,
        },
    },
    "StatementLegs": _LEGS,
    "HouseholdStatement": {
        "type": "object",
        "required": ["household", "period", "rows", "months", "totals"],
        "properties": {
            "household": {
                "type": "object",
                "required": ["id", "cooperative_id", "member_no", "name", "category", "village"],
                "properties": {
                    "id": {"type": "integer"},
                    "cooperative_id": {"type": "integer"},
                    "member_no": {"type": "string"},
                    "name": {"type": "string"},
                    "category": {"type": "string"},
                    "village": {"type": "string"},
                },
            },
            "period": {"$ref": "#/components/schemas/CoopPeriod"},
            "rows": {
                "type": "array",
                "items": {
                    "allOf": [
                        {"$ref": "#/components/schemas/StatementLegs"},
                        {
                            "type": "object",
                            "required": ["month", "product", "journals"],
                            "properties": {
                                "month": {"type": "string"},
                                "product": _NULLABLE_STR,
                                "journals": {"type": "integer"},
                            },
                        },
                    ]
                },
            },
            "months": {
                "type": "array",
                "items": {
                    "allOf": [
                        {"$ref": "#/components/schemas/StatementLegs"},
                        {"type": "object", "required": ["month"], "properties": {"month": {"type": "string"}}},
                    ]
                },
            },
            "totals": {"$ref": "#/components/schemas/StatementLegs"},
        },
    },
    "JournalDetail": {
        "type": "object",
        "required": [
            "id",
            "uid",
            "kind",
            "source_event",
            "occurred_at",
            "posted_at",
            "memo",
            "order_line_id",
            "postings",
            "debits_fen",
            "credits_fen",
        ],
        "properties": {
            "id": {"type": "integer"},
            "uid": {"type": "string"},
            "kind": {"type": "string"},
            "source_event": {"type": "string"},
            "occurred_at": {"type": "string", "format": "date-time"},
            "posted_at": {"type": "string", "format": "date-time"},
            "memo": _NULLABLE_STR,
            "order_line_id": _NULLABLE_INT,
            "postings": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["account_role", "account_label", "owner_type", "owner_id", "owner", "amount_fen"],
                    "properties": {
                        "account_role": {"type": "string"},
                        "account_label": {"type": "string"},
                        "owner_type": _NULLABLE_STR,
                        "owner_id": _NULLABLE_INT,
                        "owner": {"type": "string"},
                        "amount_fen": _FEN,
                    },
                },
            },
            "debits_fen": _FEN,
            "credits_fen": _FEN,
        },
    },
    "OrderLineDetail": {
        "type": "object",
        "required": [
            "id",
            "order_id",
            "platform_order_id",
            "shop",
            "platform",
            "channel",
            "paid_at",
            "title",
            "product",
            "quantity",
            "unit_price_fen",
            "paid_fen",
            "refund_state",
            "session",
            "cooperative_id",
            "policy_version",
            "lots",
            "refunds",
            "journals",
        ],
        "properties": {
            "id": {"type": "integer"},
            "order_id": {"type": "integer"},
            "platform_order_id": {"type": "string"},
            "shop": {"type": "string"},
            "platform": {"type": "string"},
            "channel": {"type": "string"},
            "paid_at": {"type": ["string", "null"], "format": "date-time"},
            "title": {"type": "string"},
            "product": _NULLABLE_STR,
            "quantity": {"type": "integer"},
            "unit_price_fen": _FEN,
            "paid_fen": _FEN,
            "refund_state": {"type": "string"},
            "session": {
                "type": ["object", "null"],
                "required": ["id", "name", "host", "confidence"],
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "host": _NULLABLE_STR,
                    "confidence": _NULLABLE_STR,
                },
            },
            "cooperative_id": _NULLABLE_INT,
            "policy_version": _NULLABLE_INT,
            "lots": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["lot_id", "lot_code", "units", "returned", "households"],
                    "properties": {
                        "lot_id": {"type": "integer"},
                        "lot_code": {"type": "string"},
                        "units": {"type": "integer"},
                        "returned": {"type": "integer"},
                        "households": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": [
                                    "household_id",
                                    "member_no",
                                    "name",
                                    "delivered",
                                    "grade",
                                    "guaranteed_price_fen",
                                ],
                                "properties": {
                                    "household_id": _NULLABLE_INT,
                                    "member_no": {"type": "string"},
                                    "name": {"type": "string"},
                                    "delivered": {"type": "integer"},
                                    "grade": {"type": "string"},
                                    "guaranteed_price_fen": _FEN,
                                },
                            },
                        },
                    },
                },
            },
            "refunds": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "amount_fen", "status", "occurred_at"],
                    "properties": {
                        "id": {"type": "integer"},
                        "amount_fen": _FEN,
                        "status": {"type": "string"},
                        "occurred_at": {"type": "string", "format": "date-time"},
                    },
                },
            },
            "journals": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "kind", "occurred_at", "receivable_fen"],
                    "properties": {
                        "id": {"type": "integer"},
                        "kind": {"type": "string"},
                        "occurred_at": {"type": "string", "format": "date-time"},
                        "receivable_fen": _FEN,
                    },
                },
            },
        },
    },
}


def _op(op_id: str, summary: str, schema: str, params: list[dict[str, Any]], *errors: int) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "operationId": op_id,
            "tags": ["cooperatives"],
            "parameters": params,
            "responses": json_ok({"$ref": f"#/components/schemas/{schema}"}) | error_responses(*errors),
        }
    }


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/cooperatives": _op(
        "cooperatives",
        "Cooperatives in scope with the period's headline figures",
        "CooperativeList",
        [*_PERIOD, *_CURSOR],
        400,
        401,
    ),
    "/api/v1/cooperatives/{id}/income": _op(
        "cooperativeIncome",
        "A cooperative's income for a period: waterfall, breakdowns, trend",
        "CooperativeIncome",
        [_ID, *_PERIOD],
        400,
        401,
        404,
    ),
    "/api/v1/cooperatives/{id}/households": _op(
        "cooperativeHouseholds",
        "Member households with their income (search q, sort, cursor paging)",
        "HouseholdList",
        [
            _ID,
            *_PERIOD,
            {"name": "q", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 64}},
            {
                "name": "sort",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": [*qh.SORTS, *[f"-{s}" for s in qh.SORTS]]},
            },
            *_CURSOR,
        ],
        400,
        401,
        404,
    ),
    "/api/v1/households/{id}/statement": _op(
        "householdStatement",
        "A household's income per month and product",
        "HouseholdStatement",
        [_ID, *_PERIOD],
        400,
        401,
        404,
    ),
    "/api/v1/journals/{id}": _op(
        "journal",
        "One journal with its postings (account labels, never codes alone)",
        "JournalDetail",
        [_ID],
        401,
        404,
    ),
    "/api/v1/order-lines/{id}": _op(
        "orderLine",
        "One order line: its session, lot draws, policy version and journals",
        "OrderLineDetail",
        [_ID],
        401,
        404,
    ),
}


def setup(app: web.Application) -> None:
    app.add_routes(routes)
