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
