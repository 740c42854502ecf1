"""直播复盘 (session review): per live session, Douyin-compass metrics (DOMAIN.md "Live-session metrics").

- GMV: paid amount of the order lines attributed to the session (``line_attributions``, any
  confidence); refunds are shown beside it, never netted. ``exact`` counts orders attributed by
  room/author id or a session link; ``inferred`` those from the optional time window.
- GPM = GMV / views x 1000 (yuan, rounded half up to the fen); conversion = paid orders / views;
  UV value = GMV / unique viewers; PCU = ``peak_online``; ACU = mean of the per-minute
  ``online``; average watch time = total watch seconds / unique viewers; ROI = GMV / ad spend.
- Net to households: what the ledger credited to the households' accounts (rebate, bonus and
  the guaranteed price recovered) on the journals of the session's lines, refunds included.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import AttributionConfidence, JournalKind, RefundStatus
from bangfu.errors import UserError
from bangfu.i18n import t
from bangfu.models import (
    Host,
    Journal,
    LedgerAccount,
    LineAttribution,
    LiveMinuteStat,
    LiveSession,
    Order,
    OrderLine,
    Posting,
    Product,
    Refund,
    Sku,
)
from bangfu.reports.base import SHANGHAI, Period, Report, column, div_round, parse_line_event, ratio, totals_of

LINE_JOURNALS = (JournalKind.SALE, JournalKind.REFUND, JournalKind.TRUE_UP)
EXACT = (AttributionConfidence.EXACT, AttributionConfidence.LINK)


async def household_credits_by_line(
    conn: AsyncConnection, line_ids: set[int], since: datetime | None = None
) -> dict[int, int]:
    """Fen credited to household accounts (rebate, bonus, guarantee recovered) per order line, net of refunds."""
    if not line_ids:
        return {}
    query = (
        select(Journal.source_event, func.sum(Posting.amount_fen))
        .join(Posting, Posting.journal_id == Journal.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(
            LedgerAccount.owner_type == "household",
            Journal.kind.in_(LINE_JOURNALS),
            Journal.source_event.like("order-line:%"),
        )
        .group_by(Journal.source_event)
    )
    if since is not None:
        query = query.where(Journal.occurred_at >= since)
    out: dict[int, int] = {}
    for source, total in await conn.execute(query):
        line_id = parse_line_event(source)
        if line_id is not None and line_id in line_ids:
            out[line_id] = out.get(line_id, 0) - int(total)  # credits are negative
    return out


async def session_review(
    conn: AsyncConnection, period: Period, *, shop_id: int | None = None, session_id: int | None = None
) -> Report:
    if session_id is not None:
        return await session_products(conn, session_id)
    query = (
        select(LiveSession, Host.name.label("host_name"))
        .outerjoin(Host, Host.id == LiveSession.host_id)
        .where(LiveSession.started_at >= period.start, LiveSession.started_at < period.end)
        .order_by(LiveSession.started_at, LiveSession.id)
    )
    if shop_id is not None:
        query = query.where(LiveSession.shop_id == shop_id)
    sessions = (await conn.execute(query)).all()
    ids = [row.id for row in sessions]
    sales = await _sales(conn, ids)
    refunds = await _refunds(conn, ids)
    minutes = {
        sid: (int(total), int(count))
        for sid, total, count in await conn.execute(
            select(LiveMinuteStat.session_id, func.sum(LiveMinuteStat.online), func.count())
            .where(LiveMinuteStat.session_id.in_(ids))
            .group_by(LiveMinuteStat.session_id)
        )
        if sid is not None
    }
    line_session: dict[int, int] = {
        int(line): int(sid)
        for line, sid in await conn.execute(
            select(LineAttribution.order_line_id, LineAttribution.session_id).where(LineAttribution.session_id.in_(ids))
        )
        if sid is not None
    }
    net: dict[int, int] = {}
    for line, amount in (await household_credits_by_line(conn, set(line_session), period.start)).items():
        net[line_session[line]] = net.get(line_session[line], 0) + amount

    rows: list[dict[str, Any]] = []
    for s in sessions:
        gmv, orders, buyers, units, exact, inferred = sales.get(s.id, (0, 0, 0, 0, 0, 0))
        refunded = refunds.get(s.id, 0)
        online_total, online_minutes = minutes.get(s.id, (0, 0))
        duration = int((s.ended_at - s.started_at).total_seconds() // 60) if s.ended_at else None
        rows.append(
            {
                "session": s.id,
                "title": s.title,
                "room": s.room_id,
                "host": s.host_name or "-",
                "start": s.started_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
                "duration_min": duration,
                "gmv": gmv,
                "orders": orders,
                "buyers": buyers,
                "units": units,
                "refunds": refunded,
                "refund_rate": ratio(refunded, gmv),
                "views": s.views,
                "gpm": div_round(gmv * 1000, s.views),
                "conversion": ratio(orders, s.views),
                "uv_value": div_round(gmv, s.unique_viewers),
                "pcu": s.peak_online,
                "acu": div_round(online_total, online_minutes),
                "avg_watch_s": div_round(s.total_watch_seconds, s.unique_viewers),
                "ad_spend": s.ad_spend_fen,
                "roi": ratio(gmv, s.ad_spend_fen, 2),
                "net_households": net.get(s.id, 0),
                "orders_exact": exact,
                "orders_inferred": inferred,
            }
        )
    columns = [
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
    totals: dict[str, Any] = {"session": t("report.total")}
    totals |= totals_of(rows, ["gmv", "orders", "units", "refunds", "views", "ad_spend", "net_households"])
    totals |= totals_of(rows, ["orders_exact", "orders_inferred"])
    totals["refund_rate"] = ratio(totals["refunds"], totals["gmv"])
    totals["gpm"] = div_round(totals["gmv"] * 1000, totals["views"])
    totals["conversion"] = ratio(totals["orders"], totals["views"])
    totals["roi"] = ratio(totals["gmv"], totals["ad_spend"], 2)
    return Report("session-review", t("report.title.session-review", period=period.label), columns, rows, totals)


async def _sales(conn: AsyncConnection, ids: list[int]) -> dict[int, tuple[int, int, int, int, int, int]]:
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


async def session_products(conn: AsyncConnection, session_id: int) -> Report:
    """One session's sales per product (product GPM is left out: product views are not synced)."""
    session = (await conn.execute(select(LiveSession).where(LiveSession.id == session_id))).first()
    if session is None:
        raise UserError(t("report.no_session", id=session_id))
    name = func.coalesce(Product.name, OrderLine.title)
    query = (
        select(
            name.label("product"),
            func.sum(OrderLine.quantity),
            func.sum(OrderLine.paid_fen),
            func.count(distinct(OrderLine.order_id)),
        )
        .select_from(LineAttribution)
        .join(OrderLine, OrderLine.id == LineAttribution.order_line_id)
        .join(Order, and_(Order.id == OrderLine.order_id, Order.paid_at.is_not(None)))
        .outerjoin(Sku, Sku.id == OrderLine.sku_id)
        .outerjoin(Product, Product.id == Sku.product_id)
        .where(LineAttribution.session_id == session_id)
        .group_by(name)
        .order_by(func.sum(OrderLine.paid_fen).desc(), name)
    )
    rows: list[dict[str, Any]] = [
        {"product": product, "units": int(units), "gmv": int(gmv), "orders": int(orders)}
        for product, units, gmv, orders in await conn.execute(query)
    ]
    gmv_total = sum(int(r["gmv"]) for r in rows)
    for r in rows:
        r["share"] = ratio(int(r["gmv"]), gmv_total)
    columns = [column("product"), column("units", "int"), column("gmv", "money"), column("orders", "int")]
    columns.append(column("share", "ratio"))
    totals: dict[str, Any] = {"product": t("report.total")} | totals_of(rows, ["units", "gmv"])
    title = t("report.title.session-products", id=session_id, room=session.room_id)
    return Report("session-products", title, columns, rows, totals)
