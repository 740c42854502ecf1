"""bench/board.py at a tiny size: it builds, serves, opens event streams, commits for 3 s and
prints its one line, on SQLite (in-process channel) and PostgreSQL (LISTEN/NOTIFY)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.test_bench_smoke import run_bench
from tests.conftest import PG_URL


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_board_bench_prints_commit_to_event_latency(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    args = ["--seconds", "3", "--clients", "5", "--households", "40", "--orders", "40", "--days", "3"]
    if backend == "postgresql":
        request.getfixturevalue("pg_server")  # skips (or fails in CI) without a server
        args += ["--db", PG_URL]
    out = run_bench("board.py", *args, cwd=tmp_path)
    assert out["bench"] == "board" and out["db"] == backend and out["clients"] == 5
    assert out["channel"] == ("postgresql" if backend == "postgresql" else "in-process")
    assert out["commits"] >= 10 and out["missed"] == 0 and "client_errors" not in out
    latency = out["latency_ms"]
    assert latency["n"] == out["commits"] * 5
    assert 0 <= latency["p50"] <= latency["p95"] <= latency["max"]
    # One computation serves every client: fewer computations than events delivered.
    assert 0 < out["computations"] < out["events"]
    assert out["server_rss_mb"] > 0 and out["server_peak_rss_mb"] >= out["server_rss_mb"] * 0.5
    for key in ("goal_met", "notices", "server_cpu_s", "build_seconds", "connect_seconds"):
        assert key in out, key
