"""Kuaishou signing against the computed vectors in PLATFORMS.md §4.1 ([C])."""

from __future__ import annotations

import pytest

from connectors.signing.kuaishou import SignMethod, sign, sign_string, verify

SIGN_SECRET = "ss"
PARAM = (
    '{"orderViewStatus":1,"pageSize":50,"queryType":2,"beginTime":1700000000000,"endTime":1700003600000,"cursor":""}'
)
VECTOR = {
    "access_token": "tok",
    "appkey": "ks123",
    "method": "open.order.cursor.list",
    "param": PARAM,
    "signMethod": "MD5",
    "timestamp": "1700003600000",
    "version": "1",
}
MD5_EXPECTED = "b28b67c0d1d71ba64f41881acc9bb262"
HMAC_EXPECTED = "RnbXle+zvpWUi7HA6Wrpgz5rLVS31qHDaLSK/fipeEM="


def test_sign_string_is_sorted_pairs_with_the_sign_secret_suffix() -> None:
    assert sign_string(VECTOR, SIGN_SECRET) == (
        "access_token=tok&appkey=ks123&method=open.order.cursor.list&param="
        + PARAM
        + "&signMethod=MD5&timestamp=1700003600000&version=1&signSecret=ss"
    )


def test_md5_vector() -> None:
    assert sign(VECTOR, SIGN_SECRET) == MD5_EXPECTED


def test_hmac_sha256_vector_is_base64() -> None:
    params = {**VECTOR, "signMethod": "HMAC_SHA256"}
    assert sign(params, SIGN_SECRET) == HMAC_EXPECTED
    assert sign(params, SIGN_SECRET, SignMethod.HMAC_SHA256) == HMAC_EXPECTED


def test_sign_and_unsigned_keys_are_ignored_none_is_left_out() -> None:
    noisy = {**VECTOR, "sign": "whatever", "extra": "x", "uid": None}
    assert sign(noisy, SIGN_SECRET) == MD5_EXPECTED
    without_token = {k: v for k, v in VECTOR.items() if k != "access_token"}
    assert "access_token" not in sign_string({**without_token, "access_token": None}, SIGN_SECRET)
    assert sign({**without_token, "access_token": None}, SIGN_SECRET) == sign(without_token, SIGN_SECRET)


def test_an_empty_string_value_still_takes_part() -> None:
    assert sign({**VECTOR, "param": ""}, SIGN_SECRET) != sign({**VECTOR, "param": "{}"}, SIGN_SECRET)
    assert "&param=&" in sign_string({**VECTOR, "param": ""}, SIGN_SECRET)


def test_the_signed_param_is_the_exact_json_text() -> None:
    # key order and spacing inside param change the sign: the gateway hashes the text as sent
    reordered = PARAM.replace('"orderViewStatus":1,"pageSize":50', '"pageSize":50,"orderViewStatus":1')
    assert sign({**VECTOR, "param": reordered}, SIGN_SECRET) != MD5_EXPECTED


def test_default_method_is_md5_and_unknown_is_refused() -> None:
    no_method = {k: v for k, v in VECTOR.items() if k != "signMethod"}
    assert len(sign(no_method, SIGN_SECRET)) == 32
    with pytest.raises(ValueError):
        sign({**VECTOR, "signMethod": "SHA1"}, SIGN_SECRET)


def test_verify() -> None:
    assert verify({**VECTOR, "sign": MD5_EXPECTED}, SIGN_SECRET)
    assert verify({**VECTOR, "signMethod": "HMAC_SHA256", "sign": HMAC_EXPECTED}, SIGN_SECRET)
    assert not verify({**VECTOR, "sign": MD5_EXPECTED.upper()}, SIGN_SECRET)
    assert not verify({**VECTOR, "sign": MD5_EXPECTED}, "wrong")
    assert not verify({**VECTOR, "timestamp": "1700003600001", "sign": MD5_EXPECTED}, SIGN_SECRET)
    assert not verify({**VECTOR, "signMethod": "HMAC_SHA256", "sign": MD5_EXPECTED}, SIGN_SECRET)
    assert not verify({**VECTOR, "signMethod": "SHA1", "sign": MD5_EXPECTED}, SIGN_SECRET)
    assert not verify(VECTOR, SIGN_SECRET)


def test_without_a_sign_method_md5_is_used_and_an_explicit_method_wins() -> None:
    no_method = {k: v for k, v in VECTOR.items() if k != "signMethod"}
    assert sign(no_method, SIGN_SECRET) == "3f658e035adad8dea03cd03aaaaa8eea"  # [C]
    assert sign({**no_method, "signMethod": None}, SIGN_SECRET) == "3f658e035adad8dea03cd03aaaaa8eea"
    assert sign(no_method, SIGN_SECRET, SignMethod.HMAC_SHA256) == "6IoROAVFCtaKVJd26Th7PI/05zhmx+fdCwwiWxpKCw0="
