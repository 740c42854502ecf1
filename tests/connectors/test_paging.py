"""PageNumberUntilStable (connectors/paging.py) over a scripted list: what it yields, when it
pages again, when it gives up, and the policy it gives up by."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.errors import WindowUnstable
from connectors.paging import NumberedPage, PageNumberUntilStable, UnstableWindow

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
