"""Fake self-built mall (自建商城): a plain web mall with no API, served as HTML pages.

There is no open API to match, so this fake is a typical small PHP/Django-style mall admin; the
hub scrapes it (``connectors.selfmall``). Every choice below is ours [I]:

* ``GET /catalogue?page=&per_page=`` public, paged product catalogue (items with their SKUs,
  ids, outer codes, price as ``¥1,234.50``, stock, on-shelf flag, modified time);
* ``GET /login`` form with a hidden ``csrf_token`` bound to an anonymous session cookie
  (``mall_session``); ``POST /login`` checks the token (403 page otherwise), the username and
  password (the login page again with ``data-error="bad_credentials"``), rotates the session id
  and redirects (302) to ``next``;
* behind the login (``/admin/...``; a missing or idle session -> 302 to ``/login?next=...``;
  sessions expire after :data:`SESSION_IDLE` of inactivity on the fake clock):
  ``/admin/orders?updated_from=&updated_to=&page=&per_page=`` (half-open Beijing-time window,
  at most 31 days, sorted by update time ascending, each order a full card with lines, money,
  status in Chinese, campaign code and purchasing unit code), ``/admin/orders/{id}``,
  ``/admin/refunds`` (same window rules), ``/admin/refunds/{id}``,
  ``/admin/settlements?settled_from=&settled_to=`` (statement lines, signed amounts),
  ``/admin/lives?updated_from=&updated_to=&page=&per_page=`` (the mall's live broadcasts: one
  WeChat Channels live per campaign of the world, promoting that campaign's link / QR code; same
  window rules as orders, sorted by update time ascending; see :func:`campaign_broadcasts`), and
  ``GET|POST /admin/stock`` (the stock form; POST needs the session's CSRF token);
* every admin page carries ``<meta name="csrf-token">``; errors are HTML pages with a
  ``data-error`` code (400 ``bad_time``/``window_too_wide``/``bad_quantity``/``unknown_sku``,
  403 ``csrf``, 404 ``not_found``); rate limiting is a 429 page with ``Retry-After``; 5xx come
  from the fault layer.

Markup carries ``data-*`` attributes (``data-order-id``, ``data-field="paid"``...) so a scraper
need not depend on layout or CSS classes.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from bangfu.enums import LineRefundState, OrderStatus, RefundStatus, SettlementKind
from bangfu.money import format_yuan
from bangfu.privacy import mask_name
from connectors.fakes.server import FakeCredentials, FakePlatform, Record, beijing_text
from connectors.fakes.world import (
    SHANGHAI,
    FakeCampaign,
    FakeItem,
    FakeOrder,
    FakeRefund,
    FakeSettlementLine,
    FakeWorld,
    StockError,
)

TEMPLATES = Path(__file__).parent / "templates" / "selfmall"
MALL_NAME = "甘孜消费帮扶馆（演示）"
SESSION_COOKIE = "mall_session"
SESSION_IDLE = timedelta(minutes=30)
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_WINDOW = timedelta(days=31)
DEFAULT_WINDOW = timedelta(days=7)
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20
CATALOGUE_PER_PAGE = 20
#: The mall's WeChat Channels (视频号) accounts that broadcast its campaigns [I]: the first hosts most.
LIVE_HOSTS: tuple[str, ...] = ("甘孜消费帮扶馆", "县长带货直播间")

ORDER_STATUS_WORDS: Mapping[OrderStatus, str] = {
    OrderStatus.PENDING_PAYMENT: "待付款",
    OrderStatus.CANCELLED: "已取消",
    OrderStatus.PAID: "待发货",
    OrderStatus.PART_SHIPPED: "部分发货",
    OrderStatus.SHIPPED: "已发货",
    OrderStatus.DELIVERED: "已签收",
    OrderStatus.COMPLETED: "已完成",
    OrderStatus.CLOSED: "已关闭",
}
LINE_REFUND_WORDS: Mapping[LineRefundState, str] = {
    LineRefundState.NONE: "无",
    LineRefundState.IN_PROGRESS: "退款中",
    LineRefundState.PARTIAL: "部分退款",
    LineRefundState.FULL: "已退款",
}
REFUND_STATUS_WORDS: Mapping[RefundStatus, str] = {
    RefundStatus.REQUESTED: "待商家处理",
    RefundStatus.AWAITING_RETURN: "待买家退货",
    RefundStatus.AWAITING_CONFIRM: "待商家收货",
    RefundStatus.REFUSED: "商家已拒绝",
    RefundStatus.SUCCEEDED: "退款成功",
    RefundStatus.CLOSED: "已撤销",
}
SETTLEMENT_WORDS: Mapping[SettlementKind, str] = {
    SettlementKind.SALE: "货款收入",
    SettlementKind.REFUND: "退款支出",
    SettlementKind.PLATFORM_FEE: "平台服务费",
    SettlementKind.HOST_COMMISSION: "主播佣金",
    SettlementKind.PAYMENT_FEE: "支付手续费",
    SettlementKind.LOGISTICS: "物流费",
    SettlementKind.SUBSIDY: "补贴",
    SettlementKind.OTHER: "其他",
}


class PageError(Exception):
    """An HTML error page: status, ``data-error`` code and the message shown."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class MallSession:
    csrf: str
    last_seen: datetime
    shop_id: str | None = None  # None: anonymous (only the login form)


