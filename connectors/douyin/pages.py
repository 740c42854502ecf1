"""Douyin paging: which pages to read and in what order, and the three list shapes Douyin serves
(page-from-0 with a total, ``product.listV2`` pages from 1, the settle bill's cursor).

A page-from-0 list is walked by :class:`~connectors.paging.ReverseWalk` (see the package doc):
page 0, then the last page back to 1, then 0 again; a window holding more than the platform's
``page x size <= 50,000`` cap is split in halves. The functions take the connector's ``api``
call and its stats, so the connector holds no paging loop.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import orjson

from bangfu.records import Raw
from connectors import fields
from connectors.base import ConnectorStats
from connectors.douyin import tables
from connectors.douyin.parse import list_field
from connectors.douyin.tables import PLATFORM, PRODUCT_CAP, PRODUCT_PAGE_SIZE, SETTLE_OK, SETTLE_PAGE_SIZE
from connectors.errors import BadRequestError, TransientError
from connectors.paging import ReverseWalk, TotalPage
from connectors.windows import ensure_utc, from_epoch_s, to_local_str

#: one Douyin method call: ``(method, business params) -> the envelope's data``
Call = Callable[[str, Mapping[str, Any]], Awaitable[Any]]
#: the window's filter params from its inclusive second bounds ``(lo, hi)``
Bounds = Callable[[int, int], Mapping[str, Any]]


def page_order(total: int, size: int) -> list[int]:
    """Pages to read after page 0: the last first, down to 1, then 0 again (see module doc).

    Only pages whose offset stays within the platform's ``page x size <= 50,000`` cap.
    """
    pages = max(1, math.ceil(total / size))
    last = min(pages, tables.OFFSET_CAP // size) - 1
    if last <= 0:
        return []
    return [*range(last, 0, -1), 0]


def window_seconds(start: datetime, end: datetime) -> tuple[int, int]:
    """``[start, end)`` as the inclusive whole seconds Douyin filters take: ``(lo, hi)``."""
    lo = math.ceil(ensure_utc(start).timestamp())
    hi = math.ceil(ensure_utc(end).timestamp()) - 1
    return lo, hi


def content_key(item: Any) -> bytes:
    """What marks a record as yielded in a walk: its content, as a 16-byte digest (SHA-256, cut)
    of its canonical JSON (keys sorted). The digest, not the JSON itself: a walk keeps the mark of
    every record of its window until the window is read, and a dense day of a large shop
    (thousands of 3 kB orders, eight windows read at once) held tens of MB of marks. SHA-256
    rather than BLAKE2b: with the CPU's SHA instructions it hashes a 4 kB order in half the time
    (2.9 against 5.9 µs here); the marks live in memory only, so nothing stored depends on it."""
    return hashlib.sha256(orjson.dumps(item, option=orjson.OPT_SORT_KEYS)).digest()[:16]


async def offset_pages(
    call: Call,
    stats: ConnectorStats,
    method: str,
    params: Mapping[str, Any],
    list_key: str,
    window: tuple[datetime, datetime],
    bounds: Bounds,
    *,
    size: int,
) -> AsyncIterator[Raw]:
    """A page-from-0 list over ``[start, end)``: page 0, then last..1, then 0 again.

    A window with more than 50,000 records is split in halves (the cap makes the rest
    unreachable). A pass over which ``total`` grew is repeated (see the package doc). A record
    already yielded exactly as it is now (the same :func:`content_key`) is not yielded again, in
    the first pass too: page 0 read again at the end of a pass mostly repeats what its first read
    gave, and parsing, scrubbing and storing those copies again wrote nothing (sync counted them
    duplicates or unchanged); a record that changed in between has another key and is yielded.
    """
    start, end = window
    lo, hi = window_seconds(start, end)
    if hi < lo:
        return

    async def fetch(page: int) -> TotalPage:
        data = await call(method, {**params, **bounds(lo, hi), "page": page, "size": size})
        if not isinstance(data, Mapping):
            raise TransientError(PLATFORM, "envelope", f"{method}: data is not an object")
        items = list_field(data, list_key)
        total = fields.integer(data, "total", len(items))
        stats.pages += 1
        return TotalPage(items, total)

    async def halves() -> AsyncIterator[Raw]:
        middle = start + (end - start) / 2
        for half in ((start, middle), (middle, end)):
            async for item in offset_pages(call, stats, method, params, list_key, half, bounds, size=size):
                yield item

    paging = ReverseWalk(
        tables.UNSTABLE_WINDOW,
        content_key,
        platform=PLATFORM,
        pages_after=lambda total: page_order(total, size),
        settled="every_page",
        skip_seen_in_first_pass=True,
        wrap_non_objects=False,
    )
    async for item in paging.walk(
        fetch,
        first_page=0,
        unstable=lambda totals: f"{method}: total kept growing in [{start}, {end}): {totals}",
        oversized=lambda head: head.total > tables.OFFSET_CAP and hi > lo,
        split=halves,
    ):
        yield item


async def product_pages(
    call: Call, stats: ConnectorStats, skus: Callable[[str], Awaitable[list[Any]]]
) -> AsyncIterator[Raw]:
    """``product.listV2`` from page 1 (``page x size <= 10,000``), each product with its SKUs."""
    page = 1
    while page * PRODUCT_PAGE_SIZE <= PRODUCT_CAP:
        data = await call("product.listV2", {"page": page, "size": PRODUCT_PAGE_SIZE})
        items = list_field(data, "data") if isinstance(data, Mapping) else []
        stats.pages += 1
        for product in items:
            product_id = (
                fields.opt_numeric_id(product, "product_id", twin=True) if isinstance(product, Mapping) else None
            )
            yield {"product": product, "skus": await skus(product_id) if product_id else []}
        total = fields.integer(data, "total", 0) if isinstance(data, Mapping) else 0
        if not items or page * PRODUCT_PAGE_SIZE >= total:
            return
        page += 1


async def settle_bill_pages(call: Call, stats: ConnectorStats, start: datetime, end: datetime) -> AsyncIterator[Raw]:
    """``order.getSettleBillDetailV3`` over ``[start, end)`` by its ``start_index`` /
    ``next_start_time`` cursor until ``is_end = 1``; a repeated cursor is a transient error."""
    lo, hi = window_seconds(start, end)
    if hi < lo:
        return
    params: dict[str, Any] = {
        "start_time": to_local_str(from_epoch_s(lo)),
        "end_time": to_local_str(from_epoch_s(hi)),
        "time_type": "0",
        "size": SETTLE_PAGE_SIZE,
    }
    seen: set[tuple[str, str]] = set()
    while True:
        data = await call("order.getSettleBillDetailV3", params)
        if not isinstance(data, Mapping):
            raise TransientError(PLATFORM, "envelope", "settle bill: data is not an object")
        if str(data.get("code", SETTLE_OK)) != SETTLE_OK:
            raise BadRequestError(PLATFORM, str(data.get("code")), str(data.get("code_msg") or "settle bill"))
        stats.pages += 1
        for row in list_field(data, "data"):
            yield row
        if fields.integer(data, "is_end", 1) == 1:
            return
        cursor = (str(data.get("next_start_index") or ""), str(data.get("next_start_time") or ""))
        if cursor in seen or not cursor[1]:
            raise TransientError(PLATFORM, "paging_loop", f"settle bill cursor repeated: {cursor}")
        seen.add(cursor)
        params = {**params, "start_index": cursor[0], "start_time": cursor[1]}
