"""Chaos convergence, end to end as an operator runs it, and print one JSON line.

    python bench/convergence.py --orders 4000                  # six platforms x 4000 orders, chaos, SQLite
    python bench/convergence.py --orders 4000 --db postgresql+asyncpg://root@127.0.0.1:5432/conv_x

Real processes throughout: ``bangfu fakes serve --faults chaos --frozen`` (all six platforms,
``--orders`` orders per shop over ``--days`` days) on free loopback ports, ``bangfu shops
add-from-fakes``, ``bangfu sync run --all --until-caught-up`` (timed: ``seconds``, and its peak
RSS: ``peak_rss_mb``), then ``bangfu stats --json --records`` against each fake's
``GET /_fake/truth?records=1``. ``match`` is true when, for every shop, the totals (orders,
order_lines, refunds, paid_fen, refunded_fen) are equal, no table holds a platform id twice, and
every order and refund is stored at its latest version (same status and modified time as the
platform's); otherwise ``mismatches`` says what differs, per shop, and the exit status is 1.

The platforms' clock is frozen (``--frozen``) so their truth stands still while the hub syncs:
the data only changes through the faults themselves (orders touched while a client pages), and
the gateway still checks request timestamps against a running clock. Each run gets a fresh
``BANGFU_DATA_DIR`` (secrets) in a temp dir; ``--db`` defaults to a fresh SQLite file there and
must otherwise name an empty database (e.g. one made with ``createdb`` for this run).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from connectors.fakes.process import FakesProcess
from connectors.fakes.registry import PLATFORM_ORDER
from sync.stats import TOTALS, compare_with_truth

REPO_ROOT = Path(__file__).resolve().parent.parent


def bangfu(env: dict[str, str], *args: str, timeout: float) -> tuple[int, str, float]:
    """Run ``python -m bangfu ARGS``: (exit status, stdout + stderr, peak RSS in MB)."""
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bangfu", *args], stdout=output, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env
        )
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    return process.returncode, text, usage.ru_maxrss / 1024


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    platforms = [p for p in args.platforms.split(",") if p]
    env = {**os.environ, "BANGFU_DATA_DIR": str(tmp / "data"), "COLUMNS": "200"}
    env.pop("BANGFU_DATABASE_URL", None)
    db = args.db or f"sqlite+aiosqlite:///{tmp / 'hub.db'}"
    db_args = ("--db", db)
    out: dict[str, Any] = {
        "bench": "convergence",
        "orders_per_shop": args.orders,
        "platforms": platforms,
        "days": args.days,
        "seed": args.seed,
        "faults": args.faults,
    }
    with FakesProcess(
        orders=args.orders,
        days=args.days,
        seed=args.seed,
        faults=args.faults,
        frozen=True,
        platforms=platforms,
        env=env,
        cwd=REPO_ROOT,
    ) as fakes:
        lines = fakes.write_lines(tmp / "fakes.jsonl")
        code, text, _ = bangfu(env, "shops", "add-from-fakes", str(lines), *db_args, timeout=300)
        if code != 0:
            raise SystemExit(f"shops add-from-fakes failed:\n{text[-3000:]}")
        started = time.perf_counter()
        code, text, rss = bangfu(
            env,
            "sync",
            "run",
            "--all",
            "--until-caught-up",
            "--lag-seconds",
            "0",
            "--lookback-days",
            str(args.days + 2),
            *db_args,
            timeout=args.timeout,
        )
        out["seconds"] = round(time.perf_counter() - started, 3)
        out["peak_rss_mb"] = round(rss, 1)
        out["sync_exit"] = code
        if code != 0:
            out["sync_tail"] = text[-4000:]
        truth = fakes.truth(records=True)
        out["faults_injected"] = _faults_injected(fakes.described)
    code, text, _ = bangfu(env, "stats", "--json", "--records", *db_args, timeout=300)
    if code != 0:
        raise SystemExit(f"stats failed:\n{text[-3000:]}")
    hub = {(s["platform"], s["platform_shop_id"]): s for s in orjson.loads(text.splitlines()[-1])["shops"]}
    mismatches: dict[str, list[str]] = {}
    for key in sorted(set(truth) | set(hub)):
        label = f"{key[0]}:{key[1]}"
        if key not in hub:
            mismatches[label] = ["shop not registered in the hub"]
        elif key not in truth:
            mismatches[label] = ["shop not served by the fakes"]
        elif problems := compare_with_truth(hub[key], truth[key]):
            mismatches[label] = problems
    out["shops"] = len(truth)
    for total in TOTALS:
        out[total] = sum(int(t[total]) for t in truth.values())
    out["hub_orders"] = sum(int(h["orders"]) for h in hub.values())
    out["records_checked"] = sum(len(t["records"]["orders"]) + len(t["records"]["refunds"]) for t in truth.values())
    out["db"] = db.split("+", 1)[0].split(":", 1)[0]
    out["match"] = not mismatches and out["sync_exit"] == 0
    if mismatches:
        out["mismatches"] = mismatches
    return out


def _faults_injected(described: Sequence[dict[str, Any]]) -> dict[str, int]:
    """What the fakes did to the sync, over all platforms (their fault counters)."""
    total: Counter[str] = Counter()
    for item in described:
        with urllib.request.urlopen(f"{item['base_url']}/_fake/faults", timeout=30) as response:
            total.update(orjson.loads(response.read())["stats"])
    return dict(sorted(total.items()))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=4000, help="orders per shop (default 4000)")
    parser.add_argument("--days", type=int, default=30, help="days of order history (default 30)")
    parser.add_argument("--seed", type=int, default=11, help="seed of the worlds and the faults")
    parser.add_argument("--faults", default="chaos", choices=("none", "light", "chaos"), help="fault profile")
    parser.add_argument("--platforms", default=",".join(PLATFORM_ORDER), help="comma-separated fake platforms")
    parser.add_argument("--db", help="an empty database's URL (default: a fresh SQLite file in a temp dir)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up on the sync after this many seconds")
    args = parser.parse_args(argv)
    if args.orders < 1 or args.days < 1:
        parser.error("--orders and --days must be positive")
    with tempfile.TemporaryDirectory(prefix="bangfu-convergence-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    result = main()
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    sys.exit(0 if result["match"] else 1)
