"""Sub-flows seen statically: which stored flows a flow runs as children, and cycles among them.

A `ms-sub-flow` step names its child by `config.flow_ref`. When that is a plain flow id (not a
template), `mhi validate` resolves it among the stored flows and follows the references from
there, so a flow that would run itself (report -> ingest -> report) is refused before anything
runs. A templated `flow_ref` is only known at run time: the step checks the run's ancestry then.
"""

from __future__ import annotations

from collections.abc import Callable

from mhi.model.flow import FlowDefinition

SUB_FLOW_TYPE = "ms-sub-flow"


def literal_refs(flow: FlowDefinition) -> list[tuple[int, str]]:
    """(step index, flow_ref) of every sub-flow step whose `flow_ref` is a plain flow id."""
    out = []
    for i, step in enumerate(flow.steps):
        ref = step.config.get("flow_ref") if step.type == SUB_FLOW_TYPE else None
        if isinstance(ref, str) and "{{" not in ref:
            out.append((i, ref))
    return out


def find_cycle(
    flow_id: str, child: str, refs_of: Callable[[str], list[str] | None]
) -> list[str] | None:
    """The path `flow_id -> child -> ... -> flow_id` if running `child` from `flow_id` comes
    back to `flow_id`, else None. `refs_of(id)` lists a stored flow's literal sub-flow refs
    (None: no such flow, or it cannot be read: that branch ends)."""
    seen: set[str] = set()
    todo: list[list[str]] = [[flow_id, child]]
    while todo:
        path = todo.pop()
        here = path[-1]
        if here == flow_id:
            return path
        if here in seen:
            continue
        seen.add(here)
        todo += [[*path, nxt] for nxt in refs_of(here) or []]
    return None
