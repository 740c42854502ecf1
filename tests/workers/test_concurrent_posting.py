"""Two workers posting at once (PostgreSQL): every journal once, the ledger of one worker.

Found by ``bench/attribution.py --lines 100000 --workers 2``: a worker crashed in
``post_refunds`` with "journal ... already posted with different content". Its select of due
refunds took its snapshot, another worker folded one of them and committed, and only then did
the select lock the line's state row. ``SELECT ... FOR UPDATE SKIP LOCKED`` hands back the newest
version of the locked row (the refunded part already moved on), but the joined refund and the
``NOT EXISTS`` over ``refund_postings`` are judged by the old snapshot: the refund looked
unposted, so it was folded a second time, from the new refunded part, into different legs
under the same journal uid.

The first test forces that interleaving deterministically: a row-level security policy on
``refunds`` makes the second worker's scan wait on an advisory lock the test holds (its
snapshot already taken) while the first worker folds the refund and commits. The second runs
two workers over many lines with small batches and compares the ledger, posting by posting,
with a single worker's run on a clone of the same database.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from fractions import Fraction
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bangfu.enums import HouseholdCategory, JournalKind
from bangfu.models import Journal, LedgerAccount, LineAccounting, Order, OrderLine, Posting, Refund, RefundPosting
from bangfu.store import make_engine
from tests.conftest import PgServer, _asyncpg_dsn
from tests.workers.accounting_seed import (
    PAID_AT,
    World,
    add_household,
    add_lot,
    add_order,
    add_refund,
    attribute,
    draw,
    seed,
)
from workers.posting import PostingStats, discover, post_lines, post_refunds
from workers.verify import verify

ON_POSTGRESQL = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

GATE_KEY = 4242  # the advisory lock the gated scan waits on


# A scan of ``table`` by a transaction that set ``bangfu.test_gate`` waits until the test
# releases GATE_KEY; everyone else reads as usual. The owner creates it; the hub's role is subject
# to it (row-level security does not apply to the table's owner).
def gate_sql(table: str) -> list[str]:
    return [
        f"""
        CREATE FUNCTION test_gate() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            IF current_setting('bangfu.test_gate', true) = 'wait' THEN
                PERFORM pg_advisory_lock_shared({GATE_KEY});
                PERFORM pg_advisory_unlock_shared({GATE_KEY});
            END IF;
            RETURN true;
        END $$
        """,
        f"CREATE POLICY test_gate ON {table} USING (test_gate())",
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
    ]


# Every scan of a refund row takes a moment (for everyone): the time between a select's snapshot
# and its row locks, microseconds on a tiny table, becomes what it is on a store of 100,000 lines.
SLOW_SQL = [
    """
    CREATE FUNCTION test_slow() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
        PERFORM pg_sleep(0.0005);
        RETURN true;
    END $$
    """,
    "CREATE POLICY test_slow ON refunds USING (test_slow())",
    "ALTER TABLE refunds ENABLE ROW LEVEL SECURITY",
]


async def _owner(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(_asyncpg_dsn(url), timeout=5)


async def _line(conn: AsyncConnection, world: World, lot: int, paid: int) -> tuple[str, int]:
    order, (line,) = await add_order(conn, world, [(world.coop_sku, 1, paid)])
    await discover(conn)
    await attribute(conn, world, line, world.host if paid % 2 else None)
    await draw(conn, line, lot, 1)
    return order, line


async def _refunded_lines(engine: AsyncEngine, count: int) -> None:
    """``count`` paid lines, drawn and attributed, each with a refund of about a third (every third
    line a second one of about a quarter, later); nothing posted yet."""
    async with engine.begin() as conn:
        world = await seed(conn)
        households = [await add_household(conn, world, HouseholdCategory.LIFTED) for _ in range(3)]
        lots = [
            await add_lot(conn, world, [(households[0], 40, "A", 2000), (households[1], 30, "B", 1500)])
            for _ in range(count // 60 + 1)
        ]
        for index in range(count):
            paid = 9_999 + 37 * index
            order, line = await _line(conn, world, lots[index // 60], paid)
            await add_refund(conn, world, order, line, amount=paid // 3, at=PAID_AT.replace(day=5))
            if index % 3 == 0:
                await add_refund(conn, world, order, line, amount=paid // 4, at=PAID_AT.replace(day=6))


async def _pass(engine: AsyncEngine, limit: int) -> PostingStats:
    """One worker pass as the pipeline runs it: lines, then refunds, each in its own transaction."""
    total = PostingStats()
    async with engine.begin() as conn:
        total += await post_lines(conn, limit=limit)
    async with engine.begin() as conn:
        total += await post_refunds(conn, limit=limit)
    return total


async def _until_idle(engine: AsyncEngine, limit: int) -> PostingStats:
    total = PostingStats()
    while True:
        stats = await _pass(engine, limit)
        total += stats
        if not stats.progress:
            return total


LEDGER_MD5 = text(
    "SELECT count(DISTINCT j.uid), count(*), "
    "md5(string_agg(j.uid || ' ' || a.code || ' ' || p.amount_fen, ';' ORDER BY j.uid, a.code)) "
    "FROM journals j JOIN postings p ON p.journal_id = j.id JOIN ledger_accounts a ON a.id = p.account_id"
)


async def _ledger(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        journals, postings, digest = (await conn.execute(LEDGER_MD5)).one()
        by_source = await conn.scalar(select(func.count(func.distinct(Journal.source_event))))
        refunds = await conn.scalar(select(func.count()).select_from(Refund))
        folded = await conn.scalar(select(func.count()).select_from(RefundPosting))
        report = await verify(conn)
    assert report.ok, report.as_dict()
    assert by_source == journals  # each journal once
    return {"journals": journals, "postings": postings, "md5": digest, "refunds": refunds, "folded": folded}


@pytest.fixture
async def engines(db_url: str) -> AsyncIterator[Callable[[], AsyncEngine]]:
    """Engines of their own (a worker's connection pool each), disposed at the end."""
    made: list[AsyncEngine] = []

    def make() -> AsyncEngine:
        made.append(make_engine(db_url))
        return made[-1]

    yield make
    for engine in made:
        await engine.dispose()


async def _wait_for_gate(owner: asyncpg.Connection) -> None:
    """Until a transaction waits on the gate's advisory lock (its scan has begun)."""
    for _ in range(500):
        waiting = await owner.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted", GATE_KEY
        )
        if waiting:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the gated worker never reached the gated table")


