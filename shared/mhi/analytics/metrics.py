"""The KPI catalogue: every metric's formula, the data it needs and where the definition comes from.

Sources cited:
  [STR]   STR (CoStar) Glossary, https://str.com/data-insights/resources/glossary
  [USALI] Uniform System of Accounts for the Lodging Industry, 12th ed. (HFTP/AHLA, 2023):
          complimentary rooms are not rooms sold and carry no room revenue.
  [AAN]   Antonio, de Almeida & Nunes, "Hotel booking demand datasets", Data in Brief 22 (2019):
          is_canceled covers cancellations and no-shows (here: cancellations + no_shows);
          lead time = days from booking to arrival.
  [RM]    Revenue-management usage (Ivanov, "Hotel Revenue Management", 2014, ch. 6): rooms on the
          books (OTB) at a snapshot date, pickup between two snapshots, the pace curve (OTB by
          days before arrival) against the same time last year (STLY).

Stay-date metrics count room-nights on the night they are used; booking metrics count bookings
on their arrival date (so a month's cancellation rate is that of bookings due to arrive in it).
Occupancy and RevPAR by a segment divide the segment's rooms by the hotel's rooms available:
segments then add up to the hotel figure (their contribution).

Validation policy: a booking whose rate is negative, absurd or missing keeps its nights, status
and lead time in every count; only its revenue is left out (the validation report lists it).
ADR is then taken over the rooms whose rate is known, and RevPAR stays occupancy × ADR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mhi.errors import StepConfigError

OnMissingInventory = Literal["error", "skip"]
# The one default for hotels without room inventory, for the engine, the step and the CLI:
# inventory-based metrics are left empty and a warning says which hotels need rooms configured.
DEFAULT_ON_MISSING_INVENTORY: OnMissingInventory = "skip"

# Modeling: a nightly rate above this many times the hotel's median is taken for a data error.
RATE_OUTLIER_FACTOR = 10.0

STATUSES = ("confirmed", "checked_in", "checked_out", "cancelled", "no_show")
SEGMENT_DIMENSIONS = (
    "market_segment",
    "distribution_channel",
    "room_type",
    "assigned_room_type",
    "country",
    "customer_type",
    "board",
    "deposit_type",
)
DIMENSIONS = ("hotel", "status", *SEGMENT_DIMENSIONS)
GRAINS = ("day", "week", "month", "year", "all")
COMPARISONS = ("previous_period", "last_year")
DEFAULT_METRICS = ("occupancy", "adr", "revpar")


@dataclass(frozen=True)
class Metric:
    """One KPI: what it means, its formula, what it needs, where it is defined."""

    name: str
    formula: str
    needs: frozenset[str]
    source: str
    description: str = ""
    kind: Literal["count", "amount", "ratio"] = "ratio"


def _m(
    name: str,
    formula: str,
    needs: str,
    source: str,
    kind: Literal["count", "amount", "ratio"] = "ratio",
    description: str = "",
) -> Metric:
    return Metric(name, formula, frozenset(needs.split()), source, description, kind)


_STATUS_COUNTS = tuple(
    _m(f"{s}_bookings", f"bookings due in the period with status {s}", "bookings", "AAN", "count")
    for s in ("confirmed", "checked_in", "checked_out")
)

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        _m("rooms_available", "Σ rooms per hotel per night", "inventory", "STR", "count"),
        _m(
            "rooms_sold",
            "Σ occupied room-nights (complimentary excluded)",
            "nights",
            "STR USALI",
            "count",
        ),
        _m(
            "unrated_rooms",
            "rooms sold whose booking's rate was excluded",
            "nights",
            "USALI",
            "count",
        ),
        _m(
            "room_revenue",
            "Σ nightly room rate over rooms sold with a valid rate",
            "nights",
            "USALI",
            "amount",
        ),
        _m("occupancy", "rooms_sold / rooms_available", "nights inventory", "STR"),
        _m(
            "adr",
            "room_revenue / (rooms_sold − unrated_rooms)",
            "nights",
            "STR",
            description="average daily rate",
        ),
        _m(
            "revpar",
            "occupancy × adr  (= room_revenue / rooms_available when every rate is valid)",
            "nights inventory",
            "STR",
        ),
        _m(
            "trevpar",
            "revpar + other_revenue / rooms_available",
            "nights inventory other",
            "STR",
            description="total revenue per available room; needs other (F&B, extras) revenue",
        ),
        _m(
            "bookings",
            "bookings due to arrive in the period, whatever their status",
            "bookings",
            "AAN",
            "count",
        ),
        _m(
            "arrivals",
            "bookings arriving in the period, neither cancelled nor no-show",
            "bookings",
            "STR",
            "count",
        ),
        _m(
            "cancellations",
            "bookings due in the period with status cancelled (no-shows excluded)",
            "bookings",
            "AAN",
            "count",
        ),
        _m(
            "no_shows", "bookings due in the period with status no_show", "bookings", "AAN", "count"
        ),
        _m("cancellation_rate", "cancellations / bookings", "bookings", "AAN"),
        _m("no_show_rate", "no_shows / bookings", "bookings", "AAN"),
        *_STATUS_COUNTS,
        _m(
            "alos",
            "Σ nights of arrivals / arrivals, zero-night (day-use) stays excluded",
            "bookings",
            "STR",
            description="average length of stay",
        ),
        _m("avg_lead_time", "mean(arrival − booking date) over bookings, days", "bookings", "AAN"),
        _m(
            "median_lead_time",
            "median(arrival − booking date) over bookings, days",
            "bookings",
            "AAN",
        ),
        _m(
            "rooms_on_books",
            "room-nights booked by as_of, not cancelled by then; stay dates on or after as_of",
            "pace",
            "RM",
            "count",
            "on the books (OTB) at the snapshot date",
        ),
        _m(
            "pickup",
            "OTB(as_of) − OTB(as_of − pickup_days), stay dates on or after as_of",
            "pace",
            "RM",
            "count",
            "rooms picked up over the last pickup_days days",
        ),
        _m(
            "final_pickup",
            "Σ over nights before as_of of OTB(stay date) − OTB(stay date − pickup_days)",
            "pace",
            "RM",
            "count",
            "rooms picked up in the last pickup_days days before each night, once it is past",
        ),
    )
}

PACE_CURVE = (
    "pace curve (pace_curve_days): rooms on the books for the period's nights d days before each "
    "night, d = 0..pace_curve_days, beside the same period last year (STLY) [RM]"
)


def check_metrics(names: list[str] | tuple[str, ...]) -> list[str]:
    """Return the metric names, or raise StepConfigError listing the valid ones."""
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise StepConfigError(
            f"unknown metric{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
            f"valid metrics are {', '.join(METRICS)}"
        )
    if not names:
        raise StepConfigError(f"no metrics requested: choose from {', '.join(METRICS)}")
    return list(dict.fromkeys(names))


def check_choice(kind: str, value: str, valid: tuple[str, ...]) -> str:
    """Return `value` when it is one of `valid`, else raise StepConfigError listing them."""
    if value not in valid:
        raise StepConfigError(f"unknown {kind} {value!r}: valid values are {', '.join(valid)}")
    return value


def metric_table() -> list[tuple[str, str, str]]:
    """Return (name, formula, source) rows, for documentation and `mhi kpi --help`."""
    return [(m.name, m.formula, m.source) for m in METRICS.values()]


def sources_legend() -> str:
    """Return the cited sources, one per line, as the module docstring gives them."""
    doc = __doc__ or ""
    return doc[doc.index("  [STR]") : doc.index("\n\nStay-date")]
