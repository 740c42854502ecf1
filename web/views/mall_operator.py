"""The operator console's page of the county's own mall: its orders, and refunds through the
payment provider (a refund the provider confirms is stored as a refund of the mall's shop, so
the ledger reverses it as it does a platform's)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiohttp import web

from bangfu.i18n import MESSAGES, t
from bangfu.mall import mall_shop_id, paid_order, record_refund
from bangfu.queries import mall as q
from bangfu.queries.operator import operates
from bangfu.scope import Scope
from connectors.payments import PaymentError
from web.keys import ENGINE, USER
from web.render import NAV, NavItem, render
from web.views.mall import provider
from web.views.operator import operator_scope

log = logging.getLogger(__name__)

MESSAGES.update(
    {
        "web.mallop.menu": {"zh": "自营商城订单", "en": "Mall orders"},
        "web.mallop.title": {"zh": "县域自营商城订单", "en": "County mall orders"},
        "web.mallop.intro": {
            "zh": "买家联系方式已脱敏。退款经支付通道原路退回，成功后记为本店退款并冲减台账。",
            "en": "Buyers' contacts are masked. Refunds go back through the payment provider; "
            "once it confirms, they are stored as this shop's refunds and the ledger reverses them.",
        },
        "web.mallop.order": {"zh": "订单号", "en": "Order"},
        "web.mallop.created": {"zh": "下单时间", "en": "Placed"},
        "web.mallop.buyer": {"zh": "买家", "en": "Buyer"},
        "web.mallop.unit": {"zh": "采购单位", "en": "Unit"},
        "web.mallop.campaign": {"zh": "活动码", "en": "Campaign"},
        "web.mallop.state": {"zh": "状态", "en": "State"},
        "web.mallop.amount": {"zh": "金额", "en": "Amount"},
        "web.mallop.refunded": {"zh": "已退", "en": "Refunded"},
        "web.mallop.refund": {"zh": "全额退款", "en": "Refund in full"},
        "web.mallop.confirm": {"zh": "确认退款 {amount}？", "en": "Refund {amount}?"},
        "web.mallop.done": {"zh": "已退款 {amount}（订单 {no}）", "en": "Refunded {amount} (order {no})"},
        "web.mallop.failed": {"zh": "退款失败：{error}", "en": "Refund failed: {error}"},
        "web.mallop.none": {"zh": "暂无商城订单。", "en": "No mall orders yet."},
        "web.mallop.open": {"zh": "打开商城", "en": "Open the mall"},
    }
)


def _nav(scope: Scope) -> list[NavItem]:
    return [NavItem("/operator/mall", t("web.mallop.menu"))] if operates(scope) else []


NAV.append(_nav)
routes = web.RouteTableDef()


async def _mall_scope(request: web.Request) -> int | None:
    """The mall shop's id (None: no mall yet) if the operator's shops include it; else 404."""
    scope = operator_scope(request)
    async with request.app[ENGINE].connect() as conn:
        shop_id = await mall_shop_id(conn)
    if scope.shop_ids is not None and (shop_id is None or shop_id not in scope.shop_ids):
        raise web.HTTPNotFound()
    return shop_id


@routes.get("/operator/mall")
async def mall_orders_page(request: web.Request) -> web.StreamResponse:
    await _mall_scope(request)
    async with request.app[ENGINE].connect() as conn:
        rows = await q.recent_orders(conn)
    message = request.query.get("done")
    return render(
        request,
        "console/operator/mall.html",
        {"rows": rows, "notice": message, "error": request.query.get("error")},
    )


@routes.post("/operator/mall/{order_no}/refund")
async def refund_order(request: web.Request) -> web.StreamResponse:
    if await _mall_scope(request) is None:
        raise web.HTTPNotFound()
    order_no = request.match_info["order_no"]
    async with request.app[ENGINE].connect() as conn:
        paid = await paid_order(conn, order_no)
    if paid is None:
        raise web.HTTPNotFound()
    amount, refunded = paid
    if refunded >= amount:
        raise web.HTTPFound("/operator/mall")
    refund_no = f"RF{order_no}"  # one full refund per order: a second click is the same refund
    user = request.get(USER)
    pay = await provider(request)
    try:
        result = await pay.refund(order_no, refund_no, amount - refunded, amount, "operator refund")
    except PaymentError as exc:
        log.warning("mall refund of %s failed: %s", order_no, exc)
        raise web.HTTPFound(f"/operator/mall?error={t('web.mallop.failed', error=str(exc)[:200])}") from exc
    if result.status != "SUCCESS":
        raise web.HTTPFound(f"/operator/mall?error={t('web.mallop.failed', error=result.status)}")
    async with request.app[ENGINE].begin() as conn:
        who = user.name if user is not None else "operator"
        done = await record_refund(conn, order_no, refund_no, reason=f"refund by {who}", now=datetime.now(UTC))
    from web.render import yuan

    raise web.HTTPFound(f"/operator/mall?done={t('web.mallop.done', amount=yuan(done), no=order_no)}")


def setup(app: web.Application) -> None:
    app.add_routes(routes)
