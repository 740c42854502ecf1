"""Change notices: a commit that changed the sales figures says so, for the public board.

:func:`orders_changed` is called once per commit that stored orders or refunds (a mall's
order; the sync engine's batch writes on SQLite). It never fails the caller: the rows are
committed already, and a lost notice only costs the board freshness (the board also refreshes
on its own every so often). :func:`orders_changed_in` sends the notice inside the writing
transaction instead (the sync engine's batch writes on PostgreSQL): PostgreSQL delivers a
``NOTIFY`` when its transaction commits and drops it when it rolls back, so the notice costs one
statement on the connection already open, not a connection and a transaction of its own per
batch; a failing notice is rolled back to a savepoint and never fails the batch either.

Two channels, chosen by the database the store lives in:

- PostgreSQL (production): ``NOTIFY bangfu_board, '<payload>'`` on the store's own database;
  every ``bangfu serve`` process LISTENs on a connection of its own (``web/board_events.py``).
  Chosen over Redis pub/sub because the notice travels with the data it announces: it goes
  through the same database, so a process that can read the orders hears about them, no
  second service has to be up (Redis may be down while PostgreSQL commits), and nothing is
  configured twice. NOTIFY is cheap (one statement, delivered to listeners after commit) and
  its 8000-byte payload is far more than a notice needs.
- SQLite (the embedded default, one process): an in-process bus keyed by the database URL;
  the board of the same process subscribes to it.

The payload is JSON ``{"seq", "at", "pid", "orders"}``: a sequence number per publishing
process, the wall-clock time of the commit (seconds since the epoch), the publisher's process
id and how many orders the commit stored; the board passes the latest it folded in to its
clients, so a client (``bench/board.py``) can measure commit-to-screen latency.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger("bangfu.notify")

CHANNEL = "bangfu_board"

_sequence = itertools.count(1)


@dataclass(frozen=True)
class Notice:
    seq: int
    at: float  # time.time() just after the commit
    pid: int
    orders: int

    def payload(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def parse(cls, payload: str) -> Notice | None:
        """A notice from its payload; None for anything else (it is only a hint to refresh)."""
        try:
            data = orjson.loads(payload)
            return cls(int(data["seq"]), float(data["at"]), int(data["pid"]), int(data["orders"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


Subscriber = Callable[[Notice], None]
_local: dict[str, list[Subscriber]] = {}


def bus_key(engine: AsyncEngine) -> str:
    """The in-process bus a database's notices travel on (its URL, without a password)."""
    return engine.url.render_as_string(hide_password=True)


def subscribe_local(key: str, subscriber: Subscriber) -> Callable[[], None]:
    """Hear the notices published in this process for the database ``key``; returns unsubscribe."""
    _local.setdefault(key, []).append(subscriber)

    def unsubscribe() -> None:
        subscribers = _local.get(key, [])
        if subscriber in subscribers:
            subscribers.remove(subscriber)
        if not subscribers:
            _local.pop(key, None)

    return unsubscribe


async def orders_changed(engine: AsyncEngine, *, orders: int, seq: int | None = None) -> Notice:
    """Say that a commit on ``engine``'s database changed the sales figures (call it after the
    commit). One notice per call; the board coalesces bursts of them."""
    notice = Notice(seq if seq is not None else next(_sequence), time.time(), os.getpid(), orders)
    try:
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                await conn.execute(select(func.pg_notify(CHANNEL, notice.payload())))
                await conn.commit()
        else:
            for subscriber in list(_local.get(bus_key(engine), ())):
                subscriber(notice)
    except Exception:  # the data is committed; a lost notice only delays the board
        log.warning("board change notice not sent", exc_info=True)
    return notice


async def orders_changed_in(conn: AsyncConnection, *, orders: int) -> Notice | None:
    """Say, inside ``conn``'s transaction, that it changes the sales figures: on PostgreSQL the
    notice is delivered when the transaction commits (its ``at`` is taken just before); elsewhere
    nothing is sent and None is returned, so the caller calls :func:`orders_changed` after the
    commit. The notice goes out through a savepoint in one round trip; if it fails, the
    savepoint is rolled back and the transaction goes on."""
    if conn.dialect.name != "postgresql":
        return None
    from bangfu.store import asyncpg_in_transaction

    notice = Notice(next(_sequence), time.time(), os.getpid(), orders)
    payload = notice.payload().replace("'", "''")  # numbers only; quoted all the same
    driver = await asyncpg_in_transaction(conn)
    try:
        await driver.execute(
            f"SAVEPOINT bangfu_notice; SELECT pg_notify('{CHANNEL}', '{payload}'); RELEASE SAVEPOINT bangfu_notice"
        )
    except Exception:  # a lost notice only delays the board; the batch goes on
        log.warning("board change notice not sent", exc_info=True)
        await driver.execute("ROLLBACK TO SAVEPOINT bangfu_notice; RELEASE SAVEPOINT bangfu_notice")
    return notice
