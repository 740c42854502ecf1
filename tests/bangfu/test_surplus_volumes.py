"""cooperative_household_volumes, the surplus preview's pre-aggregate (bangfu.line_credits), on
the demo county (posted by the pipeline: batched sales and refunds; true-ups in
tests/workers/test_surplus_volumes.py): the table equals
the ledger cooperative by cooperative, month and household, the migration's backfill writes the
same rows, a journal posted by ``bangfu.ledger.post`` adds its rebate and guaranteed legs once
(not the bonus, not a surplus journal), and the surplus plan read from the pre-aggregates equals
the plan summed from the postings for every cooperative and year."""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import JournalKind
from bangfu.journal_rules import SaleLine, build_sale_journal
from bangfu.ledger import (
    Journal,
    Posting,
    collective_account,
    household_account,
    household_advance_account,
    household_bonus_account,
    journal_uid,
    post,
    receivable_account,
    retention_account,
)
from bangfu.line_credits import (
    _BatchView,
    _Columns,
    foreign_retention_differing_from_ledger,
    ledger_volumes_query,
    month_of,
    volumes_differing_from_ledger,
    volumes_of,
)
from bangfu.models import (
    Cooperative,
    CooperativeForeignRetention,
    CooperativeHouseholdVolume,
    Household,
    OrderLine,
)
from bangfu.models import Journal as JournalRow
from bangfu.sale_batch import SaleBatch
from bangfu.split import plan_split, plan_weights
from tests.bangfu.conftest import with_conn
from tests.bangfu.test_sale_batch import batches
from tests.web.conftest import World
from workers.surplus import (
    SurplusError,
    SurplusPlan,
    compute_surplus,
    distribute_surplus,
    kept_figures,
    ledger_figures,
)

MIGRATION = Path(__file__).resolve().parents[2] / "bangfu/migrations/versions/0044_surplus_volumes.py"


async def _table(conn: AsyncConnection) -> dict[tuple[int, date, int], int]:
    volume = CooperativeHouseholdVolume
    rows = await conn.execute(select(volume.cooperative_id, volume.month, volume.household_id, volume.volume_fen))
    return {(int(c), _day(m), int(h)): int(v) for c, m, h, v in rows}


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def _plan(conn: AsyncConnection, coop: int, year: int, *, from_ledger: bool) -> SurplusPlan | str:
    try:
        return await compute_surplus(conn, coop, year, from_ledger=from_ledger)
    except SurplusError as exc:
        return str(exc)


def test_month_of() -> None:
    assert month_of(date(2026, 12, 31)) == date(2026, 12, 1)
    assert month_of(date(2027, 1, 1)) == date(2027, 1, 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batches())
def test_a_batch_books_the_volumes_its_journals_would(batch: Any) -> None:
    """Batched sales (``_BatchView`` over the batch's arrays) book the same volume rows as their
    journals (:func:`volumes_of`), over three months and for every other line of the batch too."""
    policy, stock, lines = batch
    sales = SaleBatch()
    for n, spec in enumerate(lines):
        spec["occurred_at"] += timedelta(days=31 * (n % 3))
        draws = spec.pop("draws")
        line = SaleLine(draws=draws, lots={lot: stock[lot] for lot in draws}, **spec)
        try:
            plan = plan_split(line.draws, line.lots, policy)
        except ValueError:
            continue
        if not plan_weights(plan).plain:
            continue
        build_sale_journal(line, policy, plan)
        sales.add(**spec, plan=plan, plan_key=tuple(sorted(draws.items())))
    for indexes in (list(range(len(sales))), list(range(0, len(sales), 2))):
        if not indexes:
            continue
        expected = _Columns.of_volumes(volumes_of([sales.journal(i) for i in indexes]))
        assert _BatchView(sales, indexes).volumes().rows() == expected.rows()


