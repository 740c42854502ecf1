"""The public board's push latency: commit to event on every open board, as one JSON line.

    python bench/board.py --seconds 60 --clients 100 --rate 5 --db postgresql+asyncpg://127.0.0.1:5432/postgres

Setup (``build_seconds``): a small demo county built as ``bangfu demo`` builds one (fake
platforms on loopback, sync, attribution, ledger; ``--households``, ``--orders``, ``--days``),
then ``ANALYZE`` on PostgreSQL as autovacuum would.
With a PostgreSQL URL the database named in it is only used to create a scratch database next
to it (``bench/ingest.py``'s helper), dropped afterwards; without ``--db``, a SQLite file in a
temporary folder. ``--reuse``: ``--db`` is a demo county built already (a copy: the bench commits
its orders into it), measured as it is, without building (``build_seconds`` 0).

Measured: ``web.create_app`` served by a child process on a free loopback port; the parent
opens ``--clients`` event streams on ``/board/events`` (``Accept: text/event-stream``, as
EventSource does) and waits for each one's first event; then orders are committed at ``--rate``
commits a second for ``--seconds`` (one paid order each, written by the sync's own upsert, then
``bangfu.notify.orders_changed`` with the commit's sequence number), the way production runs
them: on PostgreSQL by a process of their own (a sync worker: LISTEN/NOTIFY carries the notice),
on SQLite inside the server's process (the embedded default's in-process channel).

Each event names the newest notice the board's figures include (``notice.seq``); a commit's
latency on one client is the time from its commit to the first event on that client that
includes it. ``latency_ms``: p50/p95/max over every (commit, client); ``missed``: pairs no
event covered within ``--grace`` seconds after the last commit. ``server_rss_mb`` and
``server_peak_rss_mb``: the server process's resident memory at the end and at its peak;
``computations``: how many times the server computed the board (shared by every client).
Goal: p95 < 1000 ms and max < 2000 ms (``goal_met``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from sqlalchemy import select
from sqlalchemy.engine import make_url

BENCH_DIR = Path(__file__).resolve().parent
# bench/web.py is named like the ``web`` package: import the package while this folder is off
# the path, then put the folder back (last) for bench/ingest.py's scratch-database helpers.
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != BENCH_DIR]
from web import create_app  # noqa: E402

sys.path.append(str(BENCH_DIR))

GOAL_P95_MS = 1000.0
GOAL_MAX_MS = 2000.0
HASH_KEY = "bench-board-hash-key-not-a-secret"


# --------------------------------------------------------------------------- the store


def build(url: str, data_dir: Path, households: int, orders: int, days: int) -> float:
    """The demo county at ``url``; seconds taken."""
    os.environ["BANGFU_DATA_DIR"] = str(data_dir)
    os.environ["BANGFU_HASH_KEY"] = HASH_KEY
    os.environ.pop("BANGFU_DATABASE_URL", None)
    from bangfu.settings import get_settings

    get_settings.cache_clear()
    from bangfu.cli.demo import _demo

    async def run() -> None:
        import connectors.http

        try:
            await _demo(url, 7, households, orders, days, serve=False)
        finally:
            await connectors.http.close_session()
        if make_url(url).get_backend_name() == "postgresql":
            await analyze(url)

    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # the demo's tables: stdout carries only the JSON line
        asyncio.run(run())
    return time.perf_counter() - started


async def analyze(url: str) -> None:
    """Planner statistics, as autovacuum would leave them after the load (bench/web.py does too)."""
    from sqlalchemy import text

    from bangfu.store import make_engine

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
            await conn.commit()
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- the commits


async def commit_orders(url: str, rate: float, seconds: float) -> dict[int, float]:
    """One paid order per commit, ``rate`` commits a second for ``seconds``, each announced with
    its sequence number; returns {seq: commit time (time.time())}."""
    from bangfu.enums import OrderStatus
    from bangfu.models import OrderLine
    from bangfu.notify import orders_changed
    from bangfu.records import OrderLineRecord, OrderRecord
    from bangfu.store import make_engine
    from bangfu.upsert import upsert_orders

    engine = make_engine(url)
    committed: dict[int, float] = {}
    try:
        async with engine.connect() as conn:
            line = (
                await conn.execute(
                    select(
                        OrderLine.shop_id, OrderLine.platform_item_id, OrderLine.platform_sku_id, OrderLine.outer_sku_id
                    )
                    .where(OrderLine.sku_id.is_not(None))
                    .order_by(OrderLine.id.desc())
                    .limit(1)
                )
            ).one()
        tag = uuid.uuid4().hex[:8]
        interval = 1.0 / rate
        started = time.perf_counter()
        seq = 0
        while time.perf_counter() - started < seconds:
            seq += 1
            now = datetime.now(UTC)
            record = OrderRecord(
                platform_order_id=f"bench-board-{tag}-{seq}",
                status=OrderStatus.PAID,
                platform_status="PAID",
                created_at=now,
                modified_at=now,
                paid_at=now,
                paid_fen=990,
                lines=(
                    OrderLineRecord(
                        platform_line_id=f"bench-board-{tag}-{seq}-1",
                        platform_item_id=line.platform_item_id,
                        platform_sku_id=line.platform_sku_id,
                        outer_sku_id=line.outer_sku_id,
                        quantity=1,
                        unit_price_fen=990,
                        paid_fen=990,
                        title="bench",
                    ),
                ),
            )
            async with engine.begin() as conn:
                await upsert_orders(conn, line.shop_id, [record], now=now)
            notice = await orders_changed(engine, orders=1, seq=seq)
            committed[seq] = notice.at
            delay = started + seq * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
    finally:
        await engine.dispose()
    return committed


def _committer(url: str, rate: float, seconds: float, conn: Connection) -> None:
    """A process of its own committing (PostgreSQL: a sync worker beside the servers)."""
    conn.send(asyncio.run(commit_orders(url, rate, seconds)))


# --------------------------------------------------------------------------- the server


def _memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process, in MB."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = round(int(value.split()[0]) / 1024, 1)
    except OSError:
        pass
    return out


def _serve(url: str, conn: Connection) -> None:
    """The server's process: report the port; commit on SQLite when asked; stop when told."""

    async def main() -> None:
        from aiohttp import web as aioweb

        from web.views.board import BOARD_HUB

        app = create_app(url)
        runner = aioweb.AppRunner(app, access_log=None)
        await runner.setup()
        site = aioweb.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        conn.send({"port": runner.addresses[0][1], "pid": os.getpid()})
        loop = asyncio.get_running_loop()
        started = time.process_time()
        while True:
            message = await loop.run_in_executor(None, conn.recv)
            if message[0] == "commit":
                conn.send(await commit_orders(url, message[1], message[2]))
                continue
            break
        hub = app[BOARD_HUB]
        stats = {
            "cpu_s": round(time.process_time() - started, 1),
            "computations": sum(f.computations for f in hub.feeds.values()),
            "notices": hub.notices,
            "channel": hub.channel,
        } | _memory(os.getpid())
        await runner.cleanup()
        conn.send(stats)

    asyncio.run(main())


