"""An independent TOP (Taobao/Tmall Open Platform) client, written again from PLATFORMS.md §1.

It shares no code with ``connectors/``: it signs with :mod:`connectors.fakes.protocol.taobao`,
the protocol package the fakes verify with (which the import contracts keep apart from
``connectors.signing``), so a signing or envelope mistake in the connector cannot hide by being
repeated in the fake's checks.

Protocol as documented: POST ``/router/rest`` form-encoded; system params ``method``,
``app_key``, ``session``, ``timestamp`` (``yyyy-MM-dd HH:mm:ss`` GMT+8, or epoch ms as the
official Python SDK sends), ``v=2.0``, ``format=json``, ``sign_method`` and ``sign``. The sign is
over every param but ``sign`` with empty values dropped, keys in ASCII order, ``k1v1k2v2...``:
md5 wraps the string in the secret, hmac is HMAC-MD5 keyed by the secret, hmac-sha256 is
HMAC-SHA256 keyed by the secret; uppercase hex. Errors are HTTP 200 ``{"error_response": ...}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp

from connectors.fakes.protocol.taobao import GMT8, gmt8_text
from connectors.fakes.protocol.taobao import sign as top_sign

__all__ = ["GMT8", "TopTestClient", "gmt8_text", "top_sign"]


@dataclass
class TopTestClient:
    base_url: str  # e.g. http://127.0.0.1:PORT ; the gateway path is /router/rest
    app_key: str
    secret: str
    http: aiohttp.ClientSession
    session_key: str | None = None
    sign_method: str = "md5"
    epoch_ms_timestamp: bool = False
    # Like the official Python SDK: system params in the query string, business in the body.
    split_query_body: bool = False
    clock: Callable[[], datetime] | None = None  # the gateway's notion of now (a fake clock)
    last_sent: dict[str, str] = field(default_factory=dict)

    def build(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        now: datetime | None = None,
        timestamp: str | None = None,
        sign_method: str | None = None,
    ) -> tuple[dict[str, str], dict[str, str]]:
        """(system params incl. sign, business params) for one call."""
        moment = now or (self.clock() if self.clock is not None else datetime.now(GMT8))
        if timestamp is None:
            timestamp = str(int(moment.timestamp() * 1000)) if self.epoch_ms_timestamp else gmt8_text(moment)
        system = {
            "method": method,
            "app_key": self.app_key,
            "timestamp": timestamp,
            "format": "json",
            "v": "2.0",
            "sign_method": sign_method or self.sign_method,
        }
        if self.session_key is not None:
            system["session"] = self.session_key
        business = {k: str(v) for k, v in (params or {}).items() if v is not None}
        system["sign"] = top_sign(self.secret, {**system, **business}, system["sign_method"])
        return system, business

    async def send(self, system: dict[str, str], business: dict[str, str]) -> dict[str, Any]:
        url = f"{self.base_url}/router/rest"
        self.last_sent = {**system, **business}
        headers = {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"}
        if self.split_query_body:
            req = self.http.post(url, params=system, data=business, headers=headers)
        else:
            req = self.http.post(url, data={**system, **business}, headers=headers)
        async with req as resp:
            assert resp.status == 200, resp.status
            answer: dict[str, Any] = await resp.json(content_type=None)
        return answer

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        now: datetime | None = None,
        timestamp: str | None = None,
        sign_method: str | None = None,
        tamper_sign: bool = False,
    ) -> dict[str, Any]:
        system, business = self.build(method, params, now=now, timestamp=timestamp, sign_method=sign_method)
        if tamper_sign:
            first = "0" if system["sign"][0] != "0" else "1"
            system["sign"] = first + system["sign"][1:]
        return await self.send(system, business)

    @staticmethod
    def payload(answer: dict[str, Any], method: str) -> dict[str, Any]:
        """The ``<method>_response`` object, or an AssertionError carrying the error envelope."""
        if "error_response" in answer:
            raise AssertionError(f"TOP error: {answer['error_response']}")
        key = method.removeprefix("taobao.").replace(".", "_") + "_response"
        body: dict[str, Any] = answer[key]
        return body

    @staticmethod
    def nested(container: dict[str, Any], outer: str, inner: str) -> list[dict[str, Any]]:
        """``{"trades": {"trade": [...]}}`` -> the list; missing or ``{}`` -> ``[]``."""
        wrapper = container.get(outer) or {}
        items: list[dict[str, Any]] = wrapper.get(inner) or []
        return items
