"""FakeWorld: determinism, arithmetic, windows, lifecycle over time, live sessions, stock."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bangfu.demo.catalog import CatalogSku, default_catalog
from bangfu.enums import LineRefundState, OrderStatus, RefundStatus, SettlementKind
from connectors.fakes.clock import FakeClock
from connectors.fakes.world import (
    HOST_COMMISSION_BP,
    PURCHASING_UNITS,
    SHANGHAI,
    FakeOrder,
    FakeSettlementLine,
    FakeWorld,
    StockError,
)

T0 = datetime(2025, 3, 1, 4, 30, 15, tzinfo=UTC)
EARLY = T0 - timedelta(days=400)
LATE = T0 + timedelta(days=400)


def make_world(
    platform: str = "taobao",
    *,
    seed: int = 7,
    orders: int = 1500,
    live: bool = False,
    clock: FakeClock | None = None,
    shop_id: str = "100001",
) -> FakeWorld:
    clock = clock if clock is not None else FakeClock(frozen_at=T0)
    return FakeWorld(platform, shop_id, seed=seed, orders=orders, clock=clock, live=live)


@pytest.fixture(scope="module")
def world() -> FakeWorld:
    return make_world(orders=2000)


def windows(start: datetime, end: datetime, width: timedelta) -> list[tuple[datetime, datetime]]:
    out = []
    while start < end:
        out.append((start, min(end, start + width)))
        start += width
    return out


def all_orders(world: FakeWorld) -> list[FakeOrder]:
    return world.orders_created(EARLY, LATE)


def test_same_seed_same_world_and_other_seed_differs() -> None:
    a, b = make_world(orders=400), make_world(orders=400)
    c = make_world(orders=400, seed=8)
    assert a.products() == b.products()
    assert all_orders(a) == all_orders(b)
    assert a.settlements(EARLY, LATE) == b.settlements(EARLY, LATE)
    assert a.truth() == b.truth()
    assert [o.order_id for o in all_orders(a)] != [o.order_id for o in all_orders(c)]
    assert a.truth() != c.truth()
    # another shop of the same platform and seed is another world
    assert make_world(orders=400, shop_id="100002").truth() != a.truth()


def test_ids_and_listing_shape(world: FakeWorld) -> None:
    items = world.products()
    skus = [sku for item in items for sku in item.skus]
    assert 30 <= len(skus) <= 80 + 3
    codes = {sku.sku_code: sku for sku in default_catalog()}
    for item in items:
        assert item.item_id.isdigit()
        assert {codes[sku.sku_code].spu_code for sku in item.skus} == {item.spu_code}
        for sku in item.skus:
            assert sku.sku_id.isdigit()
            assert sku.price_fen == codes[sku.sku_code].price_fen
            assert sku.stock >= 0
    assert len({sku.sku_id for sku in skus}) == len(skus)
    orders = all_orders(world)
    assert len({o.order_id for o in orders}) == len(orders) == world.order_count
    assert all(o.order_id.isdigit() for o in orders)
    line_ids = [line.line_id for o in orders for line in o.lines]
    assert len(set(line_ids)) == len(line_ids)
    assert world.order("not-an-id") is None
    assert world.order("1") is None


def test_order_money_and_lifecycle_invariants(world: FakeWorld) -> None:
    orders = all_orders(world)
    listed = {(sku.sku_id): sku for item in world.products() for sku in item.skus}
    statuses: Counter[OrderStatus] = Counter()
    for order in orders:
        statuses[order.status] += 1
        assert 1 <= len(order.lines) <= 3
        assert sum(line.discount_fen for line in order.lines) == order.discount_fen
        assert sum(line.total_fen for line in order.lines) == order.total_fen
        assert order.paid_fen == order.total_fen - order.discount_fen + order.post_fee_fen
        for line in order.lines:
            sku = listed[line.sku_id]
            assert line.sku_code == sku.sku_code
            assert 1 <= line.quantity <= 3
            assert line.unit_price_fen in {sku.price_fen, sku.promo_price_fen}
            assert line.total_fen == line.unit_price_fen * line.quantity
            assert line.paid_fen == line.total_fen - line.discount_fen > 0
        times = [order.created_at, order.paid_at, order.shipped_at, order.finished_at]
        present = [t for t in times if t is not None]
        assert present == sorted(present)
        assert order.created_at <= order.modified_at <= T0
        if order.cancelled_at is not None:
            assert order.paid_at is None
            assert order.cancelled_at - order.created_at == timedelta(minutes=30)
        if order.paid_at is not None:
            assert timedelta(minutes=1) <= order.paid_at - order.created_at <= timedelta(minutes=10)
        if order.status is OrderStatus.CLOSED:
            assert order.shipped_at is None and len(order.lines) == 1
            assert order.lines[0].refund_state is LineRefundState.FULL
            assert order.refunds[0].status is RefundStatus.SUCCEEDED
        if order.shipped_at is not None:
            assert order.logistics_company and order.tracking_no
    total = len(orders)
    assert 0.02 * total < statuses[OrderStatus.CANCELLED] < 0.09 * total
    assert statuses[OrderStatus.COMPLETED] > 0.7 * total
    assert statuses[OrderStatus.PAID] + statuses[OrderStatus.SHIPPED] > 0
    refunds = [r for o in orders for r in o.refunds]
    paid = [o for o in orders if o.is_paid]
    assert 0.05 * len(paid) < len(refunds) < 0.15 * len(paid)
    outcomes = Counter(r.status for r in refunds)
    assert outcomes[RefundStatus.SUCCEEDED] > outcomes[RefundStatus.CLOSED] + outcomes[RefundStatus.REFUSED]
    for refund in refunds:
        assert 0 < refund.amount_fen <= refund.line_paid_fen
        assert refund.created_at <= refund.modified_at
    assert any(r.amount_fen < r.line_paid_fen for r in refunds)  # partial ones exist
    assert any(r.quantity is None for r in refunds)  # amount-only ones too


def test_truth_matches_what_the_world_lists(world: FakeWorld) -> None:
    orders = all_orders(world)
    refunds = world.refunds_modified(EARLY, LATE)
    assert sorted(r.refund_id for r in refunds) == sorted(r.refund_id for o in orders for r in o.refunds)
    assert world.truth() == {
        "orders": len(orders),
        "order_lines": sum(len(o.lines) for o in orders),
        "refunds": len(refunds),
        "paid_fen": sum(o.paid_fen for o in orders if o.paid_at is not None),
        "refunded_fen": sum(r.amount_fen for r in refunds if r.status is RefundStatus.SUCCEEDED),
    }
    for refund in refunds[:50]:
        assert world.refund(refund.refund_id) == refund
        order = world.order(refund.order_id)
        assert order is not None and order.refunds == (refund,)


def test_modified_windows_partition_the_orders(world: FakeWorld) -> None:
    start = world.anchor - timedelta(days=world.days + 1)
    seen: dict[str, int] = {}
    for number, (lo, hi) in enumerate(windows(start, T0 + timedelta(seconds=1), timedelta(minutes=37))):
        page = world.orders_modified(lo, hi)
        assert [o.modified_at for o in page] == sorted(o.modified_at for o in page)
        for order in page:
            assert lo <= order.modified_at < hi
            assert order.order_id not in seen
            seen[order.order_id] = number
    assert len(seen) == world.order_count
    # refunds partition the same way
    refund_ids: list[str] = []
    for lo, hi in windows(start, T0 + timedelta(seconds=1), timedelta(hours=5)):
        refund_ids.extend(r.refund_id for r in world.refunds_modified(lo, hi))
    assert len(refund_ids) == len(set(refund_ids)) == world.truth()["refunds"]


def test_window_bounds_are_half_open(world: FakeWorld) -> None:
    order = all_orders(world)[100]
    at = order.modified_at
    assert order in world.orders_modified(at, at + timedelta(seconds=1))
    assert order not in world.orders_modified(at - timedelta(seconds=5), at)
    assert order in world.orders_modified(at - timedelta(microseconds=1), at + timedelta(microseconds=1))
    created = world.orders_created(order.created_at, order.created_at + timedelta(seconds=1))
    assert order.order_id in {o.order_id for o in created}


def test_advancing_the_clock_moves_orders_along() -> None:
    clock = FakeClock(frozen_at=T0)
    world = make_world(orders=2000, clock=clock)
    before = {o.order_id: o for o in all_orders(world)}
    truth_before = world.truth()
    open_orders = [o for o in before.values() if o.status in (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID)]
    assert open_orders, "recent orders must still be open at the anchor"
    clock.advance(20 * 86400)
    after = {o.order_id: o for o in all_orders(world)}
    assert after.keys() == before.keys()  # no order is created after the anchor
    moved = 0
    for order_id, old in before.items():
        new = after[order_id]
        assert new.status.rank >= old.status.rank
        assert new.modified_at >= old.modified_at
        assert new.paid_fen == old.paid_fen
        moved += new.modified_at > old.modified_at
    assert moved > 0
    assert all(after[o.order_id].status is not o.status for o in open_orders)
    truth_after = world.truth()
    assert truth_after["orders"] == truth_before["orders"]
    assert truth_after["paid_fen"] >= truth_before["paid_fen"]
    assert truth_after["refunds"] >= truth_before["refunds"]
    assert world.settlements(T0, T0 + timedelta(days=20))


def test_touch_bumps_modified_without_changing_money() -> None:
    clock = FakeClock(frozen_at=T0)
    world = make_world(orders=300, clock=clock)
    order = all_orders(world)[10]
    clock.advance(90)
    touched = world.touch(order.order_id)
    assert touched.modified_at == clock.now()
    assert (touched.paid_fen, touched.lines, touched.status) == (order.paid_fen, order.lines, order.status)
    assert touched.order_id in {o.order_id for o in world.orders_modified(T0, T0 + timedelta(minutes=5))}
    window = (order.modified_at, order.modified_at + timedelta(seconds=1))
    assert order.order_id not in {o.order_id for o in world.orders_modified(*window)}
    with pytest.raises(KeyError):
        world.touch("999")


def test_settlements_follow_finished_orders(world: FakeWorld) -> None:
    lines = world.settlements(EARLY, LATE)
    assert len({line.bill_id for line in lines}) == len(lines)
    by_order: dict[str, list[FakeSettlementLine]] = {}
    for line in lines:
        assert line.settled_at <= T0
        by_order.setdefault(line.order_id, []).append(line)
    orders = {o.order_id: o for o in all_orders(world)}
    for order_id, mine in by_order.items():
        order = orders[order_id]
        assert order.finished_at is not None
        sales = [line for line in mine if line.kind is SettlementKind.SALE]
        assert sum(line.amount_fen for line in sales) == order.paid_fen
        assert all(line.amount_fen <= 0 for line in mine if line.kind is not SettlementKind.SALE)
        assert all(line.settled_at >= order.finished_at + timedelta(days=1) for line in mine)
        for line in mine:
            if line.kind is SettlementKind.REFUND:
                refund = world.refund(line.refund_id or "")
                assert refund is not None and refund.status is RefundStatus.SUCCEEDED
                assert line.amount_fen == -refund.amount_fen
    settled = {o for o in orders.values() if o.finished_at and o.finished_at + timedelta(days=1) <= T0}
    assert {o.order_id for o in settled} == set(by_order)
    # windows partition the lines and bill ids are stable
    start = world.anchor - timedelta(days=world.days + 1)
    pieces = [
        line
        for lo, hi in windows(start, T0 + timedelta(days=1), timedelta(hours=7))
        for line in world.settlements(lo, hi)
    ]
    assert sorted(pieces, key=lambda line: line.bill_id) == sorted(lines, key=lambda line: line.bill_id)


def test_live_world_sessions_minutes_and_attribution() -> None:
    world = make_world("douyin", orders=1500, live=True)
    sessions = world.live_sessions(EARLY, LATE)
    assert 0.7 * world.days < len(sessions) <= world.days + 2
    orders = all_orders(world)
    live_lines = [(o, line) for o in orders for line in o.lines if line.room_id is not None]
    assert len(live_lines) > 0.1 * sum(len(o.lines) for o in orders)
    by_room = {s.room_id: s for s in sessions}
    for session in sessions:
        local = session.started_at.astimezone(SHANGHAI)
        assert (local.hour, local.minute) >= (19, 0) and local.hour < 20
        assert session.ended_at is not None
        assert timedelta(hours=2) <= session.ended_at - session.started_at <= timedelta(hours=2, minutes=30)
        assert session.minutes and session.explanations
        assert session.peak_online == max(m.online for m in session.minutes)
        for explanation in session.explanations:
            assert session.started_at <= explanation.started_at < explanation.ended_at <= session.ended_at
    gmv: Counter[str] = Counter()
    for order, line in live_lines:
        session = by_room[line.room_id or ""]
        assert session.started_at <= order.created_at < (session.ended_at or LATE)
        assert order.room_id == line.room_id and order.author_id == line.author_id == session.author_id
        if order.paid_at is not None:
            gmv[session.room_id] += line.paid_fen
    for session in sessions:
        assert session.gmv_fen == gmv[session.room_id] == sum(m.gmv_fen for m in session.minutes)
    assert world.live_session(sessions[0].room_id) == sessions[0]
    # a line sold during an explanation sells the explained SKU
    explained = 0
    for order, line in live_lines:
        for e in by_room[line.room_id or ""].explanations:
            if e.started_at <= order.created_at < e.ended_at:
                assert line.sku_id == e.sku_id
                explained += 1
    assert explained > 0
    assert make_world("taobao", orders=50).live_sessions(EARLY, LATE) == []


def test_live_session_in_progress_is_clipped_to_now() -> None:
    clock = FakeClock(frozen_at=T0)
    world = make_world("kuaishou", orders=200, live=True, clock=clock)
    session = world.live_sessions(EARLY, LATE)[-1]
    clock.freeze(session.started_at + timedelta(minutes=30, seconds=5))
    live = world.live_session(session.room_id)
    assert live is not None and live.ended_at is None
    assert len(live.minutes) == 31
    assert all(e.ended_at <= clock.now() for e in live.explanations)


def test_selfmall_orders_carry_campaigns_and_units() -> None:
    world = make_world("selfmall", orders=600)
    orders = all_orders(world)
    codes = {c.campaign_code for c in world.campaigns()}
    with_campaign = [o for o in orders if o.campaign_code is not None]
    with_unit = [o for o in orders if o.purchasing_unit_code is not None]
    assert 0.1 * len(orders) < len(with_campaign) < 0.4 * len(orders)
    assert 0.2 * len(orders) < len(with_unit) < 0.5 * len(orders)
    assert {o.campaign_code for o in with_campaign} <= codes
    assert {o.purchasing_unit_code for o in with_unit} <= set(PURCHASING_UNITS)
    for order in with_campaign:
        campaign = next(c for c in world.campaigns() if c.campaign_code == order.campaign_code)
        assert campaign.starts_at <= order.created_at < campaign.ends_at
    assert all(o.campaign_code is None for o in all_orders(make_world("jd", orders=100)))


def test_host_commission_only_on_live_lines() -> None:
    world = make_world("douyin", orders=800, live=True)
    commissions = [line for line in world.settlements(EARLY, LATE) if line.kind is SettlementKind.HOST_COMMISSION]
    assert commissions
    for line in commissions:
        assert line.room_id is not None and line.rate_bp == HOST_COMMISSION_BP
        order = world.order(line.order_id)
        assert order is not None
        sold = next(x for x in order.lines if x.line_id == line.line_id)
        assert sold.room_id == line.room_id
        assert line.amount_fen == -(sold.paid_fen * HOST_COMMISSION_BP // 10000)


def test_stock_changes() -> None:
    clock = FakeClock(frozen_at=T0)
    world = make_world(orders=10, clock=clock)
    item = world.products()[0]
    sku = item.skus[0]
    clock.advance(60)
    assert world.set_stock(item.item_id, sku.sku_id, 7) == 7
    assert world.adjust_stock(item.item_id, sku.sku_id, -3) == 4
    with pytest.raises(StockError):
        world.adjust_stock(item.item_id, sku.sku_id, -5)
    with pytest.raises(StockError):
        world.set_stock(item.item_id, sku.sku_id, -1)
    with pytest.raises(StockError):
        world.set_stock("0", sku.sku_id, 1)
    with pytest.raises(StockError):
        world.set_stock(item.item_id, "0", 1)
    updated = world.item(item.item_id)
    assert updated is not None
    assert updated.skus[0].stock == 4 and updated.skus[0].modified_at == clock.now()
    assert updated.modified_at == clock.now()
    multi = next((i for i in world.products() if len(i.skus) > 1), None)
    if multi is not None:
        with pytest.raises(StockError):
            world.set_stock(multi.item_id, None, 1)
    single = next(i for i in world.products() if len(i.skus) == 1)
    assert world.set_stock(single.item_id, None, 2) == 2


def test_custom_catalog_and_validation() -> None:
    catalog = [
        CatalogSku(f"T-{n:03d}-01", f"T-{n:03d}", f"测试品{n}", "500g", "test", "袋", 1000 + n, None, "", 0, False)
        for n in range(12)
    ]
    world = FakeWorld("jd", "1", seed=1, orders=50, clock=FakeClock(frozen_at=T0), catalog=catalog)
    assert {sku.sku_code for item in world.products() for sku in item.skus} == {c.sku_code for c in catalog}
    assert {line.sku_code for o in all_orders(world) for line in o.lines} <= {c.sku_code for c in catalog}
    with pytest.raises(ValueError):
        FakeWorld("jd", "1", seed=1, orders=5, clock=FakeClock(frozen_at=T0), catalog=[])
    with pytest.raises(ValueError):
        FakeWorld("jd", "1", seed=1, orders=-1, clock=FakeClock(frozen_at=T0))
    with pytest.raises(ValueError, match="aware"):
        world.orders_modified(datetime(2025, 1, 1), T0)


def test_empty_world() -> None:
    world = make_world(orders=0)
    assert world.truth() == {"orders": 0, "order_lines": 0, "refunds": 0, "paid_fen": 0, "refunded_fen": 0}
    assert world.orders_modified(EARLY, LATE) == []


@pytest.mark.parametrize("hour", [3, 12, 13, 15, 23])
def test_every_order_is_modified_within_days_plus_two_but_live_ones_reach_before_days(hour: int) -> None:
    """What a sync's look-back must cover to see a whole world: ``days + 2`` days. Orders placed
    in the first live session (the evening of ``anchor - (days + 1)``) reach before ``days``: at
    12:00-16:00 UTC (20:00-24:00 in Shanghai) a ``days + 1`` look-back missed some."""
    anchor = datetime(2026, 12, 6, hour, 10, 7, tzinfo=UTC)
    world = FakeWorld("douyin", "100001", seed=7, orders=150, days=2, clock=FakeClock(frozen_at=anchor), live=True)
    everything = world.orders_created(anchor - timedelta(days=30), anchor + timedelta(days=1))
    assert len(everything) == 150
    assert len(world.orders_modified(anchor - timedelta(days=4), anchor + timedelta(seconds=1))) == 150
    if hour in (12, 13, 15):
        assert min(o.created_at for o in everything) < anchor - timedelta(days=3)
