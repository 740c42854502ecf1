"""Kuaishou 快手小店 open-platform signing, written again from PLATFORMS.md §4.1.

The path is the method with ``.`` turned into ``/`` (``open.order.cursor.list`` ->
``/open/order/cursor/list``). The sign string is the seven signed params that are sent
(``access_token, appkey, method, param, signMethod, timestamp, version``) sorted by key and
joined ``k=v`` with ``&`` (raw values), then ``&signSecret=<signSecret>`` appended (the app's
signSecret, not its OAuth appSecret). ``MD5`` gives lowercase hex of that string;
``HMAC_SHA256`` keys HMAC-SHA256 with the signSecret over it and gives standard Base64. A
request without ``signMethod`` is an MD5 one. ``timestamp`` is epoch milliseconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from datetime import UTC, datetime

SIGNED = ("access_token", "appkey", "method", "param", "signMethod", "timestamp", "version")
SIGN_METHODS = ("MD5", "HMAC_SHA256")


def sign(params: Mapping[str, str], sign_secret: str, sign_method: str) -> str:
    """The Kuaishou signature, spelled out from the protocol text; ValueError for an unknown method."""
    text = ""
    for key in sorted(k for k in params if k in SIGNED):
        text += ("&" if text else "") + key + "=" + params[key]
    text += "&signSecret=" + sign_secret
    raw = text.encode("utf-8")
    if sign_method == "MD5":
        return hashlib.md5(raw).hexdigest()
    if sign_method == "HMAC_SHA256":
        mac = hmac.new(sign_secret.encode("utf-8"), raw, hashlib.sha256).digest()
        return base64.b64encode(mac).decode()
    raise ValueError(f"no such Kuaishou signMethod: {sign_method}")


def verify(params: Mapping[str, str], sign_secret: str) -> bool:
    """Whether ``params["sign"]`` is right for its ``signMethod`` (constant-time, exact compare:
    MD5 is lowercase hex and HMAC standard Base64, so other spellings are refused)."""
    try:
        expected = sign(params, sign_secret, params.get("signMethod") or "MD5")
    except ValueError:
        return False
    return hmac.compare_digest(params.get("sign", "").encode("utf-8"), expected.encode("utf-8"))


def now_ms() -> int:
    """The real clock in epoch milliseconds (what a caller stamps a request with)."""
    return int(time.time() * 1000)


def parse_timestamp(text: str) -> datetime | None:
    """The ``timestamp`` param (epoch milliseconds) as aware UTC; None if not digits."""
    if not text.isdigit():
        return None
    return datetime.fromtimestamp(int(text) / 1000, UTC)
