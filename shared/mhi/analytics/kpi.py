"""The pandas reference implementation of the KPIs: vectorised, in memory, for tests and small
extracts. The product computes KPIs in the warehouse (`mhi.analytics.kpi_sql`); tests hold the
two to the same figures. Formulas and sources: `mhi.analytics.metrics`.

Documented results for awkward input:
  - a period where no room was sold has occupancy 0 and an empty ADR (0 / 0 is not a rate);
  - a hotel without room inventory: `on_missing_inventory` "skip" (the default) leaves its
    inventory-based metrics empty and says so in `warnings`; "error" raises;
  - rooms_on_books and pickup cover stay dates on or after `as_of`, final_pickup those before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from mhi.analytics import kpi_checks
from mhi.analytics.kpi_spec import SUFFIXES, KpiSpec, all_ranges, shift, window_start
from mhi.analytics.kpi_spec import period_start as first_day
from mhi.analytics.modeling import expand_nights, stay_nights
from mhi.errors import StepExecutionError

logger = logging.getLogger(__name__)

_PACE_COLUMNS = ("hotel", "stay_date", "booking_date", "is_cancelled", "status_date", "status")


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


def data_range(res: pd.DataFrame) -> tuple[date, date]:
    """Return the first arrival and the last night of the reservations."""
    last_night = (res["departure_date"] - pd.Timedelta(days=1)).where(res["nights"] > 0)
    last = max(last_night.max(), res["arrival_date"].max())
    return res["arrival_date"].min().date(), last.date()


def _ts(day: date | None) -> pd.Timestamp | None:
    return pd.Timestamp(day) if day is not None else None


class Frames:
    """Fact tables of one spec, each grouped by (period, dimensions)."""

    def __init__(self, spec: KpiSpec, first: date, last: date, as_of: pd.Timestamp) -> None:
        self.spec, self.as_of = spec, as_of
        self.ranges = all_ranges(spec, spec.start or first, spec.end or last)
        self.lo, self.hi = _ts(window_start(spec)), _ts(spec.end)

    def grouped(self, rows: pd.DataFrame, day: str, keys: list[str]) -> Any:
        """Return the rows with their periods, grouped by `keys`."""
        return self.with_periods(rows, day).groupby(keys, observed=True, sort=False)

    def with_periods(self, rows: pd.DataFrame, day: str) -> pd.DataFrame:
        """Return the rows in the window with their period (grain `all`: a copy per range)."""
        if self.spec.grain != "all":
            ok = pd.Series(True, index=rows.index)
            ok &= rows[day] >= self.lo if self.lo is not None else True
            ok &= rows[day] <= self.hi if self.hi is not None else True
            rows = rows[ok].assign(period=period_start(rows.loc[ok, day], self.spec.grain))
        else:
            parts = [
                rows[(rows[day] >= pd.Timestamp(lo)) & (rows[day] <= pd.Timestamp(hi))].assign(
                    period=pd.Timestamp(p)
                )
                for p, lo, hi in self.ranges
            ]
            rows = pd.concat(parts, ignore_index=True)
            rows["period"] = rows["period"].astype("datetime64[us]")
        return rows

    def nights(self, nights: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        if not self.spec.include_complimentary:
            nights = nights[~nights["is_complimentary"]]
        g = self.grouped(nights, "stay_date", keys)
        return g.agg(
            rooms_sold=("stay_date", "size"),
            rated_rooms=("room_revenue", "count"),
            room_revenue=("room_revenue", lambda s: s.sum(min_count=1)),
            other_revenue=("other_revenue", lambda s: s.sum(min_count=1)),
        )

    def inventory(
        self, inventory: pd.DataFrame, hotels: list[str], keys: list[str]
    ) -> pd.DataFrame:
        inv = inventory[inventory["hotel"].isin(hotels)]
        inv_keys = [k for k in keys if k in ("period", "hotel")]
        return self.grouped(inv, "date", inv_keys).agg(rooms_available=("rooms_available", "sum"))

    def bookings(self, res: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        stayed = ~res["is_cancelled"] & (res["nights"] > 0)
        r = res.assign(
            _arr=(~res["is_cancelled"]).astype("int64"),
            _stays=stayed.astype("int64"),
            _nights=res["nights"].where(stayed),
            **{f"_{s}": (res["status"] == s).astype("int64") for s in _STATUS_FACTS},
        )
        g = self.grouped(r, "arrival_date", keys)
        out = g.agg(
            bookings=("_arr", "size"),
            arrivals=("_arr", "sum"),
            **{f: (f"_{s}", "sum") for s, f in _STATUS_FACTS.items()},
            arrival_nights=("_nights", lambda s: s.sum(min_count=1)),
            stays=("_stays", "sum"),
            lead_sum=("lead_time", lambda s: s.sum(min_count=1)),
            lead_n=("lead_time", "count"),
            lead_median=("lead_time", "median"),
        )
        return out

    def pace_nights(self, res: pd.DataFrame) -> pd.DataFrame:
        """Return every night of every booking (cancelled or not) with dated status."""
        r = res[res["nights"] > 0]
        if not self.spec.include_complimentary:
            r = r[~r["is_complimentary"]]
        cols = tuple(dict.fromkeys((*_PACE_COLUMNS, *self.spec.dimensions)))
        return expand_nights(r.assign(status_date=r["status_date"].dt.normalize()), cols)

    def pace(self, res: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        n = self.pace_nights(res)
        k = pd.Timedelta(days=self.spec.pickup_days)
        future = n["stay_date"] >= self.as_of
        n = n.assign(
            _otb=on_books(n, self.as_of).where(future),
            _pickup=(on_books(n, self.as_of) - on_books(n, self.as_of - k)).where(future),
            _final=(on_books(n, n["stay_date"]) - on_books(n, n["stay_date"] - k)).where(~future),
        )
        g = self.grouped(n, "stay_date", keys)
        total = lambda s: s.sum(min_count=1)  # noqa: E731
        return g.agg(
            rooms_on_books=("_otb", total),
            pickup=("_pickup", total),
            final_pickup=("_final", total),
        )


_STATUS_FACTS = {
    "cancelled": "cancellations",
    "no_show": "no_shows",
    "confirmed": "confirmed_bookings",
    "checked_in": "checked_in_bookings",
    "checked_out": "checked_out_bookings",
}


def on_books(nights: pd.DataFrame, t: pd.Timestamp | pd.Series) -> pd.Series:
    """Return 1 where a night is on the books at `t`: booked by then and not cancelled by then
    (a cancellation without a date counts from the start)."""
    cancel = nights["status_date"]
    cancelled = nights["is_cancelled"] & (cancel.isna() | (cancel <= t))
    return ((nights["booking_date"] <= t) & ~cancelled).astype("float64")


def _metrics(t: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    col = lambda c: t[c] if c in t.columns else pd.Series(np.nan, index=t.index)  # noqa: E731
    sold, rated, revenue = col("rooms_sold").fillna(0), col("rated_rooms"), col("room_revenue")
    avail = col("rooms_available").where(col("rooms_available") > 0)
    est = revenue.where(rated == sold, revenue * sold / rated.where(rated > 0)).mask(sold == 0, 0.0)
    values = {
        "rooms_available": lambda: col("rooms_available"),
        "rooms_sold": lambda: sold,
        "unrated_rooms": lambda: sold - rated.fillna(0),
        "room_revenue": lambda: revenue.fillna(0.0),
        "occupancy": lambda: sold / avail,
        "adr": lambda: revenue / rated.where(rated > 0),
        "revpar": lambda: est / avail,
        "trevpar": lambda: (est + col("other_revenue").fillna(0.0)) / avail,
        "cancellation_rate": lambda: col("cancellations").fillna(0) / col("bookings"),
        "no_show_rate": lambda: col("no_shows").fillna(0) / col("bookings"),
        "alos": lambda: col("arrival_nights") / col("stays").where(col("stays") > 0),
        "avg_lead_time": lambda: col("lead_sum") / col("lead_n").where(col("lead_n") > 0),
        "median_lead_time": lambda: col("lead_median"),
    }
    counts = ("bookings", "arrivals", *_STATUS_FACTS.values())
    out = t[[c for c in t.columns if c == "period" or c not in values]].copy()
    for m in metrics:
        if m in counts:
            out[m] = col(m).fillna(0)
        elif m in values:
            out[m] = values[m]()
        else:
            out[m] = col(m)
    return out


def _compare(t: pd.DataFrame, spec: KpiSpec, keys: list[str], frames: Frames) -> pd.DataFrame:
    metrics = list(spec.metrics)
    for i, comparison in enumerate(spec.active_comparisons()):
        suffix, change = SUFFIXES[comparison]
        other = t[keys + metrics].copy()
        if spec.grain == "all":  # the comparison range's row stands beside the range's row
            this, theirs = frames.ranges[0][0], frames.ranges[1 + i][0]
            other = other[other["period"] == pd.Timestamp(theirs)]
            other["period"] = pd.Timestamp(this)
        else:
            moved = {p: shift(p.date(), spec.grain, comparison) for p in other["period"].unique()}
            other["period"] = pd.to_datetime(other["period"].map(moved))
        other["period"] = other["period"].astype("datetime64[us]")
        t = t.merge(other.rename(columns={m: m + suffix for m in metrics}), on=keys, how="left")
        for m in metrics:
            base = t[m + suffix]
            t[m + change] = t[m] / base.where(base != 0) - 1
    return t


def _check_capacity(nights: pd.DataFrame, inventory: pd.DataFrame, frames: Frames) -> None:
    lo, hi = frames.lo, frames.hi
    n = nights[(nights["stay_date"] >= lo) if lo is not None else slice(None)]
    n = n[(n["stay_date"] <= hi)] if hi is not None else n
    sold = n.groupby(["hotel", "stay_date"], observed=True).size().rename("sold")
    inv = inventory.groupby(["hotel", "date"], observed=True)["rooms_available"].sum()
    inv.index = inv.index.set_names(["hotel", "stay_date"])
    both = pd.concat([sold, inv], axis=1, join="inner")
    over = both[both["sold"] > both["rooms_available"]].reset_index()
    if over.empty:
        return
    over = over.assign(d=over["sold"] - over["rooms_available"])
    worst = over.sort_values(["d", "hotel", "stay_date"], ascending=[False, True, True]).iloc[0]
    peak = int(over.loc[over["hotel"] == worst["hotel"], "sold"].max())
    kpi_checks.over_capacity(
        str(worst["hotel"]),
        int(worst["rooms_available"]),
        int(worst["sold"]),
        worst["stay_date"].date(),
        len(over),
        peak,
    )


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
        StepConfigError: inventory is missing (when asked to fail) or smaller than the rooms
            occupied; TRevPAR without other revenue.
    """
    if reservations.empty:
        raise StepExecutionError("no reservations to compute KPIs from")
    first, last = data_range(reservations)
    kpi_checks.check_range(spec, first, last)
    nights = stay_nights(reservations) if nights is None else nights
    warnings: list[str] = []
    kpi_checks.dropped_comparisons(spec, warnings)
    hotels = sorted(reservations["hotel"].unique())
    kpi_checks.missing_inventory(hotels, inventory["hotel"].unique(), spec, warnings)
    needs = spec.needs()
    as_of = pd.Timestamp(spec.as_of) if spec.as_of else reservations["booking_date"].max()
    frames = Frames(spec, first, last, as_of)
    if "inventory" in needs:
        _check_capacity(nights, inventory, frames)
    if "other" in needs and nights["other_revenue"].isna().all():
        kpi_checks.no_other_revenue()
    t = _facts(reservations, nights, inventory, hotels, frames)
    t = _compare(_metrics(t, list(spec.metrics)), spec, ["period", *spec.dimensions], frames)
    trim = frames.ranges[0][0] if spec.grain == "all" else spec.start
    if trim is not None:
        t = t[t["period"] >= pd.Timestamp(first_day(trim, spec.grain))]
    if t.empty:
        raise StepExecutionError(kpi_checks.no_data(spec, first, last))
    t = t.sort_values(["period", *spec.dimensions], kind="stable")
    return KpiResult(t[spec.output_columns()].reset_index(drop=True), warnings)


