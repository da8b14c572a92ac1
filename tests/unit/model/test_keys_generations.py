"""Keys of reruns, pauses, dead letters and the run index are built and parsed in one place."""

from __future__ import annotations

import pytest

from mhi.model import keys
from mhi.model.keys import IndexEntry, ObjectKey, RunRef

CASES = [
    (keys.done_key(0), ObjectKey("done")),
    (keys.done_key(2), ObjectKey("done", generation=2)),
    (keys.cancel_key(3), ObjectKey("cancel", generation=3)),
    (keys.generation_key(1), ObjectKey("generation", generation=1)),
    (keys.pause_key(2), ObjectKey("pause", count=2)),
    (keys.resume_key(1), ObjectKey("resume", count=1)),
    (keys.skipped_key("load", 2), ObjectKey("skipped", step="load", generation=2)),
    (keys.dead_letter_key("load", 4), ObjectKey("dead_letter", "load", 4)),
]


@pytest.mark.parametrize(("key", "parsed"), CASES, ids=[c[0] for c in CASES])
def test_what_is_built_parses_back(key: str, parsed: ObjectKey) -> None:
    assert keys.parse(key) == parsed


@pytest.mark.parametrize(
    "key",
    [
        "done-0.json",
        "done-x.json",
        "control/rerun-0.json",
        "control/other.json",
        "progress/g0/a/000001.json",
        "steps/a/skipped-0.json",
        "control/pause-1.json/x",
    ],
)
def test_near_misses_are_not_run_objects(key: str) -> None:
    assert keys.parse(key) is None


def test_index_names_sort_newest_first_and_parse_back() -> None:
    ref = RunRef("acme", "nightly", "2026-01-01T06:00")
    older, newer = keys.index_name(ref, 1_000), keys.index_name(ref, 2_000)
    assert newer < older
    for key in [
        *keys.index_keys_at_start(ref, 1_000),
        *keys.index_keys_at_finish(ref, 1_000, "failed"),
    ]:
        assert keys.parse_index_key(key) == IndexEntry(ref, 1_000)
    assert keys.index_keys_at_start(ref, 5)[3].startswith("index/run/2026-01-01T06:00/")
    assert keys.parse_index_key("index/all/garbage.json") is None
    assert keys.parse_index_key("runs/a/b/c/flow.json") is None
