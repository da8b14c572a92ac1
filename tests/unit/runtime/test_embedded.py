"""The embedded runtime runs flows end to end in one process: retries, timeouts, polls, cancel."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from mhi.config import Settings
from mhi.engine.summary import run_summary
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.services import Services
from mhi.steps.sdk import StepContext, StepKind, Wait


class PollCfg(BaseModel):
    polls: int = 2


def _poller(ctx: StepContext, cfg: PollCfg) -> Any:
    seen = (ctx.continuation or {}).get("seen", 0)
    if seen < cfg.polls:
        return Wait({"seen": seen + 1}, poll_after_seconds=0.01)
    return {"polls": seen, "turn": ctx.message.turn}


POLLER = StepKind("ms-poller", PollCfg, _poller)


class NoConfig(BaseModel):
    pass


class _Gates:
    """Events the test steps below wait on, with bounded waits (a stuck test fails, not hangs)."""

    def __init__(self) -> None:
        self.release = threading.Event()  # lets the hung first attempt return
        self.opened = threading.Event()  # set by the `ms-open` step

    def hang_first_attempt(self, ctx: StepContext, _cfg: NoConfig) -> Any:
        if ctx.attempt == 1:
            self.release.wait(60)
        return {"attempt": ctx.attempt}

    def wait_until_opened(self, _ctx: StepContext, _cfg: NoConfig) -> Any:
        return {"opened": self.opened.wait(10)}

    def open(self, _ctx: StepContext, _cfg: NoConfig) -> Any:
        self.opened.set()
        return {}

    def kinds(self) -> dict[str, StepKind[Any]]:
        return {
            "ms-hang": StepKind("ms-hang", NoConfig, self.hang_first_attempt),
            "ms-gate": StepKind("ms-gate", NoConfig, self.wait_until_opened),
            "ms-open": StepKind("ms-open", NoConfig, self.open),
        }


@pytest.fixture
def gates() -> Iterator[_Gates]:
    g = _Gates()
    yield g
    g.release.set()
    g.opened.set()


@pytest.fixture
def runtime(tmp_path: Path, gates: _Gates) -> Iterator[EmbeddedRuntime]:
    kinds = {"ms-poller": POLLER, **gates.kinds()}
    with EmbeddedRuntime(Services(Settings(home=tmp_path)), extra_kinds=kinds) as rt:
        yield rt
        gates.release.set()  # before the runtime's exit waits for the steps still running


def _flow(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"flow_id": "e", "account": "acme", "flow_config": {"steps": list(steps)}, **extra}


def test_retries_then_succeeds(runtime: EmbeddedRuntime) -> None:
    ref = runtime.start_json(
        _flow(
            {
                "id": "a",
                "type": "ms-echo",
                "config": {"fail_until_attempt": 3},
                "retry": {"max_attempts": 3, "initial_backoff_seconds": 0.01},
            }
        )
    )
    summary = run_summary(runtime.wait(ref, timeout=30))
    assert summary["status"] == "succeeded"
    assert summary["steps"][0]["attempts"] == 3


def test_permanent_failure_fails_the_run_with_the_error_recorded(runtime: EmbeddedRuntime) -> None:
    ref = runtime.start_json(
        _flow(
            {
                "id": "a",
                "type": "ms-echo",
                "config": {"fail_permanently": True, "fail_message": "bad ledger"},
            },
            {"id": "b", "type": "ms-echo", "depends_on": ["a"]},
        )
    )
    summary = run_summary(runtime.wait(ref, timeout=30))
    assert summary["status"] == "failed" and summary["failed_step"] == "a"
    assert "bad ledger" in summary["error"]
    assert [s["status"] for s in summary["steps"]] == ["failed", "skipped"]
    assert summary["steps"][0]["attempts"] == 1  # not retryable: one attempt only


def test_slow_step_is_timed_out_and_retried(runtime: EmbeddedRuntime) -> None:
    ref = runtime.start_json(
        _flow(
            {
                "id": "slow",
                "type": "ms-echo",
                "timeout_seconds": 1,
                "config": {"sleep_seconds": 1.5},
                "retry": {"max_attempts": 2, "initial_backoff_seconds": 0.01},
            }
        )
    )
    summary = run_summary(runtime.wait(ref, timeout=30))
    step = summary["steps"][0]
    assert summary["status"] == "failed" and step["attempts"] == 2
    assert step["error"]["kind"] == "timeout"


def test_long_job_is_polled_across_turns(runtime: EmbeddedRuntime) -> None:
    ref = runtime.start_json(_flow({"id": "p", "type": "ms-poller", "config": {"polls": 3}}))
    state = runtime.wait(ref, timeout=30)
    assert state.output("p") == {"polls": 3, "turn": 3}
    assert sorted(state.steps["p"].attempts[1].waits) == [0, 1, 2]


def test_cancel_stops_dispatching(runtime: EmbeddedRuntime, gates: _Gates) -> None:
    ref = runtime.start_json(
        _flow(
            {"id": "a", "type": "ms-hang"},  # runs until released: `b` is not ready before
            {"id": "b", "type": "ms-echo", "depends_on": ["a"]},
        )
    )
    runtime.cancel(ref, "wrong day")  # applied at once: the run ends here
    gates.release.set()
    summary = run_summary(runtime.wait(ref, timeout=30))
    assert summary["status"] == "cancelled" and summary["error"] == "cancelled: wrong day"
    assert summary["steps"][1]["status"] == "skipped"
    assert summary["steps"][1]["attempts"] == 0


def test_for_each_and_references_end_to_end(runtime: EmbeddedRuntime, tmp_path: Path) -> None:
    ref = runtime.start_json(
        _flow(
            {"id": "list", "type": "ms-echo", "config": {"hotels": ["h1", "h2", "h3"]}},
            {
                "id": "each",
                "type": "ms-echo",
                "depends_on": ["list"],
                "for_each": "{{ steps.list.output.hotels }}",
                "config": {"hotel": "{{ item }}", "day": "{{ params.day }}"},
            },
            {
                "id": "sum",
                "type": "ms-echo",
                "depends_on": ["each"],
                "config": {"first": "{{ steps.each.output.items[0].hotel }}"},
            },
            params={"day": {"default": "2017-08-01"}},
            max_parallel=2,
        )
    )
    state = runtime.wait(ref, timeout=30)
    assert state.output("sum") == {"first": "h1"}
    assert [c["hotel"] for c in state.output("each")["items"]] == ["h1", "h2", "h3"]
    objects = runtime.services.run_store.list(ref.prefix)
    assert ref.prefix + "steps/each.2/1/dispatched.json" in objects
    frozen = json.loads(runtime.services.run_store.read(ref.prefix + "flow.json") or b"{}")
    assert frozen["params"] == {"day": "2017-08-01"}


def test_cancel_written_by_another_process_is_noticed(
    runtime: EmbeddedRuntime, gates: _Gates
) -> None:
    from mhi.runtime.controller import Controller
    from mhi.runtime.embedded import request_cancel

    ref = runtime.start_json(
        _flow(
            {"id": "a", "type": "ms-echo"},
            {"id": "b", "type": "ms-hang", "depends_on": ["a"]},  # runs until the test ends
        )
    )
    other = Controller(runtime.services.run_store, runtime.bus, runtime.services.clock.now)
    deadline = time.monotonic() + 60
    while runtime.state(ref).status(runtime.state(ref).steps["b"]).value != "running":
        assert time.monotonic() < deadline, "step b never started"
        time.sleep(0.02)
    assert request_cancel(other, ref, "from another terminal")
    while runtime.state(ref).done is None:  # noticed by the runtime while `b` still runs
        assert time.monotonic() < deadline, "the cancel was not noticed"
        time.sleep(0.02)
    gates.release.set()
    summary = run_summary(runtime.wait(ref, timeout=30))
    assert summary["status"] == "cancelled"


def test_a_lost_wake_up_is_repaired_by_the_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every booked wake-up is dropped: only the periodic sweep can start the due retries and
    # polls. It must run even while no wake-up is booked.
    with EmbeddedRuntime(
        Services(Settings(home=tmp_path)), extra_kinds={"ms-poller": POLLER}, sweep_interval=0.2
    ) as rt:
        monkeypatch.setattr(rt, "_schedule", lambda ref, wake_at: None)
        ref = rt.start_json(
            _flow(
                {
                    "id": "a",
                    "type": "ms-echo",
                    "config": {"fail_until_attempt": 2},
                    "retry": {"max_attempts": 2, "initial_backoff_seconds": 0.01},
                },
                {"id": "p", "type": "ms-poller", "depends_on": ["a"]},
            )
        )
        summary = run_summary(rt.wait(ref, timeout=30))
    assert summary["status"] == "succeeded"
    assert [s["attempts"] for s in summary["steps"]] == [2, 1]


def test_a_later_wake_up_never_replaces_an_earlier_one(runtime: EmbeddedRuntime) -> None:
    # Wake times are booked after the run's lock is released, so they can arrive out of order.
    from datetime import UTC, datetime, timedelta

    from mhi.model.keys import RunRef

    ref, soon = RunRef("acme", "e", "r1"), datetime.now(UTC) + timedelta(hours=1)
    runtime._schedule(ref, soon)
    runtime._schedule(ref, soon + timedelta(minutes=10))
    runtime._schedule(ref, None)
    assert runtime._wake[ref] == soon
    runtime._schedule(ref, soon - timedelta(minutes=1))
    assert runtime._wake[ref] == soon - timedelta(minutes=1)


def test_a_timed_out_attempt_does_not_hold_the_only_worker(tmp_path: Path, gates: _Gates) -> None:
    # One bus worker. Attempt 1 hangs past its deadline; attempt 2 must run at once rather than
    # queue behind it until its own deadline passes too.
    services = Services(Settings(home=tmp_path))
    with EmbeddedRuntime(services, workers=1, extra_kinds=gates.kinds()) as rt:
        ref = rt.start_json(
            _flow(
                {
                    "id": "h",
                    "type": "ms-hang",
                    "timeout_seconds": 2,
                    "retry": {"max_attempts": 2, "initial_backoff_seconds": 0.01},
                }
            )
        )
        summary = run_summary(rt.wait(ref, timeout=60))
        assert summary["status"] == "succeeded", summary
        assert summary["steps"][0]["attempts"] == 2
        assert rt.state(ref).output("h") == {"attempt": 2}
        assert rt.steps.abandoned() == ["h attempt 1 turn 0"]  # still running, holding nothing
        gates.release.set()


def test_an_attempt_never_waits_behind_a_running_one(tmp_path: Path, gates: _Gates) -> None:
    # One bus worker, two independent steps dispatched together: `gate` (dispatched first) runs
    # until `open` has run. Queued behind `gate`, `open` would spend its whole deadline waiting.
    services = Services(Settings(home=tmp_path))
    with EmbeddedRuntime(services, workers=1, extra_kinds=gates.kinds()) as rt:
        ref = rt.start_json(
            _flow(
                {"id": "gate", "type": "ms-gate", "timeout_seconds": 60},
                {"id": "open", "type": "ms-open", "timeout_seconds": 5},
            )
        )
        summary = run_summary(rt.wait(ref, timeout=60))
    assert summary["status"] == "succeeded", summary
    assert rt.state(ref).output("gate") == {"opened": True}
    assert [s["attempts"] for s in summary["steps"]] == [1, 1]
