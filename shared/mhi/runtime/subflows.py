"""Sub-flows: the names a parent run and its child runs agree on, and cancelling the children.

A `ms-sub-flow` step (`mhi.steps.subflow`) starts another stored flow as a run of its own. The
parent names the child in a claim of the step's attempt (`claims/child.json`, written before the
child is started), the child names its parent in its frozen `flow.json` (`parent`). The child's
run id is derived from the parent's run, step and attempt, so a redelivered step message starts
the same child, never a second one; a retry (a new attempt) starts a new child.

When a parent run ends early (cancelled, timed out) while a sub-flow step still waits, the
controller cancels that step's child here, before it writes the parent's `done`: a crash in
between repeats the (idempotent) cancels.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import Any

from mhi.model import keys
from mhi.model.keys import RunRef
from mhi.model.run import RunState, StepState
from mhi.model.subflows import SUB_FLOW_TYPE
from mhi.ports import MessageBus, RunStore
from mhi.runtime.records import publish_wake

logger = logging.getLogger(__name__)

CHILD_CLAIM = "child"  # the claim, per attempt of a sub-flow step, that names its child run
MAX_DEPTH = 8  # sub-flows of sub-flows: deeper than this is refused (a runaway recursion)
_RUN_ID_MAX = 128


def child_run_id(parent: RunRef, step_id: str, attempt: int) -> str:
    """The child run id of one attempt of a sub-flow step: readable, and unique per parent run,
    step and attempt (the hash tells apart parents of other flows with the same run id)."""
    whole = f"{parent.account}/{parent.flow_id}/{parent.run_id}/{step_id}/{attempt}"
    digest = hashlib.sha256(whole.encode()).hexdigest()[:10]
    readable = f"{parent.run_id}.{step_id}.{attempt}"
    return f"{readable[: _RUN_ID_MAX - len(digest) - 1]}-{digest}"


def ref_of(body: dict[str, Any]) -> RunRef:
    """The RunRef a link record (`claims/child.json`, a `parent` block) names."""
    return RunRef(str(body["account"]), str(body["flow_id"]), str(body["run_id"]))


def link(ref: RunRef, **extra: Any) -> dict[str, Any]:
    """The JSON form of a run link (account, flow_id, run_id, plus `extra`)."""
    return {"account": ref.account, "flow_id": ref.flow_id, "run_id": ref.run_id, **extra}


def requested_by(parent: RunRef) -> dict[str, str]:
    """Who asks a child for something (its start, its cancel): the parent run."""
    return {"actor": f"run:{parent.flow_id}/{parent.run_id}", "via": "sub-flow"}


def child_of(store: RunStore, ref: RunRef, step_id: str, attempt: int) -> RunRef | None:
    """The child run one attempt (store numbering) of a sub-flow step started, if any."""
    raw = store.read(ref.key(keys.claim_key(step_id, attempt, CHILD_CLAIM)))
    return ref_of(json.loads(raw)) if raw is not None else None


def children(
    store: RunStore, ref: RunRef, state: RunState, step: StepState
) -> list[dict[str, Any]]:
    """Every child run a sub-flow step started, oldest attempt first (`mhi runs show`)."""
    if step.spec.type != SUB_FLOW_TYPE or step.is_parent:
        return []
    out = []
    for number, attempt in state.reruns.attempts_of(step):
        child = child_of(store, ref, step.id, number) if attempt.dispatched_at else None
        if child is not None:
            out.append(link(child, attempt=number))
    return out


def waiting_children(store: RunStore, ref: RunRef, state: RunState) -> list[RunRef]:
    """The child runs of the sub-flow steps of `state` whose latest attempt has no result."""
    out = []
    for step in state.steps.values():
        last = step.last
        if step.spec.type != SUB_FLOW_TYPE or step.is_parent or last is None:
            continue
        if last.result is not None or last.dispatched_at is None:
            continue
        child = child_of(store, ref, step.id, state.reruns.absolute(step.id, last.number))
        if child is not None:
            out.append(child)
    return out


def cancel_children(
    store: RunStore, bus: MessageBus, ref: RunRef, state: RunState, why: str, now: datetime
) -> list[RunRef]:
    """Cancel the child runs of the parent's waiting sub-flow steps (`cancel_child`); return
    them."""
    children = waiting_children(store, ref, state)
    reason = f"parent run {ref.run_id} ({ref.flow_id}) ended: {why}"
    for child in children:
        cancel_child(store, bus, ref, child, reason, now)
    return children


def cancel_child(
    store: RunStore, bus: MessageBus, parent: RunRef, child: RunRef, reason: str, now: datetime
) -> bool:
    """Ask one child run to stop (unless it ended) and wake it; False if it had ended.

    The cancel is a create-if-absent of the child's `cancel.json` (a repeat changes nothing); the
    wake-up goes to the controller topic, where the child's controller applies it (and cancels
    the child's own children in turn). A child whose start has not arrived yet gets the cancel
    only: its start finds it and ends the run at once.
    """
    if store.read(child.key(keys.done_key())) is not None:
        return False
    body = {
        "at": now.isoformat(),
        "reason": reason,
        "by": requested_by(parent),
    }
    store.create(child.key(keys.cancel_key()), json.dumps(body).encode())
    if store.read(child.key(keys.FLOW)) is None:
        return True
    publish_wake(bus, child)
    logger.info("child run %s of flow %s cancelled: %s", child.run_id, child.flow_id, reason)
    return True


def nudge_parent(
    store: RunStore, bus: MessageBus, child: RunRef, parent: dict[str, Any] | None, now: datetime
) -> bool:
    """Tell a sub-flow step its child ended, so it looks now instead of at its next poll: the
    attempt's `nudge.json` in the parent run (its waiting turn polls at once) and a wake of the
    parent. Once per attempt (a rerun of the child ends its parent's wait no sooner); False when
    `child` has no parent or the nudge was made before. A nudge lost to a crash costs only the
    poll interval."""
    if parent is None:
        return False
    ref = ref_of(parent)
    body = {"at": now.isoformat(), "child": child.run_id}
    key = ref.key(keys.nudge_key(str(parent["step_id"]), int(parent["attempt"])))
    if not store.create(key, json.dumps(body).encode()):
        return False
    publish_wake(bus, ref)
    return True
