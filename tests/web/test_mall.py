"""The county's own mall over HTTP: catalogue, search, product page, cart, checkout (a person and
a unit's staff member), stock holds and their release, and the queries behind them.

On a private copy of the SQLite demo county (``tests/web/conftest.py``); one copy per test.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bangfu.clock import SHANGHAI
from bangfu.enums import OrderStatus, PlatformKind
from bangfu.mall import Buyer, OutOfStock, ensure_mall, place_order, release_expired
from bangfu.models import MallOrder, Order, OrderLine, Product, PurchasingUnit, Shop, Sku, User
from bangfu.queries import mall as q
from bangfu.store import make_engine
from tests.web.conftest import World, _client, csrf_of, login

Client = TestClient[web.Request, web.Application]
PHONE, ADDRESS = "13812345678", "四川省甘孜州甘孜县城关镇幸福路 18 号"


@pytest.fixture
def mall_world(_sqlite_world: World, tmp_path: Path) -> World:
    source = Path(_sqlite_world.url.removeprefix("sqlite+aiosqlite:///"))
    target = tmp_path / "world.db"
    shutil.copyfile(source, target)
    return World(f"sqlite+aiosqlite:///{target}", "sqlite")


@pytest.fixture
async def mall(mall_world: World) -> AsyncIterator[Client]:
    async for c in _client(mall_world.url):
        yield c


async def _a_product(url: str) -> tuple[int, int, str, int]:
    """A certified product with free stock: (product id, its first SKU id, name, free units)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            items = await q.catalogue(conn, today=datetime.now(UTC).date(), certified_only=True)
            item = next(i for i in items if i.free > 3)
            page = await q.product_page(conn, item.product_id, today=datetime.now(UTC).date())
            assert page is not None
            sku = next(s for s in page.skus if s.free > 3)
            return item.product_id, sku.sku_id, item.name, sku.free
    finally:
        await engine.dispose()


async def _buy(client: Client, sku_id: int, qty: int, *, name: str = "张三丰") -> str:
    """Add to the cart and check out; the new order's number."""
    token = await csrf_of(client, "/mall/")
    added = await client.post("/mall/cart", data={"sku": sku_id, "qty": qty, "_csrf": token}, allow_redirects=False)
    assert added.status == 302
    done = await client.post(
        "/mall/checkout",
        data={"name": name, "phone": PHONE, "address": ADDRESS, "_csrf": token},
        allow_redirects=False,
    )
    assert done.status == 302, await done.text()
    return done.headers["Location"].rsplit("/", 1)[1]


# --------------------------------------------------------------------------- queries
async def test_queries_catalogue_product_and_stock(mall_world: World) -> None:
    engine = make_engine(mall_world.url)
    today = datetime.now(UTC).date()
    try:
        async with engine.connect() as conn:
            cats = await q.categories(conn)
            assert cats and all(n > 0 for _, n in cats)
            everything = await q.catalogue(conn, today=today, limit=500)
            total = await conn.scalar(select(func.count(func.distinct(Sku.product_id))).where(Sku.active.is_(True)))
            assert len(everything) == total
            certified = [i for i in everything if i.cert is not None]
            assert certified and everything[: len(certified)] == certified  # certified first
            assert all(i.cert is not None and i.cert.valid_on(today) for i in certified)
            category = cats[0][0]
            assert {i.category for i in await q.catalogue(conn, today=today, category=category)} == {category}
            item = everything[0]
            found = await q.catalogue(conn, today=today, search=item.name[1:3])
            assert item.product_id in {i.product_id for i in found}
            assert await q.catalogue(conn, today=today, search="没有这种商品zzz") == []
            page = await q.product_page(conn, item.product_id, today=today)
            assert page is not None and page.free == item.free
            assert min(s.price_fen for s in page.skus) == item.price_fen
            assert page.origin.households == sum(page.origin.by_category.values())
            assert set(page.origin.by_category) <= {"lifted", "monitored", "ordinary"}
            assert q.stock_state(0) == "sold_out" and q.stock_state(q.LOW_STOCK) == "low"
            assert q.stock_state(q.LOW_STOCK + 1) == "in_stock"
            assert await q.product_page(conn, 99_999_999, today=today) is None
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- pages
async def test_catalogue_search_and_product_pages(mall: Client, mall_world: World) -> None:
    product_id, _, name, _ = await _a_product(mall_world.url)
    page = await mall.get("/mall/")
    text = await page.text()
    assert page.status == 200 and "县域消费帮扶商城" in text and "认定" in text and name in text
    assert "¥" in text
    found = await (await mall.get("/mall/", params={"q": name})).text()
    assert f"/mall/p/{product_id}" in found
    assert "没有找到商品" in await (await mall.get("/mall/", params={"q": "zzz没有"})).text()
    product = await (await mall.get(f"/mall/p/{product_id}")).text()
    assert name in product and "产地故事" in product and "消费帮扶产品认定" in product
    assert re.search(r"有 \d+ 户成员农户", product)
    assert (await mall.get("/mall/p/99999999")).status == 404
    english = await (await mall.get(f"/mall/p/{product_id}", cookies={"bangfu_lang": "en"})).text()
    assert "Origin" in english and "Add to cart" in english


