"""What a KPI computation asks for (`KpiSpec`), and the date arithmetic both engines share.

Pure standard library: the SQL compiler and the pandas reference implementation both read it.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from mhi.analytics.metrics import (
    COMPARISONS,
    DEFAULT_METRICS,
    DEFAULT_ON_MISSING_INVENTORY,
    DIMENSIONS,
    GRAINS,
    METRICS,
    OnMissingInventory,
    check_choice,
    check_metrics,
)
from mhi.errors import StepConfigError

MAX_PACE_CURVE_DAYS = 730
SUFFIXES = {"previous_period": ("_prev", "_pop"), "last_year": ("_ly", "_yoy")}


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
    on_missing_inventory: OnMissingInventory = DEFAULT_ON_MISSING_INVENTORY
    pace_curve_days: int | None = None

    def __post_init__(self) -> None:
        check_metrics(list(self.metrics))
        check_choice("grain", self.grain, GRAINS)
        for d in self.dimensions:
            check_choice("dimension", d, DIMENSIONS)
        if len(set(self.dimensions)) != len(self.dimensions):
            raise StepConfigError(f"dimensions repeat a name: {list(self.dimensions)}")
        for c in self.comparisons:
            check_choice("comparison", c, COMPARISONS)
        check_choice("on_missing_inventory", self.on_missing_inventory, ("error", "skip"))
        if self.start and self.end and self.start > self.end:
            raise StepConfigError(f"date range is empty: start {self.start} > end {self.end}")
        if not 1 <= self.pickup_days <= 365:
            raise StepConfigError(f"pickup_days must be between 1 and 365, got {self.pickup_days}")
        days = self.pace_curve_days
        if days is not None and not 0 <= days <= MAX_PACE_CURVE_DAYS:
            raise StepConfigError(
                f"pace_curve_days must be between 0 and {MAX_PACE_CURVE_DAYS}, got {days}"
            )

    def needs(self) -> set[str]:
        """Return the kinds of facts the metrics need (nights, bookings, inventory, pace...)."""
        return set().union(*(METRICS[m].needs for m in self.metrics))

    def active_comparisons(self) -> list[str]:
        """Return the comparisons to compute: grain `all` needs both start and end for them."""
        if self.grain == "all" and (self.start is None or self.end is None):
            return []
        return list(dict.fromkeys(self.comparisons))

    def output_columns(self) -> list[str]:
        """Return the table's columns: keys, metrics, then each comparison's metrics."""
        suffixes = [s for c in self.active_comparisons() for s in SUFFIXES[c]]
        metrics = list(self.metrics)
        return ["period", *self.dimensions, *metrics, *(m + s for s in suffixes for m in metrics)]


def add_months(day: date, months: int) -> date:
    """Return `day` moved by whole months, clipped to the month's last day."""
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def period_start(day: date, grain: str) -> date:
    """Return the first day of `day`'s period (weeks start on Monday)."""
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    if grain == "year":
        return day.replace(month=1, day=1)
    return day


def shift(day: date, grain: str, comparison: str, steps: int = 1) -> date:
    """Move a period start forward by `steps` periods, or by `steps` years (364 days for the
    day and week grains, so a weekday meets the same weekday, as STR compares)."""
    if comparison == "last_year":
        if grain in ("day", "week"):
            return day + timedelta(days=364 * steps)
        return add_months(day, 12 * steps)
    if grain in ("day", "week"):
        return day + timedelta(days=(7 if grain == "week" else 1) * steps)
    return add_months(day, {"month": 1, "year": 12}.get(grain, 0) * steps)


def window_start(spec: KpiSpec) -> date | None:
    """Return the first date the facts need: the start, less room for the comparisons."""
    if spec.start is None:
        return None
    if spec.grain == "all":
        return min(r[1] for r in all_ranges(spec, spec.start, spec.end or spec.start))
    if not spec.active_comparisons():
        return period_start(spec.start, spec.grain)
    first = period_start(spec.start, spec.grain)
    return min(shift(first, spec.grain, c, -1) for c in spec.active_comparisons())


def all_ranges(spec: KpiSpec, first: date, last: date) -> list[tuple[date, date, date]]:
    """Return (period, from, to) for grain `all`: the range, then each comparison's range
    (the preceding range of the same length; the same dates a year earlier)."""
    out = [(first, first, last)]
    for c in spec.active_comparisons():
        if c == "previous_period":
            length = (last - first).days + 1
            lo = first - timedelta(days=length)
            out.append((lo, lo, first - timedelta(days=1)))
        else:
            lo = add_months(first, -12)
            out.append((lo, lo, add_months(last, -12)))
    return out
