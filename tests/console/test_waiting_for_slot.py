"""The console's run page tells a step that waits for a concurrency slot, and its key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mhi.api.app import create_app
from mhi.api.auth import LocalAuth
from mhi.config import Settings
from mhi.ops.wiring import build
from mhi.runtime.controller import Controller
from mhi.runtime.start import parse_start, start_run
from mhi.services import Services

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FLOW: dict[str, Any] = {
    "flow_id": "reloads",
    "account": "acme",
    "flow_config": {
        "steps": [
            {"id": "reload", "type": "ms-echo", "concurrency": {"key": "qlik:acme", "limit": 1}}
        ]
    },
}


class _IdleBus:
    """A bus nobody listens to: dispatched steps stay running."""

    def publish(self, topic: str, data: bytes, attributes: object) -> None:
        pass


def test_the_waiting_step_shows_the_key_it_waits_for() -> None:
    services = Services(Settings.from_env())
    controller = Controller(services.run_store, _IdleBus(), lambda: AT)
    for run_id in ("first", "second"):
        ref, _ = start_run(controller, parse_start({**FLOW, "run_id": run_id}, None))
        controller.advance(ref)
    client = create_app(build(services, read_only=True), LocalAuth(None, "ana")).test_client()
    waiting = client.get("/ui/runs/acme/reloads/second").get_data(as_text=True)
    holding = client.get("/ui/runs/acme/reloads/first").get_data(as_text=True)
    assert "waiting for slot qlik:acme" in waiting
    assert "waiting for slot" not in holding
