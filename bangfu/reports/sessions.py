"""直播复盘 (session review): per live session, Douyin-compass metrics (DOMAIN.md "Live-session metrics").

- GMV: paid amount of the order lines attributed to the session (``line_attributions``, any
  confidence); refunds are shown beside it, never netted. ``exact`` counts orders attributed by
  room/author id or a session link; ``inferred`` those from the optional time window.
- GPM = GMV / views x 1000 (yuan, rounded half up to the fen); conversion = paid orders / views;
  UV value = GMV / unique viewers; PCU = ``peak_online``; ACU = mean of the per-minute
  ``online``; average watch time = total watch seconds / unique viewers; ROI = GMV / ad spend.
- Net to households: what the ledger credited to the households' accounts (rebate, bonus and
  the guaranteed price recovered) on the journals of the session's lines, refunds included.
- Missing is not zero: a figure the platform does not report (watch time on a self-built mall,
  ad spend nobody entered, a per-minute series never sent) is None, shown ``-``; see
  :func:`unreported`. Ratios built on a missing figure are missing too.

:func:`session_metrics` computes the rows for given session ids; the report and the console
(``bangfu.queries.sessions``) both call it, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, distinct, exists, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import AttributionConfidence, JournalKind, RefundStatus
from bangfu.errors import UserError
from bangfu.i18n import t
from bangfu.models import (
    Host,
    Journal,
    LedgerAccount,
    LineAttribution,
    LineHouseholdCredit,
    LiveMinuteStat,
    LiveSession,
    Order,
    OrderLine,
    Posting,
    Product,
    Refund,
    SessionLineFacts,
    SessionSummaryDirty,
    Shop,
    Sku,
)
from bangfu.reports.base import SHANGHAI, Column, Period, Report, column, div_round, parse_line_event, ratio, totals_of
from bangfu.store import among

LINE_JOURNALS = (JournalKind.SALE, JournalKind.REFUND, JournalKind.TRUE_UP)
EXACT = (AttributionConfidence.EXACT, AttributionConfidence.LINK)


# Which LiveSession figures each platform reports, as keys of the raw payload the connector kept
# (connectors/douyin.py, kuaishou.py, selfmall.py). A figure whose key is absent is unreported.
REPORTED_KEYS: dict[str, tuple[tuple[str, ...], Mapping[str, str]]] = {
    "douyin": (
        ("room",),
        {
            "views": "watch_cnt",
            "unique_viewers": "watch_ucnt",
            "peak_online": "max_online_ucnt",
            "total_watch_seconds": "total_watch_duration",
        },
    ),
    "kuaishou": (
        (),
        {
            "views": "watchCount",
            "unique_viewers": "watchUserCount",
            "peak_online": "maxOnlineCount",
            "total_watch_seconds": "totalWatchDuration",
        },
    ),
    # The self-built mall's broadcast list has no watch time.
    "selfmall": ((), {"views": "views", "unique_viewers": "unique_viewers", "peak_online": "peak_online"}),
}
SESSION_FIGURES = ("views", "unique_viewers", "peak_online", "total_watch_seconds")


def unreported(platform: str | None, raw: Any, figures: Mapping[str, int], orders: int) -> frozenset[str]:
    """The session figures that are missing rather than zero.

    From the payload when the platform is known (its key absent or empty), and from the data
    either way: no views, viewers or peak with orders or views to show for it, no watch time with
    viewers, no ad spend entered (no platform reports it; it is typed in by hand).
    """
    out: set[str] = set()
    spec = REPORTED_KEYS.get(platform or "")
    if spec is not None and isinstance(raw, dict) and raw:
        node: Any = raw
        for step in spec[0]:
            node = node.get(step) if isinstance(node, dict) else None
        for name in SESSION_FIGURES:
            key = spec[1].get(name)
            if key is None or not isinstance(node, dict) or node.get(key) in (None, ""):
                out.add(name)
    views, uv = figures.get("views", 0), figures.get("unique_viewers", 0)
    if not views and orders:
        out.add("views")
    if not uv and (orders or views):
        out.add("unique_viewers")
    if not figures.get("peak_online", 0) and views:
        out.add("peak_online")
    if not figures.get("total_watch_seconds", 0) and uv:
        out.add("total_watch_seconds")
    if not figures.get("ad_spend_fen", 0):
        out.add("ad_spend_fen")
    return frozenset(out)


CHUNK = 200  # lines per statement: OR-ed source-event ranges stay well inside SQLite's limits
LEDGER_CHUNK = 500  # lines per statement reading line_household_credits (SQLite's IN lists)


def _source_ranges(conn: AsyncConnection, prefixes: Sequence[str]) -> ColumnElement[bool]:
    """``source_event`` starts with one of ``prefixes``, as byte-order ranges (an index on
    ``source_event``, ``COLLATE "C"`` on PostgreSQL, turns each into a range scan)."""
    col: Any = Journal.source_event
    if conn.dialect.name == "postgresql":
        col = col.collate("C")
    # every prefix ends with ":"; ";" is the next byte, so [prefix, prefix[:-1] + ";") is the prefix
    return or_(*(and_(col >= p, col < p[:-1] + ";") for p in prefixes))


async def household_credits(
    conn: AsyncConnection, line_ids: Iterable[int], since: datetime | None = None
) -> list[tuple[int, int, int]]:
    """``(line, household, fen)``: what the journals of these order lines credited to each
    household's accounts (rebate, bonus, guarantee recovered), net of refunds.

    Read from ``line_household_credits``, the ledger's figures kept per line as journals are
    posted (``bangfu.line_credits``). With ``since`` (journals from then on only) the lines'
    own journals are summed: :func:`household_credits_from_ledger`.
    """
    if since is not None:
        return await household_credits_from_ledger(conn, line_ids, since)
    ids = sorted(set(line_ids))
    out: list[tuple[int, int, int]] = []
    for offset in range(0, len(ids), LEDGER_CHUNK):
        chunk = ids[offset : offset + LEDGER_CHUNK]
        query = select(
            LineHouseholdCredit.order_line_id, LineHouseholdCredit.household_id, LineHouseholdCredit.credit_fen
        ).where(among(conn, LineHouseholdCredit.order_line_id, chunk))
        out.extend((int(line), int(household), int(fen)) for line, household, fen in await conn.execute(query))
    return sorted(out)


async def household_credits_from_ledger(
    conn: AsyncConnection, line_ids: Iterable[int], since: datetime | None = None
) -> list[tuple[int, int, int]]:
    """:func:`household_credits` summed from the postings of the lines' own journals (their
    source events start ``order-line:<shop>:<line>:``), never every household journal."""
    ids = sorted(set(line_ids))
    sums: dict[tuple[int, int], int] = {}
    for offset in range(0, len(ids), CHUNK):
        chunk = ids[offset : offset + CHUNK]
        lines = await conn.execute(select(OrderLine.id, OrderLine.shop_id).where(OrderLine.id.in_(chunk)))
        prefixes = sorted(f"order-line:{shop}:{line}:" for line, shop in lines)
        if not prefixes:
            continue
        query = (
            select(Journal.source_event, LedgerAccount.owner_id, func.sum(Posting.amount_fen))
            .join(Posting, Posting.journal_id == Journal.id)
            .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
            .where(
                _source_ranges(conn, prefixes),
                LedgerAccount.owner_type == "household",
                Journal.kind.in_(LINE_JOURNALS),
            )
            .group_by(Journal.source_event, LedgerAccount.owner_id)
        )
        if since is not None:
            query = query.where(Journal.occurred_at >= since)
        wanted = set(chunk)
        for source, owner, total in await conn.execute(query):
            line_id = parse_line_event(source)
            if line_id is None or line_id not in wanted or owner is None:
                continue
            key = (line_id, int(owner))
            sums[key] = sums.get(key, 0) - int(total)  # credits are negative
    return [(line, household, fen) for (line, household), fen in sorted(sums.items())]


async def household_credits_by_line(
    conn: AsyncConnection, line_ids: set[int], since: datetime | None = None
) -> dict[int, int]:
    """Fen credited to household accounts (rebate, bonus, guarantee recovered) per order line, net of refunds."""
    out: dict[int, int] = {}
    for line, _household, fen in await household_credits(conn, line_ids, since):
        out[line] = out.get(line, 0) + fen
    return out


async def session_lines(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, int]:
    """Order line -> session, for the lines attributed to these sessions."""
    if not ids:
        return {}
    return {
        int(line): int(sid)
        for line, sid in await conn.execute(
            select(LineAttribution.order_line_id, LineAttribution.session_id).where(
                LineAttribution.session_id.in_(list(ids))
            )
        )
        if sid is not None
    }


async def session_household_credits(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, int]:
    """Session -> fen its lines' journals credited to households, net (one grouped query over
    ``line_household_credits``; the same sum as :func:`household_credits_by_line` over
    :func:`session_lines`)."""
    if not ids:
        return {}
    query = (
        select(LineAttribution.session_id, func.sum(LineHouseholdCredit.credit_fen))
        .join(LineHouseholdCredit, LineHouseholdCredit.order_line_id == LineAttribution.order_line_id)
        .where(LineAttribution.session_id.in_(list(ids)))
        .group_by(LineAttribution.session_id)
    )
    return {int(sid): int(total) for sid, total in await conn.execute(query) if sid is not None}


async def session_metrics(
    conn: AsyncConnection,
    ids: Sequence[int],
    *,
    sales: Mapping[int, tuple[int, int, int, int, int, int]] | None = None,
    refunds: Mapping[int, int] | None = None,
    net: Mapping[int, int] | None = None,
) -> list[dict[str, Any]]:
    """The review row of each session in ``ids`` (in that order; unknown ids are left out).

    Keys: the report's 24 columns, and for the console ``shop_id``, ``shop``, ``platform``,
    ``host_id``, ``started_at``/``ended_at`` (aware UTC), ``unique_viewers`` and ``missing`` (the
    names of unreported figures). Net to households counts every journal of the sessions' lines,
    whenever it happened (a refund after the period still reverses the session's share).

    ``sales``, ``refunds`` and ``net``: these figures as already known (the console passes
    ``bangfu.session_summaries.figures``, equal to the sums computed here otherwise).
    """
    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    query = (
        select(
            LiveSession,
            Host.name.label("host_name"),
            Shop.name.label("shop_name"),
            Shop.platform.label("platform"),
        )
        .outerjoin(Host, Host.id == LiveSession.host_id)
        .join(Shop, Shop.id == LiveSession.shop_id)
        .where(LiveSession.id.in_(ids))
    )
    found = {int(row.id): row for row in await conn.execute(query)}
    sales = await session_sales(conn, ids) if sales is None else sales
    refunds = await _refunds(conn, ids) if refunds is None else refunds
    minutes = {
        sid: (int(total), int(count))
        for sid, total, count in await conn.execute(
            select(LiveMinuteStat.session_id, func.sum(LiveMinuteStat.online), func.count())
            .where(LiveMinuteStat.session_id.in_(ids))
            .group_by(LiveMinuteStat.session_id)
        )
        if sid is not None
    }
    net = await session_household_credits(conn, ids) if net is None else net

    rows: list[dict[str, Any]] = []
    for sid in ids:
        found_row = found.get(sid)
        if found_row is None:
            continue
        s = found_row
        platform = str(getattr(found_row.platform, "value", found_row.platform))
        gmv, orders, buyers, units, exact, inferred = sales.get(s.id, (0, 0, 0, 0, 0, 0))
        refunded = refunds.get(s.id, 0)
        online_total, online_minutes = minutes.get(s.id, (0, 0))
        duration = int((s.ended_at - s.started_at).total_seconds() // 60) if s.ended_at else None
        figures = {
            "views": s.views,
            "unique_viewers": s.unique_viewers,
            "peak_online": s.peak_online,
            "total_watch_seconds": s.total_watch_seconds,
            "ad_spend_fen": s.ad_spend_fen,
        }
        missing = unreported(platform, s.raw, figures, orders)
        views = None if "views" in missing else s.views
        uv = None if "unique_viewers" in missing else s.unique_viewers
        watch = None if "total_watch_seconds" in missing else s.total_watch_seconds
        ad_spend = None if "ad_spend_fen" in missing else s.ad_spend_fen
        rows.append(
            {
                "session": s.id,
                "title": s.title,
                "room": s.room_id,
                "host": found_row.host_name or "-",
                "start": s.started_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
                "duration_min": duration,
                "gmv": gmv,
                "orders": orders,
                "buyers": buyers,
                "units": units,
                "refunds": refunded,
                "refund_rate": ratio(refunded, gmv),
                "views": views,
                "gpm": div_round(gmv * 1000, views or 0),
                "conversion": ratio(orders, views or 0),
                "uv_value": div_round(gmv, uv or 0),
                "pcu": None if "peak_online" in missing else s.peak_online,
                "acu": div_round(online_total, online_minutes),
                "avg_watch_s": None if watch is None else div_round(watch, uv or 0),
                "ad_spend": ad_spend,
                "roi": ratio(gmv, ad_spend or 0, 2),
                "net_households": net.get(s.id, 0),
                "orders_exact": exact,
                "orders_inferred": inferred,
                "shop_id": s.shop_id,
                "shop": found_row.shop_name,
                "platform": platform,
                "host_id": s.host_id,
                "started_at": s.started_at,
                "ended_at": s.ended_at,
                "unique_viewers": uv,
                "missing": sorted(missing),
            }
        )
    return rows


def review_columns() -> list[Column]:
    return [
        column("session", "int"),
        column("title"),
        column("room"),
        column("host"),
        column("start"),
        column("duration_min", "int"),
        column("gmv", "money"),
        column("orders", "int"),
        column("buyers", "int"),
        column("units", "int"),
        column("refunds", "money"),
        column("refund_rate", "ratio"),
        column("views", "int"),
        column("gpm", "money"),
        column("conversion", "ratio"),
        column("uv_value", "money"),
        column("pcu", "int"),
        column("acu", "int"),
        column("avg_watch_s", "int"),
        column("ad_spend", "money"),
        column("roi", "decimal"),
        column("net_households", "money"),
        column("orders_exact", "int"),
        column("orders_inferred", "int"),
    ]


def review_totals(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    totals: dict[str, Any] = {"session": t("report.total")}
    totals |= totals_of(rows, ["gmv", "orders", "units", "refunds", "views", "ad_spend", "net_households"])
    totals |= totals_of(rows, ["orders_exact", "orders_inferred"])
    totals["refund_rate"] = ratio(totals["refunds"], totals["gmv"])
    totals["gpm"] = div_round(totals["gmv"] * 1000, totals["views"])
    totals["conversion"] = ratio(totals["orders"], totals["views"])
    totals["roi"] = ratio(totals["gmv"], totals["ad_spend"], 2)
    return totals


async def session_review(
    conn: AsyncConnection, period: Period, *, shop_id: int | None = None, session_id: int | None = None
) -> Report:
    if session_id is not None:
        return await session_products(conn, session_id)
    query = (
        select(LiveSession.id)
        .where(LiveSession.started_at >= period.start, LiveSession.started_at < period.end)
        .order_by(LiveSession.started_at, LiveSession.id)
    )
    if shop_id is not None:
        query = query.where(LiveSession.shop_id == shop_id)
    ids = [int(i) for i in await conn.scalars(query)]
    rows = await session_metrics(conn, ids)
    title = t("report.title.session-review", period=period.label)
    return Report("session-review", title, review_columns(), rows, review_totals(rows))


async def session_sales(conn: AsyncConnection, ids: list[int]) -> dict[int, tuple[int, int, int, int, int, int]]:
    exact_order = case((LineAttribution.confidence.in_(EXACT), OrderLine.order_id))
    inferred_order = case((LineAttribution.confidence == AttributionConfidence.INFERRED, OrderLine.order_id))
    query = (
        select(
            LineAttribution.session_id,
            func.coalesce(func.sum(OrderLine.paid_fen), 0),
            func.count(distinct(OrderLine.order_id)),
            func.count(distinct(Order.buyer_ref)),
            func.coalesce(func.sum(OrderLine.quantity), 0),
            func.count(distinct(exact_order)),
            func.count(distinct(inferred_order)),
        )
        .join(OrderLine, OrderLine.id == LineAttribution.order_line_id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(LineAttribution.session_id.in_(ids), Order.paid_at.is_not(None))
        .group_by(LineAttribution.session_id)
    )
    return {
        int(sid): (int(gmv), int(orders), int(buyers), int(units), int(exact), int(inferred))
        for sid, gmv, orders, buyers, units, exact, inferred in await conn.execute(query)
        if sid is not None
    }


async def _refunds(conn: AsyncConnection, ids: list[int]) -> dict[int, int]:
    query = (
        select(LineAttribution.session_id, func.sum(Refund.amount_fen))
        .join(Refund, Refund.order_line_id == LineAttribution.order_line_id)
        .where(LineAttribution.session_id.in_(ids), Refund.status == RefundStatus.SUCCEEDED)
        .group_by(LineAttribution.session_id)
    )
    return {int(sid): int(total) for sid, total in await conn.execute(query) if sid is not None}


def _product_lines(session_id: int) -> tuple[Any, Any]:
    """Two ``SELECT`` s of session, product, units, fen, order of each paid line of the session,
    to be unioned: its facts
    rows while it has no summary marker (``bangfu.session_summaries``: exact, the product joined
    by SKU now), its lines otherwise. The marker test does not depend on the rows, so each side
    is skipped as a whole."""
    marked = exists().where(SessionSummaryDirty.session_id == session_id)
    facts = SessionLineFacts
    line_title = select(OrderLine.title).where(OrderLine.id == facts.order_line_id).scalar_subquery()
    from_facts = (
        select(
            facts.session_id.label("session_id"),
            func.coalesce(Product.name, line_title).label("product"),
            facts.quantity.label("units"),
            facts.paid_fen.label("fen"),
            facts.order_id.label("order_id"),
        )
        .select_from(facts)
        .outerjoin(Sku, Sku.id == facts.sku_id)
        .outerjoin(Product, Product.id == Sku.product_id)
        .where(facts.session_id == session_id, facts.paid == 1, ~marked)
    )
    from_lines = (
        select(
            LineAttribution.session_id.label("session_id"),
            func.coalesce(Product.name, OrderLine.title).label("product"),
            OrderLine.quantity.label("units"),
            OrderLine.paid_fen.label("fen"),
            OrderLine.order_id.label("order_id"),
        )
        .select_from(LineAttribution)
        .join(OrderLine, OrderLine.id == LineAttribution.order_line_id)
        .join(Order, and_(Order.id == OrderLine.order_id, Order.paid_at.is_not(None)))
        .outerjoin(Sku, Sku.id == OrderLine.sku_id)
        .outerjoin(Product, Product.id == Sku.product_id)
        .where(LineAttribution.session_id == session_id, marked)
    )
    return from_facts, from_lines


async def products_of_sessions(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Each session's sales per product (:func:`session_products`' rows: product, units, gmv,
    orders, share; largest GMV first), for several sessions in one statement (one snapshot):
    each session's lines read as for it alone, then grouped per session and product."""
    ids = list(dict.fromkeys(ids))
    out: dict[int, list[dict[str, Any]]] = {sid: [] for sid in ids}
    if not ids:
        return out
    lines = union_all(*(part for sid in ids for part in _product_lines(sid))).subquery("lines")
    query = (
        select(
            lines.c.session_id,
            lines.c.product,
            func.sum(lines.c.units),
            func.sum(lines.c.fen),
            func.count(distinct(lines.c.order_id)),
        )
        .group_by(lines.c.session_id, lines.c.product)
        .order_by(lines.c.session_id, func.sum(lines.c.fen).desc(), lines.c.product)
    )
    for sid, product, units, gmv, orders in await conn.execute(query):
        out[int(sid)].append({"product": product, "units": int(units), "gmv": int(gmv), "orders": int(orders)})
    for rows in out.values():
        gmv_total = sum(int(r["gmv"]) for r in rows)
        for r in rows:
            r["share"] = ratio(int(r["gmv"]), gmv_total)
    return out


async def session_products(conn: AsyncConnection, session_id: int) -> Report:
    """One session's sales per product (product GPM is left out: product views are not synced)."""
    session = (await conn.execute(select(LiveSession).where(LiveSession.id == session_id))).first()
    if session is None:
        raise UserError(t("report.no_session", id=session_id))
    rows = (await products_of_sessions(conn, [session_id]))[session_id]
    columns = [column("product"), column("units", "int"), column("gmv", "money"), column("orders", "int")]
    columns.append(column("share", "ratio"))
    totals: dict[str, Any] = {"product": t("report.total")} | totals_of(rows, ["units", "gmv"])
    title = t("report.title.session-products", id=session_id, room=session.room_id)
    return Report("session-products", title, columns, rows, totals)
