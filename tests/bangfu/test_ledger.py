"""Sale and refund journals, and posting them: balanced, exact to the fen, idempotent."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bangfu.enums import HouseholdCategory, JournalKind
from bangfu.ledger import (
    Journal,
    JournalConflictError,
    LedgerError,
    PostStatus,
    RefundError,
    SaleLine,
    UnbalancedJournalError,
    balances,
    build_refund_journal,
    build_sale_journal,
    journal_uid,
    post,
    receivable_account,
    refund_fraction,
)
from bangfu.policy import Policy, parse_policy
from bangfu.split import Contribution, LineFees
from bangfu.store import make_engine

PAID_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_line_ids = itertools.count(1)


def policy(retention: int = 800, collective: int = 500, bonus: int = 300) -> Policy:
    return parse_policy(
        {
            "retention_bp": retention,
            "collective_bp": collective,
            "priority_bonus_bp": bonus,
            "grade_coefficients": {"A": 100, "B": 90, "C": 80},
            "patronage_return_bp": 6000,
        }
    )


@st.composite
def sale_lines(draw: st.DrawFn) -> SaleLine:
    paid = draw(st.integers(1, 2_000_000))
    fee_cap = max(paid // 2, 1)
    households = draw(st.lists(st.integers(1, 9), min_size=1, max_size=6, unique=True))
    lots = {
        lot_id: [
            Contribution(
                household_id=hid,
                category=draw(st.sampled_from(list(HouseholdCategory))),
                quantity=draw(st.integers(1, 300)),
                grade=draw(st.sampled_from("ABC")),
                guaranteed_price_fen=draw(st.integers(0, 2000)),
            )
            for hid in draw(st.lists(st.sampled_from(households), min_size=1, unique=True))
        ]
        for lot_id in (1, 2)
    }
    # One category per household across lots.
    category = {c.household_id: c.category for lot in lots.values() for c in lot}
    lots = {
        lot_id: [
            Contribution(c.household_id, category[c.household_id], c.quantity, c.grade, c.guaranteed_price_fen)
            for c in lot
        ]
        for lot_id, lot in lots.items()
    }
    host = draw(st.sampled_from([None, 5]))
    return SaleLine(
        shop_id=draw(st.integers(1, 3)),
        line_id=next(_line_ids),
        version=1,
        occurred_at=PAID_AT,
        paid_fen=paid,
        fees=LineFees(
            platform_fee_fen=draw(st.integers(0, fee_cap)),
            payment_fee_fen=draw(st.integers(0, fee_cap // 10)),
            host_commission_fen=draw(st.integers(0, fee_cap)) if host else 0,
            logistics_fen=draw(st.integers(0, fee_cap)),
        ),
        cooperative_id=7,
        draws=draw(st.dictionaries(st.sampled_from([1, 2]), st.integers(1, 20), min_size=1)),
        lots=lots,
        host_id=host,
    )


@st.composite
def refund_plans(draw: st.DrawFn, paid: int) -> list[Fraction]:
    """Refund fractions of the line, by amount or by quantity, never beyond the whole."""
    line_units = draw(st.integers(1, 10))
    plan: list[Fraction] = []
    left = Fraction(1)
    for _ in range(draw(st.integers(0, 4))):
        if left == 0:
            break
        if int(left * paid) >= 1 and draw(st.booleans()):
            amount = draw(st.integers(1, int(left * paid)))
            fraction = refund_fraction(amount_fen=amount, paid_fen=paid)
        else:
            units = draw(st.integers(1, line_units))
            fraction = min(refund_fraction(units=units, line_units=line_units), left)
        plan.append(fraction)
        left -= fraction
    if draw(st.booleans()) and left > 0:
        plan.append(left)  # the rest: a full refund overall
    return plan


def journals_for(line: SaleLine, plan: list[Fraction], pol: Policy) -> list[Journal]:
    sale, _ = build_sale_journal(line, pol)
    journals = [sale]
    before = Fraction(0)
    for index, fraction in enumerate(plan):
        refund = build_refund_journal(
            sale,
            refund_key=f"r{index}",
            occurred_at=PAID_AT + timedelta(days=index + 1),
            fraction=fraction,
            refunded_before=before,
        )
        before += fraction
        if refund is not None:
            journals.append(refund)
    return journals


def ledger_of(journals: list[Journal]) -> Counter[str]:
    total: Counter[str] = Counter()
    for journal in journals:
        total.update(journal.legs)
    return total


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[SaleLine, list[Fraction]]:
    line = draw(sale_lines())
    return line, draw(refund_plans(line.paid_fen))


@given(scenario=scenarios(), bonus=st.integers(0, 1000))
def test_every_journal_balances_and_the_parts_add_up_to_paid_less_refunds(
    scenario: tuple[SaleLine, list[Fraction]], bonus: int
) -> None:
    line, plan = scenario
    journals = journals_for(line, plan, policy(bonus=bonus))
    for journal in journals:
        assert journal.problems() == []
        assert sum(journal.legs.values()) == 0
    ledger = ledger_of(journals)
    receivable = receivable_account(line.shop_id).code
    refunded = sum(plan, Fraction(0))
    # The receivable is within a fen of paid - refunds (exact for refunds by amount) ...
    assert abs(ledger[receivable] - line.paid_fen * (1 - refunded)) < 1
    # ... and households + retention + collective + bonus + fees are exactly what it holds.
    assert -sum(amount for code, amount in ledger.items() if code != receivable) == ledger[receivable]
    # No account ever reverses more than a fen beyond its exact pro-rata share.
    sale = journals[0]
    for code, amount in sale.legs.items():
        assert abs(ledger[code] - amount * (1 - refunded)) < 1
    if refunded == 1:
        assert all(amount == 0 for amount in ledger.values())


def test_a_refund_by_amount_moves_the_receivable_by_exactly_that_amount() -> None:
    line = SaleLine(
        shop_id=1,
        line_id=1,
        version=1,
        occurred_at=PAID_AT,
        paid_fen=9_999,
        fees=LineFees(platform_fee_fen=333),
        cooperative_id=7,
        draws={1: 3},
        lots={
            1: [
                Contribution(1, HouseholdCategory.LIFTED, 2, "A", 100),
                Contribution(2, HouseholdCategory.ORDINARY, 1, "B"),
            ]
        },
    )
    sale, split = build_sale_journal(line, policy())
    assert split.total_fen == 9_999 - 333
    refund = build_refund_journal(
        sale,
        refund_key="qr-1",
        occurred_at=PAID_AT + timedelta(days=3),
        fraction=refund_fraction(amount_fen=1234, paid_fen=9_999),
    )
    assert refund is not None
    assert refund.legs["receivable:shop:1"] == -1234
    assert refund.kind is JournalKind.REFUND
    assert refund.occurred_at == PAID_AT + timedelta(days=3)
    assert refund.source_event == "order-line:1:1:v1:refund:qr-1"
    assert refund.uid == journal_uid("order-line:1:1:v1:refund:qr-1")
    assert refund.reverses_uid == sale.uid == journal_uid("order-line:1:1:v1:sale")
    with pytest.raises(RefundError, match="not within the line"):
        build_refund_journal(
            sale, refund_key="x", occurred_at=PAID_AT, fraction=Fraction(1), refunded_before=Fraction(1, 2)
        )


# -- posting ------------------------------------------------------------------------------------


async def _post_and_read(url: str, *batches: list[Journal]) -> tuple[list[dict[str, PostStatus]], dict[str, int]]:
    engine = make_engine(url)
    try:
        statuses = []
        for batch in batches:
            async with engine.begin() as conn:
                statuses.append(await post(conn, batch))
        async with engine.connect() as conn:
            return statuses, await balances(conn)
    finally:
        await engine.dispose()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios(), seed=st.integers(0, 2**32))
def test_posting_twice_in_any_order_gives_the_same_ledger(
    db_url: str, scenario: tuple[SaleLine, list[Fraction]], seed: int
) -> None:
    line, plan = scenario
    journals = journals_for(line, plan, policy())
    first, second = list(journals), list(journals)
    random.Random(seed).shuffle(first)
    random.Random(seed + 1).shuffle(second)

    _, before = asyncio.run(_post_and_read(db_url))
    (created, replayed), after = asyncio.run(_post_and_read(db_url, first, second))
    assert set(created.values()) == {PostStatus.CREATED}
    assert set(replayed.values()) == {PostStatus.EXISTS}
    delta = Counter(after)
    delta.subtract(before)
    assert {code: amount for code, amount in delta.items() if amount} == {
        code: amount for code, amount in ledger_of(journals).items() if amount
    }


def _simple_sale(paid: int = 1000) -> Journal:
    line = SaleLine(
        shop_id=1,
        line_id=42,
        version=1,
        occurred_at=PAID_AT,
        paid_fen=paid,
        fees=LineFees(),
        cooperative_id=7,
        draws={1: 1},
        lots={1: [Contribution(3, HouseholdCategory.ORDINARY, 1, "A")]},
    )
    return build_sale_journal(line, policy())[0]


async def test_same_uid_with_different_postings_is_an_error(db_url: str) -> None:
    await _post_and_read(db_url, [_simple_sale(1000)])
    with pytest.raises(JournalConflictError, match="different content"):
        await _post_and_read(db_url, [_simple_sale(1001)])


async def test_an_unbalanced_journal_is_refused_before_anything_is_written(db_url: str) -> None:
    good = _simple_sale()
    bad = Journal(
        uid=journal_uid("test:bad"),
        kind=JournalKind.ADJUSTMENT,
        source_event="test:bad",
        occurred_at=PAID_AT,
        postings=(*good.postings[:-1],),
    )
    with pytest.raises(UnbalancedJournalError, match="unbalanced"):
        await _post_and_read(db_url, [good, bad])
    _, after = await _post_and_read(db_url)
    assert after == {}


async def test_a_refund_of_a_journal_not_in_the_ledger_is_refused(db_url: str) -> None:
    refund = build_refund_journal(_simple_sale(), refund_key="r", occurred_at=PAID_AT, fraction=Fraction(1))
    assert refund is not None
    with pytest.raises(RefundError, match="not in the ledger"):
        await _post_and_read(db_url, [refund])
    (statuses,), after = await _post_and_read(db_url, [refund, _simple_sale()])
    assert set(statuses.values()) == {PostStatus.CREATED}
    assert after == {}  # a full refund returns every account to where it was


def test_a_line_paid_nothing_has_no_sale_journal() -> None:
    line = SaleLine(
        shop_id=1,
        line_id=1,
        version=1,
        occurred_at=PAID_AT,
        paid_fen=0,
        fees=LineFees(),
        cooperative_id=7,
        draws={1: 1},
        lots={1: [Contribution(3, HouseholdCategory.ORDINARY, 1, "A")]},
    )
    with pytest.raises(LedgerError, match="moves no money"):
        build_sale_journal(line, policy())
