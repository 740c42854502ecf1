"""The unsold (滞销) early-warning rule: which supply lots are at risk, in numbers a person can act on.

A lot is judged by its stock age against the shelf life of its product category, and by the
sell-through its SKU is managing now:

- **Shelf life** (保质期) comes from the product's category (:attr:`UnsoldRule.shelf_days`;
  products of an unknown category get :attr:`UnsoldRule.default_shelf_days`, or the shorter
  :attr:`UnsoldRule.perishable_shelf_days` when the product is perishable). The lot's shelf life
  ends ``shelf`` days after it was received (``supply_lots.received_on``).
- **Sales rate**: the SKU's units on paid order lines of every channel over the last
  :attr:`UnsoldRule.window_days` days.
- **First in, first out**: sales draw the oldest lot first, so before this lot sells a unit the
  units of the SKU's older lots still in stock (``ahead``) must go.

At that rate, the SKU sells ``rate x days_left`` units before this lot's shelf life ends; what is
left of the lot then is::

    left_at_end = min(remaining, max(0, ahead + remaining - sold_in_window x days_left / window_days))

An alert is raised when a person still has time to act and there is enough at stake:

- ``at_risk`` (warning): the shelf life ends within :attr:`UnsoldRule.horizon_days` days, and
  ``left_at_end`` is at least :attr:`UnsoldRule.min_units` units and at least
  :attr:`UnsoldRule.min_share_bp` of the lot's delivered quantity;
- ``expired`` (error): the shelf life has ended and the lot still holds at least
  :attr:`UnsoldRule.min_units` units (they must not be sold; check, discount or write off).

A lot further from the end of its shelf life is not flagged however slowly it sells: it comes up
when it enters the horizon, early enough to move it. Every figure here is an integer (units, days),
so the rule gives the same answer on every machine. The parameters are :data:`DEFAULT_RULE`, or a
JSON file named by ``BANGFU_UNSOLD_RULE`` that overrides some of them (:func:`load_rule`). The
shelf lives are [I]nferred typical values for the region's produce (dried herbs, tea, grain and
oil, dried or frozen meat, mushrooms and dairy products), calibrated on the demo county
(``docs/unsold.md``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from bangfu.errors import UserError

Status = Literal["at_risk", "expired"]

SHELF_DAYS: Mapping[str, int] = MappingProxyType(
    {
        "中药材": 730,  # dried medicinal herbs
        "茶饮": 540,  # dark tea, flower tea, juice, barley wine
        "粮油": 365,  # rice, highland barley, flour, rapeseed oil
        "休闲食品": 365,  # biscuits, oats, noodles, tsampa
        "乳制品": 365,  # milk powder, dried cheese (曲拉), butter
        "肉类": 365,  # air-dried and frozen yak meat, cured pork
        "菌类": 365,  # dried and frozen mushrooms
        "蔬果": 270,  # potatoes and apples in cold store, Sichuan pepper, walnuts
    }
)


@dataclass(frozen=True)
class UnsoldRule:
    """The parameters of the rule (module docstring), each a whole number."""

    window_days: int = 30
    horizon_days: int = 30
    min_units: int = 10
    min_share_bp: int = 2000  # of the lot's delivered quantity, in basis points (2000 = 20%)
    default_shelf_days: int = 365
    perishable_shelf_days: int = 90
    shelf_days: Mapping[str, int] = field(default_factory=lambda: SHELF_DAYS)
    channel_days: int = 180  # how far back a purchasing unit's or a host's sales name them as a channel
    channels_per_kind: int = 3

    def __post_init__(self) -> None:
        for name in ("window_days", "horizon_days", "default_shelf_days", "perishable_shelf_days", "channel_days"):
            if getattr(self, name) <= 0:
                raise ValueError(f"unsold rule: {name} must be a positive number of days")
        if self.min_units < 1:
            raise ValueError("unsold rule: min_units must be at least 1")
        if not 0 <= self.min_share_bp <= 10_000:
            raise ValueError("unsold rule: min_share_bp must be within 0..10000")
        if self.channels_per_kind < 0:
            raise ValueError("unsold rule: channels_per_kind must not be negative")
        for category, days in self.shelf_days.items():
            if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
                raise ValueError(f"unsold rule: shelf_days[{category!r}] must be a positive number of days")

    def shelf_life(self, category: str, perishable: bool) -> int:
        if category in self.shelf_days:
            return self.shelf_days[category]
        return self.perishable_shelf_days if perishable else self.default_shelf_days

    def as_dict(self) -> dict[str, Any]:
        return {
            f.name: dict(self.shelf_days) if f.name == "shelf_days" else getattr(self, f.name) for f in fields(self)
        }


DEFAULT_RULE = UnsoldRule()


def load_rule(path: str | Path | None = None) -> UnsoldRule:
    """:data:`DEFAULT_RULE` with the fields a JSON object file overrides (``BANGFU_UNSOLD_RULE``
    when no path is given). ``shelf_days`` in the file adds to or replaces single categories."""
    path = path if path is not None else os.environ.get("BANGFU_UNSOLD_RULE") or None
    if path is None:
        return DEFAULT_RULE
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: cannot read the unsold rule ({exc.strerror})") from None
    except ValueError as exc:
        raise UserError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: the unsold rule must be a JSON object")
    known = {f.name for f in fields(UnsoldRule)}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise UserError(f"{path}: unknown field {key!r} (known: {', '.join(sorted(known))})")
        if key == "shelf_days":
            if not isinstance(value, dict):
                raise UserError(f"{path}: shelf_days must be an object of category -> days")
            changes[key] = MappingProxyType({**SHELF_DAYS, **value})
        elif not isinstance(value, int) or isinstance(value, bool):
            raise UserError(f"{path}: field {key!r} must be a whole number")
        else:
            changes[key] = value
    try:
        return replace(DEFAULT_RULE, **changes)
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class LotFacts:
    """What the rule needs to know about one lot."""

    received_on: date
    quantity: int  # delivered
    remaining: int
    ahead: int  # units of the SKU's older lots still in stock (first in, first out)
    sold: int  # units of the SKU on paid lines in the window
    category: str
    perishable: bool


@dataclass(frozen=True)
class Verdict:
    status: Status
    shelf_days: int
    expires_on: date
    days_left: int  # negative: days since the shelf life ended
    left_at_end: int  # units of the lot projected to be left when its shelf life ends
    days_to_clear: int | None  # days until the SKU's sales reach the end of this lot; None: no sales

    @property
    def severity(self) -> str:
        return "error" if self.status == "expired" else "warning"


def assess(lot: LotFacts, today: date, rule: UnsoldRule = DEFAULT_RULE) -> Verdict | None:
    """The verdict on one lot, or None when it is not at risk (module docstring)."""
    if lot.remaining <= 0:
        return None
    shelf = rule.shelf_life(lot.category, lot.perishable)
    expires_on = lot.received_on + timedelta(days=shelf)
    days_left = (expires_on - today).days
    queue = lot.ahead + lot.remaining
    days_to_clear = -(-queue * rule.window_days // lot.sold) if lot.sold > 0 else None
    if days_left <= 0:
        if lot.remaining < rule.min_units:
            return None
        return Verdict("expired", shelf, expires_on, days_left, lot.remaining, days_to_clear)
    if days_left > rule.horizon_days:
        return None
    sells = lot.sold * days_left // rule.window_days
    left = min(lot.remaining, max(0, queue - sells))
    if left < rule.min_units or left * 10_000 < rule.min_share_bp * lot.quantity:
        return None
    return Verdict("at_risk", shelf, expires_on, days_left, left, days_to_clear)
