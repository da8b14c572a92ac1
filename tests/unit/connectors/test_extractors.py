"""Behaviour every extractor shares, run against each system's imitation API: full and
incremental extraction, crash and rerun, schema drift and required fields."""

from __future__ import annotations

import gzip
import importlib
import json
from datetime import datetime
from typing import Any

import pytest

from mhi.adapters.local.fs_blob_store import FsBlobStore
from tests.fakes.apis.scenarios import ACCOUNT, SYSTEMS, WINDOWED, Scenario
from tests.unit.connectors.conftest import Env
from tests.unit.connectors.fake_warehouse import MemoryWarehouse

N = 120


def _system(name: str) -> Any:
    return importlib.import_module(f"mhi.connectors.systems.{name}").SYSTEM


def _table(env: Env, sc: Scenario) -> Any:
    return env.warehouse.read(ACCOUNT, sc.table)


def _assert_complete(env: Env, sc: Scenario) -> Any:
    """The raw table holds every source record exactly once."""
    frame = _table(env, sc)
    keys = [str(k) for k in frame[sc.key]]
    assert len(keys) == len(set(keys)), "duplicate rows in the raw table"
    assert sorted(keys) == sorted(str(i) for i in sc.ids())
    return frame


def _state(env: Env, sc: Scenario) -> dict[str, Any] | None:
    keys = env.blobs.list(f"state/watermarks/{ACCOUNT}/{sc.system}/{sc.dataset}/")
    assert len(keys) <= 1, keys  # one flow, one source scope: one watermark
    raw = env.blobs.read_bytes(keys[0]) if keys else None
    return json.loads(raw) if raw else None


def _landed_records(env: Env, sc: Scenario, run_id: str) -> list[dict[str, Any]]:
    prefix = f"raw/{ACCOUNT}/{sc.system}/{sc.dataset}/run={run_id}/"
    out = []
    for key in env.blobs.list(prefix):
        if key.endswith(".ndjson.gz"):
            out += [json.loads(x) for x in gzip.decompress(env.blobs.read_bytes(key)).splitlines()]
    return out


@pytest.mark.parametrize("system", SYSTEMS)
def test_full_extraction_lands_files_manifest_table_and_watermark(
    system: str, env: Env, scenario_for: Any
) -> None:
    sc = scenario_for(system, env, N)
    cb = env.run(system, sc.step_config(rows_per_file=50))
    assert cb.status == "succeeded", cb.error
    out = cb.output["datasets"][sc.dataset]
    assert (out["rows"], out["loaded"], out["files"]) == (N, N, 3)
    assert cb.output["rows"] == N and cb.metrics["rows"] == N
    frame = _assert_complete(env, sc)
    assert {"_landed_at", "_run_id"} <= set(frame.columns)
    assert set(frame["_run_id"]) == {"r1"}
    assert len(_landed_records(env, sc, "r1")) == N
    manifest = env.blob_json(f"raw/{ACCOUNT}/{system}/{sc.dataset}/run=r1/manifest.json")
    assert manifest["rows"] == N and len(manifest["files"]) == 3
    assert manifest["schema_hash"] == out["schema_hash"] and len(out["schema_hash"]) == 16
    assert manifest["watermark"]["new"] == out["watermark"]["new"]
    assert sum(r["records"] for r in manifest["requests"]) == N
    state = _state(env, sc)
    assert state is not None and state["value"] == out["watermark"]["new"]
    assert state["value"]  # every scenario dataset is incremental


@pytest.mark.parametrize("system", SYSTEMS)
def test_incremental_run_fetches_only_what_changed(
    system: str, env: Env, scenario_for: Any
) -> None:
    sc = scenario_for(system, env, N)
    first = env.run(system, sc.step_config(), run_id="r1")
    assert first.status == "succeeded"
    mark = first.output["datasets"][sc.dataset]["watermark"]["new"]
    pool = sc.recent() if system in WINDOWED else sc.ids()
    touched = pool[:5]
    sc.touch(touched)
    added = sc.add(3)
    sc.fake.reset_log()

    cb = env.run(system, sc.step_config(), run_id="r2")

    assert cb.status == "succeeded", cb.error
    served = {str(i) for i in sc.fake.served_ids()}
    changed = {str(i) for i in [*touched, *added]}
    assert changed <= served
    if system in WINDOWED:  # a trailing window is re-read, never the old history
        assert served <= {str(i) for i in [*sc.recent(), *added]}
    elif sc.stamp is not None:  # plus what sits within the overlap below the watermark
        overlap = _system(system).dataset(sc.dataset).incremental.overlap
        since = datetime.fromisoformat(mark) - overlap
        key = sc.source_key
        boundary = {str(r[key]) for r in sc.records() if sc.stamp(r) >= since}
        assert served == changed | boundary and len(boundary - changed) < N // 2
    else:  # a delta feed: exactly the changes
        assert served == changed
    out = cb.output["datasets"][sc.dataset]
    assert out["rows"] == len(sc.fake.served_ids()) < N
    assert out["watermark"]["previous"] is not None
    frame = _assert_complete(env, sc)
    flagged = {
        str(k)
        for k, row in zip(frame[sc.key], frame.to_dict("records"), strict=False)
        if sc.changed(row)
    }
    assert flagged == {str(i) for i in touched}


