"""TOP (Taobao/Tmall Open Platform) request signing, PLATFORMS.md §1.2.

1. Every request parameter (system and business) except ``sign`` and byte/file params, with
   empty values skipped.
2. Keys sorted by ASCII; ``key1value1key2value2...`` with no separators, raw UTF-8 values.
3. ``md5``: MD5(secret + concat + secret); ``hmac``: HMAC-MD5(secret, concat);
   ``hmac-sha256``: HMAC-SHA256(secret, concat).
4. Uppercase hex.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from enum import StrEnum


class SignMethod(StrEnum):
    MD5 = "md5"
    HMAC = "hmac"  # HMAC-MD5
    HMAC_SHA256 = "hmac-sha256"


def canonical_string(params: Mapping[str, str]) -> str:
    """The concatenation TOP hashes: sorted ``keyvalue`` pairs, ``sign`` and empties left out."""
    return "".join(f"{key}{value}" for key, value in sorted(params.items()) if key != "sign" and value != "")


def sign(params: Mapping[str, str], secret: str, method: SignMethod | str | None = None) -> str:
    """The uppercase-hex ``sign`` for ``params``.

    ``method`` defaults to the ``sign_method`` param (itself defaulting to md5, as on TOP).
    An unknown method raises :class:`ValueError`.
    """
    chosen = SignMethod(method if method is not None else params.get("sign_method", "md5"))
    body = canonical_string(params).encode("utf-8")
    key = secret.encode("utf-8")
    if chosen is SignMethod.MD5:
        digest = hashlib.md5(key + body + key).hexdigest()
    elif chosen is SignMethod.HMAC:
        digest = hmac.new(key, body, hashlib.md5).hexdigest()
    else:
        digest = hmac.new(key, body, hashlib.sha256).hexdigest()
    return digest.upper()


def verify(params: Mapping[str, str], secret: str) -> bool:
    """Whether ``params['sign']`` is right for its ``sign_method`` (constant-time compare)."""
    given = params.get("sign", "")
    try:
        expected = sign(params, secret)
    except ValueError:
        return False
    # [I] Compared exactly: TOP documents uppercase hex, so a lowercase sign is not accepted.
    return hmac.compare_digest(given.encode(), expected.encode())
