"""The pure rules of journals, as examples (DOMAIN.md "Money" and "Refunds", docs/accounting.md
"The line's journals"). No database: each example is a journal written out in fen."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

import pytest

from bangfu.enums import HouseholdCategory, JournalKind
from bangfu.journal_rules import (
    Journal,
    LedgerError,
    Posting,
    RefundError,
    SaleLine,
    UnbalancedJournalError,
    account_from_code,
    build_refund_journal,
    build_sale_journal,
    build_supplier_sale_journal,
    build_trueup_journal,
    journal_from_legs,
    journal_uid,
    receivable_account,
    refund_fraction,
    refunded_legs,
    sale_event_key,
    supplier_account,
)
from bangfu.policy import Policy, parse_policy
from bangfu.split import Contribution, LineFees

PAID_AT = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
REFUNDED_AT = datetime(2026, 9, 4, 8, 0, tzinfo=UTC)
FEES = LineFees(platform_fee_fen=500, payment_fee_fen=60, logistics_fen=800)


def policy() -> Policy:
    """Retention 8%, village collective 5%, priority bonus 3% of the net."""
    return parse_policy(
        {
            "retention_bp": 800,
            "collective_bp": 500,
            "priority_bonus_bp": 300,
            "grade_coefficients": {"A": 100},
            "patronage_return_bp": 6000,
            "estimates_bp": {"platform_fee": 500, "payment_fee": 60, "logistics": 800},
        }
    )


def sale() -> Journal:
    """2 units paid ¥113.60, drawn from lot 8 of one 脱贫户 (household 11, guaranteed ¥1.00 a unit)."""
    line = SaleLine(
        shop_id=3,
        line_id=2,
        version=1,
        occurred_at=PAID_AT,
        paid_fen=11_360,
        fees=FEES,
        cooperative_id=7,
        draws={8: 2},
        lots={8: [Contribution(11, HouseholdCategory.LIFTED, 30, "A", 100)]},
    )
    journal, _ = build_sale_journal(line, policy())
    return journal


def test_a_sale_debits_the_paid_amount_and_credits_fees_cooperative_village_and_household() -> None:
    """Net ¥100.00 after ¥13.60 of fees: 8% retained, 5% to the village, the 3% bonus to the one
    priority household, whose share (¥84.00) first recovers the ¥2.00 guaranteed at delivery."""
    journal = sale()
    assert journal.kind is JournalKind.SALE and journal.occurred_at == PAID_AT
    assert journal.source_event == "order-line:3:2:v1:sale"
    assert journal.uid == journal_uid(journal.source_event)
    assert journal.legs == {
        "receivable:shop:3": 11_360,
        "fees:shop:3:platform_fee": -500,
        "fees:shop:3:payment_fee": -60,
        "fees:shop:3:logistics": -800,
        "cooperative:7:retained": -800,
        "collective:7": -500,
        "household:11:advance": -200,
        "household:11": -8_200,
        "household:11:bonus": -300,
    }


def test_an_enterprise_suppliers_net_is_credited_whole_and_a_host_gets_the_commission() -> None:
    fees = LineFees(platform_fee_fen=500, host_commission_fen=1_000)
    journal = build_supplier_sale_journal(
        shop_id=3, line_id=2, version=1, occurred_at=PAID_AT, paid_fen=10_000, fees=fees, supplier_id=6, host_id=9
    )
    assert journal.legs == {
        "receivable:shop:3": 10_000,
        "fees:shop:3:platform_fee": -500,
        "payable:host:9:commission": -1_000,
        "supplier:6": -8_500,
    }


def test_no_sale_journal_for_nothing_paid_or_a_commission_without_its_host() -> None:
    common = {"shop_id": 3, "line_id": 2, "version": 1, "occurred_at": PAID_AT, "supplier_id": 6}
    with pytest.raises(LedgerError, match="paid 0 fen moves no money"):
        build_supplier_sale_journal(paid_fen=0, fees=LineFees(), **common)  # type: ignore[arg-type]
    with pytest.raises(LedgerError, match="a host commission needs the host"):
        build_supplier_sale_journal(
            paid_fen=100,
            fees=LineFees(host_commission_fen=10),
            **common,  # type: ignore[arg-type]
        )


# -- refunds: pro rata on every leg, cumulative, exact in full ------------------------------------


def test_a_refund_by_amount_moves_the_receivable_by_exactly_that_amount() -> None:
    original = sale()
    fraction = refund_fraction(amount_fen=2_840, paid_fen=11_360)
    assert fraction == Fraction(1, 4)
    refund = build_refund_journal(original, refund_key="r1", occurred_at=REFUNDED_AT, fraction=fraction)
    assert refund is not None
    assert refund.kind is JournalKind.REFUND and refund.reverses_uid == original.uid
    assert refund.occurred_at == REFUNDED_AT  # dated when the refund happened, not when the sale was
    assert refund.source_event == "order-line:3:2:v1:refund:r1"
    assert refund.legs == {code: -amount // 4 for code, amount in original.legs.items()}


def test_a_line_refunded_in_thirds_returns_every_account_exactly() -> None:
    """Each third is within a fen of exact on every leg and balanced; the three together are the
    sale reversed to the fen."""
    original = sale()
    total: dict[str, int] = {}
    before = Fraction(0)
    for n in range(3):
        refund = build_refund_journal(
            original, refund_key=f"r{n}", occurred_at=REFUNDED_AT, fraction=Fraction(1, 3), refunded_before=before
        )
        assert refund is not None and sum(refund.legs.values()) == 0
        for code, amount in refund.legs.items():
            assert abs(amount + original.legs[code] / 3) < 1
            total[code] = total.get(code, 0) + amount
        before += Fraction(1, 3)
    assert total == {code: -amount for code, amount in original.legs.items()}


def test_what_a_part_refunded_line_holds_is_the_sale_less_its_reversals() -> None:
    """As posting folds refunds: of the sale's legs in account code order (ties of the largest
    remainder go by code, so the order a store keeps the legs in never moves a fen)."""
    sold = sale()
    original = journal_from_legs(JournalKind.SALE, sold.source_event, PAID_AT, dict(sorted(sold.legs.items())))
    refund = build_refund_journal(original, refund_key="r1", occurred_at=REFUNDED_AT, fraction=Fraction(1, 3))
    assert refund is not None
    held = refunded_legs(original.legs, Fraction(1, 3))
    assert held == {code: amount + refund.legs.get(code, 0) for code, amount in original.legs.items()}
    assert refunded_legs(original.legs, Fraction(1)) == {}
    assert refunded_legs(original.legs, Fraction(0)) == original.legs


@pytest.mark.parametrize(
    ("fraction", "before"),
    [(Fraction(1, 2), Fraction(2, 3)), (Fraction(0), Fraction(0)), (Fraction(-1, 4), Fraction(1, 2))],
)
def test_a_refund_beyond_what_is_left_of_the_line_is_refused(fraction: Fraction, before: Fraction) -> None:
    with pytest.raises(RefundError, match="not within the line"):
        build_refund_journal(
            sale(), refund_key="r9", occurred_at=REFUNDED_AT, fraction=fraction, refunded_before=before
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount_fen": 100, "units": 1, "paid_fen": 1_000, "line_units": 2}, "exactly one of them"),
        ({"amount_fen": 1_200, "paid_fen": 1_000}, "at most the whole line"),
        ({"units": 1, "line_units": 0}, "positive quantity"),
        ({"amount_fen": 100, "paid_fen": 0}, "positive paid amount"),
    ],
)
def test_a_refund_is_by_amount_or_by_quantity_and_within_the_line(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(RefundError, match=message):
        refund_fraction(**kwargs)


# -- true-ups: the difference between what the line should hold and what it holds ---------------


def test_a_trueup_posts_the_difference_and_nothing_when_there_is_none() -> None:
    posted = sale().legs
    desired = {**posted, "fees:shop:3:platform_fee": -420, "household:11": -8_280}  # the bill's fee was lower
    trueup = build_trueup_journal(
        shop_id=3, line_id=2, version=1, fingerprint="2.abc", occurred_at=REFUNDED_AT, desired=desired, posted=posted
    )
    assert trueup is not None and trueup.kind is JournalKind.TRUE_UP
    assert trueup.source_event == "order-line:3:2:v1:trueup:2.abc"
    assert trueup.legs == {"fees:shop:3:platform_fee": 80, "household:11": -80}
    same = build_trueup_journal(
        shop_id=3, line_id=2, version=1, fingerprint="3.abc", occurred_at=REFUNDED_AT, desired=posted, posted=posted
    )
    assert same is None


# -- what makes a journal unpostable -------------------------------------------------------------


def test_a_journal_lists_every_reason_it_cannot_be_posted() -> None:
    shop, supplier = receivable_account(3), supplier_account(6)
    journal = Journal(
        uid="not-the-uid",
        kind=JournalKind.SALE,
        source_event=sale_event_key(3, 2, 1),
        occurred_at=datetime(2026, 9, 1, 2, 0),  # naive
        postings=(Posting(shop, 100), Posting(supplier, -90), Posting(supplier, 0)),
    )
    assert journal.problems() == [
        "journal not-the-uid is unbalanced: its legs sum to 10 fen",
        "journal not-the-uid posts to supplier:6 more than once",
        "journal not-the-uid has a zero leg on supplier:6",
        "journal not-the-uid has a naive occurred_at",
        "journal not-the-uid is not the uuid5 of its source event 'order-line:3:2:v1:sale'",
    ]
    assert sale().problems() == []


def test_every_account_of_a_sale_is_named_by_its_code() -> None:
    for posting in sale().postings:
        assert account_from_code(posting.account.code) == posting.account


def test_an_unbalanced_journal_is_never_built() -> None:
    with pytest.raises(UnbalancedJournalError, match="its legs sum to 1 fen"):
        journal_from_legs(
            JournalKind.TRUE_UP, "order-line:3:2:v1:trueup:x", PAID_AT, {"receivable:shop:3": 10, "supplier:6": -9}
        )
