"""household_monthly_income, the county overview's households-driven pre-aggregate
(bangfu.line_credits), on the demo county (posted by the pipeline: batched sales and refunds):
the table equals the ledger household by household and month, the migration's backfill writes
the same rows, a journal posted by ``bangfu.ledger.post`` adds its household legs in its
Asia/Shanghai month once, and ``income_by_household`` read from the whole months here and the
edge days from ``household_daily_income`` equals the postings' sums for periods cut every way."""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import JournalKind
from bangfu.ledger import Journal, Posting, household_account, journal_uid, post, receivable_account, retention_account
from bangfu.line_credits import (
    income_differing_from_ledger,
    ledger_monthly_income_query,
    monthly_income_differing_from_ledger,
)
from bangfu.models import Cooperative, Household, HouseholdDailyIncome, HouseholdMonthlyIncome, OrderLine
from bangfu.reports.base import Period, local_midnight
from bangfu.reports.households import INCOME_JOURNALS, TRADE_JOURNALS, income_by_household, whole_months
from tests.bangfu.conftest import with_conn
from tests.web.conftest import World

MIGRATION = Path(__file__).resolve().parents[2] / "bangfu/migrations/versions/0048_household_monthly_income.py"


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def _table(conn: AsyncConnection) -> dict[tuple[int, date], tuple[int, int]]:
    m = HouseholdMonthlyIncome
    rows = await conn.execute(select(m.household_id, m.month, m.trade_fen, m.surplus_fen))
    return {(int(h), _day(mo)): (int(t), int(s)) for h, mo, t, s in rows}


def _period(first: date, last: date) -> Period:
    return Period(local_midnight(first), local_midnight(last + timedelta(days=1)), f"{first}~{last}")


def test_whole_months() -> None:
    d = date
    assert whole_months(d(2026, 9, 1), d(2026, 10, 31)) == ((d(2026, 9, 1), d(2026, 11, 1)), [])
    assert whole_months(d(2026, 9, 2), d(2026, 10, 30)) == (None, [(d(2026, 9, 2), d(2026, 10, 30))])
    assert whole_months(d(2026, 9, 2), d(2026, 11, 3)) == (
        (d(2026, 10, 1), d(2026, 11, 1)),
        [(d(2026, 9, 2), d(2026, 9, 30)), (d(2026, 11, 1), d(2026, 11, 3))],
    )
    assert whole_months(d(2026, 12, 1), d(2027, 1, 15)) == (
        (d(2026, 12, 1), d(2027, 1, 1)),
        [(d(2027, 1, 1), d(2027, 1, 15))],
    )
    assert whole_months(d(2026, 12, 31), d(2026, 12, 31)) == (None, [(d(2026, 12, 31), d(2026, 12, 31))])
    assert whole_months(d(2028, 2, 1), d(2028, 2, 29)) == ((d(2028, 2, 1), d(2028, 3, 1)), [])


async def test_months_equal_the_ledger_and_the_backfill(store: World) -> None:
    """Posted by the pipeline (sales batched, refunds as journals), the table is the ledger's
    sums per household and month; the migration's backfill, run again on an emptied table
    (rolled back), writes the very same rows."""

    async def check(conn: AsyncConnection) -> None:
        table = await _table(conn)
        assert table and any(t > 0 for t, _s in table.values())
        assert len({m for _h, m in table}) >= 2, "the demo's income spans months"
        ledger = {
            (int(h), _day(m)): (int(t), int(s)) for h, m, t, s in await conn.execute(ledger_monthly_income_query(conn))
        }
        assert table == ledger
        assert await monthly_income_differing_from_ledger(conn) == []

        spec = importlib.util.spec_from_file_location("m0048", MIGRATION)
        assert spec is not None and spec.loader is not None
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        postgres = conn.dialect.name == "postgresql"
        sql = migration.BACKFILL.format(month=migration.PG_MONTH if postgres else migration.SQLITE_MONTH)
        await conn.commit()  # ends the reads' transaction; the backfill's is rolled back
        try:
            await conn.execute(delete(HouseholdMonthlyIncome))
            assert await monthly_income_differing_from_ledger(conn) != []  # the proof sees an empty table
            await conn.exec_driver_sql(sql)
            assert await _table(conn) == table
        finally:
            await conn.rollback()

    await with_conn(store, check)


