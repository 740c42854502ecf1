"""bangfu.runtime: the hub's processes collect garbage less often, with startup objects frozen."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator

import pytest
from celery.signals import worker_init, worker_process_init

from bangfu.runtime import GC_THRESHOLDS, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_tune_gc_freezes_what_is_alive_and_raises_the_thresholds(restored_gc: None) -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    tune_gc()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() > 0


def test_a_batch_worth_of_live_records_is_not_walked_by_the_collector(restored_gc: None) -> None:
    """Tens of thousands of live containers (a sync's batch and read-ahead) trigger no young
    collection: at 10,000 net allocations the collector walked the live batch again and again."""
    tune_gc()
    gc.collect()
    runs: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            runs.append(info["generation"])

    gc.callbacks.append(count)
    try:
        batch = [{"order": n, "lines": [{"line": n}]} for n in range(20_000)]  # 60,000 containers
    finally:
        gc.callbacks.remove(count)
    assert len(batch) == 20_000
    assert runs == []


def test_the_cli_tunes_the_collector_before_running_a_command() -> None:
    probe = (
        "import gc, sys\n"
        "from bangfu.cli import main\n"
        "sys.argv = ['bangfu', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(gc.get_threshold(), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stderr.strip().splitlines()[-1] == str(GC_THRESHOLDS)


def test_celery_workers_and_their_pool_processes_tune_the_collector(restored_gc: None) -> None:
    import workers.app  # noqa: F401  (connects the receivers)

    for signal in (worker_init, worker_process_init):
        gc.set_threshold(700, 10, 10)
        signal.send(sender=None)
        assert gc.get_threshold() == GC_THRESHOLDS, signal.name
