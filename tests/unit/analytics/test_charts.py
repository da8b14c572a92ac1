"""Charts people read: titles, axis labels with units, partial periods marked, YTD aligned."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from mhi.analytics.charts import (
    PARTIAL_LABEL,
    forecast_figure,
    kpi_trend_figure,
    kpi_trend_png,
    year_to_date,
    year_to_date_figure,
)
from mhi.analytics.labels import format_change, format_value, is_partial


def _monthly() -> pd.DataFrame:
    periods = pd.date_range("2016-01-01", "2017-09-01", freq="MS")
    rows = []
    for hotel, scale in (("City Hotel", 1.0), ("Resort Hotel", 0.5)):
        for i, p in enumerate(periods):
            rows.append(
                {
                    "period": p,
                    "hotel": hotel,
                    "occupancy": 0.7 + 0.01 * (i % 5),
                    "room_revenue": scale * 1_000_000 + i * 1000,
                    "rooms_sold": 100 + i,
                }
            )
    frame = pd.DataFrame(rows)
    frame.loc[frame["period"] == pd.Timestamp("2017-09-01"), "occupancy"] = 0.08
    return frame


def _partial_spans(fig) -> list:
    ax = fig.axes[0]
    return [p for p in ax.patches if p.get_hatch() == "//"]


def test_trend_chart_has_words_units_and_marks_the_partial_last_month() -> None:
    fig = kpi_trend_figure(
        _monthly(), "occupancy", "month", complete=(date(2016, 1, 1), date(2017, 8, 31))
    )
    ax = fig.axes[0]
    assert ax.get_title() == "Occupancy by month and hotel"
    assert ax.get_ylabel() == "Occupancy (%)"
    assert ax.get_xlabel() == "Month"
    assert ax.yaxis.get_major_formatter()(0.82, 0) == "82%"
    spans = _partial_spans(fig)
    assert len(spans) == 1  # only Sep 2017: Jan 2016 is inside the data
    assert PARTIAL_LABEL in [t.get_text() for t in ax.get_legend().get_texts()]


def test_revenue_axis_has_currency_and_thousands_without_offset() -> None:
    fig = kpi_trend_figure(_monthly(), "room_revenue", "month", currency="usd")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "Room revenue (USD)"
    assert ax.yaxis.get_major_formatter()(1_250_000, 0) == "1,250,000"
    fig.canvas.draw()
    assert ax.yaxis.get_offset_text().get_text() == ""
    assert not _partial_spans(fig)  # no range given: nothing marked


def test_first_and_yearly_partial_periods_are_marked() -> None:
    yearly = pd.DataFrame(
        {
            "period": pd.to_datetime(["2015-01-01", "2016-01-01", "2017-01-01"]),
            "hotel": "City Hotel",
            "adr": [90.0, 95.0, 99.0],
        }
    )
    fig = kpi_trend_figure(yearly, "adr", "year", complete=(date(2015, 7, 1), date(2017, 8, 31)))
    assert fig.axes[0].get_xlabel() == "Year"
    assert fig.axes[0].get_ylabel() == "Average daily rate (ADR) (EUR)"
    assert len(_partial_spans(fig)) == 2
    assert (
        is_partial(pd.Timestamp("2016-01-01"), "year", date(2015, 7, 1), date(2017, 8, 31)) is False
    )


def test_nothing_to_draw_is_none_and_png_is_png() -> None:
    assert kpi_trend_figure(_monthly(), "revpar", "month") is None
    assert kpi_trend_png(_monthly(), "rooms_sold", "month")[:4] == b"\x89PNG"


def test_year_to_date_compares_the_same_months() -> None:
    monthly = _monthly()
    ytd = year_to_date(monthly, "rooms_sold", date(2017, 8, 31))
    city = ytd[ytd["hotel"] == "City Hotel"].set_index("year")["rooms_sold"]
    # Jan-Aug 2016 are months 0..7 (100..107), Jan-Aug 2017 months 12..19 (112..119).
    assert city[2016] == sum(range(100, 108))
    assert city[2017] == sum(range(112, 120))
    # Data from 1 Jul 2016: 2016's Jan-Aug is not all there, so only 2017 is drawn.
    assert list(
        year_to_date(monthly, "rooms_sold", date(2017, 8, 31), date(2016, 7, 1))["year"]
    ) == [2017, 2017]
    fig = year_to_date_figure(monthly, "rooms_sold", (date(2016, 1, 1), date(2017, 8, 31)))
    ax = fig.axes[0]
    assert "year to date (Jan–Aug)" in ax.get_title()
    assert ax.get_ylabel() == "Rooms sold (nights)"
    with pytest.raises(ValueError, match="no year whose months"):
        year_to_date(monthly, "rooms_sold", date(2017, 8, 31), date(2017, 2, 1))
    with pytest.raises(ValueError, match="ratio"):
        year_to_date(monthly, "occupancy", date(2017, 8, 31))


def test_forecast_chart_names_hotel_measure_and_intervals() -> None:
    hist = pd.DataFrame(
        {
            "date": pd.date_range("2016-01-01", periods=12, freq="MS"),
            "actual": range(3000, 3012),
            "anomaly": [False] * 11 + [True],
        }
    )
    fc = pd.DataFrame(
        {
            "date": pd.date_range("2017-01-01", periods=3, freq="MS"),
            "forecast": [3100.0] * 3,
            "lower_80": [3000.0] * 3,
            "upper_80": [3200.0] * 3,
            "model": "ets",
        }
    )
    fig = forecast_figure(hist, fc, "City Hotel|room_nights|M", [80])
    ax = fig.axes[0]
    assert ax.get_title() == "Room nights at City Hotel: monthly history and forecast (ets)"
    assert ax.get_ylabel() == "Room nights (nights)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["actual", "forecast", "80% interval", "anomaly"]


def test_formats() -> None:
    assert format_value("occupancy", 0.8234, "EUR") == "82.3 %"
    assert format_value("room_revenue", 1234567.8, "EUR") == "EUR 1,234,568"
    assert format_value("adr", 101.456, "EUR") == "EUR 101.46"
    assert format_value("rooms_sold", 12345, "EUR") == "12,345"
    assert format_value("adr", None, "EUR") == "–"
    assert format_change(0.053) == "+5.3 %"
    assert format_value("review_score", 8.64, "EUR") == "8.6"


def test_a_partial_period_is_never_on_the_solid_line() -> None:
    fig = kpi_trend_figure(
        _monthly(), "occupancy", "month", complete=(date(2016, 1, 1), date(2017, 8, 31))
    )
    solid = [ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "-"]
    assert len(solid) == 2  # one per hotel
    for line in solid:
        ys = pd.Series(line.get_ydata(), index=pd.to_datetime(line.get_xdata()))
        assert pd.isna(ys[pd.Timestamp("2017-09-01")]) and ys.notna().sum() == 20
    dotted = [ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() == ":"]
    assert {float(ln.get_ydata()[-1]) for ln in dotted} == {0.08}
