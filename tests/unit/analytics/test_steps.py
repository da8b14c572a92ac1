"""The analytics step kinds, run through the step SDK on a real DuckDB warehouse."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mhi.adapters.local.duckdb_warehouse import DuckDbWarehouse
from mhi.adapters.local.fs_blob_store import FsBlobStore
from mhi.adapters.local.fs_run_store import FsRunStore
from mhi.analytics.steps import DATA_MODELING, DEMAND_FORECAST, FILE_IMPORT, KPI_ENGINE
from mhi.config import Settings
from mhi.model.messages import CallbackMessage, CallbackStatus, StepMessage
from mhi.services import Services
from mhi.steps.sdk import StepKind, run_step

from .conftest import DATA

# The configs of the seed's daily-avalon-extract flow, verbatim.
SEED_MODEL_CONFIG = {"source": "avalon", "target_schema": "analytics"}
SEED_KPI_CONFIG = {"metrics": ["occupancy", "adr", "revpar"]}


@pytest.fixture
def services(tmp_path: Path) -> Services:
    return Services(
        Settings(home=tmp_path),
        warehouse=DuckDbWarehouse(tmp_path / "warehouse.duckdb"),
        blobs=FsBlobStore(tmp_path / "blobs"),
        run_store=FsRunStore(tmp_path / "state"),
    )


def _run(
    services: Services,
    kind: StepKind[Any],
    config: dict[str, Any],
    upstream: dict[str, Any] | None = None,
) -> CallbackMessage:
    message = StepMessage(
        run_id="r1",
        flow_id="daily-avalon-extract",
        account="hotel-fergus",
        step_id="s",
        attempt=1,
        type=kind.type,
        config=config,
        callback_topic="ms-flows-callbacks",
        deadline=datetime.now(UTC) + timedelta(minutes=5),
        upstream=upstream or {},
    )
    return run_step(message, kind, services)


@pytest.fixture(scope="module")
def slice_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two months of arrivals of both hotels, gzipped, as the bundled file's format."""
    raw = pd.read_csv(DATA, keep_default_na=False, na_values=["NA"])
    part = raw[
        (raw["arrival_date_year"] == 2016) & raw["arrival_date_month"].isin(["March", "April"])
    ]
    path = tmp_path_factory.mktemp("data") / "bookings.csv.gz"
    with gzip.open(path, "wt") as f:
        part.to_csv(f, index=False)
    return path


