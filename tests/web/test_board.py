"""The public board (issue 13): figures equal to the reports, no login, no personal data, and
pushed within a second of a commit (in-process channel on SQLite, LISTEN/NOTIFY on PostgreSQL),
in a real browser too."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.enums import OrderStatus, SyncStream
from bangfu.models import Household, Order, OrderLine, Region, Shop
from bangfu.money import format_yuan
from bangfu.notify import orders_changed
from bangfu.queries.board import today_period, year_period
from bangfu.records import OrderLineRecord, OrderRecord
from bangfu.reports.reserved import reserved_share
from bangfu.reports.sales_ledger import sales_ledger
from bangfu.store import make_engine
from tests.web.browser.conftest import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, require_chromium
from tests.web.conftest import World

SSE = {"Accept": "text/event-stream"}


# --------------------------------------------------------------------------- helpers


async def _gross(engine: AsyncEngine, now: datetime) -> tuple[int, int]:
    """The sales ledger's gross for today and for this year."""
    async with engine.connect() as conn:
        today = await sales_ledger(conn, today_period(now))
        year = await sales_ledger(conn, year_period(now))
    assert today.totals is not None and year.totals is not None
    return int(today.totals["gross"]), int(year.totals["gross"])


def _figure(text: str, element: str) -> int:
    found = re.search(rf'id="{element}" data-value="(-?\d+)"', text)
    assert found, element
    return int(found.group(1))


async def new_orders(engine: AsyncEngine, count: int, *, through_sync: bool = False) -> int:
    """Store ``count`` new paid orders like the busiest shop's latest, paid now; then tell the
    board: through the sync engine's own write (which publishes), or a direct write + publish."""
    from bangfu.upsert import upsert_orders
    from sync.engine import StreamOutcome, SyncEngine

    async with engine.connect() as conn:
        line = (
            await conn.execute(
                select(OrderLine.shop_id, OrderLine.platform_item_id, OrderLine.platform_sku_id, OrderLine.outer_sku_id)
                .where(OrderLine.sku_id.is_not(None))
                .order_by(OrderLine.id.desc())
                .limit(1)
            )
        ).one()
        shop = (await conn.execute(select(Shop).where(Shop.id == line.shop_id))).one()
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:10]
    records = [
        OrderRecord(
            platform_order_id=f"board-{tag}-{n}",
            status=OrderStatus.PAID,
            platform_status="PAID",
            created_at=now,
            modified_at=now,
            paid_at=now,
            paid_fen=1234,
            lines=(
                OrderLineRecord(
                    platform_line_id=f"board-{tag}-{n}-1",
                    platform_item_id=line.platform_item_id,
                    platform_sku_id=line.platform_sku_id,
                    outer_sku_id=line.outer_sku_id,
                    quantity=1,
                    unit_price_fen=1234,
                    paid_fen=1234,
                    title="board test",
                ),
            ),
        )
        for n in range(count)
    ]
    if through_sync:
        sync = SyncEngine(engine)
        outcome = StreamOutcome(shop.id, SyncStream.ORDERS)
        await sync._write(Shop(**shop._mapping), SyncStream.ORDERS, records, [], outcome)
    else:
        async with engine.begin() as conn:
            await upsert_orders(conn, shop.id, records, now=now)
        await orders_changed(engine, orders=count)
    return count


class Events:
    """An event-stream reader over an aiohttp response: the ``board`` events' data."""

    def __init__(self, response: Any) -> None:
        self.response = response

    async def next(self, wait: float = 5.0) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            event: str | None = None
            data: list[str] = []
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    raise EOFError("the stream ended")
                line = raw.decode().rstrip("\r\n")
                if line == "":
                    if event == "board" and data:
                        return orjson.loads("\n".join(data))  # type: ignore[no-any-return]
                    event, data = None, []
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())

        return await asyncio.wait_for(read(), wait)


async def _open_client(url: str) -> AsyncIterator[tuple[TestClient, AsyncEngine]]:  # type: ignore[type-arg]
    from web import create_app

    engine = make_engine(url)
    app = create_app(engine=engine)
    async with TestClient(TestServer(app)) as client:
        yield client, engine
    await engine.dispose()


@pytest.fixture
async def live(world_copy: World) -> AsyncIterator[tuple[TestClient, AsyncEngine]]:  # type: ignore[type-arg]
    """A client of the console on a private copy of the world (the test writes orders)."""
    async for pair in _open_client(world_copy.url):
        yield pair


