"""The README's first flow is `flows/first-flow.json`, word for word, and it runs as described."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mhi.config import Settings
from mhi.engine.summary import run_summary
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.runtime.start import parse_start
from mhi.services import Services
from tests.conftest import ROOT

FLOW = ROOT / "flows" / "first-flow.json"


def _readme_json_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```json\n(.*?)```", text, re.DOTALL)


def test_the_readme_shows_the_flow_file_unchanged() -> None:
    [block] = [b for b in _readme_json_blocks() if '"flow_id": "first-flow"' in b]
    assert json.loads(block) == json.loads(FLOW.read_text())


def test_the_readme_params_example_is_a_valid_params_block() -> None:
    [block] = [b for b in _readme_json_blocks() if b.lstrip().startswith('"params"')]
    flow: dict[str, Any] = {
        **json.loads("{" + block + "}"),
        "flow_id": "p",
        "account": "a",
        "flow_config": {"steps": [{"id": "s", "type": "ms-echo"}]},
    }
    request = parse_start({**flow, "run_params": {"target": "t"}}, None)
    assert request.params == {"day": "2017-08-01", "hotels": ["City Hotel", "Resort Hotel"]} | {
        "target": "t"
    }


def test_the_first_flow_runs_and_writes_its_email(tmp_path: Path) -> None:
    services = Services(Settings(home=tmp_path))
    start = {**json.loads(FLOW.read_text()), "run_params": {"day": "2017-08-02"}}
    with EmbeddedRuntime(services) as runtime:
        ref = runtime.start_json(start)
        state = runtime.wait(ref, timeout=60)
    summary = run_summary(state)
    assert summary["status"] == "succeeded", summary
    assert state.output("plan") == {
        "day": "2017-08-02",
        "hotels": ["City Hotel", "Resort Hotel"],
    }
    assert [i["hotel"] for i in state.output("per-hotel")["items"]] == [
        "City Hotel",
        "Resort Hotel",
    ]
    outbox = tmp_path / "blobs" / "outbox" / "my-hotels" / "first-flow" / ref.run_id / "report"
    email = (outbox / "me@example.com.eml").read_text()
    assert "Subject: First flow: 2017-08-02" in email
