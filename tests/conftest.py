"""Shared fixtures: isolated environment and logging for every test."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
