"""`ms-sub-flow`: run another stored flow as a run of its own, wait for it, return its result.

One "ingest" flow reused by many "report" flows: the step names the stored flow (`flow_ref`, a
flow file of the flows folder or FLOWS_BUCKET, as a `{"flow_ref": ...}` start) and its params
(templates render upstream outputs). Like a Qlik reload, it holds no function instance while
the child runs: the first turn starts the child, later turns look at it (`Wait`).

- The child is started once per attempt: its run id comes from the parent run, step and attempt
  (`mhi.runtime.subflows.child_run_id`), it is recorded in the attempt's `child` claim before
  the start is published, and a start is idempotent on its run id. A retry starts a new child
  (and cancels the previous attempt's child if that one still runs).
- The start goes through the controller topic like any other start, so the child is a run like
  any other (listed, shown, cancelled, rerun); its `flow.json` names the parent run and step.
- The child flow is resolved and validated here, before anything is published, so an unknown
  `flow_ref`, bad params or a cycle (a flow that is its own ancestor) fail the step at once with
  what is wrong. A child that fails, times out or is cancelled fails the step; a look at the
  child that hits a transient error waits for the next look instead.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mhi.constants import CONTROLLER_TOPIC
from mhi.errors import (
    FlowDefinitionError,
    InvalidMessageError,
    RetryableError,
    StepExecutionError,
)
from mhi.model import keys
from mhi.model.flow import SafeId
from mhi.model.keys import RunRef
from mhi.model.run import RunState, parse_time
from mhi.model.subflows import SUB_FLOW_TYPE
from mhi.runtime.subflows import (
    CHILD_CLAIM,
    MAX_DEPTH,
    cancel_child,
    child_of,
    child_run_id,
    link,
    ref_of,
    requested_by,
)
from mhi.steps.sdk import StepContext, StepKind, Wait

MAX_TRANSIENT_POLLS = 20  # consecutive polls that hit only transient errors before giving up


class SubFlowConfig(BaseModel):
    """Which stored flow to run, with which params, and what of its result to return."""

    model_config = ConfigDict(extra="forbid")

    flow_ref: SafeId = Field(
        description="flow_id of the stored flow to run (flows folder locally, FLOWS_BUCKET on gcp)"
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="the child run's params (templates may render outputs)"
    )
    outputs: list[SafeId] | None = Field(
        default=None,
        description=(
            "child steps whose outputs this step returns under `outputs` (default: the child's "
            "final steps, the ones no other step waits for)"
        ),
    )
    poll_seconds: float = Field(
        default=15.0, ge=0.01, le=3600, description="how often to look at the child run"
    )
    start_timeout_seconds: float = Field(
        default=300.0,
        ge=1,
        le=86400,
        description="fail (retryable) if the child run has not appeared this long after its start",
    )


class SubFlowError(StepExecutionError):
    """The child cannot be started as configured (unknown flow, bad params, a cycle)."""

    kind = "sub_flow"


class SubFlowFailedError(StepExecutionError):
    """The child run failed, timed out or never started: the step's retry policy applies (a retry
    starts a new child run)."""

    kind = "sub_flow_failed"
    retryable = True


class SubFlowCancelledError(StepExecutionError):
    """The child run was cancelled (by someone who meant it: not retried)."""

    kind = "sub_flow_cancelled"


def _run(ctx: StepContext, config: SubFlowConfig) -> dict[str, Any] | Wait:
    if ctx.continuation is None:
        return _start(ctx, config)
    return _follow(ctx, config, dict(ctx.continuation))


def _start_body(ctx: StepContext, config: SubFlowConfig) -> tuple[dict[str, Any], RunRef]:
    """The child's start message, validated as the controller will validate it, and its run."""
    from mhi.runtime.start import parse_start

    parent = {**link(ctx.message.ref), "step_id": ctx.step_id, "attempt": ctx.attempt}
    run_id = child_run_id(ctx.message.ref, ctx.step_id, ctx.attempt)
    body = {"flow_ref": config.flow_ref, "params": config.params, "run_id": run_id}
    body["parent"] = parent
    frozen = ctx.services.run_store.read(ctx.message.ref.key(keys.FLOW))
    slot = json.loads(frozen).get("logical_time") if frozen is not None else None
    if slot:  # the child is for the parent's schedule slot (`run.logical_date` alike)
        body["logical_time"] = slot
    try:
        services = ctx.services
        request = parse_start(body, services.flows, services.step_types)
    except (InvalidMessageError, FlowDefinitionError) as e:
        raise SubFlowError(f"config.flow_ref {config.flow_ref!r}: {e}") from e
    flow = request.flow
    accounts = ctx.services.settings.accounts
    if accounts is not None and flow.account not in accounts:
        raise SubFlowError(
            f"config.flow_ref {config.flow_ref!r}: its account {flow.account!r} is not served "
            f"by this deployment (MHI_ACCOUNTS)"
        )
    unknown = [s for s in config.outputs or [] if s not in {x.id for x in flow.steps}]
    if unknown:
        raise SubFlowError(
            f"config.outputs: flow {flow.flow_id!r} has no step {', '.join(map(repr, unknown))} "
            f"(its steps: {', '.join(s.id for s in flow.steps)})"
        )
    return body, RunRef(flow.account, flow.flow_id, run_id)


def _check_ancestry(ctx: StepContext, flow_ref: str) -> None:
    """Refuse a child that is one of its own ancestors (a cycle) or nests too deep."""
    store, ref = ctx.services.run_store, ctx.message.ref
    chain = [ref.flow_id]
    for _ in range(MAX_DEPTH):
        raw = store.read(ref.key(keys.FLOW))
        parent = json.loads(raw).get("parent") if raw is not None else None
        if not parent:
            break
        ref = ref_of(parent)
        chain.append(ref.flow_id)
    else:
        raise SubFlowError(f"sub-flows nest deeper than {MAX_DEPTH} levels: {' <- '.join(chain)}")
    if flow_ref in chain:
        path = " -> ".join([*reversed(chain), flow_ref])
        raise SubFlowError(f"sub-flow cycle: {path} (a flow cannot run itself as a sub-flow)")


