"""Reading fields out of a platform's raw record: one behaviour per kind of field, for every
connector.

Each connector used to carry its own ``_req``/``_id``/``_int``/``_fen``/``_opt_id`` and the copies
had drifted (Douyin refused an all-zero id, Taobao took it; JD wrote ``missing key`` where the
others wrote ``missing 'key'``; Douyin's optional ids treated ``0`` as "none", Taobao's did not).
The behaviour of each reader was decided once, here:

``required``
    ``None`` and ``""`` are missing on every platform (none of them sends an empty string for a
    value that exists). Missing -> ``ValueError("missing 'key'")``.
``integer``
    A JSON integer or a string of ASCII digits with an optional ``-`` (some gateways quote
    numbers). Booleans and floats are refused, not truncated: ``true`` or ``3.0`` where a count
    belongs means the record is not what we think it is. ``default`` is what a missing field
    reads as; without one a missing field is an error.
``fen``
    Integer fen, read as ``integer``. Never negative unless ``signed=True``: a negative price,
    payment or refund is a bad record, while settlement amounts (refund rows, fee columns) carry
    their sign and are read ``signed``.
``yuan``
    A yuan amount in fen, exactly (:func:`bangfu.money.yuan_to_fen`: a string, an int or a
    ``Decimal``; floats refused, more than two decimals refused, never rounded).
``numeric_id`` / ``opt_numeric_id``
    Platform ids that are int64s (Taobao, Douyin, Kuaishou): ASCII digits only, kept as text.
    With ``twin=True`` the ``<key>_str`` twin is preferred when present (JSON numbers above 2^53
    lose precision in JavaScript-built gateways, so those platforms send both).
``text_id`` / ``opt_text_id``
    Ids that are not always numbers (JD, Youzan: ``E2024...`` trade ids): any non-empty text.
Zero ids
    ``0`` (or ``"0"``, ``"000"``) is how Douyin, Kuaishou and Youzan write "none" (a no-spec
    item's ``sku_id``, a settlement row without an order). So an optional id that is all zeros
    reads as ``None`` everywhere, and a required id that is all zeros is refused everywhere: a
    record whose own id is "none" cannot be stored under it (two of them would collide).

Every error is a ``ValueError`` naming the field, which the connectors turn into a quarantined
record (see ``connectors.base``).

Used by the five JSON connectors (Taobao/Tmall, JD, Douyin, Kuaishou, Youzan). The self-built
mall is scraped HTML: every value is a text cell already extracted and stripped, and its few
readers (``_required``, ``_count``, ``money_fen`` with its ``¥``) are about HTML text, not JSON
shapes, so they stay in ``connectors/selfmall.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bangfu.money import MoneyError, plain_yuan_match, yuan_to_fen
from connectors.windows import parse_local

__all__ = [
    "fen",
    "integer",
    "local_time",
    "numeric_id",
    "opt_local_time",
    "opt_numeric_id",
    "opt_text_id",
    "required",
    "text_id",
    "yuan",
]

_INTEGER = re.compile(r"-?[0-9]+")
_plain_yuan = plain_yuan_match
_DIGITS = re.compile(r"[0-9]+")

# Each reader first tries the shape the platforms send (a JSON int, a string of ASCII digits or
# letters without spaces: ``type(...) is``, no regex, no helper call) and returns it; anything
# else takes the general path below it, which decides and words the error exactly as before.


def _absent(value: Any) -> bool:
    return value is None or value == ""


def _none_id(value: Any) -> bool:
    """Missing, empty, or all zeros: the platforms' "no such id"."""
    kind = type(value)
    if kind is str:
        if value.isascii() and value.isdigit():
            return not value.strip("0")
    elif kind is int:
        return value == 0  # type: ignore[no-any-return]
    if _absent(value):
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value == 0
    return isinstance(value, str) and _DIGITS.fullmatch(value.strip()) is not None and not value.strip("0 ")


def required(raw: Mapping[str, Any], key: str) -> Any:
    """``raw[key]``; missing, ``None`` or ``""`` is an error."""
    value = raw.get(key)
    if value is None or value == "":
        raise ValueError(f"missing {key!r}")
    return value


