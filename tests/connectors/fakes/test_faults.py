"""FaultProfile presets and validation; FaultInjector statistics, determinism and the cap."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from connectors.fakes.faults import FaultInjector, FaultKind, FaultProfile


def test_presets_by_name() -> None:
    assert FaultProfile.named("none") is FaultProfile.NONE
    assert FaultProfile.named(" Chaos ") is FaultProfile.CHAOS
    assert FaultProfile.named("light") is FaultProfile.LIGHT
    assert FaultProfile.NONE.rate_limit == 0 and FaultProfile.CHAOS.rate_limit > FaultProfile.LIGHT.rate_limit
    assert FaultProfile.CHAOS.hang_seconds == 3.0
    assert FaultProfile.CHAOS.with_delays(hang_seconds=0.2).hang_seconds == 0.2
    with pytest.raises(ValueError, match="unknown fault profile"):
        FaultProfile.named("mayhem")


@pytest.mark.parametrize(
    "kwargs",
    [{"rate_limit": -0.1}, {"malformed": 1.5}, {"rate_limit": 0.6, "drop": 0.6}, {"hang_seconds": -1.0}],
)
def test_invalid_profiles_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FaultProfile(**kwargs)


def test_no_faults_under_none() -> None:
    injector = FaultInjector("none", seed=1)
    assert all(injector.request_fault(f"k{n}") is None for n in range(500))
    assert not any(injector.should_duplicate() or injector.should_touch() for _ in range(500))
    assert not any(injector.should_malform(f"r{n}") for n in range(500))


def test_request_fault_frequencies_follow_the_profile() -> None:
    profile = FaultProfile(rate_limit=0.10, server_error=0.05, slow=0.05, hang=0.02, drop=0.03)
    injector = FaultInjector(profile, seed=42)
    draws = 20_000
    kinds: Counter[FaultKind | None] = Counter()
    for n in range(draws):
        fault = injector.request_fault(f"distinct-{n}")  # distinct keys: the cap never applies
        kinds[fault.kind if fault else None] += 1
        if fault is not None and fault.kind is FaultKind.SLOW:
            assert fault.delay == profile.slow_seconds
        elif fault is not None and fault.kind is FaultKind.HANG:
            assert fault.delay == profile.hang_seconds
        elif fault is not None:
            assert fault.delay == 0
    for kind in FaultKind:
        expected = getattr(profile, kind.value) * draws
        assert abs(kinds[kind] - expected) < 5 * expected**0.5, (kind, kinds[kind], expected)
    assert injector.stats["capped"] == 0


def test_same_seed_same_decisions() -> None:
    def run(seed: int) -> list[object]:
        injector = FaultInjector("chaos", seed=seed)
        out: list[object] = [injector.request_fault(f"k{n % 7}") for n in range(300)]
        out += [injector.should_duplicate() for _ in range(100)]
        out += [injector.should_malform(f"r{n}") for n in range(100)]
        return out

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_cap_limits_consecutive_failures_for_the_same_request() -> None:
    injector = FaultInjector(FaultProfile(server_error=1.0), seed=0)
    outcomes = [injector.request_fault("GET /orders page=2") for _ in range(8)]
    kinds = [o.kind if o else None for o in outcomes]
    assert kinds == [FaultKind.SERVER_ERROR] * 3 + [None] + [FaultKind.SERVER_ERROR] * 3 + [None]
    # another request key has its own run
    assert injector.request_fault("GET /orders page=3") is not None
    assert injector.stats["capped"] == 2


def test_slow_does_not_count_as_a_failure() -> None:
    injector = FaultInjector(FaultProfile(slow=1.0, max_consecutive=1), seed=0)
    assert all(f is not None and f.kind is FaultKind.SLOW for f in (injector.request_fault("k") for _ in range(5)))


def test_a_client_with_six_attempts_always_gets_through_chaos() -> None:
    injector = FaultInjector("chaos", seed=3)
    longest = 0
    for request in range(3000):
        for attempt in range(1, 7):
            fault = injector.request_fault(f"POST /api {request}")
            if fault is None or not fault.kind.is_failure:
                longest = max(longest, attempt - 1)
                break
        else:
            pytest.fail(f"request {request} failed 6 times")
    assert longest == FaultProfile.CHAOS.max_consecutive  # the cap was reached, never exceeded


def test_malformed_records_are_transient() -> None:
    injector = FaultInjector(FaultProfile(malformed=1.0), seed=0)
    assert injector.should_malform("order:1")
    assert not injector.should_malform("order:1")  # served again: a good copy
    assert injector.should_malform("order:2")
    rates = FaultInjector(FaultProfile(malformed=0.2), seed=9)
    hits = sum(rates.should_malform(f"order:{n}") for n in range(5000))
    assert 850 < hits < 1150


def test_data_fault_frequencies() -> None:
    injector = FaultInjector(FaultProfile(duplicate_on_page=0.3, modify_during_paging=0.1), seed=11)
    duplicates = sum(injector.should_duplicate() for _ in range(5000))
    touches = sum(injector.should_touch() for _ in range(5000))
    assert 1350 < duplicates < 1650
    assert 400 < touches < 600


def test_changing_the_profile_resets_runs() -> None:
    injector = FaultInjector(FaultProfile(drop=1.0), seed=0)
    for _ in range(2):
        assert injector.request_fault("k") is not None
    injector.profile = FaultProfile.NONE
    assert injector.request_fault("k") is None
    injector.profile = FaultProfile(drop=1.0)
    assert [injector.request_fault("k") is not None for _ in range(4)] == [True, True, True, False]
