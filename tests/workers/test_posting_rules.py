"""The pure rules of posting, as examples (DOMAIN.md "Money", docs/accounting.md "The line's
journals"). No database: each example is the rule applied to values written out here."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest

from bangfu.enums import HouseholdCategory, SettlementKind, SupplierKind
from bangfu.ledger import receivable_account
from bangfu.policy import Policy, parse_policy
from bangfu.split import Contribution, LineFees
from workers.posting.rules import (
    FAILED,
    NOT_SPLIT,
    POSTED,
    WAITING_LOTS,
    BatchCache,
    LineInputs,
    LineState,
    bill_fees,
    desired_journal,
    fingerprint,
    line_fees,
    local_date,
    paid_changed_since_refunded,
    policy_in_force,
    refunded_part,
    trueup_time,
)

PAID_AT = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
Version = tuple[date, int, int, dict[str, Any]]  # a policy version: effective from, version, patronage, rules


def policy() -> Policy:
    return parse_policy(
        {
            "retention_bp": 800,
            "collective_bp": 500,
            "priority_bonus_bp": 300,
            "grade_coefficients": {"A": 100, "B": 90},
            "patronage_return_bp": 6000,
            "estimates_bp": {"platform_fee": 500, "payment_fee": 60, "logistics": 800},
        }
    )


def line(**changes: Any) -> LineState:
    """A cooperative's line of 2 units paid ¥100.00, not posted yet."""
    state = LineState(
        la_id=1,
        line_id=2,
        shop_id=3,
        input_rev=1,
        status="pending",
        fingerprint=None,
        desired=None,
        sale_version=None,
        journal_seq=0,
        refunded=Fraction(0),
        line_version=1,
        bill_lines=0,
        version=1,
        order_id=4,
        platform_line_id="L-1",
        sku_id=5,
        quantity=2,
        paid_fen=10_000,
        paid_at=PAID_AT,
        order_modified_at=PAID_AT,
        supplier_id=6,
        supplier_kind=SupplierKind.COOPERATIVE,
        cooperative_id=7,
    )
    return replace(state, **changes)


def inputs(**changes: Any) -> LineInputs:
    """Drawn from lot 8 (two households), the policy version 1 in force, no host, no bill."""
    base = LineInputs(
        draws={8: 2},
        lots={
            8: [
                Contribution(11, HouseholdCategory.LIFTED, 30, "A", 1_500),
                Contribution(12, HouseholdCategory.ORDINARY, 10, "B"),
            ]
        },
        policy=policy(),
        policy_version=1,
    )
    return replace(base, **changes)


# -- fees: the bill's when it is there, the policy's estimates before -----------------------------


def test_a_bill_line_for_the_whole_order_is_split_by_paid_amount_exact_to_the_fen() -> None:
    """¥1.00 of platform fee over lines paid 1,000, 2,000 and 3,000 fen: 16.67, 33.33 and 50 fen,
    floored to 16, 33 and 50; the one fen left goes to the largest remainder (the first line)."""
    order = {"A": (1, 1_000), "B": (2, 2_000), "C": (3, 3_000)}
    fees = bill_fees(order, [(None, SettlementKind.PLATFORM_FEE, -100)])
    assert fees == {1: {"platform_fee_fen": 17}, 2: {"platform_fee_fen": 33}, 3: {"platform_fee_fen": 50}}
    assert sum(f["platform_fee_fen"] for f in fees.values()) == 100


def test_a_bill_line_naming_a_line_is_that_lines_alone() -> None:
    order = {"A": (1, 1_000), "B": (2, 3_000)}
    fees = bill_fees(order, [("B", SettlementKind.PAYMENT_FEE, -18), ("B", SettlementKind.LOGISTICS, -800)])
    assert fees == {1: {}, 2: {"payment_fee_fen": 18, "logistics_fen": 800}}


def test_fees_given_back_and_money_lines_are_not_fees() -> None:
    """A positive fee line returns a fee on refunded money (the refund journal reverses the
    line's fees pro rata already); sales, refunds and subsidies are not fees at all."""
    order = {"A": (1, 5_000)}
    bill = [
        ("A", SettlementKind.SALE, 5_000),
        ("A", SettlementKind.PLATFORM_FEE, -250),
        ("A", SettlementKind.PLATFORM_FEE, 125),
        ("A", SettlementKind.REFUND, -2_500),
        ("A", SettlementKind.SUBSIDY, 300),
    ]
    assert bill_fees(order, bill) == {1: {"platform_fee_fen": 250}}


