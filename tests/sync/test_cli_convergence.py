"""Acceptance, end to end as an operator runs it: six fake platforms, one `sync run --all`.

`bangfu fakes serve` (all six platforms, light faults, frozen clock) -> `bangfu shops
add-from-fakes` -> `bangfu sync run --all --until-caught-up` -> `bangfu stats --json` equals each
fake's `GET /_fake/truth`, shop by shop. (Chaos-level faults are covered in-process, on virtual
time, by test_engine.py; the full-size chaos run is in the README's figures.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.sync.test_crash_safety import _free_port_base

KEYS = ("orders", "order_lines", "refunds", "paid_fen", "refunded_fen")


def test_six_platforms_converge_on_their_truth(tmp_path: Path) -> None:
    env = {**os.environ, "BANGFU_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    db = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    fakes = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bangfu",
            "fakes",
            "serve",
            "--port-base",
            str(_free_port_base()),
            "--orders",
            "250",
            "--days",
            "6",
            "--seed",
            "21",
            "--faults",
            "light",
            "--frozen",
        ],
        stdout=subprocess.PIPE,
        cwd=REPO_ROOT,
        env=env,
        text=True,
    )
    assert fakes.stdout is not None
    try:
        lines = []
        for line in fakes.stdout:
            lines.append(line)
            if line.strip() == "ready":
                break
        described = [json.loads(line) for line in lines if line.startswith("{")]
        assert [d["platform"] for d in described] == ["taobao", "jd", "douyin", "kuaishou", "youzan", "selfmall"]
        (tmp_path / "fakes.jsonl").write_text("".join(lines))

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

        added = bangfu("shops", "add-from-fakes", str(tmp_path / "fakes.jsonl"))
        assert added.returncode == 0, added.stderr
        synced = bangfu("sync", "run", "--all", "--until-caught-up", "--lag-seconds", "0", "--lookback-days", "8")
        assert synced.returncode == 0, synced.stdout + synced.stderr
        stats = json.loads(bangfu("stats", "--json").stdout)["shops"]
        hub = {(s["platform"], s["platform_shop_id"]): {k: s[k] for k in KEYS} for s in stats}
        truth = {}
        for d in described:
            with urllib.request.urlopen(f"{d['base_url']}/_fake/truth", timeout=10) as response:
                for shop_id, totals in json.load(response)["shops"].items():
                    truth[(d["platform"], shop_id)] = {k: totals[k] for k in KEYS}
        if hub != truth:
            pytest.fail(f"hub != truth:\n{json.dumps({str(k): (hub.get(k), truth.get(k)) for k in truth}, indent=1)}")
    finally:
        fakes.send_signal(signal.SIGINT)
        fakes.wait(timeout=20)
        fakes.stdout.close()