@dataclass(frozen=True)
class Pager:
    page: int
    pages: int
    total: int
    per_page: int


@dataclass(frozen=True, slots=True)
class FakeBroadcast:
    """A WeChat Channels live of the mall promoting one campaign's link / QR code, as of now."""

    broadcast_id: str
    host_id: str  # the Channels account id (finder username)
    host_name: str
    title: str
    campaign_code: str
    started_at: datetime
    ended_at: datetime | None  # None while live
    modified_at: datetime  # the end once ended, else the last whole minute of stats
    views: int  # PV
    unique_viewers: int  # UV
    peak_online: int  # PCU


def _broadcast_plan(world: FakeWorld, campaign: FakeCampaign) -> tuple[str, int, datetime, datetime, int, int, int]:
    """(id, host index, start, end, peak, total views, UV per cent) of a campaign's live: the
    first evening (20:00-20:30 Beijing time) at or after the campaign starts, 90-150 minutes."""
    rng = random.Random(f"selfmall-live:{world.seed}:{world.shop_id}:{campaign.campaign_code}")
    broadcast_id = str(10**17 + rng.randrange(9 * 10**17))
    host = 0 if rng.random() < 0.8 else 1
    local_start = campaign.starts_at.astimezone(SHANGHAI)
    start = local_start.replace(hour=20, minute=rng.randint(0, 30), second=0, microsecond=0)
    if start < local_start:
        start += timedelta(days=1)
    end = start + timedelta(minutes=rng.randint(90, 150))
    peak = rng.randint(300, 4000)
    return (
        broadcast_id,
        host,
        start.astimezone(UTC),
        end.astimezone(UTC),
        peak,
        peak * rng.randint(4, 9),
        rng.randint(55, 75),
    )


def live_host(world: FakeWorld, host: int) -> tuple[str, str]:
    """(account id, name) of one of the mall's Channels accounts."""
    digest = hashlib.sha256(f"selfmall-host:{world.seed}:{world.shop_id}:{host}".encode()).hexdigest()
    return f"sph{digest[:7]}", LIVE_HOSTS[host]