# --------------------------------------------------------------------------- the page


async def test_board_needs_no_login_and_agrees_with_the_reports(world: World, client: TestClient) -> None:  # type: ignore[type-arg]
    page = await client.get("/board", allow_redirects=False)
    assert page.status == 200, await page.text()
    text = await page.text()
    assert "消费帮扶实时大屏" in text and "echarts.min.js" in text and "board.js" in text
    now = datetime.now(UTC)
    engine = make_engine(world.url)
    try:
        today, year = await _gross(engine, now)
        async with engine.connect() as conn:
            period = year_period(now)
            orders = await conn.scalar(
                select(func.count()).select_from(Order).where(Order.paid_at >= period.start, Order.paid_at < period.end)
            )
            report = await reserved_share(conn, period)
    finally:
        await engine.dispose()
    assert year > 0 and orders
    assert _figure(text, "today-amount") == today
    assert _figure(text, "year-amount") == year and format_yuan(year) in text
    assert _figure(text, "year-orders") == orders
    # The ranking: the reserved-share report's executed amounts, by amount.
    ranked = sorted(report.rows, key=lambda r: (-r["executed"], r["code"]))
    data = await (await client.get("/board/events")).json()
    drawn = [(r["unit"], r["executed"]) for r in ranked if r["executed"] > 0][:10]
    assert drawn and [(u["name"], u["amount_fen"]) for u in data["units"]] == drawn
    assert data["units_total"] == len(report.rows)
    assert str(ranked[0]["unit"]) in text and format_yuan(int(ranked[0]["executed"])) in text
    assert (data["cumulative"]["orders"], data["cumulative"]["amount_fen"]) == (orders, year)
    split = data["cumulative"]
    assert split["certified_fen"] + split["uncertified_fen"] == year and split["uncertified_fen"] > 0
    assert data["products"] and data["ticker"] and all(o["channel"] for o in data["ticker"])
    # English on request; bad parameters are 400, unknown regions 404.
    english = await client.get("/board?lang=en")
    assert english.status == 200 and "Orders today" in await english.text()
    assert (await client.get("/board?lang=fr")).status == 400
    assert (await client.get("/board/events?lang=xx")).status == 400
    for missing in ("/board/999999", "/board/abc", "/board/999999/events", "/board/%E4%B8%80"):
        assert (await client.get(missing)).status == 404, missing


async def test_region_board_counts_the_region_and_below(world: World, client: TestClient) -> None:  # type: ignore[type-arg]
    now = datetime.now(UTC)
    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            county, code = (
                await conn.execute(select(Region.id, Region.code).join(Shop, Shop.county_id == Region.id).limit(1))
            ).one()
            above = select(Region.parent_id).where(Region.id == county).scalar_subquery()
            parent = await conn.scalar(select(Region.code).where(Region.id == above))
            shops = [int(s) for s in await conn.scalars(select(Shop.id).where(Shop.county_id == county))]
            gross = 0
            for shop in shops:
                report = await sales_ledger(conn, year_period(now), shop_id=shop)
                assert report.totals is not None
                gross += int(report.totals["gross"])
    finally:
        await engine.dispose()
    page = await client.get(f"/board/{code}")
    assert page.status == 200
    assert _figure(await page.text(), "year-amount") == gross
    data = await (await client.get(f"/board/{code}/events")).json()
    assert data["region"]["code"] == code and data["cumulative"]["amount_fen"] == gross
    if parent is not None:  # a region above the county holds at least as much
        above = await (await client.get(f"/board/{parent}/events")).json()
        assert above["cumulative"]["amount_fen"] >= gross


async def test_no_personal_data_on_the_board(world: World, client: TestClient) -> None:  # type: ignore[type-arg]
    engine = make_engine(world.url)
    try:
        async with engine.connect() as conn:
            buyers = [str(b) for b in await conn.scalars(select(Order.buyer_ref).where(Order.buyer_ref.is_not(None)))]
            households = [str(n) for n in await conn.scalars(select(Household.head_name))]
    finally:
        await engine.dispose()
    assert buyers and households
    page = await (await client.get("/board")).text()
    events = await (await client.get("/board/events")).text()
    for text in (page, events):
        assert not [b for b in buyers if b in text]
        assert not [n for n in households if len(n) > 1 and n in text]
        for key in ("buyer", "address", "receiver", "phone", "household"):
            assert key not in text.lower(), key


