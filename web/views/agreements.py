"""Procurement agreements (采购协议): the list with progress per agreement and per unit, the
at-risk list, and each agreement's page (execution over time, the orders that count).

The county sees the agreements of its region's units and suppliers, a unit its own, a
cooperative those its supplier signed (:func:`bangfu.queries.agreements.visible`); anyone else
gets 404. ``?as_of=YYYY-MM-DD`` judges as of an earlier day (default: today, Asia/Shanghai).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from bangfu import clock
from bangfu.agreements import TOLERANCE
from bangfu.agreements.alerts import open_alerts
from bangfu.i18n import MESSAGES, t
from bangfu.queries.agreements import (
    AgreementProgress,
    agreement_progress,
    agreements_overview,
    as_json,
    cumulative,
    sees_agreements,
    unit_in_scope,
)
from bangfu.reports.base import Column, Report
from bangfu.scope import Scope
from web.api import error_responses, json_ok
from web.errors import BadParam
from web.export import FORMATS, export_response
from web.keys import ENGINE, scope_of
from web.paging import id_param, int_param, page_window
from web.render import NAV, NavItem, render

MESSAGES.update(
    {
        "agreements.menu": {"zh": "采购协议", "en": "Agreements"},
        "agreements.as_of": {"zh": "截至 {day}", "en": "As of {day}"},
        "agreements.as_of_label": {"zh": "截至日期", "en": "As of"},
        "agreements.show": {"zh": "查看", "en": "Show"},
        "agreements.export": {"zh": "导出", "en": "Export"},
        "agreements.count": {"zh": "协议数", "en": "Agreements"},
        "agreements.units": {"zh": "采购单位", "en": "Units"},
        "agreements.suppliers": {"zh": "供应商", "en": "Suppliers"},
        "agreements.at_risk": {"zh": "执行滞后的协议", "en": "Agreements at risk"},
        "agreements.at_risk_none": {"zh": "没有执行滞后的协议。", "en": "No agreement is behind."},
        "agreements.gap": {"zh": "落后进度线", "en": "Below the line by"},
        "agreements.alert_since": {"zh": "预警开启于 {since}", "en": "Alert open since {since}"},
        "agreements.by_unit": {"zh": "按采购单位", "en": "By purchasing unit"},
        "agreements.all": {"zh": "全部协议", "en": "All agreements"},
        "agreements.none": {"zh": "暂无采购协议。", "en": "No agreements yet."},
        "agreements.of_unit": {"zh": "{unit} 的采购协议", "en": "Agreements of {unit}"},
        "agreements.all_products": {"zh": "该供应商全部产品", "en": "Every product of the supplier"},
        "agreements.kind.sku": {"zh": "规格", "en": "SKU"},
        "agreements.kind.product": {"zh": "产品", "en": "Product"},
        "agreements.kind.category": {"zh": "品类", "en": "Category"},
        "agreements.price": {"zh": "约定单价 {price}", "en": "agreed price {price}"},
        "agreements.discount": {"zh": "折扣", "en": "Discount"},
        "agreements.quantity": {"zh": "约定数量", "en": "Agreed quantity"},
        "agreements.quantity_done": {"zh": "已采购数量", "en": "Quantity bought"},
        "agreements.rule": {
            "zh": "目标按协议期逐日平均分摊（图中虚线）。完成率低于时间进度 {tol} 个百分点以上即为“滞后”，"
            "并进入告警；高于 {tol} 个百分点以上为“超前”；期满未达目标为“到期未完成”。",
            "en": "The target is spread evenly over the period's days (the dashed line). An agreement whose rate is "
            "more than {tol} points below the time elapsed is behind and raises an alert; more than {tol} points "
            "above it, ahead; a period over without the target is missed.",
        },
        "agreements.counts_def": {
            "zh": "计入口径：与预留份额相同——订单带有该采购单位（自营商城单位订单、线下机构销售导入、"
            "可识别单位的平台订单），按付款时间落在协议期内；只计该供应商、协议范围内产品的订单行，扣除成功退款"
            "（整单退款按订单行实付金额分摊）。",
            "en": "What counts: as for the reserved share, orders carrying the unit (the county mall's unit orders, "
            "imported institutional sales, platform orders naming the unit) paid within the period; only the lines "
            "of the supplier's covered products, net of succeeded refunds (an order's refund shared over its lines "
            "by amount).",
        },
        "agreements.chart": {"zh": "累计执行与进度线", "en": "Cumulative execution against the straight line"},
        "agreements.chart_executed": {"zh": "累计已执行", "en": "Executed, cumulative"},
        "agreements.chart_target": {"zh": "进度线（目标均摊）", "en": "Target, spread evenly"},
        "agreements.separation": {"zh": "与本单位预留份额口径的差别", "en": "From the unit's reserved-share figure"},
        "agreements.sep.unit_net": {
            "zh": "本单位同期全部采购（实付扣除退款）",
            "en": "The unit's purchases in these days (paid, net of refunds)",
        },
        "agreements.sep.unit_certified": {
            "zh": "其中计入预留份额（销售当天认定有效的产品）",
            "en": "of which count toward the reserved share (products certified on the day of sale)",
        },
        "agreements.sep.certified": {
            "zh": "其中帮扶销售（认定产品）",
            "en": "of which assistance sales (certified products)",
        },
        "agreements.sep.uncertified": {"zh": "其中未认定产品", "en": "of which uncertified products"},
        "agreements.sep.other": {
            "zh": "其他供应商或协议范围外产品",
            "en": "Other suppliers' or uncovered products",
        },
        "agreements.sep.order_level": {
            "zh": "运费及订单级调整",
            "en": "Shipping and order-level adjustments",
        },
        "agreements.sep.executed": {"zh": "计入本协议", "en": "Counted for this agreement"},
        "agreements.orders": {"zh": "计入的订单行", "en": "Order lines that count"},
        "agreements.order": {"zh": "订单号", "en": "Order"},
        "agreements.shop": {"zh": "店铺", "en": "Shop"},
        "agreements.paid_at": {"zh": "付款时间", "en": "Paid at"},
        "agreements.item": {"zh": "商品", "en": "Item"},
        "agreements.qty": {"zh": "数量", "en": "Qty"},
        "agreements.paid": {"zh": "实付", "en": "Paid"},
        "agreements.refunded": {"zh": "退款", "en": "Refunds"},
        "agreements.net": {"zh": "计入金额", "en": "Counted"},
        "agreements.no_orders": {"zh": "协议期内暂无计入的订单。", "en": "No order counts yet."},
        "agreements.prev": {"zh": "上一页", "en": "Previous"},
        "agreements.next": {"zh": "下一页", "en": "Next"},
        "agreements.page": {"zh": "第 {page} 页，共 {total} 行", "en": "Page {page} of {total} rows"},
        "agreements.card": {
            "zh": "{n} 份采购协议，目标 {target}，已执行 {executed}（{rate}），{risk} 份滞后",
            "en": "{n} procurement agreements, target {target}, executed {executed} ({rate}), {risk} behind",
        },
        "agreements.card_link": {"zh": "查看采购协议执行", "en": "Agreements' progress"},
        "agreements.unit_link": {"zh": "本单位采购协议执行", "en": "This unit's procurement agreements"},
    }
)


def _nav(scope: Scope) -> list[NavItem]:
    return [NavItem("/agreements", t("agreements.menu"))] if sees_agreements(scope) else []


NAV.append(_nav)
routes = web.RouteTableDef()


def today() -> date:
    return clock.utcnow().astimezone(clock.SHANGHAI).date()


def _as_of(request: web.Request) -> date:
    raw = request.query.get("as_of")
    if not raw:
        return today()
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise BadParam("as_of", "a date like 2026-06-30") from None
    if not 2000 <= day.year <= 2100:
        raise BadParam("as_of", "years 2000 to 2100")
    return day


def _scope(request: web.Request) -> Scope:
    scope = scope_of(request)
    if not sees_agreements(scope):
        raise web.HTTPNotFound()
    return scope


def _list_report(rows: list[AgreementProgress], title: str) -> Report:
    columns = [
        Column("number", t("agreements.col.number")),
        Column("unit", t("agreements.col.unit")),
        Column("supplier", t("agreements.col.supplier")),
        Column("starts_on", t("agreements.col.starts_on")),
        Column("ends_on", t("agreements.col.ends_on")),
        Column("target", t("agreements.col.target"), "money"),
        Column("executed", t("agreements.col.executed"), "money"),
        Column("expected", t("agreements.col.expected"), "money"),
        Column("rate", t("agreements.col.rate"), "ratio"),
        Column("elapsed", t("agreements.col.elapsed"), "ratio"),
        Column("state", t("agreements.col.state")),
        Column("status", t("agreements.col.status")),
    ]
    data = [
        {
            "number": r.number,
            "unit": r.unit,
            "supplier": r.supplier,
            "starts_on": r.starts_on.isoformat(),
            "ends_on": r.ends_on.isoformat(),
            "target": r.target_fen,
            "executed": r.executed_fen,
            "expected": r.expected_fen,
            "rate": r.rate,
            "elapsed": r.elapsed_share,
            "state": t(f"agreements.state.{r.state}"),
            "status": t(f"agreements.status.{r.status}"),
        }
        for r in rows
    ]
    return Report("agreements", title, columns, data)


@routes.get("/agreements")
async def list_page(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    as_of = _as_of(request)
    unit_id = int_param(request, "unit", 0, lo=1, hi=10**18) if request.query.get("unit") else None
    fmt = request.query.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise BadParam("format", "xlsx or csv")
    async with request.app[ENGINE].connect() as conn:
        overview = await agreements_overview(conn, scope, as_of, unit_id=unit_id)
        unit_name = None
        if unit_id is not None:
            # A unit in scope, or one whose agreements the user sees (through their suppliers).
            unit_name = overview.rows[0].unit if overview.rows else await unit_in_scope(conn, scope, unit_id)
            if unit_name is None:
                raise web.HTTPNotFound()
        alerts = await open_alerts(conn, [r.id for r in overview.at_risk])
    title = t("agreements.of_unit", unit=unit_name) if unit_name else t("agreements.title")
    if fmt:
        return export_response(_list_report(overview.rows, title), fmt, title, t("agreements.as_of", day=as_of))
    query = f"as_of={as_of.isoformat()}" + (f"&unit={unit_id}" if unit_id else "")
    return render(
        request,
        "console/agreements/list.html",
        {"o": overview, "title": title, "alerts": alerts, "q": query, "unit_id": unit_id, "tol": int(TOLERANCE * 100)},
    )


@routes.get("/agreements/{id}")
async def agreement_page(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    agreement_id = id_param(request)
    as_of = _as_of(request)
    window = page_window(request, 30)
    async with request.app[ENGINE].connect() as conn:
        p = await agreement_progress(conn, scope, agreement_id, as_of)
        if p is None:
            raise web.HTTPNotFound()
        alert = (await open_alerts(conn, [p.id])).get(p.id)
    chart = cumulative(p) | {
        "executed_label": t("agreements.chart_executed"),
        "target_label": t("agreements.chart_target"),
    }
    lines = p.execution.lines[window.offset : window.offset + window.limit]
    return render(
        request,
        "console/agreements/agreement.html",
        {
            "p": p,
            "chart": chart,
            "alert": alert,
            "lines": lines,
            "window": window,
            "as_of": as_of,
            "tol": int(TOLERANCE * 100),
        },
    )


@routes.get("/api/v1/agreements/{id}")
async def agreement_api(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    agreement_id = id_param(request)
    as_of = _as_of(request)
    async with request.app[ENGINE].connect() as conn:
        p = await agreement_progress(conn, scope, agreement_id, as_of)
    if p is None:
        raise web.HTTPNotFound()
    return web.json_response(as_json(p))


def setup(app: web.Application) -> None:
    app.add_routes(routes)


AGREEMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "number", "target_fen", "executed_fen", "elapsed_share", "state"],
    "properties": {
        "id": {"type": "integer"},
        "number": {"type": "string"},
        "title": {"type": ["string", "null"]},
        "unit": {"type": "object"},
        "supplier": {"type": "object"},
        "starts_on": {"type": "string", "format": "date"},
        "ends_on": {"type": "string", "format": "date"},
        "status": {"type": "string", "enum": ["active", "suspended", "terminated"]},
        "as_of": {"type": "string", "format": "date"},
        "target_fen": {"type": "integer"},
        "executed_fen": {"type": "integer"},
        "expected_fen": {"type": "integer"},
        "elapsed_share": {"type": "string"},
        "rate": {"type": ["string", "null"]},
        "state": {"type": "string", "enum": ["not_started", "met", "ahead", "on_track", "behind", "missed"]},
        "at_risk": {"type": "boolean"},
        "tolerance": {"type": "string"},
    },
}
OPENAPI_SCHEMAS: dict[str, Any] = {"AgreementProgress": AGREEMENT_SCHEMA}
OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/agreements/{id}": {
        "get": {
            "summary": "A procurement agreement's execution as of a day",
            "operationId": "agreementProgress",
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}},
                {"name": "as_of", "in": "query", "required": False, "schema": {"type": "string", "format": "date"}},
            ],
            "responses": json_ok({"$ref": "#/components/schemas/AgreementProgress"}) | error_responses(400, 401, 404),
        }
    }
}
