"""Douyin 抖店 open-platform signing, written again from PLATFORMS.md §3.1.

API calls: the method ``order.searchList`` lives at ``/order/searchList``. ``param_json`` is the
business params as compact JSON with sorted keys and UTF-8 kept, signed exactly as sent (a
verifier hashes the text it received, never a re-serialised copy). The signed string is
``secret + "app_key" + app_key + "method" + method + "param_json" + param_json + "timestamp" +
timestamp + "v" + "2" + secret``; ``hmac-sha256`` keys HMAC-SHA256 with the secret, ``md5``
hashes it plainly; lowercase hex. ``access_token`` is never signed. A request without
``sign_method`` is a legacy md5 one. ``timestamp`` is unix seconds, or ``yyyy-MM-dd HH:mm:ss``
Beijing time from legacy clients, signed as the text sent.

Message push (消息推送): the platform POSTs a JSON array with the headers ``app-id`` (the app
key) and ``event-sign`` = MD5(app_key + body + secret) over the raw body bytes, lowercase hex;
a ``sign-method: hmac-sha256`` header selects HMAC-SHA256 keyed by the secret over the same
bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

API_VERSION = "2"
SIGN_METHODS = ("md5", "hmac-sha256")
BEIJING = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

PUSH_APP_ID_HEADER = "app-id"
PUSH_SIGN_HEADER = "event-sign"
PUSH_SIGN_METHOD_HEADER = "sign-method"


def param_json(params: Mapping[str, Any]) -> str:
    """Business params as Douyin's ``param_json``: sorted keys, compact, UTF-8 kept."""
    return json.dumps(dict(params), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign(secret: str, app_key: str, method: str, param_json: str, timestamp: str, how: str) -> str:
    """The Douyin signature, spelled out from the protocol text; ValueError for an unknown ``how``."""
    text = "".join([secret, "app_key", app_key, "method", method, "param_json", param_json, "timestamp", timestamp])
    text += "v" + API_VERSION + secret
    if how == "md5":
        return hashlib.md5(text.encode("utf-8")).hexdigest()
    if how == "hmac-sha256":
        return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), "sha256").hexdigest()
    raise ValueError(f"no such Douyin sign_method: {how}")


def verify(given: str, *, secret: str, app_key: str, method: str, param_json: str, timestamp: str, how: str) -> bool:
    """Whether ``given`` signs this call under ``how`` (hex compared case-insensitively, in
    constant time); an unknown ``how`` never verifies."""
    try:
        expected = sign(secret, app_key, method, param_json, timestamp, how)
    except ValueError:
        return False
    return hmac.compare_digest(given.strip().lower().encode("utf-8"), expected.encode("utf-8"))


def push_sign(body: bytes, *, app_key: str, secret: str, how: str = "md5") -> str:
    """The ``event-sign`` header of a push body (raw bytes as posted); ValueError for an unknown ``how``."""
    data = app_key.encode("utf-8") + body + secret.encode("utf-8")
    if how == "md5":
        return hashlib.md5(data).hexdigest()
    if how == "hmac-sha256":
        return hmac.new(secret.encode("utf-8"), data, "sha256").hexdigest()
    raise ValueError(f"no such Douyin push sign-method: {how}")


def push_headers(body: bytes, *, app_key: str, secret: str, how: str | None = None) -> dict[str, str]:
    """The headers of a push: ``app-id``, ``event-sign`` and, when ``how`` is given, ``sign-method``."""
    headers = {
        PUSH_APP_ID_HEADER: app_key,
        PUSH_SIGN_HEADER: push_sign(body, app_key=app_key, secret=secret, how=how or "md5"),
    }
    if how:
        headers[PUSH_SIGN_METHOD_HEADER] = how
    return headers


def beijing_text(moment: datetime) -> str:
    """An aware instant as a legacy ``timestamp`` (Beijing ``yyyy-MM-dd HH:mm:ss``)."""
    return moment.astimezone(BEIJING).strftime(TIME_FORMAT)


def parse_timestamp(text: str) -> datetime | None:
    """The ``timestamp`` param (unix seconds or Beijing text) as aware UTC; None if neither."""
    text = text.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    try:
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=BEIJING).astimezone(UTC)
    except ValueError:
        return None
