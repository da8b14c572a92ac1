"""The SLA watch end to end in the embedded runtime, on a clock the test sets: a slot Cloud
Scheduler never started becomes a failed run that sends its SLA notice (saying it never
started) and the flow's fail notice, lists like any run, counts as an SLA miss in `mhi stats`,
and runs its steps when rerun."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mhi.config import Settings
from mhi.model.keys import RunRef
from mhi.ops import stats
from mhi.ops.control import rerun
from mhi.ops.index import RunFilter, list_runs
from mhi.ops.show import describe
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.runtime.pubsub_event import PubSubMessage
from mhi.services import Services

WAIT = 30.0  # bounded waits: a broken runtime fails the test instead of hanging it
OUTBOX = {"type": ["outbox"], "recipients": "ops@example.com"}
FLOW: dict[str, Any] = {
    "flow_id": "nightly",
    "account": "acme",
    "schedule": {"cron": "0 2 * * *", "time_zone": "Europe/Madrid"},
    "sla": {"by": "07:00", "notify": OUTBOX},
    "notifications": {"fail": OUTBOX},
    "flow_config": {
        "steps": [
            {"id": "extract", "type": "ms-echo", "config": {"rows": 3}},
            {"id": "report", "type": "ms-echo", "depends_on": ["extract"]},
        ]
    },
}
MISSED = "scheduled-20250109T0100Z"  # 02:00 Madrid (winter) on 9 January


class SetClock:
    """A clock that says what the test sets."""

    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


def _runtime(tmp_path: Path, clock: SetClock) -> EmbeddedRuntime:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "nightly.json").write_text(json.dumps(FLOW))
    settings = Settings(home=tmp_path, flows_dir=flows)
    return EmbeddedRuntime(Services(settings, clock=clock))


def _mails(tmp_path: Path, run_id: str, step: str) -> list[str]:
    folder = tmp_path / "blobs" / "outbox" / "acme" / "nightly" / run_id / step
    return [p.read_text() for p in sorted(folder.glob("*.eml"))]


def test_a_slot_the_scheduler_never_started_is_a_failed_run_with_its_sla_notice(
    tmp_path: Path,
) -> None:
    clock = SetClock(datetime(2025, 1, 8, 1, 0, 5, tzinfo=UTC))
    with _runtime(tmp_path, clock) as runtime:
        # the scheduler starts the slot of 8 January; nothing starts the one of 9 January
        fired = PubSubMessage(
            json.dumps({"flow_ref": "nightly", "params": {}}).encode(),
            {"mhi_trigger": "schedule", "mhi_cron": "0 2 * * *", "mhi_time_zone": "Europe/Madrid"},
            "m1",
            publish_time=datetime(2025, 1, 8, 1, 0, 1, tzinfo=UTC),
        )
        runtime.router.route(fired)
        first = runtime.wait(RunRef("acme", "nightly", "scheduled-20250108T0100Z"), WAIT)
        assert first.done is not None and first.done["status"] == "succeeded"
        clock.at = datetime(2025, 1, 9, 6, 10, tzinfo=UTC)  # 07:10 Madrid: past the deadline
        for _ in range(2):  # swept twice: recorded once
            runtime.router.route(PubSubMessage(b'{"kind": "sweep"}', {}, "s"))
        ref = RunRef("acme", "nightly", MISSED)
        state = runtime.wait(ref, WAIT)
        assert runtime.wait_idle(WAIT)
        store = runtime.services.run_store
        assert state.done is not None and state.done["status"] == "failed"
        deadline = "2025-01-09T07:00:00+01:00"
        assert state.done["error"].startswith(f"not started by its SLA deadline {deadline}")
        [sla_mail] = _mails(tmp_path, MISSED, "_sla")
        assert "NOT STARTED for its SLA deadline 2025-01-09T06:00:00+00:00" in sla_mail
        assert "Not started: not started by its SLA deadline" in sla_mail
        [fail_mail] = _mails(tmp_path, MISSED, "_notify")
        assert "not started by its SLA deadline" in fail_mail
        detail = describe(store, ref)
        assert detail["missed"]["deadline"] == "2025-01-09T06:00:00+00:00"
        assert detail["audit"][0]["by"] == {"actor": "controller", "via": "sla-watch"}
        rows = list_runs(store, RunFilter(flow_id="nightly")).rows
        assert [(r.ref.run_id, r.status) for r in rows] == [
            (MISSED, "failed"),
            ("scheduled-20250108T0100Z", "succeeded"),
        ]
        figures = stats.compute(store, flow_id="nightly", now=clock.at)["flows"]["nightly"]["sla"]
        assert (figures["met"], figures["missed"]) == (1, 1)
        # the user fills the gap: the rerun runs every step
        rerun(store, ref, {"actor": "tester", "via": "test"}, clock.at)
        runtime.redrive(ref)
        again = runtime.wait(ref, WAIT)
        assert again.done is not None and again.done["status"] == "succeeded"
        assert [again.status(again.steps[s]).value for s in ("extract", "report")] == [
            "succeeded",
            "succeeded",
        ]
        assert len(_mails(tmp_path, MISSED, "_sla")) == 1  # a rerun sends no SLA notice
