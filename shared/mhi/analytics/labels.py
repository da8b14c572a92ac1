"""Words, units and number formats of the KPIs, shared by the charts and the KPI report."""

from __future__ import annotations

from datetime import date
from typing import Literal

import pandas as pd

Unit = Literal["percent", "currency", "count", "days", "nights", "score"]

# metric -> (name in words, unit); metrics not listed get their name spelled out, as a count.
_LABELS: dict[str, tuple[str, Unit]] = {
    "occupancy": ("Occupancy", "percent"),
    "adr": ("Average daily rate (ADR)", "currency"),
    "revpar": ("Revenue per available room (RevPAR)", "currency"),
    "trevpar": ("Total revenue per available room (TRevPAR)", "currency"),
    "room_revenue": ("Room revenue", "currency"),
    "rooms_sold": ("Rooms sold", "nights"),
    "rooms_available": ("Rooms available", "nights"),
    "unrated_rooms": ("Rooms sold without a valid rate", "nights"),
    "room_nights": ("Room nights", "nights"),
    "total_revenue": ("Total revenue", "currency"),
    "food_and_beverage_revenue": ("Food and beverage revenue", "currency"),
    "other_operated_revenue": ("Other operated revenue (events)", "currency"),
    "gop": ("Gross operating profit (GOP)", "currency"),
    "goppar": ("GOP per available room (GOPPAR)", "currency"),
    "cost_per_occupied_room": ("Cost per occupied room", "currency"),
    "review_score": ("Review score", "score"),
    "reputation_index": ("Reputation index", "score"),
    "cancellation_rate": ("Cancellation rate", "percent"),
    "no_show_rate": ("No-show rate", "percent"),
    "alos": ("Average length of stay", "nights"),
    "avg_lead_time": ("Average booking lead time", "days"),
    "median_lead_time": ("Median booking lead time", "days"),
    "rooms_on_books": ("Rooms on the books", "nights"),
    "bookings": ("Bookings", "count"),
    "arrivals": ("Arrivals", "count"),
    "cancellations": ("Cancellations", "count"),
    "no_shows": ("No-shows", "count"),
}

GRAIN_WORDS = {"day": "Day", "week": "Week (starting Monday)", "month": "Month", "year": "Year"}
_GRAIN_ADVERB = {"day": "daily", "week": "weekly", "month": "monthly", "year": "yearly"}
_FREQ_GRAIN = {"D": "day", "W": "week", "M": "month", "MS": "month", "Y": "year"}


def metric_name(metric: str) -> str:
    """Return the metric's name in words (e.g. 'Average daily rate (ADR)')."""
    if metric in _LABELS:
        return _LABELS[metric][0]
    return metric.replace("_", " ").strip().capitalize()


def metric_unit(metric: str) -> Unit:
    """Return the unit of a metric: percent, currency, count, days or nights."""
    return _LABELS[metric][1] if metric in _LABELS else "count"


def axis_label(metric: str, currency: str) -> str:
    """Return the value-axis label of a metric with its unit (e.g. 'Room revenue (EUR)')."""
    unit = metric_unit(metric)
    words = {"percent": "%", "currency": currency.upper(), "count": "number", "score": "points"}
    suffix = words.get(unit, unit)
    return f"{metric_name(metric)} ({suffix})"


def grain_adverb(grain: str) -> str:
    """Return 'monthly' for 'month' (and the grain itself when unknown)."""
    return _GRAIN_ADVERB.get(grain, grain)


def freq_grain(freq: str) -> str:
    """Return the KPI grain of a forecast frequency code ('M' -> 'month')."""
    return _FREQ_GRAIN.get(freq.upper(), "day")


def format_value(metric: str, value: float | None, currency: str) -> str:
    """Format a figure for a reader: '82.3 %', 'EUR 1,234.50', '12,345'; '–' when empty."""
    if value is None or pd.isna(value):
        return "–"
    unit = metric_unit(metric)
    if unit == "percent":
        return f"{value * 100:.1f} %"
    if unit == "currency":
        decimals = 0 if abs(value) >= 10_000 else 2
        return f"{currency.upper()} {value:,.{decimals}f}"
    if unit == "score" or (unit in ("days", "nights") and abs(value) < 100):
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def format_change(value: float | None) -> str:
    """Format a relative change given as a fraction: 0.053 -> '+5.3 %'; '–' when empty."""
    if value is None or pd.isna(value):
        return "–"
    return f"{value * 100:+.1f} %"


def period_end(start: pd.Timestamp, grain: str) -> pd.Timestamp:
    """Return the last day of the period that starts on `start`."""
    if grain == "day":
        return start
    if grain == "week":
        return start + pd.Timedelta(days=6)
    months = 1 if grain == "month" else 12
    return start + pd.DateOffset(months=months) - pd.Timedelta(days=1)


def is_partial(start: pd.Timestamp, grain: str, first: date | None, last: date | None) -> bool:
    """Tell whether a period is not wholly inside the data's complete range [first, last]."""
    if grain == "all":
        return False
    lo = first is not None and start < pd.Timestamp(first)
    hi = last is not None and period_end(start, grain) > pd.Timestamp(last)
    return bool(lo or hi)


def period_label(start: pd.Timestamp, grain: str) -> str:
    """Return a period as a reader writes it: '2017', 'Aug 2017', 'week of 7 Aug 2017'."""
    if grain == "year":
        return f"{start:%Y}"
    if grain == "month":
        return f"{start:%b %Y}"
    if grain == "week":
        return f"week of {start.day} {start:%b %Y}"
    return f"{start.day} {start:%b %Y}"
