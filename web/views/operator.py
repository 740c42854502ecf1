"""The e-commerce operator's console (运营): sync health with a sync button per shop, quarantined
records to clear, and the lines waiting for lot stock (and enterprise sales, credited whole to
the supplier payable).

The admin sees every shop, an operator their named shops (every shop when none is named);
everyone else gets a 404, as does a shop or record outside the scope. A sync asked for here is
queued as the Celery task ``bangfu.sync_shop_requested`` on the ``sync`` queue; in the embedded
default (no Redis) Celery runs it eagerly, so it runs in a worker thread before the redirect.
A re-fetch of a quarantined record is queued the same way (``bangfu.refetch_quarantined``), and
the list then says what came of it (stored and handled, or the platform's error).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bangfu.i18n import MESSAGES, t
from bangfu.queries.operator import (
    health_as_json,
    mark_handled,
    operates,
    quarantine_page,
    refetch_status,
    request_refetch,
    shop_in_scope,
    sync_health,
    waiting_as_json,
    waiting_for_stock,
)
from bangfu.scope import Scope
from web.api import error_responses, json_ok
from web.errors import BadParam
from web.keys import ENGINE, scope_of, user_of
from web.paging import id_param, page_window
from web.render import NAV, NavItem, render

MESSAGES.update(
    {
        "web.op.menu.sync": {"zh": "同步状态", "en": "Sync health"},
        "web.op.menu.quarantine": {"zh": "隔离记录", "en": "Quarantine"},
        "web.op.menu.waiting": {"zh": "待配货", "en": "Waiting for stock"},
        "web.op.title": {"zh": "店铺同步状态", "en": "Shops and sync health"},
        "web.op.intro": {
            "zh": "每个店铺、每类数据的同步游标、滞后和最近一次同步；与 bangfu sync status 同一计算。",
            "en": "Each shop's cursor, lag and latest run per stream; the same computation as bangfu sync status.",
        },
        "web.op.stream": {"zh": "数据", "en": "Stream"},
        "web.op.cursor": {"zh": "游标", "en": "Cursor"},
        "web.op.lag": {"zh": "滞后", "en": "Lag"},
        "web.op.last_run": {"zh": "最近同步", "en": "Last run"},
        "web.op.outcome": {"zh": "结果", "en": "Outcome"},
        "web.op.windows": {"zh": "窗口", "en": "Windows"},
        "web.op.new": {"zh": "新增", "en": "New"},
        "web.op.changed": {"zh": "变更", "en": "Changed"},
        "web.op.duplicates": {"zh": "重复", "en": "Duplicates"},
        "web.op.quarantined": {"zh": "隔离", "en": "Quarantined"},
        "web.op.errors": {"zh": "错误（按类）", "en": "Errors by class"},
        "web.op.message": {"zh": "平台消息", "en": "Platform's message"},
        "web.op.outcome.ok": {"zh": "成功", "en": "OK"},
        "web.op.outcome.failed": {"zh": "失败", "en": "Failed"},
        "web.op.outcome.running": {"zh": "同步中", "en": "Running"},
        "web.op.never": {"zh": "尚未同步", "en": "Never synced"},
        "web.op.inactive": {"zh": "已停用", "en": "Inactive"},
        "web.op.sync": {"zh": "同步", "en": "Sync"},
        "web.op.full": {"zh": "全量重同步", "en": "Full re-sync"},
        "web.op.full_hint": {
            "zh": "全量重同步会重新扫描整个回溯期，耗时较长；游标不会后退。",
            "en": "A full re-sync re-scans the whole look-back period and takes longer; cursors never move back.",
        },
        "web.op.queued": {"zh": "已提交同步：{shop}。", "en": "Sync queued: {shop}."},
        "web.op.queued_full": {"zh": "已提交全量重同步：{shop}。", "en": "Full re-sync queued: {shop}."},
        "web.op.alerts": {"zh": "未处理告警", "en": "Open alerts"},
        "web.op.other_alerts": {"zh": "其他告警", "en": "Other alerts"},
        "web.op.open_quarantine": {"zh": "{n} 条隔离记录待处理", "en": "{n} quarantined records open"},
        "web.op.not_synced": {
            "zh": "无平台接口：线下渠道的销售经文件导入，县域自营商城的订单由商城直接写入，无需同步。",
            "en": "No platform API: an offline channel's sales are imported from files and the county mall "
            "writes its own orders; nothing to sync.",
        },
        "web.op.no_shops": {"zh": "没有可管理的店铺。", "en": "No shops to run."},
        "web.op.q.title": {"zh": "隔离记录", "en": "Quarantined records"},
        "web.op.q.intro": {
            "zh": "平台返回、但无法规范化的记录，保留原始报文（已去除个人信息）。处理后标记为已处理，同步不再重试。",
            "en": "Records a platform sent that could not be normalised, kept with their raw payload "
            "(personal data removed). Mark one handled once dealt with; sync stops re-reading it.",
        },
        "web.op.q.shop": {"zh": "店铺", "en": "Shop"},
        "web.op.q.all_shops": {"zh": "全部店铺", "en": "All shops"},
        "web.op.q.include": {"zh": "含已处理", "en": "Include handled"},
        "web.op.q.show": {"zh": "查看", "en": "Show"},
        "web.op.q.record": {"zh": "平台记录号", "en": "Platform id"},
        "web.op.q.reason": {"zh": "原因", "en": "Reason"},
        "web.op.q.seen": {"zh": "隔离时间", "en": "Quarantined at"},
        "web.op.q.raw": {"zh": "原始报文", "en": "Raw payload"},
        "web.op.q.handle": {"zh": "标记已处理", "en": "Mark handled"},
        "web.op.q.handled_by": {"zh": "{who} 于 {when} 标记已处理", "en": "Marked handled by {who} at {when}"},
        "web.op.q.cleared": {"zh": "{when} 同步时已收到完整记录", "en": "Read whole by a sync at {when}"},
        "web.op.q.done": {"zh": "已标记为已处理。", "en": "Marked handled."},
        "web.op.q.already": {"zh": "该记录已处理过。", "en": "That record was handled already."},
        "web.op.q.none": {"zh": "没有待处理的隔离记录。", "en": "No quarantined records open."},
        "web.op.q.counts": {
            "zh": "待处理 {open} 条；本页列出 {total} 条中的第 {page} 页",
            "en": "{open} open; page {page} of {total} listed",
        },
        "web.op.q.refetch": {"zh": "重新获取", "en": "Re-fetch"},
        "web.op.q.refetch_hint": {
            "zh": "按平台记录号向平台重新获取这一条；能解析则照常入库并标记为已处理。",
            "en": "Fetch this one record again from the platform by id; if it parses now it is stored as "
            "any synced record and marked handled.",
        },
        "web.op.q.refetched_by": {
            "zh": "{who} 于 {when} 重新获取后入库，已处理",
            "en": "Fetched again and stored at {when}, asked for by {who}",
        },
        "web.op.q.cli": {"zh": "命令行", "en": "the command line"},
        "web.op.q.last_refetch": {
            "zh": "最近一次重新获取：{who}，{when}",
            "en": "Latest re-fetch: {who}, {when}",
        },
        "web.op.q.rf.queued": {"zh": "已提交重新获取，等待执行。", "en": "Re-fetch queued; waiting to run."},
        "web.op.q.rf.stored": {
            "zh": "已重新获取并入库，该记录已标记为已处理。",
            "en": "Fetched again and stored; the record is marked handled.",
        },
        "web.op.q.rf.failed": {
            "zh": "重新获取失败（{error}）：{message}",
            "en": "Re-fetch failed ({error}): {message}",
        },
        "web.op.q.rf.resolved": {"zh": "该记录已处理过，无需重新获取。", "en": "That record was handled already."},
        "web.op.q.rf.unsupported": {
            "zh": "该记录无法按编号重新获取：只有带平台记录号的订单和退款可以。",
            "en": "That record cannot be fetched by id: only orders and refunds with a platform id can.",
        },
        "web.op.prev": {"zh": "上一页", "en": "Previous"},
        "web.op.next": {"zh": "下一页", "en": "Next"},
        "web.op.w.title": {"zh": "等待批次库存的订单行", "en": "Lines waiting for lot stock"},
        "web.op.w.intro": {
            "zh": "已付款、尚未从任何供货批次配货的订单行（入账状态为“等待批次”），按 SKU 汇总；"
            "补货入库后自动配货入账。",
            "en": "Paid lines that drew from no supply lot yet (posting status waiting_lots), by SKU; "
            "they draw and post once a lot arrives.",
        },
        "web.op.w.total": {"zh": "共 {lines} 行，金额 {money}", "en": "{lines} lines, {money}"},
        "web.op.w.sku": {"zh": "SKU", "en": "SKU"},
        "web.op.w.product": {"zh": "商品", "en": "Product"},
        "web.op.w.supplier": {"zh": "经营主体", "en": "Supplier"},
        "web.op.w.lines": {"zh": "行数", "en": "Lines"},
        "web.op.w.units": {"zh": "件数", "en": "Units"},
        "web.op.w.money": {"zh": "待配金额", "en": "Money waiting"},
        "web.op.w.since": {"zh": "最早付款", "en": "Oldest paid"},
        "web.op.w.none": {"zh": "没有等待库存的订单行。", "en": "No lines wait for stock."},
        "web.op.w.add_lot": {"zh": "新增批次", "en": "Add a lot"},
        "web.op.e.title": {"zh": "企业主体销售", "en": "Enterprise suppliers' sales"},
        "web.op.e.intro": {
            "zh": "企业（非合作社）经营主体的商品不做农户分配：扣除费用后的净额全部计入“应付经营主体”账户。",
            "en": "Products of enterprise (non-cooperative) suppliers are not split among households: "
            "the whole net after fees is credited to the supplier payable.",
        },
        "web.op.e.account": {"zh": "入账科目", "en": "Credited to"},
        "web.op.e.paid": {"zh": "实付", "en": "Paid"},
        "web.op.e.credited": {"zh": "已计入应付", "en": "Credited to payable"},
        "web.op.e.unposted": {"zh": "未入账行", "en": "Lines not posted"},
        "web.op.e.none": {"zh": "没有企业主体的销售。", "en": "No enterprise sales."},
    }
)


def _nav(scope: Scope) -> list[NavItem]:
    if not operates(scope):
        return []
    return [
        NavItem("/operator", t("web.op.menu.sync")),
        NavItem("/operator/quarantine", t("web.op.menu.quarantine")),
        NavItem("/operator/waiting", t("web.op.menu.waiting")),
    ]


NAV.append(_nav)
routes = web.RouteTableDef()


def operator_scope(request: web.Request) -> Scope:
    """The user's scope if they operate shops (admin, operator); anyone else gets a 404."""
    scope = scope_of(request)
    if not operates(scope):
        raise web.HTTPNotFound()
    return scope