def integer(raw: Mapping[str, Any], key: str, default: int | None = None) -> int:
    """An integer field (a JSON integer or a string of digits); ``default`` when missing."""
    value = raw.get(key)
    if type(value) is int:
        return value
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


def fen(raw: Mapping[str, Any], key: str, default: int | None = None, *, signed: bool = False) -> int:
    """An integer-fen money field; negative only when ``signed``; ``default`` when missing."""
    value = raw.get(key)
    if type(value) is not int:
        value = integer(raw, key, default)
    if value < 0 and not signed:
        raise ValueError(f"{key!r} is negative: {value}")
    return value


def yuan(raw: Mapping[str, Any], key: str, default: int | None = None) -> int:
    """A yuan money field in fen, exactly; ``default`` (in fen) when missing."""
    value: Any = raw.get(key)
    if type(value) is str and _plain_yuan(value):
        return int(value.replace(".", ""))  # "108.00": what yuan_to_fen does with it, inline
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


def _plain_numeric(value: Any) -> str | None:
    """``value`` as a numeric id when it has the usual shape (a positive int, or ASCII digits
    not all zeros); ``None`` sends it down the general path."""
    kind = type(value)
    if kind is str:
        if value.isascii() and value.isdigit() and value.strip("0"):
            return value  # type: ignore[no-any-return]
    elif kind is int and value > 0:
        return str(value)
    return None


def numeric_id(raw: Mapping[str, Any], key: str, *, twin: bool = False) -> str:
    """An int64 id as text (digits only, not all zeros); with ``twin``, ``<key>_str`` first."""
    twin_value = raw.get(key + "_str") if twin else None
    value: Any = twin_value if not (twin_value is None or twin_value == "") else raw.get(key)
    kind = type(value)
    if kind is str:
        if value.isascii() and value.isdigit() and value.strip("0"):
            return value  # type: ignore[no-any-return]
    elif kind is int and value > 0:
        return str(value)
    if _absent(value):
        raise ValueError(f"missing {key!r}")
    text = _id_value(value, key)
    if not _DIGITS.fullmatch(text):
        raise ValueError(f"{key!r} is not a numeric id: {value!r}")
    return text


def opt_numeric_id(raw: Mapping[str, Any], key: str, *, twin: bool = False) -> str | None:
    """A numeric id that may be missing; missing, empty or all zeros -> ``None``."""
    candidates = (raw.get(key + "_str"), raw.get(key)) if twin else (raw.get(key),)
    for value in candidates:
        plain = _plain_numeric(value)
        if plain is not None:
            return plain
        if not _none_id(value):
            return numeric_id({key: value}, key)
    return None


def text_id(raw: Mapping[str, Any], key: str) -> str:
    """An id that need not be a number (JD, Youzan): non-empty text, not all zeros."""
    value = raw.get(key)
    if type(value) is str and value.isascii() and value.isalnum() and (not value.isdigit() or value.strip("0")):
        return value
    if type(value) is int and value:
        return str(value)
    return _id_value(required(raw, key), key)


def opt_text_id(raw: Mapping[str, Any], key: str) -> str | None:
    """A text id that may be missing; missing, empty or all zeros -> ``None``."""
    value = raw.get(key)
    if type(value) is str and value.isascii() and value.isalnum() and (not value.isdigit() or value.strip("0")):
        return value
    if type(value) is int:
        return str(value) if value else None
    return None if _none_id(value) else _id_value(value, key)


_UTC_OF_BEIJING = timedelta(hours=8)


def local_time(raw: Mapping[str, Any], key: str) -> datetime:
    """A required Beijing-time ``yyyy-MM-dd HH:mm:ss`` field as aware UTC
    (:func:`connectors.windows.parse_local`, whose hot path is inlined here)."""
    value = raw.get(key)
    if type(value) is str and len(value) == 19 and value[10] == " " and value >= "1992":
        try:
            return (datetime.fromisoformat(value) - _UTC_OF_BEIJING).replace(tzinfo=UTC)
        except ValueError:
            pass
    return parse_local(required(raw, key))


def opt_local_time(raw: Mapping[str, Any], key: str) -> datetime | None:
    """:func:`local_time` of a field that may be missing (``None`` or ``""``)."""
    value = raw.get(key)
    if value is None or value == "":
        return None
    return local_time(raw, key)
