"""Order planting's pure parts: seasons, the forecast's model choice and intervals, the plan split."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime

import pytest

from bangfu.planting.forecast import forecast
from bangfu.planting.seasons import Season
from bangfu.planting.split import split_plan

# A quarterly demand with a Q3 harvest peak, a slow Q1 and a slight growth, with noise: seeded.
_FACTORS = (0.65, 0.9, 1.45, 1.1)


def _series(n: int, seed: int = 3, base: float = 400.0) -> list[int]:
    rng = random.Random(seed)
    return [round(base * (1 + 0.02 * i) * _FACTORS[i % 4] * rng.uniform(0.93, 1.07)) for i in range(n)]


def test_seasons_are_local_quarters() -> None:
    assert Season.parse("2026q3") == Season(2026, 3) == Season.parse(" 2026 Q3 ")
    assert Season(2026, 4).shift(1) == Season(2027, 1)
    assert Season(2026, 1).last_day == date(2026, 3, 31)
    # 2026-09-30 20:00 UTC is already 1 October in Shanghai
    assert Season.of_instant(datetime(2026, 9, 30, 20, tzinfo=UTC)) == Season(2026, 4)
    assert [s.label for s in Season(2025, 3).upto(Season(2026, 1))] == ["2025Q3", "2025Q4", "2026Q1"]
    for bad in ("2026Q5", "2026-3", "Q3"):
        with pytest.raises(ValueError):
            Season.parse(bad)


@pytest.mark.parametrize(
    ("n", "model"),
    [(0, "none"), (2, "naive"), (4, "ses"), (5, "ses"), (7, "seasonal_naive"), (8, "ets_ana"), (12, "ets_ana")],
)
def test_the_model_follows_the_length_of_the_series(n: int, model: str) -> None:
    assert forecast(_series(n), horizon=2).model == model


def test_sixteen_seasons_choose_between_level_and_damped_trend_by_aicc() -> None:
    result = forecast(_series(20), horizon=2)
    assert result.model in ("ets_ana", "ets_aada")
    assert result.aicc is not None and math.isfinite(result.aicc)


@pytest.mark.parametrize("n", [4, 7, 12, 20])
def test_intervals_nest_around_the_point_and_the_forecast_is_deterministic(n: int) -> None:
    values = _series(n)
    first = forecast(values, horizon=2)
    from bangfu.planting import forecast as module

    module._forecast.cache_clear()  # the same series fitted again, not read from the cache
    again = forecast(values, horizon=2)
    assert first == again
    for point in first.points:
        assert point.lo95 is not None and point.hi95 is not None and point.lo80 is not None and point.hi80 is not None
        assert point.lo95 <= point.lo80 <= point.mean <= point.hi80 <= point.hi95
        assert point.hi95 - point.lo95 > point.hi80 - point.lo80 > 0
        lo, hi = point.bounds(80) or (0, 0)
        assert lo <= point.units <= hi


def test_a_seasonal_model_sees_the_harvest_peak() -> None:
    values = _series(12)  # ends with a Q4: step 1 is a Q1, step 2 a Q2; Q3 is the peak
    result = forecast(values, horizon=3)
    q1, q2, q3 = (p.units for p in result.points)
    assert q1 < q2 < q3
    # the point forecast of the next Q3 is near last Q3's level grown a little
    assert 0.85 * values[10] <= q3 <= 1.25 * values[10]
    # and the intervals are not wider than the seasonal swing itself
    lo, hi = result.step(3).bounds(95) or (0, 0)
    assert hi - lo < values[10] - values[8]


def test_units_never_go_negative_and_a_flat_series_is_certain() -> None:
    spiky = forecast([0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 0], horizon=2)
    assert all(p.mean >= 0 and (p.lo95 or 0) >= 0 for p in spiky.points)
    flat = forecast([30, 30, 30], horizon=1)
    assert flat.model == "constant" and flat.step(1).bounds(95) == (30, 30)
    short = forecast([12], horizon=2)
    assert short.step(2).units == 12 and short.step(2).bounds(80) is None


def test_a_forecast_takes_well_under_a_second() -> None:
    import time

    forecast(_series(9, seed=99), horizon=2)  # imports statsmodels
    started = time.perf_counter()
    forecast(_series(16, seed=98), horizon=2)  # the two ETS fits of a long series
    assert time.perf_counter() - started < 2.0  # ~0.3 s on an idle core; the suite runs loaded


def test_the_split_follows_shares_with_largest_remainder() -> None:
    plan = split_plan(100, {1: 1, 2: 1, 3: 1}, {1: 99, 2: 99, 3: 99})
    assert plan.planned == {1: 34, 2: 33, 3: 33} and plan.uncovered == 0 and not plan.capped
    plan = split_plan(7, {1: 50, 2: 30, 3: 20}, {1: 99, 2: 99, 3: 99})
    assert plan.planned == {1: 4, 2: 2, 3: 1}  # 3.5, 2.1, 1.4: the leftover unit to the largest remainder
    assert sum(plan.planned.values()) == 7


def test_capacity_caps_and_the_rest_goes_to_the_others_then_to_uncovered() -> None:
    plan = split_plan(100, {1: 50, 2: 30, 3: 20}, {1: 1000, 2: 10, 3: 1000})
    assert plan.planned[2] == 10 and plan.capped == {2}
    assert plan.planned == {1: 64, 2: 10, 3: 26}  # 90 split 50:20 -> 64.29, 25.71
    plan = split_plan(100, {1: 50, 2: 30, 3: 20}, {1: 5, 2: 10, 3: 0})
    assert plan.planned == {1: 5, 2: 10, 3: 0} and plan.uncovered == 85
    nobody = split_plan(40, {}, {})
    assert nobody.planned == {} and nobody.uncovered == 40
    with pytest.raises(ValueError):
        split_plan(-1, {1: 1}, {1: 1})


@pytest.mark.parametrize("seed", range(20))
def test_planned_plus_uncovered_is_the_forecast_and_nobody_is_over_capacity(seed: int) -> None:
    rng = random.Random(seed)
    coops = range(1, rng.randint(1, 6) + 1)
    supplied = {c: rng.choice([0, rng.randint(1, 500)]) for c in coops}
    capacity = {c: rng.randint(0, 300) for c in coops}
    total = rng.randint(0, 1500)
    plan = split_plan(total, supplied, capacity)
    assert sum(plan.planned.values()) + plan.uncovered == total
    assert all(0 <= plan.planned[c] <= capacity[c] for c in coops)
    assert all(plan.planned[c] == 0 for c in coops if supplied[c] == 0)
    if plan.uncovered:  # only when every supplier is full
        assert all(plan.planned[c] == capacity[c] for c in coops if supplied[c] > 0)
