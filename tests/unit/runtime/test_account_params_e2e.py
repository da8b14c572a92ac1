"""Accounts as parameters end to end in the embedded runtime: one flow file, a scheduled start,
two accounts, two runs, each with its run objects and its side effects under its own account."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mhi.cli.main import main
from mhi.config import Settings
from mhi.constants import CONTROLLER_TOPIC
from mhi.model import keys
from mhi.model.keys import RunRef
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.services import Services

WAIT = 60.0  # bounded waits: a broken runtime fails the test instead of hanging it
ACCOUNTS = ["hotel-fergus", "hotel-marina"]

FLOW: dict[str, Any] = {
    "flow_id": "group-kpis",
    "account": "{{ params.hotel }}",
    "params": {"hotel": {"required": True, "description": "the hotel this run is for"}},
    "schedule": {"cron": "30 3 * * *", "time_zone": "Europe/Madrid", "accounts": ACCOUNTS},
    "flow_config": {
        "steps": [
            {"id": "extract", "type": "ms-echo", "config": {"hotel": "{{ run.account }}"}},
            {
                "id": "report",
                "type": "ms-notifications",
                "depends_on": ["extract"],
                "config": {
                    "type": ["outbox"],
                    "recipients": ["gm@example.com"],
                    "subject": "KPIs of {{ steps.extract.output.hotel }}",
                },
            },
        ]
    },
}


def test_one_flow_file_fans_out_to_one_run_per_account(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "group-kpis.json").write_text(json.dumps(FLOW))
    services = Services(Settings(home=tmp_path / "home", flows_dir=flows))
    message = json.dumps({"flow_ref": "group-kpis", "params": {}}).encode()
    attributes = {
        "mhi_trigger": "schedule",
        "mhi_cron": "30 3 * * *",
        "mhi_time_zone": "Europe/Madrid",
    }
    with EmbeddedRuntime(services) as runtime:
        runtime.bus.publish(CONTROLLER_TOPIC, message, attributes)
        assert runtime.wait_idle(WAIT)
        store = services.run_store
        frozen = sorted(k for k in store.list("runs/") if k.endswith("/" + keys.FLOW))
        refs = [RunRef(*k.split("/")[1:4]) for k in frozen]
        assert [r.account for r in refs] == ACCOUNTS
        assert refs[0].run_id == refs[1].run_id and refs[0].run_id.startswith("scheduled-")
        states = [runtime.wait(ref, timeout=WAIT) for ref in refs]
    for account, ref, state in zip(ACCOUNTS, refs, states, strict=True):
        assert state.done is not None and state.done["status"] == "succeeded"
        assert state.flow.account == account and state.params == {"hotel": account}
        extract = state.steps["extract"].last
        assert extract is not None and (extract.result or {})["output"]["hotel"] == account
        # every object of the run sits under its own account's prefix
        assert all(k.startswith(f"runs/{account}/") for k in store.list(ref.prefix))
        mails = list((tmp_path / "home" / "blobs" / "outbox" / account).rglob("*.eml"))
        assert len(mails) == 1 and f"Subject: KPIs of {account}" in mails[0].read_text()


def test_mhi_backfill_runs_every_slot_of_every_scheduled_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "group-kpis.json").write_text(json.dumps(FLOW))
    monkeypatch.setenv("MHI_FLOWS_DIR", str(flows))
    args = ["backfill", "group-kpis", "--start", "2025-01-01", "--end", "2025-01-02"]
    assert main(args) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    statuses = {words[0]: words[-1] for words in lines if words and "/scheduled-" in words[0]}
    assert statuses == {
        f"{account}/scheduled-{day}": "succeeded"
        for account in ACCOUNTS
        for day in ("20250101T0230Z", "20250102T0230Z")  # 03:30 CET
    }
    assert main([*args, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["started"] == [] and sorted(again["existing"]) == sorted(
        f"{a}/group-kpis/scheduled-{d}"
        for a in ACCOUNTS
        for d in ("20250101T0230Z", "20250102T0230Z")
    )
