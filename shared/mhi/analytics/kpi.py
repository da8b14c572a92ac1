"""Hotel KPIs from the canonical model: by day/week/month/year, by hotel and any segment column,
with previous-period and same-period-last-year comparisons. Pure, vectorised pandas.

Formulas and sources: `mhi.analytics.metrics`. Documented results for awkward input:
  - a period where no room was sold has occupancy 0 and an empty ADR (0 / 0 is not a rate);
  - a hotel without room inventory: `on_missing_inventory="error"` (default) raises, "skip"
    leaves its inventory-based metrics empty and says so in `warnings`;
  - pace metrics (rooms_on_books, pickup) are given for stay dates on or after `as_of` only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd

from mhi.analytics.metrics import (
    COMPARISONS,
    DEFAULT_METRICS,
    GRAINS,
    METRICS,
    check_choice,
    check_metrics,
)
from mhi.analytics.modeling import SEGMENT_COLUMNS, expand_nights, stay_nights
from mhi.errors import StepConfigError, StepExecutionError

logger = logging.getLogger(__name__)

DIMENSIONS = ("hotel", *SEGMENT_COLUMNS)
_SUFFIXES = {"previous_period": ("_prev", "_pop"), "last_year": ("_ly", "_yoy")}
_COUNTS = ("arrivals", "cancellations", "arrival_nights", "lead_time_sum", "lead_time_n")


@dataclass(frozen=True)
class KpiSpec:
    """What to compute: metrics, grain, dimensions, date range, comparisons and options."""

    metrics: Sequence[str] = DEFAULT_METRICS
    grain: str = "day"
    dimensions: Sequence[str] = ("hotel",)
    start: date | None = None
    end: date | None = None
    comparisons: Sequence[str] = ()
    include_complimentary: bool = False
    as_of: date | None = None
    pickup_days: int = 7
    on_missing_inventory: Literal["error", "skip"] = "error"

    def __post_init__(self) -> None:
        check_metrics(list(self.metrics))
        check_choice("grain", self.grain, GRAINS)
        for d in self.dimensions:
            check_choice("dimension", d, DIMENSIONS)
        for c in self.comparisons:
            check_choice("comparison", c, COMPARISONS)
        if self.start and self.end and self.start > self.end:
            raise StepConfigError(f"date range is empty: start {self.start} > end {self.end}")
        if self.pickup_days < 1:
            raise StepConfigError(f"pickup_days must be at least 1, got {self.pickup_days}")


@dataclass
class KpiResult:
    """The KPI table (one row per period × dimensions) and what the reader should know."""

    table: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def period_start(dates: pd.Series, grain: str) -> pd.Series:
    """Return the first day of each date's period (weeks start on Monday), vectorised."""
    codes, uniques = pd.factorize(dates, use_na_sentinel=True)
    idx = pd.DatetimeIndex(uniques)
    if grain == "week":
        idx = idx.normalize() - pd.to_timedelta(idx.day_of_week, unit="D")
    elif grain in ("month", "year"):
        idx = idx.to_period("M" if grain == "month" else "Y").start_time
    else:
        idx = idx.normalize()
    out = pd.Series(idx.take(np.where(codes < 0, 0, codes)), index=dates.index)
    return out.mask(codes < 0).astype("datetime64[us]")


def shift_periods(periods: pd.Series, grain: str, comparison: str) -> pd.Series:
    """Move period starts forward by one period, or by a year (364 days for day/week grains,
    so a weekday meets the same weekday, as STR compares)."""
    if comparison == "previous_period":
        step = {"day": pd.DateOffset(days=1), "week": pd.DateOffset(days=7)}.get(
            grain, pd.DateOffset(months=1) if grain == "month" else pd.DateOffset(years=1)
        )
    else:
        step = pd.DateOffset(days=364) if grain in ("day", "week") else pd.DateOffset(years=1)
    return (pd.DatetimeIndex(periods) + step).to_series(index=periods.index)


def _window(spec: KpiSpec) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    start = pd.Timestamp(spec.start) if spec.start else None
    if start is not None and spec.comparisons:
        start = start - pd.DateOffset(years=1, months=1)  # room for last-year comparisons
    return start, pd.Timestamp(spec.end) if spec.end else None


