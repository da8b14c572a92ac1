"""The KPI catalogue: every metric's formula, the data it needs and where the definition comes from.

Sources cited:
  [STR]   STR (CoStar) Glossary, https://str.com/data-insights/resources/glossary
  [USALI] Uniform System of Accounts for the Lodging Industry, 12th ed. (HFTP/AHLA, 2023):
          complimentary rooms are not rooms sold and carry no room revenue.
  [AAN]   Antonio, de Almeida & Nunes, "Hotel booking demand datasets", Data in Brief 22 (2019):
          is_canceled covers cancellations and no-shows; lead time = days booking → arrival.
  [RM]    Revenue-management usage (e.g. Ivanov, "Hotel Revenue Management", 2014, ch. 6):
          on-the-books (OTB) rooms at a snapshot date and pickup between two snapshots.

Stay-date metrics count room-nights on the night they are used; booking metrics count bookings
on their arrival date (so a month's cancellation rate is that of bookings due to arrive in it).
Occupancy and RevPAR by a segment divide the segment's rooms by the hotel's rooms available:
segments then add up to the hotel figure (their contribution).
"""

from __future__ import annotations

from dataclasses import dataclass

from mhi.errors import StepConfigError


@dataclass(frozen=True)
class Metric:
    """One KPI: what it means, its formula, what it needs, where it is defined."""

    name: str
    formula: str
    needs: frozenset[str]
    source: str
    description: str = ""


def _m(name: str, formula: str, needs: str, source: str, description: str = "") -> Metric:
    return Metric(name, formula, frozenset(needs.split()), source, description)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        _m("rooms_available", "Σ rooms per hotel per night", "inventory", "STR"),
        _m("rooms_sold", "Σ occupied room-nights (complimentary excluded)", "nights", "STR USALI"),
        _m("room_revenue", "Σ nightly room rate over rooms sold", "nights", "USALI"),
        _m("occupancy", "rooms_sold / rooms_available", "nights inventory", "STR"),
        _m("adr", "room_revenue / rooms_sold", "nights", "STR", "average daily rate"),
        _m(
            "revpar",
            "room_revenue / rooms_available  (= occupancy × ADR)",
            "nights inventory",
            "STR",
        ),
        _m(
            "trevpar",
            "(room_revenue + other_revenue) / rooms_available",
            "nights inventory other",
            "STR",
            "total revenue per available room; needs other (F&B, extras) revenue",
        ),
        _m("arrivals", "bookings arriving in the period, not cancelled", "bookings", "STR"),
        _m("bookings", "bookings due to arrive in the period, cancelled or not", "bookings", "AAN"),
        _m("cancellations", "cancelled or no-show bookings due in the period", "bookings", "AAN"),
        _m("cancellation_rate", "cancellations / bookings", "bookings", "AAN"),
        _m("alos", "Σ nights of arrivals / arrivals", "bookings", "STR", "average length of stay"),
        _m("avg_lead_time", "mean(arrival − booking date) over bookings, days", "bookings", "AAN"),
        _m(
            "rooms_on_books",
            "room-nights booked by `as_of` and not cancelled by then",
            "pace",
            "RM",
            "on the books (OTB) at the snapshot date",
        ),
        _m(
            "pickup",
            "rooms_on_books(as_of) − rooms_on_books(as_of − pickup_days)",
            "pace",
            "RM",
            "rooms picked up over the last `pickup_days` days",
        ),
    )
}

DEFAULT_METRICS = ("occupancy", "adr", "revpar")
GRAINS = ("day", "week", "month", "year")
COMPARISONS = ("previous_period", "last_year")


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
    """Return (name, formula, source) rows, for documentation and `mhi kpi --list`."""
    return [(m.name, m.formula, m.source) for m in METRICS.values()]
