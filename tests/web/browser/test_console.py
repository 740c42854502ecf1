"""The console in a real browser: sign-in through the form, every page of every role rendered with
no script error and its charts drawn, figures equal to the reports, isolation, the language
switch; a screenshot of each page on a phone and on a desktop (``test-artifacts/screenshots``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio

from bangfu.money import format_yuan
from bangfu.reports.base import parse_period
from bangfu.reports.households import household_income
from bangfu.reports.sessions import session_review
from bangfu.store import make_engine
from tests.web.browser.conftest import VIEWPORTS, Logins, Served, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

HOMES = {
    "admin": r"/cooperatives",
    "operator": r"/operator",
    "host": r"/sessions",
    "coop": r"/cooperatives/\d+",
    "county": r"/county",
    "unit": r"/units/\d+",
}
# (role, page name, route template, URL with {ids} and {pq} (the period's query string)).
PAGES = [
    ("host", "sessions", "/sessions", "/sessions?{pq}"),
    ("host", "session", "/sessions/{id}", "/sessions/{session}"),
    ("host", "compare", "/sessions/compare", "/sessions/compare?a={session}&b={session2}"),
    ("operator", "sessions", "/sessions", "/sessions?{pq}"),
    ("operator", "sync", "/operator", "/operator"),
    ("operator", "waiting", "/operator/waiting", "/operator/waiting"),
    ("coop", "dashboard", "/cooperatives/{id}", "/cooperatives/{coop}?{pq}"),
    ("coop", "households", "/cooperatives/{id}/households", "/cooperatives/{coop}/households?{pq}"),
    ("coop", "household", "/households/{id}", "/households/{household}?{pq}"),
    ("coop", "journals", "/households/{id}/journals", "/households/{household}/journals?{pq}"),
    ("coop", "journal", "/journals/{id}", "/journals/{journal}"),
    ("coop", "order-line", "/order-lines/{id}", "/order-lines/{order_line}"),
    ("coop", "members", "/cooperatives/{id}/members", "/cooperatives/{coop}/members"),
    ("coop", "surplus", "/cooperatives/{id}/surplus", "/cooperatives/{coop}/surplus"),
    ("coop", "policy", "/cooperatives/{id}/policies/{version}", "/cooperatives/{coop}/policies/{policy}"),
    ("county", "cooperatives", "/cooperatives", "/cooperatives?{pq}"),
    ("county", "overview", "/county", "/county"),
    ("county", "monitoring", "/county/monitoring", "/county/monitoring"),
    ("county", "unsold", "/county/unsold", "/county/unsold"),
    ("coop", "unsold", "/cooperatives/{id}/unsold", "/cooperatives/{coop}/unsold"),
    ("admin", "cooperatives", "/cooperatives", "/cooperatives?{pq}"),
    ("admin", "units", "/units", "/units"),
    ("unit", "unit", "/units/{id}", "/units/{unit}"),
    ("county", "certificates", "/certificates", "/certificates"),
    ("coop", "certificates", "/certificates", "/certificates"),
]
# Series lengths of every ECharts chart on the page (-1: an element with no chart in it).
CHART_POINTS = """() => Array.from(document.querySelectorAll('.chart')).map((el) => {
  const chart = window.echarts && window.echarts.getInstanceByDom(el);
  if (!chart) return -1;
  const series = chart.getOption().series || [];
  return series.length && series[0].data ? series[0].data.length : 0;
})"""
# Whether each chart on the page animates (ECharts' ``animation`` option).
CHART_ANIMATES = """() => Array.from(document.querySelectorAll('.chart')).map((el) => {
  const chart = window.echarts && window.echarts.getInstanceByDom(el);
  return Boolean(chart && chart.getOption().animation);
})"""
# Elements reaching past a phone's width outside a sideways-scrolling table (the page itself
# then scrolls sideways).
TOO_WIDE = """() => {
  const width = document.documentElement.clientWidth;
  const past = (el) => el.getBoundingClientRect().right > width + 1;
  if (document.documentElement.scrollWidth <= width) return [];
  const outermost = Array.from(document.querySelectorAll('body *')).filter(
    (el) => past(el) && !el.closest('.table-wrap') && !past(el.parentElement));
  const named = outermost.slice(0, 5).map((el) => {
    const right = Math.round(el.getBoundingClientRect().right);
    return `${el.tagName.toLowerCase()}${el.className ? '.' + el.className : ''} ${right}px`;
  });
  return named.length ? named : [`document ${document.documentElement.scrollWidth}px`];
}"""
# Reported to the pages' authors; the check passes again once they are fixed.
KNOWN_TOO_WIDE: dict[tuple[str, str], str] = {}


class Watched:
    """A page with its script errors and failed requests collected (the favicon aside: the
    browser asks for it on its own)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("pageerror", lambda exc: self.problems.append(f"script error: {exc}"))
        page.on("console", self._console)
        page.on("response", self._response)
        page.on("requestfailed", self._failed)

    def _failed(self, request: Any) -> None:
        failure = request.failure or ""
        # A fetch cancelled because the page moved on (a form posted, a link followed) before it
        # ended is the browser's doing, not a fault of the server: seen with the favicon.
        if "ERR_ABORTED" in failure:
            return
        self.problems.append(f"request failed: {request.url} ({failure})")

    def _console(self, message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console: {message.text}")

    def _response(self, response: Any) -> None:
        document = response.request.resource_type == "document"
        if response.status >= 400 and not document and not response.url.endswith("/favicon.ico"):
            self.problems.append(f"HTTP {response.status}: {response.url}")

    async def open(self, url: str, status: int = 200) -> None:
        response = await self.page.goto(url)
        assert response is not None and response.status == status, f"{url}: HTTP {response and response.status}"
        assert not self.problems, self.problems


@pytest_asyncio.fixture(loop_scope="session")
async def context(browser: Any) -> AsyncIterator[Any]:
    made = await browser.new_context(**VIEWPORTS["desktop"])
    yield made
    await made.close()


def fill(url: str, served: Served) -> str:
    needed = set(re.findall(r"\{(\w+)\}", url)) - {"pq"}
    missing = needed - set(served.ids)
    if missing:
        pytest.fail(f"the world has no {', '.join(sorted(missing))} for {url}")
    return url.format(pq=urlencode(served.period), **served.ids)


@pytest.mark.parametrize("role", list(HOMES))
async def test_each_role_signs_in_through_the_form_and_lands_on_its_home(
    role: str, served: Served, context: Any
) -> None:
    page = Watched(await context.new_page())
    await sign_in(page.page, served.base, role)
    path = page.page.url.removeprefix(served.base).split("?")[0]
    assert re.fullmatch(HOMES[role], path), f"{role} landed on {path}"
    assert await page.page.locator("h1").count() >= 1
    assert not re.fullmatch(r"\d{3}", (await page.page.locator("h1").first.inner_text()).strip()), "an error page"
    assert await page.page.get_by_role("button", name="退出").is_visible()
    assert not page.problems, page.problems


@pytest.mark.parametrize(("role", "name", "template", "url"), PAGES, ids=[f"{r}-{n}" for r, n, _, _ in PAGES])
async def test_each_page_renders_with_its_charts_drawn(
    role: str,
    name: str,
    template: str,
    url: str,
    served: Served,
    browser: Any,
    logins: Logins,
    screenshots: Path,
) -> None:
    if not served.routed(template):
        pytest.skip(f"{template} is not routed yet")
    target = served.base + fill(url, served)
    state = await logins.state(role)
    too_wide: list[str] = []
    for viewport, options in VIEWPORTS.items():
        context = await browser.new_context(storage_state=state, **options)
        try:
            page = Watched(await context.new_page())
            await page.open(target)
            points = await page.page.evaluate(CHART_POINTS)
            assert all(n > 0 for n in points), f"{role} {name}: a chart without data {points}"
            if viewport == "phone":
                too_wide = await page.page.evaluate(TOO_WIDE)
            # The contexts ask for reduced motion: the charts are drawn at once, nothing to wait for.
            assert await page.page.evaluate(CHART_ANIMATES) == [False] * len(points), f"{role} {name}"
            await page.page.screenshot(path=str(screenshots / f"{role}-{name}-{viewport}.png"), full_page=True)
            assert not page.problems, page.problems
        finally:
            await context.close()
    if too_wide and (role, name) in KNOWN_TOO_WIDE:
        pytest.xfail(f"{KNOWN_TOO_WIDE[role, name]}: {too_wide}")
    assert not too_wide, f"{role} {name} is wider than a phone (tables should scroll inside .table-wrap): {too_wide}"


async def test_charts_animate_unless_the_reader_asks_for_less_motion(
    served: Served, browser: Any, logins: Logins
) -> None:
    """js/charts.js turns the charts' animation off only for a reader whose system asks for
    reduced motion; everyone else sees ECharts' entry animation."""
    target = f"{served.base}/cooperatives/{served.ids['coop']}?{urlencode(served.period)}"
    state = await logins.state("coop")
    seen = {}
    for motion in ("no-preference", "reduce"):
        context = await browser.new_context(storage_state=state, **{**VIEWPORTS["desktop"], "reduced_motion": motion})
        try:
            page = Watched(await context.new_page())
            await page.open(target)
            seen[motion] = await page.page.evaluate(CHART_ANIMATES)
        finally:
            await context.close()
    assert seen["no-preference"] and all(seen["no-preference"]), seen
    assert seen["reduce"] == [False] * len(seen["no-preference"]), seen


async def test_session_page_gmv_equals_the_session_review(served: Served, context: Any, logins: Logins) -> None:
    if not served.routed("/sessions/{id}"):
        pytest.skip("/sessions/{id} is not routed yet")
    session = served.ids["session"]
    engine = make_engine(served.url)
    try:
        async with engine.connect() as conn:
            period = parse_period(None, "2000-01-01", served.period["to"], now=datetime.now(UTC))
            review = await session_review(conn, period)
    finally:
        await engine.dispose()
    row = next(r for r in review.rows if r["session"] == session)
    assert row["gmv"] > 0, "the host's busiest session sold nothing"
    await context.add_cookies((await logins.state("host"))["cookies"])
    page = Watched(await context.new_page())
    await page.open(f"{served.base}/sessions/{session}")
    tile = page.page.locator(".tile", has=page.page.locator(".label", has_text="成交金额(GMV)")).first
    assert (await tile.locator(".value").inner_text()).strip() == format_yuan(row["gmv"])


async def test_cooperative_dashboard_pays_households_what_the_income_report_says(
    served: Served, context: Any, logins: Logins
) -> None:
    if not served.routed("/cooperatives/{id}"):
        pytest.skip("/cooperatives/{id} is not routed yet")
    coop = served.ids["coop"]
    engine = make_engine(served.url)
    try:
        async with engine.connect() as conn:
            period = parse_period(None, served.period["from"], served.period["to"], now=datetime.now(UTC))
            report = await household_income(conn, period, cooperative_id=coop)
    finally:
        await engine.dispose()
    assert report.totals is not None and report.totals["income"] > 0
    await context.add_cookies((await logins.state("coop"))["cookies"])
    page = Watched(await context.new_page())
    await page.open(f"{served.base}/cooperatives/{coop}?{urlencode(served.period)}")
    paid = page.page.locator("[data-paid]")
    assert await paid.get_attribute("data-paid") == str(report.totals["income"])
    assert (await paid.inner_text()).strip() == format_yuan(report.totals["income"])


@pytest.mark.parametrize(
    ("role", "url"),
    [
        ("host", "/sessions/{other_session}"),
        ("coop", "/cooperatives/{other_coop}"),
        ("coop", "/households/{other_household}"),
    ],
    ids=["host-other-session", "coop-other-cooperative", "coop-other-household"],
)
async def test_someone_elses_page_is_the_404_page(
    role: str, url: str, served: Served, context: Any, logins: Logins
) -> None:
    await context.add_cookies((await logins.state(role))["cookies"])
    page = Watched(await context.new_page())
    await page.open(served.base + fill(url, served), status=404)
    assert (await page.page.locator("h1").inner_text()).strip() == "404"
    assert await page.page.get_by_text("页面不存在，或不在您的查看范围内。").is_visible()


async def test_the_language_switch_turns_the_console_english_and_back(served_copy: Served, context: Any) -> None:
    page = Watched(await context.new_page())
    await sign_in(page.page, served_copy.base, "host")
    async with page.page.expect_navigation():
        await page.page.get_by_role("button", name="English").click()
    assert await page.page.locator("html").get_attribute("lang") == "en"
    assert await page.page.get_by_role("button", name="Sign out").is_visible()
    assert await page.page.get_by_role("heading", name="Live sessions").count() >= 1
    # Kept: the next page is in English too.
    await page.page.goto(f"{served_copy.base}/sessions")
    assert await page.page.get_by_role("button", name="Sign out").is_visible()
    async with page.page.expect_navigation():
        await page.page.get_by_role("button", name="中文").click()
    assert await page.page.locator("html").get_attribute("lang") == "zh-CN"
    assert await page.page.get_by_role("button", name="退出").is_visible()
    assert not page.problems, page.problems
