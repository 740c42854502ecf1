"""Purchasing units (采购单位): the unit's reserved-share progress; the units of a region."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bangfu.i18n import MESSAGES, t
from bangfu.queries.units import as_json, unit_progress, units_overview
from bangfu.reports.base import SHANGHAI, Column, Report
from bangfu.scope import Scope
from web.api import error_responses, json_ok
from web.errors import BadParam
from web.export import FORMATS, export_response
from web.keys import ENGINE, scope_of
from web.paging import id_param, int_param, page_window
from web.render import NAV, NavItem, render

MESSAGES.update(
    {
        "web.units.menu.mine": {"zh": "预留份额", "en": "Reserved share"},
        "web.units.menu.all": {"zh": "采购单位", "en": "Purchasing units"},
        "web.units.title": {"zh": "{year} 年预留份额执行", "en": "Reserved share {year}"},
        "web.units.list_title": {
            "zh": "{year} 年采购单位预留份额执行",
            "en": "Purchasing units' reserved share, {year}",
        },
        "web.units.target": {"zh": "年度目标", "en": "Target"},
        "web.units.executed": {
            "zh": "已执行（帮扶：认定产品，扣除退款）",
            "en": "Executed (certified products, net of refunds)",
        },
        "web.units.uncertified": {"zh": "未认定产品", "en": "Uncertified products"},
        "web.units.order_level": {"zh": "运费及订单级调整", "en": "Shipping and order-level"},
        "web.units.purchases": {"zh": "采购合计（扣除退款）", "en": "All purchases (net of refunds)"},
        "web.units.not_counted": {"zh": "未计入", "en": "Not counted"},
        "web.units.certified_part": {"zh": "计入帮扶", "en": "Counted"},
        "web.units.parts": {"zh": "采购构成", "en": "What the unit bought"},
        "web.units.parts_def": {
            "zh": "只有销售当天处于认定有效期内的产品计入帮扶销售与预留份额执行；"
            "未认定产品、运费及订单级调整单列，三者合计等于本单位订单实付扣除退款。",
            "en": "Only products certified on the day of sale count as assistance sales and toward the reserved "
            "share; uncertified products and shipping or order-level adjustments are shown apart, and the three add "
            "up to the unit's orders, paid net of refunds.",
        },
        "web.units.rate": {"zh": "完成率", "en": "Rate"},
        "web.units.rank": {"zh": "排名", "en": "Rank"},
        "web.units.rank_of": {"zh": "共 {n} 个有目标的单位", "en": "of {n} units with a target"},
        "web.units.monthly": {"zh": "逐月执行", "en": "Executed by month"},
        "web.units.orders": {"zh": "本单位订单", "en": "This unit's orders"},
        "web.units.order": {"zh": "订单号", "en": "Order"},
        "web.units.shop": {"zh": "店铺", "en": "Shop"},
        "web.units.paid_at": {"zh": "付款时间", "en": "Paid at"},
        "web.units.paid": {"zh": "实付", "en": "Paid"},
        "web.units.refunded": {"zh": "退款", "en": "Refunded"},
        "web.units.none": {"zh": "本年度暂无订单。", "en": "No orders this year."},
        "web.units.year": {"zh": "年度", "en": "Year"},
        "web.units.show": {"zh": "查看", "en": "Show"},
        "web.units.advisory": {
            "zh": "排名仅供参考：按完成率排序，无目标的单位按已执行金额列后。",
            "en": "The ranking is advisory: by rate; units without a target follow by amount executed.",
        },
        "web.units.export": {"zh": "导出", "en": "Export"},
        "web.units.prev": {"zh": "上一页", "en": "Previous"},
        "web.units.next": {"zh": "下一页", "en": "Next"},
        "web.units.page": {"zh": "第 {page} 页，共 {total} 条", "en": "Page {page} of {total} rows"},
    }
)


def _nav(scope: Scope) -> list[NavItem]:
    if scope.unit_id is not None:
        return [NavItem(f"/units/{scope.unit_id}", t("web.units.menu.mine"))]
    if scope.sees_units:
        return [NavItem("/units", t("web.units.menu.all"))]
    return []


NAV.append(_nav)
routes = web.RouteTableDef()


def _year(request: web.Request) -> int:
    this_year = datetime.now(UTC).astimezone(SHANGHAI).year
    return int_param(request, "year", this_year, lo=2000, hi=2100)


@routes.get("/units")
async def units_page(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    if not scope.sees_units or scope.unit_id is not None:
        raise web.HTTPNotFound()
    year = _year(request)
    fmt = request.query.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise BadParam("format", "xlsx or csv")
    async with request.app[ENGINE].connect() as conn:
        rows = await units_overview(conn, scope, year)
    if fmt:
        report = Report(
            "units",
            t("web.units.list_title", year=year),
            [
                Column("rank", t("web.units.rank"), "int"),
                Column("code", t("report.col.code")),
                Column("name", t("report.col.unit")),
                Column("unit_type", t("report.col.unit_type")),
                Column("target", t("web.units.target"), "money"),
                Column("executed", t("web.units.executed"), "money"),
                Column("rate", t("web.units.rate"), "ratio"),
                Column("uncertified", t("web.units.uncertified"), "money"),
                Column("order_level", t("web.units.order_level"), "money"),
                Column("purchases", t("web.units.purchases"), "money"),
            ],
            [
                {
                    "rank": r.rank,
                    "code": r.code,
                    "name": r.name,
                    "unit_type": r.unit_type,
                    "target": r.target_fen,
                    "executed": r.executed_fen,
                    "rate": r.rate,
                    "uncertified": r.uncertified_fen,
                    "order_level": r.order_level_fen,
                    "purchases": r.purchases_fen,
                }
                for r in rows
            ],
        )
        return export_response(report, fmt, t("web.units.list_title", year=year))
    return render(request, "console/units/list.html", {"rows": rows, "year": year})


@routes.get("/units/{id}")
async def unit_page(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    unit_id = id_param(request)
    year = _year(request)
    window = page_window(request, 20)
    async with request.app[ENGINE].connect() as conn:
        progress = await unit_progress(conn, scope, unit_id, year, offset=window.offset, limit=window.limit)
    if progress is None:
        raise web.HTTPNotFound()
    chart = {
        "months": [m for m, _ in progress.monthly],
        "executed": [fen / 100 for _, fen in progress.monthly],
        "label": t("web.units.executed"),
    }
    return render(
        request,
        "console/units/unit.html",
        {"p": progress, "year": year, "window": window, "chart": chart},
    )


@routes.get("/api/v1/units/{id}")
async def unit_api(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    unit_id = id_param(request)
    year = _year(request)
    async with request.app[ENGINE].connect() as conn:
        progress = await unit_progress(conn, scope, unit_id, year, limit=0)
    if progress is None:
        raise web.HTTPNotFound()
    return web.json_response(as_json(progress))


def setup(app: web.Application) -> None:
    app.add_routes(routes)


UNIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "id",
        "code",
        "name",
        "year",
        "executed_fen",
        "uncertified_fen",
        "order_level_fen",
        "purchases_fen",
        "monthly",
    ],
    "properties": {
        "id": {"type": "integer"},
        "code": {"type": "string"},
        "name": {"type": "string"},
        "unit_type": {"type": "string"},
        "year": {"type": "integer"},
        "target_fen": {"type": ["integer", "null"]},
        "executed_fen": {
            "type": "integer",
            "description": "the 帮扶 part: lines of products certified on the day of sale, net of refunds",
        },
        "uncertified_fen": {"type": "integer", "description": "lines of uncertified products, net of refunds"},
        "order_level_fen": {"type": "integer", "description": "shipping and order-level adjustments, net"},
        "purchases_fen": {
            "type": "integer",
            "description": "every purchase, paid net of refunds = executed + uncertified + order level",
        },
        "rate": {"type": ["string", "null"], "description": "executed / target as a decimal string"},
        "rank": {"type": ["integer", "null"]},
        "ranked_units": {"type": "integer"},
        "monthly": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["month", "executed_fen"],
                "properties": {"month": {"type": "string"}, "executed_fen": {"type": "integer"}},
            },
        },
    },
}
OPENAPI_SCHEMAS: dict[str, Any] = {"UnitProgress": UNIT_SCHEMA}
OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/units/{id}": {
        "get": {
            "summary": "A purchasing unit's reserved-share progress for a year",
            "operationId": "unitProgress",
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}},
                {
                    "name": "year",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 2000, "maximum": 2100},
                },
            ],
            "responses": json_ok({"$ref": "#/components/schemas/UnitProgress"}) | error_responses(400, 401, 404),
        }
    }
}
