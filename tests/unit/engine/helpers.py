"""Building run states for engine tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from mhi.model.flow import TRIGGER_RULES, FlowDefinition, StepSpec
from mhi.model.run import RunState, StepStatus

T0 = datetime(2026, 1, 1, 6, 0, tzinfo=UTC)
TYPES = frozenset({"ms-echo"})


def at(seconds: float) -> datetime:
    """T0 plus some seconds."""
    return T0 + timedelta(seconds=seconds)


def flow(*steps: dict[str, Any], **extra: Any) -> FlowDefinition:
    """A flow of ms-echo steps (type defaults to ms-echo)."""
    from mhi.model.validate import parse_flow

    raw_steps = [{"type": "ms-echo", **s} for s in steps]
    return parse_flow(
        {"flow_id": "f", "account": "acme", "flow_config": {"steps": raw_steps}, **extra}, TYPES
    )


def state(f: FlowDefinition, params: dict[str, Any] | None = None) -> RunState:
    """A fresh run of `f` started at T0."""
    return RunState(f, "run-1", params or {}, T0)


LONG_LEASE = 30 * 86400.0  # beyond every test's horizon: the turn's process stays alive


def dispatched(
    s: RunState,
    sid: str,
    attempt: int = 1,
    when: float = 0,
    timeout: float = 600,
    lease: float | None = LONG_LEASE,
) -> None:
    """Fold in `dispatched.json` of an attempt and, unless `lease` is None, the step function's
    `started-0.json` holding a lease for `lease` seconds."""
    s.apply(
        f"steps/{sid}/{attempt}/dispatched.json",
        {"at": at(when).isoformat(), "deadline": at(when + timeout).isoformat(), "turn": 0},
    )
    if lease is not None:
        started(s, sid, attempt, 0, when, lease)


def started(
    s: RunState, sid: str, attempt: int, turn: int, when: float, lease: float, beat: int = 0
) -> None:
    """Fold in the step function's `started-<turn>.json` (beat 0) or a heartbeat."""
    name = f"started-{turn}.json" if beat == 0 else f"heartbeat-{turn}-{beat}.json"
    body = {"at": at(when).isoformat(), "lease_until": at(when + lease).isoformat(), "holder": "t"}
    s.apply(f"steps/{sid}/{attempt}/{name}", body)


def result(
    s: RunState,
    sid: str,
    attempt: int = 1,
    when: float = 1,
    ok: bool = True,
    output: dict[str, Any] | None = None,
    retryable: bool = True,
    kind: str = "transient",
) -> None:
    """Fold in `result.json` of an attempt."""
    body: dict[str, Any] = {
        "status": "succeeded" if ok else "failed",
        "output": output or {},
        "error": None if ok else {"kind": kind, "message": "boom", "retryable": retryable},
        "at": at(when).isoformat(),
    }
    s.apply(f"steps/{sid}/{attempt}/result.json", body)


def ran(s: RunState, sid: str, attempt: int = 1, ok: bool = True, **kw: Any) -> None:
    """Dispatched and finished."""
    dispatched(s, sid, attempt)
    result(s, sid, attempt, ok=ok, **kw)


def should_skip(final: RunState, spec: StepSpec, handles: list[str] | None) -> bool:
    """The join rule, restated: whether a step must have been skipped given its upstreams."""
    statuses = [final.status(final.steps[h]) for h in handles or []]
    if handles is not None and StepStatus.FAILED not in statuses:
        return True  # an error handler runs only after a final failure of a step it handles
    deps = [final.steps[d] for d in spec.depends_on]
    failed = any(final.counts_as_failed(d) for d in deps)
    skipped = any(final.status(d) == StepStatus.SKIPPED for d in deps)
    rule = spec.trigger_rule
    if rule == "all_done" or not deps:
        return False
    if rule == "any_succeeded":
        return all(final.status(d) != StepStatus.SUCCEEDED for d in deps)
    return failed or (rule == "all_succeeded" and skipped)


SLA_NOTIFY = {"type": ["outbox"], "recipients": "ops@example.com"}


def slow_flow(sla: dict[str, Any]) -> FlowDefinition:
    """`slow` then `after`, with `sla`: if `slow`'s first attempt fails, its retry waits 30 s."""
    from mhi.model.validate import parse_flow

    steps = [
        {
            "id": "slow",
            "type": "ms-echo",
            "timeout_seconds": 180,
            "retry": {"max_attempts": 3, "initial_backoff_seconds": 30, "jitter": 0},
        },
        {"id": "after", "type": "ms-echo", "depends_on": ["slow"], "timeout_seconds": 180},
    ]
    raw = {
        "flow_id": "f",
        "account": "acme",
        "flow_config": {"steps": steps},
        "sla": {**sla, "notify": SLA_NOTIFY},
    }
    return parse_flow(raw, frozenset({"ms-echo"}))


def random_flow(draw: st.DrawFn, n: int, timeout_seconds: int) -> dict[str, Any]:
    """The raw form of a random flow of `n` ms-echo steps for the property tests: dependencies
    on earlier steps, optional steps, join rules, error handlers, retries, `max_parallel` and
    perhaps a flow-level handler."""
    steps = []
    for i in range(n):
        deps = sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else []
        steps.append(
            {
                "id": f"s{i}",
                "type": "ms-echo",
                "depends_on": [f"s{d}" for d in deps],
                "optional": draw(st.booleans()),
                "trigger_rule": draw(st.sampled_from(TRIGGER_RULES)),
                # a handler comes later in the flow, so every edge goes forward: no cycle
                "on_failure": sorted(
                    f"s{j}" for j in draw(st.sets(st.integers(i + 1, n - 1), max_size=2))
                )
                if i < n - 1
                else [],
                "timeout_seconds": timeout_seconds,
                "retry": {"max_attempts": draw(st.integers(1, 3)), "initial_backoff_seconds": 5},
            }
        )
    raw: dict[str, Any] = {
        "flow_id": "f",
        "account": "acme",
        "flow_config": {"steps": steps},
        "max_parallel": draw(st.one_of(st.none(), st.integers(1, 3))),
    }
    if n > 1 and draw(st.booleans()):
        raw["on_failure"] = [f"s{n - 1}"]  # the last step: nothing depends on it
    return raw
