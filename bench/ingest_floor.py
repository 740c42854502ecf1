"""The floor of ``bench/ingest.py``: the least any client must spend on the same work, measured
right after the hub's sync in the same invocation (``bench/ingest.py --with-floor``).

Issue 15 names the floor of the ingest: "an aiohttp fetch plus orjson decode of a page" and "a
batched upsert into PostgreSQL". Both are measured on the sync's own data, so the machine's load
and the worlds' shapes cancel as far as they can:

- **Fetch and decode** (:class:`RequestRecorder`, :func:`replay`): every HTTP request the hub's
  connectors sent during the timed sync is recorded as sent (method, URL, query, headers, body:
  signed, with its timestamp and token) and sent again, in the same order, through the same
  aiohttp session (its pool, and the mall's login cookie), at most ``in_flight`` at once. Each
  answer is read whole and decoded the leanest way: ``orjson.loads`` for JSON, lxml's HTML
  parser for the mall's pages. Nothing is parsed into records, scrubbed, hashed or stored. The
  frozen fakes answer a replayed request as they answered the original (their clock is frozen
  and they keep no nonces), so the replay reads the same bytes; ``response_bytes`` of both are
  printed side by side to show it. Meant for ``--frozen``: against live fakes a login made
  during the sync (the mall's form, its CSRF token good once) is refused when replayed, and the
  first such answers are listed under ``refused``.
- **Store** (:func:`store_floor`): the orders and lines the sync stored, read back (not timed),
  written again into a scratch schema of the same database in batches of the sync's batch size,
  each batch one transaction: COPY into a staging table, one ``INSERT ... ON CONFLICT`` on the
  orders' natural key returning their ids, COPY of the lines with those ids, one ``INSERT ... ON
  CONFLICT DO NOTHING``. Same columns and values (the payload as text), the natural keys that
  make a re-sync idempotent and nothing else: no triggers, no change queue, no foreign keys, no
  other index, no guard on the stored version. PostgreSQL's CPU is read from ``/proc`` for its one
  backend; the client's CPU (reading nothing, encoding the COPY) is this process's.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import lxml.etree  # type: ignore[import-untyped]  # no stubs installed
import orjson

from bangfu.upsert import LINE_COLUMNS, ORDER_COLUMNS

_TICKS = os.sysconf("SC_CLK_TCK")
_HTML = lxml.etree.HTMLParser()


def own_cpu() -> float:
    """CPU seconds (user + system) of this process, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def stat_cpu(path: Path) -> float:
    """CPU seconds (user + system) from a ``/proc/.../stat`` file, 0 if it is gone."""
    try:
        fields = path.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process from /proc, 0 if it is gone."""
    return stat_cpu(Path(f"/proc/{pid}/stat"))


def _lines_by_order(lines: Sequence[Sequence[Any]]) -> dict[int, list[tuple[Any, ...]]]:
    """The stored lines (order id first) grouped by order id, each without it."""
    by_order: dict[int, list[tuple[Any, ...]]] = {}
    for line in lines:
        by_order.setdefault(line[0], []).append(tuple(line[1:]))
    return by_order


# --------------------------------------------------------------------------- fetch and decode


@dataclass
class Recorded:
    session: aiohttp.ClientSession
    method: str
    url: Any
    kwargs: dict[str, Any]


@dataclass
class RequestRecorder:
    """While entered, every ``aiohttp.ClientSession.request`` of this process is recorded as
    sent, and every response body read is counted (``response_bytes``)."""

    requests: list[Recorded] = field(default_factory=list)
    response_bytes: int = 0
    _saved: tuple[Any, Any] | None = None

    def __enter__(self) -> RequestRecorder:
        request, read = aiohttp.ClientSession.request, aiohttp.ClientResponse.read
        recorder = self

        def recording_request(session: aiohttp.ClientSession, method: str, url: Any, **kwargs: Any) -> Any:
            kept = {k: v for k, v in kwargs.items() if k != "timeout"}
            for name in ("params", "headers", "data"):
                if isinstance(kept.get(name), dict):
                    kept[name] = dict(kept[name])
            recorder.requests.append(Recorded(session, method, url, kept))
            return request(session, method, url, **kwargs)

        async def counting_read(response: aiohttp.ClientResponse) -> bytes:
            body: bytes = await read(response)
            recorder.response_bytes += len(body)
            return body

        self._saved = (request, read)
        aiohttp.ClientSession.request = recording_request  # type: ignore[method-assign]
        aiohttp.ClientResponse.read = counting_read  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._saved is not None
        aiohttp.ClientSession.request, aiohttp.ClientResponse.read = self._saved  # type: ignore[method-assign]


@dataclass
class Replayed:
    requests: int
    seconds: float
    cpu_s: float
    decode_cpu_s: float
    response_bytes: int
    statuses: dict[int, int]
    refused: list[str]
    decoded_json: int
    decoded_html: int


async def replay(recorded: Sequence[Recorded], *, in_flight: int = 16) -> Replayed:
    """Send ``recorded`` again, at most ``in_flight`` at once, reading and decoding each answer."""
    statuses: dict[int, int] = {}
    refused: list[str] = []  # the first few answers other than 200: method, path, status
    counts = {"bytes": 0, "json": 0, "html": 0}
    decode_s = [0.0]  # of the CPU, the decoding's
    gate = asyncio.Semaphore(in_flight)
    # The connectors closed their sessions when the sync ended: a fresh one for each, with its
    # default headers and its cookies (the mall's login).
    sessions: dict[int, aiohttp.ClientSession] = {}
    for item in recorded:
        if id(item.session) not in sessions:
            sessions[id(item.session)] = aiohttp.ClientSession(
                headers=item.session.headers, cookie_jar=item.session.cookie_jar
            )

    async def one(item: Recorded) -> None:
        session = sessions[id(item.session)]
        async with gate, session.request(item.method, item.url, **item.kwargs) as resp:
            raw = await resp.read()
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
            if resp.status != 200 and len(refused) < 5:
                refused.append(f"{item.method} {resp.url.path} {resp.status}")
            counts["bytes"] += len(raw)
            decoding = time.process_time()
            if resp.content_type == "text/html":
                lxml.etree.fromstring(raw, _HTML)
                counts["html"] += 1
            elif raw:
                orjson.loads(raw)
                counts["json"] += 1
            decode_s[0] += time.process_time() - decoding

    cpu, started = own_cpu(), time.perf_counter()
    try:
        await asyncio.gather(*(one(item) for item in recorded))
    finally:
        for session in sessions.values():
            await session.close()
    return Replayed(
        requests=len(recorded),
        seconds=time.perf_counter() - started,
        cpu_s=own_cpu() - cpu,
        decode_cpu_s=decode_s[0],
        response_bytes=counts["bytes"],
        statuses=statuses,
        refused=refused,
        decoded_json=counts["json"],
        decoded_html=counts["html"],
    )


# --------------------------------------------------------------------------- store

# The hub's upsert columns, less its own bookkeeping (the sync time, the line's version).
_ORDER_COLS = tuple(c for c in ORDER_COLUMNS if c != "synced_at")
_LINE_COLS = tuple(c for c in LINE_COLUMNS if c != "version")


@dataclass
class Stored:
    orders: int
    lines: int
    transactions: int
    seconds: float
    db_cpu_s: float
    client_cpu_s: float


async def store_floor(dsn: str, *, batch_size: int) -> Stored:
    """Write the orders and lines stored at ``dsn`` again, the leanest idempotent way (module
    docstring), into a scratch schema that is dropped afterwards."""
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(dsn)
    schema = f"ingest_floor_{uuid.uuid4().hex[:8]}"
    try:
        orders = await conn.fetch(
            f"SELECT o.id, {', '.join('o.raw::text' if c == 'raw' else 'o.' + c for c in _ORDER_COLS)}"
            " FROM orders o ORDER BY o.id"
        )
        lines = await conn.fetch(
            f"SELECT {', '.join('l.' + c for c in _LINE_COLS)} FROM order_lines l ORDER BY l.order_id, l.id"
        )
        by_order = _lines_by_order(lines)
        await conn.execute(
            f"CREATE SCHEMA {schema};"
            f" CREATE TABLE {schema}.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " shop_id bigint NOT NULL, platform_order_id text NOT NULL, status text NOT NULL,"
            " status_rank integer NOT NULL, platform_status text, created_at timestamptz,"
            " paid_at timestamptz, modified_at timestamptz NOT NULL, paid_fen bigint NOT NULL,"
            " post_fee_fen bigint NOT NULL, discount_fen bigint NOT NULL, buyer_ref text,"
            " purchasing_unit_id bigint, room_id text, author_id text, campaign_code text,"
            " raw text NOT NULL, content_hash text NOT NULL, UNIQUE (shop_id, platform_order_id));"
            f" CREATE TABLE {schema}.order_lines (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " order_id bigint NOT NULL, shop_id bigint NOT NULL, platform_line_id text NOT NULL,"
            " platform_item_id text, platform_sku_id text, outer_sku_id text,"
            " title text NOT NULL, quantity integer NOT NULL, unit_price_fen bigint NOT NULL,"
            " paid_fen bigint NOT NULL, refund_state text NOT NULL, room_id text,"
            " author_id text, content_hash text NOT NULL, UNIQUE (order_id, platform_line_id));"
            f" CREATE TEMP TABLE orders_in ON COMMIT DELETE ROWS AS SELECT {', '.join(_ORDER_COLS)}"
            f" FROM {schema}.orders WITH NO DATA;"
            f" CREATE TEMP TABLE lines_in ON COMMIT DELETE ROWS AS SELECT {', '.join(_LINE_COLS)}"
            f" FROM {schema}.order_lines WITH NO DATA"
        )
        insert_orders = (
            f"INSERT INTO {schema}.orders ({', '.join(_ORDER_COLS)}) SELECT {', '.join(_ORDER_COLS)} FROM orders_in"
            " ON CONFLICT (shop_id, platform_order_id) DO UPDATE SET"
            f" {', '.join(f'{c} = excluded.{c}' for c in _ORDER_COLS[2:])}"
            f" WHERE {schema}.orders.modified_at < excluded.modified_at"
            " RETURNING id, shop_id, platform_order_id"
        )
        insert_lines = (
            f"INSERT INTO {schema}.order_lines ({', '.join(_LINE_COLS)}) SELECT {', '.join(_LINE_COLS)}"
            " FROM lines_in ON CONFLICT (order_id, platform_line_id) DO NOTHING"
        )
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        rows = [(row[0], tuple(row)[1:]) for row in orders]
        db_cpu, cpu, started = proc_cpu(pid), own_cpu(), time.perf_counter()
        transactions = 0
        for batch in _batches(rows, batch_size):
            async with conn.transaction():
                await conn.copy_records_to_table("orders_in", records=[r for _, r in batch], columns=_ORDER_COLS)
                ids = {(row[1], row[2]): row[0] for row in await conn.fetch(insert_orders)}
                line_rows = [
                    (ids[order[0], order[1]], *line)
                    for stored_id, order in batch
                    if (order[0], order[1]) in ids
                    for line in by_order.get(stored_id, ())
                ]
                if line_rows:
                    await conn.copy_records_to_table("lines_in", records=line_rows, columns=_LINE_COLS)
                    await conn.execute(insert_lines)
            transactions += 1
        seconds = time.perf_counter() - started
        return Stored(
            orders=len(rows),
            lines=len(lines),
            transactions=transactions,
            seconds=seconds,
            db_cpu_s=proc_cpu(pid) - db_cpu,
            client_cpu_s=own_cpu() - cpu,
        )
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


def _batches(rows: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def store_floor_sqlite(path: str, *, batch_size: int) -> Stored:
    """The same as :func:`store_floor` on SQLite: the orders and lines of the store at ``path``
    written again into a scratch file beside it (WAL and ``synchronous=NORMAL`` as the hub's
    store), one transaction per batch, each table's rows with one prepared statement
    (``executemany``), the lines' order ids read back by natural key. The time is this
    process's (``sqlite3`` runs in it)."""
    import sqlite3

    source = sqlite3.connect(path)
    try:
        orders = source.execute(f"SELECT id, {', '.join(_ORDER_COLS)} FROM orders ORDER BY id").fetchall()
        lines = source.execute(f"SELECT {', '.join(_LINE_COLS)} FROM order_lines ORDER BY order_id, id").fetchall()
    finally:
        source.close()
    by_order = _lines_by_order(lines)
    scratch = Path(path).with_name(f"ingest_floor_{uuid.uuid4().hex[:8]}.db")
    conn = sqlite3.connect(scratch, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, "
            + ", ".join(_ORDER_COLS)
            + ", UNIQUE (shop_id, platform_order_id))"
        )
        conn.execute(
            "CREATE TABLE order_lines (id INTEGER PRIMARY KEY, "
            + ", ".join(_LINE_COLS)
            + ", UNIQUE (order_id, platform_line_id))"
        )
        marks = ", ".join("?" * len(_ORDER_COLS))
        insert_orders = (
            f"INSERT INTO orders ({', '.join(_ORDER_COLS)}) VALUES ({marks})"
            " ON CONFLICT (shop_id, platform_order_id) DO UPDATE SET"
            f" {', '.join(f'{c} = excluded.{c}' for c in _ORDER_COLS[2:])}"
            " WHERE orders.modified_at < excluded.modified_at"
        )
        read_ids = "SELECT id FROM orders WHERE shop_id = ? AND platform_order_id = ?"
        insert_lines = (
            f"INSERT INTO order_lines ({', '.join(_LINE_COLS)}) VALUES ({', '.join('?' * len(_LINE_COLS))})"
            " ON CONFLICT (order_id, platform_line_id) DO NOTHING"
        )
        rows = [(row[0], row[1:]) for row in orders]
        cpu, started = own_cpu(), time.perf_counter()
        transactions = 0
        for batch in _batches(rows, batch_size):
            conn.execute("BEGIN")
            conn.executemany(insert_orders, [r for _, r in batch])
            line_rows = []
            for stored_id, order in batch:
                (order_id,) = conn.execute(read_ids, (order[0], order[1])).fetchone()
                line_rows += [(order_id, *line) for line in by_order.get(stored_id, ())]
            conn.executemany(insert_lines, line_rows)
            conn.execute("COMMIT")
            transactions += 1
        seconds = time.perf_counter() - started
        return Stored(
            orders=len(rows),
            lines=len(lines),
            transactions=transactions,
            seconds=seconds,
            db_cpu_s=0.0,
            client_cpu_s=own_cpu() - cpu,
        )
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)
