"""A concurrency limit per key holds across runs racing on one run store, end to end."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mhi.config import Settings
from mhi.engine.summary import run_summary
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.services import Services
from mhi.steps.sdk import StepContext, StepKind
from tests.unit.runtime.workers import run_workers

LIMIT = 2
STEPS_PER_RUN = 5


class NoConfig(BaseModel):
    pass


class InFlight:
    """Counts the steps running at once (the most ever seen is what the limit bounds)."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.finished = 0
        self._changed = threading.Condition()

    def busy(self, _ctx: StepContext, _cfg: NoConfig) -> dict[str, Any]:
        with self._changed:
            self.now += 1
            self.most = max(self.most, self.now)
            self._changed.notify_all()
            # Stay (bounded) until more steps run than the limit allows: they never should, so
            # every step stays the whole time and every step that could overlap it does.
            self._changed.wait_for(lambda: self.now > LIMIT, timeout=0.2)
        with self._changed:
            self.now -= 1
            self.finished += 1
        return {}

    def kind(self) -> StepKind[Any]:
        return StepKind("ms-busy", NoConfig, self.busy)


def _flow(run: str) -> dict[str, Any]:
    concurrency = {"key": "qlik:{{ run.account }}", "limit": LIMIT}
    steps = [
        {"id": f"reload-{i}", "type": "ms-busy", "concurrency": concurrency}
        for i in range(STEPS_PER_RUN)
    ]
    return {"flow_id": f"reloads-{run}", "account": "acme", "flow_config": {"steps": steps}}


def _finished(rt: EmbeddedRuntime, ref: Any) -> Any:
    """The run's state once done, re-read from the store (the other instance may end it)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = rt.controller.state(ref, refresh=True)
        if state.done is not None:
            return state
        time.sleep(0.05)
    raise TimeoutError(f"run {ref.run_id} not finished")


def _assert_all_ended_within_the_limit(
    counter: InFlight, runtimes: list[EmbeddedRuntime], refs: list[Any]
) -> None:
    for rt, ref in zip(runtimes, refs, strict=True):
        summary = run_summary(_finished(rt, ref))
        assert summary["status"] == "succeeded", summary
        assert {s["status"] for s in summary["steps"]} == {"succeeded"}
    assert counter.finished == 2 * STEPS_PER_RUN
    assert counter.most == LIMIT  # never more than the limit, and the limit was used


def test_two_runs_in_one_runtime_never_hold_more_than_the_limit(tmp_path: Path) -> None:
    counter = InFlight()
    services = Services(Settings(home=tmp_path))
    with EmbeddedRuntime(services, extra_kinds={"ms-busy": counter.kind()}) as rt:
        refs = [rt.start_json(_flow("a")), rt.start_json(_flow("b"))]
        _assert_all_ended_within_the_limit(counter, [rt, rt], refs)
    store = services.run_store
    waited = [k for k in store.list("runs/") if "/slot-wait-" in k]
    assert waited, "more steps than slots: some must have waited"
    assert store.list("limits/qlik:acme/waiting/") == []  # every waiter was woken


def test_two_controllers_sharing_one_store_never_hold_more_than_the_limit(
    tmp_path: Path,
) -> None:
    """Two runtimes (two controller instances, as two Cloud Function instances) on one store:
    a release in one wakes nothing in the other, so the other's sweep finds the free slot."""
    counter = InFlight()
    kinds = {"ms-busy": counter.kind()}
    first = EmbeddedRuntime(
        Services(Settings(home=tmp_path)), extra_kinds=kinds, sweep_interval=0.2
    )
    second = EmbeddedRuntime(
        Services(Settings(home=tmp_path)), extra_kinds=kinds, sweep_interval=0.2
    )
    with first, second:
        refs = [first.start_json(_flow("a")), second.start_json(_flow("b"))]
        _assert_all_ended_within_the_limit(counter, [first, second], refs)


def test_a_limit_the_deployment_declares_for_a_step_type_holds_without_a_flow_saying_so(
    tmp_path: Path,
) -> None:
    counter = InFlight()
    settings = Settings(
        home=tmp_path,
        step_concurrency={"ms-busy": "busy:{{ run.account }}"},
        concurrency_limits=(("busy:*", LIMIT),),
    )

    def plain(run: str) -> dict[str, Any]:
        flow = _flow(run)
        for step in flow["flow_config"]["steps"]:
            del step["concurrency"]
        return flow

    with EmbeddedRuntime(Services(settings), extra_kinds={"ms-busy": counter.kind()}) as rt:
        refs = [rt.start_json(plain("a")), rt.start_json(plain("b"))]
        _assert_all_ended_within_the_limit(counter, [rt, rt], refs)


def test_two_processes_racing_on_one_store_never_hold_more_than_the_limit(tmp_path: Path) -> None:
    """Two OS processes, each a whole runtime with one run, share a run store folder."""
    codes = run_workers("limits_race_worker.py", [[str(tmp_path), name] for name in ("a", "b")])
    assert codes == [0, 0]
    seen = [int(n.rsplit("-", 1)[1]) for n in os.listdir(tmp_path / "seen")]
    assert len(seen) == 2 * 6  # every step of both runs ran once
    assert max(seen) <= LIMIT
