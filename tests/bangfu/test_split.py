"""Splitting a line's net among cooperative, village collective and households, to the fen."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bangfu.enums import HouseholdCategory
from bangfu.policy import Basis, LeftoverParty, Policy, UnknownGradeError, parse_policy
from bangfu.split import (
    Contribution,
    LineFees,
    SplitError,
    estimate_fees,
    net_attributable,
    split_line,
)

LIFTED, MONITORED, ORDINARY = HouseholdCategory.LIFTED, HouseholdCategory.MONITORED, HouseholdCategory.ORDINARY


def policy(**changes: Any) -> Policy:
    rules: dict[str, Any] = {
        "retention_bp": 800,
        "collective_bp": 500,
        "priority_bonus_bp": 300,
        "grade_coefficients": {"A": 100, "B": 90, "C": 80},
        "patronage_return_bp": 6000,
    }
    rules.update(changes)
    return parse_policy(rules)


def test_a_line_split_reads_like_a_statement() -> None:
    # Lot 1: 扎西 (lifted) 60 units grade A, 卓玛 (ordinary) 40 units grade B; 10 units sold.
    lots = {
        1: [
            Contribution(household_id=11, category=LIFTED, quantity=60, grade="A", guaranteed_price_fen=500),
            Contribution(household_id=12, category=ORDINARY, quantity=40, grade="B", guaranteed_price_fen=500),
        ]
    }
    fees = LineFees(platform_fee_fen=500, payment_fee_fen=60, host_commission_fen=2000, logistics_fen=800)
    net = net_attributable(paid_fen=10_000, refunds_fen=0, fees=fees)
    assert net == 6640
    split = split_line(net, {1: 10}, lots, policy())
    # 8% retention, 5% collective, 3% bonus (only 扎西 is a priority household), 84% households.
    # Pools 531.2 / 332 / 199.2 / 5577.6 floor to 531 / 332 / 199 / 5577; the leftover fen goes to
    # the cooperative, and so does the leftover fen of the household split below.
    assert split.retention_fen == 531 + 1 + 1
    assert split.collective_fen == 332
    zhaxi, zhuoma = split.households
    assert zhaxi.bonus_fen == 199
    assert zhuoma.bonus_fen == 0
    # Household pool 5577 by weight 60x100 : 40x90 = 6000 : 3600 -> 3485.625 and 2091.375.
    assert (zhaxi.share_fen, zhuoma.share_fen) == (3485, 2091)
    # 6 and 4 of the 10 units were theirs, at 5 yuan guaranteed: paid at delivery, credited first.
    assert (zhaxi.guaranteed_fen, zhaxi.recovered_fen, zhaxi.rebate_fen) == (3000, 3000, 485)
    assert (zhuoma.guaranteed_fen, zhuoma.recovered_fen, zhuoma.rebate_fen) == (2000, 2000, 91)
    assert split.total_fen == net


def test_net_below_the_guaranteed_price_leaves_the_rebate_at_zero() -> None:
    lots = {1: [Contribution(household_id=1, category=ORDINARY, quantity=10, grade="A", guaranteed_price_fen=1000)]}
    split = split_line(5000, {1: 10}, lots, policy())
    (part,) = split.households
    # The household keeps the 100 yuan it was paid at delivery; the cooperative recovers only
    # what the sale brought and bears the rest of the guarantee.
    assert part.guaranteed_fen == 10_000
    assert part.rebate_fen == 0
    assert part.recovered_fen == part.share_fen == 4350
    assert part.shortfall_fen == 5650

    negative = split_line(5000, {1: 10}, lots, policy(allow_negative_rebate=True))
    (owing,) = negative.households
    assert owing.recovered_fen == 10_000
    assert owing.rebate_fen == 4350 - 10_000
    assert owing.shortfall_fen == 0


def test_a_lot_without_households_sends_its_part_to_the_leftover_party() -> None:
    lots = {1: [Contribution(household_id=1, category=ORDINARY, quantity=5, grade="A")], 2: []}
    split = split_line(10_000, {1: 1, 2: 1}, lots, policy(leftover_to="collective"))
    (part,) = split.households
    # No priority household drew: the 3% bonus joins the pool, 87% of which is half lot 2's.
    assert part.share_fen == 4350
    assert split.collective_fen == 500 + 4350
    assert split.total_fen == 10_000


def test_unknown_grade_in_a_lot_is_named() -> None:
    lots = {1: [Contribution(household_id=1, category=ORDINARY, quantity=5, grade="Z")]}
    with pytest.raises(UnknownGradeError, match="'Z'"):
        split_line(100, {1: 1}, lots, policy())


@pytest.mark.parametrize(
    ("draws", "lots", "message"),
    [
        ({}, {}, "no lot draws"),
        ({1: 0}, {1: []}, "positive"),
        ({2: 1}, {1: []}, "lot 2"),
        (
            {1: 1, 2: 1},
            {
                1: [Contribution(household_id=1, category=LIFTED, quantity=1, grade="A")],
                2: [Contribution(household_id=1, category=ORDINARY, quantity=1, grade="A")],
            },
            "category differs",
        ),
    ],
)
def test_bad_draws_are_refused(draws: dict[int, int], lots: dict[int, list[Contribution]], message: str) -> None:
    with pytest.raises(SplitError, match=message):
        split_line(100, draws, lots, policy())


def test_weight_basis_needs_the_weight() -> None:
    lots = {1: [Contribution(household_id=1, category=ORDINARY, quantity=5, grade="A")]}
    with pytest.raises(SplitError, match="weight"):
        split_line(100, {1: 1}, lots, policy(basis="weight"))


def test_fee_estimates_come_from_the_policy_and_the_host() -> None:
    fees = estimate_fees(10_000, policy(estimates_bp={"platform_fee": 500, "logistics": 800}), host_commission_bp=2000)
    assert fees == LineFees(platform_fee_fen=500, payment_fee_fen=0, host_commission_fen=2000, logistics_fen=800)


# -- properties ---------------------------------------------------------------------------------


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    retention = draw(st.integers(0, 4000))
    collective = draw(st.integers(0, 4000))
    bonus = draw(st.integers(0, 10_000 - retention - collective))
    return policy(
        retention_bp=retention,
        collective_bp=collective,
        priority_bonus_bp=bonus,
        basis=draw(st.sampled_from([b.value for b in Basis])),
        leftover_to=draw(st.sampled_from([p.value for p in LeftoverParty])),
        allow_negative_rebate=draw(st.booleans()),
        grade_coefficients={"A": 100, "B": draw(st.integers(1, 100)), "C": draw(st.integers(1, 100))},
    )


@st.composite
def lot_setups(draw: st.DrawFn) -> tuple[dict[int, int], dict[int, list[Contribution]]]:
    household_ids = draw(st.lists(st.integers(1, 12), min_size=0, max_size=8, unique=True))
    categories = {hid: draw(st.sampled_from(list(HouseholdCategory))) for hid in household_ids}
    lots: dict[int, list[Contribution]] = {}
    for lot_id in range(1, draw(st.integers(1, 4)) + 1):
        members = draw(st.lists(st.sampled_from(household_ids), unique=True)) if household_ids else []
        lots[lot_id] = [
            Contribution(
                household_id=hid,
                category=categories[hid],
                quantity=draw(st.integers(1, 500)),
                grade=draw(st.sampled_from("ABC")),
                guaranteed_price_fen=draw(st.integers(0, 3000)),
                weight_g=draw(st.integers(0, 50_000)),
            )
            for hid in members
        ]
    drawn = draw(st.lists(st.sampled_from(sorted(lots)), min_size=1, unique=True))
    return {lot_id: draw(st.integers(1, 50)) for lot_id in drawn}, lots


@given(net=st.integers(-100_000, 10_000_000), setup=lot_setups(), pol=policies())
def test_parts_sum_to_the_net_to_the_fen(
    net: int, setup: tuple[dict[int, int], dict[int, list[Contribution]]], pol: Policy
) -> None:
    draws, lots = setup
    split = split_line(net, draws, lots, pol)
    assert split.retention_fen + split.collective_fen + split.households_fen + split.bonus_fen == net
    for part in split.households:
        assert part.recovered_fen + part.rebate_fen == part.share_fen
        if not pol.allow_negative_rebate:
            assert part.rebate_fen >= 0
            assert part.recovered_fen <= part.guaranteed_fen
        else:
            assert part.recovered_fen == part.guaranteed_fen
        if part.bonus_fen:
            assert pol.is_priority(part.category)
    if net >= 0:
        assert all(part.share_fen >= 0 and part.bonus_fen >= 0 for part in split.households)


# -- exact values where the properties above cannot tell ---------------------------------------


def test_a_line_over_several_lots_splits_to_the_exact_fen() -> None:
    # Household 1 delivered into lots 1 and 2 (40 units each), household 2 into lots 1 and 3
    # (40 and 35 units), household 3 into lots 2 and 3; lots 4 and 5 have no households, and
    # one of them is drawn before any other.
    lots = {
        1: [
            Contribution(household_id=1, category=LIFTED, quantity=30, grade="A", guaranteed_price_fen=400),
            Contribution(household_id=2, category=ORDINARY, quantity=10, grade="B", guaranteed_price_fen=301),
        ],
        2: [
            Contribution(household_id=1, category=LIFTED, quantity=20, grade="C", guaranteed_price_fen=500),
            Contribution(household_id=3, category=MONITORED, quantity=20, grade="A"),
        ],
        3: [
            Contribution(household_id=2, category=ORDINARY, quantity=25, grade="A", guaranteed_price_fen=201),
            Contribution(household_id=3, category=MONITORED, quantity=10, grade="B"),
        ],
        4: [],
        5: [],
    }
    split = split_line(100_000, {4: 2, 1: 3, 2: 3, 5: 1, 3: 5}, lots, policy())
    assert split.net_fen == 100_000
    # Weights (units x share of the lot's weight): 1 -> 3*3000/3900 + 3*1600/3600 = 3.641,
    # 2 -> 3*900/3900 + 5*2500/3400 = 4.369, 3 -> 3*2000/3600 + 5*900/3400 = 2.990, and the 3
    # units of lots 4 and 5: the households' 84% (84,000 fen) is 21,846.15 / 26,212.67 /
    # 17,941.18 and 18,000 that goes to the cooperative with the leftover fen of each split.
    assert (split.retention_fen, split.collective_fen) == (8000 + 18_000 + 1 + 1, 5000)
    # Guaranteed: 1 -> 3*30*400/40 + 3*20*500/40 = 1650; 2 -> 3*10*301/40 + 5*25*201/35 =
    # 225.75 + 717.86, floored once: 943. Bonus 3,000 between the priority households 1 and 3.
    assert [tuple(part) for part in split.households] == [
        (1, LIFTED, 21_846, 1650, 1650, 20_196, 1647),
        (2, ORDINARY, 26_212, 943, 943, 25_269, 0),
        (3, MONITORED, 17_941, 0, 0, 17_941, 1352),
    ]
    # No float ever touches money, not even one that equals an integer.
    assert all(type(value) is int for part in split.households for value in tuple(part)[2:])


def test_a_priority_household_with_no_weight_gets_no_bonus_pool() -> None:
    lots = {
        1: [
            Contribution(household_id=1, category=LIFTED, quantity=5, grade="A", weight_g=0),
            Contribution(household_id=2, category=ORDINARY, quantity=5, grade="A", weight_g=1000),
        ]
    }
    split = split_line(10_000, {1: 1}, lots, policy(basis="weight"))
    # Household 1 weighs nothing: no priority household drew, so the 3% bonus joins the pool.
    assert (split.retention_fen, split.collective_fen) == (800, 500)
    assert [(part.share_fen, part.bonus_fen) for part in split.households] == [(0, 0), (8700, 0)]


def test_a_priority_household_of_the_least_weight_gets_the_bonus() -> None:
    lots = {1: [Contribution(household_id=1, category=LIFTED, quantity=1, grade="D")]}
    split = split_line(10_000, {1: 1}, lots, policy(grade_coefficients={"A": 100, "D": 1}))
    (part,) = split.households
    assert (part.share_fen, part.bonus_fen, split.retention_fen, split.collective_fen) == (8400, 300, 800, 500)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"quantity": 0}, "household 7: delivered quantity must be positive"),
        ({"guaranteed_price_fen": -1}, "household 7: guaranteed price must not be negative"),
        ({"weight_g": -1}, "household 7: delivered weight must not be negative"),
    ],
)
def test_a_bad_delivery_is_refused_naming_the_household(changes: dict[str, int], message: str) -> None:
    fields: dict[str, Any] = {"household_id": 7, "category": ORDINARY, "quantity": 1, "grade": "A", **changes}
    with pytest.raises(SplitError, match=f"^{message}$"):
        Contribution(**fields)
    assert Contribution(**{**fields, **dict.fromkeys(changes, 1)}).household_id == 7


def test_draw_refusals_say_exactly_what_is_wrong() -> None:
    with pytest.raises(SplitError, match=r"^the line has no lot draws to split over$"):
        split_line(100, {}, {}, policy())
    twice = [Contribution(household_id=7, category=ORDINARY, quantity=1, grade="A")] * 2
    with pytest.raises(SplitError, match=r"^lot 1: household 7 appears twice$"):
        split_line(100, {1: 1}, {1: twice}, policy())


def test_fees_without_a_host_and_at_the_bounds_of_the_commission() -> None:
    rates = policy(estimates_bp={"payment_fee": 60})
    assert estimate_fees(10_000, rates) == LineFees(payment_fee_fen=60)
    assert estimate_fees(10_000, rates, host_commission_bp=0).host_commission_fen == 0
    assert estimate_fees(10_000, rates, host_commission_bp=10_000).host_commission_fen == 10_000
    for bad in (-1, 10_001):
        with pytest.raises(SplitError, match=rf"^host commission must be within 0\.\.10000 bp, got {bad}$"):
            estimate_fees(10_000, rates, host_commission_bp=bad)


def test_refunds_come_off_the_net() -> None:
    fees = LineFees(platform_fee_fen=100, payment_fee_fen=6, host_commission_fen=200, logistics_fen=80)
    assert net_attributable(paid_fen=10_000, refunds_fen=1_500, fees=fees) == 10_000 - 1_500 - 386
