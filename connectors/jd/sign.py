"""JD JOS (京东宙斯) routerjson request signing, PLATFORMS.md §2.1.

1. Every system parameter that is sent (``method``, ``app_key``, ``access_token``,
   ``timestamp``, ``v``, ``360buy_param_json``, optional ``format``/``sign_method``), except
   ``sign``. Business parameters travel inside ``360buy_param_json``, so they are signed as
   that one string, byte for byte as sent.
2. Keys sorted by ASCII (``360buy_param_json`` sorts first because it starts with ``3``);
   ``key1value1key2value2...`` with no separators, raw UTF-8 values.
3. ``UPPER(MD5(secret + concat + secret))``. JOS routerjson has no other sign method.

[I] Parameters with an empty value are left out of the concatenation, as the official Java
SDK does (the Python SDK never sends empty ones, so both agree on every real request).

The system parameters signed are formatted here too: :func:`sdk_timestamp` and :func:`param_json`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors.windows import SHANGHAI

SIGN_METHODS = frozenset({"md5"})


def canonical_string(params: Mapping[str, str]) -> str:
    """The concatenation JOS hashes: sorted ``keyvalue`` pairs, ``sign`` and empties left out."""
    return "".join(f"{key}{value}" for key, value in sorted(params.items()) if key != "sign" and value != "")


def sign(params: Mapping[str, str], secret: str) -> str:
    """The uppercase-hex MD5 ``sign`` for ``params`` under the app ``secret``.

    A ``sign_method`` other than ``md5`` raises :class:`ValueError` (JOS offers only md5).
    """
    method = params.get("sign_method", "md5") or "md5"
    if method.lower() not in SIGN_METHODS:
        raise ValueError(f"JOS signs with md5 only, not {method!r}")
    body = f"{secret}{canonical_string(params)}{secret}".encode()
    return hashlib.md5(body).hexdigest().upper()


def verify(params: Mapping[str, str], secret: str) -> bool:
    """Whether ``params['sign']`` is right (constant-time compare, uppercase hex only)."""
    given = params.get("sign", "")
    try:
        expected = sign(params, secret)
    except ValueError:
        return False
    # [I] Compared exactly: JOS documents uppercase hex, so a lowercase sign is refused.
    return hmac.compare_digest(given.encode(), expected.encode())


def sdk_timestamp(at: datetime) -> str:
    """The official SDK's ``%Y-%m-%d %H:%M:%S.000%z`` in Beijing time (millis kept)."""
    local = at.astimezone(SHANGHAI)
    return f"{local:%Y-%m-%d %H:%M:%S}.{local.microsecond // 1000:03d}{local:%z}"


def param_json(business: Mapping[str, Any]) -> str:
    """The ``360buy_param_json`` text: compact, keys sorted, UTF-8 kept (signed as sent)."""
    return json.dumps(business, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
