"""The split policy document: parsed into a frozen value, every bad field refused by name."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bangfu.enums import HouseholdCategory
from bangfu.policy import (
    MAX_POLICY_LEAD_YEARS,
    MIN_HOUSEHOLD_SHARE_BP,
    Basis,
    HouseholdShareError,
    LeftoverParty,
    PolicyError,
    UnknownGradeError,
    admit_policy,
    latest_effective_from,
    parse_policy,
    parse_policy_row,
)


def scenario_rules(**changes: Any) -> dict[str, Any]:
    """The document bangfu.scenario writes for every cooperative."""
    rules: dict[str, Any] = {
        "retention_bp": 800,
        "collective_bp": 500,
        "priority_bonus_bp": 300,
        "priority_categories": ["lifted", "monitored"],
        "basis": "quantity",
        "grade_coefficients": {"A": 100, "B": 90, "C": 80, "D": 70, "E": 60},
        "estimates_bp": {"platform_fee": 500, "payment_fee": 60, "logistics": 800},
        "leftover_to": "cooperative",
        "patronage_return_bp": 6000,
    }
    rules.update(changes)
    return rules


def test_the_scenario_policy_parses() -> None:
    policy = parse_policy(scenario_rules())
    assert policy.retention_bp == 800
    assert policy.collective_bp == 500
    assert policy.priority_bonus_bp == 300
    assert policy.priority_categories == {HouseholdCategory.LIFTED, HouseholdCategory.MONITORED}
    assert policy.basis is Basis.QUANTITY
    assert policy.leftover_to is LeftoverParty.COOPERATIVE
    assert policy.estimates.platform_fee_bp == 500
    assert policy.estimates.logistics_bp == 800
    assert policy.coefficient("B") == 90
    assert not policy.allow_negative_rebate


def test_the_policy_is_frozen() -> None:
    policy = parse_policy(scenario_rules())
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.retention_bp = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.grade_coefficients["A"] = 1  # type: ignore[index]


def test_patronage_return_below_60_percent_is_refused_citing_art_44() -> None:
    with pytest.raises(PolicyError, match=r"art\. 44") as caught:
        parse_policy(scenario_rules(patronage_return_bp=5999))
    assert caught.value.field == "patronage_return_bp"
    assert "Farmers' Professional Cooperatives Law" in str(caught.value)
    assert parse_policy(scenario_rules(patronage_return_bp=6000)).patronage_return_bp == 6000


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"retention_bp": -1}, "retention_bp"),
        ({"collective_bp": 10001}, "collective_bp"),
        ({"priority_bonus_bp": "300"}, "priority_bonus_bp"),
        ({"retention_bp": True}, "retention_bp"),
        ({"retention_bp": 5000, "collective_bp": 4000, "priority_bonus_bp": 1001}, "retention_bp"),
        ({"patronage_return_bp": 10001}, "patronage_return_bp"),
        ({"grade_coefficients": {}}, "grade_coefficients"),
        ({"grade_coefficients": {"A": 0}}, "grade_coefficients.A"),
        ({"grade_coefficients": {"A": 1.5}}, "grade_coefficients.A"),
        ({"grade_coefficients": ["A"]}, "grade_coefficients"),
        ({"basis": "volume"}, "basis"),
        ({"leftover_to": "households"}, "leftover_to"),
        ({"priority_categories": ["lifted", "rich"]}, "priority_categories"),
        ({"priority_categories": "lifted"}, "priority_categories"),
        ({"estimates_bp": {"platform_fee": 20000}}, "estimates_bp.platform_fee"),
        ({"estimates_bp": {"host_commission": 2000}}, "estimates_bp.host_commission"),
        ({"allow_negative_rebate": "yes"}, "allow_negative_rebate"),
        ({"retension_bp": 800}, "retension_bp"),
    ],
)
def test_invalid_fields_are_refused_by_name(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(scenario_rules(**changes))
    assert caught.value.field == field
    assert repr(field) in str(caught.value)


def test_a_missing_field_is_named() -> None:
    rules = scenario_rules()
    del rules["collective_bp"]
    with pytest.raises(PolicyError, match="'collective_bp': missing"):
        parse_policy(rules)


def test_host_commission_is_not_a_policy_estimate() -> None:
    with pytest.raises(PolicyError, match="host's deal"):
        parse_policy(scenario_rules(estimates_bp={"host_commission": 2000}))


def test_unknown_grade_names_the_grade() -> None:
    policy = parse_policy(scenario_rules())
    with pytest.raises(UnknownGradeError, match="'Z'") as caught:
        policy.coefficient("Z")
    assert caught.value.grade == "Z"


def test_the_row_column_and_the_rules_must_agree() -> None:
    assert parse_policy_row(scenario_rules(patronage_return_bp=7000), 7000).patronage_return_bp == 7000
    with pytest.raises(PolicyError, match="policy row says 6500"):
        parse_policy_row(scenario_rules(patronage_return_bp=7000), 6500)


@given(
    shares=st.lists(st.integers(0, 10_000), min_size=3, max_size=3),
    patronage=st.integers(0, 10_000),
    coefficients=st.dictionaries(st.sampled_from("ABCDE"), st.integers(1, 1000), min_size=1),
    basis=st.sampled_from(list(Basis)),
)
def test_any_document_is_either_valid_or_refused_by_name(
    shares: list[int], patronage: int, coefficients: dict[str, int], basis: Basis
) -> None:
    retention, collective, bonus = shares
    rules = scenario_rules(
        retention_bp=retention,
        collective_bp=collective,
        priority_bonus_bp=bonus,
        patronage_return_bp=patronage,
        grade_coefficients=coefficients,
        basis=basis.value,
    )
    valid = retention + collective + bonus <= 10_000 and patronage >= 6000
    if valid:
        policy = parse_policy(rules)
        assert policy.basis is basis
        assert dict(policy.grade_coefficients) == coefficients
    else:
        with pytest.raises(PolicyError) as caught:
            parse_policy(rules)
        assert caught.value.field in ("retention_bp", "patronage_return_bp")


def test_a_policy_giving_households_nothing_per_sale_is_refused_naming_the_fields() -> None:
    """Issue 12 item 14: retention 90% + collective 10% (nothing per sale to member households)
    was accepted. A new version must leave households at least MIN_HOUSEHOLD_SHARE_BP (60%) of
    each sale's net after fees: the hub's rule after the principle of art. 44."""
    with pytest.raises(HouseholdShareError) as caught:
        admit_policy(scenario_rules(retention_bp=9000, collective_bp=1000, priority_bonus_bp=0))
    error = caught.value
    assert isinstance(error, PolicyError)
    assert error.fields == ("retention_bp", "collective_bp")
    assert (error.households_bp, error.floor_bp) == (0, MIN_HOUSEHOLD_SHARE_BP)
    message = str(error)
    assert "'retention_bp'" in message and "'collective_bp'" in message and "art. 44" in message
    # The priority bonus goes to households, so it counts towards their share.
    assert admit_policy(scenario_rules(retention_bp=2500, collective_bp=1500, priority_bonus_bp=4000))
    with pytest.raises(HouseholdShareError):
        admit_policy(scenario_rules(retention_bp=2500, collective_bp=1501, priority_bonus_bp=0))
    # A version already stored still parses (its lines keep posting as they did).
    assert parse_policy(scenario_rules(retention_bp=9000, collective_bp=1000, priority_bonus_bp=0)).retention_bp == 9000


@given(retention=st.integers(0, 10_000), collective=st.integers(0, 10_000))
def test_admission_is_exactly_the_household_floor(retention: int, collective: int) -> None:
    rules = scenario_rules(retention_bp=retention, collective_bp=collective, priority_bonus_bp=0)
    if retention + collective > 10_000:
        return
    if 10_000 - retention - collective >= MIN_HOUSEHOLD_SHARE_BP:
        assert admit_policy(rules).retention_bp == retention
    else:
        with pytest.raises(HouseholdShareError):
            admit_policy(rules)


def test_the_horizon_is_two_years_from_today() -> None:
    assert MAX_POLICY_LEAD_YEARS == 2
    assert latest_effective_from(date(2026, 3, 15)) == date(2028, 3, 15)
    assert latest_effective_from(date(2028, 2, 29)) == date(2030, 2, 28)
