"""Cloud Function `controller`: flow starts, step callbacks and the sweep.

Triggered by `ms-flows-controller` (starts, `{"kind": "sweep"}` from Cloud Scheduler) and by
`ms-flows-callbacks`; the body says which, so both triggers may point at this one entry point.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_controller_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Start a run, record a callback or sweep active runs."""
    handle_controller_event(event)
