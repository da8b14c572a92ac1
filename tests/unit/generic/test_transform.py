"""ms-transform: config checks, expressions compiled to bound SQL, and the step over a DuckDB
table and over records (the same config gives the same rows)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

from mhi.analytics.sql_dialect import dialect
from mhi.errors import StepExecutionError
from mhi.generic.transform_config import TransformConfig
from mhi.generic.transform_sql import Bound, ExpressionSql, expression_sql, transform_sql
from mhi.generic.transform_step import TRANSFORM
from mhi.services import Services
from tests.unit.generic.helpers import call, turn

ROWS = [
    {"hotel": " City Hotel ", "year": 2016, "adr": "100.5", "nights": 2, "country": "PRT"},
    {"hotel": "Resort Hotel", "year": 2016, "adr": "80", "nights": 3, "country": ""},
    {"hotel": "City Hotel", "year": 2017, "adr": "x", "nights": None, "country": "esp"},
    {"hotel": "Resort Hotel", "year": 2017, "adr": "90", "nights": 1, "country": None},
]


@pytest.fixture
def table(services: Services) -> str:
    services.warehouse.write("acme", "raw.bookings", pd.DataFrame(ROWS))
    return "raw.bookings"


def _both(services: Services, config: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the config over the table and over the same rows as records; both must agree."""
    over_table = call(TRANSFORM, {"source": "raw.bookings", **config}, services)
    over_records = call(TRANSFORM, {"records": ROWS, **config}, services)
    assert over_table["records"] == over_records["records"]
    assert over_table["columns"] == over_records["columns"]
    return list(over_table["records"])


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({}, "set exactly one of source"),
        ({"source": "raw.b", "records": []}, "set exactly one of source"),
        ({"source": "raw.b", "filter": "row.a.b == 1"}, "a row reference is row.<column>"),
        ({"source": "raw.b", "filter": "rows.a == 1"}, "unknown name 'rows'"),
        ({"source": "raw.b", "filter": "row.a = 1"}, "filter 'row.a = 1'"),
        ({"source": "raw.b", "columns": {"a": {"from": "b", "expr": "true"}}}, "not both"),
        ({"source": "raw.b", "columns": {"a": {"cast": "decimal"}}}, "'string', 'int'"),
        ({"source": "raw.b", "columns": {"a b": "c"}}, "column 'a b' must be letters"),
        ({"source": "raw.b", "aggregates": {"n": "median(x)"}}, "with a function of count"),
        ({"source": "raw.b", "aggregates": {"n": "sum(*)"}}, "only count takes"),
        ({"source": "raw.b", "group_by": ["a"]}, "group_by needs aggregates"),
        (
            {
                "source": "raw.b",
                "columns": {"a": "a"},
                "group_by": ["z"],
                "aggregates": {"n": "count(*)"},
            },
            "z not among the output columns",
        ),
        ({"source": "raw.b", "columns": {"a": "a"}, "order_by": ["-b"]}, "order_by 'b' is not"),
        ({"source": "raw.b", "table": "kpi.t", "mode": "merge"}, "merge needs keys"),
        ({"source": "raw.b", "columns": {"a": {"from_": "b"}}}, "Extra inputs"),
    ],
)
def test_bad_configs_say_what_is_wrong(config: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        TransformConfig.model_validate(config)


def _compile(text: str, name: str = "duckdb", **context: Any) -> tuple[str, dict[str, Any]]:
    bound = Bound()
    compiler = ExpressionSql(dialect(name), bound, {"params": {}, **context})
    return expression_sql(text, compiler, "filter"), bound.values


def test_literals_and_flow_values_become_parameters_never_text() -> None:
    sql, values = _compile(
        "row.hotel == 'x\\' OR 1=1 --' and row.year >= params.year", params={"year": 2016}
    )
    assert sql == '(("hotel" IS NOT DISTINCT FROM @p0) AND COALESCE("year" >= @p1, FALSE))'
    assert values == {"p0": "x' OR 1=1 --", "p1": 2016}


@pytest.mark.parametrize(
    ("text", "sql"),
    [
        ("row.a != null", '("a" IS DISTINCT FROM NULL)'),
        ("not row.flag", '(NOT COALESCE("flag", FALSE))'),
        ("row.a in [1, null]", 'COALESCE("a" IN (@p0) OR "a" IS NULL, FALSE)'),
        ("row.a not in []", "(NOT FALSE)"),
        ("'PT' in row.code", 'COALESCE(STRPOS("code", @p0) > 0, FALSE)'),
        ("row.a < 1 or true", '(COALESCE("a" < @p0, FALSE) OR TRUE)'),
    ],
)
def test_expressions_compile_to_two_valued_sql(text: str, sql: str) -> None:
    assert _compile(text)[0] == sql


def test_bigquery_gets_its_own_quoting_and_casts() -> None:
    config = TransformConfig.model_validate(
        {
            "source": "kpi.monthly_revenue",
            "filter": "row.hotel in params.hotels",
            "columns": {"hotel_name": "hotel", "revenue_eur": {"from": "revenue", "cast": "float"}},
            "on_cast_error": "null",
        }
    )
    bound = Bound()
    compiler = ExpressionSql(dialect("bigquery"), bound, {"params": {"hotels": ["A", "B"]}})
    sql = transform_sql(config, "kpi.monthly_revenue", compiler)
    assert sql == (
        "SELECT `hotel` AS `hotel_name`, SAFE_CAST(`revenue` AS FLOAT64) AS `revenue_eur` "
        "FROM kpi.monthly_revenue AS _s WHERE COALESCE(`hotel` IN (@p0, @p1), FALSE)"
    )
    assert bound.values == {"p0": "A", "p1": "B"}
    sqlglot = pytest.importorskip("sqlglot")
    assert sqlglot.parse_one(sql, read="bigquery") is not None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("row.a == params.missing", "params has no 'missing'"),
        ("row.a in params.one", "in needs a list or a text"),
        ("row.a == [1]", "a list is only allowed on the right of in"),
        ("row.a and 3", "3 is not a condition"),
    ],
)
def test_expression_errors_name_the_option_and_the_problem(text: str, problem: str) -> None:
    with pytest.raises(StepExecutionError, match=f"filter '.*': .*{problem}"):
        _compile(text, params={"one": 1})


