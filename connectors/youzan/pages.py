"""Youzan paging: page numbers over a live result set, trusted only when the total holds
(:class:`~connectors.paging.PageNumberUntilStable`), and the items lists; our half-open windows
as Youzan's inclusive whole seconds. The functions take the connector's ``api`` call and its
stats, so the connector holds no paging loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from bangfu.records import Raw
from connectors.base import ConnectorStats
from connectors.errors import TransientError
from connectors.paging import NumberedPage, PageNumberUntilStable
from connectors.windows import inclusive_end
from connectors.youzan.parse import list_field
from connectors.youzan.tables import (
    ITEM_GET,
    ITEMS_INVENTORY_GET,
    ITEMS_ONSALE_GET,
    ITEMS_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PLATFORM,
    UNSTABLE_WINDOW,
)

#: one Youzan business call: ``((api, version), body) -> the envelope's payload``
Call = Callable[[tuple[str, str], Mapping[str, Any]], Awaitable[Any]]
#: a record's identity and modified time, for not yielding it twice
Key = Callable[[Mapping[str, Any]], tuple[str, str]]


async def paged_window(
    call: Call,
    stats: ConnectorStats,
    api: tuple[str, str],
    window: Mapping[str, Any],
    *,
    list_key: str,
    total_key: str,
    key: Key,
    max_items: int,
    start: datetime,
    end: datetime,
    split: Callable[[datetime, datetime], AsyncIterator[Raw]],
) -> AsyncIterator[Raw]:
    """Page through one window by ``page_no`` with ``total`` accounting.

    Youzan pages by number over a live result set: a record modified while we page leaves
    the window or moves to its end, shifting the rest by one, so a record can slip between
    two pages. A pass is trusted only if the total stayed put and we saw as many distinct
    ids as it says; otherwise the window is paged again (up to ``UNSTABLE_WINDOW.rescans`` times, then
    :class:`WindowUnstable`), and what was already yielded (same id, same modified time)
    is not yielded twice. A window
    holding more than the API can page through is split in halves.
    """
    if window_is_empty(start, end):
        return  # no whole second in [start, end): nothing to ask for

    async def fetch(page_no: int) -> NumberedPage:
        data = await call(api, {**window, "page_no": page_no, "page_size": MAX_PAGE_SIZE})
        if not isinstance(data, Mapping):
            raise TransientError(PLATFORM, "garbled", f"{api[0]} answered without data")
        items = list_field(data, list_key)
        total = data.get(total_key)
        if isinstance(total, bool) or not isinstance(total, int):
            raise TransientError(PLATFORM, "garbled", f"{api[0]} {total_key} is {total!r}")
        stats.pages += 1
        done = page_no * MAX_PAGE_SIZE
        return NumberedPage(
            items,
            total,
            more=bool(items) and done < total and done < max_items,
            oversized=total > max_items and end - start > timedelta(seconds=2),
        )

    async def halves() -> AsyncIterator[Raw]:
        middle = start + (end - start) / 2
        async for raw in split(start, middle):
            yield raw
        async for raw in split(middle, end):
            yield raw

    paging = PageNumberUntilStable(UNSTABLE_WINDOW, key, platform=PLATFORM, cap=max_items)
    async for raw in paging.walk(fetch, what=f"{api[0]}: total_results", start=start, end=end, split=halves):
        yield raw


async def item_pages(call: Call, stats: ConnectorStats) -> AsyncIterator[Raw]:
    """Items on sale, then in the warehouse (off sale), each read whole with ``youzan.item.get``."""
    for api in (ITEMS_ONSALE_GET, ITEMS_INVENTORY_GET):
        page_no = 1
        while True:
            data = await call(api, {"page_no": page_no, "page_size": ITEMS_PAGE_SIZE})
            if not isinstance(data, Mapping):
                raise TransientError(PLATFORM, "garbled", f"{api[0]} answered without data")
            items = list_field(data, "items")
            count = data.get("count")
            if isinstance(count, bool) or not isinstance(count, int):
                raise TransientError(PLATFORM, "garbled", f"{api[0]} count is {count!r}")
            stats.pages += 1
            for entry in items:
                item_id = entry.get("item_id") if isinstance(entry, Mapping) else None
                if item_id in (None, ""):
                    yield entry if isinstance(entry, Mapping) else {"value": entry}
                    continue
                detail = await call(ITEM_GET, {"item_id": item_id})
                item = detail.get("item") if isinstance(detail, Mapping) else None
                yield item if isinstance(item, Mapping) else entry
            if not items or page_no * ITEMS_PAGE_SIZE >= count:
                break
            page_no += 1


def second_bounds(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole seconds of ``[start, end)`` as Youzan's inclusive ``[first, last]`` bounds.

    Youzan times have one-second resolution and its ranges include both ends [I: the docs do
    not say; inclusive is the common reading and never loses a record]. ``first`` is ``start``
    rounded up, ``last`` is ``end`` rounded up minus one second, so adjacent windows never share
    a second. An empty result (``first > last``) is checked with :func:`window_is_empty`.
    """
    return _ceil_second(start), inclusive_end(_ceil_second(end))


def window_is_empty(start: datetime, end: datetime) -> bool:
    first, last = second_bounds(start, end)
    return first > last


def _ceil_second(value: datetime) -> datetime:
    whole = value.replace(microsecond=0)
    return whole if whole == value else whole + timedelta(seconds=1)


def order_key(raw: Mapping[str, Any]) -> tuple[str, str]:
    info = raw.get("full_order_info")
    order_info = info.get("order_info") if isinstance(info, Mapping) else None
    if not isinstance(order_info, Mapping):
        return (repr(raw)[:200], "")
    return (str(order_info.get("tid")), str(order_info.get("update_time")))


def refund_key(raw: Mapping[str, Any]) -> tuple[str, str]:
    return (str(raw.get("refund_id")), str(raw.get("modified")))
