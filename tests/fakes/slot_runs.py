"""Two runs of one flow whose only step asks for the single slot of key `qlik:acme`: run
`first` holds it, run `second` waits for it. Nobody listens to the bus, so neither moves on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mhi.ports import RunStore
from mhi.runtime.controller import Controller
from mhi.runtime.start import parse_start, start_run

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


class IdleBus:
    """A bus nobody listens to: dispatched steps stay running."""

    def publish(self, topic: str, data: bytes, attributes: object) -> None:
        pass


def start_first_and_second(store: RunStore) -> None:
    """Start `first` (it takes the slot) and then `second` (it waits)."""
    controller = Controller(store, IdleBus(), lambda: AT)
    for run_id in ("first", "second"):
        ref, _ = start_run(controller, parse_start({**FLOW, "run_id": run_id}, None))
        controller.advance(ref)
