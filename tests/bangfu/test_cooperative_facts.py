"""cooperative_line_facts and household_daily_income, the pre-aggregates the cooperative pages
read (bangfu.line_credits), on the demo county (posted by the pipeline, refunds included): the
tables equal the ledger line by line, household by household and day by day, the migration's
backfill writes the same rows, a journal posted by ``bangfu.ledger.post`` adds to them once, and
every dashboard and the cooperatives' list read from them equal the same pages summed from the
postings."""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import JournalKind, UserRole
from bangfu.ledger import (
    Journal,
    Posting,
    collective_account,
    household_account,
    household_bonus_account,
    journal_uid,
    post,
    receivable_account,
    retention_account,
)
from bangfu.line_credits import (
    FACT_MONEY,
    account_role,
    facts_differing_from_ledger,
    income_differing_from_ledger,
    ledger_facts_query,
    ledger_income_query,
)
from bangfu.models import (
    Cooperative,
    CooperativeLineFact,
    Household,
    HouseholdDailyIncome,
    LedgerAccount,
    LotAllocation,
    OrderLine,
    SupplyLot,
)
from bangfu.queries.cooperatives import account_class, dashboard, fact_days, list_cooperatives, member_income
from bangfu.reports.base import Period, local_midnight
from bangfu.scope import Scope
from tests.bangfu.conftest import with_conn
from tests.web.conftest import World

MIGRATION = Path(__file__).resolve().parents[2] / "bangfu/migrations/versions/0019_cooperative_line_facts.py"


async def _table(conn: AsyncConnection) -> dict[tuple[int, date, int], tuple[int, ...]]:
    fact = CooperativeLineFact
    rows = await conn.execute(
        select(fact.cooperative_id, fact.day, fact.order_line_id, *(fact.__table__.c[n] for n in FACT_MONEY))
    )
    return {(int(c), _day(d), int(li)): tuple(int(v) for v in m) for c, d, li, *m in rows}


async def _income(conn: AsyncConnection) -> dict[tuple[int, date], tuple[int, int]]:
    daily = HouseholdDailyIncome
    rows = await conn.execute(select(daily.household_id, daily.day, daily.trade_fen, daily.surplus_fen))
    return {(int(h), _day(d)): (int(t), int(r)) for h, d, t, r in rows}


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def test_account_roles_by_code() -> None:
    assert account_role("receivable:shop:3") == "receivable"
    assert account_role("fees:shop:3:platform_fee") == "platform_fee"
    assert account_role("fees:platform_fee") == "other"  # LIKE 'fees:%:platform_fee' needs both colons
    assert account_role("fees:shop:3:payment_fee") == "payment_fee"
    assert account_role("fees:shop:3:logistics") == "logistics"
    assert account_role("payable:host:7") == "commission"
    assert account_role("cooperative:2:retained") == "retention"
    assert account_role("collective:2") == "collective"
    assert account_role("household:9:bonus") == "bonus"
    assert account_role("household:9:advance") == "guaranteed"
    assert account_role("household:9") == "rebate"
    assert account_role("supplier:4") == "other"


def test_fact_days_only_for_whole_local_days() -> None:
    whole = Period(local_midnight(date(2026, 9, 1)), local_midnight(date(2026, 10, 1)), "2026-09")
    assert fact_days(whole) == (date(2026, 9, 1), date(2026, 9, 30))
    noon = Period(datetime(2026, 9, 1, 4, tzinfo=UTC), local_midnight(date(2026, 10, 1)), "x")
    assert fact_days(noon) is None


