from __future__ import annotations

import pytest

from bangfu.privacy import buyer_ref, id_number_hash, keyed_hash, mask_name, mask_phone


def test_identity_numbers_are_hashed_with_the_key_and_normalised() -> None:
    a = id_number_hash("51332819800101001x", key=b"k1")
    assert a == id_number_hash("51332819800101001X ", key=b"k1")
    assert a != id_number_hash("51332819800101001X", key=b"k2")
    assert "513328" not in a and len(a) == 64


def test_malformed_identity_number_is_refused() -> None:
    with pytest.raises(ValueError, match="17 digits"):
        id_number_hash("12345", key=b"k")


def test_configured_key_is_used_by_default() -> None:
    # conftest sets BANGFU_HASH_KEY for every test
    assert keyed_hash("p", "v") == keyed_hash("p", "v", key=b"test-hash-key-not-a-secret")


def test_buyer_refs_differ_by_platform() -> None:
    assert buyer_ref("taobao", "tb123", key=b"k") != buyer_ref("jd", "tb123", key=b"k")


def test_masks() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+86 138-1234-5678") == "138****5678"
    assert mask_phone("1234") == "**34"
    assert mask_name("张三丰") == "张**"
    assert mask_name("泽") == "泽*"


def test_mask_address_keeps_only_the_region() -> None:
    from bangfu.privacy import mask_address

    assert mask_address("四川省甘孜州甘孜县城关镇幸福路 18 号") == "四川省甘孜州****"
    assert mask_address("  北京市  ") == "北京*"
    assert mask_address("") == ""