async def test_a_posted_journal_adds_its_months_once(store: World) -> None:
    """``ledger.post`` books a line journal's household legs in the Asia/Shanghai month (the
    last UTC evening of March is April there), a second post of it adds nothing, its refund
    takes its part back in its own month. Rolled back."""

    async def check(conn: AsyncConnection) -> None:
        coop = await conn.scalar(select(Cooperative.id).order_by(Cooperative.id).limit(1))
        member = await conn.scalar(select(Household.id).where(Household.cooperative_id == coop).limit(1))
        line = (await conn.execute(select(OrderLine.id, OrderLine.shop_id).limit(1))).one()
        assert coop is not None and member is not None
        legs = (
            Posting(receivable_account(line.shop_id), 10_000),
            Posting(retention_account(coop), -3_000),
            Posting(household_account(member), -7_000),
        )
        sale_event = f"order-line:{line.shop_id}:{line.id}:v99:sale"
        refund_event = f"order-line:{line.shop_id}:{line.id}:v99:refund:1"
        sale = Journal(
            journal_uid(sale_event), JournalKind.SALE, sale_event, datetime(2031, 3, 31, 17, 30, tzinfo=UTC), legs
        )
        back = Journal(
            journal_uid(refund_event),
            JournalKind.REFUND,
            refund_event,
            datetime(2031, 4, 30, 16, 30, tzinfo=UTC),  # 2031-05-01 00:30 in Shanghai
            tuple(Posting(p.account, -p.amount_fen // 2) for p in legs),
            reverses_uid=sale.uid,
        )
        await conn.commit()
        try:
            before = await _table(conn)
            await post(conn, [sale])
            await post(conn, [sale])  # exists: not counted twice
            await post(conn, [back])
            after = await _table(conn)
            assert {k: (v[0] - before.get(k, (0, 0))[0], v[1]) for k, v in after.items() if before.get(k) != v} == {
                (member, date(2031, 4, 1)): (7_000, 0),
                (member, date(2031, 5, 1)): (-3_500, 0),
            }
            assert await monthly_income_differing_from_ledger(conn) == []
            april = _period(date(2031, 4, 1), date(2031, 5, 31))
            assert (await income_by_household(conn, april, cooperative_ids=[coop]))[member] == {
                "2031-04": 7_000,
                "2031-05": -3_500,
            }
        finally:
            await conn.rollback()

    await with_conn(store, check)


async def _periods(conn: AsyncConnection) -> list[Period]:
    first, last = (
        _day(d)
        for d in (
            await conn.execute(select(func.min(HouseholdDailyIncome.day), func.max(HouseholdDailyIncome.day)))
        ).one()
    )
    start = first.replace(day=1)
    end = (last.replace(day=1) + timedelta(days=31)).replace(day=1) - timedelta(days=1)
    return [
        _period(start, end),  # whole months only
        _period(first, last),  # the data's own days: edges in the first and last month
        _period(start + timedelta(days=3), end),  # an edge at the start only
        _period(start, end - timedelta(days=2)),  # an edge at the end only
        _period(first + timedelta(days=1), first + timedelta(days=5)),  # inside one month
        _period(start - timedelta(days=400), end + timedelta(days=400)),  # whole months around it
    ]


async def test_the_reader_equals_the_ledger_for_any_cut(store: World) -> None:
    """Read from whole months and edge days, the income per household and month equals the
    postings' sums for every kind set, cooperative filter and period cut."""

    async def check(conn: AsyncConnection) -> None:
        coops = [int(c) for c in await conn.scalars(select(Cooperative.id).order_by(Cooperative.id))]
        for period in await _periods(conn):
            for kinds in (INCOME_JOURNALS, TRADE_JOURNALS, (JournalKind.SURPLUS,)):
                for where in ({}, {"cooperative_ids": coops[:1]}, {"cooperative_id": coops[-1]}):
                    kept = await income_by_household(conn, period, kinds=kinds, **where)
                    ledger = await income_by_household(conn, period, kinds=kinds, from_ledger=True, **where)
                    assert kept == ledger, (period.label, kinds, where)
        assert await income_by_household(conn, (await _periods(conn))[0])
        await conn.rollback()

    await with_conn(store, check)


async def test_the_reader_reads_the_months_and_the_edge_days(store: World) -> None:
    """One fen more on every monthly row shows in a whole-month period and not in a period
    inside one month; one fen more on every day row shows in the period inside one month and not
    in the whole-month one (so whole months come from the monthly rows, edges from the day
    rows). Rolled back."""

    async def check(conn: AsyncConnection) -> None:
        periods = await _periods(conn)
        whole, inside = periods[0], periods[4]
        before = {p.label: await income_by_household(conn, p) for p in (whole, inside)}
        await conn.commit()
        try:
            await conn.execute(update(HouseholdMonthlyIncome).values(trade_fen=HouseholdMonthlyIncome.trade_fen + 1))
            assert await income_by_household(conn, whole) != before[whole.label]
            assert await income_by_household(conn, inside) == before[inside.label]
            assert await monthly_income_differing_from_ledger(conn) != []
            await conn.rollback()
            await conn.execute(update(HouseholdDailyIncome).values(trade_fen=HouseholdDailyIncome.trade_fen + 1))
            assert await income_by_household(conn, whole) == before[whole.label]
            assert await income_by_household(conn, inside) != before[inside.label]
            assert await income_differing_from_ledger(conn) != []
        finally:
            await conn.rollback()

    await with_conn(store, check)
