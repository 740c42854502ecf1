"""Attribute -> allocate -> post, in passes, until nothing is due.

Each stage runs in its own transaction and commits its batch, so a crash (or SIGKILL) between
or inside stages loses at most one uncommitted batch, which the next pass redoes. Every stage
is idempotent (see docs/accounting.md), so a pass run twice, or on two workers at once, has
the effect of one.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bangfu import cooperative_groups, county_income, sales_days, session_summaries


@dataclass
class PipelineStats:
    """What the passes did, summed over stages."""

    passes: int = 0
    attributed: int = 0
    allocated: int = 0
    units_returned: int = 0
    posted: int = 0  # sale journals
    trueups: int = 0  # true-up journals
    refunds_posted: int = 0  # refunds folded into their lines' journals
    posting_steps: int = 0  # line states moved forward by posting (discovered, bumped, posted, unchanged)
    dequeued: int = 0  # change-queue rows attribution settled (their lines turned out not due)
    waiting_lots: int = 0
    failed: int = 0

    @property
    def work(self) -> int:
        """Rows changed by the stages: zero means a pass found nothing to do."""
        return self.attributed + self.allocated + self.units_returned + self.posting_steps + self.dequeued

    def add(self, other: PipelineStats) -> None:
        for item in dataclasses.fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def _stages() -> dict[str, Callable[..., Awaitable[Any]]]:
    from workers.attribution import attribute_lines
    from workers.lot_draws import allocate_lines, return_refunded_units
    from workers.posting import post_lines, post_refunds

    return {
        "attribute": attribute_lines,
        "allocate": allocate_lines,
        # Posting waits for the line's attribution (post_lines: after_attribution).
        "post": functools.partial(post_lines, after_attribution=True),
        "refunds": post_refunds,
        "return": return_refunded_units,
    }


def stage(name: str) -> Callable[..., Awaitable[Any]]:
    """A stage function by name: attribute, allocate, post, refunds or return."""
    stages = _stages()
    if name not in stages:
        raise KeyError(f"no pipeline stage {name!r}; known: {', '.join(stages)}")
    return stages[name]


async def _stage(engine: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[Any]]) -> Any:
    async with engine.begin() as conn:
        return await work(conn)


async def run_once(
    engine: AsyncEngine,
    *,
    shop_id: int | None = None,
    limit: int = 5_000,
    discovery: bool = True,
    refresh_groups: bool = True,
) -> PipelineStats:
    """One pass over at most ``limit`` due items per stage.

    ``refresh_groups=False`` leaves the sessions' household credits, the cooperative day groups
    and the county income days marked (the pages stay exact: they sum marked sessions and days
    from the lines, the facts or the ledger); :func:`run_pipeline` refreshes them once, after its
    passes.

    ``discovery=False``: posting does not look for newly paid or changed lines (a scan of every
    paid line); :func:`run_pipeline` looks once, in its first pass.
    """
    stages = _stages()

    async def run(name: str, **options: Any) -> Any:
        return await _stage(engine, lambda conn: stages[name](conn, shop_id=shop_id, limit=limit, **options))

    attributed = await run("attribute")
    allocated = await run("allocate")
    posted = await run("post", discovery=discovery)
    refunds = await run("refunds")
    returned = await run("return")
    # Session summaries marked by the sync, posting (household credits) and refunds.
    await _stage(engine, session_summaries.refresh)
    # Cooperative day groups marked by posting, attribution, lot draws and line changes.
    if refresh_groups:
        await _stage(engine, session_summaries.refresh_household_credits)  # sessions the refreshes marked
        await _stage(engine, cooperative_groups.refresh)
        await _stage(engine, county_income.refresh)  # days marked by posting and line changes
        await _stage(engine, sales_days.refresh)  # days marked by the sync's lines, orders and refunds
    return PipelineStats(
        passes=1,
        attributed=attributed.changed,
        allocated=allocated.lines_allocated,
        units_returned=returned.units_returned,
        posted=posted.sales,
        trueups=posted.trueups,
        refunds_posted=refunds.refunds,
        posting_steps=posted.progress + refunds.progress,
        dequeued=attributed.dequeued,
        waiting_lots=allocated.lines_waiting,
        failed=posted.failed + refunds.failed,
    )


async def run_pipeline(
    engine: AsyncEngine,
    *,
    shop_id: int | None = None,
    limit: int = 5_000,
    max_passes: int = 10_000,
    on_pass: Callable[[], Awaitable[None]] | None = None,
) -> PipelineStats:
    """Passes until one does no work (lines waiting for stock stay waiting, and are counted).

    Paid lines, new line versions and new bill lines are discovered in the first pass only:
    what the sync stores while the passes run is found by the next run (attribution and lot
    draws of known lines still make them due in any pass). ``on_pass`` is awaited after each
    pass (progress bars).
    """
    total = PipelineStats()
    for number in range(max_passes):
        stats = await run_once(engine, shop_id=shop_id, limit=limit, discovery=number == 0, refresh_groups=False)
        if on_pass is not None:
            await on_pass()
        waiting, failed = stats.waiting_lots, stats.failed
        stats.waiting_lots = stats.failed = 0
        total.add(stats)
        if not stats.work:
            total.waiting_lots, total.failed = waiting, failed
            break
    # Once per run, not per pass: a refresh recomputes each marked (cooperative, day) whole, and a
    # backlog's passes mark the same busy days again and again (and the same busy sessions: their
    # household credits are rewritten whole).
    await _stage(engine, session_summaries.refresh_household_credits)
    await _stage(engine, cooperative_groups.refresh)
    await _stage(engine, county_income.refresh)  # the county overview's days, likewise
    await _stage(engine, sales_days.refresh)  # the sales ledger's days, marked by the sync
    return total
