"""Canonical model: validation report, stay nights, PMS mappings and the bundled dataset."""

from __future__ import annotations

import pandas as pd
import pytest

from mhi.analytics.modeling import (
    ModelResult,
    inventory_for,
    model_reservations,
    room_inventory,
    stay_nights,
)
from mhi.analytics.sources import source_mapping, stage
from mhi.errors import StepConfigError


def _pms(**overrides: object) -> dict[str, object]:
    record = {
        "id": "R1",
        "localizador": "LOC1",
        "hotel": "Fergus Palma",
        "arrival": "2025-03-01",
        "departure": "2025-03-04",
        "status": "Confirmed",
        "room_type": "DBL",
        "board": "BB",
        "channel": "Booking.com",
        "segment": "OTA",
        "room_amount": 300.0,
        "currency": "EUR",
        "adults": 2,
        "children": 0,
        "created_at": "2025-01-10T09:00:00Z",
        "updated_at": "2025-01-10T09:00:00Z",
    }
    record.update(overrides)
    return record


def _model(records: list[dict[str, object]], **kw: object) -> ModelResult:
    raw = pd.DataFrame(records)
    return model_reservations(stage(source_mapping("avalon"), raw), source="avalon", **kw)


def test_avalon_record_maps_onto_the_canonical_reservation() -> None:
    res = _model([_pms()]).reservations.iloc[0]
    assert (res["hotel"], res["reservation_id"], res["status"]) == (
        "Fergus Palma",
        "R1",
        "confirmed",
    )
    assert res["nights"] == 3 and res["adr"] == 100.0 and res["room_revenue"] == 300.0
    assert res["lead_time"] == (pd.Timestamp("2025-03-01") - pd.Timestamp("2025-01-10")).days
    assert (res["distribution_channel"], res["market_segment"]) == ("Booking.com", "OTA")


@pytest.mark.parametrize(
    ("override", "reason", "detail"),
    [
        ({"hotel": ""}, "missing_key", "hotel is empty"),
        ({"arrival": None}, "missing_key", "arrival_date is empty"),
        ({"arrival": "2025-02-30"}, "bad_date", "arrival_date=2025-02-30"),
        ({"departure": "2025-02-20"}, "departure_before_arrival", "departure 2025-02-20"),
        ({"departure": "2205-03-04"}, "stay_too_long", "nights"),
        ({"room_amount": "abc"}, "not_a_number", "room_revenue=abc"),
        ({"currency": "XXX"}, "unknown_currency", "currency=XXX"),
        ({"status": "Teleported"}, "unknown_status", "status=Teleported"),
    ],
)
def test_every_bad_record_is_reported_with_its_reason(
    override: dict[str, object], reason: str, detail: str
) -> None:
    result = _model([_pms(), _pms(id="R2", **override)])
    assert list(result.reservations["reservation_id"]) == ["R1"]
    assert result.rejected_by_reason() == {reason: 1}
    row = result.rejects.iloc[0]
    assert (row["reservation_id"], row["source_row"]) == ("R2", 2)
    assert detail in row["detail"]


@pytest.mark.parametrize(
    ("override", "reason", "detail"),
    [
        ({"room_amount": -10.0}, "negative_rate", "adr=-3.33"),
        ({"room_amount": 3300.0}, "absurd_rate", "adr=1100.0 > 10 x the hotel's median 100.0"),
        ({"room_amount": None}, "missing_rate", "no rate or amount"),
    ],
)
def test_a_bad_rate_keeps_the_booking_and_excludes_its_revenue(
    override: dict[str, object], reason: str, detail: str
) -> None:
    records = [_pms(id=f"R{i}") for i in range(3)] + [_pms(id="R9", **override)]
    result = _model(records)
    assert result.rejects.empty and result.excluded_by_reason() == {reason: 1}
    row = result.excluded.iloc[0]
    assert (row["reservation_id"], row["source_row"], row["detail"]) == ("R9", 4, detail)
    kept = result.reservations.set_index("reservation_id").loc["R9"]
    assert kept["revenue_excluded"] and pd.isna(kept["adr"]) and pd.isna(kept["room_revenue"])
    assert kept["nights"] == 3 and kept["lead_time"] == 50  # counts, nights and lead time stay
    assert stay_nights(result.reservations)["room_revenue"].isna().sum() == 3
    off = _model(records, rate_outlier_factor=None).excluded_by_reason()
    assert off == ({} if reason == "absurd_rate" else {reason: 1})


