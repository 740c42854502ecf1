"""Live sessions (直播复盘) for the console and the API: a host's sessions, one session in full,
its per-minute timeline, two sessions side by side.

Every figure of a session is the ``session-review`` report's own (:func:`session_metrics`, the
same function), so a page, its JSON and the report cannot disagree. Visibility is
``scope.sessions()`` only: a session outside the scope is None here, and the web answers 404
exactly as for an id that does not exist.

Cost: a list reads the light columns of the sessions matching the filter and their rows of
``session_summaries`` (``bangfu.session_summaries.figures``: GMV, orders, buyers, units, refunds,
net to households, orders by confidence, exact while their inputs change; a session whose
inputs changed since its last refresh is summed from its lines); the rest of the review row is
built only for the sessions on the page. A session page reads the same summary for its headline
and confidence table, its lines for the per-product table, and its per-household credits
(``session_household_credits``, stored like the summary, read live while the session is marked)
for the cooperative table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import AttributionConfidence
from bangfu.i18n import t
from bangfu.models import (
    Cooperative,
    ExplanationWindow,
    Household,
    Listing,
    LiveMinuteStat,
    LiveSession,
    Product,
    Shop,
    Sku,
    Supplier,
)
from bangfu.reports.base import Period, Report, div_round, ratio
from bangfu.reports.sessions import (
    products_of_sessions,
    review_columns,
    review_totals,
    session_metrics,
)
from bangfu.scope import Scope
from bangfu.session_summaries import SessionFigures, figures, households_credits_of_sessions

# Sort keys of the list (``?sort=gmv`` / ``?sort=-gmv``) and the figure each sorts by.
SORTS = ("start", "duration", "gmv", "orders", "buyers", "views", "gpm", "conversion")
DEFAULT_SORT = "-start"
CONFIDENCES = (AttributionConfidence.EXACT, AttributionConfidence.LINK, AttributionConfidence.INFERRED)


@dataclass(frozen=True)
class SessionList:
    rows: list[dict[str, Any]]  # review rows (session_metrics) of the window, in sort order
    total: int  # sessions matching the filter
    gmv_fen: int  # over every matching session, not just the window
    orders: int
    shops: list[tuple[int, str]]  # shops with sessions the user may see (the filter's choices)


@dataclass(frozen=True)
class CooperativeSupport:
    cooperative_id: int
    name: str
    households: int  # households whose net credit from the session is above zero
    net_fen: int  # net credited to the cooperative's households by the session's lines


@dataclass(frozen=True)
class SessionDetail:
    metrics: dict[str, Any]  # the report's review row (session_metrics)
    products: list[dict[str, Any]]  # product, units, gmv, orders, share (the report's rows)
    confidence: list[dict[str, Any]]  # confidence, orders, gmv (exact, link, inferred)
    cooperatives: list[CooperativeSupport]
    households: int  # distinct households with a net credit above zero


@dataclass(frozen=True)
class Minute:
    minute_at: datetime
    online: int
    views: int  # viewers entering in this minute
    gmv_fen: int


@dataclass(frozen=True)
class Explanation:
    product: str
    sku_id: int | None
    platform_item_id: str
    started_at: datetime
    ended_at: datetime


@dataclass(frozen=True)
class SessionMinutes:
    session_id: int
    started_at: datetime
    ended_at: datetime | None
    minutes: list[Minute]  # empty: the platform sent no per-minute series (missing, not zero)
    explanations: list[Explanation]


@dataclass(frozen=True)
class Comparison:
    a: SessionDetail
    b: SessionDetail


def _filtered(scope: Scope, period: Period, shop_id: int | None) -> Any:
    query = select(LiveSession.id, LiveSession.started_at, LiveSession.ended_at, LiveSession.views).where(
        scope.sessions(), LiveSession.started_at >= period.start, LiveSession.started_at < period.end
    )
    if shop_id is not None:
        query = query.where(LiveSession.shop_id == shop_id)
    return query


def _sort_value(key: str, light: Any, sales: SessionFigures) -> Any:
    gmv, orders, buyers = sales.gmv_fen, sales.orders, sales.buyers
    views = int(light.views or 0)
    match key:
        case "start":
            return light.started_at
        case "duration":
            return (light.ended_at - light.started_at).total_seconds() if light.ended_at else None
        case "gmv":
            return gmv
        case "orders":
            return orders
        case "buyers":
            return buyers
        case "views":
            return views or None
        case "gpm":
            return div_round(gmv * 1000, views)
        case "conversion":
            return ratio(orders, views)
    raise ValueError(key)


def _ordered(lights: Sequence[Any], sales: dict[int, SessionFigures], key: str, descending: bool) -> list[int]:
    """Ids sorted by ``key``; a missing figure sorts last either way, ties by start then id."""
    zero = SessionFigures()
    present: list[tuple[Any, datetime, int]] = []
    absent: list[tuple[Any, datetime, int]] = []
    for light in lights:
        value = _sort_value(key, light, sales.get(int(light.id), zero))
        (absent if value is None else present).append((value, light.started_at, int(light.id)))
    present.sort(reverse=descending)
    absent.sort(key=lambda item: (item[1], item[2]), reverse=descending)
    return [item[2] for item in present + absent]


async def list_sessions(
    conn: AsyncConnection,
    scope: Scope,
    period: Period,
    *,
    shop_id: int | None = None,
    sort: str = "start",
    descending: bool = True,
    offset: int = 0,
    limit: int | None = 50,
) -> SessionList:
    """The user's sessions started in ``period`` (and shop), sorted server-side, one window of
    them with full review rows. ``limit=None``: every matching session (exports)."""
    if sort not in SORTS:
        raise ValueError(sort)
    lights = list(await conn.execute(_filtered(scope, period, shop_id)))
    ids = [int(light.id) for light in lights]
    sales = await figures(conn, ids) if ids else {}
    ordered = _ordered(lights, sales, sort, descending)
    window = ordered[offset:] if limit is None else ordered[offset : offset + limit]
    rows = await _review_rows(conn, window, sales)
    shops = [
        (int(sid), str(name))
        for sid, name in await conn.execute(
            select(Shop.id, Shop.name)
            .where(Shop.id.in_(select(LiveSession.shop_id).where(scope.sessions())))
            .order_by(Shop.id)
        )
    ]
    return SessionList(
        rows=rows,
        total=len(ordered),
        gmv_fen=sum(s.gmv_fen for s in sales.values()),
        orders=sum(s.orders for s in sales.values()),
        shops=shops,
    )


async def sessions_report(
    conn: AsyncConnection,
    scope: Scope,
    period: Period,
    *,
    shop_id: int | None = None,
    sort: str = "start",
    descending: bool = True,
) -> Report:
    """Every matching session as the ``session-review`` report (its columns, rows and totals)."""
    listed = await list_sessions(conn, scope, period, shop_id=shop_id, sort=sort, descending=descending, limit=None)
    title = t("report.title.session-review", period=period.label)
    return Report("session-review", title, review_columns(), listed.rows, review_totals(listed.rows))


async def _review_rows(
    conn: AsyncConnection, ids: Sequence[int], known: dict[int, SessionFigures]
) -> list[dict[str, Any]]:
    """The report's review rows of ``ids``, their sales, refunds and net from the summaries."""
    return await session_metrics(
        conn,
        ids,
        sales={sid: f.sales for sid, f in known.items()},
        refunds={sid: f.refunds_fen for sid, f in known.items()},
        net={sid: f.net_households_fen for sid, f in known.items()},
    )


