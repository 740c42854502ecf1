"""Traceability (溯源) pages and QR codes, lot label sheets, and session campaign QR codes.

- ``/t/<code>``: a lot's public page, no login (``bangfu.queries.trace``); an unknown or expired
  code gets a friendly page with HTTP 404. The code is 128 random bits (``bangfu.trace``), so
  trying codes finds nothing: enumeration is useless without a rate limit. The page sends
  ``noindex`` and ``no-referrer`` so the code neither lands in a search index nor leaves in a
  Referer header.
- ``/t/<code>/qr.png`` and ``/t/<code>/qr.svg``: the QR code of the page's absolute URL
  (``BANGFU_PUBLIC_URL``), for a known, unexpired code only.
- ``/operator/lots/<id>/labels?count=N``: a printable sheet of N labels (QR, product, lot number,
  cooperative) for the admin and operators who may see the lot; anyone else gets 404.
- ``/sessions/<id>/campaign.png`` and ``.svg``: the QR code of a session's mall link
  ``<public url>/mall/?c=<campaign code>``, for whoever may see the session (404 otherwise).
"""

from __future__ import annotations

import io
from datetime import datetime

import segno
from aiohttp import web

from bangfu.clock import SHANGHAI
from bangfu.i18n import MESSAGES
from bangfu.queries.trace import MAX_LABELS, TracePage, lot_label, session_campaign, trace_page
from bangfu.settings import get_settings
from bangfu.trace import campaign_url, is_trace_code, trace_url
from bangfu.unsold import load_rule
from web.keys import ENGINE, scope_of
from web.paging import id_param, int_param
from web.render import render

MESSAGES.update(
    {
        "web.trace.title": {"zh": "产品溯源", "en": "Product traceability"},
        "web.trace.subtitle": {"zh": "消费帮扶产品 · 批次溯源信息", "en": "Consumption-assistance product · lot trace"},
        "web.trace.lot": {"zh": "批次号", "en": "Lot"},
        "web.trace.spec": {"zh": "规格", "en": "Pack"},
        "web.trace.origin": {"zh": "产地与主体", "en": "Origin"},
        "web.trace.county": {"zh": "产地县", "en": "County"},
        "web.trace.cooperative": {"zh": "合作社", "en": "Cooperative"},
        "web.trace.supplier": {"zh": "经营主体", "en": "Supplier"},
        "web.trace.dates": {"zh": "采收与交售", "en": "Harvest and delivery"},
        "web.trace.harvested_on": {"zh": "采收日期", "en": "Harvested"},
        "web.trace.received_on": {"zh": "交售入库日期", "en": "Delivered"},
        "web.trace.grade": {"zh": "等级", "en": "Grade"},
        "web.trace.inspection": {"zh": "质量检测", "en": "Quality inspection"},
        "web.trace.inspection_agency": {"zh": "检测机构", "en": "Inspected by"},
        "web.trace.inspected_on": {"zh": "检测日期", "en": "Inspected on"},
        "web.trace.inspection_result": {"zh": "检测结果", "en": "Result"},
        "web.trace.no_inspection": {"zh": "本批次未登记检测信息。", "en": "No inspection is recorded for this lot."},
        "web.trace.households": {"zh": "带动农户", "en": "Households in this lot"},
        "web.trace.households_n": {
            "zh": "本批次含 {n} 户农户交售的产品",
            "en": "Produce of {n} member households is in this lot",
        },
        "web.trace.households_none": {
            "zh": "本批次由经营主体直接交售，不含农户交售记录。",
            "en": "Delivered by the supplier itself; no household deliveries are recorded.",
        },
        "web.trace.households_note": {
            "zh": "为保护个人信息，只显示户数和类别，不显示姓名。",
            "en": "Only numbers and categories are shown, never names.",
        },
        "web.trace.category_n": {"zh": "{n} 户", "en": "{n}"},
        "web.trace.certification": {"zh": "消费帮扶产品认定", "en": "Consumption-assistance certification"},
        "web.trace.cert_number": {"zh": "认定编号", "en": "Number"},
        "web.trace.cert_body": {"zh": "认定机构", "en": "Certified by"},
        "web.trace.cert_valid": {"zh": "有效期", "en": "Valid"},
        "web.trace.cert_in_force": {"zh": "有效", "en": "In force"},
        "web.trace.cert_not_in_force": {"zh": "已失效", "en": "Not in force"},
        "web.trace.no_cert": {"zh": "本产品暂无认定记录。", "en": "No certification is recorded for this product."},
        "web.trace.valid_through": {"zh": "本溯源页有效至 {day}", "en": "This page is kept up to {day}"},
        "web.trace.missing_title": {"zh": "未找到溯源信息", "en": "No trace found"},
        "web.trace.missing": {
            "zh": "这个溯源码不存在，或批次已过保质期、溯源信息已下线。请核对包装上的二维码，或联系销售方。",
            "en": "This trace code does not exist, or the lot is past its shelf life and its page is offline. "
            "Check the QR code on the package, or ask the seller.",
        },
        "web.trace.footer": {"zh": "县域消费帮扶服务平台", "en": "County consumption-assistance platform"},
        "web.labels.title": {"zh": "批次标签 {code}", "en": "Lot labels {code}"},
        "web.labels.link": {"zh": "打印溯源标签", "en": "Print trace labels"},
        "web.labels.count": {"zh": "标签数", "en": "Labels"},
        "web.labels.show": {"zh": "更新", "en": "Update"},
        "web.labels.print": {"zh": "打印", "en": "Print"},
        "web.labels.intro": {
            "zh": "每张标签的二维码打开本批次的公开溯源页：{url}",
            "en": "Each label's QR code opens the lot's public trace page: {url}",
        },
        "web.labels.scan": {"zh": "扫码溯源", "en": "Scan to trace"},
        "web.labels.back": {"zh": "返回批次", "en": "Back to the lot"},
        "web.campaign.title": {"zh": "商城推广链接", "en": "Mall campaign link"},
        "web.campaign.intro": {
            "zh": "通过此链接或二维码在县域商城下单，订单归属本场直播（链接归因）。活动码：{code}",
            "en": "Mall orders placed through this link or QR code count to this session (link attribution). "
            "Campaign code: {code}",
        },
        "web.campaign.png": {"zh": "下载 PNG", "en": "PNG"},
        "web.campaign.svg": {"zh": "下载 SVG", "en": "SVG"},
    }
)