async def test_person_checkout_holds_stock_masks_contact_and_is_private(mall: Client, mall_world: World) -> None:
    _, sku_id, _, free = await _a_product(mall_world.url)
    order_no = await _buy(mall, sku_id, 2)
    page = await mall.get(f"/mall/order/{order_no}")
    text = await page.text()
    assert page.status == 200 and "待支付" in text
    assert "138****5678" in text and PHONE not in text
    assert "张**" in text and "张三丰" not in text
    assert "幸福路" not in text and "四川省甘孜州" in text
    engine = make_engine(mall_world.url)
    try:
        async with engine.connect() as conn:
            order = (await conn.execute(select(Order).where(Order.platform_order_id == order_no))).one()
            assert order.status == OrderStatus.PENDING_PAYMENT and order.paid_at is None
            shop = (await conn.execute(select(Shop).where(Shop.id == order.shop_id))).one()
            assert shop.platform == PlatformKind.SELFMALL and shop.settings["own_mall"] is True
            assert shop.base_url is None  # never scraped, never pushed
            line = (await conn.execute(select(OrderLine).where(OrderLine.order_id == order.id))).one()
            assert line.sku_id == sku_id and line.quantity == 2  # resolved like a synced line
            assert (await q.free_stock(conn, [sku_id]))[sku_id] == free - 2  # held
    finally:
        await engine.dispose()
    # Another visitor cannot see it.
    async for other in _client(mall_world.url):
        assert (await other.get(f"/mall/order/{order_no}")).status == 404


async def test_unit_staff_checkout_counts_to_the_unit(mall: Client, mall_world: World) -> None:
    _, sku_id, _, _ = await _a_product(mall_world.url)
    await login(mall, "unit")
    cart = await (await mall.get("/mall/cart")).text()
    assert "购物车是空的" in cart
    order_no = await _buy(mall, sku_id, 1, name="李四")
    text = await (await mall.get(f"/mall/order/{order_no}")).text()
    engine = make_engine(mall_world.url)
    try:
        async with engine.connect() as conn:
            unit_id, user_id = (await conn.execute(select(User.unit_id, User.id).where(User.name == "unit"))).one()
            unit_name = await conn.scalar(select(PurchasingUnit.name).where(PurchasingUnit.id == unit_id))
            order = (await conn.execute(select(Order).where(Order.platform_order_id == order_no))).one()
            mall_row = (await conn.execute(select(MallOrder).where(MallOrder.order_no == order_no))).one()
    finally:
        await engine.dispose()
    assert order.purchasing_unit_id == unit_id  # the unit's reserved share reads this
    assert mall_row.staff_user_id == user_id and mall_row.purchasing_unit_id == unit_id
    assert unit_name is not None and unit_name in text


async def test_out_of_stock_and_bad_contact_are_refused(mall: Client, mall_world: World) -> None:
    _, sku_id, _, free = await _a_product(mall_world.url)
    engine = make_engine(mall_world.url)
    try:
        async with engine.begin() as conn:  # someone else holds all but 2
            await place_order(conn, {sku_id: free - 2}, Buyer("赵六", PHONE, ADDRESS), now=datetime.now(UTC))
        token = await csrf_of(mall, "/mall/")
        await mall.post("/mall/cart", data={"sku": sku_id, "qty": 3, "_csrf": token})
        cart = await (await mall.get("/mall/cart")).text()
        assert "仅剩 2 件" in cart
        refused = await mall.post(
            "/mall/checkout", data={"name": "王五", "phone": PHONE, "address": ADDRESS, "_csrf": token}
        )
        text = await refused.text()
        assert refused.status == 409 and "库存不足" in text and "仅剩 2 件" in text
        assert "王五" in text  # the form keeps what was typed
        bad_phone = {"name": "王五", "phone": "12", "address": ADDRESS, "_csrf": token}
        bad = await mall.post("/mall/checkout", data=bad_phone)
        assert bad.status == 409 and "手机号码" in await bad.text()
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(MallOrder)) == 1
    finally:
        await engine.dispose()


