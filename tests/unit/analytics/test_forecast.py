"""Forecast engine: models, season detection, the choice rule, interval calibration, anomalies,
input errors, and the rolling-origin comparison with seasonal naive (accuracy and interval
coverage) on the bundled data and on synthetic quarterly and yearly series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mhi.analytics import forecast as F
from mhi.analytics import forecast_backtest as B
from mhi.analytics import forecast_intervals as I
from mhi.analytics.forecast_models import naive
from mhi.analytics.modeling import ModelResult
from mhi.analytics.series_input import regular_series
from mhi.errors import StepConfigError, StepExecutionError


def _weekly(n: int = 140, seed: int = 7) -> pd.Series:
    rng = np.random.default_rng(seed)
    pattern = np.array([50, 55, 60, 65, 90, 120, 80], dtype=float)
    values = np.resize(pattern, n) + rng.normal(0, 3, n)
    return pd.Series(values, index=pd.date_range("2024-01-01", periods=n, freq="D"))


def test_seasonal_naive_repeats_the_last_season_with_widening_intervals() -> None:
    y = np.arange(14, dtype=float)
    pred = naive(y, 9, 7)
    np.testing.assert_array_equal(pred.mean, [7, 8, 9, 10, 11, 12, 13, 7, 8])
    assert pred.se[0] == pred.se[6] < pred.se[7]  # a second season is one more step away
    assert pred.se[0] == pytest.approx(7.0)  # every seasonal difference is 7


def test_weekly_season_is_detected_and_white_noise_is_not() -> None:
    assert F.detect_season(_weekly().to_numpy(), "D") == 7
    noise = np.random.default_rng(1).normal(100, 5, 140)
    assert F.detect_season(noise, "D") == 1


def test_forecast_has_ordered_intervals_and_names_its_model() -> None:
    res = F.forecast_series(_weekly(), horizon=14, freq="D", levels=[80, 95], folds=2)
    fc = res.forecast
    assert list(fc.columns) == [
        "date",
        "forecast",
        "lower_80",
        "upper_80",
        "lower_95",
        "upper_95",
        "model",
    ]
    assert fc["date"].iloc[0] == pd.Timestamp("2024-05-20") and len(fc) == 14
    assert (fc["lower_95"] <= fc["lower_80"]).all() and (fc["lower_80"] <= fc["forecast"]).all()
    assert (fc["forecast"] <= fc["upper_80"]).all() and (fc["upper_80"] <= fc["upper_95"]).all()
    assert res.model == fc["model"].iloc[0]
    assert res.model.split("(")[0] in F.MODELS and res.detail
    # The weekly peak (Saturdays) is forecast as the peak.
    assert fc.loc[fc["forecast"].idxmax(), "date"].day_of_week == 5


def test_anomalies_flag_an_injected_spike() -> None:
    y = _weekly()
    y.iloc[100] += 200
    hist = F.forecast_series(y, horizon=7, freq="D", levels=[95], model="snaive").history
    assert hist.loc[hist["anomaly"], "date"].tolist()[0] == y.index[100]


def test_named_model_and_season_override() -> None:
    res = F.forecast_series(
        _weekly(), horizon=3, freq="D", levels=[90], model="ets", season_length=7
    )
    assert res.model == "ets" and res.detail.startswith("ETS(A,") and res.detail[-2] in "AM"
    assert list(res.scores) == ["ets"] and res.season_length == 7
    with pytest.raises(StepConfigError, match="unknown model 'prophet'"):
        F.forecast_series(_weekly(), horizon=3, freq="D", levels=[90], model="prophet")


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"id": [1]}), "needs columns series_id, date, value"),
        (pd.DataFrame({"series_id": [], "date": [], "value": []}), "no rows"),
        (
            pd.DataFrame({"series_id": ["a"], "date": ["2024-13-01"], "value": [1]}),
            "date is not a date",
        ),
        (
            pd.DataFrame(
                {"series_id": ["a", "a"], "date": ["2024-01-01", "2024-01-02"], "value": [1, "x"]}
            ),
            "value is not a number \\(first at CSV line 3",
        ),
        (
            pd.DataFrame(
                {"series_id": ["a", "a"], "date": ["2024-01-01", "2024-01-01"], "value": [1, 2]}
            ),
            "two values for the same series",
        ),
        (
            pd.DataFrame(
                {"series_id": ["a", "a"], "date": ["2024-01-01", "2024-01-05"], "value": [1, 2]}
            ),
            "series 'a' has 3 missing D periods, first 2024-01-02",
        ),
    ],
)
def test_bad_series_input_is_a_clear_error(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises((StepConfigError, StepExecutionError), match=message):
        regular_series(frame, "D")


def test_too_short_a_series_is_a_clear_error() -> None:
    with pytest.raises(StepExecutionError, match="series 's': need at least 4 values"):
        F.forecast_many({"s": _weekly(3)}, horizon=2, freq="D", levels=[80])


@pytest.mark.parametrize(
    ("scores", "chosen"),
    [
        ({"ets": 0.95, "combo": 1.0, "naive": 1.2}, "combo"),  # within the margin: combine
        ({"ets": 0.85, "combo": 1.0, "naive": 1.2}, "ets"),  # a clear win
        ({"ets": 0.95, "combo": 1.0, "combo(12)": 0.7}, "combo(12)"),
        ({"ets": 0.5, "theta": 0.6}, "ets"),  # no combination scored: the best
        ({}, "combo"),  # nothing scored: the first combination
    ],
)
def test_the_combination_is_kept_unless_a_model_wins_clearly(
    scores: dict[str, float], chosen: str
) -> None:
    names = ["naive", "ets", "theta", "combo", "combo(12)"]
    assert F.choose({k: {"mase": v, "smape": 0.0} for k, v in scores.items()}, names) == chosen


def test_a_backtest_shorter_than_a_season_keeps_a_combination() -> None:
    scores = {"snaive": 0.5, "combo": 1.0, "combo(52)": 0.9, "ets": 0.95}
    scored = {k: {"mase": v, "smape": 0.0} for k, v in scores.items()}
    names = ["snaive", "ets", "combo", "combo(52)"]
    assert F.choose(scored, names) == "snaive"  # a clear win over a whole season
    assert F.choose(scored, names, singles=False) == "combo(52)"  # part of a season: combine
    assert F.choose({"ets": {"mase": 1.0, "smape": 0.0}}, ["ets"], singles=False) == "ets"
    # Weekly, 8 weeks ahead: three origins of eight weeks span 24 weeks, not 52.
    assert len(B.backtest_origins(104, 8, 3, 52)) * 8 < 52
    assert F.choose({}, ["naive", "ets"]) == "naive"  # no combination at all: the first


def test_the_combination_holds_the_models_that_can_model_the_season() -> None:
    monthly = B.Fits(12, 12)
    assert monthly.combined(10) == ["ets", "theta", "arima", "snaive"]  # none: all, and snaive
    assert monthly.combined(20) == ["arima", "snaive"]  # one: with seasonal naive
    assert monthly.combined(25) == ["theta", "arima"]  # ETS needs 26 values for its season
    assert monthly.combined(30) == ["ets", "theta", "arima"]
    assert B.Fits(1, 1).combined(30) == ["ets", "theta", "arima"]  # no season


def test_a_backtest_of_few_errors_keeps_a_combination() -> None:
    """22 months, 3 ahead: two origins (6 errors) after the first 14 months. A single model's
    clear win there is mostly chance: the combination is kept."""
    clear_wins = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        y = pd.Series(
            500 + np.cumsum(rng.normal(0, 20, 22)),
            index=pd.date_range("2020-01-01", periods=22, freq="MS"),
        )
        res = F.forecast_series(y, horizon=3, freq="M", levels=[95])
        assert res.model.startswith("combo"), (seed, res.model, res.scores)
        combo = min(v["mase"] for k, v in res.scores.items() if k.startswith("combo"))
        best = min(v["mase"] for k, v in res.scores.items() if not k.startswith("combo"))
        clear_wins += best < F.CLEAR_WIN * combo
    assert clear_wins >= 2  # the rule decided: with enough errors, those would have won


def test_interval_multipliers_are_conformal_quantiles_of_the_backtest_scores() -> None:
    z = np.random.default_rng(5).normal(0, 1, 4000)
    wide = I.interval_multipliers(2 * z, [80, 95])
    assert wide[95] == pytest.approx(2 * 1.96, rel=0.05)  # errors twice the standard errors
    assert wide[80] == pytest.approx(2 * 1.2816, rel=0.05)
    assert I.interval_scale(z) == pytest.approx(1.0, rel=0.05)
    assert I.interval_scale(z / 4) == pytest.approx(0.25, rel=0.05)  # too wide: narrowed
    # Heavy tails: the 95 % interval widens more than the 80 % one (a quantile per level).
    t3 = np.random.default_rng(6).standard_t(3, 4000)
    tails = I.interval_multipliers(t3, [80, 95])
    assert tails[95] / 1.96 > tails[80] / 1.2816 * 1.1
    # Few scores are shrunk towards the analytic width; too few (or none) leave it alone.
    assert 1 < I.interval_scale(2 * z[:8]) < I.interval_scale(2 * z[:400]) < 2.1
    assert I.interval_scale(None) == 1.0 and I.interval_scale(z[:3]) == 1.0


def test_conformal_quantile_rank_and_its_tail_beyond_the_data() -> None:
    scores = np.arange(1.0, 20.0)  # 19 scores: the 95 % rank is 20 * 0.95 = 19
    assert I.conformal_quantile(scores, 0.95) == 19.0
    assert I.conformal_quantile(scores, 0.80) == 16.0  # 20 * 0.8
    assert I.conformal_quantile(scores, 0.925) == pytest.approx(18.5)  # between ranks
    assert I.conformal_quantile(scores[:9], 0.95) is None  # rank 9.5 of 9: past the largest
    # There the scores' root mean square gives the width: the normal quantile times it.
    assert I.interval_multipliers(np.full(9, 2.0), [95], prior=0)[95] == pytest.approx(
        2 * 1.96, rel=1e-4
    )


def _ar1(seed: int, n: int = 400) -> pd.Series:
    """Stationary AR(1) (phi 0.5, noise sd 10): naive forecasts' analytic intervals, which grow
    like a random walk's, are far too wide."""
    rng = np.random.default_rng(seed)
    e, y = rng.normal(0, 10, n), np.zeros(n)
    for i in range(1, n):
        y[i] = 0.5 * y[i - 1] + e[i]
    return pd.Series(100 + y, index=pd.date_range("2020-01-01", periods=n, freq="D"))


