"""bench/board.py at a tiny size: it serves, opens event streams, commits for 3 s and prints its
one line, on SQLite (in-process channel: it builds its own small county first, as it does by
default) and PostgreSQL (LISTEN/NOTIFY: on a clone of the web tests' demo county, ``--reuse``,
which the run builds once anyway, instead of building another on the server)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.bench.test_bench_smoke import run_bench
from tests.conftest import PgServer
from tests.web.conftest import World


def check(out: dict[str, Any], backend: str) -> None:
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


ARGS = ["--seconds", "3", "--clients", "5"]


@pytest.mark.slow
def test_board_bench_prints_commit_to_event_latency_on_sqlite(tmp_path: Path) -> None:
    out = run_bench("board.py", *ARGS, "--households", "40", "--orders", "40", "--days", "3", cwd=tmp_path)
    check(out, "sqlite")
    assert out["build_seconds"] > 0


@pytest.mark.slow
@pytest.mark.postgres
def test_board_bench_prints_commit_to_event_latency_on_postgresql(
    _pg_world: World, pg_server: PgServer, tmp_path: Path
) -> None:
    name = asyncio.run(pg_server.create(template=_pg_world.url.rsplit("/", 1)[1]))
    try:
        out = run_bench("board.py", *ARGS, "--db", pg_server.app_url(name), "--reuse", cwd=tmp_path)
    finally:
        pg_server.drop_later(name)
    check(out, "postgresql")
    assert out["build_seconds"] == 0
