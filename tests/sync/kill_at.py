"""``python -m tests.sync.kill_at PHASE N -- BANGFU-ARGS``: run ``bangfu BANGFU-ARGS`` and SIGKILL it
the N-th time the sync reaches PHASE.

The crash-safety test uses it to land each kill in a chosen phase of a sync instead of at a
moment drawn from the clock. The process kills itself with SIGKILL, so nothing is cleaned up:
no ``finally``, no rollback, no closing of the database, exactly as a ``kill -9`` from outside.
Both shops sync concurrently, so the shop that is not at PHASE dies wherever it stands.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

from sync.engine import SyncEngine

# What a SIGKILL interrupts in each phase.
PHASES = {
    "run_started": "a run row says 'running'; nothing of its stream is read yet",
    "mid_fetch": "records read from the platform and not written yet",
    "in_transaction": "a batch's rows and its cursor written, the transaction not committed",
    "after_commit": "a batch and its cursor committed, the next window not read yet",
    "run_finished": "a stream's run closed, the shop's next stream not started",
}


def install(phase: str, nth: int) -> None:
    """Patch the sync engine so that the ``nth`` arrival at ``phase`` kills this process."""
    if phase not in PHASES:
        raise SystemExit(f"unknown phase {phase!r}: one of {', '.join(PHASES)}")
    seen = 0

    def arrive() -> None:
        nonlocal seen
        seen += 1
        if seen == nth:
            os.kill(os.getpid(), signal.SIGKILL)

    def after(name: str) -> None:
        original = getattr(SyncEngine, name)

        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            result = await original(*args, **kwargs)
            arrive()
            return result

        setattr(SyncEngine, name, wrapped)

    if phase == "run_started":
        after("_start_run")
    elif phase == "in_transaction":
        after("_set_cursor")  # runs inside _write_tx's transaction, before its commit
    elif phase == "after_commit":
        after("_write_tx")
    elif phase == "run_finished":
        after("_finish_run")
    else:
        fetcher = SyncEngine._fetcher

        def counting_fetcher(self: SyncEngine, *args: Any) -> Callable[..., AsyncIterator[Any]]:
            fetch = fetcher(self, *args)

            async def fetch_and_count(*fetch_args: Any) -> AsyncIterator[Any]:
                async for record in fetch(*fetch_args):
                    arrive()
                    yield record

            return fetch_and_count

        SyncEngine._fetcher = counting_fetcher  # type: ignore[method-assign, assignment]


def main() -> None:
    phase, nth, separator, *args = sys.argv[1:]
    if separator != "--":
        raise SystemExit(__doc__)
    install(phase, int(nth))
    from bangfu.cli import main as bangfu

    sys.argv = ["bangfu", *args]
    bangfu()


if __name__ == "__main__":
    main()
