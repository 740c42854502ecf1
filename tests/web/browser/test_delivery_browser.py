"""The delivery note in a real browser: an operator goes from the batches to a shipped batch and
opens its delivery note; the page shows the unit, address, each order's lines and the signature
lines, and printed (print media) the console's bar and the buttons are gone. Screenshots of the
batches, the batch, the note on screen and printed, and the operator's shipments page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bangfu.models import DeliveryBatch
from bangfu.store import make_engine
from tests.web.browser.conftest import VIEWPORTS, Served, sign_in
from tests.web.browser.test_console import Watched

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _shipped_batch(url: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            batch = await conn.scalar(
                select(DeliveryBatch.id).where(DeliveryBatch.status == "shipped").order_by(DeliveryBatch.id.desc())
            )
    finally:
        await engine.dispose()
    assert batch is not None
    return int(batch)


async def test_delivery_note_prints(served: Served, browser: Any, screenshots: Path) -> None:
    batch = await _shipped_batch(served.url)
    context = await browser.new_context(**VIEWPORTS["desktop"])
    try:
        page = Watched(await context.new_page())
        await sign_in(page.page, served.base, "operator")
        await page.open(f"{served.base}/delivery")
        await page.page.screenshot(path=str(screenshots / "delivery-batches-desktop.png"), full_page=True)
        async with page.page.expect_navigation():
            await page.page.locator(f'a[href="/delivery/{batch}"]').first.click()
        assert "配货单" in await page.page.locator("main").inner_text()
        await page.page.screenshot(path=str(screenshots / "delivery-batch-desktop.png"), full_page=True)
        async with page.page.expect_navigation():
            await page.page.get_by_role("link", name="送货单 (打印)").click()
        assert page.page.url.endswith(f"/delivery/{batch}/note")
        doc = page.page.locator("article.doc")
        text = await doc.inner_text()
        assert "送货单" in text and "后勤收货处" in text and "送货人签字" in text and "收货单位签收（盖章）" in text
        assert "合计" in text
        await page.page.screenshot(path=str(screenshots / "delivery-note-desktop.png"), full_page=True)
        await page.page.emulate_media(media="print")
        assert not await page.page.locator("header.topbar").is_visible()
        assert not await page.page.locator(".doc-actions").is_visible()
        assert await doc.is_visible()
        await page.page.screenshot(path=str(screenshots / "delivery-note-print.png"), full_page=True)
        await page.page.emulate_media(media="screen")
        await page.open(f"{served.base}/operator/shipments")
        assert "已回传" in await page.page.locator("main").inner_text()  # the demo pushed some
        await page.page.screenshot(path=str(screenshots / "operator-shipments-desktop.png"), full_page=True)
        assert not page.problems, page.problems
    finally:
        await context.close()