def _volatile_walk(seed: int, n: int = 400) -> pd.Series:
    """Random walk whose steps triple in size after 250 days: intervals from the whole
    history's residuals are too narrow for the recent part."""
    rng = np.random.default_rng(seed)
    sd = np.where(np.arange(n) < 250, 1.0, 3.0)
    return pd.Series(
        500 + np.cumsum(rng.normal(0, sd)),
        index=pd.date_range("2020-01-01", periods=n, freq="D"),
    )


@pytest.mark.parametrize("make", [_ar1, _volatile_walk])
def test_calibrated_intervals_cover_95_percent_over_many_origins(make: object) -> None:
    """A week ahead from 17 origins of 3 series each (357 values): the calibrated 95 % interval
    covers 90-97 %, where the model's analytic one misses the band (too wide, too narrow)."""
    inside, analytic = [], []
    for seed in range(3):
        y = make(seed)  # type: ignore[operator]
        for origin in range(280, 393, 7):
            res = F.forecast_series(
                y.iloc[:origin], horizon=7, freq="D", levels=[95], model="naive"
            )
            f, actual = res.forecast, y.to_numpy()[origin : origin + 7]
            inside += list((actual >= f["lower_95"]) & (actual <= f["upper_95"]))
            half = (f["upper_95"] - f["forecast"]) / res.interval_scale
            analytic += list((actual >= f["forecast"] - half) & (actual <= f["forecast"] + half))
    assert len(inside) == 357
    assert 0.90 <= np.mean(inside) <= 0.97, np.mean(inside)
    assert not 0.90 <= np.mean(analytic) <= 0.97, np.mean(analytic)


