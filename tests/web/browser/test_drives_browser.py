"""Enterprise-driven households in a real browser: the county overview's card with the two lines
and the combined count, /county/drives with its chart by mode, and an enterprise's households
(names masked); screenshots of each on a desktop and of the drives page on a phone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bangfu.clock import SHANGHAI, utcnow
from tests.web.browser.conftest import VIEWPORTS, Served, sign_in
from tests.web.browser.test_console import Watched

pytestmark = pytest.mark.asyncio(loop_scope="session")
YEAR = utcnow().astimezone(SHANGHAI).year


async def test_county_drives_pages(served: Served, browser: Any, screenshots: Path) -> None:
    for device in ("desktop", "phone"):
        context = await browser.new_context(**VIEWPORTS[device])
        try:
            raw = await context.new_page()
            await sign_in(raw, served.base, "county")
            page = Watched(raw)
            if device == "desktop":
                await page.open(f"{served.base}/county?period={YEAR}")
                card = page.page.locator("#drives")
                text = await card.inner_text()
                assert "企业带动农户" in text and "合计（同一农户只计一次）" in text
                await card.scroll_into_view_if_needed()
                await card.screenshot(path=str(screenshots / "drives-county-card.png"))
                async with page.page.expect_navigation():
                    await card.get_by_role("link", name="查看企业带动明细").click()
            else:
                await page.open(f"{served.base}/county/drives?period={YEAR}")
            assert "/county/drives" in page.page.url
            chart = page.page.locator("#mode-chart canvas")
            await chart.first.wait_for()
            assert await page.page.locator("#modes tbody tr").count() == 4
            await page.page.screenshot(path=str(screenshots / f"drives-overview-{device}.png"), full_page=True)
            if device == "desktop":
                async with page.page.expect_navigation():
                    await page.page.locator("#enterprises tbody a").first.click()
                assert re.search(r"/county/drives/\d+", page.page.url)
                names = await page.page.locator("#households tbody tr td:nth-child(2)").all_inner_texts()
                assert names and all(re.fullmatch(r".\*+", n.strip()) for n in names), names
                await page.page.screenshot(path=str(screenshots / "drives-enterprise-desktop.png"), full_page=True)
            assert not [p for p in page.problems if "/static/favicon" not in p], page.problems
        finally:
            await context.close()
