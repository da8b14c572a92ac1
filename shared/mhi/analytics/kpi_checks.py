"""The checks both KPI engines make before computing, with their messages in one place."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from mhi.analytics.kpi_spec import KpiSpec
from mhi.analytics.metrics import METRICS
from mhi.errors import StepConfigError, StepExecutionError


def missing_inventory(
    hotels: Iterable[str], have: Iterable[str], spec: KpiSpec, warnings: list[str]
) -> list[str]:
    """Return hotels without room inventory when a metric needs it; raise or warn per
    `spec.on_missing_inventory`."""
    needs = [m for m in spec.metrics if "inventory" in METRICS[m].needs]
    have = set(have)
    missing = sorted(h for h in set(hotels) if h not in have)
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


def dropped_comparisons(spec: KpiSpec, warnings: list[str]) -> None:
    """Warn when grain `all` drops the comparisons: it needs a start and an end for them."""
    if spec.comparisons and not spec.active_comparisons():
        warnings.append(
            f"{', '.join(spec.comparisons)} left out: grain all compares a range with the "
            "range before it or a year earlier, so it needs both start and end"
        )


def over_capacity(hotel: str, rooms: int, sold: int, day: date, nights: int, peak: int) -> None:
    """Raise for rooms occupied beyond the inventory: the worst night, how many nights, and
    the room count (`peak`, that hotel's most rooms occupied) that would do."""
    raise StepConfigError(
        f"rooms for {hotel!r} is {rooms}, but {sold} rooms were occupied on {day:%Y-%m-%d} "
        f"({nights} nights over capacity): configure at least {peak} rooms"
    )


def no_other_revenue() -> None:
    """Raise: TRevPAR was asked for and the source has no other revenue."""
    raise StepConfigError(
        "trevpar needs other revenue (F&B, extras) and this source has none: "
        "use revpar, or model a source with folio or POS revenue"
    )


def check_range(spec: KpiSpec, first: date, last: date) -> None:
    """Raise when the requested range misses the data (`first` arrival to `last` night)."""
    if (spec.start and spec.start > last) or (spec.end and spec.end < first):
        raise StepExecutionError(no_data(spec, first, last))


def no_data(spec: KpiSpec, first: date, last: date) -> str:
    """Return the message for a range that holds no data."""
    return (
        f"no data between {spec.start or 'the start'} and {spec.end or 'the end'}: "
        f"the reservations cover {first:%Y-%m-%d} to {last:%Y-%m-%d}"
    )
