"""ms-data-quality: config checks and every check on DuckDB, over a table and over records, with
severities, the results table, the row count against the last run and the summary."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

from mhi.errors import StepExecutionError
from mhi.generic.quality_config import QualityConfig
from mhi.generic.quality_step import DATA_QUALITY
from mhi.services import Services
from tests.unit.generic.conftest import NOW
from tests.unit.generic.helpers import FixedClock, call, turn

REVENUE = [
    {"hotel": "City", "month": "2017-07", "revenue": 100.0, "at": "2024-06-01T06:00:00"},
    {"hotel": "City", "month": "2017-08", "revenue": -5.0, "at": "2024-05-31T12:00:00"},
    {"hotel": "Resort", "month": "2017-07", "revenue": None, "at": "2024-05-30T12:00:00"},
    {"hotel": "Motel", "month": "2017-07", "revenue": 7000.0, "at": None},
    {"hotel": "City", "month": "2017-07", "revenue": 90.0, "at": None},
]


@pytest.fixture
def table(services: Services) -> str:
    frame = pd.DataFrame(REVENUE).assign(at=lambda f: pd.to_datetime(f["at"]))
    services.warehouse.write("acme", "kpi.revenue", frame)
    services.warehouse.write("acme", "model.hotels", pd.DataFrame({"name": ["City", "Resort"]}))
    return "kpi.revenue"


def _results(out: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {r["check"]: (r["status"], r["message"]) for r in out["results"]}


def _warn(check: dict[str, Any]) -> dict[str, Any]:
    return {**check, "severity": "warn"}


@pytest.mark.parametrize(
    ("check", "problem"),
    [
        ({"check": "unique"}, "check unique needs columns"),
        ({"check": "range", "column": "a"}, "check range needs min or max"),
        ({"check": "row_count", "min": 1, "column": "a"}, "check row_count does not take column"),
        ({"check": "range", "column": "a", "min": 5, "max": 1}, "min 5 is above max 1"),
        ({"check": "freshness", "column": "a", "max_age_hours": 0}, "greater than 0"),
        ({"check": "relationship", "column": "a", "to_table": "x"}, "'<layer>.<name>'"),
        ({"check": "not_null", "columns": ["a", "a"]}, "lists a more than once"),
        ({"check": "median", "column": "a"}, "'row_count', 'not_null'"),
    ],
)
def test_bad_checks_say_what_is_wrong(check: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        QualityConfig.model_validate({"source": "kpi.t", "checks": [check]})


def test_bad_configs_say_what_is_wrong() -> None:
    one = [{"check": "row_count", "min": 1}]
    with pytest.raises(ValidationError, match="set exactly one of source"):
        QualityConfig.model_validate({"checks": one})
    with pytest.raises(ValidationError, match="named row_count more than once"):
        QualityConfig.model_validate({"source": "kpi.t", "checks": one * 2})
    change = [{"check": "row_count_change", "max_decrease_pct": 5}]
    with pytest.raises(ValidationError, match="row_count_change reads the last run's count"):
        QualityConfig.model_validate({"source": "kpi.t", "checks": change, "results_table": None})


CHECKS = [
    _warn({"check": "row_count", "min": 1, "max": 4}),
    _warn({"check": "not_null", "columns": ["hotel", "revenue"]}),
    _warn({"check": "unique", "columns": ["hotel", "month"]}),
    _warn({"check": "accepted_values", "column": "hotel", "values": ["City", "Resort"]}),
    _warn({"check": "range", "column": "revenue", "min": 0, "max": 5000}),
    _warn(
        {
            "check": "relationship",
            "column": "hotel",
            "to_table": "model.hotels",
            "to_column": "name",
        }
    ),
]
EXPECTED = {
    "row_count": ("warn", "5 rows, expected [1, 4]"),
    "not_null(hotel, revenue)": ("warn", "nulls in revenue: 1"),
    "unique(hotel, month)": (
        "warn",
        "1 duplicate key in 2 rows, e.g. hotel='City', month='2017-07' x2",
    ),
    "accepted_values(hotel)": ("warn", "1 row with another value, e.g. 'Motel' x1"),
    "range(revenue)": ("warn", "2 rows outside [0, 5000], e.g. -5.0 x1, 7000.0 x1"),
    "relationship(hotel)": ("warn", "1 row without a match in model.hotels.name, e.g. 'Motel'"),
}


def test_every_check_finds_its_problem_on_a_table(table: str, services: Services) -> None:
    out = call(DATA_QUALITY, {"source": table, "checks": CHECKS}, services)
    found = _results(out)
    assert {k: v[0] for k, v in found.items()} == {k: v[0] for k, v in EXPECTED.items()}
    for name, (_, message) in EXPECTED.items():
        assert found[name][1].startswith(message), (name, found[name][1])
    assert (out["checks"], out["passed"], out["warned"], out["failed"]) == (6, 0, 6, 0)


def test_records_give_the_same_results_as_the_table(table: str, services: Services) -> None:
    records = [{k: v for k, v in r.items() if k != "at"} for r in REVENUE]
    out = call(DATA_QUALITY, {"records": records, "checks": CHECKS}, services)
    found = _results(out)
    for name, (status, message) in EXPECTED.items():
        assert found[name][0] == status and found[name][1].startswith(message), found[name]
    assert out["source"] == "records (5 rows)"


def test_checks_that_hold_pass(table: str, services: Services) -> None:
    checks = [
        {"check": "row_count", "min": 5, "max": 5},
        {"check": "not_null", "columns": ["hotel", "month"]},
        {"check": "unique", "columns": ["hotel", "month", "revenue"]},
        {"check": "accepted_values", "column": "hotel", "values": ["City", "Resort", "Motel"]},
        {"check": "range", "column": "revenue", "min": -10},
        {"check": "freshness", "column": "at", "max_age_hours": 7},
    ]
    out = call(DATA_QUALITY, {"source": table, "checks": checks}, services)
    assert (out["passed"], out["failed"]) == (6, 0)
    assert _results(out)["freshness(at)"] == (
        "pass",
        "newest 2024-06-01T06:00:00+00:00, 6.0 h old",
    )


def test_an_error_check_fails_the_step_after_recording_every_result(
    table: str, services: Services
) -> None:
    checks = [
        {"check": "unique", "columns": ["hotel", "month"]},
        {"check": "freshness", "column": "at", "max_age_hours": 1, "severity": "warn"},
        {"check": "row_count", "min": 1},
    ]
    callback = turn(DATA_QUALITY, {"source": table, "checks": checks}, services)
    assert callback.status == "failed" and callback.error is not None
    assert callback.error.kind == "step_failed" and callback.error.retryable is False
    assert callback.error.message == (
        "1 of 3 data quality checks failed on kpi.revenue: unique(hotel, month): 1 duplicate "
        "key in 2 rows, e.g. hotel='City', month='2017-07' x2"
    )
    results = services.warehouse.read("acme", "model.data_quality_results")
    assert dict(zip(results["check_name"], results["status"], strict=True)) == {
        "unique(hotel, month)": "fail",
        "freshness(at)": "warn",
        "row_count": "pass",
    }
    assert set(results["run_id"]) == {"run-1"} and set(results["step_id"]) == {"step-1"}
    again = turn(DATA_QUALITY, {"source": table, "checks": checks}, services, attempt=2)
    assert again.status == "failed"
    assert len(services.warehouse.read("acme", "model.data_quality_results")) == 3  # merged


def test_the_row_count_is_compared_with_the_last_run(
    table: str, services: Services, clock: FixedClock
) -> None:
    checks = [{"check": "row_count_change", "max_decrease_pct": 10, "max_increase_pct": 50}]
    config = {"source": table, "checks": checks}
    first = call(DATA_QUALITY, config, services, run_id="run-1")
    assert _results(first)["row_count_change"] == (
        "pass",
        "5 rows; no earlier run to compare with",
    )
    clock.at = NOW + timedelta(days=1)
    more = pd.DataFrame(REVENUE[:3]).assign(at=lambda f: pd.to_datetime(f["at"]))
    services.warehouse.write("acme", table, more, mode="append")
    callback = turn(DATA_QUALITY, config, services, run_id="run-2")
    assert callback.error is not None
    assert "8 rows, 5 in the last run (+60.0%): more than the 50% allowed" in callback.error.message
    clock.at = NOW + timedelta(days=2)
    third = call(DATA_QUALITY, config, services, run_id="run-3")  # compared with run-2's 8
    assert _results(third)["row_count_change"] == ("pass", "8 rows, 8 in the last run (+0.0%)")


def test_freshness_without_a_usable_value_fails(services: Services) -> None:
    records = [{"at": None}, {"at": "not a date"}]
    out = call(
        DATA_QUALITY,
        {
            "records": records,
            "checks": [_warn({"check": "freshness", "column": "at", "max_age_hours": 1})],
        },
        services,
    )
    assert _results(out)["freshness(at)"] == (
        "warn",
        "newest value: 'not a date', not a date or time",
    )


def test_the_summary_lists_failures_first(table: str, services: Services) -> None:
    checks = [
        {"check": "row_count", "min": 1},
        _warn({"check": "row_count", "max": 2, "name": "small"}),
    ]
    out = call(DATA_QUALITY, {"source": table, "checks": checks}, services)
    assert out["summary"] == (
        "kpi.revenue: 2 checks, 1 passed, 1 warned, 0 failed\n"
        "WARN small: 5 rows, expected <= 2\n"
        "ok   row_count: 5 rows"
    )


def test_misconfigured_sources_are_clear_errors(table: str, services: Services) -> None:
    with pytest.raises(StepExecutionError, match=r"table kpi\.nope does not exist"):
        call(
            DATA_QUALITY,
            {"source": "kpi.nope", "checks": [{"check": "row_count", "min": 1}]},
            services,
        )
    relation = {"check": "relationship", "column": "hotel", "to_table": "model.nope"}
    with pytest.raises(StepExecutionError, match=r"to_table model\.nope does not exist"):
        call(DATA_QUALITY, {"source": table, "checks": [relation]}, services)
    with pytest.raises(StepExecutionError, match=r"check not_null\(nope\) on kpi.revenue: "):
        call(
            DATA_QUALITY,
            {"source": table, "checks": [{"check": "not_null", "columns": ["nope"]}]},
            services,
        )


def test_no_records_still_check_their_columns(services: Services) -> None:
    checks = [
        _warn({"check": "row_count", "min": 1}),
        {"check": "not_null", "columns": ["hotel"]},
        {"check": "unique", "columns": ["hotel", "month"]},
        {"check": "range", "column": "revenue", "min": 0},
        {"check": "accepted_values", "column": "hotel", "values": ["City"]},
    ]
    out = call(DATA_QUALITY, {"records": [], "checks": checks}, services)
    assert {k: v[0] for k, v in _results(out).items()} == {
        "row_count": "warn",
        "not_null(hotel)": "pass",
        "unique(hotel, month)": "pass",
        "range(revenue)": "pass",
        "accepted_values(hotel)": "pass",
    }
