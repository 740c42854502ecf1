"""The units a task's target and progress are counted in, each stored as a whole number.

| unit         | stored as                  | shown as          |
|--------------|----------------------------|-------------------|
| ``fen``      | fen                        | ¥1,234.50         |
| ``households``| households                | 81 户             |
| ``percent``  | hundredths of a percent    | 45.23%            |
| ``count``    | a count (units, events...) | 12                |

Input (an import cell, a form field) is parsed strictly: money in the one yuan grammar of
:func:`bangfu.money.parse_yuan`, a percent with at most two decimals, counts as whole numbers.
"""

from __future__ import annotations

import re
from decimal import Decimal

from bangfu.money import MoneyError, fen_to_yuan_str, parse_yuan

UNITS = ("fen", "households", "percent", "count")
#: Upper bound of any target or value, per unit (far above any real figure, catching typos).
MAX_VALUE = {"fen": 10_000_000_000 * 100, "households": 10_000_000, "percent": 1000 * 100, "count": 10_000_000}
#: Names a file may give a unit (English and Chinese), lower case.
UNIT_NAMES = {
    "fen": "fen",
    "yuan": "fen",
    "元": "fen",
    "金额": "fen",
    "households": "households",
    "户": "households",
    "户数": "households",
    "percent": "percent",
    "%": "percent",
    "百分比": "percent",
    "count": "count",
    "个": "count",
    "项": "count",
    "次": "count",
    "家": "count",
    "场": "count",
}

_WHOLE = re.compile(r"[0-9]+|[1-9][0-9]{0,2}(?:,[0-9]{3})+")
_PERCENT = re.compile(r"([0-9]{1,4})(?:\.([0-9]{1,2}))?%?")


class ValueFormatError(ValueError):
    """A value that does not read as a number of its unit."""


def parse_unit(text: str) -> str:
    unit = UNIT_NAMES.get(text.strip().lower())
    if unit is None:
        raise ValueFormatError(f"{text!r} is not a unit: one of fen/yuan/元, households/户, percent/%, count/个/项")
    return unit


def parse_value(unit: str, text: str) -> int:
    """``text`` as a whole number in ``unit``'s base (yuan -> fen, 45.5% -> 4550)."""
    raw = text.strip()
    if unit == "fen":
        try:
            value = parse_yuan(raw.removeprefix("¥"), max_fen=MAX_VALUE["fen"])
        except MoneyError as exc:
            raise ValueFormatError(str(exc)) from exc
    elif unit == "percent":
        match = _PERCENT.fullmatch(raw)
        if not match:
            raise ValueFormatError(f"{text!r} is not a percent like 45 or 45.25 (at most two decimals)")
        value = int(match.group(1)) * 100 + int((match.group(2) or "").ljust(2, "0"))
    else:
        if not _WHOLE.fullmatch(raw):
            raise ValueFormatError(f"{text!r} is not a whole number (digits only, like 1234 or 1,234)")
        value = int(raw.replace(",", ""))
    if value < 0 or value > MAX_VALUE[unit]:
        raise ValueFormatError(f"{text!r} is out of range for {unit}")
    return value


def as_number(unit: str, value: int) -> float:
    """A value as the plain number a chart plots (yuan, households, percent, count)."""
    if unit == "fen":
        return value / 100
    if unit == "percent":
        return value / 100
    return float(value)


def format_value(unit: str, value: int | None, suffix: str = "") -> str:
    """A value as a page shows it; ``suffix`` is the unit word for households and counts."""
    if value is None:
        return "—"
    if unit == "fen":
        return "¥" + f"{Decimal(fen_to_yuan_str(value)):,.2f}"
    if unit == "percent":
        return f"{Decimal(value) / 100:.2f}%"
    return f"{value:,}{suffix}"
