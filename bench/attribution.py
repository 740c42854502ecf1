"""Attribution + lot allocation + posting throughput, as one JSON line.

    python bench/attribution.py --lines 100000 --db postgresql+asyncpg://127.0.0.1:5432/postgres

With a PostgreSQL URL the database named in it is only used to create a scratch database next to
it (as ``bench/web.py`` and ``bench/ingest.py`` do), dropped afterwards unless ``--keep-db``
(then the JSON line names it as ``kept_db``); nothing is written into the database given.

With ``--workers N`` (PostgreSQL), N processes run the pipeline on the store at once, as N Celery
workers would; the clock starts once all of them are up.

Setup (not timed): the county scenario (3,000 households by default), its supply lots scaled up so every
line finds stock, live sessions in the Douyin shop's room, and ``--lines`` order lines
written straight into the store in bulk. About 40% of them are paid during a session and carry
its room id, and 3% have a partial refund. Timed: ``workers.pipeline.run_pipeline`` until
nothing is due, that is attribution, FIFO lot draws, sale journals with every household's
share, and refund reversals. Then, untimed by ``seconds``, one more run once nothing is due:
``idle_run_seconds`` is what each scheduled run costs while no order arrives (the stages read
the change queue, not every line stored).

With ``--with-floor`` (PostgreSQL), ``bench/line_floor.py``'s floor then runs in the same
invocation on the same data: the hub's paid lines, sessions, lots and households as stored, with
as many worker processes (``--floor-split``, median of ``--floor-repeat`` runs). The JSON line
then also holds ``floor`` (the floor's own figures), ``floor_lines_per_s`` and ``floor_ratio``,
the hub's lines/s over the floor's, so the machine's drift cancels.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import multiprocessing
import queue
import random
import resource
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.demo.scenario import build_scenario, load_scenario
from bangfu.enums import OrderStatus, RefundStatus, SupplierKind
from bangfu.models import Host, LiveSession, Order, OrderLine, Product, Refund, Shop, Sku, Supplier, SupplyLot
from bangfu.runtime import tune_gc
from bangfu.store import make_engine, session_factory, upgrade
from workers.pipeline import run_pipeline

START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 60
CHUNK = 5_000


async def _next_id(conn: AsyncConnection, table: Any) -> int:
    return int(await conn.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1


async def _bulk(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        await conn.execute(insert(table), rows[start : start + CHUNK])


async def prepare(url: str, lines: int, seed: int, households: int = 3000) -> int:
    """Fill the store; returns the number of paid order lines written."""
    engine = make_engine(url)
    await upgrade(engine)
    await load_scenario(session_factory(engine), build_scenario(7, households=households))
    rng = random.Random(seed)
    async with engine.begin() as conn:
        shop_id = await conn.scalar(select(Shop.id).where(Shop.platform == "douyin").order_by(Shop.id).limit(1))
        host = (await conn.execute(select(Host.id, Host.author_id).where(Host.platform == "douyin").limit(1))).one()
        # SKUs of cooperatives' lots, each as likely to sell as the stock it holds, so scaled lots suffice.
        stock = (
            await conn.execute(
                select(SupplyLot.sku_id, func.sum(SupplyLot.remaining))
                .join(Sku, Sku.id == SupplyLot.sku_id)
                .join(Product, Product.id == Sku.product_id)
                .join(Supplier, Supplier.id == Product.supplier_id)
                .where(Supplier.kind == SupplierKind.COOPERATIVE, SupplyLot.remaining > 0)
                .group_by(SupplyLot.sku_id)
                .order_by(SupplyLot.sku_id)
            )
        ).all()
        skus = [sku_id for sku_id, _ in stock]
        weights = [int(held) for _, held in stock]
        # Scale every lot (and its deliveries) so the lots hold enough for all lines.
        held = int(await conn.scalar(select(func.sum(SupplyLot.remaining))) or 1)
        factor = max(1, -(-lines * 4 // held))  # up to 3 units a line, SKUs drawn at random: a margin
        if factor > 1:
            scale = f"quantity = quantity * {factor}, remaining = remaining * {factor}"
            await conn.execute(text(f"UPDATE supply_lots SET {scale}"))
            await conn.execute(text(f"UPDATE lot_contributions SET quantity = quantity * {factor}"))

        sessions = []
        session_id = await _next_id(conn, LiveSession.__table__)
        for day in range(DAYS):
            starts = START + timedelta(days=day, hours=11)
            sessions.append(
                {
                    "id": session_id + day,
                    "shop_id": shop_id,
                    "room_id": f"7{seed:03d}{day:015d}",
                    "host_id": host.id,
                    "title": f"bench session {day + 1}",
                    "started_at": starts,
                    "ended_at": starts + timedelta(hours=2),
                    "views": 20_000,
                    "unique_viewers": 8_000,
                    "peak_online": 900,
                    "total_watch_seconds": 8_000 * 95,
                    "ad_spend_fen": 50_000,
                    "modified_at": starts + timedelta(hours=3),
                    "raw": None,
                    "content_hash": "",
                }
            )
        await _bulk(conn, LiveSession.__table__, sessions)

        order_id = await _next_id(conn, Order.__table__)
        line_id = await _next_id(conn, OrderLine.__table__)
        refund_id = await _next_id(conn, Refund.__table__)
        orders: list[dict[str, Any]] = []
        order_lines: list[dict[str, Any]] = []
        refunds: list[dict[str, Any]] = []
        while len(order_lines) < lines:
            live = rng.random() < 0.4
            if live:
                session = sessions[rng.randrange(DAYS)]
                paid_at = session["started_at"] + timedelta(seconds=rng.randrange(7200))
                room = session["room_id"]
            else:
                paid_at = START + timedelta(seconds=rng.randrange(DAYS * 86400))
                room = None
            oid = order_id + len(orders)
            number = f"B{oid:012d}"
            count = min(lines - len(order_lines), 1 if rng.random() < 0.7 else 2)
            paid_total = 0
            for index in range(count):
                quantity = rng.choice((1, 1, 1, 2, 3))
                price = rng.randrange(1_990, 19_900)
                lid = line_id + len(order_lines)
                paid_total += price * quantity
                order_lines.append(
                    {
                        "id": lid,
                        "order_id": oid,
                        "shop_id": shop_id,
                        "platform_line_id": f"{number}-{index + 1}",
                        "sku_id": rng.choices(skus, weights)[0],
                        "platform_item_id": "bench",
                        "title": "bench line",
                        "quantity": quantity,
                        "unit_price_fen": price,
                        "paid_fen": price * quantity,
                        "refund_state": "none",
                        "room_id": room,
                        "author_id": host.author_id if room else None,
                        "version": 1,
                        "content_hash": "",
                    }
                )
                if rng.random() < 0.03:
                    refunds.append(
                        {
                            "id": refund_id + len(refunds),
                            "shop_id": shop_id,
                            "platform_refund_id": f"R{lid:012d}",
                            "platform_order_id": number,
                            "platform_line_id": f"{number}-{index + 1}",
                            "order_line_id": lid,
                            "status": RefundStatus.SUCCEEDED,
                            "status_rank": RefundStatus.SUCCEEDED.rank,
                            "platform_status": "SUCCESS",
                            "amount_fen": price * quantity // 3,
                            "quantity": None,
                            "with_return": False,
                            "created_at": paid_at + timedelta(days=2),
                            "modified_at": paid_at + timedelta(days=3),
                            "content_hash": "",
                        }
                    )
            orders.append(
                {
                    "id": oid,
                    "shop_id": shop_id,
                    "platform_order_id": number,
                    "status": OrderStatus.COMPLETED,
                    "status_rank": OrderStatus.COMPLETED.rank,
                    "platform_status": "5",
                    "created_at": paid_at - timedelta(minutes=1),
                    "paid_at": paid_at,
                    "modified_at": paid_at + timedelta(days=5),
                    "paid_fen": paid_total,
                    "buyer_ref": f"buyer-{rng.randrange(lines)}",
                    "room_id": room,
                    "author_id": host.author_id if room else None,
                    "content_hash": "",
                }
            )
        await _bulk(conn, Order.__table__, orders)
        await _bulk(conn, OrderLine.__table__, order_lines)
        await _bulk(conn, Refund.__table__, refunds)
        if conn.dialect.name == "postgresql":
            for table in ("live_sessions", "orders", "order_lines", "refunds"):
                await conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
                )
    await engine.dispose()
    return len(order_lines)


async def measure(url: str) -> tuple[float, dict[str, int]]:
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        stats = await run_pipeline(engine)
        return time.perf_counter() - started, stats.as_dict()
    finally:
        await engine.dispose()


async def measure_idle(url: str) -> float:
    """Seconds of one pipeline run once everything is done (what the once-a-minute beat costs
    between syncs), after the statistics are refreshed as autovacuum would and one run has
    warmed the connections, as in a worker that has been running."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
            await conn.commit()
        await run_pipeline(engine)  # connections made, statements prepared, as in a running worker
        started = time.perf_counter()
        stats = await run_pipeline(engine)
        if stats.work:
            raise SystemExit(f"the idle run found work: {stats.as_dict()}")
        return time.perf_counter() - started
    finally:
        await engine.dispose()


