"""Fixtures of the generic steps' tests: a local back end in a temporary folder, a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mhi.config import Settings
from mhi.services import Services
from tests.unit.generic.helpers import FixedClock

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def services(tmp_path: Path, clock: FixedClock) -> Services:
    return Services(Settings(home=tmp_path, flows_dir=tmp_path / "flows"), clock=clock)
