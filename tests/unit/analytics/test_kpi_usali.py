"""KPIs beyond rooms (USALI): revenue by department, TRevPAR, GOP, GOPPAR, CPOR, reviews."""

from __future__ import annotations

import pandas as pd
import pytest

from mhi.analytics.kpi_usali import review_kpis, usali_department, usali_kpis
from mhi.errors import StepExecutionError

JAN, FEB = pd.Timestamp("2026-01-01"), pd.Timestamp("2026-02-01")


def _rooms(hotels: tuple[str, ...] = ("Sol",)) -> pd.DataFrame:
    rows = []
    for h in hotels:
        rows += [
            {
                "period": JAN,
                "hotel": h,
                "room_revenue": 10_000.0,
                "rooms_sold": 100,
                "rooms_available": 310,
            },
            {
                "period": FEB,
                "hotel": h,
                "room_revenue": 8_000.0,
                "rooms_sold": 80,
                "rooms_available": 280,
            },
        ]
    return pd.DataFrame(rows)


POS = pd.DataFrame(
    {
        "outlet": ["REST-01", "BAR-01", "REST-01"],
        "business_date": pd.to_datetime(["2026-01-03", "2026-01-20", "2026-02-02"]),
        "net_revenue_reporting": [300.0, 200.0, 150.0],
    }
)
EVENTS = pd.DataFrame(
    {
        "event_id": ["ev1"],
        "sale_date": pd.to_datetime(["2026-01-10"]),
        "net_revenue_reporting": [1_000.0],
    }
)
LEDGER = pd.DataFrame(
    {
        "kind": ["cost", "cost", "cost", "revenue", "cost"],
        "department": ["ROOMS", "F&B", "ADMIN", "ROOMS", "Lavandería"],
        "posting_date": pd.to_datetime(
            ["2026-01-31", "2026-01-31", "2026-01-31", "2026-01-31", "2026-02-28"]
        ),
        "amount_reporting": [2_000.0, 400.0, 1_500.0, 99_999.0, 700.0],
    }
)


def test_one_hotel_gets_every_outlet_and_the_usali_figures_add_up() -> None:
    out = usali_kpis(
        _rooms(),
        "month",
        pos=POS,
        events=EVENTS,
        ledger=LEDGER,
        departments={"Lavandería": "rooms"},
    ).set_index("period")
    jan, feb = out.loc[JAN], out.loc[FEB]
    assert jan["food_and_beverage_revenue"] == 500.0 and feb["food_and_beverage_revenue"] == 150.0
    assert jan["other_operated_revenue"] == 1_000.0
    assert jan["total_revenue"] == 10_000 + 500 + 1_000  # ledger revenue is not added twice
    assert jan["trevpar"] == pytest.approx(11_500 / 310)
    assert jan["departmental_expenses"] == 2_400.0 and jan["undistributed_expenses"] == 1_500.0
    assert jan["gop"] == 11_500 - 2_400 - 1_500
    assert jan["goppar"] == pytest.approx(7_600 / 310)
    assert jan["cost_per_occupied_room"] == pytest.approx(2_000 / 100)
    assert feb["cost_per_occupied_room"] == pytest.approx(700 / 80)  # the override: rooms


def test_the_previous_period_and_last_year_stand_beside_each_figure() -> None:
    rooms = pd.concat(
        [_rooms(), _rooms().assign(period=lambda f: f["period"] - pd.DateOffset(years=1))]
    ).assign(room_revenue=[10_000.0, 8_000.0, 5_000.0, 4_000.0])
    out = usali_kpis(rooms, "month").set_index("period")
    feb = out.loc[FEB]
    assert feb["total_revenue_prev"] == 10_000.0 and feb["total_revenue_pop"] == pytest.approx(-0.2)
    assert feb["total_revenue_ly"] == 4_000.0 and feb["total_revenue_yoy"] == pytest.approx(1.0)
    assert feb["trevpar_ly"] == pytest.approx(4_000 / 280)
    assert pd.isna(out.loc[pd.Timestamp("2025-01-01"), "gop_ly"])


def test_event_revenue_falls_on_the_event_date_when_known() -> None:
    sold_in_jan_for_feb = EVENTS.assign(event_date=pd.to_datetime(["2026-02-14"]))
    out = usali_kpis(_rooms(), "month", events=sold_in_jan_for_feb).set_index("period")
    assert out.loc[JAN, "other_operated_revenue"] == 0.0
    assert out.loc[FEB, "other_operated_revenue"] == 1_000.0


def test_several_hotels_need_every_outlet_mapped() -> None:
    with pytest.raises(StepExecutionError, match="unmapped: BAR-01, REST-01"):
        usali_kpis(_rooms(("Sol", "Mar")), "month", pos=POS)
    out = usali_kpis(
        _rooms(("Sol", "Mar")),
        "month",
        pos=POS,
        hotel_of={"REST-01": "Sol", "BAR-01": "Mar"},
    )
    fb = out.set_index(["hotel", "period"])["food_and_beverage_revenue"]
    assert (fb[("Sol", JAN)], fb[("Mar", JAN)], fb[("Mar", FEB)]) == (300.0, 200.0, 0.0)


def test_without_sources_rooms_is_the_total_and_bad_input_is_named() -> None:
    out = usali_kpis(_rooms(), "month")
    assert list(out["total_revenue"]) == [10_000.0, 8_000.0] and out["gop"].tolist() == [
        10_000.0,
        8_000.0,
    ]
    with pytest.raises(StepExecutionError, match="room KPIs lack"):
        usali_kpis(_rooms().drop(columns="rooms_available"), "month")
    assert usali_department(pd.Series(["rooms", " f&b ", "IT"]), {}).tolist() == [
        "rooms",
        "food_and_beverage",
        "undistributed",
    ]


def test_review_score_volume_and_reputation_index_by_source() -> None:
    reviews = pd.DataFrame(
        {
            "hotel": ["1", "1", "1", "1"],
            "review_source": ["booking", "booking", "tripadvisor", "booking"],
            "review_date": pd.to_datetime(["2026-01-02", "2026-01-30", "2026-01-15", "2026-02-01"]),
            "score": [8.0, 9.0, 7.0, 10.0],
        }
    )
    out = review_kpis(reviews, "month").set_index(["period", "review_source"])
    assert out.loc[(JAN, "booking"), "review_volume"] == 2
    assert out.loc[(JAN, "booking"), "review_score"] == 8.5
    assert out.loc[(JAN, "booking"), "reputation_index"] == 85.0
    assert out.loc[(JAN, "tripadvisor"), "review_score"] == 7.0
    assert out.loc[(FEB, "booking"), "review_score_prev"] == 8.5
    assert out.loc[(FEB, "booking"), "review_volume_pop"] == pytest.approx(-0.5)
