"""`mhi runs show` tells a step that waits for a concurrency slot, and which key it waits for."""

from __future__ import annotations

import json

import pytest

from mhi.cli.main import main
from mhi.config import Settings
from mhi.services import Services
from tests.fakes.slot_runs import start_first_and_second


def test_the_second_run_shows_its_step_waiting_for_the_slot_the_first_holds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    start_first_and_second(Services(Settings.from_env()).run_store)

    assert main(["runs", "show", "second"]) == 0
    out = capsys.readouterr().out
    assert "pending" in out and "waiting for slot qlik:acme" in out
    assert main(["runs", "show", "first", "--json"]) == 0
    (step,) = json.loads(capsys.readouterr().out)["steps"]
    assert step["status"] == "running" and step["waiting_for_slot"] is None


def test_mhi_limits_names_the_holder_of_each_slot_and_the_waiting_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    start_first_and_second(Services(Settings.from_env()).run_store)

    assert main(["limits", "qlik:acme"]) == 0
    out = capsys.readouterr().out
    assert "held" in out and "acme/reloads/first step reload attempt 1" in out
    assert "waiting: acme/reloads/second" in out
    assert main(["limits", "qlik:acme", "--json"]) == 0
    (slot,) = json.loads(capsys.readouterr().out)["slots"]
    assert (slot["slot"], slot["holder"]["run_id"]) == (0, "first")
    assert main(["limits", "qlik/acme"]) == 2
    assert "concurrency key 'qlik/acme' is not allowed" in capsys.readouterr().out