def _receive(conn: Connection, process: Any, timeout: float = 600) -> Any:
    """The process's next message; its death is an error, not a wait forever."""
    deadline = time.monotonic() + timeout
    while not conn.poll(0.5):
        if not process.is_alive():
            raise SystemExit(f"a bench process died (exit code {process.exitcode})")
        if time.monotonic() > deadline:
            raise SystemExit("no answer from a bench process")
    return conn.recv()


# --------------------------------------------------------------------------- the clients


class Client:
    """One board on one event stream: (newest notice seq, arrival time) of every event."""

    def __init__(self) -> None:
        self.events: list[tuple[int, float]] = []
        self.connected = asyncio.Event()
        self.errors: list[str] = []

    async def run(self, session: aiohttp.ClientSession, url: str, stop: asyncio.Event) -> None:
        try:
            async with session.get(url, headers={"Accept": "text/event-stream"}) as response:
                if response.status != 200:
                    self.errors.append(f"HTTP {response.status}")
                    return
                event, data = None, []
                while not stop.is_set():
                    raw = await response.content.readline()
                    if not raw:
                        self.errors.append("stream ended")
                        return
                    line = raw.decode().rstrip("\r\n")
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].lstrip())
                    elif line == "":
                        if event == "board" and data:
                            arrived = time.time()
                            notice = orjson.loads("".join(data)).get("notice") or {}
                            self.events.append((int(notice.get("seq") or 0), arrived))
                            self.connected.set()
                        event, data = None, []
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.errors.append(type(exc).__name__)
        finally:
            self.connected.set()


