"""The county overview in a real browser shows the offline channels' rows (vending machine,
counter) in the sales by channel; a screenshot of the section on a desktop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.web.browser.conftest import VIEWPORTS, Served, sign_in
from tests.web.browser.test_console import Watched

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_county_overview_lists_the_offline_channels(served: Served, browser: Any, screenshots: Path) -> None:
    context = await browser.new_context(**VIEWPORTS["desktop"])
    try:
        raw = await context.new_page()
        await sign_in(raw, served.base, "county")
        page = Watched(raw)
        await page.open(f"{served.base}/county?from={served.period['from']}&to={served.period['to']}")
        section = page.page.locator("#sales-channel")
        labels = await section.locator("tbody tr td:first-child").all_inner_texts()
        assert {"智能售货机", "专柜/专区"} <= {label.strip() for label in labels}, labels
        for label in ("智能售货机", "专柜/专区"):
            row = section.locator("tbody tr").filter(has_text=label)
            assert (await row.locator("td.num").first.inner_text()).strip().startswith("¥")
        await section.scroll_into_view_if_needed()
        await page.page.screenshot(path=str(screenshots / "county-offline-channels.png"), full_page=True)
        assert not [p for p in page.problems if "/static/favicon" not in p], page.problems
    finally:
        await context.close()
