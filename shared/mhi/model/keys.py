"""Every object key of the run store, built and parsed in one place.

One run lives under `runs/<account>/<flow_id>/<run_id>/`; every object under it is written once:

    flow.json                               the frozen definition and params (start)
    done.json                               the terminal status (the one creator notifies)
    cancel.json                             a cancel request
    steps/<step>/skipped.json               condition false or upstream failed
    steps/<step>/<attempt>/dispatched.json  claim of turn 0: its creator publishes the step
    steps/<step>/<attempt>/poll-<turn>.json claim of a later turn (a poll of a long job)
    steps/<step>/<attempt>/wait-<turn>.json the step asked to be polled again
    steps/<step>/<attempt>/result.json      the attempt's result (first writer wins)
    steps/<step>/<attempt>/started-<turn>.json   the step function began this turn
    steps/<step>/<attempt>/reported-<turn>.json  the callback it published (re-sent on redelivery)
    steps/<step>/<attempt>/claims/<name>.json    a step's own idempotency records
    progress/<group>/<count>.json           the count-th member of a group finished

`active/<account>/<flow_id>/<run_id>` marks a run the sweep must look at (deleted once done).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RUNS_PREFIX = "runs"
ACTIVE_PREFIX = "active"
FLOW = "flow.json"
DONE = "done.json"
CANCEL = "cancel.json"
SKIPPED = "skipped.json"
DISPATCHED = "dispatched.json"
RESULT = "result.json"

ObjectKind = Literal[
    "flow",
    "done",
    "cancel",
    "skipped",
    "dispatched",
    "wait",
    "result",
    "started",
    "reported",
    "claim",
    "progress",
]
# Objects the step functions write for themselves: they never change the run's state.
STEP_SIDE: frozenset[ObjectKind] = frozenset({"started", "reported", "claim"})
_TOP: dict[str, ObjectKind] = {FLOW: "flow", DONE: "done", CANCEL: "cancel"}
_TURNS: tuple[tuple[str, ObjectKind], ...] = (
    ("poll-", "dispatched"),
    ("wait-", "wait"),
    ("started-", "started"),
    ("reported-", "reported"),
)


@dataclass(frozen=True)
class RunRef:
    """Names one run."""

    account: str
    flow_id: str
    run_id: str

    @property
    def prefix(self) -> str:
        """The run's object prefix (ending in '/')."""
        return run_prefix(self.account, self.flow_id, self.run_id)

    @property
    def active_key(self) -> str:
        """The key of the run's active-index entry."""
        return active_key(self.account, self.flow_id, self.run_id)

    def key(self, rel: str) -> str:
        """The full key of a run-relative key."""
        return self.prefix + rel


@dataclass(frozen=True)
class ObjectKey:
    """A parsed run-relative key."""

    kind: ObjectKind
    step: str | None = None
    attempt: int | None = None
    turn: int | None = None
    group: str | None = None
    count: int | None = None
    name: str | None = None


def run_prefix(account: str, flow_id: str, run_id: str) -> str:
    """Return the object prefix (ending in '/') that holds every object of one run."""
    return f"{RUNS_PREFIX}/{account}/{flow_id}/{run_id}/"


def active_key(account: str, flow_id: str, run_id: str) -> str:
    """Return the key of the index entry that marks a run as active (deleted once done)."""
    return f"{ACTIVE_PREFIX}/{account}/{flow_id}/{run_id}"


def step_prefix(step_id: str) -> str:
    """Return the run-relative prefix of every object of one step (its attempts included)."""
    return f"steps/{step_id}/"


def attempt_key(step_id: str, attempt: int, name: str) -> str:
    """Return the run-relative key of an attempt object (`dispatched.json`, `result.json`...)."""
    return f"steps/{step_id}/{attempt}/{name}"


def dispatch_key(step_id: str, attempt: int, turn: int) -> str:
    """The claim that publishes one turn: `dispatched.json` for turn 0, `poll-<turn>.json` after."""
    return attempt_key(step_id, attempt, DISPATCHED if turn == 0 else f"poll-{turn}.json")


def result_key(step_id: str, attempt: int) -> str:
    """The attempt's result."""
    return attempt_key(step_id, attempt, RESULT)


def wait_key(step_id: str, attempt: int, turn: int) -> str:
    """The record of a turn that asked to be polled again."""
    return attempt_key(step_id, attempt, f"wait-{turn}.json")


def turn_key(step_id: str, attempt: int, turn: int, event: Literal["started", "reported"]) -> str:
    """A step function's own record of a turn: it `started` it, or `reported` its callback."""
    return attempt_key(step_id, attempt, f"{event}-{turn}.json")


def claim_key(step_id: str, attempt: int, name: str) -> str:
    """A step's own idempotency record `name` for one attempt."""
    return attempt_key(step_id, attempt, f"claims/{name}.json")


def skipped_key(step_id: str) -> str:
    """Return the run-relative key of a step's `skipped.json`."""
    return f"steps/{step_id}/{SKIPPED}"


def progress_key(group: str, count: int) -> str:
    """Return the run-relative key of the `count`-th completion claim in a group."""
    return f"progress/{group}/{count:06d}.json"


def progress_prefix(group: str) -> str:
    """Return the run-relative prefix of a group's completion claims."""
    return f"progress/{group}/"


def parse(rel: str) -> ObjectKey | None:
    """Parse a run-relative key; None for anything that is not a run object."""
    if rel in _TOP:
        return ObjectKey(_TOP[rel])
    parts = rel.split("/")
    if parts[0] == "progress" and len(parts) == 3 and _numbered(parts[2], ""):
        return ObjectKey("progress", group=parts[1], count=int(parts[2][:-5]))
    if parts[0] != "steps" or len(parts) < 3:
        return None
    if len(parts) == 3:
        return ObjectKey("skipped", step=parts[1]) if parts[2] == SKIPPED else None
    if not parts[2].isdigit():
        return None
    return _attempt_object(parts[1], int(parts[2]), parts[3:])


def _attempt_object(step: str, attempt: int, rest: list[str]) -> ObjectKey | None:
    if len(rest) == 2 and rest[0] == "claims" and rest[1].endswith(".json"):
        return ObjectKey("claim", step, attempt, name=rest[1][:-5])
    if len(rest) != 1:
        return None
    name = rest[0]
    if name == DISPATCHED:
        return ObjectKey("dispatched", step, attempt, turn=0)
    if name == RESULT:
        return ObjectKey("result", step, attempt)
    for prefix, kind in _TURNS:
        if _numbered(name, prefix):
            return ObjectKey(kind, step, attempt, turn=int(name[len(prefix) : -5]))
    return None


def _numbered(name: str, prefix: str) -> bool:
    return name.startswith(prefix) and name.endswith(".json") and name[len(prefix) : -5].isdigit()


def split_run_key(key: str) -> tuple[RunRef, str] | None:
    """Split a full key `runs/<account>/<flow_id>/<run_id>/<rel>` into (run, rel)."""
    parts = key.split("/", 4)
    if len(parts) != 5 or parts[0] != RUNS_PREFIX or not all(parts[1:4]):
        return None
    return RunRef(parts[1], parts[2], parts[3]), parts[4]


def split_active_key(key: str) -> RunRef | None:
    """Parse an active-index key `active/<account>/<flow_id>/<run_id>`."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != ACTIVE_PREFIX or not all(parts[1:]):
        return None
    return RunRef(parts[1], parts[2], parts[3])
