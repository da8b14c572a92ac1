"""`mhi validate` follows plain sub-flow refs among the flows beside the file: an unknown flow,
params the child does not take and cycles are problems with their JSON path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mhi.cli.commands.validate import check_file


def _write(folder: Path, flow_id: str, *subs: dict[str, Any], params: Any = None) -> Path:
    steps = [
        {"id": f"sub{i}", "type": "ms-sub-flow", "config": config} for i, config in enumerate(subs)
    ] or [{"id": "work", "type": "ms-echo"}]
    flow = {"flow_id": flow_id, "account": "acme", "flow_config": {"steps": steps}}
    if params is not None:
        flow["params"] = params
    path = folder / f"{flow_id}.json"
    path.write_text(json.dumps(flow))
    return path


def test_a_resolvable_sub_flow_with_fitting_params_is_fine(tmp_path: Path) -> None:
    _write(tmp_path, "ingest", params={"hotel": {"required": True}})
    config = {"flow_ref": "ingest", "params": {"hotel": "{{ run.id }}"}}
    assert check_file(str(_write(tmp_path, "report", config))) == []


def test_unknown_flow_ref_and_params_are_named_with_their_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MHI_FLOWS_DIR", str(tmp_path))  # the same folder: looked at once
    _write(tmp_path, "ingest", params={"hotel": {"required": True}})
    report = _write(
        tmp_path,
        "report",
        {"flow_ref": "ingset"},
        {"flow_ref": "ingest", "params": {"hotle": 1}},
        {"flow_ref": "{{ params.which }}"},  # known at run time only: not followed
        params={"which": {"default": "nope"}},
    )
    assert check_file(str(report)) == [
        (
            "$.flow_config.steps[0].config.flow_ref",
            f"no stored flow 'ingset' in {tmp_path} (ingest, report)",
        ),
        (
            "$.flow_config.steps[1].config.params.hotle",
            "unknown param (declared: hotel)",
        ),
        ("$.flow_config.steps[1].config.params.hotel", "required param not given"),
    ]


def test_a_flow_that_would_run_itself_is_a_cycle(tmp_path: Path) -> None:
    _write(tmp_path, "ingest", {"flow_ref": "clean"})
    _write(tmp_path, "clean", {"flow_ref": "report"})
    report = _write(tmp_path, "report", {"flow_ref": "ingest"})
    assert check_file(str(report)) == [
        (
            "$.flow_config.steps[0].config.flow_ref",
            "sub-flow cycle: report -> ingest -> clean -> report",
        )
    ]


def test_a_sub_flow_is_also_looked_up_where_mhi_run_looks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = tmp_path / "stored"
    elsewhere = tmp_path / "drafts"
    stored.mkdir()
    elsewhere.mkdir()
    _write(stored, "ingest")
    report = _write(elsewhere, "report", {"flow_ref": "ingest"}, {"flow_ref": "nope"})
    monkeypatch.setenv("MHI_FLOWS_DIR", str(stored))
    assert check_file(str(report)) == [
        (
            "$.flow_config.steps[1].config.flow_ref",
            f"no stored flow 'nope' in {elsewhere} or {stored} (ingest, report)",
        )
    ]
