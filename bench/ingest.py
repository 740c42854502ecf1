"""Ingest orders end to end and print one JSON line: fake platforms -> HTTP -> connectors -> sync -> store.

    python bench/ingest.py --orders 100000                      # a fresh SQLite file in a temp dir
    python bench/ingest.py --orders 100000 --db postgresql+asyncpg://127.0.0.1:5432/postgres

The fake platforms (``connectors.fakes.server``: ``build_fake`` + ``start``, as ``serve_all``
does) serve ``--orders`` orders spread over ``--platforms`` x ``--shops`` worlds on loopback, with
the world clock frozen. The shops are registered (``sync.shops``) with an unthrottled
``rate_limit`` setting (loopback needs no politeness), then ``SyncEngine.sync_all`` pulls the
orders stream of every shop concurrently into the store, as ``bangfu sync run`` would.

By default the fakes run in a child process (``--fakes process``), so the platforms' side of the
work (building orders from the world, rendering, JSON) uses the second core as real platforms
would use their own machines; ``--fakes inline`` serves them from the hub's own event loop.
Building the worlds is timed apart (``world_build_seconds``) and excluded from ``seconds``.

``--frozen`` serves a frozen world (``build_fake(frozen=True)``, as ``bangfu fakes serve
--frozen``): every order and refund the list APIs serve is pre-rendered to its response bytes
before the sync (``prerender_seconds``), and a page costs the fakes a request check and a join,
so the bench measures the hub rather than the platforms' rendering. Records whose shape the
client picks (TOP's ``fields``, JD's ``optional_fields``) are rendered, the whole world at once,
on the first request that asks for that shape: a warm-up reads the last hour of every shop
through the hub's own connectors first (``warmup_seconds``; its CPU on both sides is not
counted). Both are excluded from ``seconds``; the output says ``"frozen": true/false``.

The hub side collects garbage as ``bangfu``'s CLI and Celery workers do (``bangfu.runtime.tune_gc``;
``"gc": "tuned"``); ``--default-gc`` keeps CPython's thresholds (``"gc": "default"``).

With a PostgreSQL URL the database named in it is only used to create a scratch database
(``bangfu_bench_<hex>``, ``--db-prefix`` to name it otherwise), dropped afterwards unless
``--keep-db``. Output keys: ``orders``,
``order_lines`` (rows in the store), ``seconds`` (the sync, from the first request to the last
commit), ``orders_per_s``, ``peak_rss_mb`` (the hub process, warm-up included), ``rss_sync_mb``
(the hub's resident set sampled every half second during the sync: start, max, end), ``db``; and where the time went:
CPU of the hub (``hub_cpu_s``, of which ``hub_threads_cpu_s`` in threads such as aiosqlite's
worker, where SQLite itself runs), of the fakes while serving (``fakes_cpu_s``) and of the
PostgreSQL backends (``db_cpu_s``), each also per order; per-platform figures (``orders`` stored,
``reread`` records read again by a platform's paging walk, ``windows``, when it finished); the
machine's load average before and after (the machine may be shared). ``--profile FILE`` writes
a cProfile of the hub's side, ``--profile-fakes FILE`` one of the fakes' process while serving.

``--with-floor`` (with ``--frozen``) then measures the floor of the same work in the same run
(``bench/ingest_floor.py``): the sync's own HTTP requests sent again and their answers decoded
(orjson, lxml), and its orders and lines stored again the leanest idempotent way (PostgreSQL: a
scratch schema; SQLite: a scratch file, written in this process). Under ``floor``:
``fetch_cpu_us_per_order``, on PostgreSQL ``store_client_cpu_us_per_order`` and
``store_db_cpu_us_per_order``, on SQLite ``store_cpu_us_per_order`` and ``store_orders_per_s``;
the floor's ``hub_cpu_us_per_order`` (what the hub's process would spend: fetch and decode plus
the store's client side, and SQLite's work, which the hub does in aiosqlite's thread), and the
ratios ``hub_floor_ratio`` (floor CPU / hub CPU) and ``db_floor_ratio`` (the floor's PostgreSQL
CPU / the sync's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing
import os
import resource
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
from ingest_floor import (  # bench/ingest_floor.py, beside this file
    RequestRecorder,
    own_cpu,
    proc_cpu,
    replay,
    stat_cpu,
    store_floor,
    store_floor_sqlite,
)
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url

from bangfu.clock import utcnow
from bangfu.enums import SyncStream
from bangfu.models import Order, OrderLine, Shop
from bangfu.runtime import tune_gc
from bangfu.secrets import SecretStore
from bangfu.store import make_engine, session_factory, upgrade
from connectors.errors import TransientError
from connectors.fakes.clock import FakeClock
from connectors.fakes.registry import PLATFORM_ORDER
from connectors.fakes.server import Running, build_fake, start
from connectors.http import close_all_sessions
from sync.engine import StreamOutcome, SyncEngine, SyncPolicy
from sync.factory import ConnectorFactory
from sync.shops import register, specs_from_fakes

SEED = 7
#: loopback fakes need no politeness: effectively unthrottled
UNTHROTTLED = {"per_second": 1_000_000, "burst": 1_000}
#: reads of a shop's last hour in the warm-up before its timeouts count (see ``_warm_up``)
WARMUP_ATTEMPTS = 10


@dataclass(frozen=True)
class Plan:
    platforms: tuple[str, ...]
    orders_per_world: int
    shops: int
    days: int
    profile: str | None = None  # write a cProfile of the fakes while they serve
    frozen: bool = False  # pre-rendered pages (build_fake(frozen=True))


# --------------------------------------------------------------------------- the fakes


async def _start_fakes(plan: Plan) -> tuple[list[Running], float, float]:
    """The fakes listening; how long building the worlds took, and pre-rendering them."""
    clock = FakeClock()
    started = time.perf_counter()
    fakes = [
        build_fake(
            name,
            seed=SEED,
            orders=plan.orders_per_world,
            shops=plan.shops,
            days=plan.days,
            clock=clock,
            frozen=plan.frozen,
        )
        for name in plan.platforms
    ]
    built = time.perf_counter() - started
    clock.freeze()  # after the last world: every generated order is visible, nothing changes
    started = time.perf_counter()
    for fake in fakes:
        fake.prerender()  # frozen mode: every listed record rendered once (else a no-op)
    prerendered = time.perf_counter() - started
    running: list[Running] = []
    try:
        for fake in fakes:
            running.append(await start(fake))
    except BaseException:
        for item in running:
            await item.close()
        raise
    return running, built, prerendered


def _truth(running: Sequence[Running]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in running:
        for world in item.worlds.values():
            out[item.platform] = out.get(item.platform, 0) + world.truth()["orders"]
    return out


def _fakes_child(conn: Connection, plan: Plan) -> None:
    """The fakes' process: start them, report, serve until told to stop, report CPU and memory."""

    async def serve() -> None:
        running, built, prerendered = await _start_fakes(plan)
        ready = {
            "describe": [r.describe() for r in running],
            "build_seconds": built,
            "prerender_seconds": prerendered,
            "truth": _truth(running),
        }
        if plan.frozen:
            # The records live as long as the process: keep full collections from walking them.
            gc.collect()
            gc.freeze()
        profiler = None
        if plan.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        conn.send({**ready, "cpu_s": own_cpu()})
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, conn.recv) == "cpu":  # then "stop"
            if profiler is not None:  # profile what follows the warm-up only
                profiler.disable()
                profiler = cProfile.Profile()
                profiler.enable()
            conn.send(own_cpu())
        if profiler is not None and plan.profile:
            profiler.disable()
            profiler.dump_stats(plan.profile)
        for item in running:
            await item.close()

    asyncio.run(serve())
    conn.send({"cpu_s": own_cpu(), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    conn.close()


class Fakes:
    """The fake platforms, in a child process or in this event loop."""

    def __init__(self, plan: Plan, where: str) -> None:
        self.plan = plan
        self.where = where
        self.describe: list[dict[str, Any]] = []
        self.build_seconds = 0.0
        self.prerender_seconds = 0.0
        self.truth: dict[str, int] = {}
        self.usage: dict[str, float] = {}
        self.ready_cpu_s = 0.0  # the fakes' CPU before serving (imports, building the worlds)
        self._running: list[Running] = []
        self._process: Any = None
        self._conn: Connection | None = None

    async def __aenter__(self) -> Fakes:
        if self.where == "inline":
            self._running, self.build_seconds, self.prerender_seconds = await _start_fakes(self.plan)
            self.describe = [r.describe() for r in self._running]
            self.truth = _truth(self._running)
            return self
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        self._process = context.Process(target=_fakes_child, args=(theirs, self.plan), daemon=True)
        self._process.start()
        theirs.close()
        self._conn = ours
        try:
            ready = await asyncio.get_running_loop().run_in_executor(None, ours.recv)
        except EOFError:
            raise RuntimeError("the fakes' process failed to start (its traceback is above)") from None
        self.describe, self.build_seconds, self.truth = ready["describe"], ready["build_seconds"], ready["truth"]
        self.prerender_seconds = ready["prerender_seconds"]
        self.ready_cpu_s = ready["cpu_s"]
        return self

    async def mark_ready(self) -> None:
        """From now on the fakes' CPU counts (after a warm-up): their CPU so far is not."""
        if self._conn is not None:
            conn = self._conn
            conn.send("cpu")
            self.ready_cpu_s = await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    async def __aexit__(self, *exc: object) -> None:
        for item in self._running:
            await item.close()
        if self._conn is not None:
            conn = self._conn
            conn.send("stop")
            self.usage = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
            conn.close()
            self._process.join(10)


# --------------------------------------------------------------------------- the database


async def _scratch_database(url: str, prefix: str = "bangfu_bench") -> tuple[str, str | None]:
    """For PostgreSQL, a fresh database next to the one in ``url`` (``<prefix>_<hex>``); SQLite URLs
    are used as given."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url, None
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        await admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False), name


async def _drop_database(url: str, name: str) -> None:
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


def _threads_cpu() -> float:
    """CPU seconds of this process's threads other than the main one (aiosqlite's worker...)."""
    main = threading.main_thread().native_id
    return sum(stat_cpu(task / "stat") for task in Path("/proc/self/task").iterdir() if int(task.name) != main)


class RssSampler:
    """This process's resident set size, sampled by a thread every half second while the sync runs:
    at its start, its largest, and at its end (``peak_rss_mb`` is the whole process's high-water
    mark, warm-up included)."""

    def __init__(self, every: float = 0.5) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE")
        self.samples: list[float] = [self.now()]
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    def now(self) -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * self._page / 2**20

    def _run(self, every: float) -> None:
        while not self._done.wait(every):
            self.samples.append(self.now())

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
        self.samples.append(self.now())

    def summary(self) -> dict[str, float]:
        return {
            "start": round(self.samples[0], 1),
            "max": round(max(self.samples), 1),
            "end": round(self.samples[-1], 1),
        }


# --------------------------------------------------------------------------- the run


async def run(args: argparse.Namespace, url: str, tmp: Path) -> dict[str, Any]:
    platforms = tuple(p for p in args.platforms.split(",") if p)
    unknown = [p for p in platforms if p not in PLATFORM_ORDER]
    if unknown or not platforms:
        raise SystemExit(f"unknown platforms {unknown}; choose from {', '.join(PLATFORM_ORDER)}")
    plan = Plan(
        platforms,
        max(1, args.orders // (len(platforms) * args.shops)),
        args.shops,
        args.days,
        args.profile_fakes,
        args.frozen,
    )
    load_before = os.getloadavg()
    db_url, scratch = await _scratch_database(url, args.db_prefix)
    try:
        async with Fakes(plan, args.fakes) as fakes:
            result = await _sync(args, db_url, fakes, tmp)
        result["world_build_seconds"] = round(fakes.build_seconds, 3)
        result["frozen"] = args.frozen
        if args.frozen:
            result["prerender_seconds"] = round(fakes.prerender_seconds, 3)
        if fakes.usage:
            serving = fakes.usage["cpu_s"] - fakes.ready_cpu_s  # the platforms' side of the sync
            result["fakes_cpu_s"] = round(serving, 2)
            result["fakes_cpu_us_per_order"] = round(serving / result["orders"] * 1e6) if result["orders"] else None
            result["fakes_peak_rss_mb"] = round(fakes.usage["peak_rss_mb"], 1)
        truth = sum(fakes.truth.values())
        result["complete"] = result["orders"] == truth
        if not result["complete"]:
            result["expected_orders"] = truth
    finally:
        if scratch is not None and not args.keep_db:
            await _drop_database(url, scratch)
    result["load_avg_before"] = [round(x, 2) for x in load_before]
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    result["fakes"] = args.fakes
    result["gc"] = "default" if args.default_gc else "tuned"
    if scratch is not None and args.keep_db:
        result["kept_db"] = scratch
    return result


async def _sync(args: argparse.Namespace, url: str, fakes: Fakes, tmp: Path) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        await upgrade(engine)
        lines = tmp / "fakes.jsonl"
        lines.write_text("\n".join(orjson.dumps(d).decode() for d in fakes.describe) + "\n")
        secrets = SecretStore(tmp / "secrets.json")
        async with session_factory(engine)() as session, session.begin():
            registered = await register(session, specs_from_fakes(lines), secrets)
            shop_ids = [shop.id for shop, _ in registered]
            await session.execute(
                update(Shop).where(Shop.id.in_(shop_ids)).values(settings={"rate_limit": UNTHROTTLED})
            )
        platform_of = {shop.id: shop.platform.value for shop, _ in registered}
        sync = SyncEngine(
            engine,
            secrets=secrets,
            policy=SyncPolicy(lag=timedelta(0), lookback=timedelta(days=args.days + 2), batch_size=args.batch_size),
        )
        warmup = 0.0
        if args.frozen:
            warmup = await _warm_up(engine, shop_ids, secrets)
            await fakes.mark_ready()
        finished: dict[int, float] = {}
        started = time.perf_counter()

        def progress(outcome: StreamOutcome) -> None:
            finished[outcome.shop_id] = time.perf_counter() - started

        db_pids = await _backend_pids(engine) if engine.dialect.name == "postgresql" else []
        db_cpu_before = {pid: proc_cpu(pid) for pid in db_pids}
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        threads_before = _threads_cpu()
        rss = RssSampler()  # its thread has ended when the threads' CPU is read again
        recorder = RequestRecorder() if args.with_floor else None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        with recorder or contextlib.nullcontext():
            results = await sync.sync_all(shop_ids, streams=[SyncStream.ORDERS], progress=progress)
        seconds = time.perf_counter() - started
        rss.stop()
        if args.profile:
            profiler.disable()
            profiler.dump_stats(args.profile)
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        threads_cpu = _threads_cpu() - threads_before
        db_pids = sorted(set(db_pids) | set(await _backend_pids(engine))) if db_pids else []
        # Per backend: one that ended during the sync (the pool replaced it) reads 0 now, and its
        # CPU since the start is lost with it; it must not count as negative.
        db_cpu = sum(max(0.0, proc_cpu(pid) - db_cpu_before.get(pid, 0.0)) for pid in db_pids)
        async with engine.connect() as conn:
            n_orders = int(await conn.scalar(select(func.count()).select_from(Order)) or 0)
            n_lines = int(await conn.scalar(select(func.count()).select_from(OrderLine)) or 0)
        errors = [f"{platform_of[shop]}: {o.message}" for shop, outs in results.items() for o in outs if not o.ok]
        per_platform: dict[str, dict[str, Any]] = {}
        for shop, outs in results.items():
            entry = per_platform.setdefault(platform_of[shop], {"orders": 0, "reread": 0, "windows": 0, "seconds": 0.0})
            for outcome in outs:
                entry["orders"] += outcome.rows.new + outcome.rows.changed
                # records read again (a paging walk's overlap, duplicates on pages): no new rows
                entry["reread"] += outcome.rows.unchanged + outcome.rows.duplicates
                entry["windows"] += outcome.windows_done
            entry["seconds"] = round(max(entry["seconds"], finished.get(shop, seconds)), 3)
        for entry in per_platform.values():
            entry["orders_per_s"] = round(entry["orders"] / entry["seconds"]) if entry["seconds"] else None
        hub_cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
        out: dict[str, Any] = {
            "bench": "ingest",
            "orders": n_orders,
            "order_lines": n_lines,
            "seconds": round(seconds, 3),
            "orders_per_s": round(n_orders / seconds),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rss_sync_mb": rss.summary(),
            "db": engine.dialect.name,
            "platforms": per_platform,
            "shops": len(shop_ids),
            "batch_size": args.batch_size,
            "hub_cpu_s": round(hub_cpu, 2),
            "hub_threads_cpu_s": round(threads_cpu, 2),
            "hub_cpu_us_per_order": round(hub_cpu / n_orders * 1e6) if n_orders else None,
        }
        if args.frozen:
            out["warmup_seconds"] = round(warmup, 3)
        if db_pids:
            out["db_cpu_s"] = round(db_cpu, 2)
            out["db_cpu_us_per_order"] = round(db_cpu / n_orders * 1e6) if n_orders else None
        if errors:
            out["errors"] = errors
        if recorder is not None:
            out["floor"] = await _floor(args, url, recorder, out)
        return out
    finally:
        await engine.dispose()
        await close_all_sessions()


async def _floor(args: argparse.Namespace, url: str, recorder: RequestRecorder, out: dict[str, Any]) -> dict[str, Any]:
    """``bench/ingest_floor.py`` on this run's requests and rows, and its ratios to the hub's figures."""
    n_orders = out["orders"]
    fetched = await replay(recorder.requests)
    floor: dict[str, Any] = {
        "requests": fetched.requests,
        "statuses": {str(k): v for k, v in sorted(fetched.statuses.items())},
        "refused": fetched.refused,
        "response_bytes": fetched.response_bytes,
        "hub_response_bytes": recorder.response_bytes,
        "decoded": {"json": fetched.decoded_json, "html": fetched.decoded_html},
        "fetch_seconds": round(fetched.seconds, 3),
        "fetch_cpu_s": round(fetched.cpu_s, 2),
        "fetch_cpu_us_per_order": round(fetched.cpu_s / n_orders * 1e6, 1),
        "decode_cpu_us_per_order": round(fetched.decode_cpu_s / n_orders * 1e6, 1),  # of the fetch's
    }
    postgresql = make_url(url).get_backend_name() == "postgresql"
    if postgresql:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        stored = await store_floor(dsn, batch_size=args.batch_size)
    else:
        # SQLite works in this process (the hub's in aiosqlite's thread): its floor is all CPU here.
        stored = store_floor_sqlite(str(make_url(url).database), batch_size=args.batch_size)
    hub_floor = fetched.cpu_s + stored.client_cpu_s
    floor.update(
        store_orders=stored.orders,
        store_lines=stored.lines,
        store_transactions=stored.transactions,
        store_seconds=round(stored.seconds, 3),
    )
    per_order = 1e6 / stored.orders
    if postgresql:
        floor["store_client_cpu_us_per_order"] = round(stored.client_cpu_s * per_order, 1)
        floor["store_db_cpu_us_per_order"] = round(stored.db_cpu_s * per_order, 1)
        if out.get("db_cpu_s"):
            floor["db_floor_ratio"] = round(stored.db_cpu_s / out["db_cpu_s"], 3)
    else:
        floor["store_cpu_us_per_order"] = round(stored.client_cpu_s * per_order, 1)
        floor["store_orders_per_s"] = round(stored.orders / stored.seconds)
    floor["hub_cpu_us_per_order"] = round(hub_floor / n_orders * 1e6, 1)
    floor["hub_floor_ratio"] = round(hub_floor / out["hub_cpu_s"], 3) if out["hub_cpu_s"] else None
    return floor


async def _warm_up(engine: Any, shop_ids: Sequence[int], secrets: SecretStore) -> float:
    """Read the last hour of orders of every shop through the hub's own connectors: the first
    request of each record shape the connectors ask for (TOP ``fields``, JD ``optional_fields``)
    makes a frozen fake render its whole world in that shape, before the timed sync.

    The shops are read one after another, and a read that times out is read again: the fakes
    share one event loop, which a whole world's render holds for as long as it takes (minutes
    at 1,000,000 orders on a loaded machine), so a request to another fake meanwhile, or the
    rendering one itself, may time out; the render goes on, and the next read finds it done."""
    started = time.perf_counter()
    async with session_factory(engine)() as session:
        shops = list((await session.scalars(select(Shop).where(Shop.id.in_(shop_ids)))).all())
    make = ConnectorFactory(secrets)
    end = utcnow()

    async def read(shop: Shop) -> None:
        connector = make(shop)
        try:
            async for _ in connector.orders(end - timedelta(hours=1), end):
                pass
        finally:
            await connector.aclose()

    for shop in shops:
        for attempt in range(1, WARMUP_ATTEMPTS + 1):
            try:
                await read(shop)
                break
            except TransientError:
                if attempt == WARMUP_ATTEMPTS:
                    raise
    return time.perf_counter() - started


async def _backend_pids(engine: Any) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"))
        return [int(row[0]) for row in rows]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=10_000, help="orders over all worlds (default 10000)")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file in a temp dir)")
    parser.add_argument("--platforms", default=",".join(PLATFORM_ORDER), help="comma-separated fake platforms")
    parser.add_argument("--shops", type=int, default=1, help="shops per platform (default 1)")
    parser.add_argument("--days", type=int, default=60, help="days of orders in each world (default 60)")
    parser.add_argument("--batch-size", type=int, default=SyncPolicy().batch_size, help="sync batch size")
    parser.add_argument("--fakes", choices=("process", "inline"), default="process", help="where the fakes run")
    parser.add_argument("--keep-db", action="store_true", help="keep the PostgreSQL scratch database")
    parser.add_argument("--db-prefix", default="bangfu_bench", help="name prefix of the PostgreSQL scratch database")
    parser.add_argument(
        "--frozen",
        action="store_true",
        help="fakes serve pre-rendered records (rendered before the timed sync); default: rendered per request",
    )
    parser.add_argument(
        "--with-floor",
        action="store_true",
        help="after the sync, measure the floor of the same work (bench/ingest_floor.py) and print it under 'floor'",
    )
    parser.add_argument("--profile", help="write a cProfile of the sync (hub side) to this file")
    parser.add_argument("--profile-fakes", help="write a cProfile of the fakes while serving (with --fakes process)")
    parser.add_argument(
        "--default-gc", action="store_true", help="keep CPython's garbage collector thresholds (bangfu.runtime)"
    )
    args = parser.parse_args(argv)
    if args.orders < 1 or args.shops < 1 or args.days < 1:
        parser.error("--orders, --shops and --days must be positive")
    if not args.default_gc:
        tune_gc()  # as bangfu's CLI and Celery workers do
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        return asyncio.run(run(args, url, Path(tmp)))


if __name__ == "__main__":
    sys.stdout.write(orjson.dumps(main()).decode() + "\n")
