"""TOP signing against the vectors in PLATFORMS.md §1.2 (official [V:S3] and computed [C])."""

from __future__ import annotations

import pytest

from connectors.signing.taobao import SignMethod, canonical_string, sign, verify

SECRET = "helloworld"
DOC_PARAMS = {
    "method": "taobao.item.seller.get",
    "app_key": "12345678",
    "session": "test",
    "timestamp": "2016-01-01 12:00:00",
    "format": "json",
    "v": "2.0",
    "sign_method": "md5",
    "fields": "num_iid,title,nick,price,num",
    "num_iid": "11223344",
}


def test_canonical_string_matches_the_documented_concatenation() -> None:
    assert canonical_string(DOC_PARAMS) == (
        "app_key12345678fieldsnum_iid,title,nick,price,numformatjsonmethodtaobao.item.seller.get"
        "num_iid11223344sessiontestsign_methodmd5timestamp2016-01-01 12:00:00v2.0"
    )


def test_official_md5_vector() -> None:
    assert sign(DOC_PARAMS, SECRET) == "66987CB115214E59E6EC978214934FB8"


def test_second_official_md5_vector() -> None:
    params = {
        "app_key": "test",
        "fields": "nick",
        "format": "xml",
        "method": "taobao.user.seller.get",
        "session": "test",
        "sign_method": "md5",
        "timestamp": "2013-05-06 13:52:03",
        "v": "2.0",
    }
    assert sign(params, "test") == "72CB4D809B375A54502C09360D879C64"


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        (SignMethod.HMAC, "D56D7858309C31B6251083A874D48273"),
        (SignMethod.HMAC_SHA256, "04DB15AD0774D5CFCE2C837DE43E3FCEA9011ED74F3038FB6AB5F3C4CEA119E8"),
    ],
)
def test_computed_hmac_vectors(method: SignMethod, expected: str) -> None:
    params = {**DOC_PARAMS, "sign_method": method.value}
    assert sign(params, SECRET) == expected
    # the method can also be forced explicitly
    assert sign(params, SECRET, method) == expected


def test_sign_and_empty_values_are_left_out() -> None:
    with_noise = {**DOC_PARAMS, "sign": "ANYTHING", "partner_id": ""}
    assert sign(with_noise, SECRET) == "66987CB115214E59E6EC978214934FB8"


def test_non_ascii_values_are_hashed_as_utf8() -> None:
    a = sign({**DOC_PARAMS, "q": "苹果"}, SECRET)
    b = sign({**DOC_PARAMS, "q": "苹菓"}, SECRET)
    assert a != b and len(a) == 32 and a == a.upper()


def test_unknown_sign_method_is_refused() -> None:
    with pytest.raises(ValueError):
        sign({**DOC_PARAMS, "sign_method": "sha1"}, SECRET)


def test_verify() -> None:
    signed = {**DOC_PARAMS, "sign": "66987CB115214E59E6EC978214934FB8"}
    assert verify(signed, SECRET)
    assert not verify(signed, "wrong-secret")
    assert not verify({**signed, "sign": signed["sign"].lower()}, SECRET)
    assert not verify({**signed, "num_iid": "11223345"}, SECRET)
    assert not verify({**signed, "sign_method": "sha1"}, SECRET)
    assert not verify(DOC_PARAMS, SECRET)


def test_without_a_sign_method_param_md5_is_used() -> None:
    no_method = {k: v for k, v in DOC_PARAMS.items() if k != "sign_method"}
    assert sign(no_method, SECRET) == "FDCF629E159E33081F0BADACEC016CD5"  # [C] MD5(secret + concat + secret)
    assert verify({**no_method, "sign": "FDCF629E159E33081F0BADACEC016CD5"}, SECRET)


def test_an_explicit_method_wins_over_the_sign_method_param() -> None:
    # sign_method=md5 is still signed as a param, but the digest is the one asked for: HMAC-MD5
    assert sign(DOC_PARAMS, SECRET, SignMethod.HMAC) == "B4DDA503460D60A86B16E950E5D303E9"  # [C]
    assert sign(DOC_PARAMS, SECRET, "md5") == "66987CB115214E59E6EC978214934FB8"
