"""Live sessions (直播复盘): a host's sessions, one session in full, two side by side, and the
same data as JSON (``/api/v1/sessions``...). Figures come from :mod:`bangfu.queries.sessions`,
which computes them with the ``session-review`` report's own function.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from bangfu.i18n import MESSAGES, t
from bangfu.queries.sessions import (
    SORTS,
    SessionMinutes,
    compare_page,
    detail_json,
    list_sessions,
    metrics_json,
    minutes_json,
    session_detail,
    session_minutes,
    session_page,
    sessions_report,
)
from bangfu.queries.trace import session_campaign
from bangfu.reports.base import Period
from bangfu.scope import Scope
from bangfu.settings import get_settings
from bangfu.trace import campaign_url
from web.api import error_responses, json_ok
from web.errors import BadParam
from web.export import FORMATS, export_response
from web.keys import ENGINE, scope_of
from web.paging import cursor_window, id_param, int_param, next_cursor, page_window, period_param, sort_param
from web.render import NAV, NavItem, local_time, render

MESSAGES.update(
    {
        "web.sessions.menu.list": {"zh": "直播场次", "en": "Live sessions"},
        "web.sessions.menu.compare": {"zh": "场次对比", "en": "Compare sessions"},
        "web.sessions.title": {"zh": "直播场次", "en": "Live sessions"},
        "web.sessions.period": {"zh": "期间", "en": "Period"},
        "web.sessions.period_hint": {"zh": "2026-10 或 2026", "en": "2026-10 or 2026"},
        "web.sessions.from": {"zh": "开始日期", "en": "From"},
        "web.sessions.to": {"zh": "结束日期", "en": "To"},
        "web.sessions.shop": {"zh": "店铺", "en": "Shop"},
        "web.sessions.all_shops": {"zh": "全部店铺", "en": "All shops"},
        "web.sessions.sort": {"zh": "排序", "en": "Sort by"},
        "web.sessions.show": {"zh": "查询", "en": "Show"},
        "web.sessions.export": {"zh": "导出", "en": "Export"},
        "web.sessions.count": {"zh": "场次数", "en": "Sessions"},
        "web.sessions.total_gmv": {"zh": "成交金额合计", "en": "GMV in total"},
        "web.sessions.total_orders": {"zh": "订单合计", "en": "Orders in total"},
        "web.sessions.none": {"zh": "该期间没有直播场次。", "en": "No sessions in this period."},
        "web.sessions.date": {"zh": "开播时间", "en": "Started"},
        "web.sessions.room": {"zh": "直播间", "en": "Room"},
        "web.sessions.duration": {"zh": "时长", "en": "Duration"},
        "web.sessions.minutes": {"zh": "{n} 分钟", "en": "{n} min"},
        "web.sessions.live_now": {"zh": "直播中", "en": "live"},
        "web.sessions.prev": {"zh": "上一页", "en": "Previous"},
        "web.sessions.next": {"zh": "下一页", "en": "Next"},
        "web.sessions.page": {"zh": "第 {page} 页，共 {total} 场", "en": "Page {page}, {total} sessions"},
        "web.sessions.sort.start": {"zh": "开播时间", "en": "Start"},
        "web.sessions.sort.duration": {"zh": "时长", "en": "Duration"},
        "web.sessions.sort.gmv": {"zh": "成交金额", "en": "GMV"},
        "web.sessions.sort.orders": {"zh": "订单数", "en": "Orders"},
        "web.sessions.sort.buyers": {"zh": "买家数", "en": "Buyers"},
        "web.sessions.sort.views": {"zh": "观看次数", "en": "Views"},
        "web.sessions.sort.gpm": {"zh": "GPM", "en": "GPM"},
        "web.sessions.sort.conversion": {"zh": "转化率", "en": "Conversion"},
        "web.sessions.desc": {"zh": "从高到低", "en": "High to low"},
        "web.sessions.asc": {"zh": "从低到高", "en": "Low to high"},
        "web.sessions.missing_note": {
            "zh": "“-”表示平台未提供该数据（不是 0）。",
            "en": "“-” means the platform does not report the figure (it is not 0).",
        },
        "web.sessions.session": {"zh": "场次 #{id}", "en": "Session #{id}"},
        "web.sessions.host": {"zh": "主播", "en": "Host"},
        "web.sessions.platform": {"zh": "平台", "en": "Platform"},
        "web.sessions.sales": {"zh": "成交", "en": "Sales"},
        "web.sessions.traffic": {"zh": "流量", "en": "Traffic"},
        "web.sessions.money": {"zh": "投放与收益", "en": "Spend and returns"},
        "web.sessions.timeline": {"zh": "分钟级走势", "en": "Minute by minute"},
        "web.sessions.timeline_note": {
            "zh": "阴影为商品讲解时段。",
            "en": "Shaded bands are the product explanation (讲解) windows.",
        },
        "web.sessions.no_minutes": {
            "zh": "平台未提供该场次的分钟级数据。",
            "en": "The platform sent no per-minute data for this session.",
        },
        "web.sessions.online": {"zh": "在线人数", "en": "Online viewers"},
        "web.sessions.entering": {"zh": "进入人数", "en": "Entering viewers"},
        "web.sessions.gmv_minute": {"zh": "每分钟成交(元)", "en": "GMV per minute (yuan)"},
        "web.sessions.products": {"zh": "商品成交明细", "en": "Sales by product"},
        "web.sessions.no_products": {"zh": "本场暂无归属成交。", "en": "No sales attributed to this session."},
        "web.sessions.explanations": {"zh": "讲解时段", "en": "Explanation windows"},
        "web.sessions.window_from": {"zh": "开始", "en": "From"},
        "web.sessions.window_to": {"zh": "结束", "en": "To"},
        "web.sessions.explaining": {"zh": "讲解", "en": "Explaining"},
        "web.sessions.confidence": {"zh": "归属可信度", "en": "Attribution confidence"},
        "web.sessions.confidence_note": {
            "zh": "确定：订单带直播间/主播编号；链接：场次专属链接或二维码；推断：按讲解时段推断，报表中不计为确定。",
            "en": "Exact: the order carries the room or host id; link: the session's own link or QR code; "
            "inferred: from the explanation windows, never counted as exact.",
        },
        "web.sessions.conf.exact": {"zh": "确定", "en": "Exact"},
        "web.sessions.conf.link": {"zh": "链接", "en": "Link"},
        "web.sessions.conf.inferred": {"zh": "推断", "en": "Inferred"},
        "web.sessions.supported": {"zh": "带动合作社与农户", "en": "Cooperatives and households supported"},
        "web.sessions.supported_line": {
            "zh": "本场带动 {households} 户农户，到户净收益 {net}",
            "en": "{households} households supported, {net} reached them",
        },
        "web.sessions.supported_note": {
            "zh": "到户净收益按账本中本场订单行记入农户账户的金额计算（返利、奖励、保底价回收），已扣除退款。",
            "en": "What the ledger credited to households' accounts on this session's order lines "
            "(rebate, bonus, guaranteed price recovered), net of refunds.",
        },
        "web.sessions.no_support": {"zh": "尚无记入农户账户的金额。", "en": "Nothing credited to households yet."},
        "web.sessions.cooperative": {"zh": "合作社", "en": "Cooperative"},
        "web.sessions.households": {"zh": "带动户数", "en": "Households"},
        "web.sessions.net": {"zh": "到户净收益", "en": "Net to households"},
        "web.sessions.compare": {"zh": "与其他场次对比", "en": "Compare with another session"},
        "web.sessions.compare_title": {"zh": "场次对比", "en": "Compare sessions"},
        "web.sessions.compare_pick": {"zh": "选择两个场次进行对比。", "en": "Pick two sessions to compare."},
        "web.sessions.session_a": {"zh": "场次 A", "en": "Session A"},
        "web.sessions.session_b": {"zh": "场次 B", "en": "Session B"},
        "web.sessions.metric": {"zh": "指标", "en": "Figure"},
        "web.sessions.difference": {"zh": "B 与 A 相差", "en": "B minus A"},
        "web.sessions.title_col": {"zh": "标题", "en": "Title"},
        "web.sessions.export_name": {"zh": "直播复盘_{period}", "en": "session-review_{period}"},
        "web.sessions.untitled": {"zh": "（无标题）", "en": "(untitled)"},
    }
)

MESSAGES.update(
    {
        "web.sessions.platform.taobao": {"zh": "淘宝", "en": "Taobao"},
        "web.sessions.platform.tmall": {"zh": "天猫", "en": "Tmall"},
        "web.sessions.platform.jd": {"zh": "京东", "en": "JD"},
        "web.sessions.platform.douyin": {"zh": "抖音", "en": "Douyin"},
        "web.sessions.platform.kuaishou": {"zh": "快手", "en": "Kuaishou"},
        "web.sessions.platform.youzan": {"zh": "有赞", "en": "Youzan"},
        "web.sessions.platform.selfmall": {"zh": "自建商城", "en": "Own mall"},
        "web.sessions.platform.counter": {"zh": "专柜", "en": "Counter"},
        "web.sessions.platform.vending": {"zh": "售货机", "en": "Vending machine"},
        "web.sessions.platform.community": {"zh": "社区门店", "en": "Community store"},
        "web.sessions.platform.fair": {"zh": "展销会", "en": "Fair"},
    }
)


# The report's figures as the session and compare pages group them: (group, [(key, kind)]).
# Labels are the report's column headers (``report.col.<key>``).
METRIC_GROUPS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "web.sessions.sales",
        [
            ("gmv", "money"),
            ("orders", "int"),
            ("buyers", "int"),
            ("units", "int"),
            ("refunds", "money"),
            ("refund_rate", "ratio"),
            ("net_households", "money"),
            ("duration_min", "int"),
        ],
    ),
    (
        "web.sessions.traffic",
        [
            ("views", "int"),
            ("gpm", "money"),
            ("conversion", "ratio"),
            ("uv_value", "money"),
            ("pcu", "int"),
            ("acu", "int"),
            ("avg_watch_s", "int"),
        ],
    ),
    (
        "web.sessions.money",
        [("ad_spend", "money"), ("roi", "decimal"), ("orders_exact", "int"), ("orders_inferred", "int")],
    ),
]


def _nav(scope: Scope) -> list[NavItem]:
    if not scope.sees_sessions:
        return []
    return [
        NavItem("/sessions", t("web.sessions.menu.list")),
        NavItem("/sessions/compare", t("web.sessions.menu.compare")),
    ]


NAV.append(_nav)
routes = web.RouteTableDef()


def _sessions_scope(request: web.Request) -> Scope:
    """The user's scope; roles without session pages (cooperatives, units) find nothing here."""
    scope = scope_of(request)
    if not scope.sees_sessions:
        raise web.HTTPNotFound()
    return scope


