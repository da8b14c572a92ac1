"""Long `series_id, date, value` input turned into regular series, with clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mhi.errors import StepConfigError, StepExecutionError


def regular_series(frame: pd.DataFrame, freq: str) -> dict[str, pd.Series]:
    """Turn a long `series_id, date, value` frame into regular series, with clear errors."""
    missing = [c for c in ("series_id", "date", "value") if c not in frame.columns]
    if missing:
        raise StepConfigError(f"input needs columns series_id, date, value; missing {missing}")
    if frame.empty:
        raise StepExecutionError("the input has no rows")
    dates = pd.to_datetime(frame["date"].astype("string"), errors="coerce", format="ISO8601")
    values = pd.to_numeric(frame["value"], errors="coerce")
    _bad_rows(frame, dates.isna(), "date is not a date")
    _bad_rows(frame, values.isna(), "value is not a number")
    period = {"D": "D", "W": "W-SUN", "M": "M", "Q": "Q", "Y": "Y"}[freq]
    start = dates.dt.to_period(period).dt.start_time.astype("datetime64[us]")
    tidy = pd.DataFrame(
        {"series_id": frame["series_id"].astype("string"), "date": start, "value": values}
    )
    dup = tidy.duplicated(["series_id", "date"], keep=False)
    _bad_rows(frame, dup, f"two values for the same series and {freq} period")
    out = {}
    for sid, rows in tidy.groupby("series_id", sort=True):
        s = rows.set_index("date")["value"].sort_index()
        full = pd.date_range(s.index[0], s.index[-1], freq=_offset(freq))
        gaps = full.difference(s.index)
        if len(gaps):
            raise StepExecutionError(
                f"series {sid!r} has {len(gaps)} missing {freq} periods, first {gaps[0]:%Y-%m-%d}"
            )
        out[str(sid)] = s
    return out


def _offset(freq: str) -> pd.DateOffset:
    from mhi.analytics.forecast import OFFSETS

    return OFFSETS[freq]


def _bad_rows(frame: pd.DataFrame, mask: pd.Series, what: str) -> None:
    if mask.any():
        rows = (np.flatnonzero(mask.to_numpy()) + 2)[:5]  # +2: header line, 1-based
        raise StepExecutionError(
            f"{int(mask.sum())} rows where {what} (first at CSV line "
            f"{', '.join(map(str, rows))}; e.g. {frame.loc[mask].iloc[0].to_dict()})"
        )