def campaign_broadcasts(world: FakeWorld) -> list[FakeBroadcast]:
    """The mall's lives started by now, one per campaign, by start time (deterministic from the
    world; stats grow minute by minute while live, as the Channels console shows them)."""
    now = world.now()
    out: list[FakeBroadcast] = []
    for campaign in world.campaigns():
        broadcast_id, host, start, end, peak, total_views, uv_percent = _broadcast_plan(world, campaign)
        if start > now:
            continue
        ended = end <= now
        seen_to = end if ended else start + timedelta(minutes=int((now - start).total_seconds()) // 60)
        share = (seen_to - start) / (end - start)
        views = int(total_views * share)
        host_id, host_name = live_host(world, host)
        out.append(
            FakeBroadcast(
                broadcast_id=broadcast_id,
                host_id=host_id,
                host_name=host_name,
                title=f"{campaign.title}｜视频号直播",
                campaign_code=campaign.campaign_code,
                started_at=start,
                ended_at=end if ended else None,
                modified_at=seen_to,
                views=views,
                unique_viewers=views * uv_percent // 100,
                peak_online=max(1, int(peak * min(1.0, share / 0.3))) if share else 0,
            )
        )
    out.sort(key=lambda b: (b.started_at, b.broadcast_id))
    return out


# -- views (pure) ------------------------------------------------------------------------------------


def local(dt: datetime | None) -> str:
    return beijing_text(dt) if dt is not None else ""


def order_view(order: FakeOrder) -> Record:
    """What an order card shows (display strings only)."""
    return {
        "order_id": order.order_id,
        "status": ORDER_STATUS_WORDS[order.status],
        "created_at": local(order.created_at),
        "paid_at": local(order.paid_at),
        "updated_at": local(order.modified_at),
        "buyer_id": order.buyer_id,
        "buyer_nick": mask_name(order.buyer_nick),
        "campaign_code": order.campaign_code or "",
        "purchasing_unit_code": order.purchasing_unit_code or "",
        "post_fee": format_yuan(order.post_fee_fen),
        "discount": format_yuan(order.discount_fen),
        "paid": format_yuan(order.paid_fen),
        "logistics": f"{order.logistics_company} {order.tracking_no}" if order.tracking_no else "未发货",
        "lines": [
            {
                "line_id": line.line_id,
                "item_id": line.item_id,
                "sku_id": line.sku_id,
                "sku_code": line.sku_code,
                "title": line.title,
                "spec": line.spec,
                "quantity": line.quantity,
                "unit_price": format_yuan(line.unit_price_fen),
                "paid": format_yuan(line.paid_fen),
                "refund": LINE_REFUND_WORDS[line.refund_state],
            }
            for line in order.lines
        ],
    }


def refund_view(refund: FakeRefund) -> Record:
    return {
        "refund_id": refund.refund_id,
        "order_id": refund.order_id,
        "line_id": refund.line_id,
        "status": REFUND_STATUS_WORDS[refund.status],
        "amount": format_yuan(refund.amount_fen),
        "quantity": "" if refund.quantity is None else str(refund.quantity),
        "with_return": "是" if refund.with_return else "否",
        "reason": refund.reason,
        "created_at": local(refund.created_at),
        "updated_at": local(refund.modified_at),
    }


def bill_view(line: FakeSettlementLine) -> Record:
    return {
        "bill_id": line.bill_id,
        "order_id": line.order_id,
        "line_id": line.line_id or "",
        "kind": SETTLEMENT_WORDS[line.kind],
        "amount": format_yuan(line.amount_fen),
        "settled_at": local(line.settled_at),
    }


def item_view(item: FakeItem) -> Record:
    return {
        "item_id": item.item_id,
        "outer_id": item.spu_code,
        "title": item.title,
        "shelf": "在售" if item.on_sale else "已下架",
        "modified_at": local(item.modified_at),
        "skus": [
            {
                "sku_id": sku.sku_id,
                "outer_id": sku.sku_code,
                "spec": sku.spec,
                "price": format_yuan(sku.price_fen),
                "stock": sku.stock,
            }
            for sku in item.skus
        ],
    }


def broadcast_view(broadcast: FakeBroadcast) -> Record:
    return {
        "broadcast_id": broadcast.broadcast_id,
        "host_id": broadcast.host_id,
        "host_name": broadcast.host_name,
        "title": broadcast.title,
        "status": "已结束" if broadcast.ended_at is not None else "直播中",
        "started_at": local(broadcast.started_at),
        "ended_at": local(broadcast.ended_at),
        "campaign_code": broadcast.campaign_code,
        "link": f"/?{urlencode({'campaign': broadcast.campaign_code})}",
        "qr": f"/qr/{broadcast.campaign_code}.png",
        "views": str(broadcast.views),
        "unique_viewers": str(broadcast.unique_viewers),
        "peak_online": str(broadcast.peak_online),
        "updated_at": local(broadcast.modified_at),
    }


#: a list record's key among the pre-rendered ones (frozen mode)
_order_key: Callable[[FakeOrder], str] = attrgetter("order_id")
_refund_key: Callable[[FakeRefund], str] = attrgetter("refund_id")


def _corrupt_money(field: str) -> Any:
    def corrupt(view: Record) -> Record:
        view[field] = "¥12.3.4"
        return view

    return corrupt


def _corrupt_item(view: Record) -> Record:
    if view["skus"]:
        view["skus"][0]["price"] = "¥--"
    return view


def parse_time_param(value: str, name: str) -> datetime:
    try:
        naive = datetime.strptime(value.strip(), LOCAL_FORMAT)
    except ValueError:
        raise PageError(400, "bad_time", f"{name} 格式应为 yyyy-MM-dd HH:mm:ss") from None
    return naive.replace(tzinfo=SHANGHAI).astimezone(UTC)


# -- the fake ----------------------------------------------------------------------------------------


class FakeSelfmall(FakePlatform):
    platform: ClassVar[str] = "selfmall"
    #: seconds in the 429 page's Retry-After header
    retry_after: ClassVar[int] = 1
    #: a logged-in session's absolute lifetime (besides the idle timeout); sessions are
    #: registered as the base's tokens, so ``POST /_fake/tokens/expire`` logs everyone out
    access_token_ttl: ClassVar[timedelta] = timedelta(hours=12)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.StrictUndefined,
        )
        self.sessions: dict[str, MallSession] = {}
        creds = self.credentials
        self.users: dict[str, tuple[str, str]] = {}
        for number, shop_id in enumerate(self.shops):
            username = creds.app_key if number == 0 else f"{creds.app_key}-{number}"
            self.users[username] = (creds.app_secret, shop_id)

    @classmethod
    def default_credentials(cls, shop_id: str) -> FakeCredentials:
        return FakeCredentials(
            app_key="fake-selfmall-operator",
            app_secret="fake-secret-not-real",
            shop_id=shop_id,
            access_token="",
            refresh_token="",
        )

    def credential_fields(self) -> dict[str, str]:
        """The operator login: ``app_key`` is the username and ``app_secret`` the password
        (``ShopConfig`` carries them there; ``extra["username"]``/``["password"]`` may override)."""
        creds = self.credentials
        return {
            "app_key": creds.app_key,
            "app_secret": creds.app_secret,
            "shop_id": creds.shop_id,
            "username": creds.app_key,
        }

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._home)
        app.router.add_get("/catalogue", self._catalogue)
        app.router.add_get("/login", self._login_form)
        app.router.add_post("/login", self._login)
        app.router.add_get("/admin", self._admin_home)
        app.router.add_get("/admin/orders", self._orders)
        app.router.add_get("/admin/orders/{order_id}", self._order)
        app.router.add_get("/admin/refunds", self._refunds)
        app.router.add_get("/admin/refunds/{refund_id}", self._refund)
        app.router.add_get("/admin/settlements", self._settlements)
        app.router.add_get("/admin/lives", self._lives)
        app.router.add_get("/admin/stock", self._stock_form)
        app.router.add_post("/admin/stock", self._stock_update)
        app.router.add_post("/_fake/sessions/expire", self._expire_sessions)

    # ----------------------------------------------------------------- rendering

    def render(
        self,
        template: str,
        page_name: str,
        *,
        status: int = 200,
        session: MallSession | None = None,
        shop_id: str | None = None,
        **context: Any,
    ) -> web.Response:
        logged_in = session is not None and session.shop_id is not None
        html = self.env.get_template(template).render(
            mall_name=MALL_NAME,
            page_name=page_name,
            shop_id=shop_id or (session.shop_id if session and session.shop_id else self.world.shop_id),
            logged_in=logged_in,
            csrf_token=session.csrf if logged_in and session is not None else "",
            **context,
        )
        return web.Response(status=status, text=html, content_type="text/html", charset="utf-8")

    def error_page(self, error: PageError, session: MallSession | None = None) -> web.Response:
        titles = {400: "请求有误", 403: "禁止访问", 404: "页面不存在", 429: "访问过于频繁"}
        return self.render(
            "error.html",
            "error",
            status=error.status,
            session=session,
            http_status=error.status,
            title=titles.get(error.status, "出错了"),
            error_code=error.code,
            message=error.message,
        )

    def rate_limit_response(self, request: web.Request) -> web.StreamResponse:
        response = self.error_page(PageError(429, "rate_limited", f"访问过于频繁，请 {self.retry_after} 秒后重试"))
        response.headers["Retry-After"] = str(self.retry_after)
        return response

    # ----------------------------------------------------------------- sessions

    def _session(self, request: web.Request) -> MallSession | None:
        sid = request.cookies.get(SESSION_COOKIE, "")
        session = self.sessions.get(sid)
        if session is None:
            return None
        now = self.clock.now()
        stale = session.shop_id is not None and not self.tokens.is_valid(sid)
        if stale or now - session.last_seen > SESSION_IDLE:
            del self.sessions[sid]
            return None
        session.last_seen = now
        return session

    def _new_session(self, shop_id: str | None) -> tuple[str, MallSession]:
        sid = secrets.token_urlsafe(24)
        session = MallSession(csrf=secrets.token_urlsafe(24), last_seen=self.clock.now(), shop_id=shop_id)
        self.sessions[sid] = session
        return sid, session

    @staticmethod
    def _set_cookie(response: web.StreamResponse, sid: str) -> None:
        response.set_cookie(SESSION_COOKIE, sid, path="/", httponly=True, samesite="Lax")

    def _require_login(self, request: web.Request) -> tuple[MallSession, FakeWorld]:
        session = self._session(request)
        if session is None or session.shop_id is None:
            raise web.HTTPFound(f"/login?{urlencode({'next': request.path_qs})}")
        return session, self.shops[session.shop_id]

    async def _expire_sessions(self, request: web.Request) -> web.Response:
        count = len(self.sessions)
        self.sessions.clear()
        return web.json_response({"expired": count})

    # ----------------------------------------------------------------- public pages

    async def _home(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/catalogue")

    async def _catalogue(self, request: web.Request) -> web.Response:
        shop_id = request.query.get("shop") or self.world.shop_id
        world = self.shops.get(shop_id)
        try:
            if world is None:
                raise PageError(404, "not_found", "店铺不存在")
            page, per_page = self._paging(request, default=CATALOGUE_PER_PAGE, maximum=50)
            items = world.products()
            rows = self.page_slice(items, page, per_page)
            views = [self.maybe_malform(f"item:{item.item_id}", item_view(item), _corrupt_item) for item in rows]
        except PageError as exc:
            return self.error_page(exc)
        return self.render(
            "catalogue.html",
            "catalogue",
            shop_id=world.shop_id,
            session=self._session(request),
            items=views,
            p=self._pager(page, per_page, len(items)),
        )

    async def _login_form(self, request: web.Request) -> web.Response:
        session = self._session(request)
        sid: str | None = None
        if session is None:
            sid, session = self._new_session(None)
        response = self._login_page(session, request.query.get("next", "/admin/orders"))
        if sid is not None:
            self._set_cookie(response, sid)
        return response

    def _login_page(
        self, session: MallSession, next_url: str, *, error: str = "", error_code: str = ""
    ) -> web.Response:
        return self.render(
            "login.html",
            "login",
            session=None,
            form_token=session.csrf,
            next_url=next_url,
            error=error,
            error_code=error_code,
        )

    async def _login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        session = self._session(request)
        token = form.get("csrf_token")
        if session is None or not isinstance(token, str) or not secrets.compare_digest(token, session.csrf):
            return self.error_page(PageError(403, "csrf", "页面已过期或来源不明，请刷新后重试"))
        username = str(form.get("username") or "")
        password = str(form.get("password") or "")
        next_url = str(form.get("next") or "/admin/orders")
        user = self.users.get(username)
        if user is None or not secrets.compare_digest(password, user[0]):
            return self._login_page(session, next_url, error="用户名或密码错误", error_code="bad_credentials")
        for sid, existing in list(self.sessions.items()):
            if existing is session:
                del self.sessions[sid]
        sid, _ = self._new_session(user[1])
        self.tokens.register(sid, f"{sid}.refresh")
        if not next_url.startswith("/") or next_url.startswith("//"):
            next_url = "/admin/orders"
        redirect = web.HTTPFound(next_url)
        self._set_cookie(redirect, sid)
        raise redirect

    # ----------------------------------------------------------------- helpers

    @staticmethod
    def _int_query(request: web.Request, name: str, default: int) -> int:
        value = request.query.get(name, "")
        if value == "":
            return default
        if not value.isdigit():
            raise PageError(400, "bad_param", f"{name} 必须是正整数")
        return int(value)

    def _paging(
        self, request: web.Request, *, default: int = DEFAULT_PER_PAGE, maximum: int = MAX_PER_PAGE
    ) -> tuple[int, int]:
        page = self._int_query(request, "page", 1)
        per_page = self._int_query(request, "per_page", default)
        if page < 1 or not 1 <= per_page <= maximum:
            raise PageError(400, "bad_param", f"每页 1-{maximum} 条，页码从 1 开始")
        return page, per_page

    @staticmethod
    def _pager(page: int, per_page: int, total: int) -> Pager:
        return Pager(page=page, pages=max(1, -(-total // per_page)), total=total, per_page=per_page)

    def _window(self, request: web.Request, start_key: str, end_key: str) -> tuple[datetime, datetime]:
        """A half-open ``[from, to)`` window in Beijing time; defaults to the last 7 days."""
        raw_start = request.query.get(start_key, "")
        raw_end = request.query.get(end_key, "")
        now = self.clock.now()
        end = parse_time_param(raw_end, end_key) if raw_end else now + timedelta(seconds=1)
        start = parse_time_param(raw_start, start_key) if raw_start else end - DEFAULT_WINDOW
        if start > end:
            raise PageError(400, "bad_time", "开始时间不能晚于结束时间")
        if end - start > MAX_WINDOW:
            raise PageError(400, "window_too_wide", "时间范围不能超过31天")
        return start, end

    @staticmethod
    def _query_prefix(request: web.Request) -> str:
        kept = [(k, v) for k, v in request.query.items() if k != "page"]
        return f"{request.path}?{urlencode(kept)}&" if kept else f"{request.path}?"

    # ----------------------------------------------------------------- admin pages

    async def _admin_home(self, request: web.Request) -> web.StreamResponse:
        self._require_login(request)
        raise web.HTTPFound("/admin/orders")

    async def _orders(self, request: web.Request) -> web.Response:
        session, world = self._require_login(request)
        try:
            page, per_page = self._paging(request)
            start, end = self._window(request, "updated_from", "updated_to")
        except PageError as exc:
            return self.error_page(exc, session)
        orders = self.orders_modified(world, start, end)
        rows = self.page_slice(orders, page, per_page)
        views = self._orders_out(world, rows)
        self.touch_during_paging(world, [o.order_id for o in orders], page)
        return self.render(
            "orders.html",
            "orders",
            session=session,
            orders=views,
            p=self._pager(page, per_page, len(orders)),
            updated_from=request.query.get("updated_from", ""),
            updated_to=request.query.get("updated_to", ""),
            query_prefix=self._query_prefix(request),
        )

    def _orders_out(self, world: FakeWorld, orders: Sequence[FakeOrder]) -> list[Any]:
        """The order list's entries: views, or in frozen mode their pre-rendered HTML blocks."""
        return self.frozen_records(
            world,
            "order",
            orders,
            _order_key,
            lambda o: self.maybe_malform(f"order:{o.order_id}", order_view(o), _corrupt_money("paid")),
            source="orders",
            freeze=self._macros().order_block,
        )

    def _refunds_out(self, world: FakeWorld, refunds: Sequence[FakeRefund]) -> list[Any]:
        """The refund list's rows: views, or in frozen mode their pre-rendered HTML rows."""
        return self.frozen_records(
            world,
            "refund",
            refunds,
            _refund_key,
            lambda r: self.maybe_malform(f"refund:{r.refund_id}", refund_view(r), _corrupt_money("amount")),
            source="refunds",
            freeze=self._macros().refund_row,
        )

    def _macros(self) -> Any:
        """The templates' macros (``order_block``, ``refund_row``), as the pages call them."""
        return self.env.get_template("_macros.html").module

    def prerender_world(self, world: FakeWorld) -> int:
        self._orders_out(world, [])
        self._refunds_out(world, [])
        return self.frozen_count(world, "order", "refund")

    async def _order(self, request: web.Request) -> web.Response:
        session, world = self._require_login(request)
        order_id = request.match_info["order_id"]
        order = world.order(order_id)
        if order is None:
            return self.error_page(PageError(404, "not_found", f"订单 {order_id} 不存在"), session)
        view = self.maybe_malform(f"order:{order_id}", order_view(order), _corrupt_money("paid"))
        return self.render("order_detail.html", "order", session=session, order=view)

    async def _refunds(self, request: web.Request) -> web.Response:
        session, world = self._require_login(request)
        try:
            page, per_page = self._paging(request)
            start, end = self._window(request, "updated_from", "updated_to")
        except PageError as exc:
            return self.error_page(exc, session)
        refunds = self.refunds_modified(world, start, end)
        rows = self.page_slice(refunds, page, per_page)
        views = self._refunds_out(world, rows)
        return self.render(
            "refunds.html",
            "refunds",
            session=session,
            refunds=views,
            p=self._pager(page, per_page, len(refunds)),
            query_prefix=self._query_prefix(request),
        )

    async def _refund(self, request: web.Request) -> web.Response:
        session, world = self._require_login(request)
        refund_id = request.match_info["refund_id"]
        refund = world.refund(refund_id)
        if refund is None:
            return self.error_page(PageError(404, "not_found", f"售后单 {refund_id} 不存在"), session)
        view = self.maybe_malform(f"refund:{refund_id}", refund_view(refund), _corrupt_money("amount"))
        return self.render("refund_detail.html", "refund", session=session, r=view)

    async def _settlements(self, request: web.Request) -> web.Response:
        session, world = self._require_login(request)
        try:
            page, per_page = self._paging(request)
            start, end = self._window(request, "settled_from", "settled_to")
        except PageError as exc:
            return self.error_page(exc, session)
        lines = world.settlements(start, end)
        rows = self.page_slice(lines, page, per_page)
        return self.render(
            "settlements.html",
            "settlements",
            session=session,
            bills=[bill_view(line) for line in rows],
            p=self._pager(page, per_page, len(lines)),
            settled_from=local(start),
            settled_to=local(end),
            query_prefix=self._query_prefix(request),
        )

    async def _lives(self, request: web.Request) -> web.Response:
        session, world = self._require_login(request)
        try:
            page, per_page = self._paging(request)
            start, end = self._window(request, "updated_from", "updated_to")
        except PageError as exc:
            return self.error_page(exc, session)
        lives = [b for b in campaign_broadcasts(world) if start <= b.modified_at < end]
        lives.sort(key=lambda b: (b.modified_at, b.broadcast_id))
        rows = self.page_slice(lives, page, per_page)
        return self.render(
            "lives.html",
            "lives",
            session=session,
            lives=[broadcast_view(b) for b in rows],
            p=self._pager(page, per_page, len(lives)),
            updated_from=request.query.get("updated_from", ""),
            updated_to=request.query.get("updated_to", ""),
            query_prefix=self._query_prefix(request),
        )

    def _stock_page(
        self,
        session: MallSession,
        world: FakeWorld,
        item_id: str,
        sku_id: str,
        *,
        status: int = 200,
        message: str = "",
        result: str = "",
    ) -> web.Response:
        current: int | None = None
        item = world.item(item_id) if item_id else None
        if item is not None:
            for sku in item.skus:
                if sku.sku_id == sku_id or (not sku_id and len(item.skus) == 1):
                    current = sku.stock
        return self.render(
            "stock_form.html",
            "stock",
            status=status,
            session=session,
            item_id=item_id,
            sku_id=sku_id,
            current=current,
            message=message,
            result=result,
        )

    async def _stock_form(self, request: web.Request) -> web.Response:
        session, world = self._require_login(request)
        return self._stock_page(session, world, request.query.get("item_id", ""), request.query.get("sku_id", ""))

    async def _stock_update(self, request: web.Request) -> web.Response:
        session, world = self._require_login(request)
        form = await request.post()
        token = form.get("csrf_token")
        if not isinstance(token, str) or not secrets.compare_digest(token, session.csrf):
            return self.error_page(PageError(403, "csrf", "页面已过期或来源不明，请刷新后重试"), session)
        item_id = str(form.get("item_id") or "").strip()
        sku_id = str(form.get("sku_id") or "").strip()
        quantity_text = str(form.get("quantity") or "").strip()
        try:
            if not quantity_text.isdigit():
                raise PageError(400, "bad_quantity", "库存必须是不小于 0 的整数")
            try:
                world.set_stock(item_id, sku_id or None, int(quantity_text))
            except StockError as exc:
                raise PageError(400, "unknown_sku", f"商品或规格不存在: {exc}") from None
        except PageError as exc:
            return self.error_page(exc, session)
        return self._stock_page(session, world, item_id, sku_id, message="库存已更新", result="ok")


__all__ = [
    "LINE_REFUND_WORDS",
    "LIVE_HOSTS",
    "MALL_NAME",
    "ORDER_STATUS_WORDS",
    "REFUND_STATUS_WORDS",
    "SESSION_COOKIE",
    "SESSION_IDLE",
    "SETTLEMENT_WORDS",
    "FakeBroadcast",
    "FakeSelfmall",
    "MallSession",
    "PageError",
    "bill_view",
    "broadcast_view",
    "campaign_broadcasts",
    "item_view",
    "order_view",
    "refund_view",
]
