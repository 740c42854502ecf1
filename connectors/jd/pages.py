"""JD JOS paging: the routerjson call, page-number walks (``page * page_size < total``), the
orders walk that restarts on a moving ``orderTotal`` and halves (:class:`connectors.paging.RestartAndHalve`),
SKUs of a batch of wares."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from bangfu.records import Raw
from connectors.base import Connector, ShopConfig
from connectors.errors import TransientError
from connectors.jd.parse import ORDER_FIELDS
from connectors.jd.sign import param_json
from connectors.jd.tables import ALL_ORDER_STATES, GATEWAY_PATH, MODIFIED_LOOKBACK_SAFE, PLATFORM, UNSTABLE_WINDOW
from connectors.paging import NumberedPage, RestartAndHalve, WindowPages
from connectors.windows import split_windows, to_local_str


def second_bounds(start: datetime, end: datetime) -> tuple[str, str] | None:
    """``[start, end)`` as JD's inclusive ``yyyy-MM-dd HH:mm:ss`` pair, or None when no whole
    second falls inside (JD times have one-second resolution, so such a window is empty).

    The first second is ``ceil(start)`` and the last ``ceil(end) - 1 s``: adjacent windows
    never both claim a second and a window with sub-second edges loses none.
    """
    first = _ceil_second(start)
    last = _ceil_second(end) - timedelta(seconds=1)
    if last < first:
        return None
    return to_local_str(first), to_local_str(last)


def _ceil_second(at: datetime) -> datetime:
    floor = at.replace(microsecond=0)
    return floor if floor == at else floor + timedelta(seconds=1)


class JosPaging(Connector):
    """JOS's gateway call and its paging; the streams are in :class:`connectors.jd.JdConnector`."""

    #: an orders window holding more than this is re-read in ``window_advised`` slices
    dense_window_records: ClassVar[int] = 500

    def __init__(self, config: ShopConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.aborted_scans = 0  # window scans aborted because orderTotal changed mid-scan

    async def gateway(self, method: str, business: Mapping[str, Any]) -> Mapping[str, Any]:
        """One signed routerjson call; returns the ``*_responce`` object."""
        result: Mapping[str, Any] = await self.call(
            method, method="POST", path=GATEWAY_PATH, params={"360buy_param_json": param_json(business)}
        )
        return result

    async def numbered_pages(
        self, method: str, query: Mapping[str, Any], *, page_param: str, result: str, items: str, total: str
    ) -> AsyncIterator[list[Any]]:
        """The item lists of a page-number query, page 1 on while ``page * page_size < total``
        (``result`` names the page object, ``items`` and ``total`` its list and count)."""
        page = 1
        while True:
            body = await self.gateway(method, {**query, page_param: str(page)})
            found = body.get(result)
            if not isinstance(found, Mapping):
                raise TransientError(PLATFORM, "envelope", f"no {result}")
            listed = found.get(items) or []
            yield listed
            if not listed or page * self.page_size >= int(found.get(total) or 0):
                return
            page += 1

    async def _orders_window(self, start: datetime, end: datetime) -> AsyncIterator[Raw]:
        """Orders of one window, page from 1 while ``page * page_size < orderTotal``.

        [I] If ``orderTotal`` changes between pages, an order entered or left the window while
        we paged (JD sorts by the window's time field, so later pages shifted and one could be
        skipped): the scan is aborted and the window restarted from page 1. A window that stays
        unstable for ``SCANS_BEFORE_SPLIT`` scans is cut in halves (fewer pages, less time for
        the ground to move), down to ``MAX_SPLIT_DEPTH``; a half that still will not hold after
        ``MAX_WINDOW_RESTARTS`` restarts fails the window with :class:`WindowUnstable`.
        Orders already yielded in this window with the same ``modified`` are not yielded again.

        A window that reaches "now" cannot see an order touched while paging leave it (it moves
        to the end instead, and orderTotal stays): sync holds its ranges a lag behind now.

        Windows are coarse (a day) and probed: when the first page's ``orderTotal`` exceeds
        ``dense_window_records`` and the window is wider than ``window_advised``, it is read as
        advised slices instead (nothing of the probe is yielded), so sparse days cost a page or
        two and dense ones keep the short scans the abort-and-restart rule needs.
        """
        paging = RestartAndHalve(
            UNSTABLE_WINDOW,
            lambda raw: (str(raw.get("orderId")), str(raw.get("modified"))),
            platform=PLATFORM,
            pages=self._order_pages,
            middle=lambda low, high: _ceil_second(low + (high - low) / 2),
            what="orderTotal",
            on_abort=self._count_abort,
        )

        def dense(low: datetime, high: datetime, page: NumberedPage) -> list[tuple[datetime, datetime]] | None:
            if page.total > self.dense_window_records and high - low > self.window_advised:
                return list(split_windows(low, high, self.window_advised))
            return None

        async for raw in paging.walk(start, end, slices=dense):
            yield raw

    def _count_abort(self) -> None:
        self.aborted_scans += 1

    def _order_pages(self, start: datetime, end: datetime) -> WindowPages | None:
        """The fetch of ``jingdong.pop.order.search`` pages over ``[start, end)``."""
        bounds = second_bounds(start, end)
        if bounds is None:
            return None
        # Modified-time search only sees 3 months: older windows go by created time.
        by_created = start < self.clock() - MODIFIED_LOOKBACK_SAFE
        query = {
            "start_date": bounds[0],
            "end_date": bounds[1],  # JD's end_date is inclusive
            "order_state": ALL_ORDER_STATES,
            "page_size": str(self.page_size),
            "dateType": "1" if by_created else "0",
            "optional_fields": ",".join(ORDER_FIELDS),
        }

        async def fetch(page: int) -> NumberedPage:
            body = await self.gateway("jingdong.pop.order.search", {**query, "page": str(page)})
            result = body.get("searchorderinfo_result")
            if not isinstance(result, Mapping):
                raise TransientError(PLATFORM, "envelope", "no searchorderinfo_result")
            total = int(result.get("orderTotal") or 0)
            items = result.get("orderInfoList") or []
            self.stats.pages += 1
            return NumberedPage(items, total, more=bool(items) and page * self.page_size < total)

        return fetch

    async def _skus_of(self, ware_ids: Sequence[str]) -> dict[str, list[Mapping[str, Any]]]:
        out: dict[str, list[Mapping[str, Any]]] = {ware: [] for ware in ware_ids}
        pages = self.numbered_pages(
            "jingdong.sku.read.searchSkuList",
            {"wareId": ",".join(ware_ids), "pageSize": str(self.page_size)},
            page_param="pageNo",
            result="page",
            items="data",
            total="totalItem",
        )
        async for items in pages:
            for sku in items:
                if isinstance(sku, Mapping):
                    out.setdefault(str(sku.get("wareId")), []).append(sku)
        return out
