"""The operator adds a supply lot from the waiting page in a real browser (issue 13): the link on
the SKU's row, a wrong quantity named beside its field, then the lot saved and the waiting lines
filled from it; screenshots of the form and the outcome on a desktop and a phone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.web.browser.conftest import VIEWPORTS, Served, sign_in
from tests.web.browser.test_console import Watched

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session", params=["desktop", "phone"])
async def sized(browser: Any, request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, Any]]:
    made = await browser.new_context(**VIEWPORTS[request.param])
    yield request.param, made
    await made.close()


async def test_operator_adds_a_lot_from_the_waiting_page(
    served_copy: Served, sized: tuple[str, Any], screenshots: Path
) -> None:
    viewport, context = sized
    raw = await context.new_page()
    await sign_in(raw, served_copy.base, "operator")
    page = Watched(raw)
    await page.open(f"{served_copy.base}/operator/waiting")
    link = page.page.locator("a[href^='/lots/new?sku=']")
    row = page.page.locator("table tbody tr").filter(has=link).first
    first = row.locator("a[href^='/lots/new?sku=']")
    lines = int((await row.locator("td.num").nth(0).inner_text()).replace(",", ""))
    money = (await row.locator("td.num").nth(2).inner_text()).strip()
    units = int((await row.locator("td.num").nth(1).inner_text()).replace(",", ""))
    async with page.page.expect_navigation():
        await first.click()
    assert "/lots/new?sku=" in page.page.url
    members = await page.page.eval_on_selector_all("#members option", "els => els.map(e => e.value)")
    if members:
        await page.page.get_by_label("成员编号 1", exact=True).fill(members[0])
    await page.page.get_by_label("数量（件） 1", exact=True).fill("12件")
    await page.page.get_by_label("保底价（元/件） 1", exact=True).fill("2.80")
    async with page.page.expect_navigation():
        await page.page.get_by_role("button", name="保存批次并配货").click()
    error = page.page.locator("#err-quantity_1")
    assert await error.is_visible() and "whole number" in await error.inner_text()
    assert await page.page.get_by_role("alert").is_visible()
    await page.page.screenshot(path=str(screenshots / f"operator-lot-form-error-{viewport}.png"), full_page=True)

    await page.page.get_by_label("数量（件） 1", exact=True).fill(str(units + 10))
    async with page.page.expect_navigation():
        await page.page.get_by_role("button", name="保存批次并配货").click()
    assert "/lots/" in page.page.url and "stored=1" in page.page.url
    assert await page.page.get_by_role("status").is_visible()
    assert (await page.page.locator("#filled-lines").inner_text()).strip() == str(lines)
    assert (await page.page.locator("#filled-money").inner_text()).strip() == money
    await page.page.screenshot(path=str(screenshots / f"operator-lot-stored-{viewport}.png"), full_page=True)
    width = await page.page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[viewport]["viewport"]["width"] + 1, f"the page is {width}px wide"
    # A navigation may cut the favicon's load short; anything else is a problem of the page.
    assert not [p for p in page.problems if "/static/favicon" not in p], page.problems
