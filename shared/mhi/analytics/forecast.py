"""Demand forecasting for daily, weekly, monthly, quarterly and yearly series: naive and
seasonal naive, automatic ETS, Theta, automatic ARIMA and their combination, compared per
series by rolling-origin backtest (MASE, then sMAPE), with calibrated prediction intervals
and anomaly flags. Models: `mhi.analytics.forecast_models`; backtest and calibration errors:
`mhi.analytics.forecast_backtest`; intervals: `mhi.analytics.forecast_intervals`
(split-conformal quantiles of those errors, from origins spread over the last year).

Choice: the combination (the mean of ETS, Theta and ARIMA, or of those that can model the
season: combinations were among the most accurate methods of the M4 competition) unless one
model beats it by a clear margin (`CLEAR_WIN`) in a backtest of MIN_ERRORS errors or more that
spans a season (`LONG_SEASON`), so a choice made on a few origins is not noisier than the
models. References: Hyndman & Athanasopoulos, *Forecasting:
Principles and Practice* (3rd ed., 2021) §5.8-5.10 (MASE, time-series cross-validation);
Makridakis, Spiliotis & Assimakopoulos, "The M4 Competition", IJF 36 (2020): the seasonality
test and the combination benchmark.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mhi.analytics.forecast_backtest import (
    ERRORS,
    MIN_ERRORS,
    YEAR,
    Fits,
    Pool,
    backtest,
    backtest_origins,
    calibration_scores,
)
from mhi.analytics.forecast_intervals import calibrated_multipliers, normal_quantile
from mhi.analytics.forecast_models import Prediction, naive
from mhi.errors import StepConfigError, StepExecutionError

logger = logging.getLogger(__name__)

CANDIDATE_PERIODS = {"D": 7, "W": 52, "M": 12, "Q": 4, "Y": 1}
OFFSETS = {
    "D": pd.offsets.Day(1),
    "W": pd.offsets.Week(1, weekday=0),
    "M": pd.offsets.MonthBegin(1),
    "Q": pd.offsets.QuarterBegin(1, startingMonth=1),
    "Y": pd.offsets.YearBegin(1),
}
MODELS = ("naive", "snaive", "ets", "theta", "arima", "combo")
MAX_TRAIN = {"D": 3 * 365}  # cost only: every other frequency uses its whole history
CLEAR_WIN = 0.9  # a single model must have a backtest MASE 10 % below the combination's
# Seasons longer than this (weekly data's 52) only seasonal naive models (ETS and ARIMA stop at
# 24, see forecast_models.seasonal_fit): a combination carries the season there, and a single
# model may replace it only when the backtest spans a whole season.
LONG_SEASON = 24


@dataclass
class SeriesForecast:
    """Everything known about one series after model selection."""

    forecast: pd.DataFrame
    history: pd.DataFrame
    model: str
    season_length: int
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    season_detected: int = 1
    detail: str = ""
    interval_scale: float = 1.0  # the widest interval's width over its analytic width


def is_seasonal(y: np.ndarray, m: int) -> bool:
    """Decide whether period m matters. With three seasons or more: the M4 benchmarks' 90 %
    autocorrelation test at lag m. With fewer (hotel histories are often two years) the ACF is
    unreliable, so: the value m steps back predicts better than the previous value."""
    if m < 2 or len(y) < m + 3 or np.nanstd(y) == 0:
        return False
    if len(y) < 3 * m:
        seasonal_mae = np.mean(np.abs(y[m:] - y[:-m]))
        naive_mae = np.mean(np.abs(y[m:] - y[m - 1 : -1]))
        return bool(seasonal_mae < naive_mae)
    from statsmodels.tsa.stattools import acf

    r = acf(y.astype(float), nlags=m, fft=True)
    limit = 1.645 * math.sqrt((1 + 2 * float(np.sum(r[1:m] ** 2))) / len(y))
    return bool(abs(r[m]) > limit)


def detect_season(y: np.ndarray, freq: str) -> int:
    """Return the seasonal period to use: the frequency's candidate when it tests seasonal."""
    m = CANDIDATE_PERIODS.get(freq, 1)
    return m if is_seasonal(y, m) else 1