def latencies(committed: dict[int, float], clients: Sequence[Client]) -> tuple[list[float], int]:
    """Seconds from each commit to the first event including it, per client; and the misses."""
    out: list[float] = []
    missed = 0
    for client in clients:
        events = client.events
        for seq, at in committed.items():
            arrival = next((t for s, t in events if s >= seq), None)
            if arrival is None:
                missed += 1
            else:
                out.append(max(0.0, arrival - at))
    return out, missed


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    ordered = sorted(values)

    def rank(q: float) -> float | None:
        if not ordered:
            return None
        return round(ordered[min(len(ordered) - 1, max(0, int(-(-q * len(ordered) // 1)) - 1))] * 1000, 1)

    return {"p50": rank(0.50), "p95": rank(0.95), "max": rank(1.0), "n": len(ordered)}


async def drive(
    base: str, clients: int, rate: float, seconds: float, grace: float, commit: Any
) -> tuple[dict[int, float], list[Client], float]:
    boards = [Client() for _ in range(clients)]
    stop = asyncio.Event()
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        tasks = [asyncio.create_task(b.run(session, f"{base}/board/events", stop)) for b in boards]
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(b.connected.wait() for b in boards)), 120)
        connect_seconds = time.perf_counter() - started
        committed: dict[int, float] = await commit(rate, seconds)
        last = max(committed) if committed else 0
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and not all(  # noqa: ASYNC110  (polls every client's progress)
            b.errors or (b.events and b.events[-1][0] >= last) for b in boards
        ):
            await asyncio.sleep(0.05)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return committed, boards, connect_seconds


# --------------------------------------------------------------------------- the run


def run(args: argparse.Namespace, url: str, data_dir: Path) -> dict[str, Any]:
    import ingest

    db_url, scratch = (url, None) if args.reuse else asyncio.run(ingest._scratch_database(url))
    backend = make_url(url).get_backend_name()
    context = multiprocessing.get_context("spawn")
    try:
        build_seconds = 0.0 if args.reuse else build(db_url, data_dir, args.households, args.orders, args.days)
        parent, child = context.Pipe()
        server = context.Process(target=_serve, args=(db_url, child), daemon=True)
        server.start()
        try:
            ready = _receive(parent, server)
            base = f"http://127.0.0.1:{ready['port']}"

            async def commit(rate: float, seconds: float) -> dict[int, float]:
                loop = asyncio.get_running_loop()
                if backend == "sqlite":  # the embedded default: sync and board in one process
                    parent.send(("commit", rate, seconds))
                    return await loop.run_in_executor(None, _receive, parent, server)  # type: ignore[no-any-return]
                own, theirs = context.Pipe()
                worker = context.Process(target=_committer, args=(db_url, rate, seconds, theirs), daemon=True)
                worker.start()
                try:
                    return await loop.run_in_executor(None, _receive, own, worker)  # type: ignore[no-any-return]
                finally:
                    worker.join(timeout=30)

            committed, boards, connect_seconds = asyncio.run(
                drive(base, args.clients, args.rate, args.seconds, args.grace, commit)
            )
            memory = _memory(ready["pid"])
            parent.send(("stop",))
            stats = _receive(parent, server)
        finally:
            server.join(timeout=30)
            if server.is_alive():
                server.kill()
    finally:
        if scratch is not None:
            asyncio.run(ingest._drop_database(url, scratch))
    values, missed = latencies(committed, boards)
    figures = percentiles(values)
    errors: dict[str, int] = {}
    for board in boards:
        for error in board.errors:
            errors[error] = errors.get(error, 0) + 1
    out: dict[str, Any] = {
        "bench": "board",
        "db": backend,
        "channel": stats["channel"],
        "clients": args.clients,
        "seconds": args.seconds,
        "rate": args.rate,
        "commits": len(committed),
        "events": sum(len(b.events) for b in boards),
        "latency_ms": figures,
        "missed": missed,
        "goal_met": bool(
            figures["n"]
            and not missed
            and figures["p95"] is not None
            and figures["p95"] < GOAL_P95_MS
            and figures["max"] is not None
            and figures["max"] < GOAL_MAX_MS
        ),
        "computations": stats["computations"],
        "notices": stats["notices"],
        "server_rss_mb": memory.get("VmRSS"),
        "server_peak_rss_mb": stats.get("VmHWM"),
        "server_cpu_s": stats["cpu_s"],
        "connect_seconds": round(connect_seconds, 2),
        "build_seconds": round(build_seconds, 1),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }
    if errors:
        out["client_errors"] = errors
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file in a temp dir)")
    parser.add_argument("--clients", type=int, default=100, help="open boards (event streams)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long orders are committed")
    parser.add_argument("--rate", type=float, default=5.0, help="commits a second")
    parser.add_argument("--grace", type=float, default=5.0, help="seconds to wait for the last events")
    parser.add_argument("--households", type=int, default=120, help="households in the demo county")
    parser.add_argument("--orders", type=int, default=150, help="orders each fake platform holds")
    parser.add_argument("--days", type=int, default=10, help="days of sales history")
    parser.add_argument("--reuse", action="store_true", help="--db is a demo county built already: no build")
    args = parser.parse_args(argv)
    if args.reuse and not args.db:
        parser.error("--reuse needs --db")
    if args.clients < 1 or args.seconds <= 0 or args.rate <= 0:
        parser.error("--clients, --seconds and --rate must be positive")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite+aiosqlite:///{Path(tmp) / 'board.db'}"
        return run(args, url, Path(tmp))


if __name__ == "__main__":
    sys.stdout.write(orjson.dumps(main()).decode() + "\n")
