"""Concurrency limits per key across runs: the flow's declarations, the key rule, the deployment's
limits, and what one run knows of the slots its steps hold or wait for.

A step with `"concurrency": {"key": "qlik:{{ run.account }}", "limit": 2}` (or the name of an
entry of the flow's `limits` map) runs only while it holds one of `limit` slots of its rendered
key. Slots live in the run store outside any run (`limits/<key>/...`, see `mhi.model.keys`), so
every run on the same store shares them; the controller claims and releases them
(`mhi.runtime.limits`), and `decide` only says when a slot is needed, held or owed back.

The limit a step obeys is the smallest of the flow's `limit` and the deployment's limit for the
key (`MHI_CONCURRENCY_LIMITS`): both hold. A key with neither fails its step with a clear error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mhi.model.flow import Concurrency, FlowDefinition, StepSpec

KEY_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}\Z")
KEY_RULE = (
    "1-128 characters: letters, digits, '.', '_', ':', '@' and '-', starting with a letter or digit"
)
# A step waiting for a slot looks again at least this often, even if no release wakes it.
RECHECK_SECONDS = 60.0

DeploymentLimits = Sequence[tuple[str, int]]  # (key or fnmatch pattern, limit), in order


def key_problem(key: str) -> str | None:
    """Why a rendered concurrency key cannot name slots (None when it can)."""
    if not isinstance(key, str) or not KEY_RE.match(key):
        return f"concurrency key {key!r} is not allowed ({KEY_RULE})"
    return None


def step_concurrency(
    flow: FlowDefinition, spec: StepSpec, by_type: Mapping[str, str] | None = None
) -> Concurrency | None:
    """The concurrency a step declares (inline, or the flow `limits` entry it names), else the
    key the deployment gives its step type (`MHI_STEP_CONCURRENCY`, limit from the deployment)."""
    value = spec.concurrency
    if value is None:
        if by_type and spec.type in by_type:
            from mhi.model.flow import Concurrency

            return Concurrency(key=by_type[spec.type])
        return None
    if value.name is None:
        return value
    return flow.limits.get(value.name)


def deployment_limit(key: str, rules: DeploymentLimits) -> int | None:
    """The deployment's limit for `key`: an exact entry, else the first matching pattern."""
    for pattern, limit in rules:
        if pattern == key:
            return limit
    for pattern, limit in rules:
        if "*" in pattern and fnmatchcase(key, pattern):
            return limit
    return None


def effective_limit(flow_limit: int | None, key: str, rules: DeploymentLimits) -> int | None:
    """The smallest of the flow's and the deployment's limits for `key` (None: neither)."""
    limits = [x for x in (flow_limit, deployment_limit(key, rules)) if x is not None]
    return min(limits) if limits else None


Attempt = tuple[str, int]  # (step id, attempt number within its generation)


