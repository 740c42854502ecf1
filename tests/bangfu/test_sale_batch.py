"""The batch's sale journals are build_sale_journal's, leg for leg (bangfu.sale_batch).

Random batches of lines over random lots, households, policies and fees (negative nets, hosts or
none, the leftover to either party, negative rebates allowed or not, and magnitudes beyond int64
products, which the batch takes in Python ints) are computed together by SaleBatch and one by one
by bangfu.journal_rules.build_sale_journal; every journal must be equal: uid, source, date, legs in
the same order with the same accounts, and the code-sorted legs the hash chain reads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bangfu.enums import HouseholdCategory
from bangfu.journal_rules import SaleLine, build_sale_journal
from bangfu.policy import Policy, PolicyError, parse_policy
from bangfu.sale_batch import SaleBatch
from bangfu.split import Contribution, LineFees, plan_split, plan_weights

PAID_AT = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


@st.composite
def policies(draw: Any) -> Policy:
    rules = {
        "retention_bp": draw(st.integers(0, 3000)),
        "collective_bp": draw(st.integers(0, 1500)),
        "priority_bonus_bp": draw(st.integers(0, 800)),
        "grade_coefficients": {"A": draw(st.integers(1, 1000)), "B": draw(st.integers(1, 150))},
        "patronage_return_bp": 6000,
        "basis": draw(st.sampled_from(["quantity", "value", "weight"])),
        "leftover_to": draw(st.sampled_from(["cooperative", "collective"])),
        "allow_negative_rebate": draw(st.booleans()),
        "estimates_bp": {"platform_fee": 500, "payment_fee": 60, "logistics": 800},
    }
    try:
        return parse_policy(rules)
    except PolicyError:  # below the households' floor: a policy that passes it
        return parse_policy({**rules, "retention_bp": 500, "collective_bp": 300, "priority_bonus_bp": 200})


@st.composite
def lots(draw: Any, big: bool) -> dict[int, list[Contribution]]:
    out: dict[int, list[Contribution]] = {}
    categories: dict[int, HouseholdCategory] = {}
    for lot in range(1, draw(st.integers(1, 4)) + 1):
        households = draw(st.lists(st.integers(1, 12), min_size=0, max_size=6, unique=True))
        contributions = []
        for hid in sorted(households):
            category = categories.setdefault(hid, draw(st.sampled_from(list(HouseholdCategory))))
            quantity = draw(st.integers(1, 10**12 if big else 997))
            contributions.append(
                Contribution(
                    hid,
                    category,
                    quantity,
                    draw(st.sampled_from(["A", "B"])),
                    draw(st.integers(0, 10**9 if big else 4_000)),
                    draw(st.integers(0, 10**13 if big else 50_000)),
                )
            )
        out[lot] = contributions
    return out


@st.composite
def batches(draw: Any) -> tuple[Policy, dict[int, list[Contribution]], list[dict[str, Any]]]:
    big = draw(st.booleans())
    policy = draw(policies())
    stock = draw(lots(big))
    lines = []
    for n in range(draw(st.integers(1, 25))):
        chosen = draw(st.lists(st.sampled_from(sorted(stock)), min_size=1, max_size=len(stock), unique=True))
        draws = {lot: draw(st.integers(1, 10**6 if big else 40)) for lot in chosen}
        paid = draw(st.integers(1, 10**14 if big else 500_000))
        host = draw(st.one_of(st.none(), st.integers(1, 3)))
        fees = LineFees(
            platform_fee_fen=draw(st.integers(0, paid)),
            payment_fee_fen=draw(st.integers(0, paid // 10 + 1)),
            host_commission_fen=draw(st.integers(0, paid // 5 + 1)) if host is not None else 0,
            logistics_fen=draw(st.integers(0, paid // 3 + 1)),
        )
        lines.append(
            {
                "shop_id": draw(st.integers(1, 2)),
                "line_id": 100 + n,
                "version": draw(st.integers(1, 3)),
                "occurred_at": PAID_AT + timedelta(minutes=draw(st.integers(0, 10_000))),
                "paid_fen": paid,
                "fees": fees,
                "host_id": host,
                "cooperative_id": 7,
                "draws": draws,
            }
        )
    return policy, stock, lines


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batches())
def test_the_batch_builds_the_journals_one_by_one_would(batch: Any) -> None:
    policy, stock, lines = batch
    sales = SaleBatch()
    expected = []
    for spec in lines:
        draws = spec.pop("draws")
        line = SaleLine(draws=draws, lots={lot: stock[lot] for lot in draws}, **spec)
        try:
            plan = plan_split(line.draws, line.lots, policy)
        except ValueError:
            continue  # e.g. the weight basis without a weight: the one-line path fails it as always
        if not plan_weights(plan).plain:
            continue
        journal, _ = build_sale_journal(line, policy, plan)
        expected.append(journal)
        sales.add(**spec, plan=plan, plan_key=tuple(sorted(draws.items())))
    for index, journal in enumerate(expected):
        batched = sales.journal(index)
        assert batched == journal
        assert list(sales.legs(index).items()) == [(p.account.code, p.amount_fen) for p in journal.postings]
        assert sales.sorted_legs(index) == sorted(journal.legs.items())
        assert sales.uids[index] == journal.uid


def test_a_line_the_batch_cannot_compute_is_refused() -> None:
    policy = parse_policy(
        {
            "retention_bp": 800,
            "collective_bp": 500,
            "priority_bonus_bp": 300,
            "grade_coefficients": {"A": 100},
            "patronage_return_bp": 6000,
        }
    )
    plan = plan_split({1: 2}, {1: [Contribution(11, HouseholdCategory.LIFTED, 10, "A", 100)]}, policy)
    common: dict[str, Any] = {"shop_id": 1, "line_id": 2, "version": 1, "cooperative_id": 7, "plan": plan}
    sales = SaleBatch()
    with pytest.raises(ValueError, match="not a plain sale"):
        sales.add(**common, occurred_at=PAID_AT, paid_fen=0, fees=LineFees(), host_id=None, plan_key=())
    with pytest.raises(ValueError, match="not a plain sale"):
        sales.add(
            **common, occurred_at=PAID_AT, paid_fen=100, fees=LineFees(host_commission_fen=3), host_id=None, plan_key=()
        )
    with pytest.raises(ValueError, match="not a plain sale"):
        sales.add(**common, occurred_at=datetime(2026, 9, 1), paid_fen=100, fees=LineFees(), host_id=None, plan_key=())