def test_import_model_and_kpis_end_to_end(services: Services, slice_csv: Path) -> None:
    imported = _run(services, FILE_IMPORT, {"path": str(slice_csv), "table": "hotel_bookings"})
    assert imported.status == CallbackStatus.SUCCEEDED, imported.error
    rows = imported.output["rows"]
    assert imported.output == {"table": "raw.hotel_bookings", "rows": rows, "columns": 32}
    modelled = _run(
        services,
        DATA_MODELING,
        {"source": "hotel_bookings", "rooms": {"City Hotel": 230, "Resort Hotel": 190}},
    )
    out = modelled.output
    assert out["rows"] + out["rejected"] == rows and out["mode"] == "full"
    assert out["tables"]["stay_nights"] == "model.stay_nights"
    report = services.warehouse.read("hotel-fergus", "model.validation_report")
    assert len(report) == out["rejected"] + out["revenue_excluded"]
    assert set(report["action"]) <= {"rejected", "revenue_excluded"}
    kpis = _run(
        services,
        KPI_ENGINE,
        {"metrics": ["occupancy", "adr", "revpar"], "grain": "month", "comparisons": []},
    )
    assert kpis.status == CallbackStatus.SUCCEEDED, kpis.error
    table = services.warehouse.read("hotel-fergus", "kpi.month_by_hotel")
    assert kpis.output["tables"] == ["kpi.month_by_hotel"] and kpis.output["rows"] == len(table)
    city = {h["hotel"]: h for h in kpis.output["headline"]}["City Hotel"]
    assert city["period"] == "2016-04-01"  # the last full month of arrivals in the slice
    april = table[(table["hotel"] == "City Hotel") & (table["period"] == "2016-04-01")].iloc[0]
    assert city["adr"] == pytest.approx(april["adr"], abs=1e-4)
    pngs = [Path(u.removeprefix("file://")) for u in kpis.output["charts"]]
    assert len(pngs) == 3 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_kpi_step_writes_the_tables_in_the_warehouse(services: Services, slice_csv: Path) -> None:
    _run(services, FILE_IMPORT, {"path": str(slice_csv), "table": "hotel_bookings"})
    _run(services, DATA_MODELING, {"source": "hotel_bookings"})
    config = {
        "metrics": ["rooms_sold", "adr", "occupancy", "cancellation_rate", "median_lead_time"],
        "grain": ["month", "all"],
        "rooms": {"City Hotel": 230, "Resort Hotel": 190},
        "pace_curve_days": 30,
        "charts": False,
    }
    kpis = _run(services, KPI_ENGINE, config)
    assert kpis.status == CallbackStatus.SUCCEEDED, kpis.error
    out, wh = kpis.output, services.warehouse
    assert out["tables"] == [
        "kpi.month_by_hotel",
        "kpi.pace_month_by_hotel",
        "kpi.all_by_hotel",
        "kpi.pace_all_by_hotel",
    ]
    assert out["rows"] == sum(len(wh.read("hotel-fergus", t)) for t in out["tables"])
    whole = wh.read("hotel-fergus", "kpi.all_by_hotel").set_index("hotel")
    monthly = wh.read("hotel-fergus", "kpi.month_by_hotel").groupby("hotel")["rooms_sold"].sum()
    assert whole["rooms_sold"].to_dict() == monthly.to_dict()
    assert {h["hotel"]: h["rooms_sold"] for h in out["headline"]} == whole["rooms_sold"].to_dict()
    assert "comparisons" not in str(out["warnings"]) or "grain all" in out["warnings"][0]
    # A run over a date range merges into the tables instead of replacing them.
    again = _run(services, KPI_ENGINE, {**config, "grain": "month", "start": "2016-04-01"})
    assert again.status == CallbackStatus.SUCCEEDED, again.error
    merged = wh.read("hotel-fergus", "kpi.month_by_hotel")
    assert sorted(merged["period"].dt.strftime("%m").unique()) == ["03", "04", "05"]  # March kept


def _avalon(day: str, **fields: Any) -> dict[str, Any]:
    base = {
        "id": "A1",
        "localizador": "L-1",
        "hotel": "Fergus Palma",
        "arrival": "2025-03-01",
        "departure": "2025-03-03",
        "status": "confirmed",
        "room_type": "DBL",
        "channel": "Web",
        "room_amount": 200.0,
        "currency": "EUR",
        "created_at": "2025-01-02T10:00:00Z",
        "updated_at": f"{day}T10:00:00Z",
        "_landed_at": f"{day}T11:00:00Z",
        "_run_id": "x",
    }
    return base | fields


def test_seed_configs_run_unchanged_on_avalon_records(services: Services) -> None:
    model_cfg, kpi_cfg = SEED_MODEL_CONFIG, SEED_KPI_CONFIG
    records = [
        _avalon("2025-02-01"),
        _avalon("2025-02-01", id="A2", arrival="2025-03-02", departure="2025-03-01"),
    ]
    services.warehouse.write("hotel-fergus", "raw.avalon_reservations", pd.DataFrame(records))
    modelled = _run(services, DATA_MODELING, model_cfg)
    assert modelled.status == CallbackStatus.SUCCEEDED, modelled.error
    assert modelled.output["schema"] == "analytics" and modelled.output["rows"] == 1
    assert modelled.output["rejected_by_reason"] == {"departure_before_arrival": 1}
    kpis = _run(services, KPI_ENGINE, kpi_cfg, upstream={"model-data": modelled.output})
    assert kpis.status == CallbackStatus.SUCCEEDED, kpis.error
    # No room count anywhere: ADR is computed, occupancy and RevPAR are left empty and said so.
    assert "need room inventory" in kpis.output["warnings"][0]
    assert (
        kpis.output["headline"][0]["adr"] == 100.0 and "occupancy" not in kpis.output["headline"][0]
    )


