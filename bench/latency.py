"""The hub against real latency, and a plain sequential loop over the same API: one JSON line.

    python bench/latency.py                                  # 20,000 orders, 30 ms, a fresh SQLite file
    python bench/latency.py --db postgresql+asyncpg://127.0.0.1:5432/postgres
    python bench/latency.py --orders 2000 --latency-ms 30 --fakes inline

One Douyin fake (``connectors.fakes.server.build_fake``) serves one shop of ``--orders`` orders
over ``--days`` days with ``--latency-ms`` added to every API request, its world clock frozen
after building (both clients see the same data); with ``--frozen`` its records are also
pre-rendered (``bangfu fakes serve --frozen``), so a page costs the fake well under the
latency and the loop below measures the latency, not the fake. By default it runs in a child process
(``--fakes process``: the platform's CPU is not the hub's, as on a real platform); ``--fakes
inline`` serves it from this process's event loop. The fake records when each API request
arrives (an outer middleware added here; the fake itself is unchanged), so the request counts
and rates below are what the platform saw.

Timed, one after the other against the same fake:

(a) ``sequential``: the loop a platform SDK's examples show. aiohttp, each request signed with
    :mod:`connectors.douyin.sign` (hmac-sha256 over the exact ``param_json`` body), page 0, 1,
    2... of ``order.searchList`` ordered by ``update_time`` over the hub's time range (the last
    ``--lookback-days`` up to ``now - --lag-seconds``), until ``page x size >= total``. Nothing
    else: no retries, no windows, no other streams.
(b) ``hub``: the shop registered as ``bangfu shops add`` would (its credentials in a secret
    store, no rate-limit override: the connector's own rate applies), then what ``bangfu sync
    run --shop ID --until-caught-up`` does (``SyncEngine.sync_all(until_caught_up=True)`` over
    every stream it runs by default, with the CLI's default lag and look-back) into a fresh
    SQLite file, or with ``--db`` a scratch PostgreSQL database (dropped afterwards). The
    migrations run before the clock starts.

Output keys: ``sequential_s``, ``hub_s``, ``ratio`` (hub / sequential; the target is <= 1/3)
and ``target_met``; ``hub_floor_s``, the least time the hub's requests can take at the limit (a
burst at once, the rest at the rate), and ``floor_ratio`` (that floor / ``sequential_s``): a
floor ratio above 1/3 means no client keeping to the limit can meet the target with those
requests. Per side: ``orders`` read or stored, ``requests`` the fake received (the hub's also
by method), ``peak_rate`` (requests in the busiest second), ``peak_rate_10s`` (per second over
the busiest ten), ``mean_rate``, and the CPU the fake spent serving them (``fake_cpu_s``: a
single-process fake that spends as long on a page as the latency is a bottleneck of its own);
the hub's ``hub_cpu_s``, ``peak_rss_mb`` and per-stream windows and new rows. ``limit`` is
Douyin's rate the connector keeps (``DouyinConnector.rate``: PLATFORMS.md publishes no Douyin
QPS, so the connector's documented allowance stands for it). ``--streams orders`` times the
hub on the orders stream alone, the same work as the sequential loop.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import cProfile
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from sqlalchemy import func, select

from bangfu.enums import SyncStream
from bangfu.models import Order
from bangfu.secrets import SecretStore
from bangfu.store import make_engine, session_factory, upgrade
from connectors.douyin import sign as douyin_sign
from connectors.douyin.connector import DouyinConnector
from connectors.fakes.clock import FakeClock
from connectors.fakes.server import FakePlatform, Running, build_fake, start
from connectors.http import close_all_sessions
from sync.engine import SyncEngine, SyncPolicy
from sync.shops import register, specs_from_entries

SEED = 7
PAGE_SIZE = 100
METHOD = "order.searchList"


# --------------------------------------------------------------------------- the fake


class Arrivals:
    """When each API request reached the fake (monotonic seconds) and which method it called."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.methods: Counter[str] = Counter()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith("/_fake"):
            self.times.append(time.monotonic())
            self.methods[request.query.get("method", request.path)] += 1
        response: web.StreamResponse = await handler(request)
        return response

    def take(self) -> dict[str, Any]:
        """What arrived since the last take, and forget it; with the fake's CPU seconds so far."""
        out = {"times": self.times, "methods": dict(self.methods), "cpu_s": _own_cpu()}
        self.times, self.methods = [], Counter()
        return out


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _recording(fake: FakePlatform, arrivals: Arrivals) -> None:
    """Make ``fake``'s app record arrivals first, before its latency and faults."""
    build = fake.build_app

    def build_app() -> web.Application:
        app = build()
        app.middlewares.insert(0, arrivals.middleware)
        return app

    fake.build_app = build_app  # type: ignore[method-assign]


