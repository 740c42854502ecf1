"""Load the county scenario into a database and report throughput as one JSON line.

    python bench/scenario_load.py --households 20000 --db sqlite+aiosqlite:////tmp/bench.db

Measures the import path people use (validated rows through the same loaders as `bangfu
import`), end to end: building the rows, upserting them, and a second idempotent pass.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

import orjson
from sqlalchemy.engine import make_url

from bangfu.demo.scenario import build_scenario, load_scenario
from bangfu.store import make_engine, session_factory, upgrade


async def main(households: int, url: str) -> dict[str, object]:
    engine = make_engine(url)
    await upgrade(engine)
    sessions = session_factory(engine)
    started = time.perf_counter()
    scenario = build_scenario(7, households=households)
    built = time.perf_counter()
    results = await load_scenario(sessions, scenario)
    loaded = time.perf_counter()
    await load_scenario(sessions, scenario)
    again = time.perf_counter()
    await engine.dispose()
    rows = sum(r.created + r.updated + r.unchanged for r in results.values())
    return {
        "bench": "scenario_load",
        "households": households,
        "rows": rows,
        "build_seconds": round(built - started, 3),
        "load_seconds": round(loaded - built, 3),
        "rows_per_s": round(rows / (loaded - built)),
        "reload_seconds": round(again - loaded, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "db": make_url(url).get_backend_name(),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=3000)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file in a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db_url = args.db or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        sys.stdout.write(orjson.dumps(asyncio.run(main(args.households, db_url))).decode() + "\n")
