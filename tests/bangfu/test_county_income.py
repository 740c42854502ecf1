"""county_income_days and county_income_months, the county overview's income per day (and
month), household, shop and SKU (bangfu.county_income), on the demo county on both backends:
after the pipeline nothing is marked and the rows equal the ledger's sums, and the migration's
backfill writes the same rows; each change in turn (a line's SKU, a SKU's product, a line's
shop, a refund posted on a later day, a surplus return, a new sale) leaves the overview's split
equal to the ledger's before any refresh (stale days marked), and after a refresh the rows equal
the ledger again; a stored row falsified by hand is not read while its day is marked."""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu import county_income
from bangfu.county_income import refresh, rows_differing_from_ledger
from bangfu.enums import JournalKind
from bangfu.ledger import Journal, Posting, household_account, journal_uid, post, receivable_account, retention_account
from bangfu.models import (
    Cooperative,
    CountyIncomeDay,
    CountyIncomeDirty,
    CountyIncomeMonth,
    Household,
    JournalLineDay,
    LineHouseholdCredit,
    OrderLine,
    Product,
    Shop,
    Sku,
)
from bangfu.models import Journal as JournalRow
from bangfu.queries.county import _income_by_channel_and_product, _income_from_ledger, shown_groups
from bangfu.reports.base import Period, local_midnight
from tests.bangfu.conftest import with_conn
from tests.web.conftest import World

MIGRATION = Path(__file__).resolve().parents[2] / "bangfu/migrations/versions/0039_county_income_days.py"
Split = dict[str, dict[str, dict[int, int]]]


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def shown(found: Sequence[tuple[str, str, str, int, int]]) -> Split:
    """The overview's groups by channel and by product, per household, as it shows them."""
    channel: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    product: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for ch, product_id, _name, hid, fen in found:
        channel[ch][hid] += fen
        product[product_id][hid] += fen
    return {
        dim: {key: {h: f for h, f in nets.items() if f} for key, nets in shown_groups(groups).items()}
        for dim, groups in (("channel", channel), ("product", product))
    }


async def _periods(conn: AsyncConnection) -> list[Period]:
    """The whole span (whole months: month rows), one month, and days across two months."""
    first = await conn.scalar(select(func.min(JournalRow.occurred_at)))
    assert first is not None
    month = first.date().replace(day=1)
    nxt = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return [
        Period(local_midnight(date(2020, 1, 1)), local_midnight(date(2040, 1, 1)), "all"),
        Period(local_midnight(month), local_midnight(nxt), "month"),
        Period(local_midnight(month + timedelta(days=9)), local_midnight(nxt + timedelta(days=12)), "days"),
    ]


async def _split_equals_the_ledger(conn: AsyncConnection, what: str = "") -> None:
    coop_ids = [int(c) for c in await conn.scalars(select(Cooperative.id))]
    for period in await _periods(conn):
        stored = shown(await _income_by_channel_and_product(conn, period, coop_ids))
        assert stored == shown(await _income_from_ledger(conn, period, coop_ids)), (what, period.label)


async def _marked_days(conn: AsyncConnection) -> set[date]:
    return {_day(d) for d in await conn.scalars(select(CountyIncomeDirty.day))}


async def _stale_days_are_marked(conn: AsyncConnection, what: str) -> None:
    """What differs from the ledger is marked (a month: one of its days), and there is something."""
    differing = await rows_differing_from_ledger(conn, limit=100_000)
    assert differing, f"{what}: the change made stored rows stale (else the check proves nothing)"
    marked = await _marked_days(conn)
    for (grain, day, *_rest), _stored, _ledger in differing:
        if grain == "day":
            assert day in marked, (what, day)
        else:
            assert any(d.replace(day=1) == day for d in marked), (what, day)