def _facts(
    res: pd.DataFrame,
    nights: pd.DataFrame,
    inventory: pd.DataFrame,
    hotels: list[str],
    frames: Frames,
) -> pd.DataFrame:
    """Return every needed fact per key: the union of the sources' keys, left-joined."""
    spec, needs = frames.spec, frames.spec.needs()
    keys = ["period", *spec.dimensions]
    parts: dict[str, pd.DataFrame] = {}
    if "nights" in needs:
        parts["nights"] = frames.nights(nights, keys)
    if "bookings" in needs:
        parts["bookings"] = frames.bookings(res, keys)
    if "pace" in needs:
        parts["pace"] = frames.pace(res, keys)
    inv = frames.inventory(inventory, hotels, keys) if "inventory" in needs else None
    key_frames = [p.index.to_frame(index=False) for p in parts.values()]
    if inv is not None and set(spec.dimensions) <= {"hotel"}:
        key_frames.append(inv.index.to_frame(index=False))
    if not key_frames:
        return pd.DataFrame(columns=keys)
    t = pd.concat(key_frames, ignore_index=True).drop_duplicates()
    for part in parts.values():
        t = t.merge(part.reset_index(), on=keys, how="left")
    if inv is not None:
        t = t.merge(inv.reset_index(), on=list(inv.index.names), how="left")
    return t


def headline(table: pd.DataFrame, spec: KpiSpec, data_end: pd.Timestamp) -> list[dict[str, Any]]:
    """Return, per hotel, the metrics of the last period that ends on or before `data_end`
    (hotel-level tables only; grain `all`: its one row; changes as fractions: 0.05 is +5 %)."""
    if table.empty or list(spec.dimensions) != ["hotel"]:
        return []
    periods = pd.to_datetime(table["period"])
    if spec.grain == "all":
        full = table
    else:
        ends = periods.map(lambda p: shift(p.date(), spec.grain, "previous_period"))
        full = table[pd.to_datetime(ends) - pd.Timedelta(days=1) <= data_end]
    out = []
    for hotel, rows in full.groupby("hotel", observed=True):
        last = rows.assign(_p=pd.to_datetime(rows["period"])).sort_values("_p").iloc[-1]
        item: dict[str, Any] = {"hotel": str(hotel), "period": f"{last['_p']:%Y-%m-%d}"}
        for col in table.columns:
            quoted = col in spec.metrics or col.endswith(("_yoy", "_pop"))
            if quoted and pd.notna(last[col]):
                item[col] = round(float(last[col]), 4)
        out.append(item)
    return out