def choose(scores: dict[str, dict[str, float]], names: list[str], *, singles: bool = True) -> str:
    """Return the best combination unless a single model's backtest MASE beats it by
    `CLEAR_WIN` (ties: sMAPE, then listed order); without a combination, the best model.
    `singles` False: a combination whenever one is scored (for a LONG_SEASON whose backtest
    spans less than the season, where a single model's win is a win on part of the year).
    Nothing scored (too short a history for one origin): the first combination."""
    scored = [n for n in names if n in scores]
    if not scored:
        return next((n for n in names if n.startswith("combo")), names[0])
    if not singles and any(n.startswith("combo") for n in scored):
        scored = [n for n in scored if n.startswith("combo")]

    def rank(n: str) -> tuple[float, float, int]:
        return (scores[n]["mase"], scores[n]["smape"], names.index(n))

    best = min(scored, key=rank)
    combos = [n for n in scored if n.startswith("combo")]
    if best.startswith("combo") or not combos:
        return best
    combo = min(combos, key=rank)
    return best if scores[best]["mase"] < CLEAR_WIN * scores[combo]["mase"] else combo


def _pool(model: str, detected: int, period: int, n: int, forced: bool) -> Pool:
    """The candidates: every model at the detected season; and, when a short history hid a
    season the frequency has, ARIMA and the combination with it too (the backtest decides)."""
    models = Fits(detected, period if n > period + 2 else 1)
    models.n = n
    families = list(MODELS) if model == "auto" else [model]
    if model == "auto" and models.period == 1:
        families.remove("snaive")  # the same as naive
    pool: Pool = {f: (models, f) for f in families}
    if model == "auto" and not forced and detected == 1 and period > 1 and n >= period + 4:
        seasonal = Fits(period, models.period)
        seasonal.n = n
        pool |= {f"{f}({period})": (seasonal, f) for f in ("arima", "combo")}
    return pool


def _check_model(model: str) -> None:
    if model != "auto" and model not in MODELS:
        raise StepConfigError(f"unknown model {model!r}: use auto or one of {', '.join(MODELS)}")


