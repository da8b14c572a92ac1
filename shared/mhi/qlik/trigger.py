"""Triggered Qlik automations: one call to the trigger URL, whose answer is the result.

The call is made once per attempt: the first delivery reserves it with `ctx.claim`; a duplicate
delivery waits (without holding an instance) for the recorded result instead of calling again.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from mhi.qlik.client import QlikApi
from mhi.qlik.config import AutomationConfig
from mhi.qlik.jobs import QlikDeadlineError, read_claim
from mhi.steps.sdk import StepContext, Wait

MAX_INLINE_RESULT = 32 * 1024
_RESERVE, _RESULT = "trigger", "trigger-result"


def run_triggered(
    ctx: StepContext, api: QlikApi, config: AutomationConfig
) -> dict[str, Any] | Wait:
    """Call the automation's trigger URL once and return its answer (or wait for a duplicate's)."""
    done = read_claim(ctx, _RESULT)
    if done is not None:
        return done
    now = ctx.services.clock.now()
    if ctx.continuation is None:
        token = uuid.uuid4().hex
        if ctx.claim(_RESERVE, {"token": token, "at": now.isoformat()})["token"] == token:
            return ctx.claim(_RESULT, _execute(ctx, api, config))
    since = datetime.fromisoformat((ctx.continuation or {}).get("since", now.isoformat()))
    if (now - since).total_seconds() > config.max_wait_seconds:
        raise QlikDeadlineError(
            f"Qlik Cloud: no result from the duplicate delivery that triggered automation "
            f"{config.automation_id} within max_wait_seconds={config.max_wait_seconds}"
        )
    return Wait({"since": since.isoformat()}, config.poll_seconds)


def _execute(ctx: StepContext, api: QlikApi, config: AutomationConfig) -> dict[str, Any]:
    path = f"/api/v1/automations/{config.automation_id}/actions/execute"
    status, answer = api.call("POST", path, body=config.inputs)
    out: dict[str, Any] = {
        "automation_id": config.automation_id,
        "mode": "triggered",
        "http_status": status,
    }
    encoded = json.dumps(answer, default=str)
    if len(encoded) <= MAX_INLINE_RESULT:
        out["result"] = answer
        return out
    m = ctx.message
    key = f"qlik/{m.account}/{m.flow_id}/{m.run_id}/{m.step_id}/{m.attempt}/automation-result.json"
    out["result_uri"] = ctx.services.blobs.write_bytes(key, encoded.encode(), "application/json")
    out["result_bytes"] = len(encoded)
    return out
