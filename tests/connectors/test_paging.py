"""PageNumberUntilStable (connectors/paging.py) over a scripted list: what it yields, when it
pages again, when it gives up, and the policy it gives up by."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.errors import WindowUnstable
from connectors.paging import (
    NumberedPage,
    PageNumberUntilStable,
    RestartAndHalve,
    ReverseWalk,
    TotalPage,
    UnstableWindow,
    WindowPages,
)

START = datetime(2024, 5, 1, tzinfo=UTC)
END = datetime(2024, 5, 2, tzinfo=UTC)


def _key(raw: Mapping[str, Any]) -> tuple[str, str]:
    return str(raw["id"]), str(raw.get("v", 0))


class Script:
    """Each pass serves the next listing (the last one repeats), ``size`` records a page."""

    def __init__(self, passes: Sequence[Sequence[Any]], size: int = 2) -> None:
        self.passes = [list(p) for p in passes]
        self.size = size
        self.calls: list[int] = []
        self.pass_no = -1

    async def fetch(self, number: int) -> NumberedPage:
        if number == 1:
            self.pass_no += 1
        self.calls.append(number)
        listing = self.passes[min(self.pass_no, len(self.passes) - 1)]
        items = listing[(number - 1) * self.size : number * self.size]
        return NumberedPage(items, len(listing), more=number * self.size < len(listing))


async def _all(paging: PageNumberUntilStable, script: Script, **kwargs: Any) -> list[Any]:
    return [raw async for raw in paging.walk(script.fetch, what="list: the total", start=START, end=END, **kwargs)]


def _rows(*ids: int, v: int = 0) -> list[dict[str, int]]:
    return [{"id": i, "v": v} for i in ids]


async def test_a_still_window_is_paged_once() -> None:
    script = Script([_rows(1, 2, 3, 4, 5)])
    got = await _all(PageNumberUntilStable(UnstableWindow(rescans=4), _key, platform="p"), script)
    assert [r["id"] for r in got] == [1, 2, 3, 4, 5]
    assert script.calls == [1, 2, 3]


async def test_a_record_that_slipped_is_found_on_a_rescan_and_nothing_is_yielded_twice() -> None:
    # Pass 1: record 1 changes while page 2 is read, moving to the end: 3 slips past page 2
    # unseen (it moved onto page 1) and the pass sees 4 distinct ids where the total says 5.
    moving = [{"id": 1}, {"id": 2}, {"id": 4}, {"id": 5}, {"id": 1, "v": 1}]
    script = Script([moving, [{"id": 2}, {"id": 3}, {"id": 4}, {"id": 5}, {"id": 1, "v": 1}]])
    got = await _all(PageNumberUntilStable(UnstableWindow(rescans=4), _key, platform="p"), script)
    assert sorted((r["id"], r.get("v", 0)) for r in got) == [(1, 0), (1, 1), (2, 0), (3, 0), (4, 0), (5, 0)]
    assert script.calls == [1, 2, 3, 1, 2, 3]


async def test_a_window_that_never_settles_raises_after_the_policys_rescans() -> None:
    class Growing(Script):
        async def fetch(self, number: int) -> NumberedPage:
            self.calls.append(number)
            return NumberedPage([{"id": len(self.calls)}], total=len(self.calls), more=number < 2)

    script = Growing([[]])
    with pytest.raises(WindowUnstable, match=r"list: the total kept moving in \[2024-05-01"):
        await _all(PageNumberUntilStable(UnstableWindow(rescans=2), _key, platform="p"), script)
    assert script.calls == [1, 2] * 3  # the first pass and two rescans


async def test_cap_trusts_a_pass_that_saw_all_the_api_pages_through() -> None:
    class Capped(Script):
        async def fetch(self, number: int) -> NumberedPage:
            self.calls.append(number)
            return NumberedPage(_rows(2 * number - 1, 2 * number), total=9, more=number < 2)

    script = Capped([[]])
    got = await _all(PageNumberUntilStable(UnstableWindow(rescans=4), _key, platform="p", cap=4), script)
    assert [r["id"] for r in got] == [1, 2, 3, 4]
    assert script.calls == [1, 2]


async def test_an_oversized_window_is_read_through_split() -> None:
    class Oversized(Script):
        async def fetch(self, number: int) -> NumberedPage:
            self.calls.append(number)
            return NumberedPage(_rows(1), total=10_000, more=True, oversized=True)

    async def halves() -> AsyncIterator[Mapping[str, Any]]:
        for raw in _rows(7, 8):
            yield raw

    script = Oversized([[]])
    got = await _all(PageNumberUntilStable(UnstableWindow(rescans=4), _key, platform="p"), script, split=halves)
    assert [r["id"] for r in got] == [7, 8]
    assert script.calls == [1]


async def test_an_item_that_is_not_an_object_is_passed_on_for_quarantine() -> None:
    class WithGarbage(Script):
        async def fetch(self, number: int) -> NumberedPage:
            return NumberedPage([{"id": 1}, "garbage"], total=1, more=False)

    script = WithGarbage([[]])
    got = await _all(PageNumberUntilStable(UnstableWindow(rescans=0), lambda raw: (raw["id"], 0), platform="p"), script)
    assert got == [{"id": 1}, {"value": "garbage"}]


# -- ReverseWalk --------------------------------------------------------------------------------


class Listing:
    """A list served 1-based, ``size`` a page; ``grow_on`` adds a record when that page is read."""

    def __init__(self, ids: Sequence[int], size: int = 2, grow_on: Sequence[tuple[int, int]] = ()) -> None:
        self.ids = list(ids)
        self.size = size
        self.grow_on = list(grow_on)  # (call number, new id)
        self.calls: list[int] = []

    async def fetch(self, number: int) -> TotalPage:
        self.calls.append(number)
        for call, new in self.grow_on:
            if call == len(self.calls):
                self.ids.insert(0, new)  # newest first: everything shifts one place down
        items = [{"id": i} for i in self.ids[(number - 1) * self.size : number * self.size]]
        return TotalPage(items, len(self.ids))


def _walk(settled: str = "first_page_again", rescans: int = 2, skip_seen: bool = True) -> ReverseWalk:
    return ReverseWalk(
        UnstableWindow(rescans=rescans),
        lambda raw: raw["id"] if isinstance(raw, Mapping) else raw,
        platform="p",
        pages_after=lambda total: [*range(-(-total // 2), 1, -1), 1] if total > 2 else [],
        settled=settled,
        skip_seen_in_first_pass=skip_seen,
        wrap_non_objects=True,
    )


async def _reverse(walk: ReverseWalk, listing: Listing) -> list[Any]:
    return [raw async for raw in walk.walk(listing.fetch, first_page=1, unstable=lambda totals: f"grew: {totals}")]


async def test_reverse_walk_reads_first_then_last_to_second_then_first_again() -> None:
    listing = Listing([1, 2, 3, 4, 5])
    got = await _reverse(_walk(), listing)
    assert listing.calls == [1, 3, 2, 1]
    assert sorted(r["id"] for r in got) == [1, 2, 3, 4, 5]  # page 1 read twice, yielded once


async def test_reverse_walk_rescans_when_records_entered_and_gives_up_by_the_policy() -> None:
    entered_once = Listing([1, 2, 3, 4, 5], grow_on=[(2, 9)])
    got = await _reverse(_walk(), entered_once)
    assert entered_once.calls == [1, 3, 2, 1, 1, 3, 2, 1]
    assert sorted(r["id"] for r in got) == [1, 2, 3, 4, 5, 9]
    always = Listing([1, 2, 3], grow_on=[(n, 100 + n) for n in range(2, 40, 3)])
    with pytest.raises(WindowUnstable, match=r"grew: \[\d+, \d+, \d+"):
        await _reverse(_walk(rescans=1), always)


async def test_every_page_settles_on_any_page_growing_first_page_again_only_on_the_last() -> None:
    # The total grows on page 3 and shrinks back before page 1 is read again.
    class Blip(Listing):
        async def fetch(self, number: int) -> TotalPage:
            page = await super().fetch(number)
            return TotalPage(page.items, page.total + 1) if len(self.calls) == 2 else page

    lenient, strict = Blip([1, 2, 3, 4, 5]), Blip([1, 2, 3, 4, 5])
    await _reverse(_walk("first_page_again"), lenient)
    await _reverse(_walk("every_page"), strict)
    assert lenient.calls == [1, 3, 2, 1]
    assert strict.calls == [1, 3, 2, 1, 1, 3, 2, 1]


async def test_a_first_pass_may_pass_repeats_on_and_hold_them_back_on_rescans() -> None:
    listing = Listing([1, 2, 3])
    got = await _reverse(_walk(skip_seen=False), listing)
    assert [r["id"] for r in got] == [1, 2, 3, 1, 2]


def test_an_unknown_settling_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="settled must be"):
        _walk("sometimes")


# -- RestartAndHalve ----------------------------------------------------------------------------

DAY = datetime(2024, 5, 1, tzinfo=UTC)


def _halve(
    totals: Callable[[datetime, datetime, int], int], max_depth: int = 1, aborts: list[int] | None = None
) -> tuple[RestartAndHalve, list[tuple[datetime, int]]]:
    """Windows of whole hours holding one record an hour; ``totals(start, end, call)`` is what
    the platform reports on each call (the record count when it holds still)."""
    calls: list[tuple[datetime, int]] = []

    def pages(start: datetime, end: datetime) -> WindowPages | None:
        hours = int((end - start).total_seconds() // 3600)
        if hours <= 0:
            return None

        async def fetch(number: int) -> NumberedPage:
            calls.append((start, number))
            ids = [{"id": (start - DAY).total_seconds() // 3600 + h} for h in range(hours)]
            items = ids[(number - 1) * 2 : number * 2]
            return NumberedPage(items, totals(start, end, len(calls)), more=number * 2 < hours)

        return fetch

    walk = RestartAndHalve(
        UnstableWindow(rescans=2, split_after=2, max_depth=max_depth),
        lambda raw: raw["id"],
        platform="p",
        pages=pages,
        middle=lambda low, high: low + timedelta(hours=int((high - low).total_seconds() // 7200)),
        what="orderTotal",
        on_abort=(lambda: aborts.append(1)) if aborts is not None else None,
    )
    return walk, calls


def _hours(start: datetime, end: datetime, call: int) -> int:
    return int((end - start).total_seconds() // 3600)


async def test_restart_and_halve_reads_a_still_window_once() -> None:
    walk, calls = _halve(_hours)
    got = [raw["id"] async for raw in walk.walk(DAY, DAY + timedelta(hours=5))]
    assert got == [0, 1, 2, 3, 4]
    assert [n for _, n in calls] == [1, 2, 3]


async def test_a_moving_total_restarts_then_halves_and_yields_each_record_once() -> None:
    aborts: list[int] = []
    # The whole window's total moves on every second page; its halves hold still.
    walk, calls = _halve(
        lambda s, e, call: _hours(s, e, call) + (call % 2 if e - s > timedelta(hours=2) else 0), aborts=aborts
    )
    got = [raw["id"] async for raw in walk.walk(DAY, DAY + timedelta(hours=4))]
    assert sorted(got) == [0, 1, 2, 3]
    assert len(aborts) == 2  # split_after scans of the whole window, then its halves held
    assert calls[-2:] == [(DAY, 1), (DAY + timedelta(hours=2), 1)]  # each half: one page, held


async def test_a_window_that_cannot_be_halved_fails_after_the_policys_restarts() -> None:
    aborts: list[int] = []
    walk, _ = _halve(lambda s, e, call: call, max_depth=0, aborts=aborts)
    with pytest.raises(WindowUnstable, match=r"orderTotal kept changing in \[2024-05-01"):
        [raw async for raw in walk.walk(DAY, DAY + timedelta(hours=4))]
    assert len(aborts) == 3  # 1 + rescans scans


async def test_a_dense_window_is_read_in_the_slices_asked_for() -> None:
    walk, calls = _halve(_hours)
    pieces = [(DAY, DAY + timedelta(hours=1)), (DAY + timedelta(hours=1), DAY + timedelta(hours=3))]
    got = [raw["id"] async for raw in walk.walk(DAY, DAY + timedelta(hours=3), slices=lambda s, e, page: pieces)]
    assert got == [0, 1, 2]
    assert [start for start, _ in calls] == [DAY, DAY, DAY + timedelta(hours=1)]


def test_restart_and_halve_needs_a_split_policy() -> None:
    with pytest.raises(ValueError, match="split_after"):
        RestartAndHalve(
            UnstableWindow(rescans=1),
            lambda raw: raw,
            platform="p",
            pages=lambda s, e: None,
            middle=lambda s, e: s,
            what="t",
        )
