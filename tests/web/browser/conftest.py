"""Browser fixtures: Debian's chromium driven by Playwright (async API) against the console served
on a real loopback port, on the SQLite demo county of ``tests/web/conftest.py``.

One browser and one server for the whole test session (both on the session's event loop: the
tests carry ``pytest.mark.asyncio(loop_scope="session")``), a fresh context per test. Without
``/usr/bin/chromium`` the tests skip, except in CI (``CI=true``) where that is a failure.
Screenshots go to ``test-artifacts/screenshots/`` at the repository root (ignored by git).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from sqlalchemy import func, select

from bangfu.demo.users import DEMO_PASSWORD
from bangfu.models import (
    Cooperative,
    Household,
    LedgerAccount,
    LineAttribution,
    LiveSession,
    LotAllocation,
    Posting,
    SplitPolicy,
    SupplyLot,
    User,
)
from bangfu.reports.base import SHANGHAI
from bangfu.store import make_engine
from tests.conftest import IN_CI, REPO_ROOT
from tests.web.conftest import World

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
# Reduced motion: the console's charts then draw at once (web/static/js/charts.js), so a screenshot
# needs no wait for their entry animation.
VIEWPORTS: dict[str, dict[str, Any]] = {
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "reduced_motion": "reduce",
    },
    "desktop": {"viewport": {"width": 1280, "height": 900}, "reduced_motion": "reduce"},
}


@dataclass(frozen=True)
class Served:
    """The console on a loopback port, the store behind it, and the ids its pages are about."""

    base: str
    url: str
    routes: frozenset[str]
    ids: dict[str, int]
    period: dict[str, str]  # ?from=&to= covering all of the world's sales

    def routed(self, template: str) -> bool:
        return template in self.routes


async def _ids(url: str) -> dict[str, int]:
    """The demo logins' subjects, some of their things, and things of someone else."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            users = {
                r.name: r
                for r in await conn.execute(select(User.name, User.host_id, User.cooperative_id, User.unit_id))
            }
            host, coop, unit = users["host"].host_id, users["coop"].cooperative_id, users["unit"].unit_id
            sessions = list(  # the busiest first
                await conn.scalars(
                    select(LiveSession.id)
                    .outerjoin(LineAttribution, LineAttribution.session_id == LiveSession.id)
                    .where(LiveSession.host_id == host)
                    .group_by(LiveSession.id)
                    .order_by(func.count(LineAttribution.id).desc(), LiveSession.id)
                )
            )
            other_session = await conn.scalar(
                select(LiveSession.id).where(LiveSession.host_id.is_distinct_from(host)).order_by(LiveSession.id)
            )
            other_coop = await conn.scalar(
                select(Cooperative.id).where(Cooperative.id != coop).order_by(Cooperative.id)
            )
            household = await conn.scalar(
                select(Household.id)
                .join(
                    LedgerAccount, (LedgerAccount.owner_type == "household") & (LedgerAccount.owner_id == Household.id)
                )
                .join(Posting, Posting.account_id == LedgerAccount.id)
                .where(Household.cooperative_id == coop)
                .group_by(Household.id)
                .order_by(func.count().desc(), Household.id)
                .limit(1)
            )
            journal = await conn.scalar(
                select(func.max(Posting.journal_id))
                .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
                .where(LedgerAccount.owner_type == "household", LedgerAccount.owner_id == household)
            )
            order_line = await conn.scalar(
                select(func.max(LotAllocation.order_line_id))
                .join(SupplyLot, SupplyLot.id == LotAllocation.lot_id)
                .where(SupplyLot.cooperative_id == coop)
            )
            policy = await conn.scalar(select(func.max(SplitPolicy.version)).where(SplitPolicy.cooperative_id == coop))
            other_household = await conn.scalar(
                select(Household.id).where(Household.cooperative_id != coop).order_by(Household.id).limit(1)
            )
    finally:
        await engine.dispose()
    found = {
        "host": host,
        "session": sessions[0] if sessions else None,
        "session2": sessions[-1] if len(sessions) > 1 else None,
        "other_session": other_session,
        "coop": coop,
        "household": household,
        "journal": journal,
        "order_line": order_line,
        "policy": policy,
        "other_coop": other_coop,
        "other_household": other_household,
        "unit": unit,
    }
    return {k: int(v) for k, v in found.items() if v is not None}


def world_period(now: datetime | None = None) -> dict[str, str]:
    """Local dates from well before the world's first sale to today."""
    today = (now or datetime.now(UTC)).astimezone(SHANGHAI).date()
    return {"from": (today - timedelta(days=60)).isoformat(), "to": today.isoformat()}


async def serve(url: str) -> AsyncIterator[tuple[str, frozenset[str]]]:
    """``web.create_app`` on 127.0.0.1 and a free port: the base URL and the GET route templates."""
    from web import create_app

    engine = make_engine(url)
    app = create_app(engine=engine)
    routes = frozenset(
        r.resource.canonical for r in app.router.routes() if r.method == "GET" and r.resource is not None
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", routes
    finally:
        await runner.cleanup()
        await engine.dispose()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def served(_sqlite_world: World) -> AsyncIterator[Served]:
    """The console on the SQLite world, for the whole session (nothing here writes but logins)."""
    async for base, routes in serve(_sqlite_world.url):
        yield Served(base, _sqlite_world.url, routes, await _ids(_sqlite_world.url), world_period())


@pytest_asyncio.fixture(loop_scope="session")
async def served_copy(_sqlite_world: World, tmp_path: Path) -> AsyncIterator[Served]:
    """The console on a private copy of the SQLite world, for a test that changes a user."""
    source = Path(_sqlite_world.url.removeprefix("sqlite+aiosqlite:///"))
    target = tmp_path / "world.db"
    shutil.copyfile(source, target)
    url = f"sqlite+aiosqlite:///{target}"
    async for base, routes in serve(url):
        yield Served(base, url, routes, await _ids(url), world_period())


def require_chromium() -> None:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium): the browser tests need Debian's chromium"
        if IN_CI:
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    """One headless chromium for the session (Debian's, not a Playwright download)."""
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


async def sign_in(page: Any, base: str, name: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the real form, as a person would, and wait to leave the login page."""
    await page.goto(f"{base}/login")
    await page.get_by_label("用户名").fill(name)
    await page.get_by_label("密码").fill(password)
    async with page.expect_navigation():
        await page.get_by_role("button", name="登录").click()
    assert "/login" not in page.url, f"{name} stayed on {page.url}"


class Logins:
    """Each role's cookies after one real sign-in, as ``storage_state`` for new contexts."""

    def __init__(self, browser: Any, base: str) -> None:
        self._browser = browser
        self._base = base
        self._states: dict[str, Any] = {}

    async def state(self, name: str) -> Any:
        if name not in self._states:
            context = await self._browser.new_context()
            try:
                await sign_in(await context.new_page(), self._base, name)
                self._states[name] = await context.storage_state()
            finally:
                await context.close()
        return self._states[name]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def logins(browser: Any, served: Served) -> Logins:
    return Logins(browser, served.base)