async def test_facts_equal_the_ledger_and_the_backfill(store: World) -> None:
    """Posted by the pipeline (sales, true-ups, refunds), the table is the ledger's sums; the
    account roles agree with the SQL the ledger path books by; the migration's backfill, run
    again on an emptied table (rolled back), writes the very same rows."""

    async def check(conn: AsyncConnection) -> None:
        codes = list(await conn.execute(select(LedgerAccount.code, account_class())))
        assert codes and all(account_role(code) == role for code, role in codes)
        table = await _table(conn)
        refunds = FACT_MONEY.index("refunds")
        assert table and any(m[refunds] for m in table.values()), "the demo has refunds on cooperatives' lines"
        ledger = {
            (int(c), _day(d), int(li)): tuple(int(v) for v in m)
            for c, d, li, *m in await conn.execute(ledger_facts_query(conn))
        }
        assert table == ledger
        assert await facts_differing_from_ledger(conn) == []

        spec = importlib.util.spec_from_file_location("m0019", MIGRATION)
        assert spec is not None and spec.loader is not None
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        postgres = conn.dialect.name == "postgresql"
        credits = ",\n    ".join(
            f"SUM(CASE WHEN l.klass = '{name}' THEN -l.amount_fen ELSE 0 END)"
            for name in FACT_MONEY
            if name not in ("sales", "refunds", "to_non_members")
        )
        sql = migration.BACKFILL.format(
            columns=", ".join(FACT_MONEY),
            day=migration.PG_DAY if postgres else migration.SQLITE_DAY,
            line=migration.PG_LINE if postgres else migration.SQLITE_LINE,
            credits=credits,
            klass=migration.CLASS,
        )
        income = await _income(conn)
        assert income and income == {
            (int(h), _day(d)): (int(t), int(r)) for h, d, t, r in await conn.execute(ledger_income_query(conn))
        }
        assert await income_differing_from_ledger(conn) == []
        await conn.commit()  # ends the reads' transaction; the backfill's is rolled back
        try:
            await conn.execute(delete(CooperativeLineFact))
            await conn.execute(delete(HouseholdDailyIncome))
            await conn.exec_driver_sql(sql)
            await conn.exec_driver_sql(
                migration.INCOME_BACKFILL.format(day=migration.PG_DAY if postgres else migration.SQLITE_DAY)
            )
            assert await _table(conn) == table
            assert await _income(conn) == income
        finally:
            await conn.rollback()

    await with_conn(store, check)