@dataclass
class SlotBook:
    """What one run knows of its concurrency slots.

    `held` is folded from `dispatched.json` (the slot a dispatched attempt holds); `granted`,
    `waiting` and `released` are the controller's notes (nothing in the run prefix behind them:
    a fold from scratch asks for the same slots again, and releasing twice is harmless).
    `shown` is folded from `steps/<step>/slot-wait-<attempt>.json`, for `mhi runs show`.
    """

    deployment: tuple[tuple[str, int], ...] = ()
    by_type: Mapping[str, str] = field(default_factory=dict)  # step type -> key (deployment)
    held: dict[Attempt, dict[str, Any]] = field(default_factory=dict)
    granted: dict[Attempt, dict[str, Any]] = field(default_factory=dict)
    waiting: dict[Attempt, tuple[str, datetime]] = field(default_factory=dict)
    ended: set[Attempt] = field(default_factory=set)
    owed: set[Attempt] = field(default_factory=set)
    released: set[Attempt] = field(default_factory=set)
    shown: dict[str, tuple[int, str]] = field(default_factory=dict)
    full: dict[str, datetime] = field(default_factory=dict)  # key -> found full until (a look)

    # ---- folded from the run's objects --------------------------------------------------

    def hold(self, attempt: Attempt, slot: dict[str, Any]) -> None:
        """A dispatched attempt holds `slot` until it ends."""
        self.held.setdefault(attempt, dict(slot))
        self.granted.pop(attempt, None)
        self.waiting.pop(attempt, None)
        if attempt in self.ended and attempt not in self.released:
            self.owed.add(attempt)

    def end(self, attempt: Attempt) -> None:
        """The attempt has its result: a slot it holds is owed back."""
        self.ended.add(attempt)
        if self.slot_of(attempt) is not None and attempt not in self.released:
            self.owed.add(attempt)

    def show_wait(self, step_id: str, number: int, key: str) -> None:
        """A `slot-wait` record: attempt `number` (store numbering) waited for a slot of `key`."""
        if number >= self.shown.get(step_id, (0, ""))[0]:
            self.shown[step_id] = (number, key)

    # ---- the controller's notes ---------------------------------------------------------

    def grant(self, attempt: Attempt, slot: dict[str, Any]) -> None:
        """This instance claimed `slot` for an attempt it is about to dispatch."""
        self.granted[attempt] = dict(slot)
        self.waiting.pop(attempt, None)

    def wait(self, attempt: Attempt, key: str, until: datetime) -> None:
        """Every slot of `key` is taken: look again at `until` at the latest."""
        self.waiting[attempt] = (key, until)

    def recheck(self, key: str | None = None) -> None:
        """Forget the waits (of one key): the next decision asks for a slot again."""
        for attempt, (waited, _until) in list(self.waiting.items()):
            if key is None or waited == key:
                del self.waiting[attempt]
        for full in [k for k in self.full if key is None or k == key]:
            del self.full[full]

    def drop_grant(self, attempt: Attempt) -> None:
        """The slot granted to an attempt was given back unused (another instance dispatched the
        attempt first, with a slot of its own: that one is the attempt's)."""
        self.granted.pop(attempt, None)

    def release(self, attempt: Attempt) -> None:
        """The attempt's slot was given back."""
        self.released.add(attempt)
        self.owed.discard(attempt)
        self.granted.pop(attempt, None)

    # ---- queries ------------------------------------------------------------------------

    def slot_of(self, attempt: Attempt) -> dict[str, Any] | None:
        """The slot an attempt holds or was granted (None: none)."""
        return self.held.get(attempt) or self.granted.get(attempt)

    def still_held(self) -> list[Attempt]:
        """Every attempt holding (or granted) a slot not yet given back, oldest first."""
        pending = {*self.held, *self.granted} - self.released
        return sorted(pending)

    def next_recheck(self) -> datetime | None:
        """When the earliest wait lapses (None: nothing waits)."""
        return min((until for _key, until in self.waiting.values()), default=None)


_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.S)


def limit_problems(flow: FlowDefinition) -> list[tuple[str, str]]:
    """Every problem of a flow's `limits` and its steps' `concurrency`, with JSON paths.

    The references inside a key's templates are checked with the other references
    (`mhi.model.checks`); this checks names and the text a key is made of.
    """
    problems: list[tuple[str, str]] = []
    for name, spec in flow.limits.items():
        if spec.key is None:  # a name: only a step may refer to an entry
            problems.append((f"$.limits.{name}", "a `limits` entry needs its own `key`"))
        elif (msg := _text_problem(spec.key)) is not None:
            problems.append((f"$.limits.{name}.key", msg))
    for i, step in enumerate(flow.steps):
        value, path = step.concurrency, f"$.flow_config.steps[{i}].concurrency"
        if value is not None and value.name is not None and value.name not in flow.limits:
            named = ", ".join(sorted(flow.limits)) or "none"
            problems.append(
                (path, f"no limit named {value.name!r} in the flow's `limits` ({named})")
            )
        elif value is not None and value.key is not None:
            msg = _text_problem(value.key)
            if msg is not None:
                problems.append((f"{path}.key", msg))
    return problems


def template_problem(key: str) -> str | None:
    """Why a key template given outside a flow (the deployment's) cannot work, or None."""
    from mhi.model import expr

    for text in expr.template_expressions(key):
        try:
            roots = {ref.parts[0] for ref in expr.references(expr.parse(text))}
        except expr.ExpressionError as e:
            return f"bad expression {text.strip()!r} in {key!r}: {e}"
        if not roots <= {"run", "params", "item"}:
            return f"{key!r} may refer to run, params and item only"
    return _text_problem(key)


def _text_problem(key: str) -> str | None:
    """A key's text outside its `{{ ... }}` templates must already follow the key rule."""
    literal = _TEMPLATE.sub("x", key)
    if KEY_RE.match(literal):
        return None
    return f"concurrency key {key!r} is not allowed ({KEY_RULE}; templates are filled in first)"
