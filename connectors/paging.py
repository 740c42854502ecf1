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

:class:`ReverseWalk` (Taobao, Douyin): the first page (which gives the total), then the other
pages from the last back to the second, then the first again. A record that leaves the window
while we walk shifts one we have already read onto the next page we read (a harmless duplicate),
never one we have not read past us; records that moved onto the first page are picked up by
reading it again. A pass counts unless the total grew (records entered the window and pushed
others onto pages already read).

:class:`RestartAndHalve` (JD): pages by number; a page whose total differs from the first
page's aborts the scan and restarts it from page 1; a window that will not hold for
``split_after`` scans is cut in halves (fewer pages, less time for the ground to move).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.errors import WindowUnstable

__all__ = [
    "NumberedPage",
    "PageNumberUntilStable",
    "RestartAndHalve",
    "ReverseWalk",
    "TotalPage",
    "UnstableWindow",
    "WindowPages",
]

Raw = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class UnstableWindow:
    """How long to keep paging a window that moves: ``rescans`` passes after the first.

    :class:`RestartAndHalve` also reads ``split_after`` (scans before a window that will not hold
    is cut in halves) and ``max_depth`` (how many times a window may be halved).
    """

    rescans: int
    split_after: int | None = None
    max_depth: int = 0


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
                    if type(raw) is not dict and not isinstance(raw, Mapping):
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


@dataclass(frozen=True, slots=True)
class TotalPage:
    """One page of a list that reports its total with every page."""

    items: Sequence[Any]
    total: int


class ReverseWalk:
    """First page, last page back to the second, first page again; again while the total grew.

    The platform's differences are data, given here:

    - ``pages_after(total)``: the pages to read after the first, ending with the first again
      (``[]``: one page, a consistent snapshot);
    - ``settled``: ``"first_page_again"`` trusts a pass when the first page read again does not
      report more than at the start (Taobao); ``"every_page"`` when no page did (Douyin);
    - ``key(raw)`` marks a record as yielded; with ``skip_seen_in_first_pass=False`` records are
      only held back on rescans (the first page's re-read is yielded again in the first pass, and
      sync counts those as duplicates); Taobao and Douyin both hold them back;
    - ``wrap_non_objects``: an item that is not an object is yielded as ``{"value": item}``
      (Taobao) rather than as it is (Douyin); the base's guard quarantines either.
    """

    def __init__(
        self,
        policy: UnstableWindow,
        key: Callable[[Any], Hashable],
        *,
        platform: str,
        pages_after: Callable[[int], Sequence[int]],
        settled: str,
        skip_seen_in_first_pass: bool,
        wrap_non_objects: bool,
    ) -> None:
        if settled not in ("first_page_again", "every_page"):
            raise ValueError(f"settled must be 'first_page_again' or 'every_page', got {settled!r}")
        self.policy = policy
        self.key = key
        self.platform = platform
        self.pages_after = pages_after
        self.settled = settled
        self.skip_seen_in_first_pass = skip_seen_in_first_pass
        self.wrap_non_objects = wrap_non_objects

    async def walk(
        self,
        fetch: Callable[[int], Awaitable[TotalPage]],
        *,
        first_page: int,
        unstable: Callable[[list[int]], str],
        first: TotalPage | None = None,
        oversized: Callable[[TotalPage], bool] | None = None,
        split: Callable[[], AsyncIterator[Any]] | None = None,
    ) -> AsyncIterator[Any]:
        """Every record of the window. ``first`` is a first page already read (used by the first
        pass); when ``oversized(first page)`` the window is read through ``split()`` instead;
        ``unstable(totals)`` is the message of the :class:`WindowUnstable` raised at the end."""
        yielded: set[Hashable] = set()
        totals: list[int] = []
        for scan in range(self.policy.rescans + 1):
            skip_seen = scan > 0 or self.skip_seen_in_first_pass

            def fresh(items: Sequence[Any], skip_seen: bool = skip_seen) -> list[Any]:
                out: list[Any] = []
                for item in items:
                    if type(item) is not dict and not isinstance(item, Mapping) and self.wrap_non_objects:
                        out.append({"value": item})
                        continue
                    mark = self.key(item)
                    if skip_seen and mark in yielded:
                        continue
                    yielded.add(mark)
                    out.append(item)
                return out

            head = first or await fetch(first_page)
            first = None
            if oversized is not None and split is not None and oversized(head):
                async for raw in split():
                    yield raw
                return
            totals = [head.total]
            for raw in fresh(head.items):
                yield raw
            pages = self.pages_after(head.total)
            if not pages:
                return  # one page: a consistent snapshot of the whole window
            for number in pages:
                page = await fetch(number)
                totals.append(page.total)
                for raw in fresh(page.items):
                    yield raw
            grew = totals[-1] if self.settled == "first_page_again" else max(totals)
            if grew <= head.total:
                return  # nothing entered the window while we walked: no record slipped past us
        raise WindowUnstable(self.platform, unstable(totals))


