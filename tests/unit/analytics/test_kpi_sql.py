"""The KPIs as SQL in the warehouse equal the pandas reference on the bundled bookings; the
BigQuery SQL parses as BigQuery and, read back into DuckDB, gives the same tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlglot

from mhi.adapters.local.duckdb_warehouse import DuckDbWarehouse
from mhi.analytics.kpi import compute_kpis, data_range
from mhi.analytics.kpi_pace import pace_curve
from mhi.analytics.kpi_spec import KpiSpec
from mhi.analytics.kpi_sql import SqlContext, compile_kpis
from mhi.analytics.kpi_warehouse import plan_kpis, query_kpis, query_pace_curve
from mhi.analytics.metrics import METRICS
from mhi.analytics.modeling import ModelResult
from mhi.analytics.sql_dialect import dialect
from mhi.errors import PermanentError, StepConfigError, StepExecutionError

from .conftest import ROOMS

ALL = [m for m in METRICS if m != "trevpar"]  # the bundled data has no other revenue
AS_OF = date(2017, 6, 1)


@pytest.fixture(scope="module")
def warehouse(
    tmp_path_factory: pytest.TempPathFactory,
    modelled: ModelResult,
    nights: pd.DataFrame,
    inventory: pd.DataFrame,
) -> DuckDbWarehouse:
    wh = DuckDbWarehouse(tmp_path_factory.mktemp("kpi") / "warehouse.duckdb")
    wh.write("acme", "model.reservations", modelled.reservations)
    wh.write("acme", "model.stay_nights", nights)
    wh.write("acme", "model.room_inventory", inventory)
    return wh


def _same(sql_table: pd.DataFrame, reference: pd.DataFrame) -> None:
    def numeric(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.apply(lambda s: s.astype("float64") if s.dtype.kind in "iuf" else s)

    pd.testing.assert_frame_equal(
        numeric(sql_table), numeric(reference), check_dtype=False, rtol=1e-9
    )


@pytest.mark.parametrize("include_complimentary", [False, True])
@pytest.mark.parametrize(
    ("grain", "dimensions", "start", "end"),
    [
        ("day", ["hotel"], None, None),
        ("month", ["hotel", "market_segment"], date(2016, 1, 1), date(2017, 8, 31)),
        ("all", ["hotel", "status"], date(2016, 7, 1), date(2017, 6, 30)),
    ],
)
def test_the_warehouse_computes_every_metric_as_the_reference_does(
    warehouse: DuckDbWarehouse,
    modelled: ModelResult,
    nights: pd.DataFrame,
    inventory: pd.DataFrame,
    include_complimentary: bool,
    grain: str,
    dimensions: list[str],
    start: date | None,
    end: date | None,
) -> None:
    spec = KpiSpec(
        metrics=ALL,
        grain=grain,
        dimensions=dimensions,
        start=start,
        end=end,
        comparisons=["previous_period", "last_year"],
        include_complimentary=include_complimentary,
        as_of=AS_OF,
    )
    plan = plan_kpis(warehouse, "acme", "model", spec)
    got = query_kpis(warehouse, "acme", plan)
    expected = compute_kpis(modelled.reservations, inventory, spec, nights).table
    assert len(got) > 0 and list(got.columns) == spec.output_columns()
    _same(got, expected)


def test_the_pace_curve_in_the_warehouse_equals_the_reference(
    warehouse: DuckDbWarehouse, modelled: ModelResult
) -> None:
    spec = KpiSpec(
        grain="month",
        start=date(2017, 5, 1),
        end=date(2017, 8, 31),
        as_of=date(2017, 6, 15),
        pace_curve_days=60,
    )
    got = query_pace_curve(warehouse, "acme", plan_kpis(warehouse, "acme", "model", spec))
    _same(got, pace_curve(modelled.reservations, spec))
    july = got[(got["hotel"] == "City Hotel") & (got["period"] == "2017-07-01")]
    # Known for snapshots up to June 15: 46 days or more before July 31.
    assert july.dropna(subset=["rooms_on_books"])["days_before"].tolist() == list(range(46, 61))
    assert july["rooms_on_books_ly"].notna().all()  # July 2016 is complete


def _context(modelled: ModelResult, rooms: dict[str, int] | None = None) -> SqlContext:
    first, last = data_range(modelled.reservations)
    return SqlContext("model", AS_OF, first, last, rooms or {})


@pytest.mark.parametrize("grain", ["day", "week", "month", "year", "all"])
def test_bigquery_sql_parses_and_means_what_the_duckdb_sql_means(
    warehouse: DuckDbWarehouse, modelled: ModelResult, grain: str
) -> None:
    spec = KpiSpec(
        metrics=ALL,
        grain=grain,
        dimensions=["hotel"],
        start=date(2016, 6, 1),
        end=date(2017, 5, 31),
        comparisons=["previous_period", "last_year"],
        as_of=AS_OF,
        pace_curve_days=14,
    )
    # A rooms override with a quote and a backslash exercises BigQuery's string escapes.
    ctx = _context(modelled, {**ROOMS, "O'Brien \\ Inn": 3})
    bigquery = compile_kpis(spec, dialect("bigquery"), ctx, ordered=True)
    assert "PERCENTILE_CONT(lead_time, 0.5) OVER" in bigquery and "`date`" in bigquery
    if grain == "week":
        assert "DATE_TRUNC(CAST(stay_date AS DATE), ISOWEEK)" in bigquery  # Monday weeks
    as_duckdb = sqlglot.parse_one(bigquery, read="bigquery").sql(dialect="duckdb")
    duckdb_sql = compile_kpis(spec, dialect("duckdb"), ctx, ordered=True)
    _same(warehouse.query("acme", as_duckdb), warehouse.query("acme", duckdb_sql))


def test_bigquery_pace_curve_parses_and_means_the_same(
    warehouse: DuckDbWarehouse, modelled: ModelResult
) -> None:
    from mhi.analytics.kpi_queries import (
        capacity_sql,
        capacity_sql_from,
        pace_curve_sql,
        profile_sql,
    )

    spec = KpiSpec(grain="week", start=date(2017, 5, 1), end=date(2017, 7, 31), pace_curve_days=30)
    ctx = _context(modelled)
    for make in (
        lambda d: pace_curve_sql(spec, d, ctx, ordered=True),
        lambda d: profile_sql(
            d,
            "model",
            inventory=True,
            other=True,
            capacity=capacity_sql_from(spec, d, "model", "model.room_inventory"),
        ),
        lambda d: capacity_sql(
            replace(spec, start=None, end=None), d, _context(modelled, {"City Hotel": 200})
        ),
    ):
        bigquery = make(dialect("bigquery"))
        as_duckdb = sqlglot.parse_one(bigquery, read="bigquery").sql(dialect="duckdb")
        _same(warehouse.query("acme", as_duckdb), warehouse.query("acme", make(dialect("duckdb"))))


def test_checks_run_in_the_warehouse(warehouse: DuckDbWarehouse) -> None:
    with pytest.raises(StepConfigError, match="rooms for 'City Hotel' is 100, but 226 rooms"):
        plan_kpis(warehouse, "acme", "model", KpiSpec(), {"City Hotel": 100, "Resort Hotel": 190})
    plan = plan_kpis(warehouse, "acme", "model", KpiSpec(), {"City Hotel": 230})
    assert "hotel(s) 'Resort Hotel' have none" in plan.warnings[0]
    with pytest.raises(StepConfigError, match="have none"):
        spec = KpiSpec(on_missing_inventory="error")
        plan_kpis(warehouse, "acme", "model", spec, {"City Hotel": 230})
    with pytest.raises(StepConfigError, match="trevpar needs other revenue"):
        plan_kpis(warehouse, "acme", "model", KpiSpec(metrics=["trevpar"]))
    with pytest.raises(StepExecutionError, match="no data between 2030-01-01 and the end"):
        plan_kpis(warehouse, "acme", "model", KpiSpec(start=date(2030, 1, 1)))
    with pytest.raises(StepExecutionError, match=r"model\.reservations does not exist"):
        plan_kpis(warehouse, "other", "model", KpiSpec())


class _Counting(DuckDbWarehouse):
    """The DuckDB warehouse, counting round trips (queries and table lookups)."""

    trips: list[str]

    def query(
        self, account: str, sql: str, params: Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        self.trips.append("query")
        return super().query(account, sql, params)

    def exists(self, account: str, table: str) -> bool:
        self.trips.append(f"exists {table}")
        return super().exists(account, table)


def test_the_checks_take_one_round_trip_and_still_name_a_missing_table(
    tmp_path: Path, modelled: ModelResult, nights: pd.DataFrame, inventory: pd.DataFrame
) -> None:
    wh = _Counting(tmp_path / "w.duckdb")
    wh.trips = []
    wh.write("acme", "model.reservations", modelled.reservations)
    with pytest.raises(StepExecutionError, match=r"model\.stay_nights does not exist"):
        plan_kpis(wh, "acme", "model", KpiSpec())
    wh.write("acme", "model.stay_nights", nights)
    wh.trips = []
    plan_kpis(wh, "acme", "model", KpiSpec(), dict(ROOMS))  # the inventory table is not read
    assert wh.trips == ["query", "query"]  # profile, then capacity within the data's range
    wh.trips = []
    plan = plan_kpis(wh, "acme", "model", KpiSpec())  # no inventory: the tables looked up
    assert wh.trips[0] == "query" and wh.trips[-1] == "query" and len(wh.trips) == 5
    assert "have none" in plan.warnings[0] and not plan.ctx.has_inventory
    wh.write("acme", "model.room_inventory", inventory)
    wh.trips = []
    plan = plan_kpis(wh, "acme", "model", KpiSpec())  # profile, inventory and capacity at once
    assert wh.trips == ["query"] and plan.ctx.has_inventory and not plan.warnings
    # The capacity check that travels with the profile still catches an inventory too small.
    wh.write("acme", "model.room_inventory", inventory.assign(rooms_available=100))
    with pytest.raises(StepConfigError, match="rooms for 'City Hotel' is 100, but 226 rooms"):
        plan_kpis(wh, "acme", "model", KpiSpec())


def test_model_tables_of_an_older_layout_get_a_clear_hint(
    tmp_path: Path, modelled: ModelResult, nights: pd.DataFrame
) -> None:
    wh = DuckDbWarehouse(tmp_path / "old.duckdb")
    wh.write("acme", "model.reservations", modelled.reservations)
    wh.write("acme", "model.stay_nights", nights.drop(columns="status"))
    spec = KpiSpec(dimensions=["hotel", "status"], on_missing_inventory="skip")
    plan = plan_kpis(wh, "acme", "model", spec)
    with pytest.raises(PermanentError, match="re-run the ms-data-modeling step"):
        query_kpis(wh, "acme", plan)


def test_sql_reads_dates_whatever_their_column_type(
    tmp_path: Path, modelled: ModelResult, nights: pd.DataFrame
) -> None:
    res = modelled.reservations
    as_dates = {c: res[c].dt.date for c in ("arrival_date", "departure_date", "booking_date")}
    wh = DuckDbWarehouse(tmp_path / "w.duckdb")
    wh.write("acme", "model.reservations", res.assign(**as_dates))  # DATE, not TIMESTAMP
    wh.write("acme", "model.stay_nights", nights)
    kinds = wh.query("acme", "SELECT typeof(arrival_date) AS t FROM model.reservations LIMIT 1")
    assert kinds["t"].tolist() == ["DATE"]
    spec = KpiSpec(metrics=["rooms_sold", "arrivals", "median_lead_time"], grain="year")
    got = query_kpis(wh, "acme", plan_kpis(wh, "acme", "model", spec))
    _same(got, compute_kpis(res, pd.DataFrame({"hotel": []}), spec, nights).table)
