"""The county's own mall (``/mall/``): catalogue, product pages, cart, checkout, orders, payment.

Browsing and buying need no login; a signed-in purchasing unit's staff member (role ``unit``)
buys for the unit. The cart, the campaign code of the link the visitor came by (``?c=``) and
the visitor's own order numbers live in the session (database-backed, ``web/sessions.py``); an
order page is shown only to the session that placed it (and to an operator), else 404.
Reads go through :mod:`bangfu.queries.mall`; checkout and payment through :mod:`bangfu.mall`.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web
from aiohttp_session import Session, get_session

from bangfu.clock import SHANGHAI
from bangfu.i18n import MESSAGES, t
from bangfu.mall import (
    Buyer,
    CheckoutError,
    log_event,
    mark_paid,
    payment_config,
    place_order,
    release_expired,
)
from bangfu.queries import mall as q
from bangfu.scope import Scope
from bangfu.secrets import SecretStore
from connectors.payments import BadSignature, PaymentError, PaymentProvider, provider_for
from web.keys import ENGINE, SCOPE, USER
from web.render import render

log = logging.getLogger(__name__)

MESSAGES.update(
    {
        "mall.name": {"zh": "县域消费帮扶商城", "en": "County Assistance Mall"},
        "mall.tagline": {
            "zh": "认定帮扶产品 · 产地直发 · 每一单都带动农户增收",
            "en": "Certified assistance products · shipped from the source · every order lifts household incomes",
        },
        "mall.search": {"zh": "搜索商品、品类", "en": "Search products or categories"},
        "mall.search_button": {"zh": "搜索", "en": "Search"},
        "mall.all": {"zh": "全部", "en": "All"},
        "mall.certified_only": {"zh": "只看认定产品", "en": "Certified only"},
        "mall.certified": {"zh": "认定", "en": "Certified"},
        "mall.valid_to": {"zh": "至 {day}", "en": "to {day}"},
        "mall.from_price": {"zh": "{price} 起", "en": "from {price}"},
        "mall.stock.in_stock": {"zh": "有货", "en": "In stock"},
        "mall.stock.low": {"zh": "仅剩 {n} 件", "en": "Only {n} left"},
        "mall.stock.sold_out": {"zh": "已售罄", "en": "Sold out"},
        "mall.none": {"zh": "没有找到商品。", "en": "No products found."},
        "mall.cart": {"zh": "购物车", "en": "Cart"},
        "mall.add": {"zh": "加入购物车", "en": "Add to cart"},
        "mall.quantity": {"zh": "数量", "en": "Quantity"},
        "mall.spec": {"zh": "规格", "en": "Option"},
        "mall.origin": {"zh": "产地故事", "en": "Origin"},
        "mall.origin_county": {"zh": "产地：{county}", "en": "Grown in {county}"},
        "mall.supplier": {"zh": "供应主体：{name}", "en": "Supplied by {name}"},
        "mall.cooperatives": {"zh": "合作社", "en": "Cooperatives"},
        "mall.households": {
            "zh": "当前在售的 {lots} 个批次中，有 {n} 户成员农户的产品：",
            "en": "The {lots} lot(s) now on sale hold produce of {n} member household(s):",
        },
        "mall.household_unit": {"zh": "户", "en": "households"},
        "mall.no_lots": {"zh": "暂无在售批次信息。", "en": "No lot on sale right now."},
        "mall.certification": {"zh": "消费帮扶产品认定", "en": "Consumption-assistance certification"},
        "mall.cert_line": {
            "zh": "{body} · 编号 {number} · {start} 至 {end}",
            "en": "{body} · No. {number} · {start} to {end}",
        },
        "mall.not_certified": {"zh": "暂无有效认定。", "en": "No valid certification."},
        "mall.selling_points": {"zh": "产品卖点", "en": "Why you'll like it"},
        "mall.back": {"zh": "返回商城", "en": "Back to the mall"},
        "mall.cart_empty": {"zh": "购物车是空的。", "en": "Your cart is empty."},
        "mall.remove": {"zh": "删除", "en": "Remove"},
        "mall.update": {"zh": "更新数量", "en": "Update"},
        "mall.total": {"zh": "合计", "en": "Total"},
        "mall.checkout": {"zh": "填写收货信息并下单", "en": "Delivery details and order"},
        "mall.buyer_name": {"zh": "收货人", "en": "Name"},
        "mall.buyer_phone": {"zh": "手机号码", "en": "Phone"},
        "mall.buyer_address": {"zh": "收货地址", "en": "Delivery address"},
        "mall.place_order": {"zh": "提交订单", "en": "Place order"},
        "mall.hold_note": {
            "zh": "下单后为您保留库存 {minutes} 分钟，请在此时间内完成支付。",
            "en": "Your items are held for {minutes} minutes after you order; pay within that time.",
        },
        "mall.as_unit": {
            "zh": "您以「{unit}」职工身份下单，订单计入本单位预留份额。",
            "en": "You are ordering as staff of {unit}; the order counts to the unit's reserved share.",
        },
        "mall.campaign": {"zh": "来自直播活动：{code}", "en": "Via live session link: {code}"},
        "mall.order": {"zh": "订单 {no}", "en": "Order {no}"},
        "mall.state.reserved": {"zh": "待支付", "en": "Awaiting payment"},
        "mall.state.paid": {"zh": "已支付", "en": "Paid"},
        "mall.state.released": {"zh": "已取消（超时未支付）", "en": "Cancelled (not paid in time)"},
        "mall.pay_by": {"zh": "请在 {time} 前完成支付", "en": "Please pay by {time}"},
        "mall.paid_at": {"zh": "支付时间 {time}", "en": "Paid at {time}"},
        "mall.refunded": {"zh": "已退款 {amount}", "en": "Refunded {amount}"},
        "mall.thanks": {
            "zh": "感谢您的购买！您的订单将带动合作社农户增收。",
            "en": "Thank you! Your order lifts the incomes of the cooperative's households.",
        },
        "mall.deliver_to": {"zh": "收货信息", "en": "Delivery"},
        "mall.items": {"zh": "商品", "en": "Items"},
        "mall.unit": {"zh": "采购单位", "en": "Purchasing unit"},
        "mall.out_of_stock": {
            "zh": "{sku} 库存不足：需要 {wanted} 件，仅剩 {available} 件",
            "en": "{sku}: {wanted} wanted, only {available} left",
        },
        "mall.empty_cart": {"zh": "购物车是空的", "en": "The cart is empty"},
        "mall.too_many": {"zh": "每种商品最多 {most} 件", "en": "At most {most} of each item"},
        "mall.unknown_sku": {"zh": "商品已下架", "en": "An item is no longer on sale"},
        "mall.bad_name": {"zh": "请填写收货人", "en": "Enter a name"},
        "mall.bad_phone": {"zh": "请填写正确的手机号码", "en": "Enter a valid phone number"},
        "mall.bad_address": {"zh": "请填写完整的收货地址", "en": "Enter the full address"},
        "mall.pay": {"zh": "去支付", "en": "Pay now"},
        "mall.check_payment": {"zh": "我已支付，刷新状态", "en": "I have paid: check again"},
        "mall.pay_unavailable": {
            "zh": "支付服务暂不可用，请稍后再试。",
            "en": "Payment is not available right now; try again shortly.",
        },
        "mall.footer": {
            "zh": "县域消费帮扶商城 · 价格单位：元 · 农户信息仅以户数展示",
            "en": "County Assistance Mall · prices in yuan · households are only ever counted",
        },
    }
)

routes = web.RouteTableDef()
CART = "mall_cart"  # session: {sku id (str): quantity}
CAMPAIGN = "mall_campaign"  # session: the campaign code of the link the visitor came by
ORDERS = "mall_orders"  # session: the visitor's own order numbers (most recent last)
MAX_KEPT_ORDERS = 20
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _today() -> date:
    return datetime.now(UTC).astimezone(SHANGHAI).date()


def _cart(session: Session) -> dict[int, int]:
    raw = session.get(CART) or {}
    out: dict[int, int] = {}
    for key, value in raw.items() if isinstance(raw, dict) else ():
        if str(key).isdigit() and isinstance(value, int) and value > 0:
            out[int(key)] = value
    return out


def _save_cart(session: Session, cart: dict[int, int]) -> None:
    session[CART] = {str(k): v for k, v in cart.items() if v > 0}


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def _unit_scope(request: web.Request) -> Scope | None:
    scope: Scope | None = request.get(SCOPE)
    return scope if scope is not None and scope.unit_id is not None else None


async def _base(request: web.Request) -> dict[str, Any]:
    session = await get_session(request)
    code = request.query.get("c")
    if code and _CODE.match(code):
        session[CAMPAIGN] = code
    return {
        "cart_count": sum(_cart(session).values()),
        "campaign": session.get(CAMPAIGN),
        "today": _today(),
        "next_url": request.path_qs,
    }


@routes.get("/mall")
async def mall_root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/mall/" + (f"?{request.query_string}" if request.query_string else ""))


@routes.get("/mall/")
async def catalogue_page(request: web.Request) -> web.StreamResponse:
    ctx = await _base(request)
    category = request.query.get("cat") or None
    search = (request.query.get("q") or "").strip()[:64] or None
    certified = request.query.get("certified") == "1"
    async with request.app[ENGINE].connect() as conn:
        cats = await q.categories(conn)
        items = await q.catalogue(conn, today=ctx["today"], category=category, search=search, certified_only=certified)
    return render(
        request,
        "mall/catalogue.html",
        ctx
        | {
            "title": t("mall.name"),
            "cats": cats,
            "items": items,
            "cat": category,
            "q": search or "",
            "certified": certified,
        },
    )


@routes.get("/mall/p/{product_id:\\d+}")
async def product_view(request: web.Request) -> web.StreamResponse:
    ctx = await _base(request)
    async with request.app[ENGINE].connect() as conn:
        page = await q.product_page(conn, int(request.match_info["product_id"]), today=ctx["today"])
    if page is None:
        raise web.HTTPNotFound()
    return render(request, "mall/product.html", ctx | {"title": page.name, "p": page})


@routes.post("/mall/cart")
async def add_to_cart(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    sku_id, quantity = _int(form.get("sku")), _int(form.get("qty"), 1)
    session = await get_session(request)
    cart = _cart(session)
    if sku_id > 0 and quantity > 0:
        cart[sku_id] = min(cart.get(sku_id, 0) + quantity, 99)
        _save_cart(session, cart)
    raise web.HTTPFound("/mall/cart")


@routes.post("/mall/cart/update")
async def update_cart(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    session = await get_session(request)
    cart = _cart(session)
    remove = _int(form.get("remove"), -1)
    for sku_id in list(cart):
        cart[sku_id] = max(0, min(_int(form.get(f"qty_{sku_id}"), cart[sku_id]), 99))
        if sku_id == remove:
            cart[sku_id] = 0
    _save_cart(session, cart)
    raise web.HTTPFound("/mall/cart")


async def _cart_page(
    request: web.Request, *, error: str | None = None, form: Any = None, status: int = 200
) -> web.Response:
    ctx = await _base(request)
    session = await get_session(request)
    unit = _unit_scope(request)
    async with request.app[ENGINE].connect() as conn:
        rows = await q.cart_rows(conn, _cart(session))
        unit_name = await q.unit_name(conn, unit.unit_id) if unit and unit.unit_id else None
        minutes = await q.hold_minutes_now(conn)
    return render(
        request,
        "mall/cart.html",
        ctx
        | {
            "title": t("mall.cart"),
            "rows": rows,
            "total": sum(r.amount_fen for r in rows),
            "error": error,
            "form": form or {},
            "unit_name": unit_name,
            "minutes": minutes,
        },
        status=status,
    )


@routes.get("/mall/cart")
async def cart_view(request: web.Request) -> web.StreamResponse:
    return await _cart_page(request)


@routes.post("/mall/checkout")
async def checkout(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    session = await get_session(request)
    unit = _unit_scope(request)
    user = request.get(USER)
    buyer = Buyer(str(form.get("name", "")), str(form.get("phone", "")), str(form.get("address", "")))
    now = datetime.now(UTC)
    try:
        async with request.app[ENGINE].begin() as conn:
            placed = await place_order(
                conn,
                _cart(session),
                buyer,
                now=now,
                unit_id=unit.unit_id if unit else None,
                staff_user_id=user.id if unit and user is not None else None,
                campaign_code=session.get(CAMPAIGN),
            )
    except CheckoutError as exc:
        fields = {k: str(form.get(k, "")) for k in ("name", "phone", "address")}
        return await _cart_page(request, error=t(exc.key, **exc.params), form=fields, status=409)
    mine = [n for n in session.get(ORDERS) or [] if isinstance(n, str)][-MAX_KEPT_ORDERS + 1 :]
    session[ORDERS] = [*mine, placed.order_no]
    _save_cart(session, {})
    raise web.HTTPFound(f"/mall/order/{placed.order_no}")


async def _own_order(request: web.Request) -> str:
    """The order number in the path, if this session placed it; else 404."""
    order_no = request.match_info["order_no"]
    session = await get_session(request)
    if order_no not in (session.get(ORDERS) or []):
        raise web.HTTPNotFound()
    return order_no


@routes.get("/mall/order/{order_no}")
async def order_view(request: web.Request) -> web.StreamResponse:
    ctx = await _base(request)
    order_no = await _own_order(request)
    async with request.app[ENGINE].begin() as conn:
        await release_expired(conn, datetime.now(UTC))  # release on read
    async with request.app[ENGINE].connect() as conn:
        order = await q.mall_order(conn, order_no)
    if order is None:
        raise web.HTTPNotFound()
    return render(request, "mall/order.html", ctx | {"title": t("mall.order", no=order_no), "o": order})


async def provider(request: web.Request) -> PaymentProvider:
    """The mall's payment provider as configured on its shop (503 when it has none)."""
    async with request.app[ENGINE].connect() as conn:
        config = await payment_config(conn)
    if config is None:
        raise web.HTTPServiceUnavailable(text=t("mall.pay_unavailable"))
    try:
        return provider_for(config.provider, config.base_url, SecretStore().get(config.credentials_ref))
    except Exception as exc:  # unknown provider or missing secrets: a configuration fault
        log.error("mall payment provider not usable: %s", exc)
        raise web.HTTPServiceUnavailable(text=t("mall.pay_unavailable")) from exc


