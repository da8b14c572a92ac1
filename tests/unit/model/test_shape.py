"""The static shape of a run: its operation counts match a real run's, step for step (reads:
within the range the order of parallel ends allows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mhi.adapters.local.fs_run_store import FsRunStore
from mhi.config import Settings
from mhi.model.shape import critical_path, fan_out, items_assumed, operations
from mhi.model.validate import parse_flow
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.services import Services

NOTIFY = {"type": ["outbox"], "recipients": "team@example.com"}
LIMIT = {"key": "pms:{{ run.account }}", "limit": 1}  # one at a time: the two never overlap


def _e(sid: str, *deps: str, **extra: Any) -> dict[str, Any]:
    return {"id": sid, "type": "ms-echo", "depends_on": list(deps), **extra}


SHAPES: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {
    "one": ([_e("a")], {}),
    "chain": ([_e("a"), _e("b", "a"), _e("c", "b")], {}),
    "two roots": ([_e("a"), _e("b")], {}),
    "join": ([_e("a"), _e("b"), _e("c", "a", "b", trigger_rule="all_done")], {}),
    "fan-out": ([_e("r"), _e("x", "r"), _e("y", "r"), _e("z", "r")], {}),
    "for_each": ([_e("a", for_each=[1, 2, 3]), _e("b", "a")], {}),
    "for_each of one": ([_e("a", for_each=[1])], {}),
    "handlers": (
        [_e("a", on_failure=["undo"]), _e("b", "a"), _e("undo"), _e("alert")],
        {"on_failure": ["alert"]},
    ),
    "notified": ([_e("a"), _e("b", "a")], {"notifications": {"success": NOTIFY, "fail": NOTIFY}}),
    "limited": ([_e("a", concurrency=LIMIT), _e("b", "a", concurrency=LIMIT), _e("c")], {}),
}


def _raw(steps: list[dict[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
    return {"flow_id": "shape", "account": "acme", "flow_config": {"steps": steps}, **extra}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_operation_counts_match_a_real_run(name: str, tmp_path: Path) -> None:
    raw = _raw(*SHAPES[name])
    flow = parse_flow(raw)
    store = FsRunStore(tmp_path / "state")
    services = Services(Settings(home=tmp_path), run_store=store)
    with EmbeddedRuntime(services) as runtime:
        state = runtime.wait(runtime.start_json(raw), timeout=30)
    assert state.done is not None and state.done["status"] == "succeeded"
    ops = operations(flow, items_assumed(flow, {}))
    assert (ops.creates, ops.lists) == (store.stats.creates, store.stats.lists)
    assert ops.reads_fewest <= store.stats.reads <= ops.reads


def test_critical_path_follows_the_longest_chain_and_waves_of_children() -> None:
    flow = parse_flow(
        _raw(
            [
                _e("a"),
                _e("slow", "a"),
                _e("fast", "a"),
                _e("each", "fast", for_each=[1, 2, 3, 4, 5]),
                _e("end", "slow", "each"),
                _e("undo"),
            ],
            {"max_parallel": 2, "on_failure": ["undo"]},
        )
    )
    seconds = {"a": 1.0, "slow": 10.0, "fast": 1.0, "each": 2.0, "end": 1.0, "undo": 100.0}
    items = items_assumed(flow, {})
    path, total = critical_path(flow, seconds, items)
    assert (path, total) == (["a", "slow", "end"], 12.0)
    seconds["each"] = 4.0  # 3 waves of 2 children: 12 s
    assert critical_path(flow, seconds, items) == (["a", "fast", "each", "end"], 15.0)


def test_fan_out_bounds_of_a_templated_for_each_are_those_of_the_engine() -> None:
    flow = parse_flow(
        _raw([_e("a"), _e("b", "a", for_each="{{ steps.a.output.items }}")], {}),
        frozenset({"ms-echo"}),
    )
    assert fan_out(flow.steps[0]) is None
    low, high = fan_out(flow.steps[1]) or (0, 0)
    assert low == 0 and high >= 1000
    assert items_assumed(flow, {"b": 7}) == {"b": 7}
