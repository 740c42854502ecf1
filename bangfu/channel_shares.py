"""Sharing one SKU's stock between shops: a pure function over plain numbers, no I/O.

:func:`allocate` takes the units to share (the SKU's truth) and one :class:`ShopShare` per shop
and returns units per shop, in this order:

1. **Reservations** active now go first to their shop (a scheduled live session's units). If
   they ask for more than there is, the stock is split in proportion to what each reserved
   (largest remainder; ties to the higher-priority shop).
2. **Rules** share the rest: each shop wants ``share_bp`` basis points of it (when the shares
   add up to more than 100% they are scaled down to 100%), and at least its ``floor``. Wants
   are granted in priority order (higher ``priority`` first, then lower shop id), each capped
   by what is left, so floors never make the parts exceed the whole.
3. **Leftover** units (shares under 100%, rounding) go to the highest priority tier among
   the shops that take leftovers, split evenly among that tier (largest remainder, lower shop
   id first). A shop takes leftovers unless its rule gives it no share (``share_bp`` 0): a
   shop with no rule at all does, so with no rules every shop gets an even split.

Always: every part is >= 0 and the parts sum to at most ``total`` (exactly ``total`` when any
shop takes leftovers). :func:`split_even` shares a shop's units between its listings.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bangfu.money import split_largest_remainder

__all__ = ["BP_WHOLE", "ShopShare", "allocate", "split_even"]

K = TypeVar("K", bound=Hashable)

BP_WHOLE = 10_000  # basis points in 100%


@dataclass(frozen=True, slots=True)
class ShopShare:
    """One shop's claim on a SKU: its rule (or none) and the units reserved for it now."""

    shop_id: int
    share_bp: int = 0
    floor: int = 0
    priority: int = 0
    reserved: int = 0
    takes_leftover: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.share_bp <= BP_WHOLE:
            raise ValueError(f"share_bp must be within 0..{BP_WHOLE}, got {self.share_bp}")
        if self.floor < 0 or self.reserved < 0:
            raise ValueError("floor and reserved must not be negative")

    @classmethod
    def from_rule(cls, shop_id: int, rule: tuple[int, int, int] | None, reserved: int = 0) -> ShopShare:
        """From a rule ``(share_bp, floor, priority)``, or ``None`` for a shop without one."""
        if rule is None:
            return cls(shop_id, reserved=reserved)
        share_bp, floor, priority = rule
        return cls(shop_id, share_bp, floor, priority, reserved, takes_leftover=share_bp > 0)


def allocate(total: int, shares: Sequence[ShopShare]) -> dict[int, int]:
    """Units per shop id (see the module docstring); the parts never sum to more than ``total``."""
    if total < 0:
        raise ValueError(f"cannot allocate a negative total: {total}")
    ids = [s.shop_id for s in shares]
    if len(set(ids)) != len(ids):
        raise ValueError("one ShopShare per shop")
    ranked = sorted(shares, key=lambda s: (-s.priority, s.shop_id))
    out = dict.fromkeys((s.shop_id for s in ranked), 0)
    if not ranked or total == 0:
        return out

    # 1. reservations
    reserved = sum(s.reserved for s in ranked)
    if reserved <= total:
        for s in ranked:
            out[s.shop_id] = s.reserved
    else:
        out.update(split_largest_remainder(total, {s.shop_id: s.reserved for s in ranked}))
    left = total - sum(out.values())

    # 2. rules: share of the rest (scaled to at most 100%), at least the floor, in priority order
    rest = left
    bp_sum = sum(s.share_bp for s in ranked)
    quotas = dict.fromkeys(out, 0)
    if bp_sum and rest:
        shared = rest * min(bp_sum, BP_WHOLE) // BP_WHOLE
        quotas = split_largest_remainder(shared, {s.shop_id: s.share_bp for s in ranked})
    for s in ranked:
        grant = min(max(quotas[s.shop_id], s.floor), left)
        out[s.shop_id] += grant
        left -= grant

    # 3. leftovers to the top priority tier of the shops that take them
    takers = [s for s in ranked if s.takes_leftover]
    if left and takers:
        top = takers[0].priority
        tier = {s.shop_id: 1 for s in takers if s.priority == top}
        for shop_id, units in split_largest_remainder(left, tier).items():
            out[shop_id] += units
    return out


def split_even(units: int, keys: Sequence[K] | Mapping[K, object]) -> dict[K, int]:
    """``units`` over ``keys`` as evenly as possible (the first keys get the odd units)."""
    order = list(keys)
    if not order:
        return {}
    return split_largest_remainder(units, dict.fromkeys(order, 1))
