"""Demand forecasting: seasonal naive, ETS (damped Holt-Winters) and SARIMA, chosen per series by
rolling-origin backtest (MASE, then sMAPE), with prediction intervals and anomaly flags.

References: Hyndman & Athanasopoulos, *Forecasting: Principles and Practice* (3rd ed., 2021):
§5.5 (naive interval widths), §5.8 and §5.10 (MASE, sMAPE, time-series cross-validation),
§8 (ETS), §9 (ARIMA); Makridakis, Spiliotis & Assimakopoulos, "The M4 Competition", IJF 36
(2020), for the autocorrelation test that decides whether a series is seasonal.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mhi.errors import StepConfigError, StepExecutionError

logger = logging.getLogger(__name__)

CANDIDATE_PERIODS = {"D": 7, "W": 52, "M": 12}
MODELS = ("snaive", "ets", "sarima", "combo")
MAX_TRAIN = {"D": 2 * 365, "W": 5 * 52, "M": 10 * 12}  # recent history is what matters


@dataclass
class Prediction:
    """A model's forecast: mean, standard error per step, and one-step in-sample fitted values."""

    mean: np.ndarray
    se: np.ndarray
    fitted: np.ndarray


@dataclass
class SeriesForecast:
    """Everything known about one series after model selection."""

    forecast: pd.DataFrame
    history: pd.DataFrame
    model: str
    season_length: int
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    season_detected: int = 1


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 200.0))


def _snaive(y: np.ndarray, h: int, m: int) -> Prediction:
    m = m if len(y) > m else 1
    reps = np.resize(y[-m:], h) if m > 1 else np.full(h, y[-1])
    resid = y[m:] - y[:-m]
    sigma = float(np.sqrt(np.nanmean(resid**2))) if len(resid) else 0.0
    k = np.floor(np.arange(h) / m)
    fitted = np.concatenate([np.full(m, np.nan), y[:-m]])
    return Prediction(reps.astype(float), sigma * np.sqrt(k + 1), fitted)


def _quiet(fn: Callable[[], Prediction]) -> Prediction:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter from statsmodels optimisers
        with np.errstate(all="ignore"):
            return fn()


def _ets(y: np.ndarray, h: int, m: int) -> Prediction:
    """Holt-Winters with an additive damped trend (and additive season when m > 1); intervals
    from the linear ETS(A,Ad,A) variance, σ²(1 + Σ c_j²), c_j = α + αβφ_j + γ·[j mod m = 0]
    (Hyndman et al., *Forecasting with Exponential Smoothing*, 2008, Table 6.1)."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = m > 1 and len(y) >= 2 * m + 2

    def fit() -> Prediction:
        model = ExponentialSmoothing(
            y.astype(float),
            trend="add",
            damped_trend=True,
            seasonal="add" if seasonal else None,
            seasonal_periods=m if seasonal else None,
            initialization_method="heuristic" if len(y) >= 2 * m + 10 else "estimated",
        )
        res = model.fit(use_brute=False)
        p = res.params
        alpha, beta, phi = p["smoothing_level"], p["smoothing_trend"], p["damping_trend"]
        gamma = p.get("smoothing_seasonal", 0.0) if seasonal else 0.0
        gamma = 0.0 if gamma is None or np.isnan(gamma) else gamma
        j = np.arange(1, h)
        phi_j = np.cumsum(phi ** np.arange(1, h)) if h > 1 else np.array([])
        c = alpha + alpha * beta * phi_j + gamma * ((j % m == 0) if seasonal else 0)
        sigma = float(np.sqrt(np.mean((y - res.fittedvalues) ** 2)))
        se = sigma * np.sqrt(1 + np.concatenate([[0.0], np.cumsum(c**2)]))
        return Prediction(np.asarray(res.forecast(h)), se, np.asarray(res.fittedvalues))

    return _quiet(fit)


def _sarima(y: np.ndarray, h: int, m: int) -> Prediction:
    """SARIMA(1,0,0)(0,1,0)m with drift: an AR(1) on year-over-year (or week-over-week)
    changes, the shape hotel demand usually has; ARIMA(1,1,0) with drift when m = 1."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    seasonal = m > 1 and len(y) >= m + 4
    order = (1, 0, 0) if seasonal else (1, 1, 0)
    sorder = (0, 1, 0, m) if seasonal else (0, 0, 0, 0)

    def fit() -> Prediction:
        model = SARIMAX(
            y.astype(float), order=order, seasonal_order=sorder, trend="c", concentrate_scale=True
        )
        res = model.fit(disp=False, maxiter=50)
        fc = res.get_forecast(h)
        fitted = np.asarray(res.fittedvalues, dtype=float)
        fitted[: (m if seasonal else 1) + 1] = np.nan  # no fit before the first difference
        return Prediction(np.asarray(fc.predicted_mean), np.sqrt(fc.var_pred_mean), fitted)

    return _quiet(fit)


