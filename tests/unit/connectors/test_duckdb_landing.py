"""Landing into the real embedded warehouse (the DuckDB adapter), for every system: a full run,
an incremental run with changes, a rerun of the same run and a schema change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mhi.adapters.local.duckdb_warehouse import DuckDbWarehouse
from tests.fakes.apis.scenarios import ACCOUNT, SYSTEMS, WINDOWED
from tests.unit.connectors.conftest import Env


# duckdb 2.0's `.df()` calls `DataFrame.drop(inplace=True)` for TIMESTAMPTZ columns (our
# `_landed_at`), which pandas 3.1 deprecates; the adapter's reads trip it, not the extractor.
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.drop")
@pytest.mark.parametrize("system", SYSTEMS)
def test_extract_into_duckdb(system: str, env: Env, scenario_for: Any, tmp_path: Path) -> None:
    env.warehouse = DuckDbWarehouse(tmp_path / "warehouse.duckdb")
    sc = scenario_for(system, env, 60)
    config = sc.step_config(rows_per_file=25)
    assert env.run(system, config, run_id="r1").status == "succeeded"
    pool = sc.recent() if system in WINDOWED else sc.ids()
    sc.touch(pool[:3])
    sc.add(2)
    for record in sc.records():
        record["loyalty_tier"] = "gold"
    assert env.run(system, config, run_id="r2").status == "succeeded"
    cb = env.run(system, config, run_id="r2", attempt=2)  # a redelivered attempt
    assert cb.status == "succeeded", cb.error

    frame = env.warehouse.read(ACCOUNT, sc.table)
    keys = sorted(map(str, frame[sc.key]))
    assert keys == sorted(map(str, sc.ids())) and len(set(keys)) == len(keys)
    assert sum(sc.changed(row) for row in frame.to_dict("records")) == 3
    assert "loyalty_tier" in frame.columns
    count = env.warehouse.query(ACCOUNT, f"SELECT count(*) AS n FROM {sc.table}")
    assert int(count["n"][0]) == len(sc.ids())
