"""JD JOS (京东宙斯) ``/routerjson`` request signing and timestamps, written again from PLATFORMS.md §2.

The sign covers every sent parameter but ``sign`` (the system params and ``360buy_param_json``,
which carries the business params as one string, byte for byte as sent), empty values dropped,
keys sorted (``360buy_param_json`` first: ``3`` sorts before letters), concatenated as
``k1v1k2v2...``: ``UPPER(MD5(secret + concat + secret))``. JOS has no other sign method, so a
``sign_method`` other than ``md5`` never verifies, and the hex is compared as documented
(uppercase).

``timestamp`` is Beijing time: the official SDK sends ``yyyy-MM-dd HH:mm:ss.SSS+0800``; plain
``yyyy-MM-dd HH:mm:ss`` is read as Beijing time [I].
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.(\d{1,3}))?([+-]\d{4})?$")


def sign(secret: str, params: Mapping[str, str]) -> str:
    """MD5 of secret + k1v1k2v2... (keys sorted, ``sign`` and empty values skipped) + secret."""
    pieces = []
    for key in sorted(params):
        if key == "sign" or params[key] == "":
            continue
        pieces.append(key + params[key])
    text = secret + "".join(pieces) + secret
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def verify(params: Mapping[str, str], secret: str) -> bool:
    """Whether ``params["sign"]`` is right: md5 only, uppercase hex, constant-time compare."""
    if (params.get("sign_method") or "md5").lower() != "md5":
        return False
    return hmac.compare_digest(params.get("sign", "").encode("utf-8"), sign(secret, params).encode("utf-8"))


def sdk_timestamp(at: datetime) -> str:
    """The official SDK's ``%Y-%m-%d %H:%M:%S.000%z`` in Beijing time (millis included)."""
    local = at.astimezone(BEIJING)
    return local.strftime(TIME_FORMAT + ".") + f"{local.microsecond // 1000:03d}" + "+0800"


def plain_timestamp(at: datetime) -> str:
    """``yyyy-MM-dd HH:mm:ss`` Beijing time."""
    return at.astimezone(BEIJING).strftime(TIME_FORMAT)


def parse_timestamp(text: str) -> datetime | None:
    """The SDK format (``2021-05-07 09:20:39.683+0800``) or plain Beijing time, as aware UTC;
    None if neither."""
    match = _TIMESTAMP.match(text.strip())
    if match is None:
        return None
    try:
        naive = datetime.strptime(match.group(1), TIME_FORMAT)
    except ValueError:
        return None
    millis = int((match.group(2) or "0").ljust(3, "0"))
    offset = match.group(3)
    if offset is None:
        aware = naive.replace(tzinfo=BEIJING)
    else:
        aware = datetime.strptime(f"{match.group(1)} {offset}", f"{TIME_FORMAT} %z")
    return (aware + timedelta(milliseconds=millis)).astimezone(UTC)


def epoch_ms(at: datetime) -> int:
    """An aware instant as epoch milliseconds (JOS's after-sales, wares and SKU times)."""
    if at.utcoffset() is None:
        raise ValueError(f"need an aware datetime, got {at!r}")
    return (at - _EPOCH) // timedelta(milliseconds=1)
