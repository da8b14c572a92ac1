"""Source mappings: how each system's raw records become the canonical model's staging columns.

A mapping is data: for every canonical field, the raw column names that may hold it (the first
present wins), plus the status vocabulary. Only the bundled dataset needs a little code (its
arrival date is split over three columns and its stay over two).

PMS record fields follow `api-reference.md` §8b/8c (Avalon: localizador, hotel, arrival,
departure, status, room type, rate, board, channel, amounts; Ulyses Cloud in camelCase). Both are
ASSUMED contracts until the vendors publish one, hence the generous alias lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from mhi.errors import StepConfigError

# Canonical status values. `is_cancelled` is true for both cancelled and no-show bookings.
STATUSES = ("confirmed", "checked_in", "checked_out", "cancelled", "no_show")

STATUS_WORDS: Mapping[str, str] = {
    **dict.fromkeys(
        ["confirmed", "booked", "reserved", "new", "modified", "tentative", "option", "ok"],
        "confirmed",
    ),
    **dict.fromkeys(["checked_in", "checkedin", "check_in", "in_house", "inhouse"], "checked_in"),
    **dict.fromkeys(
        ["checked_out", "checkedout", "check_out", "departed", "checkout"], "checked_out"
    ),
    **dict.fromkeys(["cancelled", "canceled", "cancellation", "cancel"], "cancelled"),
    **dict.fromkeys(["no_show", "noshow", "no_shows"], "no_show"),
}

# Canonical fields every reservation mapping may fill, with the common aliases of PMS exports.
_PMS_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "reservation_id": ("id", "reservation_id", "reservationId", "localizador", "locator"),
    "hotel": ("hotel", "hotel_id", "hotel_code", "hotelCode", "propertyId", "property_id"),
    "arrival_date": ("arrival", "arrival_date", "arrivalDate", "check_in_date", "checkIn"),
    "departure_date": ("departure", "departure_date", "departureDate", "check_out_date"),
    "status": ("status", "state", "reservation_status", "reservationStatus"),
    "booking_date": ("created_at", "booking_date", "createdAt", "creationDate", "booked_at"),
    "updated_at": ("updated_at", "updatedAt", "modified_at", "lastModified", "_landed_at"),
    "room_type": ("room_type", "roomType", "room_type_code", "roomTypeCode"),
    "board": ("board", "board_code", "boardCode", "meal_plan", "mealPlan"),
    "rate_code": ("rate", "rate_code", "rateCode", "ratePlanCode", "rate_plan"),
    "distribution_channel": ("channel", "distribution_channel", "channelCode", "source"),
    "market_segment": ("segment", "market_segment", "marketSegment", "segmentCode"),
    "country": ("country", "nationality", "countryCode", "country_code"),
    "customer_type": ("customer_type", "customerType", "guest_type"),
    "adults": ("adults", "numAdults", "pax_adults"),
    "children": ("children", "numChildren", "pax_children"),
    "babies": ("babies", "infants", "numInfants"),
    "room_revenue": ("room_amount", "room_revenue", "roomAmount", "accommodation_amount"),
    "total_amount": ("total_amount", "totalAmount", "amount", "total"),
    "adr": ("nightly_rate", "adr", "average_rate", "averageRate"),
    "other_revenue": ("extras_amount", "other_amount", "extrasAmount", "other_revenue"),
    "currency": ("currency", "currency_code", "currencyCode"),
    "deleted": ("deleted", "is_deleted", "isDeleted"),
}

_AVAILABILITY_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "hotel": ("hotel", "hotel_id", "hotel_code", "propertyId", "property_id"),
    "date": ("date", "day", "stay_date", "business_date"),
    "rooms_available": ("rooms_available", "total_rooms", "rooms", "inventory", "capacity"),
}


@dataclass(frozen=True)
class SourceMapping:
    """How one source system's raw reservations map onto the canonical staging columns."""

    name: str
    reservations_table: str
    columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    availability_table: str | None = None


def pick_columns(raw: pd.DataFrame, columns: Mapping[str, tuple[str, ...]]) -> pd.DataFrame:
    """Return a frame with one column per canonical field found in `raw` (first alias wins)."""
    out: dict[str, pd.Series] = {}
    for canonical, aliases in columns.items():
        found = next((a for a in aliases if a in raw.columns), None)
        if found is not None:
            out[canonical] = raw[found]
    return pd.DataFrame(out, index=raw.index)


_MONTHS = {
    m: i
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
        start=1,
    )
}

