"""The operator's reconciliation (对账) pages: exceptions by shop, state and fee type; one order's
verdict by type with its bill lines and history; accept with a reason, resolve, reopen (PRG,
CSRF); and a form that runs the reconciliation of a shop and month (the Celery task
``bangfu.reconcile``, eager in the embedded default). JSON at ``/api/v1/operator/reconciliation``.

The admin sees every shop, an operator their shops; everyone else gets a 404, as does an
exception of a shop outside the scope.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bangfu.i18n import MESSAGES, t
from bangfu.queries.reconciliation import (
    REASON_MAX,
    STATES,
    TYPES,
    VERDICTS,
    TransitionError,
    act,
    detail_as_json,
    exception_detail,
    exceptions_page,
    page_as_json,
    shops_in_scope,
    verdict_summary,
    verdicts_as_json,
)
from bangfu.reports.base import SHANGHAI
from web.api import error_responses, json_ok
from web.errors import BadParam
from web.keys import ENGINE, user_of
from web.paging import id_param, page_window
from web.render import render
from web.views.operator import operator_scope

MESSAGES.update(
    {
        "web.op.menu.recon": {"zh": "对账", "en": "Reconciliation"},
        "web.op.r.title": {"zh": "对账异常", "en": "Reconciliation exceptions"},
        "web.op.r.intro": {
            "zh": "每次对账把平台结算单与中台应收逐单比较；金额不符、回款缺失或未知订单回款的订单列为异常。"
            "差额按类型（货款、退款、各项费用）列出，单位元；处理记录谁在何时做了什么。",
            "en": "Each run compares every order's settlement bill with what the hub expects; an order whose "
            "amounts differ, whose payout is missing or that the hub does not know is an exception. Differences "
            "are by type (sale, refund, each fee); every step records who did what and when.",
        },
        "web.op.r.shop": {"zh": "店铺", "en": "Shop"},
        "web.op.r.all": {"zh": "全部", "en": "All"},
        "web.op.r.state": {"zh": "状态", "en": "State"},
        "web.op.r.type": {"zh": "差额类型", "en": "Difference type"},
        "web.op.r.show": {"zh": "查看", "en": "Show"},
        "web.op.r.order": {"zh": "平台订单号", "en": "Order"},
        "web.op.r.verdict": {"zh": "结论", "en": "Verdict"},
        "web.op.r.expected": {"zh": "应收", "en": "Expected"},
        "web.op.r.actual": {"zh": "实收", "en": "Paid out"},
        "web.op.r.diff": {"zh": "差额", "en": "Difference"},
        "web.op.r.updated": {"zh": "最近处理", "en": "Last change"},
        "web.op.r.run_by": {"zh": "对账程序", "en": "reconcile run"},
        "web.op.r.none": {"zh": "没有符合条件的对账异常。", "en": "No reconciliation exceptions match."},
        "web.op.r.counts": {
            "zh": "待处理 {open} · 已接受 {accepted} · 已解决 {resolved} · 重新打开 {reopened}",
            "en": "Open {open} · accepted {accepted} · resolved {resolved} · reopened {reopened}",
        },
        "web.op.r.state.open": {"zh": "待处理", "en": "Open"},
        "web.op.r.state.accepted": {"zh": "已接受", "en": "Accepted"},
        "web.op.r.state.resolved": {"zh": "已解决", "en": "Resolved"},
        "web.op.r.state.reopened": {"zh": "重新打开", "en": "Reopened"},
        "web.op.r.action.opened": {"zh": "发现异常", "en": "Opened"},
        "web.op.r.action.changed": {"zh": "金额变化", "en": "Amounts changed"},
        "web.op.r.action.accepted": {"zh": "接受差额", "en": "Accepted"},
        "web.op.r.action.resolved": {"zh": "标记解决", "en": "Resolved"},
        "web.op.r.action.reopened": {"zh": "重新打开", "en": "Reopened"},
        "web.op.r.run": {"zh": "运行对账", "en": "Run reconciliation"},
        "web.op.r.month": {"zh": "付款月份", "en": "Month paid"},
        "web.op.r.ran": {"zh": "已完成对账：{shop} {period}。", "en": "Reconciled: {shop} {period}."},
        "web.op.r.detail": {"zh": "订单对账", "en": "Order reconciliation"},
        "web.op.r.basis_is": {"zh": "费用依据：{basis}", "en": "Fee basis: {basis}"},
        "web.op.r.by_type": {"zh": "按类型", "en": "By type"},
        "web.op.r.flagged": {"zh": "超出容差", "en": "Beyond tolerance"},
        "web.op.r.bill": {"zh": "结算单明细", "en": "Bill lines"},
        "web.op.r.bill_id": {"zh": "账单号", "en": "Bill id"},
        "web.op.r.settled": {"zh": "结算时间", "en": "Settled"},
        "web.op.r.no_bill": {"zh": "尚无结算单。", "en": "No bill lines yet."},
        "web.op.r.history": {"zh": "处理记录", "en": "History"},
        "web.op.r.who": {"zh": "操作人", "en": "Who"},
        "web.op.r.when": {"zh": "时间", "en": "When"},
        "web.op.r.reason": {"zh": "原因 / 备注", "en": "Reason / note"},
        "web.op.r.accept": {"zh": "接受差额", "en": "Accept the difference"},
        "web.op.r.resolve": {"zh": "标记已解决", "en": "Mark resolved"},
        "web.op.r.reopen": {"zh": "重新打开", "en": "Reopen"},
        "web.op.r.reason_hint": {
            "zh": "接受差额时必须填写原因（最多 500 字）。",
            "en": "A reason is required to accept (at most 500 characters).",
        },
        "web.op.r.done": {"zh": "已记录：{state}。", "en": "Recorded: {state}."},
        "web.op.r.err.reason_missing": {
            "zh": "“原因”一栏：接受差额必须填写原因。",
            "en": "Reason: accepting the difference needs a reason.",
        },
        "web.op.r.err.reason_long": {
            "zh": "“原因”一栏：最多 500 字，填写了 {n} 字。",
            "en": "Reason: at most 500 characters; this one has {n}.",
        },
        "web.op.r.err.state": {
            "zh": "当前状态不允许此操作（可能已被他人处理），请刷新后重试。",
            "en": "The exception's state does not allow that (someone may have acted on it); reload and retry.",
        },
        "web.op.r.back": {"zh": "返回列表", "en": "Back to the list"},
        "web.op.r.kind.matched": {"zh": "一致", "en": "Matched"},
        "web.op.r.kind.amount_differs": {"zh": "金额不符", "en": "Amounts differ"},
        "web.op.r.kind.payout_missing": {"zh": "回款缺失", "en": "Payout missing"},
        "web.op.r.kind.unknown_order": {"zh": "未知订单回款", "en": "Payout for an unknown order"},
        "web.op.r.kind.pending": {"zh": "待回款", "en": "Pending"},
        "web.op.r.basis.bill": {"zh": "结算单（已入账）", "en": "Bill (in the ledger)"},
        "web.op.r.basis.bill_unposted": {"zh": "结算单（待入账）", "en": "Bill (to be posted)"},
        "web.op.r.basis.ledger": {"zh": "账簿（按估算入账）", "en": "Ledger (posted on estimates)"},
        "web.op.r.basis.estimate": {"zh": "分账方案估算", "en": "Policy estimates"},
        "web.op.r.type.sale": {"zh": "货款", "en": "Sale"},
        "web.op.r.type.refund": {"zh": "退款", "en": "Refund"},
        "web.op.r.type.platform_fee": {"zh": "平台服务费", "en": "Platform fee"},
        "web.op.r.type.host_commission": {"zh": "主播佣金", "en": "Host commission"},
        "web.op.r.type.payment_fee": {"zh": "支付手续费", "en": "Payment fee"},
        "web.op.r.type.logistics": {"zh": "物流费", "en": "Logistics"},
        "web.op.r.type.subsidy": {"zh": "平台补贴", "en": "Subsidy"},
        "web.op.r.type.other": {"zh": "其他", "en": "Other"},
        "web.op.r.verdicts": {"zh": "对账结论（按店铺、付款月份）", "en": "Verdicts by shop and month paid"},
        "web.op.r.verdicts_intro": {
            "zh": "最近一次对账中各订单的结论；一致和待回款的订单不是异常。",
            "en": "Each order's verdict in the latest run; matched and pending orders are no exceptions.",
        },
        "web.op.r.orders": {"zh": "订单数", "en": "Orders"},
        "web.op.r.never_run": {
            "zh": "尚未对账：选择店铺和月份后点击“运行对账”。",
            "en": "Not reconciled yet: pick a shop and a month and run the reconciliation.",
        },
        "web.op.r.allowed_none": {"zh": "当前状态下没有可做的操作。", "en": "No action is open in this state."},
    }
)

routes = web.RouteTableDef()
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _filters(request: web.Request) -> tuple[int | None, str | None, str | None]:
    raw = request.query.get("shop", "")
    shop: int | None = None
    if raw:
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) < 1:
            raise BadParam("shop", "a positive whole number")
        shop = int(raw)
    state = request.query.get("state") or None
    if state is not None and state not in STATES:
        raise BadParam("state", "one of " + ", ".join(STATES))
    fee = request.query.get("type") or None
    if fee is not None and fee not in TYPES:
        raise BadParam("type", "one of " + ", ".join(TYPES))
    return shop, state, fee


async def _page(request: web.Request) -> tuple[Any, Any, tuple[int | None, str | None, str | None], Any, Any]:
    scope = operator_scope(request)
    filters = _filters(request)
    window = page_window(request, 50)
    async with request.app[ENGINE].connect() as conn:
        page = await exceptions_page(
            conn,
            scope,
            shop_id=filters[0],
            state=filters[1],
            fee_type=filters[2],
            offset=window.offset,
            limit=window.limit,
        )
        if page is None:
            raise web.HTTPNotFound()
        shops = await shops_in_scope(conn, scope)
        verdicts = await verdict_summary(conn, scope, filters[0])
    return page, shops, filters, window, verdicts


@routes.get("/operator/reconciliation")
async def list_page(request: web.Request) -> web.StreamResponse:
    page, shops, (shop, state, fee), window, verdicts = await _page(request)
    query = "&".join(
        p
        for p in (f"shop={shop}" if shop else "", f"state={state}" if state else "", f"type={fee}" if fee else "")
        if p
    )
    ran = request.query.get("ran", "")
    notice = None
    if ran:
        shop_part, _, period = ran.partition(":")
        names = dict(shops)
        if shop_part.isdigit() and int(shop_part) in names and _PERIOD.match(period):
            notice = (names[int(shop_part)], period)
    return render(
        request,
        "console/operator/reconciliation.html",
        {
            "p": page,
            "shops": shops,
            "shop_id": shop,
            "state": state,
            "fee": fee,
            "states": STATES,
            "types": TYPES,
            "verdicts": verdicts,
            "verdict_kinds": VERDICTS,
            "window": window,
            "query": query,
            "notice": notice,
            "months": _recent_months(datetime.now(UTC), 12),
        },
    )


def _recent_months(now: datetime, count: int) -> list[str]:
    """This month and the ones before it (Asia/Shanghai), newest first, as ``YYYY-MM``."""
    local = now.astimezone(SHANGHAI)
    year, month, out = local.year, local.month, []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out


@routes.get("/api/v1/operator/reconciliation")
async def list_api(request: web.Request) -> web.StreamResponse:
    page, _, _, _, verdicts = await _page(request)
    return web.json_response(page_as_json(page) | {"verdicts": verdicts_as_json(verdicts)})


async def _detail(request: web.Request) -> Any:
    scope = operator_scope(request)
    exception_id = id_param(request)
    async with request.app[ENGINE].connect() as conn:
        detail = await exception_detail(conn, scope, exception_id)
    if detail is None:
        raise web.HTTPNotFound()
    return detail


@routes.get("/operator/reconciliation/{id}")
async def detail_page(request: web.Request) -> web.StreamResponse:
    detail = await _detail(request)
    done = request.query.get("done")
    return _detail_page(request, detail, done=done if done in STATES else None)


def _detail_page(
    request: web.Request,
    detail: Any,
    *,
    done: str | None = None,
    error: str | None = None,
    action: str | None = None,
    reason: str = "",
    status: int = 200,
) -> web.Response:
    return render(
        request,
        "console/operator/reconciliation_detail.html",
        {"d": detail, "done": done, "error": error, "action": action, "reason": reason, "reason_max": REASON_MAX},
        status=status,
    )


@routes.get("/api/v1/operator/reconciliation/{id}")
async def detail_api(request: web.Request) -> web.StreamResponse:
    return web.json_response(detail_as_json(await _detail(request)))


@routes.post("/operator/reconciliation/{id}/{action:(accept|resolve|reopen)}")
async def action_post(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    exception_id = id_param(request)
    user = user_of(request)
    assert user is not None
    form = await request.post()
    reason = form.get("reason")
    try:
        async with request.app[ENGINE].begin() as conn:
            state = await act(
                conn,
                scope,
                exception_id,
                request.match_info["action"],
                user.id,
                reason if isinstance(reason, str) else None,
                datetime.now(UTC),
            )
    except TransitionError as exc:
        # Nothing was written. Bad reason: 400, the page again with the reason as typed and the
        # field named; a state that does not allow the action (someone else acted first): 409.
        detail = await _detail(request)
        text = reason.strip() if isinstance(reason, str) else ""
        message = t(f"web.op.r.err.{exc.code}", n=len(text))
        return _detail_page(
            request,
            detail,
            error=message,
            action=request.match_info["action"],
            reason=text,
            status=409 if exc.code == "state" else 400,
        )
    if state is None:
        raise web.HTTPNotFound()
    raise web.HTTPSeeOther(f"/operator/reconciliation/{exception_id}?done={state}")


def run_reconcile(shop_id: int, period: str, database_url: str | None) -> None:
    """Queue ``bangfu.reconcile`` (eager in the embedded default: it runs here)."""
    from workers.tasks import reconcile

    reconcile.apply_async(args=(shop_id, period), kwargs={"database_url": database_url}, queue="reconcile")


@routes.post("/operator/reconciliation/run")
async def run_post(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    form = await request.post()
    raw_shop, period = str(form.get("shop") or ""), str(form.get("period") or "")
    if not (raw_shop.isascii() and raw_shop.isdigit()) or len(raw_shop) > 18:
        raise BadParam("shop", "a positive whole number")
    if not _PERIOD.match(period):
        raise BadParam("period", "a month as YYYY-MM")
    shop_id = int(raw_shop)
    async with request.app[ENGINE].connect() as conn:
        if shop_id not in dict(await shops_in_scope(conn, scope)):
            raise web.HTTPNotFound()
    from web.views.operator import _task_database_url

    await asyncio.to_thread(run_reconcile, shop_id, period, _task_database_url(request))
    raise web.HTTPSeeOther(f"/operator/reconciliation?shop={shop_id}&ran={shop_id}:{period}")


def setup(app: web.Application) -> None:
    app.add_routes(routes)


# -- OpenAPI ------------------------------------------------------------------------------------------
_DIFFS: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "integer"}, "description": "fen by type"}
_ITEM_PROPS: dict[str, Any] = {
    "id": {"type": "integer"},
    "shop_id": {"type": "integer"},
    "shop_name": {"type": "string"},
    "platform_order_id": {"type": "string"},
    "state": {"type": "string", "enum": list(STATES)},
    "kind": {"type": "string"},
    "period": {"type": ["string", "null"]},
    "verdict": {"type": ["string", "null"]},
    "expected_fen": {"type": ["integer", "null"]},
    "actual_fen": {"type": ["integer", "null"]},
    "differences": _DIFFS,
    "reason": {"type": ["string", "null"]},
    "updated_at": {"type": ["string", "null"], "format": "date-time"},
    "updated_by": {"type": ["string", "null"], "description": "null: a reconcile run"},
}
_ITEM_REQUIRED = ["id", "shop_id", "platform_order_id", "state", "kind", "differences"]
OPENAPI_SCHEMAS: dict[str, Any] = {
    "ReconException": {"type": "object", "required": _ITEM_REQUIRED, "properties": _ITEM_PROPS},
    "ReconExceptionPage": {
        "type": "object",
        "required": ["items", "total", "counts", "verdicts"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/ReconException"}},
            "total": {"type": "integer"},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}, "description": "by state"},
            "verdicts": {
                "type": "array",
                "description": "the latest runs' verdicts by shop and month paid (the shop filter applies)",
                "items": {
                    "type": "object",
                    "required": ["shop_id", "shop_name", "period", "orders", "counts"],
                    "properties": {
                        "shop_id": {"type": "integer"},
                        "shop_name": {"type": "string"},
                        "period": {"type": "string"},
                        "orders": {"type": "integer"},
                        "counts": {
                            "type": "object",
                            "required": list(VERDICTS),
                            "properties": {k: {"type": "integer"} for k in VERDICTS},
                        },
                    },
                },
            },
        },
    },
    "ReconExceptionDetail": {
        "type": "object",
        "required": [*_ITEM_REQUIRED, "types", "bill", "history", "allowed"],
        "properties": {
            **_ITEM_PROPS,
            "fee_basis": {"type": ["string", "null"]},
            "types": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["type", "expected_fen", "actual_fen", "difference_fen", "flagged"],
                    "properties": {
                        "type": {"type": "string", "enum": list(TYPES)},
                        "expected_fen": {"type": "integer"},
                        "actual_fen": {"type": "integer"},
                        "difference_fen": {"type": "integer"},
                        "flagged": {"type": "boolean"},
                    },
                },
            },
            "bill": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["bill_id", "kind", "amount_fen"],
                    "properties": {
                        "bill_id": {"type": "string"},
                        "kind": {"type": "string"},
                        "amount_fen": {"type": "integer"},
                        "settled_at": {"type": ["string", "null"], "format": "date-time"},
                        "line_id": {"type": ["string", "null"]},
                    },
                },
            },
            "history": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["action", "state", "kind", "at"],
                    "properties": {
                        "action": {"type": "string"},
                        "state": {"type": "string"},
                        "who": {"type": ["string", "null"]},
                        "reason": {"type": ["string", "null"]},
                        "kind": {"type": "string"},
                        "differences": _DIFFS,
                        "at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
            },
            "allowed": {"type": "array", "items": {"type": "string", "enum": ["accept", "resolve", "reopen"]}},
        },
    },
}
_FILTERS: list[dict[str, Any]] = [
    {"name": "shop", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {"name": "state", "in": "query", "schema": {"type": "string", "enum": list(STATES)}},
    {"name": "type", "in": "query", "schema": {"type": "string", "enum": list(TYPES)}},
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {"name": "size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
]
OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/operator/reconciliation": {
        "get": {
            "summary": "Reconciliation exceptions of the caller's shops (admin and operators)",
            "operationId": "operatorReconciliation",
            "parameters": _FILTERS,
            "responses": json_ok({"$ref": "#/components/schemas/ReconExceptionPage"}) | error_responses(400, 401, 404),
        }
    },
    "/api/v1/operator/reconciliation/{id}": {
        "get": {
            "summary": "One reconciliation exception: the verdict by type, the bill lines and the history",
            "operationId": "operatorReconciliationException",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}],
            "responses": json_ok({"$ref": "#/components/schemas/ReconExceptionDetail"}) | error_responses(401, 404),
        }
    },
}
