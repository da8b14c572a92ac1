"""The pandas reference of the booking-pace curve (the SQL: `mhi.analytics.kpi_queries`):
for each d = 0 .. days, every night's state d days before it, summed per period."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pandas as pd

from mhi.analytics.kpi import Frames, data_range, on_books
from mhi.analytics.kpi_spec import KpiSpec, shift
from mhi.analytics.kpi_spec import period_start as first_day
from mhi.errors import StepExecutionError


def pace_curve(reservations: pd.DataFrame, spec: KpiSpec) -> pd.DataFrame:
    """Return period, dimensions, days_before, rooms_on_books and last year's figures."""
    if reservations.empty:
        raise StepExecutionError("no reservations to compute a pace curve from")
    days = spec.pace_curve_days or 0
    spec = replace(spec, metrics=("rooms_on_books",), comparisons=("last_year",))
    first, last = data_range(reservations)
    as_of = pd.Timestamp(spec.as_of) if spec.as_of else reservations["booking_date"].max()
    frames = Frames(spec, first, last, as_of)
    n = frames.with_periods(frames.pace_nights(reservations), "stay_date")
    keys = ["period", *spec.dimensions]
    curve = pd.concat(
        [
            n.assign(rooms_on_books=on_books(n, n["stay_date"] - pd.Timedelta(days=d)))
            .groupby(keys, observed=True)["rooms_on_books"]
            .sum()
            .reset_index()
            .assign(days_before=d)
            for d in range(days + 1)
        ],
        ignore_index=True,
    )
    ends = {p: _period_end(p.date(), frames) for p in curve["period"].unique()}
    known = (pd.to_datetime(curve["period"].map(ends)) - as_of).dt.days
    curve["rooms_on_books"] = curve["rooms_on_books"].where(curve["days_before"] >= known)
    return _with_last_year(curve, spec, frames, keys)


def _period_end(p: date, frames: Frames) -> date:
    for start, _, end in frames.ranges if frames.spec.grain == "all" else []:
        if start == p:
            return end
    return shift(p, frames.spec.grain, "previous_period") - timedelta(days=1)


def _with_last_year(
    curve: pd.DataFrame, spec: KpiSpec, frames: Frames, keys: list[str]
) -> pd.DataFrame:
    ly = curve[[*keys, "days_before", "rooms_on_books"]].copy()
    comparing = bool(spec.active_comparisons())
    if spec.grain == "all":
        this = frames.ranges[0][0]
        theirs = frames.ranges[1][0] if comparing else None
        ly = ly[ly["period"] == pd.Timestamp(theirs)] if comparing else ly.iloc[:0]
        ly["period"] = pd.Timestamp(this)
    else:
        moved = {p: shift(p.date(), spec.grain, "last_year") for p in ly["period"].unique()}
        ly["period"] = pd.to_datetime(ly["period"].map(moved))
    ly["period"] = ly["period"].astype("datetime64[us]")
    out = curve.merge(
        ly.rename(columns={"rooms_on_books": "rooms_on_books_ly"}),
        on=[*keys, "days_before"],
        how="left",
    )
    base = out["rooms_on_books_ly"]
    out["rooms_on_books_yoy"] = out["rooms_on_books"] / base.where(base != 0) - 1
    trim = frames.ranges[0][0] if spec.grain == "all" else spec.start
    if trim is not None:
        out = out[out["period"] >= pd.Timestamp(first_day(trim, spec.grain))]
    cols = [*keys, "days_before", "rooms_on_books", "rooms_on_books_ly", "rooms_on_books_yoy"]
    return out.sort_values([*keys, "days_before"]).reset_index(drop=True)[cols]
