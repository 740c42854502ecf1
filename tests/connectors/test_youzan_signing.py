"""Youzan token handling (connectors/signing/youzan.py) to the exact value: every refusal names
what is wrong, every optional field of the token answer is read or left out as documented.

test_youzan.py covers the SDK shapes and the documented answer; these pin the edges.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.signing.youzan import (
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

EXPIRES_MS = 1583720718116
EXPIRES_AT = datetime(2020, 3, 9, 2, 25, 18, 116000, tzinfo=UTC)


def answer(**data: object) -> dict[str, object]:
    return {"success": True, "code": 200, "data": {"access_token": "tok", "expires": EXPIRES_MS, **data}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"authorize_type": AuthorizeType.SILENT, "client_id": "", "grant_id": 1},
            "client_id and client_secret are required",
        ),
        (
            {"authorize_type": AuthorizeType.SILENT, "client_secret": "", "grant_id": 1},
            "client_id and client_secret are required",
        ),
        ({"authorize_type": AuthorizeType.SILENT}, r"silent authorisation needs grant_id \(the kdt_id\)"),
        (
            {"authorize_type": AuthorizeType.SILENT, "grant_id": ""},
            r"silent authorisation needs grant_id \(the kdt_id\)",
        ),
        ({"authorize_type": AuthorizeType.AUTHORIZATION_CODE, "code": ""}, "authorization_code needs code"),
        ({"authorize_type": AuthorizeType.REFRESH_TOKEN}, "refresh_token authorisation needs refresh_token"),
    ],
)
def test_token_requests_the_sdk_would_refuse_say_why(kwargs: dict[str, object], message: str) -> None:
    args = {"client_id": "c", "client_secret": "s", **kwargs}
    with pytest.raises(TokenRequestError, match=f"^{message}$"):
        token_request_body(**args)  # type: ignore[arg-type]


def test_grant_id_zero_is_a_grant_id() -> None:
    assert token_request_body(AuthorizeType.SILENT, "c", "s", grant_id=0)["grant_id"] == "0"


def test_a_token_expires_at_an_aware_instant() -> None:
    with pytest.raises(ValueError, match=r"^expires_at must be timezone-aware$"):
        YouzanToken("t", datetime(2024, 1, 1))


def test_needs_refresh_exactly_at_the_margin() -> None:
    token = YouzanToken("t", datetime(2024, 1, 1, 12, tzinfo=UTC))
    assert token.needs_refresh(datetime(2024, 1, 1, 11, tzinfo=UTC))  # one hour before: refresh now
    assert not token.needs_refresh(datetime(2024, 1, 1, 10, 59, 59, 999999, tzinfo=UTC))


@pytest.mark.parametrize("bad", [True, 1.5, None, "soon"])
def test_expires_that_is_not_epoch_ms_is_refused_by_value(bad: object) -> None:
    with pytest.raises(TokenResponseError) as caught:
        expires_ms_to_datetime(bad)
    assert caught.value.code is None
    assert caught.value.message == f"expires is not an epoch-ms value: {bad!r}"
    assert str(caught.value) == f"youzan /auth/token error None: expires is not an epoch-ms value: {bad!r}"


def test_expires_round_trips_to_the_millisecond() -> None:
    assert expires_ms_to_datetime(EXPIRES_MS) == EXPIRES_AT
    assert expires_ms_to_datetime(str(EXPIRES_MS)) == EXPIRES_AT
    sub_ms = datetime(2020, 1, 1, 0, 0, 0, 1500, tzinfo=UTC)  # 1.5 ms: floored to 1
    ms = datetime_to_expires_ms(sub_ms)
    assert ms == 1577836800001 and isinstance(ms, int)
    with pytest.raises(ValueError, match=r"^need an aware datetime$"):
        datetime_to_expires_ms(datetime(2020, 1, 1))


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ([], None, "token response is not a JSON object"),
        ({"success": False, "code": 1103, "message": "Client 不存在"}, 1103, "Client 不存在"),
        ({"success": True, "code": 500, "data": {"access_token": "t"}}, 500, "token request refused"),
        ({"success": False, "code": 200, "message": None}, 200, "token request refused"),
        ({"success": True, "code": 200, "data": None}, 200, "token response has no data object"),
        ({"success": True, "code": "200", "data": []}, "200", "token response has no data object"),
        ({"success": True, "code": 200, "data": {"expires": 1}}, 200, "token response has no access_token"),
        ({"success": True, "code": 200, "data": {"access_token": ""}}, 200, "token response has no access_token"),
        ({"success": True, "code": 200, "data": {"access_token": 7}}, 200, "token response has no access_token"),
    ],
)
def test_token_refusals_keep_the_code_and_say_what_is_missing(body: object, code: object, message: str) -> None:
    with pytest.raises(TokenResponseError) as caught:
        parse_token_response(body)
    assert (caught.value.code, caught.value.message) == (code, message)
    assert str(caught.value) == f"youzan /auth/token error {code}: {message}"


def test_the_code_may_come_as_a_string() -> None:
    assert parse_token_response({**answer(), "code": "200"}).access_token == "tok"


def test_optional_token_fields_are_kept_only_when_they_are_what_they_should_be() -> None:
    full = parse_token_response(answer(refresh_token="rt", scope="trade item", authority_id=42583152))
    assert (full.refresh_token, full.scope, full.authority_id) == ("rt", "trade item", "42583152")
    assert full.expires_at == EXPIRES_AT
    odd = parse_token_response(answer(refresh_token="", scope=["trade"], authority_id=None))
    assert (odd.refresh_token, odd.scope, odd.authority_id) == (None, None, None)
    assert parse_token_response(answer(refresh_token=5)).refresh_token is None
    bare = parse_token_response(answer())
    assert (bare.refresh_token, bare.scope, bare.authority_id) == (None, None, None)


def test_api_url_strips_only_trailing_slashes_of_the_base() -> None:
    assert api_url("http://gw.example/X//", "youzan.item.get", "3.0.0", "t") == (
        "http://gw.example/X/api/youzan.item.get/3.0.0?access_token=t"
    )


def test_needs_refresh_default_margin_is_one_hour() -> None:
    token = YouzanToken("t", EXPIRES_AT)
    assert token.needs_refresh(EXPIRES_AT - timedelta(hours=1))
    assert not token.needs_refresh(EXPIRES_AT - timedelta(hours=1, microseconds=1))


@pytest.mark.parametrize(("api", "version"), [("youzan.trade.get", "4.0/2"), ("", "1.0.0"), ("youzan/trade", "1.0.0")])
def test_an_api_path_never_takes_a_slash_from_its_parts(api: str, version: str) -> None:
    with pytest.raises(ValueError, match=rf"^bad api/version: {api!r} {version!r}$"):
        api_path(api, version)