def _shop(request: web.Request) -> int | None:
    raw = request.query.get("shop")
    return None if raw in (None, "") else int_param(request, "shop", 0, lo=1, hi=10**12)


def _period(request: web.Request) -> Period:
    try:
        return period_param(request)
    except (ValueError, OverflowError):  # a year or day outside what a calendar holds
        raise BadParam("period", "a date out of range") from None


def _list_params(request: web.Request) -> tuple[Period, int | None, str, bool]:
    period = _period(request)
    shop = _shop(request)
    sort, descending = sort_param(request, SORTS, "-start")
    return period, shop, sort, descending


def _format(request: web.Request) -> str | None:
    fmt = request.query.get("format")
    if fmt in (None, ""):
        return None
    if fmt not in FORMATS:
        raise BadParam("format", "xlsx or csv")
    return fmt


def _query_string(request: web.Request, **changes: Any) -> str:
    """The current filter as a query string, with ``changes`` (None drops a key)."""
    from urllib.parse import urlencode

    params = {k: v for k, v in request.query.items() if k in ("period", "from", "to", "shop", "sort")}
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return urlencode(params)


@routes.get("/sessions")
async def sessions_view(request: web.Request) -> web.StreamResponse:
    scope = _sessions_scope(request)
    period, shop, sort, descending = _list_params(request)
    fmt = _format(request)
    window = page_window(request, 20)
    async with request.app[ENGINE].connect() as conn:
        if fmt is not None:
            report = await sessions_report(conn, scope, period, shop_id=shop, sort=sort, descending=descending)
            return export_response(report, fmt, t("web.sessions.export_name", period=period.label))
        listed = await list_sessions(
            conn,
            scope,
            period,
            shop_id=shop,
            sort=sort,
            descending=descending,
            offset=window.offset,
            limit=window.limit,
        )
    context = {
        "listed": listed,
        "period": period,
        "shop": shop,
        "sort": sort,
        "descending": descending,
        "sorts": SORTS,
        "window": window,
        "q": request.query,
        "qs": lambda **kw: _query_string(request, **kw),
    }
    return render(request, "console/sessions/list.html", context)


