"""The listings page in a real browser: an operator sees an unmapped listing first, with its
suggestions and the money waiting on it, maps it with the form and sees the waiting lines flow
on; screenshots on a desktop and a phone, no page wider than a phone outside its tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bangfu.money import format_yuan
from tests.web.browser.conftest import VIEWPORTS, Served, sign_in
from tests.web.browser.test_console import TOO_WIDE, Watched
from tests.web.test_operator_listings import _unmap_busiest

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_operator_maps_an_unmapped_listing(served_copy: Served, browser: Any, screenshots: Path) -> None:
    facts = await _unmap_busiest(served_copy.url)
    context = await browser.new_context(**VIEWPORTS["desktop"])
    try:
        page = Watched(await context.new_page())
        await sign_in(page.page, served_copy.base, "operator")
        await page.open(f"{served_copy.base}/operator/listings")
        tab = page.page.get_by_role("link", name="商品对应", exact=True)
        assert await tab.get_attribute("aria-current") == "page"
        first = page.page.locator("tbody tr").first
        text = await first.inner_text()
        assert facts["title"] in text and format_yuan(facts["paid_fen"]) in text
        assert facts["sku_code"] in text, "the title suggests the SKU"
        summary = await page.page.locator(".lsum").inner_text()
        assert "未对应" in summary and "待对应销售" in summary
        await page.page.screenshot(path=str(screenshots / "operator-listings-desktop.png"))

        await first.get_by_label("中台 SKU 编码").fill(facts["sku_code"])
        async with page.page.expect_navigation():
            await first.get_by_role("button", name="对应", exact=True).click()
        assert "done=mapped" in page.page.url
        notice = await page.page.get_by_role("status").inner_text()
        assert f"{facts['all_lines']} 行待对应销售进入配货和入账" in notice
        await page.open(f"{served_copy.base}/operator/listings?q={facts['item']}")
        row = page.page.locator(f"tr[id='l-{facts['shop_id']}:{facts['item']}:{facts['sku']}']")
        assert "operator 手工对应" in await row.inner_text()
        await page.page.screenshot(path=str(screenshots / "operator-listings-mapped-desktop.png"))
        assert not page.problems, page.problems
        state = await context.storage_state()
    finally:
        await context.close()

    phone = await browser.new_context(storage_state=state, **VIEWPORTS["phone"])
    try:
        page = Watched(await phone.new_page())
        await page.open(f"{served_copy.base}/operator/listings?status=mapped")
        await page.page.screenshot(path=str(screenshots / "operator-listings-phone.png"), full_page=True)
        assert await page.page.evaluate(TOO_WIDE) == []
        assert not page.problems, page.problems
    finally:
        await phone.close()
