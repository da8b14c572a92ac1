"""FourVenues (nightlife and event ticketing): tickets, bookings and events.

[DOC] (docs.fourvenues.com/integrations) `X-Api-Key` header; envelope
`{"success": true, "data": [...]}`; `GET /events/`; tickets are listed *per event*
(`GET /tickets/?event_id=...`, "get all the tickets given an event"), paged with `limit`/`offset`
and ending on a short page. So tickets are read event by event: the events named in `event_ids`,
or else every event `GET /events/` lists (one listing per event and run). `updated_at` arrives
as epoch milliseconds or ISO-8601: both are read.

UNCONFIRMED (kept in `UNCONFIRMED_DATE_FILTER`, the one place to change them):
- the tickets reference lists "start date", "end date" and "date field" parameters but names
  neither the date-field parameter nor its values nor the date format: we send
  `date_field=updated_at` and ISO-8601 UTC (`...Z`) values; bookings get the same filter;
- whether `GET /events/` pages: it is read with `limit`/`offset` like tickets, and a source
  that answers the same page twice fails the run instead of looping.

Hosts: `api.fourvenues.com` (and the test host `api-alpha.fourvenues.com`) only; the operator may
move them with the secret `fourvenues-base-url` or `MHI_FOURVENUES_BASE_URL`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from mhi.connectors.auth import ApiKeyHeader, Auth
from mhi.connectors.extract import make_kind
from mhi.connectors.paging import OffsetLimit
from mhi.connectors.spec import (
    Credentials,
    Dataset,
    Endpoints,
    ExtractConfig,
    Lister,
    ModifiedSince,
    System,
    iso_z,
)

PAGING = OffsetLimit(records_key="data", offset_param="offset", limit_param="limit")


@dataclass(frozen=True)
class DateFilter:
    """How a modified-since window is sent (names and format)."""

    field_param: str
    field_value: str
    start_param: str
    end_param: str
    format: Callable[[datetime], str]


# UNCONFIRMED: no public FourVenues page names the date-field parameter, its values or the date
# format (only that "start date", "end date" and "date field" exist). Change them here only.
UNCONFIRMED_DATE_FILTER = DateFilter(
    field_param="date_field",
    field_value="updated_at",
    start_param="start_date",
    end_param="end_date",
    format=iso_z,
)


class FourVenuesConfig(ExtractConfig):
    """Options of `ms-extractor-fourvenues`. Tickets are read per event (listed first unless
    `event_ids` names them). UNCONFIRMED: the date-filter parameter names and date format."""

    system_name: ClassVar[str] = "fourvenues"
    event_ids: list[str] = Field(
        default_factory=list,
        description="read these events' tickets only (default: every event GET /events/ lists)",
    )


def updated(since: datetime | None, until: datetime | None) -> dict[str, Any]:
    """Return the (UNCONFIRMED) date filter on `updated_at`."""
    f = UNCONFIRMED_DATE_FILTER
    out: dict[str, Any] = {}
    if since or until:
        out[f.field_param] = f.field_value
    if since:
        out[f.start_param] = f.format(since)
    if until:
        out[f.end_param] = f.format(until)
    return out


def per_event(config: FourVenuesConfig, lister: Lister) -> list[dict[str, Any]]:
    """One listing per event: the configured ones, or every event the API lists."""
    if config.event_ids:
        return [{"event_id": e} for e in dict.fromkeys(config.event_ids)]
    events = lister("/events/", PAGING)
    ids = [str(e["_id"]) for e in events if e.get("_id")]
    return [{"event_id": e} for e in dict.fromkeys(ids)]


def auth(creds: Credentials, config: FourVenuesConfig, endpoints: Endpoints) -> Auth:
    """The v2 API key header."""
    return ApiKeyHeader("X-Api-Key", creds.get("api-key"), creds.name("api-key"))


SYSTEM = System(
    name="fourvenues",
    config_model=FourVenuesConfig,
    datasets=(
        Dataset(
            "tickets",
            "/tickets/",
            key=("_id",),
            paging=PAGING,
            incremental=ModifiedSince("updated_at", updated),
            required=("event_id", "status", "total_paid", "updated_at"),
            partitions=per_event,
            summary="event tickets, per event: status, rate, price, fees, paid, entry",
        ),
        Dataset(
            "bookings",
            "/bookings/",
            key=("_id",),
            paging=PAGING,
            incremental=ModifiedSince("updated_at", updated),
            required=("event_id", "status", "updated_at"),
            summary="table and guest-list bookings (date filter UNCONFIRMED)",
        ),
        Dataset(
            "events",
            "/events/",
            key=("_id",),
            paging=PAGING,
            required=("name", "date"),
            summary="events (dates are Unix seconds)",
        ),
    ),
    auth=auth,
    api_hosts=("api.fourvenues.com", "api-alpha.fourvenues.com"),
    default_base=lambda c: "https://api.fourvenues.com/integrations",
    requests_per_second=5.0,  # limits unpublished: stay polite
    page_size=100,
    summary="FourVenues: events and tickets",
)

KIND = make_kind(SYSTEM)
