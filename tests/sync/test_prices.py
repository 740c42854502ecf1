"""Price pushes (sync/prices.py) against a fake Taobao: a channel price is pushed once and the
listing shows it; a second pass sends nothing; a refusal is ``failed`` with the platform's
message and sent again next pass; a lost answer is ``uncertain``; shops without an endpoint
are skipped. Also: the product sync keeps an operator's mapping, and order lines take their
listing's SKU. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.enums import ChannelType, PlatformKind, SupplierKind
from bangfu.listing_map import ListingKey, SkuChoice, set_mapping, suggest
from bangfu.models import ChannelPrice, Listing, PricePush, Product, Region, Shop, Sku, Supplier
from bangfu.records import ProductRecord, SkuRecord
from bangfu.store import session_factory
from bangfu.upsert import upsert_products
from connectors.base import Connector, ShopConfig
from connectors.fakes.clock import FakeClock
from connectors.fakes.server import Running, fake_server
from connectors.registry import connector_class
from connectors.retry import RetryPolicy
from sync.prices import PricePusher

FROZEN = datetime(2024, 6, 15, 4, 0, tzinfo=UTC)


async def _world(engine: AsyncEngine, fake: Running) -> dict[str, Any]:
    """One shop on the fake, a SKU, a listing of the fake's first multi-SKU item, a channel price."""
    item = max(fake.world.products(), key=lambda i: len(i.skus))
    sku = item.skus[0]
    async with session_factory(engine)() as session, session.begin():
        county = Region(code="513300", name="甘孜州", level="county", assisted=True)
        session.add(county)
        await session.flush()
        supplier = Supplier(
            credit_code="91513300TEST00001X", name="社", kind=SupplierKind.COOPERATIVE, county_id=county.id
        )
        session.add(supplier)
        await session.flush()
        product = Product(spu_code="SPU-1", name="牦牛肉干", category="test", supplier_id=supplier.id)
        session.add(product)
        await session.flush()
        hub = Sku(sku_code="GZ-1", product_id=product.id, spec="250g", unit="袋", retail_price_fen=100)
        shop = Shop(
            name="淘宝店",
            platform=PlatformKind.TAOBAO,
            channel_type=ChannelType.ECOMMERCE,
            platform_shop_id=fake.credentials.shop_id,
            base_url=fake.base_url,
            settings={},
        )
        session.add_all([hub, shop])
        await session.flush()
        listing = Listing(
            shop_id=shop.id,
            sku_id=hub.id,
            platform_item_id=item.item_id,
            platform_sku_id=sku.sku_id,
            price_fen=sku.price_fen,
            allocated_stock=0,
        )
        session.add(listing)
        await session.flush()
        session.add(ChannelPrice(sku_id=hub.id, shop_id=shop.id, price_fen=sku.price_fen + 500, set_at=FROZEN))
        return {
            "shop": shop.id,
            "listing": listing.id,
            "item": item.item_id,
            "sku": sku.sku_id,
            "price": sku.price_fen + 500,
        }


def _factory(fake: Running, **changes: Any) -> Callable[[Shop], Connector]:
    creds = fake.credentials

    def make(shop: Shop) -> Connector:
        config = ShopConfig(
            platform=PlatformKind.TAOBAO,
            base_url=str(shop.base_url),
            app_key=creds.app_key,
            app_secret=changes.get("app_secret", creds.app_secret),
            shop_id=creds.shop_id,
            access_token=creds.access_token,
        )
        retry = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002)
        return connector_class("taobao")(config, clock=fake.clock.now, retry=retry, timeout=1.0)

    return make


async def _pushes(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(select(PricePush).order_by(PricePush.id)))


async def test_a_price_is_pushed_once_and_shown(engine: AsyncEngine) -> None:
    async with fake_server("taobao", seed=3, orders=5, days=1, clock=FakeClock(frozen_at=FROZEN)) as fake:
        facts = await _world(engine, fake)
        pusher = PricePusher(engine, connector_factory=_factory(fake), clock=lambda: FROZEN)
        assert [line.status for line in await pusher.plan()] == ["planned"]
        lines = await pusher.push()
        assert [(x.status, x.price_fen) for x in lines] == [("done", facts["price"])]
        fresh = fake.world.item(facts["item"])
        assert fresh is not None and {s.sku_id: s.price_fen for s in fresh.skus}[facts["sku"]] == facts["price"]
        pushes = await _pushes(engine)
        assert [(p.status, p.price_fen, p.platform_price_fen) for p in pushes] == [
            ("done", facts["price"], facts["price"])
        ]
        assert pushes[0].idempotency_key == f"bf:price:{facts['listing']}:{facts['price']}:0"
        async with engine.connect() as conn:
            assert await conn.scalar(select(Listing.price_fen).where(Listing.id == facts["listing"])) == facts["price"]
        # Idempotent: the same price is not pushed again.
        again = await pusher.push()
        assert [x.status for x in again] == ["unchanged"] and len(await _pushes(engine)) == 1


