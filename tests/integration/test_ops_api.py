"""Rerun and backfill through the HTTP API on the emulator stack, as in production.

The test starts the `api` function itself (functions-framework, HTTP, on 127.0.0.1) with the
stack's function environment, and stops it by process id. The API writes control records to the
storage emulator and publishes starts and wake-ups to the controller topic; the controller and
echo functions of the stack do the rest.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mhi.dev.procs import LAUNCHED, Proc, free_port, stop_procs, wait_port
from mhi.dev.stack import BUCKETS, ROOT
from tests.integration.conftest import Stack, unique

TOKEN = "integration-token"


class Api:
    """A client of the api function the test started."""

    def __init__(self, port: int, log: Path) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v1"
        self.log = log

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {TOKEN}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path}: {e.code} {e.read()!r}") from None

    def wait_status(self, path: str, status: str, stack: Stack, timeout: float = 90.0) -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.call("GET", path)
            except AssertionError as e:  # 404 until the controller has taken the start
                if ": 404 " not in str(e):
                    raise
            if last is not None and last["status"] == status:
                return last
            time.sleep(0.3)
        tail = self.log.read_text(errors="replace")[-2000:]
        raise AssertionError(
            f"{path}: {last and last['status']}, not {status}\n{stack.logs()}\n{tail}"
        )


@pytest.fixture(scope="module")
def api(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    port = free_port()
    log = tmp_path_factory.mktemp("api") / "api.log"
    env = {**stack.dev._function_env(), "MHI_API_TOKEN": TOKEN}
    env.pop("K_SERVICE", None)
    argv = [sys.executable, "-m", "functions_framework", "--target=handle"]
    argv += [f"--source={ROOT / 'functions' / 'api' / 'main.py'}", "--signature-type=http"]
    argv += ["--host=127.0.0.1", f"--port={port}"]
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
    LAUNCHED[popen.pid] = popen
    proc = Proc("api", popen.pid, port, str(log), argv)
    try:
        wait_port(port, popen, 60.0, "function api")
        yield Api(port, log)
    finally:
        stop_procs([proc])


def _store_flow(stack: Stack, flow: dict[str, Any]) -> None:
    bucket = stack.dev.storage_client().bucket(BUCKETS["FLOWS_BUCKET"])
    bucket.blob(f"{flow['flow_id']}.json").upload_from_string(json.dumps(flow))


def _flow(flow_id: str) -> dict[str, Any]:
    return {
        "flow_id": flow_id,
        "account": "hotel-fergus",
        "flow_config": {
            "steps": [
                {"id": "extract", "type": "ms-echo", "config": {"rows": 5}},
                {
                    "id": "model",
                    "type": "ms-echo",
                    "depends_on": ["extract"],
                    "retry": {"max_attempts": 1},
                    # attempt 1 fails (the source is down), a later attempt works
                    "config": {"fail_until_attempt": 2, "rows": "{{ steps.extract.output.rows }}"},
                },
                {
                    "id": "report",
                    "type": "ms-echo",
                    "depends_on": ["model"],
                    "config": {"day": "{{ run.logical_date }}"},
                },
            ]
        },
    }


def test_rerun_through_the_api(stack: Stack, api: Api) -> None:
    flow_id = unique("ops-rerun")
    _store_flow(stack, _flow(flow_id))
    started = api.call("POST", "/runs", {"flow_id": flow_id, "run_id": "r1"})
    path = f"/runs/hotel-fergus/{flow_id}/r1"
    assert started["run"]["run_id"] == "r1"
    failed = api.wait_status(path, "failed", stack)
    assert failed["failed_step"] == "model"

    plan = api.call("POST", path + "/rerun", {"reason": "source fixed"})
    assert plan["generation"] == 1 and plan["steps"] == ["model", "report"]
    done = api.wait_status(path, "succeeded", stack)
    steps = {s["id"]: s for s in done["steps"]}
    assert steps["extract"]["attempts"] == 1  # not executed again
    assert [a["attempt"] for a in steps["model"]["attempt_history"]] == [1, 2]
    assert steps["report"]["output"]["day"] == done["started_at"][:10]
    assert [(a["action"], a["by"]["via"]) for a in done["audit"]] == [
        ("start", "api"),
        ("rerun", "api"),
    ]
    assert stack.read_json(f"runs/hotel-fergus/{flow_id}/r1/done-1.json")["status"] == "succeeded"


def test_backfill_through_the_api_twice_starts_three_runs(stack: Stack, api: Api) -> None:
    flow_id = unique("ops-backfill")
    flow = _flow(flow_id)
    flow["flow_config"]["steps"][1]["config"] = {"rows": 1}
    _store_flow(stack, flow)
    body = {"flow_id": flow_id, "start": "2025-01-01", "end": "2025-01-03"}
    first = api.call("POST", "/backfills", body)
    assert len(first["started"]) == 3 and first["existing"] == []
    for started in first["started"]:
        run = api.wait_status(
            f"/runs/hotel-fergus/{flow_id}/{started['run_id']}", "succeeded", stack
        )
        assert {s["id"]: s for s in run["steps"]}["report"]["output"]["day"] == run["logical_time"][
            :10
        ]
    second = api.call("POST", "/backfills", body)
    assert second["started"] == [] and len(second["existing"]) == 3
    listed = api.call("GET", f"/runs?flow={flow_id}&limit=10")["runs"]
    assert sorted(r["run_id"] for r in listed) == [
        "scheduled-20250101T0000Z",
        "scheduled-20250102T0000Z",
        "scheduled-20250103T0000Z",
    ]
