"""`mhi kpi` and `mhi forecast`: CSV on stdout, one clear line and exit 2 on bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlglot

from mhi.cli.main import main

DATA = Path(__file__).resolve().parents[2] / "data" / "hotel_bookings.csv.gz"


@pytest.fixture(scope="module")
def bookings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = pd.read_csv(DATA, keep_default_na=False, na_values=["NA"])
    part = raw[(raw["arrival_date_year"] == 2016) & (raw["arrival_date_month"] == "May")]
    path = tmp_path_factory.mktemp("cli") / "may.csv"
    part.to_csv(path, index=False)
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_kpi_prints_csv_by_month_and_hotel(
    capsys: pytest.CaptureFixture[str], bookings: Path
) -> None:
    code, out, err = _run(
        capsys,
        "kpi",
        str(bookings),
        "--rooms",
        "City Hotel=230,Resort Hotel=190",
        "--metrics",
        "occupancy,adr,revpar,cancellation_rate",
        "--by",
        "month,hotel",
    )
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out))
    assert list(table.columns) == [
        "period",
        "hotel",
        "occupancy",
        "adr",
        "revpar",
        "cancellation_rate",
    ]
    may = table[table["period"] == "2016-05-01"].set_index("hotel")
    raw = pd.read_csv(bookings)
    # Cancellations without no-shows (the dataset's is_canceled counts both).
    expected = (raw["reservation_status"] == "Canceled").groupby(raw["hotel"]).mean()
    np.testing.assert_allclose(may["cancellation_rate"], expected[may.index], atol=1e-6)
    assert (may["revpar"] - may["occupancy"] * may["adr"]).abs().max() < 1e-3


def test_kpi_with_a_segment_dimension_and_comparison(
    capsys: pytest.CaptureFixture[str], bookings: Path
) -> None:
    code, out, _ = _run(
        capsys,
        "kpi",
        str(bookings),
        "--rooms",
        "City Hotel=230,Resort Hotel=190",
        "--metrics",
        "rooms_sold",
        "--by",
        "week,hotel,distribution_channel",
        "--compare",
        "previous_period",
    )
    assert code == 0
    table = pd.read_csv(io.StringIO(out))
    assert list(table.columns) == [
        "period",
        "hotel",
        "distribution_channel",
        "rooms_sold",
        "rooms_sold_prev",
        "rooms_sold_pop",
    ]
    assert pd.to_datetime(table["period"]).dt.day_of_week.eq(0).all()  # weeks start on Monday


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--metrics", "occupancy,adx"], "error: unknown metric 'adx': valid metrics are"),
        (
            ["--rooms", "City Hotel=230", "--on-missing-inventory", "error"],
            "hotel(s) 'Resort Hotel' have none",
        ),
        (["--pickup-days", "0"], "pickup_days must be between 1 and 365"),
        (["--rooms", "City Hotel=lots"], "--rooms 'City Hotel=lots': expected HOTEL=ROOMS"),
        (["--rooms", "City Hotel=100,Resort Hotel=190"], "rooms for 'City Hotel' is 100, but"),
        (["--by", "month,year"], "--by names several grains"),
        (["--by", "month,segment"], "unknown dimension 'segment'"),
        (
            ["--start", "2030-01-01", "--rooms", "City Hotel=230,Resort Hotel=190"],
            "no data between 2030-01-01",
        ),
    ],
)
def test_kpi_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], bookings: Path, argv: list[str], message: str
) -> None:
    code, out, err = _run(capsys, "kpi", str(bookings), *argv)
    last = err.strip().splitlines()[-1]
    assert code == 2 and out == "" and last.startswith("error: ") and message in last
    assert "Traceback" not in err


def test_kpi_by_dimensions_only_is_one_row_each_over_the_whole_range(
    capsys: pytest.CaptureFixture[str], bookings: Path
) -> None:
    code, out, err = _run(
        capsys, "kpi", str(bookings), "--rooms", "City Hotel=230", "--by", "hotel",
        "--metrics", "rooms_sold,occupancy,median_lead_time,final_pickup",
        "--as-of", "2016-05-20", "--pickup-days", "3",
    )  # fmt: skip
    assert code == 0
    table = pd.read_csv(io.StringIO(out)).set_index("hotel")
    assert list(table.index) == ["City Hotel", "Resort Hotel"]
    assert set(table["period"]) == {"2016-05-01"}
    assert table["occupancy"].isna().tolist() == [False, True]  # the one default: skip, and say so
    assert "warning: occupancy need room inventory, but hotel(s) 'Resort Hotel' have none" in err
    raw = pd.read_csv(bookings)
    assert table["median_lead_time"].tolist() == raw.groupby("hotel")["lead_time"].median().tolist()


def test_kpi_pace_curve_and_sql(capsys: pytest.CaptureFixture[str], bookings: Path) -> None:
    args = ["kpi", str(bookings), "--by", "month,hotel", "--as-of", "2016-06-30"]
    code, out, _ = _run(capsys, *args, "--pace-curve", "20")
    assert code == 0
    curve = pd.read_csv(io.StringIO(out))
    assert list(curve.columns) == [
        "period",
        "hotel",
        "days_before",
        "rooms_on_books",
        "rooms_on_books_ly",
        "rooms_on_books_yoy",
    ]
    may = curve[(curve["period"] == "2016-05-01") & (curve["hotel"] == "City Hotel")]
    assert may["days_before"].tolist() == list(range(21))
    assert may["rooms_on_books"].iloc[0] > may["rooms_on_books"].iloc[-1]  # fewer booked ahead
    code, out, _ = _run(capsys, *args, "--sql", "bigquery")
    assert code == 0 and "DATE_TRUNC(CAST(stay_date AS DATE), MONTH)" in out
    sqlglot.parse_one(out, read="bigquery")


def test_kpi_help_gives_every_formula_and_its_source(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["kpi", "--help"])
    out = capsys.readouterr().out
    assert "cancellations / bookings [AAN]" in out and "[RM]    Revenue-management" in out
    assert "median_lead_time" in out and "all" in out.split("--by mixes one grain")[1]


def test_kpi_reports_rejected_rows_on_stderr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "canonical.csv"
    path.write_text(
        "hotel,reservation_id,arrival_date,departure_date,status,adr\n"
        "H,1,2024-01-01,2024-01-03,checked_out,100\n"
        "H,2,2024-01-01,2024-01-02,checked_out,abc\n"
    )
    code, out, err = _run(
        capsys, "kpi", str(path), "--rooms", "H=10", "--metrics", "rooms_sold,adr"
    )
    assert code == 0
    assert "warning: 1 rows rejected ({'not_a_number': 1}); first: data row 2" in err
    assert pd.read_csv(io.StringIO(out))["rooms_sold"].tolist() == [1, 1]


def test_kpi_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "kpi", "nope.csv")
    assert code == 2 and err.strip() == "error: nope.csv: no such file"


@pytest.fixture
def series_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    dates = pd.date_range("2020-01-01", periods=40, freq="MS")
    season = np.resize([80, 85, 95, 110, 130, 160, 190, 185, 140, 110, 90, 85], 40)
    frames = [
        pd.DataFrame(
            {
                "series_id": sid,
                "date": dates.strftime("%Y-%m-%d"),
                "value": season * k + rng.normal(0, 4, 40),
            }
        )
        for sid, k in (("a", 1), ("b", 2))
    ]
    path = tmp_path / "series.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


def test_forecast_prints_the_documented_columns(
    capsys: pytest.CaptureFixture[str], series_csv: Path
) -> None:
    code, out, err = _run(
        capsys,
        "forecast",
        str(series_csv),
        "--horizon",
        "6",
        "--freq",
        "M",
        "--levels",
        "80,95",
        "--folds",
        "2",
    )
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out))
    assert list(table.columns) == [
        "series_id",
        "date",
        "forecast",
        "lower_80",
        "upper_80",
        "lower_95",
        "upper_95",
        "model",
    ]
    assert table.groupby("series_id").size().to_dict() == {"a": 6, "b": 6}
    assert table["date"].iloc[0] == "2023-05-01"
    assert (table["lower_95"] <= table["lower_80"]).all() and (
        table["upper_80"] <= table["upper_95"]
    ).all()


def test_forecast_named_model_and_season(
    capsys: pytest.CaptureFixture[str], series_csv: Path
) -> None:
    code, out, _ = _run(
        capsys,
        "forecast",
        str(series_csv),
        "--horizon",
        "2",
        "--freq",
        "M",
        "--model",
        "snaive",
        "--season-length",
        "12",
    )
    assert code == 0 and set(pd.read_csv(io.StringIO(out))["model"]) == {"snaive(12)"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--levels", "80,x"], "--levels '80,x': expected numbers"),
        (["--levels", "150"], "each level must be between 0 and 100"),
        (["--model", "prophet"], "unknown model 'prophet'"),
        (["--horizon", "0"], "--horizon and --folds must be at least 1"),
    ],
)
def test_forecast_errors(
    capsys: pytest.CaptureFixture[str], series_csv: Path, argv: list[str], message: str
) -> None:
    base = ["forecast", str(series_csv), "--horizon", "3", "--freq", "M"]
    code, _, err = _run(capsys, *base, *argv)
    assert code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("freq", "start", "first"),
    [("Q", "2001-02-10", "2011-01-01"), ("Y", "1990-06-30", "2030-01-01")],
)
def test_forecast_quarterly_and_yearly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, freq: str, start: str, first: str
) -> None:
    rng = np.random.default_rng(11)
    step = "QS" if freq == "Q" else "YS"
    dates = pd.date_range(pd.Timestamp(start).to_period(freq).start_time, periods=40, freq=step)
    values = 100 + 2 * np.arange(40) + rng.normal(0, 3, 40)
    path = tmp_path / "s.csv"
    pd.DataFrame({"series_id": "s", "date": dates.strftime("%Y-%m-%d"), "value": values}).to_csv(
        path, index=False
    )
    code, out, err = _run(capsys, "forecast", str(path), "--horizon", "3", "--freq", freq)
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out))
    assert table["date"].iloc[0] == first and len(table) == 3
    assert (table["forecast"].diff().dropna() > 0).all()  # the trend goes on
