"""Procurement agreements in a real browser: the county opens the list from its overview's card,
sees the at-risk agreement, opens it and finds the cumulative chart drawn against the straight
line of the target. Screenshots of the list (desktop and phone) and of the agreement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bangfu.models import Agreement
from bangfu.store import make_engine
from tests.web.browser.conftest import VIEWPORTS, Served, sign_in
from tests.web.browser.test_console import Watched

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _behind(url: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(select(Agreement.id).where(Agreement.number == "XY-JD-001"))
    finally:
        await engine.dispose()
    assert found is not None
    return int(found)


async def test_county_follows_an_agreement_behind_schedule(served: Served, browser: Any, screenshots: Path) -> None:
    behind = await _behind(served.url)
    context = await browser.new_context(**VIEWPORTS["desktop"])
    try:
        page = Watched(await context.new_page())
        await sign_in(page.page, served.base, "county")
        await page.open(f"{served.base}/county")
        card = page.page.locator("section#agreements")
        assert "份采购协议" in await card.inner_text()
        await card.screenshot(path=str(screenshots / "agreements-county-card-desktop.png"))
        async with page.page.expect_navigation():
            await card.get_by_role("link", name="查看采购协议执行").click()
        main = page.page.locator("main")
        assert "执行滞后的协议" in await main.inner_text()
        assert await page.page.locator('[data-at-risk="XY-JD-001"]').count() == 1
        await page.page.screenshot(path=str(screenshots / "agreements-list-desktop.png"), full_page=True)
        async with page.page.expect_navigation():
            await page.page.locator(f'#at-risk a[href^="/agreements/{behind}"]').click()
        await page.page.wait_for_function(
            "() => { const c = echarts.getInstanceByDom(document.getElementById('cumulative'));"
            " return c && c.getOption().series.length === 2; }"
        )
        text = await main.inner_text()
        assert "累计执行与进度线" in text and "滞后" in text and "计入的订单行" in text
        await page.page.screenshot(path=str(screenshots / "agreement-desktop.png"), full_page=True)
        assert not page.problems, page.problems
    finally:
        await context.close()
    phone = await browser.new_context(**VIEWPORTS["phone"])
    try:
        page = Watched(await phone.new_page())
        await sign_in(page.page, served.base, "unit")
        await page.open(f"{served.base}/agreements")
        text = await page.page.locator("main").inner_text()
        assert "XY-GH-001" in text and "XY-JD-001" not in text  # a unit sees its own only
        await page.page.screenshot(path=str(screenshots / "agreements-list-phone.png"), full_page=True)
        assert not page.problems, page.problems
    finally:
        await phone.close()