async def test_volumes_equal_the_ledger_and_the_backfill(store: World) -> None:
    """Posted by the pipeline (sales batched, refunds as journals), the table is the
    ledger's sums; the migration's backfill, run again on an emptied table (rolled back), writes
    the very same rows."""

    async def check(conn: AsyncConnection) -> None:
        kinds = {
            str(k): int(n)
            for k, n in await conn.execute(select(JournalRow.kind, func.count()).group_by(JournalRow.kind))
        }
        assert kinds.get("sale") and kinds.get("refund"), kinds  # true-ups: tests/workers/test_surplus_volumes.py
        table = await _table(conn)
        assert table and any(v > 0 for v in table.values())
        ledger = {(int(c), _day(m), int(h)): int(v) for c, m, h, v in await conn.execute(ledger_volumes_query(conn))}
        assert table == ledger
        assert await volumes_differing_from_ledger(conn) == []
        assert await foreign_retention_differing_from_ledger(conn) == []

        spec = importlib.util.spec_from_file_location("m0044", MIGRATION)
        assert spec is not None and spec.loader is not None
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        postgres = conn.dialect.name == "postgresql"
        sql = migration.BACKFILL.format(month=migration.PG_MONTH if postgres else migration.SQLITE_MONTH)
        await conn.commit()  # ends the reads' transaction; the backfill's is rolled back
        try:
            await conn.execute(delete(CooperativeHouseholdVolume))
            assert await volumes_differing_from_ledger(conn) != []  # the proof sees an empty table
            await conn.exec_driver_sql(sql)
            assert await _table(conn) == table
        finally:
            await conn.rollback()

    await with_conn(store, check)


async def test_the_plan_from_the_pre_aggregates_equals_the_plan_from_the_ledger(store: World) -> None:
    """For every cooperative and every year with journals (and the years around them), the plan
    (distributable surplus, each member's volume, the non-members' volume, every fen of the split)
    or the reason there is none is the same read from the pre-aggregates as summed from the
    postings."""

    async def check(conn: AsyncConnection) -> None:
        coops = [int(c) for c in await conn.scalars(select(Cooperative.id).order_by(Cooperative.id))]
        days = {_day(m) for _c, m, _h in await _table(conn)}
        years = sorted({d.year for d in days} | {min(days).year - 1, max(days).year + 1})
        plans = 0
        for coop in coops:
            for year in years:
                kept = await _plan(conn, coop, year, from_ledger=False)
                ledger = await _plan(conn, coop, year, from_ledger=True)
                assert kept == ledger, (coop, year)
                plans += isinstance(kept, SurplusPlan) and kept.distributable_fen > 0
        assert plans >= 2, "the demo has cooperatives with a surplus to compare"
        await conn.rollback()

    await with_conn(store, check)


