"""Shipments (发货回传) in the operator console: every shipment of the shops in the user's scope
with its push state, attempts, the platform's last error and the next retry, and a retry button
for a failed (or waiting) one. The admin and operators only (their named shops); anyone else,
and a shipment of a shop outside the scope, gets a 404. The push itself runs in the Celery task
``bangfu.push_shipments`` (every two minutes): a retry makes the shipment due now (an auth
failure's retry also resolves the shop's ``shipments.auth`` alert, so the shop is pushed again).
"""

from __future__ import annotations

from aiohttp import web

from bangfu.enums import ShipmentState
from bangfu.i18n import MESSAGES
from bangfu.queries.operator import shop_in_scope
from bangfu.queries.shipments import shipments_page
from web.errors import BadParam
from web.keys import ENGINE
from web.paging import choice_param, id_param, page_window
from web.render import render
from web.views.operator import operator_scope

MESSAGES.update(
    {
        "web.op.menu.shipments": {"zh": "发货回传", "en": "Shipments"},
        "web.op.sh.title": {"zh": "发货回传", "en": "Shipments pushed to the platforms"},
        "web.op.sh.intro": {
            "zh": "县里发出的订单（含各平台订单）把快递公司和运单号回传给平台；限流和临时错误自动按退避重试，"
            "平台拒绝的（已退款、运单号不符、已用其他运单号发货）标为失败并显示平台原因，授权失效时该店铺暂停回传。",
            "en": "Orders the county ships (platform orders too) are marked shipped on their platform with the "
            "carrier and tracking number; rate limits and transient errors are retried with backoff, refusals "
            "(refunded, a bad tracking number, shipped with another one) fail with the platform's reason, and an "
            "auth error stops the shop's pushes.",
        },
        "web.op.sh.all": {"zh": "全部", "en": "All"},
        "web.op.sh.state.pending": {"zh": "待回传", "en": "Pending"},
        "web.op.sh.state.pushed": {"zh": "已回传", "en": "Pushed"},
        "web.op.sh.state.failed": {"zh": "失败", "en": "Failed"},
        "web.op.sh.state.local": {"zh": "无需回传", "en": "Local"},
        "web.op.sh.shop": {"zh": "店铺", "en": "Shop"},
        "web.op.sh.all_shops": {"zh": "全部店铺", "en": "All shops"},
        "web.op.sh.show": {"zh": "查看", "en": "Show"},
        "web.op.sh.order": {"zh": "订单", "en": "Order"},
        "web.op.sh.carrier": {"zh": "快递", "en": "Carrier"},
        "web.op.sh.recorded": {"zh": "登记", "en": "Recorded"},
        "web.op.sh.state": {"zh": "状态", "en": "State"},
        "web.op.sh.attempts": {"zh": "尝试", "en": "Attempts"},
        "web.op.sh.error": {"zh": "最近错误", "en": "Last error"},
        "web.op.sh.next": {"zh": "下次重试 {at}", "en": "next try {at}"},
        "web.op.sh.pushed_at": {"zh": "回传于 {at}", "en": "pushed {at}"},
        "web.op.sh.already": {"zh": "平台已有此运单号", "en": "already on the platform"},
        "web.op.sh.retry": {"zh": "重试", "en": "Retry"},
        "web.op.sh.retried": {
            "zh": "已安排重新回传 #{id}，下一轮回传（每两分钟）将发送。",
            "en": "Shipment #{id} is due again: the next push run (every two minutes) sends it.",
        },
        "web.op.sh.none": {"zh": "没有发货记录", "en": "No shipments"},
        "web.op.sh.more": {"zh": "下一页", "en": "Next page"},
        "web.op.sh.via.cli": {"zh": "命令行", "en": "CLI"},
        "web.op.sh.via.import": {"zh": "导入", "en": "import"},
        "web.op.sh.via.console": {"zh": "控制台", "en": "console"},
        "web.op.sh.via.batch": {"zh": "配送批次", "en": "delivery batch"},
        "web.op.sh.via.demo": {"zh": "演示", "en": "demo"},
    }
)

routes = web.RouteTableDef()
STATES = {"": None, **{s.value: s for s in ShipmentState}}


def _shop_param(request: web.Request) -> int | None:
    raw = request.query.get("shop", "")
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) < 1:
        raise BadParam("shop", "a positive whole number")
    return int(raw)


@routes.get("/operator/shipments")
async def shipments_list(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    state = STATES[choice_param(request, "state", list(STATES), "")]
    shop_id = _shop_param(request)
    window = page_window(request, default_size=50)
    async with request.app[ENGINE].connect() as conn:
        if shop_id is not None and not await shop_in_scope(conn, scope, shop_id):
            raise web.HTTPNotFound()
        page = await shipments_page(conn, scope, state=state, shop_id=shop_id, offset=window.offset, limit=window.limit)
    assert page is not None
    retried = request.query.get("retried", "")
    context = {
        "p": page,
        "state": state.value if state else "",
        "shop": shop_id,
        "states": [s.value for s in ShipmentState],
        "next_page": window.offset // window.limit + 2 if window.offset + window.limit < page.total else None,
        "retried": int(retried) if retried.isascii() and retried.isdigit() and len(retried) < 18 else None,
    }
    return render(request, "console/operator/shipments.html", context)


@routes.post("/operator/shipments/{id}/retry")
async def shipment_retry(request: web.Request) -> web.StreamResponse:
    from sync.shipments import ShipmentPusher  # the web layer drives sync's write

    scope = operator_scope(request)
    shipment_id = id_param(request)
    shop_ids = None if scope.shop_ids is None else sorted(scope.shop_ids)
    if not await ShipmentPusher(request.app[ENGINE]).retry(shipment_id, shop_ids=shop_ids):
        raise web.HTTPNotFound()
    raise web.HTTPSeeOther(f"/operator/shipments?retried={shipment_id}")


def setup(app: web.Application) -> None:
    app.add_routes(routes)
