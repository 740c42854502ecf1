"""Self-built mall connector: scraping and normalisation of sample pages (data-* selectors, yuan
text through Decimal, Chinese status words through tables), page classification, then the
connector against the fake (the contract suite, logging in again once, CSRF, 429 bans, stock
form, catalogue, statement)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from bs4 import BeautifulSoup, Tag

from bangfu.enums import (
    ErrorClass,
    LineRefundState,
    OrderStatus,
    PlatformKind,
    RefundStatus,
    SettlementKind,
    SyncStream,
)
from bangfu.privacy import buyer_ref
from bangfu.records import LiveSessionRecord, ProductRecord
from connectors.base import Request, ShopConfig
from connectors.errors import AuthError, BadRequestError, WindowUnstable
from connectors.fakes.clock import FakeClock
from connectors.fakes.faults import FaultProfile
from connectors.fakes.selfmall import (
    LINE_REFUND_WORDS,
    ORDER_STATUS_WORDS,
    REFUND_STATUS_WORDS,
    SETTLEMENT_WORDS,
    FakeSelfmall,
    campaign_broadcasts,
)
from connectors.fakes.server import Running, fake_server
from connectors.fakes.world import PURCHASING_UNITS, SHANGHAI
from connectors.ratelimit import RateLimiter
from connectors.selfmall import (
    LINE_REFUND,
    ORDER_STATUS,
    REFUND_STATUS,
    SETTLEMENT_KIND,
    HtmlPage,
    SelfmallConnector,
    classify_page,
    csrf_of,
    extract_bill,
    extract_broadcast,
    extract_order,
    extract_product,
    extract_refund,
    money_fen,
    parse_bill,
    parse_broadcast,
    parse_order,
    parse_product,
    parse_refund,
    read_pager,
)
from connectors.selfmall.html import having, marked
from tests.connectors.contract import CHAOS_EVERY_KIND, CONTRACT_RETRY, ContractTests, VirtualTime
from tests.connectors.harvest import harvest

HASH_KEY = b"test-only-hash-key-not-a-secret"
FROZEN = datetime(2024, 6, 15, 4, 0, tzinfo=UTC)

ORDER_CARD = """
<article class="order-card" data-order-id="7154464000000242">
  <header><span>订单号 <a data-field="order-no">7154464000000242</a></span>
  <span class="badge" data-field="status"> 已发货 </span></header>
  <dl>
    <dt>下单时间</dt><dd data-field="created-at">2024-06-01 10:00:00</dd>
    <dt>付款时间</dt><dd data-field="paid-at">2024-06-01 10:02:30</dd>
    <dt>更新时间</dt><dd data-field="updated-at">2024-06-02 08:00:00</dd>
    <dt>会员</dt><dd data-field="buyer" data-buyer-id="fake_buyer_0001">张**</dd>
    <dt>直播专场</dt><dd data-field="campaign-code">CMP-9BC5-003</dd>
    <dt>采购单位</dt><dd data-field="purchasing-unit">U-HC-001</dd>
  </dl>
  <table><tbody>
    <tr data-line-id="71544640000002421" data-item-id="396484040494" data-sku-id="4059034767354"
        data-sku-code="GZ-SPU-0031-02">
      <td data-field="title">甘孜鸡枞菌</td><td data-field="spec">500g/袋</td><td data-field="qty">2</td>
      <td data-field="unit-price">¥369.00</td><td data-field="line-paid">¥1,228.00</td>
      <td data-field="refund">部分退款</td></tr>
    <tr data-line-id="71544640000002422" data-item-id="910436900019" data-sku-id="8309960719723"
        data-sku-code="GZ-SPU-0113-01">
      <td data-field="title">青稞挂面</td><td data-field="spec">500g/袋</td><td data-field="qty">1</td>
      <td data-field="unit-price">¥58.80</td><td data-field="line-paid">¥58.80</td>
      <td data-field="refund">无</td></tr>
  </tbody></table>
  <footer><b data-field="post-fee">¥6.00</b><b data-field="discount">¥10.00</b>
  <b data-field="paid">¥1,292.80</b></footer>