@routes.post("/mall/order/{order_no}/pay")
async def start_payment(request: web.Request) -> web.StreamResponse:
    order_no = await _own_order(request)
    async with request.app[ENGINE].connect() as conn:
        order = await q.mall_order(conn, order_no)
    if order is None:
        raise web.HTTPNotFound()
    if order.state != "reserved":
        raise web.HTTPFound(f"/mall/order/{order_no}")
    pay = await provider(request)
    origin = f"{request.scheme}://{request.host}"
    try:
        intent = await pay.create_payment(
            order_no,
            order.amount_fen,
            f"{t('mall.name')} {order_no}",
            notify_url=f"{origin}/mall/pay/notify",
            return_url=f"{origin}/mall/order/{order_no}/return",
        )
    except PaymentError as exc:
        log.warning("mall payment of %s not created: %s", order_no, exc)
        raise web.HTTPServiceUnavailable(text=t("mall.pay_unavailable")) from exc
    raise web.HTTPFound(intent.pay_url)


@routes.get("/mall/order/{order_no}/return")
async def payment_return(request: web.Request) -> web.StreamResponse:
    """Back from the provider: unless a notification already did, ask the provider (the
    notification may be late or lost) and mark the order paid if it says so."""
    order_no = await _own_order(request)
    async with request.app[ENGINE].connect() as conn:
        order = await q.mall_order(conn, order_no)
    if order is None:
        raise web.HTTPNotFound()
    if order.state != "paid":
        await query_payment(request, order_no)
    raise web.HTTPFound(f"/mall/order/{order_no}")


