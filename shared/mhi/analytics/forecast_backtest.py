"""Rolling-origin evaluation of the forecasting models, and the backtest errors that
calibrate their intervals.

`Fits` holds one series' fits: structures (ETS, ARIMA orders) chosen once on the whole history,
refitted at earlier origins. `backtest` scores every candidate on the last windows (model
choice); `calibration_scores` adds origins spread over the last year for the chosen one, so
its intervals see every season's errors, not only the latest weeks'. References: Hyndman &
Athanasopoulos, *Forecasting: Principles and Practice* (3rd ed., 2021) §5.8-5.10 (MASE,
time-series cross-validation).
"""

from __future__ import annotations

import logging
import math

import numpy as np

from mhi.analytics.forecast_models import (
    Prediction,
    arima,
    arima_label,
    ets,
    ets_label,
    naive,
    seasonal_fit,
    theta,
)

logger = logging.getLogger(__name__)

COMBINED = ("ets", "theta", "arima")
MIN_ERRORS = 16  # backtest errors per model at least (more origins when the horizon is short)
ERRORS = (ValueError, np.linalg.LinAlgError, IndexError)


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


class Fits:
    """Fits of one series: structures chosen on the whole history, refitted at earlier origins."""

    def __init__(self, m: int, period: int) -> None:
        self.m, self.period = m, period
        self.structures: dict[str, object] = {}
        self.params: dict[str, object] = {}  # of the first fit (the whole history's)
        self.cache: dict[tuple[str, int, int, bool], Prediction] = {}
        self.n = 0  # length of the whole history, once known

    def predict(self, family: str, y: np.ndarray, h: int, *, held: bool = False) -> Prediction:
        """Forecast h steps after y. `held`: keep the whole history's ARIMA parameters (a
        filter, not a fit: for the many calibration origins, where refits would cost most)."""
        key = (family, len(y), h, held)
        if key not in self.cache:
            self.cache[key] = self._fit(family, y, h, held)
        return self.cache[key]

    def _fit(self, family: str, y: np.ndarray, h: int, held: bool) -> Prediction:
        if family == "naive":
            return naive(y, h, 1)
        if family == "snaive":
            return naive(y, h, self.period)
        if family == "combo":
            return self._combo(y, h, held)
        structure = self.structures.get(family)
        if family == "arima":
            params = self.params.get(family) if held else None
            pred = arima(y, h, self.m, structure, params)
        else:
            fitter = ets if family == "ets" else theta
            pred = fitter(y, h, self.m, structure)  # type: ignore[arg-type]
        self.structures.setdefault(family, pred.structure)
        self.params.setdefault(family, pred.params)
        return pred

    def combined(self, n: int) -> list[str]:
        """The models of the combination. With a season: those that can model it from n
        values (one that cannot would average it away), with seasonal naive too when fewer
        than two can; when none can, all of them and seasonal naive, which carries the
        season alone."""
        if self.m <= 1:
            return list(COMBINED)
        able = [f for f in COMBINED if seasonal_fit(f, n, self.m)]
        if not able:
            return [*COMBINED, "snaive"]
        return able if len(able) >= 2 else [*able, "snaive"]

    def _combo(self, y: np.ndarray, h: int, held: bool) -> Prediction:
        parts = []
        for family in self.combined(len(y)):
            try:
                parts.append(self.predict(family, y, h, held=held))
            except ERRORS as e:
                logger.info("combination without %s: %s", family, e)
        if not parts:
            raise ValueError("no model of the combination could be fitted")
        # The mean of the standard errors: as if the errors were perfectly correlated.
        return Prediction(
            np.mean([p.mean for p in parts], axis=0),
            np.mean([p.se for p in parts], axis=0),
            _mean_fitted([p.fitted for p in parts]),
        )

    def label(self, family: str) -> str:
        if family == "ets" and "ets" in self.structures:
            return ets_label(self.structures["ets"])
        if family == "arima" and "arima" in self.structures:
            return arima_label(self.structures["arima"])
        if family == "combo":
            return " + ".join(self.label(f) for f in self.combined(self.n))
        if family == "snaive":
            return f"snaive({self.period})"
        return family


