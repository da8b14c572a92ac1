"""The forecasting models: naive and seasonal naive, automatic ETS, Theta, automatic ARIMA.

Each returns a `Prediction` (mean, standard error per step, one-step fitted values) and the
structure it chose, so the backtest can refit that structure at earlier origins cheaply.

References: Hyndman & Athanasopoulos, *Forecasting: Principles and Practice* (3rd ed., 2021):
§8.6-8.7 (ETS selection by AICc, the linear ETS forecast variances of Table 8.8), §9.9
(ARIMA order selection by AICc); Assimakopoulos & Nikolopoulos (2000) and Hyndman & Billah
(2003) for Theta (statsmodels' ThetaModel, deseasonalised by classical decomposition).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Structure = tuple[str | None, bool, str | None]  # ETS trend, damped, season


@dataclass
class Prediction:
    """A model's forecast: mean, standard error per step, one-step in-sample fitted values."""

    mean: np.ndarray
    se: np.ndarray
    fitted: np.ndarray
    structure: object = None
    params: object = None  # fitted parameters, where a refit can hold them (ARIMA)


def quiet(fn: Callable[[], Prediction]) -> Prediction:
    """Run a fit with the optimisers' convergence chatter silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            return fn()


def naive(y: np.ndarray, h: int, m: int) -> Prediction:
    """Repeat the last season (m > 1) or the last value; the variance grows with the number of
    seasons ahead (FPP §5.5)."""
    m = m if len(y) > m else 1
    reps = np.resize(y[-m:], h) if m > 1 else np.full(h, y[-1])
    resid = y[m:] - y[:-m]
    sigma = float(np.sqrt(np.nanmean(resid**2))) if len(resid) else 0.0
    k = np.floor(np.arange(h) / m)
    fitted = np.concatenate([np.full(m, np.nan), y[:-m]])
    return Prediction(reps.astype(float), sigma * np.sqrt(k + 1), fitted, m)


def _ets_variance(params: dict[str, float], h: int, m: int, sigma2: float) -> np.ndarray:
    """σ²(1 + Σ_{j<h} c_j²), c_j = α(1 + βφ_j) + γ[j mod m = 0], φ_j = φ + … + φ^j."""
    alpha = params.get("smoothing_level", 0.0)
    beta = params.get("smoothing_trend", 0.0) or 0.0
    gamma = params.get("smoothing_seasonal", 0.0) or 0.0
    phi = params.get("damping_trend", 1.0) or 1.0
    j = np.arange(1, h)
    phi_j = np.cumsum(phi ** np.arange(1, h)) if h > 1 else np.array([])
    c = alpha * (1 + beta * phi_j) + gamma * ((j % m == 0) if m > 1 else 0)
    return np.asarray(sigma2 * (1 + np.concatenate([[0.0], np.cumsum(c**2)])))


def ets_structures(y: np.ndarray, m: int) -> list[Structure]:
    """Return the ETS structures worth trying: additive errors, no / additive / damped trend
    (no undamped trend on short series), additive or (positive data) multiplicative season."""
    trends: list[tuple[str | None, bool]] = [(None, False), ("add", True)]
    if len(y) >= 30:
        trends.append(("add", False))
    seasons: list[str | None] = [None]
    if seasonal_fit("ets", len(y), m):
        seasons = ["add", "mul"] if np.nanmin(y) > 0 else ["add"]
    return [(t, d, s) for t, d in trends for s in seasons]


def _fit_ets(y: np.ndarray, h: int, m: int, structure: Structure) -> tuple[float, Prediction]:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    trend, damped, season = structure
    heuristic = season is not None and len(y) >= 2 * m + 10
    model = ETSModel(
        y.astype(float),
        error="add",
        trend=trend,
        damped_trend=damped,
        seasonal=season,
        seasonal_periods=m if season else None,
        initialization_method="heuristic" if heuristic else "estimated",
    )
    res = model.fit(disp=False, maxiter=200)
    params = dict(zip(res.param_names, res.params, strict=True))
    var = _ets_variance(params, h, m, float(res.mse))
    pred = Prediction(np.asarray(res.forecast(h)), np.sqrt(var), np.asarray(res.fittedvalues))
    pred.structure = structure
    return float(res.aicc), pred


def ets(y: np.ndarray, h: int, m: int, structure: Structure | None = None) -> Prediction:
    """ETS: the given structure, or the one with the lowest AICc among `ets_structures`."""

    def fit() -> Prediction:
        if structure is not None:
            return _fit_ets(y, h, m, structure)[1]
        best: tuple[float, Prediction] | None = None
        for s in ets_structures(y, m):
            try:
                aicc, pred = _fit_ets(y, h, m, s)
            except (ValueError, np.linalg.LinAlgError):
                continue
            if np.isfinite(aicc) and (best is None or aicc < best[0]):
                best = (aicc, pred)
        if best is None:
            raise ValueError("no ETS structure could be fitted")
        return best[1]

    return quiet(fit)


def ets_label(structure: object) -> str:
    """Return ETS(A,Ad,M)-style notation for a structure."""
    trend, damped, season = structure  # type: ignore[misc]
    t = "N" if trend is None else ("Ad" if damped else "A")
    s = {None: "N", "add": "A", "mul": "M"}[season]
    return f"ETS(A,{t},{s})"


def theta(y: np.ndarray, h: int, m: int, structure: object = None) -> Prediction:
    """Theta (SES with drift, half the linear trend's slope), deseasonalised when m > 1 and
    the series is long enough; its intervals are those of the underlying SES model."""
    from statsmodels.tsa.forecasting.theta import ThetaModel

    def fit() -> Prediction:
        seasonal = seasonal_fit("theta", len(y), m)
        model = ThetaModel(
            y.astype(float),
            period=m if seasonal else 1,
            deseasonalize=seasonal,
            method="additive" if np.nanmin(y) <= 0 else "auto",
        )
        res = model.fit()
        mean = np.asarray(res.forecast(h))
        alpha = float(res.params["alpha"])
        resid = np.diff(y) if len(y) > 1 else np.zeros(1)
        sigma2 = float(res.sigma2) if np.isfinite(res.sigma2) else float(np.mean(resid**2))
        se = np.sqrt(sigma2 * (1 + alpha**2 * np.arange(h)))
        fitted = np.concatenate([[np.nan], y[:-1]])  # Theta keeps no in-sample fit: naive
        return Prediction(mean, se, fitted, m if seasonal else 1)

    return quiet(fit)


def seasonal_fit(family: str, n: int, m: int) -> bool:
    """Return whether `family` models a season of length m from n values."""
    if m <= 1:
        return False
    need = {"ets": 2 * m + 2 if m <= 24 else n + 1, "theta": 2 * m, "arima": m + 4}
    return n >= need.get(family, n + 1) and (family != "arima" or m <= 24)


def _arima_orders(n: int, m: int) -> list[tuple[tuple[int, int, int], tuple[int, int, int, int]]]:
    if seasonal_fit("arima", n, m) and n >= 2 * m + 4:
        s = (0, 1, 1, 0)
        return [((1, 0, 0), s), ((0, 1, 1), s), ((1, 0, 0), (0, 1, 0, 0))]
    if seasonal_fit("arima", n, m):  # one season and a few values: seasonal differences only
        return [((1, 0, 0), (0, 1, 0, 0)), ((0, 0, 0), (0, 1, 0, 0))]
    return [((0, 1, 1), (0, 0, 0, 0)), ((1, 1, 0), (0, 0, 0, 0)), ((1, 1, 1), (0, 0, 0, 0))]


def _fit_arima(
    y: np.ndarray,
    h: int,
    m: int,
    orders: tuple,  # type: ignore[type-arg]
    params: object = None,
) -> tuple[float, Prediction]:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    order, sorder = orders
    sorder = (*sorder[:3], m) if sorder[1] or sorder[2] else (0, 0, 0, 0)
    trend = "c" if order[1] + sorder[1] <= 1 else "n"  # a constant, or drift once differenced
    model = SARIMAX(y.astype(float), order=order, seasonal_order=sorder, trend=trend)
    # Given parameters: the Kalman filter only (a fifteenth of a fit's time on daily data).
    res = model.fit(disp=False, maxiter=50) if params is None else model.filter(params)
    fc = res.get_forecast(h)
    fitted = np.asarray(res.fittedvalues, dtype=float)
    fitted[: order[1] + sorder[1] * max(m, 1) + 1] = np.nan  # no fit before the differences
    pred = Prediction(np.asarray(fc.predicted_mean), np.sqrt(fc.var_pred_mean), fitted, orders)
    pred.params = np.asarray(res.params)
    return float(res.aicc), pred


def arima(
    y: np.ndarray, h: int, m: int, structure: object = None, params: object = None
) -> Prediction:
    """ARIMA: the given orders, or the lowest AICc of a small search (seasonal MA on seasonal
    differences when m > 1 and two seasons are known; drift when once differenced). With
    `params` too (those of a fit of the same orders): no estimation, only the filter."""

    def fit() -> Prediction:
        if structure is not None:
            return _fit_arima(y, h, m, structure, params)[1]  # type: ignore[arg-type]
        best: tuple[float, Prediction] | None = None
        for orders in _arima_orders(len(y), m):
            try:
                aicc, pred = _fit_arima(y, h, m, orders)
            except (ValueError, np.linalg.LinAlgError, IndexError):
                continue
            if np.isfinite(aicc) and (best is None or aicc < best[0]):
                best = (aicc, pred)
        if best is None:
            raise ValueError("no ARIMA order could be fitted")
        return best[1]

    return quiet(fit)


def arima_label(structure: object) -> str:
    """Return ARIMA(p,d,q)(P,D,Q)m notation."""
    order, sorder = structure  # type: ignore[misc]
    text = "ARIMA({},{},{})".format(*order)
    return text + ("({},{},{})".format(*sorder[:3]) if sorder[1] or sorder[2] else "")
