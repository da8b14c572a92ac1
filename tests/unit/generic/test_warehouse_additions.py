"""What the generic steps added to the warehouse adapters: BigQuery's dry run (shape pinned with
create_autospec) and DuckDB parameters that leave string literals alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from google.api_core import exceptions as gexc
from google.cloud import bigquery

from mhi.adapters.gcp.bigquery_warehouse import BigQueryWarehouse
from mhi.adapters.local.duckdb_warehouse import DuckDbWarehouse
from mhi.errors import PermanentError


@pytest.fixture
def client() -> Any:
    c = mock.create_autospec(bigquery.Client, instance=True)
    c.query.return_value = mock.create_autospec(bigquery.QueryJob, instance=True)
    c.query.return_value.total_bytes_processed = 123_456_789
    return c


def test_dry_run_returns_the_bytes_a_query_would_process(client: Any) -> None:
    warehouse = BigQueryWarehouse(client, "proj", "EU")
    sql = "SELECT hotel FROM kpi.monthly_revenue WHERE year >= @y"
    assert warehouse.dry_run("hotel-x", sql, {"y": 2016}) == 123_456_789
    args, kwargs = client.query.call_args
    assert args == ("SELECT hotel FROM `proj.hotel_x_kpi.monthly_revenue` WHERE year >= @y",)
    config = kwargs["job_config"]
    assert config.dry_run is True and config.use_query_cache is False
    [param] = config.query_parameters
    assert (param.name, param.type_, param.value) == ("y", "INT64", 2016)
    client.query.return_value.result.assert_not_called()  # a dry run never runs


def test_dry_run_of_bad_sql_is_a_permanent_error_naming_the_problem(client: Any) -> None:
    client.query.side_effect = gexc.BadRequest("Syntax error: Unexpected keyword FORM at [1:10]")
    with pytest.raises(PermanentError, match=r"BigQuery dry run: .*Unexpected keyword FORM"):
        BigQueryWarehouse(client, "proj").dry_run("acme", "SELECT 1 FORM x")


def test_duckdb_parameters_leave_literals_names_and_comments_alone(tmp_path: Path) -> None:
    wh = DuckDbWarehouse(tmp_path / "w.duckdb")
    sql = 'SELECT \'a@b.com\' AS mail, @n AS n, "x@y" AS q -- @nothing\n FROM (SELECT 1 AS "x@y")'
    frame = wh.query("acme", sql, {"n": 7})
    assert frame.to_dict("records") == [{"mail": "a@b.com", "n": 7, "q": 1}]
