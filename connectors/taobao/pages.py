"""Taobao/Tmall (TOP) paging: one signed call, a page, the last -> first walk of a query and
the coarse windows sliced when dense (see :class:`connectors.taobao.connector.TaobaoConnector`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from bangfu.records import Raw
from connectors.base import Connector
from connectors.errors import TransientError
from connectors.paging import ReverseWalk, TotalPage
from connectors.taobao.parse import nested_list
from connectors.taobao.tables import GATEWAY_PATH, UNSTABLE_WINDOW
from connectors.windows import split_windows, to_local_str


def _ceil_second(at: datetime) -> datetime:
    floor = at.replace(microsecond=0)
    return floor if floor == at else floor + timedelta(seconds=1)


def window_bounds(start: datetime, end: datetime) -> tuple[str, str] | None:
    """``[start, end)`` as TOP's inclusive, second-resolution start/end texts.

    TOP times are whole seconds, so the record times in ``[start, end)`` are exactly the seconds
    ``[ceil(start), ceil(end) - 1 s]``: adjacent windows neither overlap nor leave a gap, and
    the inclusive span never exceeds ``end - start`` (a 1-day window stays within the 1-day
    limit). ``None`` when no whole second lies in the window (nothing to ask for).
    """
    low = _ceil_second(start)
    high = _ceil_second(end) - timedelta(seconds=1)
    if high < low:
        return None
    return to_local_str(low), to_local_str(high)


@dataclass(frozen=True, slots=True)
class TopPage:
    items: list[Any]
    total: int


def record_key(*fields: str) -> Callable[[Mapping[str, Any]], tuple[str, ...]]:
    return lambda raw: tuple(str(raw.get(name)) for name in fields)


class TopPaging(Connector):
    """TOP's gateway call and its paging; the streams are in :class:`TaobaoConnector`."""

    page_size: ClassVar[int] = 50  # 1-100; the doc advises 40-50
    item_page_size: ClassVar[int] = 100  # items.onsale.get allows up to 200
    #: a window holding more records than this is re-read in ``window_advised`` slices
    dense_window_records: ClassVar[int] = 500

    async def top(self, method: str, business: Mapping[str, Any]) -> Mapping[str, Any]:
        """One signed TOP call; returns the ``<method>_response`` object."""
        result: Mapping[str, Any] = await self.call(method, path=GATEWAY_PATH, data=business)
        return result

    # ------------------------------------------------------------------ paging
    async def _page(
        self, method: str, business: Mapping[str, Any], page_no: int, page_size: int, outer: str, inner: str
    ) -> TopPage:
        body = await self.top(method, {**business, "page_no": page_no, "page_size": page_size})
        self.stats.pages += 1
        try:
            items = nested_list(body, outer, inner)
        except ValueError as exc:
            raise TransientError(self.platform_name, "envelope", str(exc)) from exc
        total = body.get("total_results")
        if isinstance(total, bool) or not isinstance(total, int | str) or not str(total).isdigit():
            if items or body.get("has_next"):
                raise TransientError(self.platform_name, "envelope", f"no total_results from {method}")
            total = 0  # an empty window may omit the count
        return TopPage(items, int(total))

    async def walk(
        self,
        method: str,
        business: Mapping[str, Any],
        outer: str,
        inner: str,
        key: Callable[[Mapping[str, Any]], tuple[str, ...]],
        *,
        page_size: int | None = None,
        first: TopPage | None = None,
    ) -> AsyncIterator[Raw]:
        """Every record of one query, walking pages last -> first (see the class doc)."""
        size = page_size or self.page_size
        business = {**business, "use_has_next": "false"}  # we need total_results

        async def fetch(page_no: int) -> TotalPage:
            page = await self._page(method, business, page_no, size, outer, inner)
            return TotalPage(page.items, page.total)

        def pages_after(total: int) -> list[int]:
            last = -(-total // size)
            return [*range(last, 1, -1), 1] if last > 1 else []

        def unstable(totals: list[int]) -> str:
            bounds = " .. ".join(str(v) for k, v in business.items() if k.startswith(("start_", "end_")))
            return f"{method}: records kept entering the window [{bounds}]"

        paging = ReverseWalk(
            UNSTABLE_WINDOW,
            key,
            platform=self.platform_name,
            pages_after=pages_after,
            settled="first_page_again",
            skip_seen_in_first_pass=True,
            wrap_non_objects=True,
        )
        head = TotalPage(first.items, first.total) if first is not None else None
        async for raw in paging.walk(fetch, first_page=1, unstable=unstable, first=head):
            yield raw

    async def _windowed_walk(
        self,
        method: str,
        business: Mapping[str, Any],
        start: datetime,
        end: datetime,
        names: tuple[str, str],
        outer: str,
        inner: str,
        key: Callable[[Mapping[str, Any]], tuple[str, ...]],
        *,
        slice_dense: bool = True,
    ) -> AsyncIterator[Raw]:
        """One coarse window; sliced into ``window_advised`` pieces when it is dense."""
        bounds = window_bounds(start, end)
        if bounds is None:
            return
        low, high = bounds
        query = {**business, names[0]: low, names[1]: high}
        probe = await self._page(method, {**query, "use_has_next": "false"}, 1, self.page_size, outer, inner)
        if slice_dense and probe.total > self.dense_window_records and end - start > self.window_advised:
            for piece_start, piece_end in split_windows(start, end, self.window_advised):
                async for raw in self._windowed_walk(
                    method, business, piece_start, piece_end, names, outer, inner, key, slice_dense=False
                ):
                    yield raw
            return
        async for raw in self.walk(method, query, outer, inner, key, first=probe):
            yield raw
