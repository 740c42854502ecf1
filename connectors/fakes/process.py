"""``bangfu fakes serve`` in a child process, as an operator (or an acceptance check) runs it.

Shared by the end-to-end tests and ``bench/convergence.py``: start the fakes on a free block of
loopback ports, read the JSON lines they print (one per platform) up to ``ready``, fetch each
platform's ``GET /_fake/truth``, and stop them with SIGINT.

Public interface (stable)::

    free_port_base(count=6) -> int            # a block of free loopback ports
    with FakesProcess(orders=250, days=6, seed=21, faults="light", frozen=True, env=..., cwd=...) as fakes:
        fakes.described        # the JSON lines, parsed: {"platform", "base_url", "credentials", "shop_ids"}
        fakes.write_lines(path)                # the file `bangfu shops add-from-fakes` reads
        fakes.truth(records=False) -> {(platform, shop_id): totals (+ "records")}
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from connectors.fakes.registry import PLATFORM_ORDER


def free_port_base(count: int = len(PLATFORM_ORDER)) -> int:
    """The first of ``count`` consecutive loopback ports that are free right now."""
    for _ in range(50):
        base = random.randint(20000, 40000)
        try:
            for offset in range(count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise RuntimeError("no free block of ports")


class FakesProcess:
    """``python -m bangfu fakes serve ...`` running until the ``with`` block ends."""

    def __init__(
        self,
        *,
        orders: int,
        days: int,
        seed: int,
        faults: str = "none",
        frozen: bool = True,
        platforms: Sequence[str] = PLATFORM_ORDER,
        shops: int = 1,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ready_timeout: float = 600.0,
    ) -> None:
        self.args = [
            sys.executable,
            "-m",
            "bangfu",
            "fakes",
            "serve",
            "--platforms",
            ",".join(platforms),
            "--port-base",
            str(free_port_base()),
            "--orders",
            str(orders),
            "--days",
            str(days),
            "--seed",
            str(seed),
            "--shops",
            str(shops),
            "--faults",
            faults,
        ]
        if frozen:
            self.args.append("--frozen")
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.ready_timeout = ready_timeout
        self.lines: list[str] = []
        self.described: list[dict[str, Any]] = []
        self._process: subprocess.Popen[str] | None = None
        self._stderr: Any = None

    def __enter__(self) -> FakesProcess:
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._process = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=self._stderr, cwd=self.cwd, env=self.env, text=True
        )
        assert self._process.stdout is not None
        try:
            for line in self._process.stdout:
                self.lines.append(line)
                if line.strip() == "ready":
                    break
            else:
                self._stderr.seek(0)
                raise RuntimeError(f"the fakes exited before they were ready:\n{self._stderr.read()[-3000:]}")
        except BaseException:
            self._stop()
            raise
        self.described = [json.loads(line) for line in self.lines if line.startswith("{")]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if process is not None and process.stdout is not None:
            process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def write_lines(self, path: Path) -> Path:
        """The printed lines, as the file ``bangfu shops add-from-fakes`` reads."""
        path.write_text("".join(self.lines))
        return path

    def truth(self, *, records: bool = False, timeout: float = 120.0) -> dict[tuple[str, str], dict[str, Any]]:
        """Every shop's ``/_fake/truth`` entry, keyed by (platform, platform shop id)."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        query = "?records=1" if records else ""
        for described in self.described:
            url = f"{described['base_url']}/_fake/truth{query}"
            with urllib.request.urlopen(url, timeout=timeout) as response:
                for shop_id, totals in json.load(response)["shops"].items():
                    out[(described["platform"], shop_id)] = totals
        return out
