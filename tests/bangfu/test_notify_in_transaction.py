"""A change notice sent inside the writing transaction (PostgreSQL): delivered when it commits,
dropped when it rolls back, and never the reason a write fails."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bangfu import notify
from bangfu.notify import CHANNEL, Notice, orders_changed_in
from bangfu.store import make_engine

ON_POSTGRES = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


async def _listener(url: str) -> tuple[Any, asyncio.Queue[Notice | None]]:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    heard: asyncio.Queue[Notice | None] = asyncio.Queue()
    await conn.add_listener(CHANNEL, lambda *args: heard.put_nowait(Notice.parse(args[-1])))
    return conn, heard


@ON_POSTGRES
async def test_the_notice_travels_with_the_commit_and_not_with_a_rollback(db_url: str) -> None:
    engine = make_engine(db_url)
    listener, heard = await _listener(db_url)
    try:
        with pytest.raises(RuntimeError):
            async with engine.begin() as conn:
                assert await orders_changed_in(conn, orders=7) is not None
                raise RuntimeError("the batch failed")
        async with engine.begin() as conn:
            sent = await orders_changed_in(conn, orders=3)
            await asyncio.sleep(0.2)
            assert heard.empty()  # not before the commit
        assert await asyncio.wait_for(heard.get(), 5) == sent
        assert sent is not None and sent.orders == 3
        await asyncio.sleep(0.2)
        assert heard.empty()  # the rolled-back one never came
    finally:
        await listener.close()
        await engine.dispose()


@ON_POSTGRES
async def test_a_failing_notice_leaves_the_transaction_usable(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notify, "CHANNEL", "")  # pg_notify refuses an empty channel name
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TEMP TABLE t (x int)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            assert await orders_changed_in(conn, orders=1) is not None
            await conn.execute(text("INSERT INTO t VALUES (2)"))
            assert await conn.scalar(text("SELECT sum(x) FROM t")) == 3
    finally:
        await engine.dispose()


async def test_elsewhere_nothing_is_sent_in_the_transaction() -> None:
    engine = make_engine("sqlite+aiosqlite://")
    try:
        async with engine.begin() as conn:
            assert await orders_changed_in(conn, orders=1) is None
    finally:
        await engine.dispose()
