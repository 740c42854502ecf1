"""The client of the fake payment provider (``connectors/fakes/pay.py``), WeChat Pay v3 style.

Requests carry ``Authorization: BF-HMAC-SHA256 mchid="..",nonce_str="..",timestamp="..",
signature=".."``, the signature being base64 HMAC-SHA256 under the merchant key of
``METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY\\n`` (v3 signs the same message with RSA). A
notification carries ``Wechatpay-Timestamp``, ``Wechatpay-Nonce``, ``Wechatpay-Signature``
(base64 HMAC-SHA256 of ``TIMESTAMP\\nNONCE\\nBODY\\n``) and ``Wechatpay-Serial``; it verifies
only with the right key and a timestamp within :data:`NOTIFY_SKEW` of now (an old message
replayed later is refused; a fresh duplicate is answered idempotently by the mall).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson

from connectors.http import get_session, request_timeout
from connectors.payments.base import BadSignature, PayIntent, PaymentError, PayNotice, PayStatus, RefundResult

__all__ = ["NOTIFY_SKEW", "FakePayClient", "sign"]

NOTIFY_SKEW = timedelta(minutes=5)


def sign(key: str, message: str) -> str:
    return base64.b64encode(hmac.digest(key.encode(), message.encode(), hashlib.sha256)).decode()


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value)).astimezone(UTC)


class FakePayClient:
    """:class:`~connectors.payments.base.PaymentProvider` for the fake provider."""

    name = "fakepay"

    def __init__(self, base_url: str, mchid: str, key: str, *, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.mchid = mchid
        self._key = key
        self._session = session

    async def _call(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body = orjson.dumps(payload).decode() if payload is not None else ""
        stamp, nonce = str(int(time.time())), secrets.token_hex(16)
        signature = sign(self._key, f"{method}\n{path}\n{stamp}\n{nonce}\n{body}\n")
        auth = f'BF-HMAC-SHA256 mchid="{self.mchid}",nonce_str="{nonce}",timestamp="{stamp}",signature="{signature}"'
        headers = {"Authorization": auth, "Content-Type": "application/json", "Accept": "application/json"}
        session = self._session or get_session()
        try:
            async with session.request(
                method, self.base_url + path, data=body or None, headers=headers, timeout=request_timeout(10)
            ) as resp:
                text = await resp.read()
                data: dict[str, Any] = orjson.loads(text) if text else {}
                if resp.status >= 400:
                    raise PaymentError(f"{resp.status} {data.get('code', '')}: {data.get('message', '')}")
                return data
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PaymentError(f"payment provider unreachable: {exc.__class__.__name__}") from exc

    async def create_payment(
        self, order_no: str, amount_fen: int, description: str, *, notify_url: str, return_url: str
    ) -> PayIntent:
        data = await self._call(
            "POST",
            "/v3/pay/transactions/native",
            {
                "mchid": self.mchid,
                "out_trade_no": order_no,
                "description": description[:127],
                "amount": {"total": amount_fen, "currency": "CNY"},
                "notify_url": notify_url,
                "return_url": return_url,
            },
        )
        return PayIntent(str(data["prepay_id"]), str(data["pay_url"]))

    def verify_notify(self, headers: Mapping[str, str], body: bytes, *, now: datetime) -> PayNotice:
        stamp = headers.get("Wechatpay-Timestamp", "")
        nonce = headers.get("Wechatpay-Nonce", "")
        given = headers.get("Wechatpay-Signature", "")
        if not stamp.isdigit() or not nonce or not given:
            raise BadSignature("missing signature headers")
        expected = sign(self._key, f"{stamp}\n{nonce}\n{body.decode('utf-8', 'replace')}\n")
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise BadSignature("signature does not verify")
        sent = datetime.fromtimestamp(int(stamp), UTC)
        if abs(now - sent) > NOTIFY_SKEW:
            raise BadSignature(f"timestamp {sent.isoformat()} is not within {NOTIFY_SKEW} of now")
        try:
            data = orjson.loads(body)
            resource = data["resource"]
            return PayNotice(
                event_id=str(data["id"]),
                event_type=str(data["event_type"]),
                order_no=str(resource["out_trade_no"]),
                trade_state=str(resource["trade_state"]),
                amount_fen=int(resource["amount"]["total"]),
                txn_id=resource.get("transaction_id"),
                paid_at=_time(resource.get("success_time")),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise BadSignature(f"malformed notification: {exc}") from exc

    async def query(self, order_no: str) -> PayStatus:
        data = await self._call("GET", f"/v3/pay/transactions/out-trade-no/{order_no}?mchid={self.mchid}")
        return PayStatus(
            order_no=str(data["out_trade_no"]),
            trade_state=str(data["trade_state"]),
            amount_fen=int(data["amount"]["total"]),
            txn_id=data.get("transaction_id"),
            paid_at=_time(data.get("success_time")),
        )

    async def refund(self, order_no: str, refund_no: str, amount_fen: int, total_fen: int, reason: str) -> RefundResult:
        data = await self._call(
            "POST",
            "/v3/refund/domestic/refunds",
            {
                "out_trade_no": order_no,
                "out_refund_no": refund_no,
                "reason": reason[:80],
                "amount": {"refund": amount_fen, "total": total_fen, "currency": "CNY"},
            },
        )
        return RefundResult(refund_no, str(data["refund_id"]), str(data["status"]), int(data["amount"]["refund"]))