def _parent_ended(ctx: StepContext) -> bool:
    """Whether this run was cancelled or finished meanwhile (then no child may start: nobody
    would cancel it). Checked after the child claim, so a cancel that comes later finds it."""
    store, ref = ctx.services.run_store, ctx.message.ref
    raw = store.read(ref.key(keys.dispatch_key(ctx.step_id, ctx.attempt, 0)))
    generation = int(json.loads(raw).get("generation", 0)) if raw is not None else 0
    return any(
        store.read(ref.key(rel)) is not None
        for rel in (keys.cancel_key(generation), keys.done_key(generation))
    )


def _cancel_previous(ctx: StepContext) -> None:
    """A retry replaces the previous attempt's child: if that one still runs (the attempt failed
    for its own reasons, e.g. timed out), it is cancelled rather than left to run unwatched."""
    store, ref = ctx.services.run_store, ctx.message.ref
    previous = child_of(store, ref, ctx.step_id, ctx.attempt - 1) if ctx.attempt > 1 else None
    if previous is not None:
        why = f"attempt {ctx.attempt} of step {ctx.step_id} replaces it"
        cancel_child(store, ctx.services.bus, ref, previous, why, ctx.services.clock.now())


def _publish(ctx: StepContext, body: dict[str, Any]) -> None:
    by = requested_by(ctx.message.ref)
    attributes = {"kind": "start", "run_id": body["run_id"], "mhi_requested_by": json.dumps(by)}
    ctx.services.bus.publish(CONTROLLER_TOPIC, json.dumps(body).encode(), attributes)


def _start(ctx: StepContext, config: SubFlowConfig) -> Wait:
    _check_ancestry(ctx, config.flow_ref)
    body, child = _start_body(ctx, config)
    child = ref_of(ctx.claim(CHILD_CLAIM, link(child)))
    if _parent_ended(ctx):
        raise SubFlowError(f"run {ctx.run_id} ended before its sub-flow started: not started")
    _cancel_previous(ctx)
    _publish(ctx, body)
    ctx.log.info("sub-flow %s started as run %s", child.flow_id, child.run_id)
    now = ctx.services.clock.now()
    return Wait({"child": link(child), "asked_at": now.isoformat()}, config.poll_seconds)


def _follow(
    ctx: StepContext, config: SubFlowConfig, state: dict[str, Any]
) -> dict[str, Any] | Wait:
    """Look at the child once. A transient error (the store unavailable) waits for the next
    look instead of failing the attempt, whose retry would start a second child."""
    try:
        outcome = _look(ctx, config, state)
    except RetryableError as e:
        state["transient"] = int(state.get("transient", 0)) + 1
        if state["transient"] > MAX_TRANSIENT_POLLS:
            raise
        ctx.log.warning("sub-flow poll failed (%s); looking again later", e)
        return Wait(state, config.poll_seconds)
    state.pop("transient", None)
    return outcome


def _look(ctx: StepContext, config: SubFlowConfig, state: dict[str, Any]) -> dict[str, Any] | Wait:
    child = ref_of(state["child"])
    store = ctx.services.run_store
    if store.read(child.key(keys.done_key())) is None:
        if not state.get("seen") and store.read(child.key(keys.FLOW)) is None:
            _not_started_yet(ctx, config, child, parse_time(state["asked_at"]))
        else:
            state["seen"] = True
        return Wait(state, config.poll_seconds)
    from mhi.runtime.run_cache import RunCache

    with RunCache(store, size=1).run(child) as cached:
        folded = cached.state
    if folded.done is None:  # a rerun of the child is under way: wait for it
        return Wait(state, config.poll_seconds)
    return _result(child, folded, config)


def _not_started_yet(
    ctx: StepContext, config: SubFlowConfig, child: RunRef, asked_at: datetime
) -> None:
    """The child's start was not carried out yet: publish it again (a start is idempotent; the
    first publish may have been lost with a process), or give up after the start timeout."""
    waited = ctx.services.clock.now() - asked_at
    if waited > timedelta(seconds=config.start_timeout_seconds):
        raise SubFlowFailedError(
            f"child run {child.run_id} of flow {child.flow_id!r} did not start within "
            f"{config.start_timeout_seconds:g}s (the controller refused or never got its start: "
            "see its log)"
        )
    body, _ = _start_body(ctx, config)
    _publish(ctx, body)


def _result(child: RunRef, state: RunState, config: SubFlowConfig) -> dict[str, Any]:
    done = state.done or {}
    status = str(done.get("status"))
    if status != "succeeded":
        why = done.get("error") or status
        message = f"sub-flow {child.flow_id!r} run {child.run_id} {status}: {why}"
        if status == "cancelled":
            raise SubFlowCancelledError(message)
        raise SubFlowFailedError(message)
    # the final steps: no step depends on them, and they are no error handler
    waited_for = {d for s in state.flow.steps for d in s.depends_on} | set(state.handled)
    wanted = config.outputs or [s.id for s in state.flow.steps if s.id not in waited_for]
    return {
        **link(child),
        "status": status,
        "outputs": {sid: state.output(sid) for sid in wanted},
    }


SUB_FLOW: StepKind[SubFlowConfig] = StepKind(
    SUB_FLOW_TYPE,
    SubFlowConfig,
    _run,
    "Run another stored flow as a child run, wait for it and return its outputs",
)
