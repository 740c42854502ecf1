"""bench/web.py at a tiny size: it builds, serves, signs in as each role and prints its one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.test_bench_smoke import run_bench

LATENCY_KEYS = ("p50", "p95", "p99", "n")


@pytest.mark.slow
def test_web_bench_prints_latencies_per_role_and_route(tmp_path: Path) -> None:
    args = ["--lines", "200", "--households", "40", "--requests", "2", "--concurrency", "2"]
    out = run_bench("web.py", *args, cwd=tmp_path)
    assert out["bench"] == "web" and out["db"] == "sqlite" and out["lines"] == 200
    assert out["build_seconds"] > 0 and out["concurrency"] == 2 and out["requests_per_route"] == 2
    for key in ("measured", "skipped", "not_routed", "homes", "routes", "worst_p95_ms", "over_100ms_p95"):
        assert key in out, key
    measured = out["measured"]
    for figures in measured.values():
        assert all(figures[k] is not None for k in LATENCY_KEYS), figures
        assert figures["p50"] <= figures["p95"] <= figures["p99"]
    assert measured["anonymous GET /login"]["n"] == 2 and "errors" not in measured["anonymous GET /login"]
    assert "errors" not in measured["anonymous POST /login"]
    assert set(out["homes"]) == {"admin", "operator", "host", "coop", "county", "unit"}
    for role, home in out["homes"].items():
        assert home["route"] is not None, (role, home)
        assert f"{role} GET /" in measured, role
        # The home page itself, once its route exists, is measured with no error.
        assert f"{role} GET {home['route']}" in measured, (role, out["skipped"].get(f"{role} GET {home['route']}"))
    assert not out["routes_with_errors"], out["routes_with_errors"]
    # The server's CPU per request, per measured route (the anonymous login apart).
    routes = [k for k in measured if not k.startswith("anonymous") and not k.endswith(" GET /")]
    assert routes and all(measured[k]["server_cpu_ms"] > 0 for k in routes)
