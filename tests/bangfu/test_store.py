"""The schema on both back ends: migrations, types, idempotency keys and ledger guards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, insert, inspect, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bangfu.enums import AccountKind, ChannelType, JournalKind, OrderStatus, PlatformKind
from bangfu.ledger import journal_uid
from bangfu.models import Base, Journal, LedgerAccount, Order, Posting, Shop, schema_comparison_filter
from bangfu.store import current_revision, head_revision, make_engine, upgrade


async def test_migrations_create_every_table_and_are_idempotent(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        assert await current_revision(engine) is None
        await upgrade(engine)
        await upgrade(engine)  # a second run is a no-op
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            # The migration and the models agree: nothing left for autogenerate to add.
            from alembic.autogenerate import compare_metadata
            from alembic.runtime.migration import MigrationContext

            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(
                        c, opts={"compare_type": True, "include_object": schema_comparison_filter(c.dialect.name)}
                    ),
                    Base.metadata,
                )
            )
    finally:
        await engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert diff == []


async def _shop(session: AsyncSession, shop_id: str = "s1") -> Shop:
    shop = Shop(
        name="测试店",
        platform=PlatformKind.DOUYIN,
        channel_type=ChannelType.LIVE,
        platform_shop_id=shop_id,
        settings={},
    )
    session.add(shop)
    await session.flush()
    return shop


def _order(shop: Shop, platform_order_id: str, when: datetime) -> Order:
    return Order(
        shop_id=shop.id,
        platform_order_id=platform_order_id,
        status=OrderStatus.PAID,
        platform_status="2",
        created_at=when,
        modified_at=when,
        paid_fen=12345,
        raw={"order_id": platform_order_id, "金额": 12345},
    )


async def test_times_come_back_aware_utc_and_money_exact(sessions: async_sessionmaker[AsyncSession]) -> None:
    shanghai = timezone(timedelta(hours=8))
    when = datetime(2026, 4, 19, 15, 10, 0, tzinfo=shanghai)
    async with sessions() as session, session.begin():
        shop = await _shop(session)
        order = _order(shop, "A1", when)
        order.paid_fen = 9_007_199_254_740_993  # beyond float precision: must survive exactly
        session.add(order)
    async with sessions() as session:
        stored = await session.scalar(select(Order))
    assert stored is not None
    assert stored.created_at == when and stored.created_at.tzinfo is not None
    assert stored.created_at.utcoffset() == timedelta(0)
    assert stored.paid_fen == 9_007_199_254_740_993
    assert stored.status is OrderStatus.PAID
    assert stored.raw == {"order_id": "A1", "金额": 12345}


async def test_naive_datetimes_are_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        shop = await _shop(session)
        session.add(_order(shop, "A1", datetime(2026, 1, 1)))
        with pytest.raises(Exception, match="naive datetime"):
            await session.flush()


async def test_shop_and_platform_id_is_an_idempotency_key(sessions: async_sessionmaker[AsyncSession]) -> None:
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        shop = await _shop(session)
        other = await _shop(session, "s2")
        session.add_all([_order(shop, "A1", now), _order(other, "A1", now)])  # same id, other shop: fine
    async with sessions() as session:
        shop_id = await session.scalar(select(Shop.id).where(Shop.platform_shop_id == "s1"))
        session.add(
            Order(
                shop_id=shop_id,
                platform_order_id="A1",
                status=OrderStatus.PAID,
                platform_status="x",
                created_at=now,
                modified_at=now,
                paid_fen=1,
            )
        )
        with pytest.raises(IntegrityError):
            await session.flush()


async def _accounts(session: AsyncSession) -> tuple[LedgerAccount, LedgerAccount]:
    receivable = LedgerAccount(code="receivable:shop:1", name="应收", kind=AccountKind.ASSET)
    household = LedgerAccount(code="household:1", name="农户", kind=AccountKind.LIABILITY)
    session.add_all([receivable, household])
    await session.flush()
    return receivable, household


async def _journal(session: AsyncSession, number: int) -> Journal:
    """An empty sale journal, flushed (its id known); its chain hash is not what the chain
    would give (these tests are about the row guards, not the chain)."""
    source = f"order-line:1:{number}:v1:sale"
    journal = Journal(
        uid=journal_uid(source),
        kind=JournalKind.SALE,
        source_event=source,
        occurred_at=datetime.now(UTC),
        chain_hash="0" * 64,
    )
    session.add(journal)
    await session.flush()
    return journal


async def _post_legs(session: AsyncSession, journal_id: int, legs: list[tuple[int, int]]) -> None:
    """A journal's postings, written as the ledger store writes them: all in one statement."""
    rows = [{"journal_id": journal_id, "account_id": account, "amount_fen": amount} for account, amount in legs]
    await session.execute(insert(Posting).values(rows))


