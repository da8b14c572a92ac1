"""One emulator stack per test session: Pub/Sub emulator, storage emulator, functions.

Each test uses unique flow and run ids, so tests share the stack without seeing each other.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mhi.adapters.gcp.gcs_run_store import GcsRunStore
from mhi.adapters.gcp.pubsub_bus import topic_path
from mhi.constants import CONTROLLER_TOPIC
from mhi.dev.stack import DevStack

# The seed flow needs the Avalon extractor, data modeling and KPI functions too.
STACK_FUNCTIONS = ["controller", "echo", "extractor_avalon", "data_modeling", "kpi_engine"]


@dataclass
class Stack:
    """The running stack plus the clients a test needs."""

    dev: DevStack
    publisher: Any
    subscriber: Any
    store: GcsRunStore

    @property
    def project(self) -> str:
        """The emulator project."""
        return self.dev.state.project

    def publish(self, topic: str, body: dict[str, Any] | bytes, **attributes: str) -> str:
        """Publish to a logical topic with the ordinary client; return the message id."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        path = topic_path(self.project, topic, self.dev.state.env_acronym)
        return str(self.publisher.publish(path, data, **attributes).result(10))

    def start(self, flow: dict[str, Any]) -> str:
        """Publish a start message; return the run's object prefix."""
        self.publish(CONTROLLER_TOPIC, flow)
        return f"runs/{flow['account']}/{flow['flow_id']}/{flow['run_id']}/"

    def sweep(self) -> None:
        """Do what Cloud Scheduler does every minute."""
        self.publish(CONTROLLER_TOPIC, {"kind": "sweep"})

    def read_json(self, key: str) -> dict[str, Any] | None:
        """One run-state object, parsed."""
        raw = self.store.read(key)
        return None if raw is None else json.loads(raw)

    def wait_for(
        self,
        what: str,
        check: Callable[[], Any],
        timeout: float = 60.0,
        sweep_every: float | None = None,
    ) -> Any:
        """Poll `check` until it returns something truthy (sweeping meanwhile if asked)."""
        deadline = time.monotonic() + timeout
        last_sweep = time.monotonic()
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            if sweep_every is not None and time.monotonic() - last_sweep >= sweep_every:
                self.sweep()
                last_sweep = time.monotonic()
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{self.logs()}")

    def wait_done(self, prefix: str, timeout: float = 60.0, **kw: Any) -> dict[str, Any]:
        """Wait for the run's done.json."""
        return self.wait_for(  # type: ignore[no-any-return]
            f"{prefix}done.json", lambda: self.read_json(prefix + "done.json"), timeout, **kw
        )

    def log(self, function: str) -> str:
        """A function's log so far."""
        return Path(self.dev.state.procs[function].log).read_text(errors="replace")

    def logged(self, function: str, text: str, run_id: str) -> int:
        """How many JSON log records of `function` for `run_id` contain `text`."""
        count = 0
        for line in self.log(function).splitlines():
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            labels = record.get("logging.googleapis.com/labels", {})
            count += text in record["message"] and labels.get("run_id") == run_id
        return count

    def logs(self) -> str:
        """The tail of every function log (for failure messages)."""
        parts = []
        for name in STACK_FUNCTIONS:
            tail = self.log(name).splitlines()[-15:]
            parts.append(f"--- {name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def tap(self, topic: str) -> str:
        """A pull subscription that sees every later message of `topic`."""
        path = topic_path(self.project, topic, self.dev.state.env_acronym)
        name = f"projects/{self.project}/subscriptions/tap-{uuid.uuid4().hex[:12]}"
        self.subscriber.create_subscription(request={"name": name, "topic": path})
        return name

    def pull(self, subscription: str, timeout: float = 10.0) -> list[Any]:
        """Pull and acknowledge what the tap holds."""
        response = self.subscriber.pull(
            request={"subscription": subscription, "max_messages": 100}, timeout=timeout
        )
        if response.received_messages:
            self.subscriber.acknowledge(
                request={
                    "subscription": subscription,
                    "ack_ids": [m.ack_id for m in response.received_messages],
                }
            )
        return [m.message for m in response.received_messages]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Start the emulator stack once; stop every process it started at the end."""
    home = tmp_path_factory.mktemp("devstack")
    # The seed flow's imitation Avalon listens on 127.0.0.1: the functions may call loopback.
    extra = {"MHI_ALLOW_LOOPBACK_URLS": "1"}
    dev = DevStack(home, functions=STACK_FUNCTIONS, threads=8, extra_env=extra)
    dev.up()
    try:
        publisher, subscriber = dev.pubsub_clients()
        store = GcsRunStore(dev.storage_client(), "mhi-runs", emulated_preconditions=True)
        yield Stack(dev, publisher, subscriber, store)
    finally:
        dev.down()


def unique(prefix: str) -> str:
    """A unique id for flows and runs of one test."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
