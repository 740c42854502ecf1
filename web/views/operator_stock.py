"""Stock across channels (库存) in the operator console: per SKU the truth, each channel's share,
reservations for live sessions, what each channel was last told and its unfinished pushes, with
a button that settles the ``uncertain`` ones by reading the stock back from the platform.

Figures come from :mod:`bangfu.queries.stock` (the same computation as ``bangfu stock push
--dry-run``). The admin sees every shop, an operator their named shops (every shop when none is
named); everyone else gets a 404, as does a SKU no shop in scope lists or a shop outside the
scope. Settling is queued as the Celery task ``bangfu.stock_settle_requested`` on the ``sync``
queue (eager in the embedded default: it runs in a worker thread before the redirect); who asked
is recorded on each settled push.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bangfu.enums import UserRole
from bangfu.i18n import MESSAGES
from bangfu.queries.operator import shop_in_scope
from bangfu.queries.stock import overview_as_json, sku_as_json, sku_stock, stock_overview
from web.api import error_responses, json_ok
from web.errors import BadParam
from web.keys import ENGINE, user_of
from web.paging import id_param, page_window
from web.render import render
from web.views.operator import operator_scope

MESSAGES.update(
    {
        "web.op.menu.stock": {"zh": "库存", "en": "Stock"},
        "web.op.s.title": {"zh": "多渠道库存", "en": "Stock across channels"},
        "web.op.s.intro": {
            "zh": "真实库存 = 供货批次剩余 − 已售未配货；按各店铺的分配规则和直播预留分给各渠道，"
            "只推送差额。“平台最多持有”是中台能确定的上限，不会少算。",
            "en": "Truth = what the supply lots hold − units sold and not yet drawn; shared out to the "
            "channels by each shop's rule and the live-session reservations, pushed as deltas. "
            "'Held at most' is the upper bound the hub can be sure of.",
        },
        "web.op.s.shop": {"zh": "店铺", "en": "Shop"},
        "web.op.s.all_shops": {"zh": "全部店铺", "en": "All shops"},
        "web.op.s.q": {"zh": "SKU 或商品名", "en": "SKU or product"},
        "web.op.s.problems": {"zh": "只看有未完成推送的", "en": "Only with unfinished pushes"},
        "web.op.s.show": {"zh": "查看", "en": "Show"},
        "web.op.s.counts": {
            "zh": "未完成推送：结果未知 {uncertain}，失败 {failed}，进行中 {pending}",
            "en": "Unfinished pushes: {uncertain} uncertain, {failed} failed, {pending} pending",
        },
        "web.op.s.settle": {"zh": "回读确认结果未知的推送", "en": "Settle uncertain pushes"},
        "web.op.s.settle_hint": {
            "zh": "从平台读回库存，判定每条结果未知的推送是否已生效并记录；随后重新推送差额。",
            "en": "Reads the stock back from the platform, records whether each uncertain push applied, "
            "then pushes the difference again.",
        },
        "web.op.s.settle_queued": {
            "zh": "已提交回读确认{shop}。结果见下方“未完成的推送”和“最近的回读确认”。",
            "en": "Settling queued{shop}. See the unfinished pushes and the latest settlements below.",
        },
        "web.op.s.sku": {"zh": "SKU", "en": "SKU"},
        "web.op.s.truth": {"zh": "真实库存", "en": "Truth"},
        "web.op.s.lots": {"zh": "批次剩余", "en": "In lots"},
        "web.op.s.undrawn": {"zh": "已售未配货", "en": "Sold, not drawn"},
        "web.op.s.held": {"zh": "各渠道最多持有", "en": "Held by channels at most"},
        "web.op.s.elsewhere": {"zh": "其中其他店铺", "en": "of which other shops"},
        "web.op.s.channel": {"zh": "渠道", "en": "Channel"},
        "web.op.s.share": {"zh": "分配规则", "en": "Share"},
        "web.op.s.rule_sku": {"zh": "本 SKU", "en": "this SKU"},
        "web.op.s.rule_default": {"zh": "店铺默认", "en": "shop default"},
        "web.op.s.no_rule": {"zh": "无规则（分剩余）", "en": "no rule (leftover)"},
        "web.op.s.floor": {"zh": "保底 {n}", "en": "floor {n}"},
        "web.op.s.reserved": {"zh": "直播预留", "en": "Reserved (live)"},
        "web.op.s.target": {"zh": "应分配", "en": "Target"},
        "web.op.s.believed": {"zh": "平台最多持有", "en": "Held at most"},
        "web.op.s.last": {"zh": "最近一次告知平台", "en": "Last told"},
        "web.op.s.last_push": {"zh": "{delta}，之后 {after}", "en": "{delta}, then {after}"},
        "web.op.s.last_read": {"zh": "读回 {after}", "en": "read {after}"},
        "web.op.s.never": {"zh": "尚未接管", "en": "not taken over yet"},
        "web.op.s.unfinished": {"zh": "未完成", "en": "Unfinished"},
        "web.op.s.inactive": {"zh": "已停用，不推送", "en": "inactive: not pushed"},
        "web.op.s.no_skus": {"zh": "没有符合条件的 SKU。", "en": "No SKU matches."},
        "web.op.s.open_title": {"zh": "未完成的推送", "en": "Unfinished pushes"},
        "web.op.s.open_none": {"zh": "没有未完成的推送。", "en": "No unfinished push."},
        "web.op.s.push": {"zh": "推送", "en": "Push"},
        "web.op.s.delta": {"zh": "变化", "en": "Delta"},
        "web.op.s.status": {"zh": "状态", "en": "Status"},
        "web.op.s.sent": {"zh": "发送时间", "en": "Sent"},
        "web.op.s.message": {"zh": "平台消息", "en": "Platform's message"},
        "web.op.s.attempt": {"zh": "上次回读", "en": "Last settle attempt"},
        "web.op.s.settled_title": {"zh": "最近的回读确认", "en": "Latest settlements"},
        "web.op.s.settled_by": {"zh": "{who} 于 {when}", "en": "{who} at {when}"},
        "web.op.s.read_back": {"zh": "读回", "en": "Read back"},
        "web.op.s.verdict": {"zh": "结论", "en": "Verdict"},
        "web.op.s.how": {"zh": "依据", "en": "How"},
        "web.op.s.res_title": {"zh": "直播预留", "en": "Reservations for live sessions"},
        "web.op.s.res_none": {"zh": "没有进行中或将开始的预留。", "en": "No reservation running or to come."},
        "web.op.s.units": {"zh": "件数", "en": "Units"},
        "web.op.s.from": {"zh": "开始", "en": "From"},
        "web.op.s.to": {"zh": "结束", "en": "To"},
        "web.op.s.session": {"zh": "直播场次", "en": "Live session"},
        "web.op.s.running": {"zh": "进行中", "en": "running"},
        "web.op.s.upcoming": {"zh": "未开始", "en": "to come"},
        "web.op.s.history": {"zh": "推送记录（最近 100 条）", "en": "Pushes (latest 100)"},
        "web.op.s.history_none": {"zh": "还没有推送记录。", "en": "No push yet."},
        "web.op.s.detail": {"zh": "详情", "en": "Details"},
        "web.op.s.back": {"zh": "返回库存列表", "en": "Back to stock"},
        "web.op.s.page": {"zh": "共 {total} 个 SKU，第 {page} 页", "en": "{total} SKUs, page {page}"},
        "web.op.s.st.pending": {"zh": "进行中", "en": "pending"},
        "web.op.s.st.done": {"zh": "已生效", "en": "done"},
        "web.op.s.st.failed": {"zh": "失败（下次重试）", "en": "failed (retried next push)"},
        "web.op.s.st.uncertain": {"zh": "结果未知", "en": "uncertain"},
        "web.op.s.st.not_applied": {"zh": "未生效（已回读确认）", "en": "not applied (settled)"},
        "web.op.s.st.read": {"zh": "读回平台库存", "en": "read from the platform"},
    }
)

routes = web.RouteTableDef()
Q_MAX = 64


def _filters(request: web.Request) -> tuple[int | None, str | None, bool]:
    """``shop`` (a positive whole number), ``q`` (at most 64 characters), ``problems`` (1 or 0)."""
    raw = request.query.get("shop", "")
    shop_id: int | None = None
    if raw:
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) < 1:
            raise BadParam("shop", "a positive whole number")
        shop_id = int(raw)
    q = request.query.get("q", "").strip() or None
    if q is not None and len(q) > Q_MAX:
        raise BadParam("q", f"at most {Q_MAX} characters")
    if q is not None and any(ord(c) < 32 for c in q):
        raise BadParam("q", "no control characters")
    flag = request.query.get("problems", "")
    if flag not in ("", "0", "1"):
        raise BadParam("problems", "1 or 0")
    return shop_id, q, flag == "1"


async def _overview(request: web.Request) -> tuple[Any, int | None, str | None, bool, Any]:
    scope = operator_scope(request)
    shop_id, q, problems = _filters(request)
    window = page_window(request, 20)
    async with request.app[ENGINE].connect() as conn:
        overview = await stock_overview(
            conn,
            scope,
            datetime.now(UTC),
            shop_id=shop_id,
            q=q,
            problems=problems,
            offset=window.offset,
            limit=window.limit,
        )
    if overview is None:
        raise web.HTTPNotFound()
    return overview, shop_id, q, problems, window


@routes.get("/operator/stock")
async def stock_page(request: web.Request) -> web.StreamResponse:
    overview, shop_id, q, problems, window = await _overview(request)
    params = [
        ("shop", str(shop_id)) if shop_id else None,
        ("q", q) if q else None,
        ("problems", "1") if problems else None,
    ]
    query = urlencode([p for p in params if p is not None])
    notice = None
    if request.query.get("settle") == "queued":
        names = dict(overview.shops)
        notice = "web.op.s.settle_queued", (f" ({names[shop_id]})" if shop_id in names else "")
    return render(
        request,
        "console/operator/stock.html",
        {
            "o": overview,
            "shop_id": shop_id,
            "q": q or "",
            "problems": problems,
            "window": window,
            "query": query,
            "notice": notice,
        },
    )


@routes.get("/operator/stock/{id}")
async def sku_page(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    sku_id = id_param(request)
    async with request.app[ENGINE].connect() as conn:
        detail = await sku_stock(conn, scope, sku_id, datetime.now(UTC))
    if detail is None:
        raise web.HTTPNotFound()
    return render(request, "console/operator/stock_sku.html", {"d": detail})


@routes.get("/api/v1/operator/stock")
async def stock_api(request: web.Request) -> web.StreamResponse:
    overview, *_ = await _overview(request)
    return web.json_response(overview_as_json(overview))


@routes.get("/api/v1/operator/stock/{id}")
async def sku_api(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    sku_id = id_param(request)
    async with request.app[ENGINE].connect() as conn:
        detail = await sku_stock(conn, scope, sku_id, datetime.now(UTC))
    if detail is None:
        raise web.HTTPNotFound()
    from bangfu.queries.stock import push_as_json

    return web.json_response(sku_as_json(detail.sku) | {"pushes": [push_as_json(p) for p in detail.pushes]})


def _task_database_url(request: web.Request) -> str | None:
    """The store for the task: None (the worker's settings) unless the app serves another one."""
    from bangfu.settings import get_settings

    url = request.app[ENGINE].url.render_as_string(hide_password=False)
    return None if url == get_settings().resolved_database_url else url


def queue_settle(shop_ids: list[int] | None, by: str, database_url: str | None) -> None:
    """Queue ``bangfu.stock_settle_requested`` (eager in the embedded default: it runs here)."""
    from workers.tasks import stock_settle_requested

    stock_settle_requested.apply_async(args=(shop_ids, by), kwargs={"database_url": database_url}, queue="sync")


@routes.post("/operator/stock/settle")
async def settle_post(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    user = user_of(request)
    assert user is not None
    form = await request.post()
    raw = str(form.get("shop") or "")
    shop_id: int | None = None
    if raw:
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) < 1:
            raise BadParam("shop", "a positive whole number")
        shop_id = int(raw)
        async with request.app[ENGINE].connect() as conn:
            if not await shop_in_scope(conn, scope, shop_id):
                raise web.HTTPNotFound()
    if shop_id is not None:
        shops: list[int] | None = [shop_id]
    elif scope.role == UserRole.ADMIN or scope.shop_ids is None:
        shops = None
    else:
        shops = sorted(scope.shop_ids)
    # In eager mode the task settles with its own event loop: keep it off this one.
    await asyncio.to_thread(queue_settle, shops, user.name, _task_database_url(request))
    back = str(form.get("back") or "")  # the page's filters, to come back to
    query = back if back and all(c.isascii() and (c.isalnum() or c in "=&%+-_.") for c in back) else ""
    if not query and shop_id:
        query = f"shop={shop_id}"
    raise web.HTTPSeeOther(f"/operator/stock?{query}{'&' if query else ''}settle=queued")


def setup(app: web.Application) -> None:
    app.add_routes(routes)


# -- OpenAPI ------------------------------------------------------------------------------------------
_TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
_FILTERS: list[dict[str, Any]] = [
    {"name": "shop", "in": "query", "schema": {"type": "integer", "minimum": 1}, "description": "one shop"},
    {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": Q_MAX}, "description": "SKU or product"},
    {"name": "problems", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}},
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {"name": "size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
]
_PUSH: dict[str, Any] = {
    "type": "object",
    "required": ["id", "listing_id", "shop_id", "sku_id", "delta", "status", "created_at"],
    "properties": {
        "id": {"type": "integer"},
        "listing_id": {"type": "integer"},
        "shop_id": {"type": "integer"},
        "sku_id": {"type": "integer"},
        "sku_code": {"type": "string"},
        "delta": {"type": "integer", "description": "0: the stock was read (takeover or settlement)"},
        "stock_after": {"type": ["integer", "null"]},
        "status": {"type": "string", "enum": ["pending", "done", "failed", "uncertain", "not_applied"]},
        "message": {"type": ["string", "null"], "description": "the platform's message, redacted"},
        "created_at": _TIME,
        "done_at": _TIME,
        "settled_at": _TIME,
        "settled_by": {"type": ["string", "null"]},
        "settled_stock": {"type": ["integer", "null"], "description": "the stock read back"},
        "settle_note": {"type": ["string", "null"]},
    },
}
_SKU: dict[str, Any] = {
    "type": "object",
    "required": ["sku_id", "sku_code", "truth", "lots", "undrawn", "held", "channels"],
    "properties": {
        "sku_id": {"type": "integer"},
        "sku_code": {"type": "string"},
        "product_name": {"type": "string"},
        "spec": {"type": "string"},
        "lots": {"type": "integer"},
        "undrawn": {"type": "integer"},
        "truth": {"type": "integer", "description": "lots less sold units not yet drawn, never below 0"},
        "held": {"type": "integer", "description": "Σ believed over every listing of the SKU"},
        "held_elsewhere": {"type": "integer", "description": "of which by shops outside the caller's"},
        "channels": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["listing_id", "shop_id", "believed", "target", "reserved"],
                "properties": {
                    "listing_id": {"type": "integer"},
                    "shop_id": {"type": "integer"},
                    "shop_name": {"type": "string"},
                    "platform": {"type": "string"},
                    "shop_active": {"type": "boolean"},
                    "platform_item_id": {"type": "string"},
                    "platform_sku_id": {"type": "string"},
                    "taken_over": {"type": "boolean"},
                    "believed": {"type": "integer"},
                    "sold_since_read": {"type": "integer"},
                    "share_bp": {"type": ["integer", "null"]},
                    "floor": {"type": "integer"},
                    "priority": {"type": "integer"},
                    "rule_for": {"type": ["string", "null"], "enum": ["sku", "default", None]},
                    "reserved": {"type": "integer"},
                    "target": {"type": "integer"},
                    "last_told": {"oneOf": [{"$ref": "#/components/schemas/StockPush"}, {"type": "null"}]},
                    "open_pushes": {"type": "array", "items": {"$ref": "#/components/schemas/StockPush"}},
                },
            },
        },
    },
}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "StockPush": _PUSH,
    "OperatorStockSku": _SKU,
    "OperatorStock": {
        "type": "object",
        "required": ["items", "total", "open_counts", "open_pushes", "settled", "reservations"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/OperatorStockSku"}},
            "total": {"type": "integer"},
            "open_counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "open_pushes": {"type": "array", "items": {"$ref": "#/components/schemas/StockPush"}},
            "settled": {"type": "array", "items": {"$ref": "#/components/schemas/StockPush"}},
            "reservations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "shop_id", "sku_id", "quantity", "starts_at", "ends_at", "active"],
                    "properties": {
                        "id": {"type": "integer"},
                        "shop_id": {"type": "integer"},
                        "sku_id": {"type": "integer"},
                        "sku_code": {"type": "string"},
                        "quantity": {"type": "integer"},
                        "starts_at": _TIME,
                        "ends_at": _TIME,
                        "session_id": {"type": ["integer", "null"]},
                        "active": {"type": "boolean"},
                    },
                },
            },
        },
    },
}
OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/operator/stock": {
        "get": {
            "summary": "Stock across channels for the caller's shops: truth, shares, reservations, pushes",
            "operationId": "operatorStock",
            "parameters": _FILTERS,
            "responses": json_ok({"$ref": "#/components/schemas/OperatorStock"}) | error_responses(400, 401, 404),
        }
    },
    "/api/v1/operator/stock/{id}": {
        "get": {
            "summary": "One SKU's stock across the caller's channels and its latest pushes",
            "operationId": "operatorStockSku",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}],
            "responses": json_ok(
                {
                    "allOf": [
                        {"$ref": "#/components/schemas/OperatorStockSku"},
                        {
                            "type": "object",
                            "properties": {
                                "pushes": {"type": "array", "items": {"$ref": "#/components/schemas/StockPush"}}
                            },
                        },
                    ]
                }
            )
            | error_responses(401, 404),
        }
    },
}