async def _rows(conn: AsyncConnection) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for model in (CountyIncomeDay, CountyIncomeMonth, JournalLineDay):
        table: Any = model.__table__
        found = await conn.execute(select(*table.c).order_by(*table.primary_key.columns))
        out[table.name] = [tuple(_day(v) if isinstance(v, date | str) else int(v) for v in row) for row in found]
    return out


async def test_rows_equal_the_ledger_and_the_backfill(store: World) -> None:
    """After the pipeline (which refreshes) nothing is marked and the rows are the ledger's sums;
    the migration's backfill writes the same rows (and the same days of lines)."""

    async def check(conn: AsyncConnection) -> None:
        assert await county_income.marked(conn) == 0
        assert await rows_differing_from_ledger(conn) == []
        before = await _rows(conn)
        assert all(before.values())
        await _split_equals_the_ledger(conn)

        spec = importlib.util.spec_from_file_location("m0039", MIGRATION)
        assert spec is not None and spec.loader is not None
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        await conn.commit()
        try:
            for model in (CountyIncomeDay, CountyIncomeMonth, JournalLineDay):
                await conn.execute(delete(model))
            for statement in migration.backfill_sql(conn.dialect.name == "postgresql"):
                await conn.exec_driver_sql(statement)
            assert await _rows(conn) == before
        finally:
            await conn.rollback()

    await with_conn(store, check)


async def test_changes_are_marked_the_split_stays_exact_and_refresh_rebooks(store: World) -> None:
    """Each change in turn (rolled back at the end): the stale days are marked, the overview's
    split equals the ledger's before any refresh, and after a refresh the rows equal the ledger
    and nothing is marked."""

    async def check(conn: AsyncConnection) -> None:
        credited = (
            select(OrderLine.id)
            .join(LineHouseholdCredit, LineHouseholdCredit.order_line_id == OrderLine.id)
            .where(OrderLine.sku_id.is_not(None), LineHouseholdCredit.credit_fen != 0)
            .group_by(OrderLine.id)
            .order_by(OrderLine.id)
            .limit(4)
        )
        lines = [int(i) for i in await conn.scalars(credited)]
        assert len(lines) == 4
        await conn.commit()

        async def changed(what: str, *, stale: bool = True) -> None:
            if stale:
                await _stale_days_are_marked(conn, what)
            else:  # keyed by SKU: the product is joined at read time, nothing to rebook
                assert await rows_differing_from_ledger(conn) == [], what
            await _split_equals_the_ledger(conn, what)
            if stale:
                assert await refresh(conn) > 0, what
            assert await county_income.marked(conn) == 0, what
            assert await rows_differing_from_ledger(conn) == [], what
            await _split_equals_the_ledger(conn, what)

        try:
            # A line's SKU changes to one of another product.
            line_sku = await conn.scalar(select(OrderLine.sku_id).where(OrderLine.id == lines[0]))
            product = await conn.scalar(select(Sku.product_id).where(Sku.id == line_sku))
            foreign_sku = await conn.scalar(select(Sku.id).where(Sku.product_id != product).limit(1))
            assert foreign_sku is not None
            await conn.execute(update(OrderLine).where(OrderLine.id == lines[0]).values(sku_id=foreign_sku))
            await changed("SKU of a line")
            await conn.execute(update(OrderLine).where(OrderLine.id == lines[1]).values(sku_id=None))
            await changed("a line without SKU")

            # A SKU's product changes: nothing stored is stale, the page follows at once.
            sku = await conn.scalar(select(OrderLine.sku_id).where(OrderLine.id == lines[2]))
            product = await conn.scalar(select(Sku.product_id).where(Sku.id == sku))
            other_product = await conn.scalar(select(Product.id).where(Product.id != product).limit(1))
            await conn.execute(update(Sku).where(Sku.id == sku).values(product_id=other_product))
            await changed("product of a SKU", stale=False)

            # A line moves to a shop of another channel.
            channel = await conn.scalar(
                select(Shop.channel_type).join(OrderLine, OrderLine.shop_id == Shop.id).where(OrderLine.id == lines[3])
            )
            other_shop = await conn.scalar(select(Shop.id).where(Shop.channel_type != channel).limit(1))
            assert other_shop is not None
            await conn.execute(update(OrderLine).where(OrderLine.id == lines[3]).values(shop_id=other_shop))
            await changed("shop of a line")

            # A refund posted on a later day than the line's journals, to a member household.
            member, coop = (
                await conn.execute(select(Household.id, Household.cooperative_id).order_by(Household.id).limit(1))
            ).one()
            last = await conn.scalar(
                select(func.max(JournalLineDay.day)).where(JournalLineDay.order_line_id == lines[2])
            )
            assert last is not None
            later = datetime.combine(_day(last) + timedelta(days=3), datetime.min.time(), UTC) + timedelta(hours=4)
            line_shop = await conn.scalar(select(OrderLine.shop_id).where(OrderLine.id == lines[2]))
            assert line_shop is not None
            legs = (
                Posting(receivable_account(int(line_shop)), -500),
                Posting(retention_account(int(coop)), 200),
                Posting(household_account(int(member)), 300),
            )
            event = f"order-line:{line_shop}:{lines[2]}:v98:refund:1"
            await post(conn, [Journal(journal_uid(event), JournalKind.REFUND, event, later, legs)])
            await changed("refund posted on a later day")

            # A surplus return (not a sale) to two members.
            others = [
                int(h)
                for h in await conn.scalars(select(Household.id).where(Household.cooperative_id == coop).limit(2))
            ]
            when = later + timedelta(days=40)
            event = f"surplus:{coop}:{when.year}"
            surplus = (
                Posting(retention_account(int(coop)), 1_000),
                *(Posting(household_account(h), -500) for h in others),
            )
            await post(conn, [Journal(journal_uid(event), JournalKind.SURPLUS, event, when, surplus)])
            await changed("surplus returned")

            # A new sale of a line, on a new day.
            event = f"order-line:{line_shop}:{lines[2]}:v99:sale"
            sale = tuple(Posting(p.account, -p.amount_fen) for p in legs)
            await post(conn, [Journal(journal_uid(event), JournalKind.SALE, event, when + timedelta(days=1), sale)])
            await changed("a new sale")
        finally:
            await conn.rollback()

    await with_conn(store, check)


