"""Order planting in a real browser: the county's planning page draws each main product's
history and forecast with its interval bands (ECharts), on a desktop and a phone; the
cooperative opens its page and accepts its plan of a product as a purchase contract with the
form. Screenshots of the county page (desktop, phone) and the cooperative's page after it
accepted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bangfu.models import PlantingContract, User
from bangfu.store import make_engine
from tests.web.browser.conftest import VIEWPORTS, Served, sign_in
from tests.web.browser.test_console import TOO_WIDE, Watched

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Per chart: how many series are drawn and how many seasons the x axis has.
CHARTS = """() => Array.from(document.querySelectorAll('.plan-chart')).map((el) => {
  const chart = window.echarts && window.echarts.getInstanceByDom(el);
  if (!chart) return null;
  const option = chart.getOption();
  return {series: option.series.length, seasons: option.xAxis[0].data.length};
})"""


async def _coop_of(url: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            coop = await conn.scalar(select(User.cooperative_id).where(User.name == "coop"))
    finally:
        await engine.dispose()
    assert coop is not None
    return int(coop)


@pytest.mark.slow
async def test_planning_pages_and_accepting_a_contract(served_copy: Served, browser: Any, screenshots: Path) -> None:
    served = served_copy
    coop = await _coop_of(served.url)
    for device in ("desktop", "phone"):
        context = await browser.new_context(**VIEWPORTS[device])
        try:
            page = Watched(await context.new_page())
            await sign_in(page.page, served.base, "county")
            await page.open(f"{served.base}/county/planting")
            charts = await page.page.evaluate(CHARTS)
            assert len(charts) >= 4 and all(c is not None and c["series"] == 7 for c in charts), charts
            assert all(c["seasons"] >= 14 for c in charts[:4]), "12 seasons of history, today's and the plan's"
            text = await page.page.locator("main").inner_text()
            assert "ETS(A,N,A)" in text and "95% 区间" in text and "订单收购合同与交售" in text
            if device == "phone":
                assert await page.page.evaluate(TOO_WIDE) == []
            await page.page.screenshot(path=str(screenshots / f"planting-county-{device}.png"), full_page=True)
        finally:
            await context.close()

    context = await browser.new_context(**VIEWPORTS["desktop"])
    try:
        page = Watched(await context.new_page())
        await sign_in(page.page, served.base, "coop")
        async with page.page.expect_navigation():
            await page.page.get_by_role("link", name="订单种植").click()
        assert page.page.url.endswith(f"/cooperatives/{coop}/planting")
        form = page.page.locator("form.accept").first
        price = form.get_by_role("textbox")
        assert await price.input_value(), "the price defaults to the last lot's guaranteed price"
        await price.fill("15.80")
        async with page.page.expect_navigation():
            await form.get_by_role("button", name="签订收购合同").click()
        assert "accepted=1" in page.page.url
        assert "合同已签订" in await page.page.locator("main").inner_text()
        assert "¥15.80" in await page.page.locator("main").inner_text()
        assert not page.problems, page.problems
        await page.page.screenshot(path=str(screenshots / "planting-cooperative-desktop.png"), full_page=True)
    finally:
        await context.close()
    engine = make_engine(served.url)
    try:
        async with engine.connect() as conn:
            prices = list(
                await conn.scalars(select(PlantingContract.price_fen).where(PlantingContract.cooperative_id == coop))
            )
    finally:
        await engine.dispose()
    assert 1580 in prices
