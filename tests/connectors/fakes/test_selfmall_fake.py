"""The self-built mall fake against a short independent client (plain aiohttp + bs4, sharing no
code with connectors/): the public catalogue, the login form with its CSRF token and session
cookie, the login redirect of an expired session, the CSRF and credential refusals, the admin
pages' windows and markup, the stock form, and the 429 page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from bs4 import BeautifulSoup

from connectors.fakes.clock import FakeClock
from connectors.fakes.faults import FaultProfile
from connectors.fakes.server import Running, fake_server

FROZEN = datetime(2024, 6, 15, 4, 0, tzinfo=UTC)
BEIJING = ZoneInfo("Asia/Shanghai")
PRICE = re.compile(r"^-?¥\d{1,3}(,\d{3})*\.\d{2}$")


def beijing(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def yuan(text: str) -> Decimal:
    negative = text.startswith("-")
    value = Decimal(text.lstrip("-").lstrip("¥").replace(",", ""))
    return -value if negative else value


def soup(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "lxml")


def form_token(html: str) -> str:
    field = soup(html).select_one('form[data-form="login"] input[name="csrf_token"]')
    assert field is not None
    return str(field["value"])


class Browser:
    """What an operator's browser does: keep cookies, read forms, post them back."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def get(self, path: str, **params: str) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.http.get(self.base_url + path, params=params, allow_redirects=False) as resp:
            return resp.status, await resp.text(), resp

    async def post(self, path: str, data: dict[str, str]) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.http.post(self.base_url + path, data=data, allow_redirects=False) as resp:
            return resp.status, await resp.text(), resp

    def cookie(self, name: str = "mall_session") -> str | None:
        for morsel in self.http.cookie_jar:
            if morsel.key == name:
                return morsel.value
        return None

    async def login(self, username: str, password: str) -> tuple[int, str, aiohttp.ClientResponse]:
        _, html, _ = await self.get("/login")
        return await self.post("/login", {"csrf_token": form_token(html), "username": username, "password": password})

    async def close(self) -> None:
        await self.http.close()


@pytest.fixture
async def fake() -> AsyncIterator[Running]:
    async with fake_server("selfmall", seed=4, orders=200, days=10, clock=FakeClock(frozen_at=FROZEN)) as running:
        yield running


@pytest.fixture
async def browser(fake: Running) -> AsyncIterator[Browser]:
    client = Browser(fake.base_url)
    try:
        yield client
    finally:
        await client.close()


async def logged_in(fake: Running, browser: Browser) -> None:
    status, _, resp = await browser.login(fake.credentials.app_key, fake.credentials.app_secret)
    assert status == 302 and resp.headers["Location"] == "/admin/orders"


# -- public catalogue ---------------------------------------------------------------------------------


async def test_catalogue_is_public_and_paged(fake: Running, browser: Browser) -> None:
    seen: list[str] = []
    page = 1
    while True:
        status, html, _ = await browser.get("/catalogue", page=str(page), per_page="10")
        assert status == 200
        doc = soup(html)
        assert doc.body is not None and doc.body["data-page"] == "catalogue"
        for section in doc.select("section[data-item-id]"):
            seen.append(str(section["data-item-id"]))
            for row in section.select("tr[data-sku-id]"):
                price = row.select_one('[data-field="price"]')
                stock = row.select_one('[data-field="stock"]')
                assert price is not None and PRICE.match(price.get_text(strip=True))
                assert stock is not None and stock.get_text(strip=True).isdigit()
        pager = doc.select_one("[data-pager]")
        assert pager is not None
        if page >= int(str(pager["data-pages"])):
            break
        page += 1
    assert seen == [item.item_id for item in fake.world.products()]
    assert browser.cookie() is None  # browsing the catalogue needs no session


# -- login, sessions, CSRF --------------------------------------------------------------------------------


