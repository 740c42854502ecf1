"""Douyin signing: the [C] vectors of PLATFORMS.md §3.1 and message-push verification."""

from __future__ import annotations

import pytest

from connectors.signing import douyin as sig

# PLATFORMS.md §3.1 [C]
APP_KEY = "1234567890123456789"
SECRET = "testsecret"
METHOD = "order.searchList"
TS = "1700000000"
PARAM_JSON = (
    '{"order_by":"update_time","page":0,"size":100,"update_time_end":1700000000,"update_time_start":1699990000}'
)
HMAC_VECTOR = "25c0f18e4c0a1bba0a5c05493615dc793453b35ef09e5e93e80ad5282d26d4b5"
MD5_VECTOR = "27601e95e081743e35f9dcf81eada022"


def test_param_json_is_sorted_compact_and_keeps_utf8() -> None:
    params = {
        "update_time_start": 1699990000,
        "size": 100,
        "page": 0,
        "update_time_end": 1700000000,
        "order_by": "update_time",
    }
    assert sig.param_json(params) == PARAM_JSON
    assert sig.param_json({"b": "抖店", "a": [1, {"z": 1, "y": "<&>"}]}) == '{"a":[1,{"y":"<&>","z":1}],"b":"抖店"}'
    assert sig.param_json(None) == "{}"
    assert sig.param_json({}) == "{}"


def test_pattern_wraps_secret_and_orders_params() -> None:
    pattern = sig.sign_pattern(app_key=APP_KEY, secret=SECRET, method=METHOD, param_json="{}", timestamp=TS)
    assert pattern == f"testsecretapp_key{APP_KEY}methodorder.searchListparam_json{{}}timestamp{TS}v2testsecret"


@pytest.mark.parametrize(
    ("method", "expected"),
    [(sig.SignMethod.HMAC_SHA256, HMAC_VECTOR), (sig.SignMethod.MD5, MD5_VECTOR), ("md5", MD5_VECTOR)],
)
def test_computed_vectors(method: str, expected: str) -> None:
    got = sig.sign(
        app_key=APP_KEY, secret=SECRET, method=METHOD, param_json=PARAM_JSON, timestamp=TS, sign_method=method
    )
    assert got == expected


def test_default_sign_method_is_hmac_sha256() -> None:
    got = sig.sign(app_key=APP_KEY, secret=SECRET, method=METHOD, param_json=PARAM_JSON, timestamp=TS)
    assert got == HMAC_VECTOR


def test_unknown_sign_method_is_refused() -> None:
    with pytest.raises(ValueError):
        sig.sign(app_key=APP_KEY, secret=SECRET, method=METHOD, param_json="{}", timestamp=TS, sign_method="sha1")


def test_verify_accepts_both_methods_and_upper_hex() -> None:
    common = {
        "app_key": APP_KEY,
        "secret": SECRET,
        "method": METHOD,
        "param_json": PARAM_JSON,
        "timestamp": TS,
    }
    assert sig.verify(HMAC_VECTOR, sign_method="hmac-sha256", **common)
    assert sig.verify(HMAC_VECTOR.upper(), sign_method="hmac-sha256", **common)
    assert sig.verify(MD5_VECTOR, sign_method="md5", **common)
    # a missing sign_method means legacy md5
    assert sig.verify(MD5_VECTOR, sign_method="", **common)
    assert not sig.verify(HMAC_VECTOR, sign_method="md5", **common)
    assert not sig.verify(MD5_VECTOR, sign_method="rsa", **common)


def test_verify_hashes_the_string_as_sent() -> None:
    # Same object, different serialisation: a different string, so a different sign.
    spaced = PARAM_JSON.replace(",", ", ")
    assert not sig.verify(
        HMAC_VECTOR,
        app_key=APP_KEY,
        secret=SECRET,
        method=METHOD,
        param_json=spaced,
        timestamp=TS,
        sign_method="hmac-sha256",
    )
    signed_spaced = sig.sign(app_key=APP_KEY, secret=SECRET, method=METHOD, param_json=spaced, timestamp=TS)
    assert sig.verify(
        signed_spaced,
        app_key=APP_KEY,
        secret=SECRET,
        method=METHOD,
        param_json=spaced,
        timestamp=TS,
        sign_method="hmac-sha256",
    )


def test_verify_rejects_a_changed_field() -> None:
    base = {"app_key": APP_KEY, "secret": SECRET, "method": METHOD, "param_json": PARAM_JSON, "timestamp": TS}
    for field, value in [
        ("app_key", "1234567890123456780"),
        ("secret", "testsecreT"),
        ("method", "order.orderDetail"),
        ("timestamp", "1700000001"),
    ]:
        changed = {**base, field: value}
        assert not sig.verify(HMAC_VECTOR, sign_method="hmac-sha256", **changed), field


