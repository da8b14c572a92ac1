"""Avalon PMS: reservations, daily statistics, availability, rates, guests and folios.

Avalon publishes no extraction API (only an operations spec for `/AWWebAPI/api/aw/awa/...`),
so this connector follows the generic UNCONFIRMED contract of `_generic` until the vendor's
arrives. The host is per installation: the account's secret `avalon-base-url` (or the setting
`MHI_AVALON_BASE_URL`), never the flow; the API key goes only to that host.
"""

from __future__ import annotations

from typing import ClassVar

from mhi.connectors.extract import make_kind
from mhi.connectors.spec import System
from mhi.connectors.systems._generic import TOKEN, GenericConfig, auth, dataset


class AvalonConfig(GenericConfig):
    """Options of `ms-extractor-avalon` (the seed's config is valid as written). UNCONFIRMED
    contract: Avalon publishes no extraction API; the API root is the account's secret
    `avalon-base-url`."""

    system_name: ClassVar[str] = "avalon"


SYSTEM = System(
    name="avalon",
    config_model=AvalonConfig,
    datasets=(
        dataset(
            "reservations",
            ("hotel_id", "arrival", "departure", "status"),
            "bookings: localizador, hotel, stay dates, status, room type, rate, board, channel",
        ),
        dataset(
            "daily_stats",
            ("hotel_id", "date", "rooms_available", "rooms_sold", "room_revenue"),
            "per hotel and night: rooms available and sold, room revenue",
        ),
        dataset(
            "availability",
            ("hotel_id", "date", "room_type", "rooms_available"),
            "inventory per hotel, night and room type",
        ),
        dataset("rates", ("hotel_id", "date", "rate_code", "amount"), "rate grid per night"),
        dataset("guests", ("name",), "guest profiles"),
        dataset("folios", ("reservation_id", "total"), "folios / invoices per stay"),
    ),
    auth=auth,
    token=TOKEN,
    requests_per_second=1.0,  # ASSUMPTION: 60 requests per minute per key
    page_size=500,
    summary="Avalon PMS: reservations, availability, rates, folios",
)

KIND = make_kind(SYSTEM)