def _chart(minutes: SessionMinutes) -> dict[str, Any]:
    """The timeline's data for ECharts: local HH:MM labels, three series, and the explanation
    windows as (first, last) minute indexes clipped to the series."""
    series = minutes.minutes
    labels = [local_time(m.minute_at, "%H:%M") for m in series]
    starts = [m.minute_at for m in series]

    def index(when: datetime) -> int:
        return max(0, bisect_right(starts, when) - 1)

    bands = [
        {"name": e.product, "from": index(e.started_at), "to": index(e.ended_at)}
        for e in minutes.explanations
        if series and e.ended_at >= starts[0] and e.started_at <= starts[-1] + timedelta(minutes=1)
    ]
    return {
        "labels": labels,
        "online": [m.online for m in series],
        "entering": [m.views for m in series],
        "gmv": [round(m.gmv_fen / 100, 2) for m in series],
        "bands": bands,
        "names": {
            "online": t("web.sessions.online"),
            "entering": t("web.sessions.entering"),
            "gmv": t("web.sessions.gmv_minute"),
            "explaining": t("web.sessions.explaining"),
        },
    }


@routes.get("/sessions/compare")
async def compare_view(request: web.Request) -> web.StreamResponse:
    scope = _sessions_scope(request)
    raw_a, raw_b = request.query.get("a"), request.query.get("b")
    a = int_param(request, "a", 0, lo=1, hi=10**12) if raw_a else None
    b = int_param(request, "b", 0, lo=1, hi=10**12) if raw_b else None
    async with request.app[ENGINE].connect() as conn:
        page = await compare_page(conn, scope, a, b)
    if page is None:
        raise web.HTTPNotFound()
    context = {"c": page.comparison, "choices": page.choices, "a": a, "b": b, "groups": METRIC_GROUPS}
    return render(request, "console/sessions/compare.html", context)


