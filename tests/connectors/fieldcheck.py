"""A payload that tells which fields a parser reads (for the "ask for exactly what you parse"
tests of platforms whose APIs return only the fields a request names: JD ``optional_fields``,
TOP ``fields``).

Use it from ``tests/connectors/test_<platform>.py`` (as ``tests.connectors.fieldcheck``, like
``tests.connectors.contract``)::

    from tests.connectors.fieldcheck import OnlyListed

    payload = OnlyListed(sample, ORDER_FIELDS)
    parse_order(payload)
    assert payload.unlisted_reads() == set()
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["OnlyListed"]


class OnlyListed(dict[str, Any]):
    """``data`` cut down to the ``listed`` keys, as the platform would answer a request naming
    exactly those fields. Every key read (``[]``, ``get``, ``in``) is recorded in ``read``; a
    subscript of a key that is not listed raises :class:`KeyError` (the platform would not have
    sent it). Nested values are left as they are."""

    def __init__(self, data: Mapping[str, Any], listed: Iterable[str]) -> None:
        self.listed = frozenset(listed)
        super().__init__({key: value for key, value in data.items() if key in self.listed})
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        if key not in self.listed:
            raise KeyError(f"{key!r} is read but not asked for")
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return super().__contains__(key)

    def unlisted_reads(self) -> set[str]:
        """Keys the parser read that the request would not have asked for."""
        return self.read - self.listed

    def unread(self) -> set[str]:
        """Listed keys the parser never read."""
        return set(self.listed - self.read)