def test_an_order_paid_nothing_spreads_its_fee_evenly() -> None:
    fees = bill_fees({"A": (1, 0), "B": (2, 0)}, [(None, SettlementKind.PLATFORM_FEE, -3)])
    assert fees == {1: {"platform_fee_fen": 2}, 2: {"platform_fee_fen": 1}}


def test_before_the_bill_the_fees_are_the_policys_estimates_and_the_hosts_deal() -> None:
    """5% platform, 0.6% payment, 8% logistics of ¥100.00, and the host's 10% commission."""
    fees, host, source = line_fees(line(), inputs(host_id=9, host_commission_bp=1_000))
    assert (fees, host, source) == (
        LineFees(platform_fee_fen=500, payment_fee_fen=60, host_commission_fen=1_000, logistics_fen=800),
        9,
        "estimate",
    )


def test_once_the_bill_is_there_its_fees_replace_the_estimates() -> None:
    bill = {"platform_fee_fen": 420, "payment_fee_fen": 55}
    fees, host, source = line_fees(line(), inputs(host_id=9, host_commission_bp=1_000, bill=bill))
    assert source == "bill" and host == 9
    assert fees == LineFees(platform_fee_fen=420, payment_fee_fen=55, host_commission_fen=1_000)


def test_a_billed_commission_without_an_attributed_host_is_booked_as_platform_fee() -> None:
    bill = {"platform_fee_fen": 420, "host_commission_fen": 700}
    fees, host, _ = line_fees(line(), inputs(bill=bill))
    assert host is None
    assert fees == LineFees(platform_fee_fen=1_120)


def test_without_a_policy_only_the_hosts_commission_is_estimated() -> None:
    """An enterprise supplier's line: no cooperative policy, so no fee estimates."""
    fees, _, source = line_fees(line(), inputs(policy=None, host_id=9, host_commission_bp=250))
    assert (fees, source) == (LineFees(host_commission_fen=250), "estimate")


# -- the desired journal --------------------------------------------------------------------------


def test_the_desired_journal_is_balanced_and_receives_the_paid_amount() -> None:
    desired = desired_journal(line(), inputs())
    assert desired.status == POSTED and desired.fees_source == "estimate"
    assert desired.journal is not None and desired.legs == desired.journal.legs
    assert sum(desired.legs.values()) == 0
    assert desired.legs[receivable_account(3).code] == 10_000


def test_an_enterprise_line_credits_its_supplier_and_is_not_split() -> None:
    state = line(supplier_kind=SupplierKind.ENTERPRISE, cooperative_id=None)
    desired = desired_journal(state, inputs(draws={}, lots={}, policy=None, policy_version=None))
    assert desired.status == NOT_SPLIT
    assert desired.legs == {receivable_account(3).code: 10_000, "supplier:6": -10_000}


@pytest.mark.parametrize(
    ("state", "inp", "status", "reason"),
    [
        (line(supplier_id=None), inputs(), WAITING_LOTS, "the line has no SKU mapped to a product and supplier yet"),
        (line(), inputs(draws={}, lots={}), WAITING_LOTS, "no lot draw for the line yet"),
        (line(), inputs(policy=None, policy_error="no policy in force"), FAILED, "no policy in force"),
    ],
)
def test_a_line_that_cannot_be_split_yet_has_no_journal(
    state: LineState, inp: LineInputs, status: str, reason: str
) -> None:
    desired = desired_journal(state, inp)
    assert (desired.status, desired.reason, desired.journal, desired.legs) == (status, reason, None, {})


def test_a_line_paid_nothing_posts_nothing() -> None:
    desired = desired_journal(line(paid_fen=0), inputs())
    assert desired.status == POSTED and desired.journal is None and desired.fingerprint


def test_the_batch_cache_changes_no_journal() -> None:
    cache = BatchCache()
    assert desired_journal(line(), inputs(), cache) == desired_journal(line(), inputs())
    assert desired_journal(line(line_id=20), inputs(), cache).legs == desired_journal(line(line_id=20), inputs()).legs


# -- the fingerprint: it moves with the journal's inputs, and only with them -----------------------


def _fp(state: LineState, inp: LineInputs) -> str:
    return desired_journal(state, inp).fingerprint


