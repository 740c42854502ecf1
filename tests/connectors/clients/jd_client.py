"""An independent JD JOS client for tests, written again from PLATFORMS.md §2.

It shares no code with ``connectors/``: it signs and stamps with
:mod:`connectors.fakes.protocol.jd`, the protocol package the fakes verify with (which the import
contracts keep apart from ``connectors.signing``), so a signing or envelope bug cannot hide in
both the connector and the fake. It is deliberately plain: it builds the system parameters the
official SDK sends, signs them with
``UPPER(MD5(secret + sorted key+value + secret))``, puts everything in the query string of a
POST to ``/routerjson`` (as the official Python SDK does) and returns the decoded JSON.
Hooks let a test send a wrong signature, a stale timestamp or a bad token on purpose.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp

from connectors.fakes.protocol.jd import BEIJING, plain_timestamp, sdk_timestamp
from connectors.fakes.protocol.jd import sign as jos_sign

__all__ = ["JdTestClient", "gateway_error", "jos_sign", "plain_timestamp", "responce", "sdk_timestamp"]


@dataclass
class JdTestClient:
    base_url: str
    app_key: str
    app_secret: str
    access_token: str | None = None
    session: aiohttp.ClientSession | None = None
    now: datetime | None = None  # defaults to the real clock
    last_params: dict[str, str] = field(default_factory=dict)

    def system_params(
        self,
        method: str,
        business: dict[str, Any],
        *,
        timestamp: str | None = None,
        access_token: str | None = None,
        app_key: str | None = None,
        plain_ts: bool = False,
    ) -> dict[str, str]:
        at = self.now or datetime.now(BEIJING)
        params = {
            "method": method,
            "app_key": self.app_key if app_key is None else app_key,
            "timestamp": timestamp
            if timestamp is not None
            else (plain_timestamp(at) if plain_ts else sdk_timestamp(at)),
            "v": "2.0",
            "format": "json",
            "360buy_param_json": json.dumps(business, ensure_ascii=False, separators=(",", ":")),
        }
        token = self.access_token if access_token is None else access_token
        if token:
            params["access_token"] = token
        return params

    async def call(
        self,
        method: str,
        business: dict[str, Any] | None = None,
        *,
        timestamp: str | None = None,
        access_token: str | None = None,
        app_key: str | None = None,
        secret: str | None = None,
        sign: str | None = None,
        plain_ts: bool = False,
        drop: tuple[str, ...] = (),
        in_body: bool = False,
    ) -> dict[str, Any]:
        params = self.system_params(
            method,
            business or {},
            timestamp=timestamp,
            access_token=access_token,
            app_key=app_key,
            plain_ts=plain_ts,
        )
        params["sign"] = sign if sign is not None else jos_sign(secret or self.app_secret, params)
        for key in drop:
            params.pop(key, None)
        self.last_params = dict(params)
        url = self.base_url.rstrip("/") + "/routerjson"
        assert self.session is not None, "give the client an aiohttp session"
        if in_body:
            response = await self.session.post(url, data=params)
        else:
            response = await self.session.post(url, params=params)
        async with response:
            text = await response.text()
        body: dict[str, Any] = json.loads(text)
        return body

    async def oauth(self, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        assert self.session is not None
        url = self.base_url.rstrip("/") + "/oauth2/" + path
        async with self.session.get(url, params=params) as response:
            return response.status, json.loads(await response.text())

    async def exchange_code(self, code: str) -> tuple[int, dict[str, Any]]:
        return await self.oauth(
            "access_token",
            {
                "app_key": self.app_key,
                "app_secret": self.app_secret,
                "grant_type": "authorization_code",
                "code": code,
            },
        )

    async def refresh(self, refresh_token: str) -> tuple[int, dict[str, Any]]:
        return await self.oauth(
            "refresh_token",
            {
                "app_key": self.app_key,
                "app_secret": self.app_secret,
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
            },
        )


def gateway_error(body: dict[str, Any]) -> str | None:
    """The ``error_response.code`` of a gateway error, or None."""
    error = body.get("error_response")
    if isinstance(error, dict):
        return str(error.get("code"))
    return None


def responce(body: dict[str, Any], method: str) -> dict[str, Any]:
    """The ``<method with _>_responce`` object (JOS spells it so)."""
    key = method.replace(".", "_") + "_responce"
    value = body[key]
    assert isinstance(value, dict)
    return value
