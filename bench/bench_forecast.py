"""Forecast accuracy, interval coverage and time per forecast for each frequency, on one core.

Daily, weekly and monthly: room nights of the bundled bookings per hotel x market segment x
distribution channel (series of at least two seasons), or with `--by hotel` the two hotel
totals. Quarterly and yearly: synthetic series of known structure (trend + season + noise;
trend + AR(1) noise), as in the unit tests.

Rolling origins, as issue 15 measures: each series is forecast from `--origins` origins, the
last `origins` windows of `horizon` values (the latest window last); at each origin
`forecast_series` (model choice by rolling-origin backtest, calibrated intervals) sees only the
values before it. One window is one stretch of the calendar (the same weeks for every series),
so its figures say more about that stretch than about the method: `--origins 1` is the last
window alone; `--by hotel --origins 13 --freqs D` spans a year of origins. Printed per
frequency: series, time per forecast, mean MASE of the chosen forecast and of seasonal naive on
the held-out values (every window, then the last window alone), the share of them inside the
95 % interval, and the models chosen. Run from the repository root:

    python bench/bench_forecast.py [--series 20] [--origins 3] [--freqs D,W,M,Q,Y] [--by hotel]
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: no threaded BLAS
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

HORIZONS = {"D": 28, "W": 8, "M": 3, "Q": 4, "Y": 3}


def bundled_series(freq: str, count: int, by: str = "segment") -> list[object]:
    """Room nights per hotel x segment x channel (`by` segment) or per hotel at `freq`
    (complete periods only)."""
    import pandas as pd

    from mhi.analytics.modeling import model_reservations, stay_nights
    from mhi.analytics.sources import source_mapping, stage

    raw = pd.read_csv("data/hotel_bookings.csv.gz", keep_default_na=False, na_values=["NA"])
    res = model_reservations(stage(source_mapping("hotel_bookings"), raw), source="hb")
    nights = stay_nights(res.reservations)
    end = res.reservations["arrival_date"].max()
    nights = nights[nights["stay_date"] <= end]
    keys = ["hotel", "market_segment", "distribution_channel"] if by == "segment" else ["hotel"]
    levels = list(range(len(keys)))
    daily = nights.groupby([*keys, "stay_date"], observed=True).size()
    out = []
    for _, s in daily.groupby(level=levels, observed=True):
        s = s.droplevel(levels).asfreq("D", fill_value=0).astype(float)
        if freq == "W":
            s = s.resample("W-MON", label="left", closed="left").sum().iloc[1:-1]
        elif freq == "M":
            s = s.resample("MS").sum()
        need = {"D": 365, "W": 104, "M": 24}[freq]
        if len(s) >= need and s.sum() > 0:
            out.append(s)
    out.sort(key=lambda s: -float(s.sum()))  # the busiest series first
    return out[:count]  # type: ignore[return-value]


def synthetic_series(freq: str, count: int) -> list[object]:
    """Known structure: quarterly trend + season + noise (64 values), yearly trend + AR(1)."""
    import numpy as np
    import pandas as pd

    out = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        if freq == "Q":
            t = np.arange(64)
            y = 200 + 1.5 * t + np.resize([20.0, -10.0, 35.0, -45.0], 64) + rng.normal(0, 6, 64)
            out.append(pd.Series(y, index=pd.date_range("2000-01-01", periods=64, freq="QS")))
        else:
            noise = np.zeros(40)
            for i in range(1, 40):
                noise[i] = 0.6 * noise[i - 1] + rng.normal(0, 5)
            y = 100 + 3 * np.arange(40) + noise
            out.append(pd.Series(y, index=pd.date_range("1980-01-01", periods=40, freq="YS")))
    return out  # type: ignore[return-value]


def run(freq: str, count: int, origins: int, by: str = "segment") -> str:
    """Forecast every series of one frequency from each origin; return the printed line."""
    import numpy as np

    from mhi.analytics import forecast as F
    from mhi.analytics.forecast_backtest import mase
    from mhi.analytics.forecast_models import naive

    series = synthetic_series(freq, count) if freq in "QY" else bundled_series(freq, count, by)
    h, m = HORIZONS[freq], F.CANDIDATE_PERIODS[freq]
    auto, snaive, inside, last, inside_last = [], [], [], [], []
    chosen: Counter[str] = Counter()
    elapsed = 0.0
    for y in series:
        values = y.to_numpy()  # type: ignore[attr-defined]
        for k in range(origins, 0, -1):
            cut = len(values) - k * h
            train, test = values[:cut], values[cut : cut + h]
            t0 = time.perf_counter()
            fc = F.forecast_series(y.iloc[:cut], horizon=h, freq=freq, levels=[95])  # type: ignore[attr-defined]
            elapsed += time.perf_counter() - t0
            f = fc.forecast
            auto.append(mase(test, f["forecast"].to_numpy(), train, m))
            snaive.append(mase(test, naive(train, h, m).mean, train, m))
            covered = list((test >= f["lower_95"]) & (test <= f["upper_95"]))
            inside += covered
            inside_last += covered if k == 1 else []
            last.append(k == 1)
            chosen[fc.model] += 1
    lengths = [len(s) for s in series]  # type: ignore[arg-type]
    a, s = float(np.nanmean(auto)), float(np.nanmean(snaive))
    at_last = np.array(last)
    a1, s1 = (
        float(np.nanmean(np.array(auto)[at_last])),
        float(np.nanmean(np.array(snaive)[at_last])),
    )
    return (
        f"{freq} {len(series):>3} series ({min(lengths)}-{max(lengths)} values), h={h}, "
        f"{origins} origins: {elapsed / len(auto):.2f} s/forecast; MASE {a:.3f} vs seasonal "
        f"naive {s:.3f} ({100 * (1 - a / s):+.0f} %; last window {a1:.3f} vs {s1:.3f}, "
        f"{100 * (1 - a1 / s1):+.0f} %); 95 % interval covers {100 * np.mean(inside):.0f} % "
        f"of {len(inside)} (last window {100 * np.mean(inside_last):.0f} %); "
        f"chosen {dict(chosen.most_common(4))}"
    )


def main() -> None:
    """Print one line per frequency."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=20, help="series per frequency")
    parser.add_argument("--origins", type=int, default=3, help="windows held out per series")
    parser.add_argument("--freqs", default="D,W,M,Q,Y")
    parser.add_argument(
        "--by", default="segment", choices=["segment", "hotel"], help="bundled series per"
    )
    args = parser.parse_args()
    for freq in args.freqs.split(","):
        print(run(freq, args.series, args.origins, args.by), flush=True)


if __name__ == "__main__":
    main()