async def query_payment(request: web.Request, order_no: str) -> str | None:
    """Ask the provider about ``order_no``; the outcome of marking it paid, or None."""
    pay = await provider(request)
    try:
        status = await pay.query(order_no)
    except PaymentError as exc:
        log.info("mall payment query of %s: %s", order_no, exc)
        return None
    now = datetime.now(UTC)
    async with request.app[ENGINE].begin() as conn:
        if not status.paid or status.order_no != order_no:
            await log_event(conn, order_no, "query", "pending", now=now, detail=f"state={status.trade_state}")
            return None
        return await mark_paid(
            conn,
            order_no,
            status.amount_fen,
            txn_id=status.txn_id or "",
            paid_at=status.paid_at or now,
            by="query",
            now=now,
        )


@routes.post("/mall/pay/notify")
async def payment_notify(request: web.Request) -> web.StreamResponse:
    """The provider's signed notification. Refused (401, logged) unless it verifies; a verified
    success marks the order paid once (repeats are answered as done); any other state, or a
    message older than the order's payment, changes nothing."""
    body = await request.read()
    now = datetime.now(UTC)
    pay = await provider(request)
    try:
        notice = pay.verify_notify(request.headers, body, now=now)
    except BadSignature as exc:
        log.warning("mall payment notification refused: %s", exc)
        async with request.app[ENGINE].begin() as conn:
            await log_event(conn, None, "notify", "refused", now=now, detail=str(exc)[:500])
        return web.json_response({"code": "FAIL", "message": "signature does not verify"}, status=401)
    async with request.app[ENGINE].begin() as conn:
        if not notice.paid:
            detail = f"{notice.event_type} state={notice.trade_state}"
            await log_event(
                conn, notice.order_no, "notify", "ignored", now=now, event_id=notice.event_id, detail=detail
            )
            return web.json_response({"code": "SUCCESS", "message": ""})
        outcome = await mark_paid(
            conn,
            notice.order_no,
            notice.amount_fen,
            txn_id=notice.txn_id or "",
            paid_at=notice.paid_at or now,
            by="notify",
            now=now,
            event_id=notice.event_id,
        )
    if outcome in ("unknown", "mismatch"):
        log.warning("mall payment notification for %s: %s", notice.order_no, outcome)
        return web.json_response({"code": "FAIL", "message": outcome}, status=400)
    return web.json_response({"code": "SUCCESS", "message": ""})


def setup(app: web.Application) -> None:
    app.add_routes(routes)