_Cache = dict[tuple[str, int, int, int], Prediction]


def predict(family: str, y: np.ndarray, h: int, m: int, cache: _Cache | None = None) -> Prediction:
    """Fit `family` on `y` and forecast h steps; fits are memoised in `cache` by
    (family, len(y), h, m), so a combination reuses the fits the backtest already made."""
    key = (family, len(y), h, m)
    if cache is not None and key in cache:
        return cache[key]
    pred = _combo(y, h, m, cache) if family == "combo" else _FITTERS[family](y, h, m)
    if cache is not None:
        cache[key] = pred
    return pred


def _combo(y: np.ndarray, h: int, m: int, cache: _Cache | None = None) -> Prediction:
    """Equal-weight mean of seasonal naive, ETS and SARIMA (combinations were among the most
    accurate methods of the M4 competition); its standard error is the mean of theirs, as if
    their errors were perfectly correlated (a conservative interval)."""
    parts = [predict(f, y, h, m, cache) for f in ("snaive", "ets", "sarima")]
    fitted = np.nanmean(np.vstack([p.fitted for p in parts]), axis=0) if len(y) else y
    return Prediction(
        np.mean([p.mean for p in parts], axis=0), np.mean([p.se for p in parts], axis=0), fitted
    )


_FITTERS: dict[str, Callable[[np.ndarray, int, int], Prediction]] = {
    "snaive": _snaive,
    "ets": _ets,
    "sarima": _sarima,
}


def is_seasonal(y: np.ndarray, m: int) -> bool:
    """Decide whether period m matters. With three seasons or more: the M4 benchmarks' 90 %
    autocorrelation test at lag m (Makridakis et al. 2020). With fewer (hotel histories are
    often two years) the ACF is unreliable, so: the value m steps back predicts better than the
    previous value (in-sample MAE of seasonal naive below naive's)."""
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


def mase(actual: np.ndarray, pred: np.ndarray, train: np.ndarray, m: int) -> float:
    """Mean absolute scaled error, scaled by the in-sample seasonal naive MAE."""
    m = m if len(train) > m else 1
    scale = np.mean(np.abs(train[m:] - train[:-m])) if len(train) > m else np.nan
    return float(np.mean(np.abs(actual - pred)) / scale) if scale and scale > 0 else math.nan


def smape(actual: np.ndarray, pred: np.ndarray) -> float:
    """Symmetric MAPE in percent (0 where both are 0)."""
    den = np.abs(actual) + np.abs(pred)
    ratio = np.where(den > 0, 2 * np.abs(actual - pred) / np.where(den > 0, den, 1), 0.0)
    return float(100 * np.mean(ratio))


Candidate = tuple[str, int]  # (model family, season length)


def label(candidate: Candidate) -> str:
    """Return a candidate's name: `ets`, `ets(7)`, `snaive(12)`, ..."""
    family, m = candidate
    return f"{family}({m})" if m > 1 else family


def candidates(n: int, freq: str, detected: int, model: str, forced: bool) -> list[Candidate]:
    """Return the models to try. Seasonal naive always uses the frequency's period (it is the
    benchmark); ETS and SARIMA use the detected period, and unless the user fixed the season,
    also the frequency's period when the series is long enough, so the backtest can overrule a
    detection made on a short history."""
    period = CANDIDATE_PERIODS.get(freq, 1)
    out: list[Candidate] = []
    if model in ("auto", "snaive"):
        out.append(("snaive", detected if forced or model == "snaive" else period))
    for family, need in (("ets", 2 * period + 2), ("sarima", period + 4), ("combo", period + 4)):
        if model not in ("auto", family):
            continue
        out.append((family, detected))
        if not forced and detected != period and period > 1 and n >= need:
            out.append((family, period))
    return list(dict.fromkeys(out))


