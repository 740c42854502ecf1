"""Order planting as the console and ``bangfu planting`` show it: per product, its sell-through
by season and channel, the forecast of the next season with its intervals, the suggested plan
per cooperative, and the purchase contracts against the lots delivered.

Definitions (docs/planting.md):
- *Sell-through* of a product in a season: the units and paid amount of its order lines whose
  order was paid in that season (local time), less what was refunded of those lines (refunds
  succeeded, by amount and by quantity; a fully refunded line counts no unit), by the channel
  type of the shop that sold it, over every shop: it is the product's demand, whoever sold it.
  An imported cell (``planting_history``) stands in for the hub's own figure of that cell.
- *Products* a user plans: those of suppliers in the user's scope and those cooperatives in the
  user's scope delivered lots of (a county: its region; a cooperative: its own).
- The forecast sees the complete seasons up to the last one before today's, from the product's
  first season with a sale (seasons between without sales count 0); the plan is for the season
  after today's (a crop needs the current season to be planted). A product with no sale in a
  complete season has nothing to forecast from and is not planned.
- *Share* of a cooperative: units it delivered in lots of the product, ever; *capacity*: the most
  its households delivered of the product in one season (contributions, or the lot's quantity
  for a lot without them).
- A contract's *delivered*: the units of the cooperative's lots of the product received in the
  contract's season; valued at the contract's guaranteed price.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu import sales_days
from bangfu.enums import UserRole
from bangfu.i18n import MESSAGES, t
from bangfu.models import (
    Cooperative,
    LotContribution,
    PlantingContract,
    PlantingHistory,
    Product,
    Sku,
    Supplier,
    SupplyLot,
)
from bangfu.planting.forecast import Forecast, forecast
from bangfu.planting.seasons import Season
from bangfu.planting.split import split_plan
from bangfu.reports.base import Column, Report, day_month
from bangfu.scope import Scope

__all__ = [
    "ContractRow",
    "Planning",
    "ProductPlan",
    "contracts",
    "contracts_report",
    "county_card",
    "history_report",
    "plan_report",
    "planning",
    "sees_planting",
]

MESSAGES.update(
    {
        "planting.model.ets_aada": {"zh": "ETS(A,Ad,A) 阻尼趋势+季节", "en": "ETS(A,Ad,A) damped trend + seasonal"},
        "planting.model.ets_ana": {"zh": "ETS(A,N,A) 水平+季节", "en": "ETS(A,N,A) level + seasonal"},
        "planting.model.seasonal_naive": {
            "zh": "季节朴素法（去年同季）",
            "en": "Seasonal naive (same quarter last year)",
        },
        "planting.model.ses": {"zh": "简单指数平滑", "en": "Simple exponential smoothing"},
        "planting.model.naive": {"zh": "上季照搬（数据太少，无区间）", "en": "Last season (too short for an interval)"},
        "planting.model.constant": {"zh": "各季相同", "en": "Constant series"},
        "planting.model.none": {"zh": "无历史", "en": "No history"},
        "planting.col.product": {"zh": "商品", "en": "Product"},
        "planting.col.spu": {"zh": "商品编码", "en": "SPU code"},
        "planting.col.season": {"zh": "季度", "en": "Season"},
        "planting.col.model": {"zh": "预测模型", "en": "Model"},
        "planting.col.seasons": {"zh": "历史季数", "en": "Seasons of history"},
        "planting.col.forecast": {"zh": "预测销量", "en": "Forecast units"},
        "planting.col.lo80": {"zh": "80%下限", "en": "80% low"},
        "planting.col.hi80": {"zh": "80%上限", "en": "80% high"},
        "planting.col.lo95": {"zh": "95%下限", "en": "95% low"},
        "planting.col.hi95": {"zh": "95%上限", "en": "95% high"},
        "planting.col.cooperative": {"zh": "合作社", "en": "Cooperative"},
        "planting.col.supplied": {"zh": "历史供货量", "en": "Units supplied"},
        "planting.col.share": {"zh": "供货占比", "en": "Share"},
        "planting.col.capacity": {"zh": "产能（单季最高交售）", "en": "Capacity (best season)"},
        "planting.col.planned": {"zh": "建议订单量", "en": "Suggested units"},
        "planting.col.capped": {"zh": "受产能限制", "en": "At capacity"},
        "planting.col.contract": {"zh": "合同", "en": "Contract"},
        "planting.col.contracted": {"zh": "合同量", "en": "Contracted units"},
        "planting.col.price": {"zh": "保底价（元/单位）", "en": "Guaranteed price (yuan/unit)"},
        "planting.col.contract_value": {"zh": "合同金额", "en": "Contract value"},
        "planting.col.delivered": {"zh": "已交售", "en": "Delivered"},
        "planting.col.shortfall": {"zh": "欠交", "en": "Shortfall"},
        "planting.col.excess": {"zh": "超交", "en": "Excess"},
        "planting.col.delivered_value": {"zh": "已交售金额（保底价）", "en": "Delivered at the guaranteed price"},
        "planting.col.accepted_at": {"zh": "签订时间", "en": "Accepted"},
        "planting.uncovered": {"zh": "（无合作社可承接）", "en": "(no cooperative can take it)"},
        "planting.yes": {"zh": "是", "en": "yes"},
        "planting.col.channel": {"zh": "渠道", "en": "Channel"},
        "planting.col.units": {"zh": "净销量", "en": "Net units"},
        "planting.col.amount": {"zh": "净销售额", "en": "Net amount"},
        "planting.col.source": {"zh": "来源", "en": "Source"},
        "planting.source.imported": {"zh": "导入", "en": "imported"},
        "planting.source.hub": {"zh": "本系统订单", "en": "hub orders"},
        "planting.history.title": {"zh": "分季度分渠道销量", "en": "Sell-through by season and channel"},
        "planting.summary.line": {
            "zh": "{product}：{season} 预测 {units} {unit}{interval}（{model}，历史 {n} 季）",
            "en": "{product}: {season} forecast {units} {unit}{interval} ({model}, {n} seasons)",
        },
        "planting.summary.interval": {
            "zh": "，80% 区间 {lo80}–{hi80}，95% 区间 {lo95}–{hi95}",
            "en": ", 80% interval {lo80}-{hi80}, 95% interval {lo95}-{hi95}",
        },
        "planting.plan.title": {"zh": "订单种植建议计划", "en": "Order-planting plan"},
        "planting.contracts.title": {"zh": "订单收购合同执行", "en": "Purchase contracts and deliveries"},
    }
)


def sees_planting(scope: Scope) -> bool:
    return scope.role in (UserRole.ADMIN, UserRole.COUNTY) or (
        scope.role == UserRole.COOPERATIVE and scope.cooperative_id is not None
    )


def channel_label(code: str) -> str:
    key = f"report.channel.{code}"
    return t(key) if key in MESSAGES else code


def model_label(model: str) -> str:
    return t(f"planting.model.{model}")


@dataclass
class SeasonFigure:
    units: int = 0
    amount_fen: int = 0
    channels: dict[str, list[int]] = field(default_factory=dict)  # channel -> [units, fen]
    imported: bool = False


@dataclass(frozen=True)
class PlanRow:
    cooperative_id: int
    cooperative: str
    supplied: int
    share_bp: int  # of the product's supply by cooperatives, basis points
    capacity: int
    planned: int
    capped: bool
    default_price_fen: int | None
    contract: ContractRow | None


@dataclass(frozen=True)
class ProductPlan:
    product_id: int
    product: str
    spu_code: str
    unit: str
    history: list[tuple[Season, SeasonFigure]]  # complete seasons, oldest first, from the first sale
    current: SeasonFigure  # today's season so far (not in the forecast)
    forecast: Forecast  # step 1: today's season; step 2: the plan season
    rows: list[PlanRow]  # cooperatives in the user's scope
    uncovered: int

    @property
    def channels(self) -> list[tuple[str, str]]:
        """The channels the product sold through (code, label), most units first."""
        units: dict[str, int] = defaultdict(int)
        for _, figure in [*self.history, (None, self.current)]:
            for code, (n, _fen) in figure.channels.items():
                units[code] += n
        return [(code, channel_label(code)) for code in sorted(units, key=lambda c: (-units[c], c))]

    @property
    def plan(self) -> Any:
        return self.forecast.step(2)

    @property
    def model_label(self) -> str:
        return model_label(self.forecast.model)

    @property
    def planned(self) -> int:
        return sum(r.planned for r in self.rows)


@dataclass(frozen=True)
class ContractRow:
    id: int
    cooperative_id: int
    cooperative: str
    product_id: int
    product: str
    unit: str
    season: str
    quantity: int
    price_fen: int
    forecast_units: int
    forecast_model: str
    accepted_at: Any
    delivered: int

    @property
    def value_fen(self) -> int:
        return self.quantity * self.price_fen

    @property
    def delivered_value_fen(self) -> int:
        return self.delivered * self.price_fen

    @property
    def shortfall(self) -> int:
        return max(0, self.quantity - self.delivered)

    @property
    def excess(self) -> int:
        return max(0, self.delivered - self.quantity)

    @property
    def rate_pct(self) -> int:
        return self.delivered * 100 // self.quantity if self.quantity else 0


@dataclass(frozen=True)
class Planning:
    today: date
    current: Season
    last_complete: Season
    season: Season  # the plan season
    products: list[ProductPlan]
    contracts: list[ContractRow]

    @property
    def seasonal_products(self) -> int:
        return sum(1 for p in self.products if p.forecast.model.startswith("ets"))

    @property
    def forecast_units(self) -> int:
        return sum(p.plan.units for p in self.products)

    @property
    def contracted_units(self) -> int:
        return sum(c.quantity for c in self.contracts if c.season == self.season.label)


# -- scope ----------------------------------------------------------------------------------------


def _products_in_scope(scope: Scope) -> ColumnElement[bool]:
    supplied = (
        select(Sku.product_id)
        .join(SupplyLot, SupplyLot.sku_id == Sku.id)
        .where(SupplyLot.cooperative_id.is_not(None), scope.cooperatives(SupplyLot.cooperative_id))
    )
    return or_(Product.id.in_(supplied), scope.suppliers(Product.supplier_id))


# -- sell-through ---------------------------------------------------------------------------------


async def sell_through(
    conn: AsyncConnection, product_ids: list[int], *, stored: bool = True
) -> dict[int, dict[Season, SeasonFigure]]:
    """Net units and fen per product, season and channel (imported cells standing in)."""
    cells: dict[int, dict[Season, dict[str, list[int]]]] = defaultdict(lambda: defaultdict(dict))
    if not product_ids:
        return {}
    # Summed per product, channel and local month (a season is three months) from the sales per
    # day (bangfu.sales_days, ``stored``): each line's units and fen net of its succeeded refunds,
    # over paid orders, kept per paid day, shop and SKU; not every paid line.
    marked = await sales_days.read_marked_days(conn, None, stored=stored)
    sold = sales_days.gross_rows(conn, None, stored=stored, marked_days=marked)
    month = day_month(conn, sold.c.day)
    lines = (
        select(sold.c.product_id, sold.c.channel, month, func.sum(sold.c.units_left), func.sum(sold.c.net_fen))
        .where(sold.c.paid_lines > 0, sold.c.product_id.in_(product_ids))
        .group_by(sold.c.product_id, sold.c.channel, month)
    )
    for pid, channel, mon, units_sum, fen_sum in await conn.execute(lines):
        year, number = (int(part) for part in str(mon).split("-"))
        key = str(getattr(channel, "value", channel))
        cell = cells[int(pid)][Season(year, (number - 1) // 3 + 1)].setdefault(key, [0, 0])
        cell[0] += int(units_sum or 0)
        cell[1] += int(fen_sum or 0)
    imported: set[tuple[int, Season]] = set()
    for row in await conn.execute(
        select(PlantingHistory.product_id, PlantingHistory.season, PlantingHistory.channel,
               PlantingHistory.units, PlantingHistory.amount_fen)
        .where(PlantingHistory.product_id.in_(product_ids))
    ):  # fmt: skip
        season = Season.parse(str(row.season))
        cells[int(row.product_id)][season][str(row.channel)] = [int(row.units), int(row.amount_fen)]
        imported.add((int(row.product_id), season))
    out: dict[int, dict[Season, SeasonFigure]] = {}
    for pid, seasons in cells.items():
        out[pid] = {}
        for season, channels in seasons.items():
            out[pid][season] = SeasonFigure(
                units=sum(v[0] for v in channels.values()),
                amount_fen=sum(v[1] for v in channels.values()),
                channels=dict(sorted(channels.items())),
                imported=(pid, season) in imported,
            )
    return out


# -- supply: shares, capacity, prices ---------------------------------------------------------------


@dataclass
class _Supply:
    supplied: dict[int, int] = field(default_factory=lambda: defaultdict(int))  # coop -> units
    by_season: dict[int, dict[Season, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    prices: dict[int, tuple[date, int]] = field(default_factory=dict)  # coop -> latest (day, price)

    def capacity(self, coop: int) -> int:
        seasons = self.by_season.get(coop)
        return max(seasons.values()) if seasons else 0

    def price(self, coop: int) -> int | None:
        if coop in self.prices:
            return self.prices[coop][1]
        latest = max(self.prices.values(), default=None)
        return latest[1] if latest else None


async def _supply(conn: AsyncConnection, product_ids: list[int]) -> dict[int, _Supply]:
    out: dict[int, _Supply] = defaultdict(_Supply)
    if not product_ids:
        return out
    contributed = (
        select(
            LotContribution.lot_id,
            func.sum(LotContribution.quantity).label("units"),
            func.max(LotContribution.guaranteed_price_fen).label("price"),
        )
        .group_by(LotContribution.lot_id)
        .subquery()
    )
    query = (
        select(
            Sku.product_id,
            SupplyLot.cooperative_id,
            SupplyLot.received_on,
            SupplyLot.quantity,
            contributed.c.units,
            contributed.c.price,
        )
        .join(Sku, Sku.id == SupplyLot.sku_id)
        .outerjoin(contributed, contributed.c.lot_id == SupplyLot.id)
        .where(SupplyLot.cooperative_id.is_not(None), Sku.product_id.in_(product_ids))
    )
    for pid, coop, received_on, quantity, units, price in await conn.execute(query):
        supply = out[int(pid)]
        supply.supplied[int(coop)] += int(quantity)
        supply.by_season[int(coop)][Season.of(received_on)] += int(units) if units else int(quantity)
        if price:
            seen = supply.prices.get(int(coop))
            if seen is None or seen[0] <= received_on:
                supply.prices[int(coop)] = (received_on, int(price))
    return out


async def _coop_names(conn: AsyncConnection, ids: set[int]) -> dict[int, str]:
    return {
        int(cid): str(name)
        for cid, name in await conn.execute(
            select(Cooperative.id, Supplier.name)
            .join(Supplier, Supplier.id == Cooperative.supplier_id)
            .where(Cooperative.id.in_(sorted(ids)))
        )
    }


# -- contracts ------------------------------------------------------------------------------------


async def contracts(conn: AsyncConnection, scope: Scope, *, cooperative_id: int | None = None) -> list[ContractRow]:
    """Contracts of the cooperatives in scope (one cooperative's, if named), with the units their
    lots of the product delivered in the contract's season."""
    c = PlantingContract
    query = (
        select(c.id, c.cooperative_id, c.product_id, c.season, c.quantity, c.price_fen, c.forecast_units,
               c.forecast_model, c.accepted_at, Supplier.name.label("coop_name"), Product.name.label("product_name"))
        .join(Cooperative, Cooperative.id == c.cooperative_id)
        .join(Supplier, Supplier.id == Cooperative.supplier_id)
        .join(Product, Product.id == c.product_id)
        .where(scope.cooperatives(c.cooperative_id))
        .order_by(c.season.desc(), Product.name, Supplier.name)
    )  # fmt: skip
    if cooperative_id is not None:
        query = query.where(c.cooperative_id == cooperative_id)
    found = (await conn.execute(query)).all()
    units = await _units(conn, sorted({int(r.product_id) for r in found}))
    rows = []
    for r in found:
        season = Season.parse(r.season)
        delivered = await conn.scalar(
            select(func.coalesce(func.sum(SupplyLot.quantity), 0))
            .join(Sku, Sku.id == SupplyLot.sku_id)
            .where(
                SupplyLot.cooperative_id == r.cooperative_id,
                Sku.product_id == r.product_id,
                SupplyLot.received_on >= season.first_day,
                SupplyLot.received_on <= season.last_day,
            )
        )
        rows.append(
            ContractRow(
                id=int(r.id),
                cooperative_id=int(r.cooperative_id),
                cooperative=str(r.coop_name),
                product_id=int(r.product_id),
                product=str(r.product_name),
                unit=units.get(int(r.product_id), ""),
                season=str(r.season),
                quantity=int(r.quantity),
                price_fen=int(r.price_fen),
                forecast_units=int(r.forecast_units),
                forecast_model=str(r.forecast_model),
                accepted_at=r.accepted_at,
                delivered=int(delivered or 0),
            )
        )
    return rows


async def _units(conn: AsyncConnection, product_ids: list[int]) -> dict[int, str]:
    """Each product's SKU unit (its first SKU's; the plan counts SKU units)."""
    out: dict[int, str] = {}
    for pid, unit in await conn.execute(
        select(Sku.product_id, Sku.unit).where(Sku.product_id.in_(product_ids)).order_by(Sku.sku_code)
    ):
        out.setdefault(int(pid), str(unit))
    return out


# -- the planning page ------------------------------------------------------------------------------


async def planning(
    conn: AsyncConnection, scope: Scope, today: date, *, cooperative_id: int | None = None
) -> Planning | None:
    """Everything the planning pages show; None for a user who plans nothing. ``cooperative_id``
    narrows the plan rows and contracts to one cooperative (already checked to be in scope) and
    the products to those it supplied."""
    if not sees_planting(scope):
        return None
    current = Season.of(today)
    last_complete = current.shift(-1)
    season = current.shift(1)
    products = (
        await conn.execute(select(Product.id, Product.name, Product.spu_code).where(_products_in_scope(scope)))
    ).all()
    ids = [int(p.id) for p in products]
    figures = await sell_through(conn, ids)
    supply = await _supply(conn, ids)
    units = await _units(conn, ids)
    visible = set(await conn.scalars(select(Cooperative.id).where(scope.cooperatives(Cooperative.id))))
    if cooperative_id is not None:
        visible &= {cooperative_id}
    all_contracts = await contracts(conn, scope, cooperative_id=cooperative_id)
    by_key = {(c.cooperative_id, c.product_id, c.season): c for c in all_contracts}
    names = await _coop_names(conn, {c for s in supply.values() for c in s.supplied} & visible)
    plans: list[ProductPlan] = []
    for product in products:
        pid = int(product.id)
        seasons = figures.get(pid, {})
        past = sorted(s for s in seasons if s <= last_complete)
        prod_supply = supply.get(pid, _Supply())
        if cooperative_id is not None and cooperative_id not in prod_supply.supplied:
            continue
        if not past:
            continue  # nothing sold in a complete season: nothing to forecast from
        history = [(s, seasons.get(s, SeasonFigure())) for s in past[0].upto(last_complete)]
        fc = forecast([f.units for _, f in history], horizon=2)
        split = split_plan(
            fc.step(2).units,
            dict(prod_supply.supplied),
            {c: prod_supply.capacity(c) for c in prod_supply.supplied},
        )
        total_supplied = sum(prod_supply.supplied.values())
        rows = [
            PlanRow(
                cooperative_id=coop,
                cooperative=names.get(coop, str(coop)),
                supplied=supplied,
                share_bp=supplied * 10000 // total_supplied if total_supplied else 0,
                capacity=prod_supply.capacity(coop),
                planned=split.planned.get(coop, 0),
                capped=coop in split.capped,
                default_price_fen=prod_supply.price(coop),
                contract=by_key.get((coop, pid, season.label)),
            )
            for coop, supplied in sorted(prod_supply.supplied.items(), key=lambda kv: (-kv[1], kv[0]))
            if coop in visible
        ]
        plans.append(
            ProductPlan(
                product_id=pid,
                product=str(product.name),
                spu_code=str(product.spu_code),
                unit=units.get(pid, ""),
                history=history,
                current=seasons.get(current, SeasonFigure()),
                forecast=fc,
                rows=rows,
                uncovered=split.uncovered,
            )
        )
    plans.sort(key=lambda p: (-p.plan.units, -len(p.history), p.spu_code))
    return Planning(today, current, last_complete, season, plans, all_contracts)


# -- reports (XLSX / CSV / the CLI) -----------------------------------------------------------------


def plan_report(p: Planning) -> Report:
    columns = [
        Column("product", t("planting.col.product")),
        Column("spu", t("planting.col.spu")),
        Column("season", t("planting.col.season")),
        Column("model", t("planting.col.model")),
        Column("seasons", t("planting.col.seasons"), "int"),
        Column("forecast", t("planting.col.forecast"), "int"),
        Column("lo80", t("planting.col.lo80"), "int"),
        Column("hi80", t("planting.col.hi80"), "int"),
        Column("lo95", t("planting.col.lo95"), "int"),
        Column("hi95", t("planting.col.hi95"), "int"),
        Column("cooperative", t("planting.col.cooperative")),
        Column("supplied", t("planting.col.supplied"), "int"),
        Column("share", t("planting.col.share")),
        Column("capacity", t("planting.col.capacity"), "int"),
        Column("planned", t("planting.col.planned"), "int"),
        Column("capped", t("planting.col.capped")),
        Column("contracted", t("planting.col.contracted"), "int"),
    ]
    rows: list[dict[str, Any]] = []
    for plan in p.products:
        b80, b95 = plan.plan.bounds(80), plan.plan.bounds(95)
        head = {
            "product": plan.product,
            "spu": plan.spu_code,
            "season": p.season.label,
            "model": plan.model_label,
            "seasons": len(plan.history),
            "forecast": plan.plan.units,
            "lo80": b80[0] if b80 else None,
            "hi80": b80[1] if b80 else None,
            "lo95": b95[0] if b95 else None,
            "hi95": b95[1] if b95 else None,
        }
        for r in plan.rows:
            rows.append(
                head
                | {
                    "cooperative": r.cooperative,
                    "supplied": r.supplied,
                    "share": f"{r.share_bp / 100:.1f}%",
                    "capacity": r.capacity,
                    "planned": r.planned,
                    "capped": t("planting.yes") if r.capped else "",
                    "contracted": r.contract.quantity if r.contract else None,
                }
            )
        if plan.uncovered or not plan.rows:
            rows.append(head | {"cooperative": t("planting.uncovered"), "planned": plan.uncovered})
    summary = []
    for plan in p.products:
        b80, b95 = plan.plan.bounds(80), plan.plan.bounds(95)
        interval = (
            t("planting.summary.interval", lo80=b80[0], hi80=b80[1], lo95=b95[0], hi95=b95[1]) if b80 and b95 else ""
        )
        summary.append(
            t("planting.summary.line", product=plan.product, season=p.season.label, units=plan.plan.units,
              unit=plan.unit, interval=interval, model=plan.model_label, n=len(plan.history))
        )  # fmt: skip
    return Report("planting-plan", t("planting.plan.title"), columns, rows, summary=summary)


def history_report(p: Planning) -> Report:
    """Sell-through per product, season and channel (imported cells marked), then today's season so far."""
    columns = [
        Column("product", t("planting.col.product")),
        Column("spu", t("planting.col.spu")),
        Column("season", t("planting.col.season")),
        Column("channel", t("planting.col.channel")),
        Column("units", t("planting.col.units"), "int"),
        Column("amount", t("planting.col.amount"), "money"),
        Column("source", t("planting.col.source")),
    ]
    rows: list[dict[str, Any]] = []
    for plan in p.products:
        for season, figure in [*plan.history, (p.current, plan.current)]:
            for code, (units, fen) in figure.channels.items():
                rows.append(
                    {"product": plan.product, "spu": plan.spu_code, "season": season.label,
                     "channel": channel_label(code), "units": units, "amount": fen,
                     "source": t("planting.source.imported") if figure.imported else t("planting.source.hub")}
                )  # fmt: skip
    return Report("planting-history", t("planting.history.title"), columns, rows)


def contracts_report(rows: list[ContractRow]) -> Report:
    columns = [
        Column("cooperative", t("planting.col.cooperative")),
        Column("product", t("planting.col.product")),
        Column("season", t("planting.col.season")),
        Column("contracted", t("planting.col.contracted"), "int"),
        Column("price", t("planting.col.price"), "money"),
        Column("value", t("planting.col.contract_value"), "money"),
        Column("delivered", t("planting.col.delivered"), "int"),
        Column("shortfall", t("planting.col.shortfall"), "int"),
        Column("excess", t("planting.col.excess"), "int"),
        Column("delivered_value", t("planting.col.delivered_value"), "money"),
    ]
    body = [
        {"cooperative": c.cooperative, "product": c.product, "season": c.season, "contracted": c.quantity,
         "price": c.price_fen, "value": c.value_fen, "delivered": c.delivered, "shortfall": c.shortfall,
         "excess": c.excess, "delivered_value": c.delivered_value_fen}
        for c in rows
    ]  # fmt: skip
    return Report("planting-contracts", t("planting.contracts.title"), columns, body)


@dataclass(frozen=True)
class PlantingCard:
    season: str  # the plan season
    contracts: int  # purchase contracts of every season
    contracted_units: int
    delivered_units: int


async def county_card(conn: AsyncConnection, scope: Scope, today: date) -> PlantingCard | None:
    """The county overview's headline of order planting: the contracts and what was delivered
    against them. It reads stored rows only: the forecasts (statsmodels, seconds to import in a
    fresh process) are the planting page's, never the overview's."""
    if not sees_planting(scope):
        return None
    rows = await contracts(conn, scope)
    return PlantingCard(
        Season.of(today).shift(1).label,
        len(rows),
        sum(c.quantity for c in rows),
        sum(c.delivered for c in rows),
    )
