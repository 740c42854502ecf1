"""``compare_with_truth``, the yardstick of the convergence tests: it must report every kind of
difference (a total off, duplicate rows, a record missing, unknown, or stale), each in words."""

from __future__ import annotations

from typing import Any

from sync.stats import compare_with_truth

TOTALS = {"orders": 3, "order_lines": 4, "refunds": 2, "paid_fen": 30_000, "refunded_fen": 1_500}
ORDERS = {"O1": ["paid", 1_776_000_000], "O2": ["shipped", 1_776_000_060], "O3": ["completed", 1_776_000_120]}
REFUNDS = {"R1": ["succeeded", 1_776_000_200], "R2": ["requested", 1_776_000_300]}


def _hub(**changes: Any) -> dict[str, Any]:
    """The hub's side of a shop that agrees with :func:`_truth` (before ``changes``)."""
    hub: dict[str, Any] = {
        "shop": 1,
        "name": "店",
        "platform": "taobao",
        "platform_shop_id": "s1",
        **TOTALS,
        "order_records": {key: list(value) for key, value in ORDERS.items()},
        "refund_records": {key: list(value) for key, value in REFUNDS.items()},
        "duplicates": {"orders": 0, "order_lines": 0, "refunds": 0},
    }
    hub.update(changes)
    return hub


def _truth(**changes: Any) -> dict[str, Any]:
    """A shop's ``/_fake/truth?records=1`` entry (records as the JSON answer carries them)."""
    truth: dict[str, Any] = {
        **TOTALS,
        "records": {
            "orders": {k: list(v) for k, v in ORDERS.items()},
            "refunds": {k: list(v) for k, v in REFUNDS.items()},
        },
    }
    truth.update(changes)
    return truth


def test_agreement_is_no_problem() -> None:
    assert compare_with_truth(_hub(), _truth()) == []


def test_each_total_that_differs_is_reported() -> None:
    hub = _hub(orders=2, paid_fen=29_999)
    del hub["refunded_fen"]  # a hub entry without the key does not pass for agreement
    assert compare_with_truth(hub, _truth()) == [
        "orders: hub 2 != truth 3",
        "paid_fen: hub 29999 != truth 30000",
        "refunded_fen: hub None != truth 1500",
    ]


def test_duplicate_rows_are_reported_per_table() -> None:
    hub = _hub(duplicates={"orders": 0, "order_lines": 2, "refunds": 1})
    assert compare_with_truth(hub, _truth()) == ["order_lines: 2 duplicate rows", "refunds: 1 duplicate rows"]


def test_a_missing_record_is_reported_even_when_the_totals_agree() -> None:
    """O3 is missing and an extra O9 stands in its place: the counts match, the ids do not."""
    orders = {**{k: list(v) for k, v in ORDERS.items() if k != "O3"}, "O9": ["completed", 1_776_000_120]}
    assert compare_with_truth(_hub(order_records=orders), _truth()) == [
        "orders missing: 1 (e.g. O3)",
        "orders not on the platform: 1 (e.g. O9)",
    ]


def test_a_record_only_the_hub_has_is_reported() -> None:
    refunds = {**{k: list(v) for k, v in REFUNDS.items()}, "R7": ["closed", 1_776_000_400]}
    assert compare_with_truth(_hub(refund_records=refunds), _truth()) == ["refunds not on the platform: 1 (e.g. R7)"]


def test_a_stale_record_is_reported_by_status_and_by_time() -> None:
    orders = {k: list(v) for k, v in ORDERS.items()}
    orders["O2"] = ["paid", 1_776_000_060]  # an earlier status
    refunds = {k: list(v) for k, v in REFUNDS.items()}
    refunds["R2"] = ["requested", 1_776_000_299]  # an earlier modified time
    assert compare_with_truth(_hub(order_records=orders, refund_records=refunds), _truth()) == [
        "orders not at their latest version: 1 (e.g. O2: hub ['paid', 1776000060] != truth ['shipped', 1776000060])",
        "refunds not at their latest version: 1"
        " (e.g. R2: hub ['requested', 1776000299] != truth ['requested', 1776000300])",
    ]


def test_truth_records_as_tuples_compare_equal_to_the_hubs_lists() -> None:
    """In-process truth (``FakePlatform.truth``) holds tuples, the JSON answer lists."""
    truth = _truth(records={"orders": dict(ORDERS.items()), "refunds": {k: tuple(v) for k, v in REFUNDS.items()}})
    assert compare_with_truth(_hub(), truth) == []


def test_every_problem_at_once_and_examples_capped_at_five() -> None:
    many = {f"O{n}": ["paid", 1_776_000_000 + n] for n in range(10, 17)}
    truth = _truth(records={"orders": {**{k: list(v) for k, v in ORDERS.items()}, **many}, "refunds": {}})
    hub = _hub(orders=3, duplicates={"orders": 1, "order_lines": 0, "refunds": 0})
    assert compare_with_truth(hub, truth) == [
        "orders: 1 duplicate rows",
        "orders missing: 7 (e.g. O10, O11, O12, O13, O14)",
        "refunds not on the platform: 2 (e.g. R1, R2)",
    ]


def test_records_are_compared_only_when_both_sides_carry_them() -> None:
    stale = {"O1": ["cancelled", 1]}
    assert compare_with_truth(_hub(order_records=stale), {**TOTALS}) == []
    hub = _hub()
    del hub["order_records"], hub["refund_records"]
    assert compare_with_truth(hub, _truth()) == []
