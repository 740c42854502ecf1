"""``bangfu sync run`` and ``bangfu sync status`` when a stream fails (issue 12 item 3)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.fakes.process import FakesProcess


@pytest.mark.slow
def test_a_failed_stream_exits_non_zero_and_says_why_in_run_and_status(tmp_path: Path) -> None:
    """Issue 12.3: a failed stream left the platform's message only in ``sync_runs.message``.
    ``sync run`` now exits non-zero and prints, per failed shop and stream, the error class
    and the platform's message; ``sync status`` shows them too."""
    env = {
        **os.environ,
        "BANGFU_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite'}",
        "BANGFU_SECRETS_FILE": str(tmp_path / "secrets.json"),
    }

    def bangfu(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "bangfu", "--lang", "en", *args]
        return subprocess.run(
            command, env=env, cwd=tmp_path, input=stdin, capture_output=True, text=True, timeout=300, check=False
        )

    with FakesProcess(orders=20, days=2, seed=3, platforms=["kuaishou"], env=env, cwd=tmp_path) as fakes:
        (shop,) = fakes.described
        creds = shop["credentials"]
        added = bangfu(
            "shops", "add", "kuaishou", "--name", "ks-shop", "--base-url", shop["base_url"],
            "--app-key", creds["app_key"], "--app-secret-stdin", "--shop-id", creds["shop_id"],
            "--access-token", creds["access_token"], "--extra", "sign_secret=not-the-sign-secret",
            stdin=creds["app_secret"] + "\n",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        done = bangfu("sync", "run", "--all")
        status = bangfu("sync", "status")
    assert done.returncode == 1, done.stdout + done.stderr
    failure = next(line for line in done.stderr.splitlines() if line.startswith("sync failed"))
    assert "ks-shop" in failure and "products" in failure and "(auth)" in failure, failure
    assert "[kuaishou " in failure, failure  # the platform's own code and message
    assert status.returncode == 0, status.stderr
    assert failure in status.stderr
