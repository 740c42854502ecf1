"""An independent Douyin 抖店 client, written again from PLATFORMS.md §3 for the tests.

It shares no code with ``connectors/``: it signs with :mod:`connectors.fakes.protocol.douyin`, the
protocol package the fakes verify with (which the import contracts keep apart from
``connectors.signing``), so a signing or envelope mistake in the connector cannot hide by being
repeated in the fake's checks.

Protocol as documented: the method ``order.searchList`` lives at ``/order/searchList``. The SDK
style is a POST whose query string carries ``app_key, method, timestamp (unix s), v=2, sign,
sign_method=hmac-sha256, access_token`` and whose body is ``param_json`` (compact JSON, sorted
keys). The legacy style is a GET with ``param_json`` in the query string, a ``yyyy-MM-dd
HH:mm:ss`` Beijing timestamp and an md5 sign. The signed string is ``secret + "app_key" + key +
"method" + method + "param_json" + param_json + "timestamp" + ts + "v" + "2" + secret``:
hmac-sha256 keys HMAC-SHA256 with the secret, md5 hashes it plainly; lowercase hex.
``access_token`` is never signed. Answers are ``{"code": 10000, "msg", "sub_code", "sub_msg",
"log_id", "data"}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp

from connectors.fakes.protocol.douyin import BEIJING, beijing_text
from connectors.fakes.protocol.douyin import param_json as dy_param_json
from connectors.fakes.protocol.douyin import sign as dy_sign

__all__ = ["BEIJING", "DouyinTestClient", "beijing_text", "dy_param_json", "dy_sign"]


@dataclass
class DouyinTestClient:
    base_url: str
    app_key: str
    secret: str
    http: aiohttp.ClientSession
    access_token: str | None = None
    refresh_token: str | None = None
    sign_method: str = "hmac-sha256"
    legacy: bool = False  # GET, param_json in the query string, Beijing datetime timestamp, md5
    now: Callable[[], datetime] = field(default=lambda: datetime.now(BEIJING))  # the gateway's "now"

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        with_token: bool = True,
        timestamp: str | None = None,
        sign: str | None = None,
        access_token: str | None = None,
        body_override: str | None = None,
        app_key: str | None = None,
        param_json: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """One signed call; ``sign``/``timestamp``/``access_token``/``app_key`` let tests break it.

        ``param_json`` signs and sends that exact text instead of serialising ``params``;
        ``body_override`` sends a different param_json than the one signed (tampering).
        """
        pj = param_json if param_json is not None else dy_param_json(params or {})
        if timestamp is None:
            moment = self.now()
            timestamp = beijing_text(moment) if self.legacy else str(int(moment.timestamp()))
        how = "md5" if self.legacy else self.sign_method
        query: dict[str, str] = {
            "app_key": app_key if app_key is not None else self.app_key,
            "method": method,
            "timestamp": timestamp,
            "v": "2",
        }
        query["sign"] = sign if sign is not None else dy_sign(self.secret, self.app_key, method, pj, timestamp, how)
        if not self.legacy:
            query["sign_method"] = how
        token = access_token if access_token is not None else self.access_token
        if with_token and token is not None:
            query["access_token"] = token
        url = f"{self.base_url}/{method.replace('.', '/')}"
        sent = body_override if body_override is not None else pj
        if self.legacy:
            query["param_json"] = sent
            async with self.http.get(url, params=query) as resp:
                return resp.status, await resp.json(content_type=None)
        headers = {"Content-Type": "application/json", "x-open-no-old-err-code": "1"}
        async with self.http.post(url, params=query, data=sent.encode("utf-8"), headers=headers) as resp:
            return resp.status, await resp.json(content_type=None)

    async def create_token(self, shop_id: str) -> dict[str, Any]:
        """Self-use app authorisation; keeps the tokens when the answer carries them."""
        _, answer = await self.call(
            "token.create",
            {"code": "", "grant_type": "authorization_self", "shop_id": shop_id},
            with_token=False,
        )
        self._keep(answer)
        return answer

    async def refresh(self, refresh_token: str | None = None) -> dict[str, Any]:
        chosen = refresh_token if refresh_token is not None else self.refresh_token
        _, answer = await self.call(
            "token.refresh",
            {"grant_type": "refresh_token", "refresh_token": chosen or ""},
            with_token=False,
        )
        self._keep(answer)
        return answer

    def _keep(self, answer: dict[str, Any]) -> None:
        data = answer.get("data")
        if answer.get("code") == 10000 and isinstance(data, dict) and data.get("access_token"):
            self.access_token = str(data["access_token"])
            self.refresh_token = str(data.get("refresh_token") or "")

    async def all_orders(self, start: int, end: int, size: int = 100) -> list[dict[str, Any]]:
        """Every shop order updated in [start, end] (unix s), paging from 0 until ``total``."""
        page = 0
        out: list[dict[str, Any]] = []
        while True:
            _, answer = await self.call(
                "order.searchList",
                {
                    "update_time_start": start,
                    "update_time_end": end,
                    "order_by": "update_time",
                    "page": page,
                    "size": size,
                },
            )
            if answer.get("code") != 10000:
                raise AssertionError(f"order.searchList failed: {answer}")
            data = answer["data"]
            out.extend(data["shop_order_list"])
            page += 1
            if page * size >= int(data["total"]) or not data["shop_order_list"]:
                return out
