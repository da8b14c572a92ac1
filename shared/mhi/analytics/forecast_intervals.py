"""Calibrated prediction intervals: normalised split-conformal quantiles of rolling-origin
backtest errors.

A model's analytic standard errors assume its own error structure; on hotel demand they are
often far too wide (occupancy is capped by the rooms, so errors grow more slowly with the step
than ETS or ARIMA assume) and sometimes too narrow (a level shift the model has not seen).
`mhi.analytics.forecast_backtest` refits the model at earlier origins (the last windows, and
origins spread over the year before them) and records each error over the standard error the
model gave for that step; the interval for a level spans the conformal quantile of those
scores (Lei, G'Sell, Rinaldo, Tibshirani & Wasserman, "Distribution-free predictive inference
for regression", JASA 113 (2018) §5.2, locally weighted conformal; Papadopoulos, Gammerman &
Vovk (2008) for normalised scores). Scores of every step ahead pool, so a handful of origins
gives enough of them.
"""

from __future__ import annotations

import math

import numpy as np


def normal_quantile(level: float) -> float:
    """The two-sided standard normal quantile for a `level` in percent (95 -> 1.96)."""
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 200.0))


SCALE_PRIOR = 4.0  # pseudo-errors that hold each interval multiplier towards the analytic one
SCALE_RANGE = (0.05, 10.0)  # the calibrated width as a share of the analytic width


def conformal_quantile(scores: np.ndarray, level: float) -> float | None:
    """The quantile of `scores` for coverage `level` (a fraction), read at plotting position
    (n + 1) level between the ranked scores: the i-th smallest of n exchangeable scores covers
    a new one with probability i / (n + 1), so this aims at `level` itself (split-conformal's
    rank ceil((n + 1) level) guarantees at least `level` but over-covers by up to 1 / (n + 1),
    which is much with a few origins). None past the largest score (fewer than 19 scores for
    95 %): the data do not reach that far."""
    ranked = np.sort(scores)
    n = len(ranked)
    pos = (n + 1) * level
    if pos > n:
        return None
    if pos <= 1:
        return float(ranked[0])
    i = int(pos)
    upper = ranked[min(i, n - 1)]
    return float(ranked[i - 1] + (pos - i) * (upper - ranked[i - 1]))


def interval_multipliers(
    z: np.ndarray | None, levels: list[float], prior: float | None = None, reach: float = 1.0
) -> dict[float, float]:
    """Return, per level (percent), how many of the model's standard errors the interval spans
    on each side of the forecast.

    Normalised split-conformal calibration (Lei et al., "Distribution-free predictive inference
    for regression", JASA 2018, §5.2; Papadopoulos et al. 2008): the scores are the backtest's
    absolute errors over the model's own standard error for that origin and step, |e| / se, so
    scores of every step ahead pool (the standard error carries how errors grow with the step)
    and the model is judged only on values it had not seen (rolling origins inside the training
    part). The multiplier is their quantile at the level (`conformal_quantile`; with too few
    scores to reach it, the normal quantile times their root mean square), shrunk
    towards the normal quantile (the analytic interval) by `prior` pseudo-scores (default
    SCALE_PRIOR, a fixed prior, not fitted) in log space, and kept within SCALE_RANGE of it.
    `reach` (0-1) scales that weight down for scores from less than a whole year of origins:
    they are exchangeable with the next errors only as far as they have seen the seasons.
    With fewer than four scores: the analytic intervals."""
    normal = {level: normal_quantile(level) for level in levels}
    if z is None:
        return normal
    scores = np.abs(z[np.isfinite(z)])
    if len(scores) < 4:
        return normal
    weight = reach * len(scores) / (len(scores) + (SCALE_PRIOR if prior is None else prior))
    out = {}
    for level, q0 in normal.items():
        quantile = conformal_quantile(scores, level / 100)
        if quantile is None:  # too few scores for this level: their scale, normal tails
            quantile = q0 * float(np.sqrt(np.mean(scores**2)))
        raw = max(quantile, 1e-9 * q0)
        ratio = float(np.clip(np.exp(weight * math.log(raw / q0)), *SCALE_RANGE))
        out[level] = q0 * ratio
    return out


def interval_scale(z: np.ndarray | None, prior: float | None = None, level: float = 95.0) -> float:
    """Return the calibrated width of the `level` interval as a share of the analytic one (1
    when the backtest errors agree with the model's standard errors)."""
    return interval_multipliers(z, [level], prior)[level] / normal_quantile(level)


SHIFT_P = 0.01  # the recent errors are larger than the older ones at this significance


def calibrated_multipliers(
    recent: np.ndarray | None, older: np.ndarray | None, levels: list[float], reach: float = 1.0
) -> dict[float, float]:
    """Return, per level, the interval multipliers calibrated on the backtest's `recent` scores
    and the `older` ones from origins spread over the year before (`reach`: the share of a
    year they all span).

    The scores of both pool: more of them, and from every season, so that over a year the
    interval covers what it says (the recent windows alone are one stretch of the season, and
    hotel demand is calm in some and wild in others). Unless the recent errors are larger than
    the older ones (a one-sided Mann-Whitney test at SHIFT_P: a change of regime the older
    ones have not seen); then the wider of the pooled and the recent calibration."""
    parts = [z for z in (recent, older) if z is not None]
    pooled = np.concatenate(parts) if parts else None
    widths = interval_multipliers(pooled, levels, reach=reach)
    if recent is None or older is None or not _larger(recent, older):
        return widths
    alone = interval_multipliers(recent, levels)
    return {level: max(width, alone[level]) for level, width in widths.items()}


def _larger(recent: np.ndarray, older: np.ndarray) -> bool:
    from scipy.stats import mannwhitneyu

    a, b = np.abs(recent[np.isfinite(recent)]), np.abs(older[np.isfinite(older)])
    if len(a) < 4 or len(b) < 4:
        return False
    return bool(mannwhitneyu(a, b, alternative="greater").pvalue < SHIFT_P)
