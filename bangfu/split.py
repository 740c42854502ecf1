"""Split an order line's net attributable revenue among the cooperative, village and households.

Pure functions over plain values; no I/O. The order of operations (DOMAIN.md "From a sale to
households") is:

1. Net attributable revenue = paid - refunds - platform fee - host commission - payment fee
   - logistics (:func:`net_attributable`; fees from the bill, the host's deal or the policy's
   estimates, :func:`estimate_fees`).
2. The net is split by the policy into cooperative retention, village collective share, the
   priority bonus pool and the household pool. Without a priority household among the line's
   lots the bonus share joins the household pool.
3. The household pool is split by each household's weight over the lots the line drew from:
   for a draw of ``u`` units from a lot, household ``h`` weighs ``u * w_h / W`` where ``w_h`` is
   its delivery measured by the policy's basis times its grade coefficient and ``W`` the lot's
   total. Weights are scaled to exact integers (no float, no rounding before the split). A lot
   with no weighed deliveries (e.g. an enterprise lot) sends its part to the leftover party.
   The bonus pool is split the same way among priority-category households only.
4. Each household's share is credited first against the guaranteed price (保底价) of the units
   sold, which the cooperative already paid at delivery (``recovered``); the rest is the rebate
   (the true-up). When the share is below the guaranteed amount the rebate is zero and the
   cooperative bears the difference (``shortfall``: the guarantee was the household's to keep);
   only a policy with ``allow_negative_rebate`` lets the rebate go negative instead.

Every split uses largest-remainder rounding with the leftover fen going to the policy's named
party (the cooperative by default), so the parts sum to the net exactly, to the fen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from bangfu.enums import HouseholdCategory
from bangfu.money import pro_rata, split_largest_remainder
from bangfu.policy import BP_WHOLE, Basis, LeftoverParty, Policy


class SplitError(ValueError):
    """The line's lot draws or deliveries cannot be split as given."""


@dataclass(frozen=True)
class Contribution:
    """One household's delivery into a supply lot (``LotContribution`` as a plain value)."""

    household_id: int
    category: HouseholdCategory
    quantity: int  # SKU units delivered into the lot
    grade: str
    guaranteed_price_fen: int = 0  # per unit, paid to the household at delivery
    weight_g: int | None = None  # delivered weight, needed only for the ``weight`` basis

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise SplitError(f"household {self.household_id}: delivered quantity must be positive")
        if self.guaranteed_price_fen < 0:
            raise SplitError(f"household {self.household_id}: guaranteed price must not be negative")
        if self.weight_g is not None and self.weight_g < 0:
            raise SplitError(f"household {self.household_id}: delivered weight must not be negative")


@dataclass(frozen=True)
class LineFees:
    """The costs taken out of a line's paid amount before anything reaches the cooperative."""

    platform_fee_fen: int = 0
    payment_fee_fen: int = 0
    host_commission_fen: int = 0
    logistics_fen: int = 0

    @property
    def total_fen(self) -> int:
        return self.platform_fee_fen + self.payment_fee_fen + self.host_commission_fen + self.logistics_fen


def estimate_fees(paid_fen: int, policy: Policy, host_commission_bp: int = 0) -> LineFees:
    """Fees estimated from the policy's rates and the host's commission, before the bill arrives.

    Each estimate is floored to the fen; the settlement bill later replaces the estimates and
    the reconciliation shows the difference.
    """
    if not 0 <= host_commission_bp <= BP_WHOLE:
        raise SplitError(f"host commission must be within 0..10000 bp, got {host_commission_bp}")
    est = policy.estimates
    return LineFees(
        platform_fee_fen=pro_rata(paid_fen, est.platform_fee_bp, BP_WHOLE),
        payment_fee_fen=pro_rata(paid_fen, est.payment_fee_bp, BP_WHOLE),
        host_commission_fen=pro_rata(paid_fen, host_commission_bp, BP_WHOLE),
        logistics_fen=pro_rata(paid_fen, est.logistics_bp, BP_WHOLE),
    )


def net_attributable(paid_fen: int, refunds_fen: int, fees: LineFees) -> int:
    """Net attributable revenue of a line: paid - refunds - every fee, commission and logistics cost."""
    return paid_fen - refunds_fen - fees.total_fen


class HouseholdPart(NamedTuple):
    """What one household gets from one line, in fen.

    ``share_fen = recovered_fen + rebate_fen``; ``guaranteed_fen`` is the guaranteed price of the
    household's units in this line, already paid at delivery; ``bonus_fen`` is its priority bonus.
    """

    household_id: int
    category: HouseholdCategory
    share_fen: int
    guaranteed_fen: int
    recovered_fen: int
    rebate_fen: int
    bonus_fen: int

    @property
    def shortfall_fen(self) -> int:
        """Guaranteed price not covered by the share: the cooperative's guarantee cost (0 if covered)."""
        return self.guaranteed_fen - self.recovered_fen

    @property
    def income_fen(self) -> int:
        """Everything this line brings the household: share (guarantee credit + rebate) and bonus."""
        return self.share_fen + self.bonus_fen


