"""The pure rules of the upserts (:mod:`bangfu.upsert`): a record's content digest and which of a
page's records with the same key is kept. No database, no I/O (``tests/bangfu/test_upsert_rules.py``).

Within one page the newest record of a key wins: the latest by its rank (modified time, then
lifecycle status), the later one of equals, and the others count as duplicates. The store then
applies the same order against what it holds (``ON CONFLICT ... DO UPDATE ... WHERE``), with the
content digest telling an unchanged record from a changed one of the same time and status.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

import orjson

from bangfu.enums import LineRefundState, OrderStatus
from bangfu.records import OrderRecord

T = TypeVar("T")
# A stored time as the back end hands it over: aware datetimes (PostgreSQL) or SQLite's text,
# compared with the incoming record's time in the same form.
Time = TypeVar("Time", datetime, str)


def content_hash(*parts: Any) -> str:
    """A short stable digest of a record's normalised content (not its raw payload)."""
    return hashlib.blake2b(orjson.dumps(parts, default=str), digest_size=16).hexdigest()


def newest(records: Iterable[T], key: Callable[[T], str], rank: Callable[[T], tuple[Any, ...]]) -> tuple[list[T], int]:
    """Keep one record per key, the newest by ``rank``; return them and how many were dropped."""
    best: dict[str, T] = {}
    dropped = 0
    for record in records:
        k = key(record)
        current = best.get(k)
        if current is None:
            best[k] = record
            continue
        dropped += 1
        if rank(record) >= rank(current):
            best[k] = record
    return list(best.values()), dropped


def replaces(
    modified: Time, rank: int, digest: str, stored_modified: Time, stored_rank: int, stored_digest: str
) -> bool:
    """Whether an incoming record replaces the stored one of its key: a later modified time with a
    lifecycle status not behind, or the same time with a later status, or the same time and status
    with other content. The same rule as the ``ON CONFLICT ... WHERE`` guard of the ranked tables,
    which still decides in the database; this lets a batch leave out what would write nothing."""
    if modified > stored_modified:
        return rank >= stored_rank
    if modified != stored_modified:
        return False
    return rank > stored_rank or (rank == stored_rank and digest != stored_digest)


# Enum values by member: a dict lookup per record instead of the enum's ``value`` property.
_STATUS_VALUE: dict[OrderStatus, str] = {status: status.value for status in OrderStatus}
_REFUND_STATE_VALUE: dict[LineRefundState, str] = {state: state.value for state in LineRefundState}


def order_hash(record: OrderRecord) -> str:
    """The content digest of an order and its lines, as the platform states them."""
    return content_hash(
        _STATUS_VALUE[record.status],
        record.platform_status,
        record.paid_at,
        record.paid_fen,
        record.post_fee_fen,
        record.discount_fen,
        record.room_id,
        record.author_id,
        record.campaign_code,
        record.purchasing_unit_code,
        [
            (
                ln.platform_line_id,
                ln.quantity,
                ln.unit_price_fen,
                ln.paid_fen,
                _REFUND_STATE_VALUE[ln.refund_state],
                ln.platform_sku_id,
                ln.room_id,
                ln.author_id,
            )
            for ln in record.lines
        ],
    )
