"""Acceptance, end to end as an operator runs it: six fake platforms, one `sync run --all`.

`bangfu fakes serve` (all six platforms, light faults, frozen clock) -> `bangfu shops
add-from-fakes` -> `bangfu sync run --all --until-caught-up` -> `bangfu stats --json --records`
equals each fake's `GET /_fake/truth?records=1`, shop by shop: the totals, no duplicate rows, and
every order and refund at its latest version. (Chaos-level faults are covered in-process, on
virtual time, by test_engine.py, and end to end by bench/convergence.py: see
tests/bench/test_convergence_smoke.py and the README's figures.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.fakes.process import FakesProcess
from sync.stats import compare_with_truth
from tests.conftest import REPO_ROOT


def test_six_platforms_converge_on_their_truth(tmp_path: Path) -> None:
    env = {**os.environ, "BANGFU_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    db = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    with FakesProcess(orders=250, days=6, seed=21, faults="light", env=env, cwd=REPO_ROOT) as fakes:
        assert [d["platform"] for d in fakes.described] == ["taobao", "jd", "douyin", "kuaishou", "youzan", "selfmall"]
        lines = fakes.write_lines(tmp_path / "fakes.jsonl")

        def bangfu(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "bangfu", *args, "--db", db],
                env=env,
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )

        added = bangfu("shops", "add-from-fakes", str(lines))
        assert added.returncode == 0, added.stderr
        synced = bangfu("sync", "run", "--all", "--until-caught-up", "--lag-seconds", "0", "--lookback-days", "8")
        assert synced.returncode == 0, synced.stdout + synced.stderr
        stats = json.loads(bangfu("stats", "--json", "--records").stdout)["shops"]
        hub = {(s["platform"], s["platform_shop_id"]): s for s in stats}
        truth = fakes.truth(records=True)
    assert set(hub) == set(truth)
    problems = {f"{k[0]}:{k[1]}": p for k in truth if (p := compare_with_truth(hub[k], truth[k]))}
    if problems:
        pytest.fail(f"hub != truth:\n{json.dumps(problems, indent=1)}")
    assert sum(len(t["records"]["orders"]) for t in truth.values()) == 6 * 250
