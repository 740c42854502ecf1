"""Paging a window whose records change while we page it: the strategies as classes, the
unstable-window policy as data.

A platform's list of "records modified in [start, end)" is live: a record changed while we page
moves to the end of the list or out of the window, shifting the rest by one, so a record can
slip between two pages. A strategy pages the window, notices when that may have happened, and
pages again; a window that keeps moving after ``UnstableWindow.rescans`` extra passes raises
:class:`~connectors.errors.WindowUnstable` (the base reads it again, then sync keeps its cursor
before it and retries on the next run). A record already yielded is not yielded again on a
rescan.

:class:`PageNumberUntilStable` (Youzan, the self-built mall): pages by number; a pass counts only
if every page reported the same total and the pass saw as many distinct records as that total
says (up to what the API lets us page through).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.errors import WindowUnstable

__all__ = ["NumberedPage", "PageNumberUntilStable", "UnstableWindow"]

Raw = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class UnstableWindow:
    """How long to keep paging a window that moves: ``rescans`` passes after the first."""

    rescans: int


@dataclass(frozen=True, slots=True)
class NumberedPage:
    """One page of a numbered list: its items, the total the platform reported with it, whether
    another page follows, and (page 1 only) whether the window holds more than the API can page
    through (then it is split instead)."""

    items: Sequence[Any]
    total: int
    more: bool
    oversized: bool = False


class PageNumberUntilStable:
    """Page numbers 1, 2, ... until ``more`` is false; again while the total moved.

    ``key(raw)`` is ``(id, version)``: the id counts distinct records, the pair says whether a
    record was yielded before as it is now. ``cap`` is the most records the API pages through
    (the pass is trusted when it saw ``min(total, cap)`` distinct ids).
    """

    def __init__(
        self,
        policy: UnstableWindow,
        key: Callable[[Raw], tuple[Hashable, Hashable]],
        *,
        platform: str,
        cap: int | None = None,
    ) -> None:
        self.policy = policy
        self.key = key
        self.platform = platform
        self.cap = cap

    async def walk(
        self,
        fetch: Callable[[int], Awaitable[NumberedPage]],
        *,
        what: str,
        start: datetime,
        end: datetime,
        split: Callable[[], AsyncIterator[Raw]] | None = None,
    ) -> AsyncIterator[Raw]:
        """Every record of the window; ``what`` names the list in the unstable message.

        An item that is not an object is yielded as ``{"value": item}`` (the base's guard
        quarantines it). When page 1 of a pass says ``oversized`` and a ``split`` is given, the
        window is read through ``split()`` instead.
        """
        yielded: set[tuple[Hashable, Hashable]] = set()
        totals: set[int] = set()
        for _ in range(self.policy.rescans + 1):
            totals = set()
            seen: set[Hashable] = set()
            number = 1
            total = 0
            while True:
                page = await fetch(number)
                total = page.total
                if number == 1 and page.oversized and split is not None:
                    async for raw in split():
                        yield raw
                    return
                totals.add(total)
                for raw in page.items:
                    if not isinstance(raw, Mapping):
                        yield {"value": raw}
                        continue
                    ident = self.key(raw)
                    seen.add(ident[0])
                    if ident in yielded:
                        continue
                    yielded.add(ident)
                    yield raw
                if not page.more:
                    break
                number += 1
            wanted = total if self.cap is None else min(total, self.cap)
            if len(totals) == 1 and len(seen) >= wanted:
                return
        raise WindowUnstable(self.platform, f"{what} kept moving in [{start}, {end}): {sorted(totals)}")
