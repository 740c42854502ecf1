"""Price push through each platform's price API, against its fake: the price lands in the fake
world and comes back in the next product read; a bad price is refused before anything is
sent; an unknown item is the platform's refusal (classified, not retried); the fakes check
the signature (or token) of a price write like any other call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from bangfu.enums import ErrorClass, PlatformKind
from bangfu.records import ProductRecord
from connectors.base import Connector, ShopConfig
from connectors.errors import AuthError, BadRequestError, PlatformError
from connectors.fakes.clock import FakeClock
from connectors.fakes.server import Running, fake_server
from connectors.registry import connector_class
from tests.connectors.contract import STANDARD_CREDENTIALS, collect

PLATFORMS = ("taobao", "jd", "douyin", "kuaishou", "youzan")
FROZEN_AT = datetime(2024, 6, 15, 4, 0, tzinfo=UTC)


@pytest.fixture(params=PLATFORMS)
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[Running]:
    async with fake_server(request.param, seed=5, orders=10, days=1, clock=FakeClock(frozen_at=FROZEN_AT)) as running:
        yield running


def config_for(fake: Running, **changes: Any) -> ShopConfig:
    creds = fake.credentials
    extra = {k: v for k, v in fake.fake.credential_fields().items() if k not in STANDARD_CREDENTIALS and ":" not in k}
    values: dict[str, Any] = {
        "platform": PlatformKind(fake.platform),
        "base_url": fake.base_url,
        "app_key": creds.app_key,
        "app_secret": creds.app_secret,
        "shop_id": creds.shop_id,
        "access_token": creds.access_token,
        "refresh_token": creds.refresh_token,
        "extra": extra,
    }
    values.update(changes)
    return ShopConfig(**values)


def connect(fake: Running, session: aiohttp.ClientSession, **changes: Any) -> Connector:
    return connector_class(fake.platform)(config_for(fake, **changes), session=session, clock=fake.clock.now)


async def test_a_price_lands_and_reads_back(fake: Running, session: aiohttp.ClientSession) -> None:
    connector = connect(fake, session)
    item = max(fake.world.products(), key=lambda i: len(i.skus))
    sku = item.skus[-1]
    price = sku.price_fen + 123
    result = await connector.push_price(item.item_id, sku.sku_id, price, idempotency_key="bf:price:1:x:0")
    assert (result.platform_item_id, result.platform_sku_id, result.price_fen) == (item.item_id, sku.sku_id, price)
    fresh = fake.world.item(item.item_id)
    assert fresh is not None
    assert {s.sku_id: s.price_fen for s in fresh.skus}[sku.sku_id] == price
    others = {s.sku_id: s.price_fen for s in item.skus if s.sku_id != sku.sku_id}
    assert {s.sku_id: s.price_fen for s in fresh.skus if s.sku_id != sku.sku_id} == others
    # The product sync sees the new price (the listing's price_fen follows).
    products = [p for p in await collect(connector.products()) if isinstance(p, ProductRecord)]
    read = next(p for p in products if p.platform_item_id == item.item_id)
    prices: dict[str | None, int | None] = (
        {s.platform_sku_id: s.price_fen for s in read.skus} if read.skus else {None: read.price_fen}
    )
    assert prices.get(sku.sku_id, prices.get(None)) == price
    # The same price again is harmless: a price write is absolute.
    again = await connector.push_price(item.item_id, sku.sku_id, price, idempotency_key="bf:price:1:x:1")
    assert again.price_fen == price
    assert not connector.stats.retries
    await connector.aclose()


@pytest.mark.parametrize("bad", [0, -5, 100_000_001, True, 12.5])
async def test_a_bad_price_is_refused_before_sending(fake: Running, session: aiohttp.ClientSession, bad: Any) -> None:
    connector = connect(fake, session)
    item = fake.world.products()[0]
    with pytest.raises(BadRequestError, match="price"):
        await connector.push_price(item.item_id, item.skus[0].sku_id, bad, idempotency_key="k")
    assert connector.stats.pages == 0 and not connector.stats.errors
    fresh = fake.world.item(item.item_id)
    assert fresh is not None and fresh.skus[0].price_fen == item.skus[0].price_fen
    await connector.aclose()


async def test_an_unknown_sku_is_the_platforms_refusal(fake: Running, session: aiohttp.ClientSession) -> None:
    connector = connect(fake, session)
    item = fake.world.products()[0]
    with pytest.raises(PlatformError) as refused:
        await connector.push_price(item.item_id, "9999999999999", 1000, idempotency_key="k")
    assert refused.value.error_class in (ErrorClass.BAD_REQUEST, ErrorClass.BAD_RECORD)
    assert str(refused.value), "the platform's message is kept"
    assert not connector.stats.retries, "a refusal is not retried"
    await connector.aclose()


async def test_a_price_write_is_signed_like_every_call(fake: Running, session: aiohttp.ClientSession) -> None:
    good = config_for(fake)
    extra = {k: f"wrong-{k}" if "secret" in k else v for k, v in good.extra.items()}
    connector = connect(fake, session, app_secret="wrong-secret-not-real", access_token="wrong-token", extra=extra)
    item = fake.world.products()[0]
    with pytest.raises(AuthError):
        await connector.push_price(item.item_id, item.skus[0].sku_id, 4321, idempotency_key="k")
    fresh = fake.world.item(item.item_id)
    assert fresh is not None and fresh.skus[0].price_fen == item.skus[0].price_fen
    await connector.aclose()
