"""The SQL the generic steps send to BigQuery: captured from an autospec'd client and parsed as
GoogleSQL, so a check or a transform that runs on DuckDB is also valid where production runs."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pandas as pd
import pytest
from google.cloud import bigquery

from mhi.adapters.gcp.bigquery_warehouse import BigQueryWarehouse
from mhi.config import Settings
from mhi.generic.quality_step import DATA_QUALITY
from mhi.generic.transform_step import TRANSFORM
from mhi.services import Services
from tests.unit.generic.helpers import FixedClock, call

sqlglot = pytest.importorskip("sqlglot")


@pytest.fixture
def client() -> Any:
    c = mock.create_autospec(bigquery.Client, instance=True)
    c.query.return_value.result.return_value.to_dataframe.return_value = pd.DataFrame()
    return c


@pytest.fixture
def services(client: Any, clock: FixedClock) -> Services:
    settings = Settings(warehouse="bigquery")
    return Services(settings, warehouse=BigQueryWarehouse(client, "proj"), clock=clock)


def _statements(client: Any) -> list[str]:
    return [c.args[0] for c in client.query.call_args_list]


def test_every_check_is_googlesql(client: Any, services: Services) -> None:
    checks = [  # the fake answers every query with no rows: 0 rows, no newest value
        {"check": "row_count", "min": 1, "severity": "warn"},
        {"check": "not_null", "columns": ["hotel", "revenue"]},
        {"check": "unique", "columns": ["hotel", "month"]},
        {"check": "accepted_values", "column": "hotel", "values": ["City", "Resort"]},
        {"check": "range", "column": "revenue", "min": 0, "max": 10},
        {"check": "freshness", "column": "at", "max_age_hours": 24, "severity": "warn"},
        {"check": "relationship", "column": "hotel", "to_table": "model.hotels"},
        {"check": "row_count_change", "max_decrease_pct": 10},
    ]
    call(DATA_QUALITY, {"source": "kpi.revenue", "checks": checks}, services, account="h-1")
    statements = _statements(client)
    reads = [sql for sql in statements if "`proj.h_1_kpi.revenue`" in sql]
    assert len(reads) == len(checks)  # one query per check where the rows are
    for sql in statements:  # the checks, the last run's count, the results' merge script
        assert all(sqlglot.parse(sql, read="bigquery")), sql
    loaded = client.load_table_from_dataframe.call_args  # the results, staged then merged
    assert loaded.args[1].startswith("proj.h_1_model.data_quality_results__stage_")


def test_a_transform_is_googlesql_with_bound_values(client: Any, services: Services) -> None:
    config = {
        "source": "kpi.revenue",
        "filter": "row.hotel != 'Motel' and row.revenue >= params.floor",
        "columns": {
            "hotel": {"from": "hotel", "normalise": ["trim", "empty_as_null"]},
            "day": {"from": "at", "cast": "date"},
            "revenue": {"cast": "float", "default": 0},
        },
        "group_by": ["hotel", "day"],
        "aggregates": {"revenue": "sum(revenue)", "bookings": "count(*)"},
        "order_by": ["-revenue"],
    }
    call(TRANSFORM, config, services, params={"floor": 0}, account="h-1")
    [sql] = _statements(client)
    assert sqlglot.parse_one(sql, read="bigquery") is not None
    assert "'Motel'" not in sql and "@p0" in sql
    params = client.query.call_args.kwargs["job_config"].query_parameters
    assert [(p.name, p.value) for p in params] == [("p0", 0), ("p1", "Motel"), ("p2", 0)]
