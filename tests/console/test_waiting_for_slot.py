"""The console's run page tells a step that waits for a concurrency slot, and its key."""

from __future__ import annotations

from mhi.api.app import create_app
from mhi.api.auth import LocalAuth
from mhi.config import Settings
from mhi.ops.wiring import build
from mhi.services import Services
from tests.fakes.slot_runs import start_first_and_second


def test_the_waiting_step_shows_the_key_it_waits_for() -> None:
    services = Services(Settings.from_env())
    start_first_and_second(services.run_store)
    client = create_app(build(services, read_only=True), LocalAuth(None, "ana")).test_client()
    waiting = client.get("/ui/runs/acme/reloads/second").get_data(as_text=True)
    holding = client.get("/ui/runs/acme/reloads/first").get_data(as_text=True)
    assert "waiting for slot qlik:acme" in waiting
    assert "waiting for slot" not in holding
