"""A fake payment provider for the county's own mall, in the manner of WeChat Pay v3.

Obviously fake merchant credentials (:data:`FAKE_MCHID`, :data:`FAKE_KEY`). Its own signing
code (the fakes share none with the connectors): requests must carry a valid
``Authorization: BF-HMAC-SHA256 ...`` header (HMAC-SHA256 under the merchant key of
``METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY\\n``), and every notification it sends is signed in
``Wechatpay-Signature`` over ``TIMESTAMP\\nNONCE\\nBODY\\n``.

Routes:

* ``POST /v3/pay/transactions/native`` ``{mchid, out_trade_no, description, amount: {total},
  notify_url, return_url}`` -> ``{prepay_id, pay_url}`` (the same order again: the same answer;
  the same order number with another amount: 400 ``OUT_TRADE_NO_USED``);
* ``GET /pay/{prepay_id}``: the demo's pay page (amount, order number, a pay button);
  ``POST /pay/{prepay_id}``: pays, sends the notification(s) (as the faults say) and redirects
  the buyer to ``return_url``;
* ``GET /v3/pay/transactions/out-trade-no/{no}`` -> ``{out_trade_no, transaction_id,
  trade_state: NOTPAY|SUCCESS|REFUND, amount: {total}, success_time}``;
* ``POST /v3/refund/domestic/refunds`` ``{out_trade_no, out_refund_no, reason, amount:
  {refund, total}}`` -> ``{refund_id, out_refund_no, status: SUCCESS, amount: {refund}}``
  (idempotent by ``out_refund_no``; more than what is left: 400 ``NOT_ENOUGH``);
* test hooks (unsigned): ``POST /_fake/pay/{out_trade_no}`` pays as the button does, without
  the redirect; ``GET|POST /_fake/faults`` reads or sets :class:`PayFaults`; ``GET
  /_fake/notifies`` lists every notification sent and the status the mall answered.

Faults (:class:`PayFaults`): ``duplicate_notify`` (each notification sent twice),
``stale_notify`` (out of order: after the success, an older ``NOTPAY`` notification of the same
order), ``drop_notify`` (no notification at all: the mall must query), ``bad_signature`` (the
notification signed with another key: the mall must refuse it).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
from aiohttp import web

__all__ = ["FAKE_KEY", "FAKE_MCHID", "FakePay", "PayFaults", "RunningPay", "fake_pay_server", "start_pay"]

FAKE_MCHID = "1900000109-FAKE"
FAKE_KEY = "fake-pay-key-not-a-secret-0000000000"
_AUTH = re.compile(r'(\w+)="([^"]*)"')
REQUEST_SKEW = 300  # seconds


def _sign(key: str, message: str) -> str:
    return base64.b64encode(hmac.digest(key.encode(), message.encode(), hashlib.sha256)).decode()


@dataclass
class PayFaults:
    duplicate_notify: bool = False
    stale_notify: bool = False
    drop_notify: bool = False
    bad_signature: bool = False


@dataclass
class Payment:
    out_trade_no: str
    amount: int
    description: str
    notify_url: str
    return_url: str
    prepay_id: str
    created_at: datetime
    state: str = "NOTPAY"
    transaction_id: str | None = None
    success_time: datetime | None = None
    refunded: int = 0
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)


class FakePay:
    def __init__(self, *, mchid: str = FAKE_MCHID, key: str = FAKE_KEY, faults: PayFaults | None = None) -> None:
        self.mchid, self.key = mchid, key
        self.faults = faults or PayFaults()
        self.payments: dict[str, Payment] = {}
        self.by_prepay: dict[str, str] = {}
        self.notifies: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ signing
    def _check_auth(self, request: web.Request, body: str) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, rest = header.partition(" ")
        fields = dict(_AUTH.findall(rest))
        if scheme != "BF-HMAC-SHA256" or fields.get("mchid") != self.mchid:
            raise _error(401, "SIGN_ERROR", "missing or unknown merchant")
        stamp = fields.get("timestamp", "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > REQUEST_SKEW:
            raise _error(401, "SIGN_ERROR", "timestamp out of range")
        message = f"{request.method}\n{request.path_qs}\n{stamp}\n{fields.get('nonce_str', '')}\n{body}\n"
        if not hmac.compare_digest(_sign(self.key, message), fields.get("signature", "")):
            raise _error(401, "SIGN_ERROR", "signature does not verify")

    def notify_request(
        self, payment: Payment, state: str, *, at: datetime, key: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body of a notification about ``payment`` in ``state``."""
        event = "TRANSACTION.SUCCESS" if state == "SUCCESS" else f"TRANSACTION.{state}"
        body = orjson.dumps(
            {
                "id": f"EV-{secrets.token_hex(8)}",
                "create_time": at.isoformat(),
                "event_type": event,
                "resource_type": "encrypt-resource",
                "resource": {
                    "mchid": self.mchid,
                    "out_trade_no": payment.out_trade_no,
                    "transaction_id": payment.transaction_id,
                    "trade_state": state,
                    "amount": {"total": payment.amount, "currency": "CNY"},
                    "success_time": payment.success_time.isoformat() if payment.success_time else None,
                },
            }
        )
        stamp, nonce = str(int(at.timestamp())), secrets.token_hex(16)
        signature = _sign(key or self.key, f"{stamp}\n{nonce}\n{body.decode()}\n")
        headers = {
            "Content-Type": "application/json",
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": "FAKE-SERIAL-0001",
        }
        return headers, body

    async def _deliver(self, payment: Payment, state: str, at: datetime) -> None:
        key = "wrong-key-for-a-bad-signature" if self.faults.bad_signature else None
        headers, body = self.notify_request(payment, state, at=at, key=key)
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.post(payment.notify_url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(10)) as resp,
            ):
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            status = 0
            self.notifies.append({"order": payment.out_trade_no, "state": state, "status": status, "error": str(exc)})
            return
        self.notifies.append({"order": payment.out_trade_no, "state": state, "status": status})

    async def pay(self, payment: Payment) -> None:
        """The buyer pays: SUCCESS, then the notification(s) the faults call for."""
        now = datetime.now(UTC)
        if payment.state == "NOTPAY":
            payment.state = "SUCCESS"
            payment.transaction_id = f"4200{secrets.randbelow(10**14):014d}"
            payment.success_time = now.replace(microsecond=0)
        if self.faults.drop_notify:
            return
        await self._deliver(payment, "SUCCESS", now)
        if self.faults.duplicate_notify:
            await self._deliver(payment, "SUCCESS", now)
        if self.faults.stale_notify:  # an older "not paid" message arrives after the success
            await self._deliver(payment, "NOTPAY", now - timedelta(seconds=30))

    # ------------------------------------------------------------------ routes
    async def create(self, request: web.Request) -> web.Response:
        body = await request.text()
        self._check_auth(request, body)
        try:
            data = orjson.loads(body)
            out_trade_no, amount = str(data["out_trade_no"]), int(data["amount"]["total"])
            notify_url, return_url = str(data["notify_url"]), str(data["return_url"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise _error(400, "PARAM_ERROR", "bad request body") from None
        if amount <= 0:
            raise _error(400, "PARAM_ERROR", "amount must be positive")
        payment = self.payments.get(out_trade_no)
        if payment is not None and payment.amount != amount:
            raise _error(400, "OUT_TRADE_NO_USED", "order number used with another amount")
        if payment is None:
            prepay = f"wx{secrets.token_hex(12)}"
            payment = Payment(
                out_trade_no,
                amount,
                str(data.get("description", "")),
                notify_url,
                return_url,
                prepay,
                datetime.now(UTC),
            )
            self.payments[out_trade_no] = payment
            self.by_prepay[prepay] = out_trade_no
        base = f"{request.scheme}://{request.host}"
        return web.json_response({"prepay_id": payment.prepay_id, "pay_url": f"{base}/pay/{payment.prepay_id}"})

    def _by_prepay(self, request: web.Request) -> Payment:
        no = self.by_prepay.get(request.match_info["prepay_id"])
        if no is None:
            raise web.HTTPNotFound(text="unknown payment")
        return self.payments[no]

    async def pay_page(self, request: web.Request) -> web.Response:
        p = self._by_prepay(request)
        yuan = f"{p.amount // 100}.{p.amount % 100:02d}"
        done = p.state != "NOTPAY"
        page = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>模拟支付 Fake Pay</title>
<style>body{{font-family:system-ui,sans-serif;background:#f2f2f2;margin:0;display:grid;place-items:center;min-height:100vh}}
.box{{background:#fff;border-radius:16px;padding:2rem 1.5rem;width:min(22rem,90vw);text-align:center;
box-shadow:0 4px 20px rgba(0,0,0,.08)}}
.amt{{font-size:2.2rem;font-weight:700;margin:.5rem 0}}.warn{{color:#b35c00;font-size:.8rem}}
button{{background:#07c160;color:#fff;border:0;border-radius:10px;font-size:1.1rem;padding:.8rem;width:100%;cursor:pointer}}</style>
</head><body><div class="box"><p class="warn">模拟支付（测试环境，不会扣款）· FAKE provider, test keys</p>
<p>{html.escape(p.description)}</p><p class="amt">¥{yuan}</p><p><small>订单号 {html.escape(p.out_trade_no)}</small></p>
<form method="post"><button type="submit" id="pay">{"已支付，返回商户" if done else "确认支付 Pay"}</button></form>
</div></body></html>"""
        return web.Response(text=page, content_type="text/html")

    async def pay_submit(self, request: web.Request) -> web.Response:
        payment = self._by_prepay(request)
        await self.pay(payment)
        raise web.HTTPFound(payment.return_url)

    async def query(self, request: web.Request) -> web.Response:
        self._check_auth(request, "")
        payment = self.payments.get(request.match_info["no"])
        if payment is None:
            raise _error(404, "ORDER_NOT_EXIST", "no such order")
        return web.json_response(
            {
                "mchid": self.mchid,
                "out_trade_no": payment.out_trade_no,
                "transaction_id": payment.transaction_id,
                "trade_state": payment.state,
                "amount": {"total": payment.amount, "currency": "CNY"},
                "success_time": payment.success_time.isoformat() if payment.success_time else None,
            }
        )

    async def refund(self, request: web.Request) -> web.Response:
        body = await request.text()
        self._check_auth(request, body)
        try:
            data = orjson.loads(body)
            no, refund_no, amount = str(data["out_trade_no"]), str(data["out_refund_no"]), int(data["amount"]["refund"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise _error(400, "PARAM_ERROR", "bad request body") from None
        payment = self.payments.get(no)
        if payment is None or payment.state not in ("SUCCESS", "REFUND"):
            raise _error(400, "TRADE_NOT_PAID", "the order is not paid")
        done = payment.refunds.get(refund_no)
        if done is None:
            if amount <= 0 or amount > payment.amount - payment.refunded:
                raise _error(400, "NOT_ENOUGH", "refund exceeds what is left")
            payment.refunded += amount
            payment.state = "REFUND"
            done = payment.refunds[refund_no] = {
                "refund_id": f"5030{secrets.randbelow(10**14):014d}",
                "out_refund_no": refund_no,
                "out_trade_no": no,
                "status": "SUCCESS",
                "amount": {"refund": amount, "total": payment.amount},
            }
        return web.json_response(done)

    async def hook_pay(self, request: web.Request) -> web.Response:
        payment = self.payments.get(request.match_info["no"])
        if payment is None:
            raise web.HTTPNotFound()
        await self.pay(payment)
        return web.json_response({"ok": True, "state": payment.state})

    async def hook_faults(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            data = await request.json()
            for name in asdict(self.faults):
                if name in data:
                    setattr(self.faults, name, bool(data[name]))
        return web.json_response(asdict(self.faults))

    async def hook_notifies(self, _request: web.Request) -> web.Response:
        return web.json_response(self.notifies)

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/pay/transactions/native", self.create)
        app.router.add_get("/pay/{prepay_id}", self.pay_page)
        app.router.add_post("/pay/{prepay_id}", self.pay_submit)
        app.router.add_get("/v3/pay/transactions/out-trade-no/{no}", self.query)
        app.router.add_post("/v3/refund/domestic/refunds", self.refund)
        app.router.add_post("/_fake/pay/{no}", self.hook_pay)
        app.router.add_route("*", "/_fake/faults", self.hook_faults)
        app.router.add_get("/_fake/notifies", self.hook_notifies)
        return app


_ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    404: web.HTTPNotFound,
}


def _error(status: int, code: str, message: str) -> web.HTTPException:
    body = orjson.dumps({"code": code, "message": message}).decode()
    return _ERRORS[status](text=body, content_type="application/json")


@dataclass
class RunningPay:
    fake: FakePay
    base_url: str
    runner: web.AppRunner

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_pay(fake: FakePay | None = None, host: str = "127.0.0.1", port: int = 0) -> RunningPay:
    fake = fake or FakePay()
    runner = web.AppRunner(fake.build_app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        actual = int(runner.addresses[0][1])
    except BaseException:
        await runner.cleanup()
        raise
    return RunningPay(fake, f"http://{host}:{actual}", runner)


@asynccontextmanager
async def fake_pay_server(faults: PayFaults | None = None) -> AsyncIterator[RunningPay]:
    running = await start_pay(FakePay(faults=faults))
    try:
        yield running
    finally:
        await running.close()
        await asyncio.sleep(0)