WindowPages = Callable[[int], Awaitable[NumberedPage]]


class RestartAndHalve:
    """Pages 1, 2, ... of a window until ``more`` is false, restarting when the total moves.

    ``pages(start, end)`` gives the fetch of one window's pages (``None``: the window holds no
    whole query unit, nothing to ask). ``middle(start, end)`` is where a window is cut. A window
    that cannot be cut (``max_depth`` reached, or too narrow) raises :class:`WindowUnstable`
    after ``1 + rescans`` scans that did not hold. ``slices(start, end, first page)`` may answer
    the pieces a dense window is read in instead (asked of the first page read only). Records
    are yielded once per ``key`` over the whole window, halves and slices included;
    ``on_abort()`` is called for each scan given up.
    """

    def __init__(
        self,
        policy: UnstableWindow,
        key: Callable[[Raw], Hashable],
        *,
        platform: str,
        pages: Callable[[datetime, datetime], WindowPages | None],
        middle: Callable[[datetime, datetime], datetime],
        what: str,
        on_abort: Callable[[], None] | None = None,
    ) -> None:
        if policy.split_after is None:
            raise ValueError("RestartAndHalve needs UnstableWindow.split_after")
        self.policy = policy
        self.key = key
        self.platform = platform
        self.pages = pages
        self.middle = middle
        self.what = what
        self.on_abort = on_abort

    async def walk(
        self,
        start: datetime,
        end: datetime,
        *,
        slices: Callable[[datetime, datetime, NumberedPage], Sequence[tuple[datetime, datetime]] | None] | None = None,
    ) -> AsyncIterator[Any]:
        """Every record of ``[start, end)``."""
        async for raw in self._scan(start, end, set(), 0, slices):
            yield raw

    async def _scan(
        self,
        start: datetime,
        end: datetime,
        yielded: set[Hashable],
        depth: int,
        slices: Callable[[datetime, datetime, NumberedPage], Sequence[tuple[datetime, datetime]] | None] | None,
    ) -> AsyncIterator[Any]:
        fetch = self.pages(start, end)
        if fetch is None:
            return
        middle = self.middle(start, end)
        can_split = depth < self.policy.max_depth and start < middle < end
        assert self.policy.split_after is not None
        scans = self.policy.split_after if can_split else self.policy.rescans + 1
        for _ in range(scans):
            expected: int | None = None
            number = 1
            while True:
                page = await fetch(number)
                if slices is not None:
                    pieces = slices(start, end, page)
                    slices = None  # probed: this window is read whole
                    if pieces is not None:
                        for piece_start, piece_end in pieces:
                            async for raw in self._scan(piece_start, piece_end, yielded, 0, None):
                                yield raw
                        return
                if expected is None:
                    expected = page.total
                elif page.total != expected:
                    if self.on_abort is not None:
                        self.on_abort()
                    break  # restart the window
                for raw in page.items:
                    if type(raw) is dict or isinstance(raw, Mapping):
                        mark = self.key(raw)
                        if mark in yielded:
                            continue
                        yielded.add(mark)
                    yield raw
                if not page.more:
                    return
                number += 1
        if not can_split:
            raise WindowUnstable(self.platform, f"{self.what} kept changing in [{start}, {end})")
        for half_start, half_end in ((start, middle), (middle, end)):
            async for raw in self._scan(half_start, half_end, yielded, depth + 1, None):
                yield raw