def _confidence(found: SessionFigures) -> list[dict[str, Any]]:
    by = found.by_confidence()
    return [{"confidence": c.value, "orders": by[c][0], "gmv": by[c][1]} for c in CONFIDENCES]


async def _cooperatives(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, tuple[list[CooperativeSupport], int]]:
    """Per session: the cooperatives its lines credited (largest net first) and how many
    households got a net credit above zero. Grouped in SQL per session and cooperative over the
    sessions' credits per household (stored, or summed from its lines for a marked session): a
    few rows per session, not one per household credited and a list of their ids sent back."""
    credits = households_credits_of_sessions(conn, ids).subquery("credits")
    session_id, household_id, fen = credits.c
    positive = func.sum(case((fen > 0, 1), else_=0))
    query = (
        select(session_id, Household.cooperative_id, Supplier.name, positive, func.sum(fen))
        .select_from(credits)
        .outerjoin(Household, Household.id == household_id)
        .outerjoin(Cooperative, Cooperative.id == Household.cooperative_id)
        .outerjoin(Supplier, Supplier.id == Cooperative.supplier_id)
        .group_by(session_id, Household.cooperative_id, Supplier.name)
    )
    coops: dict[int, list[CooperativeSupport]] = {sid: [] for sid in ids}
    reached = dict.fromkeys(ids, 0)
    for sid, coop, name, households, net in await conn.execute(query):
        reached[int(sid)] += int(households)
        if coop is not None and name is not None:  # a household of no cooperative is counted, not listed
            coops[int(sid)].append(CooperativeSupport(int(coop), str(name), int(households), int(net)))
    for rows in coops.values():
        rows.sort(key=lambda c: (-c.net_fen, c.cooperative_id))
    return {sid: (coops[sid], reached[sid]) for sid in ids}