async def test_a_refusal_fails_with_the_platforms_message_and_is_retried(engine: AsyncEngine) -> None:
    async with fake_server("taobao", seed=3, orders=5, days=1, clock=FakeClock(frozen_at=FROZEN)) as fake:
        facts = await _world(engine, fake)
        async with engine.begin() as conn:
            await conn.execute(update(Listing).values(platform_sku_id="4242424242"))
        pusher = PricePusher(engine, connector_factory=_factory(fake), clock=lambda: FROZEN)
        lines = await pusher.push()
        assert [x.status for x in lines] == ["failed"]
        pushes = await _pushes(engine)
        assert pushes[0].status == "failed" and "SKU 4242424242" in pushes[0].error and "bad_request" in pushes[0].error
        async with engine.begin() as conn:
            await conn.execute(update(Listing).values(platform_sku_id=facts["sku"]))
        assert [x.status for x in await pusher.push()] == ["done"], "a failed push is sent again"
        assert [p.status for p in await _pushes(engine)] == ["failed", "done"]


async def test_no_answer_is_uncertain_and_no_endpoint_is_skipped(engine: AsyncEngine) -> None:
    async with fake_server("taobao", seed=3, orders=5, days=1, clock=FakeClock(frozen_at=FROZEN)) as fake:
        await _world(engine, fake)
        base = fake.base_url
    # The fake is gone: nothing answers at its address.
    async with engine.begin() as conn:
        await conn.execute(update(Shop).values(base_url=base))
    pusher = PricePusher(engine, connector_factory=_factory(fake), clock=lambda: FROZEN)
    lines = await pusher.push()
    assert [x.status for x in lines] == ["uncertain"] and lines[0].error
    assert [p.status for p in await _pushes(engine)] == ["uncertain"]
    async with engine.begin() as conn:
        await conn.execute(update(Shop).values(base_url=None))
    assert [x.status for x in await pusher.push()] == ["skipped"]
    assert len(await _pushes(engine)) == 1


async def test_the_product_sync_keeps_a_manual_mapping(engine: AsyncEngine) -> None:
    async with fake_server("taobao", seed=3, orders=5, days=1, clock=FakeClock(frozen_at=FROZEN)) as fake:
        facts = await _world(engine, fake)
    record = ProductRecord(
        platform_item_id=facts["item"],
        title="牦牛肉干",
        outer_id=None,
        price_fen=990,
        stock=5,
        on_sale=True,
        modified_at=FROZEN,
        skus=(SkuRecord(platform_sku_id=facts["sku"], outer_id="GZ-1", spec="250g", price_fen=990, stock=5),),
        raw={},
    )
    async with engine.begin() as conn:
        await set_mapping(conn, ListingKey(facts["shop"], facts["item"], facts["sku"]), None, user_id=None, now=FROZEN)
        await upsert_products(conn, facts["shop"], [record], now=FROZEN)
        kept = await conn.scalar(select(Listing.sku_id).where(Listing.id == facts["listing"]))
        assert kept is None, "an operator's unmap stands although the merchant code matches"
        await conn.execute(update(Listing).values(mapping="auto"))
        await upsert_products(conn, facts["shop"], [record], now=FROZEN)
        auto = await conn.scalar(select(Listing.sku_id).where(Listing.id == facts["listing"]))
        assert auto == await conn.scalar(select(Sku.id).where(Sku.sku_code == "GZ-1"))
        assert await conn.scalar(select(func.count()).select_from(Listing)) == 1


@pytest.mark.parametrize(
    ("outer", "title", "expected"),
    [
        ("gz-2", "随便", [("GZ-2", "outer_id")]),
        (None, "甘孜牦牛肉干 250g", [("GZ-1", "title")]),
        ("GZ-2", "牦牛肉干250g", [("GZ-2", "outer_id"), ("GZ-1", "title")]),
        (None, "完全无关的商品", []),
        (None, None, []),
    ],
)
def test_suggestions_merchant_code_first_then_title(outer: str | None, title: str | None, expected: list[Any]) -> None:
    skus = [
        SkuChoice(1, "GZ-1", "牦牛肉干 250g"),
        SkuChoice(2, "GZ-2", "青稞酒 500ml"),
        SkuChoice(3, "GZ-3", "松茸 100g"),
    ]
    got = [(s.sku_code, s.reason) for s in suggest(outer, title, skus)]
    assert got == expected