</article>
"""

REFUND_ROW = """<table><tr data-refund-id="883300001" data-order-id="7154464000000242" data-line-id="71544640000002421">
<td data-field="status">退款成功</td><td data-field="amount">¥100.50</td><td data-field="qty"></td>
<td data-field="with-return">是</td><td data-field="reason">质量问题</td>
<td data-field="created-at">2024-06-03 09:00:00</td><td data-field="updated-at">2024-06-04 09:00:00</td></tr></table>"""

BILL_ROW = """<table><tr data-bill-id="9001" data-order-id="7154464000000242" data-line-id="">
<td data-field="kind">支付手续费</td><td data-field="amount">-¥0.78</td>
<td data-field="settled-at">2024-06-10 00:00:00</td></tr></table>"""

PRODUCT = """<section data-item-id="108227390721" data-outer-id="GZ-SPU-0004" data-modified-at="2024-05-01 12:00:00">
<h2 data-field="title">甘孜川贝母</h2><p data-field="shelf">已下架</p><table>
<tr data-sku-id="1" data-outer-id="GZ-SPU-0004-01"><td data-field="spec">5g/盒</td>
<td data-field="price">¥392.00</td><td>库存 <span data-field="stock">0</span></td></tr>
<tr data-sku-id="2" data-outer-id="GZ-SPU-0004-02"><td data-field="spec">10g/盒</td>
<td data-field="price">¥752.00</td><td>库存 <span data-field="stock">3</span></td></tr></table></section>"""


LIVE_ROW = """<table><tr data-broadcast-id="123456789012345678" data-host-id="sphab12cd3">
<td>123456789012345678</td><td data-field="title">消费帮扶专场 第3期｜视频号直播</td>
<td data-field="host">甘孜消费帮扶馆</td><td data-field="status">直播中</td>
<td data-field="started-at">2024-06-13 20:05:00</td><td data-field="ended-at"></td>
<td data-field="campaign-code"> CMP-9BC5-003 </td>
<td><a data-field="link" href="/?campaign=CMP-9BC5-003">/?campaign=CMP-9BC5-003</a></td>
<td data-field="views">5230</td><td data-field="unique-viewers">3400</td><td data-field="peak-online">812</td>
<td data-field="updated-at">2024-06-13 20:47:00</td></tr></table>"""


def first(html: str, attribute: str) -> Tag:
    tag = BeautifulSoup(html, "lxml").select_one(f"[{attribute}]")
    assert isinstance(tag, Tag)
    return tag


def page(status: int, body: str, **headers: str) -> HtmlPage:
    return HtmlPage(status, body, headers)


# -- money, words, scraping (pure) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fen"),
    [("¥1,234.50", 123450), ("-¥0.07", -7), ("￥12", 1200), (" ¥0.00 ", 0), ("¥1,000,000.01", 100000001)],
)
def test_money_text_to_fen(text: str, fen: int) -> None:
    assert money_fen(text) == fen


@pytest.mark.parametrize("text", ["¥12.3.4", "¥1.005", "", "¥--", "NaN", None, 12.5])
def test_bad_money_text_raises(text: Any) -> None:
    with pytest.raises(ValueError):
        money_fen(text)


def test_word_tables_cover_what_the_mall_shows() -> None:
    # every word the fake renders maps back to the value it stands for
    assert {ORDER_STATUS[word]: status for status, word in ORDER_STATUS_WORDS.items()} == {
        s: s for s in ORDER_STATUS_WORDS
    }
    assert all(LINE_REFUND[word] is state for state, word in LINE_REFUND_WORDS.items())
    assert all(REFUND_STATUS[word] is status for status, word in REFUND_STATUS_WORDS.items())
    assert all(SETTLEMENT_KIND.get(word, SettlementKind.OTHER) is kind for kind, word in SETTLEMENT_WORDS.items())
    assert ORDER_STATUS["已关闭"] is OrderStatus.CLOSED and ORDER_STATUS["已取消"] is OrderStatus.CANCELLED


def test_order_card_is_scraped_and_normalised() -> None:
    raw = extract_order(first(ORDER_CARD, "data-order-id"))
    assert raw["status"] == "已发货" and raw["paid"] == "¥1,292.80" and len(raw["lines"]) == 2
    order = parse_order(raw, hash_key=HASH_KEY)
    assert order.platform_order_id == "7154464000000242"
    assert order.status is OrderStatus.SHIPPED and order.platform_status == "已发货"
    assert order.created_at == datetime(2024, 6, 1, 2, 0, tzinfo=UTC)
    assert order.paid_at == datetime(2024, 6, 1, 2, 2, 30, tzinfo=UTC)
    assert order.modified_at == datetime(2024, 6, 2, 0, 0, tzinfo=UTC)
    assert (order.paid_fen, order.post_fee_fen, order.discount_fen) == (129280, 600, 1000)
    assert sum(line.paid_fen for line in order.lines) + order.post_fee_fen == order.paid_fen
    assert order.campaign_code == "CMP-9BC5-003" and order.purchasing_unit_code == "U-HC-001"
    assert order.buyer_ref == buyer_ref("selfmall", "fake_buyer_0001", HASH_KEY)
    line = order.lines[0]
    assert (line.platform_line_id, line.platform_item_id, line.platform_sku_id) == (
        "71544640000002421",
        "396484040494",
        "4059034767354",
    )
    assert line.outer_sku_id == "GZ-SPU-0031-02" and line.quantity == 2
    assert line.unit_price_fen == 36900 and line.paid_fen == 122800
    assert line.refund_state is LineRefundState.PARTIAL and order.lines[1].refund_state is LineRefundState.NONE


def test_order_without_campaign_and_unpaid() -> None:
    html = ORDER_CARD.replace("已发货", "待付款").replace("2024-06-01 10:02:30", "")
    html = html.replace('<dd data-field="campaign-code">CMP-9BC5-003</dd>', "")
    order = parse_order(extract_order(first(html, "data-order-id")))
    assert order.status is OrderStatus.PENDING_PAYMENT and order.paid_fen == 0 and order.paid_at is None
    assert order.campaign_code is None


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("已发货", "已发货了"),  # a status word we do not know
        ("¥1,292.80", "¥1,292.8.0"),
        ('data-field="qty">2', 'data-field="qty">两'),
        ("部分退款", "部分"),
        ("2024-06-01 10:00:00", "2024/06/01"),
    ],
)
def test_malformed_cards_raise(old: str, new: str) -> None:
    raw = extract_order(first(ORDER_CARD.replace(old, new, 1), "data-order-id"))
    with pytest.raises(ValueError):
        parse_order(raw)


ODD_CARD = """<article data-order-id="9" data-field="x"><span data-field="status">已付款</span>
<table><tr data-line-id="1" data-item-id="2" data-field="title"><td><span data-field="title"> a <b>b</b> </span></td>
<td data-field="qty">1</td><td data-field="qty">9</td></tr><tr data-line-id=""><td data-field="spec">s</td></tr>
<tr><td data-field="title">outside</td></tr></table><div data-field="paid"><!-- c --> 1<i>2</i> </div>
<b data-field="">e</b><dd data-field="buyer" data-buyer-id="b1">b***</dd></article>"""


@pytest.mark.parametrize("html", [ORDER_CARD, ODD_CARD])
def test_list_cards_read_in_one_walk_as_the_general_path_reads_them(html: str) -> None:
    """A list page's order cards (lxml, one walk over the card) give the fields the general
    path gives for the same card (BeautifulSoup: a query per row and per card), odd markup
    included: cells nested in cells, a name twice, a row without an id, fields after the rows."""
    tree = HtmlPage(200, f"<html><body>{html}</body></html>").tree
    (card,) = tree.xpath("//*[@data-order-id]")
    assert extract_order(card) == extract_order(first(html, "data-order-id"))


def test_refund_bill_and_product_rows() -> None:
    refund = parse_refund(extract_refund(first(REFUND_ROW, "data-refund-id")))
    assert refund.status is RefundStatus.SUCCEEDED and refund.amount_fen == 10050
    assert refund.quantity is None and refund.with_return and refund.reason == "质量问题"
    assert refund.platform_line_id == "71544640000002421"
    assert refund.modified_at == datetime(2024, 6, 4, 1, 0, tzinfo=UTC)
    bill = parse_bill(extract_bill(first(BILL_ROW, "data-bill-id")))
    assert bill.kind is SettlementKind.PAYMENT_FEE and bill.amount_fen == -78 and bill.platform_line_id is None
    product = parse_product(extract_product(first(PRODUCT, "data-item-id")))
    assert not product.on_sale and product.price_fen == 39200 and product.stock == 3
    assert [sku.outer_id for sku in product.skus] == ["GZ-SPU-0004-01", "GZ-SPU-0004-02"]
    with pytest.raises(ValueError):
        parse_product(extract_product(first(PRODUCT.replace("已下架", "隐藏"), "data-item-id")))


def test_live_broadcast_row_is_a_session_with_its_campaign_code() -> None:
    raw = extract_broadcast(first(LIVE_ROW, "data-broadcast-id"))
    record = parse_broadcast(raw)
    assert (record.room_id, record.author_id, record.host_name) == (
        "123456789012345678",
        "sphab12cd3",
        "甘孜消费帮扶馆",
    )
    assert record.campaign_code == "CMP-9BC5-003" and record.raw["campaign_code"] == "CMP-9BC5-003"
    assert record.started_at == datetime(2024, 6, 13, 12, 5, tzinfo=UTC) and record.ended_at is None  # still live
    assert record.modified_at == datetime(2024, 6, 13, 12, 47, tzinfo=UTC)
    assert (record.views, record.unique_viewers, record.peak_online) == (5230, 3400, 812)
    with pytest.raises(ValueError):
        parse_broadcast({**raw, "views": "五千"})
    with pytest.raises(ValueError):
        parse_broadcast({**raw, "ended_at": "2024-06-13 19:00:00"})  # ends before it starts


# -- pages -> what to do next ------------------------------------------------------------------------------


def test_classify_pages() -> None:
    done = "<html><body data-page='orders'></body></html>"
    assert classify_page(200, page(200, done)) is None
    login = classify_page(302, page(302, "302: Found", Location="/login?next=%2Fadmin%2Forders"))
    assert login is not None and login.error_class is ErrorClass.AUTH and login.token_expired
    assert classify_page(302, page(302, "", Location="/admin/orders")) is None  # the login's own redirect
    csrf = classify_page(403, page(403, "<html><p data-error='csrf'>x</p></html>"))
    assert csrf is not None and csrf.error_class is ErrorClass.AUTH and csrf.token_expired
    forbidden = classify_page(403, page(403, "<html>no</html>"))
    assert forbidden is not None and forbidden.error_class is ErrorClass.AUTH and not forbidden.token_expired
    limited = classify_page(429, page(429, "<html><p>访问过于频繁，请 3 秒后重试</p></html>"))
    assert limited is not None and limited.error_class is ErrorClass.RATE_LIMIT and limited.retry_after == 3.0
    wide = classify_page(400, page(400, "<html><p data-error='window_too_wide'>x</p></html>"))
    assert wide is not None and wide.error_class is ErrorClass.BAD_REQUEST and wide.code == "window_too_wide"
    for status in (500, 502, 503, 504):
        resolution = classify_page(status, page(status, "<html>Bad Gateway</html>"))
        assert resolution is not None and resolution.error_class is ErrorClass.TRANSIENT
    cut = classify_page(200, page(200, "<html><body data-page='orders'><article"))
    assert cut is not None and cut.error_class is ErrorClass.TRANSIENT
    garbled = classify_page(200, None)
    assert garbled is not None and garbled.error_class is ErrorClass.TRANSIENT


def test_pager_cookie_and_csrf_reading() -> None:
    html = (
        '<html><head><meta name="csrf-token" content="tok-1"></head><body data-page="orders">'
        '<nav data-pager data-page="2" data-pages="3" data-total="250"></nav></body></html>'
    )
    current = page(200, html, **{"Set-Cookie": "mall_session=abc123; HttpOnly; Path=/; SameSite=Lax"})
    assert read_pager(current).total == 250 and read_pager(current).pages == 3
    assert current.page_name == "orders" and csrf_of(current) == "tok-1"
    assert current.cookie("mall_session") == "abc123" and current.cookie("other") is None
    form = page(200, '<form><input name="csrf_token" value="tok-2"></form>')
    assert csrf_of(form) == "tok-2"


def test_marked_finds_what_having_finds() -> None:
    """The list pages' cards and pager are found through the attribute axis: the same elements,
    in document order, as the predicate form, nested, empty-valued and beside text included."""
    html = (
        '<html data-pager="" data-page="1" data-pages="1" data-total="4"><body>'
        '<article data-order-id="1">a<section data-order-id="">b<p data-order-id="2"></p></section></article>'
        '<table><tr data-order-id="3"><td>c</td></tr></table><div data-other="4"></div>'
        '<nav data-pager data-page="2" data-pages="3" data-total="250"></nav></body></html>'
    )
    tree = page(200, html).tree
    for attribute in ("data-order-id", "data-pager", "data-other", "data-missing"):
        assert marked(tree, attribute) == having(tree, attribute)
    assert [e.get("data-order-id") for e in marked(tree, "data-order-id")] == ["1", "", "2", "3"]
    assert read_pager(page(200, html)).total == 4  # the root's own pager, as //*[@data-pager] finds it


def test_prepare_sends_the_session_cookie_and_current_csrf() -> None:
    config = ShopConfig(
        platform=PlatformKind.SELFMALL,
        base_url="http://127.0.0.1:9",
        app_key="fake-selfmall-operator",
        app_secret="fake-secret-not-real",
        shop_id="1",
        access_token="sid-1",
    )
    connector = SelfmallConnector(config)
    connector._csrf = "fresh-token"
    request = Request(
        op="stock.update", method="POST", url="http://127.0.0.1:9/admin/stock", data={"csrf_token": "old"}
    )
    prepared = connector.prepare(request)
    assert prepared.headers["Cookie"] == "mall_session=sid-1" and prepared.data == {"csrf_token": "fresh-token"}
    anonymous = connector.prepare(Request(op="login.form", method="GET", url="x", authenticated=False))
    assert "Cookie" not in anonymous.headers


# -- the contract suite against the fake ---------------------------------------------------------------------


class TestSelfmallContract(ContractTests):
    platform = "selfmall"


# -- the connector against the fake: sessions, CSRF, bans, stock, catalogue, statement ------------------------


@pytest.fixture
async def fake() -> AsyncIterator[Running]:
    async with fake_server("selfmall", seed=5, orders=120, days=8, clock=FakeClock(frozen_at=FROZEN)) as running:
        yield running


def config_for(fake: Running, **changes: Any) -> ShopConfig:
    creds = fake.credentials
    fields: dict[str, Any] = {
        "platform": PlatformKind.SELFMALL,
        "base_url": fake.base_url,
        "app_key": "selfmall-shop-1",
        "app_secret": "",
        "shop_id": creds.shop_id,
        "extra": {"username": creds.app_key, "password": creds.app_secret},
    }
    fields.update(changes)
    return ShopConfig(**fields)


def connect(fake: Running, connector_kwargs: dict[str, Any], **changes: Any) -> SelfmallConnector:
    return SelfmallConnector(config_for(fake, **changes), clock=fake.clock.now, **connector_kwargs)


async def collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


async def test_expired_session_logs_in_again_once(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs)
    now = fake.clock.now()
    await collect(connector.orders(now - timedelta(days=1), now))
    first_session = connector.tokens.access_token
    assert connector.stats.token_refreshes == 1 and first_session
    fake.clock.advance(31 * 60)  # idle past the mall's 30 minutes
    records = await collect(connector.orders(now - timedelta(days=2), now - timedelta(days=1)))
    assert records and connector.stats.token_refreshes == 2
    assert connector.tokens.access_token != first_session
    assert not connector.stats.errors


async def test_a_second_refusal_is_an_auth_error(
    fake: Running, connector_kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = connect(fake, connector_kwargs)
    orders = fake.world.orders_created(FROZEN - timedelta(days=2), FROZEN)
    await connector.order_detail(orders[0].order_id)

    def refuse(self: FakeSelfmall, request: web.Request) -> None:
        raise web.HTTPFound("/login?next=/admin")  # every admin page sends us to log in

    monkeypatch.setattr(FakeSelfmall, "_require_login", refuse)
    with pytest.raises(AuthError):
        await connector.order_detail(orders[1].order_id)
    assert connector.stats.calls["login.submit"] == 2  # the first login and exactly one more
    assert not connector.stats.retries


async def test_wrong_password_is_fatal_at_once(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs, extra={"username": fake.credentials.app_key, "password": "wrong"})
    with pytest.raises(AuthError) as caught:
        await collect(connector.orders(FROZEN - timedelta(days=1), FROZEN))
    assert caught.value.code == "bad_credentials"
    assert connector.stats.requests == 2 and not connector.stats.retries  # login form + login post


async def test_rate_limit_page_bans_for_retry_after(fake: Running, session: aiohttp.ClientSession) -> None:
    fake.fake.faults.profile = FaultProfile(rate_limit=1.0, max_consecutive=1)
    warp = VirtualTime()
    connector = SelfmallConnector(
        config_for(fake),
        session=session,
        retry=CONTRACT_RETRY,
        timeout=1.5,
        clock=fake.clock.now,
        limiter=RateLimiter(clock=warp.clock, sleep=warp.sleep),
        sleep=warp.sleep,
    )
    products = await collect(connector.products())
    assert products
    assert connector.stats.retries[ErrorClass.RATE_LIMIT] >= 1
    assert connector.bucket.bans >= 1 and warp.slept >= FakeSelfmall.retry_after


async def test_the_mall_refuses_too_wide_a_window(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs)
    assert connector.window_for(SyncStream.ORDERS) <= connector.window_max == timedelta(days=31)
    with pytest.raises(BadRequestError) as caught:
        await collect(connector._orders_window(FROZEN - timedelta(days=40), FROZEN))
    assert caught.value.code == "window_too_wide"


async def test_push_stock_through_the_form(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs)
    item = next(item for item in fake.world.products() if len(item.skus) > 1)
    sku = item.skus[-1]
    result = await connector.push_stock(item.item_id, sku.sku_id, 321, idempotency_key="p-1")
    assert result.stock == 321
    current = fake.world.item(item.item_id)
    assert current is not None and {s.sku_id: s.stock for s in current.skus}[sku.sku_id] == 321
    # after the session is gone the form sends us to log in; one login later the push goes through
    async with connector_kwargs["session"].post(f"{fake.base_url}/_fake/sessions/expire") as resp:
        assert (await resp.json())["expired"] >= 1
    again = await connector.push_stock(item.item_id, sku.sku_id, 5, idempotency_key="p-2")
    assert again.stock == 5 and connector.stats.token_refreshes == 2
    with pytest.raises(BadRequestError) as caught:
        await connector.push_stock(item.item_id, None, 5, idempotency_key="p-3")  # several SKUs: which?
    assert caught.value.code == "unknown_sku"


async def test_catalogue_is_public_and_matches_the_world(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs)
    products = await collect(connector.products())
    assert all(isinstance(p, ProductRecord) for p in products)
    assert not any(op.startswith("login") for op in connector.stats.calls)  # no login needed
    world = {item.item_id: item for item in fake.world.products()}
    assert {p.platform_item_id for p in products} == set(world)
    for product in products:
        item = world[product.platform_item_id]
        assert product.on_sale is item.on_sale and product.outer_id == item.spu_code
        assert [(s.platform_sku_id, s.price_fen, s.stock) for s in product.skus] == [
            (s.sku_id, s.price_fen, s.stock) for s in item.skus
        ]


async def test_statement_matches_the_world(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs)
    start, end = FROZEN - timedelta(days=8), FROZEN
    lines = await collect(connector.settlements(start, end))
    expected = fake.world.settlements(start, end)
    assert expected and len(lines) == len(expected)
    assert sum(line.amount_fen for line in lines) == sum(line.amount_fen for line in expected)
    kinds = {line.platform_bill_id: line.kind for line in lines}
    assert all(kinds[line.bill_id] is line.kind for line in expected)


async def test_campaign_and_unit_codes_reach_the_records(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs)
    records = await collect(connector.orders(FROZEN - timedelta(days=8), FROZEN))
    by_id = {r.platform_order_id: r for r in records}
    world = fake.world.orders_modified(FROZEN - timedelta(days=8), FROZEN)
    assert any(o.campaign_code for o in world) and any(o.purchasing_unit_code for o in world)
    for order in world:
        assert by_id[order.order_id].campaign_code == order.campaign_code
        assert by_id[order.order_id].purchasing_unit_code == order.purchasing_unit_code


async def test_live_sessions_are_the_campaign_broadcasts_with_their_codes(
    fake: Running, connector_kwargs: dict[str, Any]
) -> None:
    connector = connect(fake, connector_kwargs)
    assert SyncStream.LIVE_SESSIONS in connector.streams
    start = FROZEN - timedelta(days=12)
    records = await collect(connector.live_sessions(start, FROZEN))
    assert all(isinstance(r, LiveSessionRecord) for r in records)
    expected = [b for b in campaign_broadcasts(fake.world) if start <= b.modified_at < FROZEN]
    assert len(expected) >= 2  # one per campaign week begun by now
    assert sorted(
        (r.room_id, r.author_id, r.host_name, r.title, r.started_at, r.ended_at, r.campaign_code, r.views)
        for r in records
    ) == sorted(
        (b.broadcast_id, b.host_id, b.host_name, b.title, b.started_at, b.ended_at, b.campaign_code, b.views)
        for b in expected
    )
    assert all(r.unique_viewers <= r.views and r.peak_online > 0 for r in records)
    # every campaign code the mall's orders carry names one of these sessions
    codes = {r.campaign_code for r in records}
    assert len(codes) == len(records) and codes <= {c.campaign_code for c in fake.world.campaigns()}
    ordered = {o.campaign_code for o in fake.world.orders_modified(FROZEN - timedelta(days=8), FROZEN)}
    assert ordered - {None} and ordered - {None} <= codes
    assert {w.end - w.start for w in connector.stats.windows} <= {timedelta(days=7), timedelta(days=5)}


async def test_a_broadcast_under_way_is_live_and_later_ends(fake: Running, connector_kwargs: dict[str, Any]) -> None:
    connector = connect(fake, connector_kwargs)
    upcoming = next(c for c in fake.world.campaigns() if c.starts_at > FROZEN)
    # the campaign's live is on its first evening, 20:00-20:30 Beijing time, for 90-150 minutes
    evening = upcoming.starts_at.astimezone(SHANGHAI).replace(hour=21, minute=0, second=30)
    fake.clock.advance(int((evening - FROZEN).total_seconds()))
    now = fake.clock.now()
    live = [
        r
        for r in await collect(connector.live_sessions(now - timedelta(hours=2), now))
        if isinstance(r, LiveSessionRecord)
    ]
    assert [r.campaign_code for r in live] == [upcoming.campaign_code]
    assert live[0].ended_at is None and live[0].modified_at == now.replace(second=0)
    fake.clock.advance(3 * 3600)
    later = fake.clock.now()
    ended = await collect(connector.live_sessions(now - timedelta(hours=2), later))
    assert [r.room_id for r in ended] == [live[0].room_id]
    assert ended[0].ended_at is not None and ended[0].views >= live[0].views


async def test_own_session_keeps_no_cookies_and_is_closed(fake: Running) -> None:
    async with SelfmallConnector(config_for(fake), clock=fake.clock.now, timeout=1.5) as connector:
        record = await connector.order_detail(fake.world.orders_created(FROZEN - timedelta(days=2), FROZEN)[0].order_id)
        assert record.lines
        own = connector.session
        assert isinstance(own.cookie_jar, aiohttp.DummyCookieJar)
    assert own.closed


async def test_chaos_over_two_weeks_equals_the_truth(session: aiohttp.ClientSession) -> None:
    """The contract's chaos run on a bigger mall: 16 one-day windows, pages that shift under us,
    every fault kind (429 pages, 5xx pages, drops, hangs, malformed cards); bans on virtual time."""
    profile = CHAOS_EVERY_KIND
    async with fake_server(
        "selfmall", seed=23, orders=600, days=14, faults=profile, clock=FakeClock(frozen_at=FROZEN)
    ) as fake:
        warp = VirtualTime()
        connector = SelfmallConnector(
            config_for(fake),
            session=session,
            retry=CONTRACT_RETRY,
            timeout=0.5,
            clock=fake.clock.now,
            limiter=RateLimiter(clock=warp.clock, sleep=warp.sleep),
            sleep=warp.sleep,
        )
        result = await harvest(connector, FROZEN - timedelta(days=16))
        truth = fake.fake.truth()["shops"][fake.credentials.shop_id]
        assert result.totals() == truth
        assert len(result.orders) == truth["orders"] and len(result.refunds) == truth["refunds"]
        assert result.unresolved() == []
        stats = fake.fake.faults.stats
        for kind in ("rate_limit", "server_error", "drop", "hang", "malformed"):
            assert stats[kind] > 0, f"no {kind} fault happened: {dict(stats)}"
        assert connector.stats.retries[ErrorClass.RATE_LIMIT] > 0 and warp.slept >= FakeSelfmall.retry_after
        assert connector.stats.recovered > 0 and not connector.stats.errors
        units = {o.purchasing_unit_code for o in result.orders.values() if o.purchasing_unit_code}
        assert units and units <= set(PURCHASING_UNITS)


async def test_a_window_whose_total_keeps_moving_raises_instead_of_passing_as_read(
    connector_kwargs: dict[str, Any],
) -> None:
    """Issue 12.2: after its rescans the self-built mall connector returned quietly, so sync
    moved the cursor past a window whose rows kept moving (what slipped between pages was
    lost until a ``--full`` run). Now it raises ``WindowUnstable``, like every connector."""

    class Moving(FakeSelfmall):
        calls = 0

        @staticmethod
        def _pager(page: int, per_page: int, total: int) -> Any:
            Moving.calls += 1
            return FakeSelfmall._pager(page, per_page, total + Moving.calls)

    async with fake_server(Moving, seed=5, orders=120, days=8, clock=FakeClock(frozen_at=FROZEN)) as running:
        connector = connect(running, {**connector_kwargs, "sleep": _no_sleep})
        with pytest.raises(WindowUnstable):
            await collect(connector.orders(FROZEN - timedelta(days=3), FROZEN - timedelta(days=2)))
        assert connector.stats.unstable_windows == connector.unstable_retries + 1


async def _no_sleep(seconds: float) -> None:
    return None