def test_rename_normalise_cast_and_default_agree_on_a_table_and_on_records(
    table: str, services: Services
) -> None:
    config = {
        "columns": {
            "hotel_name": {"from": "hotel", "normalise": ["trim", "upper"]},
            "rate": {"from": "adr", "cast": "float"},
            "nights": {"cast": "int", "default": 0},
            "country": {"normalise": ["trim", "empty_as_null", "upper"], "default": "UNK"},
            "is_city": {"expr": "'City' in row.hotel"},
        },
        "on_cast_error": "null",
    }
    assert _both(services, config) == [
        {"hotel_name": "CITY HOTEL", "rate": 100.5, "nights": 2, "country": "PRT", "is_city": True},
        {
            "hotel_name": "RESORT HOTEL",
            "rate": 80.0,
            "nights": 3,
            "country": "UNK",
            "is_city": False,
        },
        {"hotel_name": "CITY HOTEL", "rate": None, "nights": 0, "country": "ESP", "is_city": True},
        {
            "hotel_name": "RESORT HOTEL",
            "rate": 90.0,
            "nights": 1,
            "country": "UNK",
            "is_city": False,
        },
    ]


def test_a_value_that_does_not_cast_fails_by_default_naming_it(
    table: str, services: Services
) -> None:
    callback = turn(
        TRANSFORM,
        {"source": table, "columns": {"rate": {"from": "adr", "cast": "float"}}},
        services,
    )
    assert callback.error is not None
    assert callback.error.message.startswith("transform of raw.bookings failed: ")
    assert "'x'" in callback.error.message


