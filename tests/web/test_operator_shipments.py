"""The operator console's shipments page (/operator/shipments): every shipment with its push
state, attempts and the platform's last error; the retry button makes a failed one due again
(an auth failure's retry resolves the shop's alert); an operator sees their shops only; other
roles, other shops' shipments and pushed ones are a 404."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select

from bangfu.enums import Carrier, ShipmentState
from bangfu.models import Alert, Order, Shipment, User, UserShop
from bangfu.store import make_engine
from sync.shipments import AUTH_ALERT
from tests.web.conftest import World, _client, csrf_of, login

OTHER_ROLES = ("host", "coop", "county", "unit")


async def _exec(url: str, *statements: Any) -> list[Any]:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            return [await conn.execute(statement) for statement in statements]
    finally:
        await engine.dispose()


async def _rows(url: str, statement: Any) -> list[Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(statement)).all())
    finally:
        await engine.dispose()


async def test_shipments_page_retry_and_scope(sqlite_world: World, tmp_path: Path) -> None:
    target = tmp_path / "world.db"
    shutil.copyfile(sqlite_world.url.removeprefix("sqlite+aiosqlite:///"), target)
    url = f"sqlite+aiosqlite:///{target}"
    await _exec(url, delete(Shipment))
    orders = await _rows(url, select(Order.id, Order.shop_id, Order.platform_order_id).order_by(Order.id))
    one = next(o for o in orders if o.shop_id == 1)
    two = next(o for o in orders if o.shop_id == 2)
    three = next(o for o in orders if o.shop_id == 1 and o.id != one.id)
    now = datetime.now(UTC)

    def row(order: Any, state: ShipmentState, tracking: str, **extra: Any) -> Any:
        return insert(Shipment).values(
            order_id=order.id, shop_id=order.shop_id, carrier=Carrier.SF, tracking_no=tracking, recorded_via="cli",
            recorded_at=now, push_state=state, attempts=extra.pop("attempts", 0), already_on_platform=False, **extra,
        )  # fmt: skip

    await _exec(
        url,
        row(one, ShipmentState.FAILED, "SF1000000001", attempts=1, last_error_class="auth",
            last_error="[taobao 25] Invalid signature"),
        row(three, ShipmentState.PUSHED, "SF1000000003", attempts=1, pushed_at=now),
        row(two, ShipmentState.PENDING, "SF1000000002", attempts=2, last_error_class="rate_limit",
            last_error="App Call Limited", next_attempt_at=now + timedelta(minutes=5)),
        insert(Alert).values(kind=AUTH_ALERT, severity="error", shop_id=1, message="stopped", created_at=now),
    )  # fmt: skip
    ids = {r.tracking_no: r.id for r in await _rows(url, select(Shipment.id, Shipment.tracking_no))}
    async for client in _client(url):
        await login(client, "admin")
        page = await client.get("/operator/shipments")
        body = await page.text()
        assert page.status == 200 and "发货回传" in body
        for tracking in ("SF1000000001", "SF1000000002", "SF1000000003"):
            assert tracking in body
        assert "Invalid signature" in body and "App Call Limited" in body and "顺丰速运" in body
        assert body.count('action="/operator/shipments/') == 2  # failed and pending; not the pushed one
        failed = await client.get("/operator/shipments?state=failed")
        text = await failed.text()
        assert "SF1000000001" in text and "SF1000000002" not in text
        assert (await client.get("/operator/shipments?state=nope")).status == 400
        assert (await client.get("/operator/shipments?shop=999999")).status == 404
        csrf = await csrf_of(client, "/operator/shipments")
        pushed = await client.post(f"/operator/shipments/{ids['SF1000000003']}/retry", data={"_csrf": csrf})
        assert pushed.status == 404
        retried = await client.post(
            f"/operator/shipments/{ids['SF1000000001']}/retry", data={"_csrf": csrf}, allow_redirects=False
        )
        assert retried.status == 303 and retried.headers["Location"].endswith(f"retried={ids['SF1000000001']}")
        [(state, attempts)] = await _rows(
            url, select(Shipment.push_state, Shipment.attempts).where(Shipment.id == ids["SF1000000001"])
        )
        assert (ShipmentState(state), attempts) == (ShipmentState.PENDING, 0)
        assert await _rows(url, select(Alert.id).where(Alert.kind == AUTH_ALERT, Alert.resolved_at.is_(None))) == []
        # An operator of shop 2 only.
        [(operator,)] = await _rows(url, select(User.id).where(User.name == "operator"))
        await _exec(url, insert(UserShop).values(user_id=operator, shop_id=2))
        await client.post("/logout", data={"_csrf": csrf})
        await login(client, "operator")
        mine = await (await client.get("/operator/shipments")).text()
        assert "SF1000000002" in mine and "SF1000000001" not in mine
        assert (await client.get("/operator/shipments?shop=1")).status == 404
        csrf = await csrf_of(client, "/operator/shipments")
        other = await client.post(f"/operator/shipments/{ids['SF1000000001']}/retry", data={"_csrf": csrf})
        assert other.status == 404
        for role in OTHER_ROLES:
            await client.post("/logout", data={"_csrf": csrf})
            await login(client, role)
            assert (await client.get("/operator/shipments")).status == 404, role
            csrf = await csrf_of(client, "/")
            retry = await client.post(f"/operator/shipments/{ids['SF1000000002']}/retry", data={"_csrf": csrf})
            assert retry.status == 404, role
