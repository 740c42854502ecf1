"""household_line_days, the household statement's pre-aggregate (bangfu.line_credits), on the
demo county (posted by the pipeline: batched sales and refunds; true-ups through the posting
stage in tests/workers/test_household_line_days.py): the table equals the ledger household by
household, day and line, the migration's backfill writes the same rows, a batch books the rows its
journals would, journals posted by ``bangfu.ledger.post`` (a sale, a true-up moving the line to
another household, a partial refund, a surplus return) add exactly their legs once, and the
statement read from the table equals the statement summed from the postings for every period."""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from sqlalchemy import delete, func, select, update
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
    LINE_DAY_VALUES,
    _BatchView,
    _Columns,
    household_line_days_differing_from_ledger,
    ledger_line_days_query,
    line_days_of,
)
from bangfu.models import Cooperative, Household, HouseholdLineDay, LedgerAccount, OrderLine
from bangfu.models import Journal as JournalRow
from bangfu.models import Posting as PostingRow
from bangfu.queries import households as qh
from bangfu.reports.base import SHANGHAI, Period, parse_period
from bangfu.sale_batch import SaleBatch
from bangfu.scope import Scope
from bangfu.split import plan_split, plan_weights
from tests.bangfu.conftest import with_conn
from tests.bangfu.test_sale_batch import batches
from tests.web.conftest import World
from workers.surplus import distribute_surplus

MIGRATION = Path(__file__).resolve().parents[2] / "bangfu/migrations/versions/0047_household_line_days.py"
NOW = datetime(2032, 6, 1, tzinfo=UTC)
Row = tuple[int, ...]


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def table_of(conn: AsyncConnection) -> dict[tuple[int, date, int], Row]:
    days = HouseholdLineDay.__table__.c
    rows = await conn.execute(
        select(days.household_id, days.day, days.order_line_id, *(days[name] for name in LINE_DAY_VALUES))
    )
    return {(int(r[0]), _day(r[1]), int(r[2])): tuple(int(v) for v in r[3:]) for r in rows}


