"""Re-fetch of one quarantined record by id (issue 13), against a fake Kuaishou over HTTP, on
SQLite and PostgreSQL: a record that parses now is stored through the sync path and its entry
closed by the requester; one that still does not parse, and an auth failure, are recorded with
the error class and the platform's message and leave the entry open; ``bangfu sync refetch``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.enums import SyncStream, UserRole
from bangfu.models import Order, QuarantinedRecord, QuarantineRefetch, Shop, User
from bangfu.queries.operator import request_refetch
from bangfu.scope import Scope
from bangfu.secrets import SecretStore
from bangfu.store import session_factory
from connectors.fakes.clock import FakeClock
from connectors.fakes.faults import FaultProfile
from connectors.fakes.server import Running, fake_server
from connectors.fakes.world import FakeOrder
from connectors.retry import RetryPolicy
from sync.engine import SyncEngine
from sync.refetch import run_refetch
from sync.shops import register, specs_from_fakes

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02)
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _world_orders(fake: Running) -> list[FakeOrder]:
    """Every order the fake's world has created by now. Its history is the days before the real
    time (not before NOW): reading it up to NOW found fewer orders as the days went by."""
    return fake.world.orders_created(datetime(2000, 1, 1, tzinfo=UTC), fake.world.now() + timedelta(seconds=1))


async def _setup(engine: AsyncEngine, fake: Running, tmp_path: Path) -> tuple[int, int, SecretStore]:
    """The fake's shop registered (credentials in the default store, as the CLI reads them) and
    an operator; returns (shop id, user id, secrets)."""
    lines = tmp_path / "fakes.jsonl"
    lines.write_text(orjson.dumps(fake.describe()).decode() + "\nready\n")
    secrets = SecretStore()
    async with session_factory(engine)() as session, session.begin():
        await register(session, specs_from_fakes(lines), secrets)
    async with engine.begin() as conn:
        shop_id = int(await conn.scalar(select(Shop.id)) or 0)
        user = await conn.execute(
            insert(User).values(name="op-refetch", role=UserRole.OPERATOR, password_hash="x").returning(User.id)
        )
        return shop_id, int(user.scalar_one()), secrets


async def _quarantine(engine: AsyncEngine, shop_id: int, platform_id: str | None, stream: SyncStream) -> int:
    async with engine.begin() as conn:
        result = await conn.execute(
            insert(QuarantinedRecord)
            .values(
                shop_id=shop_id,
                stream=stream,
                platform_id=platform_id,
                error="totalFee: '39.9.0' is not a whole number of fen",
                raw={"orderBaseInfo": {"oid": platform_id}},
                seen_at=NOW,
            )
            .returning(QuarantinedRecord.id)
        )
        return int(result.scalar_one())


async def _request(engine: AsyncEngine, record_id: int, user_id: int | None) -> int | str | None:
    async with engine.begin() as conn:
        return await request_refetch(conn, Scope(UserRole.OPERATOR, user_id=user_id), record_id, user_id, NOW)


async def _entry(engine: AsyncEngine, record_id: int) -> tuple[datetime | None, int | None]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(QuarantinedRecord.resolved_at, QuarantinedRecord.resolved_by).where(
                    QuarantinedRecord.id == record_id
                )
            )
        ).one()
    return row.resolved_at, row.resolved_by


async def _orders(engine: AsyncEngine, platform_id: str) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(select(func.count()).select_from(Order).where(Order.platform_order_id == platform_id))
            or 0
        )


async def test_refetch_stores_a_record_that_parses_now_and_records_one_that_still_fails(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with fake_server("kuaishou", seed=4, orders=12, days=2, clock=FakeClock()) as fake:
        shop_id, user_id, _ = await _setup(engine, fake, tmp_path)
        good, bad = (o.order_id for o in _world_orders(fake)[:2])
        sync = SyncEngine(engine, connector_kwargs={"retry": FAST_RETRY})

        # 1. It parses now: stored through the sync path, the entry closed by the requester.
        record = await _quarantine(engine, shop_id, good, SyncStream.ORDERS)
        refetch = await _request(engine, record, user_id)
        assert isinstance(refetch, int)
        result = await run_refetch(sync, refetch)
        assert (result.outcome, result.error_class, result.ok) == ("stored", None, True)
        assert await _orders(engine, good) == 1
        resolved_at, resolved_by = await _entry(engine, record)
        assert resolved_at is not None and resolved_by == user_id
        again = await run_refetch(sync, refetch)  # a task delivered twice does nothing more
        assert not again.ran and again.outcome == "stored"
        assert await _request(engine, record, user_id) == "resolved"

        # 2. Still malformed: nothing stored, the entry stays open, the class and message kept.
        fake.fake.faults.profile = FaultProfile(malformed=1.0)
        record = await _quarantine(engine, shop_id, bad, SyncStream.ORDERS)
        refetch = await _request(engine, record, user_id)
        assert isinstance(refetch, int)
        result = await run_refetch(sync, refetch)
        assert (result.outcome, result.error_class) == ("failed", "bad_record")
        assert result.message and result.message.startswith("RecordError")
        assert await _orders(engine, bad) == 0
        assert await _entry(engine, record) == (None, None)
        async with engine.connect() as conn:
            stored = (await conn.execute(select(QuarantineRefetch).where(QuarantineRefetch.id == refetch))).one()
        assert (stored.outcome, stored.error_class, stored.requested_by) == ("failed", "bad_record", user_id)
        assert stored.finished_at is not None and stored.message == result.message

        # A record without a platform id, or of a stream without a fetch by id, is refused.
        assert await _request(engine, await _quarantine(engine, shop_id, None, SyncStream.ORDERS), user_id) == (
            "unsupported"
        )
        settlement = await _quarantine(engine, shop_id, "B-1", SyncStream.SETTLEMENTS)
        assert await _request(engine, settlement, user_id) == "unsupported"
        # Outside the operator's shops: not found.
        async with engine.begin() as conn:
            outside = Scope(UserRole.OPERATOR, user_id=user_id, shop_ids=frozenset({shop_id + 1}))
            assert await request_refetch(conn, outside, record, user_id, NOW) is None


async def test_refetch_with_revoked_credentials_records_the_auth_error(engine: AsyncEngine, tmp_path: Path) -> None:
    async with fake_server("kuaishou", seed=5, orders=6, days=2, clock=FakeClock()) as fake:
        shop_id, user_id, secrets = await _setup(engine, fake, tmp_path)
        order_id = _world_orders(fake)[0].order_id
        async with engine.connect() as conn:
            ref = str(await conn.scalar(select(Shop.credentials_ref).where(Shop.id == shop_id)))
        stored = secrets.get(ref)
        assert "sign_secret" in stored, sorted(stored)
        secrets.put(ref, {"sign_secret": "not-the-sign-secret"})
        record = await _quarantine(engine, shop_id, order_id, SyncStream.ORDERS)
        refetch = await _request(engine, record, user_id)
        assert isinstance(refetch, int)
        result = await run_refetch(SyncEngine(engine, connector_kwargs={"retry": FAST_RETRY}), refetch)
        assert (result.outcome, result.error_class) == ("failed", "auth")
        assert result.message and "AuthError" in result.message and "[kuaishou" in result.message
        assert "not-the-sign-secret" not in result.message  # redacted like every stored platform message
        assert await _entry(engine, record) == (None, None)
        assert await _orders(engine, order_id) == 0


async def test_cli_refetch_exits_non_zero_with_the_reason(engine: AsyncEngine, db_url: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bangfu.cli.app import app

    runner = CliRunner()

    def cli(*args: str) -> tuple[int, str]:
        done = runner.invoke(app, ["--lang", "en", "sync", "refetch", *args, "--db", db_url])
        return done.exit_code, done.output

    async with fake_server("kuaishou", seed=6, orders=6, days=2, clock=FakeClock()) as fake:
        shop_id, _, _ = await _setup(engine, fake, tmp_path)
        good, bad = (o.order_id for o in _world_orders(fake)[:2])
        record = await _quarantine(engine, shop_id, good, SyncStream.ORDERS)
        # The command runs its own event loop: off this one, which serves the fake.
        code, output = await asyncio.to_thread(cli, "--quarantine", str(record))
        assert code == 0, output
        assert f"Quarantined record {record} (orders {good}) fetched again and stored" in output
        assert await _orders(engine, good) == 1
        resolved_at, resolved_by = await _entry(engine, record)
        assert resolved_at is not None and resolved_by is None  # asked for from the command line

        code, output = await asyncio.to_thread(cli, "--quarantine", str(record))
        assert code == 2 and f"quarantined record {record} is handled already" in output
        code, output = await asyncio.to_thread(cli, "--quarantine", "999999")
        assert code == 2 and "no quarantined record 999999" in output

        fake.fake.faults.profile = FaultProfile(malformed=1.0)
        record = await _quarantine(engine, shop_id, bad, SyncStream.ORDERS)
        code, output = await asyncio.to_thread(cli, "--quarantine", str(record))
        assert code == 1, output
        assert f"re-fetch of quarantined record {record} failed (bad_record): RecordError" in output
