"""Seeded fault injection for the fake platforms.

Two kinds of fault:

* request faults, decided once per API request by the server middleware
  (:meth:`FaultInjector.request_fault`): ``rate_limit`` (the platform's own code and ban hint),
  ``server_error`` (5xx with an HTML body), ``slow`` (answer after ``slow_seconds``), ``hang``
  (sleep ``hang_seconds``, past the client's timeout) and ``drop`` (close the connection
  without answering);
* data faults, decided by the platform fakes while rendering: ``modify_during_paging``
  (:meth:`should_touch`), ``duplicate_on_page`` (:meth:`should_duplicate`) and ``malformed``
  (:meth:`should_malform`).

Convergence guarantees, so a client that retries 5-6 times always gets through even under
``chaos``:

* at most ``max_consecutive`` (default 3) failing request faults in a row for the same request
  key (the server builds the key from method, path and the non-volatile parameters, so a retry
  with a fresh timestamp/sign is the same key); ``slow`` is not a failure and resets the run;
* a malformed record is transient: :meth:`should_malform` never says yes twice for the same
  record key, so re-fetching (list page or detail) gives a good copy.

Public interface (stable)::

    FaultProfile(rate_limit=0.0, server_error=0.0, slow=0.0, hang=0.0, drop=0.0,
                 modify_during_paging=0.0, duplicate_on_page=0.0, malformed=0.0,
                 slow_seconds=0.3, hang_seconds=3.0, max_consecutive=3)
    FaultProfile.NONE / LIGHT / CHAOS ; FaultProfile.named("none" | "light" | "chaos")
    FaultKind (StrEnum): rate_limit, server_error, slow, hang, drop
    RequestFault(kind: FaultKind, delay: float)   # delay in seconds (slow/hang), else 0
    FaultInjector(profile: FaultProfile | str = NONE, seed: int = 0)
        .profile (settable), .request_fault(key="") -> RequestFault | None,
        .should_duplicate() -> bool, .should_touch() -> bool,
        .should_malform(record_key: str) -> bool, .choice(seq), .stats -> Counter[str]
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import ClassVar, TypeVar

T = TypeVar("T")


class FaultKind(StrEnum):
    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"
    SLOW = "slow"
    HANG = "hang"
    DROP = "drop"

    @property
    def is_failure(self) -> bool:
        """Whether the client sees this request fail (``slow`` still answers)."""
        return self is not FaultKind.SLOW


_PROBABILITY_FIELDS = (
    "rate_limit",
    "server_error",
    "slow",
    "hang",
    "drop",
    "modify_during_paging",
    "duplicate_on_page",
    "malformed",
)


@dataclass(frozen=True, slots=True)
class FaultProfile:
    """Per-request / per-record fault probabilities, plus delays and the convergence cap."""

    rate_limit: float = 0.0
    server_error: float = 0.0
    slow: float = 0.0
    hang: float = 0.0
    drop: float = 0.0
    modify_during_paging: float = 0.0  # per page k > first fetched, touch one window order
    duplicate_on_page: float = 0.0  # per page k > first, repeat the previous page's last item
    malformed: float = 0.0  # per record rendered
    slow_seconds: float = 0.3
    hang_seconds: float = 3.0
    max_consecutive: int = 3

    NONE: ClassVar[FaultProfile]
    LIGHT: ClassVar[FaultProfile]
    CHAOS: ClassVar[FaultProfile]

    def __post_init__(self) -> None:
        for name in _PROBABILITY_FIELDS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault probability {name}={value!r} is not within [0, 1]")
        request_total = self.rate_limit + self.server_error + self.slow + self.hang + self.drop
        if request_total > 1.0:
            raise ValueError(f"request fault probabilities sum to {request_total} > 1")
        if self.slow_seconds < 0 or self.hang_seconds < 0:
            raise ValueError("fault delays must not be negative")
        if self.max_consecutive < 0:
            raise ValueError("max_consecutive must not be negative")

    @classmethod
    def named(cls, name: str) -> FaultProfile:
        """``"none"``, ``"light"`` or ``"chaos"`` (case-insensitive)."""
        try:
            return _PRESETS[name.strip().lower()]
        except KeyError:
            raise ValueError(f"unknown fault profile {name!r}; expected one of {sorted(_PRESETS)}") from None

    def with_delays(self, *, slow_seconds: float | None = None, hang_seconds: float | None = None) -> FaultProfile:
        """A copy with other slow/hang delays (e.g. shorter hangs in fast tests)."""
        return replace(
            self,
            slow_seconds=self.slow_seconds if slow_seconds is None else slow_seconds,
            hang_seconds=self.hang_seconds if hang_seconds is None else hang_seconds,
        )

    def as_dict(self) -> dict[str, float | int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


FaultProfile.NONE = FaultProfile()
FaultProfile.LIGHT = FaultProfile(
    rate_limit=0.02,
    server_error=0.02,
    slow=0.02,
    hang=0.005,
    drop=0.005,
    modify_during_paging=0.05,
    duplicate_on_page=0.05,
    malformed=0.005,
)
FaultProfile.CHAOS = FaultProfile(
    rate_limit=0.10,
    server_error=0.10,
    slow=0.05,
    hang=0.03,
    drop=0.05,
    modify_during_paging=0.25,
    duplicate_on_page=0.20,
    malformed=0.03,
)
_PRESETS: dict[str, FaultProfile] = {
    "none": FaultProfile.NONE,
    "light": FaultProfile.LIGHT,
    "chaos": FaultProfile.CHAOS,
}

_REQUEST_KINDS = (
    FaultKind.RATE_LIMIT,
    FaultKind.SERVER_ERROR,
    FaultKind.SLOW,
    FaultKind.HANG,
    FaultKind.DROP,
)


@dataclass(frozen=True, slots=True)
class RequestFault:
    kind: FaultKind
    delay: float = 0.0  # seconds to sleep first (slow, hang)


class FaultInjector:
    """Seeded fault decisions; one instance per fake platform server."""

    def __init__(self, profile: FaultProfile | str = FaultProfile.NONE, seed: int = 0) -> None:
        self._profile = FaultProfile.named(profile) if isinstance(profile, str) else profile
        self._rng = random.Random(f"bangfu-faults:{seed}")
        self._lock = threading.Lock()
        self._consecutive: dict[str, int] = {}
        self._malformed: set[str] = set()
        self.stats: Counter[str] = Counter()

    @property
    def profile(self) -> FaultProfile:
        return self._profile

    @profile.setter
    def profile(self, value: FaultProfile) -> None:
        with self._lock:
            self._profile = value
            self._consecutive.clear()

    def request_fault(self, key: str = "") -> RequestFault | None:
        """Decide this request's fault (or None). ``key`` identifies "the same request"."""
        profile = self._profile
        with self._lock:
            draw = self._rng.random()
            kind: FaultKind | None = None
            threshold = 0.0
            for candidate in _REQUEST_KINDS:
                threshold += getattr(profile, candidate.value)
                if draw < threshold:
                    kind = candidate
                    break
            run = self._consecutive.get(key, 0)
            if kind is not None and kind.is_failure and run >= profile.max_consecutive:
                self.stats["capped"] += 1
                kind = None
            if kind is None or not kind.is_failure:
                self._consecutive.pop(key, None)
            else:
                self._consecutive[key] = run + 1
            if kind is None:
                return None
            self.stats[kind.value] += 1
            if kind is FaultKind.SLOW:
                return RequestFault(kind, profile.slow_seconds)
            if kind is FaultKind.HANG:
                return RequestFault(kind, profile.hang_seconds)
            return RequestFault(kind)

    def _chance(self, probability: float, stat: str) -> bool:
        with self._lock:
            hit = self._rng.random() < probability
            if hit:
                self.stats[stat] += 1
            return hit

    def should_duplicate(self) -> bool:
        return self._chance(self._profile.duplicate_on_page, "duplicate_on_page")

    def should_touch(self) -> bool:
        return self._chance(self._profile.modify_during_paging, "modify_during_paging")

    def should_malform(self, record_key: str) -> bool:
        """Malform this record now? Never twice for the same key (malformed data is transient)."""
        probability = self._profile.malformed
        with self._lock:
            if probability <= 0.0 or record_key in self._malformed:
                return False
            if self._rng.random() >= probability:
                return False
            self._malformed.add(record_key)
            self.stats["malformed"] += 1
            return True

    def choice(self, seq: Sequence[T]) -> T:
        """A seeded pick (e.g. which order of a window to touch)."""
        with self._lock:
            return self._rng.choice(seq)

    def randint(self, low: int, high: int) -> int:
        with self._lock:
            return self._rng.randint(low, high)
