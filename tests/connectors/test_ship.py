"""Shipment push through each platform's ship API, against its fake: the order ships in the
fake world (the next read sees it shipped with our tracking number); rate limits and transient
errors are retried; a re-push of the same tracking number is a success, another number a
visible conflict; a refused order (cancelled) and a bad carrier code are bad records; a wrong
signature is refused by the fake (auth) and ships nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from bangfu.enums import Carrier, ErrorClass, OrderStatus, PlatformKind
from connectors.base import Connector, ShopConfig
from connectors.errors import AuthError, PlatformError, RecordError
from connectors.fakes.clock import FakeClock
from connectors.fakes.faults import FaultProfile
from connectors.fakes.server import Running, fake_server
from connectors.fakes.world import FakeOrder
from connectors.ratelimit import RateLimiter
from connectors.registry import connector_class
from connectors.retry import RetryPolicy
from connectors.shipping import ShipConflict
from tests.connectors.contract import STANDARD_CREDENTIALS, VirtualTime

PLATFORMS = ("taobao", "jd", "douyin", "kuaishou", "youzan")
FROZEN_AT = datetime(2024, 6, 15, 4, 0, tzinfo=UTC)


@pytest.fixture(params=PLATFORMS)
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[Running]:
    async with fake_server(request.param, seed=2, orders=40, days=2, clock=FakeClock(frozen_at=FROZEN_AT)) as running:
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


def connect(
    fake: Running, session: aiohttp.ClientSession, *, limiter: Any = None, sleep: Any = None, **changes: Any
) -> Connector:
    extra = {k: v for k, v in (("limiter", limiter), ("sleep", sleep)) if v is not None}
    return connector_class(fake.platform)(config_for(fake, **changes), session=session, clock=fake.clock.now, **extra)


def new_paid_order(fake: Running) -> FakeOrder:
    item = fake.world.products()[0]
    return fake.world.place_order(item.item_id, item.skus[0].sku_id, 1)


def orders(fake: Running) -> list[FakeOrder]:
    return fake.world.orders_created(FROZEN_AT - timedelta(days=5), FROZEN_AT + timedelta(seconds=1))


def public_id(fake: Running, order: FakeOrder) -> str:
    return fake.fake.public_order_id(order.order_id)


async def test_an_order_ships_and_a_repush_is_idempotent(fake: Running, session: aiohttp.ClientSession) -> None:
    connector = connect(fake, session)
    order = new_paid_order(fake)
    result = await connector.ship(public_id(fake, order), Carrier.SF, "SF1234567890")
    assert (result.tracking_no, result.already) == ("SF1234567890", False)
    shipped = fake.world.order(order.order_id)
    assert shipped is not None and shipped.status is OrderStatus.SHIPPED
    assert shipped.tracking_no == "SF1234567890" and shipped.modified_at == FROZEN_AT
    # The next order read sees it shipped.
    record = await connector.order_detail(public_id(fake, order))
    assert record.status is OrderStatus.SHIPPED
    # The same push again: the platform says "already shipped", the tracking matches.
    again = await connector.ship(public_id(fake, order), Carrier.SF, "SF1234567890")
    assert again.already
    # Another tracking number: a visible conflict naming the platform's.
    with pytest.raises(ShipConflict, match="SF1234567890") as conflict:
        await connector.ship(public_id(fake, order), Carrier.ZTO, "ZT99999999999")
    assert conflict.value.error_class is ErrorClass.BAD_RECORD
    assert fake.world.order(order.order_id).tracking_no == "SF1234567890"  # type: ignore[union-attr]
    await connector.aclose()


async def test_a_world_shipped_order_is_a_conflict(fake: Running, session: aiohttp.ClientSession) -> None:
    connector = connect(fake, session)
    order = next(o for o in orders(fake) if o.tracking_no is not None)
    assert order.tracking_no is not None
    with pytest.raises(ShipConflict) as conflict:
        await connector.ship(public_id(fake, order), Carrier.SF, "SF0000000001")
    assert order.tracking_no in conflict.value.platform_tracking
    await connector.aclose()


@pytest.mark.parametrize("kind", ["rate_limit", "server_error"])
async def test_rate_limits_and_transient_errors_are_retried(
    fake: Running, session: aiohttp.ClientSession, kind: str
) -> None:
    # The platform's ban hints and the backoff are honoured on virtual time: waited, not spent.
    vt = VirtualTime()
    connector = connect(fake, session, limiter=RateLimiter(clock=vt.clock, sleep=vt.sleep), sleep=vt.sleep)
    if fake.platform == "jd":
        fake.fake.ban_hint_seconds = None  # type: ignore[attr-defined]
    fake.fake.faults.profile = FaultProfile(**{kind: 1.0}, max_consecutive=2)
    order = new_paid_order(fake)
    result = await connector.ship(public_id(fake, order), Carrier.YTO, "YT1234567890")
    assert not result.already
    assert sum(connector.stats.retries.values()) >= 2 and vt.slept > 0
    assert fake.fake.faults.stats[kind] == 2
    assert fake.world.order(order.order_id).tracking_no == "YT1234567890"  # type: ignore[union-attr]
    await connector.aclose()


async def test_a_wrong_signature_is_refused_and_ships_nothing(fake: Running, session: aiohttp.ClientSession) -> None:
    good = config_for(fake)
    extra = {k: f"wrong-{k}" if "secret" in k else v for k, v in good.extra.items()}
    connector = connect(fake, session, app_secret="wrong-secret-not-real", access_token="wrong-token", extra=extra)
    order = new_paid_order(fake)
    with pytest.raises(AuthError):
        await connector.ship(public_id(fake, order), Carrier.SF, "SF1234567890")
    assert fake.world.order(order.order_id).tracking_no is None  # type: ignore[union-attr]
    await connector.aclose()


async def test_refused_orders_and_bad_values_are_bad_records(fake: Running, session: aiohttp.ClientSession) -> None:
    connector = connect(fake, session)
    unshippable = (OrderStatus.CANCELLED, OrderStatus.CLOSED, OrderStatus.PENDING_PAYMENT)
    cancelled = next(o for o in orders(fake) if o.status in unshippable)
    with pytest.raises(RecordError) as refused:
        await connector.ship(public_id(fake, cancelled), Carrier.SF, "SF1234567890")
    assert not isinstance(refused.value, ShipConflict) and refused.value.message
    assert not connector.stats.retries, "a refusal is not retried"
    order = new_paid_order(fake)
    # The fake checks the carrier code and the tracking number itself.
    with pytest.raises(RecordError):
        await connector._ship(public_id(fake, order), "999999", "SF1234567890")
    with pytest.raises(RecordError):
        await connector._ship(public_id(fake, order), connector.carrier_codes[Carrier.SF], "bad-no")
    # A tracking number that cannot be right is refused before anything is sent.
    pages = connector.stats.pages
    with pytest.raises(RecordError, match="tracking"):
        await connector.ship(public_id(fake, order), Carrier.SF, "12 34")
    with pytest.raises(RecordError, match="carrier"):
        await connector.ship(public_id(fake, order), "UPS", "1Z9999999999")
    assert connector.stats.pages == pages
    assert fake.world.order(order.order_id).tracking_no is None  # type: ignore[union-attr]
    await connector.aclose()


async def test_errors_are_classified(fake: Running, session: aiohttp.ClientSession) -> None:
    quick = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002)
    connector = connector_class(fake.platform)(config_for(fake), session=session, clock=fake.clock.now, retry=quick)
    order = new_paid_order(fake)
    fake.fake.faults.profile = FaultProfile(server_error=1.0, max_consecutive=100)
    with pytest.raises(PlatformError) as failed:
        await connector.ship(public_id(fake, order), Carrier.SF, "SF1234567890")
    assert failed.value.error_class is ErrorClass.TRANSIENT
    await connector.aclose()