async def test_admin_without_login_redirects_to_the_form(browser: Browser) -> None:
    status, _, resp = await browser.get("/admin/orders", page="2")
    assert status == 302
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/login" and parse_qs(location.query)["next"] == ["/admin/orders?page=2"]


async def test_login_rotates_the_session_and_opens_the_admin(fake: Running, browser: Browser) -> None:
    status, html, _ = await browser.get("/login")
    assert status == 200 and soup(html).select_one('input[type="password"][name="password"]') is not None
    anonymous = browser.cookie()
    assert anonymous
    await logged_in(fake, browser)
    assert browser.cookie() not in (None, anonymous)  # a new id after logging in
    status, html, _ = await browser.get("/admin/orders")
    doc = soup(html)
    assert status == 200 and doc.body is not None and doc.body["data-page"] == "orders"
    assert doc.select_one('meta[name="csrf-token"]') is not None


async def test_login_refusals(fake: Running, browser: Browser) -> None:
    creds = fake.credentials
    _, html, _ = await browser.get("/login")
    token = form_token(html)
    status, page, _ = await browser.post("/login", {"username": creds.app_key, "password": creds.app_secret})
    assert status == 403 and soup(page).select_one('[data-error="csrf"]') is not None  # no token
    status, page, _ = await browser.post(
        "/login", {"csrf_token": "forged", "username": creds.app_key, "password": creds.app_secret}
    )
    assert status == 403  # a forged token
    status, page, _ = await browser.post(
        "/login", {"csrf_token": token, "username": creds.app_key, "password": "wrong-not-real"}
    )
    assert status == 200 and soup(page).select_one('[data-error="bad_credentials"]') is not None
    other = Browser(fake.base_url)  # another visitor's token is not valid in our session
    try:
        await other.get("/login")
        assert other.cookie() not in (None, browser.cookie())
        status, _, _ = await other.post(
            "/login", {"csrf_token": token, "username": creds.app_key, "password": creds.app_secret}
        )
        assert status == 403
    finally:
        await other.close()


async def test_sessions_expire_when_idle(fake: Running, browser: Browser) -> None:
    await logged_in(fake, browser)
    fake.clock.advance(29 * 60)
    status, _, _ = await browser.get("/admin/refunds")
    assert status == 200  # activity keeps the session alive
    fake.clock.advance(31 * 60)
    status, _, resp = await browser.get("/admin/refunds")
    assert status == 302 and urlsplit(resp.headers["Location"]).path == "/login"


# -- admin pages ------------------------------------------------------------------------------------------


async def test_orders_window_paging_and_cards(fake: Running, browser: Browser) -> None:
    await logged_in(fake, browser)
    end = fake.clock.now()
    start = end - timedelta(days=4)
    window = {"updated_from": beijing(start), "updated_to": beijing(end), "per_page": "30"}
    ids: list[str] = []
    page = 1
    while True:
        status, html, _ = await browser.get("/admin/orders", **window, page=str(page))
        assert status == 200
        doc = soup(html)
        for card in doc.select("article[data-order-id]"):
            ids.append(str(card["data-order-id"]))
            world_order = fake.world.order(str(card["data-order-id"]))
            assert world_order is not None
            paid = card.select_one('[data-field="paid"]')
            assert paid is not None and yuan(paid.get_text(strip=True)) * 100 == world_order.paid_fen
            lines = card.select("tr[data-line-id]")
            assert [row["data-sku-code"] for row in lines] == [line.sku_code for line in world_order.lines]
        pager = doc.select_one("[data-pager]")
        assert pager is not None
        if page >= int(str(pager["data-pages"])):
            break
        page += 1
    expected = fake.world.orders_modified(start, end)  # [from, to)
    assert len(expected) > 30 and ids == [order.order_id for order in expected]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"updated_from": "2024-04-01 00:00:00", "updated_to": "2024-06-01 00:00:00"}, "window_too_wide"),
        ({"updated_from": "2024/06/01", "updated_to": "2024-06-02 00:00:00"}, "bad_time"),
        ({"per_page": "101"}, "bad_param"),
    ],
)
async def test_order_list_refusals(fake: Running, browser: Browser, params: dict[str, str], code: str) -> None:
    await logged_in(fake, browser)
    status, html, _ = await browser.get("/admin/orders", **params)
    assert status == 400 and soup(html).select_one(f'[data-error="{code}"]') is not None


