"""PostgreSQL's CPU for the sync's orders and lines statements, per stored order, on schema versions
side by side; prints one JSON line.

    python bench/order_batch_cpu.py --db postgresql+asyncpg://127.0.0.1:5432/postgres \\
        --revision 0037 --revision head --runs 6

For each ``--revision`` a scratch database (``<prefix>_<revision>_<hex>``, dropped afterwards) is
migrated to it and given one shop. Then, in turn on each database (interleaved, so a change in
the machine's load falls on every version alike), a run writes ``--batches`` batches of
``--orders`` new orders (with 1.49 lines each, as the ingest bench's worlds have, and a 1.5 KB
raw payload) the way ``bangfu.upsert`` writes them on PostgreSQL: ``COPY`` into the session's
temp tables, then the orders statement and the lines statement (``INSERT ... SELECT ... ON
CONFLICT``), one transaction per batch. What is measured is the backend's CPU (user + system,
from /proc, so PostgreSQL must run on this machine) across those two statements, with their
triggers; the ``COPY`` and the commit are not in it. A first run on each database is not counted
(plans, caches). The output gives each revision's runs (µs per order) and their median, and the
load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from bangfu.enums import ChannelType, PlatformKind
from bangfu.models import Shop
from bangfu.store import make_engine, upgrade
from bangfu.upsert import _PG_LINES, _PG_ORDERS, _PG_TEMP, LINE_COLUMNS, ORDER_COLUMNS

TICK = os.sysconf("SC_CLK_TCK")


def backend_cpu(pid: int) -> float:
    """User + system CPU seconds of a PostgreSQL backend process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _raw(n: int) -> bytes:
    """About 1.5 KB of platform payload, as the fakes' orders carry."""
    return orjson.dumps(
        {
            "order_id": f"B{n}",
            "buyer": {"nick": f"买家{n % 997}", "province": "云南省", "city": "昭通市"},
            "items": [
                {"sku": f"S{n % 50}", "title": "高山土豆 5斤装 农户直供" * 3, "price": "29.90"} for _ in range(3)
            ],
            "memo": "消费帮扶" * 40,
            "flags": list(range(40)),
        }
    )


def _batch(shop_id: int, start: int, orders: int) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
    """Order rows in ``ORDER_COLUMNS`` order (raw as bytes, as the upsert stages it), and how many
    lines each order has (1.49 on average)."""
    now = datetime.now(UTC)
    rows = []
    lines: dict[str, int] = {}
    for n in range(start, start + orders):
        when = now - timedelta(seconds=n)
        pid = f"B{n}"
        buyer = f"buyer{n % 997}"
        unit = room = author = campaign = None
        money = (5980, 0, 0)  # paid, post fee, discount
        head = (shop_id, pid, "paid", 3, "2", when, when, when, *money, buyer, unit, room, author, campaign)
        rows.append((*head, _raw(n), f"{n:032x}", now))
        lines[pid] = 2 if n % 100 < 49 else 1
    return rows, lines


def _line_rows(shop_id: int, returned: list[Any], lines: dict[str, int]) -> list[tuple[Any, ...]]:
    out = []
    for order_id, pid, _ in returned:
        for k in range(lines[pid]):
            key = (order_id, shop_id, f"{pid}-{k}", f"I{k}", None, None)  # ... platform/outer SKU ids
            out.append((*key, "土豆", 2, 2990, 5980, "none", None, None, f"{order_id:030x}{k:02d}", 1))
    return out


async def _orders_statement(driver: Any) -> str:
    """The orders statement as the revision's hub wrote it: the payload cast to ``jsonb`` before
    0051 (a ``json`` value would be parsed twice on its way into a ``jsonb`` column)."""
    kind = await driver.fetchval(
        "SELECT atttypid::regtype::text FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'raw'"
    )
    return _PG_ORDERS.replace("convert_from(raw, 'UTF8')::json", f"convert_from(raw, 'UTF8')::{kind}")