async def _gated(
    engine: AsyncEngine, owner: asyncpg.Connection, work: Callable[[AsyncConnection], Awaitable[PostingStats]]
) -> tuple[asyncio.Task[PostingStats], Callable[[], Awaitable[None]]]:
    """Start ``work`` in a transaction whose scans of the gated table wait; returns the
    task and the function that opens the gate."""
    await owner.execute("SELECT pg_advisory_lock($1)", GATE_KEY)

    async def run() -> PostingStats:
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL bangfu.test_gate = 'wait'"))
            return await work(conn)

    task = asyncio.create_task(run())
    await _wait_for_gate(owner)

    async def release() -> None:
        await owner.execute("SELECT pg_advisory_unlock($1)", GATE_KEY)

    return task, release


@ON_POSTGRESQL
async def test_a_refund_folded_while_another_worker_reads_it_is_folded_once(
    owner_db_url: str, engines: Callable[[], AsyncEngine]
) -> None:
    """Worker B's select of due refunds has its snapshot when worker A folds the refund and
    commits; B then locks the line's state row. B must fold nothing: before the fix it folded the
    refund again from the moved refunded part (a journal uid with different content, or a second
    ``refund_postings`` row)."""
    first, second = engines(), engines()
    async with first.begin() as conn:
        world = await seed(conn)
        order, line = await _line(conn, world, world.lots[0], 10_000)
        await add_refund(conn, world, order, line, amount=3_333)
    async with first.begin() as conn:
        assert (await post_lines(conn)).sales == 1
    owner = await _owner(owner_db_url)
    try:
        for statement in gate_sql("refunds"):
            await owner.execute(statement)
        task, release = await _gated(second, owner, lambda conn: post_refunds(conn))
        async with first.begin() as conn:  # worker A: folds the refund and commits
            assert (await post_refunds(conn)).refund_journals == 1
        await release()
        late = await asyncio.wait_for(task, 30)  # worker B: raised here before the fix
    finally:
        await owner.close()
    assert (late.refunds, late.refund_journals, late.failed) == (0, 0, 0)
    async with first.connect() as conn:
        kinds = (await conn.execute(select(Journal.kind).order_by(Journal.id))).scalars().all()
        state = (await conn.execute(select(LineAccounting).where(LineAccounting.order_line_id == line))).one()
        folded = await conn.scalar(select(func.count()).select_from(RefundPosting))
    assert kinds == [JournalKind.SALE, JournalKind.REFUND]
    assert folded == 1
    assert Fraction(state.refunded_num, state.refunded_den) == Fraction(3_333, 10_000)
    await _ledger(first)


@ON_POSTGRESQL
async def test_folding_refunds_skips_a_line_another_stage_holds_instead_of_deadlocking(
    engines: Callable[[], AsyncEngine],
) -> None:
    """Attribution locks a line's ``order_lines`` row and then bumps its state row. Folding the
    line's refund locked the state row and then waited for the line (the foreign key check of
    its ``refund_postings`` row): a deadlock between two workers (bench --workers 2). Now the
    fold skips the line while another stage holds it, and folds it once that one commits."""
    first, second = engines(), engines()
    async with first.begin() as conn:
        world = await seed(conn)
        order, line = await _line(conn, world, world.lots[0], 10_000)
        await add_refund(conn, world, order, line, amount=2_500)
    async with first.begin() as conn:
        assert (await post_lines(conn)).sales == 1

    async def fold() -> PostingStats:
        async with first.begin() as conn:
            return await post_refunds(conn)

    async with second.connect() as other:  # the attribution stage of another worker
        await other.execute(select(OrderLine.id).where(OrderLine.id == line).with_for_update(skip_locked=True))
        folding = asyncio.create_task(fold())
        await asyncio.sleep(0.5)  # before the fix: folding now waits for the line
        await other.execute(
            update(LineAccounting)
            .where(LineAccounting.order_line_id == line)
            .values(input_rev=LineAccounting.input_rev + 1)
        )
        await other.commit()
    assert (await asyncio.wait_for(folding, 30)).refunds == 0
    assert (await _until_idle(first, 100)).refunds == 1
    await _ledger(first)


