"""Where one pipeline run's time goes, stage by stage: wall, the worker's CPU and its PostgreSQL
backend's CPU (read from /proc, so PostgreSQL must run on this machine).

    python bench/stage_cpu.py --lines 20000 --db postgresql+asyncpg://127.0.0.1:5432/postgres [--profile out.prof]

The store is built in a scratch database next to the one named in ``--db`` (``bench/ingest.py``'s
helper), dropped afterwards unless ``--keep-db``; nothing is written into the database given.

The store is filled as ``bench/attribution.py`` fills it (same seed, same lines), then one
``workers.pipeline.run_pipeline`` runs with each stage's transaction timed. On a shared machine
the wall clock includes waiting for a core; the two CPU columns do not, so they are what to
compare between two versions of the code (docs/accounting.md, issue 15). ``--profile`` writes a
cProfile of the run (not of the setup).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parent))

import attribution  # bench/attribution.py, beside this file

import workers.pipeline as pipeline
from bangfu.runtime import tune_gc
from bangfu.store import make_engine

TICK = os.sysconf("SC_CLK_TCK")


def backend_cpu(pid: int) -> float:
    """User + system CPU seconds of a PostgreSQL backend process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def stage_name(result: Any) -> str:
    name = type(result).__name__
    if isinstance(result, int) or result is None:
        return "session_summaries"  # bangfu.session_summaries.refresh: the summaries it rewrote
    if name == "PostingStats":
        return (
            "post_lines" if result.sales or result.trueups or result.discovered or result.examined else "post_refunds"
        )
    return name


async def run(url: str, profile: str | None) -> None:
    engine = make_engine(url)
    totals: dict[str, list[float]] = {}

    async def timed(engine: AsyncEngine, work: Any) -> Any:
        async with engine.begin() as conn:
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
            cpu, wall, pg = time.process_time(), time.perf_counter(), backend_cpu(pid)
            result = await work(conn)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        pg = backend_cpu(pid) - pg  # after the commit, which runs the deferred checks
        row = totals.setdefault(stage_name(result), [0.0, 0.0, 0.0])
        row[0], row[1], row[2] = row[0] + wall, row[1] + cpu, row[2] + pg
        return result

    original = pipeline._stage
    pipeline._stage = timed  # type: ignore[assignment]
    profiler = cProfile.Profile() if profile else None
    try:
        tune_gc()
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        stats = await pipeline.run_pipeline(engine)
        if profiler:
            profiler.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        pipeline._stage = original
        await engine.dispose()
    print(f"wall {wall:.2f} s, worker CPU {cpu:.2f} s, stages: {stats.as_dict()}")
    print(f"{'stage':20s} {'wall s':>8s} {'worker CPU s':>13s} {'PostgreSQL CPU s':>17s}")
    for name, (w, c, p) in sorted(totals.items(), key=lambda item: -item[1][0]):
        print(f"{name:20s} {w:8.2f} {c:13.2f} {p:17.2f}")
    if profiler and profile:
        profiler.dump_stats(profile)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--db", required=True, help="a PostgreSQL database URL (a scratch database is made beside it)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--profile", help="write a cProfile of the pipeline run to this file")
    parser.add_argument("--keep-db", action="store_true", help="keep the scratch database (its name goes to stderr)")
    args = parser.parse_args()
    import ingest  # bench/ingest.py, beside this file: the scratch database

    db_url, scratch = asyncio.run(ingest._scratch_database(args.db))
    try:
        asyncio.run(attribution.prepare(db_url, args.lines, args.seed))
        asyncio.run(run(db_url, args.profile))
    finally:
        if scratch is not None and not args.keep_db:
            asyncio.run(ingest._drop_database(args.db, scratch))
        elif scratch is not None:
            print(f"kept database {scratch}", file=sys.stderr)
