"""Paying for mall orders through the provider adapter against the fake provider: signed
notifications (good, bad, replayed, duplicated, out of order, never sent), the query path,
amount checks, and refunds from the operator console through the adapter into the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bangfu.enums import OrderStatus, RefundStatus
from bangfu.mall import PaymentConfig, configure_payment
from bangfu.models import MallOrder, MallPaymentEvent, Order, Refund
from bangfu.secrets import SecretStore
from bangfu.store import make_engine
from connectors.fakes.pay import FAKE_KEY, FAKE_MCHID, FakePay, PayFaults, RunningPay, fake_pay_server
from connectors.payments import BadSignature, FakePayClient
from tests.web.conftest import World, _client, login
from tests.web.test_mall import _a_product, _buy, mall_world

Client = TestClient[web.Request, web.Application]
__all__ = ["mall_world"]  # the fixture, shared


@dataclass
class Paying:
    client: Client
    pay: RunningPay
    url: str


@pytest.fixture
async def paying(mall_world: World) -> AsyncIterator[Paying]:
    SecretStore().put("mall-pay", {"mchid": FAKE_MCHID, "key": FAKE_KEY})
    async with fake_pay_server() as pay:
        engine = make_engine(mall_world.url)
        async with engine.begin() as conn:
            await configure_payment(conn, PaymentConfig("fakepay", pay.base_url, "mall-pay"), datetime.now(UTC))
        await engine.dispose()
        async for client in _client(mall_world.url):
            yield Paying(client, pay, mall_world.url)


async def _order(url: str, order_no: str) -> tuple[str, str, str | None]:
    """(mall state, order status, paid by)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            state, by = (
                await conn.execute(select(MallOrder.state, MallOrder.paid_by).where(MallOrder.order_no == order_no))
            ).one()
            status = await conn.scalar(select(Order.status).where(Order.platform_order_id == order_no))
            return state, str(status), by
    finally:
        await engine.dispose()


