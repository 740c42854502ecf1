"""Youzan token handling now lives with its connector in :mod:`connectors.youzan.sign`;
re-exported here for the code that imports it by this name (the signing tests)."""

from connectors.youzan.sign import (
    API_PREFIX,
    DEFAULT_REFRESH_MARGIN,
    TOKEN_PATH,
    AuthorizeType,
    TokenRequestError,
    TokenResponseError,
    YouzanToken,
    api_path,
    api_url,
    datetime_to_expires_ms,
    expires_ms_to_datetime,
    parse_token_response,
    token_request_body,
)

__all__ = [
    "API_PREFIX",
    "DEFAULT_REFRESH_MARGIN",
    "TOKEN_PATH",
    "AuthorizeType",
    "TokenRequestError",
    "TokenResponseError",
    "YouzanToken",
    "api_path",
    "api_url",
    "datetime_to_expires_ms",
    "expires_ms_to_datetime",
    "parse_token_response",
    "token_request_body",
]