def test_no_row_is_lost_silently() -> None:
    records = [_pms(id=f"R{i}") for i in range(6)]
    records[1]["currency"] = "USD"  # converted with fx_rates, kept
    records[2]["status"] = "cancelled"
    records[2]["room_amount"] = None  # a cancelled booking without a rate is fine
    records[3]["deleted"] = True
    records[4]["arrival"] = "garbage"
    records[5]["id"] = "R0"  # a newer version of R0
    records[5]["updated_at"] = "2025-02-01T00:00:00Z"
    records[5]["room_amount"] = 450.0
    result = _model(records, fx_rates={"USD": 0.9})
    assert len(result.reservations) + len(result.rejects) + len(result.deleted) + 1 == 6
    assert result.notes == ["1 older versions of a reservation superseded"]
    by_id = result.reservations.set_index("reservation_id")
    assert by_id.loc["R0", "room_revenue"] == 450.0
    assert by_id.loc["R1", "room_revenue"] == pytest.approx(270.0)
    assert list(result.deleted["reservation_id"]) == ["R3"]


def test_stay_nights_are_one_row_per_occupied_night() -> None:
    result = _model(
        [_pms(), _pms(id="R2", status="cancelled"), _pms(id="R3", departure="2025-03-01")]
    )
    nights = stay_nights(result.reservations)
    assert list(nights["stay_date"].dt.strftime("%m-%d")) == ["03-01", "03-02", "03-03"]
    assert set(nights["reservation_id"]) == {"R1"}
    assert nights["room_revenue"].sum() == 300.0


def test_room_inventory_covers_every_night_and_rejects_bad_counts() -> None:
    res = _model([_pms()]).reservations
    inv = inventory_for(res, {"Fergus Palma": 120})
    assert list(inv["date"].dt.day) == [1, 2, 3] and set(inv["rooms_available"]) == {120}
    with pytest.raises(StepConfigError, match="positive whole numbers"):
        room_inventory({"Fergus Palma": 0}, pd.Timestamp("2025-01-01"), pd.Timestamp("2025-01-02"))


def test_bundled_dataset_models_every_booking(
    modelled: ModelResult, raw_bookings: pd.DataFrame
) -> None:
    assert len(modelled.reservations) == len(raw_bookings) == 119_390  # every booking stays
    assert modelled.rejected_by_reason() == {}
    # The README's negative ADR and the 5,400 ADR (54 times the city hotel's median) keep
    # their nights and status; only their revenue is left out.
    assert modelled.excluded_by_reason() == {"negative_rate": 1, "absurd_rate": 1}
    assert modelled.notes == ["children missing on 4 rows: counted as 0"]
    complimentary = (raw_bookings["market_segment"] == "Complementary").sum()
    assert modelled.reservations["is_complimentary"].sum() == complimentary


def test_most_rooms_sold_on_one_night_match_the_readme(nights: pd.DataFrame) -> None:
    peak = nights.groupby(["hotel", "stay_date"]).size().groupby("hotel").max()
    assert peak.to_dict() == {"City Hotel": 226, "Resort Hotel": 187}


def test_bundled_format_is_checked() -> None:
    with pytest.raises(StepConfigError, match="missing columns"):
        stage(source_mapping("hotel_bookings"), pd.DataFrame({"hotel": ["x"]}))
    with pytest.raises(StepConfigError, match="known sources are avalon, hotel_bookings"):
        source_mapping("opera")
