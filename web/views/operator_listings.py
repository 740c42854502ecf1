"""Listings (商品对应) in the operator console: every platform item/SKU of the user's shops and
the hub SKU it maps to, unmapped first with suggestions; map, unmap, bulk-map by file; the sales
waiting on unmapped listings; a SKU's price per shop and its push through the platform's price
API (``sync.prices``), with each push's state and the platform's message.

The admin sees every shop, an operator their named shops; everyone else gets a 404, as does a
shop or listing outside the scope. Every write is a POST with the CSRF field that redirects
(PRG); a bad input re-renders the page with the error, status 400.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from bangfu.errors import UserError
from bangfu.i18n import MESSAGES, t
from bangfu.importing import ImportRejected
from bangfu.listing_map import ListingKey
from bangfu.money import MoneyError, parse_yuan
from bangfu.queries.listings import (
    STATUSES,
    MappingError,
    bulk_map,
    listing_key,
    listings_as_json,
    listings_page,
    map_listing,
    set_channel_price,
)
from bangfu.scope import Scope
from web.api import error_responses, json_ok
from web.errors import BadParam
from web.keys import ENGINE, user_of
from web.paging import id_param, page_window
from web.render import render
from web.views.operator import operator_scope

MESSAGES.update(
    {
        "web.op.menu.listings": {"zh": "商品对应", "en": "Listings"},
        "web.op.l.title": {"zh": "商品对应与价格", "en": "Listings and prices"},
        "web.op.l.intro": {
            "zh": "每个平台商品/SKU 对应的中台 SKU。未对应的排在最前，附按商家编码（外部编码）和标题给出的建议；"
            "未对应商品的销售会保留并显示为“待对应”，对应后自动进入配货和入账。",
            "en": "The hub SKU each platform item/SKU maps to. Unmapped listings come first, with suggestions "
            "by merchant code (outer id) and title; their sales are kept and shown as waiting, and flow on "
            "to lot allocation and posting once mapped.",
        },
        "web.op.l.unmapped": {"zh": "未对应 {n} 条", "en": "{n} unmapped"},
        "web.op.l.waiting": {
            "zh": "待对应销售 {lines} 行，金额 {money}，最早付款 {since}",
            "en": "Sales waiting: {lines} lines, {money}, oldest paid {since}",
        },
        "web.op.l.none_waiting": {"zh": "没有待对应的销售。", "en": "No sales wait for a mapping."},
        "web.op.l.shop": {"zh": "店铺", "en": "Shop"},
        "web.op.l.all_shops": {"zh": "全部店铺", "en": "All shops"},
        "web.op.l.status": {"zh": "状态", "en": "Status"},
        "web.op.l.status.all": {"zh": "全部", "en": "All"},
        "web.op.l.status.unmapped": {"zh": "未对应", "en": "Unmapped"},
        "web.op.l.status.mapped": {"zh": "已对应", "en": "Mapped"},
        "web.op.l.search": {"zh": "搜索（标题、编码、ID）", "en": "Search (title, code, id)"},
        "web.op.l.show": {"zh": "查看", "en": "Show"},
        "web.op.l.item": {"zh": "平台商品 / SKU", "en": "Platform item / SKU"},
        "web.op.l.listing": {"zh": "平台标题", "en": "Platform title"},
        "web.op.l.outer": {"zh": "商家编码", "en": "Merchant code"},
        "web.op.l.price": {"zh": "平台价", "en": "Platform price"},
        "web.op.l.hub_sku": {"zh": "中台 SKU", "en": "Hub SKU"},
        "web.op.l.waiting_col": {"zh": "待对应销售", "en": "Sales waiting"},
        "web.op.l.channel_price": {"zh": "渠道价 / 推送", "en": "Channel price / push"},
        "web.op.l.lines": {"zh": "{n} 行", "en": "{n} lines"},
        "web.op.l.since": {"zh": "自 {when}", "en": "since {when}"},
        "web.op.l.map": {"zh": "对应", "en": "Map"},
        "web.op.l.unmap": {"zh": "解除对应", "en": "Unmap"},
        "web.op.l.sku_code": {"zh": "中台 SKU 编码", "en": "Hub SKU code"},
        "web.op.l.suggest": {"zh": "建议", "en": "Suggested"},
        "web.op.l.reason.outer_id": {"zh": "商家编码一致", "en": "merchant code matches"},
        "web.op.l.reason.title": {"zh": "标题相似 {score}", "en": "title similarity {score}"},
        "web.op.l.no_suggestion": {"zh": "无建议，请输入编码", "en": "No suggestion: type a code"},
        "web.op.l.mapping.auto": {"zh": "按编码自动", "en": "auto by code"},
        "web.op.l.mapping.manual": {"zh": "{who} 手工对应", "en": "mapped by {who}"},
        "web.op.l.only_orders": {"zh": "仅见于订单", "en": "seen only in orders"},
        "web.op.l.off_sale": {"zh": "已下架", "en": "off sale"},
        "web.op.l.set_price": {"zh": "设价", "en": "Set"},
        "web.op.l.price_yuan": {"zh": "价格（元）", "en": "Price (yuan)"},
        "web.op.l.push.pending": {"zh": "推送中", "en": "pending"},
        "web.op.l.push.done": {"zh": "已推送", "en": "pushed"},
        "web.op.l.push.failed": {"zh": "推送失败", "en": "failed"},
        "web.op.l.push.uncertain": {"zh": "结果未知", "en": "uncertain"},
        "web.op.l.push_all": {"zh": "推送价格", "en": "Push prices"},
        "web.op.l.push_hint": {
            "zh": "把设置的渠道价通过各平台的改价接口推送；平台上已是该价格的不会重复推送。",
            "en": "Push the channel prices through each platform's price API; a price already on the platform "
            "is not pushed again.",
        },
        "web.op.l.import": {"zh": "批量对应（CSV / XLSX）", "en": "Bulk map (CSV / XLSX)"},
        "web.op.l.import_hint": {
            "zh": "列：店铺（ID 或名称）、平台商品ID、平台SKU ID、SKU编码（填 <清空> 解除对应）。"
            "整表校验，有错则不写入。",
            "en": "Columns: shop (id or name), platform_item_id, platform_sku_id, sku_code (<clear> unmaps). "
            "The whole file is checked; with any error nothing is written.",
        },
        "web.op.l.file": {"zh": "文件", "en": "File"},
        "web.op.l.upload": {"zh": "上传并对应", "en": "Upload and map"},
        "web.op.l.no_file": {"zh": "请选择一个 CSV 或 XLSX 文件", "en": "choose a CSV or XLSX file"},
        "web.op.l.done.mapped": {
            "zh": "已对应；{n} 行待对应销售进入配货和入账。",
            "en": "Mapped; {n} waiting lines flow on to allocation and posting.",
        },
        "web.op.l.done.unmapped": {"zh": "已解除对应。", "en": "Unmapped."},
        "web.op.l.done.imported": {
            "zh": "已导入：新建 {created}，更新 {updated}，未变 {unchanged}。",
            "en": "Imported: {created} new, {updated} changed, {unchanged} unchanged.",
        },
        "web.op.l.done.price": {
            "zh": "价格已设置，点“推送价格”推送到平台。",
            "en": "Price set: push it with Push prices.",
        },
        "web.op.l.done.pushed": {
            "zh": "价格推送：成功 {done}，失败 {failed}，结果未知 {uncertain}，跳过 {skipped}，无需推送 {unchanged}。",
            "en": "Price push: {done} done, {failed} failed, {uncertain} uncertain, {skipped} skipped, "
            "{unchanged} unchanged.",
        },
        "web.op.l.error": {"zh": "未保存：{message}", "en": "Not saved: {message}"},
        "web.op.l.none": {"zh": "没有符合条件的商品。", "en": "No listings match."},
        "web.op.l.counts": {"zh": "共 {total} 条，第 {page} 页", "en": "{total} listings, page {page}"},
    }
)

routes = web.RouteTableDef()


def _filters(request: web.Request) -> tuple[int | None, str, str | None]:
    raw = request.query.get("shop", "")
    shop_id = None
    if raw:
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) < 1:
            raise BadParam("shop", "a positive whole number")
        shop_id = int(raw)
    status = request.query.get("status", "all") or "all"
    if status not in STATUSES:
        raise BadParam("status", f"one of {', '.join(STATUSES)}")
    q = request.query.get("q", "").strip() or None
    if q is not None and len(q) > 100:
        raise BadParam("q", "at most 100 characters")
    return shop_id, status, q


async def _page_context(request: web.Request, scope: Scope) -> dict[str, Any]:
    shop_id, status, q = _filters(request)
    window = page_window(request, 50)
    async with request.app[ENGINE].connect() as conn:
        page = await listings_page(
            conn, scope, shop_id=shop_id, status=status, q=q, offset=window.offset, limit=window.limit
        )
    if page is None:
        raise web.HTTPNotFound()
    query = "&".join(
        p for p in (f"shop={shop_id}" if shop_id else "", f"status={status}" if status != "all" else "") if p
    )
    return {
        "l": page,
        "shop_id": shop_id,
        "status": status,
        "q": q or "",
        "statuses": STATUSES,
        "window": window,
        "query": query,
        "notice": _notice(request),
        "error": None,
        "errors": [],
    }


def _notice(request: web.Request) -> str | None:
    done = request.query.get("done", "")

    def n(name: str) -> int:
        raw = request.query.get(name, "0")
        return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 9 else 0

    if done == "mapped":
        return t("web.op.l.done.mapped", n=n("n"))
    if done == "unmapped":
        return t("web.op.l.done.unmapped")
    if done == "imported":
        return t("web.op.l.done.imported", created=n("created"), updated=n("updated"), unchanged=n("unchanged"))
    if done == "price":
        return t("web.op.l.done.price")
    if done == "pushed":
        counts = {k: n(k) for k in ("done", "failed", "uncertain", "skipped", "unchanged")}
        return t("web.op.l.done.pushed", **counts)
    return None


async def _refused(request: web.Request, scope: Scope, message: str, errors: list[str] | None = None) -> web.Response:
    context = await _page_context(request, scope)
    context["error"] = t("web.op.l.error", message=message)
    context["errors"] = errors or []
    return render(request, "console/operator/listings.html", context, status=400)


@routes.get("/operator/listings")
async def listings_view(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    return render(request, "console/operator/listings.html", await _page_context(request, scope))


@routes.get("/api/v1/operator/listings")
async def listings_api(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    shop_id, status, q = _filters(request)
    window = page_window(request, 50)
    async with request.app[ENGINE].connect() as conn:
        page = await listings_page(
            conn, scope, shop_id=shop_id, status=status, q=q, offset=window.offset, limit=window.limit
        )
    if page is None:
        raise web.HTTPNotFound()
    return web.json_response(listings_as_json(page))


def _text(form: Any, name: str, *, limit: int = 64, required: bool = True) -> str:
    value = str(form.get(name) or "").strip()
    if required and not value:
        raise BadParam(name, "required")
    if len(value) > limit:
        raise BadParam(name, f"at most {limit} characters")
    return value


def _back(form: Any) -> str:
    back = str(form.get("back") or "")
    return back if back and len(back) < 200 and all(c.isalnum() or c in "=&_-" for c in back) else ""


def _to(form: Any, done: str) -> str:
    back = _back(form)
    return f"/operator/listings?{back}{'&' if back else ''}{done}"


@routes.post("/operator/listings/map")
async def map_post(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    user = user_of(request)
    assert user is not None
    form = await request.post()
    shop_raw = _text(form, "shop_id", limit=18)
    if not (shop_raw.isascii() and shop_raw.isdigit()):
        raise BadParam("shop_id", "a positive whole number")
    key = ListingKey(int(shop_raw), _text(form, "platform_item_id"), _text(form, "platform_sku_id", required=False))
    sku_code = _text(form, "sku_code", limit=40)
    try:
        async with request.app[ENGINE].begin() as conn:
            done = await map_listing(conn, scope, key, sku_code, user_id=user.id, now=datetime.now(UTC))
    except MappingError as exc:
        return await _refused(request, scope, f"{exc.field}: {exc}")
    if done is None:
        raise web.HTTPNotFound()
    raise web.HTTPSeeOther(_to(form, f"done=mapped&n={done[1]}"))


@routes.post("/operator/listings/{id}/unmap")
async def unmap_post(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    listing_id = id_param(request)
    user = user_of(request)
    assert user is not None
    form = await request.post()
    async with request.app[ENGINE].begin() as conn:
        key = await listing_key(conn, scope, listing_id)
        if key is None:
            raise web.HTTPNotFound()
        await map_listing(conn, scope, key, None, user_id=user.id, now=datetime.now(UTC))
    raise web.HTTPSeeOther(_to(form, "done=unmapped"))


@routes.post("/operator/listings/import")
async def import_post(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    user = user_of(request)
    assert user is not None
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, FileField) or not upload.filename:
        return await _refused(request, scope, t("web.op.l.no_file"))
    name = Path(str(upload.filename)).name or "upload"
    suffix = Path(name).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="bangfu-listings-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(upload.file.read())
        try:
            result = await bulk_map(request.app[ENGINE], scope, path, user_id=user.id, shown_name=name)
        except ImportRejected as exc:
            return await _refused(request, scope, name, [str(e) for e in exc.errors])
        except UserError as exc:
            return await _refused(request, scope, str(exc).replace(str(path), name))
    assert result is not None
    counts = f"created={result.created}&updated={result.updated}&unchanged={result.unchanged}"
    raise web.HTTPSeeOther(_to(form, f"done=imported&{counts}"))


@routes.post("/operator/prices")
async def price_post(request: web.Request) -> web.StreamResponse:
    scope = operator_scope(request)
    user = user_of(request)
    assert user is not None
    form = await request.post()
    shop_raw = _text(form, "shop_id", limit=18)
    if not (shop_raw.isascii() and shop_raw.isdigit()):
        raise BadParam("shop_id", "a positive whole number")
    sku_code = _text(form, "sku_code", limit=40)
    try:
        price = parse_yuan(_text(form, "price", limit=20), max_fen=100_000_000)
    except MoneyError as exc:
        return await _refused(request, scope, f"price: {exc}")
    try:
        async with request.app[ENGINE].begin() as conn:
            changed = await set_channel_price(
                conn, scope, sku_code, int(shop_raw), price, user_id=user.id, now=datetime.now(UTC)
            )
    except MappingError as exc:
        return await _refused(request, scope, f"{exc.field}: {exc}")
    if changed is None:
        raise web.HTTPNotFound()
    raise web.HTTPSeeOther(_to(form, "done=price"))


@routes.post("/operator/prices/push")
async def push_post(request: web.Request) -> web.StreamResponse:
    """Push the channel prices of the user's shops (``shop_id`` given: that shop only)."""
    from sync.prices import PricePusher

    scope = operator_scope(request)
    form = await request.post()
    raw = str(form.get("shop_id") or "")
    async with request.app[ENGINE].connect() as conn:
        page = await listings_page(conn, scope, limit=1)
    assert page is not None
    mine = [sid for sid, _ in page.shops]
    if raw:
        if not (raw.isascii() and raw.isdigit()) or int(raw) not in mine:
            raise web.HTTPNotFound()
        mine = [int(raw)]
    lines = await PricePusher(request.app[ENGINE]).push(mine)
    counts = {
        k: sum(1 for x in lines if x.status == k) for k in ("done", "failed", "uncertain", "skipped", "unchanged")
    }
    raise web.HTTPSeeOther(_to(form, "done=pushed&" + "&".join(f"{k}={v}" for k, v in counts.items())))