HOTEL_BOOKINGS_COLUMNS = (
    "hotel",
    "is_canceled",
    "lead_time",
    "arrival_date_year",
    "arrival_date_month",
    "arrival_date_day_of_month",
    "stays_in_weekend_nights",
    "stays_in_week_nights",
    "adr",
    "reservation_status",
)


def _prepare_hotel_bookings(raw: pd.DataFrame) -> pd.DataFrame:
    """Staging columns from the bundled dataset (Antonio, Almeida & Nunes 2019)."""
    missing = [c for c in HOTEL_BOOKINGS_COLUMNS if c not in raw.columns]
    if missing:
        raise StepConfigError(
            f"the data is not in the hotel_bookings format: missing columns {missing}"
        )
    month = raw["arrival_date_month"].astype("string").str.strip().str.lower().map(_MONTHS)
    parts = pd.DataFrame(
        {
            "year": pd.to_numeric(raw["arrival_date_year"], errors="coerce"),
            "month": month,
            "day": pd.to_numeric(raw["arrival_date_day_of_month"], errors="coerce"),
        }
    )
    arrival = pd.to_datetime(parts, errors="coerce")
    # A booking with unusable stay counts keeps NaT here and is rejected as a bad date.
    nights = pd.to_numeric(raw["stays_in_weekend_nights"], errors="coerce") + pd.to_numeric(
        raw["stays_in_week_nights"], errors="coerce"
    )
    lead = pd.to_numeric(raw["lead_time"], errors="coerce")
    status = raw["reservation_status"]
    row = raw["_row"] if "_row" in raw.columns else pd.Series(raw.index + 1, index=raw.index)
    staging = pd.DataFrame(
        {
            "reservation_id": row.astype("string"),
            "hotel": raw["hotel"],
            "arrival_date": arrival,
            "departure_date": arrival + pd.to_timedelta(nights, unit="D"),
            "status": status,
            "booking_date": arrival - pd.to_timedelta(lead, unit="D"),
            "updated_at": raw.get("reservation_status_date"),
            "adr": raw["adr"],
        },
        index=raw.index,
    )
    extra = {
        "market_segment": "market_segment",
        "distribution_channel": "distribution_channel",
        "room_type": "reserved_room_type",
        "assigned_room_type": "assigned_room_type",
        "country": "country",
        "customer_type": "customer_type",
        "board": "meal",
        "deposit_type": "deposit_type",
        "adults": "adults",
        "children": "children",
        "babies": "babies",
    }
    for canonical, column in extra.items():
        if column in raw.columns:
            staging[canonical] = raw[column]
    # Cross-checked against the status in validation (`inconsistent_status`).
    staging["_cancel_flag"] = pd.to_numeric(raw["is_canceled"], errors="coerce")
    return staging


SOURCES: Mapping[str, SourceMapping] = {
    "hotel_bookings": SourceMapping(
        "hotel_bookings", "raw.hotel_bookings", prepare=_prepare_hotel_bookings
    ),
    "avalon": SourceMapping(
        "avalon",
        "raw.avalon_reservations",
        _PMS_COLUMNS,
        availability_table="raw.avalon_availability",
    ),
    "ulysescloud": SourceMapping(
        "ulysescloud",
        "raw.ulysescloud_reservations",
        _PMS_COLUMNS,
        availability_table="raw.ulysescloud_availability",
    ),
}


def source_mapping(name: str) -> SourceMapping:
    """Return the mapping of a source system.

    Raises:
        StepConfigError: the source is unknown (the message lists the known ones).
    """
    try:
        return SOURCES[name]
    except KeyError:
        raise StepConfigError(
            f"unknown source {name!r}: known sources are {', '.join(sorted(SOURCES))}"
        ) from None


def stage(mapping: SourceMapping, raw: pd.DataFrame) -> pd.DataFrame:
    """Return the staging frame of raw reservations (canonical names, raw values)."""
    if mapping.prepare is not None:
        return mapping.prepare(raw)
    staged = pick_columns(raw, mapping.columns)
    for needed in ("reservation_id", "hotel", "arrival_date", "departure_date"):
        if needed not in staged.columns:
            aliases = ", ".join(mapping.columns[needed])
            raise StepConfigError(
                f"{mapping.reservations_table} has no {needed} column (looked for: {aliases})"
            )
    return staged


def stage_availability(raw: pd.DataFrame, table: str) -> pd.DataFrame:
    """Return hotel, date, rooms_available from a raw availability table."""
    staged = pick_columns(raw, _AVAILABILITY_COLUMNS)
    missing = [c for c in _AVAILABILITY_COLUMNS if c not in staged.columns]
    if missing:
        raise StepConfigError(f"{table} lacks {missing} (aliases: {dict(_AVAILABILITY_COLUMNS)})")
    return staged
