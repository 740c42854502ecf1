"""Acceptance, end to end as an operator runs it: six fake platforms, one `sync run --all`.

`bangfu fakes serve` (all six platforms, light faults, frozen clock) -> `bangfu shops
add-from-fakes` -> `bangfu sync run --all --until-caught-up` -> `bangfu stats --json --records`
equals each fake's `GET /_fake/truth?records=1`, shop by shop: the totals, no duplicate rows, and
every order and refund at its latest version.

bench/convergence.py runs exactly that pipeline, as real processes, and reports it as one JSON
line, so this test runs it once: the acceptance and the bench's smoke test in one. (Chaos-level
faults are covered in-process, on virtual time, by test_engine.py, and end to end by the bench
at full size: see the README's figures.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import REPO_ROOT

PLATFORMS = ["taobao", "jd", "douyin", "kuaishou", "youzan", "selfmall"]
ORDERS = 250  # per shop


@pytest.mark.slow
def test_six_platforms_converge_on_their_truth(tmp_path: Path) -> None:
    args = ["--orders", str(ORDERS), "--days", "6", "--faults", "light", "--seed", "21"]
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "convergence.py"), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout + done.stderr[-3000:]  # exactly one JSON line, even on a mismatch
    out = orjson.loads(lines[0])
    assert out["match"] is True, json.dumps(out.get("mismatches") or out.get("sync_tail"), indent=1)
    assert out["platforms"] == PLATFORMS and out["shops"] == len(PLATFORMS) and out["db"] == "sqlite"
    assert out["orders"] == len(PLATFORMS) * ORDERS == out["hub_orders"] and out["sync_exit"] == 0
    assert out["records_checked"] >= out["orders"]
    for key in ("orders_per_shop", "order_lines", "refunds", "paid_fen", "refunded_fen", "seconds"):
        assert key in out, key
    assert out["peak_rss_mb"] > 0 and "mismatches" not in out and done.returncode == 0