def _between(s: pd.Series, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.Series:
    ok = pd.Series(True, index=s.index)
    if start is not None:
        ok &= s >= start
    if end is not None:
        ok &= s <= end
    return ok


def _night_facts(nights: pd.DataFrame, spec: KpiSpec, keys: list[str]) -> pd.DataFrame:
    start, end = _window(spec)
    n = nights[_between(nights["stay_date"], start, end)]
    if not spec.include_complimentary:
        n = n[~n["is_complimentary"]]
    n = n.assign(period=period_start(n["stay_date"], spec.grain))
    g = n.groupby(keys, observed=True, sort=False)
    return g.agg(
        rooms_sold=("stay_date", "size"),
        room_revenue=("room_revenue", "sum"),
        other_revenue=("other_revenue", lambda s: s.sum(min_count=1)),
    )


def _booking_facts(res: pd.DataFrame, spec: KpiSpec, keys: list[str]) -> pd.DataFrame:
    start, end = _window(spec)
    r = res[_between(res["arrival_date"], start, end)]
    stayed = ~r["is_cancelled"]
    r = r.assign(
        period=period_start(r["arrival_date"], spec.grain),
        _arr=stayed.astype("int64"),
        _can=r["is_cancelled"].astype("int64"),
        _nights=r["nights"].where(stayed, 0),
        _lead_n=r["lead_time"].notna().astype("int64"),
    )
    g = r.groupby(keys, observed=True, sort=False)
    return g.agg(
        bookings=("_arr", "size"),
        arrivals=("_arr", "sum"),
        cancellations=("_can", "sum"),
        arrival_nights=("_nights", "sum"),
        lead_time_sum=("lead_time", "sum"),
        lead_time_n=("_lead_n", "sum"),
    )


def _pace_facts(res: pd.DataFrame, spec: KpiSpec, keys: list[str]) -> pd.DataFrame:
    cols = ("hotel", "stay_date", "booking_date", "is_cancelled", "status_date")
    cols += ("is_complimentary", *(d for d in spec.dimensions if d != "hotel"))
    nights = expand_nights(res[res["nights"] > 0], cols)
    as_of = pd.Timestamp(spec.as_of) if spec.as_of else res["booking_date"].max()
    start, end = _window(spec)
    n = nights[_between(nights["stay_date"], max(as_of, start or as_of), end)]
    if not spec.include_complimentary:
        n = n[~n["is_complimentary"]]
    cancel = n["status_date"].where(n["is_cancelled"])

    def on_books(t: pd.Timestamp) -> pd.Series:
        return ((n["booking_date"] <= t) & ~(cancel <= t)).astype("int64")

    n = n.assign(
        period=period_start(n["stay_date"], spec.grain),
        rooms_on_books=on_books(as_of),
        _before=on_books(as_of - pd.Timedelta(days=spec.pickup_days)),
    )
    g = n.groupby(keys, observed=True, sort=False)
    out = g.agg(rooms_on_books=("rooms_on_books", "sum"), _before=("_before", "sum"))
    out["pickup"] = out["rooms_on_books"] - out.pop("_before")
    return out


def _inventory_facts(
    inventory: pd.DataFrame, spec: KpiSpec, keys: list[str], hotels: Sequence[str]
) -> pd.DataFrame:
    start, end = _window(spec)
    inv = inventory[_between(inventory["date"], start, end) & inventory["hotel"].isin(hotels)]
    inv = inv.assign(period=period_start(inv["date"], spec.grain))
    inv_keys = [k for k in keys if k in ("period", "hotel")]
    return inv.groupby(inv_keys, observed=True, sort=False).agg(
        rooms_available=("rooms_available", "sum")
    )


def _check_capacity(nights: pd.DataFrame, inventory: pd.DataFrame) -> None:
    sold = nights.groupby(["hotel", "stay_date"], observed=True).size().rename("sold")
    inv = inventory.set_index(["hotel", "date"])["rooms_available"]
    inv.index = inv.index.set_names(["hotel", "stay_date"])
    both = pd.concat([sold, inv], axis=1, join="inner")
    over = both[both["sold"] > both["rooms_available"]]
    if not over.empty:
        worst = over.assign(d=over["sold"] - over["rooms_available"]).sort_values("d").iloc[-1]
        hotel, day = worst.name
        raise StepConfigError(
            f"rooms for {hotel!r} is {int(worst['rooms_available'])}, but "
            f"{int(worst['sold'])} rooms were occupied on {day:%Y-%m-%d} "
            f"({len(over)} nights over capacity): configure at least "
            f"{int(over.loc[hotel]['sold'].max())} rooms"
        )


def _missing_inventory(
    hotels: Sequence[str], inventory: pd.DataFrame, spec: KpiSpec, warnings: list[str]
) -> list[str]:
    needs = [m for m in spec.metrics if "inventory" in METRICS[m].needs]
    have = set(inventory["hotel"].unique()) if not inventory.empty else set()
    missing = sorted(h for h in hotels if h not in have)
    if not needs or not missing:
        return []
    text = (
        f"{', '.join(needs)} need room inventory, but hotel(s) {', '.join(map(repr, missing))} "
        f"have none: configure rooms per hotel (e.g. rooms: {{{missing[0]!r}: 120}})"
        + (f"; configured: {', '.join(sorted(map(repr, have)))}" if have else "")
    )
    if spec.on_missing_inventory == "error":
        raise StepConfigError(text)
    warnings.append(text)
    return missing


def _ratios(t: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    def div(a: str, b: str) -> pd.Series:
        den = t[b].where(t[b] > 0) if b in t.columns else np.nan
        return t[a] / den if a in t.columns else pd.Series(np.nan, index=t.index)

    derived = {
        "occupancy": lambda: div("rooms_sold", "rooms_available"),
        "adr": lambda: div("room_revenue", "rooms_sold"),
        "revpar": lambda: div("room_revenue", "rooms_available"),
        "trevpar": lambda: (
            (t["room_revenue"] + t["other_revenue"])
            / t["rooms_available"].where(t["rooms_available"] > 0)
        ),
        "cancellation_rate": lambda: div("cancellations", "bookings"),
        "alos": lambda: div("arrival_nights", "arrivals"),
        "avg_lead_time": lambda: div("lead_time_sum", "lead_time_n"),
    }
    out = t.copy()
    for m in metrics:
        if m in derived:
            out[m] = derived[m]()
    return out


def _compare(t: pd.DataFrame, spec: KpiSpec, keys: list[str]) -> pd.DataFrame:
    metrics = list(spec.metrics)
    for comparison in spec.comparisons:
        suffix, change = _SUFFIXES[comparison]
        other = t[keys + metrics].copy()
        other["period"] = shift_periods(other["period"], spec.grain, comparison)
        other = other.rename(columns={m: m + suffix for m in metrics})
        t = t.merge(other, on=keys, how="left")
        for m in metrics:
            base = t[m + suffix]
            t[m + change] = t[m] / base.where(base != 0) - 1
    return t


def _trim(t: pd.DataFrame, spec: KpiSpec) -> pd.DataFrame:
    if spec.start is not None:
        t = t[t["period"] >= period_start(pd.Series([pd.Timestamp(spec.start)]), spec.grain)[0]]
    return t


def compute_kpis(
    reservations: pd.DataFrame,
    inventory: pd.DataFrame,
    spec: KpiSpec,
    nights: pd.DataFrame | None = None,
) -> KpiResult:
    """Compute the KPI table for `spec` from canonical reservations, room inventory and
    (optionally precomputed) stay nights.

    Raises:
        StepExecutionError: no reservations, or none in the date range.
        StepConfigError: inventory is missing or smaller than the rooms occupied.
    """
    if reservations.empty:
        raise StepExecutionError("no reservations to compute KPIs from")
    nights = stay_nights(reservations) if nights is None else nights
    warnings: list[str] = []
    hotels = sorted(reservations["hotel"].unique())
    skipped = _missing_inventory(hotels, inventory, spec, warnings)
    needs = set().union(*(METRICS[m].needs for m in spec.metrics))
    if "inventory" in needs:
        _check_capacity(nights, inventory)
    keys = ["period", *spec.dimensions]
    parts = []
    if needs & {"nights", "inventory"}:
        parts.append(_night_facts(nights, spec, keys))
    if "bookings" in needs:
        parts.append(_booking_facts(reservations, spec, keys))
    if "pace" in needs:
        parts.append(_pace_facts(reservations, spec, keys))
    facts = pd.concat(parts, axis=1, join="outer") if len(parts) > 1 else parts[0]
    if "other" in needs and facts["other_revenue"].isna().all():
        raise StepConfigError(
            "trevpar needs other revenue (F&B, extras) and this source has none: "
            "use revpar, or model a source with folio or POS revenue"
        )
    facts = _with_inventory(facts, inventory, spec, keys, [h for h in hotels if h not in skipped])
    if facts.empty:
        raise StepExecutionError(_no_data_message(reservations, spec))
    t = _fill_counts(facts.reset_index())
    t = _ratios(t, spec.metrics)
    t = _compare(t.sort_values(keys, kind="stable"), spec, keys)
    t = _trim(t, spec)
    if t.empty:
        raise StepExecutionError(_no_data_message(reservations, spec))
    suffixes = [s for c in spec.comparisons for s in _SUFFIXES[c]]
    columns = keys + list(spec.metrics) + [m + s for s in suffixes for m in spec.metrics]
    return KpiResult(t[columns].reset_index(drop=True), warnings)


def _fill_counts(t: pd.DataFrame) -> pd.DataFrame:
    # A period present in one fact table but not another had none of the other's events.
    for c in ("rooms_sold", "room_revenue", "bookings", *_COUNTS, "rooms_on_books", "pickup"):
        if c in t.columns:
            t[c] = t[c].fillna(0)
            if c != "room_revenue":
                t[c] = t[c].astype("int64")
    return t


def _with_inventory(
    facts: pd.DataFrame,
    inventory: pd.DataFrame,
    spec: KpiSpec,
    keys: list[str],
    hotels: Sequence[str],
) -> pd.DataFrame:
    needs = set().union(*(METRICS[m].needs for m in spec.metrics))
    if "inventory" not in needs:
        return facts
    inv = _inventory_facts(inventory, spec, keys, hotels)
    on = [k for k in keys if k in ("period", "hotel")]
    if on == keys:  # hotel-level table: every night of inventory gets a row, sold or not
        facts = facts.join(inv, how="outer")
    else:
        facts = facts.reset_index().merge(inv.reset_index(), on=on, how="left").set_index(keys)
    return facts


def _no_data_message(res: pd.DataFrame, spec: KpiSpec) -> str:
    first, last = res["arrival_date"].min(), res["departure_date"].max()
    return (
        f"no data between {spec.start or 'the start'} and {spec.end or 'the end'}: "
        f"the reservations cover {first:%Y-%m-%d} to {last:%Y-%m-%d}"
    )


def headline(table: pd.DataFrame, spec: KpiSpec, data_end: pd.Timestamp) -> list[dict[str, Any]]:
    """Return, per hotel, the metrics of the last period that ends on or before `data_end`
    (hotel-level tables only; changes as fractions: 0.05 is +5 %)."""
    if "hotel" not in table.columns or table.empty:
        return []
    if list(spec.dimensions) != ["hotel"]:
        return []
    ends = shift_periods(table["period"], spec.grain, "previous_period") - pd.Timedelta(days=1)
    full = table[ends.to_numpy() <= data_end]
    out = []
    for hotel, rows in full.groupby("hotel", observed=True):
        last = rows.sort_values("period").iloc[-1]
        item: dict[str, Any] = {"hotel": str(hotel), "period": f"{last['period']:%Y-%m-%d}"}
        for col in table.columns:
            quoted = col in spec.metrics or col.endswith(("_yoy", "_pop"))
            if quoted and pd.notna(last[col]):
                item[col] = round(float(last[col]), 4)
        out.append(item)
    return out
