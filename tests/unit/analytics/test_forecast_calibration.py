"""Interval calibration over a year of origins (`forecast_backtest.calibration_scores`,
`forecast_intervals.calibrated_multipliers`): pure functions on synthetic series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mhi.analytics import forecast as F
from mhi.analytics import forecast_backtest as B
from mhi.analytics import forecast_intervals as I
from mhi.analytics.forecast_models import naive


def _seasonal_volatility(seed: int, n: int = 3 * 364) -> pd.Series:
    """A daily random walk whose steps are five times larger in the winter half of each year
    than in the summer half: the last few weeks' errors say little about the next few."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    sd = np.where(np.cos(2 * np.pi * t / 364) > 0, 5.0, 1.0)
    return pd.Series(
        1000 + np.cumsum(rng.normal(0, sd)),
        index=pd.date_range("2020-01-06", periods=n, freq="D"),
    )


def test_calibration_origins_spread_back_a_year_from_the_data_before_each() -> None:
    y = _seasonal_volatility(0).to_numpy()
    n, h = len(y), 28
    fits = B.Fits(1, 1)
    recent = [n - 2 * h, n - h]
    older, reach = B.calibration_scores(y, fits, "naive", h, (recent, np.zeros(2 * h)), 364, 1)
    assert older is not None and reach == 1.0
    assert len(older) == (B.CALIBRATION_ORIGINS - 2) * h  # ten more windows of 28 days
    # The earliest origin is a year before the end; its errors use only the data before it.
    first = n - 364
    pred = naive(y[:first], h, 1)
    np.testing.assert_allclose(older[-h:], (y[first : first + h] - pred.mean) / pred.se)


def test_a_short_history_reaches_back_less_than_a_year() -> None:
    y = _seasonal_volatility(1, 200).to_numpy()
    older, reach = B.calibration_scores(y, B.Fits(1, 1), "naive", 14, ([172, 186], None), 364, 7)
    assert older is not None
    assert reach == pytest.approx((200 - B.least_history(7)) / 364)
    # Nothing before the origins, no recent errors: nothing to calibrate on.
    assert B.calibration_scores(y, B.Fits(1, 1), "naive", 14, ([9], None), 364, 7) == (None, 0.0)


def test_held_arima_parameters_filter_instead_of_refitting() -> None:
    rng = np.random.default_rng(3)
    y = 100 + np.cumsum(rng.normal(0, 1, 400)) + np.resize([5.0, 0, 0, -5, 0, 2, 3], 400)
    fits = B.Fits(7, 7)
    whole = fits.predict("arima", y, 14)
    held = fits.predict("arima", y[:300], 14, held=True)
    refit = fits.predict("arima", y[:300], 14)
    np.testing.assert_array_equal(held.params, whole.params)  # the whole history's parameters
    assert not np.array_equal(refit.params, whole.params)
    # Same orders, parameters estimated on 300 or 400 values: nearly the same forecast.
    assert np.max(np.abs(held.mean - refit.mean)) < 0.5 * float(np.mean(refit.se))


def test_pooled_scores_unless_the_recent_errors_are_larger() -> None:
    rng = np.random.default_rng(4)
    older = rng.normal(0, 1, 300)
    same = rng.normal(0, 1, 56)
    pooled = I.interval_multipliers(np.concatenate([same, older]), [95])
    assert I.calibrated_multipliers(same, older, [95]) == pooled
    calm = same / 4  # a calm stretch: the year's errors widen it
    assert (
        I.calibrated_multipliers(calm, older, [95])[95]
        > 1.5 * I.interval_multipliers(calm, [95])[95]
    )
    wild = same * 3  # a new regime: the recent errors alone
    assert I.calibrated_multipliers(wild, older, [95]) == I.interval_multipliers(wild, [95])
    # Scores from a fraction of a year: held towards the analytic width by that fraction.
    assert I.calibrated_multipliers(calm, None, [95], reach=0.0)[95] == pytest.approx(1.96, 1e-3)


def test_intervals_cover_95_percent_over_a_year_when_volatility_follows_the_season() -> None:
    """Four weeks ahead from 13 origins over the last year, 3 series (1,092 values): the
    calibrated interval covers 90-97 %; calibrated on the recent windows alone, it covers
    less than 90 % (too narrow after each calm summer)."""
    inside, recent_only = [], []
    for seed in range(3):
        y = _seasonal_volatility(seed)
        v = y.to_numpy()
        for k in range(13, 0, -1):
            o = len(v) - 28 * k
            res = F.forecast_series(y.iloc[:o], horizon=28, freq="D", levels=[95], model="naive")
            f, actual = res.forecast, v[o : o + 28]
            inside += list((actual >= f["lower_95"]) & (actual <= f["upper_95"]))
            train = v[:o]
            z, origins = [], B.backtest_origins(o, 28, 3, 1)
            for b in origins:
                p = naive(train[:b], 28, 1)
                z.append((train[b : b + 28] - p.mean) / p.se)
            half = I.interval_multipliers(np.concatenate(z), [95])[95] * naive(train, 28, 1).se
            mean = f["forecast"].to_numpy()
            recent_only += list(np.abs(actual - mean) <= half)
    assert len(inside) == 3 * 13 * 28
    assert 0.90 <= np.mean(inside) <= 0.97, np.mean(inside)
    assert np.mean(recent_only) < 0.90, np.mean(recent_only)
