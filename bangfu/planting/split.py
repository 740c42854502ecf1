"""The suggested supply plan of one product: its forecast, in whole units, split over the
cooperatives that supplied it, by their share of its past supply lots, each capped by its
capacity.

Rules (pure, over plain numbers):
- weights are the units each cooperative delivered in lots of the product so far; a cooperative
  that never delivered it gets nothing (the county can still contract it by hand);
- the total is split by largest remainder (:func:`bangfu.money.split_largest_remainder`: the
  parts sum to the total, leftover units go to the largest remainders);
- a cooperative whose part exceeds its capacity gets its capacity; the rest is split again over
  the others by the same weights, until nobody is over;
- what no cooperative can take is ``uncovered``: ``sum(planned) + uncovered == total`` always.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bangfu.money import split_largest_remainder

__all__ = ["PlanSplit", "split_plan"]


@dataclass(frozen=True)
class PlanSplit:
    total: int
    planned: dict[int, int]  # cooperative id -> units
    capped: frozenset[int]  # cooperatives held at their capacity
    uncovered: int


def split_plan(total: int, supplied: Mapping[int, int], capacity: Mapping[int, int]) -> PlanSplit:
    """Split ``total`` units over cooperatives by ``supplied`` units, each at most ``capacity``."""
    if total < 0:
        raise ValueError("a plan cannot be negative")
    weights = {c: w for c, w in supplied.items() if w > 0}
    fixed: dict[int, int] = {}
    planned: dict[int, int] = dict.fromkeys(supplied, 0)
    while True:
        active = {c: w for c, w in weights.items() if c not in fixed and capacity.get(c, 0) > 0}
        for c in weights:
            if c not in fixed and capacity.get(c, 0) <= 0:
                fixed[c] = 0
        left = total - sum(fixed.values())
        if not active or left <= 0:
            planned.update(fixed)
            for c in active:
                planned[c] = 0
            break
        parts = split_largest_remainder(left, active)
        over = {c for c, units in parts.items() if units > capacity[c]}
        if not over:
            planned.update(fixed)
            planned.update(parts)
            break
        for c in over:
            fixed[c] = capacity[c]
    capped = frozenset(c for c, units in planned.items() if c in weights and units >= capacity.get(c, 0))
    return PlanSplit(total, planned, capped, total - sum(planned.values()))
