"""A sub-flow's parent and child link to each other on their run pages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mhi.api.app import create_app
from mhi.api.auth import LocalAuth
from mhi.config import Settings
from mhi.model.keys import RunRef
from mhi.ops.wiring import build
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.runtime.subflows import child_run_id
from mhi.services import Services

CHILD = {
    "flow_id": "ingest",
    "account": "acme",
    "flow_config": {"steps": [{"id": "load", "type": "ms-echo", "config": {"rows": 2}}]},
}
PARENT = {
    "flow_id": "report",
    "account": "acme",
    "flow_config": {
        "steps": [
            {
                "id": "ingest",
                "type": "ms-sub-flow",
                "config": {"flow_ref": "ingest", "poll_seconds": 0.05},
            }
        ]
    },
}


def test_parent_and_child_pages_link_to_each_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    for flow in (CHILD, PARENT):
        (flows / f"{flow['flow_id']}.json").write_text(json.dumps(flow))
    monkeypatch.setenv("MHI_FLOWS_DIR", str(flows))
    monkeypatch.setenv("MHI_HOME", str(tmp_path / "home"))
    with EmbeddedRuntime(Services(Settings.from_env())) as runtime:
        ops = build(runtime.services, runtime=runtime)
        parent = ops.start("report", {}, {"actor": "ana", "via": "cli"}, "r1")
        runtime.wait(parent, timeout=30)
        child = RunRef("acme", "ingest", child_run_id(parent, "ingest", 1))
        client = create_app(ops, LocalAuth(None, "ana"), runtime.services.blobs).test_client()
        parent_page = client.get("/ui/runs/acme/report/r1?step=ingest").get_data(as_text=True)
        child_page = client.get(f"/ui/runs/acme/ingest/{child.run_id}").get_data(as_text=True)
    assert (
        f'<h3>Sub-flow runs</h3><ul class="sub-flows"><li>attempt 1: '
        f'<a href="/ui/runs/acme/ingest/{child.run_id}">{child.run_id}</a> (ingest)</li>'
    ) in parent_page
    assert (
        '<dt>sub-flow of</dt><dd><a href="/ui/runs/acme/report/r1">r1</a> (report) '
        "step ingest attempt 1</dd>"
    ) in child_page