@ON_POSTGRESQL
async def test_a_line_changed_while_another_worker_reads_it_is_posted_with_its_new_amount(
    owner_db_url: str, engines: Callable[[], AsyncEngine]
) -> None:
    """Worker B's select of due lines has its snapshot (a posted line, re-attributed, so due)
    when the sync stores a new version of the line (8,000 fen instead of 10,000) and worker A's
    discovery bumps its state row and commits. Before the fix B then locked that bumped row
    joined to the old line and marked the line posted at the new version with 10,000 fen, for
    good; now B reads the line after locking its row, and the ledger holds 8,000."""
    first, second = engines(), engines()
    async with first.begin() as conn:
        world = await seed(conn)
        order, line = await _line(conn, world, world.lots[0], 10_001)
    async with first.begin() as conn:
        assert (await post_lines(conn)).sales == 1
    async with first.begin() as conn:
        await attribute(conn, world, line, None)  # re-attributed: due again
    owner = await _owner(owner_db_url)
    try:
        for statement in gate_sql("order_lines"):
            await owner.execute(statement)
        task, release = await _gated(second, owner, lambda conn: post_lines(conn, discovery=False))
        async with first.begin() as conn:  # the sync: a new version of the line
            await conn.execute(
                update(OrderLine)
                .where(OrderLine.id == line)
                .values(paid_fen=8_000, unit_price_fen=8_000, version=OrderLine.version + 1)
            )
            await conn.execute(update(Order).where(Order.platform_order_id == order).values(paid_fen=8_000))
        async with first.begin() as conn:  # worker A's discovery (B's lock, if taken, is skipped)
            await discover(conn)
        await release()
        await asyncio.wait_for(task, 30)
    finally:
        await owner.close()
    await _until_idle(first, 100)
    async with first.connect() as conn:
        held = await conn.scalar(
            select(func.sum(Posting.amount_fen))
            .join(Journal, Journal.id == Posting.journal_id)
            .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
            .where(Journal.source_event.like(f"order-line:%:{line}:%"), LedgerAccount.code.like("receivable:%"))
        )
    assert held == 8_000
    await _ledger(first)


@pytest.mark.slow
@ON_POSTGRESQL
async def test_two_workers_posting_at_once_leave_the_ledger_one_worker_leaves(
    db_url: str, owner_db_url: str, pg_server: PgServer, engines: Callable[[], AsyncEngine]
) -> None:
    """120 lines with 160 refunds, posted by two workers at once in batches of 3 (lines and
    refunds interleaving as in the pipeline; scans of refunds slowed down), and by one worker on
    a clone made before: no
    error, each journal once, every refund folded once, and the same postings (md5 over uid,
    account code and amount)."""
    seeding = engines()
    await _refunded_lines(seeding, 120)
    await seeding.dispose()
    database = make_url(db_url).database
    assert database is not None
    clone = await pg_server.create(template=database)
    single = make_engine(pg_server.app_url(clone))
    try:
        await _until_idle(single, 3)
        expected = await _ledger(single)
    finally:
        await single.dispose()
        await pg_server.drop(clone)

    owner = await _owner(owner_db_url)
    try:
        for statement in SLOW_SQL:
            await owner.execute(statement)
    finally:
        await owner.close()
    results = await asyncio.gather(_until_idle(engines(), 3), _until_idle(engines(), 3), return_exceptions=True)
    errors = [result for result in results if isinstance(result, BaseException)]
    assert not errors, errors
    stats = [result for result in results if isinstance(result, PostingStats)]
    assert sum(s.sales for s in stats) == 120
    assert sum(s.refunds for s in stats) == 160
    assert all(s.failed == 0 for s in stats)
    got = await _ledger(engines())
    assert got == expected
    assert (got["refunds"], got["folded"]) == (160, 160)
    assert got["journals"] == 120 + 160


@pytest.mark.postgres
def test_the_bench_exits_with_a_failed_workers_error_instead_of_waiting(pg_server: PgServer) -> None:
    """``bench/attribution.py --workers 2`` hung for good once a worker had died: its parent waited
    for results that never came. Now the first failure stops the others and exits non-zero with
    the worker's traceback."""
    from bench.attribution import run_workers

    url = pg_server.url(f"bangfu_absent_{uuid.uuid4().hex[:8]}")
    started = time.monotonic()
    with pytest.raises(SystemExit) as failed:
        run_workers(url, 2)
    assert time.monotonic() - started < 60
    assert "a bench worker failed" in str(failed.value) and "does not exist" in str(failed.value)
