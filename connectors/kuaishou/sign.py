"""Kuaishou 快手小店 open-platform request signing, PLATFORMS.md §4.1.

1. Take ``access_token, appkey, method, param, signMethod, timestamp, version``; leave out the
   ones that are absent (``None``). ``sign`` and anything else never take part.
2. Sort by key and join as ``k=v`` with ``&`` (raw values: sign before URL-encoding).
3. Append ``&signSecret=<signSecret>`` (the app's signSecret, not the OAuth appSecret).
4. ``MD5``: lowercase hex MD5 of that string. ``HMAC_SHA256``: HMAC-SHA256 keyed with the
   signSecret over the same string (suffix included), Base64-encoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

SIGNED_KEYS: tuple[str, ...] = (
    "access_token",
    "appkey",
    "method",
    "param",
    "signMethod",
    "timestamp",
    "version",
)


class SignMethod(StrEnum):
    MD5 = "MD5"
    HMAC_SHA256 = "HMAC_SHA256"


def sign_string(params: Mapping[str, str | None], sign_secret: str) -> str:
    """The exact string that is hashed: sorted ``k=v`` pairs plus the ``&signSecret=`` suffix."""
    pairs = sorted((key, value) for key, value in params.items() if key in SIGNED_KEYS and value is not None)
    joined = "&".join(f"{key}={value}" for key, value in pairs)
    return f"{joined}&signSecret={sign_secret}"


def sign(params: Mapping[str, str | None], sign_secret: str, method: SignMethod | str | None = None) -> str:
    """The ``sign`` value for ``params``.

    ``method`` defaults to the ``signMethod`` param, itself defaulting to MD5 as in the
    official Java SDK. An unknown method raises :class:`ValueError`.
    """
    chosen = SignMethod(method if method is not None else params.get("signMethod") or "MD5")
    text = sign_string(params, sign_secret).encode("utf-8")
    if chosen is SignMethod.MD5:
        return hashlib.md5(text).hexdigest()
    digest = hmac.new(sign_secret.encode("utf-8"), text, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(params: Mapping[str, str | None], sign_secret: str) -> bool:
    """Whether ``params['sign']`` is right for its ``signMethod`` (constant-time compare).

    [I] Compared exactly: MD5 is documented as lowercase hex and HMAC as standard Base64, so
    an uppercase MD5 or a URL-safe Base64 variant is refused.
    """
    given = params.get("sign") or ""
    try:
        expected = sign(params, sign_secret)
    except ValueError:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


# -- the wire form of a call ---------------------------------------------------------------------


def param_json(business: Mapping[str, Any]) -> str:
    """The ``param`` text: compact JSON, key order as given (it is signed exactly as sent)."""
    return json.dumps(business, ensure_ascii=False, separators=(",", ":"))


def api_path(method: str) -> str:
    """``open.order.cursor.list`` -> ``/open/order/cursor/list``."""
    return "/" + method.replace(".", "/")