def forecast_series(
    y: pd.Series,
    *,
    horizon: int,
    freq: str,
    levels: list[float],
    model: str = "auto",
    season_length: int | None = None,
    folds: int = 3,
) -> SeriesForecast:
    """Forecast one regular series (DatetimeIndex at `freq`), choosing the model by backtest."""
    _check_model(model)
    values = y.to_numpy(dtype=float)[-MAX_TRAIN.get(freq, len(y)) :]
    dates = y.index[-len(values) :]
    if len(values) < 4 or np.isnan(values).any():
        raise StepExecutionError(f"need at least 4 values without gaps, got {len(values)}")
    detected = season_length or detect_season(values, freq)
    period = season_length or CANDIDATE_PERIODS.get(freq, 1)
    pool = _pool(model, detected, period, len(values), season_length is not None)
    scale_m = next(iter(pool.values()))[0].period
    for models, family in pool.values():  # structures (ETS, ARIMA) chosen on the whole history
        try:
            models.predict(family, values, horizon)
        except ERRORS as e:
            logger.info("%s cannot fit the series: %s", family, e)
    bt_horizon = min(horizon, max(1, len(values) // 4))
    scores, z = backtest(values, pool, bt_horizon, folds, scale_m)
    origins = backtest_origins(len(values), bt_horizon, folds, scale_m)
    span = len(origins) * bt_horizon
    # A single model replaces the combination only on a backtest of MIN_ERRORS errors or more
    # (fewer: the short history left few origins, and a win on them is mostly chance) that,
    # for a season longer than LONG_SEASON, spans the season.
    singles = span >= MIN_ERRORS and (span >= period or period <= LONG_SEASON)
    chosen = choose(scores, list(pool), singles=singles) if model == "auto" else model
    models, family = pool[chosen]
    try:
        pred = models.predict(family, values, horizon)
    except ERRORS as e:
        if model != "auto":
            raise StepExecutionError(f"{model} cannot fit this series: {e}") from e
        chosen, family, pred = "snaive", "snaive", naive(values, horizon, scale_m)
    older, reach = None, 1.0
    if freq in YEAR:  # errors from every season of the last year too
        recent = (origins, z.get(chosen))
        year = YEAR[freq]
        older, reach = calibration_scores(values, models, family, bt_horizon, recent, year, scale_m)
    widths = calibrated_multipliers(z.get(chosen), older, levels, reach)
    scale = widths[max(levels)] / normal_quantile(max(levels)) if levels else 1.0
    name = chosen if chosen != "snaive" else f"snaive({scale_m})"
    future = pd.date_range(dates[-1] + OFFSETS[freq], periods=horizon, freq=OFFSETS[freq])
    return SeriesForecast(
        _forecast_frame(pred, future, widths, name, values),
        _history_frame(values, dates, pred, levels),
        name,
        models.m,
        scores,
        detected,
        models.label(family),
        scale,
    )


def _tag(level: float) -> str:
    return f"{level:g}".replace(".", "_")


def _forecast_frame(
    pred: Prediction,
    dates: pd.DatetimeIndex,
    widths: dict[float, float],
    model: str,
    history: np.ndarray,
) -> pd.DataFrame:
    floor = 0.0 if np.nanmin(history) >= 0 else -np.inf  # counts never go negative
    out = pd.DataFrame({"date": dates, "forecast": np.maximum(pred.mean, floor)})
    for level, width in widths.items():
        half = width * pred.se
        out[f"lower_{_tag(level)}"] = np.maximum(pred.mean - half, floor)
        out[f"upper_{_tag(level)}"] = np.maximum(pred.mean + half, floor)
    out["model"] = model
    return out


def _history_frame(
    values: np.ndarray, dates: pd.Index, pred: Prediction, levels: list[float]
) -> pd.DataFrame:
    resid = values - pred.fitted
    sigma = float(np.sqrt(np.nanmean(resid**2))) if np.isfinite(resid).any() else math.nan
    half = normal_quantile(max(levels)) * sigma
    return pd.DataFrame(
        {
            "date": dates,
            "actual": values,
            "fitted": pred.fitted,
            "anomaly": np.abs(resid) > half,  # outside the widest interval (NaN fitted: False)
        }
    )


def forecast_many(
    series: dict[str, pd.Series],
    *,
    horizon: int,
    freq: str,
    levels: list[float],
    model: str = "auto",
    season_length: int | None = None,
    folds: int = 3,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Forecast every series; return (forecasts, chosen models with scores, history)."""
    forecasts, models, history = [], [], []
    for sid, y in series.items():
        try:
            res = forecast_series(
                y,
                horizon=horizon,
                freq=freq,
                levels=levels,
                model=model,
                season_length=season_length,
                folds=folds,
            )
        except StepExecutionError as e:
            raise StepExecutionError(f"series {sid!r}: {e}") from e
        forecasts.append(res.forecast.assign(series_id=sid))
        history.append(res.history.assign(series_id=sid))
        best = res.scores.get(res.model.split("(")[0], {})
        models.append(
            {
                "series_id": sid,
                "model": res.model,
                "detail": res.detail,
                "interval_scale": round(res.interval_scale, 3),
                "season_length": res.season_length,
                "season_detected": res.season_detected,
                "mase": best.get("mase"),
                "smape": best.get("smape"),
                "n_obs": len(y),
                "backtest": "; ".join(f"{k}: {v['mase']:.3f}" for k, v in res.scores.items()),
            }
        )
    fc = pd.concat(forecasts, ignore_index=True)
    fc = fc[["series_id", *[c for c in fc.columns if c != "series_id"]]]
    hist = pd.concat(history, ignore_index=True)
    return fc, pd.DataFrame(models), hist[["series_id", "date", "actual", "fitted", "anomaly"]]
