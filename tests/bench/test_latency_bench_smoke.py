"""bench/latency.py at a tiny size: both clients read every order and the line has its figures."""

from __future__ import annotations

from pathlib import Path

from tests.bench.test_bench_smoke import run_bench


def test_latency_bench_times_both_clients_against_one_fake(tmp_path: Path) -> None:
    # A look-back of days + 2: orders placed in the first live session reach back more than
    # ``--days`` (connectors.fakes.world), and at some times of day a 3-day look-back missed one.
    # No lag: while a live session is on (19:00-22:00 in Shanghai) the world's newest orders are
    # minutes old, and the sync's default 60 s lag left one or two out of both clients' range.
    args = ["--orders", "150", "--days", "2", "--lookback-days", "4", "--lag-seconds", "0"]
    args += ["--latency-ms", "5", "--fakes", "inline"]
    out = run_bench("latency.py", *args, cwd=tmp_path)
    assert out["bench"] == "latency" and out["db"] == "sqlite" and "errors" not in out
    assert out["sequential"]["orders"] == out["hub"]["orders"] == 150
    # The sequential loop reads two pages of 100; the hub every stream of the shop.
    assert out["sequential"]["requests"] == 2
    assert out["hub"]["requests"] > out["hub"]["requests_by_method"]["order.searchList"] > 0
    assert out["sequential_s"] > 0 and out["hub_s"] > 0
    assert abs(out["ratio"] - out["hub_s"] / out["sequential_s"]) < 0.05 * out["ratio"]
    assert out["hub"]["peak_rate"] <= out["limit"]["per_second"] + out["limit"]["burst"]
    assert out["floor_ratio"] >= 0 and out["hub_floor_s"] >= 0
