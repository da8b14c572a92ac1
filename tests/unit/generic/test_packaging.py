"""What deploys the generic steps: their functions' needs and grants, and the SQL files that
travel with the flows."""

from __future__ import annotations

import json
from pathlib import Path

from mhi.cli.commands.package import export_flows
from mhi.generic.request_auth import SECRETS
from mhi.packaging import LAYERS, function_specs, requirements_txt
from tests.conftest import ROOT


def _names(text: str) -> set[str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return {line.split(">")[0].split("=")[0].split("[")[0].strip() for line in lines}


def test_each_generic_function_gets_what_it_needs_and_no_more() -> None:
    specs = function_specs()
    http, sql, quality, transform = (
        specs[n] for n in ("http_request", "sql", "data_quality", "transform")
    )
    assert http.step_types == ("ms-http-request",) and http.raw_bucket  # large answers
    assert set(http.secrets) == set(SECRETS) and not http.bigquery_write
    assert {"urllib3", "google-cloud-secret-manager"} <= _names(requirements_txt(http))
    assert "pandas" not in _names(requirements_txt(http))
    assert sql.flows_bucket and not transform.flows_bucket  # flows/sql files
    assert set(sql.bigquery_write) == set(transform.bigquery_write) == set(LAYERS)
    assert quality.bigquery_write == ("model",)  # model.data_quality_results
    for spec in (sql, quality, transform):
        assert {"duckdb", "pandas", "google-cloud-bigquery"} <= _names(requirements_txt(spec))
        assert not spec.secrets and not spec.raw_bucket


def test_sql_files_are_exported_beside_the_flows(tmp_path: Path) -> None:
    source = tmp_path / "flows"
    (source / "sql" / "finance").mkdir(parents=True)
    flow = json.loads((ROOT / "flows" / "monthly-revenue-report.json").read_text())
    (source / "report.json").write_text(json.dumps(flow))
    (source / "sql" / "finance" / "by_hotel.sql").write_text("SELECT 1")
    written = export_flows(source, tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == [
        "monthly-revenue-report.json",
        "sql/finance/by_hotel.sql",
    ]
    assert (tmp_path / "out" / "sql" / "finance" / "by_hotel.sql").read_text() == "SELECT 1"