async def test_hold_is_released_after_the_timeout(mall_world: World) -> None:
    _, sku_id, _, free = await _a_product(mall_world.url)
    engine = make_engine(mall_world.url)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            placed = await place_order(conn, {sku_id: free}, Buyer("赵六", PHONE, ADDRESS), now=now)
        async with engine.begin() as conn:
            assert (await q.free_stock(conn, [sku_id]))[sku_id] == 0
            with pytest.raises(OutOfStock):
                await place_order(conn, {sku_id: 1}, Buyer("钱七", PHONE, ADDRESS), now=now + timedelta(minutes=1))
        async with engine.begin() as conn:  # not yet due
            assert await release_expired(conn, placed.expires_at - timedelta(seconds=1)) == 0
        async with engine.begin() as conn:  # release on read: the next checkout releases it first
            later = placed.expires_at + timedelta(seconds=1)
            again = await place_order(conn, {sku_id: 1}, Buyer("钱七", PHONE, ADDRESS), now=later)
        async with engine.connect() as conn:
            status = await conn.scalar(select(Order.status).where(Order.platform_order_id == placed.order_no))
            state = await conn.scalar(select(MallOrder.state).where(MallOrder.order_no == placed.order_no))
            assert status == OrderStatus.CANCELLED and state == "released"
            assert (await q.free_stock(conn, [sku_id]))[sku_id] == free - 1
            assert again.expires_at == later + timedelta(minutes=15)
    finally:
        await engine.dispose()


async def test_mall_listings_cover_the_catalogue(mall_world: World) -> None:
    engine = make_engine(mall_world.url)
    try:
        async with engine.begin() as conn:
            first = await ensure_mall(conn, datetime.now(UTC))
            assert await ensure_mall(conn, datetime.now(UTC)) == first  # idempotent
            from bangfu.models import Listing

            listed = await conn.scalar(select(func.count()).select_from(Listing).where(Listing.shop_id == first))
            active = await conn.scalar(select(func.count()).select_from(Sku).where(Sku.active.is_(True)))
            assert listed == active
            assert (await conn.scalar(select(func.count()).select_from(Product)) or 0) > 0
    finally:
        await engine.dispose()


async def test_unit_order_via_a_campaign_link_flows_through_the_pipeline(mall: Client, mall_world: World) -> None:
    """A unit's staff member comes by a live session's link (``?c=``), orders and pays: the
    order counts to the unit's reserved share and participation, the pipeline attributes it
    ``link`` to that session, draws its lots and posts it; a refund is posted back."""
    from bangfu.enums import AttributionConfidence
    from bangfu.mall import mall_shop_id, mark_paid, record_refund
    from bangfu.models import LineAttribution, LiveSession, LotAllocation, RefundPosting
    from bangfu.queries.county import unit_ranking
    from bangfu.scope import Scope
    from workers.pipeline import run_pipeline

    _, sku_id, _, _ = await _a_product(mall_world.url)
    engine = make_engine(mall_world.url)
    now = datetime.now(UTC)
    year = now.astimezone(SHANGHAI).year
    try:
        async with engine.connect() as conn:
            linked = (
                await conn.execute(
                    select(LiveSession.id, LiveSession.campaign_code).where(LiveSession.campaign_code.is_not(None))
                )
            ).first()
            assert linked is not None and linked.campaign_code is not None
            session_id, code = linked.id, str(linked.campaign_code)
            unit_id = await conn.scalar(select(User.unit_id).where(User.name == "unit"))
            before = {r.id: r for r in (await unit_ranking(conn, Scope.admin(), year, "amount", False)).rows}
        await login(mall, "unit")
        assert code in await (await mall.get("/mall/", params={"c": code})).text()  # the campaign bar
        order_no = await _buy(mall, sku_id, 2, name="李四")
        async with engine.begin() as conn:
            amount = await conn.scalar(select(MallOrder.amount_fen).where(MallOrder.order_no == order_no))
            assert amount is not None
            outcome = await mark_paid(conn, order_no, amount, txn_id="T1", paid_at=now, by="notify", now=now)
            assert outcome == "paid"
            order = (await conn.execute(select(Order).where(Order.platform_order_id == order_no))).one()
            assert order.campaign_code == code and order.purchasing_unit_id == unit_id
            shop_id = await mall_shop_id(conn)
        async with engine.connect() as conn:
            after = {r.id: r for r in (await unit_ranking(conn, Scope.admin(), year, "amount", False)).rows}
        assert unit_id is not None
        assert after[unit_id].executed - before[unit_id].executed == amount
        assert after[unit_id].orders - before[unit_id].orders == 1
        assert after[unit_id].buyers >= before[unit_id].buyers  # the staff member is one buyer
        await run_pipeline(engine, shop_id=shop_id)
        async with engine.connect() as conn:
            line_id = await conn.scalar(select(OrderLine.id).where(OrderLine.order_id == order.id))
            attribution = (
                await conn.execute(select(LineAttribution).where(LineAttribution.order_line_id == line_id))
            ).one()
            assert attribution.confidence == AttributionConfidence.LINK and attribution.session_id == session_id
            assert attribution.rule == "campaign_code"
            drawn = await conn.scalar(
                select(func.sum(LotAllocation.quantity)).where(LotAllocation.order_line_id == line_id)
            )
            assert drawn == 2
        async with engine.begin() as conn:
            assert await record_refund(conn, order_no, "RF1", reason="test", now=datetime.now(UTC)) == amount
        await run_pipeline(engine, shop_id=shop_id)
        async with engine.connect() as conn:
            posted = await conn.scalar(select(RefundPosting.amount_fen).where(RefundPosting.order_line_id == line_id))
            assert posted is not None and abs(posted) == amount  # the ledger reverses the sale
    finally:
        await engine.dispose()


