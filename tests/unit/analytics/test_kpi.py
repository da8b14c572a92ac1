"""The pandas reference KPIs checked against figures computed here from the raw CSV by another
method, against the dataset's published cancellation rates, and on small hand-built cases."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from mhi.analytics.configs import KpiConfig
from mhi.analytics.kpi import compute_kpis, headline
from mhi.analytics.kpi_pace import pace_curve
from mhi.analytics.kpi_spec import KpiSpec
from mhi.analytics.metrics import DEFAULT_ON_MISSING_INVENTORY
from mhi.analytics.modeling import ModelResult, inventory_for, model_reservations
from mhi.analytics.sources import source_mapping, stage
from mhi.errors import StepConfigError, StepExecutionError

from .conftest import ROOMS

MONTHS = {
    m: i for i, m in enumerate(pd.date_range("2000-01-01", periods=12, freq="MS").month_name(), 1)
}


@pytest.fixture(scope="module")
def raw_stays(raw_bookings: pd.DataFrame) -> pd.DataFrame:
    """Independent view of the raw CSV: arrival, departure, whether the room was sold and
    whether its rate counts (the negative ADR and the 5,400 ADR do not; both bookings stay)."""
    b = raw_bookings.copy()
    b["arrival"] = pd.to_datetime(
        dict(
            year=b["arrival_date_year"],
            month=b["arrival_date_month"].map(MONTHS),
            day=b["arrival_date_day_of_month"],
        )
    )
    b["n"] = b["stays_in_weekend_nights"] + b["stays_in_week_nights"]
    b["departure"] = b["arrival"] + pd.to_timedelta(b["n"], unit="D")
    b["sold"] = (b["is_canceled"] == 0) & (b["market_segment"] != "Complementary")
    b["rated"] = (b["adr"] >= 0) & (b["adr"] < 5000)
    return b


def _kpis(
    modelled: ModelResult, nights: pd.DataFrame, inventory: pd.DataFrame, **kw: object
) -> pd.DataFrame:
    return compute_kpis(modelled.reservations, inventory, KpiSpec(**kw), nights).table


def test_cancellation_rates_match_the_published_figures(
    modelled: ModelResult, nights: pd.DataFrame, inventory: pd.DataFrame, raw_stays: pd.DataFrame
) -> None:
    metrics = ["bookings", "cancellations", "no_shows", "cancellation_rate", "no_show_rate"]
    t = _kpis(modelled, nights, inventory, metrics=metrics, grain="all").set_index("hotel")
    # The dataset's is_canceled covers cancellations and no-shows (AAN).
    rate = (t["cancellations"] + t["no_shows"]) / t["bookings"]
    expected = raw_stays.groupby("hotel")["is_canceled"].mean()
    pd.testing.assert_series_equal(rate, expected, check_names=False, check_index_type=False)
    # Antonio, Almeida & Nunes (2019): 41.7 % of city and 27.8 % of resort bookings cancelled.
    assert round(100 * rate["City Hotel"], 1) == 41.7
    assert round(100 * rate["Resort Hotel"], 1) == 27.8
    status = raw_stays.groupby(["hotel", "reservation_status"]).size().unstack()
    assert t["no_shows"].to_dict() == status["No-Show"].to_dict()
    assert t["cancellations"].to_dict() == status["Canceled"].to_dict()
    np.testing.assert_allclose(t["no_show_rate"], status["No-Show"] / t["bookings"])


def test_monthly_adr_occupancy_and_revpar_match_an_interval_overlap_count(
    modelled: ModelResult, nights: pd.DataFrame, inventory: pd.DataFrame, raw_stays: pd.DataFrame
) -> None:
    t = _kpis(modelled, nights, inventory, metrics=["occupancy", "adr", "revpar"], grain="month")
    for hotel, month in [("City Hotel", "2016-08-01"), ("Resort Hotel", "2017-02-01")]:
        start = pd.Timestamp(month)
        end = start + pd.offsets.MonthBegin(1)
        s = raw_stays[(raw_stays["hotel"] == hotel) & raw_stays["sold"]]
        overlap = (s["departure"].clip(upper=end) - s["arrival"].clip(lower=start)).dt.days.clip(
            lower=0
        )
        sold, rated = overlap.sum(), overlap[s["rated"]].sum()
        revenue = (overlap * s["adr"])[s["rated"]].sum()
        available = ROOMS[hotel] * (end - start).days
        row = t[(t["hotel"] == hotel) & (t["period"] == start)].iloc[0]
        assert row["adr"] == pytest.approx(revenue / rated, rel=1e-12)
        assert row["occupancy"] == pytest.approx(sold / available, rel=1e-12)
        assert row["revpar"] == pytest.approx(revenue / rated * sold / available, rel=1e-12)


@pytest.mark.parametrize("day", ["2015-12-31", "2016-07-15", "2017-03-06"])
def test_daily_occupancy_matches_a_direct_count(
    modelled: ModelResult,
    nights: pd.DataFrame,
    inventory: pd.DataFrame,
    raw_stays: pd.DataFrame,
    day: str,
) -> None:
    d = pd.Timestamp(day)
    t = _kpis(
        modelled,
        nights,
        inventory,
        metrics=["rooms_sold", "occupancy"],
        start=d.date(),
        end=d.date(),
    )
    in_house = raw_stays[
        raw_stays["sold"] & (raw_stays["arrival"] <= d) & (raw_stays["departure"] > d)
    ]
    expected = in_house.groupby("hotel").size()
    got = t.set_index("hotel")
    assert got["rooms_sold"].to_dict() == expected.to_dict()
    for hotel, n in expected.items():
        assert got.loc[hotel, "occupancy"] == pytest.approx(n / ROOMS[hotel])


def test_alos_and_lead_time_by_arrival_month(
    modelled: ModelResult, nights: pd.DataFrame, inventory: pd.DataFrame, raw_stays: pd.DataFrame
) -> None:
    metrics = ["alos", "avg_lead_time", "median_lead_time", "arrivals"]
    t = _kpis(modelled, nights, inventory, metrics=metrics, grain="month")
    month = raw_stays[
        (raw_stays["hotel"] == "City Hotel")
        & (raw_stays["arrival"].dt.strftime("%Y-%m") == "2016-05")
    ]
    stayed = month[month["is_canceled"] == 0]
    row = t[(t["hotel"] == "City Hotel") & (t["period"] == "2016-05-01")].iloc[0]
    assert row["arrivals"] == len(stayed)
    assert (stayed["n"] == 0).sum() > 0  # day-use stays: left out of ALOS
    assert row["alos"] == pytest.approx(stayed.loc[stayed["n"] > 0, "n"].mean())
    assert row["avg_lead_time"] == pytest.approx(month["lead_time"].mean())
    assert row["median_lead_time"] == month["lead_time"].median()


def test_segments_add_up_to_the_hotel(
    modelled: ModelResult, nights: pd.DataFrame, inventory: pd.DataFrame
) -> None:
    by_seg = _kpis(
        modelled,
        nights,
        inventory,
        metrics=["occupancy", "room_revenue"],
        grain="month",
        dimensions=["hotel", "market_segment"],
    )
    by_hotel = _kpis(
        modelled, nights, inventory, metrics=["occupancy", "room_revenue"], grain="month"
    )
    summed = by_seg.groupby(["period", "hotel"])[["occupancy", "room_revenue"]].sum().reset_index()
    merged = by_hotel.merge(summed, on=["period", "hotel"], suffixes=("", "_sum"))
    assert len(merged) == len(by_hotel)
    np.testing.assert_allclose(merged["occupancy"], merged["occupancy_sum"], rtol=1e-9)
    np.testing.assert_allclose(merged["room_revenue"], merged["room_revenue_sum"], rtol=1e-9)


# --- small hand-built cases ---------------------------------------------------------------


def _res(rows: list[tuple[str, str, int, float, str]]) -> pd.DataFrame:
    """(reservation id, arrival, nights, adr, status) of hotel H, booked 10 days ahead."""
    frame = pd.DataFrame(rows, columns=["reservation_id", "arrival_date", "n", "adr", "status"])
    arrival = pd.to_datetime(frame["arrival_date"])
    staged = frame.assign(
        hotel="H",
        departure_date=arrival + pd.to_timedelta(frame["n"], unit="D"),
        booking_date=arrival - pd.Timedelta(days=10),
        updated_at=arrival - pd.Timedelta(days=2),
    ).drop(columns="n")
    return model_reservations(staged, source="test").reservations


def test_all_cancelled_day_has_zero_occupancy_and_no_adr() -> None:
    res = _res(
        [("a", "2024-01-01", 1, 100.0, "checked_out"), ("b", "2024-01-02", 1, 80.0, "cancelled")]
    )
    t = compute_kpis(
        res,
        inventory_for(res, {"H": 10}),
        KpiSpec(metrics=["occupancy", "adr", "cancellation_rate"]),
    ).table
    expected = pd.DataFrame(
        {
            "period": pd.to_datetime(["2024-01-01", "2024-01-02"]).astype("datetime64[us]"),
            "hotel": pd.array(["H", "H"], dtype="string"),
            "occupancy": [0.1, 0.0],
            "adr": [100.0, np.nan],
            "cancellation_rate": [0.0, 1.0],
        }
    )
    pd.testing.assert_frame_equal(t, expected, check_dtype=False)


def test_comparisons_line_up_with_last_year_and_the_previous_period() -> None:
    res = _res(
        [
            ("a", "2023-03-10", 2, 100.0, "checked_out"),
            ("b", "2024-02-10", 1, 90.0, "checked_out"),
            ("c", "2024-03-10", 3, 120.0, "checked_out"),
        ]
    )
    spec = KpiSpec(
        metrics=["adr"],
        grain="month",
        comparisons=["previous_period", "last_year"],
        start=date(2024, 3, 1),
    )
    t = compute_kpis(res, inventory_for(res, {"H": 5}), spec).table
    row = t.iloc[0]
    assert (row["period"], row["adr"], row["adr_prev"], row["adr_ly"]) == (
        pd.Timestamp("2024-03-01"),
        120.0,
        90.0,
        100.0,
    )
    assert row["adr_pop"] == pytest.approx(120 / 90 - 1) and row["adr_yoy"] == pytest.approx(0.2)
    assert headline(t, spec, pd.Timestamp("2024-03-31"))[0]["adr_yoy"] == 0.2


def test_pace_counts_rooms_on_the_books_at_the_snapshot() -> None:
    res = _res(
        [
            ("a", "2024-06-01", 2, 100.0, "confirmed"),
            ("b", "2024-06-02", 1, 100.0, "confirmed"),
            ("c", "2024-06-01", 1, 100.0, "cancelled"),
        ]
    )
    # a booked 05-22, b 05-23, c booked 05-22 and cancelled 05-30 (two days before arrival)
    spec = KpiSpec(metrics=["rooms_on_books", "pickup"], as_of=date(2024, 5, 25), pickup_days=3)
    t = compute_kpis(res, inventory_for(res, {"H": 5}), spec).table.set_index("period")
    assert t.loc["2024-06-01", "rooms_on_books"] == 2  # a and the not-yet-cancelled c
    assert t.loc["2024-06-02", "rooms_on_books"] == 2  # a's second night and b
    assert t.loc["2024-06-02", "pickup"] == 1  # b was booked inside (05-22, 05-25]
    assert t.loc["2024-06-01", "pickup"] == 0


def test_bad_requests_are_clear_errors() -> None:
    res = _res([("a", "2024-01-01", 1, 100.0, "checked_out")])
    with pytest.raises(
        StepConfigError, match="unknown metric 'adx': valid metrics are rooms_available"
    ):
        KpiSpec(metrics=["adx"])
    with pytest.raises(StepConfigError, match="unknown dimension 'segment'"):
        KpiSpec(dimensions=["segment"])
    with pytest.raises(StepConfigError, match="unknown grain 'quarter'"):
        KpiSpec(grain="quarter")
    with pytest.raises(
        StepExecutionError, match="no data between 2030-01-01 and the end: the reservations cover"
    ):
        compute_kpis(res, inventory_for(res, {"H": 1}), KpiSpec(start=date(2030, 1, 1)))
    with pytest.raises(StepExecutionError, match="no reservations"):
        compute_kpis(res.iloc[:0], inventory_for(res, {"H": 1}), KpiSpec())
    with pytest.raises(StepConfigError, match="trevpar needs other revenue"):
        compute_kpis(res, inventory_for(res, {"H": 1}), KpiSpec(metrics=["trevpar"]))


def test_missing_or_too_small_inventory() -> None:
    res = _res(
        [("a", "2024-01-01", 1, 100.0, "checked_out"), ("b", "2024-01-01", 1, 50.0, "checked_out")]
    )
    with pytest.raises(StepConfigError, match="hotel\\(s\\) 'H' have none"):
        compute_kpis(res, inventory_for(res, {}), KpiSpec(on_missing_inventory="error"))
    skipped = compute_kpis(res, inventory_for(res, {}), KpiSpec())
    assert skipped.table["occupancy"].isna().all() and skipped.table["adr"].tolist() == [75.0]
    assert "need room inventory" in skipped.warnings[0]
    with pytest.raises(
        StepConfigError, match="rooms for 'H' is 1, but 2 rooms were occupied on 2024-01-01"
    ):
        compute_kpis(res, inventory_for(res, {"H": 1}), KpiSpec())


def test_trevpar_uses_other_revenue_when_the_source_has_it() -> None:
    raw = pd.DataFrame(
        {
            "id": ["a"],
            "hotel": ["H"],
            "arrival": ["2024-01-01"],
            "departure": ["2024-01-03"],
            "status": ["checked_out"],
            "room_amount": [200.0],
            "extras_amount": [60.0],
        }
    )
    res = model_reservations(stage(source_mapping("avalon"), raw), source="avalon").reservations
    t = compute_kpis(
        res, inventory_for(res, {"H": 4}), KpiSpec(metrics=["revpar", "trevpar"])
    ).table
    assert t["revpar"].tolist() == [25.0, 25.0] and t["trevpar"].tolist() == [32.5, 32.5]


def test_the_engine_and_the_step_share_one_default_for_a_hotel_without_rooms() -> None:
    # Issue 18: the engine used to fail ("error") where the step skipped ("skip").
    assert KpiSpec().on_missing_inventory == KpiConfig().on_missing_inventory
    assert KpiSpec().on_missing_inventory == DEFAULT_ON_MISSING_INVENTORY == "skip"
    res = _res([("a", "2024-01-01", 1, 100.0, "checked_out")])
    result = compute_kpis(res, inventory_for(res, {}), KpiSpec())
    assert result.table["adr"].tolist() == [100.0] and "need room inventory" in result.warnings[0]


def test_a_booking_with_a_bad_rate_counts_everywhere_but_in_revenue() -> None:
    res = _res(
        [("a", "2024-01-01", 2, 100.0, "checked_out"), ("b", "2024-01-01", 1, -5.0, "checked_out")]
    )
    assert res["revenue_excluded"].tolist() == [False, True]
    metrics = ["rooms_sold", "unrated_rooms", "room_revenue", "adr", "occupancy", "revpar"]
    metrics += ["arrivals", "avg_lead_time", "alos"]
    spec = KpiSpec(metrics=metrics, grain="all")
    row = compute_kpis(res, inventory_for(res, {"H": 10}), spec).table.iloc[0]
    assert (row["rooms_sold"], row["unrated_rooms"], row["room_revenue"]) == (3, 1, 200.0)
    assert row["adr"] == 100.0  # over the two rooms whose rate is known
    assert row["occupancy"] == 3 / 20 and row["revpar"] == pytest.approx(3 / 20 * 100.0)
    assert (row["arrivals"], row["avg_lead_time"], row["alos"]) == (2, 10.0, 1.5)


def test_grain_all_by_status_counts_each_booking_once() -> None:
    res = _res(
        [
            ("a", "2024-01-01", 1, 100.0, "checked_out"),
            ("b", "2024-01-05", 2, 80.0, "cancelled"),
            ("c", "2024-02-01", 1, 90.0, "no_show"),
            ("d", "2024-02-03", 0, 0.0, "checked_out"),  # a day-use stay
        ]
    )
    metrics = ["bookings", "cancellations", "no_shows", "checked_out_bookings", "alos"]
    spec = KpiSpec(metrics=metrics, grain="all", dimensions=["status"], comparisons=["last_year"])
    result = compute_kpis(res, inventory_for(res, {"H": 5}), spec)
    t = result.table.set_index("status")
    assert set(t["period"]) == {pd.Timestamp("2024-01-01")}
    assert t["bookings"].to_dict() == {"cancelled": 1, "checked_out": 2, "no_show": 1}
    assert t.loc["cancelled", "cancellations"] == 1 and t.loc["no_show", "cancellations"] == 0
    assert t.loc["checked_out", "checked_out_bookings"] == 2
    assert t.loc["checked_out", "alos"] == 1.0  # the day-use stay is left out of ALOS
    assert "bookings_ly" not in t.columns and "needs both start and end" in result.warnings[0]


def test_grain_all_compares_the_range_with_the_same_dates_last_year() -> None:
    res = _res(
        [
            ("a", "2023-03-10", 2, 100.0, "checked_out"),
            ("b", "2024-03-10", 3, 120.0, "checked_out"),
            ("c", "2024-02-10", 1, 90.0, "checked_out"),
        ]
    )
    spec = KpiSpec(
        metrics=["adr", "rooms_sold"],
        grain="all",
        start=date(2024, 3, 1),
        end=date(2024, 3, 31),
        comparisons=["last_year", "previous_period"],
    )
    row = compute_kpis(res, inventory_for(res, {"H": 5}), spec).table.iloc[0]
    assert (row["period"], row["rooms_sold"], row["rooms_sold_ly"]) == (
        pd.Timestamp("2024-03-01"),
        3,
        2,
    )
    assert row["adr_yoy"] == pytest.approx(0.2) and row["adr_prev"] == 90.0  # Jan 30 - Feb 29


def test_final_pickup_counts_the_last_days_before_each_past_night() -> None:
    res = _res(
        [
            ("a", "2024-06-01", 2, 100.0, "confirmed"),
            ("b", "2024-06-02", 1, 100.0, "confirmed"),
            ("c", "2024-06-01", 1, 100.0, "cancelled"),
        ]
    )
    # a booked 05-22, b 05-23, c booked 05-22 and cancelled 05-30; every night is past.
    metrics = ["final_pickup", "rooms_on_books", "pickup"]
    spec = KpiSpec(metrics=metrics, as_of=date(2024, 6, 10), pickup_days=3)
    t = compute_kpis(res, inventory_for(res, {"H": 5}), spec).table.set_index("period")
    assert t.loc["2024-06-01", "final_pickup"] == -1  # c was on the books 3 days before
    assert t.loc["2024-06-02", "final_pickup"] == 0  # a and b were both booked by 05-30
    assert t["rooms_on_books"].isna().all() and t["pickup"].isna().all()


def test_pace_curve_by_days_before_arrival() -> None:
    res = _res(
        [("a", "2024-06-01", 1, 100.0, "confirmed"), ("c", "2024-06-01", 1, 1.0, "cancelled")]
    )
    # a booked 05-22 (10 days before), c booked 05-22 and cancelled 05-30 (2 days before).
    spec = KpiSpec(as_of=date(2024, 6, 10), pace_curve_days=12)
    curve = pace_curve(res, spec).set_index("days_before")["rooms_on_books"]
    assert curve.tolist() == [1, 1, 1] + [2] * 8 + [0, 0]
    # Seen from 05-25, a snapshot later than that (fewer than 7 days before) is unknown.
    early = pace_curve(res, replace(spec, as_of=date(2024, 5, 25)))
    known = early.dropna(subset=["rooms_on_books"])["days_before"]
    assert known.min() == 7 and early["rooms_on_books_ly"].isna().all()
