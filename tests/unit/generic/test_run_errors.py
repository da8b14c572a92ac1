"""In a run, a bad statement, a refused URL or a failed check fails the run with an error that
names the step and what failed (the embedded runtime, as `mhi run` runs flows)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mhi.config import Settings
from mhi.engine.summary import run_summary
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.services import Services


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[EmbeddedRuntime]:
    with EmbeddedRuntime(Services(Settings(home=tmp_path))) as rt:
        yield rt


def _run(rt: EmbeddedRuntime, *steps: dict[str, Any], **params: Any) -> dict[str, Any]:
    flow = {
        "flow_id": "errors",
        "account": "acme",
        "params": {"url": {"default": "https://api.example.com/hook"}},
        "flow_config": {"steps": list(steps)},
        "run_params": params,
    }
    return run_summary(rt.wait(rt.start_json(flow), timeout=60))


def test_bad_sql_names_the_step_and_the_warehouse_error(runtime: EmbeddedRuntime) -> None:
    summary = _run(runtime, {"id": "totals", "type": "ms-sql", "config": {"sql": "SELEC 1"}})
    assert summary["status"] == "failed" and summary["failed_step"] == "totals"
    assert summary["error"].startswith(
        "step 'totals' failed: the statement failed in the duckdb warehouse: "
    )
    assert "syntax error" in summary["error"].lower()


def test_a_refused_url_names_the_step_the_option_and_the_reason(
    runtime: EmbeddedRuntime,
) -> None:
    post = {"id": "post", "type": "ms-http-request", "config": {"url": "{{ params.url }}"}}
    summary = _run(runtime, post, url="https://10.20.30.40/hook")
    assert summary["failed_step"] == "post"
    assert "step 'post' failed: invalid config for ms-http-request: config.url" in summary["error"]
    assert "host 10.20.30.40 is a private address: not allowed" in summary["error"]


def test_a_failed_check_names_the_step_and_the_check(runtime: EmbeddedRuntime) -> None:
    rows = [{"id": 1}, {"id": 1}, {"id": 2}]
    check = {
        "id": "check",
        "type": "ms-data-quality",
        "config": {"records": rows, "checks": [{"check": "unique", "columns": ["id"]}]},
    }
    after = {"id": "after", "type": "ms-echo", "depends_on": ["check"]}
    summary = _run(runtime, check, after)
    assert summary["error"] == (
        "step 'check' failed: 1 of 1 data quality checks failed on records (3 rows): "
        "unique(id): 1 duplicate key in 2 rows, e.g. id=1 x2"
    )
    assert [s["status"] for s in summary["steps"]] == ["failed", "skipped"]