async def test_demo_seeds_the_mall_once(mall_world: World) -> None:
    from bangfu.demo.mall import seed_mall

    engine = make_engine(mall_world.url)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            made = await seed_mall(conn, seed=7, days=10, now=now, count=8)
        assert made.orders == 8 and made.linked > 0 and made.units > 0 and made.pending == 2
        async with engine.begin() as conn:
            assert (await seed_mall(conn, seed=7, days=10, now=now, count=8)).orders == 0
            states = {
                str(state): int(n)
                for state, n in await conn.execute(select(MallOrder.state, func.count()).group_by(MallOrder.state))
            }
            assert states == {"paid": 6, "reserved": 2}
            assert (
                await conn.scalar(select(func.count()).select_from(Order).where(Order.campaign_code.is_not(None))) or 0
            ) > 0
    finally:
        await engine.dispose()


def test_release_command_releases_lapsed_holds(mall_world: World) -> None:
    import asyncio

    from typer.testing import CliRunner

    from bangfu.cli.app import app

    async def hold() -> str:
        _, sku_id, _, _ = await _a_product(mall_world.url)
        engine = make_engine(mall_world.url)
        try:
            async with engine.begin() as conn:
                past = datetime.now(UTC) - timedelta(hours=1)
                return (await place_order(conn, {sku_id: 1}, Buyer("孙八", PHONE, ADDRESS), now=past)).order_no
        finally:
            await engine.dispose()

    order_no = asyncio.run(hold())
    first = CliRunner().invoke(app, ["mall", "release", "--db", mall_world.url])
    assert first.exit_code == 0 and "释放了 1 笔" in first.output, first.output
    again = CliRunner().invoke(app, ["mall", "release", "--db", mall_world.url])
    assert "释放了 0 笔" in again.output

    async def state() -> str | None:
        engine = make_engine(mall_world.url)
        try:
            async with engine.connect() as conn:
                return await conn.scalar(select(MallOrder.state).where(MallOrder.order_no == order_no))
        finally:
            await engine.dispose()

    assert asyncio.run(state()) == "released"


async def test_two_first_checkouts_at_once_create_one_mall_shop(db_url: str, backend: str) -> None:
    """The first checkout of a store creates the mall's shop: a second one racing it (its insert
    waits for the first's commit) ends with the same shop, not a unique-constraint error."""
    engine = make_engine(db_url)
    now = datetime.now(UTC)
    try:
        async with engine.connect() as first, engine.connect() as second:
            await first.begin()
            shop_id = await ensure_mall(first, now)
            await second.begin()
            racing = asyncio.create_task(ensure_mall(second, now))
            await asyncio.sleep(0.3)  # the second is inside its insert (PostgreSQL) or waiting for the lock (SQLite)
            await first.commit()
            assert await racing == shop_id
            await second.commit()
        async with engine.connect() as conn:
            shops = await conn.scalar(
                select(func.count()).select_from(Shop).where(Shop.platform == PlatformKind.SELFMALL)
            )
        assert shops == 1
    finally:
        await engine.dispose()
