"""Two controller processes racing on one run over the local store never double-dispatch."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from mhi.adapters.local.fs_run_store import FsRunStore
from tests.unit.runtime.workers import run_workers


def _flow() -> dict[str, object]:
    steps: list[dict[str, object]] = [{"id": "root", "type": "ms-echo"}]
    steps += [{"id": f"w{i}", "type": "ms-echo", "depends_on": ["root"]} for i in range(20)]
    steps += [
        {"id": f"c{i}", "type": "ms-echo", "depends_on": [f"w{i}", f"w{(i + 1) % 20}"]}
        for i in range(20)
    ]
    steps.append({"id": "sink", "type": "ms-echo", "depends_on": [f"c{i}" for i in range(20)]})
    return {"flow_id": "race", "account": "acme", "flow_config": {"steps": steps}}


@pytest.mark.slow
def test_two_controller_processes_never_double_dispatch(tmp_path: Path) -> None:
    flow_file = tmp_path / "flow.json"
    flow_file.write_text(json.dumps(_flow()))
    codes = run_workers("race_worker.py", [[str(tmp_path), str(flow_file)]] * 2)
    assert codes == [0, 0]

    published = [name.split("~") for name in os.listdir(tmp_path / "published")]
    per_attempt = Counter((step, attempt, turn) for step, attempt, turn, _pid, _n in published)
    assert len(per_attempt) == 42, sorted(per_attempt)
    assert set(per_attempt.values()) == {1}, [k for k, v in per_attempt.items() if v > 1]
    assert len({pid for *_x, pid, _n in published}) == 2, "both processes should have dispatched"

    store = FsRunStore(tmp_path / "state")
    prefix = "runs/acme/race/race-1/"
    assert json.loads(store.read(prefix + "done.json") or b"{}")["status"] == "succeeded"
    assert len([k for k in store.list(prefix) if k.endswith("/dispatched.json")]) == 42
