"""Upserts are idempotent on (shop, platform id) and never move a record backwards."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bangfu.enums import (
    ChannelType,
    LineRefundState,
    OrderStatus,
    PlatformKind,
    RefundStatus,
    SettlementKind,
)
from bangfu.models import Order, OrderLine, Refund, SettlementLine, Shop
from bangfu.records import OrderLineRecord, OrderRecord, RefundRecord, SettlementLineRecord
from bangfu.store import make_engine
from bangfu.upsert import upsert_orders, upsert_refunds, upsert_settlements

T0 = datetime(2026, 4, 19, 7, 10, tzinfo=UTC)
NOW = datetime(2026, 4, 20, tzinfo=UTC)


def order(oid: str, status: OrderStatus = OrderStatus.PAID, modified: datetime = T0, paid: int = 1000) -> OrderRecord:
    return OrderRecord(
        platform_order_id=oid,
        status=status,
        platform_status=status.value.upper(),
        created_at=T0 - timedelta(hours=1),
        modified_at=modified,
        paid_at=T0 - timedelta(minutes=50),
        paid_fen=paid,
        lines=(
            OrderLineRecord(
                platform_line_id=f"{oid}-1",
                platform_item_id="I1",
                quantity=1,
                unit_price_fen=paid,
                paid_fen=paid,
                outer_sku_id="GZ-SPU-0001-01",
            ),
        ),
        raw={"tid": oid},
    )


async def _shop(conn: AsyncConnection) -> int:
    result = await conn.execute(
        cast(Table, Shop.__table__)
        .insert()
        .values(
            name="店",
            platform=PlatformKind.TAOBAO.value,
            channel_type=ChannelType.ECOMMERCE.value,
            platform_shop_id="s1",
            settings={},
            created_at=NOW,
            updated_at=NOW,
            active=True,
        )
        .returning(Shop.__table__.c.id)
    )
    return int(result.scalar_one())


async def test_orders_are_idempotent_and_counted(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            shop = await _shop(conn)
            first = await upsert_orders(conn, shop, [order("A"), order("B"), order("A")], now=NOW)
        assert (first.new, first.changed, first.unchanged, first.duplicates) == (2, 0, 0, 1)
        async with engine.begin() as conn:
            again = await upsert_orders(conn, shop, [order("A"), order("B")], now=NOW)
        assert (again.new, again.changed, again.unchanged) == (0, 0, 2)
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(Order.__table__)) == 2
            assert await conn.scalar(select(func.count()).select_from(OrderLine.__table__)) == 2
    finally:
        await engine.dispose()


async def test_an_older_version_never_overwrites_a_newer_one(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            shop = await _shop(conn)
            newer = order("A", OrderStatus.SHIPPED, modified=T0 + timedelta(hours=5))
            await upsert_orders(conn, shop, [newer], now=NOW)
            stale = await upsert_orders(conn, shop, [order("A", OrderStatus.PAID, modified=T0)], now=NOW)
            earlier_status = await upsert_orders(
                conn, shop, [order("A", OrderStatus.PAID, modified=T0 + timedelta(hours=5))], now=NOW
            )
            assert stale.unchanged == 1 and earlier_status.unchanged == 1
            later_status_same_time = await upsert_orders(
                conn, shop, [order("A", OrderStatus.COMPLETED, modified=T0 + timedelta(hours=5))], now=NOW
            )
            assert later_status_same_time.changed == 1
            row = (await conn.execute(select(Order.__table__.c.status, Order.__table__.c.modified_at))).one()
            assert row.status == "completed"
    finally:
        await engine.dispose()


async def test_a_changed_line_gets_a_new_version(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            shop = await _shop(conn)
            base = order("A")
            await upsert_orders(conn, shop, [base], now=NOW)
            refunded_line = replace(base.lines[0], refund_state=LineRefundState.PARTIAL)
            changed = replace(base, modified_at=T0 + timedelta(hours=1), lines=(refunded_line,))
            await upsert_orders(conn, shop, [changed], now=NOW)
            await upsert_orders(conn, shop, [changed], now=NOW)  # a replay bumps nothing
            line = (await conn.execute(select(OrderLine.__table__))).one()
            assert line.version == 2 and line.refund_state == "partial"
    finally:
        await engine.dispose()


async def test_refunds_link_to_lines_whichever_arrives_first(db_url: str) -> None:
    engine = make_engine(db_url)
    refund = RefundRecord(
        platform_refund_id="R1",
        platform_order_id="A",
        platform_line_id="A-1",
        status=RefundStatus.SUCCEEDED,
        platform_status="SUCCESS",
        amount_fen=300,
        created_at=T0,
        modified_at=T0,
    )
    try:
        async with engine.begin() as conn:
            shop = await _shop(conn)
            assert (await upsert_refunds(conn, shop, [refund], now=NOW)).new == 1
            assert await conn.scalar(select(Refund.__table__.c.order_line_id)) is None
            await upsert_orders(conn, shop, [order("A")], now=NOW)
            line_id = await conn.scalar(select(OrderLine.__table__.c.id))
            assert await conn.scalar(select(Refund.__table__.c.order_line_id)) == line_id
            stale = replace(refund, status=RefundStatus.REQUESTED, modified_at=T0 - timedelta(hours=1))
            assert (await upsert_refunds(conn, shop, [stale], now=NOW)).unchanged == 1
            assert await conn.scalar(select(Refund.__table__.c.status)) == "succeeded"
    finally:
        await engine.dispose()


async def test_settlement_lines_upsert(db_url: str) -> None:
    engine = make_engine(db_url)
    bill = SettlementLineRecord(
        platform_bill_id="B1", kind=SettlementKind.PLATFORM_FEE, amount_fen=-50, settled_at=T0, platform_order_id="A"
    )
    try:
        async with engine.begin() as conn:
            shop = await _shop(conn)
            assert (await upsert_settlements(conn, shop, [bill, bill], now=NOW)).new == 1
            assert (await upsert_settlements(conn, shop, [bill], now=NOW)).unchanged == 1
            assert (await upsert_settlements(conn, shop, [replace(bill, amount_fen=-60)], now=NOW)).changed == 1
            assert await conn.scalar(select(SettlementLine.__table__.c.amount_fen)) == -60
    finally:
        await engine.dispose()


async def test_a_session_with_another_sessions_campaign_code_is_held_back(db_url: str) -> None:
    """A campaign code names one session: a second one, stored or in the same page, is held back
    as a bad record (with both named) and nothing else in the page is lost."""
    from bangfu.models import LiveSession
    from bangfu.records import LiveSessionRecord
    from bangfu.upsert import upsert_live_sessions

    def session(room: str, code: str, minutes: int = 0) -> LiveSessionRecord:
        return LiveSessionRecord(
            room_id=room,
            author_id="mall-host",
            started_at=T0 + timedelta(minutes=minutes),
            modified_at=T0 + timedelta(hours=3),
            campaign_code=code,
        )

    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            shop = await _shop(conn)
            first = await upsert_live_sessions(conn, shop, "selfmall", [session("R1", "SPRING")], now=NOW)
            assert first.new == 1 and not first.held
        async with engine.begin() as conn:
            page = [
                session("R1", "SPRING"),  # its own code: fine
                session("R2", "SPRING"),  # the stored R1's code
                session("R3", "AUTUMN", minutes=1),
                session("R4", "AUTUMN", minutes=2),  # R3's code, same page, started later
            ]
            result = await upsert_live_sessions(conn, shop, "selfmall", page, now=NOW)
        held = {q.platform_id: q.error for q in result.held}
        assert set(held) == {"R2", "R4"}
        assert "'SPRING'" in held["R2"] and "room R1" in held["R2"]
        assert "'AUTUMN'" in held["R4"] and "room R3" in held["R4"]
        async with engine.connect() as conn:
            rows = (await conn.execute(select(LiveSession.room_id, LiveSession.campaign_code))).all()
        assert sorted(rows) == [("R1", "SPRING"), ("R3", "AUTUMN")]
    finally:
        await engine.dispose()


async def test_the_sync_engine_quarantines_a_clashing_session_until_its_code_is_fixed(db_url: str) -> None:
    from types import SimpleNamespace

    from bangfu.enums import SyncStream
    from bangfu.models import LiveSession, QuarantinedRecord
    from bangfu.records import LiveSessionRecord
    from sync.engine import StreamOutcome, SyncEngine

    def session(room: str, code: str) -> LiveSessionRecord:
        return LiveSessionRecord(
            room_id=room, author_id="mall-host", started_at=T0, modified_at=T0 + timedelta(hours=1), campaign_code=code
        )

    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            shop = SimpleNamespace(id=await _shop(conn), name="店", platform=PlatformKind.SELFMALL)
        sync = SyncEngine(engine, clock=lambda: NOW)
        stream = SyncStream.LIVE_SESSIONS
        outcome = StreamOutcome(shop.id, stream)
        await sync._write(shop, stream, [session("R1", "SPRING"), session("R2", "SPRING")], [], outcome)  # type: ignore[arg-type]
        assert outcome.rows.quarantined == 1 and outcome.rows.new == 1
        async with engine.connect() as conn:
            entries = (await conn.execute(select(QuarantinedRecord.platform_id, QuarantinedRecord.resolved_at))).all()
        assert entries == [("R2", None)]
        # The shop fixes R2's code: it is stored, and its quarantine entry closes.
        fixed = replace(session("R2", "SUMMER"), modified_at=T0 + timedelta(hours=2))
        await sync._write(shop, stream, [fixed], [], StreamOutcome(shop.id, stream))  # type: ignore[arg-type]
        async with engine.connect() as conn:
            entries = (await conn.execute(select(QuarantinedRecord.platform_id, QuarantinedRecord.resolved_at))).all()
            rooms = (await conn.execute(select(LiveSession.room_id, LiveSession.campaign_code))).all()
        assert [(room, resolved is not None) for room, resolved in entries] == [("R2", True)]
        assert sorted(rooms) == [("R1", "SPRING"), ("R2", "SUMMER")]
    finally:
        await engine.dispose()


# -- the lifecycle/time table ----------------------------------------------------------------------
#
# Every case starts from one stored version and offers one incoming version of the same record.
# The rule (bangfu/upsert.py): the incoming version replaces the stored one only when its modified
# time is later and its status is not earlier in the lifecycle, or the time is the same and the
# status later, or both are the same and the content differs. Expected rows are written out.

AT_0710 = datetime(2026, 4, 19, 7, 10, tzinfo=UTC)  # T0
AT_0810 = datetime(2026, 4, 19, 8, 10, tzinfo=UTC)  # T0 + 1 h: when every stored version was modified
AT_0910 = datetime(2026, 4, 19, 9, 10, tzinfo=UTC)  # T0 + 2 h


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive UTC, PostgreSQL aware times: compare them as aware UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# case: (incoming status, modified, paid fen) -> stored afterwards (status, modified, paid fen).
# Stored before: shipped, 08:10, 1000 fen.
ORDER_CASES: dict[str, tuple[tuple[OrderStatus, datetime, int], tuple[str, datetime, int]]] = {
    "older-earlier-status": ((OrderStatus.PAID, AT_0710, 1000), ("shipped", AT_0810, 1000)),
    "older-later-status": ((OrderStatus.COMPLETED, AT_0710, 1000), ("shipped", AT_0810, 1000)),
    "older-same-status-new-content": ((OrderStatus.SHIPPED, AT_0710, 1200), ("shipped", AT_0810, 1000)),
    "same-time-earlier-status": ((OrderStatus.PAID, AT_0810, 1200), ("shipped", AT_0810, 1000)),
    "same-time-same-status-same-content": ((OrderStatus.SHIPPED, AT_0810, 1000), ("shipped", AT_0810, 1000)),
    "same-time-same-status-new-content": ((OrderStatus.SHIPPED, AT_0810, 1200), ("shipped", AT_0810, 1200)),
    "same-time-later-status": ((OrderStatus.COMPLETED, AT_0810, 1000), ("completed", AT_0810, 1000)),
    "newer-earlier-status": ((OrderStatus.PAID, AT_0910, 1200), ("shipped", AT_0810, 1000)),
    "newer-much-earlier-status": ((OrderStatus.PENDING_PAYMENT, AT_0910, 1000), ("shipped", AT_0810, 1000)),
    "newer-same-status": ((OrderStatus.SHIPPED, AT_0910, 1000), ("shipped", AT_0910, 1000)),
    "newer-later-status": ((OrderStatus.CLOSED, AT_0910, 1000), ("closed", AT_0910, 1000)),
}


async def _orders_stored(conn: AsyncConnection) -> dict[str, tuple[str, datetime, int]]:
    table = Order.__table__
    rows = await conn.execute(select(table.c.platform_order_id, table.c.status, table.c.modified_at, table.c.paid_fen))
    return {oid: (str(status), _utc(modified), paid) for oid, status, modified, paid in rows}


async def test_orders_lifecycle_and_time_table(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            shop = await _shop(conn)
            base = [order(case, OrderStatus.SHIPPED, modified=AT_0810, paid=1000) for case in ORDER_CASES]
            assert (await upsert_orders(conn, shop, base, now=NOW)).new == 11
        async with engine.begin() as conn:
            incoming = [
                order(case, status, modified=modified, paid=paid)
                for case, ((status, modified, paid), _) in ORDER_CASES.items()
            ]
            result = await upsert_orders(conn, shop, incoming, now=NOW)
        assert (result.new, result.changed, result.unchanged, result.duplicates) == (0, 4, 7, 0)
        async with engine.connect() as conn:
            stored = await _orders_stored(conn)
        assert stored == {case: expected for case, (_, expected) in ORDER_CASES.items()}
    finally:
        await engine.dispose()


def refund(
    rid: str, status: RefundStatus, modified: datetime, amount: int = 300, platform_status: str | None = None
) -> RefundRecord:
    return RefundRecord(
        platform_refund_id=rid,
        platform_order_id="A",
        platform_line_id="A-1",
        status=status,
        platform_status=platform_status or status.value.upper(),
        amount_fen=amount,
        created_at=AT_0710,
        modified_at=modified,
    )


# Stored before: awaiting_confirm, 08:10, 300 fen. (succeeded and closed share the top rank.)
REFUND_CASES: dict[str, tuple[tuple[RefundStatus, datetime, int], tuple[str, datetime, int]]] = {
    "older-earlier-status": ((RefundStatus.REQUESTED, AT_0710, 300), ("awaiting_confirm", AT_0810, 300)),
    "older-later-status": ((RefundStatus.SUCCEEDED, AT_0710, 300), ("awaiting_confirm", AT_0810, 300)),
    "same-time-earlier-status": ((RefundStatus.AWAITING_RETURN, AT_0810, 300), ("awaiting_confirm", AT_0810, 300)),
    "same-time-same-status-same-content": (
        (RefundStatus.AWAITING_CONFIRM, AT_0810, 300),
        ("awaiting_confirm", AT_0810, 300),
    ),
    "same-time-same-status-new-content": (
        (RefundStatus.AWAITING_CONFIRM, AT_0810, 250),
        ("awaiting_confirm", AT_0810, 250),
    ),
    "same-time-later-status": ((RefundStatus.SUCCEEDED, AT_0810, 300), ("succeeded", AT_0810, 300)),
    "newer-earlier-status": ((RefundStatus.REQUESTED, AT_0910, 250), ("awaiting_confirm", AT_0810, 300)),
    "newer-same-status": ((RefundStatus.AWAITING_CONFIRM, AT_0910, 300), ("awaiting_confirm", AT_0910, 300)),
    "newer-later-status": ((RefundStatus.REFUSED, AT_0910, 300), ("refused", AT_0910, 300)),
}


async def _refunds_stored(conn: AsyncConnection) -> dict[str, tuple[str, datetime, int]]:
    table = Refund.__table__
    rows = await conn.execute(
        select(table.c.platform_refund_id, table.c.status, table.c.modified_at, table.c.amount_fen)
    )
    return {rid: (str(status), _utc(modified), amount) for rid, status, modified, amount in rows}


async def test_refunds_lifecycle_and_time_table(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            shop = await _shop(conn)
            base = [refund(case, RefundStatus.AWAITING_CONFIRM, AT_0810) for case in REFUND_CASES]
            assert (await upsert_refunds(conn, shop, base, now=NOW)).new == 9
        async with engine.begin() as conn:
            incoming = [
                refund(case, status, modified, amount) for case, ((status, modified, amount), _) in REFUND_CASES.items()
            ]
            result = await upsert_refunds(conn, shop, incoming, now=NOW)
        assert (result.new, result.changed, result.unchanged, result.duplicates) == (0, 4, 5, 0)
        async with engine.connect() as conn:
            stored = await _refunds_stored(conn)
        assert stored == {case: expected for case, (_, expected) in REFUND_CASES.items()}
    finally:
        await engine.dispose()


# Copies of one record in one page (a platform repeating a record across pages it serves while
# the record changes): whatever their order in the page, the newest copy is the one stored.
async def test_the_newest_copy_in_a_page_wins_whatever_its_place(db_url: str) -> None:
    engine = make_engine(db_url)
    page = [
        # later time and later status, after the older copy
        order("up", OrderStatus.PAID, modified=AT_0710, paid=1000),
        order("up", OrderStatus.SHIPPED, modified=AT_0810, paid=1100),
        # the same two copies the other way round
        order("down", OrderStatus.SHIPPED, modified=AT_0810, paid=1100),
        order("down", OrderStatus.PAID, modified=AT_0710, paid=1000),
        # same time: the later status wins, first or last
        order("tie-first", OrderStatus.COMPLETED, modified=AT_0810, paid=1100),
        order("tie-first", OrderStatus.PAID, modified=AT_0810, paid=1000),
        order("tie-last", OrderStatus.PAID, modified=AT_0810, paid=1000),
        order("tie-last", OrderStatus.COMPLETED, modified=AT_0810, paid=1100),
        # same status: the later time wins, among three copies
        order("three", OrderStatus.PAID, modified=AT_0810, paid=1050),
        order("three", OrderStatus.PAID, modified=AT_0910, paid=1100),
        order("three", OrderStatus.PAID, modified=AT_0710, paid=1000),
    ]
    try:
        async with engine.begin() as conn:
            shop = await _shop(conn)
            result = await upsert_orders(conn, shop, page, now=NOW)
            assert (result.new, result.duplicates) == (5, 6)
            assert await _orders_stored(conn) == {
                "up": ("shipped", AT_0810, 1100),
                "down": ("shipped", AT_0810, 1100),
                "tie-first": ("completed", AT_0810, 1100),
                "tie-last": ("completed", AT_0810, 1100),
                "three": ("paid", AT_0910, 1100),
            }
            lines = OrderLine.__table__
            line_paid = await conn.execute(select(lines.c.platform_line_id, lines.c.paid_fen))
            assert dict(line_paid.all()) == {
                "up-1": 1100,
                "down-1": 1100,
                "tie-first-1": 1100,
                "tie-last-1": 1100,
                "three-1": 1100,
            }
    finally:
        await engine.dispose()


async def test_the_newest_refund_copy_in_a_page_wins_whatever_its_place(db_url: str) -> None:
    engine = make_engine(db_url)
    page = [
        refund("up", RefundStatus.REQUESTED, AT_0710, 300),
        refund("up", RefundStatus.SUCCEEDED, AT_0810, 280),
        refund("down", RefundStatus.SUCCEEDED, AT_0810, 280),
        refund("down", RefundStatus.REQUESTED, AT_0710, 300),
        refund("tie-first", RefundStatus.AWAITING_CONFIRM, AT_0810, 280),
        refund("tie-first", RefundStatus.AWAITING_RETURN, AT_0810, 300),
        refund("tie-last", RefundStatus.AWAITING_RETURN, AT_0810, 300),
        refund("tie-last", RefundStatus.AWAITING_CONFIRM, AT_0810, 280),
        refund("three", RefundStatus.REQUESTED, AT_0810, 290),
        refund("three", RefundStatus.REQUESTED, AT_0910, 280),
        refund("three", RefundStatus.REQUESTED, AT_0710, 300),
    ]
    try:
        async with engine.begin() as conn:
            shop = await _shop(conn)
            result = await upsert_refunds(conn, shop, page, now=NOW)
            assert (result.new, result.duplicates) == (5, 6)
            assert await _refunds_stored(conn) == {
                "up": ("succeeded", AT_0810, 280),
                "down": ("succeeded", AT_0810, 280),
                "tie-first": ("awaiting_confirm", AT_0810, 280),
                "tie-last": ("awaiting_confirm", AT_0810, 280),
                "three": ("requested", AT_0910, 280),
            }
    finally:
        await engine.dispose()
