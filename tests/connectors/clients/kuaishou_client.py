"""An independent Kuaishou 快手小店 client, written again from PLATFORMS.md §4.

It shares no code with ``connectors/``: it signs with :mod:`connectors.fakes.protocol.kuaishou`,
the protocol package the fakes verify with (which the import contracts keep apart from
``connectors.signing``), so a signing or envelope mistake in the connector cannot hide by being
repeated in the fake's checks.

Protocol as documented: the path is the method with ``.`` turned into ``/``
(``open.order.cursor.list`` -> ``/open/order/cursor/list``); the query carries ``appkey``,
``method``, ``version=1``, ``param`` (business params as a JSON string), ``access_token``,
``timestamp`` (epoch **milliseconds**), ``signMethod`` (``MD5`` or ``HMAC_SHA256``) and ``sign``.
Reads are GET; writes are POST ``application/x-www-form-urlencoded`` with ``param`` in the body.
The sign string is the seven signed params (non-null) sorted by key, joined ``k=v`` with ``&``,
then ``&signSecret=<signSecret>`` appended; MD5 gives lowercase hex, HMAC_SHA256 (keyed with the
signSecret) gives Base64. Answers are ``{"result": 1, ...}`` on success, any other ``result`` is
an error. OAuth: GET ``/oauth2/access_token`` (``app_id, app_secret, grant_type=code, code``) and
POST ``/oauth2/refresh_token`` (``app_id, app_secret, grant_type=refresh_token, refresh_token``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from connectors.fakes.protocol.kuaishou import SIGNED, now_ms
from connectors.fakes.protocol.kuaishou import sign as ks_sign

__all__ = ["SIGNED", "KuaishouTestClient", "ks_sign", "now_ms"]


@dataclass
class KuaishouTestClient:
    base_url: str  # e.g. http://127.0.0.1:PORT
    app_key: str
    sign_secret: str
    http: aiohttp.ClientSession
    access_token: str | None = None
    sign_method: str = "MD5"
    now_ms: Callable[[], int] = now_ms  # the caller's clock, epoch milliseconds
    last_sent: dict[str, str] = field(default_factory=dict)

    def build(
        self,
        method: str,
        business: dict[str, Any] | None = None,
        *,
        timestamp_ms: int | None = None,
        sign_method: str | None = None,
        access_token: str | None = None,
    ) -> dict[str, str]:
        """The full parameter set (sign included) for one call."""
        chosen = sign_method or self.sign_method
        params = {
            "appkey": self.app_key,
            "method": method,
            "version": "1",
            "param": json.dumps(business or {}, ensure_ascii=False, separators=(",", ":")),
            "timestamp": str(timestamp_ms if timestamp_ms is not None else self.now_ms()),
            "signMethod": chosen,
        }
        token = access_token if access_token is not None else self.access_token
        if token is not None:
            params["access_token"] = token
        params["sign"] = ks_sign(params, self.sign_secret, chosen)
        return params

    async def send(self, params: dict[str, str], *, post: bool = False) -> dict[str, Any]:
        """Send an already built parameter set; the decoded JSON answer."""
        self.last_sent = dict(params)
        url = self.base_url.rstrip("/") + "/" + params["method"].replace(".", "/")
        if post:
            query = {k: v for k, v in params.items() if k != "param"}
            response = await self.http.post(url, params=query, data={"param": params["param"]})
        else:
            response = await self.http.get(url, params=params)
        async with response:
            text = await response.text()
        body: dict[str, Any] = json.loads(text)
        return body

    async def call(
        self,
        method: str,
        business: dict[str, Any] | None = None,
        *,
        post: bool = False,
        timestamp_ms: int | None = None,
        sign_method: str | None = None,
        access_token: str | None = None,
        sign: str | None = None,
    ) -> dict[str, Any]:
        params = self.build(
            method,
            business,
            timestamp_ms=timestamp_ms,
            sign_method=sign_method,
            access_token=access_token,
        )
        if sign is not None:
            params["sign"] = sign
        return await self.send(params, post=post)

    async def token_by_code(self, app_secret: str, code: str) -> dict[str, Any]:
        query = {"app_id": self.app_key, "app_secret": app_secret, "grant_type": "code", "code": code}
        async with self.http.get(self.base_url.rstrip("/") + "/oauth2/access_token", params=query) as r:
            body: dict[str, Any] = json.loads(await r.text())
        return body

    async def refresh(self, app_secret: str, refresh_token: str) -> dict[str, Any]:
        form = {
            "app_id": self.app_key,
            "app_secret": app_secret,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        }
        async with self.http.post(self.base_url.rstrip("/") + "/oauth2/refresh_token", data=form) as r:
            body: dict[str, Any] = json.loads(await r.text())
        return body

    async def all_orders(self, begin_ms: int, end_ms: int, *, page_size: int = 50) -> list[dict[str, Any]]:
        """Walk ``open.order.cursor.list`` (queryType 2, update time) until ``nomore``."""
        cursor = ""
        orders: list[dict[str, Any]] = []
        while True:
            body = await self.call(
                "open.order.cursor.list",
                {
                    "orderViewStatus": 1,
                    "pageSize": page_size,
                    "queryType": 2,
                    "beginTime": begin_ms,
                    "endTime": end_ms,
                    "cursor": cursor,
                },
            )
            if body.get("result") != 1:
                raise AssertionError(f"order list failed: {body}")
            orders.extend(body["data"]["orderList"])
            cursor = body["data"]["cursor"]
            if cursor == "nomore":
                return orders
