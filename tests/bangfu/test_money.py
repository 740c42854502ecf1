from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bangfu.money import (
    MoneyError,
    fen_to_yuan_str,
    format_yuan,
    parse_yuan,
    pro_rata,
    split_evenly,
    split_largest_remainder,
    yuan_to_fen,
)


@pytest.mark.parametrize(
    ("text", "fen"),
    [("108.00", 10800), ("0.01", 1), ("3", 300), ("-1.5", -150), (" 1,234.50 ", 123450), ("0", 0)],
)
def test_yuan_strings_parse_exactly(text: str, fen: int) -> None:
    assert yuan_to_fen(text) == fen


@pytest.mark.parametrize("bad", ["1.005", "abc", "", "NaN", "Infinity", "1e400"])
def test_yuan_strings_that_are_not_exact_money_are_refused(bad: str) -> None:
    with pytest.raises(MoneyError):
        yuan_to_fen(bad)


def test_float_never_touches_money() -> None:
    with pytest.raises(MoneyError, match="float"):
        yuan_to_fen(1.1)  # type: ignore[arg-type]
    assert yuan_to_fen(Decimal("2.10")) == 210
    assert yuan_to_fen(5) == 500


def test_display_forms() -> None:
    assert fen_to_yuan_str(12345) == "123.45"
    assert fen_to_yuan_str(-5) == "-0.05"
    assert format_yuan(123450) == "¥1,234.50"
    assert format_yuan(-99) == "-¥0.99"


def test_largest_remainder_gives_leftover_fen_to_largest_remainders() -> None:
    # 100 fen over 3 equal parts: 34 + 33 + 33, the first in order takes the extra fen.
    assert split_largest_remainder(100, {"a": 1, "b": 1, "c": 1}) == {"a": 34, "b": 33, "c": 33}
    # 10 fen at 1:2 -> 3.33 / 6.67: the larger remainder (b) takes the extra fen.
    assert split_largest_remainder(10, {"a": 1, "b": 2}) == {"a": 3, "b": 7}


def test_leftover_can_go_to_a_named_party() -> None:
    parts = split_largest_remainder(100, {"coop": 0, "h1": 1, "h2": 1, "h3": 1}, leftover_to="coop")
    assert parts == {"coop": 1, "h1": 33, "h2": 33, "h3": 33}


def test_zero_weight_needs_someone_to_take_it_all() -> None:
    with pytest.raises(MoneyError):
        split_largest_remainder(5, {"a": 0})
    assert split_largest_remainder(5, {"a": 0, "b": 0}, leftover_to="b") == {"a": 0, "b": 5}


@given(
    total=st.integers(min_value=-(10**12), max_value=10**12),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=40).filter(any),
)
def test_parts_always_sum_to_the_whole(total: int, weights: list[int]) -> None:
    parts = split_largest_remainder(total, dict(enumerate(weights)))
    assert sum(parts.values()) == total
    weight_sum = sum(weights)
    for key, weight in enumerate(weights):
        exact = Decimal(total) * weight / weight_sum
        assert abs(Decimal(parts[key]) - exact) < 1  # each part within a fen of its exact share


@given(total=st.integers(min_value=-(10**9), max_value=10**9), count=st.integers(min_value=1, max_value=50))
def test_even_split(total: int, count: int) -> None:
    parts = split_evenly(total, count)
    assert sum(parts) == total
    assert max(parts) - min(parts) <= 1


def test_pro_rata_truncates_toward_zero() -> None:
    assert pro_rata(100, 1, 3) == 33
    assert pro_rata(-100, 1, 3) == -33
    with pytest.raises(MoneyError):
        pro_rata(1, 1, 0)