class Crash(BaseException):
    """A process dying mid-step (not an Exception: the SDK must not turn it into a callback)."""


class CrashingBlobs(FsBlobStore):
    """Dies on the n-th landed file."""

    def __init__(self, root: Any, on_upload: int) -> None:
        super().__init__(root)
        self.left = on_upload

    def upload_file(self, key: str, path: str, content_type: str = "") -> str:
        self.left -= 1
        if self.left == 0:
            raise Crash(key)
        return super().upload_file(key, path, content_type)


class CrashingWarehouse:
    """Dies on the n-th write, after the earlier writes went through."""

    def __init__(self, inner: MemoryWarehouse, on_write: int) -> None:
        self.inner, self.left = inner, on_write

    def write(self, *args: Any, **kwargs: Any) -> int:
        self.left -= 1
        if self.left == 0:
            raise Crash("warehouse")
        return self.inner.write(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _crashing(env: Env, where: str) -> Any:
    if where == "landing":
        return env.services(blobs=CrashingBlobs(env.blobs.root, on_upload=2))
    return env.services(warehouse=CrashingWarehouse(env.warehouse, on_write=2))


@pytest.mark.parametrize("where", ["landing", "loading"])
@pytest.mark.parametrize("system", SYSTEMS)
def test_crash_mid_run_then_rerun_loses_and_duplicates_nothing(
    system: str, where: str, env: Env, scenario_for: Any
) -> None:
    sc = scenario_for(system, env, N)
    config = sc.step_config(rows_per_file=20)
    with pytest.raises(Crash):
        env.run(system, config, run_id="r1", services=_crashing(env, where))
    assert _state(env, sc) is None  # nothing advanced
    assert env.run(system, config, run_id="r1", attempt=2).status == "succeeded"
    _assert_complete(env, sc)
    assert len(_landed_records(env, sc, "r1")) == N  # the stale part was replaced, not kept
    first = _state(env, sc)

    pool = sc.recent() if system in WINDOWED else sc.ids()
    sc.touch(pool[:4])
    sc.add(30)
    with pytest.raises(Crash):
        env.run(system, config, run_id="r2", services=_crashing(env, where))
    assert _state(env, sc) == first  # the watermark waits for the data
    cb = env.run(system, config, run_id="r2", attempt=2)
    assert cb.status == "succeeded", cb.error
    frame = _assert_complete(env, sc)
    assert sum(sc.changed(row) for row in frame.to_dict("records")) == 4
    assert _state(env, sc) != first


@pytest.mark.parametrize("system", SYSTEMS)
def test_rerunning_the_same_window_replaces(system: str, env: Env, scenario_for: Any) -> None:
    sc = scenario_for(system, env, 40)
    for run in ("r1", "r1", "r2"):
        assert env.run(system, sc.step_config(incremental=False), run_id=run).status == "succeeded"
    _assert_complete(env, sc)
    assert set(_table(env, sc)["_run_id"]) == {"r2"}


@pytest.mark.parametrize("system", SYSTEMS)
def test_schema_change_and_missing_fields_are_reported_not_fatal(
    system: str, env: Env, scenario_for: Any
) -> None:
    sc = scenario_for(system, env, 60)
    assert env.run(system, sc.step_config(), run_id="r1").status == "succeeded"
    records = sc.records()
    for r in records:
        r["loyalty_tier"] = "gold"
        r.pop(sc.optional_field)
    for r in records[1:4]:
        r.pop(sc.required_field)
    records[0][sc.source_key] = None

    cb = env.run(system, sc.step_config(incremental=False), run_id="r2")

    assert cb.status == "succeeded", cb.error
    out = cb.output["datasets"][sc.dataset]
    assert out["schema_changes"] == {
        "new_fields": ["loyalty_tier"],
        "vanished_fields": [sc.optional_field],
    }
    assert out["missing_required"][sc.required_field] == 3
    assert out["rejected_without_key"] == 1
    assert out["loaded"] == 59 and out["rows"] == 60
    assert "loyalty_tier" in _table(env, sc).columns


@pytest.mark.parametrize("system", SYSTEMS)
def test_a_run_with_nothing_new_succeeds_and_keeps_the_watermark(
    system: str, env: Env, scenario_for: Any
) -> None:
    sc = scenario_for(system, env, 30)
    assert env.run(system, sc.step_config(), run_id="r1").status == "succeeded"
    before = _state(env, sc)
    # A backfill of a window with no data (a delta feed resumes and finds no change).
    cb = env.run(system, sc.step_config(date_from="2001-01-01", date_to="2001-01-02"), run_id="r2")
    assert cb.status == "succeeded", cb.error
    out = cb.output["datasets"][sc.dataset]
    assert (out["rows"], out["loaded"], out["files"]) == (0, 0, 0)
    after = _state(env, sc)
    assert after is not None and before is not None
    if system != "sharepoint365":  # a delta feed stores the newest link
        assert after["value"] == before["value"]
    assert after["fields"] == before["fields"]
    _assert_complete(env, sc)
