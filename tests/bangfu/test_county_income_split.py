"""The county overview's members' income by month (from household_daily_income) equals the
household-income report's, and its income by channel and by product, grouped in SQL, equals
the former computation, on both backends: every (source event, household) sum of the
members' income journals fetched, each line looked up, the sums added per channel and product
per household. Over the whole span and one month, and after a line's SKU and a SKU's product
change (rolled back). Compared as the overview shows them (``shown_groups``): a channel or
product whose households all net to zero in the period is left out, and so is a household
whose income from it nets to zero (the former computation dropped only a zero (source event,
household) sum; the per-day rows cannot see source events)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.models import (
    Cooperative,
    Household,
    Journal,
    LedgerAccount,
    LineHouseholdCredit,
    OrderLine,
    Posting,
    Product,
    Shop,
    Sku,
)
from bangfu.queries.county import _income_by_channel_and_product, shown_groups
from bangfu.reports.base import Period, local_midnight, parse_line_event
from bangfu.reports.households import INCOME_JOURNALS, income_by_household
from bangfu.store import make_engine
from tests.web.conftest import World

Split = dict[str, dict[str, dict[int, int]]]


async def _former(conn: AsyncConnection, period: Period, coop_ids: Sequence[int]) -> Split:
    """The overview's split as it was computed before (pairs fetched, lines looked up in Python)."""
    members = select(Household.id).where(Household.cooperative_id.in_(list(coop_ids)))
    query = (
        select(Journal.source_event, LedgerAccount.owner_id, func.sum(Posting.amount_fen))
        .join(Posting, Posting.account_id == LedgerAccount.id)
        .join(Journal, Journal.id == Posting.journal_id)
        .where(
            LedgerAccount.owner_type == "household",
            LedgerAccount.owner_id.in_(members),
            Journal.kind.in_(list(INCOME_JOURNALS)),
            Journal.occurred_at >= period.start,
            Journal.occurred_at < period.end,
        )
        .group_by(Journal.source_event, LedgerAccount.owner_id)
    )
    per_line: dict[int | None, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for source, owner, total in await conn.execute(query):
        if owner is not None and total:
            per_line[parse_line_event(str(source))][int(owner)] -= int(total)
    info: dict[int, tuple[str, str, str]] = {}
    for lid, channel_type, pid, product_name in await conn.execute(
        select(OrderLine.id, Shop.channel_type, Product.id, Product.name)
        .join(Shop, Shop.id == OrderLine.shop_id)
        .outerjoin(Sku, Sku.id == OrderLine.sku_id)
        .outerjoin(Product, Product.id == Sku.product_id)
    ):
        info[int(lid)] = (str(getattr(channel_type, "value", channel_type)), str(pid or ""), str(product_name or ""))
    out: Split = {"channel": defaultdict(lambda: defaultdict(int)), "product": defaultdict(lambda: defaultdict(int))}
    labels: dict[str, str] = {}
    for line_id, households in per_line.items():
        channel, product_id, product = info.get(line_id, ("", "", "")) if line_id is not None else ("", "", "")
        if line_id is not None and line_id in info and not product_id:
            product_id = "?"
        if product_id and product_id != "?":
            labels[product_id] = product
        for hid, fen in households.items():
            out["channel"][channel][hid] += fen
            out["product"][product_id][hid] += fen
    out["labels"] = {k: {0: 0} for k in labels}  # the keys labelled
    return _plain(out)


async def _grouped(conn: AsyncConnection, period: Period, coop_ids: Sequence[int]) -> Split:
    out: Split = {"channel": defaultdict(lambda: defaultdict(int)), "product": defaultdict(lambda: defaultdict(int))}
    labels: set[str] = set()
    for channel, product_id, _product, hid, fen in await _income_by_channel_and_product(conn, period, coop_ids):
        if product_id and product_id != "?":
            labels.add(product_id)
        out["channel"][channel][hid] += fen
        out["product"][product_id][hid] += fen
    out["labels"] = {k: {0: 0} for k in labels}
    return _plain(out)


def _plain(split: Any) -> Split:
    """As the overview shows it: groups with some household's income not zero, households with
    income not zero, the product keys labelled among the groups shown."""
    shown = {
        dim: {key: {h: f for h, f in nets.items() if f} for key, nets in shown_groups(split[dim]).items()}
        for dim in ("channel", "product")
    }
    shown["labels"] = {k: v for k, v in split["labels"].items() if k in shown["product"]}
    return shown


async def test_the_split_equals_the_former_computation(store: World) -> None:
    engine = make_engine(store.url)
    try:
        async with engine.connect() as conn:
            coop_ids = [int(c) for c in await conn.scalars(select(Cooperative.id))]
            periods = [
                Period(local_midnight(date(2020, 1, 1)), local_midnight(date(2040, 1, 1)), "all"),
            ]
            first = await conn.scalar(select(func.min(Journal.occurred_at)))
            assert first is not None
            month = first.date().replace(day=1)
            nxt = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
            periods.append(Period(local_midnight(month), local_midnight(nxt), "month"))
            for period in periods:
                monthly = await income_by_household(conn, period, cooperative_ids=coop_ids)  # by day
                assert monthly and monthly == await income_by_household(
                    conn, period, cooperative_ids=coop_ids, from_ledger=True
                )
                grouped = await _grouped(conn, period, coop_ids)
                assert grouped["channel"] and grouped["product"]
                assert grouped == await _former(conn, period, coop_ids)
            await conn.commit()
            try:
                # A line whose journals credited a household, so its income has a group to leave.
                line = await conn.scalar(
                    select(OrderLine.id)
                    .join(LineHouseholdCredit, LineHouseholdCredit.order_line_id == OrderLine.id)
                    .where(OrderLine.sku_id.is_not(None), LineHouseholdCredit.credit_fen != 0)
                    .order_by(OrderLine.id)
                    .limit(1)
                )
                await conn.execute(update(OrderLine).where(OrderLine.id == line).values(sku_id=None))
                sku, product = (await conn.execute(select(Sku.id, Sku.product_id).limit(1))).one()
                other = await conn.scalar(select(Product.id).where(Product.id != product).limit(1))
                await conn.execute(update(Sku).where(Sku.id == sku).values(product_id=other))
                grouped = await _grouped(conn, periods[0], coop_ids)
                assert "?" in grouped["product"]
                assert grouped == await _former(conn, periods[0], coop_ids)
            finally:
                await conn.rollback()
    finally:
        await engine.dispose()