def backtest(
    y: np.ndarray,
    models: list[Candidate],
    horizon: int,
    folds: int,
    scale_m: int,
    cache: _Cache | None = None,
) -> dict[str, dict[str, float]]:
    """Rolling-origin evaluation: refit at each origin, forecast `horizon` steps, average
    MASE and sMAPE over the origins. A model that cannot fit at every origin is left out."""
    scores: dict[str, dict[str, float]] = {}
    origins = [len(y) - horizon * (folds - i) for i in range(folds)]
    origins = [o for o in origins if o >= max(scale_m + 2, 8)]
    for family, m in models:
        errors, sm = [], []
        for origin in origins:
            train, test = y[:origin], y[origin : origin + horizon]
            try:
                pred = predict(family, train, len(test), m, cache).mean
            except (ValueError, np.linalg.LinAlgError, IndexError) as e:
                logger.info("backtest %s failed at origin %d: %s", family, origin, e)
                break
            errors.append(mase(test, pred, train, scale_m))
            sm.append(smape(test, pred))
        if errors and len(errors) == len(origins) and not np.isnan(errors).all():
            scores[label((family, m))] = {
                "mase": float(np.nanmean(errors)),
                "smape": float(np.mean(sm)),
            }
    return scores


def choose(scores: dict[str, dict[str, float]], models: list[Candidate]) -> Candidate:
    """Return the candidate with the lowest MASE (sMAPE breaks ties; listed order after)."""
    scored = [c for c in models if label(c) in scores]
    if not scored:
        return models[0]
    return min(
        scored,
        key=lambda c: (scores[label(c)]["mase"], scores[label(c)]["smape"], models.index(c)),
    )


def _future_dates(last: pd.Timestamp, h: int, freq: str) -> pd.DatetimeIndex:
    offset = {"D": pd.offsets.Day(1), "W": pd.offsets.Week(1), "M": pd.offsets.MonthBegin(1)}
    return pd.date_range(last + offset[freq], periods=h, freq=offset[freq])


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
    period = CANDIDATE_PERIODS.get(freq, 1)
    scale_m = period if len(values) > period + 2 else 1
    tried = candidates(len(values), freq, detected, model, season_length is not None)
    bt_horizon = min(horizon, max(1, len(values) // 4))
    cache: _Cache = {}
    scores = backtest(values, tried, bt_horizon, folds, scale_m, cache) if len(tried) > 1 else {}
    chosen = choose(scores, tried)
    try:
        pred = predict(chosen[0], values, horizon, chosen[1], cache)
    except (ValueError, np.linalg.LinAlgError, IndexError) as e:
        if model != "auto":
            raise StepExecutionError(f"{model} cannot fit this series: {e}") from e
        chosen = ("snaive", period)
        pred = _snaive(values, horizon, period)
    name = label(chosen)
    return SeriesForecast(
        _forecast_frame(pred, _future_dates(dates[-1], horizon, freq), levels, name, values),
        _history_frame(values, dates, pred, levels),
        name,
        chosen[1],
        scores,
        detected,
    )


def _tag(level: float) -> str:
    return f"{level:g}".replace(".", "_")


def _forecast_frame(
    pred: Prediction,
    dates: pd.DatetimeIndex,
    levels: list[float],
    model: str,
    history: np.ndarray,
) -> pd.DataFrame:
    floor = 0.0 if np.nanmin(history) >= 0 else -np.inf  # counts never go negative
    out = pd.DataFrame({"date": dates, "forecast": np.maximum(pred.mean, floor)})
    for level in levels:
        half = _z(level) * pred.se
        out[f"lower_{_tag(level)}"] = np.maximum(pred.mean - half, floor)
        out[f"upper_{_tag(level)}"] = np.maximum(pred.mean + half, floor)
    out["model"] = model
    return out


def _history_frame(
    values: np.ndarray, dates: pd.Index, pred: Prediction, levels: list[float]
) -> pd.DataFrame:
    resid = values - pred.fitted
    sigma = float(np.sqrt(np.nanmean(resid**2))) if np.isfinite(resid).any() else math.nan
    half = _z(max(levels)) * sigma
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
        best = res.scores.get(res.model, {})
        models.append(
            {
                "series_id": sid,
                "model": res.model,
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
