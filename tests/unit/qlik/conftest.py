"""Fixtures: imitation Qlik servers on loopback, a turn harness, kinds with recorded sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mhi.qlik import QlikOptions, make_app_reload, make_automation
from mhi.steps.sdk import StepKind
from tests.fakes.qlik_notify import FakeQlikCloud, FakeQrs
from tests.fakes.qlik_notify.harness import Harness
from tests.unit.qlik._values import API_KEY, EXEC_TOKEN, SECRETS


@pytest.fixture(autouse=True)
def _loopback_qlik(monkeypatch: pytest.MonkeyPatch) -> None:
    """Config validation reads the deployment's settings: allow the imitation servers."""
    monkeypatch.setenv("MHI_ALLOW_LOOPBACK_URLS", "1")
    monkeypatch.setenv("MHI_QLIK_CLOUD_HOSTS", "127.0.0.1")


@pytest.fixture
def cloud() -> Iterator[FakeQlikCloud]:
    server = FakeQlikCloud(API_KEY, EXEC_TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def qrs() -> Iterator[FakeQrs]:
    server = FakeQrs().start()
    yield server
    server.stop()


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    # Qlik Cloud's hosts widened to the imitation server, as an operator would for a proxy.
    return Harness(tmp_path, dict(SECRETS), settings_extra={"MHI_QLIK_CLOUD_HOSTS": "127.0.0.1"})


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def reload_kind(sleeps: list[float]) -> StepKind:
    return make_app_reload(QlikOptions(sleep=sleeps.append, budget_seconds=5.0))


@pytest.fixture
def automation_kind(sleeps: list[float]) -> StepKind:
    return make_automation(QlikOptions(sleep=sleeps.append, budget_seconds=5.0))