async def test_a_stale_row_is_never_read_while_marked(store: World) -> None:
    """A stored day row, then a month row, falsified by hand (as a missed change would leave
    them) show on the page while unmarked, and not while their day (or a day of their month) is
    marked: the reader sums marked days from the ledger."""

    async def check(conn: AsyncConnection) -> None:
        coop_ids = [int(c) for c in await conn.scalars(select(Cooperative.id))]
        everything, _month, days = await _periods(conn)
        await conn.commit()
        try:
            # A day row inside ``days`` (read as days), then a month row (read for ``everything``).
            for model, grain, period in ((CountyIncomeDay, "day", days), (CountyIncomeMonth, "month", everything)):
                column = model.__table__.c[grain]
                when, household = (
                    await conn.execute(
                        select(column, model.household_id)
                        .where(model.shop_id != 0, column >= period.first_day, column <= period.last_day)
                        .limit(1)
                    )
                ).one()
                await conn.execute(
                    update(model).where(column == when, model.household_id == household).values(fen=model.fen + 7)
                )
                assert await rows_differing_from_ledger(conn)
                found = shown(await _income_by_channel_and_product(conn, period, coop_ids))
                assert found != shown(await _income_from_ledger(conn, period, coop_ids)), grain
                await conn.execute(insert(CountyIncomeDirty).values(day=_day(when)))
                await _split_equals_the_ledger(conn, grain)
                assert await refresh(conn) == 1
                assert await rows_differing_from_ledger(conn) == []
        finally:
            await conn.rollback()

    await with_conn(store, check)
