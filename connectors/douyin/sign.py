"""Douyin 抖店 open platform signing, PLATFORMS.md §3.1, and message-push verification.

API requests (every ``/x/y`` call, the token endpoints included):

1. ``param_json`` is the business parameters as compact JSON with sorted keys, no ASCII or
   HTML escaping (the official SDK marshals, re-reads into a map and marshals again); ``{}``
   when there are none. The string is signed *exactly as sent*: a verifier hashes what it
   received and never re-serialises it.
2. ``pattern = secret + "app_key" + app_key + "method" + method + "param_json" + param_json
   + "timestamp" + timestamp + "v" + v + secret``; ``timestamp`` is the string as sent (unix
   seconds, or ``yyyy-MM-dd HH:mm:ss`` Beijing time from legacy clients), ``v`` is ``"2"``.
3. ``hmac-sha256`` (the SDK default): HMAC-SHA256(key=secret, pattern); legacy ``md5``:
   MD5(pattern). Lowercase hex. ``access_token`` is not signed.

Message push (消息推送, op.jinritemai.com/docs/guide-docs/153/99): the platform POSTs a JSON
array to the app's URL with the headers ``app-id`` (the app key) and ``event-sign`` =
MD5(app_key + body + app_secret), lowercase hex, over the raw body bytes [V: public SDKs].
A ``sign-method: hmac-sha256`` header selects HMAC-SHA256(key=secret, same string) [I: the
API-side method offered for pushes too; md5 stays the default when the header is absent].
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

API_VERSION = "2"

PUSH_APP_ID_HEADER = "app-id"
PUSH_SIGN_HEADER = "event-sign"
PUSH_SIGN_METHOD_HEADER = "sign-method"


class SignMethod(StrEnum):
    MD5 = "md5"
    HMAC_SHA256 = "hmac-sha256"


def param_json(params: Mapping[str, Any] | None) -> str:
    """The canonical ``param_json``: sorted keys, compact, UTF-8 kept, ``{}`` when empty."""
    return json.dumps(dict(params or {}), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign_pattern(
    *, app_key: str, secret: str, method: str, param_json: str, timestamp: str, v: str = API_VERSION
) -> str:
    """The string both sign methods hash (secret on both ends, fixed parameter order)."""
    return f"{secret}app_key{app_key}method{method}param_json{param_json}timestamp{timestamp}v{v}{secret}"


def _digest(text: str, secret: str, method: SignMethod) -> str:
    data = text.encode("utf-8")
    if method is SignMethod.MD5:
        return hashlib.md5(data).hexdigest()
    return hmac.new(secret.encode("utf-8"), data, hashlib.sha256).hexdigest()


def sign(
    *,
    app_key: str,
    secret: str,
    method: str,
    param_json: str,
    timestamp: str,
    sign_method: SignMethod | str = SignMethod.HMAC_SHA256,
    v: str = API_VERSION,
) -> str:
    """The lowercase-hex ``sign`` of one API call. An unknown ``sign_method`` raises ValueError."""
    chosen = SignMethod(sign_method)
    pattern = sign_pattern(
        app_key=app_key, secret=secret, method=method, param_json=param_json, timestamp=timestamp, v=v
    )
    return _digest(pattern, secret, chosen)


def verify(
    given: str,
    *,
    app_key: str,
    secret: str,
    method: str,
    param_json: str,
    timestamp: str,
    sign_method: str = SignMethod.MD5,
    v: str = API_VERSION,
) -> bool:
    """Whether ``given`` signs this call (hex compared case-insensitively, in constant time).

    ``sign_method`` is the request's own ``sign_method`` param; the gateway treats a missing
    one as legacy ``md5``. An unknown method never verifies.
    """
    try:
        expected = sign(
            app_key=app_key,
            secret=secret,
            method=method,
            param_json=param_json,
            timestamp=timestamp,
            sign_method=sign_method or SignMethod.MD5,
            v=v,
        )
    except ValueError:
        return False
    return hmac.compare_digest(given.strip().lower().encode(), expected.encode())


def push_sign(body: bytes, *, app_key: str, secret: str, sign_method: SignMethod | str = SignMethod.MD5) -> str:
    """The ``event-sign`` header value for a message-push body (raw bytes as posted)."""
    chosen = SignMethod(sign_method)
    data = app_key.encode("utf-8") + body + secret.encode("utf-8")
    if chosen is SignMethod.MD5:
        return hashlib.md5(data).hexdigest()
    return hmac.new(secret.encode("utf-8"), data, hashlib.sha256).hexdigest()


def verify_push(headers: Mapping[str, str], body: bytes, *, app_key: str, secret: str) -> bool:
    """Whether a message push really comes from Douyin for this app.

    ``headers`` may use any case (``app-id``, ``App-Id``...); ``body`` must be the raw request
    bytes, not a re-serialised copy. Checks the ``app-id`` header against ``app_key`` and the
    ``event-sign`` header against :func:`push_sign` under the ``sign-method`` header (md5 when
    absent), in constant time. Pure: the sync engine calls it before parsing anything.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    if lowered.get(PUSH_APP_ID_HEADER, "").strip() != app_key:
        return False
    given = lowered.get(PUSH_SIGN_HEADER, "").strip().lower()
    if not given:
        return False
    method = lowered.get(PUSH_SIGN_METHOD_HEADER, "").strip().lower() or SignMethod.MD5
    try:
        expected = push_sign(body, app_key=app_key, secret=secret, sign_method=method)
    except ValueError:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
