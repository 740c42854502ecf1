"""A cooperative's income-split policy as a frozen, validated value.

``SplitPolicy.rules`` (the JSON document a cooperative's policy version stores) is parsed by
:func:`parse_policy` into :class:`Policy`. Every field is checked, and a bad document is refused
with a :class:`PolicyError` naming the field, so a typo never silently becomes a default.

Law: the Farmers' Professional Cooperatives Law (2017) art. 44 requires that the distributable
surplus returned to members by transaction volume (patronage return) be at least 60%, so
``patronage_return_bp`` below 6000 is refused.

Adopting a new version (:func:`admit_policy`, ``bangfu policy add``) adds the hub's own rules on
top of the law: member households must get at least :data:`MIN_HOUSEHOLD_SHARE_BP` of each
sale's net after fees, and a version may start at most :data:`MAX_POLICY_LEAD_YEARS` ahead
(:func:`latest_effective_from`). A version already stored is not re-judged by these rules when
it is read (:func:`parse_policy`), so the lines it split keep posting as they did.

Error hierarchy::

    ValueError
    └── PolicyError            the policy document is invalid; fix the document (field named)
        ├── UnknownGradeError  a lot names a grade the policy has no coefficient for
        └── HouseholdShareError  a new version leaves households less than the per-sale floor
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar

from bangfu.enums import HouseholdCategory

BP_WHOLE = 10_000  # basis points in one whole
MIN_PATRONAGE_RETURN_BP = 6_000  # art. 44: at least 60% returned by transaction volume
MAX_GRADE_COEFFICIENT = 1_000  # percent; a grade worth more than 10x grade 100 is a typo

MIN_HOUSEHOLD_SHARE_BP = 6_000
"""The least share of each sale's net attributable revenue (after fees and host commission) a new
policy version must leave to member households: what is not cooperative retention or village
collective share (the priority bonus goes to households too), so ``retention_bp +
collective_bp <= 10000 - MIN_HOUSEHOLD_SHARE_BP``.

This is the hub's policy, not a quotation of the law. It is derived from the principle of the
Farmers' Professional Cooperatives Law (2017) art. 44: distributable surplus returned to members
by transaction volume must be at least 60%, i.e. most of the value goes back to the members whose
produce made it. The hub applies the same 60% to every sale, so a policy cannot keep the money
in the cooperative or the village until a year-end distribution that may never come. Change it
here (and in README) if a programme sets another floor."""

MAX_POLICY_LEAD_YEARS = 2
"""How far ahead a new version may start: at most this many years after today (Asia/Shanghai).
A date beyond it (``9999-12-31``, a typo like ``2207``) is refused: a version must start after
the latest one, so a far-off version would block every later one. A version not yet in force
can be withdrawn (``bangfu policy withdraw``)."""

E = TypeVar("E", bound=StrEnum)

_LAW_ART_44 = "Farmers' Professional Cooperatives Law (2017) art. 44"


class PolicyError(ValueError):
    """An invalid split-policy document; ``field`` names the offending key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"split policy field {field!r}: {message}")
        self.field = field


class UnknownGradeError(PolicyError):
    """A lot contribution names a grade that has no coefficient in the policy."""

    def __init__(self, grade: str, known: tuple[str, ...]) -> None:
        super().__init__("grade_coefficients", f"unknown grade {grade!r} (policy knows {', '.join(known) or 'none'})")
        self.grade = grade


class HouseholdShareError(PolicyError):
    """A new version leaves member households less than :data:`MIN_HOUSEHOLD_SHARE_BP` per sale."""

    fields = ("retention_bp", "collective_bp")

    def __init__(self, retention_bp: int, collective_bp: int) -> None:
        self.households_bp = BP_WHOLE - retention_bp - collective_bp
        self.floor_bp = MIN_HOUSEHOLD_SHARE_BP
        ValueError.__init__(
            self,
            f"split policy fields 'retention_bp' ({retention_bp} bp) + 'collective_bp' ({collective_bp} bp) "
            f"leave member households {self.households_bp} bp of each sale's net after fees; the hub requires "
            f"at least {self.floor_bp} bp ({self.floor_bp // 100}%), its rule after the principle of "
            f"{_LAW_ART_44} (at least 60% returned to members by transaction volume)",
        )
        self.field = "retention_bp"


class Basis(StrEnum):
    """What a household's delivery is measured by, before the grade coefficient."""

    QUANTITY = "quantity"  # SKU units delivered
    WEIGHT = "weight"  # grams delivered (the contribution must carry its weight)
    VALUE = "value"  # units x guaranteed price per unit