async def _events(url: str, order_no: str | None = None) -> list[tuple[str, str]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            query = select(MallPaymentEvent.kind, MallPaymentEvent.outcome).order_by(MallPaymentEvent.id)
            if order_no is not None:
                query = query.where(MallPaymentEvent.order_no == order_no)
            return [(k, o) for k, o in await conn.execute(query)]
    finally:
        await engine.dispose()


async def _checkout_and_open_pay_page(p: Paying) -> tuple[str, str]:
    """A new order and the provider's pay page URL for it."""
    _, sku_id, _, _ = await _a_product(p.url)
    order_no = await _buy(p.client, sku_id, 1)
    page = await p.client.get(f"/mall/order/{order_no}")
    token = (await page.text()).split('name="_csrf" value="', 1)[1].split('"', 1)[0]
    started = await p.client.post(f"/mall/order/{order_no}/pay", data={"_csrf": token}, allow_redirects=False)
    assert started.status == 302, await started.text()
    pay_url = started.headers["Location"]
    assert pay_url.startswith(p.pay.base_url + "/pay/")
    return order_no, pay_url


async def _press_pay(pay_url: str) -> str:
    """The buyer presses the fake's pay button; where it sends them back."""
    async with aiohttp.ClientSession() as http:
        page = await http.get(pay_url)
        assert "确认支付" in await page.text()
        done = await http.post(pay_url, allow_redirects=False)
        assert done.status == 302
        return done.headers["Location"]


# --------------------------------------------------------------------------- the adapter
def test_notify_signature_verifies_only_with_the_key_and_a_fresh_timestamp() -> None:
    fake = FakePay()
    client = FakePayClient("http://unused", FAKE_MCHID, FAKE_KEY)
    from connectors.fakes.pay import Payment

    now = datetime.now(UTC)
    payment = Payment("BFM1", 1990, "t", "http://x/n", "http://x/r", "wx1", now, "SUCCESS", "4200", now)
    headers, body = fake.notify_request(payment, "SUCCESS", at=now)
    notice = client.verify_notify(headers, body, now=now)
    assert notice.paid and notice.order_no == "BFM1" and notice.amount_fen == 1990 and notice.txn_id == "4200"
    wrong_key, wrong_body = fake.notify_request(payment, "SUCCESS", at=now, key="another-key")
    with pytest.raises(BadSignature, match="does not verify"):
        client.verify_notify(wrong_key, wrong_body, now=now)
    with pytest.raises(BadSignature, match="does not verify"):  # the body changed after signing
        client.verify_notify(headers, body.replace(b"1990", b"1"), now=now)
    with pytest.raises(BadSignature, match="not within"):  # an old message replayed
        client.verify_notify(headers, body, now=now + timedelta(minutes=6))
    with pytest.raises(BadSignature, match="missing"):
        client.verify_notify({}, body, now=now)
    stale_headers, stale_body = fake.notify_request(payment, "NOTPAY", at=now)
    assert not client.verify_notify(stale_headers, stale_body, now=now).paid


# --------------------------------------------------------------------------- over HTTP
async def test_pay_page_notify_marks_paid_and_the_buyer_returns_to_a_paid_order(paying: Paying) -> None:
    order_no, pay_url = await _checkout_and_open_pay_page(paying)
    back = await _press_pay(pay_url)
    assert back.endswith(f"/mall/order/{order_no}/return")
    assert await _order(paying.url, order_no) == ("paid", OrderStatus.PAID.value, "notify")
    assert paying.pay.fake.notifies == [{"order": order_no, "state": "SUCCESS", "status": 200}]
    page = await paying.client.get("/" + back.split("/", 3)[3])
    assert page.status == 200 and "已支付" in await page.text()


async def test_duplicate_and_out_of_order_notifies_are_idempotent(paying: Paying) -> None:
    paying.pay.fake.faults = PayFaults(duplicate_notify=True, stale_notify=True)
    order_no, pay_url = await _checkout_and_open_pay_page(paying)
    await _press_pay(pay_url)
    assert [n["status"] for n in paying.pay.fake.notifies] == [200, 200, 200]
    assert [n["state"] for n in paying.pay.fake.notifies] == ["SUCCESS", "SUCCESS", "NOTPAY"]
    assert await _order(paying.url, order_no) == ("paid", OrderStatus.PAID.value, "notify")
    assert await _events(paying.url, order_no) == [("notify", "paid"), ("notify", "duplicate"), ("notify", "ignored")]


async def test_bad_signature_is_refused_and_the_query_path_pays(paying: Paying) -> None:
    paying.pay.fake.faults = PayFaults(bad_signature=True)
    order_no, pay_url = await _checkout_and_open_pay_page(paying)
    back = await _press_pay(pay_url)
    assert paying.pay.fake.notifies == [{"order": order_no, "state": "SUCCESS", "status": 401}]
    assert (await _order(paying.url, order_no))[0] == "reserved"  # never paid on a bad signature
    assert ("notify", "refused") in await _events(paying.url)
    # The buyer comes back: the mall asks the provider, which says paid.
    path = "/" + back.split("/", 3)[3]
    page = await paying.client.get(path)
    assert page.status == 200 and "已支付" in await page.text()
    assert await _order(paying.url, order_no) == ("paid", OrderStatus.PAID.value, "query")


async def test_dropped_notify_query_pays_and_a_replayed_notify_is_a_duplicate(paying: Paying) -> None:
    paying.pay.fake.faults = PayFaults(drop_notify=True)
    order_no, pay_url = await _checkout_and_open_pay_page(paying)
    await _press_pay(pay_url)
    assert paying.pay.fake.notifies == [] and (await _order(paying.url, order_no))[0] == "reserved"
    await paying.client.get(f"/mall/order/{order_no}/return")
    assert await _order(paying.url, order_no) == ("paid", OrderStatus.PAID.value, "query")
    # The notification arrives after all, then again (a replay of the same message).
    payment = paying.pay.fake.payments[order_no]
    headers, body = paying.pay.fake.notify_request(payment, "SUCCESS", at=datetime.now(UTC))
    for _ in range(2):
        answer = await paying.client.post("/mall/pay/notify", data=body, headers=headers)
        assert answer.status == 200 and (await answer.json())["code"] == "SUCCESS"
    assert (await _events(paying.url, order_no))[-2:] == [("notify", "duplicate"), ("notify", "duplicate")]
    # A message signed long ago, replayed now, is refused.
    old_headers, old_body = paying.pay.fake.notify_request(
        payment, "SUCCESS", at=datetime.now(UTC) - timedelta(hours=1)
    )
    assert (await paying.client.post("/mall/pay/notify", data=old_body, headers=old_headers)).status == 401


async def test_a_notify_with_another_amount_never_pays(paying: Paying) -> None:
    order_no, _ = await _checkout_and_open_pay_page(paying)
    payment = replace(paying.pay.fake.payments[order_no], state="SUCCESS", transaction_id="4200X")
    payment.amount += 1
    payment.success_time = datetime.now(UTC)
    headers, body = paying.pay.fake.notify_request(payment, "SUCCESS", at=datetime.now(UTC))
    answer = await paying.client.post("/mall/pay/notify", data=body, headers=headers)
    assert answer.status == 400
    assert (await _order(paying.url, order_no))[0] == "reserved"
    assert await _events(paying.url, order_no) == [("notify", "mismatch")]


async def test_operator_refund_goes_through_the_provider_into_the_store(paying: Paying) -> None:
    order_no, pay_url = await _checkout_and_open_pay_page(paying)
    await _press_pay(pay_url)
    async for operator in _client(paying.url):
        await login(operator, "operator")
        page = await operator.get("/operator/mall")
        text = await page.text()
        assert page.status == 200 and order_no in text and "全额退款" in text
        assert "13812345678" not in text and "138****5678" in text
        token = text.split('name="_csrf" value="', 1)[1].split('"', 1)[0]
        done = await operator.post(f"/operator/mall/{order_no}/refund", data={"_csrf": token})
        assert done.status == 200 and "已退款" in await done.text() and "全额退款" not in await done.text()
        again = await operator.post(f"/operator/mall/{order_no}/refund", data={"_csrf": token})
        assert again.status == 200 and "已退款" not in await again.text()  # a second click refunds nothing
    engine = make_engine(paying.url)
    try:
        async with engine.connect() as conn:
            amount = await conn.scalar(select(MallOrder.amount_fen).where(MallOrder.order_no == order_no))
            refunds = (await conn.execute(select(Refund).where(Refund.platform_order_id == order_no))).all()
            status = await conn.scalar(select(Order.status).where(Order.platform_order_id == order_no))
            total = await conn.scalar(select(func.sum(Refund.amount_fen)).where(Refund.platform_order_id == order_no))
    finally:
        await engine.dispose()
    assert refunds and all(r.status == RefundStatus.SUCCEEDED and r.order_line_id is not None for r in refunds)
    assert total == amount and status == OrderStatus.CLOSED
    assert paying.pay.fake.payments[order_no].refunded == amount
    # Other roles do not see the page.
    async for host in _client(paying.url):
        await login(host, "host")
        assert (await host.get("/operator/mall")).status == 404
