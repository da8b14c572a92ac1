"""ms-sql: config checks, and the step on the DuckDB warehouse (contract) and on BigQuery (the
shape of the client calls, autospec'd)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd
import pytest
from google.cloud import bigquery
from pydantic import ValidationError

from mhi.adapters.gcp.bigquery_warehouse import BigQueryWarehouse
from mhi.config import Settings
from mhi.errors import StepConfigError, StepExecutionError
from mhi.generic.sql_config import SqlConfig
from mhi.generic.sql_step import SQL
from mhi.services import Services
from tests.conftest import ROOT
from tests.unit.generic.helpers import call, turn

BOOKINGS = pd.DataFrame(
    {
        "hotel": ["City", "City", "Resort", "Resort", "City"],
        "year": [2016, 2016, 2016, 2017, 2017],
        "adr": [100.0, 50.0, 80.0, 90.0, 70.0],
    }
)


@pytest.fixture
def wh(services: Services) -> Any:
    services.warehouse.write("acme", "raw.bookings", BOOKINGS)
    return services.warehouse


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({}, "set exactly one of sql and sql_file"),
        ({"sql": "SELECT 1", "sql_file": "a.sql"}, "set exactly one of sql and sql_file"),
        ({"sql": "SELECT @a"}, "uses @a: give them in params"),
        ({"sql": "SELECT 1", "params": {"b": 1}}, "params b are not used"),
        ({"sql": "SELECT 1; SELECT 2"}, "one statement only"),
        ({"sql": "SELECT 1", "table": "monthly"}, "must be '<layer>.<name>'"),
        ({"sql": "SELECT 1", "table": "kpi.t", "mode": "merge"}, "merge needs keys"),
        ({"sql": "SELECT 1", "table": "kpi.t", "keys": ["a"]}, "keys apply to mode merge only"),
        ({"sql": "SELECT 1", "mode": "append"}, "apply to a destination: set table"),
        ({"sql_file": "../secrets.sql"}, "relative path ending in .sql"),
        ({"sql_file": "/etc/passwd.sql"}, "relative path ending in .sql"),
        ({"sql": "SELECT 1", "max_rows": 0}, "greater than or equal to 1"),
        ({"sql": "SELECT 1", "limit": 3}, "Extra inputs are not permitted"),
    ],
)
def test_bad_configs_say_what_is_wrong(config: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        SqlConfig.model_validate(config)


def test_a_query_without_table_returns_its_rows_with_bound_params(
    wh: Any, services: Services
) -> None:
    sql = (  # an array parameter: `= ANY(@list)` in DuckDB, `IN UNNEST(@list)` in BigQuery
        "SELECT hotel, SUM(adr) AS revenue FROM raw.bookings "
        "WHERE year = @year AND hotel = ANY(@hotels) GROUP BY hotel ORDER BY hotel;"
    )
    out = call(SQL, {"sql": sql, "params": {"year": 2016, "hotels": ["City"]}}, services)
    assert out == {
        "rows": 1,
        "columns": ["hotel", "revenue"],
        "records": [{"hotel": "City", "revenue": 150.0}],
    }


def test_a_parameter_value_is_never_sql(wh: Any, services: Services) -> None:
    hostile = "City' OR '1'='1"
    sql = "SELECT COUNT(*) AS n FROM raw.bookings WHERE hotel = @hotel"
    out = call(SQL, {"sql": sql, "params": {"hotel": hostile}}, services)
    assert out["records"] == [{"n": 0}]


def test_a_query_writes_its_table_in_each_mode(wh: Any, services: Services) -> None:
    sql = "SELECT hotel, year, SUM(adr) AS revenue FROM raw.bookings GROUP BY hotel, year"
    base = {"sql": sql, "table": "kpi.revenue"}
    assert call(SQL, base, services) == {
        "table": "kpi.revenue",
        "mode": "replace",
        "rows": 4,
        "warehouse": "duckdb",
    }
    assert call(SQL, {**base, "mode": "append"}, services)["rows"] == 4
    assert len(wh.read("acme", "kpi.revenue")) == 8
    merged = call(SQL, {**base, "mode": "merge", "keys": ["hotel", "year"]}, services)
    assert merged["rows"] == 4
    table = wh.read("acme", "kpi.revenue")
    assert len(table) == 4  # the duplicates of the append are replaced by key
    assert table.set_index(["hotel", "year"]).loc[("City", 2016), "revenue"] == 150.0


def test_the_query_order_and_its_own_limit_hold(wh: Any, services: Services) -> None:
    sql = "SELECT adr FROM raw.bookings ORDER BY adr DESC"
    out = call(SQL, {"sql": sql, "max_rows": 5}, services)
    assert [r["adr"] for r in out["records"]] == [100.0, 90.0, 80.0, 70.0, 50.0]
    out = call(SQL, {"sql": sql + " LIMIT 2", "max_rows": 2}, services)
    assert [r["adr"] for r in out["records"]] == [100.0, 90.0]


def test_too_many_rows_for_an_output_is_an_error_that_says_what_to_do(
    wh: Any, services: Services
) -> None:
    with pytest.raises(StepExecutionError, match="more than max_rows=2 rows: write it to a table"):
        call(SQL, {"sql": "SELECT * FROM raw.bookings", "max_rows": 2}, services)


def test_a_statement_runs_without_output_rows(wh: Any, services: Services) -> None:
    out = call(
        SQL, {"sql": "DELETE FROM raw.bookings WHERE year = @y", "params": {"y": 2017}}, services
    )
    assert out == {"statement": "executed", "rows": 0}
    assert len(wh.read("acme", "raw.bookings")) == 3


def test_bad_sql_fails_the_step_naming_the_statement_and_the_warehouse(
    wh: Any, services: Services
) -> None:
    callback = turn(SQL, {"sql": "SELECT hotel FORM raw.bookings"}, services)
    assert callback.status == "failed" and callback.error is not None
    assert callback.error.retryable is False
    assert callback.error.message.startswith("the statement failed in the duckdb warehouse: ")
    assert "syntax error" in callback.error.message.lower()
    unknown = turn(SQL, {"sql": "SELECT nope FROM raw.bookings"}, services)
    assert unknown.error is not None and '"nope"' in unknown.error.message


def test_a_delete_cannot_be_written_to_a_table(wh: Any, services: Services) -> None:
    with pytest.raises(StepExecutionError, match=r"is not a query .*DELETE.* to kpi.t"):
        call(SQL, {"sql": "DELETE FROM raw.bookings", "table": "kpi.t"}, services)


def test_sql_files_come_from_flows_sql(wh: Any, services: Services) -> None:
    folder = Path(services.settings.flows_dir) / "sql" / "finance"
    folder.mkdir(parents=True)
    (folder / "by_hotel.sql").write_text(
        "-- revenue per hotel\nSELECT hotel, SUM(adr) AS revenue\nFROM raw.bookings\n"
        "WHERE year >= @from_year GROUP BY hotel ORDER BY hotel;\n"
    )
    config = {"sql_file": "finance/by_hotel.sql", "params": {"from_year": 2017}}
    assert call(SQL, config, services)["records"] == [
        {"hotel": "City", "revenue": 70.0},
        {"hotel": "Resort", "revenue": 90.0},
    ]
    with pytest.raises(StepExecutionError, match=r"sql_file finance/by_hotel.sql: .*@from_year"):
        call(SQL, {"sql_file": "finance/by_hotel.sql"}, services)
    with pytest.raises(StepExecutionError, match=r"sql_file 'missing.sql' not found: looked for"):
        call(SQL, {"sql_file": "missing.sql"}, services)


def test_an_invalid_rendered_config_is_a_config_error() -> None:
    with pytest.raises(StepConfigError, match=r"config.table: Value error, table 'x'"):
        SQL.parse_config({"sql": "SELECT 1", "table": "x"})


def test_on_bigquery_the_statement_is_a_query_job_with_bound_parameters() -> None:
    client = mock.create_autospec(bigquery.Client, instance=True)
    client.query.return_value.result.return_value.total_rows = 26
    settings = Settings(warehouse="bigquery", flows_dir=ROOT / "flows")
    services = Services(settings, warehouse=BigQueryWarehouse(client, "proj"))
    config = {
        "sql_file": "monthly_revenue.sql",
        "params": {"from_year": 2016},
        "table": "kpi.monthly_revenue",
    }
    out = call(SQL, config, services, account="hotel-x")
    assert out == {
        "table": "kpi.monthly_revenue",
        "mode": "replace",
        "rows": 26,
        "warehouse": "bigquery",
    }
    text = client.query.call_args.args[0]
    assert "FROM `proj.hotel_x_raw.hotel_bookings`" in text and "@from_year" in text
    assert "2016" not in text  # bound, not pasted
    job = client.query.call_args.kwargs["job_config"]
    assert job.destination.path.endswith("/datasets/hotel_x_kpi/tables/monthly_revenue")
    assert [(p.name, p.type_, p.value) for p in job.query_parameters] == [
        ("from_year", "INT64", 2016)
    ]


def test_the_flow_sql_file_is_valid_bigquery_and_duckdb() -> None:
    sqlglot = pytest.importorskip("sqlglot")
    sql = (ROOT / "flows" / "sql" / "monthly_revenue.sql").read_text()
    for dialect in ("bigquery", "duckdb"):
        [tree] = sqlglot.parse(sql, read=dialect)
        assert tree is not None
