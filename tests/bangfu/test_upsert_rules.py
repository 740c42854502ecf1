"""The pure rules of the upserts (bangfu/upsert_rules.py), as examples: within a page the newest
record of a key wins, and the content digest moves with what the platform states, not with when."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bangfu.enums import OrderStatus
from bangfu.records import OrderLineRecord, OrderRecord
from bangfu.upsert_rules import content_hash, newest, order_hash, replaces

T0 = datetime(2026, 4, 19, 7, 10, tzinfo=UTC)


def order(oid: str, status: OrderStatus = OrderStatus.PAID, modified: datetime = T0, paid: int = 1000) -> OrderRecord:
    line = OrderLineRecord(
        platform_line_id=f"{oid}-1", platform_item_id="I1", quantity=1, unit_price_fen=paid, paid_fen=paid
    )
    return OrderRecord(
        platform_order_id=oid,
        status=status,
        platform_status=status.value.upper(),
        created_at=T0 - timedelta(hours=1),
        modified_at=modified,
        paid_at=T0 - timedelta(minutes=50),
        paid_fen=paid,
        lines=(line,),
        raw={"tid": oid},
    )


def keep(records: list[OrderRecord]) -> tuple[list[OrderRecord], int]:
    return newest(records, lambda r: r.platform_order_id, lambda r: (r.modified_at, r.status.rank))


def test_the_latest_modified_record_of_a_key_wins_and_the_others_are_duplicates() -> None:
    old, new, other = order("A", modified=T0), order("A", modified=T0 + timedelta(minutes=5)), order("B")
    assert keep([new, other, old]) == ([new, other], 1)
    assert keep([old, other, new]) == ([new, other], 1)


def test_at_the_same_time_the_later_lifecycle_status_wins() -> None:
    paid, shipped = order("A", OrderStatus.PAID), order("A", OrderStatus.SHIPPED)
    assert OrderStatus.SHIPPED.rank > OrderStatus.PAID.rank
    assert keep([shipped, paid]) == ([shipped], 1)
    assert keep([paid, shipped]) == ([shipped], 1)


def test_of_two_equals_the_later_in_the_page_wins() -> None:
    first, second = order("A", paid=1000), order("A", paid=900)
    kept, dropped = keep([first, second])
    assert kept[0] is second and dropped == 1


def test_the_content_digest_is_stable_and_moves_with_the_content() -> None:
    assert content_hash("a", 1, None) == content_hash("a", 1, None)
    assert len(content_hash("a")) == 32
    assert content_hash("a", 1) != content_hash("a", 2) != content_hash(("a", 1))


def test_an_orders_digest_moves_with_what_the_platform_states_not_with_when_it_was_read() -> None:
    base = order("A")
    assert order_hash(replace(base, modified_at=T0 + timedelta(days=1), raw={"tid": "A", "x": 1})) == order_hash(base)
    assert order_hash(order("A", paid=900)) != order_hash(base)
    assert order_hash(replace(base, status=OrderStatus.SHIPPED)) != order_hash(base)
    assert order_hash(replace(base, room_id="R1")) != order_hash(base)


# (incoming modified, rank, digest) against stored (T0, rank 3, "h"): replaces?
REPLACES = {
    "later, same status": ((T0 + timedelta(seconds=1), 3, "h"), True),
    "later, later status": ((T0 + timedelta(seconds=1), 4, "x"), True),
    "later, earlier status": ((T0 + timedelta(hours=1), 2, "x"), False),
    "same time, later status": ((T0, 4, "h"), True),
    "same time, earlier status": ((T0, 2, "x"), False),
    "same time and status, other content": ((T0, 3, "x"), True),
    "same time, status and content": ((T0, 3, "h"), False),
    "earlier, later status": ((T0 - timedelta(microseconds=1), 9, "x"), False),
}


def test_a_record_replaces_the_stored_one_by_the_guards_rule() -> None:
    got = {case: replaces(*incoming, T0, 3, "h") for case, (incoming, _) in REPLACES.items()}
    assert got == {case: expected for case, (_, expected) in REPLACES.items()}


def test_sqlite_times_compare_as_text_in_the_same_order() -> None:
    from bangfu.upsert import sqlite_time

    stored = sqlite_time(T0)
    assert stored is not None
    for (modified, rank, digest), expected in REPLACES.values():
        incoming = sqlite_time(modified)
        assert incoming is not None
        assert replaces(incoming, rank, digest, stored, 3, "h") is expected
