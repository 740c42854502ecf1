"""JOS signing against the vectors in PLATFORMS.md §2.1 (official [V:S7] and computed [C])."""

from __future__ import annotations

import pytest

from connectors.signing.jd import canonical_string, sign, verify

SECRET = "yourappSecret"
PARAM_JSON = (
    '{"end_date":null,"optional_fields":null,"order_state":"WAIT_SELLER_STOCK_OUT",'
    '"page":"1","page_size":"200","start_date":null}'
)
DOC_PARAMS = {
    "method": "jingdong.pop.order.search",
    "app_key": "yourappkey",
    "access_token": "yourtoken",
    "timestamp": "2021-05-07 09:20:39.683+0800",
    "v": "2.0",
    "360buy_param_json": PARAM_JSON,
}
OFFICIAL = "D70825340F4084360B9362B60DFD7930"


def test_canonical_string_matches_the_documented_concatenation() -> None:
    assert canonical_string(DOC_PARAMS) == (
        "360buy_param_json" + PARAM_JSON + "access_tokenyourtokenapp_keyyourappkey"
        "methodjingdong.pop.order.searchtimestamp2021-05-07 09:20:39.683+0800v2.0"
    )


def test_official_vector() -> None:
    assert sign(DOC_PARAMS, SECRET) == OFFICIAL


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"format": "json"}, "9074338BB774A674DF1E00804A6B7ADA"),  # [C] optional format is signed
        ({"timestamp": "2021-05-07 09:20:39"}, "F95FAADED249E048AB96BA34CAEE1BEB"),  # [C] plain ts
    ],
)
def test_computed_vectors(extra: dict[str, str], expected: str) -> None:
    assert sign({**DOC_PARAMS, **extra}, SECRET) == expected


def test_sign_and_empty_values_are_left_out() -> None:
    assert sign({**DOC_PARAMS, "sign": "ANYTHING", "format": ""}, SECRET) == OFFICIAL


def test_explicit_md5_sign_method_is_signed_like_any_param() -> None:
    with_method = {**DOC_PARAMS, "sign_method": "md5"}
    assert sign(with_method, SECRET) != OFFICIAL
    assert verify({**with_method, "sign": sign(with_method, SECRET)}, SECRET)


def test_param_json_is_hashed_byte_for_byte() -> None:
    respaced = {**DOC_PARAMS, "360buy_param_json": PARAM_JSON.replace(",", ", ")}
    assert sign(respaced, SECRET) != OFFICIAL
    non_ascii = {**DOC_PARAMS, "360buy_param_json": '{"q":"苹果"}'}
    other = {**DOC_PARAMS, "360buy_param_json": '{"q":"苹菓"}'}
    assert sign(non_ascii, SECRET) != sign(other, SECRET)


def test_other_sign_methods_are_refused() -> None:
    with pytest.raises(ValueError):
        sign({**DOC_PARAMS, "sign_method": "hmac"}, SECRET)


def test_verify() -> None:
    signed = {**DOC_PARAMS, "sign": OFFICIAL}
    assert verify(signed, SECRET)
    assert not verify(signed, "wrong-secret")
    assert not verify({**signed, "sign": OFFICIAL.lower()}, SECRET)
    assert not verify({**signed, "access_token": "othertoken"}, SECRET)
    assert not verify({**signed, "sign_method": "hmac"}, SECRET)
    assert not verify(DOC_PARAMS, SECRET)


def test_an_empty_sign_method_means_md5_and_any_case_of_md5_is_md5() -> None:
    # An empty value is left out of the concatenation too, so the official vector still holds.
    assert sign({**DOC_PARAMS, "sign_method": ""}, SECRET) == OFFICIAL
    assert sign({**DOC_PARAMS, "sign_method": "MD5"}, SECRET) == "111210807F3CABF1730E47E21DCAA3A4"  # [C]


def test_the_refusal_names_the_method() -> None:
    with pytest.raises(ValueError, match="JOS signs with md5 only, not 'hmac'"):
        sign({**DOC_PARAMS, "sign_method": "hmac"}, SECRET)