def _query_id(request: web.Request, name: str) -> int | None:
    """An optional id in the query string; anything but a positive whole number is a 400."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) < 1:
        raise BadParam(name, "a positive whole number")
    return int(raw)


# -- sync health --------------------------------------------------------------------------------------
@routes.get("/operator")
async def sync_page(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    async with request.app[ENGINE].connect() as conn:
        health = await sync_health(conn, scope, datetime.now(UTC))
    assert health is not None
    return render(request, "console/operator/sync.html", {"h": health, "notice": _queued_notice(request, health)})


def _queued_notice(request: web.Request, health: Any) -> str | None:
    """``?queued=sync-3`` / ``full-3`` after the redirect: which sync was asked for."""
    kind, _, raw = request.query.get("queued", "").partition("-")
    names = {s.id: s.name for s in health.shops}
    if kind not in ("sync", "full") or not raw.isdigit() or int(raw) not in names:
        return None
    return t("web.op.queued_full" if kind == "full" else "web.op.queued", shop=names[int(raw)])


@routes.get("/api/v1/operator/sync")
async def sync_api(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    async with request.app[ENGINE].connect() as conn:
        health = await sync_health(conn, scope, datetime.now(UTC))
    assert health is not None
    return web.json_response(health_as_json(health))


def _task_database_url(request: web.Request) -> str | None:
    """The store for the task: None (the worker's settings) unless the app serves another one."""
    from bangfu.settings import get_settings

    url = request.app[ENGINE].url.render_as_string(hide_password=False)
    return None if url == get_settings().resolved_database_url else url


def queue_sync(shop_id: int, full: bool, database_url: str | None) -> None:
    """Queue ``bangfu.sync_shop_requested`` (eager in the embedded default: it runs here)."""
    from workers.tasks import sync_shop_requested

    sync_shop_requested.apply_async(args=(shop_id,), kwargs={"full": full, "database_url": database_url}, queue="sync")


@routes.post("/operator/shops/{id}/sync")
async def sync_post(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    shop_id = id_param(request)
    form = await request.post()
    full = form.get("full") == "1"
    async with request.app[ENGINE].connect() as conn:
        if not await shop_in_scope(conn, scope, shop_id):
            raise web.HTTPNotFound()
        health = await sync_health(conn, scope, datetime.now(UTC), shop_id=shop_id)
    if health is None or not all(s.synced for s in health.shops):
        raise web.HTTPNotFound()  # an offline shop or the county's mall: no platform to sync from
    # In eager mode the task runs the sync with its own event loop: keep it off this one.
    await asyncio.to_thread(queue_sync, shop_id, full, _task_database_url(request))
    raise web.HTTPSeeOther(f"/operator?queued={'full' if full else 'sync'}-{shop_id}#shop-{shop_id}")


# -- quarantine ---------------------------------------------------------------------------------------
@routes.get("/operator/quarantine")
async def quarantine_view(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    shop_id = _query_id(request, "shop")
    include = request.query.get("all") == "1"
    window = page_window(request, 20)
    async with request.app[ENGINE].connect() as conn:
        page = await quarantine_page(
            conn, scope, shop_id=shop_id, include_resolved=include, offset=window.offset, limit=window.limit
        )
        health = await sync_health(conn, scope, datetime.now(UTC))
    if page is None or health is None:
        raise web.HTTPNotFound()
    query = "&".join(p for p in (f"shop={shop_id}" if shop_id else "", "all=1" if include else "") if p)
    async with request.app[ENGINE].connect() as conn:
        refetch = await _refetch_notice(conn, scope, request.query.get("refetched", ""))
    return render(
        request,
        "console/operator/quarantine.html",
        {
            "q": page,
            "shops": [(s.id, s.name) for s in health.shops],
            "shop_id": shop_id,
            "include": include,
            "window": window,
            "query": query,
            "notice": request.query.get("done"),
            "refetch": refetch,
        },
    )


async def _refetch_notice(conn: Any, scope: Scope, value: str) -> tuple[str, str] | None:
    """``?refetched=<request id>`` (or ``resolved`` / ``unsupported``) after a re-fetch: (kind, text)."""
    if value in ("resolved", "unsupported"):
        return ("note", t(f"web.op.q.rf.{value}"))
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        return None
    status = await refetch_status(conn, scope, int(value))
    if status is None:
        return None
    if status.outcome == "failed":
        return ("failure", t("web.op.q.rf.failed", error=status.error_class or "-", message=status.message or "-"))
    return ("notice" if status.outcome == "stored" else "note", t(f"web.op.q.rf.{status.outcome}"))


def _back_query(form: Any) -> str:
    """The list's filters the form came from (``shop=3&all=1``), echoed back after the redirect."""
    back = str(form.get("back") or "")
    return back if back and all(c.isalnum() or c in "=&" for c in back) else ""


def queue_refetch(refetch_id: int, database_url: str | None) -> None:
    """Queue ``bangfu.refetch_quarantined`` (eager in the embedded default: it runs here)."""
    from workers.refetch import refetch_quarantined

    refetch_quarantined.apply_async(args=(refetch_id,), kwargs={"database_url": database_url}, queue="sync")


@routes.post("/operator/quarantine/{id}/refetch")
async def quarantine_refetch(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    record_id = id_param(request)
    user = user_of(request)
    assert user is not None
    form = await request.post()
    async with request.app[ENGINE].begin() as conn:
        requested = await request_refetch(conn, scope, record_id, user.id, datetime.now(UTC))
    if requested is None:
        raise web.HTTPNotFound()
    if isinstance(requested, int):
        # In eager mode the task fetches with its own event loop: keep it off this one.
        await asyncio.to_thread(queue_refetch, requested, _task_database_url(request))
    query = _back_query(form)
    sep = "&" if query else ""
    raise web.HTTPSeeOther(f"/operator/quarantine?{query}{sep}refetched={requested}#q-{record_id}")


@routes.post("/operator/quarantine/{id}/handled")
async def quarantine_handled(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    record_id = id_param(request)
    user = user_of(request)
    assert user is not None
    form = await request.post()
    async with request.app[ENGINE].begin() as conn:
        done = await mark_handled(conn, scope, record_id, user.id, datetime.now(UTC))
    if done is None:
        raise web.HTTPNotFound()
    query = _back_query(form)
    sep = "&" if query else ""
    raise web.HTTPSeeOther(f"/operator/quarantine?{query}{sep}done={'1' if done else '0'}")


# -- waiting for stock --------------------------------------------------------------------------------
@routes.get("/operator/waiting")
async def waiting_page(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    async with request.app[ENGINE].connect() as conn:
        waiting = await waiting_for_stock(conn, scope)
    assert waiting is not None
    return render(request, "console/operator/waiting.html", {"w": waiting})


@routes.get("/api/v1/operator/waiting")
async def waiting_api(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    async with request.app[ENGINE].connect() as conn:
        waiting = await waiting_for_stock(conn, scope)
    assert waiting is not None
    return web.json_response(waiting_as_json(waiting))


def setup(app: web.Application) -> None:
    app.add_routes(routes)


# -- OpenAPI ------------------------------------------------------------------------------------------
_NULLABLE_TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
_ALERT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "kind", "severity", "message", "created_at"],
    "properties": {
        "id": {"type": "integer"},
        "kind": {"type": "string"},
        "severity": {"type": "string"},
        "subject": {"type": ["string", "null"]},
        "message": {"type": "string"},
        "created_at": _NULLABLE_TIME,
    },
}
_RUN: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["id", "outcome", "windows_done", "rows_new", "rows_changed", "duplicates", "quarantined", "errors"],
    "properties": {
        "id": {"type": "integer"},
        "started_at": _NULLABLE_TIME,
        "finished_at": _NULLABLE_TIME,
        "outcome": {"type": "string", "enum": ["ok", "failed", "running"]},
        "windows_done": {"type": "integer"},
        "rows_new": {"type": "integer"},
        "rows_changed": {"type": "integer"},
        "rows_unchanged": {"type": "integer"},
        "duplicates": {"type": "integer"},
        "quarantined": {"type": "integer"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "integer"},
            "description": "count by error class",
        },
        "message": {"type": ["string", "null"], "description": "the platform's message, secrets redacted"},
    },
}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "OperatorSync": {
        "type": "object",
        "required": ["items", "other_alerts"],
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "platform", "active", "open_quarantine", "synced", "alerts", "streams"],
                    "properties": {
                        "id": {"type": "integer"},
                        "name": {"type": "string"},
                        "platform": {"type": "string"},
                        "active": {"type": "boolean"},
                        "open_quarantine": {"type": "integer"},
                        "synced": {
                            "type": "boolean",
                            "description": "pulled from a platform's API (false: an offline shop or the county's mall)",
                        },
                        "alerts": {"type": "array", "items": _ALERT},
                        "streams": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["stream", "cursor", "lag_seconds", "last_run"],
                                "properties": {
                                    "stream": {"type": "string"},
                                    "cursor": _NULLABLE_TIME,
                                    "lag_seconds": {"type": ["integer", "null"], "description": "now minus the cursor"},
                                    "last_run": _RUN,
                                },
                            },
                        },
                    },
                },
            },
            "other_alerts": {"type": "array", "items": _ALERT, "description": "open alerts about no shop"},
        },
    },
    "OperatorWaiting": {
        "type": "object",
        "required": ["items", "enterprise_sales"],
        "properties": {
            "items": {
                "type": "array",
                "description": "paid lines waiting for lot stock, by SKU, oldest first",
                "items": {
                    "type": "object",
                    "required": ["sku_id", "sku_code", "product_id", "product_name", "lines", "units", "paid_fen"],
                    "properties": {
                        "sku_id": {"type": "integer"},
                        "sku_code": {"type": "string"},
                        "spec": {"type": "string"},
                        "product_id": {"type": "integer"},
                        "product_name": {"type": "string"},
                        "supplier_name": {"type": "string"},
                        "lines": {"type": "integer"},
                        "units": {"type": "integer"},
                        "paid_fen": {"type": "integer"},
                        "oldest_paid_at": _NULLABLE_TIME,
                    },
                },
            },
            "enterprise_sales": {
                "type": "array",
                "description": "paid lines of enterprise suppliers' products; the net is credited to supplier:<id>",
                "items": {
                    "type": "object",
                    "required": ["supplier_id", "supplier_name", "account_code", "lines", "paid_fen", "credited_fen"],
                    "properties": {
                        "supplier_id": {"type": "integer"},
                        "supplier_name": {"type": "string"},
                        "account_code": {"type": "string"},
                        "lines": {"type": "integer"},
                        "paid_fen": {"type": "integer"},
                        "credited_fen": {"type": "integer"},
                        "unposted_lines": {"type": "integer"},
                    },
                },
            },
        },
    },
}
OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/operator/sync": {
        "get": {
            "summary": "Sync health per shop and stream for the caller's shops (admin and operators)",
            "operationId": "operatorSync",
            "responses": json_ok({"$ref": "#/components/schemas/OperatorSync"}) | error_responses(401, 404),
        }
    },
    "/api/v1/operator/waiting": {
        "get": {
            "summary": "Lines waiting for lot stock by SKU, and enterprise suppliers' sales",
            "operationId": "operatorWaiting",
            "responses": json_ok({"$ref": "#/components/schemas/OperatorWaiting"}) | error_responses(401, 404),
        }
    },
}
