"""A run whose process died (kill -9) resumes at once in a new process: `mhi run --run-id`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from mhi.adapters.local.fs_run_store import FsRunStore
from mhi.config import Settings
from mhi.model.keys import RunRef
from mhi.model.validate import parse_flow
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.runtime.resume import local_process_alive
from mhi.runtime.start import StartRequest
from mhi.services import Services

FLOW = {
    "flow_id": "resume",
    "account": "acme",
    "flow_config": {
        "steps": [
            {"id": "a", "type": "ms-echo", "timeout_seconds": 3600},
            {"id": "b", "type": "ms-echo", "depends_on": ["a"], "timeout_seconds": 3600},
        ]
    },
}


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_liveness_of_local_holders() -> None:
    here = socket.gethostname()
    assert local_process_alive(f"{here}:{os.getpid()}") is True
    assert local_process_alive(f"{here}:{_dead_pid()}") is False
    assert local_process_alive("another-host:1") is None


def test_a_turn_of_a_dead_process_runs_again_at_once(tmp_path: Path) -> None:
    store = FsRunStore(tmp_path / "state")
    ref = RunRef("acme", "resume", "r-1")
    flow = parse_flow(FLOW)
    # The first process claimed step a, its step function started it and died (kill -9).
    store.create(
        ref.key("flow.json"),
        json.dumps(
            {
                "schema_version": 1,
                "run_id": "r-1",
                "started_at": "2026-01-01T06:00:00+00:00",
                "params": {},
                "flow": flow.model_dump(mode="json", exclude_none=True),
            }
        ).encode(),
    )
    store.create(ref.active_key, b"{}")
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now))
    later = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now + 3600))
    store.create(
        ref.key("steps/a/1/dispatched.json"),
        json.dumps({"at": stamp, "deadline": later, "turn": 0}).encode(),
    )
    holder = f"{socket.gethostname()}:{_dead_pid()}"
    store.create(
        ref.key("steps/a/1/started-0.json"),
        json.dumps({"at": stamp, "lease_until": later, "holder": holder}).encode(),
    )
    services = Services(Settings(home=tmp_path), run_store=store)
    with EmbeddedRuntime(services) as runtime:
        runtime.start(StartRequest(flow, {}, "r-1"))
        # The dead process's lease runs for an hour: only knowing it died finishes the run here.
        state = runtime.wait(ref, timeout=300)
    assert state.done is not None and state.done["status"] == "succeeded"
    assert store.read(ref.key("steps/a/1/poll-1.json")) is not None  # run again as turn 1


def test_ctrl_c_without_a_terminal_leaves_the_run_and_says_how_to_resume(tmp_path: Path) -> None:
    flow_file = tmp_path / "slow.json"
    slow = {**FLOW, "flow_id": "slow"}
    slow["flow_config"] = {
        "steps": [{"id": "a", "type": "ms-echo", "config": {"sleep_seconds": 30}}]
    }
    flow_file.write_text(json.dumps(slow))
    env = {**os.environ, "MHI_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mhi", "run", str(flow_file), "--run-id", "slow-1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        for _ in range(600):  # until the run has started (bounded: 60 s)
            line = proc.stdout.readline() if proc.stdout else ""
            if "started" in line:
                break
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "left as it is; resume it with" in err and "--run-id slow-1" in err
    assert "Traceback" not in err
