"""FourVenues (nightlife and event ticketing): tickets, bookings and events.

[DOC] `X-Api-Key` header; envelope `{"success": true, "data": [...]}`; tickets page with
`limit`/`offset` and end on a short page; incremental on `start_date` (we also send `end_date`
and the date field). `updated_at` arrives as epoch milliseconds or ISO-8601: both are read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from mhi.connectors.auth import ApiKeyHeader, Auth
from mhi.connectors.extract import make_kind
from mhi.connectors.paging import OffsetLimit
from mhi.connectors.spec import (
    Credentials,
    Dataset,
    ExtractConfig,
    ModifiedSince,
    System,
    iso_z,
)

PAGING = OffsetLimit(records_key="data", offset_param="offset", limit_param="limit")


class FourVenuesConfig(ExtractConfig):
    """Options of `ms-extractor-fourvenues`."""

    event_ids: list[str] = Field(
        default_factory=list, description="only these events' tickets (default: every event)"
    )


def updated(since: datetime | None, until: datetime | None) -> dict[str, Any]:
    """Return the date filter on `updated_at`."""
    out: dict[str, Any] = {}
    if since or until:
        out["date_field"] = "updated_at"
    if since:
        out["start_date"] = iso_z(since)
    if until:
        out["end_date"] = iso_z(until)
    return out


def _events(config: FourVenuesConfig) -> list[dict[str, Any]]:
    return [{"event_id": e} for e in config.event_ids] or [{}]


def auth(creds: Credentials, config: FourVenuesConfig, base: str) -> Auth:
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
            partitions=_events,
            summary="event tickets: status, rate, price, fees, paid, entry",
        ),
        Dataset(
            "bookings",
            "/bookings/",
            key=("_id",),
            paging=PAGING,
            incremental=ModifiedSince("updated_at", updated),
            required=("event_id", "status", "updated_at"),
            summary="table and guest-list bookings",
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
    base_url=lambda c: "https://api.fourvenues.com/integrations",
    requests_per_second=5.0,  # limits unpublished: stay polite
    page_size=100,
    summary="FourVenues: events and tickets",
)

KIND = make_kind(SYSTEM)
