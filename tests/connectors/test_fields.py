"""The one field reader (connectors/fields.py): each kind of field read one way on every
platform, and the connectors that had drifted (Taobao took an all-zero id) now agree."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bangfu.money import MoneyError
from connectors import fields
from connectors.douyin import parse_settlement
from connectors.taobao import parse_refund, parse_trade


@pytest.mark.parametrize("raw", [{}, {"k": None}, {"k": ""}])
def test_missing_is_none_absent_or_empty_and_names_the_field(raw: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"missing 'k'"):
        fields.required(raw, "k")
    with pytest.raises(ValueError, match=r"missing 'k'"):
        fields.integer(raw, "k")
    assert fields.integer(raw, "k", 7) == 7
    assert fields.fen(raw, "k", 0) == 0
    assert fields.yuan(raw, "k", 0) == 0
    assert fields.opt_numeric_id(raw, "k") is None
    assert fields.opt_text_id(raw, "k") is None


def test_required_keeps_falsy_values_that_exist() -> None:
    assert fields.required({"k": 0}, "k") == 0
    assert fields.required({"k": False}, "k") is False


@pytest.mark.parametrize(("value", "expected"), [(12, 12), (-3, -3), ("42", 42), (" 42 ", 42), ("-5", -5)])
def test_integer_takes_json_integers_and_digit_strings(value: object, expected: int) -> None:
    assert fields.integer({"n": value}, "n") == expected


@pytest.mark.parametrize("value", [True, 3.0, "3.0", "1e3", "--5", "１２", "12a", [1]])
def test_integer_refuses_booleans_floats_and_anything_else(value: object) -> None:
    with pytest.raises(ValueError, match=r"'n' is not an integer"):
        fields.integer({"n": value}, "n")


def test_fen_is_an_integer_never_negative_unless_signed() -> None:
    assert fields.fen({"p": "1990"}, "p") == 1990
    with pytest.raises(ValueError, match=r"'p' is negative: -5"):
        fields.fen({"p": -5}, "p")
    assert fields.fen({"p": -5}, "p", signed=True) == -5
    with pytest.raises(ValueError, match="not an integer"):
        fields.fen({"p": "19.90"}, "p")  # yuan text where fen belongs


def test_yuan_is_exact_and_names_the_field() -> None:
    assert fields.yuan({"m": "108.05"}, "m") == 10805
    assert fields.yuan({"m": 3}, "m") == 300
    assert fields.yuan({"m": Decimal("5999.10")}, "m") == 599910
    assert fields.yuan({"m": "-1.50"}, "m") == -150
    for bad in (108.05, "1.005", "abc", True):
        with pytest.raises(MoneyError, match=r"^'m': "):
            fields.yuan({"m": bad}, "m")


def test_numeric_id_prefers_the_str_twin_only_when_asked() -> None:
    raw = {"tid": 462503790690334, "tid_str": "462503790690335"}
    assert fields.numeric_id(raw, "tid") == "462503790690334"
    assert fields.numeric_id(raw, "tid", twin=True) == "462503790690335"
    assert fields.numeric_id({"tid": 7, "tid_str": ""}, "tid", twin=True) == "7"
    assert fields.numeric_id({"tid": " 0012 "}, "tid") == "0012"


@pytest.mark.parametrize("value", ["12ab", "-12", True, 1.0, "１２"])
def test_numeric_id_refuses_what_is_not_digits(value: object) -> None:
    with pytest.raises(ValueError, match=r"'tid' is not (a numeric id|an id)"):
        fields.numeric_id({"tid": value}, "tid")


@pytest.mark.parametrize("value", [0, "0", "000", " 0 "])
def test_a_required_id_of_zeros_is_refused_an_optional_one_is_none(value: object) -> None:
    raw = {"id": value}
    for read in (fields.numeric_id, fields.text_id):
        with pytest.raises(ValueError, match=r"'id' is zero"):
            read(raw, "id")
    assert fields.opt_numeric_id(raw, "id") is None
    assert fields.opt_text_id(raw, "id") is None


def test_an_optional_twin_id_skips_a_zero_candidate() -> None:
    assert fields.opt_numeric_id({"sku_id": 0, "sku_id_str": "0"}, "sku_id", twin=True) is None
    assert fields.opt_numeric_id({"sku_id": 55, "sku_id_str": "0"}, "sku_id", twin=True) == "55"
    assert fields.opt_numeric_id({"sku_id": 55, "sku_id_str": "56"}, "sku_id", twin=True) == "56"
    with pytest.raises(ValueError, match="not a numeric id"):
        fields.opt_numeric_id({"sku_id": "x1"}, "sku_id")


def test_text_ids_need_not_be_numbers() -> None:
    assert fields.text_id({"tid": " E20240501000001 "}, "tid") == "E20240501000001"
    assert fields.opt_text_id({"oid": 123}, "oid") == "123"
    with pytest.raises(ValueError, match="not an id"):
        fields.text_id({"tid": {"nested": 1}}, "tid")


# -- the drift, at the connectors ----------------------------------------------------------------

KEY = b"test-hash-key-not-real"
LINE: dict[str, Any] = {
    "oid": 462503790690335,
    "num_iid": 600000001,
    "title": "牦牛肉 500g",
    "num": 1,
    "price": "30.00",
    "total_fee": "30.00",
    "payment": "30.00",
    "status": "WAIT_SELLER_SEND_GOODS",
    "refund_status": "NO_REFUND",
}
TRADE: dict[str, Any] = {
    "tid": 462503790690334,
    "tid_str": "462503790690334",
    "status": "WAIT_SELLER_SEND_GOODS",
    "created": "2024-05-01 08:00:00",
    "modified": "2024-05-01 08:05:30",
    "pay_time": "2024-05-01 08:01:00",
    "payment": "30.00",
    "total_fee": "30.00",
    "buyer_open_uid": "AAH7x-fake-open-uid",
    "orders": {"order": [LINE]},
}
REFUND: dict[str, Any] = {
    "refund_id": "91234567890",
    "tid": 462503790690334,
    "oid": 462503790690335,
    "refund_fee": "15.50",
    "status": "WAIT_BUYER_RETURN_GOODS",
    "created": "2024-05-02 10:00:00",
    "modified": "2024-05-02 11:30:00",
    "num": 1,
}


def test_the_samples_parse() -> None:
    assert parse_trade(TRADE, hash_key=KEY).platform_order_id == "462503790690334"
    assert parse_refund(REFUND).platform_line_id == "462503790690335"


@pytest.mark.parametrize("change", [{"tid": 0, "tid_str": "0"}, {"tid": "000", "tid_str": None}])
def test_taobao_refuses_an_all_zero_trade_id_as_douyin_does(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"'tid' is zero"):
        parse_trade({**TRADE, **change}, hash_key=KEY)


def test_taobao_reads_a_zero_optional_id_as_none() -> None:
    assert parse_refund({**REFUND, "oid": "0"}).platform_line_id is None


def test_douyin_still_refuses_an_all_zero_id() -> None:
    with pytest.raises(ValueError, match=r"'request_no'"):
        parse_settlement({"request_no": 0, "request_no_str": "0", "settle_time": "2024-05-01 08:00:00"})