async def test_ledger_rows_cannot_be_updated_or_deleted(
    sessions: async_sessionmaker[AsyncSession], owner_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The triggers refuse even the owner; the hub's role (PostgreSQL) lacks the privilege at all."""
    async with sessions() as session, session.begin():
        receivable, household = await _accounts(session)
        journal = await _journal(session, 1)
        await _post_legs(session, journal.id, [(receivable.id, 500), (household.id, -500)])
    for statement in (
        update(Posting).values(amount_fen=1),
        text("DELETE FROM postings"),
        update(Journal).values(memo="edited"),
        text("DELETE FROM journals"),
    ):
        async with owner_sessions() as session:
            with pytest.raises(DBAPIError, match="append-only"):
                await session.execute(statement)
        async with sessions() as session:
            with pytest.raises(DBAPIError, match=r"append-only|permission denied"):
                await session.execute(statement)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_postgres_refuses_an_unbalanced_journal(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        receivable, household = await _accounts(session)
        await session.commit()
    async with sessions() as session:
        journal = await _journal(session, 2)
        # Checked per statement: the insert of the postings itself is refused.
        with pytest.raises(DBAPIError, match="unbalanced: 2 legs summing to 1 fen"):
            await _post_legs(session, journal.id, [(receivable.id, 500), (household.id, -499)])
    async with sessions() as session:
        assert (await session.scalar(select(Journal.id))) is None


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_postgres_refuses_a_journal_left_without_legs_at_commit(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        await _journal(session, 3)  # deferred: only the commit checks
        with pytest.raises(DBAPIError, match="unbalanced: 0 legs"):
            await session.commit()


async def test_postings_to_a_posted_journal_or_unknown_rows_are_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """What the foreign keys and the per-row balance trigger guarded, the set-based checks still do."""
    async with sessions() as session, session.begin():
        receivable, household = await _accounts(session)
        journal = await _journal(session, 4)
        await _post_legs(session, journal.id, [(receivable.id, 500), (household.id, -500)])
        ids = journal.id, receivable.id
    journal_id, account_id = ids
    later = LedgerAccount(code="household:2", name="农户", kind=AccountKind.LIABILITY)
    async with sessions() as session:
        session.add(later)
        await session.flush()
        session.add(Posting(journal_id=journal_id, account_id=later.id, amount_fen=-1))
        # SQLite relies on the ledger store's own balance check; PostgreSQL refuses the statement.
        if session.get_bind().dialect.name == "postgresql":
            with pytest.raises(DBAPIError, match=f"journal {journal_id} is unbalanced: 3 legs summing to -1 fen"):
                await session.flush()
    for posting, error in (
        (Posting(journal_id=journal_id + 100, account_id=account_id, amount_fen=1), "journal"),
        (Posting(journal_id=journal_id, account_id=account_id + 100, amount_fen=1), "account"),
    ):
        async with sessions() as session:
            session.add(posting)
            with pytest.raises(DBAPIError, match=f"posting to (an? )?{error} .*does not exist"):
                await session.flush()
    async with sessions() as session:
        with pytest.raises(DBAPIError, match=r"append-only|permission denied"):
            await session.execute(text("DELETE FROM ledger_accounts"))
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Posting)) == 2


async def test_no_sqlite_trigger_is_lost_by_a_later_migration(tmp_path: Any) -> None:
    """A batch migration on SQLite copies its table and drops the table's triggers: every trigger
    the store had after the line queue's last change (0026) is still there at the head (0027
    dropped the lot triggers once: lots added afterwards queued no waiting line)."""

    async def triggers(revision: str) -> set[tuple[str, str]]:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / revision}.db")
        try:
            await upgrade(engine, revision)
            async with engine.connect() as conn:
                rows = await conn.execute(text("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'"))
                return {(str(t), str(n)) for t, n in rows}
        finally:
            await engine.dispose()

    before, head = await triggers("0026"), await triggers("head")
    assert before and before <= head, sorted(before - head)