async def session_details(conn: AsyncConnection, scope: Scope, ids: Sequence[int]) -> dict[int, SessionDetail]:
    """Sessions in full, by id, read together (each query once for all of them); a session that
    is not the user's to see (or does not exist) is left out."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    query = select(LiveSession.id).where(LiveSession.id.in_(wanted), scope.sessions())
    visible = {int(sid) for sid in await conn.scalars(query)}
    shown = [sid for sid in wanted if sid in visible]
    if not shown:
        return {}
    known = await figures(conn, shown)
    metrics = {int(row["session"]): row for row in await _review_rows(conn, shown, known)}
    products = await products_of_sessions(conn, shown)
    coops = await _cooperatives(conn, shown)
    return {
        sid: SessionDetail(metrics[sid], products[sid], _confidence(known[sid]), coops[sid][0], coops[sid][1])
        for sid in shown
    }


async def session_detail(conn: AsyncConnection, scope: Scope, session_id: int) -> SessionDetail | None:
    """One session in full, or None when it is not the user's to see (or does not exist)."""
    return (await session_details(conn, scope, [session_id])).get(session_id)


async def session_minutes(conn: AsyncConnection, scope: Scope, session_id: int) -> SessionMinutes | None:
    """The per-minute series (online, entering viewers, GMV) and the explanation windows."""
    session = (
        await conn.execute(
            select(LiveSession.id, LiveSession.started_at, LiveSession.ended_at).where(
                LiveSession.id == session_id, scope.sessions()
            )
        )
    ).first()
    if session is None:
        return None
    minutes = [
        Minute(m, int(online), int(views), int(gmv))
        for m, online, views, gmv in await conn.execute(
            select(LiveMinuteStat.minute_at, LiveMinuteStat.online, LiveMinuteStat.views, LiveMinuteStat.gmv_fen)
            .where(LiveMinuteStat.session_id == session_id)
            .order_by(LiveMinuteStat.minute_at)
        )
    ]
    # The explained product: the window's SKU, else the shop's listing of the explained item.
    listing = and_(
        Listing.shop_id == LiveSession.shop_id,
        Listing.platform_item_id == ExplanationWindow.platform_item_id,
        Listing.platform_sku_id == func.coalesce(ExplanationWindow.platform_sku_id, ""),
    )
    sku_id = func.coalesce(ExplanationWindow.sku_id, Listing.sku_id)
    name = func.coalesce(Product.name, Listing.title, ExplanationWindow.platform_item_id)
    explanations = [
        Explanation(str(product), None if sku is None else int(sku), str(item), start, end)
        for product, sku, item, start, end in await conn.execute(
            select(
                name,
                sku_id,
                ExplanationWindow.platform_item_id,
                ExplanationWindow.started_at,
                ExplanationWindow.ended_at,
            )
            .join(LiveSession, LiveSession.id == ExplanationWindow.session_id)
            .outerjoin(Listing, listing)
            .outerjoin(Sku, Sku.id == sku_id)
            .outerjoin(Product, Product.id == Sku.product_id)
            .where(ExplanationWindow.session_id == session_id)
            .order_by(ExplanationWindow.started_at, ExplanationWindow.id)
        )
    ]
    return SessionMinutes(int(session.id), session.started_at, session.ended_at, minutes, explanations)


async def compare_sessions(conn: AsyncConnection, scope: Scope, a: int, b: int) -> Comparison | None:
    """Two of the user's sessions side by side, read together (:func:`session_details`); None
    when either is not theirs."""
    details = await session_details(conn, scope, [a, b])
    if a not in details or b not in details:
        return None
    return Comparison(details[a], details[b])