# --- rolling origins: beat seasonal naive, cover 95 % -----------------------------------


@pytest.fixture(scope="module")
def daily_room_nights(modelled: ModelResult, nights: pd.DataFrame) -> dict[str, pd.Series]:
    end = modelled.reservations["arrival_date"].max()
    sold = nights[nights["stay_date"] <= end].groupby(["hotel", "stay_date"]).size()
    return {
        h: sold[h].asfreq("D", fill_value=0).astype(float) for h in ("City Hotel", "Resort Hotel")
    }


def _rolling(
    series: list[pd.Series], freq: str, horizon: int, origins: list[int], folds: int = 3
) -> tuple[float, float, float]:
    """Mean MASE of auto and of seasonal naive over every origin of every series, and the share
    of actual values inside auto's 95 % interval; auto sees the data before each origin only."""
    m = F.CANDIDATE_PERIODS[freq]
    auto, snaive, inside = [], [], []
    for y in series:
        v = y.to_numpy()
        for o in origins:
            train, test = v[:o], v[o : o + horizon]
            fc = F.forecast_series(y.iloc[:o], horizon=horizon, freq=freq, levels=[95], folds=folds)
            f = fc.forecast.iloc[: len(test)]
            auto.append(B.mase(test, f["forecast"].to_numpy(), train, m))
            snaive.append(B.mase(test, naive(train, horizon, m).mean[: len(test)], train, m))
            inside += list((test >= f["lower_95"]) & (test <= f["upper_95"]))
    return float(np.mean(auto)), float(np.mean(snaive)), float(np.mean(inside))