def setup(app: web.Application) -> None:
    app.add_routes(routes)


# -- OpenAPI ------------------------------------------------------------------------------------------
_TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "OperatorListings": {
        "type": "object",
        "required": ["total", "unmapped", "waiting", "items"],
        "properties": {
            "total": {"type": "integer", "description": "listings after the filters"},
            "unmapped": {"type": "integer"},
            "waiting": {
                "type": "object",
                "required": ["lines", "paid_fen", "since"],
                "properties": {"lines": {"type": "integer"}, "paid_fen": {"type": "integer"}, "since": _TIME},
            },
            "items": {
                "type": "array",
                "description": "unmapped first (most money waiting first), then by shop and title",
                "items": {
                    "type": "object",
                    "required": ["listing_id", "shop_id", "platform_item_id", "platform_sku_id", "sku_id", "mapping"],
                    "properties": {
                        "listing_id": {"type": ["integer", "null"], "description": "null: seen only in orders"},
                        "shop_id": {"type": "integer"},
                        "shop_name": {"type": "string"},
                        "platform": {"type": "string"},
                        "platform_item_id": {"type": "string"},
                        "platform_sku_id": {"type": "string"},
                        "outer_id": {"type": ["string", "null"]},
                        "title": {"type": "string"},
                        "price_fen": {"type": ["integer", "null"]},
                        "platform_stock": {"type": ["integer", "null"]},
                        "on_sale": {"type": "boolean"},
                        "sku_id": {"type": ["integer", "null"]},
                        "sku_code": {"type": ["string", "null"]},
                        "sku_name": {"type": ["string", "null"]},
                        "mapping": {"type": "string", "enum": ["auto", "manual", "none"]},
                        "mapped_by": {"type": ["string", "null"]},
                        "mapped_at": _TIME,
                        "waiting": {
                            "type": "object",
                            "properties": {
                                "lines": {"type": "integer"},
                                "units": {"type": "integer"},
                                "paid_fen": {"type": "integer"},
                                "since": _TIME,
                            },
                        },
                        "suggestions": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "sku_id": {"type": "integer"},
                                    "sku_code": {"type": "string"},
                                    "name": {"type": "string"},
                                    "reason": {"type": "string", "enum": ["outer_id", "title"]},
                                    "score": {"type": "number"},
                                },
                            },
                        },
                        "channel_price_fen": {"type": ["integer", "null"]},
                        "last_price_push": {
                            "type": ["object", "null"],
                            "properties": {
                                "status": {"type": "string", "enum": ["pending", "done", "failed", "uncertain"]},
                                "price_fen": {"type": "integer"},
                                "error": {"type": ["string", "null"]},
                                "created_at": _TIME,
                                "done_at": _TIME,
                            },
                        },
                    },
                },
            },
        },
    }
}
OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/operator/listings": {
        "get": {
            "summary": "Listings of the caller's shops and the hub SKU each maps to, unmapped first",
            "operationId": "operatorListings",
            "parameters": [
                {"name": "shop", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATUSES)}},
                {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 100}},
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                {"name": "size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
            ],
            "responses": json_ok({"$ref": "#/components/schemas/OperatorListings"}) | error_responses(400, 401, 404),
        }
    }
}
