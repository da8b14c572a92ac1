"""Every object key of the run store, built and parsed in one place.

One run lives under `runs/<account>/<flow_id>/<run_id>/`; every object under it is written once:

    flow.json                               the frozen definition and params (start)
    done.json                               the terminal status (the one creator notifies)
    cancel.json                             a cancel request
    steps/<step>/skipped.json               condition false or upstream failed
    steps/<step>/<attempt>/dispatched.json  claim of turn 0: its creator publishes the step
    steps/<step>/<attempt>/poll-<turn>.json claim of a later turn (a poll of a long job)
    steps/<step>/<attempt>/wait-<turn>.json the step asked to be polled again
    steps/<step>/<attempt>/nudge.json       what it waits for has happened: poll now (a sub-flow's
                                            child run ended)
    steps/<step>/<attempt>/result.json      the attempt's result (first writer wins)
    steps/<step>/<attempt>/started-<turn>.json   the step function began this turn (its lease)
    steps/<step>/<attempt>/heartbeat-<turn>-<n>.json  the lease renewed while the turn runs
    steps/<step>/<attempt>/claims/<name>.json    a step's own idempotency records
    steps/<step>/slot-wait-<attempt>.json   the attempt waited for a concurrency slot (shown)

A rerun starts generation n >= 1 of the same run (objects of earlier generations stay, as history):

    control/rerun-<n>.json                  generation n: the steps it re-runs, edits, who asked
    control/pause-<k>.json                  the k-th pause (paused while pauses outnumber resumes)
    control/resume-<k>.json                 the k-th resume
    done-<n>.json / cancel-<n>.json         generation n's terminal status / cancel request
    steps/<step>/skipped-<n>.json           skipped in generation n
    steps/<step>/<attempt>/dead-letter.json the rendered message and error of a step that failed

Attempt numbers go on across generations, so every attempt object stays written once.

`active/<account>/<flow_id>/<run_id>` marks a run the sweep must look at (deleted once done).
`index/<partition>/<newest-first>~<account>~<flow_id>~<run_id>.json` is the run index, written
once per run (and per finished generation under `status/`): see `index_keys_at_start`.
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
NUDGE = "nudge.json"
CONTROL_PREFIX = "control/"
DEAD_LETTER = "dead-letter.json"
SLOT_WAIT = "slot-wait-"
INDEX_PREFIX = "index"
INDEX_SEP = "~"
_NEWEST = 9_999_999_999_999  # index names sort newest first: _NEWEST minus epoch milliseconds

ObjectKind = Literal[
    "flow",
    "done",
    "cancel",
    "skipped",
    "dispatched",
    "wait",
    "nudge",
    "result",
    "started",
    "heartbeat",
    "claim",
    "slot_wait",
    "generation",
    "pause",
    "resume",
    "dead_letter",
]
# Objects the step functions write for themselves that never change the run's state (`started`
# and `heartbeat` do: they are the lease of a running turn).
STEP_SIDE: frozenset[ObjectKind] = frozenset({"claim", "dead_letter"})
_TOP: dict[str, ObjectKind] = {FLOW: "flow", DONE: "done", CANCEL: "cancel"}
_TURNS: tuple[tuple[str, ObjectKind], ...] = (
    ("poll-", "dispatched"),
    ("wait-", "wait"),
    ("started-", "started"),
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
    count: int | None = None
    name: str | None = None
    generation: int = 0


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


def nudge_key(step_id: str, attempt: int) -> str:
    """The record that what an attempt waits for has happened: its waiting turn polls now."""
    return attempt_key(step_id, attempt, NUDGE)


def turn_key(step_id: str, attempt: int, turn: int, event: Literal["started"]) -> str:
    """A step function's own record that it `started` a turn (and holds its lease)."""
    return attempt_key(step_id, attempt, f"{event}-{turn}.json")


def heartbeat_key(step_id: str, attempt: int, turn: int, beat: int) -> str:
    """The `beat`-th renewal of a running turn's lease."""
    return attempt_key(step_id, attempt, f"heartbeat-{turn}-{beat}.json")


def claim_key(step_id: str, attempt: int, name: str) -> str:
    """A step's own idempotency record `name` for one attempt."""
    return attempt_key(step_id, attempt, f"claims/{name}.json")


def skipped_key(step_id: str, generation: int = 0) -> str:
    """Return the run-relative key of a step's `skipped.json` (`skipped-<n>.json` in a rerun)."""
    name = SKIPPED if generation == 0 else f"skipped-{generation}.json"
    return f"steps/{step_id}/{name}"


def done_key(generation: int = 0) -> str:
    """The terminal status of a generation: `done.json`, then `done-<n>.json` for reruns."""
    return DONE if generation == 0 else f"done-{generation}.json"


def cancel_key(generation: int = 0) -> str:
    """A cancel request for a generation: `cancel.json`, then `cancel-<n>.json`."""
    return CANCEL if generation == 0 else f"cancel-{generation}.json"


def generation_key(generation: int) -> str:
    """The record that starts generation `generation` (>= 1) of a run: a rerun."""
    return f"{CONTROL_PREFIX}rerun-{generation}.json"


def pause_key(number: int) -> str:
    """The `number`-th pause request of a run."""
    return f"{CONTROL_PREFIX}pause-{number}.json"


def resume_key(number: int) -> str:
    """The `number`-th resume request of a run."""
    return f"{CONTROL_PREFIX}resume-{number}.json"


def dead_letter_key(step_id: str, attempt: int) -> str:
    """The dead-letter record of an attempt that failed for good."""
    return attempt_key(step_id, attempt, DEAD_LETTER)