async def test_a_posted_journal_adds_its_legs_once(store: World) -> None:
    """``ledger.post`` books a new line journal into the facts of each cooperative it posts to
    (a household of another cooperative counted as a non-member's share); posting it again
    (``exists``) adds nothing; the reversal counts as a refund. Rolled back."""

    async def check(conn: AsyncConnection) -> None:
        coops = [int(c) for c in await conn.scalars(select(Cooperative.id).order_by(Cooperative.id).limit(2))]
        assert len(coops) == 2
        member = await conn.scalar(select(Household.id).where(Household.cooperative_id == coops[0]).limit(1))
        stranger = await conn.scalar(select(Household.id).where(Household.cooperative_id == coops[1]).limit(1))
        line = (await conn.execute(select(OrderLine.id, OrderLine.shop_id).limit(1))).one()
        assert member is not None and stranger is not None
        at = datetime(2031, 3, 31, 17, 30, tzinfo=UTC)  # 2031-04-01 01:30 in Shanghai
        legs = (
            Posting(receivable_account(line.shop_id), 10_000),
            Posting(retention_account(coops[0]), -3_000),
            Posting(collective_account(coops[0]), -1_000),
            Posting(household_account(member), -4_000),
            Posting(household_bonus_account(stranger), -2_000),
        )
        sale_event = f"order-line:{line.shop_id}:{line.id}:v99:sale"
        refund_event = f"order-line:{line.shop_id}:{line.id}:v99:refund:1"
        sale = Journal(journal_uid(sale_event), JournalKind.SALE, sale_event, at, legs)
        back = Journal(
            journal_uid(refund_event),
            JournalKind.REFUND,
            refund_event,
            at + timedelta(days=1),
            tuple(Posting(p.account, -p.amount_fen // 2) for p in legs),
            reverses_uid=sale.uid,
        )
        key = (coops[0], date(2031, 4, 1), int(line.id))
        await conn.commit()
        try:
            before = await _table(conn)
            before_income = await _income(conn)
            await post(conn, [sale])
            await post(conn, [sale])  # exists: not counted twice
            await post(conn, [back])
            after = await _table(conn)
            added = {k: v for k, v in after.items() if before.get(k) != v}
            expected = dict.fromkeys(FACT_MONEY, 0) | {
                "sales": 10_000,
                "retention": 3_000,
                "collective": 1_000,
                "rebate": 4_000,
                "bonus": 2_000,
                "to_non_members": 2_000,
            }
            refund = dict.fromkeys(FACT_MONEY, 0) | {
                "refunds": 5_000,
                "retention": -1_500,
                "collective": -500,
                "rebate": -2_000,
                "bonus": -1_000,
                "to_non_members": -1_000,
            }
            assert added == {
                key: tuple(expected[n] for n in FACT_MONEY),
                (coops[0], date(2031, 4, 2), int(line.id)): tuple(refund[n] for n in FACT_MONEY),
            }
            assert await facts_differing_from_ledger(conn) == []
            income = await _income(conn)
            assert {k: v for k, v in income.items() if before_income.get(k) != v} == {
                (member, date(2031, 4, 1)): (4_000, 0),
                (stranger, date(2031, 4, 1)): (2_000, 0),
                (member, date(2031, 4, 2)): (-2_000, 0),
                (stranger, date(2031, 4, 2)): (-1_000, 0),
            }
            assert await income_differing_from_ledger(conn) == []
        finally:
            await conn.rollback()

    await with_conn(store, check)


def _periods() -> list[Period]:
    return [Period(local_midnight(date(2020, 1, 1)), local_midnight(date(2040, 1, 1)), "all")]


async def _months(conn: AsyncConnection) -> list[Period]:
    """The local months the demo's cooperative facts fall in, and a ten-day window of the first."""
    days = sorted({d for _c, d, _l in await _table(conn)})
    assert days
    first = days[0].replace(day=1)
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    window = Period(local_midnight(days[0]), local_midnight(days[0] + timedelta(days=10)), "10 days")
    return [Period(local_midnight(first), local_midnight(nxt), f"{first:%Y-%m}"), window]


async def test_dashboards_from_facts_equal_the_ledger(store: World) -> None:
    """Every cooperative's dashboard (totals, by product, lot, channel and session with their line
    counts and links, trend, reconciliation) and the cooperatives' list, for several periods and
    scopes: read from the facts, exactly what summing the postings gives."""

    async def check(conn: AsyncConnection) -> None:
        coops = [int(c) for c in await conn.scalars(select(Cooperative.id).order_by(Cooperative.id))]
        assert len(coops) > 1
        scopes = [
            Scope(role=UserRole.ADMIN, user_id=0),
            Scope(role=UserRole.COOPERATIVE, user_id=0, cooperative_id=coops[0]),
        ]
        compared = 0
        for period in _periods() + await _months(conn):
            assert fact_days(period) is not None
            for scope in scopes:
                assert await list_cooperatives(conn, scope, period) == await list_cooperatives(
                    conn, scope, period, from_ledger=True
                )
                assert await member_income(conn, scope, period) == await member_income(
                    conn, scope, period, from_ledger=True
                )
                # two cooperatives over the whole span, one in the shorter periods (each
                # dashboard costs the household-income report twice: kept cheap)
                chosen = coops[:2] if period.label == "all" else coops[:1]
                for coop in chosen if scope.role == UserRole.ADMIN else coops[:1]:
                    facts = await dashboard(conn, scope, coop, period)
                    ledger = await dashboard(conn, scope, coop, period, from_ledger=True)
                    assert facts is not None and facts == ledger
                    compared += bool(facts.totals.lines)
        assert compared >= 3  # not only empty dashboards
        lots = await conn.scalar(select(func.count()).select_from(CooperativeLineFact))
        assert lots

    await with_conn(store, check)


async def test_a_line_drawn_from_several_lots_is_apportioned_as_from_the_ledger(store: World) -> None:
    """Lines of one cooperative drawn from two or three of its lots (draws added, rolled back):
    the by-lot breakdown from the facts apportions each by units exactly as the ledger path."""

    async def check(conn: AsyncConnection) -> None:
        coop = await conn.scalar(
            select(CooperativeLineFact.cooperative_id)
            .group_by(CooperativeLineFact.cooperative_id)
            .order_by(func.count().desc())
            .limit(1)
        )
        assert coop is not None
        lots = [int(i) for i in await conn.scalars(select(SupplyLot.id).where(SupplyLot.cooperative_id == coop))]
        assert len(lots) >= 2
        lines = sorted(
            {
                int(i)
                for i in await conn.scalars(
                    select(CooperativeLineFact.order_line_id).where(CooperativeLineFact.cooperative_id == coop)
                )
            }
        )[:5]
        period = Period(local_midnight(date(2020, 1, 1)), local_midnight(date(2040, 1, 1)), "all")
        scope = Scope(role=UserRole.ADMIN, user_id=0)
        await conn.commit()
        try:
            rows = [
                {"source_key": f"test-split:{line}:{n}", "order_line_id": line, "lot_id": lot, "quantity": n + i}
                for i, line in enumerate(lines)
                for n, lot in enumerate(lots[: 2 + i % 2], start=1)
            ]
            await conn.execute(insert(LotAllocation), rows)
            facts = await dashboard(conn, scope, coop, period)
            ledger = await dashboard(conn, scope, coop, period, from_ledger=True)
            assert facts is not None and ledger is not None
            assert facts.by_lot == ledger.by_lot
            assert facts == ledger
        finally:
            await conn.rollback()

    await with_conn(store, check)