def _public_url() -> str:
    return get_settings().resolved_public_url


@routes.get("/sessions/{id}")
async def session_view(request: web.Request) -> web.StreamResponse:
    scope = _sessions_scope(request)
    session_id = id_param(request)
    async with request.app[ENGINE].connect() as conn:
        page = await session_page(conn, scope, session_id)
        code = await session_campaign(conn, scope, session_id) if page is not None else None
    if page is None:
        raise web.HTTPNotFound()
    context = {
        "campaign": None if code is None else {"code": code, "url": campaign_url(_public_url(), code)},
        "d": page.detail,
        "m": page.detail.metrics,
        "minutes": page.minutes,
        "chart": _chart(page.minutes),
        "groups": METRIC_GROUPS,
    }
    return render(request, "console/sessions/session.html", context)


# -- API ------------------------------------------------------------------------------------------


@routes.get("/api/v1/sessions")
async def sessions_api(request: web.Request) -> web.StreamResponse:
    scope = _sessions_scope(request)
    period, shop, sort, descending = _list_params(request)
    fingerprint = f"{period.label}|{shop}|{sort}|{descending}"
    window = cursor_window(request, fingerprint)
    async with request.app[ENGINE].connect() as conn:
        listed = await list_sessions(
            conn,
            scope,
            period,
            shop_id=shop,
            sort=sort,
            descending=descending,
            offset=window.offset,
            limit=window.limit,
        )
    return web.json_response(
        {
            "items": [metrics_json(row) for row in listed.rows],
            "next_cursor": next_cursor(window, listed.total, fingerprint),
            "total": listed.total,
        }
    )


