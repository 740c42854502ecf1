"""Self-built mall paging: a live admin list read window by window until its total holds
(:class:`connectors.paging.PageNumberUntilStable`), and the public catalogue page by page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from bangfu.records import Raw
from connectors.errors import TransientError
from connectors.paging import NumberedPage, PageNumberUntilStable
from connectors.selfmall.html import HtmlPage, having, marked, read_pager
from connectors.selfmall.scrape import extract_product
from connectors.selfmall.session import MallSession
from connectors.selfmall.tables import CATALOGUE_PER_PAGE, PER_PAGE, PLATFORM, UNSTABLE_WINDOW
from connectors.windows import to_local_str


def _ceil_second(value: datetime) -> datetime:
    whole = value.replace(microsecond=0)
    return whole if whole == value else whole + timedelta(seconds=1)


def order_ident(raw: Mapping[str, Any]) -> tuple[str, str]:
    return (str(raw.get("order_id")), str(raw.get("updated_at")))


def refund_ident(raw: Mapping[str, Any]) -> tuple[str, str]:
    return (str(raw.get("refund_id")), str(raw.get("updated_at")))


class MallPaging(MallSession):
    """List windows and the catalogue; the streams are in :class:`connectors.selfmall.SelfmallConnector`."""

    async def _list_window(
        self,
        op: str,
        path: str,
        expect: str,
        from_key: str,
        to_key: str,
        start: datetime,
        end: datetime,
        *,
        marker: str,
        extract: Callable[[Any], dict[str, Any]],
        ident: Callable[[Mapping[str, Any]], tuple[str, str]],
    ) -> AsyncIterator[Raw]:
        """Every row of a half-open ``[from, to)`` window (second resolution), page by page.

        The list is live: a record changed while we page moves to the end or out of the window
        and shifts the rest, so a row can slip between two pages. A pass counts only if the
        total held still and we saw as many distinct rows as it says; otherwise the window is
        paged again (up to ``UNSTABLE_WINDOW.rescans`` times, then :class:`WindowUnstable`) without yielding
        a row twice.
        """
        first, stop = _ceil_second(start), _ceil_second(end)
        if first >= stop:
            return
        window = {from_key: to_local_str(first), to_key: to_local_str(stop), "per_page": PER_PAGE}

        async def fetch(number: int) -> NumberedPage:
            page = await self.page(op, path, expect=expect, params={**window, "page": number})
            pager = read_pager(page)
            self.stats.pages += 1
            items = [extract(tag) for tag in marked(page.tree, marker)]
            return NumberedPage(items, pager.total, more=number < pager.pages)

        paging = PageNumberUntilStable(UNSTABLE_WINDOW, ident, platform=PLATFORM)
        async for raw in paging.walk(fetch, what=f"{op}: the total", start=start, end=end):
            yield raw

    # ------------------------------------------------------------------ products and stock
    async def _products_pages(self) -> AsyncIterator[Raw]:
        number = 1
        while True:
            page = await self.call(
                "catalogue",
                method="GET",
                path="/catalogue",
                params={"shop": self.config.shop_id, "page": number, "per_page": CATALOGUE_PER_PAGE},
                authenticated=False,
            )
            if not isinstance(page, HtmlPage) or page.page_name != "catalogue":
                raise TransientError(PLATFORM, "unexpected_page", "the catalogue did not answer a catalogue page")
            pager = read_pager(page)
            self.stats.pages += 1
            for section in having(page.tree, "data-item-id", "section"):
                yield extract_product(section)
            if number >= pager.pages:
                return
            number += 1
