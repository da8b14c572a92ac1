"""Shared fixtures: isolated environment and logging for every test."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# pytest-timeout catches a test that hangs (120 s, pyproject). A test marked slow does real work
# that a loaded machine may stretch several times over: it gets this much before it counts as
# hung, unless it names its own limit.
SLOW_TIMEOUT = 600


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT))


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's MHI_* or GCP settings; MHI_HOME is a fresh folder."""
    import os

    for name in list(os.environ):
        if name.startswith(("MHI_", "_M_")) or name in (
            "RUNS_BUCKET",
            "FLOWS_BUCKET",
            "RAW_BUCKET",
            "PUBSUB_EMULATOR_HOST",
            "STORAGE_EMULATOR_HOST",
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MHI_HOME", str(tmp_path / "mhi-home"))
    yield
    logging.getLogger().handlers = [
        h for h in logging.getLogger().handlers if type(h).__module__.startswith("_pytest")
    ]
