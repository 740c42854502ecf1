"""Order planting (订单种植): the county's planning page (``/county/planting``: per product the
sell-through by season, the forecast of the plan season with its 80% and 95% intervals, the
suggested plan per cooperative, the contracts and what was delivered against them) and each
cooperative's page (``/cooperatives/{id}/planting``: its suggested plan, where it accepts a plan
as a purchase contract at a guaranteed price, and its contracts).

The county (its region) and the admin see every cooperative's page; a cooperative its own.
Only the cooperative itself accepts its plan (a POST with the CSRF token); anyone else, and any
cooperative or product outside the user's scope or plan, gets a 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.clock import SHANGHAI, utcnow
from bangfu.enums import UserRole
from bangfu.i18n import MESSAGES, t
from bangfu.models import Cooperative, Supplier
from bangfu.money import fen_to_yuan_str
from bangfu.planting.contracts import ContractError, accept_plan, parse_price
from bangfu.queries.planting import (
    Planning,
    ProductPlan,
    contracts_report,
    history_report,
    plan_report,
    planning,
    sees_planting,
)
from bangfu.scope import Scope
from web.export import FORMATS, export_response
from web.keys import ENGINE, scope_of, user_of
from web.paging import choice_param, id_param
from web.render import NAV, NavItem, render

MESSAGES.update(
    {
        "web.planting.menu": {"zh": "订单种植", "en": "Order planting"},
        "web.planting.title": {
            "zh": "订单种植：{season} 需求预测与建议计划",
            "en": "Order planting: {season} forecast and plan",
        },
        "web.planting.coop_title": {"zh": "{name} · 订单种植", "en": "{name} · order planting"},
        "web.planting.intro": {
            "zh": "按季度汇总各商品的销量（扣除退款），预测下一季需求并给出 80%/95% 预测区间；"
            "按各合作社历史供货占比拆分为建议订单量，不超过其产能；合作社可据此签订订单收购合同，按保底价收购。",
            "en": "Each product's net units sold per quarter, the next season's demand forecast with its 80%/95% "
            "prediction intervals, split over cooperatives by their share of past supply and capped by their "
            "capacity; a cooperative accepts its plan as a purchase contract at a guaranteed price.",
        },
        "web.planting.seasons": {
            "zh": "今天 {today} 属 {current}（进行中，不参与预测）；"
            "预测依据截至 {last} 的完整季度；计划季度 {season}。",
            "en": "Today {today} is in {current} (running, not in the forecast); the forecast uses complete seasons "
            "up to {last}; the plan is for {season}.",
        },
        "web.planting.products": {"zh": "计划商品", "en": "Products planned"},
        "web.planting.seasonal": {"zh": "用季节模型", "en": "With a seasonal model"},
        "web.planting.forecast_total": {"zh": "{season} 预测总量", "en": "{season} forecast"},
        "web.planting.contracted": {"zh": "已签合同量", "en": "Contracted"},
        "web.planting.history": {"zh": "历史销量（单位：{unit}）", "en": "Units sold ({unit})"},
        "web.planting.current_so_far": {"zh": "{season} 至今", "en": "{season} so far"},
        "web.planting.imported": {"zh": "导入", "en": "imported"},
        "web.planting.imported_note": {
            "zh": "* 导入的历史数据（bangfu planting history import），代替该季该渠道的本系统订单数。",
            "en": "* imported history (bangfu planting history import), standing in for the hub's own orders "
            "of that season and channel.",
        },
        "web.planting.model": {"zh": "模型：{model}，历史 {n} 季", "en": "Model: {model}, {n} seasons of history"},
        "web.planting.forecast": {"zh": "{season} 预测", "en": "{season} forecast"},
        "web.planting.interval80": {"zh": "80% 区间", "en": "80% interval"},
        "web.planting.interval95": {"zh": "95% 区间", "en": "95% interval"},
        "web.planting.no_interval": {"zh": "数据太少，无区间", "en": "too little data for an interval"},
        "web.planting.interval_help": {
            "zh": "80% 区间：按模型，下季销量有八成可能落在此范围内；95% 区间更宽、更保守。"
            "区间越宽，订单量越宜取保守值。",
            "en": "80% interval: by the model, next season's units fall in this range four times out of five; the 95% "
            "interval is wider and more cautious. The wider the interval, the more cautious the contract.",
        },
        "web.planting.plan": {"zh": "建议计划（按合作社）", "en": "Suggested plan by cooperative"},
        "web.planting.uncovered": {"zh": "无合作社可承接：{n}", "en": "No cooperative can take: {n}"},
        "web.planting.no_supply": {
            "zh": "尚无合作社交售过该商品的批次",
            "en": "No cooperative has delivered lots of this product",
        },
        "web.planting.contracts": {"zh": "订单收购合同与交售", "en": "Purchase contracts and deliveries"},
        "web.planting.no_contracts": {"zh": "暂无合同", "en": "No contracts yet"},
        "web.planting.none": {"zh": "暂无可计划的商品", "en": "No products to plan"},
        "web.planting.xlsx_plan": {"zh": "下载计划 Excel", "en": "Plan (XLSX)"},
        "web.planting.xlsx_history": {"zh": "下载销量 Excel", "en": "Sell-through (XLSX)"},
        "web.planting.xlsx_contracts": {"zh": "下载合同 Excel", "en": "Contracts (XLSX)"},
        "web.planting.accept": {"zh": "签订收购合同", "en": "Accept as a contract"},
        "web.planting.accept_hint": {
            "zh": "按建议订单量 {n} {unit} 签订 {season} 订单收购合同，保底价（元/{unit}）：",
            "en": "Contract {n} {unit} for {season} at a guaranteed price (yuan per {unit}):",
        },
        "web.planting.accepted": {"zh": "已签订：{n} {unit}，保底价 {price}", "en": "Accepted: {n} {unit} at {price}"},
        "web.planting.accepted_notice": {"zh": "合同已签订。", "en": "Contract accepted."},
        "web.planting.open": {"zh": "合作社页面", "en": "Cooperative page"},
        "web.planting.card": {
            "zh": "订单收购合同 {contracts} 份、{contracted} 单位，已交付 {delivered} 单位；"
            "{season} 需求预测与供应计划见订单种植页",
            "en": "{contracts} purchase contracts, {contracted} units, {delivered} delivered; "
            "the {season} forecast and supply plan are on the planting page",
        },
        "web.planting.legend.actual": {"zh": "销量", "en": "Units sold"},
        "web.planting.legend.so_far": {"zh": "本季至今", "en": "This season so far"},
        "web.planting.legend.forecast": {"zh": "预测", "en": "Forecast"},
        "web.planting.card_link": {"zh": "查看订单种植计划", "en": "Open the planting plan"},
    }
)


def _nav(scope: Scope) -> list[NavItem]:
    if scope.role == UserRole.COOPERATIVE and scope.cooperative_id is not None:
        return [NavItem(f"/cooperatives/{scope.cooperative_id}/planting", t("web.planting.menu"))]
    if scope.role in (UserRole.ADMIN, UserRole.COUNTY):
        return [NavItem("/county/planting", t("web.planting.menu"))]
    return []


NAV.append(_nav)
routes = web.RouteTableDef()


def _today() -> Any:
    return utcnow().astimezone(SHANGHAI).date()


def _chart(p: ProductPlan, plan: Planning) -> dict[str, Any]:
    """One product's chart: units sold per season, today's season so far, the forecast of
    today's and the plan season with its 80% and 95% bands (drawn as stacked areas)."""
    labels = [s.label for s, _ in p.history] + [plan.current.label, plan.season.label]
    n = len(p.history)
    actual: list[int | None] = [*(f.units for _, f in p.history), None, None]
    so_far: list[int | None] = [*([None] * n), p.current.units, None]
    mean: list[float | None] = [None] * len(labels)
    lo80: list[float | None] = [None] * len(labels)
    band80: list[float | None] = [None] * len(labels)
    lo95: list[float | None] = [None] * len(labels)
    band95: list[float | None] = [None] * len(labels)
    if n:
        mean[n - 1] = float(p.history[-1][1].units)
    for i, point in enumerate(p.forecast.points):
        mean[n + i] = round(point.mean, 1)
        if point.lo80 is not None and point.hi80 is not None and point.lo95 is not None and point.hi95 is not None:
            lo80[n + i], band80[n + i] = round(point.lo80, 1), round(point.hi80 - point.lo80, 1)
            lo95[n + i], band95[n + i] = round(point.lo95, 1), round(point.hi95 - point.lo95, 1)
    return {
        "id": f"chart-{p.product_id}",
        "labels": labels,
        "actual": actual,
        "so_far": so_far,
        "mean": mean,
        "lo80": lo80,
        "band80": band80,
        "lo95": lo95,
        "band95": band95,
    }


