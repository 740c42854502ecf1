"""Delivery batches (统一配送): purchasing units' orders per unit and delivery date, with the
packing list and the delivery note to print (print CSS) or download (XLSX), and each order's
shipment status.

Operators (and the admin) see every batch (an operator with named shops, batches holding one
of their orders), put new unit orders into batches and mark a batch shipped (carrier and a
tracking number per order: platform orders are then pushed to their platforms by
``bangfu.push_shipments``). A purchasing unit's staff (``unit`` role) see their unit's batches
and notes, read only. Anyone else, and a batch outside the user's scope, gets a 404.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from bangfu.delivery import DeliveryError, assign_batches, mark_batch_shipped
from bangfu.enums import Carrier
from bangfu.i18n import MESSAGES, t
from bangfu.queries.delivery import (
    BatchDetail,
    batch_detail,
    batches,
    delivery_note_report,
    packing_report,
    sees_delivery,
)
from bangfu.queries.operator import operates
from bangfu.scope import Scope
from bangfu.shipments import ShipmentError
from web.export import export_response
from web.keys import ENGINE, scope_of, user_of
from web.paging import choice_param, id_param, page_window
from web.render import NAV, NavItem, render

MESSAGES.update(
    {
        "web.dl.menu": {"zh": "配送批次", "en": "Delivery"},
        "web.dl.title": {"zh": "统一配送批次", "en": "Delivery batches"},
        "web.dl.intro": {
            "zh": "采购单位的订单按单位和配送日期合并为配送批次（16:00前付款次日配送，之后隔日）；"
            "打印配货单拣货、送货单随货签收；批次发货后为每笔订单登记运单号，平台订单自动回传发货。",
            "en": "Purchasing units' orders are consolidated per unit and delivery date (paid by 16:00: next "
            "day, later: the day after); print the packing list to pick and the delivery note to sign; "
            "marking a batch shipped records each order's tracking number and pushes platform orders.",
        },
        "web.dl.assign": {"zh": "把新订单编入批次", "en": "Batch new unit orders"},
        "web.dl.assigned": {
            "zh": "新建批次 {batches} 个，编入订单 {orders} 笔。",
            "en": "{batches} new batches, {orders} orders added.",
        },
        "web.dl.unit": {"zh": "采购单位", "en": "Unit"},
        "web.dl.date": {"zh": "配送日期", "en": "Delivery date"},
        "web.dl.status": {"zh": "批次状态", "en": "Batch"},
        "web.dl.status.open": {"zh": "待发货", "en": "open"},
        "web.dl.status.shipped": {"zh": "已发货", "en": "shipped"},
        "web.dl.orders": {"zh": "订单", "en": "Orders"},
        "web.dl.quantity": {"zh": "件数", "en": "Items"},
        "web.dl.amount": {"zh": "金额", "en": "Amount"},
        "web.dl.shipped": {"zh": "已发货订单", "en": "Orders shipped"},
        "web.dl.pushed": {"zh": "其中已回传平台 {n}", "en": "{n} pushed to platforms"},
        "web.dl.none": {"zh": "暂无配送批次", "en": "No delivery batches"},
        "web.dl.open": {"zh": "查看", "en": "Open"},
        "web.dl.packing": {"zh": "配货单", "en": "Packing list"},
        "web.dl.note": {"zh": "送货单", "en": "Delivery note"},
        "web.dl.print": {"zh": "打印", "en": "Print"},
        "web.dl.xlsx": {"zh": "下载 Excel", "en": "Download XLSX"},
        "web.dl.order": {"zh": "订单号", "en": "Order"},
        "web.dl.channel": {"zh": "渠道", "en": "Channel"},
        "web.dl.paid_at": {"zh": "付款时间", "en": "Paid"},
        "web.dl.goods": {"zh": "商品", "en": "Goods"},
        "web.dl.shipment": {"zh": "发货/回传", "en": "Shipment"},
        "web.dl.push.pending": {"zh": "待回传", "en": "push pending"},
        "web.dl.push.pushed": {"zh": "已回传", "en": "pushed"},
        "web.dl.push.failed": {"zh": "回传失败", "en": "push failed"},
        "web.dl.push.local": {"zh": "自营/线下，无需回传", "en": "own channel, nothing to push"},
        "web.dl.ship": {"zh": "整批发货", "en": "Mark the batch shipped"},
        "web.dl.ship_hint": {
            "zh": "选择快递公司并填写每笔订单的运单号；平台订单将回传发货信息。",
            "en": "Choose the carrier and enter each order's tracking number; platform orders are pushed.",
        },
        "web.dl.carrier": {"zh": "快递公司", "en": "Carrier"},
        "web.dl.tracking": {"zh": "运单号", "en": "Tracking no."},
        "web.dl.shipped_notice": {
            "zh": "批次已发货，登记发货 {n} 笔；平台订单将在下一轮回传。",
            "en": "Batch shipped: {n} shipments recorded; platform orders are pushed on the next run.",
        },
        "web.dl.shipped_at": {"zh": "发货于 {at}", "en": "shipped {at}"},
        "web.dl.address": {"zh": "送货地址", "en": "Address"},
        "web.dl.back": {"zh": "返回批次", "en": "Back to the batch"},
        "web.dl.sign_sender": {"zh": "送货人签字", "en": "Delivered by"},
        "web.dl.sign_receiver": {"zh": "收货单位签收（盖章）", "en": "Received by (signature / stamp)"},
        "web.dl.sign_date": {"zh": "日期", "en": "Date"},
        "web.dl.batch": {"zh": "批次 #{id}", "en": "Batch #{id}"},
    }
)


def _nav(scope: Scope) -> list[NavItem]:
    return [NavItem("/delivery", t("web.dl.menu"))] if sees_delivery(scope) else []


NAV.append(_nav)
routes = web.RouteTableDef()


def _scope(request: web.Request) -> Scope:
    scope = scope_of(request)
    if not sees_delivery(scope):
        raise web.HTTPNotFound()
    return scope


def _operator(request: web.Request) -> Scope:
    scope = scope_of(request)
    if not operates(scope):
        raise web.HTTPNotFound()
    return scope


async def _batch(request: web.Request, scope: Scope) -> BatchDetail:
    batch_id = id_param(request)
    async with request.app[ENGINE].connect() as conn:
        batch = await batch_detail(conn, scope, batch_id)
    if batch is None:
        raise web.HTTPNotFound()
    return batch


@routes.get("/delivery")
async def delivery_list(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    window = page_window(request, default_size=50)
    async with request.app[ENGINE].connect() as conn:
        rows = await batches(conn, scope, offset=window.offset, limit=window.limit + 1)
    assert rows is not None
    notice = None
    made, _, added = request.query.get("assigned", "").partition("-")
    if made.isdigit() and added.isdigit() and len(made) < 9 and len(added) < 9:
        notice = t("web.dl.assigned", batches=made, orders=added)
    template = "console/operator/delivery.html" if operates(scope) else "console/units/delivery.html"
    page = window.offset // window.limit + 1
    context = {
        "rows": rows[: window.limit],
        "next_page": page + 1 if len(rows) > window.limit else None,
        "notice": notice,
    }
    return render(request, template, context)


@routes.post("/delivery/assign")
async def delivery_assign(request: web.Request) -> web.StreamResponse:
    _operator(request)
    async with request.app[ENGINE].begin() as conn:
        done = await assign_batches(conn, now=datetime.now(UTC))
    raise web.HTTPSeeOther(f"/delivery?assigned={done.batches_created}-{done.orders_added}")


@routes.get("/delivery/{id}")
async def delivery_batch(request: web.Request) -> web.StreamResponse:
    scope = _scope(request)
    batch = await _batch(request, scope)
    shipped = request.query.get("shipped", "")
    context = {
        "b": batch,
        "can_ship": operates(scope) and batch.status == "open",
        "carriers": list(Carrier),
        "shipped_notice": t("web.dl.shipped_notice", n=shipped) if shipped.isdigit() and len(shipped) < 9 else None,
        "error": None,
        "form": {},
    }
    return render(request, "console/operator/delivery_batch.html", context)


@routes.post("/delivery/{id}/ship")
async def delivery_ship(request: web.Request) -> web.StreamResponse:
    scope = _operator(request)
    batch = await _batch(request, scope)
    user = user_of(request)
    form = await request.post()
    carrier = str(form.get("carrier") or "")
    tracking = {order.id: str(form.get(f"tracking_{order.id}") or "") for order in batch.to_ship}
    try:
        async with request.app[ENGINE].begin() as conn:
            recorded = await mark_batch_shipped(
                conn, batch.id, carrier, tracking, now=datetime.now(UTC), by=user.id if user else None
            )
    except (DeliveryError, ShipmentError) as exc:
        context = {
            "b": batch,
            "can_ship": batch.status == "open",
            "carriers": list(Carrier),
            "shipped_notice": None,
            "error": str(exc),
            "form": {k: str(v) for k, v in form.items()},
        }
        return render(request, "console/operator/delivery_batch.html", context, status=400)
    raise web.HTTPSeeOther(f"/delivery/{batch.id}?shipped={len(recorded)}")


@routes.get("/delivery/{id}/packing")
async def delivery_packing(request: web.Request) -> web.StreamResponse:
    return await _document(request, "packing")


@routes.get("/delivery/{id}/note")
async def delivery_note(request: web.Request) -> web.StreamResponse:
    return await _document(request, "note")


async def _document(request: web.Request, doc: str) -> web.StreamResponse:
    scope = _scope(request)
    batch = await _batch(request, scope)
    fmt = choice_param(request, "format", ["html", "xlsx"], "html")
    report = packing_report(batch) if doc == "packing" else delivery_note_report(batch)
    if fmt == "xlsx":
        name = f"{report.title}-{batch.unit_code}-{batch.delivery_date.isoformat()}"
        return export_response(report, "xlsx", name, subtitle=batch.subtitle)
    return render(request, "console/operator/delivery_print.html", {"b": batch, "doc": doc, "report": report})


def setup(app: web.Application) -> None:
    app.add_routes(routes)