def parse(rel: str) -> ObjectKey | None:
    """Parse a run-relative key; None for anything that is not a run object."""
    if rel in _TOP:
        return ObjectKey(_TOP[rel])
    parts = rel.split("/")
    if len(parts) == 1 or parts[0] == "control":
        return _generation_object(parts)
    if parts[0] != "steps" or len(parts) < 3:
        return None
    if len(parts) == 3 and _numbered(parts[2], SLOT_WAIT):
        return ObjectKey("slot_wait", step=parts[1], attempt=_number(parts[2], SLOT_WAIT))
    if len(parts) == 3:
        if _numbered(parts[2], "skipped-") and _number(parts[2], "skipped-") > 0:
            return ObjectKey("skipped", step=parts[1], generation=_number(parts[2], "skipped-"))
        return ObjectKey("skipped", step=parts[1]) if parts[2] == SKIPPED else None
    if not parts[2].isdigit():
        return None
    return _attempt_object(parts[1], int(parts[2]), parts[3:])


_GENERATION_TOP: tuple[tuple[str, ObjectKind], ...] = (("done-", "done"), ("cancel-", "cancel"))
_CONTROL: tuple[tuple[str, ObjectKind], ...] = (
    ("rerun-", "generation"),
    ("pause-", "pause"),
    ("resume-", "resume"),
)


def _generation_object(parts: list[str]) -> ObjectKey | None:
    """`done-<n>.json`, `cancel-<n>.json` and `control/...`."""
    if len(parts) == 1:
        for prefix, kind in _GENERATION_TOP:
            if _numbered(parts[0], prefix) and _number(parts[0], prefix) > 0:
                return ObjectKey(kind, generation=_number(parts[0], prefix))
        return None
    if parts[0] == "control":
        for prefix, kind in _CONTROL:
            if len(parts) == 2 and _numbered(parts[1], prefix) and _number(parts[1], prefix) > 0:
                number = _number(parts[1], prefix)
                if kind == "generation":
                    return ObjectKey(kind, generation=number)
                return ObjectKey(kind, count=number)
    return None


def _number(name: str, prefix: str) -> int:
    return int(name[len(prefix) : -5])


def _attempt_object(step: str, attempt: int, rest: list[str]) -> ObjectKey | None:
    if len(rest) == 2 and rest[0] == "claims" and rest[1].endswith(".json"):
        return ObjectKey("claim", step, attempt, name=rest[1][:-5])
    if len(rest) != 1:
        return None
    name = rest[0]
    if name == DISPATCHED:
        return ObjectKey("dispatched", step, attempt, turn=0)
    if name == DEAD_LETTER:
        return ObjectKey("dead_letter", step, attempt)
    if name in (RESULT, NUDGE):
        return ObjectKey("result" if name == RESULT else "nudge", step, attempt)
    for prefix, kind in _TURNS:
        if _numbered(name, prefix):
            return ObjectKey(kind, step, attempt, turn=int(name[len(prefix) : -5]))
    if name.startswith("heartbeat-") and name.endswith(".json"):
        turn, _, beat = name[10:-5].partition("-")
        if turn.isdigit() and beat.isdigit():
            return ObjectKey("heartbeat", step, attempt, turn=int(turn), count=int(beat))
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


# ---- the run index ------------------------------------------------------------------------

IndexPartition = Literal["all", "account", "flow", "run", "status", "flow-status"]


@dataclass(frozen=True)
class IndexEntry:
    """One run as the run index names it."""

    ref: RunRef
    started_ms: int  # epoch milliseconds of the run's start


def index_name(ref: RunRef, started_ms: int) -> str:
    """The name of a run's index entries: newest first, then account, flow id and run id."""
    newest = f"{_NEWEST - started_ms:013d}"
    return INDEX_SEP.join((newest, ref.account, ref.flow_id, ref.run_id)) + ".json"


def index_prefix(
    partition: IndexPartition,
    *,
    account: str = "",
    flow_id: str = "",
    run_id: str = "",
    status: str = "",
) -> str:
    """The prefix of one partition of the index (every run, one account, one flow, ...)."""
    path = {
        "all": "all",
        "account": f"account/{account}",
        "flow": f"flow/{flow_id}",
        "run": f"run/{run_id}",
        "status": f"status/{status}",
        "flow-status": f"flow-status/{flow_id}/{status}",
    }[partition]
    return f"{INDEX_PREFIX}/{path}/"


def index_keys_at_start(ref: RunRef, started_ms: int) -> list[str]:
    """The index entries written when a run starts: every run, its account, its flow, its id."""
    name = index_name(ref, started_ms)
    return [
        index_prefix("all") + name,
        index_prefix("account", account=ref.account) + name,
        index_prefix("flow", flow_id=ref.flow_id) + name,
        index_prefix("run", run_id=ref.run_id) + name,
    ]


def index_keys_at_finish(ref: RunRef, started_ms: int, status: str) -> list[str]:
    """The index entries written when a generation of a run finishes with `status`."""
    name = index_name(ref, started_ms)
    return [
        index_prefix("status", status=status) + name,
        index_prefix("flow-status", flow_id=ref.flow_id, status=status) + name,
    ]


def parse_index_key(key: str) -> IndexEntry | None:
    """Parse any index entry key back into the run it names (None if it is not one)."""
    name = key.rpartition("/")[2]
    if not key.startswith(INDEX_PREFIX + "/") or not name.endswith(".json"):
        return None
    parts = name[:-5].split(INDEX_SEP)
    if len(parts) != 4 or not parts[0].isdigit() or not all(parts[1:]):
        return None
    return IndexEntry(RunRef(parts[1], parts[2], parts[3]), _NEWEST - int(parts[0]))


def slot_wait_key(step_id: str, attempt: int) -> str:
    """The run-relative record that an attempt waited for a concurrency slot."""
    return f"steps/{step_id}/{SLOT_WAIT}{attempt}.json"