async def test_a_posted_journal_adds_its_volumes_once(store: World) -> None:
    """``ledger.post`` books a line journal's rebate and guaranteed legs (not the bonus) for the
    cooperative it posts to, in the Asia/Shanghai month, a household of another cooperative
    included; posting it again adds nothing; the refund takes its part back in its own month;
    a journal that posts to no cooperative adds nothing; the surplus journal adds nothing. The
    plans stay equal throughout. Rolled back."""

    async def check(conn: AsyncConnection) -> None:
        coops = [int(c) for c in await conn.scalars(select(Cooperative.id).order_by(Cooperative.id).limit(2))]
        assert len(coops) == 2
        member = await conn.scalar(select(Household.id).where(Household.cooperative_id == coops[0]).limit(1))
        stranger = await conn.scalar(select(Household.id).where(Household.cooperative_id == coops[1]).limit(1))
        line = (await conn.execute(select(OrderLine.id, OrderLine.shop_id).limit(1))).one()
        assert member is not None and stranger is not None
        at = datetime(2031, 3, 31, 17, 30, tzinfo=UTC)  # 2031-04-01 01:30 in Shanghai
        legs = (
            Posting(receivable_account(line.shop_id), 12_000),
            Posting(retention_account(coops[0]), -3_000),
            Posting(collective_account(coops[0]), -1_000),
            Posting(household_account(member), -4_000),
            Posting(household_advance_account(member), -1_000),
            Posting(household_account(stranger), -1_000),
            Posting(household_bonus_account(stranger), -2_000),
        )
        sale_event = f"order-line:{line.shop_id}:{line.id}:v99:sale"
        refund_event = f"order-line:{line.shop_id}:{line.id}:v99:refund:1"
        sale = Journal(journal_uid(sale_event), JournalKind.SALE, sale_event, at, legs)
        back = Journal(
            journal_uid(refund_event),
            JournalKind.REFUND,
            refund_event,
            datetime(2031, 4, 30, 16, 30, tzinfo=UTC),  # 2031-05-01 00:30 in Shanghai
            tuple(Posting(p.account, -p.amount_fen // 2) for p in legs),
            reverses_uid=sale.uid,
        )
        # A line journal posting to no cooperative's account: no volume.
        other_event = f"order-line:{line.shop_id}:{line.id}:v98:sale"
        other = Journal(
            journal_uid(other_event),
            JournalKind.SALE,
            other_event,
            at,
            (Posting(receivable_account(line.shop_id), 500), Posting(household_account(member), -500)),
        )
        await conn.commit()
        try:
            before = await _table(conn)
            await post(conn, [sale])
            await post(conn, [sale])  # exists: not counted twice
            await post(conn, [back, other])
            after = await _table(conn)
            assert {k: v - before.get(k, 0) for k, v in after.items() if before.get(k) != v} == {
                (coops[0], date(2031, 4, 1), member): 5_000,
                (coops[0], date(2031, 4, 1), stranger): 1_000,
                (coops[0], date(2031, 5, 1), member): -2_500,
                (coops[0], date(2031, 5, 1), stranger): -500,
            }
            assert await volumes_differing_from_ledger(conn) == []
            for coop in coops:
                kept = await _plan(conn, coop, 2031, from_ledger=False)
                assert kept == await _plan(conn, coop, 2031, from_ledger=True)
            plan = await compute_surplus(conn, coops[0], 2031)
            assert plan.distributable_fen == 1_500
            assert {m.household_id: m.volume_fen for m in plan.members}[member] == 2_500
            assert plan.non_member_volume_fen == 500
            # The surplus journal credits the members' rebate accounts: not a line journal.
            await distribute_surplus(conn, coops[0], 2031, occurred_at=datetime(2031, 12, 1, tzinfo=UTC))
            assert await _table(conn) == after
            assert await volumes_differing_from_ledger(conn) == []
        finally:
            await conn.rollback()

    await with_conn(store, check)


async def test_a_year_is_the_asia_shanghai_calendar_year(store: World) -> None:
    """A line journal at 2031-12-31 16:30 UTC is 2032-01-01 in Shanghai: it counts in 2032, from
    the pre-aggregates as from the ledger. Rolled back."""

    async def check(conn: AsyncConnection) -> None:
        coop = await conn.scalar(select(Cooperative.id).order_by(Cooperative.id).limit(1))
        member = await conn.scalar(select(Household.id).where(Household.cooperative_id == coop).limit(1))
        line = (await conn.execute(select(OrderLine.id, OrderLine.shop_id).limit(1))).one()
        assert coop is not None and member is not None
        events = [f"order-line:{line.shop_id}:{line.id}:v9{n}:sale" for n in range(2)]
        journals = [
            Journal(
                journal_uid(event),
                JournalKind.SALE,
                event,
                datetime(2031, 12, 31, 16, 30, tzinfo=UTC) - timedelta(hours=n),  # 00:30 and 23:30 local
                (
                    Posting(receivable_account(line.shop_id), 1_000 * (n + 1)),
                    Posting(retention_account(coop), -300 * (n + 1)),
                    Posting(household_account(member), -700 * (n + 1)),
                ),
            )
            for n, event in enumerate(events)
        ]
        await conn.commit()
        try:
            await post(conn, journals)
            assert await volumes_differing_from_ledger(conn) == []
            for year, retained, volume in ((2031, 600, 1_400), (2032, 300, 700)):
                kept = await compute_surplus(conn, coop, year)
                assert kept == await compute_surplus(conn, coop, year, from_ledger=True)
                assert kept.distributable_fen == retained
                assert {m.household_id: m.volume_fen for m in kept.members}[member] == volume
        finally:
            await conn.rollback()

    await with_conn(store, check)


async def _foreign(conn: AsyncConnection) -> dict[tuple[int, date], int]:
    foreign = CooperativeForeignRetention
    rows = await conn.execute(select(foreign.cooperative_id, foreign.month, foreign.retention_fen))
    return {(int(c), _day(m)): int(v) for c, m, v in rows}


async def test_a_true_up_moving_a_line_to_another_cooperative(store: World) -> None:
    """A true-up that moves a line from one cooperative to another posts to both: each one's
    facts count the other's retention leg, ``cooperative_foreign_retention`` takes it back out,
    so each one's distributable surplus is its own retention account's, as from the ledger; the
    volumes count the journal's households for both; the migration's backfill writes the same
    rows of both tables. Rolled back."""

    async def check(conn: AsyncConnection) -> None:
        a, b = [int(c) for c in await conn.scalars(select(Cooperative.id).order_by(Cooperative.id).limit(2))]
        of_a = await conn.scalar(select(Household.id).where(Household.cooperative_id == a).limit(1))
        of_b = await conn.scalar(select(Household.id).where(Household.cooperative_id == b).limit(1))
        line = (await conn.execute(select(OrderLine.id, OrderLine.shop_id).limit(1))).one()
        assert of_a is not None and of_b is not None
        at = datetime(2031, 6, 10, 2, tzinfo=UTC)
        sale_event = f"order-line:{line.shop_id}:{line.id}:v97:sale"
        sale = Journal(
            journal_uid(sale_event),
            JournalKind.SALE,
            sale_event,
            at,
            (
                Posting(receivable_account(line.shop_id), 10_000),
                Posting(retention_account(a), -5_000),
                Posting(collective_account(a), -1_000),
                Posting(household_account(of_a), -4_000),
            ),
        )
        move_event = f"order-line:{line.shop_id}:{line.id}:v98:trueup:moved"
        move = Journal(
            journal_uid(move_event),
            JournalKind.TRUE_UP,
            move_event,
            at + timedelta(days=30),  # July
            (
                Posting(retention_account(a), 3_000),
                Posting(collective_account(a), 1_000),
                Posting(household_account(of_a), 4_000),
                Posting(retention_account(b), -2_500),
                Posting(collective_account(b), -1_200),
                Posting(household_account(of_b), -4_300),
            ),
        )
        await conn.commit()
        try:
            await post(conn, [sale, move])
            assert await _foreign(conn) == {(a, date(2031, 7, 1)): 2_500, (b, date(2031, 7, 1)): -3_000}
            assert await foreign_retention_differing_from_ledger(conn) == []
            assert await volumes_differing_from_ledger(conn) == []
            figures = {
                a: (2_000, {of_a: 0, of_b: 4_300}),
                b: (2_500, {of_a: -4_000, of_b: 4_300}),
            }
            for coop, (distributable, volumes) in figures.items():
                kept = await kept_figures(conn, coop, 2031)
                ledger = await ledger_figures(conn, coop, 2031)
                assert kept[0] == ledger[0] == distributable
                assert {h: v for h, v in kept[1].items() if v or h in volumes} == volumes
                assert {h: v for h, v in ledger[1].items() if v or h in volumes} == volumes
                assert await _plan(conn, coop, 2031, from_ledger=False) == await _plan(
                    conn, coop, 2031, from_ledger=True
                )

            spec = importlib.util.spec_from_file_location("m0044", MIGRATION)
            assert spec is not None and spec.loader is not None
            migration = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(migration)
            month = migration.PG_MONTH if conn.dialect.name == "postgresql" else migration.SQLITE_MONTH
            volumes_before, foreign_before = await _table(conn), await _foreign(conn)
            await conn.execute(delete(CooperativeHouseholdVolume))
            await conn.execute(delete(CooperativeForeignRetention))
            await conn.exec_driver_sql(migration.BACKFILL.format(month=month))
            await conn.exec_driver_sql(migration.FOREIGN_BACKFILL.format(month=month))
            assert await _table(conn) == volumes_before
            assert await _foreign(conn) == foreign_before
        finally:
            await conn.rollback()

    await with_conn(store, check)
