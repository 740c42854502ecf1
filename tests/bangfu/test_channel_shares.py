"""The pure allocation of one SKU's stock to shops: examples and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bangfu.channel_shares import BP_WHOLE, ShopShare, allocate, split_even


def test_reservation_first_then_shares_then_leftover_by_priority() -> None:
    shares = [
        ShopShare(1, share_bp=5000, priority=1),
        ShopShare(2, share_bp=3000, reserved=20),  # a live session tonight
        ShopShare(3, share_bp=1000, floor=15),
    ]
    # 100 units: 20 reserved for shop 2; of the other 80: 40, 24, max(8, 15) = 15; 1 left over
    # goes to shop 1 (the highest priority tier).
    assert allocate(100, shares) == {1: 41, 2: 44, 3: 15}


def test_no_rules_split_evenly_and_a_zero_share_rule_takes_only_its_floor() -> None:
    assert allocate(10, [ShopShare(1), ShopShare(2), ShopShare(3)]) == {1: 4, 2: 3, 3: 3}
    shares = [ShopShare(1), ShopShare.from_rule(2, (0, 5, 9)), ShopShare(3)]
    assert allocate(30, shares) == {1: 13, 2: 5, 3: 12}


def test_short_stock_goes_to_reservations_in_proportion_and_floors_by_priority() -> None:
    shares = [ShopShare(1, reserved=30), ShopShare(2, reserved=10), ShopShare(3, floor=50, priority=5)]
    assert allocate(20, shares) == {1: 15, 2: 5, 3: 0}
    floors = [ShopShare(1, floor=8), ShopShare(2, floor=8, priority=1)]
    assert allocate(10, floors) == {2: 8, 1: 2}


def test_shares_over_100_percent_are_scaled_down() -> None:
    assert allocate(90, [ShopShare(1, share_bp=9000), ShopShare(2, share_bp=9000)]) == {1: 45, 2: 45}


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        allocate(-1, [ShopShare(1)])
    with pytest.raises(ValueError):
        allocate(5, [ShopShare(1), ShopShare(1)])
    with pytest.raises(ValueError):
        ShopShare(1, share_bp=BP_WHOLE + 1)
    with pytest.raises(ValueError):
        ShopShare(1, floor=-1)


shop_shares = st.lists(
    st.builds(
        ShopShare,
        shop_id=st.integers(1, 40),
        share_bp=st.integers(0, BP_WHOLE),
        floor=st.integers(0, 60),
        priority=st.integers(-2, 2),
        reserved=st.integers(0, 60) | st.just(0),
        takes_leftover=st.booleans(),
    ),
    max_size=8,
    unique_by=lambda s: s.shop_id,
)


@given(total=st.integers(0, 5000), shares=shop_shares)
def test_parts_never_exceed_the_total(total: int, shares: list[ShopShare]) -> None:
    parts = allocate(total, shares)
    assert set(parts) == {s.shop_id for s in shares}
    assert all(units >= 0 for units in parts.values())
    assert sum(parts.values()) <= total
    if shares and any(s.takes_leftover for s in shares):
        assert sum(parts.values()) == total  # nothing is left unallocated when someone takes it
    assert allocate(total, list(reversed(shares))) == parts  # order of the input does not matter


@given(total=st.integers(0, 5000), shares=shop_shares)
def test_reservations_and_floors_are_met_when_they_fit(total: int, shares: list[ShopShare]) -> None:
    parts = allocate(total, shares)
    reserved = sum(s.reserved for s in shares)
    if reserved > total:
        # Short stock all goes to the reservations, in proportion to them.
        assert all(parts[s.shop_id] == 0 for s in shares if not s.reserved)
        assert all(parts[s.shop_id] <= s.reserved for s in shares)
        return
    assert all(parts[s.shop_id] >= s.reserved for s in shares)
    rest = total - reserved
    bp = sum(s.share_bp for s in shares)
    # The most a rule can ask of the rest: its share (rounded up) or its floor.
    wants = {s.shop_id: max(-(-rest * s.share_bp // max(bp, BP_WHOLE)), s.floor) for s in shares}
    if sum(wants.values()) <= rest:
        assert all(parts[s.shop_id] >= s.reserved + s.floor for s in shares)


@given(total=st.integers(1, 5000), shares=shop_shares)
def test_leftovers_go_to_the_top_priority_takers_only(total: int, shares: list[ShopShare]) -> None:
    takers = [s for s in shares if s.takes_leftover]
    if not takers or sum(s.reserved for s in shares) > total:
        return
    top = max(s.priority for s in takers)
    # With every share and floor at zero, all of the rest is leftover.
    bare = [
        ShopShare(s.shop_id, priority=s.priority, reserved=s.reserved, takes_leftover=s.takes_leftover) for s in shares
    ]
    parts = allocate(total, bare)
    for s in bare:
        extra = parts[s.shop_id] - s.reserved
        assert extra >= 0
        if not (s.takes_leftover and s.priority == top):
            assert extra == 0
    tier = [parts[s.shop_id] - s.reserved for s in bare if s.takes_leftover and s.priority == top]
    assert max(tier) - min(tier) <= 1


@given(units=st.integers(0, 1000), keys=st.lists(st.integers(), min_size=1, max_size=10, unique=True))
def test_split_even(units: int, keys: list[int]) -> None:
    parts = split_even(units, keys)
    assert sum(parts.values()) == units
    assert max(parts.values()) - min(parts.values()) <= 1
    assert split_even(units, []) == {}