@dataclass(frozen=True)
class LineSplit:
    """The parts of a line's net; they always sum to ``net_fen`` exactly."""

    net_fen: int
    retention_fen: int
    collective_fen: int
    households: tuple[HouseholdPart, ...]  # ordered by household id

    @property
    def bonus_fen(self) -> int:
        return sum(part.bonus_fen for part in self.households)

    @property
    def households_fen(self) -> int:
        return sum(part.share_fen for part in self.households)

    @property
    def total_fen(self) -> int:
        return self.retention_fen + self.collective_fen + self.households_fen + self.bonus_fen


class _Pool(StrEnum):
    RETENTION = "retention"
    COLLECTIVE = "collective"
    BONUS = "bonus"
    HOUSEHOLDS = "households"


_LEFTOVER = "leftover"  # key of the named party inside household-level splits


def _measure(contribution: Contribution, basis: Basis) -> int:
    if basis is Basis.QUANTITY:
        return contribution.quantity
    if basis is Basis.WEIGHT:
        if contribution.weight_g is None:
            raise SplitError(f"household {contribution.household_id}: the weight basis needs the delivered weight")
        return contribution.weight_g
    return contribution.quantity * contribution.guaranteed_price_fen


@dataclass(frozen=True)
class SplitPlan:
    """What a split derives from a line's lot draws, their deliveries and the policy.

    Only the net varies from line to line: lines with the same draws under the same policy
    share a plan (:func:`plan_split`), and :meth:`split` is then a few integer splits.
    """

    policy: Policy
    categories: Mapping[int, HouseholdCategory]  # every weighed household, by household id
    guaranteed: Mapping[int, int]  # guaranteed price of each household's units in the draws
    pools: Mapping[_Pool, int]  # basis points of the net per pool
    named: _Pool  # the pool the leftover fen go to
    shares: Mapping[int | str, int]  # household weights plus the orphan weight under _LEFTOVER
    bonuses: Mapping[int | str, int]  # priority households' weights, _LEFTOVER at 0

    def split(self, net_fen: int) -> LineSplit:
        """Split ``net_fen`` by this plan; the parts sum to ``net_fen`` exactly."""
        policy = self.policy
        pools = split_largest_remainder(net_fen, self.pools, leftover_to=self.named)
        shares = split_largest_remainder(pools[_Pool.HOUSEHOLDS], self.shares, leftover_to=_LEFTOVER)
        bonuses = split_largest_remainder(pools[_Pool.BONUS], self.bonuses, leftover_to=_LEFTOVER)
        pools[self.named] += shares[_LEFTOVER] + bonuses[_LEFTOVER]
        parts: list[HouseholdPart] = []
        negative = policy.allow_negative_rebate
        guaranteed = self.guaranteed
        for hid, category in self.categories.items():
            share = shares[hid]
            owed = guaranteed.get(hid, 0)
            if negative:
                recovered, rebate = owed, share - owed
            else:
                rebate = share - owed if share > owed else 0
                recovered = share - rebate
            # Positional, in field order: household, category, share, guaranteed, recovered, rebate, bonus.
            parts.append(HouseholdPart(hid, category, share, owed, recovered, rebate, bonuses.get(hid, 0)))
        result = LineSplit(
            net_fen=net_fen,
            retention_fen=pools[_Pool.RETENTION],
            collective_fen=pools[_Pool.COLLECTIVE],
            households=tuple(parts),
        )
        assert result.total_fen == net_fen, "split parts must sum to the net"
        return result


