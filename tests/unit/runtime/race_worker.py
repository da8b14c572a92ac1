"""One controller process of the two-process race test (run as a script).

Processes share a run store folder and a folder-based queue. Each publish is recorded as its own
file so the test can count dispatches across processes.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from mhi.adapters.local.fs_run_store import FsRunStore
from mhi.constants import CALLBACK_TOPIC
from mhi.model.keys import RunRef
from mhi.model.messages import CallbackMessage, CallbackStatus, parse_step
from mhi.model.validate import parse_flow
from mhi.runtime.controller import Controller
from mhi.runtime.start import StartRequest, start_run


class FolderBus:
    """Messages as files; taking one is an atomic rename, so each is handled by one process."""

    def __init__(self, root: Path) -> None:
        self.queue = root / "queue"
        self.log = root / "published"
        self.queue.mkdir(parents=True, exist_ok=True)
        self.log.mkdir(parents=True, exist_ok=True)

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str]) -> None:
        name = f"{time.time_ns()}-{uuid.uuid4().hex}"
        if topic != CALLBACK_TOPIC:
            m = parse_step(data)
            (self.log / f"{m.step_id}~{m.attempt}~{m.turn}~{os.getpid()}~{name}").touch()
        tmp = self.queue / f".{name}"
        tmp.write_bytes(json.dumps({"topic": topic, "data": data.decode()}).encode())
        tmp.rename(self.queue / name)

    def take(self) -> dict[str, str] | None:
        for entry in sorted(p for p in self.queue.iterdir() if not p.name.startswith(".")):
            mine = entry.with_name(f".taken-{os.getpid()}-{entry.name}")
            try:
                entry.rename(mine)
            except FileNotFoundError:
                continue
            body: dict[str, str] = json.loads(mine.read_bytes())
            mine.unlink()
            return body
        return None


def main(root: str, flow_file: str) -> None:
    base = Path(root)
    store = FsRunStore(base / "state")
    bus = FolderBus(base)
    controller = Controller(store, bus, lambda: datetime.now(UTC))
    flow = parse_flow(json.loads(Path(flow_file).read_text()), frozenset({"ms-echo"}))
    ref = RunRef(flow.account, flow.flow_id, "race-1")
    (base / f"ready-{os.getpid()}").touch()
    while len(list(base.glob("ready-*"))) < 2:  # start both racers together
        time.sleep(0.001)
    start_run(controller, StartRequest(flow, {}, "race-1"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and store.read(ref.prefix + "done.json") is None:
        message = bus.take()
        if message is None:
            controller.sweep()
            time.sleep(0.002)
            continue
        data = message["data"].encode()
        if message["topic"] == CALLBACK_TOPIC:
            controller.on_callback(CallbackMessage.model_validate_json(data))
            continue
        step = parse_step(data)  # a no-op step: answer at once
        cb = CallbackMessage(
            run_id=step.run_id,
            flow_id=step.flow_id,
            account=step.account,
            step_id=step.step_id,
            attempt=step.attempt,
            status=CallbackStatus.SUCCEEDED,
            output={"pid": os.getpid()},
        )
        bus.publish(CALLBACK_TOPIC, cb.model_dump_json().encode(), {})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
