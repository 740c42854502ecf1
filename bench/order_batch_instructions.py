"""PostgreSQL's instructions per stored order for the sync's orders and lines statements, counted
with callgrind on a private cluster, on schema versions side by side; prints one JSON line.

    python bench/order_batch_instructions.py --workdir /tmp/cg --revision 0052 --revision head

CPU time on a shared machine moves by 10-40 % between runs of the same code; instruction counts
move by about 1 %. This makes a private PostgreSQL cluster in ``--workdir`` (``initdb``: C.UTF-8,
``jit``, ``fsync`` and autovacuum off; as the ``postgres`` OS user when run as root), migrates one
database per ``--revision`` and gives it one shop, then restarts the postmaster under
``valgrind --tool=callgrind`` (one output file per backend). For each revision two sessions write
batches of 1,000 new orders (1.49 lines each, a 1.5 KB payload) as ``bench/order_batch_cpu.py``
writes them (``COPY`` into the temp tables, the orders and lines statements, commit): one writes
``--batches`` + 1 batches, the other one; their difference is the instructions of ``--batches``
warm batches (plans and caches made by the first), ``COPY`` and commit included. ``--repeat``
runs the pairs again (interleaved by revision). The cluster is stopped and its directory removed
at the end; each run's callgrind files stay in ``--workdir``/cg for ``callgrind_annotate``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).parent))

import order_batch_cpu as batch  # bench/order_batch_cpu.py, beside this file

from bangfu.enums import ChannelType, PlatformKind
from bangfu.models import Shop
from bangfu.store import make_engine, upgrade
from bangfu.upsert import _PG_LINES, _PG_TEMP, LINE_COLUMNS, ORDER_COLUMNS

SETTINGS = "listen_addresses = '127.0.0.1'\njit = off\nfsync = off\nautovacuum = off\n"


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Cluster:
    def __init__(self, pgbin: Path, workdir: Path, port: int) -> None:
        self.pgbin, self.data, self.port = pgbin, workdir / "cluster", port
        self.callgrind = workdir / "cg"
        self.server: subprocess.Popen[bytes] | None = None

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self.data.parent.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.data.parent, "postgres")
        initdb = [str(self.pgbin / "initdb"), "-D", str(self.data), "-U", "postgres", "--locale=C.UTF-8", "-E", "UTF8"]
        subprocess.run(_as_postgres(initdb), check=True, capture_output=True)
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"{SETTINGS}port = {self.port}\nunix_socket_directories = '{self.data.parent}'\n")

    def start(self, callgrind: bool) -> None:
        command = [str(self.pgbin / "postgres"), "-D", str(self.data)]
        if callgrind:
            shutil.rmtree(self.callgrind, ignore_errors=True)
            self.callgrind.mkdir()
            if os.geteuid() == 0:
                shutil.chown(self.callgrind, "postgres")
            command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.callgrind}/cg.%p", *command]
        self.server = subprocess.Popen(_as_postgres(command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(120):
            if (
                subprocess.run(
                    [str(self.pgbin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
                ).returncode
                == 0
            ):
                return
            time.sleep(1)
        raise RuntimeError("the private cluster did not start")

    def stop(self) -> None:
        pg_ctl = [str(self.pgbin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"]
        subprocess.run(_as_postgres(pg_ctl), check=True, capture_output=True)
        if self.server is not None:
            self.server.wait()
            self.server = None

    def instructions(self, pid: int) -> int:
        for line in (self.callgrind / f"cg.{pid}").read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
        raise RuntimeError(f"no totals in callgrind's file of backend {pid}")


async def _prepare(cluster: Cluster, name: str, revision: str) -> None:
    admin = await asyncpg.connect(cluster.url("postgres", "postgresql"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    engine = make_engine(cluster.url(name))
    await upgrade(engine, revision)
    async with engine.begin() as conn:
        shop = dict(platform=PlatformKind.DOUYIN, channel_type=ChannelType.LIVE, platform_shop_id="bench")
        await conn.execute(insert(Shop).values(name="bench", settings={}, **shop))
    await engine.dispose()


async def _session(cluster: Cluster, name: str, batches: int, start: int) -> int:
    """Write ``batches`` batches in one session; returns its backend's pid."""
    driver = await asyncpg.connect(cluster.url(name, "postgresql"))
    shop_id = await driver.fetchval("SELECT id FROM shops")
    pid: int = await driver.fetchval("SELECT pg_backend_pid()")
    orders_sql = await batch._orders_statement(driver)
    for b in range(batches):
        rows, lines = batch._batch(shop_id, start + b * 1000, 1000)
        async with driver.transaction():
            await driver.execute(_PG_TEMP)
            await driver.copy_records_to_table("bangfu_orders_in", records=rows, columns=ORDER_COLUMNS)
            returned = await driver.fetch(orders_sql)
            line_rows = batch._line_rows(shop_id, returned, lines)
            await driver.copy_records_to_table("bangfu_lines_in", records=line_rows, columns=LINE_COLUMNS)
            await driver.execute(_PG_LINES)
    await driver.close()
    return pid


async def main(args: argparse.Namespace) -> dict[str, Any]:
    cluster = Cluster(Path(args.pgbin), Path(args.workdir), args.port)
    names = {revision: f"{args.prefix}_{revision}" for revision in args.revision}
    counts: dict[str, list[int]] = {revision: [] for revision in args.revision}
    cluster.init()
    try:
        cluster.start(callgrind=False)
        for revision, name in names.items():
            await _prepare(cluster, name, revision)
        cluster.stop()
        cluster.start(callgrind=True)
        start = 0
        for _ in range(args.repeat):
            for revision, name in names.items():
                one = await _session(cluster, name, 1, start)
                more = await _session(cluster, name, args.batches + 1, start + 1000)
                start += (args.batches + 2) * 1000
                await asyncio.sleep(1)  # callgrind writes a backend's file as it exits
                spent = cluster.instructions(more) - cluster.instructions(one)
                counts[revision].append(round(spent / (args.batches * 1000)))
    finally:
        if cluster.server is not None:
            cluster.stop()
        shutil.rmtree(cluster.data, ignore_errors=True)
    return {
        "bench": "order_batch_instructions",
        "orders_per_batch": 1000,
        "batches_counted": args.batches,
        "instructions_per_order": counts,
    }


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="an empty directory for the cluster and callgrind's files")
    parser.add_argument("--revision", action="append", help="schema revision to compare (repeatable; default head)")
    parser.add_argument("--batches", type=int, default=2, help="warm batches counted per session pair (default 2)")
    parser.add_argument("--repeat", type=int, default=2, help="session pairs per revision (default 2)")
    parser.add_argument("--port", type=int, default=5499)
    parser.add_argument("--pgbin", default="/usr/lib/postgresql/15/bin")
    parser.add_argument("--prefix", default="bench_instructions", help="database name prefix (in the cluster)")
    args = parser.parse_args(argv)
    args.revision = args.revision or ["head"]
    return args


if __name__ == "__main__":
    print(orjson.dumps(asyncio.run(main(parse(sys.argv[1:])))).decode())