def _synthetic(freq: str, n: int, seed: int) -> pd.Series:
    """Quarterly: linear trend, a fixed seasonal pattern and white noise; yearly: linear trend
    with AR(1) noise (phi 0.6)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    if freq == "Q":
        season = np.resize([20.0, -10.0, 35.0, -45.0], n)
        values = 200 + 1.5 * t + season + rng.normal(0, 6, n)
        return pd.Series(values, index=pd.date_range("2000-01-01", periods=n, freq="QS"))
    noise = np.zeros(n)
    for i in range(1, n):
        noise[i] = 0.6 * noise[i - 1] + rng.normal(0, 5)
    return pd.Series(100 + 3 * t + noise, index=pd.date_range("1980-01-01", periods=n, freq="YS"))


@pytest.mark.slow
def test_quarterly_series_with_trend_and_season() -> None:
    series = [_synthetic("Q", 64, seed) for seed in range(6)]
    auto, snaive, coverage = _rolling(series, "Q", 4, [44, 48, 52, 56, 60])
    assert auto < 0.8 * snaive, (auto, snaive)
    assert 0.90 <= coverage <= 0.97, coverage


@pytest.mark.slow
def test_yearly_series_with_trend_and_autocorrelation() -> None:
    series = [_synthetic("Y", 40, seed) for seed in range(6)]
    auto, snaive, coverage = _rolling(series, "Y", 3, [25, 28, 31, 34, 37])
    assert auto < 0.8 * snaive, (auto, snaive)
    assert 0.90 <= coverage <= 0.97, coverage


@pytest.mark.slow
def test_monthly_room_nights_of_the_bundled_data(
    daily_room_nights: dict[str, pd.Series],
) -> None:
    monthly = [s.resample("MS").sum() for s in daily_room_nights.values()]  # 26 months each
    # Every origin from month 16 (a year and four months), 2 months ahead.
    auto, snaive, coverage = _rolling(monthly, "M", 2, list(range(16, 25)))
    assert auto < 0.85 * snaive, (auto, snaive)
    assert 0.90 <= coverage <= 0.97, coverage  # measured 34 of 36 values


@pytest.mark.slow
def test_weekly_room_nights_of_the_bundled_data(
    daily_room_nights: dict[str, pd.Series],
) -> None:
    """A year of origins (13 windows of 4 weeks), so the calm summer and the wilder autumn and
    winter weigh as they do in a year."""
    weekly = [
        s.resample("W-MON", label="left", closed="left").sum().iloc[1:-1]
        for s in daily_room_nights.values()
    ]
    n = len(weekly[0])
    auto, snaive, coverage = _rolling(weekly, "W", 4, [n - 4 * k for k in range(13, 0, -1)])
    assert auto < 0.8 * snaive, (auto, snaive)
    assert 0.90 <= coverage <= 0.97, coverage


@pytest.mark.slow
def test_daily_room_nights_of_the_bundled_data(
    daily_room_nights: dict[str, pd.Series],
) -> None:
    """A year of origins: 13 windows of four weeks, four weeks ahead."""
    n = len(daily_room_nights["City Hotel"])
    origins = [n - 28 * k for k in range(13, 0, -1)]
    auto, snaive, coverage = _rolling(list(daily_room_nights.values()), "D", 28, origins)
    assert auto < 0.9 * snaive, (auto, snaive)
    assert 0.90 <= coverage <= 0.97, coverage