def _texts() -> dict[str, str]:
    return {
        "actual": t("web.planting.legend.actual"),
        "so_far": t("web.planting.legend.so_far"),
        "forecast": t("web.planting.legend.forecast"),
        "i80": t("web.planting.interval80"),
        "i95": t("web.planting.interval95"),
    }


def _export(plan: Planning, request: web.Request, name: str) -> web.StreamResponse | None:
    if not request.query.get("format"):
        return None
    fmt = choice_param(request, "format", FORMATS, "xlsx")
    table = choice_param(request, "table", ["plan", "history", "contracts"], "plan")
    reports = {"plan": plan_report, "history": history_report}
    report = reports[table](plan) if table in reports else contracts_report(plan.contracts)
    return export_response(report, fmt, f"{report.title}-{name}-{plan.season.label}")


@routes.get("/county/planting")
async def county_planting(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    if scope.role not in (UserRole.ADMIN, UserRole.COUNTY):
        raise web.HTTPNotFound()
    async with request.app[ENGINE].connect() as conn:
        plan = await planning(conn, scope, _today())
    assert plan is not None
    exported = _export(plan, request, "county")
    if exported is not None:
        return exported
    context = {
        "plan": plan,
        "charts": [_chart(p, plan) for p in plan.products],
        "texts": _texts(),
        "coop_page": True,
        "accepting": False,
        "errors": {},
        "form": {},
        "notice": None,
        "title": t("web.planting.title", season=plan.season.label),
    }
    return render(request, "console/planting/planting.html", context)


async def _cooperative(conn: AsyncConnection, scope: Scope, coop_id: int) -> str | None:
    return await conn.scalar(
        select(Supplier.name)
        .join(Cooperative, Cooperative.supplier_id == Supplier.id)
        .where(Cooperative.id == coop_id, scope.cooperatives(Cooperative.id))
    )


async def _coop_page(request: web.Request, *, errors: dict[int, str] | None = None, form: dict[str, str] | None = None,
                     status: int = 200) -> web.StreamResponse:  # fmt: skip
    scope = scope_of(request)
    coop_id = id_param(request)
    if not sees_planting(scope):
        raise web.HTTPNotFound()
    async with request.app[ENGINE].connect() as conn:
        name = await _cooperative(conn, scope, coop_id)
        if name is None:
            raise web.HTTPNotFound()
        plan = await planning(conn, scope, _today(), cooperative_id=coop_id)
    assert plan is not None
    exported = _export(plan, request, name)
    if exported is not None:
        return exported
    context = {
        "plan": plan,
        "charts": [_chart(p, plan) for p in plan.products],
        "texts": _texts(),
        "coop_page": False,
        "coop_id": coop_id,
        "accepting": scope.role == UserRole.COOPERATIVE and scope.cooperative_id == coop_id,
        "errors": errors or {},
        "form": form or {},
        "notice": t("web.planting.accepted_notice") if request.query.get("accepted") == "1" else None,
        "title": t("web.planting.coop_title", name=name),
        "yuan_str": fen_to_yuan_str,
    }
    return render(request, "console/planting/planting.html", context, status=status)


@routes.get("/cooperatives/{id}/planting")
async def cooperative_planting(request: web.Request) -> web.StreamResponse:
    return await _coop_page(request)


@routes.post("/cooperatives/{id}/planting/accept")
async def accept(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    coop_id = id_param(request)
    if scope.role != UserRole.COOPERATIVE or scope.cooperative_id != coop_id:
        raise web.HTTPNotFound()
    form = await request.post()
    product_raw = str(form.get("product", ""))
    if not (product_raw.isascii() and product_raw.isdigit()) or len(product_raw) > 18:
        raise web.HTTPNotFound()
    product_id = int(product_raw)
    price_text = str(form.get("price", ""))
    async with request.app[ENGINE].connect() as conn:
        plan = await planning(conn, scope, _today(), cooperative_id=coop_id)
    assert plan is not None
    product = next((p for p in plan.products if p.product_id == product_id), None)
    row = next((r for r in product.rows if r.cooperative_id == coop_id), None) if product else None
    if product is None or row is None or row.planned <= 0:
        raise web.HTTPNotFound()
    try:
        price = parse_price(price_text)
        async with request.app[ENGINE].begin() as conn:
            user = user_of(request)
            await accept_plan(
                conn,
                cooperative_id=coop_id,
                product_id=product_id,
                season=plan.season,
                quantity=row.planned,
                price_fen=price,
                forecast_units=product.plan.units,
                forecast_model=product.forecast.model,
                by=user.id if user else None,
                now=datetime.now(UTC),
            )
    except ContractError as exc:
        return await _coop_page(request, errors={product_id: str(exc)}, form={str(product_id): price_text}, status=400)
    raise web.HTTPSeeOther(f"/cooperatives/{coop_id}/planting?accepted=1#product-{product_id}")


def setup(app: web.Application) -> None:
    app.add_routes(routes)