async def session_choices(conn: AsyncConnection, scope: Scope, limit: int = 300) -> list[tuple[int, datetime, str]]:
    """The user's latest sessions (id, start, title) for the compare picker."""
    query = (
        select(LiveSession.id, LiveSession.started_at, func.coalesce(LiveSession.title, LiveSession.room_id))
        .where(scope.sessions())
        .order_by(LiveSession.started_at.desc(), LiveSession.id.desc())
        .limit(limit)
    )
    return [(int(i), start, str(title)) for i, start, title in await conn.execute(query)]


@dataclass(frozen=True)
class SessionPage:
    detail: SessionDetail
    minutes: SessionMinutes


async def session_page(conn: AsyncConnection, scope: Scope, session_id: int) -> SessionPage | None:
    """What the session page shows: the session in full and its timeline."""
    detail = await session_detail(conn, scope, session_id)
    minutes = await session_minutes(conn, scope, session_id) if detail is not None else None
    if detail is None or minutes is None:
        return None
    return SessionPage(detail, minutes)


@dataclass(frozen=True)
class ComparePage:
    comparison: Comparison | None  # None until two sessions are picked
    choices: list[tuple[int, datetime, str]]


async def compare_page(conn: AsyncConnection, scope: Scope, a: int | None, b: int | None) -> ComparePage | None:
    """The compare page: the picker's choices, and the two sessions once both are given (None
    when either is not the user's)."""
    comparison = None
    if a is not None and b is not None:
        comparison = await compare_sessions(conn, scope, a, b)
        if comparison is None:
            return None
    return ComparePage(comparison, await session_choices(conn, scope))


# -- JSON (money in integer fen, times ISO 8601, ratios as decimal strings) -------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def metrics_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["session"],
        "title": row["title"],
        "room_id": row["room"],
        "host": row["host"],
        "host_id": row["host_id"],
        "shop_id": row["shop_id"],
        "shop": row["shop"],
        "platform": row["platform"],
        "started_at": _iso(row["started_at"]),
        "ended_at": _iso(row["ended_at"]),
        "duration_min": row["duration_min"],
        "gmv_fen": row["gmv"],
        "orders": row["orders"],
        "buyers": row["buyers"],
        "units": row["units"],
        "refunds_fen": row["refunds"],
        "refund_rate": _dec(row["refund_rate"]),
        "views": row["views"],
        "unique_viewers": row["unique_viewers"],
        "gpm_fen": row["gpm"],
        "conversion": _dec(row["conversion"]),
        "uv_value_fen": row["uv_value"],
        "pcu": row["pcu"],
        "acu": row["acu"],
        "avg_watch_s": row["avg_watch_s"],
        "ad_spend_fen": row["ad_spend"],
        "roi": _dec(row["roi"]),
        "net_households_fen": row["net_households"],
        "orders_exact": row["orders_exact"],
        "orders_inferred": row["orders_inferred"],
        "missing": list(row["missing"]),
    }


def detail_json(detail: SessionDetail) -> dict[str, Any]:
    return {
        "session": metrics_json(detail.metrics),
        "products": [
            {
                "product": p["product"],
                "units": p["units"],
                "gmv_fen": p["gmv"],
                "orders": p["orders"],
                "share": _dec(p["share"]),
            }
            for p in detail.products
        ],
        "confidence": [
            {"confidence": c["confidence"], "orders": c["orders"], "gmv_fen": c["gmv"]} for c in detail.confidence
        ],
        "cooperatives": [
            {"cooperative_id": c.cooperative_id, "name": c.name, "households": c.households, "net_fen": c.net_fen}
            for c in detail.cooperatives
        ],
        "households": detail.households,
    }


def minutes_json(data: SessionMinutes) -> dict[str, Any]:
    return {
        "session_id": data.session_id,
        "started_at": _iso(data.started_at),
        "ended_at": _iso(data.ended_at),
        "minutes": [
            {"minute_at": _iso(m.minute_at), "online": m.online, "views": m.views, "gmv_fen": m.gmv_fen}
            for m in data.minutes
        ],
        "explanations": [
            {
                "product": e.product,
                "sku_id": e.sku_id,
                "platform_item_id": e.platform_item_id,
                "started_at": _iso(e.started_at),
                "ended_at": _iso(e.ended_at),
            }
            for e in data.explanations
        ],
    }
