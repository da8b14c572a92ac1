"""Names every part must agree on: topics, id rules, limits. (Run-store keys: `mhi.model.keys`.)"""

from __future__ import annotations

import re

CONTROLLER_TOPIC = "ms-flows-controller"
CALLBACK_TOPIC = "ms-flows-callbacks"

SCHEMA_VERSION = 1

# Flow ids, step ids and account names become storage paths, topic attributes and secret-name
# prefixes: only this character set is allowed.
# For pydantic `pattern=` (its Rust regex reads `$` as the end of the text).
SAFE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
# `\A...\Z`, not `^...$`: `$` also matches before a final newline, and ids become paths.
SAFE_ID_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,62}\Z")
SAFE_ID_RULE = "1-63 characters: letters, digits, '-' and '_', starting with a letter or digit"
# Run ids may also carry ':' and '.' (e.g. timestamps from Cloud Scheduler fire times).
RUN_ID_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}\Z")
RUN_ID_RULE = (
    "1-128 characters: letters, digits, '-', '_', '.', ':', starting with a letter or digit"
)

# A for_each child of step `s` is the step `s.<index>`; '.' is never allowed in a user step id.
CHILD_SEPARATOR = "."

MAX_OUTPUT_BYTES = 64 * 1024
# A start message (a whole flow) of 1 MiB is already unusual; Pub/Sub's hard limit is 10 MB.
MAX_START_MESSAGE_BYTES = 1024 * 1024
# A rendered step message (config, upstream outputs, params, item): under Pub/Sub's 10 MB with
# room for push delivery's base64 (x4/3) and the envelope.
MAX_STEP_MESSAGE_BYTES = 4 * 1024 * 1024
MAX_FOR_EACH_ITEMS = 1000

# Recovery timing (defaults; Settings can change them: MHI_DISPATCH_GRACE_SECONDS,
# MHI_HEARTBEAT_SECONDS, MHI_LEASE_SECONDS). A claimed step not seen starting within the grace
# period is published again; a running turn renews its lease every heartbeat; a lease not
# renewed in time means the turn's process died, and the controller runs the turn again.
DISPATCH_GRACE_SECONDS = 30.0
HEARTBEAT_SECONDS = 30.0
LEASE_SECONDS = 90.0

# The pseudo-step that carries a run's flow-level notification (never a user step id: user ids
# cannot start with '_').
NOTIFY_STEP = "_notify"
# The pseudo-step that carries a run's SLA notification (sent once when a run is late).
SLA_STEP = "_sla"
PSEUDO_STEPS = frozenset({NOTIFY_STEP, SLA_STEP})
