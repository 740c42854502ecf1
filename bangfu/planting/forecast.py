"""The demand forecast of one product: its quarterly net units sold, forecast a few seasons ahead
with 80% and 95% prediction intervals.

A county's series are short (a few years of quarters at best), so the model is chosen by how
many complete seasons there are (``n``), never fitted beyond what the data can carry:

| n          | model                                                        | ``model`` key     |
|------------|--------------------------------------------------------------|-------------------|
| 16 or more | ETS(A,N,A) or ETS(A,Ad,A) (damped additive trend), by AICc    | ``ets_ana``/``ets_aada`` |
| 8 to 15    | ETS(A,N,A): additive errors, level and additive seasonality  | ``ets_ana``       |
| 6 or 7     | seasonal naive (same quarter last year)                      | ``seasonal_naive``|
| 3 to 5     | simple exponential smoothing, ETS(A,N,N)                     | ``ses``           |
| 1 or 2     | the last season again, no interval (too short to say)        | ``naive``         |
| 0          | nothing to forecast                                          | ``none``          |

ETS models are statsmodels' ``ETSModel`` (Hyndman et al., *Forecasting with exponential
smoothing*, 2008): initial states from the first year, smoothing parameters (and the damping)
by maximum likelihood; their intervals are the analytic ones of the
additive-error class (``get_prediction``), so the same series always gives the same forecast
(the seed below would only matter for simulated intervals). Seasonal naive intervals are the
usual ``sigma * sqrt(k + 1)`` with ``sigma`` from its in-sample residuals (Hyndman &
Athanasopoulos, *Forecasting: principles and practice*, 5.5). A series that never changes has
a zero-width interval. Units sold cannot be negative: the point and both bounds are clipped at 0.

Everything here is pure: a tuple of numbers in, a :class:`Forecast` out, cached by the series
(a fit takes some 50 ms, 200 ms with the damped trend; a page asks again for the same series).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

from bangfu.planting.seasons import PERIOD

__all__ = ["MODELS", "SEED", "Forecast", "ForecastPoint", "forecast"]

SEED = 20170  # random_state of any simulated interval: the forecast is the same every time
LEVELS = (80, 95)
MODELS = ("ets_aada", "ets_ana", "seasonal_naive", "ses", "naive", "constant", "none")
_Z = {level: NormalDist().inv_cdf(0.5 + level / 200) for level in LEVELS}


@dataclass(frozen=True)
class ForecastPoint:
    step: int  # 1: the season after the last one in the series
    mean: float
    lo80: float | None
    hi80: float | None
    lo95: float | None
    hi95: float | None

    @property
    def units(self) -> int:
        """The point forecast in whole units (half up)."""
        return math.floor(self.mean + 0.5)

    def bounds(self, level: int) -> tuple[int, int] | None:
        """The interval in whole units: the lower bound rounded down, the upper up."""
        lo, hi = (self.lo80, self.hi80) if level == 80 else (self.lo95, self.hi95)
        if lo is None or hi is None:
            return None
        return math.floor(lo + 1e-9), math.ceil(hi - 1e-9)


@dataclass(frozen=True)
class Forecast:
    model: str  # one of MODELS
    observations: int  # complete seasons the model saw
    points: tuple[ForecastPoint, ...]
    aicc: float | None = None

    def step(self, h: int) -> ForecastPoint:
        return self.points[h - 1]


def _clip(value: float | None) -> float | None:
    return None if value is None else max(0.0, float(value))


def _point(step: int, mean: float, bands: dict[int, tuple[float, float]] | None) -> ForecastPoint:
    m = max(0.0, float(mean))
    if bands is None:
        return ForecastPoint(step, m, None, None, None, None)
    (lo80, hi80), (lo95, hi95) = bands[80], bands[95]
    return ForecastPoint(step, m, _clip(lo80), _clip(hi80), _clip(lo95), _clip(hi95))


def _fit_ets(values: Sequence[float], horizon: int, trend: bool, seasonal: bool) -> tuple[Forecast, float] | None:
    import numpy as np
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    y = pd.Series(np.asarray(values, dtype=float))
    n = len(y)
    # Initial states from the first year (classical decomposition: its mean is the level, its
    # deviations the seasonal indices, the change to the second year's mean the trend), so only
    # the smoothing parameters are estimated: 2 to 4 of them, not 6 to 10, on a short series.
    first = list(values[:PERIOD]) if seasonal else list(values[:1])
    level = sum(first) / len(first)
    kwargs: dict[str, object] = {"error": "add", "initialization_method": "known", "initial_level": level}
    if trend:
        second = values[PERIOD : 2 * PERIOD]
        kwargs |= {"trend": "add", "damped_trend": True, "initial_trend": (sum(second) / PERIOD - level) / PERIOD}
    if seasonal:
        kwargs |= {"seasonal": "add", "seasonal_periods": PERIOD, "initial_seasonal": [v - level for v in first]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short series; checked below
        try:
            result = ETSModel(y, **kwargs).fit(disp=False)
            prediction = result.get_prediction(start=n, end=n + horizon - 1, random_state=SEED)
            frames = {level: prediction.summary_frame(alpha=1 - level / 100) for level in LEVELS}
        except (ValueError, np.linalg.LinAlgError):
            return None
    means = frames[80]["mean"].to_numpy()
    if not np.all(np.isfinite(means)):
        return None
    points = []
    for i in range(horizon):
        bands = {
            level: (float(frames[level]["pi_lower"].iloc[i]), float(frames[level]["pi_upper"].iloc[i]))
            for level in LEVELS
        }
        if not all(math.isfinite(v) for pair in bands.values() for v in pair):
            return None
        points.append(_point(i + 1, float(means[i]), bands))
    aicc = float(result.aicc)
    name = "ets_aada" if trend else ("ets_ana" if seasonal else "ses")
    return Forecast(name, n, tuple(points), aicc if math.isfinite(aicc) else None), aicc if math.isfinite(
        aicc
    ) else math.inf


def _seasonal_naive(values: Sequence[float], horizon: int) -> Forecast:
    n = len(values)
    residuals = [values[t] - values[t - PERIOD] for t in range(PERIOD, n)]
    sigma = math.sqrt(sum(e * e for e in residuals) / len(residuals))
    points = []
    for h in range(1, horizon + 1):
        mean = values[n - PERIOD + (h - 1) % PERIOD]
        width = sigma * math.sqrt((h - 1) // PERIOD + 1)
        bands = {level: (mean - _Z[level] * width, mean + _Z[level] * width) for level in LEVELS}
        points.append(_point(h, mean, bands))
    return Forecast("seasonal_naive", n, tuple(points))


def forecast(values: Sequence[int | float], horizon: int = 2) -> Forecast:
    """The forecast of the ``horizon`` seasons after ``values`` (consecutive complete seasons,
    oldest first; a season without sales is 0)."""
    if horizon < 1:
        raise ValueError("the horizon is at least one season")
    return _forecast(tuple(float(v) for v in values), horizon)


@lru_cache(maxsize=1024)
def _forecast(values: tuple[float, ...], horizon: int) -> Forecast:
    n = len(values)
    if n == 0:
        return Forecast("none", 0, tuple(ForecastPoint(h, 0.0, None, None, None, None) for h in range(1, horizon + 1)))
    if n >= 2 and max(values) == min(values):
        flat = {level: (values[0], values[0]) for level in LEVELS}
        return Forecast("constant", n, tuple(_point(h, values[0], flat) for h in range(1, horizon + 1)))
    if n >= 2 * PERIOD:
        fits = [f for f in (_fit_ets(values, horizon, trend=False, seasonal=True),) if f is not None]
        if n >= 4 * PERIOD:
            damped = _fit_ets(values, horizon, trend=True, seasonal=True)
            if damped is not None:
                fits.append(damped)
        if fits:
            return min(fits, key=lambda f: f[1])[0]
    if n >= PERIOD + 2:
        return _seasonal_naive(values, horizon)
    if n >= 3:
        fitted = _fit_ets(values, horizon, trend=False, seasonal=False)
        if fitted is not None:
            return fitted[0]
    last = values[-1]
    return Forecast("naive", n, tuple(ForecastPoint(h, last, None, None, None, None) for h in range(1, horizon + 1)))
