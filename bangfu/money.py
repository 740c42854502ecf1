"""Money in integer fen (分).

No float ever touches money: platform yuan strings are parsed with :class:`decimal.Decimal`
and a value with more than two decimals is an error, not a rounding. Every split of an
amount into parts uses largest-remainder rounding, so the parts always sum to the whole.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TypeVar

K = TypeVar("K")

FEN_PER_YUAN = 100
# Ten trillion yuan: far beyond any sale, well inside a 64-bit column.
MAX_FEN = 10**15
_CENT = Decimal("0.01")
# The form platforms send almost always ("108.00"): parsed without Decimal, on the hot path.
_PLAIN_YUAN = re.compile(r"-?\d{1,13}\.\d\d")
_plain_yuan = _PLAIN_YUAN.fullmatch
#: whether a str is the plain form (for readers that inline the hot path of yuan_to_fen)
plain_yuan_match = _plain_yuan


class MoneyError(ValueError):
    """A money value that cannot be represented exactly in fen."""


def yuan_to_fen(value: str | int | Decimal) -> int:
    """Parse a yuan amount (``"108.00"``, ``"3"``, ``"-1.5"``) into integer fen, exactly.

    Raises :class:`MoneyError` for anything that is not a finite decimal with at most two
    decimals (``"1.005"`` is refused rather than rounded). Floats are refused outright.
    """
    if type(value) is str and _plain_yuan(value):
        return int(value.replace(".", ""))
    if isinstance(value, (bool, float)):
        raise MoneyError(f"refusing {type(value).__name__} for money: {value!r}")
    if isinstance(value, int):
        return _bounded(value * FEN_PER_YUAN, value)
    try:
        text = value.strip().replace(",", "") if isinstance(value, str) else value
        dec = Decimal(text)
    except (InvalidOperation, AttributeError) as exc:
        raise MoneyError(f"not a yuan amount: {value!r}") from exc
    if not dec.is_finite():
        raise MoneyError(f"not a finite yuan amount: {value!r}")
    fen = dec * FEN_PER_YUAN
    if abs(fen) > MAX_FEN:
        raise MoneyError(f"yuan amount out of range: {value!r}")
    if fen != fen.to_integral_value():
        raise MoneyError(f"more than two decimals in yuan amount: {value!r}")
    return int(fen)


# What a person types into a spreadsheet: ASCII digits, thousands grouped by commas only if every
# group is three digits, at most two decimals. No exponent, underscore, full-width digit or "1,50".
_TYPED_YUAN = re.compile(r"(?P<sign>-?)(?P<whole>0|[1-9][0-9]{0,2}(?:,[0-9]{3})+|[1-9][0-9]*)(?:\.(?P<frac>[0-9]+))?")


def parse_yuan(text: str, *, max_fen: int = MAX_FEN, allow_negative: bool = False) -> int:
    """Parse yuan as typed into an import file (``"1,234,567.89"``, ``"12.5"``) into fen, strictly.

    The one money grammar for imports: digits, optionally grouped in thousands by commas
    (``1,50`` and ``1,0,0,0`` are refused, not guessed at), at most two decimals, a leading minus
    only when ``allow_negative``; the absolute value must not exceed ``max_fen``. Unlike
    :func:`yuan_to_fen` (platform payloads), no other form is accepted.
    """
    match = _TYPED_YUAN.fullmatch(text.strip())
    if match is None:
        raise MoneyError(f"{text!r} is not an amount in yuan (like 1234.50 or 1,234.50)")
    frac = match["frac"] or ""
    if len(frac) > 2:
        raise MoneyError(f"{text!r} is not an amount in yuan with at most two decimals")
    fen = int(match["whole"].replace(",", "")) * FEN_PER_YUAN + int(frac.ljust(2, "0"))
    if match["sign"] and fen:
        if not allow_negative:
            raise MoneyError(f"{text!r} is negative")
        fen = -fen
    if abs(fen) > max_fen:
        raise MoneyError(f"{text!r} is above the limit of {format_yuan(max_fen)}")
    return fen


def _bounded(fen: int, value: object) -> int:
    if abs(fen) > MAX_FEN:
        raise MoneyError(f"yuan amount out of range: {value!r}")
    return fen


def fen_to_yuan_str(fen: int) -> str:
    """``12345`` -> ``"123.45"``: the plain two-decimal yuan string platforms use."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{whole}.{cents:02d}"


def format_yuan(fen: int, symbol: str = "¥") -> str:
    """``123450`` -> ``"¥1,234.50"`` for display."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{symbol}{whole:,}.{cents:02d}"


def split_largest_remainder(total: int, weights: Mapping[K, int], *, leftover_to: K | None = None) -> dict[K, int]:
    """Split ``total`` fen in proportion to integer ``weights``; the parts sum to ``total``.

    Each part gets ``floor(total * w / sum(w))``; the fen left over go one each to the parts
    with the largest remainders (ties broken by the weights' order). When ``leftover_to`` is
    given, all leftover fen go to that key instead (DOMAIN.md: the named party, the
    cooperative by default). Negative totals split symmetrically. Zero total weight is an
    error unless ``leftover_to`` names who takes everything.
    """
    if any(w < 0 for w in weights.values()):
        raise MoneyError("split weights must not be negative")
    keys = list(weights)
    weight_sum = sum(weights.values())
    if weight_sum == 0:
        if leftover_to is None:
            raise MoneyError(f"cannot split {total} fen over zero total weight")
        out = dict.fromkeys(keys, 0)
        out[leftover_to] = out.get(leftover_to, 0) + total
        return out
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    if leftover_to is not None:
        # Every leftover fen goes to one party: no remainders to rank.
        floors = {key: magnitude * weight // weight_sum for key, weight in weights.items()}
        floors[leftover_to] = floors.get(leftover_to, 0) + magnitude - sum(floors.values())
        return floors if sign > 0 else {key: -value for key, value in floors.items()}
    parts: dict[K, int] = {}
    remainders: list[tuple[int, int, K]] = []
    for index, key in enumerate(keys):
        quotient, remainder = divmod(magnitude * weights[key], weight_sum)
        parts[key] = quotient
        remainders.append((-remainder, index, key))
    leftover = magnitude - sum(parts.values())
    if leftover:
        if leftover_to is not None:
            parts[leftover_to] = parts.get(leftover_to, 0) + leftover
        else:
            for _, _, key in sorted(remainders)[:leftover]:
                parts[key] += 1
    return {key: sign * value for key, value in parts.items()}


def split_evenly(total: int, count: int) -> list[int]:
    """Split ``total`` fen into ``count`` parts differing by at most one fen."""
    if count <= 0:
        raise MoneyError("cannot split into zero parts")
    shares = split_largest_remainder(total, dict.fromkeys(range(count), 1))
    return [shares[i] for i in range(count)]


def pro_rata(amount: int, part: int, whole: int) -> int:
    """``amount * part / whole`` floored toward zero, in integer arithmetic."""
    if whole == 0:
        raise MoneyError("pro rata over a zero whole")
    value = abs(amount) * part // whole
    return -value if amount < 0 else value
