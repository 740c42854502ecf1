"""The county's own mall in a real browser on a phone: browse, product, cart, checkout, the fake
provider's pay page, and back to a paid order; screenshots of each step (and the catalogue and
the paid order on a desktop), no page wider than the phone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bangfu.mall import PaymentConfig, configure_payment
from bangfu.models import MallOrder, Order, PurchasingUnit, User
from bangfu.secrets import SecretStore
from bangfu.store import make_engine
from connectors.fakes.pay import FAKE_KEY, FAKE_MCHID, fake_pay_server
from tests.web.browser.conftest import VIEWPORTS, Served, sign_in
from tests.web.browser.test_console import TOO_WIDE, Watched

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _fits(page: Watched, name: str, screenshots: Path) -> None:
    await page.page.screenshot(path=str(screenshots / f"mall-{name}-phone.png"), full_page=True)
    assert await page.page.evaluate(TOO_WIDE) == [], name
    assert not page.problems, page.problems


async def test_browse_cart_checkout_pay_and_return_paid(served_copy: Served, browser: Any, screenshots: Path) -> None:
    SecretStore().put("mall-pay", {"mchid": FAKE_MCHID, "key": FAKE_KEY})
    async with fake_pay_server() as pay:
        engine = make_engine(served_copy.url)
        try:
            async with engine.begin() as conn:
                await configure_payment(conn, PaymentConfig("fakepay", pay.base_url, "mall-pay"), datetime.now(UTC))
        finally:
            await engine.dispose()
        context = await browser.new_context(**VIEWPORTS["phone"])
        try:
            page = Watched(await context.new_page())
            base = served_copy.base
            await page.open(f"{base}/mall/?c=CMP-BROWSER-1")
            assert "县域消费帮扶商城" in await page.page.title()
            assert "CMP-BROWSER-1" in await page.page.locator(".campaign-bar").inner_text()
            await _fits(page, "catalogue", screenshots)

            card = page.page.locator(".grid .card:not(.soldout) a").first
            name = (await card.locator("h2").inner_text()).strip()
            async with page.page.expect_navigation():
                await card.click()
            assert name in await page.page.locator("h1").inner_text()
            assert "产地故事" in await page.page.content()
            await _fits(page, "product", screenshots)

            await page.page.get_by_label("数量").fill("2")
            async with page.page.expect_navigation():
                await page.page.get_by_role("button", name="加入购物车").click()
            assert page.page.url.endswith("/mall/cart")
            assert await page.page.locator("#cart-count").inner_text() == "2"
            await page.page.get_by_label("收货人").fill("张三丰")
            await page.page.get_by_label("手机号码").fill("13812345678")
            await page.page.get_by_label("收货地址").fill("四川省甘孜州甘孜县城关镇幸福路 18 号")
            await _fits(page, "cart", screenshots)

            async with page.page.expect_navigation():
                await page.page.locator("form.checkout button[type=submit]").click()
            assert "/mall/order/" in page.page.url
            order_no = page.page.url.rsplit("/", 1)[1]
            assert await page.page.locator("#order-state").get_attribute("data-state") == "reserved"
            assert "138****5678" in await page.page.locator("#buyer").inner_text()
            await _fits(page, "checkout", screenshots)

            async with page.page.expect_navigation():
                await page.page.locator("#pay").click()
            assert page.page.url.startswith(pay.base_url + "/pay/")
            assert order_no in await page.page.content()
            await page.page.screenshot(path=str(screenshots / "mall-paypage-phone.png"), full_page=True)
            async with page.page.expect_navigation(url=f"{base}/mall/order/{order_no}"):
                await page.page.locator("#pay").click()
            assert await page.page.locator("#order-state").get_attribute("data-state") == "paid"
            assert "感谢您的购买" in await page.page.content()
            await _fits(page, "paid", screenshots)

            await page.page.set_viewport_size(VIEWPORTS["desktop"]["viewport"])
            await page.page.screenshot(path=str(screenshots / "mall-paid-desktop.png"), full_page=True)
            await page.open(f"{base}/mall/")
            await page.page.screenshot(path=str(screenshots / "mall-catalogue-desktop.png"))
        finally:
            await context.close()
        engine = make_engine(served_copy.url)
        try:
            async with engine.connect() as conn:
                row = (
                    await conn.execute(
                        select(MallOrder.state, MallOrder.paid_by, MallOrder.campaign_code).where(
                            MallOrder.order_no == order_no
                        )
                    )
                ).one()
        finally:
            await engine.dispose()
        assert tuple(row) == ("paid", "notify", "CMP-BROWSER-1")
        assert pay.fake.notifies == [{"order": order_no, "state": "SUCCESS", "status": 200}]


async def test_a_units_staff_member_signs_in_buys_for_the_unit_and_pays(
    served_copy: Served, browser: Any, screenshots: Path
) -> None:
    """The unit's staff member signs in through the console's form, then buys in the mall: the
    cart says the order is the unit's, the order page names the unit, and the paid order counts
    to the unit (its reserved share reads the order's unit) and to the staff member."""
    SecretStore().put("mall-pay", {"mchid": FAKE_MCHID, "key": FAKE_KEY})
    async with fake_pay_server() as pay:
        engine = make_engine(served_copy.url)
        try:
            async with engine.begin() as conn:
                await configure_payment(conn, PaymentConfig("fakepay", pay.base_url, "mall-pay"), datetime.now(UTC))
                unit_id, user_id = (await conn.execute(select(User.unit_id, User.id).where(User.name == "unit"))).one()
                unit_name = await conn.scalar(select(PurchasingUnit.name).where(PurchasingUnit.id == unit_id))
        finally:
            await engine.dispose()
        assert unit_name is not None
        context = await browser.new_context(**VIEWPORTS["phone"])
        try:
            page = Watched(await context.new_page())
            base = served_copy.base
            await sign_in(page.page, base, "unit")
            await page.open(f"{base}/mall/")
            async with page.page.expect_navigation():
                await page.page.locator(".grid .card:not(.soldout) a").first.click()
            async with page.page.expect_navigation():
                await page.page.get_by_role("button", name="加入购物车").click()
            assert unit_name in await page.page.locator(".unit-note").inner_text()
            await page.page.get_by_label("收货人").fill("李四")
            await page.page.get_by_label("手机号码").fill("13912345678")
            await page.page.get_by_label("收货地址").fill("四川省甘孜州甘孜县城关镇团结街 6 号")
            async with page.page.expect_navigation():
                await page.page.locator("form.checkout button[type=submit]").click()
            order_no = page.page.url.rsplit("/", 1)[1]
            assert unit_name in await page.page.content()
            await page.page.screenshot(path=str(screenshots / "mall-unit-order-phone.png"), full_page=True)
            async with page.page.expect_navigation():
                await page.page.locator("#pay").click()
            async with page.page.expect_navigation(url=f"{base}/mall/order/{order_no}"):
                await page.page.locator("#pay").click()
            assert await page.page.locator("#order-state").get_attribute("data-state") == "paid"
            assert not page.problems, page.problems
        finally:
            await context.close()
    engine = make_engine(served_copy.url)
    try:
        async with engine.connect() as conn:
            order_unit = await conn.scalar(select(Order.purchasing_unit_id).where(Order.platform_order_id == order_no))
            staff, state = (
                await conn.execute(
                    select(MallOrder.staff_user_id, MallOrder.state).where(MallOrder.order_no == order_no)
                )
            ).one()
    finally:
        await engine.dispose()
    assert (order_unit, staff, state) == (unit_id, user_id, "paid")
