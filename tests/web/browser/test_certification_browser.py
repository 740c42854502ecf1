"""The certified catalogue in a real browser: the county's counts, alerts, the certified vs
uncertified chart drawn, the filters; screenshots on a desktop and a phone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.web.browser.conftest import VIEWPORTS, Served, sign_in
from tests.web.browser.test_console import Watched

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_county_catalogue_page(served: Served, browser: Any, screenshots: Path) -> None:
    for device in ("desktop", "phone"):
        context = await browser.new_context(**VIEWPORTS[device])
        try:
            raw = await context.new_page()
            await sign_in(raw, served.base, "county")
            page = Watched(raw)
            await page.open(f"{served.base}/certificates")
            assert int(await raw.locator('[data-count="expiring_60"]').inner_text()) >= 1
            assert await raw.locator("#alerts li").count() >= 1
            await raw.wait_for_function("document.querySelector('#cert-chart canvas') !== null")
            await raw.screenshot(path=str(screenshots / f"certificates-{device}.png"), full_page=True)
            # The "ends within 60 days" tile filters the table to those certificates.
            await raw.locator('a.tile[href="?within=60"]').click()
            await raw.wait_for_load_state("load")
            states = await raw.locator("#catalogue tbody td .badge").all_inner_texts()
            assert states and set(states) <= {"即将到期"}, states
            if device == "desktop":  # the overview's card links here, with the 30/60-day counts
                await page.open(f"{served.base}/county?from={served.period['from']}&to={served.period['to']}")
                card = raw.locator("#certification")
                assert int(await card.locator('[data-card="expiring_30"]').inner_text()) >= 1
                await card.screenshot(path=str(screenshots / "county-certification-card.png"))
                await raw.locator("#sales").screenshot(path=str(screenshots / "county-certified-sales.png"))
            assert not [p for p in page.problems if "/static/favicon" not in p], page.problems
        finally:
            await context.close()
