"""The public board (公开大屏): today's and this year's orders, the purchasing-unit ranking, top
products and sessions, the latest orders, for the whole programme or a region and below.

Every figure is one a report gives for the same period, computed by the report's own function
or with its definition:

- orders and amount: orders paid in the period (Asia/Shanghai days) and the paid amount of their
  lines, the ``sales-ledger`` report's *gross* (refunds are not netted, as a sales board counts),
  split into 帮扶 sales (certified on the sale's day, the ledger's certified rows) and the rest;
- units: ``reserved-share`` rows (:func:`bangfu.queries.units.units_overview`), executed = the
  帮扶 part of the unit's purchases (lines of products certified on the sale's day, net of
  refunds; :mod:`bangfu.unit_purchases`), ranked here by amount executed (units with nothing executed yet are
  counted in ``units_total`` but not drawn);
- sessions: GMV as the ``session-review`` report computes it (:func:`session_sales`).

A region's board counts the sales of shops in the region and below, the units of the region and
below and the sessions of those shops (the county office's scope, :mod:`bangfu.scope`).

Nothing personal is on it: no buyer, no address, no household; an order is its time, product,
amount and channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.certification import certified_at_sale
from bangfu.enums import UserRole
from bangfu.models import LiveSession, Order, OrderLine, Product, Region, Shop, Sku
from bangfu.queries.units import units_overview
from bangfu.reports.base import SHANGHAI, Period, local_midnight
from bangfu.reports.sessions import session_sales
from bangfu.scope import Scope, region_and_below

TOP_UNITS = 10
TOP_PRODUCTS = 6
TOP_SESSIONS = 5
TICKER = 12


@dataclass(frozen=True)
class BoardRegion:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class Tally:
    orders: int
    amount_fen: int  # every line's paid amount (成交额)
    certified_fen: int = 0  # of it, 帮扶 sales: products certified on the sale's day

    @property
    def uncertified_fen(self) -> int:
        return self.amount_fen - self.certified_fen


@dataclass(frozen=True)
class Ranked:
    name: str
    amount_fen: int
    detail: str = ""  # a unit's type, a session's platform, a product's quantity


@dataclass(frozen=True)
class TickerOrder:
    key: int  # the order's row id: tells the page which orders are new, nothing else
    paid_at: datetime
    product: str
    lines: int
    amount_fen: int
    platform: str


@dataclass(frozen=True)
class Board:
    region: BoardRegion | None
    as_of: datetime
    year: int
    today: Tally
    cumulative: Tally
    units: list[Ranked]
    units_total: int
    products: list[Ranked]
    sessions: list[Ranked]
    ticker: list[TickerOrder]


async def board_region(conn: AsyncConnection, code: str) -> tuple[BoardRegion, Scope] | None:
    """The region with this administrative code and the scope of it and below; None if unknown."""
    if not (code.isascii() and code.isdigit()) or len(code) > 12:
        return None
    row = (await conn.execute(select(Region.id, Region.code, Region.name).where(Region.code == code))).first()
    if row is None:
        return None
    regions = await region_and_below(conn, int(row.id))
    return BoardRegion(int(row.id), str(row.code), str(row.name)), Scope(UserRole.COUNTY, region_ids=regions)


def today_period(now: datetime) -> Period:
    day = now.astimezone(SHANGHAI).date()
    return Period(local_midnight(day), local_midnight(day + timedelta(days=1)), day.isoformat())


def year_period(now: datetime) -> Period:
    year = now.astimezone(SHANGHAI).year
    return Period(local_midnight(date(year, 1, 1)), local_midnight(date(year + 1, 1, 1)), str(year))


async def tally(conn: AsyncConnection, scope: Scope, period: Period) -> Tally:
    """Orders paid in the period and their lines' paid amount (the sales ledger's gross), and of
    it the 帮扶 sales (the sales ledger's certified gross, :mod:`bangfu.certification`)."""
    paid_in = (Order.paid_at >= period.start, Order.paid_at < period.end)
    lines = (
        select(
            certified_at_sale(conn, Sku.product_id, Order.paid_at).label("certified"),
            OrderLine.paid_fen.label("amount"),
        )
        .select_from(OrderLine)
        .join(Order, Order.id == OrderLine.order_id)
        .outerjoin(Sku, Sku.id == OrderLine.sku_id)
        .where(*paid_in, scope.shops(OrderLine.shop_id))
        .subquery()
    )
    amount = certified = 0
    for flag, total in await conn.execute(
        select(lines.c.certified, func.sum(lines.c.amount)).group_by(lines.c.certified)
    ):
        amount += int(total or 0)
        if flag:
            certified += int(total or 0)
    orders = await conn.scalar(select(func.count()).select_from(Order).where(*paid_in, scope.shops(Order.shop_id)))
    return Tally(int(orders or 0), amount, certified)


async def _products(conn: AsyncConnection, scope: Scope, period: Period) -> list[Ranked]:
    amount = func.sum(OrderLine.paid_fen)
    query = (
        select(Product.name, amount, func.sum(OrderLine.quantity))
        .select_from(OrderLine)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Sku, Sku.id == OrderLine.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .where(Order.paid_at >= period.start, Order.paid_at < period.end, scope.shops(OrderLine.shop_id))
        .group_by(Product.id, Product.name)
        .order_by(amount.desc(), Product.name)
        .limit(TOP_PRODUCTS)
    )
    return [Ranked(str(name), int(total), str(int(qty or 0))) for name, total, qty in await conn.execute(query)]


async def _sessions(conn: AsyncConnection, scope: Scope, period: Period) -> list[Ranked]:
    """The sessions started in the period with the highest GMV (the session review's GMV), each
    with its platform (not its host: the board names no person)."""
    lights = {
        int(sid): (title, getattr(platform, "value", platform))
        for sid, title, platform in await conn.execute(
            select(LiveSession.id, LiveSession.title, Shop.platform)
            .join(Shop, Shop.id == LiveSession.shop_id)
            .where(scope.sessions(), LiveSession.started_at >= period.start, LiveSession.started_at < period.end)
        )
    }
    if not lights:
        return []
    sales = await session_sales(conn, sorted(lights))
    best = sorted(((s[0], sid) for sid, s in sales.items() if s[0] > 0), key=lambda x: (-x[0], x[1]))
    return [
        Ranked(str(lights[sid][0] or f"#{sid}"), gmv, str(lights[sid][1] or "")) for gmv, sid in best[:TOP_SESSIONS]
    ]


async def _ticker(conn: AsyncConnection, scope: Scope, period: Period) -> list[TickerOrder]:
    latest = (
        await conn.execute(
            select(Order.id, Order.paid_at, Shop.platform)
            .join(Shop, Shop.id == Order.shop_id)
            .where(Order.paid_at >= period.start, Order.paid_at < period.end, scope.shops(Order.shop_id))
            .order_by(Order.paid_at.desc(), Order.id.desc())
            .limit(TICKER)
        )
    ).all()
    if not latest:
        return []
    lines: dict[int, list[tuple[str, int]]] = {}
    for order_id, product, title, paid in await conn.execute(
        select(OrderLine.order_id, Product.name, OrderLine.title, OrderLine.paid_fen)
        .outerjoin(Sku, Sku.id == OrderLine.sku_id)
        .outerjoin(Product, Product.id == Sku.product_id)
        .where(OrderLine.order_id.in_([int(r.id) for r in latest]))
        .order_by(OrderLine.order_id, OrderLine.id)
    ):
        lines.setdefault(int(order_id), []).append((str(product or title or ""), int(paid)))
    out = []
    for row in latest:
        own = lines.get(int(row.id), [])
        paid_at = row.paid_at if row.paid_at.tzinfo else row.paid_at.replace(tzinfo=UTC)
        out.append(
            TickerOrder(
                key=int(row.id),
                paid_at=paid_at,
                product=own[0][0] if own else "",
                lines=len(own),
                amount_fen=sum(p for _, p in own),
                platform=str(getattr(row.platform, "value", row.platform)),
            )
        )
    return out


async def board_figures(
    conn: AsyncConnection, scope: Scope, *, region: BoardRegion | None = None, now: datetime | None = None
) -> Board:
    """Everything on the board, as of ``now`` (default: the current time)."""
    now = now or datetime.now(UTC)
    year = year_period(now)
    units = sorted(await units_overview(conn, scope, year.year), key=lambda u: (-u.executed_fen, u.code))
    return Board(
        region=region,
        as_of=now,
        year=year.year,
        today=await tally(conn, scope, today_period(now)),
        cumulative=await tally(conn, scope, year),
        units=[Ranked(u.name, u.executed_fen, u.unit_type) for u in units if u.executed_fen > 0][:TOP_UNITS],
        units_total=len(units),
        products=await _products(conn, scope, year),
        sessions=await _sessions(conn, scope, year),
        ticker=await _ticker(conn, scope, year),
    )


def _tally_json(tally: Tally) -> dict[str, int]:
    return {
        "orders": tally.orders,
        "amount_fen": tally.amount_fen,
        "certified_fen": tally.certified_fen,
        "uncertified_fen": tally.uncertified_fen,
    }


def board_json(board: Board) -> dict[str, Any]:
    """The board as JSON (money in integer fen, times ISO 8601 with offset: the page's data,
    the events' data and ``/board/events`` without an event stream; times in Asia/Shanghai)."""

    def ranked(items: list[Ranked]) -> list[dict[str, Any]]:
        return [{"name": r.name, "amount_fen": r.amount_fen, "detail": r.detail} for r in items]

    return {
        "region": None if board.region is None else {"code": board.region.code, "name": board.region.name},
        "as_of": board.as_of.astimezone(SHANGHAI).isoformat(),
        "year": board.year,
        "today": _tally_json(board.today),
        "cumulative": _tally_json(board.cumulative),
        "units": ranked(board.units),
        "units_total": board.units_total,
        "products": ranked(board.products),
        "sessions": ranked(board.sessions),
        "ticker": [
            {
                "key": o.key,
                "paid_at": o.paid_at.astimezone(SHANGHAI).isoformat(),
                "product": o.product,
                "lines": o.lines,
                "amount_fen": o.amount_fen,
                "platform": o.platform,
            }
            for o in board.ticker
        ],
    }
