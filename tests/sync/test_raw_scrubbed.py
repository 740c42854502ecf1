"""Issue 12 item 12: no buyer's personal data in the stored raw payloads, on every platform.

Before, ``orders.raw`` kept what the platform sent: Taobao's ``buyer_open_uid`` and
``buyer_nick``, JD's ``pin`` and ``consigneeInfo``, Douyin's ``doudian_open_id`` and
``encrypt_post_receiver`` (the nick, on the fake), Kuaishou's ``buyerOpenId``/``buyerNick``,
Youzan's ``yz_open_id``, the mall's ``buyer_id``; refunds likewise (Taobao ``buyer_nick``, JD
``customerPin``). The fakes mask receivers, so the connectors here are wrapped to add the
receiver name, phone, address (and an identity number) each platform documents to every order
they read, as a real gateway would send them.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bangfu.enums import SyncStream
from bangfu.models import Order, QuarantinedRecord, Refund
from bangfu.secrets import SecretStore
from bangfu.store import session_factory
from connectors.base import Connector
from connectors.fakes.clock import FakeClock
from connectors.fakes.server import Running, fake_server
from connectors.fakes.youzan import open_id
from connectors.registry import connector_class
from connectors.retry import RetryPolicy
from sync.engine import SyncEngine, SyncPolicy
from sync.shops import register, shop_config, specs_from_fakes

FAST_RETRY = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05)
PLATFORMS = ["taobao", "jd", "douyin", "kuaishou", "youzan", "selfmall"]


def _receiver(order_id: str) -> dict[str, str]:
    n = zlib.crc32(order_id.encode()) % 10**8
    return {
        "name": f"收货人{n:08d}",
        "phone": f"139{n:08d}",
        "address": f"幸福路{n:08d}号",
        "id_card": f"5133{n:08d}00001X"[:18],
    }


def _leak(platform: str, raw: dict[str, Any], r: dict[str, str]) -> dict[str, Any]:
    """``raw`` with the receiver fields ``platform`` documents (PLATFORMS.md), in clear."""
    if platform == "taobao":
        return {**raw, "receiver_name": r["name"], "receiver_mobile": r["phone"], "receiver_address": r["address"]}
    if platform == "jd":
        return {**raw, "consigneeInfo": {"fullname": r["name"], "mobile": r["phone"], "fullAddress": r["address"]}}
    if platform == "douyin":
        return {
            **raw,
            "post_receiver": r["name"],
            "post_tel": r["phone"],
            "post_addr": {"detail": r["address"]},
            "user_id_info": {"id_card_no": r["id_card"], "id_card_name": r["name"]},
        }
    if platform == "kuaishou":
        return {**raw, "orderAddress": {"consignee": r["name"], "mobile": r["phone"], "address": r["address"]}}
    if platform == "youzan":
        info = dict(raw["full_order_info"])
        info["buyer_info"] = {**info["buyer_info"], "fans_nickname": r["name"], "buyer_phone": r["phone"]}
        info["address_info"] = {
            "receiver_name": r["name"],
            "receiver_tel": r["phone"],
            "delivery_address": r["address"],
        }
        info["orders"] = [{**o, "buyer_messages": f"身份证:{r['id_card']}"} for o in info["orders"]]
        return {**raw, "full_order_info": info}
    return {**raw, "buyer_nick": r["name"], "buyer_phone": r["phone"]}  # selfmall


def _leaky(platform: str, leaked: set[str]) -> type[Connector]:
    base: Any = connector_class(platform)

    class Leaky(base):  # type: ignore[misc]
        def _with_receiver(self, raw: Any) -> Any:
            order_id = self.record_id(SyncStream.ORDERS, raw)
            if order_id is None:
                return raw
            receiver = _receiver(order_id)
            leaked.update(receiver.values())
            return _leak(platform, dict(raw), receiver)

        async def _orders_window(self, start: Any, end: Any) -> AsyncIterator[Any]:
            async for raw in super()._orders_window(start, end):
                yield self._with_receiver(raw)

        async def _order_detail_raw(self, platform_order_id: str) -> Any:
            return self._with_receiver(await super()._order_detail_raw(platform_order_id))

    return Leaky


async def _register(engine: AsyncEngine, fake: Running, tmp_path: Path) -> SecretStore:
    lines = tmp_path / "fakes.jsonl"
    lines.write_text(orjson.dumps(fake.describe()).decode() + "\nready\n")
    secrets = SecretStore(tmp_path / "secrets.json")
    async with session_factory(engine)() as session, session.begin():
        await register(session, specs_from_fakes(lines), secrets)
    return secrets


def _truth(fake: Running) -> set[str]:
    """Every buyer id and nick the fake's world holds (and Youzan's open id of each)."""
    world = fake.world
    orders = world.orders_created(world.now() - timedelta(days=400), world.now() + timedelta(days=1))
    assert orders
    values = {o.buyer_id for o in orders} | {o.buyer_nick for o in orders}
    if fake.platform == "youzan":
        values |= {open_id(o.buyer_id) for o in orders}
    return values


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_no_buyer_id_nick_or_receiver_in_stored_raw_payloads(
    engine: AsyncEngine, tmp_path: Path, platform: str
) -> None:
    """Sync a fake shop; neither the buyer ids and nicks of the fake's truth nor the receiver
    names, phones, addresses and identity numbers the platform sent appear anywhere in the
    stored ``orders.raw``, ``refunds.raw`` or ``quarantined_records.raw``; the buyer id that
    remains is the keyed hash ``orders.buyer_ref`` holds."""
    clock = FakeClock()
    leaked: set[str] = set()
    leaky = _leaky(platform, leaked)
    async with fake_server(platform, seed=5, orders=150, days=6, clock=clock) as fake:
        clock.freeze(clock.now())
        secrets = await _register(engine, fake, tmp_path)
        make: Callable[[Any], Connector] = lambda shop: leaky(shop_config(shop, secrets), retry=FAST_RETRY)  # noqa: E731
        sync = SyncEngine(
            engine,
            secrets=secrets,
            policy=SyncPolicy(lag=timedelta(0), lookback=timedelta(days=8)),
            connector_factory=make,
        )
        results = await sync.sync_all(streams=[SyncStream.ORDERS, SyncStream.REFUNDS], until_caught_up=True)
        assert all(o.ok for outcomes in results.values() for o in outcomes), results
        truth = _truth(fake)
    async with engine.connect() as conn:
        orders = (await conn.execute(select(Order.raw, Order.buyer_ref))).all()
        refunds = list(await conn.scalars(select(Refund.raw)))
        held = list(await conn.scalars(select(QuarantinedRecord.raw)))
    assert orders and refunds and leaked
    stored = orjson.dumps([[raw for raw, _ in orders], refunds, held]).decode()
    found = sorted(v for v in truth | leaked if v in stored)
    assert found == [], f"{platform}: personal data in stored raw payloads: {found[:5]}"
    for raw, ref in orders:
        assert ref is not None and f"hmac:{ref}" in orjson.dumps(raw).decode()
