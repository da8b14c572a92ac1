"""Request rates shared across extractor instances: counted per window in the run store."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mhi.adapters.local.env_secrets import EnvSecretStore
from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.config import Settings
from mhi.connectors import http as http_mod
from mhi.connectors.http import RateLimiter
from mhi.connectors.rates import SharedRateLimiter, request_rate
from mhi.model import slot_keys
from mhi.services import Services
from tests.unit.connectors.conftest import Env

T0 = datetime(2026, 1, 1, 6, 0, tzinfo=UTC)


class FakeTime:
    """A clock shared by threads: `sleep` moves it to where the sleeper meant to wake (each
    thread's own last reading plus the pause), never backwards."""

    def __init__(self) -> None:
        self.t = T0
        self._lock = threading.Lock()
        self._seen = threading.local()
        self.slept = 0

    def now(self) -> datetime:
        with self._lock:
            self._seen.t = self.t
            return self.t

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept += 1
            seen = getattr(self._seen, "t", self.t)  # a backoff sleep: no reading before it
            self.t = max(self.t, seen + timedelta(seconds=seconds))

    def tick(self, seconds: float) -> None:
        with self._lock:
            self.t += timedelta(seconds=seconds)


class RecordingStore(MemoryRunStore):
    """Remembers every rate claim it let be created (the limiter deletes old windows)."""

    def __init__(self) -> None:
        super().__init__()
        self.claims: list[str] = []

    def create(self, key: str, data: bytes) -> bool:
        created = super().create(key, data)
        if created and key.startswith(slot_keys.RATES_PREFIX + "/"):
            self.claims.append(key)
        return created


def _per_window(claims: list[str]) -> Counter[str]:
    return Counter(k.split("/")[2] for k in claims)


@pytest.mark.parametrize(("per_second", "capacity"), [(5.0, 5), (2.5, 2), (0.5, 1)])
def test_two_instances_together_stay_within_the_rate_of_every_window(
    per_second: float, capacity: int
) -> None:
    store, clock = RecordingStore(), FakeTime()
    requests = 12

    def instance() -> None:  # one extractor instance: its own limiter, the shared store
        limiter = SharedRateLimiter(store, "pms", per_second, clock.now, clock.sleep)
        for _ in range(requests):
            limiter.acquire()
            clock.tick(0.01)  # the request itself

    threads = [threading.Thread(target=instance) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(store.claims) == 2 * requests
    counts = _per_window(store.claims)
    assert max(counts.values()) <= capacity
    assert len(counts) >= 2 * requests / capacity  # the instances had to wait for windows
    assert clock.slept > 0


def test_a_full_window_makes_the_caller_wait_for_the_next_one() -> None:
    store, clock = RecordingStore(), FakeTime()
    first = SharedRateLimiter(store, "pms", 2, clock.now, clock.sleep)
    other = SharedRateLimiter(store, "pms", 2, clock.now, clock.sleep)
    assert first.acquire() == 0.0 and other.acquire() == 0.0
    assert first.acquire() == pytest.approx(1.0)  # window T0 is full: wait to T0 + 1 s
    assert clock.t == T0 + timedelta(seconds=1)


def test_claims_of_old_windows_are_deleted() -> None:
    store, clock = RecordingStore(), FakeTime()
    limiter = SharedRateLimiter(store, "pms", 1, clock.now, clock.sleep)
    for _ in range(10):
        limiter.acquire()
    assert len(store.claims) == 10
    assert len(store.list("rates/pms/")) <= 3


def test_a_system_named_in_the_deployment_shares_its_rate_and_others_pace_per_process(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path, shared_rates={"avalon": ("avalon-pms", 3.0)})
    services = Services(settings)
    shared = request_rate(services, "avalon", None, 1.0)
    assert isinstance(shared, SharedRateLimiter)
    assert (shared.key, shared.capacity) == ("avalon-pms", 3)
    slower = request_rate(services, "avalon", 2.0, 1.0)  # the step asks for less: it gets less
    assert isinstance(slower, SharedRateLimiter) and slower.capacity == 2
    assert isinstance(request_rate(services, "holded", None, 10.0), RateLimiter)


def test_a_rate_of_zero_is_refused_with_the_key_named() -> None:
    with pytest.raises(ValueError, match="'pms'"):
        SharedRateLimiter(MemoryRunStore(), "pms", 0, FakeTime().now, FakeTime().sleep)


def test_an_extractor_paces_through_the_shared_rate_when_the_deployment_names_one(
    env: Env, scenario_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario_for("avalon", env, 120)
    clock, store = FakeTime(), RecordingStore()
    monkeypatch.setattr(http_mod, "sleep", clock.sleep)
    settings = Settings(
        home=env.root, allow_loopback_urls=True, shared_rates={"avalon": ("avalon-pms", 2.0)}
    )
    services = Services(
        settings,
        warehouse=env.warehouse,
        blobs=env.blobs,
        secrets=EnvSecretStore(env.secrets_file, environ=env.environ),
        run_store=store,
        clock=clock,
    )
    config = {"datasets": ["Reservations"], "page_size": 10}
    cb = env.run("avalon", config, services=services)
    assert cb.status == "succeeded", cb.error
    assert len(store.claims) == cb.output["http"]["requests"] > 2
    assert max(_per_window(store.claims).values()) <= 2
