"""The task ledger in a real browser: the county office opens the ledger from the county
overview's card, sees the quarterly ledger by department, goes to a task reported by hand (its
history chart drawn) and to a bound task (its live figure). Screenshots of the county card, the
ledger (desktop and phone), the at-risk list, a hand-reported task and a bound task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bangfu.models import LedgerTask
from bangfu.store import make_engine
from tests.web.browser.conftest import VIEWPORTS, Served, sign_in
from tests.web.browser.test_console import Watched

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _tasks(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(LedgerTask.id, LedgerTask.metric_kind).order_by(LedgerTask.id))).all()
    finally:
        await engine.dispose()
    hand = next(r.id for r in rows if r.metric_kind is None and r.id > 1)
    bound = next(r.id for r in rows if r.metric_kind == "cooperative_sales")
    return int(hand), int(bound)


async def test_task_ledger_pages(served: Served, browser: Any, screenshots: Path) -> None:
    hand, bound = await _tasks(served.url)
    context = await browser.new_context(**VIEWPORTS["desktop"])
    try:
        page = Watched(await context.new_page())
        await sign_in(page.page, served.base, "county")
        await page.open(f"{served.base}/county")
        card = page.page.locator("#tasks-card")
        assert "调度台账" in await card.inner_text()
        await card.screenshot(path=str(screenshots / "tasks-county-card-desktop.png"))
        async with page.page.expect_navigation():
            await card.get_by_role("link", name="查看台账").click()
        main = await page.page.locator("main").inner_text()
        assert "第1季度" in main and "县发展改革局" in main and "逾期未完成" in main
        await page.page.screenshot(path=str(screenshots / "tasks-ledger-desktop.png"), full_page=True)
        await page.open(f"{served.base}/tasks/at-risk")
        await page.page.screenshot(path=str(screenshots / "tasks-at-risk-desktop.png"), full_page=True)
        await page.open(f"{served.base}/tasks/{hand}")
        await page.page.locator("#history canvas").first.wait_for()
        assert await page.page.get_by_label("佐证材料").is_visible()
        await page.page.screenshot(path=str(screenshots / "tasks-task-hand-desktop.png"), full_page=True)
        await page.open(f"{served.base}/tasks/{bound}")
        assert "实时数值" in await page.page.locator("main").inner_text()
        assert await page.page.locator("form.report-form").count() == 0
        await page.page.screenshot(path=str(screenshots / "tasks-task-bound-desktop.png"), full_page=True)
        assert not page.problems, page.problems
    finally:
        await context.close()
    phone = await browser.new_context(**VIEWPORTS["phone"])
    try:
        page = Watched(await phone.new_page())
        await sign_in(page.page, served.base, "county")
        await page.open(f"{served.base}/tasks")
        await page.page.screenshot(path=str(screenshots / "tasks-ledger-phone.png"), full_page=True)
        assert not page.problems, page.problems
    finally:
        await phone.close()
