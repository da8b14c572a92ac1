"""The HTTP API over the embedded runtime (Flask's test client): JSON, paging, 4xx naming the
field, the OpenAPI document, the caller as the audit actor, and the bearer token of `mhi serve`."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mhi.api.app import create_app
from mhi.api.auth import CloudRunAuth, LocalAuth
from mhi.config import Settings
from mhi.ops.wiring import build
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.services import Services

FLOW = {
    "flow_id": "nightly",
    "account": "acme",
    "params": {"fail": {"default": False}},
    "flow_config": {
        "steps": [
            {"id": "extract", "type": "ms-echo", "config": {"rows": 2}},
            {
                "id": "load",
                "type": "ms-echo",
                "depends_on": ["extract"],
                "retry": {"max_attempts": 1},
                "config": {
                    "fail_permanently": "{{ params.fail }}",
                    "day": "{{ run.logical_date }}",
                },
            },
        ]
    },
}
RUN = "/api/v1/runs/acme/nightly"


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedRuntime]:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "nightly.json").write_text(json.dumps(FLOW))
    monkeypatch.setenv("MHI_FLOWS_DIR", str(flows))
    with EmbeddedRuntime(Services(Settings.from_env())) as rt:
        yield rt


def _client(runtime: EmbeddedRuntime, auth: Any = None) -> Any:
    ops = build(runtime.services, runtime=runtime)
    return create_app(ops, auth or LocalAuth(None, "alice@laptop")).test_client()


def _wait(runtime: EmbeddedRuntime, client: Any, run_id: str, status: str) -> dict[str, Any]:
    for _ in range(300):
        runtime.wait_idle(5.0)
        body: dict[str, Any] = client.get(f"{RUN}/{run_id}").get_json()
        if body["status"] == status:
            return body
    raise AssertionError(f"run {run_id} never {status}: {body['status']}")


def test_start_fail_rerun_with_an_edited_param_and_audit(runtime: EmbeddedRuntime) -> None:
    client = _client(runtime)
    assert client.get("/api/v1/flows").get_json()["flows"][0]["flow_id"] == "nightly"
    started = client.post(
        "/api/v1/runs", json={"flow_id": "nightly", "params": {"fail": True}, "run_id": "r1"}
    )
    assert started.status_code == 202 and started.get_json()["run"]["run_id"] == "r1"
    failed = _wait(runtime, client, "r1", "failed")
    assert failed["steps"][1]["dead_letter"]["error"]["kind"] == "step_failed"

    rerun = client.post(f"{RUN}/r1/rerun", json={"params": {"fail": False}, "reason": "fixed"})
    assert rerun.status_code == 202 and rerun.get_json()["steps"] == ["load"]
    detail = _wait(runtime, client, "r1", "succeeded")
    steps = {s["id"]: s for s in detail["steps"]}
    assert steps["extract"]["attempts"] == 1 and steps["load"]["attempts"] == 2
    assert [(a["action"], a["by"]["actor"]) for a in detail["audit"]] == [
        ("start", "alice@laptop"),
        ("rerun", "alice@laptop"),
    ]
    page = client.get("/api/v1/runs?flow=nightly&limit=1").get_json()
    assert [r["run_id"] for r in page["runs"]] == ["r1"] and page["runs"][0]["generation"] == 1


def test_paging_and_filters(runtime: EmbeddedRuntime) -> None:
    client = _client(runtime)
    for i in range(3):
        assert (
            client.post("/api/v1/runs", json={"flow_id": "nightly", "run_id": f"p{i}"}).status_code
            == 202
        )
        _wait(runtime, client, f"p{i}", "succeeded")
    first = client.get("/api/v1/runs?limit=2").get_json()
    assert [r["run_id"] for r in first["runs"]] == ["p2", "p1"] and first["next_cursor"]
    second = client.get(f"/api/v1/runs?limit=2&cursor={first['next_cursor']}").get_json()
    assert [r["run_id"] for r in second["runs"]] == ["p0"] and second["next_cursor"] is None
    ok = client.get("/api/v1/runs?status=succeeded&flow=nightly").get_json()["runs"]
    assert len(ok) == 3
    assert client.get("/api/v1/runs?status=failed").get_json()["runs"] == []
    figures = client.get("/api/v1/stats?flow=nightly").get_json()
    assert figures["runs"]["count"] == 3 and figures["runs"]["success_rate"] == 1.0
    assert figures["step_types"]["ms-echo"]["count"] == 6


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "field"),
    [
        ("post", "/api/v1/runs", {}, 400, "flow_id"),
        ("post", "/api/v1/runs", {"flow_id": "nope"}, 404, "flow_id"),
        ("post", "/api/v1/runs", {"flow_id": "nightly", "params": {"x": 1}}, 400, "params.x"),
        ("post", "/api/v1/runs", {"flow_id": "nightly", "params": []}, 400, "params"),
        ("post", "/api/v1/runs", {"flow_id": "nightly", "run_id": "bad id"}, 400, "run_id"),
        ("get", "/api/v1/runs?status=done", None, 400, "status"),
        ("get", "/api/v1/runs?limit=x", None, 400, "limit"),
        ("get", "/api/v1/runs?limit=0", None, 400, "limit"),
        ("get", "/api/v1/runs?since=yesterday", None, 400, "since"),
        ("get", f"{RUN}/missing", None, 404, "run"),
        (
            "post",
            "/api/v1/backfills",
            {"flow_id": "nightly", "start": "2025-13-01", "end": "2025-01-02"},
            400,
            "start",
        ),
        (
            "post",
            "/api/v1/backfills",
            {"flow_id": "nightly", "start": "2025-01-03", "end": "2025-01-01"},
            400,
            "end",
        ),
        ("post", "/api/v1/backfills", {"flow_id": "nightly", "start": "2025-01-01"}, 400, "end"),
    ],
)
def test_bad_requests_name_the_field(
    runtime: EmbeddedRuntime, method: str, url: str, body: Any, status: int, field: str
) -> None:
    client = _client(runtime)
    response = (
        getattr(client, method)(url, json=body)
        if body is not None
        else getattr(client, method)(url)
    )
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["field"] == field and error["message"]


def test_conflicts_unknown_routes_and_bad_json(runtime: EmbeddedRuntime) -> None:
    client = _client(runtime)
    client.post("/api/v1/runs", json={"flow_id": "nightly", "run_id": "ok"})
    _wait(runtime, client, "ok", "succeeded")
    cancel = client.post(f"{RUN}/ok/cancel", json={})
    assert cancel.status_code == 409 and "already finished" in cancel.get_json()["error"]["message"]
    rerun = client.post(f"{RUN}/ok/rerun", json={"from_step": "nope"})
    assert rerun.status_code == 400 and rerun.get_json()["error"]["field"] == "from_step"
    bad = client.post("/api/v1/runs", data="{not json", content_type="application/json")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "body"
    assert client.get("/api/v1/nothing").status_code == 404
    assert client.delete("/api/v1/runs").status_code == 405


def test_backfill_through_the_api_is_idempotent(runtime: EmbeddedRuntime) -> None:
    client = _client(runtime)
    body = {"flow_id": "nightly", "start": "2025-01-01", "end": "2025-01-03"}
    first = client.post("/api/v1/backfills", json=body).get_json()
    assert len(first["started"]) == 3
    for started in first["started"]:
        _wait(runtime, client, started["run_id"], "succeeded")
    again = client.post("/api/v1/backfills", json=body).get_json()
    assert again["started"] == [] and len(again["existing"]) == 3
    detail = client.get(f"{RUN}/scheduled-20250102T0000Z").get_json()
    assert detail["steps"][1]["output"]["day"] == "2025-01-02"


def test_openapi_document_lists_every_route(runtime: EmbeddedRuntime) -> None:
    doc = _client(runtime).get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    paths = set(doc["paths"])
    assert {"/api/v1/runs", "/api/v1/backfills", "/api/v1/stats", "/api/v1/flows"} <= paths
    assert "/api/v1/runs/{account}/{flow_id}/{run_id}/rerun" in paths


def _jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.signature"


def test_the_verified_caller_is_the_actor_and_tokens_are_required(runtime: EmbeddedRuntime) -> None:
    client = _client(runtime, CloudRunAuth())
    assert client.get("/api/v1/runs").status_code == 401
    assert (
        client.get("/api/v1/runs", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    )
    headers = {"Authorization": f"Bearer {_jwt({'email': 'ops@example.com'})}"}
    client.post("/api/v1/runs", json={"flow_id": "nightly", "run_id": "j1"}, headers=headers)
    runtime.wait_idle(10)
    detail = client.get(f"{RUN}/j1", headers=headers).get_json()
    assert detail["audit"][0]["by"] == {"actor": "ops@example.com", "via": "api"}

    local = _client(runtime, LocalAuth("s3cret", "bob@laptop"))
    assert local.get("/api/v1/runs").status_code == 401
    assert local.get("/api/v1/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert local.get("/api/v1/runs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
