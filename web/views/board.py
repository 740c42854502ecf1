"""The public board (公开大屏, issue 13): no login, a big screen or a phone, pushed live.

Routes:

- ``GET /board`` and ``GET /board/{code}`` (a region by its administrative code, and below):
  the page, rendered with the current figures (so it reads without JavaScript), then kept live
  by ``board.js`` through the event stream. ``?lang=zh|en`` chooses the language.
- ``GET /board/events`` and ``GET /board/{code}/events``: with ``Accept: text/event-stream``
  (what ``EventSource`` sends), server-sent events: ``event: board`` with the figures as JSON
  at once and after every change, ``: ping`` comments as heartbeats; otherwise the figures as
  one JSON document.

The figures come from :func:`bangfu.queries.board.board_figures` through the application's
:class:`~web.board_events.BoardHub`: one computation per board shared by every client.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web
from aiohttp_sse import sse_response

from bangfu.i18n import MESSAGES, Lang, current_lang, set_lang, t
from bangfu.queries.board import BoardRegion, board_figures, board_json, board_region
from bangfu.scope import Scope
from web.board_events import BoardFeed, BoardHub
from web.keys import ENGINE
from web.paging import choice_param
from web.render import render

HEARTBEAT_SECONDS = 15.0  # a comment line this often keeps proxies from closing the stream
RETRY_MS = 2000  # how soon EventSource reconnects after the stream ends

BOARD_HUB = web.AppKey("board_hub", BoardHub)

PLATFORMS = {
    "taobao": ("淘宝", "Taobao"),
    "tmall": ("天猫", "Tmall"),
    "jd": ("京东", "JD"),
    "douyin": ("抖音", "Douyin"),
    "kuaishou": ("快手", "Kuaishou"),
    "youzan": ("有赞", "Youzan"),
    "selfmall": ("自建商城", "Own mall"),
    "counter": ("专柜/专区", "Counter"),
    "vending": ("售货机", "Vending"),
    "community": ("社区店", "Community store"),
    "fair": ("展销会", "Fair"),
    "canteen": ("食堂采购", "Canteen"),
    "union": ("工会采购", "Union"),
    "832": ("832平台", "832 platform"),
}

_TEXT: dict[str, dict[Lang, str]] = {
    "web.board.title": {"zh": "消费帮扶实时大屏", "en": "Consumption assistance, live"},
    "web.board.title_region": {"zh": "{region} 消费帮扶实时大屏", "en": "{region}: consumption assistance, live"},
    "web.board.today_orders": {"zh": "今日订单", "en": "Orders today"},
    "web.board.today_amount": {"zh": "今日成交额", "en": "Sales today"},
    "web.board.certified": {"zh": "其中帮扶销售（认定产品）", "en": "of which assistance sales (certified)"},
    "web.board.uncertified": {"zh": "未认定产品", "en": "uncertified products"},
    "web.board.year_orders": {"zh": "{year} 年累计订单", "en": "Orders in {year}"},
    "web.board.year_amount": {"zh": "{year} 年累计成交额", "en": "Sales in {year}"},
    "web.board.units": {"zh": "采购单位排名（已执行金额）", "en": "Purchasing units by amount executed"},
    "web.board.units_note": {
        "zh": "预留份额执行口径：实付减退款，共 {n} 个单位",
        "en": "Reserved-share figures: paid less refunds; {n} units",
    },
    "web.board.products": {"zh": "热销产品", "en": "Top products"},
    "web.board.sessions": {"zh": "直播场次排行", "en": "Top live sessions"},
    "web.board.ticker": {"zh": "最新订单", "en": "Latest orders"},
    "web.board.col.unit": {"zh": "单位", "en": "Unit"},
    "web.board.col.product": {"zh": "产品", "en": "Product"},
    "web.board.col.amount": {"zh": "金额", "en": "Amount"},
    "web.board.col.qty": {"zh": "件数", "en": "Qty"},
    "web.board.col.session": {"zh": "场次", "en": "Session"},
    "web.board.col.time": {"zh": "时间", "en": "Time"},
    "web.board.col.channel": {"zh": "渠道", "en": "Channel"},
    "web.board.more_lines": {"zh": "等 {n} 件", "en": "+{n} more"},
    "web.board.none": {"zh": "暂无数据", "en": "Nothing yet"},
    "web.board.live": {"zh": "实时", "en": "Live"},
    "web.board.offline": {"zh": "连接中…", "en": "Connecting…"},
    "web.board.as_of": {"zh": "更新于", "en": "Updated"},
    "web.board.note": {
        "zh": "成交额为实付金额（退款不冲减，同销售台账“实付”口径）；不含任何个人信息。",
        "en": "Sales are paid amounts (refunds not deducted, as the sales ledger's gross); no personal data.",
    },
    "web.board.serving": {"zh": "公开大屏：{url}", "en": "Public board: {url}"},
}
MESSAGES.update(_TEXT)
MESSAGES.update({f"web.board.platform.{code}": {"zh": zh, "en": en} for code, (zh, en) in PLATFORMS.items()})

routes = web.RouteTableDef()


def _lang(request: web.Request) -> Lang:
    chosen = choice_param(request, "lang", ("zh", "en"), current_lang())
    lang: Lang = "en" if chosen == "en" else "zh"
    set_lang(lang)
    return lang


async def _region(request: web.Request) -> tuple[BoardRegion | None, Scope]:
    code = request.match_info.get("code")
    if code is None:
        return None, Scope.admin()
    async with request.app[ENGINE].connect() as conn:
        found = await board_region(conn, code)
    if found is None:
        raise web.HTTPNotFound()
    return found


def _platform(code: str) -> str:
    key = f"web.board.platform.{code}"
    return t(key) if key in MESSAGES else code


def _labelled(data: dict[str, Any]) -> dict[str, Any]:
    """Channel names in the current language beside the platform codes."""
    for order in data["ticker"]:
        order["channel"] = _platform(order["platform"])
    for session in data["sessions"]:
        session["detail"] = _platform(session["detail"])
    return data


async def _feed(request: web.Request) -> tuple[BoardFeed, BoardRegion | None, Lang]:
    lang = _lang(request)
    region, scope = await _region(request)
    engine = request.app[ENGINE]

    async def compute() -> dict[str, Any]:
        set_lang(lang)
        async with engine.connect() as conn:
            board = await board_figures(conn, scope, region=region)
        return _labelled(board_json(board))

    key = f"{region.code if region else ''}:{lang}"
    return await request.app[BOARD_HUB].feed(key, compute), region, lang


def _base(region: BoardRegion | None) -> str:
    return f"/board/{region.code}" if region else "/board"


@routes.get("/board/events")
@routes.get("/board/{code}/events")
async def board_events(request: web.Request) -> web.StreamResponse:
    feed, _, _ = await _feed(request)
    snapshot = await feed.current()
    if "text/event-stream" not in request.headers.get("Accept", ""):
        return web.Response(text=snapshot.text, content_type="application/json", headers={"Cache-Control": "no-cache"})
    feed.clients += 1
    try:
        async with sse_response(request, ping_interval=HEARTBEAT_SECONDS) as stream:
            await stream.send(snapshot.text, id=str(snapshot.version), event="board", retry=RETRY_MS)

            async def pump() -> None:
                version = snapshot.version
                try:
                    while True:
                        found = await feed.next_after(version)
                        if found is None:
                            break  # the application is stopping
                        version = found.version
                        await stream.send(found.text, id=str(found.version), event="board")
                except (ConnectionResetError, RuntimeError, TimeoutError):
                    pass  # the client went away
                finally:
                    with contextlib.suppress(RuntimeError):
                        stream.stop_streaming()

            sender = asyncio.create_task(pump())
            try:
                await stream.wait()
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
    finally:
        feed.clients -= 1
    return stream


@routes.get("/board")
@routes.get("/board/{code}")
async def board_page(request: web.Request) -> web.StreamResponse:
    feed, region, lang = await _feed(request)
    snapshot = await feed.current()
    base = _base(region)
    title = t("web.board.title_region", region=region.name) if region else t("web.board.title")
    return render(
        request,
        "board/board.html",
        {
            "b": snapshot.data,
            "title": title,
            "events_url": f"{base}/events?lang={lang}",
            "other_lang_url": f"{base}?lang={'en' if lang == 'zh' else 'zh'}",
            "labels": {
                "more_lines": t("web.board.more_lines", n="{n}"),
                "none": t("web.board.none"),
                "live": t("web.board.live"),
                "offline": t("web.board.offline"),
                "amount": t("web.board.col.amount"),
            },
        },
    )


def setup(app: web.Application) -> None:
    hub = BoardHub(app[ENGINE])
    app[BOARD_HUB] = hub

    async def stop(_app: web.Application) -> None:
        await hub.close()  # ends the event streams, so shutting down waits for none of them

    app.on_shutdown.append(stop)
    app.add_routes(routes)
