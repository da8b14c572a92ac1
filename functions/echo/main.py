"""Cloud Function `echo`: runs `ms-echo` steps.

Return its (rendered) config as output: for debugging templates and wiring.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from mhi.runtime.entry import handle_step_event


@functions_framework.cloud_event
def handle(event: CloudEvent) -> None:
    """Run one `ms-echo` step message and publish its callback."""
    handle_step_event(event, "ms-echo")