@routes.get("/api/v1/sessions/{id}")
async def session_api(request: web.Request) -> web.StreamResponse:
    scope = _sessions_scope(request)
    session_id = id_param(request)
    async with request.app[ENGINE].connect() as conn:
        detail = await session_detail(conn, scope, session_id)
    if detail is None:
        raise web.HTTPNotFound()
    return web.json_response(detail_json(detail))


@routes.get("/api/v1/sessions/{id}/minutes")
async def minutes_api(request: web.Request) -> web.StreamResponse:
    scope = _sessions_scope(request)
    session_id = id_param(request)
    async with request.app[ENGINE].connect() as conn:
        minutes = await session_minutes(conn, scope, session_id)
    if minutes is None:
        raise web.HTTPNotFound()
    return web.json_response(minutes_json(minutes))


def setup(app: web.Application) -> None:
    app.add_routes(routes)


# -- OpenAPI --------------------------------------------------------------------------------------

_INT_OR_NULL: dict[str, Any] = {"type": ["integer", "null"]}
_DECIMAL_OR_NULL: dict[str, Any] = {"type": ["string", "null"], "description": "a decimal ratio, e.g. 0.0123"}
_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}

SESSION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A session's review figures (the session-review report's row). Null: not reported.",
    "required": ["id", "room_id", "shop_id", "platform", "started_at", "gmv_fen", "orders", "net_households_fen"],
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": ["string", "null"]},
        "room_id": {"type": "string"},
        "host": {"type": "string"},
        "host_id": _INT_OR_NULL,
        "shop_id": {"type": "integer"},
        "shop": {"type": "string"},
        "platform": {"type": "string"},
        "started_at": _TIME,
        "ended_at": {"type": ["string", "null"], "format": "date-time"},
        "duration_min": _INT_OR_NULL,
        "gmv_fen": {"type": "integer"},
        "orders": {"type": "integer"},
        "buyers": {"type": "integer"},
        "units": {"type": "integer"},
        "refunds_fen": {"type": "integer"},
        "refund_rate": _DECIMAL_OR_NULL,
        "views": _INT_OR_NULL,
        "unique_viewers": _INT_OR_NULL,
        "gpm_fen": _INT_OR_NULL,
        "conversion": _DECIMAL_OR_NULL,
        "uv_value_fen": _INT_OR_NULL,
        "pcu": _INT_OR_NULL,
        "acu": _INT_OR_NULL,
        "avg_watch_s": _INT_OR_NULL,
        "ad_spend_fen": _INT_OR_NULL,
        "roi": _DECIMAL_OR_NULL,
        "net_households_fen": {"type": "integer"},
        "orders_exact": {"type": "integer"},
        "orders_inferred": {"type": "integer"},
        "missing": {"type": "array", "items": {"type": "string"}},
    },
}
SESSION_LIST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["items", "next_cursor"],
    "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Session"}},
        "next_cursor": {"type": ["string", "null"]},
        "total": {"type": "integer"},
    },
}
SESSION_DETAIL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["session", "products", "confidence", "cooperatives", "households"],
    "properties": {
        "session": {"$ref": "#/components/schemas/Session"},
        "products": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["product", "units", "gmv_fen", "orders"],
                "properties": {
                    "product": {"type": "string"},
                    "units": {"type": "integer"},
                    "gmv_fen": {"type": "integer"},
                    "orders": {"type": "integer"},
                    "share": _DECIMAL_OR_NULL,
                },
            },
        },
        "confidence": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["confidence", "orders", "gmv_fen"],
                "properties": {
                    "confidence": {"type": "string", "enum": ["exact", "link", "inferred"]},
                    "orders": {"type": "integer"},
                    "gmv_fen": {"type": "integer"},
                },
            },
        },
        "cooperatives": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["cooperative_id", "name", "households", "net_fen"],
                "properties": {
                    "cooperative_id": {"type": "integer"},
                    "name": {"type": "string"},
                    "households": {"type": "integer"},
                    "net_fen": {"type": "integer"},
                },
            },
        },
        "households": {"type": "integer"},
    },
}
SESSION_MINUTES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["session_id", "started_at", "minutes", "explanations"],
    "properties": {
        "session_id": {"type": "integer"},
        "started_at": _TIME,
        "ended_at": {"type": ["string", "null"], "format": "date-time"},
        "minutes": {
            "type": "array",
            "description": "Empty when the platform sent no per-minute series (missing, not zero).",
            "items": {
                "type": "object",
                "required": ["minute_at", "online", "views", "gmv_fen"],
                "properties": {
                    "minute_at": _TIME,
                    "online": {"type": "integer"},
                    "views": {"type": "integer", "description": "viewers entering in this minute"},
                    "gmv_fen": {"type": "integer"},
                },
            },
        },
        "explanations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["product", "platform_item_id", "started_at", "ended_at"],
                "properties": {
                    "product": {"type": "string"},
                    "sku_id": _INT_OR_NULL,
                    "platform_item_id": {"type": "string"},
                    "started_at": _TIME,
                    "ended_at": _TIME,
                },
            },
        },
    },
}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "Session": SESSION_SCHEMA,
    "SessionList": SESSION_LIST_SCHEMA,
    "SessionDetail": SESSION_DETAIL_SCHEMA,
    "SessionMinutes": SESSION_MINUTES_SCHEMA,
}

