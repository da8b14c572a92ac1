"""Every run-store key is built and parsed by `mhi.model.keys`, and the two agree."""

from __future__ import annotations

import pytest

from mhi.model import keys
from mhi.model.keys import ObjectKey, RunRef

CASES = [
    (keys.FLOW, ObjectKey("flow")),
    (keys.DONE, ObjectKey("done")),
    (keys.CANCEL, ObjectKey("cancel")),
    (keys.skipped_key("load"), ObjectKey("skipped", step="load")),
    (keys.dispatch_key("load", 2, 0), ObjectKey("dispatched", "load", 2, turn=0)),
    (keys.dispatch_key("load.3", 1, 4), ObjectKey("dispatched", "load.3", 1, turn=4)),
    (keys.wait_key("load", 1, 4), ObjectKey("wait", "load", 1, turn=4)),
    (keys.result_key("_notify", 1), ObjectKey("result", "_notify", 1)),
    (keys.turn_key("load", 1, 0, "started"), ObjectKey("started", "load", 1, turn=0)),
    (keys.claim_key("load", 1, "reload-id"), ObjectKey("claim", "load", 1, name="reload-id")),
    (keys.nudge_key("ingest", 2), ObjectKey("nudge", "ingest", 2)),
]


@pytest.mark.parametrize(("key", "parsed"), CASES, ids=[c[0] for c in CASES])
def test_what_is_built_parses_back(key: str, parsed: ObjectKey) -> None:
    assert keys.parse(key) == parsed


@pytest.mark.parametrize(
    "key",
    [
        "",
        "flow.json.bak",
        "steps/a",
        "steps/a/x/result.json",
        "steps/a/1/poll-x.json",
        "steps/a/1/claims/x.txt",
        "progress/g/abc.json",
        "other/thing.json",
        "steps/a/1/odd.json",
    ],
)
def test_anything_else_is_not_a_run_object(key: str) -> None:
    assert keys.parse(key) is None


def test_full_keys_split_into_run_and_relative_key() -> None:
    ref = RunRef("acme", "nightly", "2026-01-01T06:00")
    assert keys.split_run_key(ref.key(keys.result_key("a", 1))) == (ref, "steps/a/1/result.json")
    assert keys.split_active_key(ref.active_key) == ref
    assert keys.split_run_key("runs/acme/nightly") is None
    assert keys.split_active_key("active/acme/nightly") is None
    assert ref.prefix == "runs/acme/nightly/2026-01-01T06:00/"
