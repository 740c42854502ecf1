"""Youzan (有赞云) access-token handling. Youzan calls carry **no request signature** [V:S15].

What stands in for signing on Youzan is the token: every business call is
``POST /api/{api}/{version}?access_token=TOKEN`` with a JSON body, and the gateway checks only
that token (PLATFORMS.md §5, §8). The token comes from ``POST /auth/token`` with a JSON body,
as the official open-sdk-node builds it (``src/token.js``, ``src/config/http.js``):

* self-use app: ``{client_id, client_secret, authorize_type: "silent", grant_id: <kdt_id>,
  refresh: <bool>}``; ``refresh=true`` mints a new token, ``false`` returns the current one;
* tool app: ``authorize_type: "authorization_code"`` with ``code`` (+ ``redirect_uri`` in the SDK);
* either: ``authorize_type: "refresh_token"`` with ``refresh_token``.

The answer is ``{"success": true, "code": 200, "data": {"access_token", "expires",
"refresh_token"?, "scope", "authority_id"}, "message": ...}`` where ``expires`` is the expiry
instant in **epoch milliseconds** (not a duration) [I for the exact keys, PLATFORMS.md §5].
Token errors use the same ``{success: false, code, message}`` shape (1000 bad secret, 1004
authorisation expired, 1005 bad code, 1103 unknown client / grant, 1105 wrong app type).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote

TOKEN_PATH = "/auth/token"
API_PREFIX = "/api"
# Refresh this long before the token's stated expiry (tokens live 7 days on Youzan).
DEFAULT_REFRESH_MARGIN = timedelta(hours=1)


class AuthorizeType(StrEnum):
    SILENT = "silent"
    AUTHORIZATION_CODE = "authorization_code"
    REFRESH_TOKEN = "refresh_token"


class TokenRequestError(ValueError):
    """A token request that the SDK itself would refuse before sending it."""


class TokenResponseError(Exception):
    """``/auth/token`` answered ``success: false`` (or something that is not a token)."""

    def __init__(self, code: int | str | None, message: str) -> None:
        super().__init__(f"youzan /auth/token error {code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class YouzanToken:
    access_token: str = field(repr=False)
    expires_at: datetime  # aware UTC
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None
    authority_id: str | None = None  # the shop's kdt_id

    def __post_init__(self) -> None:
        if self.expires_at.utcoffset() is None:
            raise ValueError("expires_at must be timezone-aware")

    def needs_refresh(self, now: datetime, margin: timedelta = DEFAULT_REFRESH_MARGIN) -> bool:
        """True when ``now`` is within ``margin`` of the expiry (or past it)."""
        return now >= self.expires_at - margin


def token_request_body(
    authorize_type: AuthorizeType,
    client_id: str,
    client_secret: str,
    *,
    grant_id: str | int | None = None,
    refresh: bool = False,
    code: str | None = None,
    redirect_uri: str | None = None,
    refresh_token: str | None = None,
) -> dict[str, Any]:
    """The JSON body for ``POST /auth/token``, checked the way open-sdk-node checks it."""
    if not client_id or not client_secret:
        raise TokenRequestError("client_id and client_secret are required")
    body: dict[str, Any] = {
        "client_id": client_id,
        "client_secret": client_secret,
        "authorize_type": authorize_type.value,
    }
    if authorize_type is AuthorizeType.SILENT:
        if grant_id is None or str(grant_id) == "":
            raise TokenRequestError("silent authorisation needs grant_id (the kdt_id)")
        body["grant_id"] = str(grant_id)
        body["refresh"] = bool(refresh)  # a JSON boolean, never the string "false"
    elif authorize_type is AuthorizeType.AUTHORIZATION_CODE:
        if not code:
            raise TokenRequestError("authorization_code needs code")
        body["code"] = code
        if redirect_uri:
            body["redirect_uri"] = redirect_uri
    else:
        if not refresh_token:
            raise TokenRequestError("refresh_token authorisation needs refresh_token")
        body["refresh_token"] = refresh_token
    return body


def expires_ms_to_datetime(expires: object) -> datetime:
    """``data.expires`` (epoch milliseconds) -> aware UTC datetime."""
    if isinstance(expires, bool):
        raise TokenResponseError(None, f"expires is not an epoch-ms value: {expires!r}")
    if not isinstance(expires, int | str):
        raise TokenResponseError(None, f"expires is not an epoch-ms value: {expires!r}")
    try:
        millis = int(expires)
    except ValueError as exc:
        raise TokenResponseError(None, f"expires is not an epoch-ms value: {expires!r}") from exc
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def datetime_to_expires_ms(when: datetime) -> int:
    if when.utcoffset() is None:
        raise ValueError("need an aware datetime")
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def parse_token_response(body: Any) -> YouzanToken:
    """Read ``/auth/token``'s answer; raise :class:`TokenResponseError` on ``success: false``."""
    if not isinstance(body, Mapping):
        raise TokenResponseError(None, "token response is not a JSON object")
    if body.get("success") is not True or body.get("code") not in (200, "200"):
        raise TokenResponseError(body.get("code"), str(body.get("message") or "token request refused"))
    data = body.get("data")
    if not isinstance(data, Mapping):
        raise TokenResponseError(body.get("code"), "token response has no data object")
    access_token = data.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise TokenResponseError(body.get("code"), "token response has no access_token")
    refresh_token = data.get("refresh_token")
    authority_id = data.get("authority_id")
    scope = data.get("scope")
    return YouzanToken(
        access_token=access_token,
        expires_at=expires_ms_to_datetime(data.get("expires")),
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        scope=scope if isinstance(scope, str) else None,
        authority_id=str(authority_id) if authority_id is not None else None,
    )


def api_path(api: str, version: str) -> str:
    """``("youzan.trade.get", "4.0.2")`` -> ``/api/youzan.trade.get/4.0.2``."""
    if not api or "/" in api or not version or "/" in version:
        raise ValueError(f"bad api/version: {api!r} {version!r}")
    return f"{API_PREFIX}/{api}/{version}"


def api_url(base_url: str, api: str, version: str, access_token: str) -> str:
    """The full call URL; the token goes in the query string and nowhere else."""
    return f"{base_url.rstrip('/')}{api_path(api, version)}?access_token={quote(access_token, safe='')}"
