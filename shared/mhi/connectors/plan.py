"""Plan a dataset's requests from the config, the stored watermark and the time."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from mhi.connectors.paging import Request
from mhi.connectors.spec import (
    Dataset,
    DateWindow,
    DeltaLink,
    ExtractConfig,
    Lister,
    ModifiedSince,
    System,
    Window,
    parse_instant,
)
from mhi.connectors.state import WatermarkState
from mhi.errors import StepConfigError


@dataclass(frozen=True)
class Planned:
    """One listing to page through, and the partition values to stamp on its records."""

    request: Request
    tags: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """Every listing of one dataset for one run."""

    listings: list[Planned]
    window: Window
    resumed: bool = False  # a delta feed resumed from a stored link


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def _path_fields(path: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(path) if name]


@dataclass(frozen=True)
class Source:
    """Where a plan's requests go, and how to look partitions up there."""

    base: str
    lister: Lister


def _listings(
    system: System, ds: Dataset, config: ExtractConfig, source: Source, params: dict[str, Any]
) -> list[Planned]:
    values = config.model_dump()
    partitions = ds.partitions(config, source.lister) if ds.partitions else [{}]
    out = []
    for part in partitions:
        scope = {**values, **part}
        needed = _path_fields(ds.path)
        missing = [n for n in needed if scope.get(n) in (None, "")]
        if missing:
            raise StepConfigError(
                f"{system.name} dataset {ds.name!r} needs config {', '.join(missing)}"
            )
        path = ds.path.format(**scope)
        query = {k: v for k, v in part.items() if k not in needed}
        headers = {k: v.format(page_size=page_size(system, config)) for k, v in ds.headers.items()}
        url = source.base + path
        out.append(Planned(Request(url, {**ds.params, **params, **query}, headers), dict(part)))
    return out


def page_size(system: System, config: ExtractConfig) -> int:
    """Return the page size to ask for."""
    return config.page_size or system.page_size


def plan(
    system: System,
    ds: Dataset,
    config: ExtractConfig,
    state: WatermarkState | None,
    source: Source,
    now: datetime,
) -> Plan:
    """Return the requests that read what this run must read."""
    inc = ds.incremental
    if isinstance(inc, ModifiedSince):
        window = _modified_window(inc, config, state)
        params = inc.params(window.since, window.until)
        return Plan(_listings(system, ds, config, source, params), window)
    if isinstance(inc, DateWindow):
        return _date_windows(system, ds, inc, config, state, source, now)
    if isinstance(inc, DeltaLink):
        listings = _listings(system, ds, config, source, {})
        link = state.value if state and config.incremental else None
        if link and link.startswith(source.base + "/") and len(listings) == 1:
            resume = Planned(Request(link, {}, listings[0].request.headers), listings[0].tags)
            return Plan([resume], Window(), resumed=True)
        return Plan(listings, Window())
    return Plan(_listings(system, ds, config, source, {}), Window())


def _modified_window(
    inc: ModifiedSince, config: ExtractConfig, state: WatermarkState | None
) -> Window:
    if config.date_from or config.date_to:
        since = _day_start(config.date_from) if config.date_from else None
        until = _day_start(config.date_to + timedelta(days=1)) if config.date_to else None
        return Window(since, until)
    mark = parse_instant(state.value) if state and config.incremental else None
    return Window(mark - inc.overlap if mark else None, None)


def _date_windows(
    system: System,
    ds: Dataset,
    inc: DateWindow,
    config: ExtractConfig,
    state: WatermarkState | None,
    source: Source,
    now: datetime,
) -> Plan:
    today = now.astimezone(UTC).date()
    end = config.date_to or today + inc.ahead
    mark = date.fromisoformat(state.value[:10]) if state and state.value else None
    if config.date_from:
        start = config.date_from
    elif mark and config.incremental:
        start = min(mark, end, today) - inc.lookback
    else:
        start = min(end, today) - timedelta(days=system.history_days)
    step = timedelta(days=inc.chunk_days or (end - start).days + 1)
    listings: list[Planned] = []
    lo = start
    while lo <= end:
        hi = min(lo + step - timedelta(days=1), end)
        listings += _listings(system, ds, config, source, inc.params(lo, hi))
        lo = hi + timedelta(days=1)
    return Plan(listings, Window(_day_start(start), _day_start(end + timedelta(days=1))))
