"""Names every part must agree on: topics, id rules, the run-state object layout."""

from __future__ import annotations

import re

CONTROLLER_TOPIC = "ms-flows-controller"
CALLBACK_TOPIC = "ms-flows-callbacks"

SCHEMA_VERSION = 1

# Flow ids, step ids and account names become storage paths, topic attributes and secret-name
# prefixes: only this character set is allowed.
SAFE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
SAFE_ID_RE = re.compile(SAFE_ID_PATTERN)
SAFE_ID_RULE = "1-63 characters: letters, digits, '-' and '_', starting with a letter or digit"
# Run ids may also carry ':' and '.' (e.g. timestamps from Cloud Scheduler fire times).
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
RUN_ID_RULE = (
    "1-128 characters: letters, digits, '-', '_', '.', ':', starting with a letter or digit"
)

# A for_each child of step `s` is the step `s.<index>`; '.' is never allowed in a user step id.
CHILD_SEPARATOR = "."

MAX_OUTPUT_BYTES = 64 * 1024
MAX_FOR_EACH_ITEMS = 1000

RUNS_PREFIX = "runs"
ACTIVE_PREFIX = "active"


def run_prefix(account: str, flow_id: str, run_id: str) -> str:
    """Return the object prefix (ending in '/') that holds every object of one run."""
    return f"{RUNS_PREFIX}/{account}/{flow_id}/{run_id}/"


def active_key(account: str, flow_id: str, run_id: str) -> str:
    """Return the key of the index entry that marks a run as active (deleted once done)."""
    return f"{ACTIVE_PREFIX}/{account}/{flow_id}/{run_id}"


def attempt_key(step_id: str, attempt: int, name: str) -> str:
    """Return the run-relative key of an attempt object (`dispatched.json`, `result.json`)."""
    return f"steps/{step_id}/{attempt}/{name}"


def skipped_key(step_id: str) -> str:
    """Return the run-relative key of a step's `skipped.json`."""
    return f"steps/{step_id}/skipped.json"


def progress_key(group: str, count: int) -> str:
    """Return the run-relative key of the `count`-th completion claim in a group."""
    return f"progress/{group}/{count:06d}.json"


FLOW_KEY = "flow.json"
DONE_KEY = "done.json"
CANCEL_KEY = "cancel.json"
RUN_GROUP = "_run"
# The pseudo-step that carries a run's flow-level notification (never a user step id: user ids
# cannot start with '_').
NOTIFY_STEP = "_notify"