async def test_detail_pages_and_not_found(fake: Running, browser: Browser) -> None:
    await logged_in(fake, browser)
    order = next(o for o in fake.world.orders_created(FROZEN - timedelta(days=10), FROZEN) if o.refunds)
    status, html, _ = await browser.get(f"/admin/orders/{order.order_id}")
    card = soup(html).select_one(f'article[data-order-id="{order.order_id}"]')
    assert status == 200 and card is not None
    refund = order.refunds[0]
    status, html, _ = await browser.get(f"/admin/refunds/{refund.refund_id}")
    row = soup(html).select_one(f'tr[data-refund-id="{refund.refund_id}"]')
    assert status == 200 and row is not None
    amount = row.select_one('[data-field="amount"]')
    assert amount is not None and yuan(amount.get_text(strip=True)) * 100 == refund.amount_fen
    status, html, _ = await browser.get("/admin/orders/1")
    assert status == 404 and soup(html).select_one('[data-error="not_found"]') is not None


async def test_statement_amounts_are_signed(fake: Running, browser: Browser) -> None:
    await logged_in(fake, browser)
    end = fake.clock.now()
    status, html, _ = await browser.get(
        "/admin/settlements", settled_from=beijing(end - timedelta(days=9)), settled_to=beijing(end), per_page="100"
    )
    amounts = [yuan(cell.get_text(strip=True)) for cell in soup(html).select('tr[data-bill-id] [data-field="amount"]')]
    assert status == 200 and amounts and any(a < 0 for a in amounts) and any(a > 0 for a in amounts)


async def test_stock_form_needs_the_session_csrf(fake: Running, browser: Browser) -> None:
    await logged_in(fake, browser)
    item = fake.world.products()[0]
    sku = item.skus[0]
    status, html, _ = await browser.get("/admin/stock", item_id=item.item_id, sku_id=sku.sku_id)
    form = soup(html).select_one('form[data-form="stock"] input[name="csrf_token"]')
    assert status == 200 and form is not None
    fields = {"item_id": item.item_id, "sku_id": sku.sku_id, "quantity": "88"}
    status, page, _ = await browser.post("/admin/stock", {**fields, "csrf_token": "forged"})
    assert status == 403 and soup(page).select_one('[data-error="csrf"]') is not None
    status, page, _ = await browser.post("/admin/stock", {**fields, "csrf_token": str(form["value"])})
    output = soup(page).select_one('output[data-field="stock"]')
    assert status == 200 and output is not None and output.get_text(strip=True) == "88"
    current = fake.world.item(item.item_id)
    assert current is not None and current.skus[0].stock == 88
    status, page, _ = await browser.post("/admin/stock", {**fields, "quantity": "-1", "csrf_token": str(form["value"])})
    assert status == 400 and soup(page).select_one('[data-error="bad_quantity"]') is not None


async def test_stock_post_without_session_goes_to_login(fake: Running, browser: Browser) -> None:
    status, _, resp = await browser.post("/admin/stock", {"item_id": "1", "quantity": "1", "csrf_token": "x"})
    assert status == 302 and urlsplit(resp.headers["Location"]).path == "/login"


async def test_rate_limit_page_has_retry_after(fake: Running, browser: Browser) -> None:
    fake.fake.faults.profile = FaultProfile(rate_limit=1.0)
    status, html, resp = await browser.get("/catalogue")
    assert status == 429 and resp.headers["Retry-After"] == "1"
    assert soup(html).select_one('[data-error="rate_limited"]') is not None