routes = web.RouteTableDef()
QR_ERROR = "m"  # 15% of the symbol may be damaged (a label rubbed in transport)
PUBLIC_HEADERS = {"X-Robots-Tag": "noindex, nofollow", "Referrer-Policy": "no-referrer"}


def _public_url() -> str:
    return get_settings().resolved_public_url


def qr_response(text: str, kind: str) -> web.Response:
    """``text`` as a QR code: a PNG (8 px modules) or an SVG."""
    qr = segno.make(text, error=QR_ERROR)
    out = io.BytesIO()
    if kind == "png":
        qr.save(out, kind="png", scale=8, border=4)
        return web.Response(body=out.getvalue(), content_type="image/png", headers={"Cache-Control": "max-age=3600"})
    qr.save(out, kind="svg", scale=8, border=4, xmldecl=False)
    return web.Response(body=out.getvalue(), content_type="image/svg+xml", headers={"Cache-Control": "max-age=3600"})


def qr_inline(text: str, *, css_class: str = "qr") -> str:
    """An inline ``<svg>`` of ``text``'s QR code, sized by CSS (``css_class``)."""
    return str(segno.make(text, error=QR_ERROR).svg_inline(scale=1, border=2, omitsize=True, svgclass=css_class))


async def _page(request: web.Request, code: str) -> TracePage | None:
    if not is_trace_code(code):
        return None
    async with request.app[ENGINE].connect() as conn:
        return await trace_page(
            conn,
            code,
            today=datetime.now(SHANGHAI).date(),
            rule=load_rule(),
            grace_days=get_settings().trace_grace_days,
        )


@routes.get("/t/{code}")
async def trace_view(request: web.Request) -> web.StreamResponse:
    page = await _page(request, request.match_info["code"])
    status = 200 if page is not None else 404
    response = render(request, "mall/trace.html", {"p": page}, status=status)
    response.headers.update(PUBLIC_HEADERS)
    return response


async def _trace_qr(request: web.Request, kind: str) -> web.StreamResponse:
    code = request.match_info["code"]
    if await _page(request, code) is None:
        raise web.HTTPNotFound()
    response = qr_response(trace_url(_public_url(), code), kind)
    response.headers.update(PUBLIC_HEADERS)
    return response


@routes.get("/t/{code}/qr.png")
async def trace_qr_png(request: web.Request) -> web.StreamResponse:
    return await _trace_qr(request, "png")


@routes.get("/t/{code}/qr.svg")
async def trace_qr_svg(request: web.Request) -> web.StreamResponse:
    return await _trace_qr(request, "svg")


@routes.get("/operator/lots/{id}/labels")
async def labels_view(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    lot_id = id_param(request)
    async with request.app[ENGINE].connect() as conn:
        label = await lot_label(conn, scope, lot_id)
    if label is None:
        raise web.HTTPNotFound()
    count = int_param(request, "count", 12, lo=1, hi=MAX_LABELS)
    url = trace_url(_public_url(), label.trace_code)
    context = {"label": label, "url": url, "qr": qr_inline(url), "count": count, "max_labels": MAX_LABELS}
    return render(request, "console/operator/lot_labels.html", context)


async def _campaign_qr(request: web.Request, kind: str) -> web.StreamResponse:
    scope = scope_of(request)
    session_id = id_param(request)
    async with request.app[ENGINE].connect() as conn:
        code = await session_campaign(conn, scope, session_id)
    if code is None:
        raise web.HTTPNotFound()
    return qr_response(campaign_url(_public_url(), code), kind)


@routes.get("/sessions/{id}/campaign.png")
async def campaign_qr_png(request: web.Request) -> web.StreamResponse:
    return await _campaign_qr(request, "png")


@routes.get("/sessions/{id}/campaign.svg")
async def campaign_qr_svg(request: web.Request) -> web.StreamResponse:
    return await _campaign_qr(request, "svg")


def setup(app: web.Application) -> None:
    app.add_routes(routes)