async def _start_fake(args: argparse.Namespace, arrivals: Arrivals) -> tuple[Running, float]:
    clock = FakeClock()
    started = time.perf_counter()
    fake = build_fake(
        "douyin",
        seed=SEED,
        orders=args.orders,
        days=args.days,
        latency_ms=args.latency_ms,
        clock=clock,
        frozen=args.frozen,
    )
    clock.freeze()  # every generated order is visible and nothing changes: both clients see one world
    if args.frozen:
        fake.prerender()  # as `bangfu fakes serve --frozen`: pages cut from ready bytes
    built = time.perf_counter() - started
    _recording(fake, arrivals)
    return await start(fake), built


def _fake_child(conn: Connection, args: argparse.Namespace) -> None:
    """The fake's process: start, report, then answer ``take`` with the arrivals until ``stop``."""

    async def serve() -> None:
        arrivals = Arrivals()
        running, built = await _start_fake(args, arrivals)
        conn.send({"describe": running.describe(), "build_seconds": built})
        loop = asyncio.get_running_loop()
        try:
            while (await loop.run_in_executor(None, conn.recv)) == "take":
                conn.send(arrivals.take())
        finally:
            await running.close()

    asyncio.run(serve())
    conn.close()


class Fake:
    """The Douyin fake in a child process or in this event loop; ``take()`` its arrivals."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.describe: dict[str, Any] = {}
        self.build_seconds = 0.0
        self._arrivals = Arrivals()
        self._running: Running | None = None
        self._process: Any = None
        self._conn: Connection | None = None

    async def __aenter__(self) -> Fake:
        if self.args.fakes == "inline":
            self._running, self.build_seconds = await _start_fake(self.args, self._arrivals)
            self.describe = self._running.describe()
            return self
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        self._process = context.Process(target=_fake_child, args=(theirs, self.args), daemon=True)
        self._process.start()
        theirs.close()
        self._conn = ours
        try:
            ready = await asyncio.get_running_loop().run_in_executor(None, ours.recv)
        except EOFError:
            raise RuntimeError("the fake's process failed to start (its traceback is above)") from None
        self.describe, self.build_seconds = ready["describe"], ready["build_seconds"]
        return self

    async def take(self) -> dict[str, Any]:
        if self._conn is None:
            return self._arrivals.take()
        conn = self._conn
        conn.send("take")
        taken: dict[str, Any] = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        return taken

    async def __aexit__(self, *exc: object) -> None:
        if self._running is not None:
            await self._running.close()
        if self._conn is not None:
            self._conn.send("stop")
            self._conn.close()
            self._process.join(10)


def peak_rate(times: Sequence[float], span: float = 1.0) -> float:
    """The most arrivals within any ``span`` seconds (a sliding window over sorted times), per second."""
    ordered = sorted(times)
    most = max((bisect.bisect_left(ordered, t + span) - i for i, t in enumerate(ordered)), default=0)
    return round(most / span, 1)


def _rates(seen: dict[str, Any], seconds: float) -> dict[str, Any]:
    times = seen["times"]
    return {
        "requests": len(times),
        "peak_rate": peak_rate(times),  # requests in the busiest second
        "peak_rate_10s": peak_rate(times, 10.0),  # per second over the busiest ten seconds
        "mean_rate": round(len(times) / seconds, 1) if seconds else None,
    }


# --------------------------------------------------------------------------- (a) the SDK-style loop


async def sequential(describe: dict[str, Any], start_s: int, end_s: int) -> dict[str, Any]:
    """Page through ``order.searchList`` over ``[start_s, end_s]`` one request after another."""
    base_url = describe["base_url"]
    creds = describe["credentials"]
    app_key, secret, token = creds["app_key"], creds["app_secret"], creds["access_token"]
    orders = requests = 0
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        page = 0
        while True:
            params = {
                "order_by": "update_time",
                "order_asc": True,
                "page": page,
                "size": PAGE_SIZE,
                "update_time_start": start_s,
                "update_time_end": end_s,
            }
            param_json = douyin_sign.param_json(params)
            timestamp = str(int(time.time()))
            query = {
                "app_key": app_key,
                "method": METHOD,
                "timestamp": timestamp,
                "v": douyin_sign.API_VERSION,
                "sign_method": douyin_sign.SignMethod.HMAC_SHA256.value,
                "sign": douyin_sign.sign(
                    app_key=app_key, secret=secret, method=METHOD, param_json=param_json, timestamp=timestamp
                ),
                "access_token": token,
            }
            async with session.post(
                f"{base_url}/order/searchList",
                params=query,
                data=param_json.encode(),
                headers={"Content-Type": "application/json", "x-open-no-old-err-code": "1"},
            ) as response:
                body = orjson.loads(await response.read())
            requests += 1
            if body.get("code") != 10000:
                raise RuntimeError(f"order.searchList page {page}: {body.get('code')} {body.get('sub_msg')}")
            data = body["data"]
            orders += len(data["shop_order_list"])
            if (page + 1) * PAGE_SIZE >= int(data["total"]):
                break
            page += 1
    return {"seconds": time.perf_counter() - started, "orders": orders, "requests": requests}


# --------------------------------------------------------------------------- (b) the hub


async def hub(
    describe: dict[str, Any],
    url: str,
    tmp: Path,
    policy: SyncPolicy,
    streams: Sequence[SyncStream] | None,
    profile: str | None = None,
) -> dict[str, Any]:
    """Register the shop, then ``sync_all(until_caught_up=True)`` as ``bangfu sync run`` does."""
    engine = make_engine(url)
    try:
        await upgrade(engine)
        secrets = SecretStore(tmp / "secrets.json")
        async with session_factory(engine)() as session, session.begin():
            registered = await register(session, specs_from_entries([("fake", describe)]), secrets)
        shop_ids = [shop.id for shop, _ in registered]
        sync = SyncEngine(engine, secrets=secrets, policy=policy)
        profiler = cProfile.Profile() if profile else None
        cpu_before = _own_cpu()
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        results = await sync.sync_all(shop_ids, streams=streams, until_caught_up=True)
        if profiler is not None and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        seconds = time.perf_counter() - started
        cpu = _own_cpu() - cpu_before
        async with engine.connect() as conn:
            stored = int(await conn.scalar(select(func.count()).select_from(Order)) or 0)
        outcomes = [o for outs in results.values() for o in outs]
        out: dict[str, Any] = {
            "seconds": seconds,
            "cpu_s": cpu,
            "orders": stored,
            "db": engine.dialect.name,
            "streams": {o.stream.value: {"windows": o.windows_done, "new": o.rows.new, "ok": o.ok} for o in outcomes},
        }
        errors = [f"{o.stream.value}: {o.message}" for o in outcomes if not o.ok]
        if errors:
            out["errors"] = errors
        return out
    finally:
        await engine.dispose()
        await close_all_sessions()


# --------------------------------------------------------------------------- the run


async def _timed(fake: Fake, work: Callable[[], Awaitable[dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``work``; what the fake saw meanwhile (arrivals, and ``cpu_s`` it spent serving)."""
    before = await fake.take()  # forget anything before this run
    result = await work()
    seen = await fake.take()
    seen["cpu_s"] -= before["cpu_s"]
    return result, seen


