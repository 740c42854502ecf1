"""Every benchmark runs with a tiny N and prints exactly one JSON line with its keys."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import PG_URL, REPO_ROOT

BENCH = REPO_ROOT / "bench"


def run_bench(script: str, *args: str, cwd: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    value = orjson.loads(lines[0])
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize(
    ("backend", "with_floor"), [("sqlite", False), ("sqlite", True), ("postgresql", False), ("postgresql", True)]
)
def test_ingest_prints_its_figures(
    backend: str, with_floor: bool, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    args = ["--orders", "90", "--platforms", "taobao,kuaishou,selfmall", "--days", "2", "--batch-size", "25"]
    if backend == "postgresql":
        request.getfixturevalue("pg_server")  # skips (or fails in CI) without a server
        args += ["--db", PG_URL, "--fakes", "inline"]
    if with_floor:
        args += ["--frozen", "--with-floor"]
    out = run_bench("ingest.py", *args, cwd=tmp_path)
    for key in ("orders", "order_lines", "seconds", "orders_per_s", "peak_rss_mb", "db"):
        assert key in out, key
    assert out["db"] == backend
    assert out["complete"] is True and out["orders"] == 90 and "errors" not in out
    assert out["order_lines"] >= out["orders"] and out["orders_per_s"] > 0 and out["peak_rss_mb"] > 0
    assert set(out["platforms"]) == {"taobao", "kuaishou", "selfmall"}
    assert sum(p["orders"] for p in out["platforms"].values()) == 90
    assert out["world_build_seconds"] >= 0 and out["hub_cpu_s"] > 0
    rss = out["rss_sync_mb"]  # the hub's resident set sampled during the sync
    assert 0 < rss["start"] <= rss["max"] and 0 < rss["end"] <= rss["max"] <= out["peak_rss_mb"] + 1
    if backend == "postgresql":
        assert "kept_db" not in out  # the scratch database is dropped
    if not with_floor:
        assert "floor" not in out
        return
    # The floor replays the sync's own requests and gets the same answers, then stores the same
    # orders and lines again.
    floor = out["floor"]
    assert floor["requests"] > 0 and floor["statuses"] == {"200": floor["requests"]}
    assert floor["refused"] == []
    assert floor["response_bytes"] == floor["hub_response_bytes"] > 0
    assert floor["decoded"]["json"] > 0 and floor["decoded"]["html"] > 0  # the mall's pages are HTML
    assert floor["store_orders"] == 90 and floor["store_lines"] == out["order_lines"]
    assert floor["fetch_cpu_us_per_order"] > 0
    if backend == "postgresql":
        assert floor["store_db_cpu_us_per_order"] >= 0  # /proc counts 10 ms ticks: 90 orders may not reach one
    else:
        assert floor["store_cpu_us_per_order"] > 0 and floor["store_orders_per_s"] > 0
    assert floor["hub_cpu_us_per_order"] > 0 and floor["hub_floor_ratio"] > 0


def test_scenario_load_prints_its_figures(tmp_path: Path) -> None:
    out = run_bench("scenario_load.py", "--households", "30", cwd=tmp_path)
    for key in ("rows", "load_seconds", "rows_per_s", "peak_rss_mb", "db"):
        assert key in out, key
    assert out["db"] == "sqlite" and out["rows"] > 30


def test_attribution_prints_its_figures(tmp_path: Path) -> None:
    out = run_bench("attribution.py", "--lines", "400", "--households", "120", cwd=tmp_path)
    for key in ("lines", "seconds", "lines_per_s", "peak_rss_mb", "db", "idle_run_seconds"):
        assert key in out, key
    assert out["db"] == "sqlite" and out["lines"] == 400 and out["lines_per_s"] > 0 and out["idle_run_seconds"] > 0
    stages = out["stages"]
    assert stages["attributed"] == 400 and stages["allocated"] == 400 and stages["posted"] == 400
    assert stages["failed"] == 0 and stages["waiting_lots"] == 0


@pytest.fixture
def scratch_pg(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of an empty PostgreSQL database, dropped afterwards (skips, or fails in CI, without a server)."""
    import asyncio

    pg_server = request.getfixturevalue("pg_server")
    name = asyncio.run(pg_server.create())
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_later(name)


def test_attribution_with_two_workers_shares_out_the_lines(scratch_pg: str, tmp_path: Path) -> None:
    """Two worker processes on one PostgreSQL store: every line is processed exactly once."""
    args = ["--lines", "600", "--households", "120", "--workers", "2", "--db", scratch_pg]
    out = run_bench("attribution.py", *args, cwd=tmp_path)
    assert out["db"] == "postgresql" and out["workers"] == 2 and out["lines"] == 600
    stages = out["stages"]
    assert stages["attributed"] == 600 and stages["allocated"] == 600 and stages["posted"] == 600
    assert stages["failed"] == 0 and stages["waiting_lots"] == 0


def test_ledger_rows_prints_its_figures(scratch_pg: str, tmp_path: Path) -> None:
    out = run_bench(
        "ledger_rows.py", "--lines", "300", "--legs", "5", "--repeat", "1", "--db", scratch_pg, cwd=tmp_path
    )
    assert out["bench"] == "ledger_rows" and out["lines"] == 300 and out["legs_per_line"] == 5
    for key in ("posting_row_us", "postings_per_line_us", "compact_line_us"):
        assert out[key] > 0, key
    assert out["postings_lines_per_s_one_core"] > 0 and out["compact_lines_per_s_one_core"] > 0


def test_line_floor_computes_the_same_journals_in_sql_and_vectorised(scratch_pg: str, tmp_path: Path) -> None:
    """Both ways of computing the floor's sale journals write identical, balanced journals (the CHECK
    refuses an unbalanced one), on two worker processes."""
    args = ["--lines", "400", "--households", "5", "--workers", "2", "--repeat", "1", "--db", scratch_pg]
    outs = [run_bench("line_floor.py", *args, "--split", split, cwd=tmp_path) for split in ("sql", "numpy")]
    for out, split in zip(outs, ("sql", "numpy"), strict=True):
        assert out["bench"] == "line_floor" and out["split"] == split and out["lines"] == 400
        assert out["workers"] == 2 and out["lines_per_s"] > 0 and out["peak_rss_mb"] > 0
        assert 7 < out["legs_per_line"] <= 7 + 3 * 5
    assert outs[0]["journals_md5"] == outs[1]["journals_md5"]