class LeftoverParty(StrEnum):
    """Who receives the leftover fen of every largest-remainder split (DOMAIN.md: cooperative)."""

    COOPERATIVE = "cooperative"
    COLLECTIVE = "collective"


@dataclass(frozen=True)
class FeeEstimates:
    """Configured fee rates, used only until the settlement bill gives the real fees.

    The host commission is not here: it comes from the host's own deal (``Host.commission_bp``).
    """

    platform_fee_bp: int = 0
    payment_fee_bp: int = 0
    logistics_bp: int = 0

    def __post_init__(self) -> None:
        for name in ("platform_fee", "payment_fee", "logistics"):
            _check_bp(f"estimates_bp.{name}", getattr(self, f"{name}_bp"))
        if self.platform_fee_bp + self.payment_fee_bp + self.logistics_bp > BP_WHOLE:
            raise PolicyError("estimates_bp", "fee estimates add up to more than 10000 bp")


@dataclass(frozen=True)
class Policy:
    """The validated split policy of one cooperative policy version.

    Of a line's net attributable revenue, ``retention_bp`` goes to the cooperative,
    ``collective_bp`` to the village collective, ``priority_bonus_bp`` to households of the
    ``priority_categories`` (脱贫户/监测户) and the rest to all delivering households by their
    weight (basis x grade coefficient). Guaranteed prices paid at delivery are credited first;
    the rebate is the true-up and is never negative unless ``allow_negative_rebate``.
    """

    retention_bp: int
    collective_bp: int
    priority_bonus_bp: int
    grade_coefficients: Mapping[str, int]
    patronage_return_bp: int
    priority_categories: frozenset[HouseholdCategory] = frozenset(
        {HouseholdCategory.LIFTED, HouseholdCategory.MONITORED}
    )
    basis: Basis = Basis.QUANTITY
    estimates: FeeEstimates = field(default_factory=FeeEstimates)
    leftover_to: LeftoverParty = LeftoverParty.COOPERATIVE
    allow_negative_rebate: bool = False

    def __post_init__(self) -> None:
        for name in ("retention_bp", "collective_bp", "priority_bonus_bp", "patronage_return_bp"):
            _check_bp(name, getattr(self, name))
        if self.retention_bp + self.collective_bp + self.priority_bonus_bp > BP_WHOLE:
            raise PolicyError(
                "retention_bp",
                "retention_bp + collective_bp + priority_bonus_bp add up to "
                f"{self.retention_bp + self.collective_bp + self.priority_bonus_bp} bp, more than 10000",
            )
        check_patronage_return(self.patronage_return_bp)
        if not self.grade_coefficients:
            raise PolicyError("grade_coefficients", "at least one grade is needed")
        for grade, coefficient in self.grade_coefficients.items():
            if not isinstance(grade, str) or not grade:
                raise PolicyError("grade_coefficients", f"grade names must be non-empty strings, got {grade!r}")
            if not _is_int(coefficient) or not 0 < coefficient <= MAX_GRADE_COEFFICIENT:
                raise PolicyError(
                    f"grade_coefficients.{grade}",
                    f"coefficient must be an integer percent in 1..{MAX_GRADE_COEFFICIENT}, got {coefficient!r}",
                )
        # Freeze the mapping so the value cannot change under a journal built from it.
        object.__setattr__(self, "grade_coefficients", MappingProxyType(dict(self.grade_coefficients)))

    def coefficient(self, grade: str) -> int:
        """The grade's coefficient in percent; an unknown grade is an error naming it."""
        try:
            return self.grade_coefficients[grade]
        except KeyError:
            raise UnknownGradeError(grade, tuple(self.grade_coefficients)) from None

    def is_priority(self, category: HouseholdCategory) -> bool:
        return category in self.priority_categories


