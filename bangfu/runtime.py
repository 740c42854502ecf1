"""Process-wide settings for the hub's long-running processes (the CLI, Celery workers).

The cyclic garbage collector. A sync holds thousands of records at once: decoded pages (dicts
and lists), parsed records, row tuples. With CPython's default thresholds (a young collection
every 700 net container allocations, an older one every 10 of those) the collector runs
several times per decoded page, and each older collection walks every live record of the
batch, to find nothing: pages and records hold no reference cycles, they are freed by
reference counting. ``bench/ingest.py --frozen`` measured the hub's CPU per order at 203 µs
with the defaults, 125 µs with the collector off and 125 µs with :func:`tune_gc` (50,000
orders, PostgreSQL; docs/connectors.md, Speed). Cycles are still collected, only less often;
peak memory did not move (291-298 MB in all three runs).

A young collection every 100,000 net container allocations, not 10,000 (2026-12-08): the count
is allocations less deallocations, so while a sync runs at a steady working set (pages decoded,
records written and freed) it seldom reaches 100,000, where at 10,000 it still ran about 42
young and 4 middle collections over a 50,000-order sync, each walking the live batch: 0.46 s of
the hub's 4.6 s of CPU (``gc.callbacks``, timed), against 0.09 s now; peak memory 293-297 MB
either way. Cyclic garbage waits for at most 100,000 allocations' worth of growth.
"""

from __future__ import annotations

import gc

#: (young, middle, old): a young collection every 100,000 net container allocations instead of 700
GC_THRESHOLDS = (100_000, 10, 10)


def tune_gc() -> None:
    """Move what is alive now (modules, settings, the app) out of the collector's reach and
    collect less often. Call once, early, in a process that will sync or post."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