async def run(args: argparse.Namespace, url: str, tmp: Path) -> dict[str, Any]:
    load_before = os.getloadavg()
    policy = SyncPolicy(
        lag=timedelta(seconds=args.lag_seconds),
        lookback=timedelta(days=args.lookback_days),
        max_windows_in_flight=args.windows_in_flight,
    )
    streams = [SyncStream(name) for name in args.streams.split(",")] if args.streams else None
    import ingest  # bench/ingest.py: the scratch database next to the one in --db

    db_url, scratch = await ingest._scratch_database(url)
    try:
        async with Fake(args) as fake:
            now = time.time()
            # The hub's first range, [now - look-back, now - lag), as Douyin's inclusive seconds;
            # a minute inside the look-back (the platform refuses a start beyond 90 days).
            start_s = int(now - policy.lookback.total_seconds()) + 60
            end_s = int(now - policy.lag.total_seconds())
            seq, seq_seen = await _timed(fake, lambda: sequential(fake.describe, start_s, end_s))
            ours, hub_seen = await _timed(fake, lambda: hub(fake.describe, db_url, tmp, policy, streams, args.profile))
    finally:
        if scratch is not None:
            await ingest._drop_database(url, scratch)

    def fake_cpu(seen: dict[str, Any]) -> float | None:
        # Inline, the fake's CPU is this process's and cannot be told from the hub's.
        return round(seen["cpu_s"], 2) if args.fakes == "process" else None

    rate = DouyinConnector.rate
    ratio = ours["seconds"] / seq["seconds"]
    # The least time the hub's requests can take at the limit: a burst at once, the rest at the rate.
    floor = max(0, len(hub_seen["times"]) - rate.burst) / rate.per_second
    out: dict[str, Any] = {
        "bench": "latency",
        "platform": "douyin",
        "orders": args.orders,
        "latency_ms": args.latency_ms,
        "fakes": args.fakes,
        "frozen": args.frozen,
        "windows_in_flight": args.windows_in_flight,
        "streams": args.streams or "all",
        "db": ours.pop("db"),
        "sequential_s": round(seq["seconds"], 3),
        "hub_s": round(ours["seconds"], 3),
        "ratio": round(ratio, 3),
        "target_met": ratio <= 1 / 3,
        # What the rate limit alone allows the hub at best, for these requests.
        "hub_floor_s": round(floor, 3),
        "floor_ratio": round(floor / seq["seconds"], 3),
        "sequential": {
            "orders": seq["orders"],
            **_rates(seq_seen, seq["seconds"]),
            "fake_cpu_s": fake_cpu(seq_seen),
        },
        "hub": {
            "orders": ours["orders"],
            **_rates(hub_seen, ours["seconds"]),
            "requests_by_method": hub_seen["methods"],
            "hub_cpu_s": round(ours["cpu_s"], 2),
            "fake_cpu_s": fake_cpu(hub_seen),
            "streams": ours["streams"],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        },
        "limit": {
            "per_second": rate.per_second,
            "burst": rate.burst,
            "source": "DouyinConnector.rate (PLATFORMS.md publishes no Douyin QPS)",
        },
        "world_build_seconds": round(fake.build_seconds, 3),
        # The machine may be shared: what else ran shows here.
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
    }
    if "errors" in ours:
        out["errors"] = ours["errors"]
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20_000, help="orders in the shop (default 20000)")
    parser.add_argument("--latency-ms", type=int, default=30, help="latency the fake adds per request (default 30)")
    parser.add_argument("--days", type=int, default=60, help="days of orders in the world (default 60)")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file in a temp dir)")
    parser.add_argument("--fakes", choices=("process", "inline"), default="process", help="where the fake runs")
    parser.add_argument("--lag-seconds", type=int, default=60, help="the sync's lag (the CLI's default, 60)")
    parser.add_argument("--lookback-days", type=int, default=90, help="the sync's look-back (the CLI's default, 90)")
    parser.add_argument(
        "--windows-in-flight",
        type=int,
        default=SyncPolicy().max_windows_in_flight,
        help="SyncPolicy.max_windows_in_flight (1: one window after another)",
    )
    parser.add_argument(
        "--frozen",
        action="store_true",
        help="the fake serves pre-rendered records (bangfu fakes serve --frozen): a page costs it little",
    )
    parser.add_argument("--profile", help="write a cProfile of the hub's sync to this file")
    parser.add_argument(
        "--streams", default="", help="comma-separated streams for the hub (default: all, as `bangfu sync run`)"
    )
    args = parser.parse_args(argv)
    if args.orders < 1 or args.days < 1 or args.latency_ms < 0 or args.windows_in_flight < 1:
        parser.error("--orders, --days and --windows-in-flight must be positive, --latency-ms not negative")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        return asyncio.run(run(args, url, Path(tmp)))


if __name__ == "__main__":
    sys.stdout.write(orjson.dumps(main()).decode() + "\n")