# --------------------------------------------------------------------------- the live channel


@pytest.mark.parametrize("through_sync", [False, True], ids=["store-write", "sync-engine"])
async def test_events_arrive_within_a_second_of_a_commit(
    live: tuple[TestClient, AsyncEngine],  # type: ignore[type-arg]
    through_sync: bool,
) -> None:
    client, engine = live
    response = await client.get("/board/events", headers=SSE)
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    events = Events(response)
    first = await events.next()
    started = time.perf_counter()
    await new_orders(engine, 3, through_sync=through_sync)
    committed = time.perf_counter()
    update = await events.next(wait=5)
    while update["cumulative"]["orders"] == first["cumulative"]["orders"]:
        update = await events.next(wait=5)  # a refresh computed before the commit
    arrived = time.perf_counter()
    assert arrived - committed < 1.0, arrived - started
    assert update["today"]["orders"] == first["today"]["orders"] + 3
    assert update["cumulative"]["amount_fen"] == first["cumulative"]["amount_fen"] + 3 * 1234
    assert update["notice"] is not None and update["version"] > first["version"]
    assert update["ticker"][0]["product"] and update["ticker"][0]["amount_fen"] == 1234
    # The page agrees with what was pushed.
    text = await (await client.get("/board")).text()
    assert _figure(text, "today-orders") == update["today"]["orders"]
    response.close()


async def test_a_burst_of_commits_is_coalesced_and_shared(live: tuple[TestClient, AsyncEngine]) -> None:  # type: ignore[type-arg]
    from web.views.board import BOARD_HUB

    client, engine = live
    streams = [await client.get("/board/events", headers=SSE) for _ in range(4)]
    readers = [Events(s) for s in streams]
    firsts = [await r.next() for r in readers]
    hub = client.app[BOARD_HUB]
    feed = hub.feeds[":zh"]
    before = feed.computations
    assert hub.channel == ("postgresql" if engine.dialect.name == "postgresql" else "in-process")
    for _ in range(20):
        await new_orders(engine, 1)
    target = firsts[0]["today"]["orders"] + 20
    for reader in readers:
        data = await reader.next()
        while data["today"]["orders"] < target:
            data = await reader.next()
        assert data["today"]["orders"] == target
    # 20 commits, 4 clients: a handful of computations, not 20 (nor 80).
    assert 1 <= feed.computations - before <= 8, feed.computations - before
    for s in streams:
        s.close()


# --------------------------------------------------------------------------- the browser


async def test_browser_sees_the_count_change(sqlite_world: World, tmp_path: Path) -> None:
    require_chromium()  # skips without /usr/bin/chromium, fails in CI
    import shutil

    from playwright.async_api import async_playwright

    source = Path(sqlite_world.url.removeprefix("sqlite+aiosqlite:///"))
    copy = tmp_path / "world.db"
    shutil.copyfile(source, copy)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async for client, engine in _open_client(f"sqlite+aiosqlite:///{copy}"):
        base = str(client.make_url("/board"))
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1920, "height": 1080})
                await page.goto(base)
                await page.wait_for_selector("#status[data-state=live]", timeout=10_000)
                before = int(await page.get_attribute("#today-orders", "data-value") or "0")
                await new_orders(engine, 2)
                await page.wait_for_function(
                    f"document.getElementById('today-orders').getAttribute('data-value') === '{before + 2}'",
                    timeout=3_000,
                )
                assert (await page.inner_text("#today-orders")).replace(",", "") == str(before + 2)
                await page.wait_for_timeout(1000)  # the new orders' highlight fades
                await page.screenshot(path=str(SCREENSHOTS / "board-1920x1080.png"))
                phone = await browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
                await phone.goto(base)
                await phone.wait_for_selector("#status[data-state=live]", timeout=10_000)
                assert (await phone.inner_text("#today-orders")).replace(",", "") == str(before + 2)
                width = await phone.evaluate("document.documentElement.scrollWidth")
                assert width <= 390, f"the phone layout scrolls sideways ({width} px)"
                await phone.screenshot(path=str(SCREENSHOTS / "board-390x844.png"))
                await phone.screenshot(path=str(SCREENSHOTS / "board-390-full.png"), full_page=True)
            finally:
                await browser.close()