def test_legacy_datetime_timestamp_is_signed_verbatim() -> None:
    legacy_ts = "2023-11-15 06:13:20"
    md5 = sig.sign(
        app_key=APP_KEY, secret=SECRET, method=METHOD, param_json="{}", timestamp=legacy_ts, sign_method="md5"
    )
    assert md5 == "53dd4d7a74294781a957e23f55e8e2a0"
    assert sig.verify(md5, app_key=APP_KEY, secret=SECRET, method=METHOD, param_json="{}", timestamp=legacy_ts)


def test_the_version_is_signed_as_given() -> None:
    common = {"app_key": APP_KEY, "secret": SECRET, "method": METHOD, "param_json": PARAM_JSON, "timestamp": TS}
    v1_hmac = "5b20eff52490fdc3942b6c79f5b239e44880a7b758157800ed755ae4d2844120"  # [C] with "v1" in the pattern
    assert sig.sign(v="1", **common) == v1_hmac
    assert sig.sign(v="1", sign_method="md5", **common) == "b6fdd03154466758372554d04771a87c"  # [C]
    assert sig.verify(v1_hmac, v="1", sign_method="hmac-sha256", **common)
    assert not sig.verify(HMAC_VECTOR, v="1", sign_method="hmac-sha256", **common)


# Message push: computed with the verified md5 rule and the [I] hmac variant.
PUSH_BODY = (
    b'[{"tag":"101","msg_id":"7000000000000000001","data":"{\\"p_id\\":4987000000000000001,\\"shop_id\\":1234567}"}]'
)
PUSH_MD5 = "448a6ad09c4cbef620f2c16546b279ff"
PUSH_HMAC = "0a590653c98de390e96700cffe8645fbfe37ccf40a1e78ea1c40b7d7c6a87a7e"


def test_push_sign_vectors() -> None:
    assert sig.push_sign(PUSH_BODY, app_key=APP_KEY, secret=SECRET) == PUSH_MD5
    assert sig.push_sign(PUSH_BODY, app_key=APP_KEY, secret=SECRET, sign_method="hmac-sha256") == PUSH_HMAC


def test_verify_push_accepts_genuine_messages() -> None:
    assert sig.verify_push({"app-id": APP_KEY, "event-sign": PUSH_MD5}, PUSH_BODY, app_key=APP_KEY, secret=SECRET)
    assert sig.verify_push(
        {"App-Id": APP_KEY, "Event-Sign": PUSH_MD5.upper()}, PUSH_BODY, app_key=APP_KEY, secret=SECRET
    )
    assert sig.verify_push(
        {"app-id": APP_KEY, "event-sign": PUSH_HMAC, "sign-method": "hmac-sha256"},
        PUSH_BODY,
        app_key=APP_KEY,
        secret=SECRET,
    )
    assert sig.verify_push(
        {"app-id": APP_KEY, "event-sign": PUSH_MD5, "sign-method": "MD5"},
        PUSH_BODY,
        app_key=APP_KEY,
        secret=SECRET,
    )


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"app-id": APP_KEY, "event-sign": PUSH_MD5}, PUSH_BODY + b" "),  # body changed
        ({"app-id": "9999999999999999999", "event-sign": PUSH_MD5}, PUSH_BODY),  # another app
        ({"event-sign": PUSH_MD5}, PUSH_BODY),  # no app-id
        ({"app-id": APP_KEY}, PUSH_BODY),  # no sign
        ({"app-id": APP_KEY, "event-sign": ""}, PUSH_BODY),
        ({"app-id": APP_KEY, "event-sign": PUSH_MD5, "sign-method": "hmac-sha256"}, PUSH_BODY),
        ({"app-id": APP_KEY, "event-sign": PUSH_MD5, "sign-method": "sha1"}, PUSH_BODY),
        ({"app-id": APP_KEY, "event-sign": PUSH_HMAC}, PUSH_BODY),  # hmac sign, md5 assumed
    ],
)
def test_verify_push_rejects_forgeries(headers: dict[str, str], body: bytes) -> None:
    assert not sig.verify_push(headers, body, app_key=APP_KEY, secret=SECRET)


def test_verify_push_uses_the_raw_bytes_not_a_reserialisation() -> None:
    reserialised = (
        b'[{"data": "{\\"p_id\\":4987000000000000001,\\"shop_id\\":1234567}", '
        b'"msg_id": "7000000000000000001", "tag": "101"}]'
    )
    assert not sig.verify_push(
        {"app-id": APP_KEY, "event-sign": PUSH_MD5}, reserialised, app_key=APP_KEY, secret=SECRET
    )
