"""A local account with guests: the bundled bookings with synthetic identities, and the
imitation Avalon PMS whose reservations carry guests' names, emails and phones."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mhi.adapters.local.duckdb_warehouse import DuckDbWarehouse
from mhi.adapters.local.env_secrets import EnvSecretStore, env_var
from mhi.adapters.local.fs_blob_store import FsBlobStore
from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.catalog import load_kind
from mhi.config import Settings
from mhi.gdpr.tables import DuckDbGuestTables
from mhi.model.messages import StepMessage
from mhi.services import Services
from mhi.steps.sdk import run_step
from tests.fakes.apis.scenarios import ACCOUNT, Scenario, build

DATA = Path(__file__).resolve().parents[3] / "data" / "hotel_bookings.csv.gz"
HASH_KEY = "test-guest-hash-key-0123456789abcdef"


class Lab:
    """Local services of one account under a folder: blobs, DuckDB, secrets, run store."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.environ = {env_var(ACCOUNT, "guest-hash-key"): HASH_KEY}
        self.warehouse = DuckDbWarehouse(root / "warehouse.duckdb")
        self.blobs = FsBlobStore(root / "blobs")
        self.services = Services(
            Settings(home=root, allow_loopback_urls=True),
            warehouse=self.warehouse,
            blobs=self.blobs,
            secrets=EnvSecretStore(root / "secrets.json", environ=self.environ),
            run_store=MemoryRunStore(),
        )

    def step(self, step_type: str, config: dict[str, Any], run_id: str = "r1") -> dict[str, Any]:
        """Run one step; return its output (the test fails with the step's error)."""
        message = StepMessage(
            run_id=run_id,
            flow_id="gdpr",
            account=ACCOUNT,
            step_id="s",
            attempt=1,
            type=step_type,
            config=config,
            callback_topic="ms-flows-callbacks",
            deadline=datetime.now(UTC) + timedelta(minutes=10),
        )
        callback = run_step(message, load_kind(step_type), self.services)
        assert callback.status == "succeeded", callback.error
        return dict(callback.output or {})

    def tables(self) -> DuckDbGuestTables:
        """The erasure port on this account's DuckDB file."""
        return DuckDbGuestTables(self.warehouse)

    def all_text(self, layers: tuple[str, ...] = ("raw", "model")) -> str:
        """Every text value of every table of these layers, lower-case, one string."""
        parts = []
        for table in self.tables().text_tables(ACCOUNT):
            if table.table.split(".")[0] in layers and table.columns:
                frame = self.warehouse.read(ACCOUNT, table.table)
                parts += [str(v) for c in table.columns for v in frame[c].dropna()]
        return "\n".join(parts).lower()


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return Lab(tmp_path)


def guest(i: int) -> dict[str, str]:
    """The synthetic identity of guest `i` (each guest books twice in the bundled slice)."""
    return {
        "name": f"Marta Vidal {i:03d}",
        "email": f"marta.vidal.{i:03d}@example.com",
        "phone-number": f"+34 600 {i:03d} 111",
    }


@pytest.fixture(scope="session")
def bundled_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 bundled bookings with the identity columns of the data set's public variant
    (name, email, phone-number): 200 guests, two bookings each."""
    raw = pd.read_csv(DATA, keep_default_na=False, na_values=["NA"], nrows=5000)
    part = raw[raw["arrival_date_year"] == 2015].head(400).reset_index(drop=True)
    ids = pd.DataFrame([guest(i // 2) for i in range(len(part))])
    path = tmp_path_factory.mktemp("bundled") / "bookings.csv.gz"
    with gzip.open(path, "wt") as f:
        pd.concat([part, ids], axis=1).to_csv(f, index=False)
    return path


def avalon_guest(i: int) -> dict[str, str]:
    """What the imitation Avalon's guest `i` gives at booking, beside the PMS's name."""
    return {"email": f"Guest.{i}@Example.com", "phone": f"+34 611 {i:03d} 222"}


@pytest.fixture
def avalon(lab: Lab) -> Iterator[Scenario]:
    """The imitation Avalon with 60 reservations whose guests have a name, email and phone."""
    scenario = build("avalon")
    try:
        scenario.seed(60)
        for i, record in enumerate(scenario.records()):
            record["guest"] = {**record["guest"], **avalon_guest(i)}
        lab.environ.update(
            {env_var(ACCOUNT, k): v for k, v in {**scenario.secrets, **scenario.urls}.items()}
        )
        yield scenario
    finally:
        scenario.fake.stop()
