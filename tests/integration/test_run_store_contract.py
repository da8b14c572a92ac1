"""One contract for every RunStore: the local folder, memory, and Cloud Storage (emulator).

The gcp-storage-emulator ignores `ifGenerationMatch`; GcsRunStore wired for the emulator checks
for the object first (`emulated_preconditions`), which keeps sequential creates write-once. The
concurrent race is therefore asserted on the local stores only, whose create is atomic.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from mhi.adapters.gcp.gcs_run_store import GcsRunStore
from mhi.adapters.local.fs_run_store import FsRunStore
from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.errors import PermanentError
from mhi.ports import RunStore
from tests.integration.conftest import Stack

STORES = ["fs", "memory", pytest.param("gcs-emulator", marks=pytest.mark.integration)]


@pytest.fixture(params=STORES)
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], tuple[RunStore, str]]:
    """A factory of (store, unique key prefix) for each implementation."""

    def build() -> tuple[RunStore, str]:
        prefix = f"runs/contract-{uuid.uuid4().hex[:8]}/"
        if request.param == "fs":
            return FsRunStore(tmp_path / "state"), prefix
        if request.param == "memory":
            return MemoryRunStore(), prefix
        stack: Stack = request.getfixturevalue("stack")
        client = stack.dev.storage_client()
        return GcsRunStore(client, "mhi-runs", emulated_preconditions=True), prefix

    build.kind = request.param  # type: ignore[attr-defined]
    return build


def test_create_is_write_once(make: Callable[[], tuple[RunStore, str]]) -> None:
    store, p = make()
    assert store.create(p + "flow.json", b'{"v": 1}') is True
    assert store.create(p + "flow.json", b'{"v": 2}') is False
    assert store.read(p + "flow.json") == b'{"v": 1}'


def test_read_missing_is_none_and_bytes_round_trip(
    make: Callable[[], tuple[RunStore, str]],
) -> None:
    store, p = make()
    assert store.read(p + "missing.json") is None
    blob = bytes(range(256))
    assert store.create(p + "bin", blob)
    assert store.read(p + "bin") == blob


def test_list_is_a_sorted_string_prefix_listing(make: Callable[[], tuple[RunStore, str]]) -> None:
    store, p = make()
    for key in ("a/2.json", "b/1.json", "a/1.json", "ab/3.json"):
        assert store.create(p + key, b"{}")
    assert store.list(p + "a/") == [p + "a/1.json", p + "a/2.json"]
    assert store.list(p + "a") == [p + "a/1.json", p + "a/2.json", p + "ab/3.json"]
    assert store.list(p + "zzz/") == []


def test_delete_removes_and_tolerates_missing(make: Callable[[], tuple[RunStore, str]]) -> None:
    store, p = make()
    store.create(p + "active", b"{}")
    store.delete(p + "active")
    store.delete(p + "active")
    assert store.read(p + "active") is None
    assert store.create(p + "active", b"{}") is True  # the index entry can be made again


def test_keys_that_escape_the_store_are_refused(make: Callable[[], tuple[RunStore, str]]) -> None:
    store, p = make()
    for key in ("../x", "/abs", p + "a//b", p + "./b"):
        with pytest.raises(PermanentError, match="invalid store key"):
            store.create(key, b"{}")


# Local stores only: gcp-storage-emulator ignores ifGenerationMatch, so it has no atomic create to
# race (real GCS does; GcsRunStore's 412 handling is unit-tested against a fake).
@pytest.mark.parametrize("kind", ["fs", "memory"])
def test_exactly_one_of_racing_creates_wins(kind: str, tmp_path: Path) -> None:
    store: RunStore = FsRunStore(tmp_path / "state") if kind == "fs" else MemoryRunStore()
    p = "runs/race/"
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def race(n: int) -> None:
        barrier.wait()
        wins.append(store.create(p + "steps/s/1/dispatched.json", str(n).encode()))

    threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


@pytest.mark.integration
def test_the_emulator_itself_ignores_preconditions(stack: Stack) -> None:
    """Why `emulated_preconditions` exists: without it a second create overwrites."""
    raw = GcsRunStore(stack.dev.storage_client(), "mhi-runs")
    key = f"runs/contract-{uuid.uuid4().hex[:8]}/x.json"
    assert raw.create(key, b"1") is True
    assert raw.create(key, b"2") is True
    assert raw.read(key) == b"2"
