"""Upserts are idempotent on (shop, platform id) and never move a record backwards."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
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
from sync.upsert import upsert_orders, upsert_refunds, upsert_settlements

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
        Shop.__table__.insert()
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
    from sync.upsert import upsert_live_sessions

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
