"""Forecast 100 series with model selection by rolling-origin backtest, on one core.

Series: monthly and daily room nights per hotel x market segment x distribution channel of the
bundled dataset, topped up with copies under new ids to reach the count. Target (issue 4):
100 series with model selection in under 60 s on one core. Run from the repository root:

    python bench/bench_forecast.py [--series 100] [--freq M|D] [--horizon 6]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: no threaded BLAS
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def build_series(freq: str, count: int) -> dict[str, object]:
    """Return `count` regular series of room nights (complete periods only)."""
    import pandas as pd

    from mhi.analytics.modeling import model_reservations, stay_nights
    from mhi.analytics.sources import source_mapping, stage

    raw = pd.read_csv("data/hotel_bookings.csv.gz", keep_default_na=False, na_values=["NA"])
    res = model_reservations(stage(source_mapping("hotel_bookings"), raw), source="hb")
    nights = stay_nights(res.reservations)
    end = res.reservations["arrival_date"].max()
    nights = nights[nights["stay_date"] <= end]
    keys = ["hotel", "market_segment", "distribution_channel"]
    daily = nights.groupby([*keys, "stay_date"], observed=True).size()
    out: dict[str, object] = {}
    for key, s in daily.groupby(level=[0, 1, 2], observed=True):
        s = s.droplevel([0, 1, 2]).asfreq("D", fill_value=0).astype(float)
        if freq == "M":
            s = s.resample("MS").sum()
        if len(s) >= 24 if freq == "M" else len(s) >= 365:
            out["|".join(key)] = s
    base = list(out.items())
    i = 0
    while len(out) < count:  # top up with copies so the count is exact
        sid, s = base[i % len(base)]
        out[f"{sid}#copy{i}"] = s
        i += 1
    return dict(list(out.items())[:count])


def main() -> None:
    """Time forecast_many on the series and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--freq", choices=("M", "D"), default="M")
    parser.add_argument("--horizon", type=int, default=6)
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args()
    from mhi.analytics.forecast import forecast_many

    series = build_series(args.freq, args.series)
    lengths = [len(s) for s in series.values()]  # type: ignore[arg-type]
    t0 = time.perf_counter()
    fc, models, _ = forecast_many(
        series,  # type: ignore[arg-type]
        horizon=args.horizon,
        freq=args.freq,
        levels=[80, 95],
        folds=args.folds,
    )
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{len(series)} {args.freq} series ({min(lengths)}-{max(lengths)} points), horizon "
        f"{args.horizon}, {args.folds}-fold backtest: {elapsed:.1f} s "
        f"({elapsed / len(series):.2f} s per series), peak {peak:.0f} MB"
    )
    print(f"{len(fc)} forecast rows; models chosen:", models["model"].value_counts().to_dict())
    print(f"median backtest MASE of the chosen models: {models['mase'].median():.3f}")


if __name__ == "__main__":
    main()
