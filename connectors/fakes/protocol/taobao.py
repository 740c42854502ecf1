"""TOP (Taobao/Tmall Open Platform) request signing, written again from PLATFORMS.md §1.2.

The sign covers every request parameter but ``sign`` (system and business params alike, query
string and form body together), empty values dropped, keys in ASCII order, concatenated as
``k1v1k2v2...`` with raw UTF-8 values. ``md5`` wraps that string in the secret and hashes it,
``hmac`` is HMAC-MD5 keyed by the secret, ``hmac-sha256`` is HMAC-SHA256 keyed by the secret;
uppercase hex. The ``sign_method`` param picks the method (``md5`` when absent). The
``timestamp`` param is ``yyyy-MM-dd HH:mm:ss`` in GMT+8, or epoch milliseconds as the official
Python SDK sends it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone

SIGN_METHODS = ("md5", "hmac", "hmac-sha256")
GMT8 = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def sign(secret: str, params: Mapping[str, str], sign_method: str) -> str:
    """The TOP signature, spelled out step by step from the protocol text.

    An unknown ``sign_method`` raises :class:`ValueError`.
    """
    pieces: list[bytes] = []
    for key in sorted(params, key=lambda k: k.encode("utf-8")):
        if key == "sign" or params[key] == "":
            continue
        pieces.append(key.encode("utf-8"))
        pieces.append(params[key].encode("utf-8"))
    joined = b"".join(pieces)
    secret_bytes = secret.encode("utf-8")
    if sign_method == "md5":
        return hashlib.md5(secret_bytes + joined + secret_bytes).hexdigest().upper()
    if sign_method == "hmac":
        return hmac.new(secret_bytes, joined, "md5").hexdigest().upper()
    if sign_method == "hmac-sha256":
        return hmac.new(secret_bytes, joined, "sha256").hexdigest().upper()
    raise ValueError(f"no such TOP sign_method: {sign_method}")


def verify(params: Mapping[str, str], secret: str) -> bool:
    """Whether ``params["sign"]`` signs ``params`` under their own ``sign_method``.

    Compared exactly and in constant time: TOP documents uppercase hex, so a lowercase sign is
    refused; an unknown method never verifies.
    """
    try:
        expected = sign(secret, params, params.get("sign_method", "md5"))
    except ValueError:
        return False
    return hmac.compare_digest(params.get("sign", "").encode("utf-8"), expected.encode("utf-8"))


def gmt8_text(moment: datetime) -> str:
    """An aware instant as the ``timestamp`` text (GMT+8)."""
    return moment.astimezone(GMT8).strftime(TIME_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """The ``timestamp`` param (GMT+8 text or epoch ms) as aware UTC; ValueError when malformed."""
    stripped = text.strip()
    if stripped.isdigit():
        return datetime.fromtimestamp(int(stripped) / 1000, UTC)
    return datetime.strptime(stripped, TIME_FORMAT).replace(tzinfo=GMT8).astimezone(UTC)