def _worker(url: str, ready: Any, go: Any, results: Any, tuned_gc: bool) -> None:
    """One worker process: imported and connected before the clock starts, then the pipeline.
    Puts ``("ok", (stats, peak RSS))`` on ``results``, or ``("error", traceback)`` and fails."""
    if tuned_gc:
        tune_gc()  # as a Celery pool process does (workers.app)
    ready.release()
    go.wait()
    try:
        _, stats = asyncio.run(measure(url))
    except BaseException:
        results.put(("error", traceback.format_exc()))
        raise
    results.put(("ok", (stats, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))


def _dead(processes: list[Any]) -> str | None:
    """Why a worker is gone without reporting (killed, or failed before it could), or None."""
    for process in processes:
        if process.exitcode not in (None, 0):
            return f"worker process {process.pid} exited with code {process.exitcode}"
    return None


def _stop(processes: list[Any], failure: str) -> None:
    """Stop the workers still running and fail the bench with ``failure``."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(10)
    raise SystemExit(f"a bench worker failed:\n{failure}")


def run_workers(url: str, workers: int, tuned_gc: bool = True) -> tuple[float, dict[str, int], float]:
    """``workers`` processes run the pipeline on the same store at once, as Celery workers do
    (row locks and SKIP LOCKED share out the work). Seconds from the start signal until the
    last one finds nothing left, the stages summed, and the largest worker's peak RSS.

    A worker that fails (its traceback) or dies (its exit code) stops the others and the bench
    exits non-zero with it, rather than waiting for a result that will never come."""
    context = multiprocessing.get_context("spawn")
    ready, go, results = context.Semaphore(0), context.Event(), context.Queue()
    processes = [context.Process(target=_worker, args=(url, ready, go, results, tuned_gc)) for _ in range(workers)]
    for process in processes:
        process.start()
    for _ in processes:
        while not ready.acquire(timeout=0.5):
            failure = _dead(processes)
            if failure is not None:
                _stop(processes, failure)
    started = time.perf_counter()
    go.set()
    outcomes: list[tuple[dict[str, int], float]] = []
    while len(outcomes) < len(processes):
        try:
            kind, value = results.get(timeout=0.5)
        except queue.Empty:
            failure = _dead(processes)
            if failure is not None:
                _stop(processes, failure)
            continue
        if kind == "error":
            _stop(processes, value)
        outcomes.append(value)
    seconds = time.perf_counter() - started
    for process in processes:
        process.join()
        if process.exitcode:
            raise SystemExit(f"a worker process failed with exit code {process.exitcode}")
    total: dict[str, int] = {}
    for stats, _ in outcomes:
        for name, value in stats.items():
            total[name] = total.get(name, 0) + value
    return seconds, total, max(rss for _, rss in outcomes)


def main(
    lines: int,
    url: str,
    seed: int,
    households: int,
    workers: int = 1,
    floor_split: str | None = None,
    floor_repeat: int = 3,
    tuned_gc: bool = True,
) -> dict[str, object]:
    """The hub's figures; with ``floor_split``, the floor's on the same store too, and their ratio.
    ``tuned_gc``: the workers collect garbage as bangfu's Celery workers do (bangfu.runtime)."""
    written = asyncio.run(prepare(url, lines, seed, households))
    if workers > 1:
        seconds, stats, worker_rss = run_workers(url, workers, tuned_gc)
    else:
        if tuned_gc:
            tune_gc()
        seconds, stats = asyncio.run(measure(url))
        worker_rss = 0.0
    own_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    idle = asyncio.run(measure_idle(url))
    result: dict[str, object] = {
        "bench": "attribution",
        "lines": written,
        "seconds": round(seconds, 3),
        "lines_per_s": round(written / seconds) if seconds else None,
        "peak_rss_mb": round(max(own_rss, worker_rss), 1),
        "idle_run_seconds": round(idle, 3),
        "db": make_url(url).get_backend_name(),
        "workers": workers,
        "gc": "tuned" if tuned_gc else "default",
        "stages": stats,
    }
    if floor_split is not None:
        # Here, not at the top: the tests import this module as bench.attribution, where the
        # script's own directory (line_floor's, and its _scratch's) is not on the path.
        measure_floor = importlib.import_module("line_floor").measure

        floor = asyncio.run(measure_floor(url, 0, 0, workers, floor_repeat, floor_split, from_store=True))
        if floor["lines"] != written:
            raise SystemExit(f"the floor read {floor['lines']} lines of the store, the hub wrote {written}")
        floor_rate = written / float(str(floor["seconds"]))
        result["floor"] = floor
        result["floor_lines_per_s"] = round(floor_rate)
        result["floor_ratio"] = round(written / seconds / floor_rate, 4) if seconds else None
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file in a temp dir)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--households", type=int, default=3000, help="households in the county scenario")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes running the pipeline at once (SQLite allows one writer: use 1 there)",
    )
    parser.add_argument(
        "--with-floor",
        action="store_true",
        help="then run bench/line_floor.py's floor on the same data and workers, and print the ratio (PostgreSQL)",
    )
    parser.add_argument("--floor-split", choices=("sql", "numpy"), default="numpy", help="the floor's way to split")
    parser.add_argument("--floor-repeat", type=int, default=3, help="the floor's runs (median)")
    parser.add_argument(
        "--default-gc", action="store_true", help="keep CPython's garbage collector thresholds (bangfu.runtime)"
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the PostgreSQL scratch database")
    args = parser.parse_args()
    if args.with_floor and (args.db is None or make_url(args.db).get_backend_name() != "postgresql"):
        parser.error("--with-floor needs a PostgreSQL --db: the floor measures PostgreSQL")
    # bench/ingest.py (the scratch database next to the one in --db), by name as line_floor above:
    # the tests import this module as bench.attribution.
    ingest = importlib.import_module("ingest")

    with tempfile.TemporaryDirectory() as tmp:
        given = args.db or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        db_url, scratch = asyncio.run(ingest._scratch_database(given))
        try:
            result = main(
                args.lines,
                db_url,
                args.seed,
                args.households,
                args.workers,
                args.floor_split if args.with_floor else None,
                args.floor_repeat,
                not args.default_gc,
            )
        finally:
            if scratch is not None and not args.keep_db:
                asyncio.run(ingest._drop_database(given, scratch))
        if scratch is not None and args.keep_db:
            result["kept_db"] = make_url(db_url).render_as_string(hide_password=True)
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
