"""An independent Youzan (有赞云) client, written again from PLATFORMS.md §5 for the tests.

It shares no code with ``connectors/`` (not even ``connectors.signing.youzan``), so a mistake in
the connector's token handling cannot hide by being repeated in the fake's checks.

Youzan has no request signature: ``POST /auth/token`` (JSON) yields an access token, and every
call is ``POST /api/{method}/{version}?access_token=TOKEN`` with a JSON body. Gateway errors come
back as HTTP 200 ``{"gw_err_resp": {"err_code": int, "err_msg": str}}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass
class YouzanTestClient:
    base_url: str
    client_id: str
    client_secret: str
    kdt_id: str
    session: aiohttp.ClientSession
    access_token: str | None = None

    async def fetch_token(self, *, refresh: bool = False, **override: Any) -> dict[str, Any]:
        """Silent authorisation of a self-use app; keeps the token when the answer has one."""
        body: dict[str, Any] = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "authorize_type": "silent",
            "grant_id": self.kdt_id,
            "refresh": refresh,
        }
        body.update(override)
        async with self.session.post(f"{self.base_url}/auth/token", json=body) as resp:
            answer: dict[str, Any] = await resp.json(content_type=None)
        data = answer.get("data") or {}
        if answer.get("success") and isinstance(data, dict) and data.get("access_token"):
            self.access_token = str(data["access_token"])
        return answer

    async def refresh_with(self, refresh_token: str) -> dict[str, Any]:
        body = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "authorize_type": "refresh_token",
            "refresh_token": refresh_token,
        }
        async with self.session.post(f"{self.base_url}/auth/token", json=body) as resp:
            answer: dict[str, Any] = await resp.json(content_type=None)
        return answer

    async def call(
        self,
        method: str,
        version: str,
        params: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        omit_token: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        """One API call; returns (HTTP status, parsed JSON body)."""
        url = f"{self.base_url}/api/{method}/{version}"
        query: dict[str, str] = {}
        if not omit_token:
            chosen = token if token is not None else self.access_token
            if chosen is not None:
                query["access_token"] = chosen
        async with self.session.post(url, params=query, json=params or {}) as resp:
            body: dict[str, Any] = await resp.json(content_type=None)
            return resp.status, body

    async def call_raw(self, path: str, *, data: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        """A call with a hand-made body and content type (for the gateway's 4004/4007 checks)."""
        query = {"access_token": self.access_token or ""}
        headers = {"Content-Type": content_type}
        async with self.session.post(f"{self.base_url}{path}", params=query, data=data, headers=headers) as resp:
            body: dict[str, Any] = await resp.json(content_type=None)
            return resp.status, body


def gateway_error(body: dict[str, Any]) -> int | None:
    """The ``gw_err_resp.err_code`` of a gateway refusal, else ``None``."""
    err = body.get("gw_err_resp")
    if isinstance(err, dict):
        code = err.get("err_code")
        return int(code) if code is not None else None
    return None
