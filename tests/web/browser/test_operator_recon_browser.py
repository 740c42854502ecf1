"""The operator works a reconciliation exception in a real browser (issue 13): the list with the
verdicts by shop and month, an exception's page, accepting it with a reason (the browser itself
refuses an empty one), the history saying who did it; the same pages in English. Screenshots of
each step on a desktop and a phone in ``test-artifacts/screenshots/``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.web.browser.conftest import VIEWPORTS, Served, sign_in
from tests.web.browser.test_console import TOO_WIDE, Watched

pytestmark = pytest.mark.asyncio(loop_scope="session")

REASON = "平台延迟结算，已与平台客服核实，下期回款"


@pytest_asyncio.fixture(loop_scope="session", params=["desktop", "phone"])
async def sized(browser: Any, request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, Any]]:
    made = await browser.new_context(**VIEWPORTS[request.param])
    yield request.param, made
    await made.close()


async def test_operator_accepts_an_exception_with_a_reason(
    served_copy: Served, sized: tuple[str, Any], screenshots: Path
) -> None:
    viewport, context = sized
    raw = await context.new_page()
    await sign_in(raw, served_copy.base, "operator")
    page = Watched(raw)
    await page.open(f"{served_copy.base}/operator/reconciliation")
    p = page.page
    verdicts = p.locator("section", has=p.get_by_role("heading", name="对账结论（按店铺、付款月份）"))
    assert await verdicts.locator("tbody tr").count() >= 7  # every shop has a month
    exceptions = p.locator("table a[href^='/operator/reconciliation/']")
    assert await exceptions.count() >= 7
    if viewport == "phone":
        assert await p.evaluate(TOO_WIDE) == []
    await p.screenshot(path=str(screenshots / f"operator-recon-list-{viewport}.png"), full_page=True)
    await p.screenshot(path=str(screenshots / f"operator-recon-list-top-{viewport}.png"))

    first = exceptions.first
    order = (await first.inner_text()).strip()
    async with p.expect_navigation():
        await first.click()
    assert not page.problems, page.problems
    assert order in await p.locator("h1").inner_text()
    assert "回款缺失" in await p.locator("main").inner_text()
    await p.screenshot(path=str(screenshots / f"operator-recon-detail-{viewport}.png"), full_page=True)

    accept = p.locator("form[action$='/accept']")
    here = p.url
    await accept.get_by_role("button", name="接受差额").click()  # empty: the browser refuses (required)
    assert p.url == here
    assert await accept.locator("input[name=reason]").evaluate("el => !el.validity.valid")
    await accept.get_by_label("原因 / 备注").fill(REASON)
    async with p.expect_navigation():
        await accept.get_by_role("button", name="接受差额").click()
    assert p.url.endswith("?done=accepted"), p.url
    assert "已记录：已接受。" in await p.get_by_role("status").inner_text()
    history = p.locator("section", has=p.get_by_role("heading", name="处理记录"))
    last = history.locator("tbody tr").last
    assert "operator" in await last.inner_text() and REASON in await last.inner_text()
    assert await p.locator("form[action$='/reopen']").count() == 1
    assert await p.locator("form[action$='/accept']").count() == 0
    if viewport == "phone":
        assert await p.evaluate(TOO_WIDE) == []
    await p.screenshot(path=str(screenshots / f"operator-recon-accepted-{viewport}.png"), full_page=True)

    if viewport == "desktop":
        async with p.expect_navigation():
            await p.get_by_role("button", name="English").click()
        main = await p.locator("main").inner_text()
        assert "Order reconciliation" in main and "Accepted" in main and "History" in main
        for label in ("对账", "处理记录", "结算单", "应收", "差额", "已接受", "回款缺失", "程序", "原因"):
            assert label not in main, label
        await p.screenshot(path=str(screenshots / "operator-recon-accepted-en.png"), full_page=True)
        await p.goto(f"{served_copy.base}/operator/reconciliation")
        await p.screenshot(path=str(screenshots / "operator-recon-list-en.png"), full_page=True)
    assert not page.problems, page.problems
