"""The certified catalogue (消费帮扶产品目录): certificates of products and suppliers, their state,
the expiry alerts and the certified / uncertified sales by month; XLSX or CSV export.

The county office sees its region's suppliers (enterprises included), a cooperative its own
certificates; every other role gets a 404, as does a supplier filter outside the user's scope.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bangfu.certification import local_today
from bangfu.i18n import MESSAGES, t
from bangfu.queries import certification as qcert
from bangfu.reports.base import Column, Period, Report, local_midnight
from bangfu.scope import Scope
from web.api import error_responses, json_ok
from web.errors import BadParam
from web.export import FORMATS, export_response
from web.keys import ENGINE, scope_of
from web.paging import choice_param, int_param
from web.render import NAV, NavItem, render

MESSAGES.update(
    {
        "cert.menu": {"zh": "认定产品目录", "en": "Certified catalogue"},
        "cert.title": {"zh": "消费帮扶认定产品目录", "en": "Certified assistance products"},
        "cert.intro": {
            "zh": "只有销售当天认定在有效期内的产品才计入帮扶销售；"
            "未认定或认定已过期、已撤销的产品销售单列为“未认定产品销售”。",
            "en": "Only sales of products certified on the day of sale count as assistance sales; "
            "the rest is shown on its own line as sales of uncertified products.",
        },
        "cert.count.valid": {"zh": "有效", "en": "Valid"},
        "cert.count.expiring_60": {"zh": "60 天内到期", "en": "Ending within 60 days"},
        "cert.count.expiring_30": {"zh": "30 天内到期", "en": "Ending within 30 days"},
        "cert.count.expired": {"zh": "已过期", "en": "Expired"},
        "cert.count.revoked": {"zh": "已撤销", "en": "Revoked"},
        "cert.count.uncertified": {"zh": "无有效认定的产品", "en": "Products without a certificate in force"},
        "cert.state.valid": {"zh": "有效", "en": "Valid"},
        "cert.state.expiring": {"zh": "即将到期", "en": "Expiring"},
        "cert.state.pending": {"zh": "未生效", "en": "Not yet in force"},
        "cert.state.expired": {"zh": "已过期", "en": "Expired"},
        "cert.state.revoked": {"zh": "已撤销", "en": "Revoked"},
        "cert.holder.product": {"zh": "产品认定", "en": "Product"},
        "cert.holder.supplier": {"zh": "经营主体认定", "en": "Supplier"},
        "cert.col.holder": {"zh": "认定类型", "en": "Kind"},
        "cert.col.product": {"zh": "产品", "en": "Product"},
        "cert.col.product_code": {"zh": "产品编码", "en": "Product code"},
        "cert.col.supplier": {"zh": "经营主体", "en": "Supplier"},
        "cert.col.number": {"zh": "认定编号", "en": "Certificate no."},
        "cert.col.body": {"zh": "认定机构", "en": "Certified by"},
        "cert.col.batch": {"zh": "认定批次", "en": "Batch"},
        "cert.col.valid_from": {"zh": "有效期起", "en": "Valid from"},
        "cert.col.valid_to": {"zh": "有效期止", "en": "Valid to"},
        "cert.col.state": {"zh": "状态", "en": "State"},
        "cert.col.days_left": {"zh": "剩余天数", "en": "Days left"},
        "cert.filter.search": {"zh": "搜索", "en": "Search"},
        "cert.filter.search_hint": {"zh": "产品、主体或编号", "en": "product, supplier or number"},
        "cert.filter.supplier": {"zh": "经营主体", "en": "Supplier"},
        "cert.filter.state": {"zh": "状态", "en": "State"},
        "cert.filter.within": {"zh": "N 天内到期", "en": "Ending within N days"},
        "cert.filter.holder": {"zh": "类型", "en": "Kind"},
        "cert.filter.all": {"zh": "全部", "en": "All"},
        "cert.filter.show": {"zh": "筛选", "en": "Filter"},
        "cert.filter.clear": {"zh": "清除", "en": "Clear"},
        "cert.shown": {"zh": "显示 {n} / {total} 条认定", "en": "{n} of {total} certificates"},
        "cert.none": {"zh": "没有符合条件的认定。", "en": "No certificate matches."},
        "cert.alerts": {"zh": "到期预警", "en": "Expiry alerts"},
        "cert.alerts_none": {"zh": "没有未解除的到期预警。", "en": "No open expiry alert."},
        "cert.alert.days": {"zh": "{n} 天预警", "en": "{n}-day alert"},
        "cert.chart": {
            "zh": "{year} 年帮扶销售与未认定产品销售（净额，按月）",
            "en": "Certified and uncertified sales, {year} (net, by month)",
        },
        "cert.chart_note_county": {
            "zh": "本区域店铺的销售，与县域总览、产品销售表、销售台账一致。",
            "en": "Sales of the region's shops: the same figures as the overview, the product table "
            "and the sales ledger.",
        },
        "cert.chart_note_coop": {
            "zh": "本社产品在各渠道的销售。",
            "en": "Sales of this cooperative's products on every channel.",
        },
        "cert.year": {"zh": "年度", "en": "Year"},
        "cert.export": {"zh": "导出", "en": "Export"},
        "cert.card.title": {"zh": "消费帮扶认定", "en": "Certified products"},
        "cert.card.body": {
            "zh": "有效认定 {valid} 项；30 天内到期 {d30} 项，60 天内到期 {d60} 项；已过期 {expired} 项；"
            "无有效认定的产品 {none} 个。",
            "en": "{valid} certificates in force; {d30} end within 30 days, {d60} within 60; {expired} expired; "
            "{none} products without a certificate in force.",
        },
        "cert.card.link": {"zh": "查看认定产品目录", "en": "Open the certified catalogue"},
    }
)

FILTER_STATES = ("", *qcert.STATES)
FILTER_HOLDERS = ("", *qcert.HOLDERS)


def _nav(scope: Scope) -> list[NavItem]:
    return [NavItem("/certificates", t("cert.menu"))] if scope.sees_suppliers else []


NAV.append(_nav)
routes = web.RouteTableDef()


def _scope(request: web.Request) -> Scope:
    scope = scope_of(request)
    if not scope.sees_suppliers:
        raise web.HTTPNotFound()
    return scope


async def _load(request: web.Request) -> tuple[qcert.Catalogue, dict[str, Any]]:
    scope = _scope(request)
    today = local_today()
    year = int_param(request, "year", today.year, lo=2000, hi=2100)
    state = choice_param(request, "state", FILTER_STATES, "")
    holder = choice_param(request, "holder", FILTER_HOLDERS, "")
    within = int_param(request, "within", 0, lo=1, hi=3650) or None
    supplier_id = int_param(request, "supplier", 0, lo=1) or None
    search = request.query.get("q", "").strip()[:64]
    period = Period(
        local_midnight(today.replace(year=year, month=1, day=1)),
        local_midnight(today.replace(year=year + 1, month=1, day=1)),
        str(year),
    )
    async with request.app[ENGINE].connect() as conn:
        c = await qcert.catalogue(
            conn,
            scope,
            today=today,
            period=period,
            search=search or None,
            supplier_id=supplier_id,
            state=state or None,
            within=within,
            holder=holder or None,
        )
    if supplier_id is not None and supplier_id not in {s for s, _ in c.suppliers}:
        raise web.HTTPNotFound()
    query = {"q": search, "supplier": supplier_id or "", "state": state, "within": within or "", "holder": holder}
    filters = {k: v for k, v in query.items() if v}
    return c, {"year": year, "filters": filters, "scope": scope}


def _report(c: qcert.Catalogue) -> Report:
    columns = [
        Column("holder", t("cert.col.holder")),
        Column("supplier", t("cert.col.supplier")),
        Column("product", t("cert.col.product")),
        Column("product_code", t("cert.col.product_code")),
        Column("number", t("cert.col.number")),
        Column("body", t("cert.col.body")),
        Column("batch", t("cert.col.batch")),
        Column("valid_from", t("cert.col.valid_from")),
        Column("valid_to", t("cert.col.valid_to")),
        Column("state", t("cert.col.state")),
        Column("days_left", t("cert.col.days_left"), "int"),
    ]
    rows = [
        {
            "holder": t(f"cert.holder.{r.holder}"),
            "supplier": r.supplier,
            "product": r.product,
            "product_code": r.spu_code,
            "number": r.number,
            "body": r.body,
            "batch": r.batch,
            "valid_from": r.valid_from.isoformat(),
            "valid_to": r.valid_to.isoformat(),
            "state": t(f"cert.state.{r.state}"),
            "days_left": r.days_left,
        }
        for r in c.rows
    ]
    report = Report("certificates", t("cert.title"), columns, rows)
    report.summary = [t("cert.intro")]
    return report


@routes.get("/certificates")
async def catalogue_page(request: web.Request) -> web.StreamResponse:
    fmt = request.query.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise BadParam("format", "xlsx or csv")
    c, ctx = await _load(request)
    if fmt:
        return export_response(_report(c), fmt, t("cert.title"), c.today.isoformat())
    chart = {
        "months": c.months,
        "certified": [fen / 100 for fen in c.certified],
        "uncertified": [fen / 100 for fen in c.uncertified],
        "certified_label": t("cert.line.certified"),
        "uncertified_label": t("cert.line.uncertified"),
    }
    filters: dict[str, Any] = ctx["filters"]
    context = ctx | {
        "c": c,
        "chart": chart,
        "states": qcert.STATES,
        "holders": qcert.HOLDERS,
        "export_qs": urlencode(filters | {"year": ctx["year"]}),
        "certified_total": sum(c.certified),
        "uncertified_total": sum(c.uncertified),
    }
    return render(request, "console/certification/catalogue.html", context)


@routes.get("/api/v1/certificates")
async def catalogue_api(request: web.Request) -> web.StreamResponse:
    c, _ctx = await _load(request)
    return web.json_response(qcert.catalogue_json(c))


def setup(app: web.Application) -> None:
    app.add_routes(routes)


_FEN = {"type": "integer", "description": "fen"}
_CERT = {
    "type": "object",
    "required": ["holder", "id", "supplier", "number", "valid_from", "valid_to", "status", "state"],
    "properties": {
        "holder": {"type": "string", "enum": list(qcert.HOLDERS)},
        "id": {"type": "integer"},
        "product_id": {"type": ["integer", "null"]},
        "product": {"type": ["string", "null"]},
        "product_code": {"type": ["string", "null"]},
        "supplier_id": {"type": "integer"},
        "supplier": {"type": "string"},
        "number": {"type": "string"},
        "body": {"type": "string"},
        "batch": {"type": ["string", "null"]},
        "valid_from": {"type": "string", "format": "date"},
        "valid_to": {"type": "string", "format": "date"},
        "status": {"type": "string", "enum": ["valid", "expired", "revoked"]},
        "state": {"type": "string", "enum": list(qcert.STATES)},
        "days_left": {"type": "integer"},
    },
}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "CertifiedCatalogue": {
        "type": "object",
        "required": ["today", "total", "counts", "items", "alerts", "monthly"],
        "properties": {
            "today": {"type": "string", "format": "date"},
            "total": {"type": "integer"},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "items": {"type": "array", "items": _CERT},
            "alerts": {"type": "array", "items": {"type": "object"}},
            "monthly": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["month", "certified_net_fen", "uncertified_net_fen"],
                    "properties": {"month": {"type": "string"}, "certified_net_fen": _FEN, "uncertified_net_fen": _FEN},
                },
            },
        },
    }
}
_QUERY = [
    {"name": "q", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 64}},
    {"name": "supplier", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
    {"name": "state", "in": "query", "required": False, "schema": {"type": "string", "enum": list(qcert.STATES)}},
    {"name": "within", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 3650}},
    {"name": "holder", "in": "query", "required": False, "schema": {"type": "string", "enum": list(qcert.HOLDERS)}},
    {"name": "year", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 2000, "maximum": 2100}},
]
OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/certificates": {
        "get": {
            "summary": "The certified catalogue the user sees: certificates, counts, expiry alerts, sales by month",
            "operationId": "certifiedCatalogue",
            "parameters": _QUERY,
            "responses": json_ok({"$ref": "#/components/schemas/CertifiedCatalogue"}) | error_responses(400, 401, 404),
        }
    }
}
