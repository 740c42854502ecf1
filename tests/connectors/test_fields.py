"""The one field reader (connectors/fields.py): each kind of field read one way on every
platform, and the connectors that had drifted (Taobao took an all-zero id) now agree."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bangfu.money import MoneyError, yuan_to_fen
from connectors import fields
from connectors.douyin import parse_settlement
from connectors.taobao import parse_refund, parse_trade
from connectors.windows import parse_local


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


# -- the inline hot paths against the general readers they short-cut ---------------------------------
# The readers return the platforms' usual shapes (a JSON int, ASCII digits, "108.00", Beijing
# "yyyy-MM-dd HH:mm:ss") without going through the general path; anything else takes it. The
# general path is kept verbatim below as the oracle: for any value, each reader must return the
# same value or raise the same error as it does.

_INTEGER = re.compile(r"-?[0-9]+")
_DIGITS = re.compile(r"[0-9]+")


def _absent(value: Any) -> bool:
    return value is None or value == ""


def _none_id(value: Any) -> bool:
    if _absent(value):
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value == 0
    return isinstance(value, str) and _DIGITS.fullmatch(value.strip()) is not None and not value.strip("0 ")


def _general_required(raw: Mapping[str, Any], key: str) -> Any:
    value = raw.get(key)
    if _absent(value):
        raise ValueError(f"missing {key!r}")
    return value


def _general_integer(raw: Mapping[str, Any], key: str, default: int | None = None) -> int:
    value = raw.get(key)
    if _absent(value):
        if default is None:
            raise ValueError(f"missing {key!r}")
        return default
    if isinstance(value, bool):
        raise ValueError(f"{key!r} is not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    raise ValueError(f"{key!r} is not an integer: {value!r}")


def _general_yuan(raw: Mapping[str, Any], key: str, default: int | None = None) -> int:
    value: Any = raw.get(key)
    if _absent(value):
        if default is None:
            raise ValueError(f"missing {key!r}")
        return default
    try:
        return yuan_to_fen(value)
    except MoneyError as exc:
        raise MoneyError(f"{key!r}: {exc}") from exc


def _id_value(value: Any, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{key!r} is not an id: {value!r}")
    text = str(value).strip()
    if not text:
        raise ValueError(f"missing {key!r}")
    if _none_id(text):
        raise ValueError(f"{key!r} is zero, the platform's 'none': {value!r}")
    return text


def _general_numeric_id(raw: Mapping[str, Any], key: str, *, twin: bool = False) -> str:
    twin_value = raw.get(f"{key}_str") if twin else None
    value = twin_value if not _absent(twin_value) else _general_required(raw, key)
    text = _id_value(value, key)
    if not _DIGITS.fullmatch(text):
        raise ValueError(f"{key!r} is not a numeric id: {value!r}")
    return text


def _general_opt_numeric_id(raw: Mapping[str, Any], key: str, *, twin: bool = False) -> str | None:
    candidates = (raw.get(f"{key}_str"), raw.get(key)) if twin else (raw.get(key),)
    for value in candidates:
        if not _none_id(value):
            return _general_numeric_id({key: value}, key)
    return None


def _general_text_id(raw: Mapping[str, Any], key: str) -> str:
    return _id_value(_general_required(raw, key), key)


def _general_opt_text_id(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return None if _none_id(value) else _id_value(value, key)


def _general_local_time(raw: Mapping[str, Any], key: str) -> datetime:
    return parse_local(_general_required(raw, key))


def _outcome(read: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return ("value", read(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001  # the error is the outcome compared
        return (type(exc).__name__, str(exc))


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.from_regex(r"\A[ ]?-?[0-9]{0,15}(\.[0-9]{0,3})?[ ]?\Z"),
    st.from_regex(r"\A[0-9A-Za-z٠-٩０-９ ]{0,12}\Z"),
    st.from_regex(r"\A(19|20|00)[0-9]{2}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}\Z"),
    st.sampled_from(["0", "000", " 0 ", "108.00", "-0.07", "1.005", "１２.００", "E2024", "٣", "2024-W18-3 08:00:00"]),
    st.text(max_size=6),
)


@settings(max_examples=600, deadline=None)
@given(value=_VALUES, twin=_VALUES, default=st.sampled_from([None, 0, 7]))
def test_every_reader_agrees_with_its_general_path(value: Any, twin: Any, default: int | None) -> None:
    raw = {"k": value, "k_str": twin}
    alone = {"k": value}
    pairs = [
        (fields.required, _general_required, (raw, "k"), {}),
        (fields.integer, _general_integer, (raw, "k", default), {}),
        (fields.yuan, _general_yuan, (raw, "k", default), {}),
        (fields.numeric_id, _general_numeric_id, (alone, "k"), {}),
        (fields.numeric_id, _general_numeric_id, (raw, "k"), {"twin": True}),
        (fields.opt_numeric_id, _general_opt_numeric_id, (alone, "k"), {}),
        (fields.opt_numeric_id, _general_opt_numeric_id, (raw, "k"), {"twin": True}),
        (fields.text_id, _general_text_id, (raw, "k"), {}),
        (fields.opt_text_id, _general_opt_text_id, (raw, "k"), {}),
        (fields.local_time, _general_local_time, (raw, "k"), {}),
    ]
    for fast, general, args, kwargs in pairs:
        assert _outcome(fast, *args, **kwargs) == _outcome(general, *args, **kwargs), fast.__name__
    signed = _outcome(_general_integer, raw, "k", default)
    if signed[0] == "value" and signed[1] < 0:
        signed = ("ValueError", f"'k' is negative: {signed[1]}")
    assert _outcome(fields.fen, raw, "k", default) == signed
