"""`mhi plan FLOW.json`: validation, the run's shape, duration and cost, learning from past runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mhi.adapters.local.fs_run_store import FsRunStore
from mhi.cli.main import main
from mhi.config import Settings
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.services import Services
from tests.cli.test_startup import _modules_loaded_by
from tests.conftest import ROOT

FLOW: dict[str, Any] = {
    "flow_id": "planned",
    "account": "acme",
    "on_failure": ["alert"],
    "flow_config": {
        "steps": [
            {"id": "list", "type": "ms-echo", "config": {"ids": [1, 2]}},
            {
                "id": "each",
                "type": "ms-echo",
                "depends_on": ["list"],
                "for_each": "{{ steps.list.output.ids }}",
                "on_failure": ["undo"],
            },
            {"id": "report", "type": "ms-echo", "depends_on": ["each"], "trigger_rule": "all_done"},
            {"id": "undo", "type": "ms-echo"},
            {"id": "alert", "type": "ms-echo"},
        ]
    },
}


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "planned.json"
    path.write_text(json.dumps(FLOW))
    return path


def _plan(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["plan", *args, "--json"]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_plan_shows_the_shape_with_fan_out_bounds_and_handlers(
    flow_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _plan(capsys, str(flow_file), "--items", "each=2")
    steps = {s["id"]: s for s in result["steps"]}
    assert steps["each"]["fan_out"][0] == 0 and steps["each"]["fan_out"][1] >= 1000
    assert steps["each"]["items_assumed"] == 2
    assert steps["undo"]["handles"] == ["each"] and steps["undo"]["upstreams"] == ["each"]
    assert steps["alert"]["handles"] == ["list", "each", "report", "undo"]
    assert steps["report"]["trigger_rule"] == "all_done"
    assert result["critical_path"] == ["list", "each", "report"]
    assert {s["seconds_from"] for s in steps.values()} == {"type default"}
    # 2 items: list, 2 children, report run; undo and alert are skipped
    assert result["operations"]["transitions"] == 4
    assert result["measured_runs"] == 0
    assert result["cost"]["total"] > 0 and result["prices"]["storage_class_a_per_1000"] > 0


def test_plan_learns_step_durations_from_past_runs_of_the_flow(
    flow_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(flow_file), "--run-id", "p-1", "-q"]) == 0
    capsys.readouterr()
    result = _plan(capsys, str(flow_file))
    steps = {s["id"]: s for s in result["steps"]}
    assert steps["list"]["seconds_from"] == "median of 1 run(s)"
    assert steps["undo"]["seconds_from"] == "type default"  # skipped: no duration to learn
    assert result["measured_runs"] == 1 and result["measured_median_seconds"] >= 0


def test_plan_prints_prices_and_rejects_a_bad_flow_with_its_path(
    flow_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", str(flow_file)]) == 0
    out = capsys.readouterr().out
    assert "critical path: list → each → report" in out
    assert "list prices used (USD): storage_class_a_per_1000 0.005" in out
    assert "sla:" not in out  # the flow has none
    sla = {"within_seconds": 1, "notify": {"type": ["outbox"], "recipients": "a@example.com"}}
    flow_file.write_text(json.dumps({**FLOW, "sla": sla}))
    assert main(["plan", str(flow_file)]) == 0
    assert "sla: finished within 1 s of the slot or start: the estimate misses it" in (
        capsys.readouterr().out
    )
    bad = tmp_path / "bad.json"
    steps = [{"id": "a", "type": "ms-echo", "trigger_rule": "one_success"}]
    bad.write_text(json.dumps({**FLOW, "on_failure": [], "flow_config": {"steps": steps}}))
    assert main(["plan", str(bad)]) == 1
    assert "$.flow_config.steps[0].trigger_rule" in capsys.readouterr().out


def test_plan_says_a_time_of_day_sla_in_its_zone_and_whether_the_estimate_fits(
    flow_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime

    from mhi.cli.commands.plan import sla_fit
    from mhi.model.validate import parse_flow

    notify = {"type": ["outbox"], "recipients": "a@example.com"}
    sla = {"by": "07:00", "time_zone": "Europe/Madrid", "notify": notify}
    # slots at 01:00 UTC: 07:00 Madrid is 5 h later in winter, 4 h later in summer
    scheduled = {**FLOW, "schedule": {"cron": "0 1 * * *"}, "sla": sla}
    flow = parse_flow(scheduled, frozenset({"ms-echo"}))
    jan = datetime(2026, 1, 10, tzinfo=UTC)
    fit = sla_fit(flow, 3 * 3600, jan)
    assert fit is not None and fit["window_seconds"] == [4 * 3600, 5 * 3600]
    assert fit["fits"] is True and fit["slots_measured"] == 366
    late = sla_fit(flow, 4.5 * 3600, jan)
    assert late is not None and late["fits"] is False
    assert late["tightest_slot"].startswith("2026-03-29T03:00:00+02:00")  # first summer slot
    flow_file.write_text(json.dumps(scheduled))
    assert main(["plan", str(flow_file)]) == 0
    out = capsys.readouterr().out
    assert (
        "sla: finished by 07:00 Europe/Madrid (the first after each slot): "
        "4 h 00 min to 5 h 00 min from a slot (next 366 slots): fits"
    ) in out
    # without a schedule the deadline follows the start
    flow_file.write_text(json.dumps({**FLOW, "sla": sla}))
    result = _plan(capsys, str(flow_file))
    assert result["sla"]["by"] == "07:00" and result["sla"]["fits"] is True
    assert main(["plan", str(flow_file)]) == 0
    assert "sla: finished by 07:00 Europe/Madrid (the first after the start): a run" in (
        capsys.readouterr().out
    )


def test_plan_rejects_items_for_a_step_without_for_each(
    flow_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", str(flow_file), "--items", "report=3"]) != 0
    assert "no for_each step 'report'" in capsys.readouterr().err


def test_plan_loads_no_heavy_module(flow_file: Path, tmp_path: Path) -> None:
    assert _modules_loaded_by(["plan", str(flow_file)], tmp_path) == (0, [])


class _CountingStore(FsRunStore):
    """The local run store, not counting the embedded runtime's once-a-second cancel checks
    (a local-only poll: in the cloud a cancel arrives as a message)."""

    def read(self, key: str) -> bytes | None:
        data = super().read(key)
        if key.rsplit("/", 1)[-1].startswith("cancel"):
            self.stats.reads -= 1
        return data


@pytest.mark.slow
def test_plan_of_the_demo_flow_matches_a_real_run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # the flow names data/hotel_bookings.csv.gz relative to the checkout
    demo = "flows/demo-hotel-kpis.json"
    before = _plan(capsys, demo)
    # The plan counts a run whose steps succeed at once: on a loaded machine a step may take
    # long enough to be checked on (a listing) and renew its lease (a create), and the run
    # long enough for the sweep.
    monkeypatch.setenv("MHI_DISPATCH_GRACE_SECONDS", "3600")
    monkeypatch.setenv("MHI_HEARTBEAT_SECONDS", "3600")
    monkeypatch.setenv("MHI_LEASE_SECONDS", "7200")
    settings = Settings.from_env()
    store = _CountingStore(settings.home / "state")
    services = Services(settings, run_store=store)
    with EmbeddedRuntime(services, sweep_interval=3600) as runtime:
        state = runtime.wait(runtime.start_json(json.loads(Path(demo).read_text())), timeout=600)
    assert state.done is not None and state.done["status"] == "succeeded"
    ops = before["operations"]
    assert (ops["creates"], ops["lists"]) == (store.stats.creates, store.stats.lists)
    assert ops["reads_fewest"] <= store.stats.reads <= ops["reads"]
    after = _plan(capsys, demo)
    measured = after["measured_median_seconds"]
    assert after["measured_runs"] == 1
    assert measured / 2 <= after["duration_seconds"] <= measured * 2
