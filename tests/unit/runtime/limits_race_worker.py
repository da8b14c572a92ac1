"""One process of the cross-process concurrency-limit race test (run as a script).

Each process is a whole embedded runtime (its own controller, cache, bus and step threads) on a
run store folder it shares with the other; each starts one run whose steps all need a slot of
the same key. A step marks itself running with a file in a shared folder and records how many
such files it saw, so the test can count the steps running at once across both processes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mhi.config import Settings
from mhi.model import keys
from mhi.model.keys import RunRef
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.services import Services
from mhi.steps.sdk import StepContext, StepKind

LIMIT = 2
STEPS = 6


class NoConfig(BaseModel):
    pass


def main(root: str, name: str) -> None:
    base = Path(root)
    running, seen = base / "running", base / "seen"
    running.mkdir(exist_ok=True)
    seen.mkdir(exist_ok=True)

    def busy(ctx: StepContext, _cfg: NoConfig) -> dict[str, Any]:
        mark = running / f"{ctx.run_id}-{ctx.step_id}"  # either process may run either run's steps
        mark.touch()
        try:
            count = len(list(running.iterdir()))
            (seen / f"{ctx.run_id}-{ctx.step_id}-{count}").touch()
            time.sleep(0.15)  # hold the slot a while: the other process tries to take one
        finally:
            mark.unlink()
        return {}

    flow = {
        "flow_id": f"reloads-{name}",
        "account": "acme",
        "run_id": f"race-{name}",
        "flow_config": {
            "steps": [
                {
                    "id": f"r{i}",
                    "type": "ms-busy",
                    "concurrency": {"key": "qlik:{{ run.account }}", "limit": LIMIT},
                }
                for i in range(STEPS)
            ]
        },
    }
    services = Services(Settings(home=base / "home"))
    kinds = {"ms-busy": StepKind("ms-busy", NoConfig, busy)}
    with EmbeddedRuntime(services, extra_kinds=kinds, sweep_interval=0.2) as rt:
        (base / f"ready-{name}").touch()
        while len(list(base.glob("ready-*"))) < 2:  # start both racers together
            time.sleep(0.001)
        ref = rt.start_json(flow)
        # Both processes stay until both runs are done: a process that left early would take
        # the step messages it had dispatched for the other run with it (an instance dying,
        # which the other recovers only after the dispatch grace period).
        both = [RunRef("acme", f"reloads-{n}", f"race-{n}").key(keys.DONE) for n in "ab"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and None in map(services.run_store.read, both):
            time.sleep(0.05)
        status = rt.controller.state(ref, refresh=True).done or {}
    sys.exit(0 if status.get("status") == "succeeded" else 1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
