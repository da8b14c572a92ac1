"""Fixtures for connector tests: imitation APIs, local services, instant sleeps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mhi.adapters.local.env_secrets import EnvSecretStore, env_var
from mhi.adapters.local.fs_blob_store import FsBlobStore
from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.catalog import load_kind
from mhi.config import Settings
from mhi.connectors import auth as auth_mod
from mhi.connectors import http as http_mod
from mhi.model.messages import CallbackMessage, StepMessage
from mhi.services import Services
from mhi.steps.sdk import run_step
from tests.fakes.apis.scenarios import ACCOUNT, Scenario, build
from tests.unit.connectors.fake_warehouse import MemoryWarehouse


@pytest.fixture(autouse=True)
def instant_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff and rate-limit waits are recorded, not slept; token caches start empty."""
    slept: list[float] = []
    monkeypatch.setattr(http_mod, "sleep", slept.append)
    auth_mod.clear_token_cache()
    return slept


class Env:
    """Services for one account: blobs and secrets on disk, an in-memory warehouse."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = FsBlobStore(root / "blobs")
        self.warehouse: Any = MemoryWarehouse()
        self.environ: dict[str, str] = {}
        self.secrets_file = root / "secrets.json"

    def add_secrets(self, account: str, secrets: dict[str, str]) -> None:
        """Store secrets as the local adapter reads them (env vars)."""
        for name, value in secrets.items():
            self.environ[env_var(account, name)] = value

    def services(
        self, blobs: Any = None, warehouse: Any = None, settings: Settings | None = None
    ) -> Services:
        """Fresh services over the same stores (a new process after a crash)."""
        return Services(
            # imitation APIs listen on 127.0.0.1
            settings or Settings(home=self.root, allow_loopback_urls=True),
            warehouse=warehouse or self.warehouse,
            blobs=blobs or self.blobs,
            secrets=EnvSecretStore(self.secrets_file, environ=self.environ),
            run_store=MemoryRunStore(),
        )

    def run(
        self,
        system: str,
        config: dict[str, Any],
        run_id: str = "r1",
        attempt: int = 1,
        account: str = ACCOUNT,
        services: Services | None = None,
    ) -> CallbackMessage:
        """Run one extractor step through the SDK; return its callback."""
        message = StepMessage(
            run_id=run_id,
            flow_id="daily-extract",
            account=account,
            step_id="extract",
            attempt=attempt,
            type=f"ms-extractor-{system}",
            config=config,
            callback_topic="ms-flows-callbacks",
            deadline=datetime.now(UTC) + timedelta(hours=1),
        )
        return run_step(message, load_kind(message.type), services or self.services())

    def model(self, config: dict[str, Any]) -> dict[str, Any]:
        """Run one ms-data-modeling step through the SDK; return its output (it must succeed)."""
        message = StepMessage(
            run_id="r1",
            flow_id="f",
            account=ACCOUNT,
            step_id="model",
            attempt=1,
            type="ms-data-modeling",
            config=config,
            callback_topic="ms-flows-callbacks",
            deadline=datetime.now(UTC) + timedelta(hours=1),
        )
        cb = run_step(message, load_kind(message.type), self.services())
        assert cb.status == "succeeded", cb.error
        return cb.output

    def blob_json(self, key: str) -> Any:
        """Read a JSON blob."""
        data = self.blobs.read_bytes(key)
        assert data is not None, f"no blob {key}"
        return json.loads(data)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    """Local services under a temporary folder."""
    return Env(tmp_path)


@pytest.fixture
def scenario_for() -> Iterator[Any]:
    """Factory: start a system's imitation API, seeded; stopped at teardown."""
    started: list[Scenario] = []

    def make(system: str, env: Env, records: int = 120) -> Scenario:
        sc = build(system)
        started.append(sc)
        sc.seed(records)
        env.add_secrets(ACCOUNT, {**sc.secrets, **sc.urls})
        return sc

    yield make
    for sc in started:
        sc.fake.stop()