_ID_PARAM: dict[str, Any] = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
_SORT_VALUES = [s for key in SORTS for s in (key, f"-{key}")]
_LIST_PARAMS: list[dict[str, Any]] = [
    {
        "name": "period",
        "in": "query",
        "required": False,
        "description": "YYYY-MM or YYYY (Asia/Shanghai); not with from/to; default this month",
        "schema": {"type": "string", "pattern": "^(19|20)[0-9]{2}(-(0[1-9]|1[0-2]))?$"},
    },
    {
        "name": "from",
        "in": "query",
        "required": False,
        "description": "first local day, YYYY-MM-DD",
        "schema": {"type": "string", "format": "date"},
    },
    {
        "name": "to",
        "in": "query",
        "required": False,
        "description": "last local day, YYYY-MM-DD",
        "schema": {"type": "string", "format": "date"},
    },
    {"name": "shop", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
    {
        "name": "sort",
        "in": "query",
        "required": False,
        "description": "a key, prefixed - for descending; default -start",
        "schema": {"type": "string", "enum": _SORT_VALUES},
    },
    {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
    {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
]
OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/sessions": {
        "get": {
            "summary": "The caller's live sessions started in a period, with their review figures",
            "operationId": "listSessions",
            "parameters": _LIST_PARAMS,
            "responses": json_ok({"$ref": "#/components/schemas/SessionList"}) | error_responses(400, 401, 404),
        }
    },
    "/api/v1/sessions/{id}": {
        "get": {
            "summary": "One session: figures, sales by product, attribution confidence, cooperatives supported",
            "operationId": "getSession",
            "parameters": [_ID_PARAM],
            "responses": json_ok({"$ref": "#/components/schemas/SessionDetail"}) | error_responses(400, 401, 404),
        }
    },
    "/api/v1/sessions/{id}/minutes": {
        "get": {
            "summary": "One session's per-minute series and product explanation windows",
            "operationId": "getSessionMinutes",
            "parameters": [_ID_PARAM],
            "responses": json_ok({"$ref": "#/components/schemas/SessionMinutes"}) | error_responses(400, 401, 404),
        }
    },
}