def plan_split(draws: Mapping[int, int], lots: Mapping[int, Sequence[Contribution]], policy: Policy) -> SplitPlan:
    """The :class:`SplitPlan` of a line's ``draws`` (lot id -> units) over ``lots`` (lot id ->
    household contributions) under ``policy``. A grade unknown to the policy raises
    ``UnknownGradeError``; draws the contributions cannot serve raise :class:`SplitError`."""
    if not draws:
        raise SplitError("the line has no lot draws to split over")
    weights_per_lot: dict[int, dict[int, int]] = {}
    categories: dict[int, HouseholdCategory] = {}
    for lot_id, units in draws.items():
        if units <= 0:
            raise SplitError(f"lot {lot_id}: units drawn must be positive, got {units}")
        if lot_id not in lots:
            raise SplitError(f"lot {lot_id}: drawn from but its contributions were not given")
        lot_weights: dict[int, int] = {}
        for contribution in lots[lot_id]:
            hid = contribution.household_id
            if hid in lot_weights:
                raise SplitError(f"lot {lot_id}: household {hid} appears twice")
            if categories.setdefault(hid, contribution.category) is not contribution.category:
                raise SplitError(f"household {hid}: category differs between lots")
            lot_weights[hid] = _measure(contribution, policy.basis) * policy.coefficient(contribution.grade)
        weights_per_lot[lot_id] = lot_weights

    # Exact integer weights: scale every lot's u * w / W by the lcm of the lot totals.
    totals = {lot_id: sum(w.values()) for lot_id, w in weights_per_lot.items()}
    scale = math.lcm(*(t for t in totals.values() if t > 0)) if any(totals.values()) else 1
    weights: dict[int, int] = dict.fromkeys(sorted(categories), 0)
    orphan = 0
    for lot_id, units in draws.items():
        if totals[lot_id] == 0:
            orphan += units * scale
            continue
        factor = units * (scale // totals[lot_id])
        for hid, weight in weights_per_lot[lot_id].items():
            weights[hid] += weight * factor

    priority = {hid: w for hid, w in weights.items() if w > 0 and policy.is_priority(categories[hid])}
    bonus_bp = policy.priority_bonus_bp if priority else 0
    shares: dict[int | str, int] = dict(weights.items())
    shares[_LEFTOVER] = orphan
    bonuses: dict[int | str, int] = dict(priority.items())
    bonuses[_LEFTOVER] = 0
    return SplitPlan(
        policy=policy,
        categories={hid: categories[hid] for hid in weights},
        guaranteed=_guaranteed(draws, lots),
        pools={
            _Pool.RETENTION: policy.retention_bp,
            _Pool.COLLECTIVE: policy.collective_bp,
            _Pool.BONUS: bonus_bp,
            _Pool.HOUSEHOLDS: BP_WHOLE - policy.retention_bp - policy.collective_bp - bonus_bp,
        },
        named=_Pool.RETENTION if policy.leftover_to is LeftoverParty.COOPERATIVE else _Pool.COLLECTIVE,
        shares=shares,
        bonuses=bonuses,
    )


def split_line(
    net_fen: int,
    draws: Mapping[int, int],
    lots: Mapping[int, Sequence[Contribution]],
    policy: Policy,
) -> LineSplit:
    """Split a line's net attributable revenue (fen) per ``policy``; the parts sum to ``net_fen``.

    ``draws`` maps lot id to units of the line drawn from it (the recorded lot allocations);
    ``lots`` maps each lot id to its household contributions. All lots belong to the cooperative
    whose ``policy`` applies. A grade unknown to the policy raises ``UnknownGradeError``.
    """
    return plan_split(draws, lots, policy).split(net_fen)


def _guaranteed(draws: Mapping[int, int], lots: Mapping[int, Sequence[Contribution]]) -> dict[int, int]:
    """Guaranteed price of each household's units in the line, floored to the fen.

    A draw of ``u`` units from a lot of ``Q`` delivered units carries ``u * q_h / Q`` of household
    ``h``'s units. Flooring means the cooperative never recovers more than it advanced.
    """
    # Exact rationals as (numerator, denominator) pairs of ints: the same floor as Fraction sums.
    exact: dict[int, tuple[int, int]] = {}
    for lot_id, units in draws.items():
        contributions = lots[lot_id]
        delivered = sum(c.quantity for c in contributions)
        for c in contributions:
            num = units * c.quantity * c.guaranteed_price_fen
            seen = exact.get(c.household_id)
            if seen is None:
                exact[c.household_id] = (num, delivered)
            elif seen[1] == delivered:
                exact[c.household_id] = (seen[0] + num, delivered)
            else:
                exact[c.household_id] = (seen[0] * delivered + num * seen[1], seen[1] * delivered)
    return {hid: num // den for hid, (num, den) in exact.items()}


@dataclass(frozen=True)
class PlanWeights:
    """A :class:`SplitPlan` as plain sequences, for splitting many nets at once
    (:class:`bangfu.sale_batch.SaleBatch`): the same floors, in the same order."""

    pools: tuple[int, ...]  # basis points of the net per pool, indexed as below
    named: int  # the pool the leftover fen go to
    retention_pool: int
    collective_pool: int
    bonus_pool: int
    households_pool: int
    households: tuple[int, ...]  # household ids, in the order a split lists them
    shares: tuple[int, ...]  # their weights in the household pool
    orphan: int  # the weight of draws with no weighed delivery (to the named party)
    bonuses: tuple[int, ...]  # their weights in the bonus pool (0 unless priority)
    guaranteed: tuple[int, ...]  # guaranteed price of their units in the draws

    @property
    def plain(self) -> bool:
        """No negative weight or pool: :func:`bangfu.money.split_largest_remainder` would refuse
        one, so such a plan is split the one-line way, which raises as it always did."""
        return min((*self.pools, *self.shares, self.orphan, *self.bonuses), default=0) >= 0


_POOL_ORDER = (_Pool.RETENTION, _Pool.COLLECTIVE, _Pool.BONUS, _Pool.HOUSEHOLDS)


def plan_weights(plan: SplitPlan) -> PlanWeights:
    """``plan`` as :class:`PlanWeights` (households in :meth:`SplitPlan.split`'s order)."""
    households = tuple(plan.categories)
    return PlanWeights(
        pools=tuple(plan.pools[pool] for pool in _POOL_ORDER),
        named=_POOL_ORDER.index(plan.named),
        retention_pool=0,
        collective_pool=1,
        bonus_pool=2,
        households_pool=3,
        households=households,
        shares=tuple(plan.shares[hid] for hid in households),
        orphan=plan.shares[_LEFTOVER],
        bonuses=tuple(plan.bonuses.get(hid, 0) for hid in households),
        guaranteed=tuple(plan.guaranteed.get(hid, 0) for hid in households),
    )