def _mean_fitted(fits: list[np.ndarray]) -> np.ndarray:
    stacked = np.vstack(fits)
    known = np.isfinite(stacked).sum(axis=0)
    total = np.nansum(stacked, axis=0)
    return np.where(known > 0, total / np.maximum(known, 1), np.nan)


Pool = dict[str, tuple[Fits, str]]  # candidate name -> (its fits, its model family)


def backtest(
    y: np.ndarray, pool: Pool, horizon: int, folds: int, period: int
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """Rolling-origin evaluation: refit at each origin, forecast `horizon` steps; return the
    mean MASE and sMAPE per candidate and its standardised errors. A candidate that cannot fit
    at every origin is left out."""
    scores: dict[str, dict[str, float]] = {}
    z: dict[str, np.ndarray] = {}
    origins = backtest_origins(len(y), horizon, folds, period)
    for name, (models, family) in pool.items():
        errors, sm, zs = [], [], []
        for origin in origins:
            train, test = y[:origin], y[origin : origin + horizon]
            try:
                pred = models.predict(family, train, len(test))
            except ERRORS as e:
                logger.info("backtest %s failed at origin %d: %s", name, origin, e)
                break
            errors.append(mase(test, pred.mean, train, period))
            sm.append(smape(test, pred.mean))
            se = np.where(pred.se > 0, pred.se, np.nan)
            zs.append((test - pred.mean) / se)
        if errors and len(errors) == len(origins) and not np.isnan(errors).all():
            scores[name] = {"mase": float(np.nanmean(errors)), "smape": float(np.mean(sm))}
            z[name] = np.concatenate(zs)
    return scores, z


def backtest_origins(n: int, horizon: int, folds: int, period: int) -> list[int]:
    """The backtest's origins: the last `folds` windows of `horizon` values (more when the
    horizon is short, for MIN_ERRORS errors), each with enough history before it."""
    folds = max(folds, math.ceil(MIN_ERRORS / horizon))  # short horizons: more origins
    origins = [n - horizon * (folds - i) for i in range(folds)]
    return [o for o in origins if o >= least_history(period)]


def least_history(period: int) -> int:
    """The fewest values before an origin: a season and two more (MASE's seasonal scale)."""
    return max(period + 2, 8)


YEAR = {"D": 364, "W": 52, "M": 12}  # a year in steps, for frequencies that see the seasons
CALIBRATION_ORIGINS = 12  # origins of the calibration errors, the backtest's included


def calibration_scores(
    y: np.ndarray,
    fits: Fits,
    family: str,
    horizon: int,
    recent: tuple[list[int], np.ndarray | None],
    year: int,
    period: int,
) -> tuple[np.ndarray | None, float]:
    """Return the standardised errors of `family` from origins before the `recent` ones (the
    backtest's: origins and their errors), and the share of a year all of them span, up to 1.

    The backtest's origins are the last few windows: on hotel demand those are one stretch of
    the season, calmer or wilder than the next. Origins spread evenly back to a year before the
    end (CALIBRATION_ORIGINS in all) add every season's errors, each from the data before its
    origin, ARIMA's parameters held (`Fits.predict`). A series shorter than that reaches less
    than a year back, which the interval trusts less (`interval_multipliers`'s `reach`)."""
    origins, z_recent = recent
    n, least = len(y), least_history(period)
    first = min(origins, default=n)
    extra = max(0, CALIBRATION_ORIGINS - len(origins))
    earliest = max(n - year, least)
    spread = [first - round(j * (first - earliest) / extra) for j in range(1, extra + 1)]
    zs, used = [], list(origins) if z_recent is not None else []
    for origin in [o for o in dict.fromkeys(spread) if least <= o < first]:
        test = y[origin : origin + horizon]
        try:
            pred = fits.predict(family, y[:origin], len(test), held=True)
        except ERRORS as e:
            logger.info("calibration of %s failed at origin %d: %s", family, origin, e)
            continue
        zs.append((test - pred.mean) / np.where(pred.se > 0, pred.se, np.nan))
        used.append(origin)
    reach = min(1.0, (n - min(used)) / year) if used else 0.0
    return (np.concatenate(zs) if zs else None), reach
