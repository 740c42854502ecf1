"""Douyin signing now lives with its connector in :mod:`connectors.douyin.sign`; re-exported here
for the code that imports it by this name (sync.webhooks, the fakes, the signing tests)."""

from connectors.douyin.sign import (
    API_VERSION,
    PUSH_APP_ID_HEADER,
    PUSH_SIGN_HEADER,
    PUSH_SIGN_METHOD_HEADER,
    SignMethod,
    param_json,
    push_sign,
    sign,
    sign_pattern,
    verify,
    verify_push,
)

__all__ = [
    "API_VERSION",
    "PUSH_APP_ID_HEADER",
    "PUSH_SIGN_HEADER",
    "PUSH_SIGN_METHOD_HEADER",
    "SignMethod",
    "param_json",
    "push_sign",
    "sign",
    "sign_pattern",
    "verify",
    "verify_push",
]
