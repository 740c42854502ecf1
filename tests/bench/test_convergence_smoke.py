"""bench/convergence.py at a tiny size: real processes, light faults, and the JSON line says match."""

from __future__ import annotations

from pathlib import Path

from tests.bench.test_bench_smoke import run_bench


def test_convergence_prints_a_match(tmp_path: Path) -> None:
    out = run_bench("convergence.py", "--orders", "30", "--days", "3", "--faults", "light", "--seed", "5", cwd=tmp_path)
    assert out["match"] is True, out.get("mismatches") or out.get("sync_tail")
    assert out["db"] == "sqlite" and out["shops"] == 6 and out["orders"] == 6 * 30 == out["hub_orders"]
    assert out["records_checked"] >= out["orders"] and out["sync_exit"] == 0
    for key in ("orders_per_shop", "platforms", "order_lines", "refunds", "paid_fen", "refunded_fen", "seconds"):
        assert key in out, key
    assert out["peak_rss_mb"] > 0 and "mismatches" not in out