@pytest.mark.parametrize(
    ("text", "fen"),
    [("1,234,567.89", 123456789), ("1234567.8", 123456780), ("0", 0), ("0.05", 5), (" 12 ", 1200), ("-0", 0)],
)
def test_typed_yuan_parse_strictly(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1,50", "not an amount"),  # issue 12 item 9: yuan_to_fen reads this as 150.00
        ("1,0,0,0", "not an amount"),
        ("1e3", "not an amount"),
        ("1_000", "not an amount"),
        ("１２３", "not an amount"),
        ("12,34.5", "not an amount"),
        ("01", "not an amount"),
        (".5", "not an amount"),
        ("5.", "not an amount"),
        ("", "not an amount"),
        ("NaN", "not an amount"),
        ("12.345", "at most two decimals"),
        ("-5", "negative"),
        ("10,000,000.01", "above the limit of ¥10,000,000.00"),
    ],
)
def test_typed_yuan_refuses_what_is_not_plainly_money(text: str, reason: str) -> None:
    with pytest.raises(MoneyError, match=reason):
        parse_yuan(text, max_fen=10**9)


def test_typed_yuan_negative_only_when_allowed() -> None:
    assert parse_yuan("-1,234.5", allow_negative=True) == -123450
    assert yuan_to_fen("1,50") == 15000  # platforms' form is unchanged for the connectors


# -- exact values at the edges (mutation testing found these untested) --------------------------


def test_zero_has_no_sign() -> None:
    assert fen_to_yuan_str(0) == "0.00"
    assert format_yuan(0) == "¥0.00"
    assert fen_to_yuan_str(1) == "0.01" and format_yuan(1) == "¥0.01"


def test_the_largest_amount_is_allowed_and_one_fen_more_is_not() -> None:
    assert yuan_to_fen(10**13) == 10**15  # MAX_FEN, as an int of yuan
    assert yuan_to_fen("10000000000000") == 10**15
    with pytest.raises(MoneyError, match=r"^yuan amount out of range: 10000000000001$"):
        yuan_to_fen(10**13 + 1)
    with pytest.raises(MoneyError, match=r"^yuan amount out of range: '10000000000000\.01'$"):
        yuan_to_fen("10000000000000.01")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("abc", "not a yuan amount: 'abc'"),
        ("NaN", "not a finite yuan amount: 'NaN'"),
        ("1.005", "more than two decimals in yuan amount: '1.005'"),
    ],
)
def test_refusals_quote_the_value(bad: str, message: str) -> None:
    with pytest.raises(MoneyError, match=f"^{message}$"):
        yuan_to_fen(bad)


def test_a_named_party_outside_the_weights_takes_the_leftover() -> None:
    # All weights zero: everything to the named party, added to the keys.
    assert split_largest_remainder(5, {"a": 0}, leftover_to="coop") == {"a": 0, "coop": 5}
    # 100 at 1:2 floors to 33 + 66; the fen left goes to the party named, not to b's remainder.
    assert split_largest_remainder(100, {"a": 1, "b": 2}, leftover_to="coop") == {"a": 33, "b": 66, "coop": 1}
    assert split_largest_remainder(-100, {"a": 1, "b": 2}, leftover_to="coop") == {"a": -33, "b": -66, "coop": -1}


def test_split_refusals_say_why() -> None:
    with pytest.raises(MoneyError, match=r"^split weights must not be negative$"):
        split_largest_remainder(5, {"a": -1, "b": 2})
    with pytest.raises(MoneyError, match=r"^cannot split 5 fen over zero total weight$"):
        split_largest_remainder(5, {"a": 0})
    for count in (0, -1):
        with pytest.raises(MoneyError, match=r"^cannot split into zero parts$"):
            split_evenly(5, count)
    with pytest.raises(MoneyError, match=r"^pro rata over a zero whole$"):
        pro_rata(1, 1, 0)


def test_typed_yuan_may_reach_the_limit_exactly() -> None:
    assert parse_yuan("10,000,000.00", max_fen=10**9) == 10**9
    assert parse_yuan("-10,000,000.00", max_fen=10**9, allow_negative=True) == -(10**9)
    with pytest.raises(MoneyError, match=r"^'10,000,000\.01' is above the limit of ¥10,000,000\.00$"):
        parse_yuan("10,000,000.01", max_fen=10**9)
