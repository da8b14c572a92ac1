"""Acting on a run: cancel, pause, resume, rerun. Each writes one write-once control object that
names who asked (the audit), then the caller wakes the run (`mhi.ops.executor`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mhi.engine.rerun import RerunError, RerunPlan, plan_rerun
from mhi.errors import UnknownRunError
from mhi.model import keys
from mhi.model.keys import RunRef
from mhi.model.run import RunState
from mhi.ops.errors import Conflict, NotFound, OpsError
from mhi.ports import RunStore


def _dump(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, default=str, separators=(",", ":")).encode()


def load_state(store: RunStore, ref: RunRef) -> RunState:
    """Fold a run from its objects (read-only).

    Raises:
        NotFound: the run does not exist.
    """
    from mhi.runtime.run_cache import RunCache

    cache = RunCache(store, size=1)
    try:
        with cache.run(ref) as cached:
            return cached.state
    except UnknownRunError as e:
        raise NotFound(str(e), "run") from None


def cancel(store: RunStore, ref: RunRef, by: Mapping[str, Any], now: datetime, reason: str) -> bool:
    """Ask a running run to stop; False if a cancel was already asked for.

    Raises:
        NotFound: no such run.
        Conflict: the run has already finished.
    """
    state = load_state(store, ref)
    if state.done is not None:
        status = state.done.get("status")
        raise Conflict(f"run {ref.run_id!r} has already finished ({status}): nothing to cancel")
    body = {"at": now.isoformat(), "reason": reason, "by": dict(by)}
    return store.create(ref.key(keys.cancel_key(state.reruns.generation)), _dump(body))


def pause(store: RunStore, ref: RunRef, by: Mapping[str, Any], now: datetime) -> bool:
    """Hold back new dispatches of a running run; False if it was already paused.

    Raises:
        NotFound: no such run.
        Conflict: the run has already finished.
    """
    state = load_state(store, ref)
    if state.done is not None:
        raise Conflict(f"run {ref.run_id!r} has already finished: nothing to pause")
    reruns = state.reruns
    if reruns.paused:
        return False
    body = {"at": now.isoformat(), "by": dict(by)}
    return store.create(ref.key(keys.pause_key(reruns.resumes + 1)), _dump(body))


def resume(store: RunStore, ref: RunRef, by: Mapping[str, Any], now: datetime) -> bool:
    """Let a paused run dispatch again; False if it was not paused.

    Raises:
        NotFound: no such run.
    """
    reruns = load_state(store, ref).reruns
    if not reruns.paused:
        return False
    body = {"at": now.isoformat(), "by": dict(by)}
    return store.create(ref.key(keys.resume_key(reruns.pauses)), _dump(body))


def rerun(
    store: RunStore,
    ref: RunRef,
    by: Mapping[str, Any],
    now: datetime,
    *,
    from_step: str | None = None,
    params: Mapping[str, Any] | None = None,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    reason: str | None = None,
) -> RerunPlan:
    """Start the next generation of a finished run (from failure, or from `from_step`).

    Raises:
        NotFound: no such run.
        OpsError: the rerun cannot be made as asked (the field at fault is named).
        Conflict: another rerun of this run was recorded first.
    """
    state = load_state(store, ref)
    try:
        plan = plan_rerun(state, from_step=from_step, params=params, config=config)
    except RerunError as e:
        cls = Conflict if e.field == "run" else OpsError
        raise cls(str(e), e.field) from None
    record = {
        "generation": plan.generation,
        "at": now.isoformat(),
        "by": dict(by),
        "mode": plan.mode,
        "from_step": plan.from_step,
        "steps": plan.steps,
        "kept": plan.kept,
        "edits": plan.edits,
        "reason": reason,
    }
    # The active entry first: a crash before the record leaves an entry the sweep removes.
    store.create(ref.active_key, b"{}")
    if not store.create(ref.key(keys.generation_key(plan.generation)), _dump(record)):
        raise Conflict(
            f"run {ref.run_id!r}: another rerun started generation {plan.generation} first"
        )
    return plan