def test_incremental_modeling_replaces_the_changes_of_a_day(services: Services) -> None:
    wh = services.warehouse
    day1 = [
        _avalon("2025-02-01"),
        _avalon("2025-02-01", id="A2", arrival="2025-03-05", departure="2025-03-08"),
    ]
    wh.write("hotel-fergus", "raw.avalon_reservations", pd.DataFrame(day1))
    assert (
        _run(services, DATA_MODELING, {"source": "avalon", "date": "2025-02-01"}).output["rows"]
        == 2
    )
    # Day 2: A1 is cancelled, A2 shortened by a night.
    day2 = [
        _avalon("2025-02-02", status="cancelled"),
        _avalon("2025-02-02", id="A2", arrival="2025-03-05", departure="2025-03-07"),
    ]
    wh.write("hotel-fergus", "raw.avalon_reservations", pd.DataFrame(day2), mode="append")
    for _ in range(2):  # re-running the day gives the same tables
        out = _run(services, DATA_MODELING, {"source": "avalon", "date": "2025-02-02"}).output
        assert out["mode"] == "incremental" and out["rows"] == 2
        res = wh.read("hotel-fergus", "model.reservations").set_index("reservation_id")
        nights = wh.read("hotel-fergus", "model.stay_nights")
        assert len(res) == 2 and res.loc["A1", "status"] == "cancelled"
        assert sorted(nights["stay_date"].dt.strftime("%m-%d")) == ["03-05", "03-06"]


@pytest.mark.parametrize(
    ("kind", "config", "message"),
    [
        (FILE_IMPORT, {"path": "nope.csv", "table": "x"}, "nope.csv: no such file"),
        (
            FILE_IMPORT,
            {"path": "data/hotel_bookings.csv.gz", "table": "Bad-Name"},
            "table 'Bad-Name'",
        ),
        (DATA_MODELING, {"source": "opera"}, "unknown source 'opera'"),
        (DATA_MODELING, {"source": "avalon", "targt_schema": "x"}, "targt_schema: unknown field"),
        (DATA_MODELING, {"source": "avalon"}, "raw.avalon_reservations does not exist"),
        (
            KPI_ENGINE,
            {"metrics": ["occupancy", "adx"]},
            "unknown metrics ['adx']: valid metrics are",
        ),
        (KPI_ENGINE, {"grain": "quarter"}, "unknown grain 'quarter'"),
        (
            KPI_ENGINE,
            {},
            "model.reservations does not exist for account hotel-fergus: run an ms-data",
        ),
        (DEMAND_FORECAST, {"levels": [80, 120]}, "levels must be percentages"),
    ],
)
def test_bad_config_or_input_fails_with_a_clear_permanent_error(
    services: Services, kind: StepKind[Any], config: dict[str, Any], message: str
) -> None:
    callback = _run(services, kind, config)
    assert callback.status == CallbackStatus.FAILED and callback.error is not None
    assert message in callback.error.message and callback.error.retryable is False


def test_bad_csv_is_a_clear_error(services: Services, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(b"not gzip at all")
    callback = _run(services, FILE_IMPORT, {"path": str(bad), "table": "x"})
    assert callback.error is not None and "bad.csv.gz: not a readable CSV" in callback.error.message


def test_demand_forecast_writes_forecasts_models_and_charts(
    services: Services, slice_csv: Path
) -> None:
    _run(services, FILE_IMPORT, {"path": str(slice_csv), "table": "hotel_bookings"})
    _run(services, DATA_MODELING, {"source": "hotel_bookings"})
    config = {
        "series": [{"measure": "room_nights", "freq": "D", "horizon": 7}],
        "levels": [80, 95],
        "backtest_folds": 2,
    }
    callback = _run(services, DEMAND_FORECAST, config)
    assert callback.status == CallbackStatus.SUCCEEDED, callback.error
    out = callback.output
    assert out["tables"] == [
        "forecast.room_nights_daily",
        "forecast.room_nights_daily_models",
        "forecast.room_nights_daily_history",
    ]
    fc = services.warehouse.read("hotel-fergus", "forecast.room_nights_daily")
    assert out["rows"] == len(fc) == 14 and set(fc["series_id"]) == {
        "City Hotel|room_nights|D",
        "Resort Hotel|room_nights|D",
    }
    assert (fc["lower_95"] <= fc["forecast"]).all() and (fc["forecast"] <= fc["upper_95"]).all()
    assert fc["date"].min() == pd.Timestamp(out["history_end"]) + pd.Timedelta(days=1)
    assert len(out["charts"]) == 2 and all(Path(u[7:]).stat().st_size > 1000 for u in out["charts"])