def check_patronage_return(patronage_return_bp: int) -> None:
    """Refuse a patronage-return ratio below the 60% that art. 44 requires, naming the law."""
    if patronage_return_bp < MIN_PATRONAGE_RETURN_BP:
        raise PolicyError(
            "patronage_return_bp",
            f"{patronage_return_bp} bp is below the 6000 bp (60%) of distributable surplus that "
            f"{_LAW_ART_44} requires to be returned by transaction volume",
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_bp(name: str, value: object) -> None:
    if not _is_int(value):
        raise PolicyError(name, f"basis points must be an integer, got {value!r}")
    assert isinstance(value, int)
    if not 0 <= value <= BP_WHOLE:
        raise PolicyError(name, f"basis points must be within 0..10000, got {value}")


_REQUIRED = ("retention_bp", "collective_bp", "priority_bonus_bp", "grade_coefficients", "patronage_return_bp")
_OPTIONAL = ("priority_categories", "basis", "estimates_bp", "leftover_to", "allow_negative_rebate")
_ESTIMATE_KEYS = ("platform_fee", "payment_fee", "logistics")


def parse_policy(rules: Mapping[str, Any]) -> Policy:
    """Parse and validate a ``SplitPolicy.rules`` document; unknown or missing keys are refused."""
    unknown = sorted(set(rules) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise PolicyError(unknown[0], "unknown key in the split policy")
    for key in _REQUIRED:
        if key not in rules:
            raise PolicyError(key, "missing")
    coefficients = rules["grade_coefficients"]
    if not isinstance(coefficients, Mapping):
        raise PolicyError("grade_coefficients", "must be a mapping of grade to percent")
    kwargs: dict[str, Any] = {
        "retention_bp": rules["retention_bp"],
        "collective_bp": rules["collective_bp"],
        "priority_bonus_bp": rules["priority_bonus_bp"],
        "grade_coefficients": dict(coefficients),
        "patronage_return_bp": rules["patronage_return_bp"],
    }
    if "priority_categories" in rules:
        kwargs["priority_categories"] = frozenset(
            _enum("priority_categories", HouseholdCategory, value) for value in _list("priority_categories", rules)
        )
    if "basis" in rules:
        kwargs["basis"] = _enum("basis", Basis, rules["basis"])
    if "leftover_to" in rules:
        kwargs["leftover_to"] = _enum("leftover_to", LeftoverParty, rules["leftover_to"])
    if "allow_negative_rebate" in rules:
        flag = rules["allow_negative_rebate"]
        if not isinstance(flag, bool):
            raise PolicyError("allow_negative_rebate", f"must be true or false, got {flag!r}")
        kwargs["allow_negative_rebate"] = flag
    if "estimates_bp" in rules:
        estimates = rules["estimates_bp"]
        if not isinstance(estimates, Mapping):
            raise PolicyError("estimates_bp", "must be a mapping of fee to basis points")
        extra = sorted(set(estimates) - set(_ESTIMATE_KEYS))
        if extra:
            message = "unknown fee estimate"
            if "host_commission" in extra:
                message += " (the host commission comes from the host's deal, not the policy)"
            raise PolicyError(f"estimates_bp.{extra[0]}", message)
        kwargs["estimates"] = FeeEstimates(**{f"{k}_bp": estimates[k] for k in _ESTIMATE_KEYS if k in estimates})
    return Policy(**kwargs)


def check_household_share(policy: Policy) -> None:
    """Refuse a policy that leaves member households less than the per-sale floor."""
    if BP_WHOLE - policy.retention_bp - policy.collective_bp < MIN_HOUSEHOLD_SHARE_BP:
        raise HouseholdShareError(policy.retention_bp, policy.collective_bp)


def admit_policy(rules: Mapping[str, Any]) -> Policy:
    """Parse a document proposed as a new version: :func:`parse_policy`, then the hub's adoption
    rule that households get at least :data:`MIN_HOUSEHOLD_SHARE_BP` of each sale's net."""
    policy = parse_policy(rules)
    check_household_share(policy)
    return policy


def latest_effective_from(today: date) -> date:
    """The last day a version added ``today`` may start: :data:`MAX_POLICY_LEAD_YEARS` years on
    (29 February to 28 February)."""
    year = today.year + MAX_POLICY_LEAD_YEARS
    try:
        return today.replace(year=year)
    except ValueError:
        return today.replace(year=year, day=28)


def parse_policy_row(rules: Mapping[str, Any], patronage_return_bp: int) -> Policy:
    """Parse a stored ``SplitPolicy``: its ``rules`` and its ``patronage_return_bp`` column must agree."""
    policy = parse_policy(rules)
    if policy.patronage_return_bp != patronage_return_bp:
        raise PolicyError(
            "patronage_return_bp",
            f"rules say {policy.patronage_return_bp} bp but the policy row says {patronage_return_bp} bp",
        )
    return policy


def _list(name: str, rules: Mapping[str, Any]) -> list[Any]:
    value = rules[name]
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise PolicyError(name, f"must be a list, got {value!r}")
    return list(value)


def _enum(name: str, enum_cls: type[E], value: object) -> E:
    allowed = ", ".join(member.value for member in enum_cls)
    if not isinstance(value, str):
        raise PolicyError(name, f"{value!r} is not one of {allowed}")
    try:
        return enum_cls(value)
    except ValueError:
        raise PolicyError(name, f"{value!r} is not one of {allowed}") from None