@pytest.mark.parametrize(
    ("state", "inp"),
    [
        (line(order_modified_at=PAID_AT + timedelta(days=2)), inputs()),
        (line(refunded=Fraction(1, 2), journal_seq=3, input_rev=9, status="posted"), inputs()),
        (line(), inputs(last_bill_at=PAID_AT + timedelta(days=5), session_started_at=PAID_AT)),
        (line(la_id=99, platform_line_id="L-9"), inputs()),
    ],
)
def test_what_is_not_an_input_of_the_journal_leaves_the_fingerprint_alone(state: LineState, inp: LineInputs) -> None:
    assert _fp(state, inp) == _fp(line(), inputs())
    assert desired_journal(state, inp).legs == desired_journal(line(), inputs()).legs


@pytest.mark.parametrize(
    ("state", "inp"),
    [
        (line(paid_fen=9_000), inputs()),
        (line(), inputs(host_id=9, host_commission_bp=1_000)),
        (line(), inputs(bill={"platform_fee_fen": 300})),
        (line(), inputs(draws={8: 1})),
        (
            line(),
            inputs(lots={8: [Contribution(11, HouseholdCategory.LIFTED, 30, "A", 1_500)]}),
        ),
    ],
)
def test_a_new_input_of_the_journal_changes_the_fingerprint_and_the_journal(state: LineState, inp: LineInputs) -> None:
    assert _fp(state, inp) != _fp(line(), inputs())
    assert desired_journal(state, inp).legs != desired_journal(line(), inputs()).legs


def test_the_fingerprint_is_the_same_with_or_without_the_batch_cache() -> None:
    inp = inputs(host_id=9, host_commission_bp=1_000)
    fees, host, source = line_fees(line(), inp)
    cache = BatchCache()
    first = fingerprint(line(), inp, fees, host, source, cache)
    assert first == fingerprint(line(), inp, fees, host, source, cache) == fingerprint(line(), inp, fees, host, source)


# -- dates: the true-up is dated by the data, the policy by the local payment date ----------------


def test_a_trueup_is_dated_at_its_latest_cause() -> None:
    bill_at = PAID_AT + timedelta(days=6)
    state = line(order_modified_at=PAID_AT + timedelta(days=2))
    assert trueup_time(state, inputs()) == PAID_AT + timedelta(days=2)
    assert trueup_time(state, inputs(last_bill_at=bill_at, session_started_at=PAID_AT - timedelta(hours=1))) == bill_at
    late_session = PAID_AT + timedelta(days=9)  # a session recorded later than the bill
    assert trueup_time(state, inputs(last_bill_at=bill_at, session_started_at=late_session)) == late_session


def test_the_policy_in_force_is_the_latest_effective_on_the_local_payment_date() -> None:
    v1: Version = (date(2026, 1, 1), 1, 6000, {})
    v2: Version = (date(2026, 10, 1), 2, 6000, {})
    v3: Version = (date(2026, 10, 1), 3, 6000, {})
    paid = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)  # 1 October, 01:00 in Shanghai
    assert local_date(paid) == date(2026, 10, 1)
    assert policy_in_force([v1, v2, v3], local_date(paid)) == v3  # ties: the highest version
    assert policy_in_force([v1, v2], date(2026, 9, 30)) == v1
    assert policy_in_force([v2], date(2026, 9, 30)) is None


# -- refunds of a line whose paid amount changes afterwards --------------------------------------


def test_refunded_fen_stay_the_same_when_the_paid_amount_changes() -> None:
    """¥20.00 refunded of a line posted at ¥100.00 and now paid ¥80.00: a quarter of it now."""
    posted = {receivable_account(3).code: 10_000}
    state = line(paid_fen=8_000, refunded=Fraction(1, 5), desired=posted)
    assert paid_changed_since_refunded(state)
    assert not paid_changed_since_refunded(replace(state, paid_fen=10_000))
    assert not paid_changed_since_refunded(replace(state, refunded=Fraction(0)))
    assert refunded_part(8_000, 2, [(2_000, None)]) == Fraction(1, 4)


def test_a_refund_by_quantity_keeps_its_part_and_no_part_exceeds_the_line() -> None:
    assert refunded_part(8_000, 4, [(None, 1)]) == Fraction(1, 4)
    assert refunded_part(8_000, 4, [(6_000, None), (4_000, None)]) == 1
    assert refunded_part(8_000, 4, [(0, 0)]) is None
