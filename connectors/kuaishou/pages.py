"""Kuaishou paging: cursor lists (``cursor`` / ``pcursor``, ``"nomore"`` at the end), the item
list's page numbers, and our half-open windows as Kuaishou's inclusive millisecond bounds.

The functions build the ``fetch`` a :meth:`~connectors.base.Connector.paginate` loop calls, so
the connector holds no paging loop. Cursor paging is stable (the cursor is the last row's time
and id, not an offset): there is no total to watch and no unstable-window signal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors import fields
from connectors.base import Page
from connectors.kuaishou.parse import list_field

#: the cursor value that ends every Kuaishou cursor list
NOMORE = "nomore"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

#: one Kuaishou read: ``(method, business params) -> data``
Call = Callable[[str, Mapping[str, Any]], Awaitable[Mapping[str, Any]]]


def ms_window(start: datetime, end: datetime) -> tuple[int, int] | None:
    """Our half-open window as Kuaishou's inclusive ms bounds; ``None`` when it holds no
    whole millisecond (nothing to ask for)."""
    begin = -(-(start - _EPOCH) // _MS)  # ceil: the first ms instant >= start
    stop = -(-(end - _EPOCH) // _MS) - 1  # the last ms instant < end
    return (begin, stop) if stop >= begin else None


def cursor_fetch(
    call: Call, method: str, business: Mapping[str, Any], list_key: str, cursor_key: str
) -> Callable[[str], Awaitable[Page]]:
    """One page of a cursor list; the next cursor is ``None`` at ``"nomore"`` or an empty page."""

    async def fetch(cursor: str) -> Page:
        data = await call(method, {**business, cursor_key: cursor})
        items = list_field(data, list_key)
        nxt = data.get(cursor_key)
        if nxt in (None, "", NOMORE) or not items:
            return Page(items, None)
        return Page(items, str(nxt))

    return fetch


def item_fetch(call: Call, page_size: int) -> Callable[[int], Awaitable[Page]]:
    """One page of ``open.item.list.get`` (pages from 1 up to ``totalPage``)."""

    async def fetch(page_no: int) -> Page:
        data = await call("open.item.list.get", {"pageNumber": page_no, "pageSize": page_size})
        items = list_field(data, "items")
        total_pages = fields.integer(data, "totalPage", 0)
        return Page(items, page_no + 1 if page_no < total_pages and items else None)

    return fetch
