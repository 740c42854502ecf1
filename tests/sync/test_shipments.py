"""Shipment pushes (sync/shipments.py) against a fake Taobao: a recorded shipment is pushed once
and the fake world has the order shipped; a rate limit that outlasts the request loop leaves it
pending with a backed-off retry time, then it goes through; an auth error fails it, alerts and
stops the shop until an operator's retry; a cancelled order and another tracking number on the
platform fail with the platform's message; an own-mall order is local. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.enums import Carrier, ChannelType, OrderStatus, PlatformKind, ShipmentState
from bangfu.models import Alert, Order, Shipment, Shop
from bangfu.store import session_factory
from connectors.base import Connector, ShopConfig
from connectors.fakes.clock import FakeClock
from connectors.fakes.faults import FaultProfile
from connectors.fakes.server import Running, fake_server
from connectors.registry import connector_class
from connectors.retry import RetryPolicy
from sync.shipments import AUTH_ALERT, ShipmentError, ShipmentPusher

FROZEN = datetime(2024, 6, 15, 4, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = FROZEN

    def __call__(self) -> datetime:
        return self.now


async def _shop(engine: AsyncEngine, fake: Running | None, name: str = "淘宝店") -> int:
    async with session_factory(engine)() as session, session.begin():
        shop = Shop(
            name=name,
            platform=PlatformKind.TAOBAO if fake else PlatformKind.SELFMALL,
            channel_type=ChannelType.ECOMMERCE if fake else ChannelType.SELFMALL,
            platform_shop_id=fake.credentials.shop_id if fake else "county-mall",
            base_url=fake.base_url if fake else None,
            settings={},
        )
        session.add(shop)
        await session.flush()
        return shop.id


async def _order(engine: AsyncEngine, shop_id: int, platform_order_id: str) -> int:
    async with session_factory(engine)() as session, session.begin():
        order = Order(
            shop_id=shop_id,
            platform_order_id=platform_order_id,
            status=OrderStatus.PAID,
            status_rank=OrderStatus.PAID.rank,
            platform_status="WAIT_SELLER_SEND_GOODS",
            created_at=FROZEN - timedelta(hours=1),
            paid_at=FROZEN - timedelta(hours=1),
            modified_at=FROZEN - timedelta(hours=1),
            paid_fen=1000,
        )
        session.add(order)
        await session.flush()
        return order.id


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


def _paid(fake: Running) -> str:
    item = fake.world.products()[0]
    return fake.world.place_order(item.item_id, item.skus[0].sku_id, 1).order_id


async def _shipment(engine: AsyncEngine, shipment_id: int) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(Shipment).where(Shipment.id == shipment_id))).one()


async def test_a_shipment_is_pushed_once(engine: AsyncEngine) -> None:
    async with fake_server("taobao", seed=3, orders=5, days=1, clock=FakeClock(frozen_at=FROZEN)) as fake:
        shop = await _shop(engine, fake)
        tid = _paid(fake)
        order = await _order(engine, shop, tid)
        pusher = ShipmentPusher(engine, connector_factory=_factory(fake), clock=Clock())
        shipment = await pusher.add(order, "sf", "SF1234567890", via="cli")
        assert await pusher.add_by_platform_id(tid, Carrier.SF, "SF1234567890") == shipment  # same: no change
        lines = await pusher.push()
        assert [(x.status, x.platform_order_id) for x in lines] == [("pushed", tid)]
        world_order = fake.world.order(tid)
        assert world_order is not None and world_order.status is OrderStatus.SHIPPED
        assert (world_order.logistics_company, world_order.tracking_no) == ("SF", "SF1234567890")
        row = await _shipment(engine, shipment)
        assert (row.push_state, row.pushed_at, row.already_on_platform) == (ShipmentState.PUSHED, FROZEN, False)
        assert await pusher.push() == []  # nothing due: never sent twice
        with pytest.raises(ShipmentError, match="keeps that tracking"):
            await pusher.add(order, Carrier.ZTO, "ZT1234567890")
        with pytest.raises(ShipmentError, match="carrier"):
            await pusher.add(order, "UPS", "1Z1234567890")
        with pytest.raises(ShipmentError, match="no order"):
            await pusher.add_by_platform_id("404", Carrier.SF, "SF1234567890")


async def test_a_rate_limit_backs_off_then_goes_through(engine: AsyncEngine) -> None:
    async with fake_server("taobao", seed=3, orders=5, days=1, clock=FakeClock(frozen_at=FROZEN)) as fake:
        fake.fake.ban_seconds = 0  # type: ignore[attr-defined]
        shop = await _shop(engine, fake)
        tid = _paid(fake)
        clock = Clock()
        pusher = ShipmentPusher(engine, connector_factory=_factory(fake), clock=clock, base_delay=30)
        shipment = await pusher.add(await _order(engine, shop, tid), Carrier.YTO, "YT1234567890")
        fake.fake.faults.profile = FaultProfile(rate_limit=1.0, max_consecutive=100)
        lines = await pusher.push()
        assert [x.status for x in lines] == ["pending"]
        row = await _shipment(engine, shipment)
        assert (row.push_state, row.attempts, row.last_error_class) == (ShipmentState.PENDING, 1, "rate_limit")
        assert row.next_attempt_at >= FROZEN + timedelta(seconds=30)
        assert await pusher.push() == []  # not due yet
        fake.fake.faults.profile = FaultProfile()
        clock.now = row.next_attempt_at
        assert [x.status for x in await pusher.push()] == ["pushed"]
        row = await _shipment(engine, shipment)
        assert (row.push_state, row.attempts, row.last_error) == (ShipmentState.PUSHED, 2, None)
        assert fake.world.order(tid).tracking_no == "YT1234567890"  # type: ignore[union-attr]


async def test_transient_errors_fail_after_max_attempts(engine: AsyncEngine) -> None:
    async with fake_server("taobao", seed=3, orders=5, days=1, clock=FakeClock(frozen_at=FROZEN)) as fake:
        shop = await _shop(engine, fake)
        clock = Clock()
        pusher = ShipmentPusher(engine, connector_factory=_factory(fake), clock=clock, max_attempts=2, base_delay=1)
        shipment = await pusher.add(await _order(engine, shop, _paid(fake)), Carrier.SF, "SF1234567890")
        fake.fake.faults.profile = FaultProfile(server_error=1.0, max_consecutive=100)
        assert [x.status for x in await pusher.push()] == ["pending"]
        clock.now = FROZEN + timedelta(hours=1)
        assert [x.status for x in await pusher.push()] == ["failed"]
        row = await _shipment(engine, shipment)
        assert (row.push_state, row.attempts, row.last_error_class) == (ShipmentState.FAILED, 2, "transient")


async def test_an_auth_error_fails_and_stops_the_shop(engine: AsyncEngine) -> None:
    async with fake_server("taobao", seed=3, orders=5, days=1, clock=FakeClock(frozen_at=FROZEN)) as fake:
        shop = await _shop(engine, fake)
        first, second = _paid(fake), _paid(fake)
        bad = ShipmentPusher(engine, connector_factory=_factory(fake, app_secret="wrong-secret"), clock=Clock())
        one = await bad.add(await _order(engine, shop, first), Carrier.SF, "SF1234567890")
        two = await bad.add(await _order(engine, shop, second), Carrier.SF, "SF1234567891")
        lines = await bad.push()
        assert [(x.shipment_id, x.status) for x in lines] == [(one, "failed"), (two, "skipped")]
        row = await _shipment(engine, one)
        assert (row.push_state, row.last_error_class) == (ShipmentState.FAILED, "auth")
        assert "Invalid signature" in row.last_error
        async with engine.connect() as conn:
            alerts = list(await conn.execute(select(Alert.kind, Alert.shop_id).where(Alert.resolved_at.is_(None))))
        assert [(a.kind, a.shop_id) for a in alerts] == [(AUTH_ALERT, shop)]
        # Stopped: the good credentials do not help until an operator retries.
        good = ShipmentPusher(engine, connector_factory=_factory(fake), clock=Clock())
        assert [x.status for x in await good.push()] == ["skipped"]
        assert fake.world.order(first).tracking_no is None  # type: ignore[union-attr]
        assert await good.retry(one, shop_ids=[shop + 1]) is False  # out of scope
        assert await good.retry(one)
        assert sorted(x.status for x in await good.push()) == ["pushed", "pushed"]
        assert fake.world.order(second).tracking_no == "SF1234567891"  # type: ignore[union-attr]


async def test_refusals_and_conflicts_fail_with_the_platforms_message(engine: AsyncEngine) -> None:
    async with fake_server("taobao", seed=2, orders=40, days=2, clock=FakeClock(frozen_at=FROZEN)) as fake:
        shop = await _shop(engine, fake)
        orders = fake.world.orders_created(FROZEN - timedelta(days=5), FROZEN + timedelta(seconds=1))
        cancelled = next(o for o in orders if o.status is OrderStatus.CANCELLED)
        shipped = next(o for o in orders if o.tracking_no is not None)
        pusher = ShipmentPusher(engine, connector_factory=_factory(fake), clock=Clock())
        refused = await pusher.add(await _order(engine, shop, cancelled.order_id), Carrier.SF, "SF1234567890")
        conflict = await pusher.add(await _order(engine, shop, shipped.order_id), Carrier.SF, "SF1234567899")
        again = await pusher.add(await _order(engine, shop, shipped.order_id + "0"), Carrier.SF, "SF1234567898")
        assert (await _shipment(engine, again)).push_state is ShipmentState.PENDING
        statuses = {x.shipment_id: x.status for x in await pusher.push()}
        assert statuses == {refused: "failed", conflict: "failed", again: "failed"}
        row = await _shipment(engine, refused)
        assert (row.last_error_class, row.attempts) == ("bad_record", 1)
        assert "B27" in row.last_error and "订单状态不允许发货" in row.last_error
        row = await _shipment(engine, conflict)
        assert row.last_error_class == "conflict" and str(shipped.tracking_no) in row.last_error


async def test_an_own_mall_order_is_local(engine: AsyncEngine) -> None:
    shop = await _shop(engine, None, name="县自营商城")
    pusher = ShipmentPusher(engine, clock=Clock())
    shipment = await pusher.add(await _order(engine, shop, "M0001"), Carrier.EMS, "EMS123456789")
    assert (await _shipment(engine, shipment)).push_state is ShipmentState.LOCAL
    assert await pusher.push() == []
    assert await pusher.retry(shipment) is False