def test_filter_with_params_nulls_and_upstream_outputs(table: str, services: Services) -> None:
    config = {
        "filter": "row.year == params.year and row.nights > steps.plan.output.min_nights",
        "columns": {"hotel": "hotel", "nights": "nights"},
    }
    upstream = {"plan": {"min_nights": 1}}
    out = call(
        TRANSFORM,
        {"records": ROWS, **config},
        services,
        params={"year": 2016},
        upstream=upstream,
    )
    assert out["records"] == [
        {"hotel": " City Hotel ", "nights": 2},
        {"hotel": "Resort Hotel", "nights": 3},
    ]
    # Two-valued logic: `null > 1` is false, so `not (null > 1)` keeps the row.
    negated = {"filter": "not (row.nights > 1)", "columns": {"year": "year"}}
    assert _both(services, negated) == [{"year": 2017}, {"year": 2017}]


def test_aggregates_group_order_and_limit(table: str, services: Services) -> None:
    config = {
        "columns": {"hotel": {"from": "hotel", "normalise": ["trim"]}, "nights": "nights"},
        "group_by": ["hotel"],
        "aggregates": {
            "bookings": "count(*)",
            "stays": "count(nights)",
            "room_nights": "sum(nights)",
            "longest": "max(nights)",
        },
        "order_by": ["-room_nights"],
        "limit": 1,
    }
    assert _both(services, config) == [
        {"hotel": "Resort Hotel", "bookings": 2, "stays": 2, "room_nights": 4, "longest": 3}
    ]
    distinct = {"columns": {"year": "year"}, "distinct": True, "order_by": ["year"]}
    assert _both(services, distinct) == [{"year": 2016}, {"year": 2017}]


def test_results_are_written_to_a_table_from_either_source(table: str, services: Services) -> None:
    config = {"columns": {"hotel": "hotel", "year": "year"}, "table": "model.stays"}
    assert call(TRANSFORM, {"source": table, **config}, services)["rows"] == 4
    merge = {**config, "mode": "merge", "keys": ["hotel", "year"]}
    out = call(TRANSFORM, {"records": ROWS[:1], **merge}, services)
    assert out == {"source": "records (1 rows)", "table": "model.stays", "mode": "merge", "rows": 1}
    assert len(services.warehouse.read("acme", "model.stays")) == 4


def test_max_rows_and_unknown_columns_are_errors(table: str, services: Services) -> None:
    with pytest.raises(StepExecutionError, match="gives 4 rows, more than max_rows=3"):
        call(TRANSFORM, {"records": ROWS, "max_rows": 3}, services)
    with pytest.raises(StepExecutionError, match=r"row.nope: no column 'nope' \(columns: hotel"):
        call(TRANSFORM, {"records": ROWS, "filter": "row.nope == 1"}, services)
    with pytest.raises(StepExecutionError, match=r"table raw\.missing does not exist"):
        call(TRANSFORM, {"source": "raw.missing"}, services)
    callback = turn(TRANSFORM, {"source": table, "columns": {"x": "nope"}}, services)
    assert callback.error is not None and '"nope"' in callback.error.message
    over_records = turn(TRANSFORM, {"records": ROWS, "columns": {"x": "nope"}}, services)
    assert over_records.error is not None and over_records.error.retryable is False
    assert over_records.error.message.startswith("columns.x: no source column 'nope'")


def test_records_that_are_not_a_table_are_refused(services: Services) -> None:
    with pytest.raises(StepExecutionError, match="column 'a' mixes value types"):
        call(TRANSFORM, {"records": [{"a": 1}, {"a": "x"}]}, services)
    with pytest.raises(StepExecutionError, match="not column names: 'a b'"):
        call(TRANSFORM, {"records": [{"a b": 1}]}, services)
    empty = call(TRANSFORM, {"records": [], "columns": {"a": "b"}}, services)
    assert (empty["rows"], empty["columns"], empty["records"]) == (0, ["a"], [])
    to_table = call(TRANSFORM, {"records": [], "table": "model.t"}, services)
    assert to_table["note"] == "nothing written"
    assert not services.warehouse.exists("acme", "model.t")
