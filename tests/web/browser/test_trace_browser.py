"""Traceability by QR in a real browser (issue 16): the QR code a lot's label carries is decoded
and its URL opened on a phone, as a buyer would; an unknown code's page; the operator's printable
label sheet reached from the lot page. Screenshots of each (the sheet also as printed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bangfu.settings import get_settings
from tests.web.browser.conftest import VIEWPORTS, Served, sign_in
from tests.web.browser.test_console import Watched
from tests.web.test_trace import decode_qr, lot_facts

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_phone_scans_a_lot_label_and_opens_its_trace_page(
    served: Served, browser: Any, screenshots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BANGFU_PUBLIC_URL", served.base)  # the QR codes point at this server
    get_settings.cache_clear()
    lot = await lot_facts(served.url)
    context = await browser.new_context(**VIEWPORTS["phone"])
    try:
        image = await context.request.get(f"{served.base}/t/{lot.trace_code}/qr.png")
        assert image.status == 200 and image.headers["content-type"] == "image/png"
        url = decode_qr(await image.body())
        assert url == f"{served.base}/t/{lot.trace_code}"
        page = Watched(await context.new_page())
        await page.open(url)
        assert await page.page.get_by_role("heading", level=1).inner_text() == lot.product
        households = page.page.locator("#households")
        assert f"{lot.households} 户" in await households.inner_text()
        body = await page.page.locator("body").inner_text()
        assert not [name for name in lot.names if name in body]
        width = await page.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
        await page.page.screenshot(path=str(screenshots / "trace-phone.png"), full_page=True)

        await page.open(f"{served.base}/t/{'Z' * 22}", status=404)
        assert await page.page.get_by_role("alert").is_visible()
        await page.page.screenshot(path=str(screenshots / "trace-missing-phone.png"), full_page=True)
    finally:
        await context.close()
        get_settings.cache_clear()


async def test_the_operator_prints_a_sheet_of_labels(
    served: Served, browser: Any, screenshots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BANGFU_PUBLIC_URL", served.base)
    get_settings.cache_clear()
    lot = await lot_facts(served.url)
    context = await browser.new_context(**VIEWPORTS["desktop"])
    try:
        raw = await context.new_page()
        await sign_in(raw, served.base, "operator")
        page = Watched(raw)
        await page.open(f"{served.base}/lots/{lot.lot_id}")
        async with page.page.expect_navigation():
            await page.page.get_by_role("link", name="打印溯源标签").click()
        assert page.page.url.endswith(f"/operator/lots/{lot.lot_id}/labels")
        await page.page.get_by_label("标签数").fill("9")
        async with page.page.expect_navigation():
            await page.page.get_by_role("button", name="更新").click()
        labels = page.page.locator(".label")
        assert await labels.count() == 9
        box = await labels.first.locator("svg.qr").bounding_box()
        assert box is not None and box["width"] > 80  # 26 mm
        assert not page.problems, page.problems
        await page.page.screenshot(path=str(screenshots / "trace-labels-desktop.png"), full_page=True)
        await page.page.emulate_media(media="print")
        assert not await page.page.locator(".topbar").is_visible()
        await page.page.screenshot(path=str(screenshots / "trace-labels-print.png"), full_page=True)
    finally:
        await context.close()
        get_settings.cache_clear()


async def test_the_host_sees_the_sessions_campaign_link_and_qr(
    served: Served, browser: Any, screenshots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BANGFU_PUBLIC_URL", served.base)
    get_settings.cache_clear()
    context = await browser.new_context(**VIEWPORTS["phone"])
    try:
        raw = await context.new_page()
        await sign_in(raw, served.base, "host")
        page = Watched(raw)
        await page.open(f"{served.base}/sessions/{served.ids['session']}")
        section = page.page.locator("#campaign")
        link = await section.locator("#campaign-link").get_attribute("href")
        assert link is not None and link.startswith(f"{served.base}/mall/?c=")
        image = section.locator("img")
        assert await image.evaluate("img => img.complete && img.naturalWidth > 0")
        await section.scroll_into_view_if_needed()
        await section.screenshot(path=str(screenshots / "session-campaign-phone.png"))
        assert not page.problems, page.problems
    finally:
        await context.close()
        get_settings.cache_clear()