def migration() -> Any:
    spec = importlib.util.spec_from_file_location("m0047", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def periods(first: date, last: date) -> list[Period]:
    """Whole-day periods over [first, last] (the table's) and one that is not (the ledger's)."""
    middle = first + (last - first) // 2
    out = [
        parse_period(None, first.isoformat(), last.isoformat(), now=NOW),
        parse_period(None, first.isoformat(), middle.isoformat(), now=NOW),
        parse_period(None, (middle + timedelta(days=1)).isoformat(), last.isoformat(), now=NOW),
        parse_period(f"{middle:%Y-%m}", now=NOW),
        parse_period(None, middle.isoformat(), middle.isoformat(), now=NOW),
    ]
    whole = out[0]
    out.append(Period(whole.start + timedelta(hours=1), whole.end - timedelta(minutes=30), "not whole days"))
    return out


async def statements_agree(conn: AsyncConnection, household_id: int, period: Period) -> qh.Statement:
    """The statement from the table equals the statement from the postings, row by row (the
    journals count too); returns it."""
    kept = await qh.statement(conn, Scope.admin(), household_id, period)
    ledger = await qh.statement(conn, Scope.admin(), household_id, period, from_ledger=True)
    assert kept is not None and ledger is not None
    assert kept.rows == ledger.rows, (household_id, period.label)
    assert (kept.months, kept.totals) == (ledger.months, ledger.totals)
    return kept


async def journals_agree(
    conn: AsyncConnection, household_id: int, period: Period, *, pages: bool = True
) -> qh.JournalPage:
    """The journals pages from the table equal the pages summed from the postings: the whole list,
    then pages of 1 and 3 at offsets around changes of Shanghai day (a page crossing from
    one day to the next), at the start, the end and past it, each with the count and sums of every
    journal; the page's journals read from its days' journals and from the household's postings
    alike (``DAY_SCAN_FACTOR`` forcing either). Without ``pages``, the whole list alone. Returns
    the whole list from the table."""
    admin = Scope.admin()
    ledger = await qh.household_journals(conn, admin, household_id, period, offset=0, limit=10**9, from_ledger=True)
    assert ledger is not None
    assert (ledger.matched, ledger.totals) == (len(ledger.rows), _sum_legs(ledger.rows))
    days = [r.occurred_at.astimezone(SHANGHAI).date() for r in ledger.rows]
    changes = [i for i in range(1, len(days)) if days[i] != days[i - 1]]
    # The first changes of day, one in the middle and the last (every one of them made this the
    # suite's slowest test on a busy household: thousands of pages, each as good as the next).
    changes = sorted({*changes[:3], *changes[len(changes) // 2 : len(changes) // 2 + 1], *changes[-3:]})
    n = len(ledger.rows)
    offsets = {0, 1, n - 1, n, n + 1, n + 5} | {o for i in changes for o in (i - 2, i - 1, i)}
    past = await qh.household_journals(conn, admin, household_id, period, offset=n + 1, limit=2, from_ledger=True)
    assert past is not None and (past.rows, past.matched, past.totals) == ([], ledger.matched, ledger.totals)
    default = qh.DAY_SCAN_FACTOR
    try:
        for factor in (10**9, 0):  # the days' journals read, then the household's postings
            qh.DAY_SCAN_FACTOR = factor
            whole = await qh.household_journals(conn, admin, household_id, period, offset=0, limit=10**9)
            assert whole is not None
            assert whole.rows == ledger.rows, (household_id, period.label, factor)
            assert (whole.matched, whole.totals) == (ledger.matched, ledger.totals)
            for limit in (1, 3) if pages else ():
                for offset in sorted(o for o in offsets if o >= 0):
                    page = await qh.household_journals(conn, admin, household_id, period, offset=offset, limit=limit)
                    assert page is not None
                    assert page.rows == ledger.rows[offset : offset + limit], (household_id, period.label, offset)
                    assert (page.matched, page.totals) == (ledger.matched, ledger.totals)
    finally:
        qh.DAY_SCAN_FACTOR = default
    assert whole is not None
    return whole


def _sum_legs(rows: list[qh.HouseholdJournal]) -> qh.Legs:
    total = qh.Legs()
    for row in rows:
        total.add(row.legs)
    return total


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batches())
def test_a_batch_books_the_line_days_its_journals_would(batch: Any) -> None:
    """Batched sales (``_BatchView`` over the batch's arrays) book the same rows as their journals
    (:func:`line_days_of`), over three days, for every other line of the batch too."""
    policy, stock, lines = batch
    sales = SaleBatch()
    for n, spec in enumerate(lines):
        spec["occurred_at"] += timedelta(hours=9 * (n % 3))
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
        expected = _Columns.of_line_days(line_days_of([sales.journal(i) for i in indexes]))
        assert _BatchView(sales, indexes).line_days().rows() == expected.rows()


def test_line_days_of_counts_each_journal_once_per_household() -> None:
    at = datetime(2031, 3, 31, 17, 30, tzinfo=UTC)  # 2031-04-01 01:30 in Shanghai
    sale_event = "order-line:1:55:v1:sale"
    sale = Journal(
        journal_uid(sale_event),
        JournalKind.SALE,
        sale_event,
        at,
        (
            Posting(receivable_account(1), 1_000),
            Posting(household_advance_account(7), -100),
            Posting(household_account(7), -500),
            Posting(household_bonus_account(7), -200),
            Posting(household_account(8), -200),
        ),
    )
    refund_event = "order-line:1:55:v1:refund:1"
    refund = Journal(
        journal_uid(refund_event),
        JournalKind.REFUND,
        refund_event,
        at,
        tuple(Posting(p.account, -p.amount_fen // 2) for p in sale.postings),
        reverses_uid=sale.uid,
    )
    day = date(2031, 4, 1)
    assert line_days_of([sale, refund]) == {
        (7, day, 55): (2, 100, 500, 200, -400, 0),
        (8, day, 55): (2, 0, 200, 0, -100, 0),
    }


async def test_the_table_equals_the_ledger_and_the_backfill(store: World) -> None:
    """Posted by the pipeline, the table is the ledger's sums; the statement from it equals the
    statement from the postings for the busiest households over several periods; the migration's
    backfill, run again on an emptied table (rolled back), writes the very same rows, and the
    statement reads the table (emptied, it has no rows)."""

    async def check(conn: AsyncConnection) -> None:
        table = await table_of(conn)
        assert table and any(v[2] > 0 for v in table.values())
        assert any(v[4] < 0 for v in table.values()), "the demo has refunds"
        ledger = {
            (int(r[0]), _day(r[1]), int(r[2])): tuple(int(v) for v in r[3:])
            for r in await conn.execute(ledger_line_days_query(conn))
        }
        assert table == ledger
        assert await household_line_days_differing_from_ledger(conn) == []

        busiest = [
            int(h or 0)
            for (h,) in await conn.execute(
                select(LedgerAccount.owner_id)
                .join(PostingRow, PostingRow.account_id == LedgerAccount.id)
                .where(LedgerAccount.owner_type == "household")
                .group_by(LedgerAccount.owner_id)
                .order_by(func.count().desc(), LedgerAccount.owner_id)
                .limit(3)
            )
        ]
        days = sorted(d for _h, d, _l in table)
        rows = journals = 0
        for household in busiest:
            for k, period in enumerate(periods(days[0], days[-1])):
                rows += len((await statements_agree(conn, household, period)).rows)
                journals += len((await journals_agree(conn, household, period, pages=k == 0)).rows)
        assert rows > 10 and journals > 20

        await conn.commit()  # ends the reads' transaction; the backfill's is rolled back
        try:
            await conn.execute(delete(HouseholdLineDay))
            assert await household_line_days_differing_from_ledger(conn) != []  # the proof sees an empty table
            whole = periods(days[0], days[-1])[0]
            emptied = await qh.statement(conn, Scope.admin(), busiest[0], whole)
            assert emptied is not None and emptied.rows == []  # read from the table
            await conn.exec_driver_sql(migration().backfill_sql(conn.dialect.name))
            assert await table_of(conn) == table
        finally:
            await conn.rollback()

    await with_conn(store, check)


async def test_posted_journals_add_their_legs_once(store: World) -> None:
    """``ledger.post`` books each household's legs of a sale, of a true-up moving the line to a
    household of another cooperative, of a partial refund (in its own Shanghai day and month) and
    of the surplus return (line 0), each journal counted once per household; posting again adds
    nothing. The statements from the table equal the ledger's throughout; a row changed in the
    table changes the statement (it is read). Rolled back."""

    async def check(conn: AsyncConnection) -> None:
        a, b = [int(c) for c in await conn.scalars(select(Cooperative.id).order_by(Cooperative.id).limit(2))]
        member, other = [
            int(h) for h in await conn.scalars(select(Household.id).where(Household.cooperative_id == a).limit(2))
        ]
        stranger = await conn.scalar(select(Household.id).where(Household.cooperative_id == b).limit(1))
        assert stranger is not None
        (l1, shop1), (l2, shop2) = (await conn.execute(select(OrderLine.id, OrderLine.shop_id).limit(2))).all()
        at = datetime(2031, 3, 31, 17, 30, tzinfo=UTC)  # 2031-04-01 01:30 in Shanghai

        def journal(
            event: str, kind: JournalKind, when: datetime, *legs: Posting, reverses: str | None = None
        ) -> Journal:
            return Journal(journal_uid(event), kind, event, when, legs, reverses_uid=reverses)

        sale1 = journal(
            f"order-line:{shop1}:{l1}:v99:sale",
            JournalKind.SALE,
            at,
            Posting(receivable_account(shop1), 10_000),
            Posting(retention_account(a), -3_000),
            Posting(collective_account(a), -1_000),
            Posting(household_account(member), -4_000),
            Posting(household_advance_account(member), -1_000),
            Posting(household_bonus_account(member), -1_000),
        )
        sale2 = journal(
            f"order-line:{shop2}:{l2}:v99:sale",
            JournalKind.SALE,
            at,
            Posting(receivable_account(shop2), 6_000),
            Posting(retention_account(a), -2_000),
            Posting(household_account(member), -2_000),
            Posting(household_advance_account(member), -500),
            Posting(household_account(other), -1_500),
        )
        move = journal(  # the line's lot remapped to another cooperative's household
            f"order-line:{shop1}:{l1}:v100:trueup:moved",
            JournalKind.TRUE_UP,
            datetime(2031, 4, 15, 2, tzinfo=UTC),
            Posting(household_account(member), 4_000),
            Posting(household_advance_account(member), 1_000),
            Posting(household_bonus_account(member), 1_000),
            Posting(retention_account(a), 3_000),
            Posting(collective_account(a), 1_000),
            Posting(retention_account(b), -3_000),
            Posting(collective_account(b), -1_000),
            Posting(household_account(stranger), -6_000),
        )
        refund = journal(
            f"order-line:{shop2}:{l2}:v99:refund:1",
            JournalKind.REFUND,
            datetime(2031, 4, 30, 16, 30, tzinfo=UTC),  # 2031-05-01 00:30 in Shanghai
            *(Posting(p.account, -p.amount_fen // 2) for p in sale2.postings),
            reverses=sale2.uid,
        )
        await conn.commit()
        try:
            before = await table_of(conn)
            await post(conn, [sale1, sale2])
            await post(conn, [sale1])  # exists: not counted twice
            await post(conn, [move, refund])
            after = await table_of(conn)
            added = {k: tuple(x - y for x, y in zip(v, before.get(k, (0,) * 6), strict=True)) for k, v in after.items()}
            april, moved, may = date(2031, 4, 1), date(2031, 4, 15), date(2031, 5, 1)
            assert {k: v for k, v in added.items() if any(v)} == {
                (member, april, l1): (1, 1_000, 4_000, 1_000, 0, 0),
                (member, april, l2): (1, 500, 2_000, 0, 0, 0),
                (other, april, l2): (1, 0, 1_500, 0, 0, 0),
                (member, moved, l1): (1, -1_000, -4_000, -1_000, 0, 0),
                (stranger, moved, l1): (1, 0, 6_000, 0, 0, 0),
                (member, may, l2): (1, 0, 0, 0, -1_250, 0),
                (other, may, l2): (1, 0, 0, 0, -750, 0),
            }
            assert await household_line_days_differing_from_ledger(conn) == []

            await distribute_surplus(conn, a, 2031, occurred_at=datetime(2031, 12, 1, tzinfo=UTC))
            returned = {k: v for k, v in (await table_of(conn)).items() if after.get(k) != v}
            assert returned and all(k[1:] == (date(2031, 12, 1), 0) for k in returned)
            assert all(v[0] == 1 and v[1:5] == (0, 0, 0, 0) and v[5] > 0 for v in returned.values())
            assert member in {k[0] for k in returned}
            assert await household_line_days_differing_from_ledger(conn) == []

            for household in (member, other, stranger):
                for period in periods(date(2031, 3, 20), date(2031, 12, 31)):
                    await statements_agree(conn, household, period)
                    await journals_agree(conn, household, period)
            year = await statements_agree(conn, member, parse_period("2031", now=NOW))
            listed = await journals_agree(conn, member, parse_period("2031", now=NOW))
            # The two sales, the true-up, the refund, then the surplus return of no line.
            assert [r.kind for r in listed.rows] == ["sale", "sale", "true_up", "refund", "surplus"]
            assert {r.line_id for r in listed.rows[:2]} == {l1, l2} and listed.rows[2].line_id == l1
            assert listed.rows[-1].line_id is None and listed.rows[-1].legs.surplus > 0
            assert listed.totals == year.totals
            assert [r.month for r in year.rows][-1] == "2031-12" and year.rows[-1].product == ""
            assert year.totals.refunds == -1_250 and year.totals.surplus == returned[(member, date(2031, 12, 1), 0)][5]
            assert sum(r.journals for r in year.rows) == 5  # two sales, the true-up, the refund, the surplus

            # The statement reads the table: a fen more in a row is a fen more in the statement.
            await conn.execute(
                update(HouseholdLineDay)
                .where(
                    HouseholdLineDay.household_id == member,
                    HouseholdLineDay.day == april,
                    HouseholdLineDay.order_line_id == l1,
                )
                .values(rebate_fen=HouseholdLineDay.rebate_fen + 1)
            )
            tampered = await qh.statement(conn, Scope.admin(), member, parse_period("2031", now=NOW))
            assert tampered is not None and tampered.totals.rebate == year.totals.rebate + 1
            # So do the journals pages: their sums, their count, and where a page starts (the
            # fifth journal is the surplus return; with two more counted in April, the days
            # after April start at the fifth, the true-up).
            await conn.execute(
                update(HouseholdLineDay)
                .where(HouseholdLineDay.household_id == member, HouseholdLineDay.day == april)
                .values(journals=HouseholdLineDay.journals + 1)
            )
            page = await qh.household_journals(conn, Scope.admin(), member, parse_period("2031", now=NOW), offset=4)
            assert page is not None and page.totals.rebate == listed.totals.rebate + 1
            assert page.matched == listed.matched + 2  # two April rows (the two lines)
            assert [r.kind for r in page.rows] == ["true_up", "refund", "surplus"]
            ledger = await qh.household_journals(
                conn, Scope.admin(), member, parse_period("2031", now=NOW), offset=4, from_ledger=True
            )
            assert ledger is not None and [r.kind for r in ledger.rows] == ["surplus"]
            assert await household_line_days_differing_from_ledger(conn) != []
        finally:
            await conn.rollback()

    await with_conn(store, check)


async def test_journal_kinds_in_the_demo(store: World) -> None:
    """The demo store the table is compared on has sales and refunds (the rest is posted above)."""

    async def check(conn: AsyncConnection) -> None:
        kinds = {str(k) for k in await conn.scalars(select(JournalRow.kind).distinct())}
        assert {"sale", "refund"} <= kinds, kinds
        await conn.rollback()

    await with_conn(store, check)
