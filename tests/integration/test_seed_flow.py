"""The seed's flow, exactly as `flows/daily-avalon-extract.json` holds it, on the emulators.

An imitation Avalon server listens on 127.0.0.1; its host and API key reach the extractor
function as the account's secrets (`hotel-fergus--avalon-base-url`, `...--avalon-api-key`) in the
stack's local secrets file, since Secret Manager has no emulator.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mhi.config import Settings
from mhi.constants import CONTROLLER_TOPIC
from tests.conftest import ROOT
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration

SEED = ROOT / "flows" / "daily-avalon-extract.json"
RUNS = "runs/hotel-fergus/daily-avalon-extract/"


def _require_step_kinds() -> None:
    from mhi.catalog import load_kind

    for step_type in ("ms-extractor-avalon", "ms-data-modeling", "ms-kpi-engine"):
        try:
            load_kind(step_type)
        except (ImportError, AttributeError) as e:
            pytest.skip(f"the seed flow needs {step_type}: {e}")


def test_the_seed_flow_extracts_models_and_computes_kpis(stack: Stack) -> None:
    _require_step_kinds()
    from mhi.adapters.local.duckdb_warehouse import from_settings as warehouse_for
    from tests.fakes.apis.scenarios import build

    scenario = build("avalon")
    try:
        scenario.seed(60)
        mhi_home = Path(stack.dev.state.function_env["MHI_HOME"])
        secrets = {f"hotel-fergus--{k}": v for k, v in scenario.secrets.items()}
        secrets["hotel-fergus--avalon-base-url"] = scenario.fake.url
        # the imitation's reservations carry guest names: the model keeps them as keyed hashes
        secrets["hotel-fergus--guest-hash-key"] = "seed-flow-guest-hash-key-of-32-characters"
        mhi_home.mkdir(parents=True, exist_ok=True)
        (mhi_home / "secrets.json").write_text(json.dumps(secrets))
        before = {k for k in stack.store.list(RUNS) if k.endswith("/flow.json")}
        stack.publish(CONTROLLER_TOPIC, SEED.read_bytes())  # the file as written, no run_id

        def new_run() -> str | None:
            runs = {k for k in stack.store.list(RUNS) if k.endswith("/flow.json")} - before
            return runs.pop()[: -len("flow.json")] if runs else None

        prefix = stack.wait_for("the seed run to start", new_run)
        done = stack.wait_done(prefix, timeout=120, sweep_every=3.0)
    finally:
        scenario.fake.stop()
    assert done["status"] == "succeeded", (done, stack.logs())
    outputs = {
        step: (stack.read_json(f"{prefix}steps/{step}/1/result.json") or {}).get("output", {})
        for step in ("extract-reservations", "model-data", "calculate-kpis")
    }
    assert outputs["model-data"]["rows"] > 0, outputs
    assert outputs["calculate-kpis"]["rows"] > 0, outputs
    warehouse = warehouse_for(Settings(home=mhi_home))
    assert warehouse.exists("hotel-fergus", "raw.avalon_reservations")
    assert outputs["extract-reservations"]["rows"] == 60, outputs["extract-reservations"]
    assert outputs["model-data"]["row_counts"]["stay_nights"] > 0
    kpi_tables = outputs["calculate-kpis"]["tables"]
    assert kpi_tables, outputs["calculate-kpis"]
    for name in kpi_tables:
        assert warehouse.exists("hotel-fergus", name), name
    landed = outputs["extract-reservations"]["datasets"]["reservations"]["file_uris"]
    assert all(uri.startswith("gs://mhi-raw/raw/hotel-fergus/avalon/") for uri in landed)