async def _run(driver: Any, shop_id: int, start: int, batches: int, orders: int) -> tuple[float, int]:
    """CPU seconds of the two statements over ``batches`` batches, and the orders stored."""
    pid = await driver.fetchval("SELECT pg_backend_pid()")
    orders_sql = await _orders_statement(driver)
    cpu = 0.0
    stored = 0
    for b in range(batches):
        rows, lines = _batch(shop_id, start + b * orders, orders)
        async with driver.transaction():
            await driver.execute(_PG_TEMP)
            await driver.copy_records_to_table("bangfu_orders_in", records=rows, columns=ORDER_COLUMNS)
            before = backend_cpu(pid)
            returned = await driver.fetch(orders_sql)
            cpu += backend_cpu(pid) - before
            line_rows = _line_rows(shop_id, returned, lines)
            await driver.copy_records_to_table("bangfu_lines_in", records=line_rows, columns=LINE_COLUMNS)
            before = backend_cpu(pid)
            await driver.execute(_PG_LINES)
            cpu += backend_cpu(pid) - before
        stored += len(returned)
    return cpu, stored


async def main(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()
    admin = make_engine(args.db, isolation_level="AUTOCOMMIT")
    names = [f"{args.prefix}_{rev}_{uuid.uuid4().hex[:8]}" for rev in args.revision]
    engines = []
    try:
        async with admin.connect() as conn:
            for name in names:
                await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        stores = []
        for name, revision in zip(names, args.revision, strict=True):
            engine = make_engine(make_url(args.db).set(database=name).render_as_string(hide_password=False))
            engines.append(engine)
            await upgrade(engine, revision)
            async with engine.begin() as conn:
                shop_id = (
                    await conn.execute(
                        insert(Shop)
                        .values(
                            name="bench",
                            platform=PlatformKind.DOUYIN,
                            channel_type=ChannelType.LIVE,
                            platform_shop_id="bench",
                            settings={},
                        )
                        .returning(Shop.id)
                    )
                ).scalar_one()
            dsn = make_url(args.db).set(drivername="postgresql", database=name).render_as_string(hide_password=False)
            stores.append((await asyncpg.connect(dsn), shop_id))
        runs: dict[str, list[float]] = {rev: [] for rev in args.revision}
        start = 0
        for run in range(args.runs + 1):
            for (driver, shop_id), revision in zip(stores, args.revision, strict=True):
                cpu, stored = await _run(driver, shop_id, start, args.batches, args.orders)
                if run > 0:  # the first run warms plans and caches
                    runs[revision].append(round(cpu / stored * 1e6, 1))
            start += args.batches * args.orders
        for driver, _ in stores:
            await driver.close()
    finally:
        for engine in engines:
            await engine.dispose()
        async with admin.connect() as conn:
            for name in names:
                await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()
    return {
        "bench": "order_batch_cpu",
        "orders_per_batch": args.orders,
        "batches_per_run": args.batches,
        "db_cpu_us_per_order": {rev: {"median": statistics.median(v), "runs": v} for rev, v in runs.items()},
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
    }


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a PostgreSQL URL; only used to create scratch databases")
    parser.add_argument("--revision", action="append", help="schema revision to compare (repeatable; default head)")
    parser.add_argument("--runs", type=int, default=6, help="counted runs per revision (default 6)")
    parser.add_argument("--batches", type=int, default=5, help="batches per run (default 5)")
    parser.add_argument("--orders", type=int, default=1000, help="orders per batch (default 1000)")
    parser.add_argument("--prefix", default="bangfu_bench_batch", help="scratch database name prefix")
    args = parser.parse_args(argv)
    args.revision = args.revision or ["head"]
    return args


if __name__ == "__main__":
    print(orjson.dumps(asyncio.run(main(parse(sys.argv[1:])))).decode())
