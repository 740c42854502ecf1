"""Adding a supply lot (收购批次) in the console: reached from each SKU of the operator's
"waiting for stock" page (``/lots/new?sku=ID``) and from the cooperative's menu.

The form's lot goes through the import's validation and loader (:mod:`bangfu.queries.lots`),
so it is exactly an imported lot; a wrong field is named beside it and nothing is written. Once
it is stored, the pipeline (``bangfu.process_all``: attribution, lot allocation, posting) is
queued on the ``accounting`` queue (eager in the embedded default, so it has run before the
redirect), and ``/lots/{id}`` shows what the lot filled: the lines that drew from it, the money
no longer waiting, and what still waits for the SKU. Who may add a lot for which SKU is decided
in :mod:`bangfu.queries.lots`; anyone else, or a SKU or lot outside the scope, gets a 404.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bangfu.clock import SHANGHAI
from bangfu.enums import UserRole
from bangfu.i18n import MESSAGES, t
from bangfu.queries.lots import (
    GRADES,
    MAX_ROWS,
    LotRejected,
    LotSku,
    add_lot,
    adds_lots,
    lot_form,
    lot_outcome,
    lot_skus,
)
from bangfu.scope import Scope
from bangfu.store import session_factory
from web.keys import ENGINE, scope_of
from web.paging import id_param
from web.render import NAV, NavItem, render
from web.views.operator import _query_id, _task_database_url

MESSAGES.update(
    {
        "web.lot.menu": {"zh": "新增收购批次", "en": "Add a supply lot"},
        "web.lot.add": {"zh": "补货：新增收购批次", "en": "Add a supply lot"},
        "web.lot.add_for": {"zh": "为此 SKU 新增批次", "en": "Add a lot for this SKU"},
        "web.lot.intro": {
            "zh": "与 bangfu import lots 导入的批次完全相同：同样的校验，同样入库。"
            "每行是一户交售农户的数量、等级和保底价；企业主体的批次不填成员编号，只填一行数量。"
            "保存后，等待此 SKU 库存的订单行按付款先后配货入账。",
            "en": "Exactly a lot imported with bangfu import lots: the same checks, stored the same way. Each row is "
            "one delivering household's quantity, grade and guaranteed price; an enterprise's lot has one row "
            "with a quantity and no member. Once saved, the lines waiting for this SKU draw from it in payment "
            "order and post.",
        },
        "web.lot.pick": {"zh": "选择 SKU", "en": "Choose a SKU"},
        "web.lot.pick_intro": {
            "zh": "可新增批次的 SKU，等待金额多的在前。",
            "en": "SKUs you may add a lot for, most money waiting first.",
        },
        "web.lot.none": {"zh": "没有可新增批次的 SKU。", "en": "No SKU to add a lot for."},
        "web.lot.sku": {"zh": "SKU", "en": "SKU"},
        "web.lot.waiting": {
            "zh": "等待此 SKU 库存：{lines} 行，{units} 件，{money}，最早付款 {since}",
            "en": "Waiting for this SKU: {lines} lines, {units} units, {money}, oldest paid {since}",
        },
        "web.lot.no_waiting": {"zh": "此 SKU 目前没有等待库存的订单行。", "en": "No line waits for this SKU now."},
        "web.lot.lot_code": {"zh": "批次号", "en": "Lot code"},
        "web.lot.receiver": {"zh": "收购主体", "en": "Received by"},
        "web.lot.received_on": {"zh": "收购（交售）日期", "en": "Delivered on"},
        "web.lot.households": {"zh": "交售农户", "en": "Delivering households"},
        "web.lot.row": {"zh": "行", "en": "Row"},
        "web.lot.member_no": {"zh": "成员编号", "en": "Member no."},
        "web.lot.quantity": {"zh": "数量（件）", "en": "Quantity (units)"},
        "web.lot.grade": {"zh": "等级", "en": "Grade"},
        "web.lot.price": {"zh": "保底价（元/件）", "en": "Guaranteed price (¥/unit)"},
        "web.lot.members_hint": {
            "zh": "{coop} 的成员：{members}",
            "en": "Members of {coop}: {members}",
        },
        "web.lot.result_hint": {"zh": "如：合格（农残快检）", "en": "e.g. passed (pesticide residue test)"},
        "web.lot.save": {"zh": "保存批次并配货", "en": "Save the lot and fill lines"},
        "web.lot.errors": {
            "zh": "未保存：请改正下面标出的 {n} 处，什么都没有写入。",
            "en": "Not saved: correct the {n} fields marked below; nothing was written.",
        },
        "web.lot.title": {"zh": "收购批次 {code}", "en": "Supply lot {code}"},
        "web.lot.stored": {
            "zh": "批次已保存，配货任务已提交：等待此 SKU 的订单行按付款先后从批次配货。",
            "en": "Lot saved and the allocation queued: lines waiting for this SKU draw from it in payment order.",
        },
        "web.lot.filled": {"zh": "由此批次配货的订单行", "en": "Lines filled from this lot"},
        "web.lot.filled_fen": {"zh": "不再等待的金额", "en": "Money no longer waiting"},
        "web.lot.filled_units": {"zh": "配出件数", "en": "Units drawn"},
        "web.lot.posted": {"zh": "已入账行", "en": "Lines posted"},
        "web.lot.remaining": {"zh": "批次剩余", "en": "Left in the lot"},
        "web.lot.still": {"zh": "仍在等待此 SKU", "en": "Still waiting for this SKU"},
        "web.lot.still_value": {"zh": "{lines} 行，{money}", "en": "{lines} lines, {money}"},
        "web.lot.guaranteed": {"zh": "交售时应付保底价", "en": "Guaranteed prices due at delivery"},
        "web.lot.households_n": {"zh": "{n} 户", "en": "{n} households"},
        "web.lot.back": {"zh": "返回待配货", "en": "Back to waiting lines"},
        "web.lot.refresh": {
            "zh": "配货在后台进行时，刷新本页可看到最新进展。",
            "en": "While the allocation runs in the background, reload this page to see its progress.",
        },
    }
)


def _nav(scope: Scope) -> list[NavItem]:
    # Operators and the admin reach the form from the waiting page; a cooperative from its menu.
    return [NavItem("/lots/new", t("web.lot.menu"))] if scope.role == UserRole.COOPERATIVE else []


NAV.append(_nav)
routes = web.RouteTableDef()


def _scope(request: web.Request) -> Scope:
    scope = scope_of(request)
    if not adds_lots(scope):
        raise web.HTTPNotFound()
    return scope


_ROW_FIELD = re.compile(r"(?:member_no|quantity|grade|price)_([0-9]{1,2})")


def _today() -> str:
    return datetime.now(SHANGHAI).date().isoformat()


def _suggested_code(sku: LotSku) -> str:
    return f"{sku.code}-{datetime.now(ZoneInfo('Asia/Shanghai')):%Y%m%d}"[:40]


async def _form_page(
    request: web.Request, scope: Scope, sku_id: int, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> web.Response:
    async with request.app[ENGINE].connect() as conn:
        data = await lot_form(conn, scope, sku_id)
    if data is None:
        raise web.HTTPNotFound()
    if not values:
        values = {
            "lot_code": _suggested_code(data.sku),
            "receiver": data.receivers[0].code if data.receivers else "",
            "received_on": _today(),
            "grade_1": "A",
        }
    used = [int(m.group(1)) for k, v in values.items() if v and (m := _ROW_FIELD.fullmatch(k))]
    rows = max([MAX_ROWS // 4, *used])
    return render(
        request,
        "console/operator/lot_form.html",
        {
            "f": data,
            "v": values,
            "errors": errors,
            "rows": range(1, min(rows + 2, MAX_ROWS) + 1),
            "grades": GRADES,
        },
        status=status,
    )


@routes.get("/lots/new")
async def new_lot(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    sku_id = _query_id(request, "sku")
    if sku_id is None:
        async with request.app[ENGINE].connect() as conn:
            skus = await lot_skus(conn, scope)
        return render(request, "console/operator/lot_pick.html", {"skus": skus[:200]})
    return await _form_page(request, scope, sku_id, {}, {})


@routes.post("/lots/new")
async def create_lot(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    sku_id = _query_id(request, "sku")
    if sku_id is None:
        raise web.HTTPNotFound()
    form = await request.post()
    values = {str(k): str(v) for k, v in form.items() if k != "_csrf" and isinstance(v, str)}
    async with request.app[ENGINE].connect() as conn:
        found = await lot_skus(conn, scope, sku_id=sku_id)
    if not found:
        raise web.HTTPNotFound()
    try:
        async with session_factory(request.app[ENGINE])() as session, session.begin():
            lot_id = await add_lot(session, scope, found[0], values)
    except LotRejected as rejected:  # raised inside begin(): rolled back, nothing written
        return await _form_page(request, scope, sku_id, values, rejected.errors, status=400)
    # In eager mode the task runs the pipeline with its own event loop: keep it off this one.
    await asyncio.to_thread(queue_allocation, _task_database_url(request))
    raise web.HTTPSeeOther(f"/lots/{lot_id}?stored=1")


def queue_allocation(database_url: str | None) -> None:
    """Queue ``bangfu.process_all`` (attribution, lot allocation, posting) for every shop: the
    lines of a SKU draw in payment order whichever shop sold them."""
    from workers.tasks import process_all

    process_all.apply_async(kwargs={"database_url": database_url}, queue="accounting")


@routes.get("/lots/{id}")
async def lot_page(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    lot_id = id_param(request)
    async with request.app[ENGINE].connect() as conn:
        lot = await lot_outcome(conn, scope, lot_id)
    if lot is None:
        raise web.HTTPNotFound()
    context: dict[str, Any] = {"lot": lot, "stored": request.query.get("stored") == "1"}
    return render(request, "console/operator/lot.html", context)


def setup(app: web.Application) -> None:
    app.add_routes(routes)
